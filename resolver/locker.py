"""Locking: from a project and a provider to a resolution, widening candidate windows until
the optimum no longer needs versions outside them."""

from __future__ import annotations

import gc
import os
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from resolver import widths
from resolver.environments import DEFAULT_REQUIRES_PYTHON, Cell, EnvironmentSpace, spec_contains
from resolver.errors import InputError, NoLockError
from resolver.facts import FactBase, build_facts
from resolver.options import LockOptions
from resolver.prior import PriorLock
from resolver.project import Project
from resolver.provider import Provider
from resolver.resolution import InconsistentResolution, Resolution, read_resolution
from resolver.solve import EarlySolve, Solution, Solver, inside_text
from resolver.universe import Chosen, Package, Universe, canonical

MAX_ROUNDS = 12


@dataclass
class LockReport:
    """What a lock run did, for ``-v``."""

    rounds: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    widened: list[list[str]] = field(default_factory=list)
    classes: int = 0  # package classes of the last round
    cells: int = 0
    fine: bool = False  # whether the last round let packages fork on every marker
    reused: int = 0  # rounds whose facts were the last locking round's: its optimum stands
    remembered: bool = False  # whether windows started at widths learned before (widths.py)
    # How the first round's optimum came from ``solve.EarlySolve``: "thread" or "process"; ""
    # when it did not.
    early: str = ""
    # The memory that holds this lock's state (resolver/widths.py), and this lock's fingerprint
    # (``widths.fingerprint``), with which the command records the lock it writes
    # (``Memory.write_output``); None when there is none.
    memory: widths.Memory | None = None
    fingerprint: tuple[str, ...] | None = None
    # The lock that memory recorded, when it was written by a lock with this one's fingerprint
    # and metadata entries (its every input): this lock writes the same (over the same
    # previous text: ``Written.over``).
    written: widths.Written | None = None


