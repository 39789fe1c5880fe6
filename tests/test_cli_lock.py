"""``aspen lock`` as a user runs it: a whole process, against indexes built inside the test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import lockcheck
import pytest
from packaging.pylock import Pylock
from packaging.requirements import Requirement

ASPEN = [sys.executable, "-m", "resolver"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([*ASPEN, *args], capture_output=True, text=True, cwd=cwd, env=env)


def lock_from(index_url: str, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``aspen lock`` of the project against one index, without touching the user's cache."""
    return run("lock", "--project", str(project), "--index-url", index_url, "--no-cache", *args)


def write_project(root: Path, body: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(body)
    return root


@pytest.fixture
def webindex(index):
    """A small index: a web framework with an extra, platform-specific and Python-specific deps."""
    index.add("frame", "1.0", requires=["routes>=1"], sdist=True)
    index.add(
        "frame",
        "2.0",
        requires=["routes>=2", "winhelper; sys_platform == 'win32'"],
        extras={"speed": ["fastjson"]},
        requires_python=">=3.10",
        sdist=True,
    )
    index.add("routes", "1.0")
    index.add("routes", "2.0")
    index.add("routes", "2.1", yanked="bad release")
    index.add("winhelper", "0.5", wheel_tags=("py3-none-win_amd64",))
    index.add(
        "fastjson",
        "3.0",
        wheel_tags=(
            "cp39-abi3-manylinux_2_17_x86_64",
            "cp39-abi3-manylinux_2_17_aarch64",
            "cp39-abi3-macosx_11_0_arm64",
            "cp39-abi3-win_amd64",
        ),
        sdist=True,
    )
    index.add("pytest", "8.0")
    index.add("pytest", "9.0b1")
    index.add("onlysdist", "0.3", wheel=False, sdist=True)
    index.add("dynsdist", "1.1", wheel=False, sdist=True, sdist_dynamic=True, requires=["routes"])
    index.write()
    return index


WEBAPP = """
[project]
name = "webapp"
version = "0.1"
requires-python = ">=3.9"
dependencies = ["frame[speed]", "onlysdist", "dynsdist"]

[project.optional-dependencies]
win = ["winhelper; os_name == 'nt'"]

[dependency-groups]
test = ["pytest"]
dev = [{include-group = "test"}]
"""


def requires_dist_from(index_root: Path):
    """Dependencies of a locked entry, read from the test index's own metadata files."""
    import tarfile
    import zipfile

    from packaging.metadata import Metadata

    def requires_dist(name: str, version: str) -> list[Requirement]:
        files = sorted((index_root / "files").glob(f"{name.replace('-', '_')}-{version}*"))
        for path in files:
            if path.suffix == ".whl":
                with zipfile.ZipFile(path) as zf:
                    meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
                    data = zf.read(meta)
                break
        else:
            with tarfile.open(files[0]) as tf:
                # The built wheel's METADATA is what counts for a dynamic sdist: read the
                # backend's source of truth, which the test index keeps beside PKG-INFO.
                member = next(m for m in tf.getmembers() if m.name.endswith("PKG-INFO"))
                data = tf.extractfile(member).read()
        return list(Metadata.from_email(data, validate=False).requires_dist or [])

    return requires_dist


def test_lock_from_a_file_index_is_valid_and_consistent_everywhere(tmp_path, webindex):
    project = write_project(tmp_path / "webapp", WEBAPP)
    result = lock_from(webindex.simple_url, project, "--offline")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "Locked" in result.stderr
    text = (project / "pylock.toml").read_text()
    data = tomllib.loads(text)
    Pylock.from_dict(data)  # valid PEP 751
    versions = {(p["name"], p["version"]): p.get("marker") for p in data["packages"]}
    # frame 2.0 needs Python 3.10: 3.9 keeps frame 1.0 (and with it routes 1.x or 2.0).
    assert versions[("frame", "1.0")] == "python_version < '3.10'"
    assert versions[("frame", "2.0")] == "python_version >= '3.10'"
    assert ("routes", "2.1") not in versions  # yanked
    assert ("pytest", "8.0") in versions  # no pre-release when a final exists
    assert data["default-groups"] == ["dev"]
    dyn = next(p for p in data["packages"] if p["name"] == "dynsdist")
    assert dyn["dependencies"] == [{"name": "routes"}]  # read by building the sdist

    # Dynamic sdist metadata is only known from its build: tell the checker what it says.
    base = requires_dist_from(webindex.root)

    def requires_dist(name: str, version: str) -> list[Requirement]:
        return [Requirement("routes")] if name == "dynsdist" else base(name, version)

    pyproject = project / "pyproject.toml"
    for extras, groups in [((), ()), (("win",), ("dev", "test"))]:
        problems = lockcheck.check_lock(
            project / "pylock.toml",
            requires_dist=requires_dist,
            project_requirements=lockcheck.project_requirements(pyproject, extras, groups),
            environments=[*lockcheck.ENVIRONMENTS, *lockcheck.FIRST_PATCH_ENVIRONMENTS],
            extras=extras,
            groups=groups,
        )
        assert problems == []

    again = lock_from(webindex.simple_url, project, "--offline")
    assert again.returncode == 0, again.stderr
    assert (project / "pylock.toml").read_text() == text


def test_lock_over_http_matches_the_file_index(tmp_path, webindex):
    project = write_project(tmp_path / "a", WEBAPP)
    assert lock_from(webindex.simple_url, project).returncode == 0
    with webindex.serve() as served:
        other = write_project(tmp_path / "b", WEBAPP)
        result = run(
            "lock",
            "--project",
            str(other),
            "--index-url",
            served.url,
            "--cache-dir",
            str(tmp_path / "cache"),
        )
        assert result.returncode == 0, result.stderr
    local = tomllib.loads((project / "pylock.toml").read_text())["packages"]
    remote = tomllib.loads((other / "pylock.toml").read_text())["packages"]
    assert [(p["name"], p["version"], p.get("marker")) for p in local] == [
        (p["name"], p["version"], p.get("marker")) for p in remote
    ]
    assert all(w["url"].startswith("http://127.0.0.1") for p in remote for w in p.get("wheels", []))


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_lock_installs_with_uv_and_pip(tmp_path, webindex, installer):
    project = write_project(tmp_path / "webapp", WEBAPP)
    result = lock_from(webindex.simple_url, project)
    assert result.returncode == 0, result.stderr
    target = tmp_path / "site"
    lock = str(project / "pylock.toml")
    if installer == "uv":
        uv = str(Path(sys.executable).parent / "uv")
        command = [
            uv,
            "pip",
            "install",
            "--target",
            str(target),
            "--python",
            sys.executable,
            "-r",
            lock,
            "--offline",
            "--no-cache",
        ]
    else:  # pip reads pylock.toml since 26.1
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--target",
            str(target),
            "-r",
            lock,
            "--no-cache-dir",
            "--disable-pip-version-check",
        ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    installed = {p.name.split("-")[0] for p in target.glob("*.dist-info")}
    # frame[speed] with fastjson, the sdist-only packages built, and the default group "dev".
    assert {"frame", "routes", "fastjson", "onlysdist", "dynsdist", "pytest"} <= installed
    assert "winhelper" not in installed  # Linux


def test_no_lock_exits_1_and_keeps_the_old_lock(tmp_path, webindex):
    project = write_project(tmp_path / "p", WEBAPP)
    assert lock_from(webindex.simple_url, project).returncode == 0
    before = (project / "pylock.toml").read_bytes()
    (project / "pyproject.toml").write_text(
        WEBAPP.replace('"frame[speed]"', '"frame[speed]>=2", "routes<2"')
    )
    result = lock_from(webindex.simple_url, project)
    assert result.returncode == 1
    assert "no lock exists" in result.stderr
    assert (project / "pylock.toml").read_bytes() == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[project\nname = 'x'", "invalid TOML"),
        ("[project]\nname = 'x'\ndependencies = ['requests >= ']", "project.dependencies[0]"),
        ("[project]\nname = 'x'\nrequires-python = '3.9+'", "project.requires-python"),
        ("[project]\nname = 'x'\n[tool.aspen]\nresolver = 'fast'", "tool.aspen.resolver"),
        (
            "[project]\nname = 'x'\n[dependency-groups]\ndev = [{include-group = 'nope'}]",
            "dependency-groups.dev",
        ),
    ],
)
def test_bad_input_exits_2_naming_it_and_keeps_the_lock(tmp_path, body, expected):
    project = write_project(tmp_path / "p", body)
    (project / "pylock.toml").write_text("# an existing lock\n")
    result = run("lock", "--project", str(project), "--no-index", "--find-links", str(tmp_path))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert (project / "pylock.toml").read_text() == "# an existing lock\n"


