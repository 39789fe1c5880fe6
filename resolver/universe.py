"""The universe of a solve: every package the project may reach, its usable versions, and the
candidate window of versions whose metadata the solver gets.

Collection starts at the project's requirements and follows every requirement whose marker can
hold in some cell of the environment space. A package's window holds, for each specifier that
some requirement puts on it and each Python interval, the newest few versions that fit; versions
outside the window are not fetched until the solver asks for them (see ``widen``).
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import overload

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from resolver.environments import (
    Cell,
    EnvironmentSpace,
    Platform,
    marker_comparisons,
    marker_cuts,
    marker_platforms,
    spec_contains,
    spec_span,
    spec_text,
    specifier_cuts,
)
from resolver.errors import InputError
from resolver.options import LockOptions
from resolver.parsed_cache import ListLike, VersionOrder
from resolver.prior import PriorLock
from resolver.project import Project
from resolver.provider import (
    CoreMetadata,
    DistFile,
    MetadataUnavailable,
    PackageNotFound,
    Provider,
    canonical,
    needs_build,
)

INITIAL_WINDOW = 2
_UNKNOWN = object()
# The places a version takes in a window when its metadata needs a build: no wheel and no
# PEP 658 metadata file, so the provider downloads the whole sdist and usually builds it
# (pyspark: 456 MB, about 10 s each on a cold cache). Such a package's window starts one
# version deep per specifier and Python interval instead of two, and deepens when widened.
BUILD_PLACES = 2


def _deeper(depth: int, widenings: int) -> int:
    """The depth of a window widened for the ``widenings``-th time (see ``Universe.widen``)."""
    if depth >= 64:
        return depth + 64
    return depth * (2 if widenings <= 2 else 8)


def marker_extras(marker: Marker | None) -> frozenset[str]:
    """The extra names an ``extra == "x"`` comparison in the marker mentions; remembered with
    the marker (a lock asks again for each extra of each requirement, and again in facts)."""
    if marker is None:
        return frozenset()
    hit = _EXTRAS.get(id(marker))
    if hit is None or hit[0] is not marker:
        found = frozenset(
            canonical(v) for var, _op, v in marker_comparisons(marker) if var == "extra"
        )
        hit = _EXTRAS[id(marker)] = (marker, found)
    return hit[1]


_EXTRAS: dict[int, tuple[Marker, frozenset[str]]] = {}


class _Ranks(Mapping[Version, int]):
    """A page's versions' ranks (positions newest first, ``VersionOrder.position``): the
    page's own version objects are found by identity, others by bisection; no version is
    made or hashed for it."""

    __slots__ = ("_order",)

    def __init__(self, order: VersionOrder) -> None:
        self._order = order

    def __getitem__(self, version: Version) -> int:
        return self._order.position(version)

    def get(self, version: Version, default: int | None = None) -> int | None:  # type: ignore[override]
        try:
            return self._order.position(version)
        except KeyError:
            return default

    def __contains__(self, version: object) -> bool:
        return version in self._order

    def __iter__(self) -> Iterator[Version]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)


class Chosen(ListLike[Version]):
    """Some of a package's versions, newest first, held as their positions (ranks) in
    ``Package.versions``: each is made when read (``Universe.eligible`` and ``outside`` list
    nearly every version of every package; a lock reads a few of each)."""

    __slots__ = ("positions", "rank", "version_at", "versions")

    def __init__(
        self, versions: Sequence[Version], rank: Mapping[Version, int], positions: Sequence[int]
    ) -> None:
        self.versions = versions
        self.rank = rank
        self.positions = positions  # ascending
        # The version at a position of ``versions``: a page's are read through VersionOrder.at
        # (one Python call less each; the windows' bisections, environments.spec_span, read
        # 19,000 on examples/large).
        self.version_at: Callable[[int], Version] = getattr(versions, "at", versions.__getitem__)

    def __len__(self) -> int:
        return len(self.positions)

    @overload
    def __getitem__(self, i: int) -> Version: ...
    @overload
    def __getitem__(self, i: slice) -> Chosen: ...
    def __getitem__(self, i: int | slice) -> Version | Chosen:
        if isinstance(i, slice):
            return Chosen(self.versions, self.rank, self.positions[i])
        return self.version_at(self.positions[i])

    def __iter__(self) -> Iterator[Version]:
        return map(self.version_at, self.positions)

    def __reversed__(self) -> Iterator[Version]:
        return map(self.version_at, reversed(self.positions))

    def __contains__(self, version: object) -> bool:
        position = self.rank.get(version)  # type: ignore[call-overload]
        if position is None:
            return False
        positions = self.positions
        i = bisect_left(positions, position)
        return i < len(positions) and positions[i] == position

    def __repr__(self) -> str:
        return f"Chosen({list(self)!r})"


@dataclass
class Package:
    """One package of the universe: all its usable versions, newest first, and its window."""

    name: NormalizedName
    # A version's files; from the index provider, a page's PageVersions: a version's files
    # are made when they are read (a lock reads those of a few versions of hundreds).
    files: Mapping[Version, list[DistFile]]
    # Every valid version, newest first; ranks index this list. From the index provider, a
    # page's VersionOrder: a version is made when it is read.
    versions: Sequence[Version]
    metadata: dict[Version, CoreMetadata] = field(default_factory=dict)
    failed: set[Version] = field(default_factory=set)
    window: set[Version] = field(default_factory=set)
    depth: int = INITIAL_WINDOW  # how many versions per specifier and Python interval
    widenings: int = 0  # how often the solver asked for more versions
    # Python intervals (by their lower end) whose windows grew on their own, where the solver
    # asked for more versions there only: their depth and widenings, which stand for
    # ``depth`` and ``widenings`` there (see ``Universe.widen``).
    at: dict[Version, tuple[int, int]] = field(default_factory=dict)
    # The Python intervals of the last widening that named them (``Universe.widen``).
    wanted_at: frozenset[Version] | None = None
    # How many versions got metadata with a Requires-Python other than their files' (which
    # can change the window): Universe._load_metadata counts them.
    rp_changes: int = 0

    def __post_init__(self) -> None:
        versions = self.versions
        self._prereleases: set[Version] | None = None
        self._yanked: set[Version] | None = None
        if isinstance(versions, VersionOrder):
            # A page's versions: ranks, pre-releases, yanked versions and file Requires-Python
            # are read off the order stored with the page, by position.
            self.order: VersionOrder | None = versions
            self.rank: Mapping[Version, int] = _Ranks(versions)
            self.prerelease_ranks: Sequence[int] = versions.prerelease_positions()
            self.yanked_ranks: Sequence[int] = versions.yanked_positions()
        else:
            self.order = None
            self.rank = dict(zip(versions, range(len(versions)), strict=True))
            self.prerelease_ranks = [r for r, v in enumerate(versions) if v.is_prerelease]
            yanked = {v for v, files in self.files.items() if all(f.is_yanked for f in files)}
            self.yanked_ranks = [r for r, v in enumerate(versions) if v in yanked]
        # Whether some version is a final release (not a pre-release or development release).
        self.finals = len(self.prerelease_ranks) < len(versions)
        self._built: dict[Version, bool] = {}
        self._file_rp: dict[Version, SpecifierSet | None] = {}
        # Universe._update_window's walks, by specifier (identity) and window state.
        self.walks: dict[tuple, set[Version]] = {}
        # Universe._places's answers, by version identity (with the version).
        self.places: dict[int, tuple[Version, tuple[int, ...]]] = {}
        # Universe.outside's last answer, with the eligible list and window it was computed
        # from (and the window's size: explanations add to a copy's window in place).
        self.outside_memo: tuple[Chosen, set[Version], int, Chosen] | None = None
        # The distinct Requires-Python of those versions (resolver/facts.py).
        self.outside_rps: tuple[Chosen, list[SpecifierSet | None]] | None = None

    @property
    def prereleases(self) -> set[Version]:
        """The pre-releases (and development releases) among the versions."""
        if self._prereleases is None:
            self._prereleases = {self.versions[r] for r in self.prerelease_ranks}
        return self._prereleases

    @property
    def yanked_versions(self) -> set[Version]:
        """The versions whose files are all yanked."""
        if self._yanked is None:
            self._yanked = {self.versions[r] for r in self.yanked_ranks}
        return self._yanked

    def depth_at(self, python: Version) -> int:
        """The window's depth at this Python interval (its lower end)."""
        return max(self.depth, self.at.get(python, (0, 0))[0])

    def needs_build(self, version: Version) -> bool:
        """Whether the version's metadata needs a build (or at least the whole sdist): see
        ``provider.needs_build``."""
        hit = self._built.get(version)
        if hit is None:
            hit = self._built[version] = needs_build(self.files[version])
        return hit

    def file_requires_python(self, version: Version) -> SpecifierSet | None:
        order = self.order
        if order is not None:
            # Read off the page's stored column, without making any of the version's files.
            try:
                return order.file_requires_python(order.position(version))
            except KeyError:
                return None
        found = self._file_rp.get(version, _UNKNOWN)
        if found is not _UNKNOWN:
            return found
        found = next(
            (f.requires_python for f in self.files[version] if f.requires_python is not None),
            None,
        )
        self._file_rp[version] = found
        return found

    def requires_python(self, version: Version) -> SpecifierSet | None:
        meta = self.metadata.get(version)
        if meta is not None and meta.requires_python is not None:
            return meta.requires_python
        return self.file_requires_python(version)

    def requires_pythons(self, versions: Sequence[Version]) -> list[SpecifierSet | None]:
        """The distinct Requires-Python (``requires_python``) of these versions, in the order
        first met, by identity (the universe hands out one object per text, and hashing a
        SpecifierSet is slow). Of a page's versions chosen by position (``Universe.outside``:
        nearly all of them) they are read off the page's stored column, making no version,
        unless one of them has metadata with a Requires-Python of its own."""
        order = self.order
        if order is not None and type(versions) is Chosen and versions.versions is order:
            rank = self.rank
            own = {
                rank[v]: meta.requires_python
                for v, meta in self.metadata.items()
                if meta.requires_python is not None and v in rank
            }
            positions = versions.positions
            if not own or not any(map(own.__contains__, positions)):
                return order.file_requires_pythons(positions)
            found = (own[r] if r in own else order.file_requires_python(r) for r in positions)
            return list({id(rp): rp for rp in found}.values())
        return list({id(rp): rp for rp in map(self.requires_python, versions)}.values())

    def yanked(self, version: Version) -> bool:
        return version in self.yanked_versions


