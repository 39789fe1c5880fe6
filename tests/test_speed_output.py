"""The output side, written for speed, checked against the plain way of doing the same thing:
read_resolution's cell masks against a reading cell by cell, and the lock text against
tomlkit's own rendering of the same document, tomllib and packaging.pylock."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections import defaultdict
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import tomlkit
from packaging.pylock import Pylock
from packaging.utils import canonicalize_name
from packaging.version import Version

import resolver.locker as locker
import resolver.lockfile as lockfile
from resolver.locker import lock_project
from resolver.lockfile import dumps_lock, lock_data, render_lock
from resolver.memory_provider import MemoryProvider
from resolver.project import load_project
from resolver.provider import DistFile
from resolver.resolution import InconsistentResolution, read_resolution, selected_cells
from resolver.universe import marker_extras

# -- reading a resolution -------------------------------------------------------------------

PACKAGES = {
    "app": {
        "1.0": {
            "requires": ["lib>=1", "winonly; sys_platform == 'win32'"],
            "extras": {
                "fast": ["speedup; platform_machine == 'x86_64'", "lib[tuned]"],
                "docs": ["docgen"],
            },
        },
    },
    "lib": {
        "1.0": {"requires": ["oldhelper"], "extras": {"tuned": ["tuner"]}},
        "2.0": {
            "requires_python": ">=3.11",
            "requires": ["newhelper; implementation_name == 'cpython'"],
            "extras": {"tuned": ["tuner; python_version >= '3.12'"]},
        },
    },
    "oldhelper": {"1.0": []},
    "newhelper": {"1.0": []},
    "winonly": {"1.0": []},
    "speedup": {"1.0": ["lib"]},
    "tuner": {"1.0": []},
    "docgen": {"1.0": ["app"]},  # a cycle back to the project's dependency
    "pytest": {"1.0": ["winonly; os_name == 'nt'"]},
    "cpu": {"1.0": ["lib<2"]},
    "gpu": {"1.0": ["lib>=2; python_version >= '3.11'"]},
}


def _lock_capturing(tmp_path: Path, pyproject: str):
    """Lock the project and return what read_resolution was given and what it returned."""
    (tmp_path / "pyproject.toml").write_text(pyproject)
    seen = {}

    def capture(universe, facts, solution):
        seen["args"] = (universe, facts, solution)
        return read_resolution(universe, facts, solution)

    original = locker.read_resolution
    locker.read_resolution = capture
    try:
        resolution = lock_project(load_project(tmp_path), MemoryProvider(PACKAGES), warn=print)
        assert resolution.entries is not None  # read when first asked for
    finally:
        locker.read_resolution = original
    return seen["args"], resolution


PROJECTS = {
    "extras-and-forks": """
[project]
name = "demo"
version = "0.1"
requires-python = ">=3.9"
dependencies = ["app[fast]", "pytest; python_version < '3.12'"]
[project.optional-dependencies]
docs = ["app[docs]"]
[dependency-groups]
dev = ["pytest"]
""",
    "conflicts": """
[project]
name = "demo"
version = "0.1"
requires-python = ">=3.10"
dependencies = ["app"]
[project.optional-dependencies]
cpu = ["cpu"]
gpu = ["gpu", "app[fast]"]
[tool.aspen]
conflicts = [[{extra = "cpu"}, {extra = "gpu"}]]
""",
}


def _cell_by_cell(universe, facts, solution):
    """The entries of a resolution, read one cell at a time: in each cell, the packages
    reachable from each source's requirements given the versions chosen there."""
    chosen = {cell: {} for cell in facts.space.cells}
    for (pid, rank), classes in solution.selected.items():
        name = facts.names[pid]
        for k in classes:
            for cell in facts.classes[pid][k].cells:
                chosen[cell][name] = universe.packages[name].versions[rank]
    by_source = defaultdict(list)
    for source, req in universe.project.requirements():
        by_source[source].append(req)
    cells: dict = {}
    for cell, versions in chosen.items():
        for source, reqs in by_source.items():
            if not cell.config.allows(source):
                continue
            asked: dict = {}
            work = [r for r in reqs if cell.holds(r.marker)]
            while work:
                req = work.pop()
                name = canonicalize_name(req.name)
                extras = {canonicalize_name(e) for e in req.extras}
                known = asked.get(name)
                if known is not None and extras <= known:
                    continue
                asked.setdefault(name, set()).update(extras)
                for r in universe.packages[name].metadata[versions[name]].requires_dist:
                    if cell.holds(r.marker) or any(cell.holds(r.marker, e) for e in asked[name]):
                        work.append(r)
            for name in asked:
                by = cells.setdefault((name, versions[name]), {})
                by.setdefault(source, set()).add(cell)
    dependencies: dict = defaultdict(set)
    for (name, version), by in cells.items():
        requires = universe.packages[name].metadata[version].requires_dist
        for cell in set().union(*by.values()):
            for r in requires:
                extras = marker_extras(r.marker)
                if cell.holds(r.marker) or any(cell.holds(r.marker, e) for e in extras):
                    target = canonicalize_name(r.name)
                    if target in chosen[cell]:
                        dependencies[name, version].add((target, chosen[cell][target]))
    return cells, dependencies


