"""IndexProvider: index priority, find-links, memoised parallel fetches, cache modes, stats."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from indexbuilder import Index
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from resolver.errors import SourceError
from resolver.http import OfflineError
from resolver.index_provider import IndexProvider
from resolver.provider import MetadataUnavailable, PackageNotFound, Provider

FOO = canonicalize_name("foo")
BAR = canonicalize_name("bar")
V1 = Version("1.0")


def provider(tmp_path: Path, index_urls: list[str], **kwargs: object) -> IndexProvider:
    kwargs.setdefault("warn", pytest.fail)
    kwargs.setdefault("cache_dir", tmp_path / "cache")
    return IndexProvider(index_urls=index_urls, **kwargs)  # type: ignore[arg-type]


def versions(p: IndexProvider, name: str) -> list[str]:
    return sorted({str(f.version) for f in p.files(canonicalize_name(name))}, key=Version)


@pytest.fixture
def two_indexes(tmp_path: Path) -> tuple[Index, Index]:
    first, second = Index(tmp_path / "first"), Index(tmp_path / "second")
    first.add("foo", "1.0", requires=["bar"])
    second.add("foo", "2.0")
    second.add("bar", "1.0")
    first.write()
    second.write()
    return first, second


def test_is_a_provider(tmp_path: Path) -> None:
    p: Provider = provider(tmp_path, [])
    assert "IndexProvider(index_urls=[]" in repr(p)


def test_first_index_wins(tmp_path: Path, two_indexes: tuple[Index, Index]) -> None:
    first, second = two_indexes
    with provider(tmp_path, [first.simple_url, second.simple_url]) as p:
        assert versions(p, "foo") == ["1.0"]  # not 2.0 from the second index
        assert versions(p, "bar") == ["1.0"]
        assert {f.index for f in p.files(FOO)} == {first.simple_url}
        assert p.metadata(FOO, V1).requires_dist == (Requirement("bar"),)


def test_find_links_are_added(tmp_path: Path, two_indexes: tuple[Index, Index]) -> None:
    first, second = two_indexes
    links = second.write_find_links()
    with provider(tmp_path, [first.simple_url], find_links=[str(links)]) as p:
        assert versions(p, "foo") == ["1.0", "2.0"]
        assert versions(p, "bar") == ["1.0"]
        assert p.metadata(FOO, Version("2.0")).version == Version("2.0")


def test_no_index_means_find_links_only(tmp_path: Path, two_indexes: tuple[Index, Index]) -> None:
    _first, second = two_indexes
    links = second.write_find_links()
    with provider(tmp_path, [], find_links=[str(links)]) as p:
        assert versions(p, "foo") == ["2.0"]
        with pytest.raises(PackageNotFound, match=r"'baz' not found \(looked in: .*find-links"):
            p.files(canonicalize_name("baz"))


def test_not_found_names_package_and_indexes(
    tmp_path: Path, two_indexes: tuple[Index, Index]
) -> None:
    first, second = two_indexes
    with provider(tmp_path, [first.simple_url, second.simple_url]) as p:
        with pytest.raises(PackageNotFound) as error:
            p.files(canonicalize_name("Nope"))
        assert "'nope'" in str(error.value)
        assert first.simple_url in str(error.value) and second.simple_url in str(error.value)
        with pytest.raises(MetadataUnavailable, match="'nope' not found"):
            p.metadata(canonicalize_name("nope"), V1)
        with pytest.raises(MetadataUnavailable, match="foo 9.0: no file of this version"):
            p.metadata(FOO, Version("9.0"))
    with provider(tmp_path, []) as p, pytest.raises(PackageNotFound, match="no index"):
        p.files(FOO)


def test_server_error_is_a_source_error(tmp_path: Path, index: Index) -> None:
    index.add("foo", "1.0")
    with index.serve(fail_paths=["/simple/foo/"]) as served:
        with provider(tmp_path, [served.url], no_cache=True) as p:
            with pytest.raises(SourceError, match=r"/simple/foo/: HTTP 500"):
                p.files(FOO)


def test_concurrent_calls_fetch_once(tmp_path: Path, index: Index) -> None:
    for version in ("1.0", "2.0", "3.0"):
        index.add("foo", version)
    # Without fetching ahead, which would add foo 3.0's metadata to the count.
    with index.serve(delay=0.05) as served, provider(tmp_path, [served.url], speculate=False) as p:
        p.prefetch([(FOO, None), (FOO, V1), (FOO, Version("2.0"))])
        results: list[object] = []
        threads = [
            threading.Thread(target=lambda: results.append(p.metadata(FOO, V1))) for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 8 and len({id(r) for r in results}) == 1
        assert p.metadata(FOO, Version("2.0")).version == Version("2.0")
    paths = [path for _, path, _ in served.requests]
    assert paths.count("/simple/foo/") == 1
    assert paths.count("/files/foo-1.0-py3-none-any.whl.metadata") == 1
    assert p.stats()["pep658"] == 2


def test_prefetch_errors_surface_later(tmp_path: Path, index: Index) -> None:
    index.add("foo", "1.0")
    index.write()
    with provider(tmp_path, [index.simple_url]) as p:
        p.prefetch([(canonicalize_name("nope"), None), (FOO, Version("7.0"))])
        with pytest.raises(PackageNotFound):
            p.files(canonicalize_name("nope"))
        with pytest.raises(MetadataUnavailable):
            p.metadata(FOO, Version("7.0"))


def test_stats_and_warm_cache(tmp_path: Path, index: Index) -> None:
    index.add("foo", "1.0", requires=["bar"], wheel_padding=100_000)
    index.add("bar", "1.0", sdist=True, wheel=False)
    with index.serve(json=False, metadata_files=False) as served:
        with provider(tmp_path, [served.url]) as p:
            p.prefetch([(FOO, V1), (BAR, V1)])
            assert p.metadata(FOO, V1).requires_dist == (Requirement("bar"),)
            p.metadata(BAR, V1)
            stats = p.stats()
        assert stats["range"] == 1 and stats["sdist-static"] == 1 and stats["cache"] == 0
        served.requests.clear()
        with provider(tmp_path, [served.url]) as p:
            p.metadata(FOO, V1)
            p.metadata(BAR, V1)
            assert p.stats()["cache"] == 2
    assert not [path for _, path, _ in served.requests if "/files/" in path]


def test_offline_serves_the_cache_and_names_misses(tmp_path: Path, index: Index) -> None:
    index.add("foo", "1.0", requires=["bar"])
    index.add("bar", "1.0")
    with index.serve() as served:
        with provider(tmp_path, [served.url], speculate=False) as p:  # bar's page stays unfetched
            p.metadata(FOO, V1)
        served.requests.clear()
        with provider(tmp_path, [served.url], offline=True) as p:
            assert versions(p, "foo") == ["1.0"]
            assert p.metadata(FOO, V1).requires_dist == (Requirement("bar"),)
            with pytest.raises(OfflineError, match=rf"--offline: {served.url}bar/ is not in"):
                p.files(BAR)
        assert served.requests == []


def test_offline_refuses_downloads(tmp_path: Path, index: Index) -> None:
    index.add("foo", "1.0")
    with index.serve(json=False, metadata_files=False) as served:
        with provider(tmp_path, [served.url], speculate=False) as p:  # the wheel stays unfetched
            p.files(FOO)
        with provider(tmp_path, [served.url], offline=True) as p:
            with pytest.raises(OfflineError, match="cannot download .*foo-1.0-py3-none-any.whl"):
                p.metadata(FOO, V1)


def test_no_cache_writes_nothing(tmp_path: Path, index: Index) -> None:
    index.add("foo", "1.0", sdist=True)
    cache = tmp_path / "cache"
    with index.serve() as served, provider(tmp_path, [served.url], no_cache=True) as p:
        p.metadata(FOO, V1)
    assert not cache.exists() or not any(cache.rglob("*"))


def test_no_build_is_passed_on(tmp_path: Path, index: Index) -> None:
    index.add("foo", "1.0", sdist=True, wheel=False, sdist_dynamic=True)
    index.write()
    with provider(tmp_path, [index.simple_url], no_build=True) as p:
        with pytest.raises(MetadataUnavailable, match="--no-build"):
            p.metadata(FOO, V1)


def assert_no_http_stack(index_url: str, cache_dir: Path, **options: object) -> None:
    """In a fresh interpreter, foo's files and foo 1.0's metadata come without importing
    requests, requests_cache or urllib3."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from packaging.version import Version\n"
        "from resolver.index_provider import IndexProvider\n"
        f"p = IndexProvider(index_urls=[{index_url!r}], cache_dir=Path({str(cache_dir)!r}),"
        f" **{options!r})\n"
        "assert p.files('foo')\n"
        "p.metadata('foo', Version('1.0'))\n"
        "bad = [m for m in ('requests', 'requests_cache', 'urllib3') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_local_lock_does_not_import_the_http_stack(tmp_path: Path, index: Index) -> None:
    index.add("foo", "1.0", sdist=True)
    index.write()
    assert_no_http_stack(index.simple_url, tmp_path)


