"""Hermetic tests of the lock checker (tests/lockcheck.py) on hand-written pylock.toml files."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag

sys.path.insert(0, str(Path(__file__).parent))

import lockcheck as lc  # noqa: E402

# A small index: the dependencies each released version declares.
INDEX: dict[tuple[str, str], list[str]] = {
    ("app-core", "1.0"): ["helper>=2", "oldpy; python_version < '3.10'"],
    ("app-core", "2.0"): ["helper>=2"],
    ("helper", "1.5"): [],
    ("helper", "2.1"): [],
    ("oldpy", "1.0"): [],
    ("colorama", "0.4.6"): [],
    ("speedups", "1.0"): ["cffi-lite>=1; extra == 'c'", "helper"],
    ("cffi-lite", "1.0"): [],
    ("pytest-lite", "1.0"): ["helper>=2.1"],
    ("unused", "1.0"): [],
}
PUBLISHED_REQUIRES_PYTHON = {("app-core", "2.0"): ">=3.10"}


def requires_dist(name: str, version: str) -> list[Requirement]:
    return [Requirement(s) for s in INDEX[(name, version)]]


def published_requires_python(name: str, version: str) -> SpecifierSet | None:
    rp = PUBLISHED_REQUIRES_PYTHON.get((name, version))
    return SpecifierSet(rp) if rp else None


def project(extras: tuple[str, ...], groups: tuple[str, ...]) -> list[str]:
    reqs = ["app-core>=1.0", "colorama>=0.4; sys_platform == 'win32'"]
    if "fast" in extras:
        reqs.append("speedups[c]")
    if "test" in groups:
        reqs.append("pytest-lite")
    return reqs


HEADER = """\
lock-version = "1.0"
created-by = "hand"
requires-python = ">=3.9"
extras = ["fast"]
dependency-groups = ["test"]
default-groups = ["test"]
"""

FILES = "https://files.example/packages"


def file(filename: str) -> str:
    """An inline table for one file (the hash is a stand-in: nothing is downloaded)."""
    digest = hashlib.sha256(filename.encode()).hexdigest()
    return f'{{ url = "{FILES}/{filename}", hashes = {{ sha256 = "{digest}" }} }}'


def pure(name: str, version: str) -> str:
    stem = name.replace("-", "_")
    return f"wheels = [{file(f'{stem}-{version}-py3-none-any.whl')}]"


CFFI_WHEELS = [
    "cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64",
    "cp39-abi3-manylinux_2_17_aarch64.manylinux2014_aarch64",
    "cp39-abi3-macosx_11_0_arm64",
    "cp39-abi3-win_amd64",
]


def cffi_wheels(tags: list[str]) -> str:
    urls = ", ".join(file(f"cffi_lite-1.0-{t}.whl") for t in tags)
    return f"wheels = [{urls}]"


def base_packages() -> dict[str, str]:
    """The consistent lock, one TOML block per entry (keyed for the tests to edit)."""
    return {
        "app-core-1": f"""
name = "app-core"
version = "1.0"
marker = "python_version < '3.10'"
requires-python = ">=3.9"
{pure("app-core", "1.0")}
""",
        "app-core-2": f"""
name = "app-core"
version = "2.0"
marker = "python_version >= '3.10'"
requires-python = ">=3.10"
{pure("app-core", "2.0")}
""",
        "helper": f"""
name = "helper"
version = "2.1"
{pure("helper", "2.1")}
""",
        "oldpy": f"""
name = "oldpy"
version = "1.0"
marker = "python_version < '3.10'"
{pure("oldpy", "1.0")}
""",
        "colorama": f"""
name = "colorama"
version = "0.4.6"
marker = "sys_platform == 'win32'"
{pure("colorama", "0.4.6")}
""",
        "speedups": f"""
name = "speedups"
version = "1.0"
marker = "'fast' in extras"
{pure("speedups", "1.0")}
""",
        "cffi-lite": f"""
