"""What keeps solve rounds on large projects cheap: the solver's search settings, and facts
reused from one round to the next only where nothing they depend on changed."""

from __future__ import annotations

import re

import clingo
from test_solver import lock
from test_speed_widening import universe_for

from resolver.facts import build_facts
from resolver.solve import Solver, _atoms


def test_the_solver_decides_atoms_true_first(tmp_path):
    # --sign-def=pos: a decision on sel/3 picks a version (and propagates its requirements)
    # instead of ruling one out; on examples/large's last round, 22k decisions to the first
    # model instead of 168k.
    universe = universe_for(tmp_path, {"a": {"1.0": []}}, ["a"])
    solver = Solver(build_facts(universe))
    assert solver.ctl.configuration.solver.sign_def == "pos"
    assert solver.fits_windows()


def test_versions_outside_the_window_are_remembered_until_the_window_changes(tmp_path):
    history = {f"1.{m}": [] for m in range(10)}
    universe = universe_for(tmp_path, {"a": history}, ["a"])
    package = universe.packages["a"]
    outside = universe.outside(package)
    assert [str(v) for v in outside] == [f"1.{m}" for m in range(7, -1, -1)]
    assert universe.outside(package) is outside  # built once per window, not per call
    package.window.add(outside[0])  # explanations add to a copy's window in place
    assert universe.outside(package) == outside[1:]
    universe.widen({"a"})  # a new window
    assert universe.outside(package) == outside[2:]  # 1.9 to 1.6


def test_a_window_version_equal_to_an_eligible_one_is_not_outside(tmp_path):
    # Versions outside the window are told apart by identity when the window holds the
    # package's own objects; a locked version is another object, equal to one of them.
    from packaging.version import Version

    history = {f"1.{m}": [] for m in range(10)}
    universe = universe_for(tmp_path, {"a": history}, ["a"])
    package = universe.packages["a"]
    package.window.add(Version("1.0.0"))  # equal to the package's 1.0, not the same object
    assert [str(v) for v in universe.outside(package)] == [f"1.{m}" for m in range(7, 0, -1)]


def window_ranks(facts, name: str) -> list[int]:
    pid = facts.package_ids[name]
    text = facts.text()
    found = {int(r) for r in re.findall(rf"^avail\({pid},(\d+),\d+\)\.", text, re.M)}
    found |= {int(r) for r in re.findall(rf"^avail_all\({pid},(\d+)\)\.", text, re.M)}
    return sorted(found)


def test_versions_a_more_preferred_one_dominates_are_left_out_of_the_facts(tmp_path):
    packages = {
        "a": {
            **{f"1.{m}": ["b>=1"] for m in range(6)},
            "1.6": ["b>=2"],  # other requirements: kept
            **{f"1.{m}": ["b>=1"] for m in range(7, 10)},
        },
        "b": {"1.0": [], "2.0": []},
    }
    universe = universe_for(tmp_path, packages, ["a", "c"])
    universe.widen({"a"})
    universe.widen({"a"})  # 8 versions deep: 1.9 to 1.2
    assert window_ranks(build_facts(universe), "a") == list(range(8))
    # Every version but 1.6 requires what 1.9 requires: only 1.9 and 1.6 stay.
    assert window_ranks(build_facts(universe, prune=True), "a") == [0, 3]


def test_requires_pythons_that_admit_the_same_cells_do_not_tell_versions_apart(tmp_path):
    # The project needs Python 3.9: >=3.7 and >=3.8 admit every cell, as no Requires-Python
    # does. (Their columns are different objects with the same values.)
    packages = {
        "a": {
            "1.0": {"requires": [], "requires_python": ">=3.7"},
            "1.1": {"requires": [], "requires_python": ">=3.8"},
            "1.2": [],
            "1.3": {"requires": [], "requires_python": ">=3.12"},  # not in every cell: kept
        }
    }
    universe = universe_for(tmp_path, packages, ["a"])
    universe.widen({"a"})
    assert window_ranks(build_facts(universe), "a") == [0, 1, 2, 3]
    assert window_ranks(build_facts(universe, prune=True), "a") == [0, 1]


