"""Parsed project pages on disk, the only cache of index pages: a warm run neither asks the
index nor parses HTML or JSON again.

One file per page URL and Accept header under ``<cache_dir>/pages``. An entry holds what the
page's parse gave (its files, or "the index does not have this project", and the warnings the
parse printed), the digest of the HTTP response it came from, that response's expiry (from its
cache headers, see ``resolver.http.expiry``) and its validators (ETag, Last-Modified). While the
entry is fresh (or with ``--offline``) the page is served from it alone; once it expires, the
index is asked again with the validators: a 304 keeps the stored parse, and so does a 200 whose
digest is the same; when the index fails, the stale entry is served with a warning.

Entries are read back lazily: the fields the resolver reads of a file (version, kind,
Requires-Python, yanked state, wheel tags) come from small per-page tables, indexed as stored,
and the rest (URL, hashes, size, upload time, ...) stays marshalled per version, and compressed
unless small, until a file of that version is asked for it. No record is made per listed file:
a page's files are a ``PageFiles`` sequence, and by version a ``PageVersions`` mapping, whose
files are made when they are read (a lock reads those of a few versions of hundreds), while a
version's yanked state and Requires-Python are read from the tables. The tables are stored
as arrays of machine integers and the cold rows as one region of blobs (see ``_encoded``), so
reading an entry back copies none of them and makes no Python object per file. pydantic-core's page
(15,000 files) loads in about 0.6 ms this way; one record per file took 6 ms, and decoding
every field into plain ``DistFile`` records over 100 ms.

Nor is a ``Version`` made per listed version: the page's distinct versions are stored newest
first, as a lock ranks them, with each one's runs, file Requires-Python, pre-release and yanked
state (``_version_order``, computed when the page is parsed), and read back by position
(``VersionOrder``), each version made when it is read. examples/large's pages list 41,452
versions, of which a warm lock reads about 5,300 (windows, and the bisections that find them);
making, hashing and sorting them all took about 110 ms of every warm lock.

Entries of 64 KB or more are mapped (``mmap``) instead of read: decoding touches the header and
hot tables, and a lock reads the cold rows of a few runs, so most of the file is never read
(examples/large, warm: 37,000 minor page faults instead of 46,600, a peak of 165 MB instead of
192 MB).

Files are written to a temporary name and renamed, so readers (and concurrent runs) only ever
see whole entries. Every entry carries a CRC of its header and hot tables, and each run's cold
rows a CRC of their own, checked when they are first read: a warm lock of examples/large reads
463 pages (50 MB) and the cold rows of a few versions of each, and a CRC of every byte cost 187 M
instructions of its 13,300 M. An entry that does not decode (truncated, its header or tables
corrupt, another format) counts as missing; cold rows found corrupt when read remove the entry
and stop the run with an error that says to run it again (the index is asked again then).
"""

from __future__ import annotations

import gc
import marshal
import mmap
import operator
import os
import re
import sys
import threading
import time
import weakref
import zlib
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, fields
from datetime import datetime
from itertools import accumulate, chain, pairwise
from pathlib import Path
from typing import Any, TypeVar, overload

from packaging import __version__ as _packaging_version
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag
from packaging.version import Version

from resolver.errors import SourceError
from resolver.provider import DistFile

# hashlib's sha256 (the same digests) without hashlib, which loads OpenSSL's bindings and blake2
# (about 3 ms of every run's start-up); cache keys need nothing else on a warm run.
try:
    from _sha256 import sha256
except ImportError:  # CPython 3.12+, or another Python
    try:
        from _sha2 import sha256  # type: ignore[no-redef]
    except ImportError:
        from hashlib import sha256  # type: ignore[no-redef]

__all__ = [
    "CachedPage",
    "PageCache",
    "PageFiles",
    "PageTables",
    "PageVersions",
    "StoredFile",
    "VersionOrder",
    "listed_on_page",
    "lock_fields",
    "lock_rows",
    "page_tables",
    "parsed_page",
    "response_digest",
    "sha256",
    "write_atomically",
]

# Bump when the layout of an entry, or what parsing a page yields, changes.
FORMAT = 8
_MAGIC = b"aspen-page\n"
# Columns are stored as machine integers (``array``): this machine's byte order and int size.
_VERSION = f"{FORMAT}/{_packaging_version}/{sys.byteorder}/{array('I').itemsize}"
_CODES = ("B", "H", "I")  # the array type codes a column may have, narrowest first
_KINDS = {"w": "wheel", "s": "sdist"}


def response_digest(status: int, content_type: str, url: str, body: bytes) -> bytes:
    """What a parse depends on, hashed: two responses with the same digest parse alike."""
    import hashlib

    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{status}\n{content_type}\n{url}\n".encode())
    digest.update(body)
    return digest.digest()


@dataclass(frozen=True)
class CachedPage:
    """One stored page: ``files`` None means the index does not have the project."""

    expires: float | None  # POSIX time; None: never
    digest: bytes
    files: Sequence[DistFile] | None  # a stored or parsed page's: PageFiles
    warnings: tuple[str, ...]
    # The files as stored (see ``_encoded``), when they were read from the cache or parsed:
    # storing the page again with another expiry (an unchanged page after revalidation) then
    # costs no encoding.
    encoded: bytes | memoryview | None = field(default=None, compare=False, repr=False)
    # The response's validators, sent back when the page has expired: an index that answers
    # 304 Not Modified sends no page at all.
    etag: str | None = None
    last_modified: str | None = None

    def fresh(self) -> bool:
        return self.expires is None or time.time() < self.expires


