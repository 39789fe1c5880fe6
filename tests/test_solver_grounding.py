"""How the facts reach clingo: as terms rather than program text, and without the versions
outside the candidate windows until a phase may choose them."""

from __future__ import annotations

from collections import Counter

import clingo
from packaging.version import Version
from test_speed_widening import universe_for

from resolver import facts as facts_module
from resolver import solve as solve_module
from resolver.facts import build_facts
from resolver.solve import (
    ENCODINGS,
    EarlySolve,
    Recorded,
    Solver,
    _FactLoader,
    encoding_dir,
    inside_text,
)

# a's 2.x need Python 3.12: its window keeps 2.5 and 2.4 for 3.12 and later, 1.5 and 1.4 for
# older Pythons (pruned to 2.5 and 1.5), and 2.3, the newest version outside the window, sits
# between them in the chain of versions.
SPLIT = {
    "a": {
        **{f"2.{m}": {"requires_python": ">=3.12"} for m in range(6)},
        **{f"1.{m}": [] for m in range(6)},
    },
}


def atoms(ctl: clingo.Control) -> set[str]:
    return {str(atom.symbol) for atom in ctl.symbolic_atoms}


def test_facts_read_as_terms_are_the_facts_read_as_text(tmp_path, monkeypatch):
    facts = build_facts(universe_for(tmp_path, SPLIT, ["a"]), prune=True)
    # So few facts go as text (TEXT_BELOW); as terms here.
    assert sum(map(len, facts.atoms.values())) < _FactLoader.TEXT_BELOW
    assert "@facts" not in _FactLoader(facts).program
    monkeypatch.setattr(_FactLoader, "TEXT_BELOW", 0)
    as_text = clingo.Control(["--warn=none"])
    as_terms = clingo.Control(["--warn=none"])
    for ctl in (as_text, as_terms):
        for name in ENCODINGS:
            ctl.load(str(encoding_dir() / name))
    as_text.add("base", [], facts.text())
    as_text.ground([("base", [])])
    loader = _FactLoader(facts)
    as_terms.add("base", [], loader.program)
    as_terms.ground([("base", [])], context=loader)
    assert atoms(as_terms) == atoms(as_text)
    assert "avail_outside(1,2,0)" in atoms(as_terms)


def test_versions_outside_the_windows_are_grounded_only_once_a_phase_may_choose_them(tmp_path):
    facts = build_facts(universe_for(tmp_path, SPLIT, ["a"]), prune=True)
    a = facts.package_ids["a"]
    assert facts.outside == {a: 2}
    assert facts.bridges == [f"next_version({a},0,6)"]

    inside = Solver(facts)
    assert inside.fits_windows()
    found = atoms(inside.ctl)
    assert f"next_version({a},0,6)" in found  # the chain steps over 2.3
    assert not any(atom.startswith(("outside(", "avail_outside(")) for atom in found)
    optimum = inside.optimum()

    # The same optimum from the program with every fact (grounded for fewest_outside first).
    whole = Solver(facts)
    assert whole.fewest_outside() is not None
    found = atoms(whole.ctl)
    assert f"avail_outside({a},2,0)" in found and f"next_version({a},0,6)" not in found
    again = whole.optimum()
    assert again.selected == optimum.selected == {(a, 0): {1}, (a, 6): {0}}
    assert again.cost == optimum.cost
    assert optimum.record()["python-versions"] == 1  # 1.5 below 2.5, through the bridge

    # A round that needs them after all grounds everything again.
    assert inside.fewest_outside() is not None
    assert f"avail_outside({a},2,0)" in atoms(inside.ctl)


def test_a_phase_that_optimises_without_the_objective_grounds_again_without_it(tmp_path):
    # The objective's levels carry no switch (encodings/objective.lp): a phase that optimises
    # only the outside level must not see them.
    facts = build_facts(universe_for(tmp_path, SPLIT, ["a"]), prune=True)
    a = facts.package_ids["a"]
    solver = Solver(facts, objective=True)
    optimum = solver.fitting_optimum()
    assert optimum is not None and optimum.priorities[0] == 100 and len(optimum.priorities) > 1
    assert any(atom.startswith("chosen(") for atom in atoms(solver.ctl))

    fewest = solver.fewest_outside()
    assert fewest is not None and fewest.priorities == [100] and fewest.cost == [0]
    assert not any(atom.startswith("chosen(") for atom in atoms(solver.ctl))
    assert f"avail_outside({a},2,0)" in atoms(solver.ctl)
    assert solver.every_outside(fewest) == set()

    # With the objective again (on top of the versions outside), the same optimum.
    again = solver.optimum()
    assert again.selected == optimum.selected and again.cost == optimum.cost
    assert solver.every_outside(fewest) == set()
    assert not any(atom.startswith("chosen(") for atom in atoms(solver.ctl))