def test_dominated_versions_stay_where_a_requirement_or_the_lock_tells_them_apart(tmp_path):
    packages = {"a": {f"1.{m}": [] for m in range(4)}, "c": {"1.0": ["a<1.3"]}}
    universe = universe_for(tmp_path, packages, ["a", "c"])
    # Windows: 1.3 and 1.2 for "a", 1.2 and 1.1 for "a<1.3"; 1.3 alone answers a<1.3 no.
    assert window_ranks(build_facts(universe, prune=True), "a") == [0, 1]
    universe.locked = {"a": {universe.packages["a"].versions[2]}}
    assert window_ranks(build_facts(universe, prune=True), "a") == [0, 1, 2]


# c needs a<1.8, and 1.7 needs a package no index has: 1.6, the last version of the first
# window that fits, is on its edge, so a's window grows; what it gains (1.5, 1.4) has 1.6's
# requirements.
EDGE = {
    "a": {**{f"1.{m}": [] for m in range(7)}, "1.7": ["ghost"], "1.8": [], "1.9": []},
    "c": {"1.0": ["a<1.8"]},
}


def test_a_round_whose_facts_are_the_last_locking_rounds_is_not_solved_again(tmp_path):
    # After a's window grew, the facts inside the windows are the same, so is the optimum.
    locked = lock(tmp_path, EDGE, ["a", "c"])
    assert locked.versions("a") == {"1.6": None}
    assert locked.report.widened == [["a"]]
    assert (locked.report.rounds, locked.report.reused) == (2, 1)


def test_the_report_sums_every_rounds_timings(tmp_path):
    timings = lock(tmp_path, EDGE, ["a", "c"]).report.timings
    assert {"all_rounds_facts_s", "all_rounds_ground_s", "all_rounds_solve_s"} <= set(timings)


def test_one_round_refutes_every_conflict_its_solver_finds(tmp_path, monkeypatch):
    # a's and b's six newest versions need a package no index has, their oldest nothing: two
    # conflicts of their own, each refuted on its part by widening its window, in one round.
    packages = {name: {**{f"3.{m}": ["ghost"] for m in range(6)}, "1.0": []} for name in ("a", "b")}
    (tmp_path / "both").mkdir()
    (tmp_path / "one").mkdir()
    locked = lock(tmp_path / "both", packages, ["a", "b"])
    assert locked.versions("a") == locked.versions("b") == {"1.0": None}
    assert locked.report.rounds == 3
    # Every widening is in the report (what -v shows): the first round's, of both windows,
    # then the second round's parts, each widened on its own.
    assert locked.report.widened == [["a", "b"], ["a"], ["b"]]
    monkeypatch.setattr("resolver.locker.MAX_CORES", 1)  # one conflict per round
    assert lock(tmp_path / "one", packages, ["a", "b"]).report.rounds == 4


def test_the_objective_below_level_100_is_grounded_only_for_the_optimum(tmp_path):
    # A round whose windows leave no lock grounds and searches without the objective's lower
    # levels; the optimum grounds them and reports every level.
    packages = {"a": {"1.0": ["b>=2"], "0.9": []}, "b": {"1.0": []}}
    universe = universe_for(tmp_path, packages, ["a"])
    solver = Solver(build_facts(universe))
    assert not any(solver.ctl.symbolic_atoms.by_signature("chosen", 2))
    assert solver.fits_windows()
    assert solver.fewest_outside().cost == [0]
    solution = solver.optimum()
    assert any(solver.ctl.symbolic_atoms.by_signature("chosen", 2))
    assert solution.priorities == [100, 70, 60, 50, 30, 22, 20, 10, 5]
    # a 0.9, one rank below the newest in each of the 7 Python intervals (3.9 to 3.15)
    assert solution.cost == [0, 0, 0, 0, 0, 7, 0, 0, 1]
    assert solver.optimum().cost == solution.cost  # grounded once


