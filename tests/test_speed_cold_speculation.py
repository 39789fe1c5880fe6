"""Cold locks: what is fetched ahead of the resolver, and where the slow work runs."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import pytest
from indexbuilder import Index
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

import resolver.metadata as metadata_module
from resolver.environments import EnvironmentSpace
from resolver.errors import SourceError
from resolver.http import Http
from resolver.index import fetch_project_page
from resolver.index_provider import IndexProvider, _likely_versions
from resolver.metadata import MetadataFetcher
from resolver.project import load_project
from resolver.provider import DistFile, MetadataUnavailable
from resolver.universe import Universe

FOO = canonicalize_name("foo")
BAR = canonicalize_name("bar")


def _file(version: str, kind: str = "wheel", *, yanked: str | None = None) -> DistFile:
    suffix = "-py3-none-any.whl" if kind == "wheel" else ".tar.gz"
    return DistFile(
        filename=f"foo-{version}{suffix}",
        url=f"https://example.invalid/foo-{version}{suffix}",
        kind=kind,  # type: ignore[arg-type]
        version=Version(version),
        yanked=yanked,
    )


def test_likely_versions_are_the_first_window() -> None:
    files = [
        _file("1.0"),
        _file("1.5", "sdist"),
        _file("2.0"),
        _file("2.0", "sdist"),
        _file("2.5", "sdist"),
        _file("3.0", "sdist"),
        _file("4.0rc1"),
        _file("3.5", yanked="broken"),
    ]
    files.sort(key=lambda f: (f.version, f.kind))
    # 3.0 (sdist only) is what a resolver's window starts with, and it fills the window (a
    # release whose metadata needs a build takes two places): fetched (and built) ahead alone.
    assert _likely_versions(files) == [Version("3.0")]
    assert _likely_versions(files, builds=False) == [Version("2.0"), Version("1.0")]
    # The first requirement seen on the package chooses among the releases.
    assert _likely_versions(files, SpecifierSet("<2")) == [Version("1.5")]
    assert _likely_versions(files, SpecifierSet(">5")) == []
    assert _likely_versions(files, SpecifierSet("<=2.5,!=2.0")) == [Version("2.5")]
    # After a release with a wheel, the next one is read even if it needs a build.
    assert _likely_versions(files, SpecifierSet("<2.5")) == [Version("2.0"), Version("1.5")]
    assert _likely_versions(files, SpecifierSet("<2.5"), builds=False) == [
        Version("2.0"),
        Version("1.0"),
    ]
    assert _likely_versions(files, depth=3) == [Version("3.0"), Version("2.5")]


def test_likely_versions_fill_each_python_of_the_space() -> None:
    def made(version: str, requires_python: str) -> DistFile:
        return dataclasses.replace(_file(version), requires_python=SpecifierSet(requires_python))

    files = [
        made("1.0", ">=3.8"),
        made("1.1", ">=3.8"),
        made("1.2", ">=3.8"),
        made("2.0", ">=3.10"),
        made("2.1", ">=3.11"),
        made("2.2", ">=3.11"),
        made("2.3", ">=3.11"),
    ]
    pythons = [Version("3.9"), Version("3.10"), Version("3.11")]
    # The newest two that run on each Python: 3.11 takes 2.3 and 2.2, 3.10 takes 2.0 and
    # 1.2, 3.9 takes 1.2 and 1.1; the walk stops there, before 1.0.
    assert _likely_versions(files, pythons=pythons) == [
        Version("2.3"),
        Version("2.2"),
        Version("2.0"),
        Version("1.2"),
        Version("1.1"),
    ]
    # Without the space's Pythons, only the newest two (as for a provider nobody told).
    assert _likely_versions(files) == [Version("2.3"), Version("2.2")]
    # A walk gives up after ``scan`` releases: no release of this page runs on 3.7.
    assert _likely_versions(files, pythons=[Version("3.7")], scan=3) == []
    # An sdist-only release for older Pythons than the newest's is read too (pyspark 4.3.0
    # for >=3.11, 4.2.1 for >=3.10).
    older = dataclasses.replace(_file("2.5", "sdist"), requires_python=SpecifierSet(">=3.8"))
    newer = dataclasses.replace(_file("3.0", "sdist"), requires_python=SpecifierSet(">=3.11"))
    assert _likely_versions([older, newer], pythons=pythons) == [Version("3.0"), Version("2.5")]


def test_sdist_only_requirements_are_read_ahead_in_threads_of_their_own(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    # foo's metadata names bar>=1,<2; bar 2.0 has a wheel, bar 1.5 and 1.0 only sdists: bar
    # 1.5 (the newest that meets the requirement) is read ahead, in an "aspen-sdist" thread,
    # before anyone asks for it; 1.0 is not.
    index.add("foo", "1.0", requires=["bar>=1,<2"])
    index.add("bar", "1.0", sdist=True, wheel=False)
    index.add("bar", "1.5", sdist=True, wheel=False)
    index.add("bar", "2.0")
    threads: dict[str, str] = {}
    sdist = MetadataFetcher._sdist

    def spy(self: MetadataFetcher, name: str, file: DistFile) -> object:
        threads[file.filename] = threading.current_thread().name
        return sdist(self, name, file)  # type: ignore[arg-type]

    monkeypatch.setattr(MetadataFetcher, "_sdist", spy)
    with index.serve() as served:
        with IndexProvider(
            index_urls=[served.url], cache_dir=tmp_path / "cache", warn=pytest.fail
        ) as p:
            p.files(FOO)
            served.wait_until(lambda: ("metadata", BAR, Version("1.5")) in p._memo)
            assert p.metadata(BAR, Version("1.5")).version == Version("1.5")
            assert p.stats()["sdist-static"] == 1
    assert set(threads) == {"bar-1.5.tar.gz"}
    assert threads["bar-1.5.tar.gz"].startswith("aspen-sdist")


def test_no_build_reads_no_sdist_ahead(tmp_path: Path, index: Index) -> None:
    index.add("foo", "1.0", requires=["bar"])
    index.add("bar", "1.0", sdist=True, wheel=False)
    with index.serve() as served:
        with IndexProvider(
            index_urls=[served.url], cache_dir=tmp_path / "cache", warn=pytest.fail, no_build=True
        ) as p:
            p.files(FOO)
            served.wait_until(lambda: "/simple/bar/" in served.paths())
            time.sleep(0.2)
        assert not [path for _, path, _ in served.requests if path.endswith(".tar.gz")]


def _sdist(index: Index, served_url: str, version: str) -> DistFile:
    files = fetch_project_page(Http(), served_url, "foo", warn=pytest.fail)
    assert files is not None
    (found,) = [f for f in files if f.version == Version(version)]
    return found


def test_large_sdists_are_read_in_a_child_process(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resolver import scratch

    index.add("foo", "1.0", requires=["bar>=2"], sdist=True, wheel=False)
    runs: list[list[str]] = []
    run = scratch.run

    def spy(command: list[str], **kwargs: object) -> object:
        runs.append(command)
        return run(command, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scratch, "run", spy)
    monkeypatch.setattr(metadata_module, "LARGE_DOWNLOAD", 1)
    with index.serve() as served:
        sdist = _sdist(index, served.url, "1.0")
        fetcher = MetadataFetcher(Http(), no_cache=True, warn=pytest.fail)
        meta = fetcher.fetch(FOO, Version("1.0"), [sdist])
        assert [str(r) for r in meta.requires_dist] == ["bar>=2"]
        assert fetcher.stats()["sdist-static"] == 1
        assert [c for c in runs if metadata_module._CHILD in c]  # read by a child process
        # The child's failures are the parent's, naming the file.
        missing = DistFile(
            filename="foo-1.0.tar.gz",
            url=served.url.replace("/simple/", "/files/") + "nothing-here-1.0.tar.gz",
            kind="sdist",
            version=Version("1.0"),
            size=10,
        )
        with pytest.raises(MetadataUnavailable, match="nothing-here-1.0.tar.gz: HTTP 404"):
            MetadataFetcher(Http(), no_cache=True, warn=pytest.fail).fetch(
                FOO, Version("1.0"), [missing]
            )
        served.fail_paths.add("/files/foo-1.0.tar.gz")
        with pytest.raises(SourceError, match="foo-1.0.tar.gz"):
            MetadataFetcher(Http(), no_cache=True, warn=pytest.fail).fetch(
                FOO, Version("1.0"), [sdist]
            )


def test_no_build_ahead_for_requirements_of_old_pythons_only(tmp_path: Path, index: Index) -> None:
    # bar is required only below Python 3.8 (a backport): its page is read ahead, its sdist is
    # not; baz's marker holds on current Pythons: its sdist is read ahead.
    index.add("foo", "1.0", requires=['bar; python_version < "3.8"', 'baz; python_version < "4"'])
    index.add("bar", "1.0", sdist=True, wheel=False)
    index.add("baz", "1.0", sdist=True, wheel=False)
    with index.serve() as served:
        with IndexProvider(
            index_urls=[served.url], cache_dir=tmp_path / "cache", warn=pytest.fail
        ) as p:
            p.files(FOO)
            served.wait_until(
                lambda: (
                    ("metadata", canonicalize_name("baz"), Version("1.0")) in p._memo
                    and ("files", BAR) in p._memo
                )
            )
            assert p.metadata(canonicalize_name("baz"), Version("1.0")).version == Version("1.0")
            time.sleep(0.2)
            assert ("metadata", BAR, Version("1.0")) not in p._memo
        assert not [path for _, path, _ in served.requests if path.endswith("bar-1.0.tar.gz")]


def test_work_fetched_ahead_fills_the_windows_of_older_pythons(
    tmp_path: Path, index: Index
) -> None:
    # bar's newest releases need Python 3.11; a lock for >=3.10 also starts bar's window with
    # the newest two that run on 3.10. The universe tells the provider its Pythons, so those
    # are read ahead too, before the resolver asks for them; 0.9 is not.
    index.add("foo", "1.0", requires=["bar"])
    for version in ("0.9", "1.0", "1.1"):
        index.add("bar", version, requires_python=">=3.9")
    for version in ("2.0", "2.1"):
        index.add("bar", version, requires_python=">=3.11")
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
        'dependencies = ["foo"]\n'
    )
    with index.serve() as served:
        with IndexProvider(
            index_urls=[served.url], cache_dir=tmp_path / "cache", warn=pytest.fail
        ) as p:
            Universe(
                load_project(tmp_path / "project"),
                p,
                EnvironmentSpace.build(SpecifierSet(">=3.10")),
                warn=pytest.fail,
            )
            p.prefetch([(FOO, None)])
            wanted = {Version(v) for v in ("1.0", "1.1", "2.0", "2.1")}
            served.wait_until(lambda: all(("metadata", BAR, v) in p._memo for v in wanted))
            time.sleep(0.2)
            assert ("metadata", BAR, Version("0.9")) not in p._memo
        fetched = {path for _, path, _ in served.requests if "/bar-" in path}
    assert not any("bar-0.9" in path for path in fetched)


def test_what_the_resolvers_work_leads_to_first_runs_in_its_threads(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The resolver asks for foo's page: foo's first window (1.0) is fetched ahead in the
    # resolver's own threads ("aspen-asked"), since it is what the resolver asks next; what
    # that leads to (bar's page, then bar's window) is fetched ahead as usual ("aspen-fetch").
    index.add("foo", "1.0", requires=["bar"])
    index.add("bar", "1.0")
    threads: dict[str, str] = {}
    fetch, listed = MetadataFetcher.fetch, IndexProvider._listed

    def fetch_spy(self: MetadataFetcher, name: str, version: Version, files: object) -> object:
        threads[f"metadata {name}"] = threading.current_thread().name
        return fetch(self, name, version, files)  # type: ignore[arg-type]

    def listed_spy(self: IndexProvider, name: str) -> object:
        threads[f"page {name}"] = threading.current_thread().name
        return listed(self, name)  # type: ignore[arg-type]

    monkeypatch.setattr(MetadataFetcher, "fetch", fetch_spy)
    monkeypatch.setattr(IndexProvider, "_listed", listed_spy)
    with index.serve() as served:
        with IndexProvider(
            index_urls=[served.url], cache_dir=tmp_path / "cache", warn=pytest.fail
        ) as p:
            p.files(FOO)
            served.wait_until(lambda: ("metadata", BAR, Version("1.0")) in p._memo)
    assert threads["page foo"] == "MainThread"
    assert threads["metadata foo"].startswith("aspen-asked")
    assert threads["page bar"].startswith("aspen-fetch")
    assert threads["metadata bar"].startswith("aspen-fetch")
