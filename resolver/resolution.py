"""A resolution: the solver's choice read back as lock entries, each with the cells it applies in,
per source (main dependencies, each extra, each group), and the entries it depends on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from resolver.environments import Cell, EnvironmentSpace
from resolver.facts import FactBase
from resolver.options import LockOptions
from resolver.project import Project, Source
from resolver.provider import CoreMetadata
from resolver.solve import Solution
from resolver.universe import Package, Universe, marker_extras


@dataclass
class Entry:
    name: NormalizedName
    version: Version
    package: Package
    cells: dict[Source, set[Cell]] = field(default_factory=dict)
    dependencies: set[tuple[NormalizedName, Version]] = field(default_factory=set)

    @property
    def metadata(self) -> CoreMetadata:
        return self.package.metadata[self.version]

    def all_cells(self) -> set[Cell]:
        return set().union(*self.cells.values()) if self.cells else set()


@dataclass
class Resolution:
    project: Project
    space: EnvironmentSpace
    entries: list[Entry]  # sorted by name, then version
    solution: Solution
    options: LockOptions = field(default_factory=LockOptions)


class InconsistentResolution(AssertionError):
    """The solver's choice and the re-derived reachability disagree: a bug in aspen."""


def read_resolution(universe: Universe, facts: FactBase, solution: Solution) -> Resolution:
    space = facts.space
    chosen: dict[Cell, dict[NormalizedName, Version]] = {cell: {} for cell in space.cells}
    for (pid, rank), classes in solution.selected.items():
        name = facts.names[pid]
        version = universe.packages[name].versions[rank]
        for k in classes:
            for cell in facts.classes[pid][k].cells:
                chosen[cell][name] = version

    entries: dict[tuple[NormalizedName, Version], Entry] = {}
    by_source: dict[Source, list[Requirement]] = defaultdict(list)
    for source, req in universe.project.requirements():
        by_source[source].append(req)

    for cell, versions in chosen.items():
        reached_any: set[NormalizedName] = set()
        for source, reqs in by_source.items():
            if not cell.config.allows(source):
                continue  # a conflicting extra or group this configuration leaves out
            for name in _reach(reqs, cell, versions, universe):
                reached_any.add(name)
                key = (name, versions[name])
                entry = entries.get(key)
                if entry is None:
                    entry = entries[key] = Entry(name, key[1], universe.packages[name])
                entry.cells.setdefault(source, set()).add(cell)
        if reached_any != set(versions):
            raise InconsistentResolution(
                f"in {cell}: solver chose {sorted(set(versions) - reached_any)} unreachable, "
                f"missed {sorted(reached_any - set(versions))}"
            )
    for entry in entries.values():
        for cell in entry.all_cells():
            versions = chosen[cell]
            for req in _active(entry.metadata.requires_dist, cell, extras=None):
                target = canonicalize_name(req.name)
                if target in versions:
                    entry.dependencies.add((target, versions[target]))
    ordered = sorted(entries.values(), key=lambda e: (e.name, e.version))
    return Resolution(universe.project, space, ordered, solution, universe.options)


def _active(
    reqs: Iterable[Requirement], cell: Cell, extras: set[str] | None
) -> Iterator[Requirement]:
    """Requirements whose marker holds in the cell, plainly or under one of the extras
    (``extras=None``: under any extra they name, used for the dependency list of an entry)."""
    for req in reqs:
        if cell.holds(req.marker):
            yield req
        elif req.marker is not None:
            names = marker_extras(req.marker) if extras is None else extras
            if any(cell.holds(req.marker, e) for e in names):
                yield req


def _reach(
    roots: list[Requirement],
    cell: Cell,
    versions: dict[NormalizedName, Version],
    universe: Universe,
) -> set[NormalizedName]:
    """Packages reachable in the cell from these requirements, given the chosen versions."""
    extras: dict[NormalizedName, set[str]] = {}
    work: list[Requirement] = [r for r in roots if cell.holds(r.marker)]
    while work:
        req = work.pop()
        name = canonicalize_name(req.name)
        asked = {canonicalize_name(e) for e in req.extras}
        known = extras.get(name)
        if known is not None and asked <= known:
            continue
        new = asked if known is None else asked - known
        extras.setdefault(name, set()).update(asked)
        meta = universe.packages[name].metadata[versions[name]]
        if known is None:
            work += [r for r in meta.requires_dist if cell.holds(r.marker)]
        if new:
            work += [
                r
                for r in meta.requires_dist
                if not cell.holds(r.marker) and any(cell.holds(r.marker, e) for e in new)
            ]
    return set(extras)
