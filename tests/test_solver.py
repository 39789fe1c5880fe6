"""Resolver scenarios on in-memory packages: what is chosen, where it forks, and that every lock
passes the independent checker (tests/lockcheck.py) in every environment of the matrix."""

from __future__ import annotations

import itertools
import tomllib
from pathlib import Path

import lockcheck
import pytest
import tomlkit
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from resolver.environments import EnvironmentSpace
from resolver.errors import NoLockError
from resolver.facts import build_facts
from resolver.locker import LockReport, lock_project
from resolver.lockfile import render_lock, same_lock
from resolver.memory_provider import MemoryProvider
from resolver.prior import read_prior
from resolver.project import load_project
from resolver.solve import Solver
from resolver.universe import Universe


class Locked:
    def __init__(self, root: Path, provider: MemoryProvider, text: str, report: LockReport):
        self.root, self.provider, self.text, self.report = root, provider, text, report
        self.data = tomllib.loads(text)

    def versions(self, name: str) -> dict[str, str | None]:
        """version -> marker of every entry for the package."""
        return {p["version"]: p.get("marker") for p in self.data["packages"] if p["name"] == name}

    def chosen(self, name: str, env: dict[str, str], extras=(), groups=()) -> str | None:
        full = {**env, "extras": frozenset(extras), "dependency_groups": frozenset(groups)}
        found = [
            p["version"]
            for p in self.data["packages"]
            if p["name"] == name
            and ("marker" not in p or Marker(p["marker"]).evaluate(full, "lock_file"))
        ]
        assert len(found) <= 1, found
        return found[0] if found else None

    def problems(self) -> list[str]:
        path = self.root / "pylock.toml"

        project = load_project(self.root)

        def requires_dist(name: str, version: str):
            return project.overridden(self.provider.metadata(name, Version(version)).requires_dist)

        pyproject = self.root / "pyproject.toml"
        extras = lockcheck.project_extras(pyproject)
        groups = lockcheck.project_groups(pyproject)
        problems = []
        for sel_extras, sel_groups in [((), ()), *selections(pyproject, extras, groups)]:
            problems += lockcheck.check_lock(
                path,
                requires_dist=requires_dist,
                project_requirements=list(
                    project.overridden(
                        lockcheck.project_requirements(pyproject, sel_extras, sel_groups)
                    )
                ),
                environments=[*lockcheck.ENVIRONMENTS, *lockcheck.FIRST_PATCH_ENVIRONMENTS],
                extras=sel_extras,
                groups=sel_groups,
            )
        return problems


def selections(pyproject: Path, extras, groups) -> list[tuple[list[str], list[str]]]:
    """The largest selections of extras and groups that [tool.aspen] conflicts allow: every
    extra and group, but only one member of each conflicting set (each choice in turn)."""
    conflicts = tomllib.loads(pyproject.read_text()).get("tool", {}).get("aspen", {})
    sets = [
        [(kind, name) for item in members for kind, name in item.items()]
        for members in conflicts.get("conflicts", [])
    ]
    out = []
    for choice in itertools.product(*sets):
        left_out = {m for members in sets for m in members} - set(choice)
        out.append(
            (
                [e for e in extras if ("extra", e) not in left_out],
                [g for g in groups if ("group", g) not in left_out],
            )
        )
    return out


def lock(
    tmp_path: Path,
    packages: dict,
    dependencies=(),
    *,
    keep=False,
    upgrade=None,
    options=None,
    tool=None,
    **project,
) -> Locked:
    """Lock a project with these dependencies against in-memory packages, and check the lock.
    ``keep``: re-lock, keeping the pylock.toml already in tmp_path; ``upgrade``: the
    --upgrade-package map (name -> specifier string); ``options``: LockOptions; ``tool``: the
    [tool.aspen] table."""
    table = {"name": "demo", "version": "0.1", "requires-python": ">=3.9"}
    table["dependencies"] = list(dependencies)
    groups = project.pop("groups", None)
    table.update(project)
    doc = {"project": table}
    if groups:
        doc["dependency-groups"] = groups
    if tool:
        doc["tool"] = {"aspen": tool}
    (tmp_path / "pyproject.toml").write_text(tomlkit.dumps(doc))
    provider = MemoryProvider(packages)
    report = LockReport()
    prior = read_prior(tmp_path / "pylock.toml", warn=print) if keep else None
    wanted = {name: SpecifierSet(spec) for name, spec in (upgrade or {}).items()}
    resolution = lock_project(
        load_project(tmp_path),
        provider,
        options=options,
        report=report,
        warn=lambda m: None,
        prior=prior,
        upgrade=wanted,
    )
    text = render_lock(resolution, prior.text if prior else None)
    (tmp_path / "pylock.toml").write_text(text)
    locked = Locked(tmp_path, provider, text, report)
    assert locked.problems() == []
    return locked


