"""An independent judge of a universal ``pylock.toml``.

This module deliberately shares no code with ``resolver``: it reads the lock with
``packaging.pylock``, takes every package's dependencies from a source the caller
names (a test index, or PyPI's published metadata), and checks the rules of a
universal lock (see ``shared/DESIGN.md``, "Semantics of a universal lock") in every
environment of a fixed matrix:

1. at most one entry per name applies;
2. every requirement of the project, and of every applying entry, whose marker holds is
   satisfied by an applying entry (extras followed: ``pkg[x]`` pulls in the
   requirements of ``pkg`` whose markers hold with ``extra == "x"``);
3. nothing applies that is not reachable from the project;
4. the requires-python of every applying entry admits the environment's Python;
5. every applying entry has a wheel for the environment's tags, or an sdist.

``check_lock`` reports problems as lines of text (empty list = consistent).
``uv_judge`` asks a second resolver (``uv pip compile``) whether the set of entries
that applies in one environment is exactly what the project needs there, and
``uv_install_plan`` asks ``uv pip install --dry-run`` what it would install from
the lock.

The environment matrix
----------------------
``ENVIRONMENTS`` is CPython 3.9 .. 3.14 on Linux x86_64 and aarch64 (glibc, manylinux
up to 2.28, as ``uv --python-platform x86_64-unknown-linux-gnu`` assumes), macOS 13
on arm64 (uv's default deployment target) and Windows x86_64.

``python_full_version`` is a real, late patch release of each minor version (see
``PYTHON_FULL_VERSIONS``), because that is what users run: a marker such as
``python_full_version >= "3.11.5"`` (real locks fork there) must be judged on the
side users are on. ``X.Y.0`` is the other edge; ``FIRST_PATCH_ENVIRONMENTS``
covers it, and a universal lock must pass both.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from packaging.dependency_groups import DependencyGroupResolver
from packaging.markers import Environment, Marker
from packaging.metadata import parse_email
from packaging.pylock import Package, Pylock, PylockSelectError, PylockValidationError
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

__all__ = [
    "ENVIRONMENTS",
    "FIRST_PATCH_ENVIRONMENTS",
    "PLATFORMS",
    "PYTHON_FULL_VERSIONS",
    "Platform",
    "PyPIMetadata",
    "applying_entries",
    "check_lock",
    "env_label",
    "env_tags",
    "make_environment",
    "platform_of",
    "project_extras",
    "project_groups",
    "project_requirements",
    "uv_install_plan",
    "uv_judge",
]

# --------------------------------------------------------------------------------------
# The environment matrix
# --------------------------------------------------------------------------------------

#: Highest glibc minor version assumed on Linux (uv's ``*-unknown-linux-gnu`` default).
MANYLINUX_GLIBC_MINOR = 28
#: macOS version assumed on arm64 (uv's default for ``aarch64-apple-darwin``).
MACOS_VERSION = (13, 0)


def _manylinux_platforms(arch: str) -> tuple[str, ...]:
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    out: list[str] = []
    for minor in range(MANYLINUX_GLIBC_MINOR, 4, -1):
        out.append(f"manylinux_2_{minor}_{arch}")
        alias = legacy.get(minor)
        if alias and (minor == 17 or arch in ("x86_64", "i686")):
            out.append(f"{alias}_{arch}")
    out.append(f"linux_{arch}")
    return tuple(out)


@dataclass(frozen=True)
class Platform:
    """One operating system and CPU, with all marker values that correlate with it."""

    key: str
    sys_platform: str
    platform_system: str
    os_name: str
    platform_machine: str
    uv_target: str
    tag_platforms: tuple[str, ...]


PLATFORMS: tuple[Platform, ...] = (
    Platform(
        "linux-x86_64",
        "linux",
        "Linux",
        "posix",
        "x86_64",
        "x86_64-unknown-linux-gnu",
        _manylinux_platforms("x86_64"),
    ),
    Platform(
        "linux-aarch64",
        "linux",
        "Linux",
        "posix",
        "aarch64",
        "aarch64-unknown-linux-gnu",
        _manylinux_platforms("aarch64"),
    ),
    Platform(
        "macos-arm64",
        "darwin",
        "Darwin",
        "posix",
        "arm64",
        "aarch64-apple-darwin",
        tuple(mac_platforms(MACOS_VERSION, "arm64")),
    ),
    Platform(
        "windows-x86_64",
        "win32",
        "Windows",
        "nt",
        "AMD64",
        "x86_64-pc-windows-msvc",
        ("win_amd64",),
    ),
)

#: A real, late patch release of each supported minor version (October 2025 releases).
PYTHON_FULL_VERSIONS: tuple[str, ...] = (
    "3.9.25",
    "3.10.19",
    "3.11.14",
    "3.12.12",
    "3.13.9",
    "3.14.0",
)


def make_environment(platform: Platform, python_full_version: str) -> Environment:
    """The marker environment of CPython ``python_full_version`` on ``platform``."""
    major, minor = python_full_version.split(".")[:2]
    return {
        "implementation_name": "cpython",
        "implementation_version": python_full_version,
        "os_name": platform.os_name,
        "platform_machine": platform.platform_machine,
        "platform_release": "",
        "platform_system": platform.platform_system,
        "platform_version": "",
        "python_full_version": python_full_version,
        "platform_python_implementation": "CPython",
        "python_version": f"{major}.{minor}",
        "sys_platform": platform.sys_platform,
    }


#: 6 Pythons x 4 platforms = 24 environments, late patch releases.
ENVIRONMENTS: list[Environment] = [
    make_environment(p, v) for v in PYTHON_FULL_VERSIONS for p in PLATFORMS
]
#: The same matrix at ``X.Y.0``.
FIRST_PATCH_ENVIRONMENTS: list[Environment] = [
    make_environment(p, ".".join(v.split(".")[:2]) + ".0")
    for v in PYTHON_FULL_VERSIONS
    for p in PLATFORMS
]


def platform_of(env: Mapping[str, Any]) -> Platform:
    """The ``Platform`` whose marker values ``env`` carries."""
    for p in PLATFORMS:
        if (env["sys_platform"], env["platform_machine"]) == (p.sys_platform, p.platform_machine):
            return p
    raise KeyError(f"no platform known for {env['sys_platform']}/{env['platform_machine']}")


def env_label(env: Mapping[str, Any]) -> str:
    """A short name such as ``py3.12.12 linux-x86_64``."""
    try:
        key = platform_of(env).key
    except KeyError:
        key = f"{env['sys_platform']}-{env['platform_machine']}"
    return f"py{env['python_full_version']} {key}"


def env_tags(env: Mapping[str, Any]) -> list[Tag]:
    """Wheel tags a CPython in ``env`` accepts, most preferred first."""
    platforms = platform_of(env).tag_platforms
    major, minor = (int(x) for x in str(env["python_version"]).split(".")[:2])
    interpreter = f"cp{major}{minor}"
    return [
        *cpython_tags((major, minor), abis=[interpreter], platforms=platforms),
        *compatible_tags((major, minor), interpreter, platforms),
    ]


# --------------------------------------------------------------------------------------
# The project's requirements
# --------------------------------------------------------------------------------------


def _pyproject(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    if p.is_dir():
        p = p / "pyproject.toml"
    with p.open("rb") as f:
        return tomllib.load(f)


def project_extras(pyproject: str | os.PathLike[str]) -> list[str]:
    """Names of the project's extras (normalized, sorted)."""
    data = _pyproject(pyproject)
    return sorted(canonicalize_name(e) for e in data["project"].get("optional-dependencies", {}))


