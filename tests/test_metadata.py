"""Core metadata: parsing, archives, the disk cache, and each fetch path (PEP 658, byte ranges,
whole download, static PKG-INFO, PEP 517 build)."""

from __future__ import annotations

import dataclasses
import io
import json
import marshal
import os
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest
from indexbuilder import Index, build_sdist, build_wheel, core_metadata, make_sdist
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

import resolver.build as build_module
import resolver.metadata as metadata_module
import resolver.parsed_cache as parsed_cache
from resolver.build import BuildError, BuildSettings, build_metadata
from resolver.errors import SourceError
from resolver.http import Http
from resolver.index import fetch_project_page
from resolver.index_provider import IndexProvider
from resolver.metadata import (
    MetadataCache,
    MetadataFetcher,
    metadata_from_archive,
    parse_metadata,
)
from resolver.provider import CoreMetadata, DistFile, MetadataUnavailable

FOO = canonicalize_name("foo")


def parse(text: str, warnings: list[str]) -> CoreMetadata:
    return parse_metadata(
        text, name=FOO, version=Version("1.0"), source="foo.whl", warn=warnings.append
    )


# -- parsing -------------------------------------------------------------------------------


def test_parse_metadata() -> None:
    warnings: list[str] = []
    text = core_metadata(
        "Foo",
        "1.0",
        requires=["bar>=2", 'baz; python_version < "3.10"'],
        requires_python=">=3.9",
        extras={"Fast_Mode": ["qux"]},
    )
    meta = parse(text, warnings)
    assert meta.name == "foo" and meta.version == Version("1.0")
    assert [str(r) for r in meta.requires_dist] == [
        "bar>=2",
        'baz; python_version < "3.10"',
        'qux; extra == "fast-mode"',
    ]
    assert meta.requires_python == SpecifierSet(">=3.9")
    assert meta.provides_extra == frozenset({"fast-mode"})
    assert not warnings


def test_parse_metadata_is_lenient() -> None:
    warnings: list[str] = []
    text = (
        "Metadata-Version: 9.9\nName: foo\nVersion: 1.0\nRequires-Python: >=3.x\n"
        "Requires-Dist: bar (>=1.0)\nRequires-Dist: baz >= = 2\nLicense: whatever\n"
    )
    meta = parse(text, warnings)
    assert meta.requires_dist == (Requirement("bar>=1.0"),)
    assert meta.requires_python is None
    assert len(warnings) == 2 and all(w.startswith("foo 1.0: ") for w in warnings)
    assert any(">=3.x" in w for w in warnings)
    assert any("'baz >= = 2'" in w for w in warnings)


def test_invalid_requirements_of_one_version_warn_once() -> None:
    # prefect 1.x repeats one unparseable requirement under every extra: one line, not five.
    warnings: list[str] = []
    text = "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\nRequires-Dist: ok>=1\n" + "".join(
        f"Requires-Dist: kube (>=9.0.0a1.0) ; extra == '{e}'\n" for e in ("a", "b", "c")
    )
    meta = parse(text, warnings)
    assert meta.requires_dist == (Requirement("ok>=1"),)
    assert len(warnings) == 1
    assert warnings[0].startswith('foo 1.0: skipping the invalid requirement "kube (>=9.0.0a1.0)')
    assert "(and 2 more)" in warnings[0]


def test_parse_metadata_rejects_another_name_or_version() -> None:
    with pytest.raises(MetadataUnavailable, match="foo.whl: metadata names 'bar'"):
        parse("Metadata-Version: 2.1\nName: bar\nVersion: 1.0\n", [])
    with pytest.raises(MetadataUnavailable, match="says version 2.0, expected 1.0"):
        parse("Metadata-Version: 2.1\nName: foo\nVersion: 2.0\n", [])


# -- archives ------------------------------------------------------------------------------


def test_metadata_from_wheel_and_sdists(tmp_path: Path) -> None:
    text = core_metadata("foo", "1.0", requires=["bar"])
    filename, wheel = build_wheel("foo", "1.0", "py3-none-any", text)
    assert metadata_from_archive(io.BytesIO(wheel), filename, FOO) == text.encode()
    filename, sdist = build_sdist("foo", "1.0", metadata=text, pkg_info=text)
    path = tmp_path / filename
    path.write_bytes(sdist)
    assert metadata_from_archive(path, filename, FOO) == text.encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("foo-1.0/PKG-INFO", text)
        archive.writestr("foo-1.0/sub/PKG-INFO", "wrong")
    assert metadata_from_archive(io.BytesIO(buffer.getvalue()), "foo-1.0.zip", FOO) == text.encode()


def test_reading_a_wheel_does_not_import_tarfile(tmp_path: Path) -> None:
    # tarfile (and grp, pwd) cost an import on every cold lock that reads wheels only.
    path = tmp_path / "foo-1.0-py3-none-any.whl"
    path.write_bytes(build_wheel("foo", "1.0", "py3-none-any", core_metadata("foo", "1.0"))[1])
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from resolver.metadata import metadata_from_archive\n"
        f"assert metadata_from_archive(Path({str(path)!r}), {path.name!r}, 'foo')\n"
        "assert 'tarfile' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_broken_archives_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(MetadataUnavailable, match="foo-1.0-py3-none-any.whl: cannot read"):
        metadata_from_archive(io.BytesIO(b"not a zip"), "foo-1.0-py3-none-any.whl", FOO)
    path = tmp_path / "foo-1.0.tar.gz"
    path.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(MetadataUnavailable, match="foo-1.0.tar.gz: cannot read"):
        metadata_from_archive(path, path.name, FOO)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("foo/__init__.py", "")
    with pytest.raises(MetadataUnavailable, match="no .dist-info/METADATA"):
        metadata_from_archive(buffer, "foo-1.0-py3-none-any.whl", FOO)