# a needs b on Windows and c below Python 3.12, b needs c everywhere, c's 2.0 needs 3.11: the
# packages' classes differ, and some packages share theirs.
MARKED = {
    "a": {"1.0": ["b; sys_platform == 'win32'", "c; python_version < '3.12'"]},
    "b": {"1.0": ["c"]},
    "c": {"1.0": [], "2.0": {"requires_python": ">=3.11"}},
    "d": {"1.0": []},
}


def test_the_class_a_class_lies_in_is_read_from_the_partitions(tmp_path):
    # ``within`` as it was: for every package and package requiring it, the class of the
    # latter that each class of the former lies inside. ``partition`` and ``nested`` state the
    # same, once per pair of partitions.
    facts = build_facts(universe_for(tmp_path, MARKED, ["a", "d"]), prune=True)
    ids = facts.package_ids

    def args(atom: str) -> tuple[int, ...]:
        return tuple(map(int, atom[atom.index("(") + 1 : -1].split(",")))

    partition = dict(map(args, facts.atoms["partition"]))
    nested = set(map(args, facts.atoms["nested"]))
    assert set(partition) == set(facts.classes)
    assert len(set(partition.values())) < len(partition)  # some packages share their classes
    within = set()
    by_package = []  # the within(Q,K,P,KP) facts of before
    for q, p in (("a", "demo"), ("d", "demo"), ("b", "a"), ("c", "a"), ("c", "b")):
        for c in facts.classes[ids[q]]:
            (outer,) = [k for k in facts.classes[ids[p]] if set(c.cells) <= set(k.cells)]
            within.add((partition[ids[q]], c.index, partition[ids[p]], outer.index))
            by_package.append(f"within({ids[q]},{c.index},{ids[p]},{outer.index}).")
    assert len(facts.classes[ids["c"]]) > 1
    assert nested == within

    # The rules join them into the same active requirements, in every selection, as the rules
    # over ``within`` did (through ``on`` atoms, as they once were).
    ctl = clingo.Control(["--warn=none", "--models=0", "--opt-mode=ignore"])
    ctl.load(str(encoding_dir() / "lock.lp"))
    ctl.add("base", [], facts.text() + "\n".join(by_package) + WITHIN_RULES)
    ctl.ground([("base", [])])
    models: list[set[str]] = []
    ctl.solve(on_model=lambda m: models.append({str(s) for s in m.symbols(atoms=True)}))
    assert len(models) > 1
    for found in models:
        active = {atom for atom in found if atom.startswith("active(")}
        assert len(active) > 2
        assert active == {atom.replace("before_", "") for atom in found if "before_" in atom}


WITHIN_RULES = """
edge(P,D,Q) :- bundled(_,P,D), req_pkg(D,Q).
edge(0,D,Q) :- dep(0,0,D), req_pkg(D,Q).
on(D,P,KP,K) :- edge(P,D,Q), req_all(D), within(Q,K,P,KP).
on(D,P,KP,K) :- edge(P,D,Q), req_on(D,K), within(Q,K,P,KP).
before_active(D,K) :- on(D,0,KP,K), sel(0,0,KP).
before_active(D,K) :- has(P,B,KP), bundled(B,P,D), on(D,P,KP,K).
"""


def test_a_version_available_in_every_class_of_its_package_is_one_fact(tmp_path):
    # SPLIT's a: 1.5 runs everywhere, 2.5 only on Python 3.12 and later, some of a's classes.
    facts = build_facts(universe_for(tmp_path, SPLIT, ["a"]), prune=True)
    a = facts.package_ids["a"]
    classes = facts.classes[a]
    newer = {c.index for c in classes if c.cell.python_low >= Version("3.12")}
    assert 0 < len(newer) < len(classes)
    assert facts.atoms["avail_all"] == [f"avail_all({a},6)"]
    assert facts.atoms["avail"] == [f"avail({a},0,{k})" for k in sorted(newer)]
    # Each class of a chooses among the versions it may have: 2.5 only where it runs.
    solver = Solver(facts)
    assert solver.fits_windows()
    chosen = {tuple(a.symbol.arguments) for a in solver.ctl.symbolic_atoms.by_signature("sel", 3)}
    expected = {(0, 0, k) for k in range(len(facts.classes[0]))}
    expected |= {(a, 6, c.index) for c in classes} | {(a, 0, k) for k in newer}
    assert {tuple(n.number for n in s) for s in chosen} == expected


