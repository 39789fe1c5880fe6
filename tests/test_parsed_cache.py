"""The cache of parsed index pages: warm runs give what cold runs give, without HTTP; expired
pages are asked for again; damaged entries are ignored; --no-cache and --offline behave."""

from __future__ import annotations

import copy
import dataclasses
import multiprocessing
import pickle
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from indexbuilder import Index
from packaging.specifiers import SpecifierSet
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name
from packaging.version import Version

import resolver.index as index_module
import resolver.parsed_cache as parsed_cache
from resolver.errors import SourceError
from resolver.http import OfflineError
from resolver.index_provider import IndexProvider
from resolver.parsed_cache import CachedPage, PageCache, StoredFile
from resolver.provider import DistFile

FOO = canonicalize_name("foo")
BAR = canonicalize_name("bar")
URL = "https://example.org/simple/foo/"
ACCEPT = "application/vnd.pypi.simple.v1+json"


def sample_files() -> list[DistFile]:
    """Files covering every field and value shape a page can give."""
    when = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    return [
        DistFile(
            filename="foo-1.0.tar.gz",
            url="https://files.example.org/foo-1.0.tar.gz",
            kind="sdist",
            version=Version("1.0"),
            hashes={"sha256": "ab" * 32},
            requires_python=SpecifierSet(">=3.8"),
            size=1234,
            upload_time=when,
            index="https://example.org/simple/",
        ),
        DistFile(
            filename="foo-1.0-py2.py3-none-any.whl",
            url="https://files.example.org/foo-1.0-py2.py3-none-any.whl",
            kind="wheel",
            version=Version("1.0"),
            hashes={"sha256": "cd" * 32, "md5": "ef" * 16},
            requires_python=SpecifierSet(">=3.8"),
            core_metadata={"sha256": "01" * 32},
            tags=parse_tag("py2.py3-none-any"),
            index="https://example.org/simple/",
        ),
        DistFile(
            filename="foo-2.0rc1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            url="https://files.example.org/foo-2.0rc1-cp312-cp312-manylinux_2_17_x86_64.whl",
            kind="wheel",
            version=Version("2.0rc1"),
            yanked="",
            core_metadata={},
            tags=parse_tag("cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64"),
        ),
        DistFile(
            filename="foo-2.0rc1.zip",
            url="https://files.example.org/foo-2.0rc1.zip",
            kind="sdist",
            version=Version("2.0rc1"),
            yanked="broken build",
            upload_time=when + timedelta(days=3),
        ),
    ]


def wheel(version: str, tag: str, python: str | None = None, yanked: str | None = None) -> DistFile:
    """A wheel of foo with this tag, Requires-Python and yanked reason."""
    return DistFile(
        filename=f"foo-{version}-{tag}.whl",
        url=f"https://files.example.org/foo-{version}-{tag}.whl",
        kind="wheel",
        version=Version(version),
        tags=parse_tag(tag),
        yanked=yanked,
        requires_python=None if python is None else SpecifierSet(python),
    )


def fields_of(file: DistFile) -> dict[str, object]:
    return {f.name: getattr(file, f.name) for f in dataclasses.fields(DistFile)}


def test_round_trip_gives_the_same_files(tmp_path: Path) -> None:
    cache = PageCache(tmp_path)
    files = sample_files()
    page = CachedPage(time.time() + 60, b"digest", tuple(files), ("a warning",))
    cache.store(URL, ACCEPT, page, "foo")
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None and loaded.files is not None
    assert loaded.fresh() and loaded.digest == b"digest" and loaded.warnings == ("a warning",)
    assert [fields_of(f) for f in loaded.files] == [fields_of(f) for f in files]
    assert list(loaded.files) == files and files == list(loaded.files)
    assert [f.is_yanked for f in loaded.files] == [False, False, True, True]
    stored = loaded.files[1]
    assert isinstance(stored, StoredFile) and isinstance(stored, DistFile)
    assert stored.hashes is stored.hashes  # decoded once
    assert "foo-1.0-py2.py3-none-any.whl" in repr(stored)
    # Copies are plain records.
    for copied in (
        dataclasses.replace(stored, yanked="x"),
        copy.copy(stored),
        pickle.loads(pickle.dumps(stored)),
    ):
        assert type(copied) is DistFile
    assert dataclasses.replace(stored, yanked="x").yanked == "x"
    assert pickle.loads(pickle.dumps(stored)) == files[1]