# -- the disk cache ------------------------------------------------------------------------


def a_file(**changes: object) -> DistFile:
    fields: dict[str, object] = {
        "filename": "foo-1.0-py3-none-any.whl",
        "url": "https://x.org/foo-1.0-py3-none-any.whl",
        "kind": "wheel",
        "version": Version("1.0"),
        "hashes": {"sha256": "aa"},
        "index": "https://x.org/simple/",
    }
    fields.update(changes)
    return DistFile(**fields)  # type: ignore[arg-type]


META = CoreMetadata(
    name=FOO,
    version=Version("1.0"),
    requires_dist=(Requirement('bar>=2; extra == "x"'),),
    requires_python=SpecifierSet(">=3.9"),
    provides_extra=frozenset({canonicalize_name("x")}),
)


def test_cache_round_trip_and_keys(tmp_path: Path) -> None:
    cache = MetadataCache(tmp_path)
    assert cache.load(FOO, a_file()) is None
    cache.store(FOO, a_file(), META, "pep658")
    assert cache.load(FOO, a_file()) == META
    assert cache.load(FOO, a_file(hashes={"sha256": "bb"})) is None  # another file
    assert cache.load(FOO, a_file(index="https://other/simple/")) is None
    (entry,) = (tmp_path / "foo").iterdir()
    assert json.loads(entry.read_text())["path"] == "pep658"


def test_cache_never_writes_partial_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = MetadataCache(tmp_path)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(parsed_cache.os, "replace", interrupted)  # written, not yet renamed
    with pytest.raises(KeyboardInterrupt):
        cache.store(FOO, a_file(), META, "pep658")
    assert list((tmp_path / "foo").iterdir()) == []


def test_cache_ignores_corrupt_entries(tmp_path: Path) -> None:
    cache = MetadataCache(tmp_path)
    cache.store(FOO, a_file(), META, "pep658")
    (entry,) = (tmp_path / "foo").iterdir()
    entry.write_text('{"format": 1, "requires_dist": ["bar>')
    assert cache.load(FOO, a_file()) is None
    cache.store(FOO, a_file(), META, "pep658")
    assert cache.load(FOO, a_file()) == META


def test_version_entry_names_its_file_and_hash(tmp_path: Path) -> None:
    cache = MetadataCache(tmp_path)
    wheel, sdist = (
        a_file(),
        a_file(filename="foo-1.0.tar.gz", kind="sdist", hashes={"sha256": "cc"}),
    )
    assert cache.load_version(FOO, Version("1.0"), [wheel, sdist]) is None
    cache.store_version(FOO, [wheel, sdist], sdist, META, "pep658")
    assert cache.load_version(FOO, Version("1.0"), [wheel, sdist]) == META
    assert cache.load_version(FOO, Version("1.0"), [sdist]) == META
    assert cache.load_version(FOO, Version("1.0"), [wheel]) is None  # its file is gone
    changed = a_file(filename="foo-1.0.tar.gz", kind="sdist", hashes={"sha256": "dd"})
    assert cache.load_version(FOO, Version("1.0"), [wheel, changed]) is None
    elsewhere = a_file(
        filename="foo-1.0.tar.gz", kind="sdist", hashes={"sha256": "cc"}, index="https://o/"
    )
    assert cache.load_version(FOO, Version("1.0"), [wheel, elsewhere]) is None
    (entry,) = (tmp_path / "foo").glob("*.version")
    entry.write_bytes(entry.read_bytes()[:-3])
    assert cache.load_version(FOO, Version("1.0"), [wheel, sdist]) is None  # damaged: a miss


@pytest.mark.parametrize(
    "entry",
    [
        "[1, 2]",
        '{"format": 1, "requires_dist": [1], "provides_extra": []}',
        '{"format": 1, "requires_dist": [["x"]], "provides_extra": []}',
        '{"format": 1, "requires_dist": "bar", "provides_extra": []}',
        '{"format": 1, "requires_dist": [], "provides_extra": [], "requires_python": 3}',
        '{"format": 1, "requires_dist": ["bar>="], "provides_extra": []}',
        '{"format": 1, "requires_dist": []}',
        "null",
    ],
)
def test_damaged_entries_of_any_shape_are_misses(tmp_path: Path, entry: str) -> None:
    cache = MetadataCache(tmp_path)
    files = [a_file()]
    cache.store(FOO, files[0], META, "pep658")
    cache.store_version(FOO, files, files[0], META, "pep658")
    (path,) = (tmp_path / "foo").glob("*.json")
    path.write_text(entry)
    assert cache.load(FOO, files[0]) is None


