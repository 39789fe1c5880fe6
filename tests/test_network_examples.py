"""Lock the example projects against PyPI and judge each lock independently.

Every test here reaches PyPI: run with ``pytest -m network tests/test_network_examples.py``.
The judges (tests/lockcheck.py) share no code with ``resolver``: ``check_lock`` walks
PyPI's published metadata through all 24 environments, ``uv_judge`` has uv re-resolve
a sample of environments with the lock's pins, and ``uv_install_plan`` asks
``uv pip install --dry-run`` what it would install from the lock.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.pylock import Pylock
from packaging.specifiers import SpecifierSet
from packaging.version import Version

sys.path.insert(0, str(Path(__file__).parent))

import lockcheck as lc  # noqa: E402

pytestmark = pytest.mark.network

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLES = ["tiny", "webapp", "datastack", "fastapi-standard", "large"]
#: The lock command under test; LOCKCHECK_LOCK_COMMAND may name another one (a script
#: taking the same ``lock --project DIR`` arguments), e.g. to run these judges on a
#: control such as uv's own pylock export.
ASPEN = Path(os.environ.get("LOCKCHECK_LOCK_COMMAND") or Path(sys.executable).parent / "aspen")
LOCK_TIMEOUT = 1800  # seconds for one `aspen lock` of the large example, cold


def _env(python_minor: str, platform: str) -> dict:
    full = next(v for v in lc.PYTHON_FULL_VERSIONS if v.startswith(python_minor + "."))
    return lc.make_environment(next(p for p in lc.PLATFORMS if p.key == platform), full)


#: The environments a second resolver re-checks (all 24 would be slow).
JUDGED = [
    _env("3.9", "linux-x86_64"),
    _env("3.12", "linux-x86_64"),
    _env("3.14", "linux-x86_64"),
    _env("3.12", "macos-arm64"),
    _env("3.12", "windows-x86_64"),
    _env("3.10", "linux-aarch64"),
]


@dataclass
class Locked:
    """One example copied to a temporary folder and locked by ``aspen lock``."""

    name: str
    project_dir: Path
    proc: subprocess.CompletedProcess[str]

    @property
    def lock_path(self) -> Path:
        return self.project_dir / "pylock.toml"

    @property
    def requires_python(self) -> str:
        return tomllib.loads((self.project_dir / "pyproject.toml").read_text())["project"][
            "requires-python"
        ]

    @property
    def extras(self) -> list[str]:
        return lc.project_extras(self.project_dir)

    @property
    def groups(self) -> list[str]:
        return lc.project_groups(self.project_dir)

    def require_lock(self) -> Pylock:
        if self.proc.returncode != 0:
            pytest.fail(
                f"aspen lock failed for {self.name} (exit {self.proc.returncode}):\n"
                f"{self.proc.stdout[-3000:]}\n{self.proc.stderr[-3000:]}"
            )
        assert self.lock_path.is_file(), f"aspen lock wrote no {self.lock_path}"
        return Pylock.from_dict(tomllib.loads(self.lock_path.read_text()))

    def judged_environments(self) -> list[dict]:
        rp = self.requires_python
        envs = [e for e in JUDGED if Version(e["python_full_version"]) in SpecifierSet(rp)]
        assert envs
        return envs


def aspen_lock(project_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert ASPEN.exists(), f"no aspen console script at {ASPEN}"
    return subprocess.run(
        [str(ASPEN), "lock", "--project", str(project_dir), *args],
        capture_output=True,
        text=True,
        timeout=LOCK_TIMEOUT,
    )


def copy_example(name: str, dest: Path) -> Path:
    dest.mkdir(parents=True)
    shutil.copy(EXAMPLES_DIR / name / "pyproject.toml", dest / "pyproject.toml")
    return dest


@pytest.fixture(scope="session")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Locked]:
    """``locked(name)``: the example locked once per session (cached)."""
    cache: dict[str, Locked] = {}

    def get(name: str) -> Locked:
        if name not in cache:
            project_dir = copy_example(name, tmp_path_factory.mktemp(f"{name}-") / name)
            cache[name] = Locked(name, project_dir, aspen_lock(project_dir))
        return cache[name]

    return get


@pytest.fixture(scope="session")
def metadata() -> lc.PyPIMetadata:
    """PyPI metadata, cached on disk across runs (in the system temp folder)."""
    return lc.PyPIMetadata()


def assert_no_problems(problems: list[str], what: str) -> None:
    assert not problems, f"{len(problems)} problems in {what}:\n" + "\n".join(problems[:60])


# ---------------------------------------------------------------------------------------


def test_examples_are_plain_projects() -> None:
    """Each example is a real project that needs nothing built and has no lock."""
    for name in EXAMPLES:
        data = tomllib.loads((EXAMPLES_DIR / name / "pyproject.toml").read_text())
        assert data["project"]["name"] and data["project"]["version"]
        assert data["project"]["requires-python"]
        assert "build-system" not in data
        assert not (EXAMPLES_DIR / name / "uv.lock").exists()
        assert not (EXAMPLES_DIR / name / "pylock.toml").exists()


@pytest.mark.timeout(LOCK_TIMEOUT + 60)
@pytest.mark.parametrize("name", EXAMPLES)
def test_lock_succeeds_and_is_valid(locked, name: str) -> None:
    ex = locked(name)
    lock = ex.require_lock()
    if "LOCKCHECK_LOCK_COMMAND" not in os.environ:
        assert lock.created_by.startswith("aspen")
    assert lock.lock_version == Version("1.0")
    assert lock.requires_python is not None
    assert lock.packages
    assert sorted(lock.extras or []) == ex.extras
    assert sorted(lock.dependency_groups or []) == ex.groups
    # A universal lock resolves every environment the project allows.
    for env in lc.ENVIRONMENTS:
        if Version(env["python_full_version"]) in SpecifierSet(ex.requires_python):
            assert lc.applying_entries(lock, env, ex.extras, ex.groups)


@pytest.mark.timeout(LOCK_TIMEOUT + 600)
@pytest.mark.parametrize("name", EXAMPLES)
def test_lock_is_consistent_in_every_environment(locked, metadata, name: str) -> None:
    ex = locked(name)
    ex.require_lock()
    metadata.prefetch_lock(ex.lock_path)
    selections = [
        ("all extras and groups", ex.extras, ex.groups),
        ("no extras, no groups", [], []),
        ("the lock's default groups", [], None),
    ]
    for what, extras, groups in selections:
        for envs, matrix in (
            (lc.ENVIRONMENTS, "late patch releases"),
            (lc.FIRST_PATCH_ENVIRONMENTS, "X.Y.0"),
        ):
            problems = lc.check_lock(
                ex.lock_path,
                requires_dist=metadata.requires_dist,
                project_requirements=lambda e, g: lc.project_requirements(ex.project_dir, e, g),
                environments=envs,
                extras=extras,
                groups=groups,
                requires_python=ex.requires_python,
                package_requires_python=metadata.requires_python,
            )
            assert_no_problems(problems, f"{name}, {what}, {matrix}")


@pytest.mark.timeout(LOCK_TIMEOUT + 900)
@pytest.mark.parametrize("name", EXAMPLES)
def test_uv_agrees_with_the_lock(locked, name: str) -> None:
    """uv, given the project and the lock's pins for one environment, needs exactly those."""
    ex = locked(name)
    ex.require_lock()
    problems: list[str] = []
    for env in ex.judged_environments():
        problems += lc.uv_judge(
            ex.lock_path, ex.project_dir, env, extras=ex.extras, groups=ex.groups
        )
    # and without extras or groups, on one environment
    problems += lc.uv_judge(ex.lock_path, ex.project_dir, ex.judged_environments()[-1], groups=[])
    assert_no_problems(problems, f"{name} (uv pip compile)")