def test_small_runs_are_stored_uncompressed_and_large_ones_compressed(tmp_path: Path) -> None:
    """A run of one version whose cold rows are small is stored as marshalled, a large one
    compressed; both read back the same files."""
    import zlib

    many = [
        dataclasses.replace(
            sample_files()[1],
            filename=f"foo-3.0-py3-none-manylinux_2_{n}_x86_64.whl",
            url=f"https://files.example.org/foo-3.0-py3-none-manylinux_2_{n}_x86_64.whl",
            version=Version("3.0"),
            tags=parse_tag(f"py3-none-manylinux_2_{n}_x86_64"),
        )
        for n in range(20)
    ]
    files = [*sample_files(), *many]
    encoded = parsed_cache._encoded(parsed_cache._tables(files))
    page = parsed_cache._read_page(memoryview(encoded))
    blobs = [bytes(page.blobs[a:b]) for a, b in zip(page.offsets, page.offsets[1:], strict=False)]
    assert [blob[0] == 0x78 for blob in blobs] == [False, False, True]
    assert zlib.decompress(blobs[-1])[0] != 0x78
    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(files), ()), "foo")
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None and loaded.files is not None
    assert [fields_of(f) for f in loaded.files] == [fields_of(f) for f in files]


def test_names_urls_and_sizes_are_read_without_decoding_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = PageCache(tmp_path)
    files = sample_files()
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(files), ()), "foo")
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None and loaded.files is not None

    def undecodable(text: str | None) -> None:
        raise AssertionError("an upload time decoded")

    monkeypatch.setattr(parsed_cache, "_datetime", undecodable)
    assert [(f.filename, f.url, f.size, f.index) for f in loaded.files] == [
        (f.filename, f.url, f.size, f.index) for f in files
    ]
    monkeypatch.undo()
    assert [fields_of(f) for f in loaded.files] == [fields_of(f) for f in files]


def test_missing_project_and_expiry_round_trip(tmp_path: Path) -> None:
    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(time.time() - 1, b"d", None, ()), "foo")
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None and loaded.files is None and not loaded.fresh()
    cache.store(URL, ACCEPT, CachedPage(None, b"d", (), ()), "foo")
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None and loaded.files == () and loaded.fresh()
    assert cache.load(URL, "text/html", "foo") is None  # another Accept is another entry
    cache.discard(URL, ACCEPT, "foo")
    assert cache.load(URL, ACCEPT, "foo") is None


def _checked(data: bytes) -> int:
    """The length of an entry's checked part (its header and hot tables)."""
    return int.from_bytes(data[len(b"aspen-page\n") + 4 :][:4], "big")


def _flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1 :]


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated
        lambda data: _flipped(data, 40),  # a bit of the header
        lambda data: _flipped(data, len(b"aspen-page\n") + 8 + _checked(data) - 5),  # tables
        lambda data: b"",
        lambda data: b"garbage" * 100,
        lambda data: data.replace(b"aspen-page", b"aspen-pagf"),  # another format
    ],
)
def test_damaged_entries_are_misses(tmp_path: Path, damage: object) -> None:
    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(sample_files()), ()), "foo")
    (path,) = (tmp_path / "foo").iterdir()
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    assert cache.load(URL, ACCEPT, "foo") is None


def test_damaged_cold_rows_stop_the_run_and_remove_the_entry(tmp_path: Path) -> None:
    # Cold rows are checked when first read, not when the page is loaded: a CRC of every byte
    # of every page cost a warm lock of examples/large 187 M instructions.
    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(sample_files()), ()), "foo")
    (path,) = (tmp_path / "foo").iterdir()
    data = path.read_bytes()
    path.write_bytes(_flipped(data, len(data) - 1))  # in the last run's cold rows
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None and loaded.files is not None
    first, last = loaded.files[0], loaded.files[-1]
    assert first.url == sample_files()[0].url  # another run's rows are whole
    assert last.version == Version("2.0rc1")  # hot fields are read from the checked tables
    with pytest.raises(SourceError, match="damaged; it was removed"):
        last.url  # noqa: B018
    assert not path.exists()
    assert cache.load(URL, ACCEPT, "foo") is None


def test_entries_of_the_previous_format_are_misses(tmp_path: Path) -> None:
    # Format 6 checked its whole entry with one CRC placed right after the magic.
    import marshal
    import zlib

    from packaging import __version__ as packaging_version

    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(sample_files()), ()), "foo")
    (path,) = (tmp_path / "foo").iterdir()
    header = marshal.dumps(
        (f"6/{packaging_version}", URL, ACCEPT, None, b"d", (), True, None, None)
    )
    rest = len(header).to_bytes(4, "big") + header + b"\0" * 64
    path.write_bytes(b"aspen-page\n" + zlib.crc32(rest).to_bytes(4, "big") + rest)
    assert cache.load(URL, ACCEPT, "foo") is None


