"""Each lock option side by side with ``uv lock`` on the same example, against PyPI: aspen's
lock is as good or better on the criterion the option names (lower, fewer versions, nothing
uploaded after the cut-off and as fresh), and valid in every environment (tests/lockcheck.py,
with ``uv pip compile`` pinned to the lock as a second judge).

Run with ``pytest -m network tests/test_network_policies.py``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

sys.path.insert(0, str(Path(__file__).parent))

import lockcheck as lc  # noqa: E402
from test_network_examples import JUDGED, aspen_lock, assert_no_problems  # noqa: E402

pytestmark = pytest.mark.network

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
UV = str(Path(sys.executable).parent / "uv")
CUTOFF = "2025-01-01"

# The examples each option is compared on. Lowest resolution needs lower bounds to mean
# anything: on the examples without them, both tools reach versions from 2010 whose sdists no
# longer build (uv stops there; aspen skips them with a warning), so only `tiny` is compared.
CASES = [
    ("tiny", ("--resolution", "lowest")),
    ("tiny", ("--resolution", "lowest-direct")),
    ("webapp", ("--resolution", "lowest-direct")),
    ("tiny", ("--fork-strategy", "fewest")),
    ("webapp", ("--fork-strategy", "fewest")),
    ("datastack", ("--fork-strategy", "fewest")),
    ("webapp", ("--exclude-newer", CUTOFF)),
    ("datastack", ("--exclude-newer", CUTOFF)),
]


def versions(entries: list[dict]) -> dict[str, list[Version]]:
    out: dict[str, list[Version]] = {}
    for entry in entries:
        out.setdefault(canonicalize_name(entry["name"]), []).append(Version(entry["version"]))
    return {name: sorted(found) for name, found in out.items()}


def uv_lock(project: Path, options: tuple[str, ...]) -> dict[str, list[Version]]:
    done = subprocess.run([UV, "lock", "-q", *options], cwd=project, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    data = tomllib.loads((project / "uv.lock").read_text())
    return versions([p for p in data["package"] if p.get("source", {}).get("registry")])


def shared_uninstallable(problem: str, theirs: dict[str, list[Version]]) -> bool:
    """Whether the problem is a version without a fitting file that uv's lock has too."""
    found = re.search(r": (\S+) (\S+): no compatible wheel for this platform", problem)
    found = found or re.search(r"Because (\S+?)(?:\{[^}]*\})?==(\S+) has no wheels", problem)
    return bool(found) and Version(found[2]) in theirs.get(canonicalize_name(found[1]), [])


@pytest.mark.timeout(1800)
@pytest.mark.parametrize(("name", "options"), CASES, ids=[f"{n}{''.join(o)}" for n, o in CASES])
def test_option_side_by_side_with_uv(tmp_path: Path, name: str, options: tuple[str, ...]):
    project = tmp_path / name
    project.mkdir()
    shutil.copy(EXAMPLES_DIR / name / "pyproject.toml", project / "pyproject.toml")
    done = aspen_lock(project, *options)
    assert done.returncode == 0, done.stderr[-3000:]
    lock_path = project / "pylock.toml"
    lock = tomllib.loads(lock_path.read_text())
    ours = versions(lock["packages"])
    theirs = uv_lock(project, options)
    table = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    direct = {canonicalize_name(Requirement(r).name) for r in table.get("dependencies", [])}
    flag, value = options
    print(
        f"\n{name} {flag} {value}: aspen {sum(map(len, ours.values()))} entries, uv "
        f"{sum(map(len, theirs.values()))}"
    )
    for package in sorted(set(ours) | set(theirs)):
        if ours.get(package) != theirs.get(package):
            print(f"  {package}: aspen {ours.get(package)}, uv {theirs.get(package)}")

    if flag == "--resolution":
        lowered = direct if value == "lowest-direct" else set(ours) & set(theirs)
        for package in sorted(lowered):
            assert ours[package][-1] <= theirs[package][-1], package
            assert ours[package][0] <= theirs[package][0], package
    elif flag == "--fork-strategy":
        assert sum(map(len, ours.values())) <= sum(map(len, theirs.values()))
    else:
        cutoff = datetime.fromisoformat(value).replace(tzinfo=UTC)
        for entry in lock["packages"]:
            for dist in [*entry.get("wheels", []), entry.get("sdist") or {}]:
                if "upload-time" in dist:
                    assert dist["upload-time"] < cutoff, (entry["name"], dist["name"])
        assert lock["tool"]["aspen"]["exclude-newer"] == "2025-01-01T00:00:00Z"
        for package in sorted(direct & set(theirs)):
            assert ours[package][-1] >= theirs[package][-1], package

    # Valid in every environment, by both judges.
    allowed = SpecifierSet(table["requires-python"])
    extras, groups = lc.project_extras(project), lc.project_groups(project)
    metadata = lc.PyPIMetadata()
    metadata.prefetch_lock(lock_path)
    problems = lc.check_lock(
        lock_path,
        requires_dist=metadata.requires_dist,
        project_requirements=lambda e, g: lc.project_requirements(project, e, g),
        environments=lc.ENVIRONMENTS,
        extras=extras,
        groups=groups,
        requires_python=table["requires-python"],
        package_requires_python=metadata.requires_python,
    )
    # A version with no file for some environment is taken there only when none has one (the
    # objective's top level); when uv takes the same version, that is no fault of the option.
    problems = [p for p in problems if not shared_uninstallable(p, theirs)]
    assert_no_problems(problems, f"{name} {flag} {value}")
    for env in [e for e in JUDGED if Version(e["python_full_version"]) in allowed][:3]:
        problems += lc.uv_judge(lock_path, project, env, extras=extras, groups=groups)
    problems = [p for p in problems if not shared_uninstallable(p, theirs)]
    assert_no_problems(problems, f"{name} {flag} {value} (uv pip compile)")