def project_groups(pyproject: str | os.PathLike[str]) -> list[str]:
    """Names of the project's PEP 735 dependency groups (normalized, sorted)."""
    data = _pyproject(pyproject)
    return sorted(canonicalize_name(g) for g in data.get("dependency-groups", {}))


def _with_marker(req: Requirement, outer: Marker | None) -> Requirement:
    if outer is None:
        return req
    marker = outer if req.marker is None else (outer & req.marker)
    bare = Requirement(str(req))
    bare.marker = marker
    return bare


def project_requirements(
    pyproject: str | os.PathLike[str],
    extras: Iterable[str] = (),
    groups: Iterable[str] = (),
) -> list[Requirement]:
    """The requirements of a project (a pyproject.toml or its folder) for a selection.

    Dependencies, plus those of each extra in ``extras``, plus each dependency group in
    ``groups`` (``include-group`` resolved). A requirement on the project itself
    (``name[extra]``) is replaced by the requirements of those extras.
    """
    data = _pyproject(pyproject)
    project = data["project"]
    own = canonicalize_name(project["name"])
    optional = {
        canonicalize_name(k): v for k, v in project.get("optional-dependencies", {}).items()
    }

    def extra_reqs(extra: str) -> list[Requirement]:
        try:
            return [Requirement(s) for s in optional[canonicalize_name(extra)]]
        except KeyError:
            raise ValueError(f"project {own!r} has no extra {extra!r}") from None

    pending: deque[Requirement] = deque(Requirement(s) for s in project.get("dependencies", []))
    done_extras: set[str] = set()
    for extra in extras:
        done_extras.add(canonicalize_name(extra))
        pending.extend(extra_reqs(extra))
    group_resolver = DependencyGroupResolver(data.get("dependency-groups", {}))
    for group in groups:
        pending.extend(group_resolver.resolve(group))

    out: list[Requirement] = []
    while pending:
        req = pending.popleft()
        if canonicalize_name(req.name) != own:
            out.append(req)
            continue
        for extra in sorted(req.extras):
            # A conditional self-reference is kept conditional on its marker.
            if req.marker is None and canonicalize_name(extra) in done_extras:
                continue
            if req.marker is None:
                done_extras.add(canonicalize_name(extra))
            pending.extend(_with_marker(r, req.marker) for r in extra_reqs(extra))
    return out


