"""A resolution: the solver's choice read back as lock entries, each with the cells it applies in,
per source (main dependencies, each extra, each group), and the entries it depends on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import chain

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from resolver.environments import Cell, EnvironmentSpace, marker_mask
from resolver.facts import FactBase
from resolver.options import LockOptions
from resolver.project import Project, Source
from resolver.provider import CoreMetadata
from resolver.solve import Solution
from resolver.universe import Package, Universe, canonical, marker_extras


@dataclass
class Entry:
    name: NormalizedName
    version: Version
    package: Package
    cells: dict[Source, frozenset[Cell]] = field(default_factory=dict)
    dependencies: set[tuple[NormalizedName, Version]] = field(default_factory=set)

    @property
    def metadata(self) -> CoreMetadata:
        return self.package.metadata[self.version]


class Resolution:
    """The lock's entries (sorted by name, then version) with what the lock writes beside them.
    A ``deferred`` one reads its entries when they are first asked for: a lock whose text its
    memory recorded writes that text and never asks (examples/large: 0.04-0.08 s less)."""

    def __init__(
        self,
        project: Project,
        space: EnvironmentSpace,
        entries: list[Entry],
        solution: Solution,
        options: LockOptions | None = None,
    ) -> None:
        self.project, self.space, self.solution = project, space, solution
        self.options = options if options is not None else LockOptions()
        self._entries: list[Entry] | None = entries
        self._read: Callable[[], Resolution] | None = None

    @classmethod
    def deferred(
        cls,
        project: Project,
        space: EnvironmentSpace,
        solution: Solution,
        options: LockOptions,
        read: Callable[[], Resolution],
    ) -> Resolution:
        """A resolution whose entries are ``read().entries``, read on first use."""
        made = cls(project, space, [], solution, options)
        made._entries, made._read = None, read
        return made

    @property
    def entries(self) -> list[Entry]:
        if self._entries is None:
            assert self._read is not None
            self._entries = self._read().entries
            self._read = None
        return self._entries


class InconsistentResolution(AssertionError):
    """The solver's choice and the re-derived reachability disagree: a bug in aspen."""


def read_resolution(universe: Universe, facts: FactBase, solution: Solution) -> Resolution:
    """The lock entries of the solver's choice: per source, the packages reachable from the
    project's requirements in each cell given the versions chosen there, with the cells they
    apply in and the entries they depend on. Sets of cells are bit masks over the cells' indices
    while reading: reachability then spreads over all cells at once."""
    space = facts.space
    truth = _Truth(space.cells)
    chosen: dict[NormalizedName, dict[Version, int]] = {}  # name -> version -> cells
    for (pid, rank), mask in selected_cells(facts, solution).items():
        name = facts.names[pid]
        version = universe.packages[name].versions[rank]
        versions = chosen.setdefault(name, {})
        versions[version] = versions.get(version, 0) | mask

    by_source: dict[Source, list[Requirement]] = defaultdict(list)
    for source, req in universe.project.requirements():
        by_source[source].append(req)
    entries: dict[tuple[NormalizedName, Version], Entry] = {}
    reached_any: dict[NormalizedName, int] = {}
    for source, reqs in by_source.items():
        allowed = cell_mask(c for c in space.cells if c.config.allows(source))
        if not allowed:
            continue  # a conflicting extra or group that every configuration leaves out
        for name, cells in _reach(reqs, allowed, chosen, universe, truth).items():
            reached_any[name] = reached_any.get(name, 0) | cells
            for version, where in chosen.get(name, {}).items():
                if cells & where:
                    key = (name, version)
                    entry = entries.get(key)
                    if entry is None:
                        entry = entries[key] = Entry(name, version, universe.packages[name])
                    entry.cells[source] = truth.cells(cells & where)
    _check(chosen, reached_any, space.cells)

    for entry in entries.values():
        where = chosen[entry.name][entry.version]
        for req in entry.metadata.requires_dist:
            # The package first: a requirement on one chosen nowhere (an extra nobody asks
            # for) needs no markers evaluated.
            asked = truth.asked(req)
            target = asked.name
            versions = chosen.get(target)
            if versions is None:
                continue
            active = asked.active
            active = where & (active if active is not None else truth.active(req))
            if not active:
                continue
            for version, cells in versions.items():
                if active & cells:
                    entry.dependencies.add((target, version))
    ordered = sorted(entries.values(), key=lambda e: (e.name, e.version))
    return Resolution(universe.project, space, ordered, solution, universe.options)


def _reach(
    roots: list[Requirement],
    allowed: int,
    chosen: dict[NormalizedName, dict[Version, int]],
    universe: Universe,
    truth: _Truth,
) -> dict[NormalizedName, int]:
    """The cells in which each package is reachable from these requirements (in the ``allowed``
    cells), given the versions chosen in each cell. A package asked for with an extra brings the
    requirements that hold under that extra, in the cells where it is asked for with it."""
    reached: dict[tuple[NormalizedName, str], int] = {}  # (name, extra or "") -> cells
    work: list[tuple[Requirement, int]] = [(r, allowed & truth.holds(r.marker)) for r in roots]
    while work:
        req, cells = work.pop()
        asked = truth.asked(req)
        name = asked.name
        for extra in ("", *asked.extras):
            key = (name, extra)
            new = cells & ~reached.get(key, 0)
            if not new:
                continue
            reached[key] = reached.get(key, 0) | new
            package = universe.packages[name]
            for version, where in chosen.get(name, {}).items():
                here = new & where
                if here:
                    for r in package.metadata[version].requires_dist:
                        marker = r.marker  # (most have none: no call to ask where it holds)
                        active = here if marker is None else here & truth.holds(marker, extra)
                        if active:
                            work.append((r, active))
    out: dict[NormalizedName, int] = {}
    for (name, _extra), cells in reached.items():
        out[name] = out.get(name, 0) | cells
    return out


