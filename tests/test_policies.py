"""Lock options and [tool.aspen] policies: resolution strategy, fork strategy, upload cut-off,
constraints, overrides, required environments, and what the lock records of them. Every lock
made here also passes the independent checker (see ``test_solver.lock``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from test_solver import env, lock

from resolver.errors import InputError, NoLockError
from resolver.options import LockOptions, parse_cutoff
from resolver.project import load_project, project_from_dict
from resolver.why import render_why, why

LADDER = {
    "a": {"1.0": ["b>=1"], "1.1": ["b>=1"], "2.0": ["b>=2"], "2.1": ["b>=2"]},
    "b": {"1.0": [], "1.5": [], "2.0": [], "3.0": []},
}


def test_resolution_lowest_takes_the_oldest_versions_that_fit(tmp_path):
    locked = lock(tmp_path, LADDER, ["a>=1.1"], options=LockOptions(resolution="lowest"))
    assert locked.versions("a") == {"1.1": None}
    assert locked.versions("b") == {"1.0": None}
    assert locked.data["tool"]["aspen"]["resolution"] == "lowest"


def test_resolution_lowest_direct_keeps_transitive_dependencies_newest(tmp_path):
    locked = lock(tmp_path, LADDER, ["a>=1.1"], options=LockOptions(resolution="lowest-direct"))
    assert locked.versions("a") == {"1.1": None}
    assert locked.versions("b") == {"3.0": None}


def test_resolution_lowest_widens_windows_upwards(tmp_path):
    # b 1.0 to 8.0 need an x that does not exist: only b 9.0, far above the oldest versions
    # that lowest resolution looks at first, can be chosen.
    b = {f"{n}.0": ["x>=5"] for n in range(1, 9)} | {"9.0": []}
    locked = lock(
        tmp_path, {"b": b, "x": {"1.0": []}}, ["b"], options=LockOptions(resolution="lowest")
    )
    assert locked.versions("b") == {"9.0": None}
    assert locked.report.rounds > 1


def test_fork_strategy_fewest_trades_freshness_for_one_version(tmp_path):
    packages = {"a": {"1.0": [], "2.0": {"requires_python": ">=3.11"}}}
    forked = lock(tmp_path, packages, ["a"])
    assert forked.versions("a") == {
        "1.0": "python_version < '3.11'",
        "2.0": "python_version >= '3.11'",
    }
    fewest = lock(tmp_path, packages, ["a"], options=LockOptions(fork_strategy="fewest"))
    assert fewest.versions("a") == {"1.0": None}
    assert fewest.data["tool"]["aspen"]["fork-strategy"] == "fewest"


def test_exclude_newer_leaves_out_later_uploads_and_is_recorded(tmp_path):
    packages = {
        "a": {
            "1.0": {"uploaded": "2023-05-01"},
            "2.0": {"uploaded": "2024-02-01T10:00:00"},
            "3.0": {"uploaded": "2024-03-01"},
        }
    }
    cutoff = parse_cutoff("2024-02-01T10:00:01Z", "test")
    locked = lock(tmp_path, packages, ["a"], options=LockOptions(exclude_newer=cutoff))
    assert locked.versions("a") == {"2.0": None}
    assert locked.data["tool"]["aspen"]["exclude-newer"] == "2024-02-01T10:00:01Z"
    day = parse_cutoff("2024-02-01", "test")  # the day's start: 2.0 came later that day
    assert lock(tmp_path, packages, ["a"], options=LockOptions(exclude_newer=day)).versions(
        "a"
    ) == {"1.0": None}


def test_cutoff_parsing():
    assert parse_cutoff("2024-02-01", "x") == datetime(2024, 2, 1, tzinfo=UTC)
    assert parse_cutoff("2024-02-01T12:00:00+02:00", "x") == datetime(2024, 2, 1, 10, tzinfo=UTC)
    assert parse_cutoff("none", "x") is None
    with pytest.raises(InputError, match="--exclude-newer = 'yesterday'"):
        parse_cutoff("yesterday", "--exclude-newer")


def test_constraint_binds_only_where_the_package_is_needed(tmp_path):
    packages = {
        "a": {"1.0": ["b"]},
        "b": {"1.0": [], "2.0": []},
        "c": {"1.0": []},
    }
    tool = {"constraint-dependencies": ["b<2", "c<1; sys_platform == 'win32'"]}
    locked = lock(tmp_path, packages, ["a"], tool=tool)
    assert locked.versions("b") == {"1.0": None}
    assert locked.versions("c") == {}  # a constraint never adds a package


def test_constraint_with_a_marker(tmp_path):
    packages = {"a": {"1.0": [], "2.0": []}}
    tool = {"constraint-dependencies": ["a<2; sys_platform == 'win32'"]}
    locked = lock(tmp_path, packages, ["a"], tool=tool)
    # One version across platforms weighs more than freshness: no platform fork for it.
    assert locked.versions("a") == {"1.0": None}
    tool = {"constraint-dependencies": ["a<2; python_version < '3.11'"]}
    locked = lock(tmp_path, packages, ["a"], tool=tool)
    assert locked.chosen("a", env("3.10")) == "1.0"
    assert locked.chosen("a", env("3.12", "win32", "AMD64")) == "2.0"


def test_constraint_that_cannot_hold_is_named_in_the_explanation(tmp_path):
    packages = {"a": {"1.0": ["b>=2"]}, "b": {"1.0": [], "2.0": []}}
    with pytest.raises(NoLockError) as caught:
        lock(tmp_path, packages, ["a"], tool={"constraint-dependencies": ["b<2"]})
    message = str(caught.value)
    assert "b<2 (tool.aspen.constraint-dependencies)" in message
    assert "a 1.0 requires b>=2" in message


def test_override_replaces_a_requirement_everywhere(tmp_path):
    packages = {
        "a": {"1.0": ["b<2"]},
        "b": {"1.0": [], "2.0": ["c"]},
        "c": {"1.0": []},
    }
    with pytest.raises(NoLockError):
        lock(tmp_path, packages, ["a", "b>=2"])
    locked = lock(tmp_path, packages, ["a", "b>=2"], tool={"override-dependencies": ["b>=2"]})
    assert locked.versions("b") == {"2.0": None}
    assert locked.versions("c") == {"1.0": None}


def test_override_with_a_marker_applies_only_there(tmp_path):
    packages = {"a": {"1.0": ["b<2"]}, "b": {"1.0": [], "2.0": []}}
    tool = {"override-dependencies": ["b==2.0; sys_platform == 'linux'"]}
    locked = lock(tmp_path, packages, ["a"], tool=tool)
    assert locked.chosen("b", env("3.12")) == "2.0"
    # As in uv: outside the override's marker, the replaced requirement is gone.
    assert locked.chosen("b", env("3.12", "win32", "AMD64")) is None


def test_required_environments_rule_out_versions_without_a_fitting_file(tmp_path):
    linux_only = {"wheel_tag": "py3-none-manylinux_2_17_x86_64"}
    packages = {"a": {"1.0": {"wheel_tag": "py3-none-any"}, "2.0": linux_only}}
    tool = {"required-environments": ["sys_platform == 'darwin'"]}
    # Where another version will do, one with no file for macOS is not chosen anyway (it costs
    # at the top of the objective; without the setting, a>=2 would lock a 2.0 that installs on
    # Linux only); required-environments makes it a rule.
    assert lock(tmp_path, packages, ["a"], tool=tool).versions("a") == {"1.0": None}
    with pytest.raises(NoLockError) as caught:
        lock(tmp_path, packages, ["a>=2"], tool=tool)
    message = str(caught.value)
    assert "demo requires a>=2" in message
    assert "a 2.0 has no file that installs where sys_platform == 'darwin'" in message


def test_objective_costs_are_recorded_in_the_lock(tmp_path):
    locked = lock(tmp_path, LADDER, ["a<2"])
    recorded = locked.data["tool"]["aspen"]["objective"]
    # a 1.1 is rank 2 of a's versions (2.1 is rank 0), b 3.0 is b's newest, and ranks count
    # once per Python interval: 3.9 to 3.14 and 3.15 (and later).
    assert recorded["direct-rank"] == 2 * 7
    assert recorded["transitive-rank"] == 0
    assert recorded["packages"] == 2
    assert list(recorded) == [
        "uninstallable-cells",
        "upgrade-rank",
        "changed-packages",
        "platform-versions",
        "direct-rank",
        "transitive-rank",
        "python-versions",
        "packages",
    ]


def test_settings_are_checked(tmp_path):
    def load(tool: dict) -> object:
        data = {
            "project": {"name": "p", "optional-dependencies": {"cpu": [], "cuda": []}},
            "tool": {"aspen": tool},
        }
        return project_from_dict(data, tmp_path)

    with pytest.raises(InputError, match="tool.aspen.resolution = 'newest'"):
        load({"resolution": "newest"})
    with pytest.raises(InputError, match="tool.aspen.fork-strategy"):
        load({"fork-strategy": "most"})
    with pytest.raises(InputError, match="tool.aspen.exclude-newer"):
        load({"exclude-newer": "soon"})
    with pytest.raises(InputError, match=r"constraint-dependencies\[0\]"):
        load({"constraint-dependencies": ["b >>> 2"]})
    with pytest.raises(InputError, match="names extra 'gpu'"):
        load({"conflicts": [[{"extra": "cpu"}, {"extra": "gpu"}]]})
    with pytest.raises(InputError, match="at least two"):
        load({"conflicts": [[{"extra": "cpu"}]]})
    with pytest.raises(InputError, match="expected"):
        load({"conflicts": [[{"extra": "cpu", "group": "x"}, {"extra": "cuda"}]]})
    project = load({"conflicts": [[{"extra": "cpu"}, {"extra": "cuda"}]], "resolution": "lowest"})
    assert project.settings.resolution == "lowest"


VARIANTS = {
    "torch": {"2.0+cpu": [], "2.0+cu121": ["nvidia-blas"]},
    "nvidia-blas": {"12.1": []},
    "lightning": {"1.0": ["torch>=2"]},
}


def test_conflicting_extras_resolve_in_forks_of_their_own(tmp_path):
    extras = {"cpu": ["torch==2.0+cpu"], "cuda": ["torch==2.0+cu121"]}
    with pytest.raises(NoLockError):
        lock(tmp_path, VARIANTS, ["lightning"], **{"optional-dependencies": extras})
    tool = {"conflicts": [[{"extra": "cpu"}, {"extra": "cuda"}]]}
    locked = lock(tmp_path, VARIANTS, ["lightning"], tool=tool, **{"optional-dependencies": extras})
    linux = env("3.12")
    assert locked.chosen("torch", linux, extras=["cpu"]) == "2.0+cpu"
    assert locked.chosen("torch", linux, extras=["cuda"]) == "2.0+cu121"
    assert locked.chosen("torch", linux) == "2.0+cpu"  # lightning needs one anyway
    assert locked.chosen("nvidia-blas", linux, extras=["cuda"]) == "12.1"
    assert locked.chosen("nvidia-blas", linux, extras=["cpu"]) is None
    assert locked.versions("lightning") == {"1.0": None}
    assert locked.versions("torch") == {
        "2.0+cpu": "'cuda' not in extras",
        "2.0+cu121": "'cuda' in extras",
    }
    assert locked.versions("nvidia-blas") == {"12.1": "'cuda' in extras"}
    paths = render_why("torch", why(load_project(tmp_path), "torch"))
    assert "cuda: torch==2.0+cu121) -> torch 2.0+cpu" not in paths
    assert "cuda: torch==2.0+cu121) -> torch 2.0+cu121" in paths


def test_conflicting_groups(tmp_path):
    groups = {"old": ["lib<2"], "new": ["lib>=2"]}
    packages = {"lib": {"1.0": [], "2.0": []}}
    tool = {"conflicts": [[{"group": "old"}, {"group": "new"}]]}
    locked = lock(tmp_path, packages, [], tool=tool, groups=groups)
    linux = env("3.12")
    assert locked.chosen("lib", linux, groups=["old"]) == "1.0"
    assert locked.chosen("lib", linux, groups=["new"]) == "2.0"
    assert locked.chosen("lib", linux) is None
    assert locked.versions("lib") == {
        "1.0": "'old' in dependency_groups",
        "2.0": "'new' in dependency_groups",
    }


def test_an_override_that_cannot_hold_is_named_in_the_explanation(tmp_path):
    packages = {"a": {"1.0": ["b>=1"]}, "b": {"1.0": [], "2.0": []}}
    tool = {"override-dependencies": ["b==3.0"]}
    with pytest.raises(NoLockError) as caught:
        lock(tmp_path, packages, ["a"], tool=tool)
    message = str(caught.value)
    assert "a 1.0 requires b==3.0 (tool.aspen.override-dependencies)" in message
    assert "no version of b matches ==3.0; nearest: 2.0, 1.0" in message
    with pytest.raises(NoLockError) as caught:
        lock(tmp_path, packages, ["b"], tool=tool)
    message = str(caught.value)
    assert "demo requires b==3.0 (project.dependencies, as tool.aspen.override-dependencies" in (
        message
    )