def env(python: str, system: str = "linux", machine: str = "x86_64") -> dict[str, str]:
    for e in [*lockcheck.ENVIRONMENTS]:
        if (
            e["python_version"] == python
            and e["sys_platform"] == system
            and e["platform_machine"] == machine
        ):
            return dict(e)
    raise LookupError((python, system, machine))


def test_newest_versions_and_transitive_requirements(tmp_path):
    locked = lock(
        tmp_path,
        {"a": {"1.0": ["b"], "2.0": ["b>=2"]}, "b": {"1.0": [], "2.0": [], "2.1": []}},
        ["a"],
    )
    assert locked.versions("a") == {"2.0": None}
    assert locked.versions("b") == {"2.1": None}


def test_python_fork_where_a_newer_version_drops_older_pythons(tmp_path):
    locked = lock(
        tmp_path,
        {
            "a": {
                "1.0": [],
                "2.0": {"requires_python": ">=3.11"},
                "3.0": {"requires_python": ">=3.13"},
            }
        },
        ["a"],
    )
    assert locked.chosen("a", env("3.9")) == "1.0"
    assert locked.chosen("a", env("3.10")) == "1.0"
    assert locked.chosen("a", env("3.11")) == "2.0"
    assert locked.chosen("a", env("3.12", "win32", "AMD64")) == "2.0"
    assert locked.chosen("a", env("3.14", "darwin", "arm64")) == "3.0"


def test_platform_fork_only_where_requirements_force_it(tmp_path):
    locked = lock(
        tmp_path,
        {"a": {"1.0": [], "1.5": [], "2.0": [], "2.5": []}},
        ["a>=2; sys_platform == 'linux'", "a<2; sys_platform == 'darwin'"],
    )
    assert locked.chosen("a", env("3.12")) == "2.5"
    assert locked.chosen("a", env("3.12", "darwin", "arm64")) == "1.5"
    # Windows has no requirement on a at all.
    assert locked.chosen("a", env("3.12", "win32", "AMD64")) is None


def test_one_version_across_platforms_beats_a_newer_one_on_some(tmp_path):
    # On Windows, c forces b<2, so a must be 1.0 there. A fork would give Linux and macOS a 2.0;
    # the objective prefers the same a everywhere (DESIGN.md, level 3).
    locked = lock(
        tmp_path,
        {
            "a": {"1.0": ["b<2"], "2.0": ["b>=2"]},
            "b": {"1.0": [], "2.0": []},
            "c": {"1.0": ["b<2"]},
        },
        ["a", "c; sys_platform == 'win32'"],
    )
    assert locked.versions("a") == {"1.0": None}
    assert locked.versions("b") == {"1.0": None}


def test_markers_correlate_os_variables(tmp_path):
    locked = lock(
        tmp_path,
        {"w": {"1.0": []}, "p": {"1.0": []}},
        ["w; os_name == 'nt'", "p; platform_system == 'Darwin'"],
    )
    assert locked.chosen("w", env("3.12", "win32", "AMD64")) == "1.0"
    assert locked.chosen("w", env("3.12")) is None
    assert locked.chosen("p", env("3.12", "darwin", "arm64")) == "1.0"
    assert locked.chosen("p", env("3.12", "win32", "AMD64")) is None