def _version_entry(body: bytes) -> bytes:
    """A version entry holding ``body``, with its right CRC."""
    return b"aspen-metadata-version\n" + zlib.crc32(body).to_bytes(4, "big") + body


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-1],
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),
        lambda data: b"",
        lambda data: data.replace(b"aspen-metadata-version", b"aspen-metadata-versiom"),
        lambda data: _version_entry(b"garbage"),
        lambda data: _version_entry(marshal.dumps((2, 1))),
        lambda data: _version_entry(marshal.dumps(["not", "a", "tuple"])),
    ],
)
def test_damaged_version_entries_are_misses(tmp_path: Path, damage: object) -> None:
    cache = MetadataCache(tmp_path)
    files = [a_file()]
    cache.store_version(FOO, files, files[0], META, "pep658")
    (path,) = (tmp_path / "foo").glob("*.version")
    assert cache.load_version(FOO, Version("1.0"), files) == META
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    assert cache.load_version(FOO, Version("1.0"), files) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"format": 1},
        {"requires_dist": [1]},
        {"requires_dist": (1,)},
        {"requires_dist": (("x",),)},
        {"requires_dist": ["bar"]},
        {"requires_dist": "bar"},
        {"requires_dist": ("bar>=",)},
        {"requires_python": 3},
        {"requires_python": ">=3.x"},
        {"provides_extra": [1]},
        {"provides_extra": ([],)},
    ],
)
def test_version_entries_of_any_shape_are_misses(tmp_path: Path, fields: dict) -> None:
    cache = MetadataCache(tmp_path)
    files = [a_file()]
    cache.store_version(FOO, files, files[0], META, "pep658")
    (path,) = (tmp_path / "foo").glob("*.version")
    names = ("format", "file", "index", "digest", "page", "requires_dist", "requires_python")
    names += ("provides_extra", "path")
    stored = marshal.loads(path.read_bytes()[len(b"aspen-metadata-version\n") + 4 :])
    entry = dict(zip(names, stored, strict=True))
    path.write_bytes(_version_entry(marshal.dumps(tuple({**entry, **fields}.values()))))
    assert cache.load_version(FOO, Version("1.0"), files) is None


def test_version_entries_of_format_1_are_not_read(tmp_path: Path) -> None:
    # Format 1 wrote JSON files named *.version.json: a cache of an older aspen finds its
    # versions through their files' entries once, and records them anew.
    fetcher = MetadataFetcher(Http(offline=True), cache_dir=tmp_path, warn=pytest.fail)
    files = [a_file()]
    cache = MetadataCache(tmp_path / "metadata")
    cache.store(FOO, files[0], META, "range")
    folder = tmp_path / "metadata" / "foo"
    (folder / "0123.version.json").write_text('{"format": 1}')
    assert cache.load_version(FOO, Version("1.0"), files) is None
    assert fetcher.fetch(FOO, Version("1.0"), files) == META
    assert cache.load_version(FOO, Version("1.0"), files) == META  # recorded anew


def test_version_entry_of_the_same_page_is_read_without_decoding_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = parsed_cache.PageCache(tmp_path / "pages")
    sdist = a_file(filename="foo-1.0.tar.gz", kind="sdist", hashes={"sha256": "cc"})
    listed = (a_file(), sdist)
    url, accept = "https://x.org/simple/foo/", "text/html"
    pages.store(url, accept, parsed_cache.CachedPage(None, b"page-1", listed, ()), "foo")

    def loaded() -> list[DistFile]:
        page = pages.load(url, accept, "foo")
        assert page is not None and page.files is not None
        return list(page.files)

    cache = MetadataCache(tmp_path / "metadata")
    files = loaded()
    cache.store_version(FOO, files, files[1], META, "pep658")
    with monkeypatch.context() as patched:  # the files' names and hashes are never decoded
        patched.setattr(parsed_cache._Page, "raw", lambda *args: pytest.fail("decoded"))
        assert cache.load_version(FOO, Version("1.0"), loaded()) == META
    # Another response with the same files: the entry still holds, by the file's name and hash.
    pages.store(url, accept, parsed_cache.CachedPage(None, b"page-2", listed, ()), "foo")
    assert cache.load_version(FOO, Version("1.0"), loaded()) == META
    changed = (a_file(), a_file(filename="foo-1.0.tar.gz", kind="sdist", hashes={"sha256": "dd"}))
    pages.store(url, accept, parsed_cache.CachedPage(None, b"page-3", changed, ()), "foo")
    assert cache.load_version(FOO, Version("1.0"), loaded()) is None


def test_a_warm_fetch_reads_the_version_entry_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetcher = MetadataFetcher(Http(offline=True), cache_dir=tmp_path, warn=pytest.fail)
    files = [a_file(filename="foo-1.0.tar.gz", kind="sdist", hashes={"sha256": "cc"}), a_file()]
    MetadataCache(tmp_path / "metadata").store(FOO, files[1], META, "range")  # an older cache
    assert fetcher.fetch(FOO, Version("1.0"), files) == META  # found by trying each file
    assert list((tmp_path / "metadata" / "foo").glob("*.version"))  # and recorded

    def unordered(file: DistFile) -> object:
        raise AssertionError("files ordered")

    monkeypatch.setattr(metadata_module, "_file_order", unordered)
    monkeypatch.setattr(MetadataCache, "load", lambda *args: pytest.fail("a file entry read"))
    assert fetcher.fetch(FOO, Version("1.0"), files) == META
    assert fetcher.stats()["cache"] == 2


def test_only_the_file_entries_the_folder_lists_are_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = MetadataCache(tmp_path)
    files = [
        a_file(filename=f"foo-1.0-cp3{n}-none-any.whl", hashes={"sha256": f"{n}"}) for n in range(9)
    ]
    assert cache.load_any(FOO, files) is None  # no folder: nothing opened
    cache.store(FOO, files[6], META, "range")
    opened: list[str] = []
    real = MetadataCache.load

    def load(self: MetadataCache, name: NormalizedName, file: DistFile) -> CoreMetadata | None:
        opened.append(file.filename)
        return real(self, name, file)

    monkeypatch.setattr(MetadataCache, "load", load)
    assert cache.load_any(FOO, files) == (files[6], META)
    assert opened == [files[6].filename]
    assert cache.load_any(FOO, files[:6]) is None