def test_missing_pyproject_and_bad_flags_exit_2(tmp_path):
    result = run("lock", "--project", str(tmp_path))
    assert result.returncode == 2
    assert "no pyproject.toml" in result.stderr
    assert run("lock", "--prerelease", "sometimes").returncode == 2


def test_find_links_without_index(tmp_path, webindex):
    links = webindex.write_find_links()
    project = write_project(tmp_path / "p", "[project]\nname='p'\ndependencies=['frame']\n")
    result = run(
        "lock", "--project", str(project), "--no-index", "--find-links", str(links), "--no-cache"
    )
    assert result.returncode == 0, result.stderr
    names = [p["name"] for p in tomllib.loads((project / "pylock.toml").read_text())["packages"]]
    assert names == ["frame", "routes", "winhelper"]


def test_prerelease_flag(tmp_path, webindex):
    project = write_project(tmp_path / "p", "[project]\nname='p'\ndependencies=['pytest']\n")
    result = run(
        "lock",
        "--project",
        str(project),
        "--index-url",
        webindex.simple_url,
        "--no-cache",
        "--prerelease",
        "allow",
    )
    assert result.returncode == 0, result.stderr
    packages = tomllib.loads((project / "pylock.toml").read_text())["packages"]
    assert [(p["name"], p["version"]) for p in packages] == [("pytest", "9.0b1")]


