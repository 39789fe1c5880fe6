"""Solving: facts plus ``encodings/*.lp`` in clingo, optimised, read back as a selection."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from resolver.predicates import PREDICATES

# clingo is imported where it is used, not here: a large lock whose first round a child
# process solves (``EarlySolve``) never loads it in the main process (22 ms of examples/large's
# imports).
if TYPE_CHECKING:
    import clingo

    from resolver.facts import FactBase

# The rules (with the objective's level 100, which widening needs) and the objective's other
# levels: the latter are grounded only once the windows are known to hold a lock.
ENCODINGS = ("lock.lp",)
OBJECTIVE = "objective.lp"
# The rules that read bundles stated over spans of versions: grounded only with such facts.
SPANS = "spans.lp"
# Objective levels, highest first, as named in encodings/objective.lp.
LEVELS = {
    100: "outside candidate windows",
    70: "versions not installable where chosen",
    60: "staleness of --upgrade-package packages (sum of version ranks)",
    50: "packages whose locked version changes",
    30: "extra versions across platforms",
    25: "extra versions across Python ranges (--fork-strategy fewest)",
    22: "staleness of direct dependencies (sum of version ranks)",
    20: "staleness of transitive dependencies (sum of version ranks)",
    10: "extra versions across Python ranges",
    5: "packages",
}

# The key each level has in the lock's [tool.aspen.objective] table (level 100 is always 0 in a
# lock; levels 25 and 10 are the same criterion, placed by --fork-strategy).
LEVEL_KEYS = {
    70: "uninstallable-cells",
    60: "upgrade-rank",
    50: "changed-packages",
    30: "platform-versions",
    25: "python-versions",
    22: "direct-rank",
    20: "transitive-rank",
    10: "python-versions",
    5: "packages",
}


def encoding_dir() -> Path:
    """The encodings: inside the installed package, or beside it in a source checkout."""
    # A plain path, not importlib.resources: clingo reads the files by name anyway (so a zipped
    # install could not serve them), and importlib.resources loads zipfile, tempfile and random
    # (about 5 ms of every run).
    here = Path(__file__).resolve().parent
    packaged = here / "encodings"
    if packaged.is_dir():
        return packaged
    return here.parent / "encodings"


# A shown atom in the text of a tuple of atoms: its name and its integer arguments, if any.
_ATOM = re.compile(r"(\w+)(?:\(([^()]*)\))?")


def _atoms(symbols: Sequence[clingo.Symbol]) -> Iterator[tuple[str, tuple[int, ...]]]:
    """The name and integer arguments of each shown atom (``sel/3``, ``active/2``), read from
    the text of one tuple of them all: one call into clingo for the whole model instead of one
    per atom (fastapi-standard's optimum shows 1,396 atoms: 4.3 -> 2.3 ms; one call per atom
    was already twice as fast as one per name and argument)."""
    for name, args in _ATOM.findall(_text(symbols)):
        yield name, tuple(map(int, args.split(","))) if args else ()


def _text(symbols: Sequence[clingo.Symbol]) -> str:
    """The text of a tuple of these symbols, made in one call into clingo. (Building it from
    the model's own array of symbols through clingo's internals saved 34 M instructions of
    examples/large's 7,434 M; not worth depending on clingo's private modules.)"""
    import clingo

    return str(clingo.Tuple_(symbols))


class _FactLoader:
    """The facts handed to clingo as terms, not as program text: one rule per predicate,
    ``p(X0,X1) :- p(X0,X1) = @facts(i).``, whose ``@facts`` call (during grounding) returns
    that predicate's atoms, read by ``clingo.parse_term`` from one tuple of them all.
    ``Control.add`` costs about 34k instructions per fact of three arguments (most of it
    interning the name of the program's source for every token it reads); a term costs about
    5k, and grounding the rule adds little more than grounding the facts did. On
    examples/fastapi-standard's 7,075 facts, ``add`` and grounding the facts alone take 276M
    instructions as text, 109M so; adding and grounding lock.lp with them 39 -> 25 ms (best of
    30, interleaved). A rule and a call per predicate cost about 0.35 ms, though: below
    ``TEXT_BELOW`` facts (the small solves of explanations), the facts go as text."""

    TEXT_BELOW = 300  # measured: text and terms cost the same at about 250 facts

    def __init__(self, facts: FactBase | Recorded, *, outside: bool = True) -> None:
        self._atoms: list[list[str]] = []
        kept = {
            name: facts.atoms[name] if outside else facts.inside_atoms(name) for name in facts.atoms
        }
        # The predicates with atoms in this program: what decides its other parts (spans.lp),
        # so that a ``Recorded`` text and its fact base make the same program.
        self.named = {name for name, atoms in kept.items() if atoms}
        if sum(map(len, kept.values())) < self.TEXT_BELOW:
            self.program = "".join(f"{atom}.\n" for atoms in kept.values() for atom in atoms)
            return
        rules: list[str] = []
        for name, atoms in kept.items():
            if not atoms:
                continue
            arity = PREDICATES[name]
            if arity == 0:
                rules.append(f"{name}.")
                continue
            args = ",".join(f"X{i}" for i in range(arity))
            rules.append(f"{name}({args}) :- {name}({args}) = @facts({len(self._atoms)}).")
            self._atoms.append(atoms)
        self.program = "\n".join(rules)

    def facts(self, index: clingo.Symbol) -> list[clingo.Symbol]:
        import clingo

        atoms = self._atoms[index.number]
        return clingo.parse_term(f"({','.join(atoms)},)").arguments


def inside_text(facts: FactBase) -> str:
    """The facts a solver grounds when it may not leave the windows (``_FactLoader`` with
    ``outside=False``), one atom per line in the order it grounds them: two fact bases with
    the same text make the same program, so the same search and the same optimum."""
    return "\n".join(atom for name in facts.atoms for atom in facts.inside_atoms(name))


class Recorded:
    """Facts known only by their ``inside_text`` (recorded by an earlier lock): enough for a
    solver that stays inside the windows, until ``Solver.adopt`` gives it the fact base."""

    outside: dict[int, int] = {}

    def __init__(self, text: str) -> None:
        self.atoms: dict[str, list[str]] = {}
        for atom in text.split("\n"):
            name = atom.partition("(")[0]
            if name not in PREDICATES:
                raise ValueError(f"not a fact of aspen's: {atom[:40]!r}")
            self.atoms.setdefault(name, []).append(atom)

    def inside_atoms(self, name: str) -> list[str]:
        return self.atoms[name]


@dataclass
class Solution:
    selected: dict[tuple[int, int], set[int]]  # (package id, rank) -> class indices
    cost: list[int]  # one entry per objective priority, highest first
    priorities: list[int]
    optimal: bool
    stats: dict[str, float] = field(default_factory=dict)
    active: set[tuple[int, int]] = field(default_factory=set)  # active(D,K)

    def record(self) -> dict[str, int]:
        """The cost of every level, by the key the lock records it under, highest first."""
        out: dict[str, int] = {}
        for priority, cost in zip(self.priorities, self.cost, strict=False):
            key = LEVEL_KEYS.get(priority)
            if key is not None:
                out[key] = out.get(key, 0) + cost
        return out

    def costs(self) -> dict[str, int]:
        return {
            LEVELS.get(p, f"level {p}"): c for p, c in zip(self.priorities, self.cost, strict=False)
        }


class Solver:
    """The facts, grounded and solved in phases under a switch (an external): ``allow_outside``
    lets versions outside the windows be chosen. The facts about versions outside the windows
    are grounded only once a phase may choose them (see ``_need``).

    The levels below the outside one (encodings/objective.lp) are grounded as a second program
    part, only by ``optimum``, and only for phases that optimise them: a phase that optimises
    without them (``fewest_outside``, ``every_outside``) grounds again without them (see
    ``_need``), so that they need no switch of their own (a ``full_objective`` external in each
    of their conditions cost examples/large 11,700 ground rules and atoms, and its warm lock
    130M instructions). A round whose windows hold no lock never needs them, and without
    them it grounds and finds its conflict in about half the time (examples/large's three
    conflicting rounds: grounding and the first search 0.44, 0.61, 0.65 s instead of 0.71,
    0.81, 1.12 s; the round that locks spends about 0.1-0.2 s more, its optimisation
    preparing the second part on its own).

    The named inputs of explanations (``inputs``) are grounded only for a phase that takes
    cores (``core``), with the fact ``explaining`` (encodings/lock.lp): a solver grounded
    without them grounds again with them when first asked for a core (a round that has no lock
    at all); one grounded with them keeps them until it grounds again for another reason. A
    solver made with ``inputs`` has them in every grounding: a locker's round that follows a
    conflict, whose own conflict is refuted on its parts with cores (resolver/locker.py).
    Grounding them again there instead took examples/large's lock without learned widths
    19,432M instructions instead of 17,336M."""

    def __init__(
        self,
        facts: FactBase | Recorded,
        *,
        objective: bool = False,
        outside: bool = False,
        inputs: bool = False,
    ) -> None:
        """``objective``: ground the objective's levels with the rules at once, for a round
        expected to lock (``fitting_optimum``); ``outside``: ground the versions outside the
        windows at once, for a solve expected to need them (see ``_need``); ``inputs``: ground
        the named inputs of explanations every time, for a solver expected to take cores."""
        started = time.perf_counter()
        self.facts = facts
        self.outside = facts.outside
        self.ctl = self._control()
        # What is grounded: nothing yet (None), the program without the versions outside the
        # windows (False), or all of it (True); whether the objective's levels are; and
        # whether the named inputs of explanations are.
        self._grounded: bool | None = None
        self._objective = False
        self._explaining = False
        self._inputs = inputs
        self.stats: dict[str, float] = {"ground_s": time.perf_counter() - started}
        if objective or outside:
            self._ground(outside=outside, objective=objective, inputs=inputs)

    @staticmethod
    def _control() -> clingo.Control:
        import clingo

        # Core-guided optimisation: measured 0.01 s where branch-and-bound took 8-60 s (7 packages).
        # Deciding atoms true first (--sign-def=pos): a decision on sel/3 then picks a version
        # and propagates its requirements, instead of ruling out one version at a time. On
        # examples/large's last round: 22k decisions instead of 168k to the first model, and
        # the first model plus the optimum in 1.6 s of CPU instead of 3.0 s.
        ctl = clingo.Control(["--opt-strategy=usc", "--sign-def=pos", "--warn=none"])
        directory = encoding_dir()
        for name in ENCODINGS:
            ctl.load(str(directory / name))
        return ctl

    def adopt(self, facts: FactBase) -> None:
        """Take the fact base whose ``inside_text`` this solver's ``Recorded`` facts are (the
        same program): later phases may then ground the versions outside the windows."""
        self.facts, self.outside = facts, facts.outside

    def _ground(self, *, outside: bool, objective: bool = False, inputs: bool = False) -> None:
        """Ground the rules and facts, with the versions outside the windows or without them
        (then none can be chosen, and every selection costs what it costs with them), and
        with the named inputs of explanations or without them."""
        started = time.perf_counter()
        if self._grounded is not None:  # the program without them: start again, with them
            self.ctl = self._control()
            self._objective = False
            self.__dict__.pop("_input_literals", None)
        loader = _FactLoader(self.facts, outside=outside)
        self.ctl.add("base", [], loader.program + ("\nexplaining." if inputs else ""))
        parts = [("base", [])]
        if "span" in loader.named:
            self.ctl.add("spans", [], (encoding_dir() / SPANS).read_text())
            parts.append(("spans", []))
        if objective:
            self.ctl.add("objective", [], (encoding_dir() / OBJECTIVE).read_text())
            parts.append(("objective", []))
        self.ctl.ground(parts, context=loader)
        self._grounded = outside
        self._objective = objective
        self._explaining = inputs
        self.stats["ground_s"] += time.perf_counter() - started

    def _need(self, *, outside: bool, levels: bool = True, inputs: bool = False) -> None:
        """A grounding for a phase that may (``outside``) or may not choose versions outside
        the windows. A round starts with the phases that may not (its windows are expected to
        hold a lock), which ground the program without those versions: on
        examples/fastapi-standard 14,071 atoms and 18,479 rules instead of 18,546 and 24,372,
        grounded and solved in 323M instructions instead of 412M. A round that then needs
        them grounds everything again: examples/large's lock without learned widths, three of
        whose rounds do, still took 31,833M instructions instead of 32,362M. ``levels``:
        whether the phase may have the objective's levels below the outside one; one that
        optimises without them grounds again without them (the locker never asks: a round that
        needs versions outside the windows needs them grounded anyway). ``inputs``: whether
        the phase takes cores over the named inputs of explanations."""
        inputs = inputs or self._inputs
        if (
            self._grounded is None
            or (outside and not self._grounded)
            or (self._objective and not levels)
            or (inputs and not self._explaining)
        ):
            self._ground(outside=outside or bool(self._grounded), inputs=inputs)

    def ground_objective(self) -> None:
        """Ground every level of the objective below the outside one (once)."""
        self._need(outside=False)
        if self._objective:
            return
        started = time.perf_counter()
        self.ctl.add("objective", [], (encoding_dir() / OBJECTIVE).read_text())
        self.ctl.ground([("objective", [])])
        self._objective = True
        self.stats["ground_s"] += time.perf_counter() - started

    def _run(
        self, *, outside: bool, full: bool, optimise: bool, read: bool = True
    ) -> Solution | None:
        """A selection, or None when none exists; ``read``: read the selection from the model
        (else the solution says only that one exists: no atoms, no cost)."""
        import clingo

        self._need(outside=outside, levels=full or not optimise)
        started = time.perf_counter()
        self.ctl.configuration.solve.opt_mode = "opt" if optimise else "ignore"
        self.ctl.assign_external(clingo.Function("allow_outside"), outside)
        # The shown atoms of the last model, as clingo's sequence: it makes a Python object of
        # an atom only once read, and only the last model's are (examples/large's round that
        # locks reports 4 models of 9,500 atoms each).
        found: list[Sequence[clingo.Symbol]] = [()]
        cost: list[int] = []
        priorities: list[int] = []

        def on_model(model: clingo.Model) -> None:
            found[0] = model.symbols(shown=True)
            cost[:] = model.cost
            priorities[:] = model.priority

        result = self.ctl.solve(on_model=on_model if read else None)
        key = "solve_s" if full else "check_s"
        self.stats[key] = self.stats.get(key, 0.0) + time.perf_counter() - started
        if result.unsatisfiable:
            return None
        selected: dict[tuple[int, int], set[int]] = {}
        active: set[tuple[int, int]] = set()
        for name, args in _atoms(found[0]):
            if name == "sel" and args[0] != 0:
                selected.setdefault(args[:2], set()).add(args[2])
            elif name == "active":
                active.add(args)
        return Solution(selected, cost, priorities, bool(result.exhausted), self.stats, active)

    def fits_windows(self) -> bool:
        """Whether some selection satisfies the hard rules without leaving the windows."""
        return self._run(outside=False, full=False, optimise=False, read=False) is not None

    def fewest_outside(self) -> Solution | None:
        """A selection using versions outside the windows of as few packages as possible;
        None when even they cannot help: no lock exists."""
        return self._run(outside=True, full=False, optimise=True)

    def every_outside(self, fewest: Solution) -> set[int]:
        """The packages that some selection as good as ``fewest`` (as few packages outside
        their windows) takes outside: ``fewest``'s own, then one more solve per selection that
        adds some, until none does."""
        import clingo

        self._need(outside=True, levels=False)
        started = time.perf_counter()
        found = {p for (p, v) in fewest.selected if self.outside.get(p) == v}
        config = self.ctl.configuration.solve
        models = config.models
        config.opt_mode = f"enum,{fewest.cost[0]}"
        config.models = 1
        self.ctl.assign_external(clingo.Function("unseen_outside"), True)
        while True:
            for pid in found:
                self.ctl.assign_external(clingo.Function("seen", [clingo.Number(pid)]), True)
            more: set[int] = set()

            def on_model(model: clingo.Model, more: set[int] = more) -> None:
                for name, args in _atoms(model.symbols(shown=True)):
                    if name == "sel" and self.outside.get(args[0]) == args[1]:
                        more.add(args[0])

            self.ctl.solve(on_model=on_model)
            if not more - found:
                break
            found |= more
        self.ctl.assign_external(clingo.Function("unseen_outside"), False)
        for pid in found:
            self.ctl.assign_external(clingo.Function("seen", [clingo.Number(pid)]), False)
        config.models = models
        self.stats["check_s"] = self.stats.get("check_s", 0.0) + time.perf_counter() - started
        return found

    def optimum(self) -> Solution:
        """The optimal selection inside the windows (call after ``fits_windows``)."""
        self.ground_objective()
        solution = self._run(outside=False, full=True, optimise=True)
        assert solution is not None
        return solution

    def fitting_optimum(self) -> Solution | None:
        """The optimal selection inside the windows, or None when they hold no lock: one solve
        instead of ``fits_windows`` and ``optimum``, for a round expected to lock (ground with
        ``objective=True``). On examples/large's round from learned widths (resolver/widths.py),
        grounding and solving take 1.38 s instead of 1.69 s (medians of 6), for the same
        selection; a round whose windows hold no lock takes 0.15-0.25 s longer so."""
        self.ground_objective()
        return self._run(outside=False, full=True, optimise=True)

    # -- explanations ------------------------------------------------------------------------

    @cached_property
    def inputs(self) -> list[clingo.Symbol]:
        """The named inputs an explanation may leave out: ``drop(D)`` for each project
        requirement, ``edge_off(P,Q)`` for the requirements of each package on another,
        ``constraint_off(D)`` for each constraint (the same with or without the versions
        outside the windows; explanations mostly need them)."""
        self._need(outside=self._grounded is None or self._grounded, inputs=True)
        return sorted(
            atom.symbol
            for name, arity in (("drop", 1), ("edge_off", 2), ("constraint_off", 1))
            for atom in self.ctl.symbolic_atoms.by_signature(name, arity)
        )

    @cached_property
    def _input_literals(self) -> dict[clingo.Symbol, int]:
        """Each input's program literal: assigning and assuming by literal skips a lookup of
        the symbol each time (explanations take many cores over a thousand inputs)."""
        atoms = self.ctl.symbolic_atoms
        return {symbol: atoms[symbol].literal for symbol in self.inputs}

    def core(
        self, held: list[clingo.Symbol], *, outside: bool = True
    ) -> list[clingo.Symbol] | None:
        """With the ``held`` inputs in force and every other one free to be left out: None when
        a selection exists (with versions outside the windows unless ``outside`` is False),
        else the held inputs of an unsatisfiable core."""
        import clingo

        self._need(outside=outside, inputs=True)
        started = time.perf_counter()
        literals = self._input_literals
        for symbol in self.inputs:
            self.ctl.assign_external(literals[symbol], None)
        self.ctl.assign_external(clingo.Function("allow_outside"), outside)
        self.ctl.configuration.solve.opt_mode = "ignore"  # the objective's levels are ignored
        by_literal = {-literals[symbol]: symbol for symbol in held}
        found: list[int] = []
        result = self.ctl.solve(
            assumptions=[-literals[symbol] for symbol in held], on_core=found.extend
        )
        for symbol in self.inputs:  # every input in force again, for the other phases
            self.ctl.assign_external(literals[symbol], False)
        self.stats["explain_s"] = self.stats.get("explain_s", 0.0) + time.perf_counter() - started
        if not result.unsatisfiable:
            return None
        return sorted({by_literal[lit] for lit in found if lit in by_literal})


# Recorded facts of this many characters or more are solved early in a child process rather
# than a thread (``EarlySolve``). A thread of the same process takes Python's lock whenever clingo
# calls back (for the facts, for each model) and to read the optimum, and the two threads waited
# on each other: on examples/large (225,000 characters), the main thread reached the facts'
# comparison at 1.37 s with a thread and 1.16 s with a child (medians of 10 interleaved runs),
# the solve itself taking 0.65-0.9 s in a thread and 0.35-0.5 s in a child. A child first starts
# Python and loads clingo (about 0.07 s), longer than a small program takes to solve: the
# examples' other recorded facts, 1,400 to 33,000 characters, are solved in a thread.
PROCESS_FROM = 100_000

# What the child runs: ``_serve_early``, from this module, with nothing else of aspen loaded.
_CHILD = "from resolver.solve import _serve_early; _serve_early()"


class EarlySolve:
    """``Solver.fitting_optimum`` of the facts that the last lock of the same inputs solved
    first (``widths.Memory.read_facts``), run from before this lock collects anything, beside
    it: in a thread, where clingo grounds and solves without Python's lock, or for a large
    program in a child process (``PROCESS_FROM``), whose optimum comes back as text. Meanwhile
    this lock reads its pages and metadata and makes its own facts. ``take`` hands the optimum
    over only when those facts are the recorded ones, text for text (``inside_text``): the same
    program, so the same search and the same optimum as a solver made then would give. Else
    the thread or child is stopped and the lock solves its own facts as usual, as it does when
    the child fails (no Python found, a damaged record) or finds no lock in the windows.

    ``record``: whether ``take`` keeps the text of the facts it is given (``seen``), for the
    lock to record when it took its memory. Used as a context manager, it stops the thread and
    the child on the way out, whatever happened."""

    def __init__(self, text: str | None, *, record: bool = True) -> None:
        self.text = text
        self.record = record
        self.seen: str | None = None  # the ``inside_text`` of the facts ``take`` was given
        # How the recorded facts are solved: "thread" or "process" ("" with no record).
        self.way = ""
        self._solver: Solver | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._found: Solution | None = None
        self._failed = False
        self._stop = threading.Event()
        self._starting = threading.Lock()  # the child is started, or stopped, not both at once
        self._thread: threading.Thread | None = None
        self._interval = sys.getswitchinterval()
        if text:
            run = self._run
            if len(text) >= PROCESS_FROM and sys.executable:
                self.way, run = "process", self._run_process
            else:
                # The thread holds Python's lock only briefly (clingo calls back for the facts
                # and for each model), but waits for it each time while the main thread
                # computes: a switch interval of 0.5 ms instead of 5 ms keeps those waits short.
                self.way = "thread"
                sys.setswitchinterval(min(self._interval, 0.0005))
                # Loaded before the thread starts: loading it holds Python's lock either way.
                import clingo  # noqa: F401
            self._thread = threading.Thread(target=run, name="aspen-early", daemon=True)
            self._thread.start()

    def __enter__(self) -> EarlySolve:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.cancel()

    def _run(self) -> None:
        try:
            assert self.text is not None
            solver = self._solver = Solver(Recorded(self.text), objective=True)
            if not self._stop.is_set():
                self._found = solver.fitting_optimum()
        except Exception:  # a damaged record: the lock solves its own facts
            self._failed = True

    def _run_process(self) -> None:
        """Solve the recorded facts in a child (``_serve_early``): the text goes in on its
        standard input, the optimum comes back on its standard output."""
        assert self.text is not None
        from resolver import scratch  # (ends the child too if the run is cut short)

        try:
            with self._starting:
                if self._stop.is_set():
                    return
                self._process = scratch.start_python(
                    _CHILD,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            try:
                out, _err = self._process.communicate(self.text.encode())
            finally:
                scratch.stop(self._process)  # (gone by now, or stopped by ``cancel``)
            if self._process.returncode != 0:
                raise ValueError(f"exit code {self._process.returncode}")
            self._found = _solution_of(out)
            if self._found is None:  # no lock in the windows: the lock's own solver refutes it
                raise ValueError("no lock")
        except Exception:  # the lock solves its own facts
            self._failed = True

    def take(self, facts: FactBase) -> tuple[Solver | None, Solution | None] | None:
        """The solver (None: the child's, gone) and its optimum (None: the windows hold no
        lock) when ``facts`` are the recorded ones; else None, with the thread stopped."""
        if not self.record and self._thread is None:
            return None
        self.seen = inside_text(facts)
        if self._thread is None or self.seen != self.text:
            self.cancel()
            return None
        found = self.optimum()
        if self._failed:
            return None
        if self.way == "process":
            return None, found
        if self._solver is None:  # (stopped only by ``cancel``: not here)
            return None
        self._solver.adopt(facts)
        return self._solver, found

    def optimum(self) -> Solution | None:
        """The optimum of the recorded facts, once the thread or child is done; None without
        a record, when it failed, or when the windows hold no lock."""
        if self._thread is None:
            return None
        self._thread.join()
        self._done()
        return None if self._failed else self._found

    def cancel(self) -> None:
        """Stop the thread (a grounding runs to its end) or the child, and wait for it."""
        if self._thread is None:
            return
        self._stop.set()
        if self._solver is not None:
            self._solver.ctl.interrupt()
        with self._starting:
            if self._process is not None:
                from resolver import scratch

                scratch.kill(self._process)
        self._thread.join()
        self._done()

    def _done(self) -> None:
        self._thread = None
        sys.setswitchinterval(self._interval)


def _solution_text(solution: Solution | None) -> bytes:
    """An optimum as the child of ``EarlySolve`` sends it (``_solution_of`` reads it)."""
    if solution is None:
        return b"null"
    selected = [[pid, rank, sorted(classes)] for (pid, rank), classes in solution.selected.items()]
    return json.dumps(
        {
            "selected": selected,
            "active": sorted(solution.active),
            "cost": solution.cost,
            "priorities": solution.priorities,
            "optimal": solution.optimal,
            "stats": solution.stats,
        },
        separators=(",", ":"),
    ).encode()


def _solution_of(text: bytes) -> Solution | None:
    data = json.loads(text)
    if data is None:
        return None
    return Solution(
        {(pid, rank): set(classes) for pid, rank, classes in data["selected"]},
        data["cost"],
        data["priorities"],
        data["optimal"],
        data["stats"],
        {(did, k) for did, k in data["active"]},
    )


def _serve_early() -> None:
    """The child of ``EarlySolve``: the optimum inside the windows of the recorded facts read
    from standard input, written to standard output."""
    text = sys.stdin.buffer.read().decode()
    solution = Solver(Recorded(text), objective=True).fitting_optimum()
    sys.stdout.buffer.write(_solution_text(solution))
    sys.stdout.flush()
    os._exit(0)  # (freeing the ground program one object at a time does nothing for anyone)