@pytest.mark.parametrize("offline", [False, True])
def test_warm_lock_does_not_import_the_http_stack(
    tmp_path: Path, index: Index, offline: bool
) -> None:
    index.add("foo", "1.0", sdist=True)
    with index.serve() as served:
        with provider(tmp_path, [served.url]) as p:
            p.metadata(FOO, V1)
        # Fresh parsed pages (or any, offline) and cached metadata need no HTTP.
        assert_no_http_stack(served.url, tmp_path / "cache", offline=offline)
    assert [path for _, path, _ in served.requests].count("/simple/foo/") == 1


@pytest.mark.network
def test_pypi_wheel_metadata_by_byte_ranges(tmp_path: Path) -> None:
    """Reads six's METADATA from a real wheel with HTTP ranges (PEP 658 files are skipped)."""
    from resolver.http import Http
    from resolver.metadata import MetadataFetcher

    with provider(tmp_path, ["https://pypi.org/simple/"], no_cache=True) as p:
        (wheel,) = [f for f in p.files(canonicalize_name("six")) if f.filename.endswith(".whl")][
            -1:
        ]
    unannounced = dataclasses.replace(wheel, core_metadata=None)
    fetcher = MetadataFetcher(Http(), probe_metadata_files=False, warn=print)
    meta = fetcher.fetch(canonicalize_name("six"), wheel.version, [unannounced])
    assert meta.name == "six" and meta.requires_python is not None
    assert fetcher.stats()["range"] == 1