@pytest.mark.parametrize(
    "text",
    [
        'bar>=2; extra == "x"',
        "bar >=2 ; python_version < '3.10' and (extra == 'Fast_Mode' or os_name == \"nt\")",
        'Bar[Socks, b] (>=1.0,<2) ;platform_machine=="x86_64"',
        'bar; python_version < "3.10"',
        'bar @ https://x.org/bar-1.0.tar.gz ; python_version < "3.10"',
        "bar>=1.0a1",
        "bar",
        "Bar_Baz.x >= 1 , < 2",
        "bar>=1,",
        "bar (>=1)",
        "bar[x]>=1",
        "bar [ x , Y_z ] >=1 ; extra == 'a'",
        "bar[]",
        "bar[x,]",
        "bar[x-]>=1",
        "bar[x] (>=1)",
        "bar===foo",
        "bar==1.0+local.7",
        "bar>=",
        "bar>=1 <2",
        "-bar",
        "bar; ",
        "bar; not a marker",
        "bar>=1; python_version < '3'; os_name == 'nt'",
        "; python_version < '3'",
        "bar; python_version<'3.8'and os_name=='nt'",
        "bar; sys_platform == 'win32'  and  extra  ==  'Test_X' or extra == 'y'",
        "bar; extra == 'a' and",
        "bar; os_name == 'a and b' or 'linux' in sys_platform",
        "bar; extrain 'x'",
    ],
)
def test_requirements_parse_by_parts_as_whole(text: str) -> None:
    try:
        whole = Requirement(text)
    except InvalidRequirement as exc:
        with pytest.raises(InvalidRequirement) as error:
            metadata_module._parse_requirement(text)
        assert str(error.value) == str(exc)
        return
    for _ in range(2):  # parsed, then from the parts already parsed
        parts = metadata_module._parse_requirement(text)
        assert parts == whole and str(parts) == str(whole) and repr(parts) == repr(whole)
        assert (parts.name, parts.url, parts.extras) == (whole.name, whole.url, whole.extras)
        assert str(parts.specifier) == str(whole.specifier) and str(parts.marker) == str(
            whole.marker
        )


# -- fetch paths ---------------------------------------------------------------------------


class Run:
    """A fetcher over one served or file:// index, collecting warnings."""

    def __init__(self, tmp_path: Path, *, no_build: bool = False, offline: bool = False) -> None:
        self.warnings: list[str] = []
        self.http = Http(offline=offline)
        self.fetcher = MetadataFetcher(
            self.http,
            cache_dir=tmp_path / "cache",
            no_build=no_build,
            warn=self.warnings.append,
        )

    def files(self, index_url: str, name: str) -> list[DistFile]:
        files = fetch_project_page(self.http, index_url, name, warn=self.warnings.append)
        assert files is not None
        return files

    def fetch(self, index_url: str, name: str, version: str) -> CoreMetadata:
        files = [f for f in self.files(index_url, name) if f.version == Version(version)]
        return self.fetcher.fetch(NormalizedName(name), Version(version), files)

    def path(self) -> str:
        (taken,) = [path for path, count in self.fetcher.stats().items() if count]
        return taken


def whole_wheel_downloads(requests: list[tuple[str, str, str | None]]) -> list[str]:
    return [p for m, p, r in requests if m == "GET" and p.endswith(".whl") and r is None]


@pytest.fixture
def foo(index: Index) -> Index:
    index.add(
        "foo",
        "1.0",
        requires=["bar>=2"],
        requires_python=">=3.9",
        extras={"x": ["baz"]},
        wheel_padding=200_000,
    )
    return index


def check_foo(meta: CoreMetadata) -> None:
    assert meta.requires_dist == (Requirement("bar>=2"), Requirement('baz; extra == "x"'))
    assert meta.requires_python == SpecifierSet(">=3.9")
    assert meta.provides_extra == {"x"}


def test_pep658_when_announced(foo: Index, tmp_path: Path) -> None:
    run = Run(tmp_path)
    with foo.serve() as served:
        check_foo(run.fetch(served.url, "foo", "1.0"))
    assert run.path() == "pep658"
    assert ("GET", "/files/foo-1.0-py3-none-any.whl.metadata", None) in served.requests
    assert not [p for _, p, _ in served.requests if p.endswith(".whl")]


def test_pep658_hash_mismatch_falls_back_to_ranges(foo: Index, tmp_path: Path) -> None:
    foo.add_raw_file(
        "foo",
        "foo-2.0-py3-none-any.whl",
        build_wheel("foo", "2.0", "py3-none-any", core_metadata("foo", "2.0"))[1],
        metadata=b"Metadata-Version: 2.1\nName: foo\nVersion: 2.0\n",
    )
    run = Run(tmp_path)
    with foo.serve() as served:
        (wheel,) = [f for f in run.files(served.url, "foo") if f.version == Version("2.0")]
        tampered = dataclasses.replace(wheel, core_metadata={"sha256": "0" * 64})
        meta = run.fetcher.fetch(FOO, Version("2.0"), [tampered])
    assert meta.requires_dist == ()
    assert run.path() == "range"
    assert len(run.warnings) == 1 and "sha256 hash mismatch" in run.warnings[0]
    assert not whole_wheel_downloads(served.requests)