def test_entries_of_another_format_or_inconsistent_tables_are_misses(tmp_path: Path) -> None:
    import marshal
    import zlib

    from packaging import __version__ as packaging_version

    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(sample_files()), ()), "foo")
    (path,) = (tmp_path / "foo").iterdir()
    assert cache.load(URL, ACCEPT, "foo") is not None
    tables = parsed_cache._tables(sample_files())
    # Format 4: one marshal payload, the tables marshalled whole inside it.
    payload = marshal.dumps(
        (f"4/{packaging_version}", URL, ACCEPT, None, b"d", (), True, marshal.dumps(tables))
        + (None, None)
    )
    path.write_bytes(b"aspen-page\n" + zlib.crc32(payload).to_bytes(4, "big") + payload)
    assert cache.load(URL, ACCEPT, "foo") is None

    def stored(encoded: bytes) -> CachedPage | None:
        page = CachedPage(None, b"d", (), (), encoded)
        cache.store(URL, ACCEPT, page, "foo")
        return cache.load(URL, ACCEPT, "foo")

    assert stored(parsed_cache._encoded(tables)) is not None
    versions, specifiers, tag_sets, versions_of, *rest = tables
    bad = (versions, specifiers, tag_sets, (5, *versions_of[1:]), *rest)  # no version 5
    assert stored(parsed_cache._encoded(bad)) is None
    specifiers_of = tables[5]
    bad = (*tables[:5], (300, *specifiers_of[1:]), *tables[6:])  # a wider column, out of range
    assert stored(parsed_cache._encoded(bad)) is None
    assert stored(parsed_cache._encoded(tables)[:-1]) is None  # a cold blob cut short
    encoded = parsed_cache._encoded(tables)
    size = int.from_bytes(encoded[:4], "big")
    hot = list(marshal.loads(encoded[4 : 4 + size]))
    hot[7] = "d"  # the runs' versions as floats
    changed = marshal.dumps(tuple(hot))
    assert stored(len(changed).to_bytes(4, "big") + changed + encoded[4 + size :]) is None
    # The runs' cold rows out of order: an offset above the next one.
    from array import array

    hot = list(marshal.loads(encoded[4 : 4 + size]))
    offsets = array(hot[9], hot[10]).tolist()
    assert len(offsets) >= 3
    offsets[1] = offsets[-1] + 1
    hot[9:11] = parsed_cache._column(offsets)
    changed = marshal.dumps(tuple(hot))
    assert stored(len(changed).to_bytes(4, "big") + changed + encoded[4 + size :]) is None


def _store_many(directory: str, seed: int) -> None:
    cache = PageCache(Path(directory))
    files = sample_files()
    for i in range(200):
        cache.store(URL, ACCEPT, CachedPage(None, bytes([seed, i % 256]), tuple(files), ()), "foo")


def test_concurrent_writers_leave_whole_entries(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_store_many, args=(str(tmp_path), s)) for s in (1, 2)]
    for writer in writers:
        writer.start()
    cache = PageCache(tmp_path)
    seen = 0
    while any(w.is_alive() for w in writers):
        loaded = cache.load(URL, ACCEPT, "foo")
        if loaded is not None:
            assert loaded.files == tuple(sample_files())
            seen += 1
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert cache.load(URL, ACCEPT, "foo") is not None
    assert [p.name for p in (tmp_path / "foo").iterdir() if p.name.startswith(".tmp")] == []