def test_relock_check_upgrade_and_summary(tmp_path, index):
    index.add("lib", "1.0")
    index.add("dep", "1.0")
    index.write()
    project = write_project(
        tmp_path / "p", "[project]\nname='p'\nversion='0'\ndependencies=['lib', 'dep']\n"
    )
    url = ("--index-url", index.simple_url, "--no-cache")
    check = run("lock", "--check", "--project", str(project), *url)
    assert check.returncode == 1 and "does not exist" in check.stderr
    assert not (project / "pylock.toml").exists()
    assert run("lock", "--project", str(project), *url).returncode == 0
    first = (project / "pylock.toml").read_bytes()
    assert run("lock", "--locked", "--project", str(project), *url).returncode == 0

    index.add("lib", "2.0")
    index.add("dep", "2.0")
    index.write()
    kept = run("lock", "--project", str(project), *url)
    assert kept.returncode == 0 and "Unchanged" in kept.stderr
    assert (project / "pylock.toml").read_bytes() == first
    assert run("lock", "--check", "--project", str(project), *url).returncode == 0

    moved = run("lock", "--project", str(project), "--upgrade-package", "lib", *url)
    assert moved.returncode == 0, moved.stderr
    assert "Updated lib 1.0 -> 2.0" in moved.stderr
    assert "dep" not in moved.stderr
    after = tomllib.loads((project / "pylock.toml").read_text())["packages"]
    assert [(p["name"], p["version"]) for p in after] == [("dep", "1.0"), ("lib", "2.0")]

    (project / "pyproject.toml").write_text(
        "[project]\nname='p'\nversion='0'\ndependencies=['lib', 'dep>=2']\n"
    )
    stale = run("lock", "--check", "--project", str(project), *url)
    assert stale.returncode == 1
    assert "Updated dep 1.0 -> 2.0" in stale.stderr and "out of date" in stale.stderr
    assert tomllib.loads((project / "pylock.toml").read_text())["packages"] == after

    fresh = run("lock", "--upgrade", "--project", str(project), *url)
    assert fresh.returncode == 0
    assert "Updated dep 1.0 -> 2.0" in fresh.stderr
    bad = run("lock", "--project", str(project), "--upgrade-package", "lib>=", *url)
    assert bad.returncode == 2 and "--upgrade-package" in bad.stderr