def test_unannounced_metadata_files_are_probed_once_per_index(index: Index, tmp_path: Path) -> None:
    for version in ("1.0", "2.0", "3.0"):
        index.add("foo", version)
    run = Run(tmp_path)
    with index.serve(json=False, core_metadata_attr=False) as served:
        for version in ("1.0", "2.0"):
            run.fetch(served.url, "foo", version)
    assert run.fetcher.stats()["pep658"] == 2
    run = Run(tmp_path / "other")
    with index.serve(json=False, metadata_files=False) as served:
        for version in ("1.0", "2.0", "3.0"):
            run.fetch(served.url, "foo", version)
    assert run.fetcher.stats()["range"] == 3
    probes = [p for _, p, _ in served.requests if p.endswith(".metadata")]
    assert probes == ["/files/foo-1.0-py3-none-any.whl.metadata"]


def test_probing_stops_at_the_first_missing_metadata_file(index: Index, tmp_path: Path) -> None:
    # A mirror with some of the files: after the first 404, later wheels go to byte ranges
    # without asking (each 404 costs a round trip that a range read would have used).
    for version in ("1.0", "2.0", "3.0"):
        index.add("foo", version)
    run = Run(tmp_path)
    with index.serve(json=False, core_metadata_attr=False) as served:
        (index.files_dir / "foo-2.0-py3-none-any.whl.metadata").unlink()
        for version in ("1.0", "2.0", "3.0"):
            run.fetch(served.url, "foo", version)
    assert run.fetcher.stats()["pep658"] == 1 and run.fetcher.stats()["range"] == 2
    probes = [p for _, p, _ in served.requests if p.endswith(".metadata")]
    assert probes == [f"/files/foo-{v}-py3-none-any.whl.metadata" for v in ("1.0", "2.0")]


def test_range_requests_when_nothing_is_announced(foo: Index, tmp_path: Path) -> None:
    run = Run(tmp_path)
    with foo.serve(json=False, metadata_files=False) as served:
        check_foo(run.fetch(served.url, "foo", "1.0"))
    assert run.path() == "range"
    wheel_requests = [(p, r) for m, p, r in served.requests if p.endswith(".whl")]
    assert wheel_requests == [
        ("/files/foo-1.0-py3-none-any.whl", f"bytes=-{metadata_module.TAIL_SIZE}")
    ]
    assert not whole_wheel_downloads(served.requests)


def test_wheels_read_in_one_range_first(index: Index, tmp_path: Path) -> None:
    # macOS wheels (dist-info at the front) last, pure wheels first; else the page's order.
    tags = ["cp312-cp312-macosx_11_0_arm64", "cp312-cp312-manylinux_2_17_x86_64", "py3-none-any"]
    index.add("foo", "1.0", wheel_tags=tags)
    index.add("foo", "2.0", wheel_tags=tags[:2])
    run = Run(tmp_path)
    with index.serve(json=False, metadata_files=False) as served:
        run.fetch(served.url, "foo", "1.0")
        run.fetch(served.url, "foo", "2.0")
    assert [p.rsplit("-", 1)[-1] for m, p, r in served.requests if p.endswith(".whl")] == [
        "any.whl",
        "manylinux_2_17_x86_64.whl",
    ]


