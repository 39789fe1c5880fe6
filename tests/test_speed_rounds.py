"""What keeps solve rounds on large projects cheap: the solver's search settings, and facts
reused from one round to the next only where nothing they depend on changed."""

from __future__ import annotations

from test_speed_widening import universe_for

from resolver.facts import build_facts
from resolver.solve import Solver


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