def lock_project(
    project: Project,
    provider: Provider,
    *,
    options: LockOptions | None = None,
    warn: Callable[[str], None] | None = None,
    report: LockReport | None = None,
    prior: PriorLock | None = None,
    upgrade: Mapping[NormalizedName, SpecifierSet] | None = None,
    pins: Mapping[NormalizedName, SpecifierSet] | None = None,
    remember: bool = True,
    ending: bool = False,
) -> Resolution:
    """The optimal lock. ``prior`` is the lock to keep (None: lock afresh, as --upgrade does);
    ``upgrade`` maps the packages --upgrade-package frees to the specifier asked of them;
    ``pins`` holds packages to a specifier without pushing them to their newest (why-not);
    ``remember``: start from the window widths learned by the last lock of the same inputs, and
    record them (resolver/widths.py; never with ``pins``).

    Python's cyclic garbage collector is off while the lock is made, until a round's windows
    hold no lock (what follows, refuting and explaining conflicts, builds many solvers). A lock
    makes next to no cyclic garbage: examples/large's peak memory is the same without it, warm
    (177 MB) or from scratch (232 MB), and 4% more cold (382 MB against 366 MB), while its
    collections cost a warm lock about 0.1 s of 1.6 s (45 of them, though young collections
    run only every 10,000 allocations: resolver/cli.py). Turned on again, the collector's next
    collection walks everything the lock made and kept (about 0.1 s on examples/large).

    ``ending``: the process ends soon after this lock (the command line), so a lock that met
    no conflict leaves the collector off, and the solver of its last round is left for the
    process's end to free (``_UNFREED``): freeing examples/large's ground program took 20-29
    ms, and the lock is then written beside it (its peak memory 190 MB instead of 181 MB)."""
    with _collector_off(after=not ending) as collecting, ExitStack() as stack:
        keep = _UNFREED if ending else None
        report = report if report is not None else LockReport()
        started = time.perf_counter()
        options = options or LockOptions()
        space = EnvironmentSpace.build(
            project.requires_python or DEFAULT_REQUIRES_PYTHON,
            project.settings.environments,
            conflicts=project.settings.conflicts,
        )
        if not space.cells:
            raise InputError(
                f"{project.pyproject}: no environment is left: requires-python "
                f"{project.requires_python} and tool.aspen.environments exclude every platform"
            )

        def fresh() -> Universe:
            return Universe(
                project,
                provider,
                space,
                options=options,
                warn=warn,
                prior=prior,
                upgrade=upgrade,
                pins=pins,
            )

        memory = None
        if remember and not pins:
            memory = widths.Memory.of(project, provider, options, prior, upgrade or {})
        recorded = memory.read() if memory is not None else None
        # The metadata entries the last lock of the same inputs took, read as one file.
        packing = getattr(provider, "metadata_pack", None) if memory is not None else None
        pack = {}
        if memory is not None and packing is not None:
            pack = memory.read_pack()
            packing(pack)
        # The first round's solve of the last lock of the same inputs starts now, beside
        # collection (``solve.EarlySolve``); stopped on the way out if still running.
        early = stack.enter_context(
            EarlySolve(
                memory.read_facts() if memory is not None and recorded else None,
                record=recorded is not None,
            )
        )
        universe = fresh()
        pages = None
        if recorded is not None:
            pages = widths.start_from(universe, recorded)
            if pages is None:
                early.cancel()
                universe, recorded = fresh(), None
        universe.collect()
        if recorded is not None and widths.state(universe, pages) != {
            key: recorded[key] for key in ("packages", "missing", "walks")
        }:
            early.cancel()
            universe, recorded = fresh(), None
            universe.collect()
        if universe.undated:
            names = sorted(universe.undated)
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            universe.warn(
                f"--exclude-newer: {shown} list files without an upload time; they are kept"
            )
        report.timings["collect_s"] = time.perf_counter() - started
        fine = recorded is not None and recorded["fine"]
        if memory is not None and recorded is not None and packing is not None:
            again = _written_again(memory, recorded, early, provider.metadata_taken() == pack)  # type: ignore[attr-defined]
            if again is not None:
                report.early = early.way
                return _as_written(universe, report, memory, recorded, again, fine, started)
        facts, solution, fine = _rounds(
            universe, report, fine=fine, collecting=collecting, keep=keep, early=early
        )
        learn = memory is not None and recorded is None
        if memory is not None and recorded is not None:
            if widths.selection(facts, solution) != recorded["selection"]:
                # Another optimum than the lock made without the memory (an equally good one,
                # found by another search path): make that lock, and learn nothing from it.
                memory.forget()
                universe = fresh()
                universe.collect()
                facts, solution, fine = _rounds(
                    universe, report, fine=False, collecting=collecting, keep=keep
                )
            else:
                report.remembered = True
                # The memory's windows held the lock only once grown: the grown ones are learned.
                learn = bool(report.widened)
                if not learn and early.seen is not None and early.seen != early.text:
                    memory.write_facts(early.seen)  # recorded facts of another round: replaced
        if report.remembered and not learn:
            assert memory is not None and recorded is not None
            report.memory = memory
            text = early.seen if early.seen is not None else inside_text(facts)
            report.fingerprint = widths.fingerprint(recorded, text, solution)
        if learn:
            assert memory is not None
            learned = widths.state(universe)
            if learned is not None:
                state = {**learned, "fine": fine, "selection": widths.selection(facts, solution)}
                memory.write(state)
                # The last round's facts: those the next lock's first round makes (same widths,
                # same universe), for it to solve early.
                text = inside_text(facts)
                memory.write_facts(text)
                report.memory = memory
                report.fingerprint = widths.fingerprint(state, text, solution)
        if memory is not None and packing is not None:
            taken = provider.metadata_taken()  # type: ignore[attr-defined]
            if taken != pack:
                memory.write_pack(taken)
            elif report.memory is memory and not learn:
                written = memory.read_output()
                if written is not None and written.fingerprint == report.fingerprint:
                    report.written = written
        report.timings["total_s"] = time.perf_counter() - started
        return Resolution.deferred(
            universe.project,
            facts.space,
            solution,
            universe.options,
            lambda: read_resolution(universe, facts, solution),
        )