def test_extras_of_dependencies_and_of_the_project(tmp_path):
    packages = {
        "a": {"1.0": {"requires": [], "extras": {"fast": ["speedup>=2"]}}},
        "speedup": {"1.0": [], "2.0": []},
        "tool": {"1.0": []},
        "pytest": {"8.0": []},
    }
    locked = lock(
        tmp_path,
        packages,
        ["a[fast]"],
        **{"optional-dependencies": {"cli": ["tool"]}},
        groups={"test": ["pytest"]},
    )
    assert locked.versions("speedup") == {"2.0": None}
    assert locked.versions("tool") == {"1.0": "'cli' in extras"}
    assert locked.versions("pytest") == {"8.0": "'test' in dependency_groups"}
    assert locked.data["extras"] == ["cli"]
    assert locked.data["dependency-groups"] == ["test"]


def test_unrequested_extras_are_not_followed(tmp_path):
    packages = {"a": {"1.0": {"requires": [], "extras": {"docs": ["missing-package"]}}}}
    locked = lock(tmp_path, packages, ["a"])
    assert [p["name"] for p in locked.data["packages"]] == ["a"]


def test_pre_releases_follow_pep_440_by_default(tmp_path):
    packages = {
        "a": {"1.0": [], "2.0b1": []},
        "onlypre": {"0.1a1": [], "0.1a2": []},
        "b": {"1.0": [], "2.0rc1": []},
    }
    locked = lock(tmp_path, packages, ["a", "onlypre", "b>=2.0rc1"])
    assert locked.versions("a") == {"1.0": None}
    assert locked.versions("onlypre") == {"0.1a2": None}
    assert locked.versions("b") == {"2.0rc1": None}


def test_yanked_versions_only_when_pinned(tmp_path):
    packages = {
        "a": {"1.0": [], "1.1": {"requires": [], "yanked": "broken"}},
        "b": {"1.0": [], "1.1": {"requires": [], "yanked": ""}},
    }
    locked = lock(tmp_path, packages, ["a", "b==1.1"])
    assert locked.versions("a") == {"1.0": None}
    assert locked.versions("b") == {"1.1": None}


def test_a_yanked_pin_in_a_dependency_does_not_count(tmp_path):
    packages = {"a": {"1.0": ["b==1.1"]}, "b": {"1.0": [], "1.1": {"requires": [], "yanked": ""}}}
    with pytest.raises(NoLockError):
        lock(tmp_path, packages, ["a"])


def test_local_and_post_versions(tmp_path):
    packages = {"a": {"1.0": [], "1.0.post1": [], "1.0+local": []}, "b": {"2.0": [], "2.0+cpu": []}}
    locked = lock(tmp_path, packages, ["a==1.0", "b==2.0+cpu"])
    assert locked.versions("a") == {"1.0+local": None}
    assert locked.versions("b") == {"2.0+cpu": None}


def test_no_lock_when_requirements_clash(tmp_path):
    packages = {"a": {"1.0": ["c<2"]}, "b": {"1.0": ["c>=2"]}, "c": {"1.0": [], "2.0": []}}
    with pytest.raises(NoLockError) as caught:
        lock(tmp_path, packages, ["a", "b"])
    assert caught.value.exit_code == 1


def test_no_lock_names_a_package_missing_from_the_index(tmp_path):
    with pytest.raises(NoLockError, match="nothere"):
        lock(tmp_path, {"a": {"1.0": ["nothere"]}}, ["a"])


def test_window_widens_when_newer_versions_cannot_be_used(tmp_path):
    # Every a >= 3 needs a package that does not exist, so the newest usable a is 1.9. The solver
    # learns it through the outside-the-window pseudo-version and widens the window step by step,
    # without fetching the metadata of the older 1.x versions it does not need.
    a = {f"3.{minor}": ["ghost"] for minor in range(5)}
    a.update({f"1.{minor}": [] for minor in range(10)})
    locked = lock(tmp_path, {"a": a}, ["a"])
    assert locked.versions("a") == {"1.9": None}
    assert locked.report.rounds > 1
    fetched = {v for n, v in locked.provider.metadata_calls if n == "a"}
    assert Version("1.0") not in fetched
    assert len(fetched) < len(a)


