"""Explanations when no lock exists, ``aspen why`` and ``aspen why-not``: each conflict named by
the smallest set of requirements, checked against what the scenario puts in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomlkit
from test_cli_lock import lock_from, run, write_project

from resolver.errors import NoLockError
from resolver.locker import LockReport, lock_project
from resolver.memory_provider import MemoryProvider
from resolver.project import load_project


def no_lock(tmp_path: Path, packages: dict, dependencies: list[str], **project):
    table = {"name": "demo", "version": "0.1", "requires-python": ">=3.10"}
    table.update(project)
    table["dependencies"] = dependencies
    (tmp_path / "pyproject.toml").write_text(tomlkit.dumps({"project": table}))
    with pytest.raises(NoLockError) as caught:
        lock_project(load_project(tmp_path), MemoryProvider(packages), warn=lambda m: None)
    explanation = caught.value.explanation
    assert explanation is not None
    assert explanation.render() == str(caught.value)
    return explanation


def requirements(explanation) -> set[tuple[str, str]]:
    return {(r.owner, r.requirement) for r in explanation.reasons}


def test_a_transitive_clash_names_exactly_the_requirements_in_it(tmp_path):
    explanation = no_lock(
        tmp_path,
        {
            "requests": {"1.0": [], "2.0": [], "2.31": []},
            "docker": {"6.0": ["requests>=2.26", "six"], "7.0": ["requests>=2.26", "six"]},
            "six": {"1.0": []},
            "rich": {"1.0": ["six"]},
        },
        ["requests<2", "docker", "rich"],
    )
    assert requirements(explanation) == {
        ("demo", "requests<2"),
        ("demo", "docker"),
        ("docker", "requests>=2.26"),
    }
    assert explanation.fails == "every environment" and explanation.works is None
    assert explanation.minimal
    text = explanation.render()
    assert "docker 7.0 and 6.0 require requests>=2.26" in text
    assert "rich" not in text and "six" not in text


def test_a_conflict_on_one_platform_says_where_the_lock_works(tmp_path):
    explanation = no_lock(
        tmp_path,
        {
            "a": {"1.0": ["c<2"], "2.0": ["c<2"]},
            "b": {"1.0": ["c>=2"]},
            "c": {"1.0": [], "2.0": []},
            "x": {"1.0": []},
        },
        ["a", "b; sys_platform == 'win32'", "x"],
    )
    assert requirements(explanation) == {
        ("demo", "a"),
        ("demo", 'b; sys_platform == "win32"'),
        ("a", "c<2"),
        ("b", "c>=2"),
    }
    assert explanation.fails == "sys_platform == 'win32'"
    assert explanation.works == "sys_platform != 'win32'"
    assert any("[tool.aspen] environments" in hint for hint in explanation.hints)


def test_a_second_conflict_elsewhere_is_not_hidden_behind_a_working_claim(tmp_path):
    # Two clashes: on c, only on Windows; on e, only on Linux. The explanation names one, and
    # says the lock works only where neither fails, naming where the other one fails.
    explanation = no_lock(
        tmp_path,
        {
            "a": {"1.0": ["c<2"]},
            "b": {"1.0": ["c>=2"]},
            "c": {"1.0": [], "2.0": []},
            "d": {"1.0": ["e<2"]},
            "f": {"1.0": ["e>=2"]},
            "e": {"1.0": [], "2.0": []},
        },
        ["a", "b; sys_platform == 'win32'", "d", "f; sys_platform == 'linux'"],
    )
    named = requirements(explanation)
    windows = {("demo", "a"), ("demo", 'b; sys_platform == "win32"'), ("a", "c<2"), ("b", "c>=2")}
    linux = {("demo", "d"), ("demo", 'f; sys_platform == "linux"'), ("d", "e<2"), ("f", "e>=2")}
    assert named in (windows, linux)
    assert explanation.fails == (
        "sys_platform == 'win32'" if named == windows else "sys_platform == 'linux'"
    )
    other = "sys_platform == 'linux'" if named == windows else "sys_platform == 'win32'"
    assert f"other requirements fail where {other} as well" in "\n".join(explanation.hints)
    assert explanation.works == "sys_platform == 'darwin'"


def test_a_conflict_through_a_long_history_is_proven_on_its_part(tmp_path):
    # Every one of docker's 40 versions needs requests>=2. Windows hold the newest two, so the
    # conflict is first seen inside them; proving it holds in every version needs all 40. Once
    # the conflict outlasts one widening, the locker proves it on the part the core names
    # (requests and docker), widening docker there, instead of re-solving the whole project
    # once per widening of docker's window (7 rounds).
    docker = {f"{n}.0": ["requests>=2", "six"] for n in range(1, 41)}
    packages = {
        "requests": {"1.0": [], "2.0": []},
        "docker": docker,
        "six": {"1.0": []},
        "rich": {f"{n}.0": ["six"] for n in range(1, 11)},
    }
    (tmp_path / "pyproject.toml").write_text(
        tomlkit.dumps(
            {
                "project": {
                    "name": "demo",
                    "version": "0.1",
                    "requires-python": ">=3.10",
                    "dependencies": ["requests<2", "docker", "rich"],
                }
            }
        )
    )
    report = LockReport()
    with pytest.raises(NoLockError) as caught:
        lock_project(
            load_project(tmp_path), MemoryProvider(packages), warn=lambda m: None, report=report
        )
    explanation = caught.value.explanation
    assert requirements(explanation) == {
        ("demo", "requests<2"),
        ("demo", "docker"),
        ("docker", "requests>=2"),
    }
    assert "docker 40.0 to 1.0 (40 versions) require requests>=2" in str(caught.value)
    assert report.rounds == 2


def test_pins_to_the_owners_own_version_read_as_one_line(tmp_path):
    # Every meta version pins meta-core to its own version (as mlflow pins mlflow-skinny), and
    # every meta-core needs requests>=2: one line says so, not one line per version.
    versions = [f"{n}.0" for n in range(1, 6)]
    explanation = no_lock(
        tmp_path,
        {
            "requests": {"1.0": [], "2.0": []},
            "meta": {v: [f"meta-core=={v}"] for v in versions},
            "meta-core": {v: ["requests>=2"] for v in versions[1:]},  # no meta-core 1.0
        },
        ["requests<2", "meta"],
    )
    lines = explanation.render().splitlines()
    assert "  meta 5.0 to 1.0 (5 versions) require meta-core of the same version" in lines
    assert "  meta-core 5.0 to 2.0 (4 versions) require requests>=2" in lines
    assert not any("meta-core==" in line for line in lines)
    assert not any("meta-core" in hint for hint in explanation.hints)
    data = explanation.as_dict()
    pins = [r for r in data["reasons"] if r["owner"] == "meta"]
    assert pins == [
        {
            "owner": "meta",
            "versions": list(reversed(versions)),
            "requirement": "meta-core==5.0",
            "source": None,
            "same_version": True,
            "policy": None,
        }
    ]


@pytest.mark.parametrize(
    ("packages", "dependency", "hint"),
    [
        ({"a": {"1.0": [], "2.0rc1": []}}, "a>1.5", "only pre-release versions of a match >1.5"),
        (
            {"a": {"1.0": [], "2.0": {"requires": [], "yanked": "broken"}}},
            "a>1.5",
            "only yanked versions of a match >1.5",
        ),
        ({"a": {"1.0": [], "1.5": []}}, "a==1.4", "nearest: 1.5, 1.0"),
        (
            {"a": {"1.0": [], "2.0": {"requires": [], "requires_python": ">=3.13"}}},
            "a>=2",
            "needs Python >=3.13",
        ),
        ({"requests": {"1.0": []}}, "requets", "did you mean requests?"),
    ],
)
def test_hints(tmp_path, packages, dependency, hint):
    explanation = no_lock(tmp_path, packages, [dependency])
    assert ("demo", dependency) in requirements(explanation)
    assert any(hint in h for h in explanation.hints), explanation.hints


def test_a_policy_that_leaves_out_the_only_fitting_versions_is_named_in_the_conflict(tmp_path):
    # b needs a>1.5, and only pre-releases of a fit: the pre-release policy is one of the
    # inputs of the conflict, named in the core like a requirement.
    explanation = no_lock(
        tmp_path,
        {
            "a": {"1.0": [], "2.0rc1": [], "2.0rc2": [], "0.9rc1": []},
            "b": {"1.0": ["a>1.5"]},
        },
        ["b"],
    )
    lines = explanation.render().splitlines()
    assert lines[2:5] == [
        "  demo requires b (project.dependencies)",
        "  b 1.0 requires a>1.5",
        "  a 2.0rc2 and 2.0rc1: left out as pre-releases (--prerelease if-necessary-or-explicit)",
    ]
    policy = [r for r in explanation.as_dict()["reasons"] if r["policy"]]
    assert policy == [
        {
            "owner": "a",
            "versions": ["2.0rc2", "2.0rc1"],
            "requirement": "",
            "source": "--prerelease if-necessary-or-explicit",
            "same_version": False,
            "policy": "pre-release",
        }
    ]


def test_a_yanked_version_is_named_only_where_it_would_fit(tmp_path):
    packages = {"a": {"1.0": [], "2.0": {"requires": [], "yanked": "broken"}}}
    (tmp_path / "fits").mkdir()
    (tmp_path / "beyond").mkdir()
    fits = no_lock(tmp_path / "fits", packages, ["a>1.5"])
    line = "  a 2.0: left out as yanked (only an == pin in the project's own requirements takes a"
    assert f"{line} yanked version)" in fits.render().splitlines()
    # Nothing yanked fits a>=3: no policy is part of that conflict.
    beyond = no_lock(tmp_path / "beyond", packages, ["a>=3"])
    assert requirements(beyond) == {("demo", "a>=3")}
    assert not any(r.policy for r in beyond.reasons)


def test_python_only_conflict_names_the_failing_pythons(tmp_path):
    explanation = no_lock(
        tmp_path, {"a": {"1.0": [], "2.0": {"requires": [], "requires_python": ">=3.12"}}}, ["a>=2"]
    )
    assert explanation.fails == "python_version < '3.12'"
    assert explanation.works == "python_version >= '3.12'"


CONFLICT = """
[project]
name = "app"
version = "0.1"
requires-python = ">=3.10"
dependencies = ["web", "lib<2"]
"""


@pytest.fixture
def conflict_index(index):
    index.add("web", "1.0", requires=["lib>=2"])
    index.add("web", "0.9", requires=["lib>=1.5"])
    index.add("lib", "1.0")
    index.add("lib", "1.5")
    index.add("lib", "1.6")
    index.add("lib", "2.0")
    index.write()
    return index


def test_cli_explains_no_lock_in_text_and_json(tmp_path, conflict_index):
    project = write_project(tmp_path / "app", CONFLICT.replace("web", "web>=1"))
    result = lock_from(conflict_index.simple_url, project)
    assert result.returncode == 1
    assert "app requires lib<2 (project.dependencies)" in result.stderr
    assert "web 1.0 requires lib>=2" in result.stderr
    result = lock_from(conflict_index.simple_url, project, "--format", "json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert {(r["owner"], r["requirement"]) for r in data["reasons"]} == {
        ("app", "web>=1"),
        ("app", "lib<2"),
        ("web", "lib>=2"),
    }
    assert not (project / "pylock.toml").exists()


def test_why_and_why_not(tmp_path, conflict_index):
    project = write_project(tmp_path / "app", CONFLICT)
    assert lock_from(conflict_index.simple_url, project).returncode == 0
    # web 1.0 needs lib>=2, which the project forbids: web 0.9 and lib 1.6 are locked.
    result = run("why", "lib", "--project", str(project))
    assert result.returncode == 0, result.stderr
    assert "lib 1.6:" in result.stdout
    assert "app (project.dependencies: web) -> web 0.9 -> lib 1.6" in result.stdout
    data = json.loads(run("why", "lib", "--project", str(project), "--format", "json").stdout)
    assert data["entries"][0]["version"] == "1.6"

    url = ["--index-url", conflict_index.simple_url, "--no-cache"]
    result = run("why-not", "web==1.0", "--project", str(project), *url)
    assert result.returncode == 0, result.stderr
    assert "web 1.0 cannot be in the lock." in result.stdout
    assert "app requires lib<2 (project.dependencies)" in result.stdout
    assert "web 1.0 requires lib>=2" in result.stdout

    # lib 1.0 is below web 0.9's bound; lib 1.5 fits but is older than 1.6.
    result = run("why-not", "lib==1.0", "--project", str(project), *url)
    assert "lib 1.0 cannot be in the lock." in result.stdout
    assert "web 0.9 requires lib>=1.5" in result.stdout
    result = run("why-not", "lib==1.5", "--project", str(project), *url, "--format", "json")
    data = json.loads(result.stdout)
    assert data["verdict"] == "worse"
    assert data["level"] == "staleness of direct dependencies (sum of version ranks)"
    assert data["cost"] > data["optimum"]

    # Under another --resolution, why-not answers for the lock `aspen lock` would then make,
    # from scratch: lowest picks lib 1.5, where keeping the locked lib 1.6 would call it worse.
    result = run("why-not", "lib==1.5", "--project", str(project), *url, "--resolution", "lowest")
    assert result.returncode == 0, result.stderr
    assert "Ignoring the locked versions: --resolution lowest (was highest)" in result.stderr
    assert "lib 1.5 is in the lock" in result.stdout, result.stdout

    assert "does not exist" in run("why-not", "lib==1.7", "--project", str(project), *url).stdout
    assert run("why-not", "lib>=1", "--project", str(project), *url).returncode == 2
    assert run("why", "nothing", "--project", str(project)).returncode == 2