def test_stale_page_when_the_index_fails(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("resolver.http.DEFAULT_EXPIRY", timedelta(seconds=1))
    index.add("foo", "1.0")
    with index.serve() as served:
        with provider(tmp_path, [served.url]) as p:
            p.files(FOO)
        time.sleep(1.1)
        served.fail_paths.add("/simple/foo/")
        warnings: list[str] = []
        with provider(tmp_path, [served.url], warn=warnings.append) as p:
            assert versions(p, "foo") == ["1.0"]
    assert warnings == [f"{served.url}foo/ could not be refreshed; using the cached copy"]


def test_online_fetches_stream_ahead_of_the_resolver(tmp_path: Path, index: Index) -> None:
    # Asking for foo's page alone brings in the metadata of its two newest final releases (not
    # the pre-release, not the yanked one, not the oldest) and then the pages of what they
    # require, except requirements under an extra.
    index.add("foo", "1.0", requires=["old"])
    index.add("foo", "2.0", requires=["bar"])
    index.add("foo", "3.0", requires=["bar", "baz; extra == 'x'"])
    index.add("foo", "3.5", yanked="broken")
    index.add("foo", "4.0rc1")
    for name in ("bar", "baz", "old"):
        index.add(name, "1.0")
    with index.serve() as served, provider(tmp_path, [served.url]) as p:
        p.files(FOO)
        served.wait_until(lambda: "/simple/bar/" in served.paths(), timeout=10)
    paths = [path for _, path, _ in served.requests]
    assert "/files/foo-3.0-py3-none-any.whl.metadata" in paths
    assert "/files/foo-2.0-py3-none-any.whl.metadata" in paths
    for unasked in ("foo-1.0-", "foo-3.5-", "foo-4.0rc1-", "/simple/baz/", "/simple/old/"):
        assert not [path for path in paths if unasked in path], paths


def test_offline_fetches_only_what_is_asked(tmp_path: Path, index: Index) -> None:
    index.add("foo", "1.0", requires=["bar"])
    index.add("bar", "1.0")
    with index.serve() as served:
        with provider(tmp_path, [served.url]) as p:
            p.files(FOO)
            p.metadata(FOO, V1)
            p.files(BAR)
        with provider(tmp_path, [served.url], offline=True) as p:
            assert not p.speculate
            p.files(FOO)
            assert ("metadata", FOO, V1) not in p._memo
            assert ("files", BAR) not in p._memo
            # Asked to prefetch, an offline provider starts no threads: the resolver reads the
            # local files itself when it needs them.
            p.prefetch([(FOO, V1), (BAR, None)])
            assert p._executor is None
            assert ("metadata", FOO, V1) not in p._memo
            assert p.metadata(FOO, V1).requires_dist == (Requirement("bar"),)
            assert versions(p, "bar") == ["1.0"]


def test_warnings_of_work_fetched_ahead_wait_until_it_is_asked_for(
    tmp_path: Path, index: Index
) -> None:
    index.add("foo", "1.0", requires_python=">=3.6.*")  # warned about on the page and in metadata
    warnings: list[str] = []
    with index.serve() as served, provider(tmp_path, [served.url], warn=warnings.append) as p:
        p.files(FOO)
        served.wait_until(
            lambda: (
                ("metadata", FOO, V1) in p._memo and p._held.get(("metadata", FOO, V1)) is not None
            ),
            timeout=10,
        )
        on_page = list(warnings)
        assert len(on_page) == 1 and "'>=3.6.*'" in on_page[0]  # the page's own warning only
        p.metadata(FOO, V1)
        assert len(warnings) == 2 and "foo 1.0" in warnings[1] and "'>=3.6.*'" in warnings[1]
        p.metadata(FOO, V1)
        assert len(warnings) == 2  # told once


def test_memo_computes_once_for_all_threads_and_shares_the_error() -> None:
    import threading
    import time

    from resolver.index_provider import _Memo

    memo = _Memo()
    calls: list[str] = []

    def slow(key: str) -> str:
        calls.append(key)
        time.sleep(0.05)
        if key == "bad":
            raise ValueError("no such thing")
        return key.upper()

    results: list[object] = []

    def ask(key: str) -> None:
        try:
            results.append(memo.get(key, lambda: slow(key)))
        except ValueError as exc:
            results.append(str(exc))

    threads = [threading.Thread(target=ask, args=(k,)) for k in ["ok"] * 4 + ["bad"] * 4]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(calls) == ["bad", "ok"]
    assert sorted(map(str, results)) == ["OK"] * 4 + ["no such thing"] * 4
    assert "ok" in memo and "other" not in memo
    assert memo.get("ok", lambda: "again") == "OK"


def test_files_by_version_groups_a_page_as_file_by_file(index, tmp_path) -> None:
    index.add("foo", "1.0")
    index.add("foo", "1.1", sdist=True)
    index.add("foo", "2.0")
    index.write()
    for offline in (False, True):  # parsed, then stored
        provider = IndexProvider(
            index_urls=[index.simple_url], cache_dir=tmp_path / "cache", offline=offline
        )
        files = provider.files("foo")
        groups: dict = {}
        for file in files:
            groups.setdefault(file.version, []).append(file)
        assert provider.files_by_version("foo") == groups
        assert list(provider.files_by_version("foo")) == list(groups)


def test_what_the_resolver_asks_for_does_not_wait_behind_work_fetched_ahead(
    tmp_path: Path, index: Index
) -> None:
    # One thread per pool and a slow index: foo's page brings ten requirement pages fetched
    # ahead, one after another; a page the resolver then asks for is fetched beside them.
    required = [f"r{i}" for i in range(10)]
    index.add("foo", "1.0", requires=required)
    for name in [*required, "wanted"]:
        index.add(name, "1.0")
    with index.serve(delay=0.2) as served, provider(tmp_path, [served.url], max_workers=1) as p:
        p.files(FOO)
        served.wait_until(lambda: "/simple/r0/" in served.paths(), timeout=10)
        p.prefetch([(canonicalize_name("wanted"), None)])
        served.wait_until(lambda: "/simple/wanted/" in served.paths(), timeout=10)
        ahead = [path for path in served.paths() if path.startswith("/simple/r")]
        assert len(ahead) < len(required), ahead
