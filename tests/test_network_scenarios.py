"""Lock packse's public resolver scenarios with aspen, each in a fresh project and index.

These tests reach PyPI once, to fetch packse's scenario definitions (see tests/scenarios.py);
the locks themselves are hermetic: ``aspen lock --index-url file://... --offline --no-cache``.
Run with ``pytest -m network tests/test_network_scenarios.py``.

Each scenario is judged on satisfiable vs. not (exit 0 vs. 1) and, when the scenario names
expected packages, on the set of ``(name, version)`` entries in pylock.toml. packse lists
expected packages for few universal scenarios; for the others, :data:`STATED` holds what their
descriptions say the lock contains, markers included, compared on aspen's environments.
Scenarios that only make sense when installing into one interpreter or platform, or that need
options aspen does not have, are skipped with the reason (see :func:`skip_reason`).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

sys.path.insert(0, str(Path(__file__).parent))

from scenarios import Scenario, load_scenarios, packse_sdist  # noqa: E402

pytestmark = pytest.mark.network

ASPEN = Path(sys.executable).parent / "aspen"
LOCK_TIMEOUT = 120  # seconds; scenarios are tiny, a slower lock is reported as a hang

_DARWIN_A1, _LINUX_A2 = "a==1.0.0 ; sys_platform == 'darwin'", "a==2.0.0 ; sys_platform == 'linux'"
_COMBINED = [
    _DARWIN_A1,
    _LINUX_A2,
    "b==1.0.0 ; sys_platform == 'darwin' and implementation_name == 'pypy'",
    "b==2.0.0 ; sys_platform == 'darwin' and implementation_name == 'cpython'",
]
#: The whole lock of universal scenarios whose files list no expected packages, as their
#: descriptions state it (names without the scenario prefix). A marker, when given, must hold
#: in the same environments as the lock entry's marker; without one, the marker is not judged.
STATED: dict[str, list[str]] = {
    "fork-allows-non-conflicting-repeated-dependencies": ["a==1.0.0"],
    "fork-basic": [_DARWIN_A1, _LINUX_A2],
    "fork-filter-sibling-dependencies": [
        "a==4.4.0 ; sys_platform == 'linux'",
        "a==4.3.0 ; sys_platform == 'darwin'",
        "b==1.0.0 ; sys_platform == 'linux'",
        "c==1.0.0 ; sys_platform == 'darwin'",
        "d==1.0.0 ; sys_platform == 'linux'",
        "d==2.0.0 ; sys_platform == 'darwin'",
    ],
    "fork-incomplete-markers": [
        "a==1.0.0 ; python_version < '3.13'",
        "a==2.0.0 ; python_version >= '3.14'",
        "b==1.0.0",
        "c==1.0.0 ; python_version == '3.13'",
    ],
    "fork-marker-accrue": [
        "a==1.0.0 ; implementation_name == 'cpython'",
        "b==1.0.0 ; implementation_name == 'pypy'",
        "c==1.0.0",
    ],
    "fork-marker-inherit": [_DARWIN_A1, _LINUX_A2],
    "fork-marker-inherit-combined": _COMBINED,
    "fork-marker-inherit-combined-allowed": [
        *_COMBINED,
        "c==1.0.0 ; sys_platform == 'darwin' and implementation_name == 'pypy'",
    ],
    "fork-marker-inherit-combined-disallowed": _COMBINED,
    "fork-marker-inherit-isolated": [_DARWIN_A1, _LINUX_A2, "b==1.0.0 ; sys_platform == 'linux'"],
    "fork-marker-inherit-transitive": [
        _DARWIN_A1,
        _LINUX_A2,
        "b==1.0.0 ; sys_platform == 'darwin'",
        "c==1.0.0 ; sys_platform == 'darwin'",
    ],
    "fork-marker-limited-inherit": [
        _DARWIN_A1,
        _LINUX_A2,
        "b==1.0.0",
        "c==1.0.0 ; sys_platform == 'linux'",
    ],
    # "only one version of a": 0.2.0 needs b>=2, which darwin forbids.
    "fork-marker-selection": [
        "a==0.1.0",
        "b==1.0.0 ; sys_platform == 'darwin'",
        "b==2.0.0 ; sys_platform == 'linux'",
    ],
    "fork-non-fork-marker-transitive": [
        "a==1.0.0",
        "b==1.0.0",
        "c==2.0.0 ; sys_platform == 'linux' or sys_platform == 'darwin'",
    ],
    "fork-overlapping-markers-basic": ["a==1.2.0"],
    # sys_platform 'windows'/'illumos' and os_name 'linux'/'darwin' are values no CPython has.
    "fork-remaining-universe-partitioning": [
        "a==2.0.0 ; sys_platform == 'windows'",
        "a==1.0.0 ; sys_platform == 'illumos'",
        "b==2.0.0 ; sys_platform == 'illumos' and os_name == 'linux'",
        "b==1.0.0 ; sys_platform == 'illumos' and os_name == 'darwin'",
    ],
    "fork-requires-python": [],
    "fork-requires-python-full": [],
    "fork-requires-python-full-prerelease": [],
    "fork-requires-python-patch-overlap": ["a==1.0.0 ; python_version == '3.10'"],
    "fork-upgrade": ["foo==2.0.0", "bar==2.0.0"],
    "marker-variants-have-different-extras": [
        "psycopg==1.0.0",
        "psycopg-binary==1.0.0 ; implementation_name != 'pypy'",
        "tzdata==1.0.0 ; sys_platform == 'win32'",
    ],
    "requires-python-subset": ["win-only==1.0.0 ; sys_platform == 'win32'"],
    "requires-python-wheels": ["a==1.0.0"],
    "specific-architecture": [
        "a==1.0.0",
        "b==1.0.0 ; platform_machine == 'x86_64'",
        "c==1.0.0 ; platform_machine == 'aarch64'",
        "d==1.0.0 ; platform_machine == 'i686'",
    ],
    "unreachable-package": ["a==1.0.0 ; sys_platform == 'win32'"],
    "unreachable-wheels": [
        "a==1.0.0 ; sys_platform == 'win32'",
        "b==1.0.0 ; sys_platform == 'linux'",
        "c==1.0.0 ; sys_platform == 'darwin'",
    ],
    "virtual-package-extra-priorities": ["a==1.0.0", "b==1.0.0"],
    "wrong-backtracking-indirect": ["a==1.0.0", "b==1.0.0", "b-inner==2.0.9"],  # a TODO there
}

#: The platforms aspen locks for (README), on which markers are compared.
_PLATFORMS = [
    (*system, implementation)
    for implementation in (("cpython", "CPython"), ("pypy", "PyPy"))
    for system in (
        ("linux", "Linux", "posix", "x86_64"),
        ("linux", "Linux", "posix", "aarch64"),
        ("darwin", "Darwin", "posix", "arm64"),
        ("darwin", "Darwin", "posix", "x86_64"),
        ("win32", "Windows", "nt", "AMD64"),
    )
]
_KEYS = ("sys_platform", "platform_system", "os_name", "platform_machine")


def skip_reason(scenario: Scenario) -> str | None:
    """Why a scenario does not apply to aspen's universal lock, or None if it does."""
    options, environment = scenario.resolver_options, scenario.environment
    if options.get("no_build") or options.get("no_binary"):
        return "needs per-package --no-build / --no-binary (aspen has neither)"
    if options.get("python_platform"):
        return "resolves for one target platform (--python-platform)"
    if scenario.universal:
        return None
    if (
        options.get("python")
        or environment.get("additional_python")
        or environment.get("python", "3.12") != "3.12"
    ):
        return "depends on the installing interpreter (environment or --python version)"
    return None


