"""packse's public resolver scenarios, read at test time and built as hermetic indexes.

packse (https://github.com/astral-sh/packse) describes resolver test cases as data: the
root requirements, the packages on the index with their versions, Requires-Dist, extras,
Requires-Python, wheel tags, sdist-only and yanked flags, and the expected outcome. The
definitions (``scenarios/**/*.toml`` and ``*.json``) ship in packse's sdist, not its wheel,
so :func:`packse_sdist` downloads the newest sdist from PyPI once into a cache folder
(``$ASPEN_TESTS_CACHE/packse``, default ``~/.cache/aspen-tests/packse``), checking the
sha256 the index states; ``ASPEN_PACKSE_VERSION`` pins a version. Nothing from packse is
kept in the repository.

As packse does when it builds a scenario (``packse build --no-hash``), every package name
is prefixed with the scenario's name (``a`` of ``fork-basic`` becomes ``fork-basic-a``),
in the index, in requirements and in the expected packages alike. packse's defaults apply:
Requires-Python ``>=3.12`` for the root and every package, an sdist and a ``py3-none-any``
wheel for every version, and ``wheel_tags`` replacing the default wheel.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from indexbuilder import Index
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_sdist_filename

PACKSE_SIMPLE = "https://pypi.org/simple/packse/"
PACKSE_DEFAULT_PYTHON = ">=3.12"  # packse's default Requires-Python for root and packages
CACHE_DIR = Path(os.environ.get("ASPEN_TESTS_CACHE", Path.home() / ".cache/aspen-tests")) / "packse"
_SDIST_LINK = re.compile(r'href="([^"#]+/(packse-[^"#/]+\.tar\.gz))#sha256=([0-9a-f]{64})"')


@dataclass(frozen=True)
class Release:
    """One version of one package, as packse builds it."""

    requires: tuple[str, ...] = ()
    extras: dict[str, list[str]] = field(default_factory=dict)
    requires_python: str = PACKSE_DEFAULT_PYTHON
    sdist: bool = True
    wheel: bool = True
    yanked: bool = False
    wheel_tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """One packse scenario; package names are already prefixed with the scenario's name."""

    name: str
    source: str  # path inside the sdist
    description: str
    root_requires: tuple[str, ...]
    requires_python: str
    packages: dict[str, dict[str, Release]]
    satisfiable: bool
    expected_packages: dict[str, str]  # name -> version; often empty
    explanation: str
    resolver_options: dict[str, object]
    environment: dict[str, object]

    @property
    def universal(self) -> bool:
        return bool(self.resolver_options.get("universal"))

    @property
    def prereleases(self) -> bool:
        return bool(self.resolver_options.get("prereleases"))

    def build_index(self, root: Path) -> Index:
        """Write the scenario's packages as a PEP 503/691 tree under ``root``."""
        index = Index(root)
        for name, releases in self.packages.items():
            for version, release in releases.items():
                index.add(
                    name,
                    version,
                    requires=release.requires,
                    requires_python=release.requires_python,
                    extras=release.extras,
                    wheel_tags=release.wheel_tags or ("py3-none-any",),
                    sdist=release.sdist,
                    wheel=release.wheel,
                    yanked="Yanked for testing" if release.yanked else None,
                )
        index.write()
        return index

    def pyproject(self) -> str:
        """The project file of a fresh project that depends on the scenario's root requirements."""
        dependencies = "".join(f"    {json.dumps(r)},\n" for r in self.root_requires)
        return (
            '[project]\nname = "project"\nversion = "0.1.0"\n'
            f"requires-python = {json.dumps(self.requires_python)}\n"
            f"dependencies = [\n{dependencies}]\n"
        )


# ---------------------------------------------------------------------------------------------
# Reading the scenarios


def _prefixed(requirement: str, prefix: str) -> str:
    req = Requirement(requirement)
    req.name = f"{prefix}-{req.name}"
    return str(req)