def test_big_entries_are_mapped_and_survive_a_replace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A big entry is mapped, not read: its cold rows are read from the mapping when a file is
    # read. Another process replaces the entry by a rename (write_atomically) or removes it:
    # a page already loaded keeps reading the file it was mapped from.
    import gc
    import mmap

    monkeypatch.setattr(parsed_cache, "_MAP_FROM", 1)
    cache = PageCache(tmp_path)
    files = sample_files()
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(files), ()), "foo")
    (path,) = (tmp_path / "foo").iterdir()
    before = parsed_cache._mapped_now[0]
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None and loaded.files is not None
    assert isinstance(loaded.encoded, memoryview) and isinstance(loaded.encoded.obj, mmap.mmap)
    assert parsed_cache._mapped_now[0] == before + 1
    other = [dataclasses.replace(f, url=f.url + "?new", filename="x" + f.filename) for f in files]
    cache.store(URL, ACCEPT, CachedPage(None, b"e", tuple(other), ()), "foo")
    assert [f.url for f in loaded.files] == [f.url for f in files]  # cold rows, read now
    again = cache.load(URL, ACCEPT, "foo")
    assert again is not None and again.digest == b"e" and again.files == tuple(other)
    cache.discard(URL, ACCEPT, "foo")
    assert not path.exists() and list(loaded.files) == files
    # Stored again from the mapping (an unchanged page revalidated), it is the same entry.
    cache.store(URL, ACCEPT, dataclasses.replace(loaded, expires=1.0), "foo")
    assert cache.load(URL, ACCEPT, "foo").files == tuple(files)  # type: ignore[union-attr]
    del loaded, again
    gc.collect()
    assert parsed_cache._mapped_now[0] == before  # mappings end with their pages


def test_small_entries_and_those_past_the_mapping_limit_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(sample_files()), ()), "foo")
    small = cache.load(URL, ACCEPT, "foo")
    assert small is not None and isinstance(small.encoded, memoryview)
    assert isinstance(small.encoded.obj, bytes)  # below _MAP_FROM
    monkeypatch.setattr(parsed_cache, "_MAP_FROM", 1)
    monkeypatch.setattr(parsed_cache, "_MAP_MOST", parsed_cache._mapped_now[0])
    full = cache.load(URL, ACCEPT, "foo")
    assert full is not None and isinstance(full.encoded.obj, bytes)  # type: ignore[union-attr]
    assert full.files == tuple(sample_files())


# -- through the provider, against a served index --------------------------------------------


def provider(tmp_path: Path, url: str, **kwargs: object) -> IndexProvider:
    kwargs.setdefault("warn", pytest.fail)
    return IndexProvider(index_urls=[url], cache_dir=tmp_path / "cache", **kwargs)  # type: ignore[arg-type]


def page_requests(served: object) -> list[str]:
    return [path for _, path, _ in served.requests if path.startswith("/simple/")]  # type: ignore[attr-defined]


@pytest.fixture
def foo_index(index: Index) -> Index:
    index.add("foo", "1.0", requires=["bar"], requires_python=">=3.8", sdist=True)
    index.add("foo", "2.0", yanked="broken")
    index.add("bar", "1.0")
    return index


@pytest.mark.parametrize("json", [True, False])
def test_warm_run_gives_the_cold_files_without_http(
    tmp_path: Path, foo_index: Index, json: bool
) -> None:
    # Without fetching ahead, which may or may not reach foo's other versions before the first
    # provider closes, and would ask for them in the second.
    with foo_index.serve(json=json) as served:
        with provider(tmp_path, served.url, speculate=False) as p:
            cold_files = [fields_of(f) for f in p.files(FOO)]
            cold_meta = p.metadata(FOO, Version("1.0"))
        served.requests.clear()
        # Fresh stored parses answer alone; no copy of the responses is kept beside them.
        assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["metadata", "pages"]
        with provider(tmp_path, served.url, speculate=False) as p:
            warm = p.files(FOO)
            assert all(isinstance(f, StoredFile) for f in warm)
            assert [fields_of(f) for f in warm] == cold_files
            assert p.metadata(FOO, Version("1.0")) == cold_meta
            assert p.stats()["cache"] == 1
        assert served.requests == []


def test_missing_project_is_remembered(tmp_path: Path, foo_index: Index) -> None:
    with foo_index.serve() as served:
        for _ in range(2):
            with provider(tmp_path, served.url) as p:
                with pytest.raises(Exception, match="'nope' not found"):
                    p.files(canonicalize_name("nope"))
        assert page_requests(served) == ["/simple/nope/"]


def test_parse_warnings_are_repeated_on_warm_runs(tmp_path: Path, index: Index) -> None:
    index.add("foo", "1.0", requires_python=">=3.6.*")
    with index.serve() as served:
        runs = []
        for _ in range(2):
            warnings: list[str] = []
            with provider(tmp_path, served.url, warn=warnings.append) as p:
                assert p.files(FOO)[0].requires_python is None
            runs.append(warnings)
        assert len(page_requests(served)) == 1
    assert runs[0] == runs[1] and "'>=3.6.*'" in runs[0][0]