# --------------------------------------------------------------------------------------
# Package metadata from PyPI (for the network tests)
# --------------------------------------------------------------------------------------


class PyPIMetadata:
    """``Requires-Dist`` and ``Requires-Python`` of released versions, from an index.

    For each ``(name, version)`` it lists the version's files on the index's simple API
    (PEP 503 HTML, which every mirror serves) and reads the core metadata of a wheel:
    the PEP 658 ``.metadata`` file (pure-Python wheels first), else the wheel itself.
    A version with only an sdist is read from the sdist's ``PKG-INFO`` (and, for old
    setuptools sdists without ``Requires-Dist`` there, ``*.egg-info/requires.txt``).
    Results are cached as JSON files in ``cache_dir``.
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike[str] | None = None,
        *,
        index_url: str = "https://pypi.org/simple",
        timeout: float = 60.0,
    ) -> None:
        if cache_dir is None:
            cache_dir = Path(tempfile.gettempdir()) / "aspen-lockcheck-metadata"
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.index_url = index_url.rstrip("/")
        self.timeout = timeout
        self._memory: dict[tuple[str, str], dict[str, Any]] = {}
        self._pages: dict[str, list[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PyPIMetadata(index_url={self.index_url!r}, cache_dir={str(self.cache_dir)!r})"

    def requires_dist(self, name: str, version: str) -> list[Requirement]:
        return [Requirement(s) for s in self._get(name, version)["requires_dist"]]

    def requires_python(self, name: str, version: str) -> SpecifierSet | None:
        rp = self._get(name, version)["requires_python"]
        return SpecifierSet(rp) if rp else None

    def prefetch(self, pairs: Iterable[tuple[str, str]], workers: int = 16) -> None:
        """Fetch many ``(name, version)`` pairs in parallel."""
        todo = sorted({(canonicalize_name(n), str(v)) for n, v in pairs})
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda nv: self._get(*nv), todo))

    def prefetch_lock(self, lock_path: str | os.PathLike[str], workers: int = 16) -> None:
        """Fetch the metadata of every versioned entry of a lock."""
        lock = _read_lock(lock_path)
        self.prefetch(
            ((p.name, str(p.version)) for p in lock.packages if p.version is not None), workers
        )

    def _get(self, name: str, version: str) -> dict[str, Any]:
        key = (canonicalize_name(name), str(Version(version)))
        with self._lock:
            if key in self._memory:
                return self._memory[key]
        path = self.cache_dir / f"{key[0]}-{key[1]}.json"
        if path.exists():
            data = json.loads(path.read_text())
        else:
            data = self._fetch(*key)
            tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(data, indent=1))
            tmp.replace(path)
        with self._lock:
            self._memory[key] = data
        return data

    def _http(self, url: str) -> bytes:
        with self._open(url) as response:
            return cast(bytes, response.read())

    def _open(self, url: str) -> Any:
        last: Exception | None = None
        for attempt in range(4):
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "aspen-lockcheck"})
                return urllib.request.urlopen(request, timeout=self.timeout)
            except urllib.error.HTTPError as e:
                if e.code < 500:
                    raise
                last = e
            except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
                last = e
            time.sleep(0.5 * 2**attempt)
        assert last is not None
        raise last

    def _files(self, name: str) -> list[tuple[str, str]]:
        """``(filename, url)`` of every file of ``name`` on the index."""
        with self._lock:
            if name in self._pages:
                return self._pages[name]
        page_url = f"{self.index_url}/{name}/"
        page = self._http(page_url).decode("utf-8", "replace")
        files = []
        for href, text in _ANCHOR.findall(page):
            url = urllib.parse.urljoin(page_url, html.unescape(href)).split("#")[0]
            files.append((html.unescape(text).strip(), url))
        with self._lock:
            self._pages[name] = files
        return files

    def _fetch(self, name: str, version: str) -> dict[str, Any]:
        wanted = Version(version)
        wheels: list[tuple[str, str]] = []
        sdists: list[tuple[str, str]] = []
        for filename, url in self._files(name):
            try:
                if filename.endswith(".whl"):
                    if parse_wheel_filename(filename)[1] == wanted:
                        wheels.append((filename, url))
                elif parse_sdist_filename(filename)[1] == wanted:
                    sdists.append((filename, url))
            except ValueError:
                continue
        wheels.sort(key=lambda f: (not f[0].endswith("-none-any.whl"), f[0]))
        for filename, url in wheels[:3]:
            try:
                return _metadata_record(self._http(url + ".metadata"), filename + ".metadata")
            except urllib.error.HTTPError:
                continue
        for filename, url in wheels[:1]:
            with zipfile.ZipFile(io.BytesIO(self._http(url))) as whl:
                member = next(
                    n
                    for n in whl.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
                )
                return _metadata_record(whl.read(member), filename)
        for filename, url in sdists[:1]:
            with self._open(url) as response:
                return _sdist_metadata(response, filename)
        raise LookupError(f"{name} {version}: no wheel or sdist on {self.index_url}")


_ANCHOR = re.compile(r"<a\s[^>]*?href=\"([^\"]+)\"[^>]*>([^<]+)</a>", re.IGNORECASE)


def _metadata_record(data: bytes, source: str) -> dict[str, Any]:
    raw, _ = parse_email(data)
    return {
        "requires_dist": list(raw.get("requires_dist", [])),
        "requires_python": raw.get("requires_python"),
        "source": source,
    }


def _egg_requires(text: str) -> list[str]:
    """``Requires-Dist`` strings from setuptools' ``requires.txt`` sections."""
    out: list[str] = []
    extra, marker = "", ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            extra, _, marker = line[1:-1].partition(":")
            continue
        conditions = [f"({marker})"] if marker else []
        if extra:
            conditions.append(f'extra == "{extra}"')
        out.append(line + ("; " + " and ".join(conditions) if conditions else ""))
    return out