class PageCache:
    """Parsed pages under one folder (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __repr__(self) -> str:
        return f"PageCache({self.directory!r})"

    def _path(self, url: str, accept: str, project: str | None) -> Path:
        return Path(self._name(url, accept, project))

    def _name(self, url: str, accept: str, project: str | None) -> str:
        """The entry's path as text (two pathlib joins cost 20,000 instructions a page)."""
        key = sha256(f"{url}\n{accept}".encode()).hexdigest()[:32]
        return os.path.join(self.directory, project or "_pages", key)

    def load(self, url: str, accept: str, project: str | None = None) -> CachedPage | None:
        """The stored page, or None when there is none or it does not decode."""
        path = self._name(url, accept, project)
        try:
            data = _mapped(path)
        except (OSError, ValueError):
            return None
        try:
            return _decode(data, url, accept, path)
        except Exception:  # a damaged or foreign entry is a miss, never an error
            return None

    def store(
        self,
        url: str,
        accept: str,
        page: CachedPage,
        project: str | None = None,
    ) -> None:
        write_atomically(self._path(url, accept, project), _encode(url, accept, page))

    def discard(self, url: str, accept: str, project: str | None = None) -> None:
        """Forget a page (before asking the index again, so that a run that stops half-way
        cannot leave a parse of an older response next to a newer HTTP cache entry)."""
        try:
            self._path(url, accept, project).unlink()
        except OSError:
            pass


# Entries at least this big are mapped instead of read (examples/large's 140 of 480, 42 of
# its 49 MB), at most this many at once: Python's mmap keeps a file descriptor per mapping
# (until 3.13's trackfd), and a run's descriptors are often limited to 1,024.
# (POSIX only: elsewhere a file mapped by one run could not be replaced by another.)
_MAP_FROM = 1 << 16 if os.name == "posix" else sys.maxsize
_MAP_MOST = 256
_mapped_now = [0]  # mappings alive
_mapped_lock = threading.Lock()