@pytest.mark.parametrize("project", sorted(PROJECTS))
def test_read_resolution_agrees_with_reading_cell_by_cell(tmp_path, project):
    (universe, facts, solution), resolution = _lock_capturing(tmp_path, PROJECTS[project])
    masks = selected_cells(facts, solution)
    assert masks == {
        key: sum(1 << c.index for k in ks for c in facts.classes[key[0]][k].cells)
        for key, ks in solution.selected.items()
    }
    cells, dependencies = _cell_by_cell(universe, facts, solution)
    got = {(e.name, e.version): {s: set(c) for s, c in e.cells.items()} for e in resolution.entries}
    assert got == cells
    assert {(e.name, e.version): e.dependencies for e in resolution.entries} == {
        key: dependencies.get(key, set()) for key in cells
    }
    names = {e.name for e in resolution.entries}
    if project == "extras-and-forks":  # the scenario reaches what it is meant to
        assert {"speedup", "tuner", "docgen", "winonly", "newhelper", "oldhelper"} <= names
        assert len([e for e in resolution.entries if e.name == "lib"]) == 2
    else:
        assert {"cpu", "gpu", "speedup"} <= names


def test_a_chosen_package_that_nothing_reaches_is_a_bug(tmp_path):
    (universe, facts, solution), _resolution = _lock_capturing(tmp_path, PROJECTS["conflicts"])
    tuner = facts.package_ids["tuner"]
    del solution.selected[next(key for key in solution.selected if key[0] == tuner)]
    with pytest.raises(InconsistentResolution, match=r"missed \['tuner'\]"):
        read_resolution(universe, facts, solution)


# -- the lock text --------------------------------------------------------------------------

UTC_TIME = datetime(2024, 5, 1, 12, 30, 45, 123456, tzinfo=UTC)


def _wheel(name: str, **extra) -> dict:
    return {
        "name": name,
        "url": f"https://files.example/{name}",
        "upload-time": UTC_TIME,
        "size": 1234,
        "hashes": {"sha256": "ab" * 32},
        **extra,
    }


def _data(packages: list[dict], tool: dict | None = None, **head) -> dict:
    data = {
        "lock-version": "1.0",
        **head,
        "requires-python": ">=3.10",
        "extras": [],
        "dependency-groups": ["dev"],
        "default-groups": ["dev"],
        "created-by": "aspen",
        "packages": packages,
    }
    data["tool"] = {"aspen": {**(tool or {}), "objective": {"direct-rank": 3, "packages": 2}}}
    return data


AWKWARD = _data(
    [
        {
            "name": "quoted",
            "version": "1.0",
            "marker": "sys_platform == 'win32' and python_full_version < '3.11.3'",
            "requires-python": ">=3.8, !=3.9.*",
            "index": 'https://example.org/simple/"odd"\\path/',
            "dependencies": [
                {"name": "plain"},
                {"name": "two", "version": "2.0"},
                {"name": 'q"uote'},
                {"name": "tab\tbed"},
                {"name": "\u00e9\u00a0"},
            ],
            "sdist": {
                "name": "quoted-1.0.tar.gz",
                "url": "file:///C:\\wheels\\quoted-1.0.tar.gz",
                "hashes": {"sha256": "cd" * 32, "blake2b-256": "ef" * 32, "odd key": "x"},
            },
            "wheels": [
                _wheel("quoted-1.0-py3-none-any.whl", url="https://h/tab\there\x7f\u00e9\u2603"),
                _wheel("quoted-1.0-cp312-cp312-win_amd64.whl", **{"upload-time": None}),
            ],
        },
        {
            "name": "sdist-only",
            "version": "3",
            "sdist": {"name": "s-3.zip", "url": "u", "hashes": {"md5": "0"}},
        },
        {
            "name": "times",
            "version": "1",
            "wheels": [
                _wheel("a.whl", **{"upload-time": datetime(2024, 1, 1, tzinfo=UTC)}),
                _wheel(
                    "b.whl",
                    **{"upload-time": datetime(2024, 1, 1, 5, tzinfo=timezone(timedelta(hours=2)))},
                ),
                _wheel("c.whl", **{"upload-time": datetime(2024, 1, 1, 5, 6, 7, 8)}),
                _wheel("d.whl", **{"size": 0}),
            ],
        },
    ],
    tool={"resolution": "lowest", "exclude-newer": "2025-01-01T00:00:00Z"},
    environments=['sys_platform == "linux"', "os_name == 'nt'"],
)