def _written_again(
    memory: widths.Memory, recorded: dict[str, Any], early: EarlySolve, same_metadata: bool
) -> tuple[widths.Written, Solution] | None:
    """The lock the memory recorded and the early solve's optimum, when this lock's inputs are
    those of the lock that recorded it: the memory's key and state found again after
    collection (the caller's checks), the same metadata entries (``same_metadata``), the same
    recorded facts solved early, and the same optimum of them (``widths.fingerprint``). That
    lock's facts were the ones its universe made, and this lock's universe is the same, so its
    first round would make those facts, take that optimum, and find no window to widen (that
    lock's last round found none); its text is then this lock's. Waits for the early solve
    only once everything else matched."""
    written = memory.read_output()
    if written is None or not same_metadata or early.text is None:
        return None
    if widths.fingerprint(recorded, early.text, None)[:2] != written.fingerprint[:2]:
        return None
    found = early.optimum()
    if found is None or widths.fingerprint(recorded, early.text, found) != written.fingerprint:
        return None
    return written, found


def _as_written(
    universe: Universe,
    report: LockReport,
    memory: widths.Memory,
    recorded: dict[str, Any],
    again: tuple[widths.Written, Solution],
    fine: bool,
    started: float,
) -> Resolution:
    """The resolution of a lock whose text its memory recorded (``_written_again``): its
    entries, when asked for, are read from the facts made then (and checked to be the
    recorded ones)."""
    written, found = again
    report.rounds, report.fine = 1, fine
    report.remembered, report.memory = True, memory
    report.fingerprint, report.written = written.fingerprint, written
    report.cells = len(universe.final_space().cells)
    _add(report.timings, found.stats)
    report.timings["total_s"] = time.perf_counter() - started

    def read() -> Resolution:
        facts = build_facts(universe, fine=fine, prune=True)
        if widths.fingerprint(recorded, inside_text(facts), found) != written.fingerprint:
            raise InconsistentResolution("the facts made are not the ones the memory recorded")
        return read_resolution(universe, facts, found)

    return Resolution.deferred(
        universe.project, universe.final_space(), found, universe.options, read
    )


# The last solver of a lock made with ``ending``, left for the process's end to free.
_UNFREED: list[Solver] = []