def _mapped(path: str) -> bytes | mmap.mmap:
    """An entry's bytes: a read-only mapping of a big file, else the file read. A page reads
    its header and hot tables and the cold rows of a few runs, the pages of the file it never
    touches are never read (the cold rows are most of the bytes). Entries are replaced by a
    rename (``write_atomically``) and never written in place: a mapping keeps the file it was
    made of, whole, while another process replaces or removes the entry.

    The file is opened and read by its descriptor (``os.open``, ``os.read``): the file object
    ``open`` makes costs five more system calls (a check for a terminal, another two of the
    size, a seek and a read at the end) and about 11,000 instructions a page, and a warm lock
    of examples/large reads 440 pages."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        size = os.fstat(fd).st_size
        with _mapped_lock:
            mapped = size >= _MAP_FROM and _mapped_now[0] < _MAP_MOST
            if mapped:
                data = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
                _mapped_now[0] += 1
        if not mapped:
            return _read(fd, size)
    finally:
        os.close(fd)
    weakref.finalize(data, _unmapped)
    return data


def _read(fd: int, size: int) -> bytes:
    """The ``size`` bytes of an open file (all of it: entries are never written in place),
    in one system call unless the system returns fewer."""
    data = os.read(fd, size)
    while len(data) < size:
        more = os.read(fd, size - len(data))
        if not more:
            break
        data += more
    return data


def _unmapped() -> None:
    with _mapped_lock:
        _mapped_now[0] -= 1


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` by way of a temporary file and a rename, so that readers (and
    concurrent runs) only ever see whole files. Errors are ignored: a cache that cannot be
    written only costs time."""
    temp = path.with_name(f".tmp-{os.getpid()}-{threading.get_ident()}-{path.name}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    except BaseException as exc:
        with suppress(OSError):
            temp.unlink()
        if not isinstance(exc, OSError):
            raise


# -- encoding --------------------------------------------------------------------------------


def _tag_text(tags: frozenset[Tag]) -> str:
    return " ".join(sorted(str(tag) for tag in tags))


def _encode(url: str, accept: str, page: CachedPage) -> bytes:
    """An entry: the magic, a CRC of the checked part of the rest and that part's length, then
    the rest: the length of the header, the header (marshal: format, URL, Accept, expiry,
    digest, warnings, whether the project was found, validators) and the files as stored
    (``_encoded``; nothing when the project was not found). The checked part ends with the hot
    tables (the cold rows carry CRCs of their own)."""
    encoded = page.encoded
    if encoded is None:
        encoded = b"" if page.files is None else _encoded(_tables(page.files))
    header = marshal.dumps(
        (
            _VERSION,
            url,
            accept,
            page.expires,
            page.digest,
            tuple(page.warnings),
            page.files is not None,
            page.etag,
            page.last_modified,
        )
    )
    rest = b"".join((len(header).to_bytes(4, "big"), header, encoded))
    checked = 4 + len(header) + (4 + int.from_bytes(encoded[:4], "big") if encoded else 0)
    crc = zlib.crc32(memoryview(rest)[:checked])
    return b"".join((_MAGIC, crc.to_bytes(4, "big"), checked.to_bytes(4, "big"), rest))


def _encoded(tables: PageTables) -> bytes:
    """A page's tables as stored: the length of the hot part, the hot part (marshal: the
    distinct versions, Requires-Python and tag sets as text, the kinds, the yanked files, and
    each column as the bytes of an array of machine integers with its type code: the runs'
    starts, versions, cold rows' offsets and their CRCs, each file's Requires-Python and tag
    set, and the columns of the versions newest first, ``_version_order``) and the cold rows
    of each run, one blob after another (see ``_blob``). A stored page is read with two small
    marshal loads and no copy of its cold rows, whose blobs are checked and inflated in place
    (if compressed) and loaded when a file of theirs is read."""
    (
        versions,
        specifiers,
        tag_sets,
        versions_of,
        kinds,
        specifiers_of,
        tags_of,
        yanked,
        groups,
        order,
    ) = tables
    starts = [start for start, _blob in groups]
    offsets = [0]
    for _start, blob in groups:
        offsets.append(offsets[-1] + len(blob))
    hot = marshal.dumps(
        (
            versions,
            specifiers,
            tag_sets,
            kinds,
            yanked,
            *_column(starts),
            *_column([versions_of[start] for start in starts]),  # a run is one version
            *_column(offsets),
            *_column(specifiers_of),
            *_column(tags_of),
            *_column([zlib.crc32(blob) for _start, blob in groups]),
            *(part for column in order for part in _column(column)),
        )
    )
    return b"".join((len(hot).to_bytes(4, "big"), hot, *(blob for _start, blob in groups)))


def _column(values: Sequence[int]) -> tuple[str, bytes]:
    """A column of integers (0 or more) as the bytes of the narrowest array that holds them."""
    top = max(values, default=0)
    code = next(c for c in _CODES if top < 1 << (8 * array(c).itemsize))
    return code, array(code, values).tobytes()


_BYTES = bytes(range(256))


def _indices(code: str, data: bytes, size: int) -> memoryview:
    """A stored column as a sequence of ints, each checked to be below ``size`` (an index into a
    table of that size); raises ValueError otherwise."""
    if code not in _CODES:
        raise ValueError("inconsistent page tables")
    column = memoryview(data).cast(code)
    if size < 1 << (8 * column.itemsize):  # else no value it can hold is out of range
        # One byte per value (most columns): the values out of range are the bytes left once
        # those in range are deleted.
        if data.translate(None, _BYTES[:size]) if code == "B" else max(column, default=0) >= size:
            raise ValueError("inconsistent page tables")
    return column


def _cast(code: str, data: bytes) -> memoryview:
    """A stored column as a sequence of ints, unchecked; raises ValueError if ``code`` is not
    a column's."""
    if code not in _CODES:
        raise ValueError("inconsistent page tables")
    return memoryview(data).cast(code)


def _read_page(encoded: memoryview) -> _Page:
    """The page that ``_encoded`` stored (``encoded`` stays in use: the cold rows are read
    from it). Raises on anything inconsistent."""
    size = int.from_bytes(encoded[:4], "big")
    blobs = encoded[4 + size :]
    (versions, specifiers, tag_sets, kinds, yanked, *columns) = marshal.loads(encoded[4 : 4 + size])
    count = len(kinds)
    if (
        type(kinds) is not str
        # (Counting is a scan in C; strip("ws") looked each character up: 18 M instructions
        # for examples/large's 280,000 files.)
        or kinds.count("w") + kinds.count("s") != count
        or type(yanked) is not dict
        or not all(type(table) is tuple for table in (versions, specifiers, tag_sets))
    ):
        raise ValueError("inconsistent page tables")
    # Increasing from 0 (checked below), the runs' starts and the offsets need no check of
    # their largest value.
    starts = _cast(columns[0], columns[1]).tolist()
    runs = _indices(columns[2], columns[3], len(versions))
    offsets = _cast(columns[4], columns[5]).tolist()
    bounds = [*starts, count]
    if (
        starts[:1] != ([0] if count else [])
        or not all(map(operator.lt, bounds, bounds[1:]))
        or len(runs) != len(starts)
        or len(offsets) != len(starts) + 1
        or offsets[:1] != [0]
        or offsets[-1] != len(blobs)
        # (Non-decreasing: equal to its sorted copy, a sort of sorted input being one pass in
        # C: examples/large's 40,000 runs, 3.7 M instructions; pairwise through map, 12 M.)
        or offsets != sorted(offsets)
    ):
        raise ValueError("inconsistent page groups")
    specifiers_of = _indices(columns[6], columns[7], len(specifiers))
    tags_of = _indices(columns[8], columns[9], len(tag_sets))
    crcs = _cast(columns[10], columns[11])
    if not len(specifiers_of) == len(tags_of) == count or len(crcs) != len(starts):
        raise ValueError("inconsistent page tables")
    order = _indices(columns[12], columns[13], len(versions))
    order_starts = _cast(columns[14], columns[15])
    order_runs = _indices(columns[16], columns[17], len(starts))
    pythons = _indices(columns[18], columns[19], len(specifiers))
    size = max(len(order), 1)
    prereleases = _indices(columns[20], columns[21], size)
    all_yanked = _indices(columns[22], columns[23], size)
    if (
        len(order_starts) != len(order) + 1
        or len(order_runs) != len(starts)
        or len(pythons) != len(order)
        or order_starts[0] != 0
        or order_starts[-1] != len(starts)
        or not all(map(operator.lt, order_starts, order_starts[1:]))
    ):
        raise ValueError("inconsistent page order")
    return _Page(
        versions,
        specifiers,
        tag_sets,
        kinds,
        yanked,
        starts,
        runs,
        offsets,
        blobs,
        specifiers_of,
        tags_of,
        crcs,
        (order, order_starts, order_runs, pythons, prereleases, all_yanked),
    )


# A page's files as stored: per-page tables of the hot fields and the cold rows of each run of
# one version (see ``page_tables``).
PageTables = tuple[Any, ...]
# What ``page_tables`` reads of each file: version, kind, Requires-Python, tags, yanked reason and
# the cold row (filename, url, hash items, size, upload time as ISO text, core metadata hash
# items or None, index).
TableRecord = tuple[Version, str, SpecifierSet | None, frozenset[Tag], str | None, tuple[Any, ...]]


def _tables(files: Sequence[DistFile]) -> PageTables:
    return page_tables(
        (
            file.version,
            file.kind,
            file.requires_python,
            file.tags,
            file.yanked,
            (
                file.filename,
                file.url,
                tuple(file.hashes.items()),
                file.size,
                None if file.upload_time is None else file.upload_time.isoformat(),
                None if file.core_metadata is None else tuple(file.core_metadata.items()),
                file.index,
            ),
        )
        for file in files
    )


def page_tables(
    records: Iterable[TableRecord], ranks: Mapping[int, int] | None = None
) -> PageTables:
    """The hot columns and the cold rows (per run of one version, see ``_blob``) of a page whose
    files come as ``records`` (see ``TableRecord``), in the page's order. ``ranks``: the rank
    of each record's version among the page's, oldest first (equal versions share one), by the
    version object's identity, when known (``index._ordered_tables`` sorted them); else the
    versions are sorted here."""
    versions: dict[str, int] = {}
    specifiers: dict[str, int] = {"": 0}  # 0: no Requires-Python
    tag_sets: dict[str, int] = {}
    version_column, kinds, specifier_column, tag_column = [], [], [], []
    yanked: dict[int, str] = {}
    groups: list[tuple[int, bytes]] = []
    rows: list[tuple[Any, ...]] = []
    # str() of versions, specifiers and tag sets, by identity: files share them (and files in a
    # row often share the version and Requires-Python of the one before).
    texts: dict[int, str] = {}
    objects: list[Version] = []  # by version text: the first object of that text
    text_ranks: list[int] = []  # by version text, when ranks are given
    last_version: Version | None = None
    last_python: SpecifierSet | None | bool = False
    k = s = -1
    i = -1
    for i, (version, kind, rp, tags, reason, row) in enumerate(records):
        if version is not last_version:
            last_version = version
            text = texts.get(id(version)) or texts.setdefault(id(version), str(version))
            k = versions.setdefault(text, len(versions))
            if k == len(objects):
                objects.append(version)
                if ranks is not None:
                    text_ranks.append(ranks[id(version)])
            if rows and version_column[-1] != k:
                groups.append((i - len(rows), _blob(rows)))
                rows = []
        version_column.append(k)
        kinds.append("w" if kind == "wheel" else "s")
        if rp is not last_python:
            last_python = rp
            python = "" if rp is None else texts.get(id(rp)) or texts.setdefault(id(rp), str(rp))
            s = specifiers.setdefault(python, len(specifiers))
        specifier_column.append(s)
        tag_text = texts.get(id(tags)) or texts.setdefault(id(tags), _tag_text(tags))
        tag_column.append(tag_sets.setdefault(tag_text, len(tag_sets)))
        if reason is not None:
            yanked[i] = reason
        rows.append(row)
    if rows:
        groups.append((i + 1 - len(rows), _blob(rows)))
    starts = [start for start, _blob in groups]
    if ranks is None:
        oldest = {version: r for r, version in enumerate(sorted(set(objects)))}
        text_ranks = [oldest[version] for version in objects]
    return (
        tuple(versions),
        tuple(specifiers),
        tuple(tag_sets),
        tuple(version_column),
        "".join(kinds),
        tuple(specifier_column),
        tuple(tag_column),
        yanked,
        tuple(groups),
        _version_order(
            tuple(versions),
            objects,
            text_ranks,
            [version_column[start] for start in starts],
            [*starts, i + 1],
            specifier_column,
            yanked,
        ),
    )


def _version_order(
    texts: Sequence[str],
    objects: list[Version],
    ranks: list[int],
    run_texts: list[int],
    bounds: list[int],
    specifier_column: list[int],
    yanked: dict[int, str],
) -> tuple[list[int], ...]:
    """The page's distinct versions newest first, as a lock ranks them (equal versions written
    otherwise, "1.0" and "1.0.0", are one, written as in their first run), and what a lock
    reads of each, so that reading the page back makes no version it does not look at: the
    version text of each, where its runs are listed in the next column (in the page's order),
    each one's file Requires-Python (that of its first file that has one; 0: none), the
    pre-releases and the versions whose files are all yanked. ``texts``, ``objects`` and
    ``ranks``: the page's version texts, a version of each and its rank, oldest first (equal
    versions share one); ``run_texts``: the version text of each run of one version text;
    ``bounds``: the runs' first files and the file count.

    No version is compared or hashed: the texts are sorted by rank, which the parse's own sort
    gives (``index._ordered_tables``). The order of examples/large's 480 pages costs 420 M
    instructions once, when they are parsed (540 M comparing versions); a warm lock saved
    about 500 M by not making and sorting the versions."""
    first_run: dict[int, int] = {}
    for group, k in enumerate(run_texts):
        first_run.setdefault(k, group)
    # Stable: of equal versions, the one listed first comes first.
    newest = sorted(first_run, key=ranks.__getitem__, reverse=True)
    order: list[int] = []
    position_of = [0] * len(objects)
    last = -1
    for k in newest:
        if ranks[k] != last:
            order.append(k)
            last = ranks[k]
        position_of[k] = len(order) - 1
    runs: list[list[int]] = [[] for _k in order]
    for group, k in enumerate(run_texts):
        runs[position_of[k]].append(group)
    flat = list(chain.from_iterable(runs))
    starts = list(accumulate(map(len, runs), initial=0))
    # Each run's first Requires-Python, then each version's: that of its first run that has one.
    column = specifier_column
    firsts = [next(filter(None, column[a:b]), 0) for a, b in pairwise(bounds)]
    pythons = [next(filter(None, map(firsts.__getitem__, mine)), 0) for mine in runs]
    all_yanked: list[int] = []
    if yanked:
        # The runs whose files are all yanked (few files are), then the versions whose runs are.
        counts: dict[int, int] = {}
        for i in yanked:
            group = bisect_right(bounds, i) - 1
            counts[group] = counts.get(group, 0) + 1
        full = {g for g, n in counts.items() if n == bounds[g + 1] - bounds[g]}
        found = {position_of[run_texts[g]] for g in full}
        all_yanked = sorted(p for p in found if full.issuperset(runs[p]))
    # A version written with digits and dots only is a final release: only the others are
    # asked (a Python property call, three with those it calls).
    plain = _PLAIN.issuperset
    prereleases = [
        p for p, k in enumerate(order) if not plain(texts[k]) and objects[k].is_prerelease
    ]
    return order, starts, flat, pythons, prereleases, all_yanked


_PLAIN = frozenset("0123456789.")  # the characters of a final release without epoch or local


# Cold rows of a run below this size (marshalled; three in four runs of webapp's pages, 10% of
# their bytes) are stored as they are: compressing each cost a zlib set-up (a 64 KB table
# cleared) and a release and re-take of the interpreter lock inside the parse, for little.
_SMALL_RUN = 1024
_ZLIB_HEADER = 0x78  # the first byte of every zlib stream ``zlib.compress`` makes here


def _blob(rows: list[tuple[Any, ...]]) -> bytes:
    """A run's cold rows as stored: marshalled, then compressed unless small. A marshalled
    tuple starts with another byte than a zlib stream, which tells them apart."""
    data = marshal.dumps(tuple(rows))
    return zlib.compress(data, 1) if len(data) >= _SMALL_RUN else data


def parsed_page(
    expires: float | None,
    digest: bytes,
    tables: PageTables | None,
    warnings: Sequence[str],
    etag: str | None = None,
    last_modified: str | None = None,
) -> CachedPage:
    """A page parsed into ``tables`` (None: the index does not have the project), its files
    read from the tables as a stored page's are."""
    if tables is None:
        return CachedPage(expires, digest, None, tuple(warnings), None, etag, last_modified)
    return encoded_page(expires, digest, _encoded(tables), warnings, etag, last_modified)


def encoded_page(
    expires: float | None,
    digest: bytes,
    encoded: bytes,
    warnings: Sequence[str],
    etag: str | None = None,
    last_modified: str | None = None,
) -> CachedPage:
    """A page parsed into its stored tables (``_encoded``: by resolver/page_worker.py's child
    process, or ``parsed_page``), its files read from them as a stored page's are."""
    with collection_paused():
        page = _read_page(memoryview(encoded))
        page.digest = digest
    return CachedPage(
        expires, digest, PageFiles(page), tuple(warnings), encoded, etag, last_modified
    )


def _decode(
    data: bytes | mmap.mmap, url: str, accept: str, path: str | Path | None = None
) -> CachedPage | None:
    """The page stored in ``data`` (read or mapped from ``path``), or None."""
    start = len(_MAGIC) + 8
    if data[: len(_MAGIC)] != _MAGIC or len(data) < start:
        return None
    view = memoryview(data)
    checked = int.from_bytes(data[start - 4 : start], "big")
    if checked > len(data) - start:
        return None
    if zlib.crc32(view[start : start + checked]) != int.from_bytes(
        data[start - 8 : start - 4], "big"
    ):
        return None
    end = start + 4 + int.from_bytes(view[start : start + 4], "big")
    (version, stored_url, stored_accept, expires, digest, warnings, found, *validators) = (
        marshal.loads(view[start + 4 : end])
    )
    if (version, stored_url, stored_accept) != (_VERSION, url, accept):
        return None
    if expires is not None and not isinstance(expires, float):
        return None
    etag, last_modified = validators
    if not all(v is None or isinstance(v, str) for v in validators):
        return None
    if not isinstance(digest, bytes) or not all(isinstance(w, str) for w in warnings):
        return None
    encoded = view[end:]  # the page's tables, kept as read (no copy)
    if end + (4 + int.from_bytes(encoded[:4], "big") if found else 0) != start + checked:
        return None  # the checked part is not the header and the hot tables
    if found:
        with collection_paused(keep=True):
            page = _read_page(encoded)
            page.digest = digest
            page.path = path
            files: PageFiles | None = PageFiles(page)
    else:
        files = None
    return CachedPage(expires, digest, files, tuple(warnings), encoded, etag, last_modified)


# -- lazy files ------------------------------------------------------------------------------


@contextmanager
def collection_paused(keep: bool = False) -> Iterator[None]:
    """No cyclic garbage collection while a page's records or tables are built: they are all
    kept, and without the pause the collector walks the growing heap again and again (a
    remote page of 15,000 files parses 3-4x faster). Safe with threads: only a caller that
    found the collector on turns it back on.

    ``keep``: what is alive at the end (the page's tables, kept for the run, and whatever the
    run made before) is moved out of the collector's sight (``gc.freeze``), as the command
    line does with its modules: else the next collections walk it all once more. Since pages
    make no record per file this matters less, but still pays: a warm fastapi-standard lock
    without it ran 2291 M instructions instead of 2270 M. Cyclic garbage alive at that moment
    is never collected; a page is read back from the cache in one piece, without making any."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if keep:
                gc.freeze()
            gc.enable()


# Shared by every page of the run: tag sets and Requires-Python values repeat across projects.
_TAG_SETS: dict[str, frozenset[Tag]] = {}
_SPECIFIERS: dict[str, SpecifierSet | None] = {"": None}
_VERSIONS: dict[str, Version] = {}


def _tag_set(text: str) -> frozenset[Tag]:
    tags = _TAG_SETS.get(text)
    if tags is None:
        tags = _TAG_SETS[text] = frozenset(
            Tag(*part.split("-")) for part in text.split(" ") if part
        )
    return tags


def _specifier(text: str) -> SpecifierSet | None:
    if text not in _SPECIFIERS:
        try:
            _SPECIFIERS[text] = SpecifierSet(text)
        except InvalidSpecifier:
            _SPECIFIERS[text] = None
    return _SPECIFIERS[text]


def _version(text: str) -> Version:
    version = _VERSIONS.get(text)
    if version is None:
        version = _VERSIONS[text] = Version(text)
    return version


class _Page:
    """The decoded tables of one page, kept as stored: nothing is made per file until a file
    is asked for (a version's files, or one by its place on the page), and the cold fields of a
    run of one version are loaded (inflated first, if compressed) on first use."""

    __slots__ = (
        "count",
        "version_table",
        "version_texts",
        "run_versions",
        "kinds",
        "specifier_table",
        "specifier_column",
        "tag_texts",
        "tag_table",
        "tag_column",
        "yanked",
        "starts",
        "bounds",
        "offsets",
        "blobs",
        "cold",
        "rows",
        "lock",
        "digest",
        "lists",
        "views",
        "crcs",
        "path",
        "order",
        "order_starts",
        "order_runs",
        "pythons",
        "prereleases",
        "all_yanked",
        "slots",
        "ids",
        "versions_view",
    )

    def __init__(
        self,
        versions: Sequence[str],
        specifiers: Sequence[str],
        tag_sets: Sequence[str],
        kinds: str,
        yanked: dict[int, str],
        starts: list[int],
        run_versions: Sequence[int],
        offsets: list[int],
        blobs: bytes | memoryview,
        specifier_column: Sequence[int],
        tag_column: Sequence[int],
        crcs: Sequence[int],
        order: tuple[Sequence[int], ...],
    ) -> None:
        """The page of checked tables (see ``_read_page``): runs of one version each start at
        ``starts`` (``page_tables`` starts one wherever the version changes), with the
        version ``run_versions`` gives, and their cold rows (``_blob``) between ``offsets``
        in ``blobs``, whose CRCs ``crcs`` gives; the columns give each file's Requires-Python
        and tag set, and ``order`` the distinct versions newest first (``_version_order``).
        No version is made until it is read: a lock looks at a few of each page's (examples/
        large's 480 pages list 41,452 versions; making, hashing and sorting them all took about
        110 ms of each warm lock)."""
        self.count = len(kinds)
        # Made when read, one object per text in the run (``_version``).
        self.version_table: list[Version | None] = [None] * len(versions)
        self.version_texts = versions
        self.run_versions = run_versions
        self.kinds = kinds
        self.specifier_table = [_specifier(s) for s in specifiers]
        self.specifier_column = specifier_column
        self.tag_texts = tag_sets
        self.tag_table: list[frozenset[Tag] | None] = [None] * len(tag_sets)  # made when read
        self.tag_column = tag_column
        self.yanked = yanked
        self.starts = starts
        self.bounds = [*starts, self.count]
        self.offsets = offsets
        self.blobs = blobs
        self.cold: list[tuple[tuple[Any, ...], ...] | None] = [None] * len(starts)
        self.rows: dict[int, tuple[Any, ...]] = {}
        self.lock = threading.Lock()
        self.digest: bytes | None = None  # of the response the page was parsed from
        self.lists: dict[int, list[DistFile]] = {}  # by position, see files_at()
        self.views: PageVersions | None = None
        self.crcs = crcs
        self.path: str | Path | None = None  # the entry the page was read from
        (
            self.order,  # the version text of each distinct version, newest first
            self.order_starts,  # where each one's runs are listed in order_runs
            self.order_runs,
            self.pythons,  # each one's file Requires-Python (specifier_table)
            self.prereleases,  # the positions of the pre-releases
            self.all_yanked,  # the positions of versions whose files are all yanked
        ) = order
        self.slots: list[Version | None] = [None] * len(self.order)  # made when read
        self.ids: dict[int, int] = {}  # the position of each version in slots, by identity
        self.versions_view: VersionOrder | None = None

    def version(self, k: int) -> Version:
        """The version of text ``k``, made on first use."""
        version = self.version_table[k]
        if version is None:
            made = _version(self.version_texts[k])
            with self.lock:
                version = self.version_table[k]
                if version is None:
                    version = self.version_table[k] = made
        return version

    def at(self, position: int) -> Version:
        """The distinct version at ``position``, newest first (IndexError past the end): the
        same object each time."""
        version = self.slots[position]
        if version is None:
            made = self.version(self.order[position])
            with self.lock:
                version = self.slots[position]
                if version is None:
                    version = self.slots[position] = made
                    # The slot keeps the object alive: its id stays its own.
                    self.ids[id(made)] = position if position >= 0 else position + len(self.slots)
        return version

    def position(self, version: Version) -> int:
        """The position of ``version`` (or of a version equal to it), newest first; KeyError
        when the page lists none. The page's own version objects are found by identity, any
        other by bisection (making the few versions it compares with)."""
        position = self.ids.get(id(version))
        if position is not None:
            return position
        lo, hi = 0, len(self.slots)
        at = self.at
        while lo < hi:
            mid = (lo + hi) // 2
            if at(mid) > version:
                lo = mid + 1
            else:
                hi = mid
        if lo < len(self.slots) and at(lo) == version:
            return lo
        raise KeyError(version)

    def runs_at(self, position: int) -> Sequence[int]:
        """The runs of the version at ``position``, in the page's order."""
        starts = self.order_starts
        return self.order_runs[starts[position] : starts[position + 1]]

    def files_at(self, position: int) -> list[DistFile]:
        """The files of the version at ``position`` in the page's order, made once (the same
        list each time)."""
        files = self.lists.get(position)
        if files is None:
            bounds = self.bounds
            made = [
                self.file(group, i)
                for group in self.runs_at(position)
                for i in range(bounds[group], bounds[group + 1])
            ]
            with self.lock:
                files = self.lists.setdefault(position, made)
        return files

    def file(self, group: int, i: int) -> StoredFile:
        file = _NEW(StoredFile)
        _SET_PAGE(file, self)
        _SET_GROUP(file, group)
        _SET_INDEX(file, i)
        return file

    def of_version(self, version: Version) -> list[DistFile]:
        """The files of one version in the page's order, made once (the same list each time);
        KeyError when the page lists none."""
        return self.files_at(self.position(version))

    def tags(self, i: int) -> frozenset[Tag]:
        k = self.tag_column[i]
        tags = self.tag_table[k]
        if tags is None:
            tags = self.tag_table[k] = _tag_set(self.tag_texts[k])
        return tags

    def raw(self, group: int, i: int) -> tuple[Any, ...]:
        """File ``i``'s cold row as stored (``group``: its run): (filename, url, hash items,
        size, upload time as ISO text, core metadata hash items or None, index). Its run's rows
        are loaded together, once."""
        rows = self.cold[group]
        if rows is None:
            with self.lock:
                rows = self.cold[group]
                if rows is None:
                    blob = self.blobs[self.offsets[group] : self.offsets[group + 1]]
                    if zlib.crc32(blob) != self.crcs[group]:
                        self.damaged()
                    if blob[0] == _ZLIB_HEADER:
                        blob = zlib.decompress(blob)
                    rows = self.cold[group] = marshal.loads(blob)
        return rows[i - self.starts[group]]

    def damaged(self) -> None:
        """Remove the entry the page was read from, whose cold rows are corrupt, and stop: the
        files read so far may be wrong, and the next run asks the index again."""
        if self.path is not None:
            with suppress(OSError):
                os.unlink(self.path)
        where = f" ({self.path})" if self.path is not None else ""
        raise SourceError(
            f"a cached index page{where} is damaged; it was removed: run the command again"
        )

    def row(self, group: int, i: int) -> tuple[Any, ...]:
        """(filename, url, hashes, size, upload_time, core_metadata, index) of file ``i``,
        decoded on first use (a file whose name only is read is not decoded)."""
        row = self.rows.get(i)
        if row is None:
            filename, url, hashes, size, uploaded, metadata, index = self.raw(group, i)
            row = (
                filename,
                url,
                dict(hashes),
                size,
                _datetime(uploaded),
                None if metadata is None else dict(metadata),
                index,
            )
            with self.lock:
                row = self.rows.setdefault(i, row)
        return row


_Item = TypeVar("_Item")


class ListLike(Sequence[_Item]):
    """A sequence made on demand (a page's files, a page's versions, the versions a universe
    chose) that compares equal to a list or tuple of the same items, and to another such
    sequence; unhashable, as a list is."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, (list, tuple, ListLike)):
            return NotImplemented
        return len(self) == len(other) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


class PageFiles(ListLike[DistFile]):
    """One stored or parsed page's files, in its order: a ``StoredFile`` is made when it is
    asked for, and none is kept (pydantic-core's page lists 15,000 files; a lock reads those
    of a few versions, through ``of_version`` or ``by_version``). Equal to a list or tuple of
    the same files."""

    __slots__ = ("_page",)

    def __init__(self, page: _Page) -> None:
        self._page = page

    def __len__(self) -> int:
        return self._page.count

    @overload
    def __getitem__(self, i: int) -> DistFile: ...
    @overload
    def __getitem__(self, i: slice) -> list[DistFile]: ...
    def __getitem__(self, i: int | slice) -> DistFile | list[DistFile]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._page.count))]
        count = self._page.count
        if i < 0:
            i += count
        if not 0 <= i < count:
            raise IndexError("page file index out of range")
        return self._page.file(bisect_right(self._page.starts, i) - 1, i)

    def __iter__(self) -> Iterator[DistFile]:
        page = self._page
        bounds = page.bounds
        for group in range(len(page.starts)):
            for i in range(bounds[group], bounds[group + 1]):
                yield page.file(group, i)

    def __repr__(self) -> str:
        return f"<PageFiles: {self._page.count} files>"

    def of_version(self, version: Version) -> list[DistFile]:
        """The files of ``version`` (equal versions written otherwise included), in the page's
        order; the same list each time. Empty when the page lists none."""
        try:
            return self._page.of_version(version)
        except KeyError:
            return []

    def by_version(self) -> PageVersions:
        """The files by version (see ``PageVersions``); the same mapping each time."""
        page = self._page
        if page.views is None:
            page.views = PageVersions(page)
        return page.views


class PageVersions(Mapping[Version, list[DistFile]]):
    """One page's files by version, as ``for f in files: groups.setdefault(f.version,
    []).append(f)`` gives them, made from the page's runs of one version: a version's list is
    made when it is read, and kept (the same list each time). No version is made until it is
    read (see ``order``)."""

    __slots__ = ("_page",)

    def __init__(self, page: _Page) -> None:
        self._page = page

    def __getitem__(self, version: Version) -> list[DistFile]:
        return self._page.of_version(version)

    def __contains__(self, version: object) -> bool:
        try:
            self._page.position(version)  # type: ignore[arg-type]
        except (KeyError, TypeError):
            return False
        return True

    def __iter__(self) -> Iterator[Version]:
        """The versions in the order of their first file (makes them all)."""
        page = self._page
        runs, starts = page.order_runs, page.order_starts
        firsts = sorted(range(len(page.slots)), key=lambda p: runs[starts[p]])
        return map(page.at, firsts)

    def __len__(self) -> int:
        return len(self._page.slots)

    def __repr__(self) -> str:
        return f"<PageVersions: {len(self)} versions>"

    def order(self) -> VersionOrder:
        """The versions newest first (see ``VersionOrder``); the same sequence each time."""
        page = self._page
        if page.versions_view is None:
            page.versions_view = VersionOrder(page)
        return page.versions_view

    def yanked_versions(self) -> set[Version]:
        """The versions whose files are all yanked (stored with the page)."""
        page = self._page
        return set(map(page.at, page.all_yanked))

    def prerelease_versions(self) -> set[Version]:
        """The page's pre-releases (and development releases), stored with the page."""
        page = self._page
        return set(map(page.at, page.prereleases))

    def file_requires_pythons(self) -> dict[Version, SpecifierSet | None]:
        """``file_requires_python`` of every version of the page (stored with the page: that
        of the version's first file that has one)."""
        page = self._page
        table, pythons = page.specifier_table, page.pythons
        return {v: table[pythons[page.position(v)]] for v in self}

    def digest(self) -> str | None:
        """The digest (hex) of the index response the page was read from (see
        ``listed_on_page``)."""
        digest = self._page.digest
        return None if digest is None else digest.hex()