def _drop_none(data):
    if isinstance(data, dict):
        return {k: _drop_none(v) for k, v in data.items() if v is not None}
    if isinstance(data, list):
        return [_drop_none(v) for v in data]
    return data


def _tomlkit_text(data: dict) -> str:
    """The lock text built the plain way: every table and inline table through tomlkit."""

    def inline(table: dict) -> tomlkit.items.InlineTable:
        item = tomlkit.inline_table()
        for key, value in table.items():
            item[key] = value
        return item

    doc = tomlkit.document()
    for key, value in data.items():
        if key not in ("packages", "tool"):
            doc[key] = value
    packages = tomlkit.aot()
    for package in data["packages"]:
        table = tomlkit.table()
        for key, value in package.items():
            if key == "dependencies":
                deps = tomlkit.array()
                for dep in value:
                    deps.append(inline(dep))
                table[key] = deps
            elif key == "sdist":
                table[key] = inline(value)
            elif key == "wheels":
                wheels = tomlkit.array()
                for wheel in value:
                    wheels.append(inline(wheel))
                wheels.multiline(True)
                table[key] = wheels
            else:
                table[key] = value
        packages.append(table)
    doc["packages"] = packages
    tool = tomlkit.table()
    for key, value in data["tool"]["aspen"].items():
        if key != "objective":
            tool[key] = value
    objective = tomlkit.table()
    objective.comment("cost of each objective level, highest priority first (README)")
    for key, value in data["tool"]["aspen"]["objective"].items():
        objective[key] = value
    tool["objective"] = objective
    doc["tool"] = {"aspen": tool}
    return tomlkit.dumps(doc)


@pytest.mark.parametrize(
    "data",
    [
        _drop_none(AWKWARD),
        _data([]),
        _data([{"name": "a", "version": "1", "wheels": [_wheel("a-1-py3-none-any.whl")]}]),
        {
            **_data([{"name": "b", "version": "2", "dependencies": [{"name": "a"}]}]),
            "tool": {"aspen": {"prerelease": "allow", "objective": {}}},
        },
    ],
    ids=["awkward", "no-packages", "one", "no-costs"],
)
def test_lock_text_is_tomlkits_and_reads_back_as_the_data(data):
    text = dumps_lock(data)
    assert text == _tomlkit_text(data)
    assert tomllib.loads(text) == data


