"""A provider that serves packages described in plain Python data, for tests and examples."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from resolver.provider import CoreMetadata, DistFile, PackageNotFound


class MemoryProvider:
    """``MemoryProvider({"a": {"1.0": ["b>=2"], "2.0": {"requires_python": ">=3.10"}}})``.

    A version maps to its requirement strings, or to a dict with ``requires``,
    ``requires_python``, ``yanked`` (a reason string), ``extras`` (extra -> requirement strings),
    ``wheel_tag`` (default ``py3-none-any``; each version has one wheel and no sdist) and
    ``uploaded`` (an ISO date or time, default 2024-01-01, UTC).
    """

    def __init__(self, packages: Mapping[str, Mapping[str, object]]) -> None:
        self._files: dict[NormalizedName, list[DistFile]] = {}
        self._metadata: dict[tuple[NormalizedName, Version], CoreMetadata] = {}
        for raw_name, versions in packages.items():
            name = canonicalize_name(raw_name)
            for raw_version, spec in versions.items():
                version = Version(raw_version)
                info = spec if isinstance(spec, Mapping) else {"requires": spec}
                requires = [Requirement(r) for r in info.get("requires", [])]
                extras = info.get("extras", {})
                for extra, reqs in extras.items():
                    requires += [_under_extra(text, extra) for text in reqs]
                rp = info.get("requires_python")
                rp = SpecifierSet(rp) if rp else None
                tag = info.get("wheel_tag", "py3-none-any")
                filename = f"{name.replace('-', '_')}-{version}-{tag}.whl"
                self._files.setdefault(name, []).append(
                    DistFile(
                        filename=filename,
                        url=f"https://example.invalid/{filename}",
                        kind="wheel",
                        version=version,
                        hashes={"sha256": "0" * 64},
                        requires_python=rp,
                        yanked=info.get("yanked"),
                        size=1,
                        upload_time=datetime.fromisoformat(
                            info.get("uploaded", "2024-01-01")
                        ).replace(tzinfo=UTC),
                        index="https://example.invalid/simple/",
                        tags=parse_wheel_filename(filename)[3],
                    )
                )
                self._metadata[(name, version)] = CoreMetadata(
                    name=name,
                    version=version,
                    requires_dist=tuple(requires),
                    requires_python=rp,
                    provides_extra=frozenset(canonicalize_name(e) for e in extras),
                )
        self.metadata_calls: list[tuple[NormalizedName, Version]] = []

    def names(self) -> set[NormalizedName]:
        return set(self._files)

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        if name not in self._files:
            raise PackageNotFound(f"{name} is not in the test index")
        return self._files[name]

    def metadata(self, name: NormalizedName, version: Version) -> CoreMetadata:
        self.metadata_calls.append((name, version))
        return self._metadata[(name, version)]

    def prefetch(self, items: Iterable[tuple[NormalizedName, Version | None]]) -> None:
        for _ in items:
            pass


def _under_extra(text: str, extra: str) -> Requirement:
    """The requirement as core metadata lists it under ``extra``."""
    req = Requirement(text)
    condition = f'extra == "{extra}"'
    req.marker = Marker(f"({req.marker}) and {condition}" if req.marker else condition)
    return req