def test_a_new_release_is_seen_once_the_page_expires(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("resolver.http.DEFAULT_EXPIRY", timedelta(seconds=1))
    index.add("foo", "1.0")
    with index.serve() as served:
        with provider(tmp_path, served.url) as p:
            assert [str(f.version) for f in p.files(FOO)] == ["1.0"]
        index.add("foo", "2.0")
        index.write()
        with provider(tmp_path, served.url) as p:  # still fresh: the stored parse answers
            assert [str(f.version) for f in p.files(FOO)] == ["1.0"]
        assert len(page_requests(served)) == 1
        time.sleep(1.1)
        with provider(tmp_path, served.url) as p:
            assert [str(f.version) for f in p.files(FOO)] == ["1.0", "2.0"]
        assert len(page_requests(served)) == 2
        with provider(tmp_path, served.url) as p:  # the new page is stored in turn
            assert [str(f.version) for f in p.files(FOO)] == ["1.0", "2.0"]
        assert len(page_requests(served)) == 2


def test_an_unchanged_expired_page_keeps_its_parse(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("resolver.http.DEFAULT_EXPIRY", timedelta(seconds=1))
    index.add("foo", "1.0")
    with index.serve() as served:
        with provider(tmp_path, served.url) as p:
            p.files(FOO)
        time.sleep(1.1)
        parsed: list[object] = []
        parse = index_module._response_tables
        monkeypatch.setattr(
            index_module, "_response_tables", lambda *a, **k: parsed.append(a) or parse(*a, **k)
        )
        # Nor is it encoded again: only its expiry changes.
        monkeypatch.setattr("resolver.parsed_cache._tables", lambda files: pytest.fail("encoded"))
        with provider(tmp_path, served.url) as p:
            assert [str(f.version) for f in p.files(FOO)] == ["1.0"]
        assert len(page_requests(served)) == 2 and parsed == []
        stored = PageCache(tmp_path / "cache" / "pages").load(
            f"{served.url}foo/",
            "application/vnd.pypi.simple.v1+json, "
            "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01",
            "foo",
        )
        assert stored is not None and stored.fresh()  # with the new expiry


def test_damaged_entries_are_fetched_again(tmp_path: Path, foo_index: Index) -> None:
    with foo_index.serve() as served:
        with provider(tmp_path, served.url, speculate=False) as p:  # bar's page stays unfetched
            cold = [fields_of(f) for f in p.files(FOO)]
        for path in (tmp_path / "cache" / "pages").rglob("*"):
            if path.is_file():
                path.write_bytes(path.read_bytes()[:-7])
        with provider(tmp_path, served.url) as p:
            assert [fields_of(f) for f in p.files(FOO)] == cold
        with provider(tmp_path, served.url) as p:  # and the entry was written again
            assert all(isinstance(f, StoredFile) for f in p.files(FOO))


def test_no_cache_neither_reads_nor_writes_parsed_pages(tmp_path: Path, foo_index: Index) -> None:
    with foo_index.serve() as served:
        with provider(tmp_path, served.url) as p:
            cold = [fields_of(f) for f in p.files(FOO)]
        stored = {
            path: path.read_bytes() for path in (tmp_path / "cache").rglob("*") if path.is_file()
        }
        with provider(tmp_path, served.url, no_cache=True) as p:
            assert [fields_of(f) for f in p.files(FOO)] == cold
        assert len(page_requests(served)) == 2  # the stored page was not read
        after = {
            path: path.read_bytes() for path in (tmp_path / "cache").rglob("*") if path.is_file()
        }
        assert after == stored  # nor anything written
    with provider(tmp_path / "other", "http://127.0.0.1:9/simple/", no_cache=True) as p:
        pass
    assert not (tmp_path / "other").exists()


def test_cache_dir_places_the_parsed_pages(tmp_path: Path, foo_index: Index) -> None:
    with foo_index.serve() as served, provider(tmp_path, served.url) as p:
        p.files(FOO)
    assert any((tmp_path / "cache" / "pages" / "foo").iterdir())


def test_offline_works_from_parsed_pages_alone(
    tmp_path: Path, foo_index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("resolver.http.DEFAULT_EXPIRY", timedelta(seconds=1))
    with foo_index.serve() as served:
        with provider(tmp_path, served.url, speculate=False) as p:  # bar's page stays unfetched
            cold = [fields_of(f) for f in p.files(FOO)]
            p.metadata(FOO, Version("1.0"))
        url = served.url
    time.sleep(1.1)  # expired, and the server is gone: offline still answers
    with provider(tmp_path, url, offline=True) as p:
        assert [fields_of(f) for f in p.files(FOO)] == cold
        assert p.metadata(FOO, Version("1.0")).requires_python == SpecifierSet(">=3.8")
        with pytest.raises(OfflineError):
            p.files(BAR)


def test_cache_keys_use_the_standard_sha256() -> None:
    import hashlib

    from resolver.parsed_cache import sha256

    assert sha256(b"aspen").hexdigest() == hashlib.sha256(b"aspen").hexdigest()


def test_a_pages_files_are_grouped_by_version_as_file_by_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resolver.parsed_cache import PageFiles, PageVersions

    files = [
        *sample_files()[:2],
        wheel("1.0.0", "py3-none-any"),  # equal to 1.0, written otherwise: one group with it
        *sample_files()[2:],  # 2.0rc1: both files yanked
        wheel("3.0", "py3-none-any", yanked=""),  # 3.0: one of two yanked
        wheel("3.0", "cp312-cp312-win_amd64", python=">=3.9"),
        # 1.0 again, after the others
        wheel("1.0", "cp313-cp313-win_amd64", python=">=3.9", yanked="x"),
    ]
    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(files), ()), "foo")
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None and isinstance(loaded.files, PageFiles)
    listed = loaded.files

    made: list[int] = []
    file = parsed_cache._Page.file
    monkeypatch.setattr(
        parsed_cache._Page, "file", lambda page, g, i: made.append(i) or file(page, g, i)
    )
    by_version = listed.by_version()
    assert isinstance(by_version, PageVersions) and listed.by_version() is by_version
    assert list(by_version) == [Version("1.0"), Version("2.0rc1"), Version("3.0")]
    assert len(by_version) == 3 and Version("1.0.0") in by_version
    assert Version("4.0") not in by_version and by_version.get(Version("4.0")) is None
    # Yanked state and Requires-Python come from the page's tables: no file is made.
    assert by_version.yanked_versions() == {Version("2.0rc1")}
    assert by_version.prerelease_versions() == {Version("2.0rc1")}
    assert by_version.file_requires_pythons() == {
        Version("1.0"): SpecifierSet(">=3.8"),
        Version("2.0rc1"): None,
        Version("3.0"): SpecifierSet(">=3.9"),
    }
    assert by_version.digest() == b"d".hex()
    assert made == []

    expected: dict[Version, list[DistFile]] = {}
    for f in files:
        expected.setdefault(f.version, []).append(f)
    assert dict(by_version) == expected and by_version == expected
    for version, group in by_version.items():
        assert group is by_version[version] is listed.of_version(version)  # made once
        assert [f.filename for f in group] == [f.filename for f in expected[version]]
    assert sorted(made) == list(range(len(files)))
    assert listed.of_version(Version("4.0")) == []

    # As a sequence: the page's files in its order, each made when asked for.
    assert len(listed) == len(files) and list(listed) == files and listed == tuple(files)
    assert listed[-1] == files[-1] and listed[2:4] == files[2:4] and listed[::-1] == files[::-1]
    with pytest.raises(IndexError):
        listed[len(files)]


def test_a_pages_versions_come_newest_first_as_stored_each_made_when_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The order is stored with the page: loading it makes no version, and reading one makes
    # that one. Equal versions written otherwise are one, written as in their first run, even
    # when their runs are apart.

    files = [
        wheel("2.0.0", "py3-none-any"),  # 2.0 written as 2.0.0 first
        wheel("1.0", "py3-none-any", yanked="x"),
        wheel("2.0", "cp312-cp312-win_amd64", python=">=3.12"),
        wheel("3.0b1", "py3-none-any", yanked="y"),
        wheel("1!0.5", "py3-none-any", python=">=3.8"),
        wheel("2.0", "cp313-cp313-win_amd64", python=">=3.13"),
        wheel("1.0.0", "cp313-cp313-win_amd64"),  # 1.0 again, not yanked
        wheel("0.9", "py3-none-any", yanked="z"),
    ]
    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(files), ()), "foo")
    made: list[str] = []
    version = parsed_cache._version
    monkeypatch.setattr(parsed_cache, "_version", lambda text: made.append(text) or version(text))
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None and loaded.files is not None
    order = loaded.files.by_version().order()
    assert order is loaded.files.by_version().order() and len(order) == 5 and made == []
    two = order[2]
    assert made == ["2.0.0"] and str(two) == "2.0.0" and order[2] is two
    assert order.position(two) == 2 and made == ["2.0.0"]  # by identity
    assert order.position(Version("2.0")) == 2 and order.position(Version("1.0.0")) == 3
    with pytest.raises(KeyError):
        order.position(Version("1.5"))
    expected: dict[Version, list[DistFile]] = {}
    for f in files:
        expected.setdefault(f.version, []).append(f)
    assert list(order) == sorted(expected, reverse=True)
    assert [str(v) for v in order] == ["1!0.5", "3.0b1", "2.0.0", "1.0", "0.9"]
    assert list(order.prerelease_positions()) == [1]
    assert list(order.yanked_positions()) == [1, 4]  # 1.0 has a file not yanked
    assert [order.file_requires_python(p) for p in range(len(order))] == [
        SpecifierSet(">=3.8"),
        None,
        SpecifierSet(">=3.12"),  # its first file that has one
        None,
        None,
    ]
    assert order.file_requires_pythons([4, 3, 2, 0, 1]) == [
        None,
        SpecifierSet(">=3.12"),
        SpecifierSet(">=3.8"),
    ]
    for p, v in enumerate(order):
        assert order.files_at(p) == expected[v] and order.files_at(p) is order.files_at(p)
        assert loaded.files.of_version(v) is order.files_at(p)