def test_escaped_strings_are_tomlkits():
    for value in ['"', "\\", "a\tb", "\x00", "\x1f\x7f", "é☃", "'single'", '"""', "line\nbreak"]:
        assert lockfile._scalar(value) == tomlkit.string(value).as_string()
    for moment in (
        UTC_TIME,
        datetime(2024, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, 1, 2, 3),
        datetime(2024, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(2024, 2, 29, 9, 8, 7, 999999, tzinfo=UTC),
        datetime(999, 1, 2, 3, 4, 5, 60, tzinfo=UTC),
        datetime(2024, 1, 1, 5, 6, 7, 8, tzinfo=timezone(timedelta(0))),
        datetime(2024, 1, 1, 5, 6, 7, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    ):
        assert lockfile._scalar(moment) == tomlkit.item(moment).as_string()
    assert lockfile._key("odd key") == tomlkit.key("odd key").as_string() == '"odd key"'


def _lock_tiny(tmp_path: Path):
    _args, resolution = _lock_capturing(tmp_path, PROJECTS["extras-and-forks"])
    return resolution


def test_rendered_lock_is_valid_and_reads_back_as_its_data(tmp_path):
    resolution = _lock_tiny(tmp_path)
    text = render_lock(resolution)
    data = tomllib.loads(text)
    assert data == lock_data(resolution)
    Pylock.from_dict(data)
    assert text == _tomlkit_text(data)
    assert any("marker" in p for p in data["packages"])


def test_previous_bytes_are_kept_when_only_objective_costs_differ(tmp_path):
    resolution = _lock_tiny(tmp_path)
    text = render_lock(resolution)
    costs = text.index("[tool.aspen.objective]")
    previous = text[:costs] + "[tool.aspen.objective]\npackages = 99\n"
    assert render_lock(resolution, previous) == previous
    moved = text.replace('version = "1.0"', 'version = "0.9"', 1)
    assert render_lock(resolution, moved) == text
    assert render_lock(resolution, "not toml [") == text


def test_writing_a_lock_does_not_import_tomlkit(tmp_path):
    """A warm lock spends no start-up on tomlkit: it is only needed for odd strings and empty
    locks (checked in a fresh interpreter, where nothing else has imported it)."""
    (tmp_path / "pyproject.toml").write_text(PROJECTS["extras-and-forks"])
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from resolver.locker import lock_project\n"
        "from resolver.lockfile import render_lock\n"
        "from resolver.memory_provider import MemoryProvider\n"
        "from resolver.project import load_project\n"
        f"project = load_project(Path({str(tmp_path)!r}))\n"
        f"text = render_lock(lock_project(project, MemoryProvider({PACKAGES!r})))\n"
        "assert '[[packages]]' in text\n"
        "assert 'tomlkit' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def _dist(filename: str, url: str, **fields) -> DistFile:
    return DistFile(filename, url, "wheel", Version("1.0"), **fields)


@pytest.mark.parametrize(
    "dist",
    [
        _dist("a-1.0-py3-none-any.whl", "https://h/a.whl", hashes={"sha256": "ab" * 32}),
        _dist(
            "a-1.0.tar.gz",
            "https://h/a.tar.gz",
            hashes={"sha512": "ef" * 64, "md5": "0" * 32, "odd key": "x"},
            size=12,
            upload_time=UTC_TIME,
        ),
        _dist("b.whl", "https://h/b.whl", hashes={"sha256": "0"}, size=0, upload_time=UTC_TIME),
        _dist("c.whl", "u", hashes={"sha256": "1"}, upload_time=datetime(2024, 1, 1, tzinfo=UTC)),
        _dist(
            "d.whl",
            "u",
            hashes={"sha256": "2"},
            upload_time=datetime(2024, 1, 1, 5, tzinfo=timezone(timedelta(hours=2))),
        ),
        _dist("e.whl", "u", hashes={"sha256": "3"}, upload_time=datetime(2024, 1, 1, 5, 6, 7, 8)),
        # Strings that str.isprintable rejects without anything to escape, and ones to escape.
        _dist("f\u00a0\u2028.whl", "https://h/\u00e9\u2603", hashes={"sha256": "4"}),
        _dist("g.whl", "https://h/tab\there", hashes={"sha256": "5"}),
        _dist("h.whl", "https://h/del\x7f", hashes={"sha256": "6"}),
        _dist("i.whl", 'https://h/"quoted"', hashes={"sha256": "7"}),
        _dist("j.whl", "https://h/back\\slash", hashes={"sha256": "8"}),
        _dist("k.whl", "https://h/k.whl", hashes={"sha256": 'quote"d'}),
        # A control character, in an ASCII string and in one that is not (``_table`` tests
        # ASCII strings by translating their bytes, others by the regular expression).
        _dist("l\x01.whl", "https://h/l.whl", hashes={"sha256": "9"}),
        _dist("m\u00e9.whl", "https://h/m\x1f", hashes={"sha256": "a"}),
        _dist("n.whl", "https://h/n.whl", hashes={"sha256": "b", "md5": "c\x00"}),
    ],
    ids=lambda d: d.filename,
)
def test_file_tables_are_written_as_their_inline_tables(dist):
    """A file's table as ``_file`` writes it (one hash or several, plain or awkward strings,
    upload times in and out of UTC) is the text ``_inline`` (checked against tomlkit above)
    gives its data, and reads back as that data."""
    table = lockfile._file(dist)
    assert list(table["hashes"]) == sorted(dist.hashes)
    inline = lockfile._inline(dict(table))
    assert lockfile._file_text(table) == inline
    assert tomllib.loads(f"x = {inline}")["x"] == table
    escaped = any(
        c in text
        for text in (dist.filename, dist.url, *dist.hashes.values())
        for c in '"\\\t\x7f\x01\x1f\x00'
    )
    assert (getattr(table, "text", None) is None) == escaped


def test_selected_cells_are_read_once_for_the_same_choice(monkeypatch):
    """``selected_cells`` keeps its last answer with the facts and solution it read: asked
    again of them (the widths' memory, then the resolution) it reads nothing again; asked of
    another solution, it reads that one."""
    from types import SimpleNamespace

    from resolver import resolution

    cells = [SimpleNamespace(index=i) for i in range(4)]
    classes = [SimpleNamespace(cells=cells[:2]), SimpleNamespace(cells=cells[2:])]
    facts = SimpleNamespace(classes={0: classes, 1: classes})
    solution = SimpleNamespace(selected={(0, 0): [0], (0, 1): [1], (1, 0): [0, 1]})
    read = []
    cell_mask = resolution.cell_mask
    monkeypatch.setattr(resolution, "cell_mask", lambda c: read.append(1) or cell_mask(c))
    expected = {(0, 0): 0b0011, (0, 1): 0b1100, (1, 0): 0b1111}
    assert resolution.selected_cells(facts, solution) == expected
    first = len(read)
    assert resolution.selected_cells(facts, solution) == expected
    assert len(read) == first
    other = SimpleNamespace(selected={(1, 0): [1]})
    assert resolution.selected_cells(facts, other) == {(1, 0): 0b1100}
    assert len(read) > first
