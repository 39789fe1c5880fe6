"""Explanations of packse's unsatisfiable scenarios, judged by uv.

packse's scenarios were not used to build the explainer: they are held out. For each scenario
with no lock, ``aspen lock --format json`` gives the explanation; the project requirements it
names are then handed to ``uv pip compile`` on their own, against the same index:

- they must still fail there (the named requirements are a conflict, not a part of one);
- leaving out any one of them must let uv resolve (each one is needed: nothing else is named).

uv's own message on the full input is printed beside aspen's for comparison (``-s``).
Run with ``pytest -m network tests/test_network_explain_scenarios.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

sys.path.insert(0, str(Path(__file__).parent))

from scenarios import Scenario, load_scenarios, packse_sdist  # noqa: E402
from test_network_scenarios import _network_selected, skip_reason  # noqa: E402

pytestmark = pytest.mark.network

ASPEN = Path(sys.executable).parent / "aspen"
# Scenarios packse calls unsatisfiable where aspen's universal lock forks its way to a lock
# (tests/test_network_scenarios.py fails on them, deliberately): nothing to explain.
LOCKED_BY_ASPEN = {
    "fork-non-local-fork-marker-direct",
    "fork-non-local-fork-marker-transitive",
    "preferences-dependent-forking-conflicting",
}
UV = str(Path(sys.executable).parent / "uv")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "unsat" in metafunc.fixturenames:
        found = load_scenarios(packse_sdist()) if _network_selected(metafunc.config) else []
        found = [s for s in found if not s.satisfiable]
        metafunc.parametrize("unsat", found, ids=[s.name for s in found])


def uv_compile(
    scenario: Scenario, index_url: str, requirements: list[str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """``uv pip compile --universal`` of these requirements over the scenario's index."""
    source = tmp_path / f"requirements-{len(list(tmp_path.iterdir()))}.in"
    source.write_text("".join(f"{r}\n" for r in requirements))
    allowed = SpecifierSet(scenario.requires_python)
    lowest = next(
        f"3.{minor}"
        for minor in range(8, 16)
        if any(allowed.contains(f"3.{minor}.{patch}") for patch in (0, 99))
    )
    command = [UV, "pip", "compile", str(source), "--universal", "--python-version", lowest]
    command += ["--index-url", index_url, "--offline", "--no-cache", "-q"]
    if scenario.prereleases:
        command += ["--prerelease", "allow"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_explanation_names_a_minimal_conflict(unsat: Scenario, tmp_path: Path) -> None:
    if reason := skip_reason(unsat):
        pytest.skip(reason)
    if unsat.name in LOCKED_BY_ASPEN:
        pytest.skip("aspen finds a lock here (a known divergence from packse)")
    index = unsat.build_index(tmp_path / "index")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(unsat.pyproject())
    command = [str(ASPEN), "lock", "--project", str(project), "--index-url", index.simple_url]
    command += ["--offline", "--no-cache", "--format", "json"]
    if unsat.prereleases:
        command += ["--prerelease", "allow"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    explanation = json.loads(done.stdout)
    named = [r["requirement"] for r in explanation["reasons"] if not r["versions"]]
    assert named or explanation["missing"], done.stderr
    work = tmp_path / "uv"
    work.mkdir()
    full = uv_compile(unsat, index.simple_url, list(unsat.root_requires), work)
    print(f"\n--- {unsat.name}\naspen:\n{done.stderr.strip()}\nuv:\n{full.stderr.strip()}")
    if full.returncode == 0:
        pytest.skip("uv finds a lock for this scenario: no common ground to judge on")
    # Every named requirement is the project's, word for word.
    stated = {str(Requirement(r)) for r in unsat.root_requires}
    assert set(named) <= stated, named
    if not named:
        return  # only a missing package: nothing of the project's to judge
    alone = uv_compile(unsat, index.simple_url, named, work)
    assert alone.returncode != 0, f"uv resolves the named requirements alone: {named}"
    if len(named) > 1:
        for left_out in named:
            rest = [r for r in named if r != left_out]
            trial = uv_compile(unsat, index.simple_url, rest, work)
            assert trial.returncode == 0, f"{left_out} is not needed for the conflict"