def test_which_classes_cover_which_pythons_is_stated_once_per_partition(tmp_path):
    # For every package: where more than one of its classes covers a Python interval (forks),
    # which of its classes cover those (class), and on how many intervals each is alone
    # (solo), read through the package's partition.
    facts = build_facts(universe_for(tmp_path, MARKED, ["a", "d"]), prune=True)

    def args(atom: str) -> tuple[int, ...]:
        return tuple(map(int, atom[atom.index("(") + 1 : -1].split(",")))

    partition = dict(map(args, facts.atoms["partition"]))
    forks = set(map(args, facts.atoms["forks"]))
    cover = set(map(args, facts.atoms["class"]))
    solo = set(map(args, facts.atoms["solo"]))
    assert len(solo) < len(facts.classes)  # fewer than one per package
    assert forks  # some partition has two classes on one Python interval
    for pid, classes in facts.classes.items():
        s = partition[pid]
        counts = Counter(y for c in classes for y in c.pythons)
        assert {y for (t, y) in forks if t == s} == {y for y, n in counts.items() if n > 1}
        for c in classes:
            forked = {y for y in c.pythons if counts[y] > 1}
            assert {y for (t, k, y) in cover if (t, k) == (s, c.index)} >= forked
            alone = len(c.pythons) - len(forked)
            assert ((s, c.index, alone) in solo) == (alone > 0)


def test_a_models_atoms_are_read_from_clingos_array_as_from_their_symbols():
    from resolver import solve

    ctl = clingo.Control(["--warn=none", "--opt-mode=opt"])
    ctl.add(
        "base", [], "{ sel(1,V,0) : V = 0..2 } = 1. active(-4,70). #minimize { V : sel(1,V,0) }."
    )
    ctl.ground([("base", [])])
    texts: list[tuple[str, str]] = []

    def on_model(model: clingo.Model) -> None:
        shown = model.symbols(shown=True)
        assert hasattr(shown, "_p_symbols")  # clingo's array: the fast path is taken
        texts.append((solve._text(shown), str(clingo.Tuple_(list(shown)))))

    assert ctl.solve(on_model=on_model).satisfiable
    assert texts and all(fast == slow for fast, slow in texts)
    assert texts[-1][0] in ("(active(-4,70),sel(1,0,0))", "(sel(1,0,0),active(-4,70))")
    assert list(solve._atoms([clingo.Function("flag")])) == [("flag", ())]


# a's 20 releases add and drop requirements in runs: b up to 1.11, c up to 1.16, d in 1.10 and
# 1.13 only, e from 1.14 on (newest first: ranks 0 to 19).
RUNS = {
    "a": {
        f"1.{m}": [
            *(["b"] if m <= 11 else []),
            *(["c"] if m <= 16 else []),
            *(["d"] if m in (10, 13) else []),
            *(["e"] if m >= 14 else []),
        ]
        for m in range(20)
    },
    **{name: {"1.0": []} for name in "bcde"},
}


def test_bundles_over_spans_of_versions_mean_what_bundles_over_versions_do(tmp_path, monkeypatch):
    universe = universe_for(tmp_path, RUNS, ["a"])
    while universe.widen({"a"}):
        pass
    assert len(universe.packages["a"].window) == 20
    # The facts state a package's bundles over spans where that takes fewer rules: not so
    # for a's four bundles; here always, then never.
    monkeypatch.setattr(facts_module._Spans, "rules", lambda self: 0)
    spans = build_facts(universe)
    assert spans.atoms["span"] and spans.atoms["span_in"] and spans.atoms["bundle_span"]
    monkeypatch.setattr(facts_module._Spans, "rules", lambda self: 1000)
    plain = build_facts(universe)
    assert not plain.atoms["span"] and len(plain.atoms["bundle"]) > len(spans.atoms["bundle"])

    def models(facts) -> set[frozenset[str]]:
        ctl = clingo.Control(["--warn=none", "--models=0", "--opt-mode=ignore"])
        ctl.load(str(encoding_dir() / "lock.lp"))
        ctl.load(str(encoding_dir() / "spans.lp"))
        ctl.add("base", [], facts.text())
        ctl.ground([("base", [])])
        found: set[frozenset[str]] = set()
        ctl.solve(
            on_model=lambda m: found.add(
                frozenset(
                    str(s) for s in m.symbols(atoms=True) if s.name in ("sel", "has", "active")
                )
            )
        )
        return found

    # Every selection, with the bundles each brings and the requirements they make active.
    assert len(models(spans)) == 20
    assert models(spans) == models(plain)


