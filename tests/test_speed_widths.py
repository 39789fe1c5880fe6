"""Learned window widths (resolver/widths.py): a lock made again from the same inputs starts
from the widths the last one had to reach, and gives the same lock as without them; anything
that changed sends it the usual way."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest
import tomlkit
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from resolver import solve, widths
from resolver.environments import EnvironmentSpace
from resolver.index_provider import IndexProvider
from resolver.locker import LockReport, lock_project
from resolver.lockfile import lock_data, render_lock_data
from resolver.project import load_project
from resolver.universe import Universe
from resolver.widths import Memory

# a's two newest versions need c, whose two newest need a package no index has: the first
# windows hold no lock, and a's or c's window has to grow.
EITHER = {
    "a": {**{f"2.{m}": [] for m in range(6)}, "3.0": ["c"], "3.1": ["c"]},
    "c": {**{f"4.{m}": [] for m in range(4)}, "5.0": ["ghost"], "5.1": ["ghost"]},
}


@pytest.fixture
def served(index):
    for name, versions in EITHER.items():
        for version, requires in versions.items():
            index.add(name, version, requires=requires)
    with index.serve() as served:
        yield served


def lock(tmp_path, served, **kwargs) -> tuple[str, LockReport]:
    project_dir = tmp_path / "project"
    project_dir.mkdir(exist_ok=True)
    table = {"name": "demo", "version": "0.1", "requires-python": ">=3.9", "dependencies": ["a"]}
    (project_dir / "pyproject.toml").write_text(tomlkit.dumps({"project": table}))
    report = LockReport()
    provider = IndexProvider(index_urls=[served.url], cache_dir=tmp_path / "cache")
    with provider:
        resolution = lock_project(
            load_project(project_dir), provider, warn=lambda m: None, report=report, **kwargs
        )
    return render_lock_data(lock_data(resolution), None), report


@pytest.fixture(params=["thread", "process"])
def way(request, monkeypatch) -> str:
    """How a lock solves recorded facts early: in a thread, or in a child process (made to take
    even these small programs)."""
    monkeypatch.setattr(solve, "PROCESS_FROM", 10**9 if request.param == "thread" else 0)
    return request.param


def memories(tmp_path) -> list:
    return sorted((tmp_path / "cache" / "widths").glob("*.json"))


def test_a_lock_made_again_starts_from_the_widths_the_last_one_reached(tmp_path, served):
    first, report = lock(tmp_path, served)
    assert report.rounds > 1 and report.widened and not report.remembered
    assert len(memories(tmp_path)) == 1
    again, report = lock(tmp_path, served)
    assert report.remembered and report.rounds == 1 and not report.widened
    assert again == first
    without, report = lock(tmp_path, served, remember=False)
    assert without == first and report.rounds > 1


def test_a_project_whose_windows_never_grow_gets_a_memory_too(tmp_path, index, way):
    index.add("a", "1.0")
    with index.serve() as served:
        first, report = lock(tmp_path, served)
        assert report.rounds == 1 and not report.remembered
        assert len(memories(tmp_path)) == len(recorded_facts(tmp_path)) == 1
        again, report = lock(tmp_path, served)
    assert report.remembered and report.early == way and again == first


def test_a_changed_index_page_sends_the_lock_the_usual_way(tmp_path, index, served):
    first, _report = lock(tmp_path, served)
    (recorded,) = memories(tmp_path)
    page = json.loads(recorded.read_text())["packages"]["c"][0]
    index.add("c", "4.9")  # c's page changes: its window would start elsewhere
    index.write()
    for page in (tmp_path / "cache" / "pages").rglob("*"):  # as if each page had expired
        if page.is_file():
            page.unlink()
    changed, report = lock(tmp_path, served)
    assert not report.remembered and report.rounds > 1
    assert "4.9" in changed and changed != first
    assert memories(tmp_path) == [recorded]  # the same inputs: replaced
    assert json.loads(recorded.read_text())["packages"]["c"][0] != page


def tamper(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_a_memory_whose_windows_are_too_narrow_gives_the_same_lock_and_learns_them_again(
    tmp_path, served
):
    first, _report = lock(tmp_path, served)
    (recorded,) = memories(tmp_path)

    def drop_the_oldest(data):
        data["packages"]["c"][3] = data["packages"]["c"][3][:-1]  # c 4.2: the lock takes 4.3

    tamper(recorded, drop_the_oldest)
    again, report = lock(tmp_path, served)
    assert report.remembered and report.widened == [["c"]] and again == first
    grown = json.loads(recorded.read_text())["packages"]["c"][3]
    assert len(grown) > 3  # the windows it grew to, learned
    third, report = lock(tmp_path, served)
    assert report.remembered and report.rounds == 1 and not report.widened and third == first


def test_a_memory_whose_window_misses_a_newer_version_is_dropped(tmp_path, served):
    first, _report = lock(tmp_path, served)
    (recorded,) = memories(tmp_path)

    def drop_the_newest(data):
        data["packages"]["a"][3] = data["packages"]["a"][3][1:]  # ranks: 0 is a 3.1, taken

    tamper(recorded, drop_the_newest)
    again, report = lock(tmp_path, served)
    # The windows' optimum takes a 3.0: not the selection recorded, so the lock is made anew.
    assert not report.remembered and again == first
    assert not memories(tmp_path)


def test_windows_start_as_the_memory_recorded_them_without_walking(tmp_path, served):
    first, _report = lock(tmp_path, served)
    (recorded,) = memories(tmp_path)
    data = json.loads(recorded.read_text())
    assert data["format"] == widths.FORMAT
    oldest = len(data["packages"]["a"][3]) + 3  # a's 2.x: never in a walked window
    data["packages"]["a"][3].append(oldest)
    project = load_project(tmp_path / "project")
    provider = IndexProvider(index_urls=[served.url], cache_dir=tmp_path / "cache")
    with provider:
        universe = Universe(
            project, provider, EnvironmentSpace.build(project.requires_python), warn=print
        )
        assert widths.start_from(universe, data) is not None
        universe.collect()
        package = universe.packages["a"]
        assert package.versions[oldest] in package.window
        assert widths.state(universe)["packages"] == data["packages"]
        # A widening walks every window again, from the versions it holds.
        universe.widen({"a"})
        assert package.versions[oldest] in package.window
        assert len(package.window) > len(data["packages"]["a"][3])
    recorded.write_text(json.dumps(data))
    again, report = lock(tmp_path, served)  # a window wider than needed: the same lock
    assert report.remembered and again == first


def test_a_memory_is_not_used_when_what_decides_the_walks_changed(tmp_path, served):
    """As if a version's metadata (built from an sdist: not fixed by its page) now asked other
    specifiers of a package or named another Requires-Python: the recorded windows are not the
    ones walks would give, so the lock walks them."""
    first, _report = lock(tmp_path, served)
    (recorded,) = memories(tmp_path)
    learned = json.loads(recorded.read_text())
    tamper(recorded, lambda data: data.update(walks="0" * 64))
    again, report = lock(tmp_path, served)
    assert not report.remembered and report.rounds > 1 and again == first
    assert json.loads(recorded.read_text()) == learned  # learned again


def test_what_decides_the_walks_is_the_specifiers_asked_and_metadata_requires_python(
    tmp_path, served
):
    lock(tmp_path, served)
    project = load_project(tmp_path / "project")
    provider = IndexProvider(index_urls=[served.url], cache_dir=tmp_path / "cache")
    with provider:
        universe = Universe(
            project, provider, EnvironmentSpace.build(project.requires_python), warn=print
        )
        universe.collect()
        walked = widths.state(universe)["walks"]
        universe.demands["c"].specifiers.add(">=4.3")
        assert widths.state(universe)["walks"] != walked
        universe.demands["c"].specifiers.discard(">=4.3")
        assert widths.state(universe)["walks"] == walked
        package = universe.packages["a"]
        version = max(package.metadata)
        meta = package.metadata[version]
        package.metadata[version] = replace(meta, requires_python=SpecifierSet(">=3.10"))
        assert widths.state(universe)["walks"] != walked


def test_a_memory_that_leads_to_another_selection_is_dropped(tmp_path, served):
    first, _report = lock(tmp_path, served)
    (recorded,) = memories(tmp_path)
    tamper(recorded, lambda data: data.update(selection="another"))
    again, report = lock(tmp_path, served)
    assert not report.remembered and again == first
    assert report.rounds > 2  # the round from the memory, then the usual ones
    assert not memories(tmp_path)  # the next lock learns the widths again


def test_a_memory_of_another_shape_is_ignored(tmp_path, served):
    first, _report = lock(tmp_path, served)
    (recorded,) = memories(tmp_path)
    recorded.write_text('{"format": 1, "packages": []}')
    again, report = lock(tmp_path, served)
    assert not report.remembered and again == first
    assert json.loads(recorded.read_text())["selection"]  # learned again

    def break_an_entry(data):
        data["packages"]["a"] = data["packages"]["a"][:2]

    tamper(recorded, break_an_entry)
    again, report = lock(tmp_path, served)
    assert not report.remembered and again == first


def test_only_the_most_recently_written_memories_are_kept(tmp_path, monkeypatch):
    monkeypatch.setattr("resolver.widths.KEPT", 2)
    folder = tmp_path / "widths"
    for n in range(4):
        Memory(folder / f"{n}.json").write({"packages": {}, "missing": [], "fine": False})
        os.utime(folder / f"{n}.json", (n, n))  # written one after the other
    assert sorted(p.name for p in folder.glob("*.json")) == ["2.json", "3.json"]
    assert Memory(folder / "3.json").read() is None  # no selection recorded: not a memory


def test_depths_at_single_pythons_are_recorded_and_restored(tmp_path, served):
    lock(tmp_path, served)
    (recorded,) = memories(tmp_path)
    data = json.loads(recorded.read_text())
    assert data["format"] == widths.FORMAT
    assert all(len(entry) == 6 for entry in data["packages"].values())
    # As if c's window had grown at Python 3.12 alone: a fresh universe starts from that.
    data["packages"]["c"][5] = [["3.12", 8, 3]]
    recorded.write_text(json.dumps(data))
    project = load_project(tmp_path / "project")
    provider = IndexProvider(index_urls=[served.url], cache_dir=tmp_path / "cache")
    with provider:
        universe = Universe(
            project, provider, EnvironmentSpace.build(project.requires_python), warn=print
        )
        assert widths.start_from(universe, Memory(recorded).read()) is not None
        assert universe.packages["c"].at == {Version("3.12"): (8, 3)}
        universe.collect()
        assert widths.state(universe)["packages"]["c"][5] == [["3.12", 8, 3]]


def test_a_memory_written_before_depths_at_single_pythons_is_ignored(tmp_path, served):
    first, _report = lock(tmp_path, served)
    (recorded,) = memories(tmp_path)

    def as_format_1(data):
        data["format"] = 1
        for entry in data["packages"].values():
            del entry[5]

    tamper(recorded, as_format_1)
    again, report = lock(tmp_path, served)
    assert not report.remembered and report.rounds > 1 and again == first
    assert json.loads(recorded.read_text())["format"] == widths.FORMAT  # learned again


def recorded_facts(tmp_path) -> list:
    return sorted((tmp_path / "cache" / "widths").glob("*.facts"))


def test_a_lock_records_its_facts_and_the_next_one_solves_them_beside_collection(
    tmp_path, served, way
):
    first, report = lock(tmp_path, served)  # learns the widths, records the last round's facts
    assert not report.remembered and not report.early
    (facts,) = recorded_facts(tmp_path)
    assert facts.stem == memories(tmp_path)[0].stem and facts.read_text().startswith("class(")
    kept = facts.read_text()
    second, report = lock(tmp_path, served)  # solved in a thread or child while collecting
    assert report.remembered and report.early == way and report.rounds == 1
    assert facts.read_text() == kept  # the same facts: not written again
    without, report = lock(tmp_path, served, remember=False)
    assert first == second == without and not report.early


@pytest.mark.parametrize(
    "change",
    [
        lambda text: text.replace("pref(", "pref(1", 1),  # other facts, well formed
        lambda text: text[: len(text) // 2],  # cut short
        lambda text: "not(a fact\n" + text,  # not facts at all
    ],
    ids=["other facts", "cut short", "damaged"],
)
def test_recorded_facts_other_than_the_lock_makes_are_not_taken(tmp_path, served, change, way):
    first, _report = lock(tmp_path, served)
    (facts,) = recorded_facts(tmp_path)
    kept = facts.read_text()
    facts.write_text(change(kept))
    again, report = lock(tmp_path, served)
    assert report.remembered and not report.early and again == first
    assert facts.read_text() == kept  # recorded again, as this lock made them
    _again, report = lock(tmp_path, served)
    assert report.early == way


def test_a_forgotten_memory_takes_its_facts_along(tmp_path, served):
    lock(tmp_path, served)
    (memory,) = memories(tmp_path)
    assert recorded_facts(tmp_path)
    Memory(memory).forget()
    assert not recorded_facts(tmp_path) and not memories(tmp_path)


def test_a_recorded_lock_keeps_its_text_previous_text_and_fingerprint(tmp_path):
    memory = Memory(tmp_path / "widths" / "key.json")
    packages = [{"name": "a", "version": "1.0"}, {"name": "b", "version": "2.0", "marker": "m"}]
    printed = ("state", "facts", "choice")
    assert memory.read_output() is None
    memory.write_output(
        "old lock", "new lock", [{**p, "dependencies": []} for p in packages], printed
    )
    written = memory.read_output()
    assert written is not None and written[1:] == ("new lock", packages, printed)
    assert written.over("old lock") and not written.over("another lock")
    assert not written.over(None)
    memory.write_output(None, "new lock", packages, printed)
    written = memory.read_output()
    assert written is not None and written.over(None)
    path = memory.path.with_suffix(".out")
    path.write_bytes(path.read_bytes()[:-2])  # damaged: nothing
    assert memory.read_output() is None
    memory.write_output(None, "new lock", packages, printed)
    memory.forget()
    assert not path.exists()


def test_a_lock_that_finds_every_input_again_writes_the_recorded_lock(tmp_path, served, way):
    first, report = lock(tmp_path, served)
    assert report.memory is not None and report.fingerprint is not None
    assert report.written is None
    report.memory.write_output(None, first, [], report.fingerprint)  # as the command does
    again, report = lock(tmp_path, served)
    assert report.written is not None and report.written.text == first
    assert report.remembered and report.early == way and report.rounds == 1
    assert "all_rounds_facts_s" not in report.timings  # no facts made before the lock was known
    assert again == first  # its entries, read when asked for, are the same
    # A fingerprint of other facts or another optimum: the lock is made the usual way.
    memory = report.memory
    for part in range(3):
        printed = list(report.fingerprint)
        printed[part] = "other"
        memory.write_output(None, first, [], tuple(printed))
        again, report = lock(tmp_path, served)
        assert report.written is None and "all_rounds_facts_s" in report.timings
        assert again == first
        memory.write_output(None, first, [], report.fingerprint)