@contextmanager
def _collector_off(after: bool) -> Iterator[bool]:
    """The cyclic garbage collector off (see ``lock_project``); yields whether it was on.
    ``after``: turn it back on when done, if it was (it is on already after a conflict)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield collecting
    finally:
        if collecting and after:
            gc.enable()


def _rounds(
    universe: Universe,
    report: LockReport,
    *,
    fine: bool,
    collecting: bool = False,
    keep: list[Solver] | None = None,
    early: EarlySolve | None = None,
) -> tuple[FactBase, Solution, bool]:
    """Solve rounds until the optimum no longer needs versions outside the windows: the facts
    and optimum of the last round, and whether it let every package fork on every marker.
    ``collecting``: turn the cyclic garbage collector on at the first conflict; ``keep``:
    where to keep the last round's solver instead of freeing it (see ``lock_project``).

    The first round is solved for the optimum at once (``Solver.fitting_optimum``): its windows
    usually hold a lock (a re-lock's hold the locked versions; learned widths hold the lock's).
    On examples/fastapi-standard's warm lock that is 1.7% fewer instructions (2,460 M ->
    2,419 M); on examples/large without learned widths, whose first round holds no lock, the
    same lock in the same time (interleaved: 8.27/8.29, 7.55/6.79, 10.83/8.32 s). Later rounds
    follow a conflict, and check that their windows hold a lock before grounding the objective."""
    expect_lock = True
    conflicted = False  # whether the last round's windows left no lock
    # The facts inside the windows and the optimum of the last round that locked: when
    # widening adds only versions that others dominate (build_facts leaves them out), the next
    # round's facts inside the windows are the same, so is its optimum, and it is not solved
    # again (its outside pseudo-versions may have moved; they change no optimum inside).
    solved: tuple[str, Solution] | None = None
    # Every round's solver phases are summed into the report (the solution's stats are the
    # last round's only); a round's solver counts once the round is over.
    last: dict[str, float] | None = None
    for _ in range(MAX_ROUNDS):
        if last is not None:
            _add(report.timings, last)
            last = None
        report.rounds += 1
        round_started = time.perf_counter()
        facts = build_facts(universe, fine=fine, prune=True)
        _add(report.timings, {"facts_s": time.perf_counter() - round_started})
        report.classes, report.cells, report.fine = facts.class_count, len(facts.space.cells), fine
        if os.environ.get("ASPEN_DUMP_FACTS"):  # for profiling clingo on the real problem
            Path(f"{os.environ['ASPEN_DUMP_FACTS']}.{report.rounds}.lp").write_text(facts.text())
        inside = facts.inside()
        if solved is not None and solved[0] == inside:
            report.reused += 1
            solution = solved[1]
            grow = _edges(universe, facts, solution)
            if not grow or not universe.widen(set(grow), grow):
                return facts, solution, fine
            report.widened.append(sorted(grow))
            continue
        taken = early.take(facts) if early is not None else None
        if early is not None and taken is not None:  # these very facts, solved beside collection
            solver, found = taken
            expect_lock, report.early = False, early.way
        else:
            # A round after a conflict has its conflict refuted with cores if it has one.
            solver = Solver(facts, objective=expect_lock, inputs=conflicted)
            if expect_lock:
                expect_lock = False
                found = solver.fitting_optimum()
            else:
                found = solver.optimum() if solver.fits_windows() else None
        early = None
        if solver is not None:
            last = solver.stats
        else:  # a child's: its solver is gone, its phases came with its optimum (always one)
            assert found is not None
            last = found.stats
        if keep is not None and solver is not None:
            keep[:] = [solver]  # the last round's only: earlier ones are freed as before
        if found is not None:
            conflicted = False
            solution = found
            solved = (inside, solution)
            grow = _edges(universe, facts, solution)
        else:
            assert solver is not None  # (a child's optimum is taken only when it has one)
            if collecting:
                gc.enable()
            # A conflict inside the windows that outlasts one widening may hold in every
            # version: prove it on its part, or solve the whole again once that part's windows
            # (and those of the other conflicts the round's solver finds) have grown.
            if conflicted and _refute_each(universe, facts, solver, report.widened):
                continue
            conflicted = True
            widest = solver.fewest_outside()
            if widest is None and not fine:
                # A package may need to fork where no requirement on it does: try again with
                # every package free to fork on every marker.
                fine = True
                continue
            if widest is None:
                raise _no_lock(universe, facts, solver)
            grow = _taken_outside(facts, widest, solver.every_outside(widest))
            solution = None
        if grow:
            report.widened.append(sorted(grow))
        if solution is not None and (not grow or not universe.widen(set(grow), grow)):
            _add(report.timings, last)
            return facts, solution, fine
        if solution is None and not universe.widen(set(grow), grow):
            raise _no_lock(universe, facts, solver)
    raise NoLockError(
        f"no lock found for {universe.project.name} after {MAX_ROUNDS} rounds of widening"
    )


def _taken_outside(
    facts: FactBase, fewest: Solution, packages: set[int]
) -> dict[NormalizedName, set[Version]]:
    """The packages some selection with as few versions outside the windows as ``fewest`` takes
    outside (``Solver.every_outside``), each with the Python intervals (lower ends) where
    ``fewest`` takes it outside; none for a package that only another selection takes outside
    (its window grows everywhere)."""
    found: dict[NormalizedName, set[Version]] = {facts.names[p]: set() for p in packages}
    for (pid, rank), classes in fewest.selected.items():
        if facts.outside.get(pid) == rank:
            found[facts.names[pid]].update(
                cell.python_low for k in classes for cell in facts.classes[pid][k].cells
            )
    return found


def _edges(
    universe: Universe, facts: FactBase, solution: Solution
) -> dict[NormalizedName, set[Version]]:
    """Packages where a less preferred version outside the window might serve the objective
    better: the chosen version is the last window version (the oldest, or the newest with
    --resolution lowest) that meets the requirements active on it, and some unfetched version
    past it meets them too, one whose metadata needs no build. A version that needs a build
    (Package.needs_build: the whole sdist downloaded, usually built) joins a window only when the
    windows leave no lock without it (the solver takes the outside version), not on the
    chance that it serves the objective better: on examples/large's cold lock, pyspark's
    older versions are 456 MB sdists each, built one after another.

    Each package comes with the Python intervals (lower ends) of its classes on the edge, where
    its window grows (``Universe.widen``). Where a window grows changes nothing in the argument:
    a class's answer depends only on its versions inside and outside the window, the optimum is
    kept only once no class of any package is on an edge (or no window can grow: then no
    version outside is left to take), and a window that grows elsewhere leaves an edge class
    where it was, found again next round."""
    active: dict[tuple[int, int], list[Requirement]] = {}
    on: dict[int, int] = {}  # requirement id -> the id of the package it is on
    for did, k in solution.active:
        req = facts.requirements[did]
        pid = on.get(did)
        if pid is None:
            pid = on[did] = facts.package_ids[canonical(req.name)]
        active.setdefault((pid, k), []).append(req)
    grow: dict[NormalizedName, set[Version]] = {}
    for (pid, rank), classes in solution.selected.items():
        if pid not in facts.outside:
            continue
        package = universe.packages[facts.names[pid]]
        chosen = package.versions[rank]
        lowest = universe.lowest(package.name)

        def past(v: Version, chosen: Version = chosen, lowest: bool = lowest) -> bool:
            return v > chosen if lowest else v < chosen

        # The versions past the chosen one, inside the window (with metadata) and outside it.
        inside = [v for v in package.window if past(v) and v in package.metadata]
        beyond: _Beyond | None = None  # made when first needed
        # Whether a class is on the edge depends on it only through its lowest Python and its
        # active requirements: classes that share them share the answer (examples/large asks
        # 55,000 version checks without this).
        answers: dict[tuple[Version, frozenset[int]], bool] = {}
        for k in classes:
            if facts.locked.get((pid, k)) == rank:
                continue  # kept from the lock: an older version could only cost more
            cell = facts.classes[pid][k].cell
            reqs = active.get((pid, k), [])
            key = (cell.python_low, frozenset(map(id, reqs)))
            edge = answers.get(key)
            if edge is None:
                edge = not any(_fits(package, v, cell, reqs) for v in inside)
                if edge:
                    if beyond is None:
                        beyond = _Beyond(_past(universe.outside(package), rank, lowest))
                    # (Whether a version needs a build is asked last: it reads its files.)
                    edge = any(
                        cell.admits(package.requires_python(v)) and not package.needs_build(v)
                        for v in beyond.meeting(reqs)
                    )
                answers[key] = edge
            if edge:
                grow.setdefault(package.name, set()).update(
                    c.python_low for c in facts.classes[pid][k].cells
                )
    return grow


def _past(versions: Chosen, rank: int, lowest: bool) -> Chosen:
    """Those of a package's versions (``Universe.outside``'s: positions, newest first) past
    the version at ``rank``: older (further down), or newer with ``lowest``. Sliced by
    position: no version is made or compared (examples/large has 35,000 outside versions a
    round; making each and comparing it with the chosen one cost 60 M instructions of the
    warm lock's 5,933 M)."""
    positions = versions.positions
    if lowest:
        return versions[: bisect_left(positions, rank)]
    return versions[bisect_right(positions, rank) :]


class _Beyond:
    """A package's versions outside its window past the chosen one (newest first, as every
    list of a package's versions), with those that meet each specifier asked of it, by
    identity: classes that differ only in their Python ask again with the same requirements,
    and a pin (boto3's on botocore) meets one version of a long history (examples/large:
    24,600 versions checked one requirement list at a time without this).

    A specifier with a lower bound (``>=``, ``>``, ``~=``, ``==``) is met by none of the
    versions below it, which end the list: only those above are checked (a version under
    the bound fails it, its local part or pre-release notwithstanding). Past the chosen
    version means older, and a requirement's lower bound usually rules out every one of them:
    examples/large's warm lock checked 19,100 (specifier, version) pairs, for 179 M
    instructions, now 45 M (in ``meeting``)."""

    def __init__(self, versions: Sequence[Version]) -> None:
        self.versions = versions  # a list, or versions chosen by position (made when read)
        self._in: dict[int, tuple[SpecifierSet, Sequence[Version]]] = {}

    def meeting(self, reqs: list[Requirement]) -> Iterator[Version]:
        """The versions that meet every one of these requirements, in order."""
        found = self.versions
        for req in reqs:
            spec = req.specifier
            hit = self._in.get(id(spec))
            if hit is None:
                versions = self.versions
                low = _lower_bound(spec)
                if low is not None:
                    # The versions from the first one below the bound on are all below it.
                    versions = versions[: bisect_left(versions, True, key=low.__gt__)]
                kept = [v for v in versions if spec_contains(spec, v)]
                hit = self._in[id(spec)] = (spec, kept)
            if len(hit[1]) < len(found):
                found = hit[1]
        return (v for v in found if all(spec_contains(r.specifier, v) for r in reqs))


def _lower_bound(spec: SpecifierSet) -> Version | None:
    """The highest version that a clause of the specifier set requires a version to be at
    least (``>=V``, ``>V``, ``~=V``, ``==V`` without a wildcard; ``<V`` and the rest bound
    nothing from below), remembered by identity; None when none does."""
    hit = _LOWER.get(id(spec))
    if hit is None or hit[0] is not spec:
        low = None
        for clause in spec:
            operator, text = clause.operator, clause.version
            if operator in _FROM_BELOW and not text.endswith(".*"):
                try:
                    bound = Version(text)
                except InvalidVersion:
                    continue
                if low is None or bound > low:
                    low = bound
        hit = _LOWER[id(spec)] = (spec, low)
    return hit[1]


_FROM_BELOW = frozenset((">=", ">", "~=", "=="))
# Lower bounds by specifier identity (each set kept alive with its answer).
_LOWER: dict[int, tuple[SpecifierSet, Version | None]] = {}


def _fits(package: Package, version: Version, cell: Cell, reqs: list[Requirement]) -> bool:
    """Whether the version meets every requirement and can run in the cell (requirements
    first: a pin such as boto3's on botocore rules out all of a long history but one version,
    and its answers are memoised)."""
    for r in reqs:
        if not spec_contains(r.specifier, version):
            return False
    return cell.admits(package.requires_python(version))


MAX_CORES = 8  # conflicts refuted in one round


class _Remaining:
    """The solver as ``_refute`` sees it, with inputs of conflicts already refuted left out: a
    core over the other inputs is a conflict of its own. Keeps the cores ``_refute`` took."""

    def __init__(self, solver: Solver, refuted: set) -> None:
        self._solver = solver
        self.inputs = [s for s in solver.inputs if s not in refuted]
        self.cores: list[list] = []

    def core(self, held: list, *, outside: bool = True) -> list | None:
        found = self._solver.core(held, outside=outside)
        self.cores.append(found or [])
        return found


def _refute_each(
    universe: Universe, facts: FactBase, solver: Solver, widened: list[list[str]]
) -> bool:
    """``explain.refute`` on every conflict the round's solver finds one after the other, so
    that one round widens the parts of several conflicts instead of one; True when some window
    grew.
    Each core is taken with the package requirements of the cores before left out (the
    project's own requirements stay in force, unless a core names nothing else: two
    conflicts may share a project requirement). Each widening is recorded in ``widened``."""
    from resolver.explain import refute

    refuted: set = set()
    grew = False
    for _ in range(MAX_CORES):
        remaining = _Remaining(solver, refuted)
        if refute(universe, facts, remaining, widened):  # type: ignore[arg-type]
            grew = True
        core = set(remaining.cores[0]) if remaining.cores else set()
        if not grew or not core or core <= refuted:
            break  # the first conflict needs the locker's widening, or no conflict is left
        refuted |= {s for s in core if s.name != "drop"} or core
    return grew


def _add(timings: dict[str, float], more: Mapping[str, float]) -> None:
    """Sum a round's timings into the report's, as ``all_rounds_<key>``."""
    for key, value in more.items():
        key = f"all_rounds_{key}"
        timings[key] = timings.get(key, 0.0) + value


def _no_lock(universe: Universe, facts: FactBase, solver: Solver) -> NoLockError:
    from resolver.explain import explain_no_lock

    explanation = explain_no_lock(universe, solved=(facts, solver))
    return NoLockError(explanation.render(), explanation)