def _network_selected(config: pytest.Config) -> bool:
    """Download packse only when network tests run (collection must stay offline otherwise)."""
    expression = config.getoption("markexpr") or ""
    return "network" in expression and "not network" not in expression


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scenario" in metafunc.fixturenames:
        found = load_scenarios(packse_sdist()) if _network_selected(metafunc.config) else []
        metafunc.parametrize("scenario", found, ids=[s.name for s in found])


def _lock(scenario: Scenario, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    index = scenario.build_index(tmp_path / "index")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(scenario.pyproject())
    command = [str(ASPEN), "lock", "--project", str(project), "--index-url", index.simple_url]
    command += ["--offline", "--no-cache"]
    if scenario.prereleases:
        command += ["--prerelease", "allow"]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=LOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    pytest.fail(f"aspen lock did not finish in {LOCK_TIMEOUT} s", pytrace=False)


def _entries(lock: Path) -> set[tuple[str, str, str | None]]:
    packages = tomllib.loads(lock.read_text()).get("packages", [])
    return {(p["name"], p["version"], p.get("marker")) for p in packages}


def _environments(requires_python: str) -> list[dict[str, str]]:
    """Marker environments: every platform and Python 3.8-3.15 (x.y.0 and x.y.9) allowed."""
    allowed, environments = SpecifierSet(requires_python), []
    for minor in range(8, 16):
        for full in (f"3.{minor}.0", f"3.{minor}.9"):
            if not allowed.contains(full, prereleases=True):
                continue
            for *system, (implementation, python_implementation) in _PLATFORMS:
                environment = {**default_environment(), **dict(zip(_KEYS, system, strict=True))}
                environment.update(
                    implementation_name=implementation,
                    platform_python_implementation=python_implementation,
                    python_version=f"3.{minor}",
                    python_full_version=full,
                    implementation_version=full,
                )
                environments.append(environment)
    return environments


def _check_stated(scenario: Scenario, entries: set[tuple[str, str, str | None]]) -> None:
    markers = {(canonicalize_name(n), Version(v)): m for n, v, m in entries}
    stated = {}
    for entry in STATED[scenario.name]:
        requirement = Requirement(f"{scenario.name}-{entry}")
        version = Version(next(iter(requirement.specifier)).version)
        stated[(canonicalize_name(requirement.name), version)] = requirement.marker
    assert set(markers) == set(stated), f"lock entries differ from: {STATED[scenario.name]}"
    for (name, version), marker in stated.items():
        if marker is None:
            continue
        actual = Marker(markers[name, version]) if markers[name, version] else None
        for environment in _environments(scenario.requires_python):
            holds = actual is None or actual.evaluate(environment)
            assert holds == marker.evaluate(environment), (
                f"{name} {version}: marker {markers[name, version]!r} and {str(marker)!r} differ"
                f" on {environment['implementation_name']} {environment['sys_platform']}"
                f" {environment['platform_machine']} {environment['python_full_version']}"
            )


def test_scenario(scenario: Scenario, tmp_path: Path) -> None:
    if reason := skip_reason(scenario):
        pytest.skip(reason)
    proc = _lock(scenario, tmp_path)
    lock = tmp_path / "project" / "pylock.toml"
    assert proc.returncode in (0, 1), f"aspen crashed or rejected the input:\n{proc.stderr}"
    if not scenario.satisfiable:
        assert proc.returncode == 1, f"expected no lock, but aspen locked {sorted(_entries(lock))}"
        return
    assert proc.returncode == 0, f"expected a lock, aspen found none:\n{proc.stderr}"
    entries = _entries(lock)
    if scenario.expected_packages:
        locked = {(canonicalize_name(n), Version(v)) for n, v, _ in entries}
        expected = scenario.expected_packages.items()
        assert locked == {(canonicalize_name(n), Version(v)) for n, v in expected}, (
            scenario.explanation or f"expected {scenario.expected_packages}"
        )
    if scenario.name in STATED:
        _check_stated(scenario, entries)
