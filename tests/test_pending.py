"""Locking while sdists build: a first run stands in for versions still building and fetches
what its widenings need; the lock itself is the next run's, the same as without stand-ins."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import tomlkit
from indexbuilder import Index
from packaging.utils import canonicalize_name
from packaging.version import Version

import resolver.build as build_module
from resolver.index_provider import IndexProvider
from resolver.locker import LockReport, lock_project
from resolver.memory_provider import MemoryProvider
from resolver.pending import lock_while_building
from resolver.project import load_project
from resolver.provider import MetadataUnavailable

BAR = canonicalize_name("bar")
FOO = canonicalize_name("foo")
# foo's newest releases need a qux that does not exist: its window must widen down to 2.0.
PACKAGES = {
    "foo": {f"{m}.0": ["qux>=2"] for m in range(3, 10)} | {"2.0": [], "1.0": []},
    "qux": {"1.0": []},
    "bar": {"1.0": ["baz"], "2.0": ["baz"]},
    "baz": {"1.0": []},
}


class Building(MemoryProvider):
    """bar 2.0's metadata is being built until foo 2.0's metadata is asked for (the build
    ends while the widening it waited for is fetched); foo 8.0's metadata fails."""

    offline = False

    def __init__(self) -> None:
        super().__init__(PACKAGES)
        self.built = threading.Event()

    def building(self, name, version) -> bool:
        return (name, version) == (BAR, Version("2.0")) and not self.built.is_set()

    def metadata(self, name, version):
        if (name, version) == (FOO, Version("2.0")):
            self.built.set()
        if (name, version) == (FOO, Version("8.0")):
            self.metadata_calls.append((name, version))
            raise MetadataUnavailable("foo-8.0.tar.gz: the build failed")
        if (name, version) == (BAR, Version("2.0")):
            # A resolver that waited here before widening foo would wait for ever.
            assert self.built.wait(timeout=20), "bar 2.0 was waited for before foo widened"
        return super().metadata(name, version)


def _project(tmp_path: Path):
    table = {"name": "demo", "version": "0.1", "requires-python": ">=3.9"}
    table["dependencies"] = ["foo", "bar"]
    (tmp_path / "pyproject.toml").write_text(tomlkit.dumps({"project": table}))
    return load_project(tmp_path)


def _lock(tmp_path: Path, provider, locker) -> tuple[list[tuple[str, str]], list[str], LockReport]:
    said: list[str] = []
    report = LockReport()
    resolution = locker(_project(tmp_path), provider, warn=said.append, report=report)
    return [(e.name, str(e.version)) for e in resolution.entries], said, report


def test_widening_is_fetched_while_a_version_builds_and_the_lock_is_the_same(tmp_path) -> None:
    provider = Building()
    entries, said, report = _lock(tmp_path, provider, lock_while_building)
    assert ("foo", "2.0") in entries and ("bar", "2.0") in entries
    assert "stand_ins_s" in report.timings
    # The run with bar 2.0 stood in for asked for foo 2.0 (that ended the build): the widening
    # came before the wait.
    assert provider.built.is_set()
    # The same lock and warnings as a run that waited; warnings once, not once per run.
    plain = Building()
    plain.built.set()
    assert _lock(tmp_path, plain, lock_project)[:2] == (entries, said)
    assert len([m for m in said if "foo 8.0" in m]) == 1, said


def test_without_builds_the_first_run_is_the_lock(tmp_path) -> None:
    provider = Building()
    provider.built.set()
    entries, said, report = _lock(tmp_path, provider, lock_while_building)
    assert "stand_ins_s" not in report.timings and report.rounds > 1
    plain = Building()
    plain.built.set()
    assert _lock(tmp_path, plain, lock_project)[:2] == (entries, said)
    assert provider.metadata_calls == plain.metadata_calls  # one run, not two


def test_the_index_provider_says_what_is_building(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    index.add("bar", "1.0", sdist=True, wheel=False, sdist_dynamic=True)
    index.write()
    release = threading.Event()
    real = build_module.build_metadata

    def slow(*args, **kwargs):
        assert release.wait(timeout=20)
        return real(*args, **kwargs)

    monkeypatch.setattr(build_module, "build_metadata", slow)
    with index.serve() as served:
        provider = IndexProvider(index_urls=[served.url], cache_dir=tmp_path / "cache")
        provider.files(BAR)
        provider.prefetch([(BAR, Version("1.0"))])
        assert provider.building(BAR, Version("1.0"))
        release.set()
        assert provider.metadata(BAR, Version("1.0")).name == BAR
        deadline = time.monotonic() + 10
        while provider.building(BAR, Version("1.0")):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        provider.close()