class VersionOrder(ListLike[Version]):
    """A page's distinct versions, newest first (equal versions written otherwise, "1.0" and
    "1.0.0", are one, the object of the text of their first file), as ``sorted(by_version,
    reverse=True)`` gives them; read from the order stored with the page, each version made
    when it is read (the same object each time). With what a lock reads of each version by its
    position: ``resolver.universe`` ranks a package's versions by it."""

    __slots__ = ("_page", "at")

    def __init__(self, page: _Page) -> None:
        self._page = page
        # The version at a position (an int; no slice): one Python call, not two.
        self.at = page.at

    def __len__(self) -> int:
        return len(self._page.slots)

    @overload
    def __getitem__(self, i: int) -> Version: ...
    @overload
    def __getitem__(self, i: slice) -> list[Version]: ...
    def __getitem__(self, i: int | slice) -> Version | list[Version]:
        if isinstance(i, slice):
            return list(map(self._page.at, range(*i.indices(len(self._page.slots)))))
        return self._page.at(i)

    def __iter__(self) -> Iterator[Version]:
        return map(self._page.at, range(len(self._page.slots)))

    def __contains__(self, version: object) -> bool:
        try:
            self._page.position(version)  # type: ignore[arg-type]
        except (KeyError, TypeError):
            return False
        return True

    def __repr__(self) -> str:
        return f"<VersionOrder: {len(self)} versions>"

    def position(self, version: Version) -> int:
        """The position of ``version`` (or of a version equal to it); KeyError when there is
        none. The page's own objects are found by identity, others by bisection."""
        return self._page.position(version)

    def prerelease_positions(self) -> Sequence[int]:
        """The positions of the pre-releases (and development releases), in order."""
        return self._page.prereleases

    def yanked_positions(self) -> Sequence[int]:
        """The positions of the versions whose files are all yanked, in order."""
        return self._page.all_yanked

    def file_requires_python(self, position: int) -> SpecifierSet | None:
        """The Requires-Python of the first file of the version at ``position`` that has one."""
        page = self._page
        return page.specifier_table[page.pythons[position]]

    def file_requires_pythons(self, positions: Iterable[int]) -> list[SpecifierSet | None]:
        """The distinct file Requires-Python of the versions at these positions, in the order
        first met (by identity), without making any version: read off the stored column."""
        page = self._page
        table = page.specifier_table
        seen = dict.fromkeys(map(page.pythons.__getitem__, positions))
        return list({id(rp): rp for rp in map(table.__getitem__, seen)}.values())

    def files_at(self, position: int) -> list[DistFile]:
        """The files of the version at ``position`` (see ``PageVersions``)."""
        return self._page.files_at(position)