def test_a_round_expected_to_lock_is_solved_for_its_optimum_at_once(tmp_path):
    # Learned widths: the objective is grounded with the rules and one solve gives the optimum,
    # the one the fit check and the optimum give; windows that hold no lock give None, and the
    # round goes on to widen them as usual.
    packages = {"a": {"1.0": ["b>=2"], "0.9": []}, "b": {"1.0": []}}
    (tmp_path / "fits").mkdir()
    (tmp_path / "conflict").mkdir()
    universe = universe_for(tmp_path / "fits", packages, ["a"])
    facts = build_facts(universe)
    split = Solver(facts)
    assert split.fits_windows()
    at_once = Solver(facts, objective=True)
    assert any(at_once.ctl.symbolic_atoms.by_signature("chosen", 2))
    solution = at_once.fitting_optimum()
    assert solution is not None
    optimum = split.optimum()
    assert (solution.selected, solution.cost) == (optimum.selected, optimum.cost)
    conflict = {"a": {f"3.{m}": ["ghost"] for m in range(4)} | {"1.0": []}}
    conflicting = universe_for(tmp_path / "conflict", conflict, ["a"])
    solver = Solver(build_facts(conflicting), objective=True)
    assert solver.fitting_optimum() is None
    fewest = solver.fewest_outside()
    assert fewest.cost[0] == 1 and not any(fewest.cost[1:])  # the other levels are off


def test_per_interval_levels_are_grounded_per_interval_only_where_classes_share_one(tmp_path):
    # b and c have two classes on every Python interval (Windows, where c is required and asks
    # b<2, and elsewhere): only there can they have two versions side by side. a has one class
    # per interval.
    packages = {
        "a": {"1.0": ["b<2"], "2.0": ["b>=2"]},
        "b": {"1.0": [], "2.0": []},
        "c": {"1.0": ["b<2"]},
    }
    universe = universe_for(tmp_path, packages, ["a", "c; sys_platform == 'win32'"])
    facts = build_facts(universe)
    # (Stated per partition, the classes packages share: b's and c's are the same.)
    found = re.findall(r"^forks\((\d+),(\d+)\)\.", facts.text(), re.M)
    partition = dict(re.findall(r"^partition\((\d+),(\d+)\)\.", facts.text(), re.M))
    forking = {facts.package_ids[n] for n in ("b", "c")}
    shared = {int(partition[str(p)]) for p in forking}
    assert len(shared) == 1 and int(partition[str(facts.package_ids["a"])]) not in shared
    pythons = range(len(facts.space.pythons))
    assert {(int(s), int(y)) for s, y in found} == {(s, y) for s in shared for y in pythons}
    solver = Solver(facts)
    assert solver.fits_windows()
    solution = solver.optimum()
    for name in ("newer_at", "present"):  # per package, version and interval: forks only
        atoms = solver.ctl.symbolic_atoms.by_signature(name, 3)
        assert {atom.symbol.arguments[0].number for atom in atoms} <= forking
    # The level still counts: one a everywhere (a 1.0, for Windows), as in test_solver's
    # test_one_version_across_platforms_beats_a_newer_one_on_some.
    assert solution.record()["platform-versions"] == 0
    a = facts.package_ids["a"]
    assert [r for p, r in solution.selected if p == a] == [1]  # 1.0, one below the newest


def test_shown_atoms_are_read_back_from_their_text():
    symbols = [
        clingo.Function("sel", [clingo.Number(12), clingo.Number(0), clingo.Number(3)]),
        clingo.Function("active", [clingo.Number(-4), clingo.Number(70)]),
        clingo.Function("flag"),
    ]
    assert list(_atoms(symbols)) == [("sel", (12, 0, 3)), ("active", (-4, 70)), ("flag", ())]