name = "cffi-lite"
version = "1.0"
marker = "'fast' in extras"
{cffi_wheels(CFFI_WHEELS)}
""",
        "pytest-lite": f"""
name = "pytest-lite"
version = "1.0"
marker = "'test' in dependency_groups"
{pure("pytest-lite", "1.0")}
""",
    }


def write_lock(tmp_path: Path, packages: dict[str, str], header: str = HEADER) -> Path:
    path = tmp_path / "pylock.toml"
    path.write_text(header + "".join(f"\n[[packages]]{block}" for block in packages.values()))
    return path


def check(lock: Path, **kwargs: object) -> list[str]:
    kwargs.setdefault("requires_dist", requires_dist)
    kwargs.setdefault("project_requirements", project)
    kwargs.setdefault("requires_python", ">=3.9")
    return lc.check_lock(lock, **kwargs)  # type: ignore[arg-type]


SELECTIONS = [
    pytest.param((), (), id="nothing"),
    pytest.param(("fast",), ("test",), id="all"),
    pytest.param(("fast",), None, id="fast+default-groups"),
    pytest.param((), None, id="default-groups"),
]


def lines_with(problems: list[str], *words: str) -> list[str]:
    return [p for p in problems if all(w in p for w in words)]


# ---------------------------------------------------------------------------------------
# The environment matrix
# ---------------------------------------------------------------------------------------


def test_matrix_has_24_consistent_environments() -> None:
    assert len(lc.ENVIRONMENTS) == 24
    assert len({lc.env_label(e) for e in lc.ENVIRONMENTS}) == 24
    correlated = {
        "linux": ("Linux", "posix"),
        "darwin": ("Darwin", "posix"),
        "win32": ("Windows", "nt"),
    }
    for env in lc.ENVIRONMENTS + lc.FIRST_PATCH_ENVIRONMENTS:
        assert (env["platform_system"], env["os_name"]) == correlated[env["sys_platform"]]
        assert env["python_full_version"].startswith(env["python_version"] + ".")
        assert env["implementation_name"] == "cpython"
        assert env["platform_python_implementation"] == "CPython"
    machines = {(e["sys_platform"], e["platform_machine"]) for e in lc.ENVIRONMENTS}
    assert machines == {
        ("linux", "x86_64"),
        ("linux", "aarch64"),
        ("darwin", "arm64"),
        ("win32", "AMD64"),
    }
    assert {e["python_version"] for e in lc.ENVIRONMENTS} == {
        "3.9", "3.10", "3.11", "3.12", "3.13", "3.14",
    }  # fmt: skip
    assert {e["python_full_version"] for e in lc.FIRST_PATCH_ENVIRONMENTS} == {
        "3.9.0", "3.10.0", "3.11.0", "3.12.0", "3.13.0", "3.14.0",
    }  # fmt: skip


def test_environment_tags() -> None:
    by_label = {lc.env_label(e): e for e in lc.ENVIRONMENTS}
    linux = set(lc.env_tags(by_label["py3.12.12 linux-x86_64"]))
    assert Tag("cp312", "cp312", "manylinux_2_28_x86_64") in linux
    assert Tag("cp39", "abi3", "manylinux2014_x86_64") in linux
    assert Tag("py3", "none", "any") in linux
    assert Tag("cp312", "cp312", "manylinux_2_34_x86_64") not in linux  # glibc 2.28 assumed
    assert Tag("cp311", "cp311", "manylinux_2_17_x86_64") not in linux
    assert not any("aarch64" in t.platform or "win" in t.platform for t in linux)
    mac = set(lc.env_tags(by_label["py3.12.12 macos-arm64"]))
    assert Tag("cp312", "cp312", "macosx_11_0_arm64") in mac
    assert Tag("cp312", "cp312", "macosx_10_13_universal2") in mac
    assert Tag("cp312", "cp312", "macosx_14_0_arm64") not in mac  # macOS 13 assumed
    assert Tag("cp312", "cp312", "macosx_10_13_x86_64") not in mac
    win = set(lc.env_tags(by_label["py3.9.25 windows-x86_64"]))
    assert Tag("cp39", "cp39", "win_amd64") in win
    assert Tag("cp39", "cp39", "win32") not in win


# ---------------------------------------------------------------------------------------
# A consistent lock passes
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("extras", "groups"), SELECTIONS)
def test_consistent_lock_has_no_problems(tmp_path: Path, extras, groups) -> None:
    lock = write_lock(tmp_path, base_packages())
    for envs in (lc.ENVIRONMENTS, lc.FIRST_PATCH_ENVIRONMENTS):
        problems = check(
            lock,
            extras=extras,
            groups=groups,
            environments=envs,
            package_requires_python=published_requires_python,
        )
        assert problems == []


def test_applying_entries_follow_markers(tmp_path: Path) -> None:
    lock = lc._read_lock(write_lock(tmp_path, base_packages()))
    envs = {lc.env_label(e): e for e in lc.ENVIRONMENTS}

    def names(label: str, **kw: object) -> set[str]:
        entries = lc.applying_entries(lock, envs[label], **kw)  # type: ignore[arg-type]
        return {f"{p.name}=={p.version}" for p in entries}

    assert names("py3.9.25 linux-x86_64", groups=()) == {
        "app-core==1.0",
        "helper==2.1",
        "oldpy==1.0",
    }
    assert names("py3.13.9 windows-x86_64", extras=("fast",)) == {
        "app-core==2.0",
        "helper==2.1",
        "colorama==0.4.6",
        "speedups==1.0",
        "cffi-lite==1.0",
        "pytest-lite==1.0",  # a default group
    }


# ---------------------------------------------------------------------------------------
# Each kind of inconsistency is found, named, and placed in the right environments
# ---------------------------------------------------------------------------------------


def test_missing_dependency(tmp_path: Path) -> None:
    packages = base_packages()
    del packages["helper"]
    problems = check(write_lock(tmp_path, packages), groups=())
    missing = lines_with(problems, "requires 'helper>=2'", "no entry for helper applies")
    assert {p.split(":")[0] for p in missing} == {lc.env_label(e) for e in lc.ENVIRONMENTS}
    assert lines_with(problems, "py3.9.25 linux-x86_64: app-core 1.0 requires 'helper>=2'")
    assert lines_with(problems, "py3.12.12 macos-arm64: app-core 2.0 requires 'helper>=2'")


def test_missing_platform_dependency(tmp_path: Path) -> None:
    packages = base_packages()
    del packages["colorama"]
    problems = check(write_lock(tmp_path, packages), groups=())
    assert problems
    assert all("windows-x86_64: the project requires 'colorama" in p for p in problems)
    assert len(problems) == 6


def test_missing_dependency_of_an_extra(tmp_path: Path) -> None:
    packages = base_packages()
    del packages["cffi-lite"]
    lock = write_lock(tmp_path, packages)
    assert check(lock, extras=(), groups=()) == []
    problems = check(lock, extras=("fast",), groups=())
    assert len(problems) == 24
    assert all("speedups 1.0 [c] requires 'cffi-lite>=1" in p for p in problems)


def test_extra_of_a_dependency_is_only_followed_when_requested(tmp_path: Path) -> None:
    def project_without_c(extras, groups):
        return [r.replace("speedups[c]", "speedups") for r in project(extras, groups)]

    lock = write_lock(tmp_path, base_packages())
    problems = check(lock, extras=("fast",), groups=(), project_requirements=project_without_c)
    assert len(problems) == 24
    assert all("cffi-lite 1.0: unreachable" in p for p in problems)


def test_two_versions_apply_in_one_environment(tmp_path: Path) -> None:
    packages = base_packages()
    packages["app-core-2"] = packages["app-core-2"].replace(
        "marker = \"python_version >= '3.10'\"", "marker = \"python_version >= '3.9'\""
    )
    problems = check(write_lock(tmp_path, packages), groups=())
    doubled = lines_with(problems, "app-core: 2 entries apply (1.0, 2.0)")
    assert {p.split(":")[0] for p in doubled} == {
        lc.env_label(e) for e in lc.ENVIRONMENTS if e["python_version"] == "3.9"
    }
    # app-core 2.0 does not run on 3.9 either
    assert lines_with(problems, "py3.9.25", "app-core 2.0: requires-python '>=3.10'")
    assert not lines_with(problems, "py3.10")


def test_unreachable_entry(tmp_path: Path) -> None:
    packages = base_packages()
    packages["unused"] = f'\nname = "unused"\nversion = "1.0"\n{pure("unused", "1.0")}\n'
    problems = check(write_lock(tmp_path, packages), groups=())
    assert len(problems) == 24
    assert all("unused 1.0: unreachable" in p for p in problems)


def test_entry_applying_outside_its_extra_is_unreachable(tmp_path: Path) -> None:
    packages = base_packages()
    packages["speedups"] = packages["speedups"].replace("marker = \"'fast' in extras\"\n", "")
    lock = write_lock(tmp_path, packages)
    assert check(lock, extras=("fast",), groups=()) == []
    problems = check(lock, extras=(), groups=())
    assert len(problems) == 24
    assert all("speedups 1.0: unreachable" in p for p in problems)


def test_platform_entry_applying_everywhere_is_unreachable_elsewhere(tmp_path: Path) -> None:
    packages = base_packages()
    packages["colorama"] = packages["colorama"].replace(
        "marker = \"sys_platform == 'win32'\"\n", ""
    )
    problems = check(write_lock(tmp_path, packages), groups=())
    assert len(problems) == 18
    assert all("colorama 0.4.6: unreachable" in p and "windows" not in p for p in problems)


def test_group_entry_without_group_marker(tmp_path: Path) -> None:
    packages = base_packages()
    packages["pytest-lite"] = packages["pytest-lite"].replace(
        "marker = \"'test' in dependency_groups\"\n", ""
    )
    lock = write_lock(tmp_path, packages)
    assert check(lock, groups=("test",)) == []
    assert check(lock, groups=None) == []  # default-groups = ["test"]
    problems = check(lock, groups=())
    assert len(problems) == 24
    assert all("pytest-lite 1.0: unreachable" in p for p in problems)


def test_version_violating_a_specifier(tmp_path: Path) -> None:
    packages = base_packages()
    packages["helper"] = packages["helper"].replace("2.1", "1.5")
    problems = check(write_lock(tmp_path, packages), groups=())
    bad = lines_with(problems, "requires 'helper>=2' but the applying helper 1.5 does not satisfy")
    assert len(bad) == 24
    assert len(problems) == 24
    # the group's own requirement is checked too
    problems = check(write_lock(tmp_path, packages), groups=("test",))
    assert len(lines_with(problems, "pytest-lite 1.0 requires 'helper>=2.1'")) == 24


def test_wrong_requires_python_in_the_lock(tmp_path: Path) -> None:
    packages = base_packages()
    packages["app-core-2"] = packages["app-core-2"].replace(
        'requires-python = ">=3.10"', 'requires-python = ">=3.11"'
    )
    problems = check(write_lock(tmp_path, packages), groups=())
    assert len(problems) == 4
    assert all(
        p.startswith("py3.10.19 ")
        and "app-core 2.0: requires-python '>=3.11' (in the lock) excludes python 3.10.19" in p
        for p in problems
    )


def test_published_requires_python_is_checked_when_the_lock_omits_it(tmp_path: Path) -> None:
    packages = base_packages()
    packages["app-core-2"] = (
        packages["app-core-2"]
        .replace('requires-python = ">=3.10"\n', "")
        .replace("marker = \"python_version >= '3.10'\"", "marker = \"python_version >= '3.9'\"")
    )
    del packages["app-core-1"]
    del packages["oldpy"]
    lock = write_lock(tmp_path, packages)
    assert check(lock, groups=()) == []  # the lock alone does not show it
    problems = check(lock, groups=(), package_requires_python=published_requires_python)
    assert len(problems) == 4
    assert all("app-core 2.0: requires-python '>=3.10' (published) excludes" in p for p in problems)


def test_lock_requires_python_narrower_than_the_project(tmp_path: Path) -> None:
    lock = write_lock(
        tmp_path,
        base_packages(),
        HEADER.replace('requires-python = ">=3.9"', 'requires-python = ">=3.10"'),
    )
    problems = check(lock, groups=())
    assert len(problems) == 4
    assert all("lock requires-python '>=3.10' excludes" in p for p in problems)
    # without the project's requires-python the lock's own range decides what is judged
    assert check(lock, groups=(), requires_python=None) == []


def test_no_compatible_wheel(tmp_path: Path) -> None:
    packages = base_packages()
    no_windows = [t for t in CFFI_WHEELS if "win" not in t]
    packages["cffi-lite"] = packages["cffi-lite"].replace(
        cffi_wheels(CFFI_WHEELS), cffi_wheels(no_windows)
    )
    lock = write_lock(tmp_path, packages)
    assert check(lock, extras=(), groups=()) == []
    problems = check(lock, extras=("fast",), groups=())
    assert len(problems) == 6
    assert all(
        "windows-x86_64: cffi-lite 1.0: no compatible wheel for this platform" in p
        for p in problems
    )

    # an sdist makes it installable, unless sdists are refused
    packages["cffi-lite"] += f"sdist = {file('cffi_lite-1.0.tar.gz')}\n"
    lock = write_lock(tmp_path, packages)
    assert check(lock, extras=("fast",), groups=()) == []
    problems = check(lock, extras=("fast",), groups=(), allow_sdist=False)
    assert len(problems) == 6
    assert all("only the sdist" in p for p in problems)


def test_wheel_for_a_newer_macos_does_not_count(tmp_path: Path) -> None:
    packages = base_packages()
    tags = [t.replace("macosx_11_0_arm64", "macosx_14_0_arm64") for t in CFFI_WHEELS]
    packages["cffi-lite"] = packages["cffi-lite"].replace(
        cffi_wheels(CFFI_WHEELS), cffi_wheels(tags)
    )
    problems = check(write_lock(tmp_path, packages), extras=("fast",), groups=())
    assert len(problems) == 6
    assert all("macos-arm64: cffi-lite 1.0: no compatible wheel" in p for p in problems)


def test_requested_extra_or_group_missing_from_the_lock(tmp_path: Path) -> None:
    header = HEADER.replace('extras = ["fast"]\n', "").replace('dependency-groups = ["test"]\n', "")
    header = header.replace('default-groups = ["test"]\n', "")
    problems = check(
        write_lock(tmp_path, base_packages(), header), extras=("fast",), groups=("test",)
    )
    assert "lock: extra 'fast' is not listed in the lock's extras" in problems
    assert "lock: group 'test' is not listed in the lock's dependency-groups" in problems


def test_lock_environments_must_cover_the_matrix(tmp_path: Path) -> None:
    header = HEADER + "environments = [\"sys_platform != 'win32'\"]\n"
    problems = check(write_lock(tmp_path, base_packages(), header), groups=())
    assert len(problems) == 6
    assert all("windows-x86_64: not covered by the lock's environments" in p for p in problems)
    linux_only = [e for e in lc.ENVIRONMENTS if e["sys_platform"] == "linux"]
    lock = write_lock(tmp_path, base_packages(), header)
    assert check(lock, groups=(), environments=linux_only) == []


def test_invalid_lock_is_a_problem(tmp_path: Path) -> None:
    packages = base_packages()
    packages["helper"] = packages["helper"].replace("helper-2.1-py3", "helper-2.0-py3")
    problems = check(write_lock(tmp_path, packages))
    assert len(problems) == 1
    assert problems[0].startswith("lock: cannot read")
    assert "not consistent with package version" in problems[0]
    (tmp_path / "pylock.toml").write_text("lock-version = \n")
    assert check(tmp_path / "pylock.toml")[0].startswith("lock: cannot read")


def test_missing_metadata_is_a_problem(tmp_path: Path) -> None:
    def broken(name: str, version: str) -> list[Requirement]:
        if name == "helper":
            raise LookupError("helper 2.1 not on the index")
        return requires_dist(name, version)

    problems = check(write_lock(tmp_path, base_packages()), groups=(), requires_dist=broken)
    assert len(problems) == 24
    assert all("helper 2.1: cannot get its dependencies" in p for p in problems)


# ---------------------------------------------------------------------------------------
# Helpers: the project's requirements, uv output parsing, old sdist metadata
# ---------------------------------------------------------------------------------------


def test_project_requirements_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        """
[project]
name = "My_App"
version = "1"
dependencies = ["requests>=2"]