def test_range_requests_with_a_small_tail(
    foo: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The central directory and METADATA outside the first range cost more ranges, never the
    whole wheel."""
    monkeypatch.setattr(metadata_module, "TAIL_SIZE", 64)
    monkeypatch.setattr(metadata_module, "MIN_RANGE", 16)
    run = Run(tmp_path)
    with foo.serve(json=False, metadata_files=False) as served:
        check_foo(run.fetch(served.url, "foo", "1.0"))
    assert run.path() == "range"
    ranges = [r for m, p, r in served.requests if p.endswith(".whl")]
    assert len(ranges) >= 3 and all(ranges)
    assert not whole_wheel_downloads(served.requests)


def test_whole_download_when_the_server_ignores_ranges(foo: Index, tmp_path: Path) -> None:
    run = Run(tmp_path)
    with foo.serve(json=False, metadata_files=False, ranges=False) as served:
        check_foo(run.fetch(served.url, "foo", "1.0"))
    assert run.path() == "full-download"
    assert len([p for _, p, _ in served.requests if p.endswith(".whl")]) == 1
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.stat().st_size > 50_000]


def test_local_wheel_and_local_metadata_file(foo: Index, tmp_path: Path) -> None:
    foo.write(metadata_files=False)
    run = Run(tmp_path)
    check_foo(run.fetch(foo.simple_url, "foo", "1.0"))
    assert run.path() == "local-wheel"
    foo.write(core_metadata_attr=False)  # .metadata files exist but are not announced
    run = Run(tmp_path / "again")
    check_foo(run.fetch(foo.simple_url, "foo", "1.0"))
    assert run.path() == "pep658"


def test_wheel_preferred_over_sdist_and_next_file_tried(index: Index, tmp_path: Path) -> None:
    index.add("foo", "1.0", requires=["bar"], sdist=True)
    index.write(metadata_files=False)
    (index.files_dir / "foo-1.0-py3-none-any.whl").write_bytes(b"truncated")
    run = Run(tmp_path)
    meta = run.fetch(index.simple_url, "foo", "1.0")
    assert meta.requires_dist == (Requirement("bar"),)
    assert run.path() == "sdist-static"


def test_sdist_with_static_pkg_info(index: Index, tmp_path: Path) -> None:
    index.add("foo", "1.0", requires=["bar"], requires_python=">=3.8", sdist=True, wheel=False)
    run = Run(tmp_path)
    with index.serve() as served:
        meta = run.fetch(served.url, "foo", "1.0")
    assert meta.requires_dist == (Requirement("bar"),)
    assert meta.requires_python == SpecifierSet(">=3.8")
    assert run.path() == "sdist-static"


@pytest.fixture
def no_whole_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any read of a whole archive into memory (an sdist can be several hundred MB)."""
    import requests

    content = requests.Response.content

    def guarded(response: requests.Response) -> bytes:
        ranged = "Range" in response.request.headers
        if response.url.endswith((".tar.gz", ".whl")) and not ranged:
            pytest.fail(f"{response.url} read into memory")
        return content.fget(response)  # type: ignore[attr-defined]

    monkeypatch.setattr(requests.Response, "content", property(guarded))


def test_archives_are_streamed_to_disk(index: Index, tmp_path: Path, no_whole_bodies: None) -> None:
    index.add("foo", "1.0", requires=["bar"], sdist=True, wheel=False)
    index.add("foo", "2.0", requires=["bar"])
    run = Run(tmp_path)
    with index.serve(json=False, metadata_files=False, ranges=False) as served:
        assert run.fetch(served.url, "foo", "1.0").requires_dist == (Requirement("bar"),)
        assert run.fetch(served.url, "foo", "2.0").requires_dist == (Requirement("bar"),)
    assert run.fetcher.stats()["sdist-static"] == run.fetcher.stats()["full-download"] == 1


def test_tar_sdists_are_read_once_as_they_download(
    index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_whole_bodies: None
) -> None:
    # Neither saved whole nor read again for PKG-INFO, then unpacked again for the build.
    index.add("foo", "1.0", requires=["bar"], sdist=True, wheel=False)
    index.add("foo", "2.0", requires=["bar"], sdist=True, wheel=False, sdist_dynamic=True)
    monkeypatch.setattr(metadata_module, "_save", lambda *a: pytest.fail("saved"))
    monkeypatch.setattr(metadata_module, "metadata_from_archive", lambda *a: pytest.fail("read"))
    monkeypatch.setattr("resolver.build._unpack", lambda *a: pytest.fail("unpacked again"))
    run = Run(tmp_path)
    with index.serve() as served:
        assert run.fetch(served.url, "foo", "1.0").requires_dist == (Requirement("bar"),)
        assert run.fetch(served.url, "foo", "2.0").requires_dist == (Requirement("bar"),)
    assert run.fetcher.stats()["sdist-static"] == run.fetcher.stats()["build"] == 1


def test_large_sdists_download_few_at_a_time(
    index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    class Gate:
        def __init__(self) -> None:
            self.lock = threading.BoundedSemaphore(metadata_module.LARGE_AT_ONCE)
            self.count = threading.Lock()
            self.entered, self.inside, self.most = 0, 0, 0

        def acquire(self) -> None:
            self.lock.acquire()
            with self.count:
                self.entered, self.inside = self.entered + 1, self.inside + 1
                self.most = max(self.most, self.inside)

        def release(self) -> None:
            with self.count:
                self.inside -= 1
            self.lock.release()

    gate = Gate()
    monkeypatch.setattr(metadata_module, "_LARGE_DOWNLOADS", gate)
    for version in ("1.0", "2.0", "3.0"):
        index.add("foo", version, sdist=True, wheel=False)
    run = Run(tmp_path)
    with index.serve(delay=0.05) as served:
        sdists = run.files(served.url, "foo")
        run.fetch(served.url, "foo", "1.0")
        assert gate.entered == 0  # small: not gated
        monkeypatch.setattr(metadata_module, "LARGE_DOWNLOAD", 1)
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda f: run.fetcher.fetch(FOO, f.version, [f]), sdists[1:]))
        tampered = dataclasses.replace(sdists[0], hashes={"sha256": "0" * 64})
        with pytest.raises(MetadataUnavailable, match="hash mismatch"):
            MetadataFetcher(Http(), no_cache=True, warn=print).fetch(
                FOO, tampered.version, [tampered]
            )
    assert (gate.entered, gate.inside) == (3, 0)  # released after a failure too
    assert 1 <= gate.most <= metadata_module.LARGE_AT_ONCE


def test_unreadable_tar_sdist_names_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "links"
    folder.mkdir()
    (folder / "foo-1.0.tar.gz").write_bytes(b"not a tar archive at all" * 100)
    with IndexProvider(
        index_urls=[], find_links=[str(folder)], cache_dir=tmp_path / "cache", warn=print
    ) as provider:
        with pytest.raises(MetadataUnavailable, match=r"foo-1.0.tar.gz: cannot read the archive"):
            provider.metadata(FOO, Version("1.0"))


def test_streamed_archives_are_checked_against_their_hash(index: Index, tmp_path: Path) -> None:
    index.add("foo", "1.0", sdist=True, wheel=False)
    run = Run(tmp_path)
    with index.serve() as served:
        (sdist,) = run.files(served.url, "foo")
        tampered = dataclasses.replace(sdist, hashes={"sha256": "0" * 64})
        with pytest.raises(MetadataUnavailable, match="sha256 hash mismatch"):
            run.fetcher.fetch(FOO, Version("1.0"), [tampered])


def test_old_pkg_info_is_not_trusted(index: Index, tmp_path: Path) -> None:
    index.add(
        "foo",
        "1.0",
        requires=["bar"],
        sdist=True,
        wheel=False,
        metadata_version="2.1",
        sdist_metadata_version="2.1",
    )
    index.write()
    run = Run(tmp_path)
    assert run.fetch(index.simple_url, "foo", "1.0").requires_dist == (Requirement("bar"),)
    assert run.path() == "build"