def _sdist_metadata(stream: Any, filename: str) -> dict[str, Any]:
    """Read ``PKG-INFO`` (and ``requires.txt``) from an sdist, streaming it once."""
    pkg_info: bytes | None = None
    requires_txt: bytes | None = None
    if filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(stream.read())) as z:
            for n in z.namelist():
                if n.count("/") == 1 and n.endswith("/PKG-INFO"):
                    pkg_info = z.read(n)
                elif n.count("/") == 2 and n.endswith(".egg-info/requires.txt"):
                    requires_txt = z.read(n)
    else:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                n = member.name.lstrip("./")
                if n.count("/") == 1 and n.endswith("/PKG-INFO"):
                    pkg_info = tar.extractfile(member).read()  # type: ignore[union-attr]
                elif n.count("/") == 2 and n.endswith(".egg-info/requires.txt"):
                    requires_txt = tar.extractfile(member).read()  # type: ignore[union-attr]
                if pkg_info is not None and requires_txt is not None:
                    break
    if pkg_info is None:
        raise LookupError(f"{filename}: no PKG-INFO")
    record = _metadata_record(pkg_info, filename + "/PKG-INFO")
    if not record["requires_dist"] and requires_txt is not None:
        record["requires_dist"] = _egg_requires(requires_txt.decode("utf-8", "replace"))
        record["source"] = filename + "/requires.txt"
    return record