def test_a_loaded_pages_files_leave_the_collectors_sight(tmp_path: Path) -> None:
    # A fresh interpreter: loading a stored page moves what it made out of the cyclic
    # collector's generations (gc.freeze), with the collector on again afterwards; with the
    # collector off, loading neither freezes anything nor turns it on.
    import subprocess
    import sys

    cache = PageCache(tmp_path)
    many = [
        dataclasses.replace(f, filename=f"{i}-{f.filename}")
        for i in range(500)
        for f in sample_files()
    ]
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(many), ()), "foo")
    code = (
        "import gc, sys\n"
        "from pathlib import Path\n"
        "from resolver.parsed_cache import PageCache\n"
        f"cache = PageCache(Path({str(tmp_path)!r}))\n"
        "if sys.argv[1] == 'off':\n"
        "    gc.disable()\n"
        "frozen = gc.get_freeze_count()\n"
        f"page = cache.load({URL!r}, {ACCEPT!r}, 'foo')\n"
        "print(len(page.files), gc.isenabled(), gc.get_freeze_count() - frozen)\n"
    )
    for collector in ("on", "off"):
        out = subprocess.run(
            [sys.executable, "-c", code, collector], capture_output=True, text=True, check=True
        ).stdout.split()
        assert out[0] == "2000"
        if collector == "on":
            assert out[1] == "True" and int(out[2]) >= 2000
        else:
            assert out[1:] == ["False", "0"]


