"""The cyclic garbage collector is off while a lock is made (resolver/locker.py's
lock_project), back on from the first round whose windows hold no lock, and left as it was
found once the lock is made, or off with ``ending=True`` (the command line), which also leaves
the last solver for the process's end to free."""

from __future__ import annotations

import gc

import pytest
import tomlkit

from resolver import locker
from resolver.errors import NoLockError
from resolver.locker import lock_project
from resolver.memory_provider import MemoryProvider
from resolver.project import load_project


class Watching(MemoryProvider):
    """Records, for every version whose metadata is read, whether the collector was on."""

    def __init__(self, packages) -> None:
        super().__init__(packages)
        self.seen: list[tuple[str, str, bool]] = []

    def metadata(self, name, version):
        self.seen.append((name, str(version), gc.isenabled()))
        return super().metadata(name, version)


def project(tmp_path, dependencies):
    table = {"name": "demo", "version": "0.1", "requires-python": ">=3.9"}
    table["dependencies"] = list(dependencies)
    (tmp_path / "pyproject.toml").write_text(tomlkit.dumps({"project": table}))
    return load_project(tmp_path)


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def test_the_collector_is_off_while_a_lock_is_made_and_on_again_after(tmp_path, collector_on):
    provider = Watching({"a": {"1.0": ["b"], "2.0": ["b>=2"]}, "b": {"1.0": [], "2.0": []}})
    resolution = lock_project(project(tmp_path, ["a"]), provider, warn=lambda m: None)
    assert {(e.name, str(e.version)) for e in resolution.entries} == {("a", "2.0"), ("b", "2.0")}
    assert provider.seen and not any(on for _n, _v, on in provider.seen)
    assert gc.isenabled()


def test_the_command_line_leaves_the_collector_off_after_a_lock(tmp_path, collector_on):
    provider = Watching({"a": {"1.0": []}})
    lock_project(project(tmp_path, ["a"]), provider, warn=lambda m: None, ending=True)
    assert not gc.isenabled()


def test_after_a_conflict_the_collector_stays_on(tmp_path, collector_on):
    provider = Watching({"a": {"1.0": [], "2.0": ["c>=9"], "2.1": ["c>=9"]}, "c": {"1.0": []}})
    lock_project(project(tmp_path, ["a"]), provider, warn=lambda m: None, ending=True)
    assert any(on for _n, _v, on in provider.seen)
    assert gc.isenabled()


def test_the_collector_comes_back_on_at_the_first_conflict(tmp_path, collector_on):
    # a's window (its two newest) needs c 9, which does not exist: the first round holds no
    # lock, and the versions read after it (a's older ones) are read with the collector on.
    packages = {"a": {f"1.{m}": [] for m in range(6)} | {"2.0": ["c>=9"], "2.1": ["c>=9"]}}
    packages["c"] = {"1.0": []}
    provider = Watching(packages)
    resolution = lock_project(project(tmp_path, ["a"]), provider, warn=lambda m: None)
    assert [(e.name, str(e.version)) for e in resolution.entries] == [("a", "1.5")]
    first = [v for n, v, on in provider.seen if n == "a" and not on]
    later = [v for n, v, on in provider.seen if n == "a" and on]
    assert {"2.1", "2.0"} <= set(first)
    assert "1.5" in later and "1.5" not in first
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off(tmp_path, collector_on):
    gc.disable()
    provider = Watching({"a": {"1.0": ["ghost"]}})
    with pytest.raises(NoLockError):
        lock_project(project(tmp_path, ["a"]), provider, warn=lambda m: None)
    assert not any(on for _n, _v, on in provider.seen)
    assert not gc.isenabled()


def test_the_command_line_leaves_the_last_solver_for_the_process_end_to_free(
    tmp_path, collector_on
):
    provider = Watching({"a": {"1.0": []}})
    lock_project(project(tmp_path, ["a"]), provider, warn=lambda m: None, ending=True)
    kept = list(locker._UNFREED)
    assert len(kept) == 1 and kept[0].facts.names[1] == "a"
    lock_project(project(tmp_path, ["a"]), provider, warn=lambda m: None)
    assert locker._UNFREED == kept  # only locks made with ending keep one
    locker._UNFREED.clear()


def test_names_are_canonicalised_once_each(monkeypatch):
    """``provider.canonical`` (which the universe and the index provider use) is
    ``canonicalize_name``, asked of packaging once per distinct string."""
    from packaging.utils import canonicalize_name

    from resolver import index_provider, provider, universe

    assert universe.canonical is index_provider.canonical is provider.canonical
    asked: list[str] = []
    monkeypatch.setattr(provider, "_CANONICAL", {})
    monkeypatch.setattr(
        provider, "canonicalize_name", lambda n: asked.append(n) or canonicalize_name(n)
    )
    names = ["Typing_Extensions", "zope.interface", "A--B", "typing-extensions"]
    assert [provider.canonical(n) for n in names * 3] == [canonicalize_name(n) for n in names * 3]
    assert asked == names