# --------------------------------------------------------------------------------------
# Reading the lock and selecting what applies
# --------------------------------------------------------------------------------------


def _read_lock(lock_path: str | os.PathLike[str]) -> Pylock:
    with Path(lock_path).open("rb") as f:
        return Pylock.from_dict(tomllib.load(f))


def _lock_env(
    env: Mapping[str, Any], extras: Collection[str], groups: Collection[str]
) -> dict[str, Any]:
    return {
        **env,
        "extras": frozenset(canonicalize_name(e) for e in extras),
        "dependency_groups": frozenset(canonicalize_name(g) for g in groups),
    }


def _default_groups(lock: Pylock, groups: Collection[str] | None) -> tuple[str, ...]:
    if groups is None:
        return tuple(lock.default_groups or ())
    return tuple(groups)


def applying_entries(
    lock: Pylock,
    env: Mapping[str, Any],
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
) -> list[Package]:
    """Entries of ``lock`` whose marker holds in ``env`` for the extras and groups.

    ``groups=None`` means the lock's ``default-groups``. A marker that cannot be
    evaluated raises.
    """
    lenv = _lock_env(env, extras, _default_groups(lock, groups))
    return [p for p in lock.packages if p.marker is None or p.marker.evaluate(lenv, "lock_file")]


# --------------------------------------------------------------------------------------
# check_lock
# --------------------------------------------------------------------------------------

RequiresDist = Callable[[str, str], Sequence[Requirement]]
RequiresPython = Callable[[str, str], "SpecifierSet | None"]
ProjectRequirements = (
    Sequence["Requirement | str"]
    | Callable[[tuple[str, ...], tuple[str, ...]], Sequence["Requirement | str"]]
)


def _as_requirements(reqs: Iterable[Requirement | str]) -> list[Requirement]:
    return [r if isinstance(r, Requirement) else Requirement(r) for r in reqs]