def test_a_bundle_is_the_fewest_spans_that_hold_its_versions():
    tree = facts_module._Spans(list(range(20)))
    # [0, 20) halves into [0, 10) and [10, 20), [10, 20) into [10, 15) and [15, 20), ...
    assert tree.cover(tuple(range(17))) == [(0, 10), (10, 15), (15, 17)]
    assert tree.cover((10, 13)) == [10, 13]
    assert tree.cover(tuple(range(14, 20))) == [14, (15, 20)]
    assert tree.rules() == 2 * len(tree.used)
    assert (0, 5) in tree.used and (15, 17) in tree.used and (0, 20) not in tree.used


def test_a_package_with_one_version_to_choose_has_it_wherever_it_is_needed(tmp_path):
    # MARKED's a, b and d have one version each, which runs everywhere; c has two. Without the
    # versions outside the windows, those three are chosen by a plain rule (``only``).
    facts = build_facts(universe_for(tmp_path, MARKED, ["a", "d"]), prune=True)
    ids = facts.package_ids
    assert sorted(facts.sole) == sorted(f"only({ids[n]},0)" for n in "abd")
    assert not facts.atoms["only"]  # never with the versions outside the windows
    optimum = Solver(facts).optimum()
    found = atoms(Solver(facts, objective=True).ctl)
    assert f"only({ids['a']},0)" in found
    facts.sole.clear()
    again = Solver(facts).optimum()
    assert again.selected == optimum.selected and again.cost == optimum.cost
    assert again.active == optimum.active


def test_a_solver_grounds_the_spans_part_when_its_program_has_spans(tmp_path, monkeypatch):
    """Solvers of a fact base and of its recorded text (the early solve) take spans.lp alike:
    with spans, the same optimum as without them; without, no span rule at all."""
    universe = universe_for(tmp_path, RUNS, ["a"])
    while universe.widen({"a"}):
        pass
    optima = []
    for rules in (0, 1000):  # spans always, then never
        monkeypatch.setattr(facts_module._Spans, "rules", lambda self, rules=rules: rules)
        facts = build_facts(universe)
        for given in (facts, Recorded(inside_text(facts))):
            solver = Solver(given, objective=True)
            in_span = list(solver.ctl.symbolic_atoms.by_signature("in_span", 2))
            assert bool(in_span) == (rules == 0)
            found = solver.fitting_optimum()
            assert found is not None
            optima.append((sorted(found.selected), found.cost))
    assert len(optima) == 4 and all(o == optima[0] for o in optima)


def test_the_early_solve_gives_the_same_optimum_in_a_thread_or_a_child(tmp_path, monkeypatch):
    """A recorded text solved early in a thread, or in a child process that sends its optimum
    back as text, gives the optimum a solver of the fact base itself finds, class for class;
    a child that cannot run, or facts that differ from the record, give none."""
    universe = universe_for(tmp_path, RUNS, ["a"])
    while universe.widen({"a"}):
        pass
    facts = build_facts(universe)
    expected = Solver(facts, objective=True).fitting_optimum()
    assert expected is not None and expected.selected and expected.active
    text = inside_text(facts)
    for way, process_from in (("thread", len(text) + 1), ("process", len(text))):
        monkeypatch.setattr(solve_module, "PROCESS_FROM", process_from)
        with EarlySolve(text) as early:
            assert early.way == way
            taken = early.take(facts)
        assert taken is not None
        solver, found = taken
        assert (solver is None) == (way == "process")
        assert found is not None and found.optimal and found.stats["ground_s"] > 0
        assert found.selected == expected.selected and found.active == expected.active
        assert (found.cost, found.priorities) == (expected.cost, expected.priorities)
        with EarlySolve(text.replace("pref(", "pref(1", 1)) as early:  # other facts
            assert early.take(facts) is None and early.seen == text
    monkeypatch.setattr(solve_module, "_CHILD", "raise SystemExit(3)")
    with EarlySolve(text) as early:
        assert early.way == "process" and early.take(facts) is None
