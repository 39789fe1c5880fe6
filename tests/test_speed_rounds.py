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