class _EnvCheck:
    """The checks of one environment; appends to ``problems``."""

    def __init__(
        self,
        lock: Pylock,
        env: Mapping[str, Any],
        extras: tuple[str, ...],
        groups: tuple[str, ...],
        requires_dist: RequiresDist,
        package_requires_python: RequiresPython | None,
        allow_sdist: bool,
    ) -> None:
        self.lock = lock
        self.env = dict(env)
        self.extras = extras
        self.groups = groups
        self.requires_dist = requires_dist
        self.package_requires_python = package_requires_python
        self.allow_sdist = allow_sdist
        self.label = env_label(env)
        self.python = str(env["python_full_version"])
        self.problems: list[str] = []

    def report(self, text: str) -> None:
        self.problems.append(f"{self.label}: {text}")

    def holds(self, marker: Marker | None, extra: str, where: str) -> bool:
        if marker is None:
            return True
        try:
            return marker.evaluate({**self.env, "extra": extra})
        except Exception as e:  # a marker no installer could evaluate is a problem too
            self.report(f"{where}: cannot evaluate marker '{marker}': {e}")
            return False

    def run(self, project_reqs: Sequence[Requirement]) -> list[str]:
        lenv = _lock_env(self.env, self.extras, self.groups)
        applying: list[Package] = []
        for i, pkg in enumerate(self.lock.packages):
            try:
                if pkg.marker is None or pkg.marker.evaluate(lenv, "lock_file"):
                    applying.append(pkg)
            except Exception as e:
                self.report(f"packages[{i}] {pkg.name}: cannot evaluate marker '{pkg.marker}': {e}")

        by_name: dict[str, list[Package]] = {}
        for pkg in applying:
            by_name.setdefault(pkg.name, []).append(pkg)

        # (1) at most one entry per name
        for name, pkgs in by_name.items():
            if len(pkgs) > 1:
                versions = ", ".join(str(p.version) for p in pkgs)
                self.report(f"{name}: {len(pkgs)} entries apply ({versions})")

        tags = set(env_tags(self.env))
        for pkg in applying:
            self._check_python(pkg)
            self._check_files(pkg, tags)

        # (2) every requirement satisfied, (3) everything reachable
        reached = self._reach(project_reqs, by_name)
        for pkg in applying:
            if id(pkg) not in reached:
                self.report(
                    f"{pkg.name} {pkg.version}: unreachable: applies but nothing in the "
                    f"project requires it here (marker: {pkg.marker})"
                )

        # Cross-check with packaging's own installer-side selection.
        if not self.problems:
            try:
                list(
                    self.lock.select(
                        environment=cast(Environment, self.env),
                        tags=env_tags(self.env),
                        extras=self.extras,
                        dependency_groups=self.groups,
                    )
                )
            except PylockSelectError as e:
                self.report(f"packaging.pylock refuses to select: {e}")
        return self.problems

    def _check_python(self, pkg: Package) -> None:
        # (4) requires-python, as written in the lock and as published
        if pkg.requires_python is not None and not pkg.requires_python.contains(
            self.python, prereleases=True
        ):
            self.report(
                f"{pkg.name} {pkg.version}: requires-python '{pkg.requires_python}' "
                f"(in the lock) excludes python {self.python}"
            )
        if self.package_requires_python is not None and pkg.version is not None:
            try:
                published = self.package_requires_python(pkg.name, str(pkg.version))
            except Exception as e:
                self.report(f"{pkg.name} {pkg.version}: cannot read requires-python: {e}")
                return
            if published is not None and not published.contains(self.python, prereleases=True):
                self.report(
                    f"{pkg.name} {pkg.version}: requires-python '{published}' "
                    f"(published) excludes python {self.python}"
                )

    def _check_files(self, pkg: Package, tags: set[Tag]) -> None:
        # (5) something installable
        if pkg.vcs or pkg.directory or pkg.archive:
            return
        wheel_fits = any(parse_wheel_filename(w.filename)[3] & tags for w in (pkg.wheels or ()))
        if wheel_fits:
            return
        if pkg.sdist is None:
            n = len(pkg.wheels or ())
            self.report(
                f"{pkg.name} {pkg.version}: no compatible wheel for this platform "
                f"({n} wheels listed) and no sdist"
            )
        elif not self.allow_sdist:
            self.report(f"{pkg.name} {pkg.version}: no compatible wheel; only the sdist")

    def _reach(
        self, project_reqs: Sequence[Requirement], by_name: Mapping[str, list[Package]]
    ) -> set[int]:
        visited: set[tuple[int, str]] = set()
        reached: set[int] = set()
        queue: deque[tuple[Package, str]] = deque()

        def satisfy(req: Requirement, who: str) -> None:
            name = canonicalize_name(req.name)
            entries = by_name.get(name, [])
            if not entries:
                self.report(f"{who} requires '{req}' but no entry for {name} applies: missing")
                return
            for pkg in entries:
                if (
                    req.url is None
                    and pkg.version is not None
                    and not req.specifier.contains(pkg.version, prereleases=True)
                ):
                    self.report(
                        f"{who} requires '{req}' but the applying {name} {pkg.version} "
                        f"does not satisfy it"
                    )
                for extra in ("", *sorted(canonicalize_name(x) for x in req.extras)):
                    if (id(pkg), extra) not in visited:
                        visited.add((id(pkg), extra))
                        queue.append((pkg, extra))

        for req in project_reqs:
            if self.holds(req.marker, "", "the project"):
                satisfy(req, "the project")

        while queue:
            pkg, extra = queue.popleft()
            reached.add(id(pkg))
            if pkg.version is None:
                continue  # a direct reference without a version: no published metadata
            who = f"{pkg.name} {pkg.version}" + (f" [{extra}]" if extra else "")
            try:
                deps = self.requires_dist(pkg.name, str(pkg.version))
            except Exception as e:
                self.report(f"{who}: cannot get its dependencies: {e!r}")
                continue
            for dep in _as_requirements(deps):
                if extra:
                    # only what the extra adds; the base requirements are walked anyway
                    applies = self.holds(dep.marker, extra, who) and not self.holds(
                        dep.marker, "", who
                    )
                else:
                    applies = self.holds(dep.marker, "", who)
                if applies:
                    satisfy(dep, who)
        return reached


