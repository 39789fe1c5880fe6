"""Project pages of simple indexes (PEP 503 HTML, PEP 691 JSON) and find-links locations.

Both are read over http(s) and from ``file://`` trees. A page becomes a list of ``DistFile``
records: one per wheel or sdist whose file name parses, with hashes, Requires-Python, yanked
state (PEP 592), announced core metadata (PEP 658/714), size, upload time and wheel tags.
Remote pages go through a ``PageCache`` of parsed pages when one is given (see
``resolver.parsed_cache``): a fresh entry answers without HTTP and without parsing. A remote page
is parsed straight into that cache's tables, whose files decode their fields on first use: a
cold run builds no ``DistFile`` per file and encodes nothing again to store the page.
"""

from __future__ import annotations

import functools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urljoin, urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from resolver.errors import SourceError
from resolver.http import OfflineError, expiry, read_body, storable
from resolver.page_worker import BIG_PAGE
from resolver.parsed_cache import (
    CachedPage,
    PageCache,
    PageTables,
    TableRecord,
    collection_paused,
    encoded_page,
    page_tables,
    parsed_page,
    response_digest,
)
from resolver.provider import DistFile
from resolver.trace import trace

if TYPE_CHECKING:
    from resolver.http import Http
    from resolver.page_worker import PageWorker

__all__ = [
    "SIMPLE_ACCEPT",
    "by_project",
    "dist_file",
    "fetch_find_links",
    "fetch_project_page",
    "is_local",
    "list_directory",
    "local_path",
    "normalized",
    "parse_html_page",
    "parse_json_page",
    "project_url",
    "to_url",
]

Warn = Callable[[str], None]


class PageNote(str):
    """A warning about an index page's own listing (a file name or version that does not parse,
    an invalid Requires-Python): the file is left out and nothing else changes. Passed to
    ``warn`` like any warning; the provider shows these with ``-v`` only (uv and pip say nothing
    about them, and a cached page would repeat them on every lock)."""

    __slots__ = ()


SIMPLE_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
_JSON_TYPES = ("application/vnd.pypi.simple.v1+json", "application/json")
_SDIST_SUFFIXES = (".tar.gz", ".zip")
_NOT_FOUND = (404, 410)


# -- locations -------------------------------------------------------------------------------


def to_url(location: str) -> str:
    """An index or find-links location as a URL: plain paths become ``file://`` URLs."""
    if "://" in location:
        return location
    return Path(location).expanduser().resolve().as_uri()


def is_local(url: str) -> bool:
    return url.startswith("file:")


def local_path(url: str) -> Path:
    """The filesystem path of a ``file://`` URL."""
    from urllib.request import url2pathname  # urllib.request imports http.client and ssl

    return Path(url2pathname(unquote(urlsplit(url).path)))


def project_url(index_url: str, name: str) -> str:
    """The PEP 503 project page URL: ``<index>/<normalized name>/``."""
    return f"{index_url.rstrip('/')}/{canonicalize_name(name)}/"


# -- one file --------------------------------------------------------------------------------


_ABSOLUTE = ("https://", "http://")


def _absolute(base: str, href: str) -> str:
    # urljoin costs ~60 µs; index pages of big projects list thousands of absolute links.
    return href if href.startswith(_ABSOLUTE) else urljoin(base, href)


