"""Locking: from a project and a provider to a resolution, widening candidate windows until
the optimum no longer needs versions outside them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from packaging.utils import NormalizedName

from resolver.environments import DEFAULT_REQUIRES_PYTHON, EnvironmentSpace
from resolver.errors import InputError, NoLockError
from resolver.facts import FactBase, build_facts
from resolver.project import Project
from resolver.provider import Provider
from resolver.resolution import Resolution, read_resolution
from resolver.solve import Solution, solve
from resolver.universe import Universe

MAX_ROUNDS = 12


@dataclass
class LockReport:
    """What a lock run did, for ``-v``."""

    rounds: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    widened: list[list[str]] = field(default_factory=list)
    regions: int = 0
    cells: int = 0


def lock_project(
    project: Project,
    provider: Provider,
    *,
    prerelease: str = "if-necessary-or-explicit",
    warn: Callable[[str], None] | None = None,
    report: LockReport | None = None,
) -> Resolution:
    report = report if report is not None else LockReport()
    started = time.perf_counter()
    space = EnvironmentSpace.build(
        project.requires_python or DEFAULT_REQUIRES_PYTHON, project.settings.environments
    )
    if not space.cells:
        raise InputError(
            f"{project.pyproject}: no environment is left: requires-python "
            f"{project.requires_python} and tool.aspen.environments exclude every platform"
        )
    universe = Universe(project, provider, space, prerelease=prerelease, warn=warn)
    universe.collect()
    report.timings["collect_s"] = time.perf_counter() - started
    for _ in range(MAX_ROUNDS):
        report.rounds += 1
        facts = build_facts(universe)
        report.regions, report.cells = len(facts.regions), len(facts.space.cells)
        solution = solve(facts)
        if solution is None:
            raise NoLockError(_no_lock_message(project, universe))
        grow = _windows_to_widen(universe, facts, solution)
        if not grow:
            report.timings["total_s"] = time.perf_counter() - started
            return read_resolution(universe, facts, solution)
        report.widened.append(sorted(grow))
        if not universe.widen(grow):
            return read_resolution(universe, facts, solution)
    raise NoLockError(f"no lock found for {project.name} after {MAX_ROUNDS} rounds of widening")


def _windows_to_widen(
    universe: Universe, facts: FactBase, solution: Solution
) -> set[NormalizedName]:
    """Packages whose optimum uses a version outside the window, or the oldest window version
    that can run in the region (an older one might serve the objective better)."""
    grow: set[NormalizedName] = set()
    avail_in: dict[tuple[int, int], list[int]] = {}
    for line in facts.lines:  # avail(P,V,R) facts, read back to know what each region offered
        if line.startswith("avail("):
            p, v, r = (int(x) for x in line[6:-2].split(","))
            avail_in.setdefault((p, r), []).append(v)
    for (pid, rank), regions in solution.selected.items():
        if facts.outside.get(pid) is None:
            continue
        if facts.outside[pid] == rank:
            grow.add(facts.names[pid])
            continue
        for region in regions:
            offered = [v for v in avail_in.get((pid, region), []) if v != facts.outside[pid]]
            if rank == max(offered):
                grow.add(facts.names[pid])
    return grow


def _no_lock_message(project: Project, universe: Universe) -> str:
    lines = [f"no lock exists for {project.name}: the requirements cannot all hold together."]
    for name, why in sorted(universe.missing.items()):
        lines.append(f"  {name} is not available: {why}")
    return "\n".join(lines)