def check_lock(
    lock_path: str | os.PathLike[str],
    *,
    requires_dist: RequiresDist,
    project_requirements: ProjectRequirements,
    environments: Sequence[Mapping[str, Any]] = ENVIRONMENTS,
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
    requires_python: str | SpecifierSet | None = None,
    package_requires_python: RequiresPython | None = None,
    allow_sdist: bool = True,
) -> list[str]:
    """Judge the lock at ``lock_path``; return problems as text (empty = consistent).

    ``requires_dist(name, version)`` gives the dependencies of a locked version.
    ``project_requirements`` is the project's requirements for this selection of
    ``extras`` and ``groups`` (dependencies, those extras, those groups), or a callable
    ``(extras, groups) -> requirements``. ``groups=None`` selects the lock's
    ``default-groups``. ``requires_python`` is the project's: environments outside it
    are skipped (default: the lock's own ``requires-python``); environments inside it
    that the lock does not cover are problems. ``package_requires_python(name,
    version)``, if given, is the published Requires-Python, checked besides the lock's.
    ``allow_sdist=False`` makes an entry with no compatible wheel a problem even when
    it has an sdist.
    """
    try:
        lock = _read_lock(lock_path)
    except (OSError, tomllib.TOMLDecodeError, PylockValidationError) as e:
        return [f"lock: cannot read {lock_path}: {e}"]

    problems: list[str] = []
    extras_t = tuple(sorted(canonicalize_name(e) for e in extras))
    groups_t = tuple(sorted(canonicalize_name(g) for g in _default_groups(lock, groups)))
    for extra in extras_t:
        if extra not in {canonicalize_name(e) for e in lock.extras or ()}:
            problems.append(f"lock: extra {extra!r} is not listed in the lock's extras")
    for group in groups_t:
        if group not in {canonicalize_name(g) for g in lock.dependency_groups or ()}:
            problems.append(f"lock: group {group!r} is not listed in the lock's dependency-groups")

    if callable(project_requirements):
        reqs = _as_requirements(project_requirements(extras_t, groups_t))
    else:
        reqs = _as_requirements(project_requirements)

    project_rp = SpecifierSet(str(requires_python)) if requires_python is not None else None
    for env in environments:
        python = str(env["python_full_version"])
        label = env_label(env)
        if project_rp is not None:
            if not project_rp.contains(python, prereleases=True):
                continue
            if lock.requires_python is not None and not lock.requires_python.contains(
                python, prereleases=True
            ):
                problems.append(
                    f"{label}: lock requires-python '{lock.requires_python}' excludes an "
                    f"environment the project supports"
                )
                continue
        elif lock.requires_python is not None and not lock.requires_python.contains(
            python, prereleases=True
        ):
            continue
        if lock.environments and not any(
            m.evaluate(dict(env), "requirement") for m in lock.environments
        ):
            problems.append(f"{label}: not covered by the lock's environments")
            continue
        problems.extend(
            _EnvCheck(
                lock,
                env,
                extras_t,
                groups_t,
                requires_dist,
                package_requires_python,
                allow_sdist,
            ).run(reqs)
        )
    return list(dict.fromkeys(problems))


# --------------------------------------------------------------------------------------
# uv as a second judge
# --------------------------------------------------------------------------------------


def _uv(uv: str | os.PathLike[str] | None) -> str:
    if uv is not None:
        return str(uv)
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        raise FileNotFoundError("uv not found next to the interpreter or on PATH")
    return found


def _uv_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    env["MACOSX_DEPLOYMENT_TARGET"] = f"{MACOS_VERSION[0]}.{MACOS_VERSION[1]}"
    env["NO_COLOR"] = "1"
    return env


def _pins(packages: Iterable[Package]) -> dict[tuple[str, str], Package]:
    return {(p.name, str(p.version)): p for p in packages if p.version is not None}


def _compare(
    label: str, judge: str, expected: Collection[tuple[str, str]], got: Collection[tuple[str, str]]
) -> list[str]:
    problems = []
    for name, version in sorted(set(got) - set(expected)):
        problems.append(f"{label}: {judge}: {name}=={version} is needed but the lock lacks it")
    for name, version in sorted(set(expected) - set(got)):
        problems.append(
            f"{label}: {judge}: the lock installs {name}=={version}, which is not needed"
        )
    return problems


def _parse_pins(lines: Iterable[str], prefix: str = "") -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for line in lines:
        line = line.strip()
        if prefix:
            if not line.startswith(prefix):
                continue
            line = line[len(prefix) :].strip()
        if not line or line.startswith(("#", "-")):
            continue
        req = Requirement(line.split(" #")[0].strip())
        versions = [s.version for s in req.specifier if s.operator in ("==", "===")]
        if versions:
            out.add((canonicalize_name(req.name), versions[0]))
    return out