def test_a_pages_prereleases_are_read_off_its_versions_as_written(tmp_path: Path) -> None:
    # Versions written with digits and dots only are final releases: only the others are
    # parsed for pre-release and development parts.
    texts = ["1.0", "1.0.0a1", "2.0.dev3", "2.0.post1", "1!3.0rc1", "3.0-beta.2", "4", "4.0+local"]
    files = [
        DistFile(
            filename=f"foo-{text}.tar.gz",
            url=f"https://files.example.org/foo-{text}.tar.gz",
            kind="sdist",
            version=Version(text),
        )
        for text in texts
    ]
    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(files), ()), "foo")
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None
    versions = loaded.files.by_version()
    assert versions.prerelease_versions() == {v for v in versions if v.is_prerelease}
    assert {str(v) for v in versions.prerelease_versions()} == {
        "1.0.0a1",
        "2.0.dev3",
        "1!3.0rc1",
        "3.0b2",
    }


def test_file_requires_pythons_are_the_first_file_that_has_one(tmp_path: Path) -> None:
    # One run per version: each version's first file, or the next one that has a
    # Requires-Python when it has none (as a file-by-file scan finds them).
    def sdist(version: str, python: str | None, suffix: str) -> DistFile:
        return DistFile(
            filename=f"foo-{version}{suffix}",
            url=f"https://files.example.org/foo-{version}{suffix}",
            kind="sdist",
            version=Version(version),
            requires_python=None if python is None else SpecifierSet(python),
        )

    files = [
        sdist("1.0", None, ".tar.gz"),
        sdist("1.0", ">=3.8", ".zip"),
        sdist("2.0", ">=3.9", ".tar.gz"),
        sdist("2.0", ">=3.10", ".zip"),
        sdist("3.0", None, ".tar.gz"),
    ]
    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(files), ()), "foo")
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None
    found = loaded.files.by_version().file_requires_pythons()
    assert found == {
        Version("1.0"): SpecifierSet(">=3.8"),
        Version("2.0"): SpecifierSet(">=3.9"),
        Version("3.0"): None,
    }