def test_dynamic_sdist_is_built(index: Index, tmp_path: Path) -> None:
    index.add(
        "foo",
        "1.0",
        requires=["bar>=1"],
        requires_python=">=3.10",
        sdist=True,
        wheel=False,
        sdist_dynamic=True,
    )
    run = Run(tmp_path)
    with index.serve() as served:
        meta = run.fetch(served.url, "foo", "1.0")
    assert meta.requires_dist == (Requirement("bar>=1"),)
    assert meta.requires_python == SpecifierSet(">=3.10")
    assert run.path() == "build"


def test_broken_sdist_names_the_file(index: Index, tmp_path: Path) -> None:
    index.add("foo", "1.0", sdist=True, wheel=False, sdist_dynamic=True, sdist_broken=True)
    index.write()
    run = Run(tmp_path)
    with pytest.raises(MetadataUnavailable) as error:
        run.fetch(index.simple_url, "foo", "1.0")
    message = str(error.value)
    assert "foo 1.0" in message and "foo-1.0.tar.gz" in message
    assert "deliberately broken" in message
    (entry,) = (tmp_path / "cache" / "metadata" / "foo").iterdir()
    assert entry.name.endswith(".failed.json")  # no metadata: only the failure is remembered


def test_failed_builds_are_remembered(
    index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index.add("foo", "1.0", sdist=True, wheel=False, sdist_dynamic=True, sdist_broken=True)
    index.add("bar", "1.0", sdist=True, wheel=False, sdist_dynamic=True)
    index.write()
    builds: list[str] = []

    def counted(sdist: Path, *args: object, **kwargs: object) -> bytes:
        builds.append(sdist.name)
        return build_metadata(sdist, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(build_module, "build_metadata", counted)
    messages = []
    for _ in range(2):
        with pytest.raises(MetadataUnavailable, match="deliberately broken") as error:
            Run(tmp_path).fetch(index.simple_url, "foo", "1.0")
        messages.append(str(error.value))
    assert builds == ["foo-1.0.tar.gz"]
    assert messages[1].startswith(messages[0]) and "as in an earlier run" in messages[1]
    with pytest.raises(MetadataUnavailable, match="deliberately broken"):
        run = Run(tmp_path)
        run.fetcher = MetadataFetcher(Http(), no_cache=True, warn=run.warnings.append)
        run.fetch(index.simple_url, "foo", "1.0")
    assert builds == ["foo-1.0.tar.gz"] * 2  # --no-cache builds again
    # A failure of the machine, not of the sdist, is not remembered.
    monkeypatch.setattr(build_module, "build_metadata", lambda *a, **k: _raise(BuildError("no")))
    for _ in range(2):
        with pytest.raises(MetadataUnavailable, match="no"):
            Run(tmp_path).fetch(index.simple_url, "bar", "1.0")
    assert not list((tmp_path / "cache" / "metadata").glob("bar/*"))
    # Remembered failures expire.
    monkeypatch.setattr(build_module, "build_metadata", counted)
    monkeypatch.setattr(MetadataCache, "FAILED_FOR", -1)
    with pytest.raises(MetadataUnavailable, match="deliberately broken"):
        Run(tmp_path).fetch(index.simple_url, "foo", "1.0")
    assert builds == ["foo-1.0.tar.gz"] * 3


def _raise(exc: Exception) -> bytes:
    raise exc


def test_no_build(index: Index, tmp_path: Path) -> None:
    index.add("foo", "1.0", sdist=True, wheel=False, sdist_dynamic=True)
    index.add("foo", "2.0", requires=["bar"], sdist=True, wheel=False)
    index.write()
    run = Run(tmp_path, no_build=True)
    with pytest.raises(MetadataUnavailable, match=r"foo-1.0.tar.gz: .*--no-build forbids"):
        run.fetch(index.simple_url, "foo", "1.0")
    assert run.fetch(index.simple_url, "foo", "2.0").requires_dist == (Requirement("bar"),)


def test_build_backend_path_must_stay_inside(tmp_path: Path) -> None:
    text = core_metadata("foo", "1.0", requires=["bar"])
    filename, content = build_sdist("foo", "1.0", metadata=text, pkg_info="Name: foo\n")
    sdist = tmp_path / filename
    sdist.write_bytes(content)
    assert build_metadata(sdist) == text.encode()
    evil = tmp_path / "evil-1.0.tar.gz"
    with tarfile.open(evil, "w:gz") as archive:
        data = b'[build-system]\nrequires = []\nbuild-backend = "b"\nbackend-path = [".."]\n'
        info = tarfile.TarInfo("evil-1.0/pyproject.toml")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    with pytest.raises(BuildError, match=r"evil-1.0.tar.gz: backend-path '..' leaves"):
        build_metadata(evil)


def test_warm_run_uses_the_cache(foo: Index, tmp_path: Path) -> None:
    with foo.serve() as served:
        check_foo(Run(tmp_path).fetch(served.url, "foo", "1.0"))
        served.requests.clear()
        run = Run(tmp_path)
        check_foo(run.fetch(served.url, "foo", "1.0"))
    assert run.path() == "cache"
    assert not [p for _, p, _ in served.requests if "/files/" in p]


def test_failed_fetch_leaves_no_cache_entry(foo: Index, tmp_path: Path) -> None:
    run = Run(tmp_path)
    with foo.serve(metadata_files=False) as served:
        files = run.files(served.url, "foo")
        served.fail_paths.add("/files/foo-1.0-py3-none-any.whl")
        with pytest.raises(SourceError, match="foo-1.0-py3-none-any.whl: HTTP 500"):
            run.fetcher.fetch(FOO, Version("1.0"), files)
        assert not (tmp_path / "cache" / "metadata").exists()
        served.fail_paths.clear()
        check_foo(run.fetcher.fetch(FOO, Version("1.0"), files))
    assert run.fetcher.stats()["range"] == 1
    # the file's entry and the version's
    assert len(os.listdir(tmp_path / "cache" / "metadata" / "foo")) == 2


BUILD_WHEEL_ONLY = """
import os, zipfile
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    import helper  # a build requirement, installed into the isolated environment
    name = "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        requirement = "Requires-Dist: helper==" + helper.VERSION + "\\n"
        wheel.writestr("demo-1.0.dist-info/METADATA", METADATA + requirement)
    return name
"""


def test_build_installs_requirements_and_falls_back_to_build_wheel(
    tmp_path: Path, index: Index
) -> None:
    """build-system.requires comes from the lock's find-links; a backend without
    prepare_metadata_for_build_wheel is asked for a whole wheel."""
    index.add("helper", "3.1")
    links = index.write_find_links()
    pyproject = (
        '[build-system]\nrequires = ["helper"]\nbuild-backend = "backend"\nbackend-path = ["."]\n'
    )
    metadata = "Metadata-Version: 2.1\\nName: demo\\nVersion: 1.0\\n"
    sdist = make_sdist(
        tmp_path / "demo-1.0.tar.gz",
        {
            "pyproject.toml": pyproject,
            "backend.py": f'METADATA = "{metadata}"\n' + BUILD_WHEEL_ONLY,
        },
    )
    settings = BuildSettings(find_links=(str(links),))
    built = build_metadata(sdist, settings).decode()
    assert "Name: demo" in built and "Requires-Dist: helper==3.1" in built
    with pytest.raises(BuildError, match=r"demo-1.0.tar.gz: installing build requirements"):
        build_metadata(sdist, BuildSettings())  # --no-index and no find-links: helper is missing


def test_build_without_pyproject_or_setup_py(tmp_path: Path) -> None:
    sdist = make_sdist(tmp_path / "empty-1.0.tar.gz", {"README": "nothing to build"})
    with pytest.raises(BuildError, match="empty-1.0.tar.gz: neither pyproject.toml nor setup.py"):
        build_metadata(sdist)


@pytest.mark.parametrize(
    "text",
    [
        'python_version < "3.11"',
        'python_version<"3.8"and os_name=="nt"',
        "extra == 'Foo_Bar' or extra=='x' and python_full_version >= '3.9.1'",
        "'linux' in sys_platform and platform_machine not  in 'x86_64 aarch64'",
        'platform.python_implementation == "CPython" or python_implementation == "PyPy"',
        'os_name == "a and b" or os_name == "(c)"',
        'python_version < "3.8" or (os_name == "nt" and extra == "x")',
        'extra == "a" and',
        'and extra == "a"',
        'extrain "x"',
        'python_version === "3.8" or implementation_name ~= "1"',
    ],
)
def test_markers_put_together_from_comparisons_are_whole_parses(text: str) -> None:
    # A marker without parentheses (one comparison, or several joined by "and" and "or") is
    # put together from its comparisons, each parsed once (metadata._flat_marker): the same
    # parse as packaging's of the whole, or none at all.
    from packaging.markers import InvalidMarker, Marker

    flat = metadata_module._flat_marker(text)
    try:
        whole = Marker(text)
    except InvalidMarker:
        assert flat is None
        return
    if flat is not None:
        assert repr(flat._markers) == repr(whole._markers)
        assert flat == whole and str(flat) == str(whole) and hash(flat) == hash(whole)
    assert (flat is None) == ("(" in text)


def test_versions_listing_the_same_requirements_share_them() -> None:
    # Cache entries whose requirement texts are the same share one tuple of requirements
    # (metadata._from_texts), which the universe follows once per extra; other texts do not.
    name = NormalizedName("shared-reqs")
    texts = ("anyio>=3.6.2,<5", 'idna>=2.8; extra == "shared-x"', "sniffio>=1.1")
    first = metadata_module._from_texts(name, Version("1.0"), texts, ">=3.9", ("shared-x",))
    second = metadata_module._from_texts(name, Version("1.1"), list(texts), None, ())
    other = metadata_module._from_texts(name, Version("1.2"), texts[:2], None, ())
    assert first.requires_dist is second.requires_dist
    assert [str(r) for r in first.requires_dist] == [str(Requirement(t)) for t in texts]
    assert other.requires_dist is not first.requires_dist
    assert list(other.requires_dist) == list(first.requires_dist[:2])
    assert (first.version, second.version) == (Version("1.0"), Version("1.1"))
    with pytest.raises((TypeError, AttributeError)):
        metadata_module._from_texts(name, Version("1.3"), ("idna", 5), None, ())


def test_version_entry_paths_are_joined_as_os_path_join_does(tmp_path: Path) -> None:
    # A version entry's path is the directory joined once, then the name and file appended:
    # the same string os.path.join gives (the metadata pack is keyed by it), also after the
    # cache is pointed elsewhere.
    from resolver.parsed_cache import sha256

    cache = metadata_module.MetadataCache(tmp_path / "metadata")
    for directory in (tmp_path / "metadata", tmp_path / "other" / "place"):
        cache.directory = directory
        for name, version in (("demo", "1.0"), ("zope-interface", "5.4.0.post1")):
            digest = sha256(f"version\n{name}\n{version}".encode()).hexdigest()[:40]
            expected = os.path.join(directory, name, f"{digest}.version")
            assert cache._version_path(NormalizedName(name), Version(version)) == expected