def test_same_input_gives_the_same_bytes(tmp_path):
    packages = {
        "a": {"1.0": [], "2.0": {"requires_python": ">=3.11"}},
        "b": {"1.0": ["a"], "1.1": ["a; sys_platform != 'win32'"]},
    }
    texts = []
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        texts.append(lock(tmp_path / name, packages, ["b"]).text)
    assert texts[0] == texts[1]


def test_pypy_only_requirements_are_locked_for_pypy(tmp_path):
    locked = lock(
        tmp_path,
        {
            "a": {
                "1.0": [
                    "fast; implementation_name == 'cpython'",
                    "slow; implementation_name == 'pypy'",
                ]
            },
            "fast": {"1.0": []},
            "slow": {"1.0": []},
        },
        ["a"],
    )
    assert locked.versions("fast") == {"1.0": "implementation_name == 'cpython'"}
    assert locked.versions("slow") == {"1.0": "implementation_name == 'pypy'"}


def test_the_project_may_require_its_own_extras(tmp_path):
    locked = lock(
        tmp_path,
        {"a": {"1.0": []}, "b": {"1.0": []}, "pytest": {"8.0": []}},
        [],
        **{
            "optional-dependencies": {
                "a": ["a"],
                "b": ["b; sys_platform == 'linux'"],
                "all": ["demo[a,b]"],
            }
        },
        groups={"test": ["pytest", "demo[a]"]},
    )
    assert locked.versions("a") == {
        "1.0": "'a' in extras or 'all' in extras or 'test' in dependency_groups"
    }
    assert locked.versions("b") == {
        "1.0": "('all' in extras or 'b' in extras) and sys_platform == 'linux'"
    }


# -- re-locking (issue 3) -----------------------------------------------------------------------

OLD = {
    "a": {"1.0": ["b>=1"]},
    "b": {"1.0": []},
    "c": {"1.0": ["b"]},
}
NEW = {
    "a": {"1.0": ["b>=1"], "2.0": ["b>=2"]},
    "b": {"1.0": [], "2.0": []},
    "c": {"1.0": ["b"], "1.1": ["b>=2"]},
    "d": {"1.0": ["b"], "2.0": ["b>=2"]},
}


def test_relock_keeps_the_lock_byte_for_byte_when_newer_versions_appear(tmp_path):
    first = lock(tmp_path, OLD, ["a", "c"])
    again = lock(tmp_path, NEW, ["a", "c"], keep=True)
    assert again.text == first.text


def test_adding_a_dependency_moves_only_what_must_move(tmp_path):
    lock(tmp_path, OLD, ["a", "c"])
    added = lock(tmp_path, NEW, ["a", "c", "d"], keep=True)
    # d's newest needs b>=2; keeping a, b and c (one change fewer) wins over a fresher d.
    assert added.versions("a") == {"1.0": None}
    assert added.versions("b") == {"1.0": None}
    assert added.versions("c") == {"1.0": None}
    assert added.versions("d") == {"1.0": None}
    forced = lock(tmp_path, NEW, ["a", "c", "d>=2"], keep=True)
    assert forced.versions("b") == {"2.0": None}  # must move
    assert forced.versions("a") == {"1.0": None}  # need not
    assert forced.versions("c") == {"1.0": None}


def test_add_then_remove_gives_back_the_original_bytes(tmp_path):
    first = lock(tmp_path, OLD, ["a", "c"])
    lock(tmp_path, NEW, ["a", "c", "d>=2"], keep=True)
    back = lock(tmp_path, NEW, ["a", "c"], keep=True)
    assert back.versions("b") == {"2.0": None}  # b moved for d and stays where it is now
    # The lock is only the same bytes again where nothing had to move: check that case too.
    lock(tmp_path, OLD, ["a", "c"])
    lock(tmp_path, NEW, ["a", "c", "d"], keep=True)
    again = lock(tmp_path, NEW, ["a", "c"], keep=True).text
    # Same entries, same bytes but for the recorded costs: NEW has versions OLD had not, so
    # the ranks of the kept versions (their staleness) grew.
    assert same_lock(again, first.text)
    assert again.split("[tool.aspen")[0] == first.text.split("[tool.aspen")[0]