@dataclass
class Demand:
    """What requirements seen so far ask of one package."""

    specifiers: set[str] = field(default_factory=set)
    # Exact ``==`` pins in the project's own requirements: the only way to a yanked version
    # (PEP 592; like uv, a pin in some dependency's metadata does not count).
    pinned: set[Version] = field(default_factory=set)
    explicit_prerelease: bool = False  # a project requirement names a pre-release
    extras: set[str] = field(default_factory=lambda: {""})  # "" stands for the plain requirements


# What a package no requirement has reached yet is asked (read only: never added to).
_NO_DEMAND = Demand()


class Universe:
    def __init__(
        self,
        project: Project,
        provider: Provider,
        space: EnvironmentSpace,
        *,
        options: LockOptions | None = None,
        warn: Callable[[str], None] | None = None,
        prior: PriorLock | None = None,
        upgrade: Mapping[NormalizedName, SpecifierSet] | None = None,
        pins: Mapping[NormalizedName, SpecifierSet] | None = None,
    ) -> None:
        self.project = project
        # Packages held to a specifier and freed from their locked version, with no push to
        # the newest (``aspen why-not`` asks "what if this version"), unlike --upgrade-package.
        self.pins = dict(pins or {})
        # The previous lock, to keep (None with --upgrade), and the packages --upgrade-package
        # exempts from keeping, each with the specifier the user gave (empty: newest allowed).
        self.prior = prior
        self.upgrade = dict(upgrade or {})
        self.locked = prior.versions() if prior else {}
        self.provider = provider
        self.space = space
        # The lower ends of the space's Python intervals: the windows are walked per Python.
        self.lows = [low for low, _high in space.pythons]
        # The space's cells at each of those Python intervals, by position.
        self._cells_at: list[list[Cell]] = [[] for _low in self.lows]
        for cell in space.cells:
            self._cells_at[cell.python_index].append(cell)
        self.options = options or LockOptions()
        self.direct = {canonicalize_name(r.name) for _s, r in project.requirements()}
        self.constraints: dict[NormalizedName, list[Requirement]] = {}
        for req in project.settings.constraints:
            self.constraints.setdefault(canonicalize_name(req.name), []).append(req)
        # Packages that list files without upload times while --exclude-newer is set (kept).
        self.undated: set[NormalizedName] = set()
        self.warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
        self.packages: dict[NormalizedName, Package] = {}
        self.demands: dict[NormalizedName, Demand] = {}
        self.cut_versions: set[Version] = set()
        self.cut_platforms: set[Platform] = set()
        self.missing: dict[NormalizedName, str] = {}
        # The extras each fetched version's requirements were scanned under, by package and
        # the version's identity (with the version).
        self._scanned: dict[NormalizedName, dict[int, tuple[Version, set[str]]]] = {}
        self._scan_state: dict[NormalizedName, tuple[int, tuple[str, ...]]] = {}
        self._noted: dict[tuple[int, str], Requirement] = {}
        # The requirement lists followed under each extra, by identity (kept alive here).
        self._noted_lists: dict[tuple[int, str], Sequence[Requirement]] = {}
        # Memos: a window is recomputed only when what it depends on changed (the state it was
        # computed from is kept per package; specifiers are asked through spec_contains).
        # Widening runs collection again and again over hundreds of packages.
        self._window_state: dict[NormalizedName, tuple] = {}
        # Packages whose windows a memory gave (``seed_window``): not walked until a widening.
        self._seeded: set[NormalizedName] = set()
        # Windows found all read (or failed) by collect, with what they were read against.
        self._window_read: dict[NormalizedName, tuple] = {}
        self._eligible: dict[NormalizedName, tuple[tuple, Chosen]] = {}
        self._specs: dict[str, SpecifierSet] = {}
        self._rp_cut: dict[int, SpecifierSet] = {}  # Requires-Python already cut at
        self._marker_cut: dict[int, Marker] = {}  # markers already cut at
        self._rp_differs: dict[tuple[int, int], tuple[SpecifierSet, SpecifierSet | None, bool]] = {}
        self._rp_pythons: dict[int, tuple[SpecifierSet | None, tuple[bool, ...]]] = {}
        self._final: tuple[tuple, EnvironmentSpace] | None = None
        # What resolver/facts.py keeps from one solve round to the next.
        self.memo: dict[str, object] = {}
        # A provider that fetches ahead picks the versions these windows will start with.
        expect = getattr(provider, "expect_windows", None)
        if expect is not None:
            expect(self.lows, INITIAL_WINDOW, BUILD_PLACES)

    # -- collection ----------------------------------------------------------------------

    def collect(self) -> None:
        """Fetch file lists and window metadata until every reachable package has a window.

        Versions whose metadata needs a build (a whole sdist, downloaded and usually built) are
        fetched from the start but read last: collection goes on with every other version, and
        waits for them only when nothing else is left. On examples/large's cold lock the
        resolver's thread waited 9 s for pyspark 4.3.0 (a 456 MB sdist and its build) before
        anything past that level could be read. Which versions wait is a property of their
        files, not of what arrives first, so a warm lock collects in the same order."""
        for _source, req in self.project.requirements():
            self._note(req, first_party=True)
        while True:
            self.load_packages(list(self.demands))
            self._scan_all()
            wanted = []
            done = self._window_read
            for name, package in self.packages.items():
                self._update_window(package)
                read, failed, window = package.metadata, package.failed, package.window
                # A window all read or failed stays so while it is the same (reads and failures
                # only grow): not looked through again, hashing each version, at every pass.
                hit = done.get(name)
                if (
                    hit is not None
                    and hit[0] is window
                    and hit[1] is read
                    and hit[2] is failed
                    and hit[3] == len(window)
                ):
                    continue
                unread = [v for v in window if v not in read and v not in failed]
                if unread:
                    wanted += [(name, v) for v in sorted(unread, reverse=True)]
                else:
                    done[name] = (window, read, failed, len(window))
            pending = [n for n in self.demands if n not in self.packages and n not in self.missing]
            if not wanted and not pending and self._scan_all() == 0:
                return
            self.provider.prefetch(wanted)
            quick = [(n, v) for n, v in wanted if not self.packages[n].needs_build(v)]
            if not quick and pending:
                continue  # the next pass reads the pending pages, and what they lead to
            for name, version in quick or wanted:
                self._load_metadata(self.packages[name], version)

    def load_packages(self, names: list[NormalizedName]) -> None:
        """Read the file lists of these packages (those not read yet)."""
        new = [n for n in names if n not in self.packages and n not in self.missing]
        if new:
            self.provider.prefetch((n, None) for n in new)
            for name in new:
                self._load_package(name)

    def widen(
        self,
        names: set[NormalizedName],
        where: Mapping[NormalizedName, Collection[Version]] | None = None,
    ) -> bool:
        """Deepen the windows of these packages; False if no window grew.

        ``where`` names, for some packages, the Python intervals (lower ends) where the solver
        took the version outside the window: only those grow. A package it does not name grows
        at the intervals of its last widening that named some (the parts of a conflict that
        resolver/explain.py widens name packages only: on examples/large, prefect is taken
        outside its window at Python 3.15 alone, where its 3.x releases do not run and the 141
        newer ones that do fail through their requirements; its window elsewhere stays 2 deep
        instead of going back through its whole history), and everywhere if there is none.
        Where that grows nothing, the package grows everywhere: which windows grow only
        decides how soon the optimum is found, never which one (``locker._edges``).

        A window grows twice as deep the first two times, then eight times (a package that
        needs more a third time is likely to need many more), then by 64 versions at a time
        once it is 64 deep: reads past the version needed cost most in old releases, which are
        sdists to build more often and pull old requirements with them. prefect at 3.15 needs
        143 versions: 64 -> 512 read its whole history (410 versions, among them prefect 0.x,
        which needs 5 builds: its own 0.9.4 and old python-slugify and mypy-extensions);
        64 -> 128 -> 256 read 258 versions, 64 -> 128 -> 192 read 194 and build none, in a
        part round more (explain.refute), which costs far less than the reads it spares."""
        before = {name: set(self.packages[name].window) for name in names}
        # Every window is walked from now on (a widened package's requirements can ask new
        # specifiers of any other); a seeded one keeps its versions (a walk adds to a window).
        self._seeded.clear()
        lows = self.lows
        located = set()
        for name in sorted(names):
            package = self.packages[name]
            asked = where.get(name) if where is not None else None
            if asked:
                # The solver's Python intervals may be cut finer than the space's: each is
                # inside the space's interval with the highest lower end not above its own.
                package.wanted_at = frozenset(
                    max((low for low in lows if low <= python), default=lows[0]) for python in asked
                )
            at = package.wanted_at
            if at and len(at) < len(lows):
                located.add(name)
                for low in sorted(at):
                    depth, widenings = package.at.get(low, (package.depth, package.widenings))
                    package.at[low] = (_deeper(depth, widenings + 1), widenings + 1)
            else:
                self._deepen_everywhere(package)
        self.collect()
        grew = {name for name in names if self.packages[name].window != before[name]}
        # Where the Python intervals asked have no more versions, the package grows everywhere.
        missed = sorted(located - grew)
        for name in missed:
            self.packages[name].wanted_at = None
            self._deepen_everywhere(self.packages[name])
        if missed:
            self.collect()
            grew |= {name for name in missed if self.packages[name].window != before[name]}
        return bool(grew)

    @staticmethod
    def _deepen_everywhere(package: Package) -> None:
        package.widenings += 1
        package.depth = _deeper(package.depth, package.widenings)
        for low, (depth, widenings) in list(package.at.items()):
            package.at[low] = (_deeper(depth, widenings + 1), widenings + 1)

    def _scan_all(self) -> int:
        """Follow the requirements of fetched versions under every extra asked of them so far;
        the number of (version, extra) pairs newly scanned."""
        count = 0
        for name in list(self.packages):
            package = self.packages[name]
            demand = self.demands.get(name)
            extras = sorted(demand.extras) if demand is not None else [""]
            # Metadata only grows: a package with as many versions fetched and the same extras
            # asked as at its last scan has nothing new.
            state = (len(package.metadata), tuple(extras))
            if self._scan_state.get(name) == state:
                continue
            self._scan_state[name] = state
            # The versions with an extra not scanned yet (extras asked only grow), found by
            # identity and sorted alone: sorting and hashing every version fetched, at every
            # pass, cost more than the scans (examples/large: 1,478 versions, 11 passes).
            scanned = self._scanned.setdefault(name, {})
            metadata = package.metadata
            todo = []
            for version in metadata:
                hit = scanned.get(id(version))
                if hit is None or hit[0] is not version or len(hit[1]) < len(extras):
                    todo.append(version)
            for version in sorted(todo):
                hit = scanned.get(id(version))
                if hit is None or hit[0] is not version:
                    hit = scanned[id(version)] = (version, set())
                done = hit[1]
                for extra in extras:
                    if extra in done:
                        continue
                    done.add(extra)
                    count += 1
                    # Versions that list the same requirements share one tuple of them
                    # (metadata._from_texts): followed once per extra, it has nothing more.
                    requires = metadata[version].requires_dist
                    seen = (id(requires), extra)
                    if seen in self._noted_lists:
                        continue
                    self._noted_lists[seen] = requires
                    for req in requires:
                        # What noting a requirement does only adds to sets: a requirement
                        # object noted before under this extra (versions share the objects of
                        # equal requirements) adds nothing. Kept, so that its id stays its own.
                        noted = (id(req), extra)
                        if noted in self._noted:
                            continue
                        self._noted[noted] = req
                        if extra == "" or extra in marker_extras(req.marker):
                            self._note(req, extra=extra)
        return count

    def _note(self, req: Requirement, *, first_party: bool = False, extra: str = "") -> None:
        name = canonical(req.name)
        if req.marker is not None:
            if not self.space.could_hold(req.marker, (extra,)):
                return
            # Requirements share a few hundred marker objects: each one's cuts are added once
            # (adding hashes every Version again; examples/large notes 3,300 with a marker).
            if self._marker_cut.get(id(req.marker)) is not req.marker:
                self._marker_cut[id(req.marker)] = req.marker
                self.cut_versions |= marker_cuts(req.marker)
                self.cut_platforms |= marker_platforms(req.marker)
        if req.url:
            raise InputError(f"requirement {req}: direct URL requirements are not supported yet")
        demand = self.demands.setdefault(name, Demand())
        demand.specifiers.add(self._text(req.specifier))
        if req.extras:
            demand.extras.update(map(canonical, req.extras))
        for spec in req.specifier if first_party else ():
            if spec.operator in ("==", "===") and "*" not in spec.version:
                try:
                    demand.pinned.add(Version(spec.version))
                except ValueError:
                    pass
        if first_party and req.specifier.prereleases:
            demand.explicit_prerelease = True

    def _load_package(self, name: NormalizedName) -> None:
        cutoff = self.options.exclude_newer
        # The index provider groups a stored page's files by version from the page's own runs
        # of one version, making a version's files only when they are read (pydantic-core
        # lists 15,000 files).
        grouped_files = getattr(self.provider, "files_by_version", None)
        try:
            if cutoff is None and grouped_files is not None:
                page = grouped_files(name)
                # A page's versions come newest first as stored with it, each made when read.
                order = getattr(page, "order", None)
                versions = order() if order is not None else sorted(page, reverse=True)
                self.packages[name] = Package(name, page, versions)
                return
            files = self.provider.files(name)
        except PackageNotFound as exc:
            self.missing[name] = str(exc)
            return
        if cutoff is not None:
            if any(f.upload_time is None for f in files):
                self.undated.add(name)
            files = [f for f in files if f.upload_time is None or f.upload_time < cutoff]
        by_version: dict[Version, list[DistFile]] = {}
        for f in files:
            by_version.setdefault(f.version, []).append(f)
        self.packages[name] = Package(name, by_version, sorted(by_version, reverse=True))

    def _load_metadata(self, package: Package, version: Version) -> None:
        try:
            meta = self.metadata(package.name, version)
        except MetadataUnavailable as exc:
            self.warn(f"skipping {package.name} {version}: {exc}")
            package.failed.add(version)
            return
        package.metadata[version] = meta
        rp = meta.requires_python
        if rp is not None:
            # Versions share a few Requires-Python objects: their cuts are taken once each.
            if self._rp_cut.get(id(rp)) is not rp:
                self._rp_cut[id(rp)] = rp
                self.cut_versions |= specifier_cuts(rp)
            if self._differs(rp, package.file_requires_python(version)):
                package.rp_changes += 1

    def _differs(self, rp: SpecifierSet, file_rp: SpecifierSet | None) -> bool:
        """``rp != file_rp``, memoised by the identities of the pair: metadata and pages share
        a few Requires-Python objects each (examples/large compares 1,478 pairs, of a few dozen
        distinct ones), and SpecifierSet's ``==`` sorts and compares their clauses in Python."""
        if rp is file_rp:
            return False
        key = (id(rp), id(file_rp))
        hit = self._rp_differs.get(key)
        if hit is None or hit[0] is not rp or hit[1] is not file_rp:
            hit = self._rp_differs[key] = (rp, file_rp, rp != file_rp)
        return hit[2]

    def metadata(self, name: NormalizedName, version: Version) -> CoreMetadata:
        """A version's metadata from the provider, with the project's overrides applied.
        Raises MetadataUnavailable."""
        meta = self.provider.metadata(name, version)
        if self.project.settings.overrides:
            meta = replace(meta, requires_dist=self.project.overridden(meta.requires_dist))
        return meta

    # -- windows ---------------------------------------------------------------------------

    def eligible(self, package: Package) -> Chosen:
        """Versions policy allows at all (pre-releases, yanked), newest first, by rank: no
        version is made for it (examples/large: 41,452 versions, a lock looks at a few
        thousand)."""
        demand = self.demands.get(package.name) or _NO_DEMAND
        # Asked of every package at every pass of collection (examples/large: 4,918 times),
        # nearly always answered by the memo below: what it is keyed by is found by a few tests.
        policy = self.options.prerelease
        if policy == "if-necessary-or-explicit":
            allow_pre = not package.finals or demand.explicit_prerelease
        elif policy == "allow" or policy == "disallow":
            allow_pre = policy == "allow"
        elif policy == "if-necessary":
            allow_pre = not package.finals
        elif policy == "explicit":
            allow_pre = demand.explicit_prerelease
        else:
            raise KeyError(policy)
        # Pinned versions only grow, as failed ones do: their counts tell a change.
        key = (len(package.failed), len(demand.pinned), allow_pre)
        hit = self._eligible.get(package.name)
        if hit is not None and hit[0] == key:
            return hit[1]
        rank = package.rank
        excluded = {r for v in package.failed if (r := rank.get(v)) is not None}
        if package.yanked_ranks:
            pinned = {r for v in demand.pinned if (r := rank.get(v)) is not None}
            excluded.update(r for r in package.yanked_ranks if r not in pinned)
        if not allow_pre:
            excluded.update(package.prerelease_ranks)
        wanted = [
            spec
            for spec in (self.upgrade.get(package.name), self.pins.get(package.name))
            if spec is not None
        ]
        versions = package.versions
        positions: Sequence[int]
        if wanted:
            positions = [
                r
                for r in range(len(versions))
                if r not in excluded
                and all(s.contains(versions[r], prereleases=True) for s in wanted)
            ]
        elif excluded:
            positions = [r for r in range(len(versions)) if r not in excluded]
        else:
            positions = range(len(versions))
        found = Chosen(versions, rank, positions)
        self._eligible[package.name] = (key, found)
        return found

    def _text(self, spec: SpecifierSet) -> str:
        """``str(spec)`` (``spec_text``: once per object; versions share the specifier objects
        of equal requirements). The set is also kept as the object ``specifier`` gives for
        that text, instead of parsing it again."""
        text = spec_text(spec)
        self._specs.setdefault(text, spec)
        return text

    def specifier(self, text: str) -> SpecifierSet:
        """The specifier set of this text, one object per text."""
        spec = self._specs.get(text)
        if spec is None:
            spec = self._specs[text] = SpecifierSet(text)
        return spec

    def seed_window(self, package: Package, window: set[Version]) -> None:
        """Start the package with this window (learned by the last lock of the same inputs:
        resolver/widths.py), kept as it is until a widening instead of walked. It must be the
        window walks would give (``locker._edges`` checks only versions older than the chosen
        one): the memory checks after collection that what decides the walks is what it
        recorded (``widths.state``). The walks of examples/large's warm lock, which gave the
        recorded windows again, cost 13% of its main process."""
        package.window = window
        self._seeded.add(package.name)

    def _update_window(self, package: Package) -> None:
        if package.name in self._seeded:
            return
        demand = self.demands.get(package.name) or _NO_DEMAND
        eligible = self.eligible(package)
        # Everything the window depends on besides fixed settings; metadata can bring a
        # version's own Requires-Python. (Specifiers asked only grow: their count tells a
        # change; new metadata matters only with a Requires-Python of its own.)
        # The depths of intervals that grew on their own.
        at = tuple(sorted(package.at.items())) if package.at else ()
        state = (
            len(demand.specifiers),
            package.depth,
            at,
            package.rp_changes,
            len(package.failed),
            id(eligible),
        )
        if self._window_state.get(package.name) == state:
            return
        self._window_state[package.name] = state
        window = {v for v in package.window if v not in package.failed}
        # Locked versions are always candidates: keeping them is the first thing a re-lock tries.
        locked = self.locked.get(package.name)
        if locked:
            # As ``locked & set(eligible)``, whose objects are those of the smaller set (of
            # the locked ones when as many are eligible), without making every version.
            if len(eligible) <= len(locked):
                window |= locked & set(eligible)
            else:
                window |= {v for v in locked if v in eligible}
        # One specifier's walk depends only on the specifier, the depth, the versions'
        # Requires-Python (rp_changes) and what is eligible: a package asked a new specifier
        # walks that one alone (examples/large: 2,358 walks, 1,491 of them distinct).
        walked = package.walks
        for spec in self._window_specifiers(package.name, demand):
            key = (id(spec), package.depth, at, package.rp_changes, self._eligible[package.name][0])
            taken = walked.get(key)
            if taken is None:
                taken = walked[key] = self._walk(package, spec, eligible)
            window |= taken
        package.window = window

    def _walk(self, package: Package, spec: SpecifierSet, eligible: Chosen) -> set[Version]:
        """Most preferred first (newest, or oldest with --resolution lowest), the first `depth`
        versions fitting ``spec`` that run on each Python; the walk stops as soon as every Python
        has them, so long histories are not scanned. Only the span of versions within the
        specifier's bounds is walked (``spec_span``: examples/large's 1,278 walks checked
        17,600 versions against their specifiers, most of them outside the bounds)."""
        pythons = self.lows
        # One depth everywhere unless some interval grew on its own (most packages): asking
        # depth_at, which looks the interval up by its Version, cost 22 M instructions of
        # examples/large's warm lock (7,700 calls).
        if package.at:
            depths = [package.depth_at(low) for low in pythons]
        else:
            depths = [package.depth] * len(pythons)
        start, stop = spec_span(spec, eligible)
        span = eligible[start:stop]
        order = reversed(span) if self.lowest(package.name) else iter(span)
        found: list[Version] = []
        taken = [0] * len(pythons)  # by position in `pythons`
        left = list(range(len(pythons)))  # the Pythons that want more
        for v in order:
            if not left:
                break
            if not spec_contains(spec, v):
                continue
            runs_on = self._runs_on(package.requires_python(v))
            wanted = [p for p in left if runs_on[p]]
            if not wanted:
                continue
            found.append(v)
            places = self._places(package, v)
            for p in wanted:
                taken[p] += places[p]
                if taken[p] >= depths[p]:
                    left.remove(p)
        return set(found)

    def _runs_on(self, rp: SpecifierSet | None) -> tuple[bool, ...]:
        """Whether a version with this Requires-Python runs on each Python interval of the
        space (at its lower end), by position; memoised by identity (versions share a few
        Requires-Python objects, and windows ask again and again)."""
        hit = self._rp_pythons.get(id(rp))
        if hit is None or hit[0] is not rp:
            fits = tuple(rp is None or spec_contains(rp, low) for low in self.lows)
            hit = self._rp_pythons[id(rp)] = (rp, fits)
        return hit[1]

    def lowest(self, name: NormalizedName) -> bool:
        """Whether the package is resolved to its lowest versions (--resolution)."""
        return self.options.lowest(name in self.direct)

    def _window_specifiers(self, name: NormalizedName, demand: Demand) -> list[SpecifierSet]:
        """The specifiers a window serves: each one asked of the package, and each of those
        narrowed by a constraint on it (a constraint applies only where the package is needed,
        so it never adds a specifier of its own)."""
        plain = [self.specifier(text) for text in sorted(demand.specifiers)]
        narrowed = [
            self.specifier(str(s & c.specifier))
            for s in plain
            for c in self.constraints.get(name, [])
        ]
        return plain + narrowed

    def _places(self, package: Package, version: Version) -> tuple[int, ...]:
        """The places a version takes in a window at each Python interval, by position: none
        where it installs on no platform (wheels only, none fitting), two where its metadata
        needs a build, else one. Memoised per package by the version's identity (the walks
        ask about the package's own versions; hashing a Version is a Python call)."""
        hit = package.places.get(id(version))
        if hit is not None and hit[0] is version:
            return hit[1]
        files = package.files[version]
        sdist = any(f.kind == "sdist" for f in files)
        fits = [sdist or any(c.installable(files) for c in cells) for cells in self._cells_at]
        cost = (BUILD_PLACES if package.needs_build(version) else 1) if any(fits) else 0
        places = tuple(cost if fit else 0 for fit in fits)
        package.places[id(version)] = (version, places)
        return places

    def outside(self, package: Package) -> Chosen:
        """Eligible versions not in the window (their metadata is unknown), newest first, by
        rank; the same object while neither the eligible versions nor the window change. The
        window's ranks are taken out of the eligible ones: no version is made or hashed for
        it (examples/large: 35,000 outside versions a round)."""
        eligible, window = self.eligible(package), package.window
        hit = package.outside_memo
        if hit is not None and hit[0] is eligible and hit[1] is window and hit[2] == len(window):
            return hit[3]
        rank = package.rank
        found = list(eligible.positions)
        for r in sorted({r for v in window if (r := rank.get(v)) is not None}, reverse=True):
            i = bisect_left(found, r)
            if i < len(found) and found[i] == r:
                del found[i]
        rest = Chosen(eligible.versions, rank, found)
        package.outside_memo = (eligible, window, len(window), rest)
        return rest

    def final_space(self) -> EnvironmentSpace:
        """The space cut wherever something collected so far can change; the same object while
        nothing new cuts it."""
        key = (frozenset(self.cut_versions), frozenset(self.cut_platforms))
        if self._final is None or self._final[0] != key:
            self._final = (key, self.space.refine(*key))
        return self._final[1]