def parse_scenario(data: dict, source: str) -> Scenario:
    """A :class:`Scenario` from packse's schema (``packse/scenario.py``), names prefixed."""
    name = data["name"]
    root, expected = data.get("root", {}), data["expected"]
    packages: dict[str, dict[str, Release]] = {}
    for package, spec in data.get("packages", {}).items():
        packages[f"{name}-{package}"] = {
            version: Release(
                requires=tuple(_prefixed(r, name) for r in meta.get("requires", [])),
                extras={
                    extra: [_prefixed(r, name) for r in reqs]
                    for extra, reqs in meta.get("extras", {}).items()
                },
                requires_python=meta.get("requires_python", PACKSE_DEFAULT_PYTHON),
                sdist=meta.get("sdist", True),
                wheel=meta.get("wheel", True),
                yanked=meta.get("yanked", False),
                wheel_tags=tuple(meta.get("wheel_tags", [])),
            )
            for version, meta in spec["versions"].items()
        }
    return Scenario(
        name=name,
        source=source,
        description=data.get("description") or "",
        root_requires=tuple(_prefixed(r, name) for r in root.get("requires", [])),
        requires_python=root.get("requires_python", PACKSE_DEFAULT_PYTHON),
        packages=packages,
        satisfiable=expected["satisfiable"],
        expected_packages={
            f"{name}-{package}": version
            for package, version in expected.get("packages", {}).items()
        },
        explanation=expected.get("explanation") or "",
        resolver_options=data.get("resolver_options", {}),
        environment=data.get("environment", {}),
    )


def load_scenarios(sdist: Path) -> list[Scenario]:
    """Every TOML and JSON scenario in packse's sdist (YAML, used only by packse's own example,
    is skipped: the standard library cannot read it), sorted by name."""
    scenarios = []
    with tarfile.open(sdist) as archive:
        for member in archive.getmembers():
            path = PurePosixPath(member.name)
            if not member.isfile() or "scenarios" not in path.parts[:2]:
                continue
            if path.suffix not in (".toml", ".json"):
                continue
            text = archive.extractfile(member).read().decode()  # type: ignore[union-attr]
            data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
            relative = str(PurePosixPath(*path.parts[1:]))
            for item in data if isinstance(data, list) else [data]:
                scenarios.append(parse_scenario(item, relative))
    return sorted(scenarios, key=lambda s: s.name)


# ---------------------------------------------------------------------------------------------
# Fetching packse


def packse_sdist(version: str | None = None) -> Path:
    """The cached packse sdist (``version``, else ``$ASPEN_PACKSE_VERSION``, else the newest on
    PyPI), downloaded and checked against the index's sha256 when not cached yet."""
    version = version or os.environ.get("ASPEN_PACKSE_VERSION")
    if version is not None:
        cached = CACHE_DIR / f"packse-{version}.tar.gz"
        if cached.is_file():
            return cached
    with urllib.request.urlopen(PACKSE_SIMPLE, timeout=60) as response:
        page = response.read().decode()
    links = {
        parse_sdist_filename(filename)[1]: (url, filename, sha256)
        for url, filename, sha256 in _SDIST_LINK.findall(page)
        if canonicalize_name(parse_sdist_filename(filename)[0]) == "packse"
    }
    if not links:
        raise RuntimeError(f"no packse sdist listed on {PACKSE_SIMPLE}")
    chosen = max(links) if version is None else next(v for v in links if str(v) == version)
    url, filename, sha256 = links[chosen]
    target = CACHE_DIR / filename
    if not target.is_file():
        with urllib.request.urlopen(url, timeout=300) as response:
            content = response.read()
        if hashlib.sha256(content).hexdigest() != sha256:
            raise RuntimeError(f"{filename}: sha256 differs from {PACKSE_SIMPLE}")
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        partial.write_bytes(content)
        partial.replace(target)
    return target
