"""Cold locks: a wheel's METADATA read from the tail of the wheel without zipfile."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from indexbuilder import Index, build_wheel, core_metadata
from packaging.utils import canonicalize_name
from packaging.version import Version

import resolver.metadata as metadata_module
from resolver.http import Http
from resolver.index import fetch_project_page
from resolver.metadata import MetadataFetcher, _metadata_from_tail

FOO = canonicalize_name("foo")


def _wheel(entries: dict[str, bytes], *, stored: bool = False, comment: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in entries.items():
            info = zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
        archive.comment = comment
    return buffer.getvalue()


METADATA = core_metadata("foo", "1.0", requires=["bar>=2"]).encode()
ENTRIES = {
    "foo/__init__.py": b"x = 1\n" * 1000,
    "other-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: other\nVersion: 1.0\n",
    "foo-1.0.dist-info/METADATA": METADATA,
    "foo-1.0.dist-info/RECORD": b"",
}


@pytest.mark.parametrize("stored", [False, True])
@pytest.mark.parametrize("comment", [b"", b"a comment with PK\x05\x06 inside"])
def test_tail_read_equals_zipfile(stored: bool, comment: bytes) -> None:
    wheel = _wheel(ENTRIES, stored=stored, comment=comment)
    assert _metadata_from_tail(wheel, 0, FOO) == METADATA  # the project's own dist-info
    # From a tail that starts anywhere before the METADATA entry's local header.
    # (zipfile cannot read a comment holding the end record's signature: offsets from a copy
    # without it, the same up to the comment)
    plain = zipfile.ZipFile(io.BytesIO(_wheel(ENTRIES, stored=stored)))
    offset = plain.getinfo("foo-1.0.dist-info/METADATA").header_offset
    assert _metadata_from_tail(wheel[offset:], offset, FOO) == METADATA
    # A tail without the entry (or without the central directory) is left to zipfile.
    assert _metadata_from_tail(wheel[offset + 1 :], offset + 1, FOO) is None
    assert _metadata_from_tail(wheel[-30:], len(wheel) - 30, FOO) is None
    # A file that does not match its CRC is left to zipfile, which tells what is wrong.
    if stored:
        damaged = wheel.replace(b"bar>=2", b"bar>=3")
        assert _metadata_from_tail(damaged, 0, FOO) is None
    # No METADATA at all: left to zipfile, which names the problem.
    assert _metadata_from_tail(_wheel({"foo/__init__.py": b""}), 0, FOO) is None
    assert _metadata_from_tail(b"not a zip at all" * 10, 0, FOO) is None


def test_range_reads_of_real_wheels_take_the_tail_path(
    tmp_path: Path, index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    index.add("foo", "1.0", requires=["bar>=2"], wheel_padding=50_000)
    index.add("foo", "2.0", requires=["baz"], wheel_padding=50_000)
    read: list[str] = []
    archive = metadata_module.metadata_from_archive

    def spy(file: object, filename: str, project: str) -> bytes:
        read.append(filename)
        return archive(file, filename, project)  # type: ignore[arg-type]

    monkeypatch.setattr(metadata_module, "metadata_from_archive", spy)
    with index.serve(metadata_files=False, core_metadata_attr=False) as served:
        files = fetch_project_page(Http(), served.url, "foo", warn=pytest.fail)
        assert files is not None
        fetcher = MetadataFetcher(
            Http(), no_cache=True, warn=lambda m: None, probe_metadata_files=False
        )
        one = fetcher.fetch(FOO, Version("1.0"), [f for f in files if f.version == Version("1.0")])
        monkeypatch.setattr(metadata_module, "TAIL_SIZE", 100)  # no central directory in it
        two = fetcher.fetch(FOO, Version("2.0"), [f for f in files if f.version == Version("2.0")])
    assert [str(r) for r in one.requires_dist] == ["bar>=2"]
    assert [str(r) for r in two.requires_dist] == ["baz"]
    assert fetcher.stats()["range"] == 2
    assert read == ["foo-2.0-py3-none-any.whl"]  # 1.0 never went through zipfile


def test_build_wheel_layout_is_what_the_tail_path_expects() -> None:
    filename, content = build_wheel("foo", "1.0", "py3-none-any", METADATA.decode())
    assert _metadata_from_tail(content, 0, FOO) == METADATA
