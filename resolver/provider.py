"""The provider protocol: what the resolver asks of a package source, and the records it gets back.

The resolver never knows where packages come from (resolvelib's lesson). A provider answers two
questions: which files (and so which versions) a package has, and what the core metadata of one
version says. ``resolver.index_provider.IndexProvider`` answers them from PEP 503/691 indexes and
find-links folders; ``resolver.memory_provider.MemoryProvider`` from plain Python data, for tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version


@dataclass(frozen=True)
class DistFile:
    """One file of one release, as an index lists it."""

    filename: str
    url: str
    kind: Literal["wheel", "sdist"]
    version: Version
    hashes: Mapping[str, str] = field(default_factory=dict)
    requires_python: SpecifierSet | None = None
    yanked: str | None = None  # None: not yanked; a string (maybe empty): the yank reason
    size: int | None = None
    upload_time: datetime | None = None
    # PEP 658/714: hashes of the ``<url>.metadata`` file when the index announces one, else None.
    core_metadata: Mapping[str, str] | None = None
    tags: frozenset[Tag] = frozenset()  # wheels only
    index: str | None = None  # the index (or find-links location) that listed this file

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None


@dataclass(frozen=True)
class CoreMetadata:
    """The parts of a version's core metadata that resolving needs."""

    name: NormalizedName
    version: Version
    requires_dist: Sequence[Requirement] = ()
    requires_python: SpecifierSet | None = None
    provides_extra: frozenset[NormalizedName] = frozenset()


class ProviderError(Exception):
    """A package source could not answer; the message names the package and the source."""


def needs_build(files: Sequence[DistFile]) -> bool:
    """Whether a version with these files has its metadata only in its sdist (downloaded whole,
    usually built): no wheel and no PEP 658 metadata file. (Kinds are read first: a stored
    file's other fields are decoded on first use.)"""
    return (
        bool(files)
        and not any(f.kind == "wheel" for f in files)
        and all(f.core_metadata is None for f in files)
    )


class PackageNotFound(ProviderError):
    """No configured index or find-links location has the package."""


class MetadataUnavailable(ProviderError):
    """The metadata of one version could not be obtained (broken file, failed build, --no-build)."""


class Provider(Protocol):
    """What the resolver needs from a package source."""

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        """All files of all versions of ``name``, from the first source that has it.

        Files whose names do not parse or whose versions are invalid are skipped with a warning.
        Raises ``PackageNotFound`` when no source has the package.
        """
        ...

    def metadata(self, name: NormalizedName, version: Version) -> CoreMetadata:
        """The core metadata of one version. Raises ``MetadataUnavailable``."""
        ...

    def prefetch(self, items: Iterable[tuple[NormalizedName, Version | None]]) -> None:
        """Start fetching, in parallel, file lists (version None) or metadata of these items.

        Results land in the provider's memory so that later ``files``/``metadata`` calls are
        immediate. Errors are not raised here; the later call raises them.
        """
        ...


def canonical(name: str) -> NormalizedName:
    """``canonicalize_name(name)``, once per distinct string (a regular expression's sub and a
    lower(): 2,500 instructions a call, a lookup 800; a warm lock of examples/large asks
    13,000 times of a few hundred names in the universe, its resolution, the locker and the
    index provider: 5,874 M -> 5,854 M instructions)."""
    found = _CANONICAL.get(name)
    if found is None:
        found = _CANONICAL[name] = canonicalize_name(name)
    return found


_CANONICAL: dict[str, NormalizedName] = {}