def _hash_from_fragment(url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Split ``url#sha256=...`` into the bare URL and its hash."""
    if "#" not in url:  # PyPI's JSON pages: the hashes come apart
        return url, ()
    import hashlib  # here: warm runs parse no page, and need not load it

    bare, _, fragment = url.partition("#")
    algorithm, sep, digest = fragment.partition("=")
    if sep and algorithm in hashlib.algorithms_guaranteed and digest:
        return bare, ((algorithm, digest),)
    return bare, ()


@functools.lru_cache(maxsize=1024)
def _specifier_set(value: str) -> SpecifierSet | None:
    # A project's files repeat a handful of Requires-Python strings thousands of times.
    try:
        return SpecifierSet(value)
    except InvalidSpecifier:
        return None


class _InvalidRequiresPython:
    """Problems of one page, warned once per page or value, not once per file: invalid
    Requires-Python values, and file names whose names or versions do not parse."""

    def __init__(self, warn: Warn) -> None:
        self.warn = warn
        self.files: dict[str, list[str]] = {}
        self.skipped: list[str] = []

    def skip(self, message: str) -> None:
        """A ``warn`` for ``dist_file``: collects its "skipping FILE: reason" messages."""
        self.skipped.append(message)

    def parse(self, value: object, filename: str) -> SpecifierSet | None:
        if not isinstance(value, str) or not value.strip():
            return None
        specifier = _specifier_set(value)
        if specifier is None:
            self.files.setdefault(value, []).append(filename)
        return specifier

    def report(self) -> None:
        for value, files in self.files.items():
            more = f" and {len(files) - 1} more files" if len(files) > 1 else ""
            self.warn(
                PageNote(f"ignoring the invalid Requires-Python {value!r} of {files[0]}{more}")
            )
        if len(self.skipped) == 1:
            self.warn(PageNote(self.skipped[0]))
        elif self.skipped:
            names = [m.removeprefix("skipping ").split(": ", 1)[0] for m in self.skipped]
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            self.warn(
                PageNote(
                    f"skipping {len(names)} files whose names or versions do not parse: "
                    f"{', '.join(names[:3])}{more}"
                )
            )


def _core_metadata(value: object) -> dict[str, str] | None:
    """PEP 714's ``core-metadata`` / PEP 658's ``data-dist-info-metadata`` as a hash dict."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == "false":
            return None
        algorithm, sep, digest = text.partition("=")
        return {algorithm: digest} if sep and digest else {}
    return None


def _upload_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


# The wheels of one release share their name and version, and wheels of many releases share
# their tags; parse_wheel_filename spends most of its time on the tags. Each part is parsed
# once per run (a file name is valid exactly when both of its parts are).
_WHEEL_HEADS: dict[str, tuple[NormalizedName, Version]] = {}
_WHEEL_TAGS: dict[str, frozenset[Tag]] = {}


def _parse_wheel(
    filename: str,
) -> tuple[NormalizedName, Version, Literal["wheel"], frozenset[Tag]]:
    """Name, version, kind and tags of a wheel file name. Raises ``InvalidWheelFilename``."""
    stem = filename[:-4]
    head = stem.rsplit("-", 3)[0] if stem.count("-") in (4, 5) else None
    if head is not None:
        tag = stem[len(head) + 1 :]
        known, tags = _WHEEL_HEADS.get(head), _WHEEL_TAGS.get(tag)
        if known is not None and tags is not None:
            return known[0], known[1], "wheel", tags
    name, version, _build, tags = parse_wheel_filename(filename)
    if head is not None:
        _WHEEL_HEADS[head] = (name, version)
        _WHEEL_TAGS[tag] = tags
    return name, version, "wheel", tags


def _parsed_name(
    filename: str, warn: Warn
) -> tuple[NormalizedName, Version, Literal["wheel", "sdist"], frozenset[Tag]] | None:
    """Project, version, kind and tags of a wheel or sdist file name; None for other file types
    (silently) and for names or versions that do not parse (with a warning naming the file)."""
    try:
        if filename.endswith(".whl"):
            return _parse_wheel(filename)
        if filename.endswith(_SDIST_SUFFIXES):
            name, version = parse_sdist_filename(filename)
            return name, version, "sdist", frozenset()
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        warn(f"skipping {filename}: {exc}")
    return None


def dist_file(
    filename: str,
    url: str,
    *,
    warn: Warn,
    index: str | None,
    project: NormalizedName | None = None,
    hashes: Mapping[str, str] | None = None,
    requires_python: SpecifierSet | None = None,
    yanked: str | None = None,
    size: int | None = None,
    upload_time: datetime | None = None,
    core_metadata: Mapping[str, str] | None = None,
) -> DistFile | None:
    """A ``DistFile`` for a wheel or sdist link, or None.

    None for other file types (silently), for a file of another project than ``project``
    (silently) and for names or versions that do not parse (with a warning naming the file).
    """
    parsed = _parsed_name(filename, warn)
    if parsed is None:
        return None
    name, version, kind, tags = parsed
    if project is not None and name != project:
        return None
    return DistFile(
        filename=filename,
        url=url,
        kind=kind,
        version=version,
        hashes=dict(hashes or {}),
        requires_python=requires_python,
        yanked=yanked,
        size=size,
        upload_time=upload_time,
        core_metadata=core_metadata,
        tags=tags,
        index=index,
    )


# -- entries ---------------------------------------------------------------------------------

# A file as a page lists it, before its name is parsed: file name, URL, hashes, Requires-Python
# (as written), yanked reason (None: not yanked), upload time (as written), announced core
# metadata hashes (None: none announced) and size. Plain values, so that a page can be turned
# into ``DistFile`` records or straight into the page cache's tables.
Entry = tuple[
    str,
    str,
    tuple[tuple[str, str], ...],
    str | None,
    str | None,
    str | None,
    tuple[tuple[str, str], ...] | None,
    int | None,
]


def _dist_files(
    entries: Iterable[Entry], *, warn: Warn, index: str | None, project: NormalizedName | None
) -> list[DistFile]:
    """The ``DistFile`` records of a page's entries (see ``dist_file`` for what is left out)."""
    invalid = _InvalidRequiresPython(warn)
    files = []
    for filename, url, hashes, python, yanked, uploaded, metadata, size in entries:
        file = dist_file(
            filename,
            url,
            warn=invalid.skip,
            index=index,
            project=project,
            hashes=dict(hashes),
            requires_python=invalid.parse(python, filename),
            yanked=yanked,
            size=size,
            upload_time=_upload_time(uploaded),
            core_metadata=None if metadata is None else dict(metadata),
        )
        if file is not None:
            files.append(file)
    invalid.report()
    return files


def _page_tables(
    entries: Iterable[Entry], *, warn: Warn, index: str | None, project: NormalizedName | None
) -> PageTables:
    """A page's entries as the page cache's tables, in ``normalized`` order, without building a
    ``DistFile`` per entry: the same files, warnings and order as ``normalized(_dist_files(...))``.
    """
    invalid = _InvalidRequiresPython(warn)
    kept: list[TableRecord] = []
    for filename, url, hashes, python, yanked, uploaded, metadata, size in entries:
        specifier = invalid.parse(python, filename)
        parsed = _parsed_name(filename, invalid.skip)
        if parsed is None or (project is not None and parsed[0] != project):
            continue
        row = (filename, url, hashes, size, uploaded, metadata, index)
        kept.append((parsed[1], parsed[2], specifier, parsed[3], yanked, row))
    invalid.report()
    return _ordered_tables(kept)


def _ordered_tables(kept: list[TableRecord]) -> PageTables:
    """The tables of a page's files (``TableRecord``s, in the page's order) in ``normalized``
    order: each URL once (its first listing wins), by version, kind and file name."""
    unique = {record[5][1]: record for record in reversed(kept)}
    # Versions compare and hash in Python code: rank the few distinct ones, then the records'
    # version objects (files of a version share one) by identity.
    objects = {id(record[0]): record[0] for record in unique.values()}
    order = {v: i for i, v in enumerate(sorted(set(objects.values())))}
    rank = {key: order[version] for key, version in objects.items()}
    return page_tables(
        sorted(unique.values(), key=lambda r: (rank[id(r[0])], r[1], r[5][0])), ranks=rank
    )


# -- HTML (PEP 503) --------------------------------------------------------------------------


# A start tag ``<a ...>`` or ``<base ...>`` (``>`` may appear inside quoted values), and one
# attribute in it: a name, maybe ``=`` and a quoted or bare value.
_TAG = re.compile(r"""<(a|base)(?=[\s/>])((?:[^>"']|"[^"]*"|'[^']*')*)>""", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([^\s/>=][^\s/>=]*)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>]*))?""")
# What only a real HTML parser reads right: comments, raw-text elements, CDATA.
_TRICKY_HTML = re.compile(r"<!--|<!\[CDATA\[|<script|<style", re.IGNORECASE)


def _links(text: str) -> tuple[str | None, list[dict[str, str | None]]]:
    """The ``<base href>`` of a page and the attributes of each of its ``<a>`` tags, as
    ``html.parser`` reads them (names lowercased, values unescaped, None for a bare name).

    Simple pages (all of PEP 503's) are scanned with two regular expressions, about ten times
    faster than ``html.parser``; a page with comments or raw-text elements goes to the parser.
    """
    if _TRICKY_HTML.search(text):
        return _parsed_links(text)
    from html import unescape

    base: str | None = None
    anchors: list[dict[str, str | None]] = []
    for tag in _TAG.finditer(text):
        attributes: dict[str, str | None] = {}
        for attribute in _ATTRIBUTE.finditer(tag.group(2)):
            value = attribute.group(2)
            if value is not None:
                if value[:1] in ("'", '"'):
                    value = value[1:-1]
                if "&" in value:
                    value = unescape(value)
            attributes[attribute.group(1).lower()] = value
        if tag.group(1).lower() == "a":
            anchors.append(attributes)
        elif base is None:
            base = attributes.get("href")
    return base, anchors


def _parsed_links(text: str) -> tuple[str | None, list[dict[str, str | None]]]:
    """``_links`` by ``html.parser``."""
    from html.parser import HTMLParser

    class LinkParser(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.base: str | None = None
            self.anchors: list[dict[str, str | None]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "a":
                self.anchors.append(dict(attrs))
            elif tag == "base" and self.base is None:
                self.base = dict(attrs).get("href")

    parser = LinkParser()
    parser.feed(text)
    parser.close()
    return parser.base, parser.anchors


def _filename_of(url: str) -> str:
    name = url.split("?", 1)[0].rsplit("/", 1)[-1]
    return unquote(name) if "%" in name else name


# A link as indexes write them (``<a href="..." data-name="value" ...>``, double quotes, lowercase
# names, href first), and one attribute after the href. When every ``<a`` of a page is such a
# link and the page has no ``<base>``, one scan reads it (several times faster than ``_links``).
_SIMPLE_LINK = re.compile(r'<a\s+href="([^"]*)"((?:\s+[a-z][a-z0-9-]*="[^"]*")*)\s*/?>')
_SIMPLE_ATTRIBUTE = re.compile(r'\s+([a-z][a-z0-9-]*)="([^"]*)"')
_ANY_LINK = re.compile(r"<a[\s/>]", re.IGNORECASE)
_BASE = re.compile(r"<base[\s/>]", re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def _unescape(value: str) -> str:
    # The same few Requires-Python values (``&gt;=3.8``) come back on every file of a page.
    from html import unescape

    return unescape(value)


def _simple_links(text: str) -> list[tuple[str, str]] | None:
    """The href and the other attributes (unparsed) of each ``<a>`` tag of a page written as
    indexes write them (see ``_SIMPLE_LINK``); None for any other page."""
    links = _SIMPLE_LINK.findall(text)
    if (
        len(links) != len(_ANY_LINK.findall(text))
        or _BASE.search(text)
        or _TRICKY_HTML.search(text)
    ):
        return None
    return links


def _html_entries(text: str, page_url: str) -> list[Entry]:
    """The entries (see ``Entry``) of a PEP 503 HTML page."""
    links = _simple_links(text)
    if links is None:
        return _anchor_entries(*_links(text), page_url)
    entries: list[Entry] = []
    append = entries.append
    for href, rest in links:
        python = yanked = uploaded = core = dist_info = None
        if rest:
            for name, value in _SIMPLE_ATTRIBUTE.findall(rest):
                if "&" in value:
                    value = _unescape(value)
                if name == "data-requires-python":
                    python = value
                elif name == "data-upload-time":
                    uploaded = value
                elif name == "data-yanked":
                    yanked = value
                elif name == "data-core-metadata":
                    core = value
                elif name == "data-dist-info-metadata":
                    dist_info = value
                elif name == "href":  # a second href: the last one counts, as for html.parser
                    href = value
        if "&" in href:
            href = _unescape(href)
        if not href:
            continue
        url, hashes = _hash_from_fragment(_absolute(page_url, href))
        metadata = core if core is not None else dist_info
        if metadata is not None:
            metadata = _core_metadata(metadata or "true")
        append(
            (
                _filename_of(url),
                url,
                hashes,
                python,
                yanked,
                uploaded,
                None if metadata is None else tuple(metadata.items()),
                None,
            )
        )
    return entries


def _anchor_entries(
    base_href: str | None, anchors: list[dict[str, str | None]], page_url: str
) -> list[Entry]:
    """The entries of a page's ``<a>`` tags, as ``_links`` or ``_parsed_links`` read them."""
    base = urljoin(page_url, base_href) if base_href else page_url
    entries: list[Entry] = []
    for attrs in anchors:
        href = attrs.get("href")
        if not href:
            continue
        url, hashes = _hash_from_fragment(_absolute(base, href))
        metadata = None
        for attribute in ("data-core-metadata", "data-dist-info-metadata"):
            if attribute in attrs:
                metadata = _core_metadata(attrs[attribute] or "true")
                break
        yanked = (attrs["data-yanked"] or "") if "data-yanked" in attrs else None
        entries.append(
            (
                _filename_of(url),
                url,
                hashes,
                attrs.get("data-requires-python"),
                yanked,
                attrs.get("data-upload-time"),
                None if metadata is None else tuple(metadata.items()),
                None,
            )
        )
    return entries


def parse_html_page(
    text: str,
    page_url: str,
    *,
    warn: Warn,
    index: str | None,
    project: NormalizedName | None = None,
) -> list[DistFile]:
    """The files a PEP 503 HTML page links to (of ``project`` only, when given)."""
    return _dist_files(_html_entries(text, page_url), warn=warn, index=index, project=project)


# -- JSON (PEP 691) --------------------------------------------------------------------------


def _yanked(value: object) -> str | None:
    if value is None or value is False:
        return None
    return value if isinstance(value, str) else ""


def _json_hashes(value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping):
        return ()
    return tuple(zip(map(str, value.keys()), map(str, value.values()), strict=True))


def _json_files(data: Mapping[str, Any], page_url: str) -> Iterable[Any]:
    """The file entries of a PEP 691 JSON project page, once its API version is checked."""
    api_version = str(data.get("meta", {}).get("api-version", "1.0"))
    if api_version.split(".", 1)[0] != "1":
        raise SourceError(f"{page_url}: unsupported simple API version {api_version}")
    files: Iterable[Any] = data.get("files", ())
    return files


def _json_entries(data: Mapping[str, Any], page_url: str) -> list[Entry]:
    """The entries (see ``Entry``) of a PEP 691 JSON project page."""
    files = _json_files(data, page_url)
    entries: list[Entry] = []
    for entry in files:
        if not isinstance(entry, Mapping) or "url" not in entry:
            continue
        url, fragment_hashes = _hash_from_fragment(_absolute(page_url, str(entry["url"])))
        hashes = entry.get("hashes")
        metadata = _core_metadata(entry.get("core-metadata", entry.get("dist-info-metadata")))
        size = entry.get("size")
        python = entry.get("requires-python")
        uploaded = entry.get("upload-time")
        entries.append(
            (
                str(entry.get("filename") or _filename_of(url)),
                url,
                _json_hashes(hashes) if hashes else fragment_hashes,
                python if isinstance(python, str) else None,
                _yanked(entry.get("yanked")),
                uploaded if isinstance(uploaded, str) else None,
                None if metadata is None else tuple(metadata.items()),
                size if isinstance(size, int) else None,
            )
        )
    return entries


_ABSENT = object()


def _json_tables(
    data: Mapping[str, Any],
    page_url: str,
    *,
    warn: Warn,
    index: str | None,
    project: NormalizedName | None,
) -> PageTables:
    """``_page_tables(_json_entries(data, page_url), ...)`` in one pass over the page's files,
    with no ``Entry`` per file: the same tables and warnings, for ``data`` as ``json.loads``
    gives it (objects are dicts with string keys). Only the files that are kept have their cold
    fields (hashes, size, upload time, core metadata) read."""
    invalid = _InvalidRequiresPython(warn)
    parse_python, skip = invalid.parse, invalid.skip
    specifiers: dict[str, SpecifierSet] = {}  # the valid Requires-Python values seen
    kept: list[TableRecord] = []
    for entry in _json_files(data, page_url):
        if (type(entry) is not dict and not isinstance(entry, Mapping)) or "url" not in entry:
            continue
        get = entry.get
        url = entry["url"]
        if type(url) is not str or not url.startswith(_ABSOLUTE):
            url = _absolute(page_url, str(url))
        url, fragment_hashes = (url, ()) if "#" not in url else _hash_from_fragment(url)
        filename = str(get("filename") or _filename_of(url))
        python = get("requires-python")
        if isinstance(python, str):
            specifier = specifiers.get(python)
            if specifier is None:  # first seen, empty or invalid: an invalid one is counted
                specifier = parse_python(python, filename)
                if specifier is not None:
                    specifiers[python] = specifier
        else:
            specifier = None
        parsed = _parsed_name(filename, skip)
        if parsed is None or (project is not None and parsed[0] != project):
            continue
        hashes = get("hashes")
        if not hashes:
            hashes = fragment_hashes
        elif type(hashes) is dict:  # JSON: keys are strings already
            hashes = tuple(zip(hashes, map(str, hashes.values()), strict=True))
        else:
            hashes = _json_hashes(hashes)
        metadata = get("core-metadata", _ABSENT)
        if metadata is _ABSENT:
            metadata = get("dist-info-metadata")
        if metadata is not None and metadata is not False:
            if type(metadata) is dict:  # as _core_metadata gives it, keys strings already
                metadata = tuple(zip(metadata, map(str, metadata.values()), strict=True))
            else:
                metadata = _core_metadata(metadata)
                metadata = None if metadata is None else tuple(metadata.items())
        else:
            metadata = None
        yanked = _yanked(get("yanked"))
        size = get("size")
        uploaded = get("upload-time")
        row = (
            filename,
            url,
            hashes,
            size if isinstance(size, int) else None,
            uploaded if isinstance(uploaded, str) else None,
            metadata,
            index,
        )
        kept.append((parsed[1], parsed[2], specifier, parsed[3], yanked, row))
    invalid.report()
    return _ordered_tables(kept)


def parse_json_page(
    data: Mapping[str, Any],
    page_url: str,
    *,
    warn: Warn,
    index: str | None,
    project: NormalizedName | None = None,
) -> list[DistFile]:
    """The files of a PEP 691 JSON project page (of ``project`` only, when given)."""
    return _dist_files(_json_entries(data, page_url), warn=warn, index=index, project=project)


# -- local trees -----------------------------------------------------------------------------


def list_directory(
    directory: Path,
    *,
    warn: Warn,
    index: str | None,
    project: NormalizedName | None = None,
) -> list[DistFile]:
    """The wheels and sdists in a folder, as a flat page. ``<file>.metadata`` siblings count as
    announced PEP 658 metadata."""
    entries = sorted(p for p in directory.iterdir() if p.is_file())
    names = {p.name for p in entries}
    invalid = _InvalidRequiresPython(warn)
    files = []
    for path in entries:
        file = dist_file(
            path.name,
            path.as_uri(),
            warn=invalid.skip,
            index=index,
            project=project,
            size=path.stat().st_size,
            core_metadata={} if f"{path.name}.metadata" in names else None,
        )
        if file is not None:
            files.append(file)
    invalid.report()
    return files


def _local_page(
    path: Path, page_url: str, *, warn: Warn, index: str | None, project: NormalizedName | None
) -> list[DistFile]:
    """A local folder: its index.json or index.html when present, else a listing of its files."""
    if (path / "index.json").is_file():
        data = json.loads((path / "index.json").read_text(encoding="utf-8"))
        return parse_json_page(data, page_url, warn=warn, index=index, project=project)
    if (path / "index.html").is_file():
        text = (path / "index.html").read_text(encoding="utf-8")
        return parse_html_page(text, page_url, warn=warn, index=index, project=project)
    return list_directory(path, warn=warn, index=index, project=project)


def _local_project_dir(root: Path, name: NormalizedName) -> Path | None:
    candidate = root / name
    if candidate.is_dir():
        return candidate
    if not root.is_dir():
        return None
    for entry in root.iterdir():
        if entry.is_dir() and canonicalize_name(entry.name) == name:
            return entry
    return None


# -- fetching --------------------------------------------------------------------------------


def _response_tables(
    body: bytes,
    content_type: str,
    page_url: str,
    *,
    warn: Warn,
    index: str | None,
    project: NormalizedName | None,
) -> PageTables:
    """The page cache's tables of a page as the index sent it (JSON or HTML)."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in _JSON_TYPES or mime.endswith("+json"):
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise SourceError(f"{page_url}: invalid JSON: {exc}") from exc
        return _json_tables(data, page_url, warn=warn, index=index, project=project)
    entries = _html_entries(body.decode("utf-8", errors="replace"), page_url)
    return _page_tables(entries, warn=warn, index=index, project=project)


def normalized(files: Iterable[DistFile]) -> list[DistFile]:
    """Each URL once (its first listing wins), ordered by version, kind and file name."""
    unique = {file.url: file for file in reversed(list(files))}
    # Versions compare in Python code: rank the few distinct ones, then sort on integers.
    rank = {v: i for i, v in enumerate(sorted({file.version for file in unique.values()}))}
    return sorted(unique.values(), key=lambda f: (rank[f.version], f.kind, f.filename))


def _served_stale(url: str, cached: CachedPage, warn: Warn) -> Sequence[DistFile] | None:
    warn(f"{url} could not be refreshed; using the cached copy")
    return _stored(cached, warn)


def _stored(cached: CachedPage, warn: Warn) -> Sequence[DistFile] | None:
    for message in cached.warnings:  # what the page's parse warned: notes on its listing
        warn(PageNote(message))
    return cached.files


# Pages are parsed one at a time, in the order their responses arrive: the GIL lets only one
# run anyway, and side by side a small page waited for the big ones (fastapi's 742 files took
# 0.7 s beside sqlalchemy's and ruff's thousands at the start of webapp's cold lock).
_ONE_PARSE_AT_A_TIME = threading.Lock()


def _announced_size(headers: Mapping[str, str]) -> int:
    """How large a response's body will be once decoded, as far as its headers tell (0 when
    they do not): its ``Content-Length``, times four when it is compressed (a page of file
    links and their hashes compresses about four times with gzip)."""
    try:
        length = int(headers.get("Content-Length") or 0)
    except ValueError:
        return 0
    encoding = headers.get("Content-Encoding", "identity").strip().lower()
    return length if encoding in ("", "identity") else 4 * length


def _remote_page(
    http: Http,
    url: str,
    accept: str,
    *,
    warn: Warn,
    pages: PageCache | None,
    project: NormalizedName | None,
    missing_ok: bool,
    what: str,
    worker: PageWorker | None = None,
    **kwargs: Any,
) -> Sequence[DistFile] | None:
    """The normalized files of a remote page (a ``PageFiles`` when they are read from or
    parsed into the page cache's tables); None for a 404/410 when ``missing_ok``. A big page
    goes to ``worker``'s children when one is free.

    With ``pages``, a fresh stored parse (any stored parse with ``--offline``) answers without
    HTTP; an expired one is revalidated with its ETag or Last-Modified, reused when the index
    answers 304 or sends the same response again, and served with a warning when the index
    fails.
    """
    cached = pages.load(url, accept, project) if pages is not None else None
    if cached is not None and (http.offline or cached.fresh()):
        return _stored(cached, warn)
    if http.offline:
        raise OfflineError(f"--offline: {url} is not in the cache")
    headers = {"Accept": accept}
    if cached is not None and cached.etag:
        headers["If-None-Match"] = cached.etag
    if cached is not None and cached.last_modified:
        headers["If-Modified-Since"] = cached.last_modified
    try:
        response = http.get(url, headers=headers, stream=True)
        if worker is not None and _announced_size(response.headers) >= BIG_PAGE:
            worker.announce()  # a child starts while the body comes
        read_body(response)
    except SourceError:
        if cached is None:
            raise
        return _served_stale(url, cached, warn)
    status = response.status_code
    if cached is not None and (status >= 500 or status == 429):
        return _served_stale(url, cached, warn)
    response_headers = response.headers
    etag = response_headers.get("ETag") or None
    last_modified = response_headers.get("Last-Modified") or None
    if status == 304 and cached is not None:
        entry = replace(
            cached,
            expires=expiry(response_headers),
            etag=etag or cached.etag,
            last_modified=last_modified or cached.last_modified,
        )
        if pages is not None and storable(response_headers):
            pages.store(url, accept, entry, project)
        return _stored(entry, warn)
    missing = missing_ok and status in _NOT_FOUND
    if status >= 400 and not missing:
        raise SourceError(f"{what}{url}: HTTP {status} {response.reason}")
    content_type = response_headers.get("Content-Type", "")
    body = response.content
    digest = b"" if pages is None else response_digest(status, content_type, response.url, body)
    if cached is not None and cached.digest == digest:
        entry = replace(
            cached, expires=expiry(response_headers), etag=etag, last_modified=last_modified
        )
        for message in cached.warnings:
            warn(PageNote(message))
    else:
        warnings: list[str] = []

        def record(message: str) -> None:
            warnings.append(str(message))  # stored as a plain str (marshal)
            warn(message)

        encoded = None
        if not missing and worker is not None and len(body) >= BIG_PAGE:
            encoded = _parsed_apart(
                worker,
                body,
                content_type,
                response.url,
                url=url,
                record=record,
                index=kwargs.get("index"),
                project=project,
            )
        if encoded is not None:
            entry = encoded_page(
                expiry(response_headers), digest, encoded, warnings, etag, last_modified
            )
        else:
            tables = None
            waited = time.perf_counter()
            with _ONE_PARSE_AT_A_TIME, collection_paused():
                started = time.perf_counter()
                trace("parse-wait", url, waited, started)
                if not missing:
                    tables = _response_tables(
                        body, content_type, response.url, warn=record, project=project, **kwargs
                    )
                entry = parsed_page(
                    expiry(response_headers), digest, tables, warnings, etag, last_modified
                )
                trace("parse", f"{url} {len(body)}", started)
    if pages is not None and storable(response_headers):
        started = time.perf_counter()
        pages.store(url, accept, entry, project)
        trace("page-store", url, started)
    return entry.files


def _parsed_apart(
    worker: PageWorker,
    body: bytes,
    content_type: str,
    page_url: str,
    *,
    url: str,
    record: Warn,
    index: str | None,
    project: NormalizedName | None,
) -> bytes | None:
    """A big page's stored tables, parsed by one of ``worker``'s children (their warnings go
    to ``record``); None when no child is free. Raises ``SourceError`` when the page does not
    parse, as the parse in the process does."""
    started = time.perf_counter()
    request = {
        "content_type": content_type,
        "page_url": page_url,
        "index": index,
        "project": project,
    }
    parsed = worker.parse(request, body)
    if parsed is None:
        return None
    ok, tables_or_message, told = parsed
    if not ok:
        raise SourceError(str(tables_or_message))
    for note, text in told:
        record(PageNote(text) if note else text)
    trace("parse-apart", f"{url} {len(body)}", started)
    return tables_or_message  # type: ignore[return-value]


def fetch_project_page(
    http: Http,
    index_url: str,
    name: str,
    *,
    warn: Warn,
    pages: PageCache | None = None,
    worker: PageWorker | None = None,
) -> Sequence[DistFile] | None:
    """The files of ``name`` on one index (normalized: see ``normalized``), or None when the
    index does not have the project. ``pages`` caches parsed remote pages; ``worker`` parses
    big ones in a child process.

    Raises ``SourceError`` naming the URL when the index fails (connection error, 5xx, ...).
    """
    name = canonicalize_name(name)
    index_url = to_url(index_url)
    page_url = project_url(index_url, name)
    kwargs: dict[str, Any] = {"warn": warn, "index": index_url, "project": name}
    if is_local(index_url):
        directory = _local_project_dir(local_path(index_url), name)
        if directory is None:
            return None
        return normalized(_local_page(directory, directory.as_uri() + "/", **kwargs))
    return _remote_page(
        http,
        page_url,
        SIMPLE_ACCEPT,
        pages=pages,
        missing_ok=True,
        what="",
        worker=worker,
        **kwargs,
    )


def fetch_find_links(
    http: Http, location: str, *, warn: Warn, pages: PageCache | None = None
) -> Sequence[DistFile]:
    """All wheels and sdists a find-links location offers: a local folder, a local or remote
    HTML page of links, or a single local file. ``pages`` caches parsed remote pages."""
    url = to_url(location)
    kwargs: dict[str, Any] = {"warn": warn, "index": url}
    if is_local(url):
        path = local_path(url)
        if path.is_dir():
            return list_directory(path, **kwargs)
        if path.suffix in (".html", ".htm"):
            return parse_html_page(path.read_text(encoding="utf-8"), url, **kwargs)
        if path.is_file():
            file = dist_file(path.name, path.as_uri(), size=path.stat().st_size, **kwargs)
            return [file] if file is not None else []
        raise SourceError(f"find-links location {location} does not exist")
    files = _remote_page(
        http,
        url,
        "text/html",
        pages=pages,
        project=None,
        missing_ok=False,
        what="find-links page ",
        **kwargs,
    )
    return files or []


def by_project(files: Iterable[DistFile]) -> dict[NormalizedName, list[DistFile]]:
    """A find-links location's files grouped by (normalized) project name."""
    groups: dict[NormalizedName, list[DistFile]] = {}
    for file in files:
        if file.kind == "wheel":
            project = parse_wheel_filename(file.filename)[0]
        else:
            project = parse_sdist_filename(file.filename)[0]
        groups.setdefault(project, []).append(file)
    return groups