def test_upgrade_everything_ignores_the_lock(tmp_path):
    lock(tmp_path, OLD, ["a", "c"])
    fresh = lock(tmp_path, NEW, ["a", "c"])
    assert fresh.versions("a") == {"2.0": None}
    assert fresh.versions("c") == {"1.1": None}


def test_upgrade_package_moves_it_and_only_what_must_follow(tmp_path):
    lock(tmp_path, OLD, ["a", "c"])
    moved = lock(tmp_path, NEW, ["a", "c"], keep=True, upgrade={"a": ""})
    assert moved.versions("a") == {"2.0": None}
    assert moved.versions("b") == {"2.0": None}  # a 2.0 needs it
    assert moved.versions("c") == {"1.0": None}  # c could move to 1.1 but need not
    pinned = lock(tmp_path, NEW, ["a", "c"], keep=True, upgrade={"c": "==1.1"})
    assert pinned.versions("c") == {"1.1": None}


def test_a_locked_version_that_disappeared_is_replaced(tmp_path):
    lock(tmp_path, OLD, ["a", "c"])
    gone = {**NEW, "b": {"2.0": []}}
    relocked = lock(tmp_path, gone, ["a", "c"], keep=True)
    assert relocked.versions("b") == {"2.0": None}
    assert relocked.versions("a") == {"1.0": None}


def test_platforms_beyond_the_usual_ones_that_markers_name(tmp_path):
    locked = lock(
        tmp_path,
        {"a": {"1.0": [], "2.0": []}, "b": {"1.0": []}},
        [
            "a>=2; sys_platform == 'illumos'",
            "a<2; sys_platform == 'os2'",
            "b; platform_machine == 'i686'",
        ],
    )
    assert locked.versions("a") == {
        "1.0": "sys_platform == 'os2'",
        "2.0": "sys_platform == 'illumos'",
    }
    assert locked.versions("b") == {"1.0": "sys_platform == 'linux' and platform_machine == 'i686'"}
    with pytest.raises(NoLockError):
        lock(
            tmp_path,
            {"a": {"1.0": [], "2.0": []}},
            ["a>=2; sys_platform == 'os2'", "a<2; sys_platform == 'os2'"],
        )


def test_a_version_that_installs_nowhere_is_passed_over(tmp_path):
    # packse local-not-latest: the newest version has only a wheel for an old Mac CPU.
    packages = {
        "a": {"1.2.1+foo": [], "1.2.3": {"requires": [], "wheel_tag": "py3-none-macosx_10_0_ppc64"}}
    }
    locked = lock(tmp_path, packages, ["a"])
    assert locked.versions("a") == {"1.2.1+foo": None}


def test_a_windows_only_wheel_does_not_split_the_platforms(tmp_path):
    # a 2.0 installs on Windows only. Installable everywhere comes first, and one version
    # across platforms before freshness: 1.0 everywhere, not 2.0 on Windows and 1.0 elsewhere.
    packages = {
        "a": {"1.0": [], "2.0": {"requires": [], "wheel_tag": "py3-none-win_amd64"}},
    }
    locked = lock(tmp_path, packages, ["a"])
    assert locked.versions("a") == {"1.0": None}
    # Where Windows alone needs a, its newest Windows wheel is taken.
    locked = lock(tmp_path, packages, ["a; sys_platform == 'win32'"])
    assert locked.versions("a") == {"2.0": "sys_platform == 'win32'"}