def listed_on_page(files: Sequence[DistFile]) -> str | None:
    """The digest (hex) of the index response that all these files were read from, when they
    were all read from one stored or parsed page; else None. The same digest means the same
    files, with the same names and hashes, without decoding any of them."""
    page = None
    for file in files:
        if type(file) is not StoredFile:
            return None
        if page is None:
            page = file._page
        elif file._page is not page:
            return None
    if page is None or page.digest is None:
        return None
    return page.digest.hex()


def lock_fields(
    file: DistFile,
) -> tuple[
    str,
    str,
    datetime | None,
    int | None,
    Iterable[tuple[str, str]] | Mapping[str, str],
    str | None,
]:
    """What a lock writes of a file: its name, URL, upload time, size and hashes (a mapping,
    or its items); a stored file's from its row as stored, in one read. Last, the text the lock
    writes for the upload time when the stored text gives it at once (``_written``), else
    None."""
    if type(file) is StoredFile:
        filename, url, hashes, size, uploaded, _metadata, _index = file._page.raw(
            file._group, file._index
        )
        when = _datetime(uploaded)
        written = None if when is None else _written(uploaded)
        return filename, url, when, size, hashes, written
    return file.filename, file.url, file.upload_time, file.size, file.hashes, None


def lock_rows(
    files: Iterable[DistFile],
) -> list[tuple[str, tuple[Any, ...], str, str | None]]:
    """``(f.filename, lock_fields(f), f.kind, f.index)`` of each file, in order: a stored
    file's read off its row as stored and its page's kinds, in this one loop, without a call
    of ``lock_fields`` and of two properties per file (examples/large's lock reads 7,764)."""
    found = []
    for file in files:
        if type(file) is not StoredFile:
            fields = lock_fields(file)
            found.append((fields[0], fields, file.kind, file.index))
            continue
        page, group, i = file._page, file._group, file._index
        rows = page.cold[group]
        row = rows[i - page.starts[group]] if rows is not None else page.raw(group, i)
        filename, url, hashes, size, uploaded, _metadata, index = row
        when = _datetime(uploaded)
        written = None if when is None else _written(uploaded)
        fields = (filename, url, when, size, hashes, written)
        found.append((filename, fields, _KINDS[page.kinds[i]], index))
    return found