@pytest.mark.timeout(LOCK_TIMEOUT + 300)
@pytest.mark.parametrize("name", EXAMPLES)
def test_uv_installs_what_the_lock_selects(locked, name: str) -> None:
    """``uv pip install -r pylock.toml --dry-run`` accepts the lock and plans the same set."""
    ex = locked(name)
    ex.require_lock()
    problems: list[str] = []
    for env in ex.judged_environments():
        problems += lc.uv_install_plan(ex.lock_path, env, extras=ex.extras, groups=ex.groups)
        problems += lc.uv_install_plan(ex.lock_path, env)
    assert_no_problems(problems, f"{name} (uv pip install --dry-run)")


@pytest.mark.timeout(3 * LOCK_TIMEOUT)
@pytest.mark.parametrize("name", EXAMPLES)
def test_lock_is_deterministic(locked, tmp_path: Path, name: str) -> None:
    """Locking again, in place or from scratch, gives the same bytes."""
    ex = locked(name)
    ex.require_lock()
    first = ex.lock_path.read_bytes()

    again = aspen_lock(ex.project_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert ex.lock_path.read_bytes() == first, "re-locking in place changed pylock.toml"

    fresh_dir = copy_example(name, tmp_path / name)
    fresh = aspen_lock(fresh_dir)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert (fresh_dir / "pylock.toml").read_bytes() == first, "a fresh lock differs"


@pytest.mark.timeout(LOCK_TIMEOUT + 60)
def test_datastack_forks_numpy_by_python_version(locked) -> None:
    """numpy 2.1+ dropped Python 3.9: 3.9 gets an older numpy, newer Pythons a newer one."""
    ex = locked("datastack")
    lock = ex.require_lock()
    numpys = [p for p in lock.packages if p.name == "numpy"]
    assert len(numpys) >= 2, [str(p.version) for p in numpys]
    assert all(p.marker is not None and "python" in str(p.marker) for p in numpys)

    def numpy_in(python_minor: str) -> Version:
        env = _env(python_minor, "linux-x86_64")
        (entry,) = [p for p in lc.applying_entries(lock, env, groups=[]) if p.name == "numpy"]
        assert entry.version is not None
        return entry.version

    assert numpy_in("3.9") < Version("2.1")
    assert numpy_in("3.12") >= Version("2.1")
    assert numpy_in("3.9") != numpy_in("3.12")


@pytest.mark.timeout(LOCK_TIMEOUT + 300)
def test_judges_catch_a_broken_lock(locked, metadata, tmp_path: Path) -> None:
    """The judges are not vacuous: drop idna from the tiny lock and all of them object."""
    ex = locked("tiny")
    ex.require_lock()
    text = ex.lock_path.read_text()
    head, *blocks = text.split("\n[[packages]]\n")
    kept = [b for b in blocks if not re.search(r'^name = "idna"$', b, re.MULTILINE)]
    assert len(kept) < len(blocks), "no idna entry in the tiny lock"
    broken_dir = copy_example("tiny", tmp_path / "tiny")
    broken = broken_dir / "pylock.toml"
    broken.write_text("\n[[packages]]\n".join([head, *kept]))

    problems = lc.check_lock(
        broken,
        requires_dist=metadata.requires_dist,
        project_requirements=lc.project_requirements(broken_dir),
        requires_python=ex.requires_python,
    )
    assert len([p for p in problems if "no entry for idna applies" in p]) == 24
    env = _env("3.12", "linux-x86_64")
    judged = lc.uv_judge(broken, broken_dir, env)
    assert any("idna==" in p and "the lock lacks it" in p for p in judged), judged