def test_upgrade_package_moves_provably_few_others(tmp_path):
    # The optimum moves one other package (b, which a 2.0 needs). With a at its newest version,
    # re-solving with that change forbidden must be impossible, and with one more allowed
    # possible.
    lock(tmp_path, OLD, ["a", "c"])
    prior = read_prior(tmp_path / "pylock.toml", warn=print)
    moved = lock(tmp_path, NEW, ["a", "c"], keep=True, upgrade={"a": ""})
    assert moved.versions("a") == {"2.0": None} and moved.versions("b") == {"2.0": None}
    project = load_project(tmp_path)
    space = EnvironmentSpace.build(SpecifierSet(">=3.9"))

    def solvable_with_fewer_than(limit: int) -> bool:
        universe = Universe(
            project, MemoryProvider(NEW), space, prior=prior, upgrade={"a": SpecifierSet()}
        )
        universe.collect()
        solver = Solver(build_facts(universe))
        solver.ground_objective()  # changed/1
        # (A version available in every class of its package is an avail_all fact.)
        newest = (
            "may(P,W) :- avail(P,W,_). may(P,W) :- avail_all(P,W)."
            ":- upgrade(P), sel(P,V,_), may(P,W), W < V."
        )
        solver.ctl.add("limit", [], f"{newest} :- #count {{ P : changed(P) }} >= {limit}.")
        solver.ctl.ground([("limit", [])])
        return solver.fits_windows()

    assert not solvable_with_fewer_than(1)
    assert solvable_with_fewer_than(2)


def test_a_package_forks_where_only_its_dependencies_differ(tmp_path):
    # No requirement on q has a marker, yet no single q works everywhere: y must be 1 on
    # Windows and 2 elsewhere, and each q pins one y. Packages first get one version per class
    # of environments that the requirements on them tell apart; when that leaves no lock, the
    # locker lets every package fork on every marker, and q forks.
    locked = lock(
        tmp_path,
        {
            "q": {"1.0": ["y==1"], "2.0": ["y==2"]},
            "y": {"1.0": [], "2.0": []},
            "z": {"1.0": ["y==1; sys_platform == 'win32'", "y==2; sys_platform != 'win32'"]},
        },
        ["q", "z"],
    )
    assert locked.report.fine
    assert locked.chosen("q", env("3.12", "win32", "AMD64")) == "1.0"
    assert locked.chosen("q", env("3.12")) == "2.0"
    assert locked.chosen("y", env("3.12", "darwin", "arm64")) == "2.0"


def test_a_package_forks_by_python_where_a_dependency_does(tmp_path):
    # a 2.0 needs b>=2, which runs on 3.11 and later only; nothing about a itself changes with
    # Python. Older Pythons keep the newest a they can run; the others get a 2.0.
    locked = lock(
        tmp_path,
        {
            "a": {"1.0": ["b"], "2.0": ["b>=2"]},
            "b": {"1.0": [], "2.0": {"requires_python": ">=3.11"}},
        },
        ["a"],
    )
    assert not locked.report.fine
    assert locked.chosen("a", env("3.10")) == "1.0"
    assert locked.chosen("a", env("3.11", "win32", "AMD64")) == "2.0"
    assert locked.chosen("b", env("3.10")) == "1.0"


def test_classes_follow_the_requirements_on_each_package(tmp_path):
    # Only c is told apart by platform (its requirement is for Windows); a and b keep one class
    # per Python interval that something in their closure separates (b's Requires-Python), and
    # c, required by a, is split where a is too.
    provider = MemoryProvider(
        {
            "a": {"1.0": ["b", "c; sys_platform == 'win32'"]},
            "b": {"1.0": [], "2.0": {"requires_python": ">=3.12"}},
            "c": {"1.0": []},
        }
    )
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
        'dependencies = ["a"]\n'
    )
    project = load_project(tmp_path)
    space = EnvironmentSpace.build(project.requires_python)
    universe = Universe(project, provider, space, warn=lambda m: None)
    universe.collect()
    facts = build_facts(universe)
    count = {name: len(facts.classes[pid]) for name, pid in facts.package_ids.items()}
    assert count == {"demo": 1, "a": 2, "b": 2, "c": 4}
    for c_class in facts.classes[facts.package_ids["c"]]:
        assert len({cell.platform.sys_platform == "win32" for cell in c_class.cells}) == 1
        assert len({cell.python_low >= Version("3.12") for cell in c_class.cells}) == 1
    fine = build_facts(universe, fine=True)
    assert {len(classes) for classes in fine.classes.values()} == {4}