# An upload time in UTC as the lock writes it (``lockfile._datetime_text``: "Z", and six digits
# of microseconds unless there are none), or with "+00:00" for "Z". A page stores the index's
# own text (PyPI's end in "Z") or ``isoformat()`` (which ends in "+00:00"); either way, a text
# of this form needs no writing from the time's fields (examples/large: 7,764 files, 60 M
# instructions).
_LOCK_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.(?!000000)[0-9]{6})?(Z|\+00:00)"
)


def _written(uploaded: str) -> str | None:
    """The lock's text of an upload time (one ``_datetime`` reads) when ``uploaded`` has
    that form already, but for "+00:00"; else None."""
    found = _LOCK_TIME.fullmatch(uploaded)
    if found is None:
        return None
    return uploaded if found.group(1) == "Z" else f"{uploaded[:-6]}Z"


def _datetime(text: str | None) -> datetime | None:
    """An upload time as the index wrote it (a page that gives an invalid one has none)."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _cold(position: int) -> property:
    return property(lambda self: self._page.row(self._group, self._index)[position])


def _stored(position: int) -> property:
    """A cold field that is stored as it is read (a string, a number or None)."""
    return property(lambda self: self._page.raw(self._group, self._index)[position])


class StoredFile(DistFile):
    """A ``DistFile`` read back from the page cache: the same fields, decoded on first access.

    Compares equal to a ``DistFile`` with the same fields. Copies (``dataclasses.replace``,
    ``copy``, ``pickle``) are plain ``DistFile`` records.
    """

    __slots__ = ("_group", "_index", "_page")
    _page: _Page
    _group: int  # the page's run of one version it is in
    _index: int

    def __new__(cls, *args: Any, **kwargs: Any) -> DistFile:  # type: ignore[misc]
        return DistFile(*args, **kwargs)

    version = property(  # type: ignore[assignment]
        lambda self: self._page.version(self._page.run_versions[self._group])
    )
    kind = property(lambda self: _KINDS[self._page.kinds[self._index]])  # type: ignore[assignment]
    requires_python = property(  # type: ignore[assignment]
        lambda self: self._page.specifier_table[self._page.specifier_column[self._index]]
    )
    tags = property(lambda self: self._page.tags(self._index))  # type: ignore[assignment]
    yanked = property(lambda self: self._page.yanked.get(self._index))  # type: ignore[assignment]
    filename = _stored(0)  # type: ignore[assignment]
    url = _stored(1)  # type: ignore[assignment]
    hashes = _cold(2)  # type: ignore[assignment]
    size = _stored(3)  # type: ignore[assignment]
    upload_time = _cold(4)  # type: ignore[assignment]
    core_metadata = _cold(5)  # type: ignore[assignment]
    index = _stored(6)  # type: ignore[assignment]

    def _fields(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(DistFile))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DistFile):
            return NotImplemented
        return self._fields() == tuple(getattr(other, f.name) for f in fields(DistFile))

    __hash__ = None  # type: ignore[assignment]  # as DistFile's: its hashes field is a dict

    def __reduce__(self) -> tuple[Any, ...]:
        return (DistFile, self._fields())


_SET_PAGE = StoredFile._page.__set__  # type: ignore[attr-defined]
_SET_GROUP = StoredFile._group.__set__  # type: ignore[attr-defined]
_SET_INDEX = StoredFile._index.__set__  # type: ignore[attr-defined]
_NEW = object.__new__