@pytest.mark.parametrize(
    "when",
    [
        datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC),
        datetime(2024, 5, 1, 12, 30, 15, tzinfo=UTC),  # no fraction: none written
        datetime(2024, 5, 1, 12, 30, 15, 100, tzinfo=UTC),  # leading zeros kept
        datetime(2024, 5, 1, 12, 30, 15, 500000, tzinfo=UTC),
        datetime(2024, 5, 1, 14, 30, 15, 5, tzinfo=timezone(timedelta(hours=2))),
        datetime(2024, 5, 1, 12, 30, 15),  # naive
        None,
    ],
)
def test_a_stored_files_upload_time_is_written_as_the_records(tmp_path: Path, when) -> None:
    """A stored file's lock fields carry its upload time's text when the lock writes it as
    stored; the file's table in the lock is the same as the plain record's either way."""
    from resolver.lockfile import _file, _table

    record = dataclasses.replace(sample_files()[0], upload_time=when)
    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(time.time() + 60, b"digest", (record,), ()), "foo")
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None and loaded.files is not None
    (stored,) = loaded.files
    fields = parsed_cache.lock_fields(stored)
    assert fields[2] == when
    utc = when is not None and when.utcoffset() == timedelta(0)
    assert (fields[5] is not None) == utc
    plain = _table((*fields[:5], None))
    table = _file(stored)
    assert table == plain == _file(record)
    assert table.text == plain.text


@pytest.mark.parametrize(
    ("text", "taken"),
    [
        ("2016-11-22T12:54:04.503904Z", True),  # as PyPI writes them
        ("2026-10-30T15:30:57Z", True),
        ("2016-11-22T12:54:04.000100+00:00", True),  # isoformat() of a time in UTC
        ("2016-11-22T12:54:04+00:00", True),
        ("2016-11-22T12:54:04.000000Z", False),  # the lock writes no fraction of zeros
        ("2016-11-22T12:54:04.5Z", False),  # nor fewer than six digits
        ("2016-11-22T14:54:04.503904+02:00", False),  # nor another offset
        ("2016-11-22 12:54:04.503904Z", False),
        ("2016-11-22T12:54:04.503904", False),  # naive
    ],
)
def test_an_upload_times_text_is_taken_only_when_it_is_the_locks(text: str, taken: bool) -> None:
    """The upload time's text that lock rows carry is exactly what the lock writes from the
    time itself (``lockfile._datetime_text``), and is given only for texts of that form."""
    from resolver.lockfile import _datetime_text

    when = parsed_cache._datetime(text)
    assert when is not None
    written = parsed_cache._written(text)
    assert (written is not None) == taken
    if written is not None:
        assert written == _datetime_text(when)


def test_lock_rows_read_each_stored_file_as_its_fields_do(tmp_path: Path) -> None:
    """``lock_rows`` gives each file's name, lock fields, kind and index as ``lock_fields`` and
    the file's properties do: stored files (before and after their rows are loaded) and plain
    records alike."""
    from resolver.lockfile import _file, _table

    records = [f for f in sample_files() if f.hashes]  # a lock needs a hash of each
    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(time.time() + 60, b"digest", tuple(records), ()), "foo")
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None and loaded.files is not None
    for files in (list(loaded.files), list(loaded.files), records):
        expected = [(f.filename, parsed_cache.lock_fields(f), f.kind, f.index) for f in files]
        rows = parsed_cache.lock_rows(files)
        assert rows == expected
        assert [_table(fields) for _name, fields, _kind, _index in rows] == list(
            map(_file, records)
        )


def test_an_entry_read_in_short_pieces_is_whole(tmp_path: Path, monkeypatch) -> None:
    """An entry is read by its descriptor (``_mapped``): a system that returns fewer bytes
    than asked is asked again until the entry is whole."""
    cache = PageCache(tmp_path)
    cache.store(URL, ACCEPT, CachedPage(None, b"d", tuple(sample_files()), ()), "foo")
    read = parsed_cache.os.read
    calls = []
    monkeypatch.setattr(
        parsed_cache.os, "read", lambda fd, n: calls.append(n) or read(fd, min(n, 100))
    )
    loaded = cache.load(URL, ACCEPT, "foo")
    assert loaded is not None and loaded.files == tuple(sample_files())
    assert len(calls) > 2