def test_lock_options_are_recorded_reused_and_change_the_lock(tmp_path, index):
    index.add("lib", "1.0", upload_time="2023-01-01T00:00:00Z")
    index.add("lib", "2.0", upload_time="2024-06-01T00:00:00Z")
    index.add("lib", "3.0", upload_time="2025-06-01T00:00:00Z")
    index.write()
    project = write_project(tmp_path / "p", "[project]\nname='p'\ndependencies=['lib']\n")
    lock_file = project / "pylock.toml"

    def lock(*args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
        result = lock_from(index.simple_url, project, *args)
        assert result.returncode == 0, result.stderr
        return result, tomllib.loads(lock_file.read_text())

    def version(data: dict) -> str:
        return data["packages"][0]["version"]

    _, data = lock("--exclude-newer", "2025-01-01")
    assert version(data) == "2.0"
    assert data["tool"]["aspen"]["exclude-newer"] == "2025-01-01T00:00:00Z"
    # The recorded cut-off holds for later runs: --upgrade still cannot see lib 3.0.
    _, data = lock("--upgrade")
    assert version(data) == "2.0"
    assert lock_from(index.simple_url, project, "--check").returncode == 0
    # Changing what a good lock is drops the locked versions, and says so.
    result, data = lock("--resolution", "lowest")
    assert "Ignoring the locked versions: --resolution lowest (was highest)" in result.stderr
    assert version(data) == "1.0" and data["tool"]["aspen"]["resolution"] == "lowest"
    result, data = lock("--exclude-newer", "none", "--resolution", "highest", "-U")
    assert version(data) == "3.0" and "exclude-newer" not in data["tool"]["aspen"]
    assert lock_from(index.simple_url, project, "--exclude-newer", "soon").returncode == 2


def test_verbose_prints_every_objective_level(tmp_path, index):
    index.add("lib", "1.0")
    index.write()
    project = write_project(tmp_path / "p", "[project]\nname='p'\ndependencies=['lib']\n")
    result = lock_from(index.simple_url, project, "-v", "--fork-strategy", "fewest")
    assert result.returncode == 0, result.stderr
    assert "objective: extra versions across Python ranges (--fork-strategy fewest): 0" in (
        result.stderr
    )
    assert "objective: packages: 1" in result.stderr


def test_conflicting_extras_lock_and_each_installs_its_own_variant(tmp_path, index):
    index.add("engine", "2.0+cpu")
    index.add("engine", "2.0+cu121", requires=["gpublas"])
    index.add("gpublas", "12.1")
    index.add("trainer", "1.0", requires=["engine>=2"])
    index.write()
    body = """
[project]
name = "model"
version = "0.1"
requires-python = ">=3.10"
dependencies = ["trainer"]

[project.optional-dependencies]
cpu = ["engine==2.0+cpu"]
cuda = ["engine==2.0+cu121"]
"""
    project = write_project(tmp_path / "model", body)
    failed = lock_from(index.simple_url, project)
    assert failed.returncode == 1
    assert "engine==2.0+cpu" in failed.stderr and "engine==2.0+cu121" in failed.stderr
    conflicts = '\n[tool.aspen]\nconflicts = [[{extra = "cpu"}, {extra = "cuda"}]]\n'
    (project / "pyproject.toml").write_text(body + conflicts)
    result = lock_from(index.simple_url, project)
    assert result.returncode == 0, result.stderr
    uv = str(Path(sys.executable).parent / "uv")
    installed = {}
    for extra in ("cpu", "cuda"):
        target = tmp_path / f"site-{extra}"
        command = [uv, "pip", "install", "--target", str(target), "--python", sys.executable]
        command += ["-r", str(project / "pylock.toml"), "--extra", extra, "--offline", "--no-cache"]
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        installed[extra] = sorted(
            p.name.removesuffix(".dist-info") for p in target.glob("*.dist-info")
        )
    assert installed["cpu"] == ["engine-2.0+cpu", "trainer-1.0"]
    assert installed["cuda"] == ["engine-2.0+cu121", "gpublas-12.1", "trainer-1.0"]


def test_files_an_index_lists_under_names_that_do_not_parse_are_noted_with_v_only(
    index, tmp_path
) -> None:
    # uv and pip say nothing about them, and a cached page would repeat them on every lock.
    index.add("foo", "1.0")
    index.add_raw_file("foo", "foo-0.1-beta1.tar.gz", b"junk")
    index.write()
    project = write_project(
        tmp_path / "p", '[project]\nname = "p"\nversion = "0"\ndependencies = ["foo"]\n'
    )
    plain = lock_from(index.simple_url, project)
    assert plain.returncode == 0, plain.stderr
    assert "foo-0.1-beta1.tar.gz" not in plain.stderr and "warning" not in plain.stderr
    verbose = lock_from(index.simple_url, project, "-v")
    assert verbose.returncode == 0, verbose.stderr
    assert "warning: skipping foo-0.1-beta1.tar.gz" in verbose.stderr


def test_aspen_trace_writes_the_spans_of_a_run(index, tmp_path) -> None:
    # The console script ends with os._exit, which skips atexit: the trace is written first.
    index.add("foo", "1.0")
    index.write()
    project = write_project(
        tmp_path / "p", '[project]\nname = "p"\nversion = "0"\ndependencies = ["foo"]\n'
    )
    out = tmp_path / "trace.jsonl"
    env = {**os.environ, "NO_COLOR": "1", "ASPEN_TRACE": str(out)}
    args = ["lock", "--project", str(project), "--index-url", index.simple_url, "--no-cache"]
    result = subprocess.run([*ASPEN, *args], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    spans = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(len(span) == 5 for span in spans)
    assert any(kind == "wait" and "foo" in key for _thread, kind, key, _s, _e in spans)
    assert [span[2] for span in spans if span[0] == "rusage"] == ["user/system CPU s"] * 2


def test_every_option_of_the_commands_is_declared_once():
    # The commands' parameters are the table's (resolver.commands declares them to typer from
    # it), and no two options share a name.
    import resolver.cli as cli

    names = [flag for flags, _kind, _help in cli.OPTIONS.values() for flag in flags]
    assert len(names) == len(set(names))
    for function in (cli.lock, cli.why, cli.why_not_command):
        parameters = function.__code__.co_varnames[: function.__code__.co_argcount]
        assert set(parameters) <= set(cli.OPTIONS)


def test_a_lock_made_again_from_the_same_inputs_writes_the_text_recorded(tmp_path, index):
    from resolver.widths import Memory

    index.add("lib", "1.0")
    index.add("lib", "2.0")
    index.add("dep", "1.0", requires=["lib<2; python_version < '3.11'"])
    project = write_project(
        tmp_path / "p", "[project]\nname='p'\nversion='0'\ndependencies=['lib', 'dep']\n"
    )
    lock_path = project / "pylock.toml"
    with index.serve() as served:
        args = ("lock", "-v", "--project", str(project), "--index-url", served.url)
        args += ("--cache-dir", str(tmp_path / "cache"))

        def afresh() -> subprocess.CompletedProcess[str]:
            lock_path.unlink(missing_ok=True)
            done = run(*args)
            assert done.returncode == 0, done.stderr
            return done

        # The first lock records its memory and its text; the second finds every input again
        # (the same pages, windows and metadata entries, the same choice) and writes that text.
        runs = [afresh() for _ in range(2)]
        first = lock_path.read_text()
        assert "as the last lock of the same inputs wrote it" in runs[1].stderr
        assert "same inputs wrote it" not in runs[0].stderr
        assert "Added dep 1.0" in runs[1].stderr and "Added lib 1.0" in runs[1].stderr

        # What is written is the recorded text (here, one altered on purpose).
        (recorded,) = (tmp_path / "cache" / "widths").glob("*.out")
        memory = Memory(recorded.with_suffix(".json"))
        found = memory.read_output()
        assert found is not None and found.text == first and found.over(None)
        memory.write_output(None, first + "# recorded\n", found.packages, found.fingerprint)
        afresh()
        assert lock_path.read_text() == first + "# recorded\n"