def _check(
    chosen: dict[NormalizedName, dict[Version, int]],
    reached: dict[NormalizedName, int],
    cells: tuple[Cell, ...],
) -> None:
    """The packages reachable in each cell are the ones the solver chose there."""
    wrong = 0
    for name in chosen.keys() | reached.keys():
        there = 0
        for where in chosen.get(name, {}).values():
            there |= where
        wrong |= there ^ reached.get(name, 0)
    if not wrong:
        return
    index = (wrong & -wrong).bit_length() - 1
    cell = cells[index]
    bit = 1 << index
    solved = {n for n, versions in chosen.items() if any(w & bit for w in versions.values())}
    found = {n for n, where in reached.items() if where & bit}
    raise InconsistentResolution(
        f"in {cell}: solver chose {sorted(solved - found)} unreachable, "
        f"missed {sorted(found - solved)}"
    )


class _Truth:
    """Where markers hold, as bit masks over the cells, computed once per marker and extra: a
    marker's value depends only on the variables it names, so it is evaluated once per distinct
    value of those variables among the cells. Markers and requirements are keyed by identity
    (the same objects come back for every cell) and kept alive here so that ids stay unique."""

    def __init__(self, cells: tuple[Cell, ...]) -> None:
        self._cells = cells
        self.everywhere = (1 << len(cells)) - 1
        self._holds: dict[tuple[int, str], tuple[Marker, int]] = {}
        self._reqs: dict[int, _Asked] = {}
        self._sets: dict[int, frozenset[Cell]] = {}

    def cells(self, mask: int) -> frozenset[Cell]:
        """The cells of a mask (one frozenset per distinct mask: entries share them)."""
        hit = self._sets.get(mask)
        if hit is None:
            out = []
            rest = mask
            while rest:
                low = rest & -rest
                out.append(self._cells[low.bit_length() - 1])
                rest ^= low
            hit = self._sets[mask] = frozenset(out)
        return hit

    def holds(self, marker: Marker | None, extra: str = "") -> int:
        """The cells where the marker holds (with ``extra`` as the value of ``extra``)."""
        if marker is None:
            return self.everywhere
        key = (id(marker), extra)
        hit = self._holds.get(key)
        if hit is None:
            hit = self._holds[key] = (marker, marker_mask(self._cells, marker, extra))
        return hit[1]

    def asked(self, req: Requirement) -> _Asked:
        """The requirement as reading a resolution needs it (one call for what ``name``,
        ``extras`` and ``active`` give)."""
        hit = self._reqs.get(id(req))
        if hit is None:
            extras = tuple(sorted(set(map(canonical, req.extras))))
            hit = self._reqs[id(req)] = _Asked(req, canonical(req.name), extras)
        return hit

    def name(self, req: Requirement) -> NormalizedName:
        return self.asked(req).name

    def extras(self, req: Requirement) -> tuple[str, ...]:
        """The extras the requirement asks of its package, normalised."""
        return self.asked(req).extras

    def active(self, req: Requirement) -> int:
        """The cells where a requirement of a package holds, plainly or under any extra its
        marker names (what the package's dependency list counts)."""
        asked = self.asked(req)
        if asked.active is None:
            mask = self.holds(req.marker)
            for extra in marker_extras(req.marker):
                mask |= self.holds(req.marker, extra)
            asked.active = mask
        return asked.active


def selected_cells(facts: FactBase, solution: Solution) -> dict[tuple[int, int], int]:
    """The cells each chosen version is chosen in, by (package id, rank), as bit masks over the
    cells' indices. A package's classes divide the facts' cells among them, so a version chosen
    in every class of its package is chosen in every cell: examples/large has 307 such of 516,
    with 55,000 of the 73,000 cells of chosen classes.

    The last answer is kept, with the facts and solution it was read from and a copy of the
    choice, and given again (read only) for the same choice of them: a lock that starts from
    learned widths asks twice, for the memory's check of its selection (``widths.selection``)
    and for its resolution (examples/large: 18 M instructions fewer, the copy included)."""
    choice = {key: tuple(classes) for key, classes in solution.selected.items()}
    last = _SELECTED.get("last")
    if last is not None and last[0] is facts and last[1] is solution and last[2] == choice:
        return last[3]
    masks: dict[tuple[int, int], int] = {}
    everywhere: int | None = None
    for (pid, rank), chosen in solution.selected.items():
        classes = facts.classes[pid]
        if len(chosen) == len(classes):
            if everywhere is None:
                everywhere = cell_mask(chain.from_iterable(c.cells for c in classes))
            masks[(pid, rank)] = everywhere
        else:
            masks[(pid, rank)] = cell_mask(chain.from_iterable(classes[k].cells for k in chosen))
    _SELECTED["last"] = (facts, solution, choice, masks)
    return masks


_SELECTED: dict[str, tuple[FactBase, Solution, dict, dict[tuple[int, int], int]]] = {}


def cell_mask(cells: Iterable[Cell]) -> int:
    """The cells as a bit mask over their indices. (A loop: ``reduce(or_, map(...))`` took
    longer, 18 ms against 10 ms for examples/large's 73,000 cells of chosen classes.)"""
    out = 0
    for cell in cells:
        out |= 1 << cell.index
    return out


@dataclass(slots=True)
class _Asked:
    """A requirement as reading a resolution needs it."""

    req: Requirement  # keeps the requirement alive while its id is a key
    name: NormalizedName
    extras: tuple[str, ...]
    active: int | None = None