def uv_judge(
    lock_path: str | os.PathLike[str],
    project_dir: str | os.PathLike[str],
    env: Mapping[str, Any],
    *,
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
    requirements: Sequence[Requirement | str] | None = None,
    uv: str | os.PathLike[str] | None = None,
    timeout: float = 900,
) -> list[str]:
    """Ask ``uv pip compile`` whether what applies in ``env`` is what the project needs.

    The project's requirements (from ``project_dir``'s pyproject.toml with ``extras``
    and ``groups``, or ``requirements``) are compiled for this one environment with
    every applying entry pinned as a constraint. A consistent lock gives exactly the
    applying entries back; a failure means the pins cannot hold together.
    """
    label = env_label(env)
    try:
        lock = _read_lock(lock_path)
    except (OSError, tomllib.TOMLDecodeError, PylockValidationError) as e:
        return [f"lock: cannot read {lock_path}: {e}"]
    groups_t = _default_groups(lock, groups)
    reqs = (
        _as_requirements(requirements)
        if requirements is not None
        else project_requirements(project_dir, extras, groups_t)
    )
    applying = applying_entries(lock, env, extras, groups_t)
    pins = _pins(applying)

    with tempfile.TemporaryDirectory(prefix="aspen-uv-judge-") as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "requirements.in").write_text("".join(f"{r}\n" for r in reqs))
        (tmpdir / "constraints.txt").write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins)))
        cmd = [
            _uv(uv),
            "pip",
            "compile",
            "requirements.in",
            "--constraints",
            "constraints.txt",
            "--python-version",
            str(env["python_full_version"]),
            "--python-platform",
            platform_of(env).uv_target,
            "--prerelease",
            "allow",
            "--no-config",
            "--no-header",
            "--no-annotate",
            "--quiet",
            "--output-file",
            "requirements.txt",
        ]
        proc = subprocess.run(
            cmd, cwd=tmpdir, env=_uv_env(), capture_output=True, text=True, timeout=timeout
        )
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-12:])
            return [f"{label}: uv pip compile rejects the lock's pins: {tail}"]
        got = _parse_pins((tmpdir / "requirements.txt").read_text().splitlines())
    return _compare(label, "uv pip compile", set(pins), got)


def uv_install_plan(
    lock_path: str | os.PathLike[str],
    env: Mapping[str, Any],
    *,
    extras: Collection[str] = (),
    groups: Collection[str] | None = None,
    uv: str | os.PathLike[str] | None = None,
    timeout: float = 900,
) -> list[str]:
    """Ask ``uv pip install -r pylock.toml --dry-run`` what it installs in ``env``.

    Nothing is installed: the plan (``+ name==version`` lines) is compared with the
    entries that apply according to ``packaging``. uv installs the lock's
    ``default-groups`` whenever no ``--group`` is given and has no way to deselect them,
    so an empty ``groups`` (like ``None``) means the default groups here.
    """
    label = env_label(env)
    path = Path(lock_path).resolve()
    try:
        lock = _read_lock(path)
    except (OSError, tomllib.TOMLDecodeError, PylockValidationError) as e:
        return [f"lock: cannot read {lock_path}: {e}"]
    groups = tuple(groups or ()) or None
    pins = _pins(applying_entries(lock, env, extras, groups))
    with tempfile.TemporaryDirectory(prefix="aspen-uv-install-") as tmp:
        cmd = [
            _uv(uv),
            "pip",
            "install",
            "--dry-run",
            "-r",
            path.name,
            "--target",
            str(Path(tmp) / "target"),
            "--python-version",
            str(env["python_full_version"]),
            "--python-platform",
            platform_of(env).uv_target,
            "--no-config",
            "--preview-features",
            "pylock",
        ]
        for extra in extras:
            cmd += ["--extra", extra]
        for group in groups or ():
            cmd += ["--group", group]
        proc = subprocess.run(
            cmd,
            cwd=path.parent,
            env=_uv_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if proc.returncode != 0:
        tail = " | ".join(proc.stderr.strip().splitlines()[-12:])
        return [f"{label}: uv pip install refuses the lock: {tail}"]
    got = _parse_pins((proc.stdout + "\n" + proc.stderr).splitlines(), prefix="+ ")
    return _compare(label, "uv pip install", set(pins), got)
