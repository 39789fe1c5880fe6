"""Project pages and find-links locations: parsing (PEP 503/691/592/658/714) and fetching."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from indexbuilder import Index
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import canonicalize_name
from packaging.version import Version

from resolver.errors import SourceError
from resolver.http import Http, default_cache_dir, user_agent
from resolver.index import (
    SIMPLE_ACCEPT,
    by_project,
    fetch_find_links,
    fetch_project_page,
    parse_html_page,
    parse_json_page,
    project_url,
)

PAGE = "https://example.org/simple/foo/"
INDEX = "https://example.org/simple/"
FOO = canonicalize_name("foo")


def html_page(*anchors: str) -> str:
    return "<!DOCTYPE html><html><body>\n" + "\n".join(anchors) + "\n</body></html>"


@pytest.fixture
def warnings() -> list[str]:
    return []


def parse_html(text: str, warnings: list[str], project: str | None = "foo"):
    name = canonicalize_name(project) if project else None
    return parse_html_page(text, PAGE, warn=warnings.append, index=INDEX, project=name)


def parse_json(data: dict, warnings: list[str]):
    return parse_json_page(data, PAGE, warn=warnings.append, index=INDEX, project="foo")


# -- HTML ------------------------------------------------------------------------------------


def test_html_wheel_and_sdist_with_hash_and_relative_url(warnings: list[str]) -> None:
    files = parse_html(
        html_page(
            '<a href="../../files/foo-1.0-py3-none-any.whl#sha256=abc123">x</a>',
            '<a href="https://files.example.org/foo-1.0.tar.gz">foo-1.0.tar.gz</a>',
        ),
        warnings,
    )
    wheel, sdist = files
    assert wheel.url == "https://example.org/files/foo-1.0-py3-none-any.whl"
    assert wheel.hashes == {"sha256": "abc123"}
    assert wheel.kind == "wheel" and wheel.version == Version("1.0")
    assert wheel.tags == frozenset({Tag("py3", "none", "any")})
    assert wheel.index == INDEX
    assert sdist.kind == "sdist" and sdist.hashes == {} and sdist.tags == frozenset()
    assert sdist.url == "https://files.example.org/foo-1.0.tar.gz"
    assert not warnings


def test_html_requires_python_is_unescaped(warnings: list[str]) -> None:
    (file,) = parse_html(
        html_page('<a href="foo-1.0.tar.gz" data-requires-python="&gt;=3.8,&lt;4">x</a>'), warnings
    )
    assert file.requires_python == SpecifierSet(">=3.8,<4")


def test_html_invalid_requires_python_is_ignored_with_a_warning(warnings: list[str]) -> None:
    (file,) = parse_html(
        html_page('<a href="foo-1.0.tar.gz" data-requires-python="&gt;=3.x">x</a>'), warnings
    )
    assert file.requires_python is None
    assert len(warnings) == 1 and ">=3.x" in warnings[0] and "foo-1.0.tar.gz" in warnings[0]


def test_invalid_requires_python_is_warned_once_per_value(warnings: list[str]) -> None:
    files = parse_html(
        html_page(
            *(
                f'<a href="foo-1.{i}.tar.gz" data-requires-python="&gt;=3.5.*, &lt;4">x</a>'
                for i in range(3)
            )
        ),
        warnings,
    )
    assert [f.requires_python for f in files] == [None, None, None]
    assert warnings == [
        "ignoring the invalid Requires-Python '>=3.5.*, <4' of foo-1.0.tar.gz and 2 more files"
    ]


def test_html_yanked(warnings: list[str]) -> None:
    files = parse_html(
        html_page(
            '<a href="foo-1.0.tar.gz" data-yanked="broken &amp; bad">x</a>',
            '<a href="foo-1.1.tar.gz" data-yanked>x</a>',
            '<a href="foo-1.2.tar.gz" data-yanked="">x</a>',
            '<a href="foo-1.3.tar.gz">x</a>',
        ),
        warnings,
    )
    assert [f.yanked for f in files] == ["broken & bad", "", "", None]
    assert [f.is_yanked for f in files] == [True, True, True, False]


def test_html_core_metadata_attributes(warnings: list[str]) -> None:
    files = parse_html(
        html_page(
            '<a href="foo-1.0-py3-none-any.whl" data-core-metadata="sha256=aa">x</a>',
            '<a href="foo-1.1-py3-none-any.whl" data-core-metadata="true">x</a>',
            '<a href="foo-1.2-py3-none-any.whl" data-dist-info-metadata="sha256=bb">x</a>',
            '<a href="foo-1.3-py3-none-any.whl" data-core-metadata>x</a>',
            '<a href="foo-1.4-py3-none-any.whl">x</a>',
        ),
        warnings,
    )
    assert [f.core_metadata for f in files] == [{"sha256": "aa"}, {}, {"sha256": "bb"}, {}, None]


def test_html_skips_bad_names_with_a_warning_and_other_files_silently(warnings: list[str]) -> None:
    files = parse_html(
        html_page(
            '<a href="foo-1.0-py3-none-any.whl">ok</a>',
            '<a href="foo-latest.tar.gz">legacy version</a>',
            '<a href="foo-1.0-py3.whl">bad wheel name</a>',
            '<a href="foo-1.0.win32.exe">installer</a>',
            '<a href="foo-1.0-py2.7.egg">egg</a>',
            '<a href="foo-1.0.zip">zip sdist</a>',
            '<a href="bar-1.0.tar.gz">other project</a>',
            "<a>no href</a>",
        ),
        warnings,
    )
    assert [f.filename for f in files] == ["foo-1.0-py3-none-any.whl", "foo-1.0.zip"]
    # One warning per page, naming every skipped file.
    assert len(warnings) == 1
    assert "skipping 2 files" in warnings[0]
    assert "foo-latest.tar.gz" in warnings[0] and "foo-1.0-py3.whl" in warnings[0]


def test_html_upload_time(warnings: list[str]) -> None:
    (file,) = parse_html(
        html_page('<a href="foo-1.0.tar.gz" data-upload-time="2010-06-29T19:56:36.7Z">x</a>'),
        warnings,
    )
    assert file.upload_time == datetime(2010, 6, 29, 19, 56, 36, 700000, tzinfo=UTC)


def test_html_base_href(warnings: list[str]) -> None:
    (file,) = parse_html(
        '<html><head><base href="https://cdn.example.org/pkgs/"></head>'
        '<body><a href="foo-1.0.tar.gz">x</a></body></html>',
        warnings,
    )
    assert file.url == "https://cdn.example.org/pkgs/foo-1.0.tar.gz"


# -- JSON ------------------------------------------------------------------------------------


def test_json_page(warnings: list[str]) -> None:
    data = {
        "meta": {"api-version": "1.1"},
        "name": "foo",
        "files": [
            {
                "filename": "foo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                "url": "../../files/foo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
                "hashes": {"sha256": "aa"},
                "requires-python": ">=3.12",
                "core-metadata": {"sha256": "bb"},
                "yanked": False,
                "size": 1234,
                "upload-time": "2024-05-01T12:30:00.000000Z",
            },
            {
                "filename": "foo-1.1.tar.gz",
                "url": "https://files.example.org/foo-1.1.tar.gz",
                "hashes": {},
                "dist-info-metadata": True,
                "yanked": "security hole",
            },
            {"filename": "foo-1.2.tar.gz", "url": "foo-1.2.tar.gz", "hashes": {}, "yanked": True},
            {"filename": "foo-bad.tar.gz", "url": "foo-bad.tar.gz", "hashes": {}},
        ],
    }
    wheel, sdist, yanked = parse_json(data, warnings)
    assert wheel.url == "https://example.org/files/foo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    assert wheel.hashes == {"sha256": "aa"}
    assert wheel.requires_python == SpecifierSet(">=3.12")
    assert wheel.core_metadata == {"sha256": "bb"}
    assert wheel.yanked is None and wheel.size == 1234
    assert wheel.upload_time == datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert Tag("cp312", "cp312", "manylinux_2_17_x86_64") in wheel.tags
    assert sdist.core_metadata == {} and sdist.yanked == "security hole"
    assert yanked.yanked == "" and yanked.core_metadata is None
    assert yanked.url == "https://example.org/simple/foo/foo-1.2.tar.gz"
    assert len(warnings) == 1 and "foo-bad.tar.gz" in warnings[0]


def test_json_unsupported_major_version(warnings: list[str]) -> None:
    with pytest.raises(SourceError, match="unsupported simple API version 2.0"):
        parse_json({"meta": {"api-version": "2.0"}, "files": []}, warnings)


# -- file:// ---------------------------------------------------------------------------------


def make_index(index: Index) -> Index:
    index.add("Foo.Bar", "1.0", requires_python=">=3.8", sdist=True)
    index.add("Foo.Bar", "2.0", yanked="broken")
    index.add("baz", "1.0")
    return index


@pytest.mark.parametrize("formats", [{"json": True, "html": False}, {"json": False, "html": True}])
def test_file_index(index: Index, formats: dict[str, bool], warnings: list[str]) -> None:
    make_index(index).write(**formats)
    files = fetch_project_page(Http(), index.simple_url, "foo-bar", warn=warnings.append)
    assert files is not None
    assert [f.filename for f in files] == [  # normalized: by version, then sdists first
        "foo_bar-1.0.tar.gz",
        "foo_bar-1.0-py3-none-any.whl",
        "foo_bar-2.0-py3-none-any.whl",
    ]
    assert all(f.url.startswith("file://") and "#" not in f.url for f in files)
    assert all(Path(f.url.removeprefix("file://")).is_file() for f in files)
    assert files[1].requires_python == SpecifierSet(">=3.8")
    assert files[1].core_metadata is not None and "sha256" in files[1].core_metadata
    assert files[0].core_metadata is None
    assert files[2].yanked == "broken"
    assert all("sha256" in f.hashes for f in files)
    assert all(f.index == index.simple_url for f in files)
    assert not warnings


def test_file_index_missing_project(index: Index, warnings: list[str]) -> None:
    make_index(index).write()
    assert fetch_project_page(Http(), index.simple_url, "nothere", warn=warnings.append) is None
    missing_root = index.root.as_uri() + "/nowhere/"
    assert fetch_project_page(Http(), missing_root, "baz", warn=warnings.append) is None


def test_file_index_flat_folder_and_unnormalized_dir(tmp_path: Path, index: Index) -> None:
    make_index(index)
    root = tmp_path / "tree"
    index.write_find_links(root / "Foo_Bar")
    (root / "Foo_Bar" / "foo_bar-1.0-py3-none-any.whl.metadata").write_text("x")
    (root / "Foo_Bar" / "notes.txt").write_text("not a distribution")
    files = fetch_project_page(Http(), str(root), "foo-bar", warn=pytest.fail)
    assert files is not None
    assert sorted(f.filename for f in files) == [
        "foo_bar-1.0-py3-none-any.whl",
        "foo_bar-1.0.tar.gz",
        "foo_bar-2.0-py3-none-any.whl",
    ]
    by_name = {f.filename: f for f in files}
    assert by_name["foo_bar-1.0-py3-none-any.whl"].core_metadata == {}
    assert by_name["foo_bar-2.0-py3-none-any.whl"].core_metadata is None
    assert all(f.size and f.size > 0 for f in files)


# -- HTTP ------------------------------------------------------------------------------------


def test_http_prefers_json(index: Index, warnings: list[str]) -> None:
    make_index(index)
    with index.serve() as served:
        files = fetch_project_page(Http(), served.url, "Foo.Bar", warn=warnings.append)
    assert files is not None and len(files) == 3
    assert files[1].url == f"{served.origin}/files/foo_bar-1.0-py3-none-any.whl"
    assert files[1].size is not None and files[1].upload_time is not None  # JSON-only fields
    (request,) = served.requests
    assert request[:2] == ("GET", "/simple/foo-bar/")


def test_http_html_only(index: Index, warnings: list[str]) -> None:
    make_index(index)
    with index.serve(json=False) as served:
        files = fetch_project_page(Http(), served.url, "foo-bar", warn=warnings.append)
    assert files is not None and len(files) == 3
    assert files[1].size is None  # HTML has no sizes
    assert files[2].yanked == "broken"
    assert files[1].core_metadata and files[1].requires_python == SpecifierSet(">=3.8")


def test_http_not_found_and_server_error(index: Index, warnings: list[str]) -> None:
    make_index(index)
    with index.serve(fail_paths=["/simple/baz/"]) as served:
        http = Http()
        assert fetch_project_page(http, served.url, "nothere", warn=warnings.append) is None
        with pytest.raises(SourceError, match=r"/simple/baz/: HTTP 500"):
            fetch_project_page(http, served.url, "baz", warn=warnings.append)


def test_http_connection_error_names_the_url(warnings: list[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/simple/"
    with pytest.raises(SourceError, match=f"cannot fetch {url}foo/"):
        fetch_project_page(Http(), url, "foo", warn=warnings.append)


def test_project_url_and_accept() -> None:
    assert project_url("https://x.org/simple", "Foo_Bar.baz") == "https://x.org/simple/foo-bar-baz/"
    assert SIMPLE_ACCEPT.startswith("application/vnd.pypi.simple.v1+json")


# -- find-links ------------------------------------------------------------------------------


def test_find_links_folder(index: Index, warnings: list[str]) -> None:
    folder = make_index(index).write_find_links()
    files = fetch_find_links(Http(), str(folder), warn=warnings.append)
    assert len(files) == 4
    groups = by_project(files)
    assert sorted(groups) == ["baz", "foo-bar"]
    assert [f.filename for f in groups[canonicalize_name("baz")]] == ["baz-1.0-py3-none-any.whl"]
    assert all(f.index == folder.resolve().as_uri() for f in files)


def test_find_links_html_page_over_http(index: Index, warnings: list[str]) -> None:
    make_index(index)
    with index.serve() as served:
        page = f"{served.url}foo-bar/"
        files = fetch_find_links(Http(), page, warn=warnings.append)
    assert len(files) == 3 and files[0].url.startswith(served.origin)


def test_find_links_missing_folder(tmp_path: Path, warnings: list[str]) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        fetch_find_links(Http(), str(tmp_path / "nope"), warn=warnings.append)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASPEN_CACHE_DIR", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("ASPEN_CACHE_DIR")
    assert default_cache_dir() == tmp_path / "xdg" / "aspen"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "aspen"
    assert user_agent().startswith("aspen/")


@pytest.mark.parametrize(
    "html",
    [
        '<a href="x-1.0.tar.gz#sha256=ab">x</a><a href="y.whl" data-yanked>y</a>',
        "<A HREF='a.whl' Data-Requires-Python='&gt;=3.8'>a</A>",
        '<a href=plain.whl data-yanked="" data-core-metadata=sha256=01>p</a>',
        '<a\n  href="n.whl"\n  data-requires-python=">=3.6,<4">n</a>',
        '<abbr title="not a link">x</abbr><a href="q.whl?x=1&amp;y=2">q</a><br/>',
        '<base href="https://example.org/files/"><a href="rel.whl">r</a>',
        '<a href="self.whl"/><a href="dup.whl" href="second.whl">d</a>',
        "<html><body><h1>Links for x</h1>\n<a href='t.whl'>t</a><br />\n</body></html>",
    ],
)
def test_html_link_scan_reads_as_html_parser(html: str) -> None:
    from resolver.index import _links, _parsed_links

    assert _links(html) == _parsed_links(html)
    assert _links(html)[1]  # the scan found links (not the parser fallback)


def test_html_with_comments_goes_to_the_parser(warnings: list[str]) -> None:
    text = '<!-- <a href="foo-2.0.tar.gz">old</a> --><a href="foo-1.0.tar.gz">yes</a>'
    files = parse_html_page(text, PAGE, warn=warnings.append, index=INDEX, project="foo")
    assert [f.filename for f in files] == ["foo-1.0.tar.gz"]


# Pages as indexes write them (the one-scan path), and pages the scan must leave to the general
# reader: both give what html.parser reads.
PYPI_LINKS = [
    '<a href="https://files.example.org/foo-1.0.tar.gz#sha256=ab" '
    'data-requires-python="&gt;=3.8,&lt;4" data-upload-time="2024-05-01T12:00:00Z">'
    "foo-1.0.tar.gz</a><br />",
    '<a href="../../files/foo-1.0-py3-none-any.whl#sha256=cd" data-dist-info-metadata="sha256=01" '
    'data-core-metadata="sha256=02">foo-1.0-py3-none-any.whl</a><br />',
    '<a href="foo-2.0-py3-none-any.whl" data-yanked="" data-core-metadata="true">x</a>',
    '<a href="foo-2.0.tar.gz?a=1&amp;b=2" data-yanked="broken &amp; gone">y</a>',
    '<a href="foo-3.0.tar.gz" href="foo-3.1.tar.gz">z</a>',
    '<a href="">empty</a><a href="foo-4.0.tar.gz"/>',
]
OTHER_LINKS = [
    "<A HREF='foo-1.0.tar.gz' Data-Requires-Python='&gt;=3.8'>a</A>",
    '<a data-yanked="" href="foo-1.0.tar.gz">attribute order</a>',
    '<a href="foo-1.0.tar.gz" data-yanked>bare attribute</a>',
    '<base href="https://mirror.example.org/x/"><a href="foo-1.0.tar.gz">base</a>',
    '<!-- <a href="foo-0.1.tar.gz">commented</a> --><a href="foo-1.0.tar.gz">c</a>',
    '<abbr title="x">not a link</abbr><a href="foo-1.0.tar.gz">one</a>',
]


@pytest.mark.parametrize("links", [PYPI_LINKS, OTHER_LINKS, PYPI_LINKS + OTHER_LINKS[:1]])
def test_html_entries_read_as_html_parser(links: list[str]) -> None:
    from resolver.index import _anchor_entries, _html_entries, _parsed_links, _simple_links

    text = html_page(*links)
    assert _html_entries(text, PAGE) == _anchor_entries(*_parsed_links(text), PAGE)
    assert (_simple_links(text) is not None) == (links is PYPI_LINKS)


def test_page_tables_give_the_normalized_files(warnings: list[str]) -> None:
    """Parsing a remote page straight into the page cache's tables gives the files, order and
    warnings of ``normalized(parse_html_page(...))``."""
    from resolver.index import _html_entries, _page_tables, normalized
    from resolver.parsed_cache import _tables, parsed_page
    from resolver.provider import DistFile

    text = html_page(
        *PYPI_LINKS,
        '<a href="foo-1.0-py3-none-any.whl#sha256=dup">the same URL again</a>',
        '<a href="bar-1.0.tar.gz">another project</a>',
        '<a href="foo-1.0.exe">not a distribution</a>',
        '<a href="foo-x.y-py3-none-any.whl" data-requires-python="&gt;=3.6.*">bad name</a>',
        '<a href="foo-1.0.0-cp312-cp312-manylinux_2_17_x86_64.whl" '
        'data-requires-python="&gt;=3.12" data-upload-time="not a time">1.0.0 = 1.0</a>',
        '<a href="foo-0.9-py2.py3-none-any.whl" data-requires-python="&gt;=3.6.*">bad python</a>',
    )
    expected = normalized(parse_html(text, warnings))
    expected_warnings = list(warnings)
    warnings.clear()
    tables = _page_tables(_html_entries(text, PAGE), warn=warnings.append, index=INDEX, project=FOO)
    files = parsed_page(None, b"", tables, warnings).files
    assert warnings == expected_warnings and len(warnings) == 2
    assert files is not None and [
        tuple(getattr(f, field) for field in DistFile.__dataclass_fields__) for f in files
    ] == [tuple(getattr(f, field) for field in DistFile.__dataclass_fields__) for f in expected]
    assert [f.filename for f in files][:2] == ["foo-0.9-py2.py3-none-any.whl", "foo-1.0.tar.gz"]
    # The versions newest first, ranked by the parse's own sort, as when sorted afresh (1.0 and
    # 1.0.0 are one, written as in their first file).
    assert tables[9] == _tables(expected)[9]
    grouped: dict[object, list[object]] = {}
    for f in expected:
        grouped.setdefault(f.version, []).append(f)
    order = files.by_version().order()
    assert [str(v) for v in order] == [str(v) for v in sorted(grouped, reverse=True)]
    assert "1.0" in [str(v) for v in order] and len(order) == len(grouped)


def test_json_tables_give_the_files_of_the_json_entries(warnings: list[str]) -> None:
    """A JSON page parsed in one pass into the page cache's tables gives the files, order and
    warnings that its entries give through ``_page_tables`` (and ``normalized(...)``)."""
    from resolver.index import _json_entries, _json_tables, _page_tables, normalized
    from resolver.parsed_cache import parsed_page
    from resolver.provider import DistFile

    def file(name: str, **fields: object) -> dict[str, object]:
        return {
            "filename": name,
            "url": f"../../files/{name}",
            "hashes": {"sha256": "aa"},
            **fields,
        }

    data = {
        "meta": {"api-version": "1.1"},
        "files": [
            file("foo-2.0-py3-none-any.whl", **{"requires-python": ">=3.8", "size": 10}),
            file("foo-1.0.tar.gz", **{"core-metadata": {"sha256": "bb"}, "yanked": "bad"}),
            file("foo-1.0-py3-none-any.whl", **{"dist-info-metadata": True, "yanked": True}),
            file("foo-1.0.0-cp312-cp312-win_amd64.whl", **{"upload-time": "not a time"}),
            file("foo-2.0-py3-none-any.whl", size=99),  # the same URL again: the first wins
            {"url": "foo-3.0.tar.gz#sha256=cc", "hashes": {}},  # no name: read from the URL
            {"filename": "foo-4.0.zip", "url": "foo-4.0.zip#md5=dd", "hashes": {"sha256": 5}},
            file("bar-1.0.tar.gz"),  # another project
            file("foo-1.0.exe"),  # not a distribution
            file("foo-x.y-py3-none-any.whl", **{"requires-python": ">=3.6.*"}),
            file("foo-0.9-py3-none-any.whl", **{"requires-python": ">=3.6.*", "size": "1"}),
            file("foo-0.8-py3-none-any.whl", **{"requires-python": 3}),
            file("foo-0.7.tar.gz", **{"core-metadata": None, "dist-info-metadata": True}),
            file("foo-0.6.tar.gz", **{"core-metadata": "sha256=ee", "yanked": 0}),
            file("foo-0.5.tar.gz", **{"core-metadata": False, "hashes": ["aa"]}),
            "not a file",
            {"filename": "foo-5.0.tar.gz"},  # no URL
        ],
    }

    def parsed(tables: object) -> list[tuple[object, ...]]:
        files = parsed_page(None, b"", tables, []).files  # type: ignore[arg-type]
        assert files is not None
        return [tuple(getattr(f, name) for name in DistFile.__dataclass_fields__) for f in files]

    expected = parsed(
        _page_tables(_json_entries(data, PAGE), warn=warnings.append, index=INDEX, project=FOO)
    )
    expected_warnings = list(warnings)
    warnings.clear()
    assert parsed(_json_tables(data, PAGE, warn=warnings.append, index=INDEX, project=FOO)) == (
        expected
    )
    assert warnings == expected_warnings and len(warnings) == 2
    assert expected == [
        tuple(getattr(f, name) for name in DistFile.__dataclass_fields__)
        for f in normalized(parse_json(data, []))
    ]
    assert len(expected) == 11


def test_remote_pages_parse_without_cyclic_collections(
    index: Index, warnings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page's parse allocates a record per file and no cycles: the cyclic collector is paused
    meanwhile (webapp's cold lock spent 0.6-0.7 s of 2.5 s CPU in it, 4 full collections) and
    on again afterwards."""
    import gc

    import resolver.index as index_module

    seen: list[bool] = []
    parse = index_module._response_tables

    def recording(*args: object, **kwargs: object) -> object:
        seen.append(gc.isenabled())
        return parse(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(index_module, "_response_tables", recording)
    make_index(index)
    with index.serve() as served:
        assert fetch_project_page(Http(), served.url, "foo-bar", warn=warnings.append)
    assert seen == [False] and gc.isenabled()


def test_remote_pages_parse_one_at_a_time(
    index: Index, warnings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Side by side, a small page's parse waited for big ones (the GIL runs one anyway)."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import resolver.index as index_module

    inside, most = [0], [0]
    lock = threading.Lock()
    parse = index_module._response_tables

    def slow(*args: object, **kwargs: object) -> object:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        try:
            return parse(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(index_module, "_response_tables", slow)
    for name in ("a", "b", "c", "d"):
        index.add(name, "1.0")
    http = Http()
    with index.serve() as served, ThreadPoolExecutor(4) as pool:
        pages = list(
            pool.map(
                lambda n: fetch_project_page(http, served.url, n, warn=warnings.append), "abcd"
            )
        )
    assert all(pages) and most[0] == 1