[project.optional-dependencies]
Postgres = ["psycopg[binary]"]
all = ["my-app[postgres,redis]"]
redis = ["redis; python_version >= '3.10'"]
win = ["my-app[redis]; sys_platform == 'win32'"]

[dependency-groups]
test = ["pytest"]
lint = ["ruff"]
dev = [{include-group = "test"}, {include-group = "lint"}, "ipython"]
"""
    )
    assert lc.project_extras(tmp_path) == ["all", "postgres", "redis", "win"]
    assert lc.project_groups(tmp_path) == ["dev", "lint", "test"]
    as_str = lambda reqs: sorted(str(r) for r in reqs)  # noqa: E731
    assert as_str(lc.project_requirements(tmp_path)) == ["requests>=2"]
    assert as_str(lc.project_requirements(tmp_path, ["all"], ["dev"])) == [
        "ipython",
        "psycopg[binary]",
        "pytest",
        'redis; python_version >= "3.10"',
        "requests>=2",
        "ruff",
    ]
    win = as_str(lc.project_requirements(tmp_path, ["win"]))
    assert win == [
        'redis; sys_platform == "win32" and python_version >= "3.10"',
        "requests>=2",
    ]
    with pytest.raises(ValueError, match="no extra 'nope'"):
        lc.project_requirements(tmp_path, ["nope"])


def test_parse_pins() -> None:
    out = """
annotated-types==0.7.0
Pydantic_Core==2.33.2
uvicorn[standard]==0.30.0  # via webapp
# a comment
--index-url https://pypi.org/simple
"""
    assert lc._parse_pins(out.splitlines()) == {
        ("annotated-types", "0.7.0"),
        ("pydantic-core", "2.33.2"),
        ("uvicorn", "0.30.0"),
    }
    plan = "Would install 2 packages\n + idna==3.10\n + six==1.17.0\n"
    assert lc._parse_pins(plan.splitlines(), prefix="+ ") == {("idna", "3.10"), ("six", "1.17.0")}


def test_egg_info_requires() -> None:
    text = "py4j==0.10.9\n\n[ml]\nnumpy>=1.15\n\n[:python_version < '3.10']\ntyping\n"
    text += "[sql:sys_platform == 'win32']\npandas\n"
    reqs = [Requirement(s) for s in lc._egg_requires(text)]
    assert [str(r) for r in reqs] == [
        "py4j==0.10.9",
        'numpy>=1.15; extra == "ml"',
        'typing; python_version < "3.10"',
        'pandas; sys_platform == "win32" and extra == "sql"',
    ]
