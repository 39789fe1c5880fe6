"""Core metadata of one version, by the cheapest path that works, cached on disk.

Paths, in order: a cached result; PEP 658 ``<file-url>.metadata`` when announced (or, on a local
tree, when present); a wheel's ``*.dist-info/METADATA`` read with HTTP byte ranges (a whole
download only when the server ignores ranges), or from the local zip; an sdist's PKG-INFO when
PEP 643 makes it static; else a PEP 517 metadata build unless ``--no-build``.
"""

from __future__ import annotations

import io
import json
import marshal
import os
import re
import struct
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from resolver.environments import marker_of
from resolver.errors import SourceError
from resolver.http import Http, OfflineError, read_body
from resolver.index import is_local, local_path
from resolver.parsed_cache import listed_on_page, sha256, write_atomically
from resolver.provider import CoreMetadata, DistFile, MetadataUnavailable, ProviderError
from resolver.trace import trace

if TYPE_CHECKING:
    import zipfile

    from packaging.metadata import RawMetadata

    from resolver.build import BuildSettings

__all__ = [
    "METADATA_PATHS",
    "MetadataCache",
    "MetadataFetcher",
    "metadata_from_archive",
    "parse_metadata",
]

Warn = Callable[[str], None]

# The names ``MetadataFetcher.stats()`` counts.
METADATA_PATHS = (
    "cache",
    "pep658",
    "range",
    "full-download",
    "local-wheel",
    "sdist-static",
    "build",
)
# Bytes asked for in the first range request of a wheel: the central directory and, usually,
# the METADATA file itself (dist-info comes last in most wheels). 256 KiB holds all of most pure
# wheels, whatever their layout (fastapi's puts dist-info first), and the central directory of
# most others (tzdata's is over 64 KiB); on PyPI's mirror a range read costs its round trip,
# not its bytes.
TAIL_SIZE = 256 * 1024
# Smallest later range request, so that zipfile's small reads do not each cost a request.
MIN_RANGE = 64 * 1024
# Dynamic fields that make an sdist's PKG-INFO useless for resolving (PEP 643).
_RESOLVING_FIELDS = frozenset({"requires-dist", "requires-python", "provides-extra"})
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_IDENTITY = {"Accept-Encoding": "identity"}
# Sdists at least this large are downloaded, hashed and unpacked by a child process
# (``MetadataFetcher._read_tar_apart``), two at a time: three of pyspark's (456 MB each) side by
# side in the fetch threads took 20 s each in large's cold lock, when one alone takes 3.5 s of
# CPU; in children, out of the fetch threads' interpreter lock, two side by side take 8-10 s.
LARGE_DOWNLOAD = 32 * 1024 * 1024
LARGE_AT_ONCE = 2
_LARGE_DOWNLOADS = threading.BoundedSemaphore(LARGE_AT_ONCE)


# -- parsing -------------------------------------------------------------------------------

# Requirement strings repeat from version to version of a package and across packages; parsing
# one costs ~40 µs. Requirements are never changed after parsing, so equal strings share one.
_REQUIREMENTS: dict[str, Requirement] = {}
_SPECIFIERS: dict[str, SpecifierSet] = {}


# packaging reads a marker's quoted strings with ast.literal_eval, and CPython 3.11's AST
# constructor is not safe across threads ("SystemError: AST constructor recursion depth
# mismatch", seen once on a lock whose metadata parsed in the fetch threads): one parse at a time.
_PARSING = threading.Lock()


def _requirement(text: str) -> Requirement:
    """``Requirement(text)``, parsed once per distinct string. Raises ``InvalidRequirement``."""
    requirement = _REQUIREMENTS.get(text)
    if requirement is None:
        with _PARSING:
            requirement = _REQUIREMENTS[text] = _parse_requirement(text)
    return requirement


# The parts of requirement strings, parsed once each: a package's versions repeat the same
# markers (``extra == "standard"``, ``python_version < "3.10"``) on requirements whose
# specifiers differ, and the marker is most of a parse (fastapi-standard's 640 distinct
# requirements: 18 ms whole, 5 ms by parts).
_BARE: dict[str, Requirement] = {}
_MARKERS: dict[str, Marker] = {}


# A requirement that is a name, extras and version specifiers only ("anyio>=3.6.2,<5",
# "coverage[toml]>=7"), most of them: its specifier set is looked up, or parsed alone, instead
# of parsing the whole requirement (a whole parse of one with extras costs about 150,000
# instructions; examples/large reads 180 of them).
_OPERATOR_VERSION = r"(?:~=|===|==|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+"
_IDENTIFIER = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_NAME_SPECIFIERS = re.compile(
    rf"\s*({_IDENTIFIER})\s*"
    rf"(?:\[\s*((?:{_IDENTIFIER})(?:\s*,\s*{_IDENTIFIER})*)?\s*\]\s*)?"
    rf"((?:{_OPERATOR_VERSION})(?:\s*,\s*{_OPERATOR_VERSION})*)?\s*"
)


def _bare(text: str) -> Requirement | None:
    """``Requirement(text)`` for a name, extras and version specifiers only; None for anything
    else."""
    match = _NAME_SPECIFIERS.fullmatch(text)
    if match is None:
        return None
    try:
        specifier = _specifier_set(match.group(3) or "")
    except InvalidSpecifier:
        return None
    extras = match.group(2)
    names = {e.strip() for e in extras.split(",")} if extras else set()
    return _assembled(match.group(1), names, specifier, None)


def _assembled(
    name: str, extras: set[str], specifier: SpecifierSet, marker: Marker | None
) -> Requirement:
    """A requirement without a URL made of parts already parsed, as packaging's parser fills
    one (without parsing anything again)."""
    requirement = Requirement.__new__(Requirement)
    requirement.name = name
    requirement.url = None
    requirement.extras = extras
    requirement.specifier = specifier
    requirement.marker = marker
    return requirement


def _parse_requirement(text: str) -> Requirement:
    """``Requirement(text)``: a requirement without a URL is parsed as its part before the
    ``;`` and its marker, each looked up first among those already parsed; the result is equal
    to, and prints as, the whole parse. Anything that does not parse by parts is parsed whole,
    for the whole parse's error."""
    before, semicolon, after = text.partition(";")
    if "@" in text:
        return Requirement(text)
    if not semicolon:
        return _bare(text) or Requirement(text)
    try:
        bare = _BARE.get(before)
        if bare is None:
            bare = _bare(before) or Requirement(before)
            if bare.marker is not None or bare.url is not None:
                return Requirement(text)
            _BARE[before] = bare
        marker_text = after.strip()
        marker = _MARKERS.get(marker_text)
        if marker is None:
            marker = _MARKERS[marker_text] = _flat_marker(marker_text) or Marker(marker_text)
    except (InvalidRequirement, InvalidMarker):
        return Requirement(text)
    return _assembled(bare.name, set(bare.extras), bare.specifier, marker)


# A marker without parentheses is its comparisons joined by "and" and "or", which packaging
# parses into the list [comparison, "and", comparison, ...]: such a marker is put together from
# its comparisons, each parsed once (``python_version < "3.11"`` and ``extra == "test"`` recur
# in hundreds of markers; examples/large parses 770 distinct markers of 200 distinct comparisons,
# and a whole parse costs 100,000 instructions or more). Anything else is parsed whole.
_OPERAND = r"""(?:[A-Za-z_][A-Za-z0-9_.]*|"[^"]*"|'[^']*')"""
_COMPARISON = re.compile(
    rf"\s*({_OPERAND}\s*(?:===|==|~=|!=|<=|>=|<|>|not\s+in|in)\s*{_OPERAND})\s*"
)
_JOIN = re.compile(r"(and|or)(?=\s)")
_COMPARISONS: dict[str, tuple[Any, Any, Any] | None] = {}


def _flat_marker(text: str) -> Marker | None:
    """``Marker(text)`` for a marker of comparisons joined by "and" and "or", or of one
    comparison; None for anything else (and for anything that does not parse). A marker of one
    comparison is its comparison, parsed once for every marker it is in (examples/large: 90 of
    its 540 distinct one-comparison markers are also comparisons of longer markers)."""
    if "(" in text:
        return None
    parts: list[Any] = []
    position = 0
    while True:
        match = _COMPARISON.match(text, position)
        if match is None:
            return None
        comparison = _comparison(match.group(1))
        if comparison is None:
            return None
        parts.append(comparison)
        position = match.end()
        if position == len(text):
            break
        join = _JOIN.match(text, position)
        if join is None:
            return None
        parts.append(join.group(1))
        position = join.end()
    return marker_of(parts)


def _comparison(text: str) -> tuple[Any, Any, Any] | None:
    """The parsed comparison of a one-comparison marker text, once per text; None when it does
    not parse as one."""
    if text not in _COMPARISONS:
        try:
            parsed = Marker(text)._markers
        except InvalidMarker:
            parsed = None
        _COMPARISONS[text] = (
            parsed[0] if parsed and len(parsed) == 1 and type(parsed[0]) is tuple else None
        )
    return _COMPARISONS[text]


def _specifier_set(text: str) -> SpecifierSet:
    """``SpecifierSet(text)``, parsed once per distinct string. Raises ``InvalidSpecifier``."""
    specifier = _SPECIFIERS.get(text)
    if specifier is None:
        specifier = _SPECIFIERS[text] = SpecifierSet(text)
    return specifier


def parse_metadata(
    data: bytes | str,
    *,
    name: NormalizedName,
    version: Version,
    source: str,
    warn: Warn,
) -> CoreMetadata:
    """Parse METADATA/PKG-INFO leniently into ``CoreMetadata``.

    A Requires-Dist or Requires-Python that does not parse is skipped with a warning naming the
    package, version and string. A Name or Version other than the expected ones raises
    ``MetadataUnavailable`` naming ``source``.
    """
    from packaging.metadata import parse_email  # imports the email package: only when parsing

    raw, _unparsed = parse_email(data)
    return _from_raw(raw, name=name, version=version, source=source, warn=warn)


def _from_raw(
    raw: RawMetadata, *, name: NormalizedName, version: Version, source: str, warn: Warn
) -> CoreMetadata:
    found_name = raw.get("name")
    if found_name is None or canonicalize_name(found_name) != name:
        raise MetadataUnavailable(f"{source}: metadata names {found_name!r}, expected {name!r}")
    try:
        found_version = Version(raw.get("version", ""))
    except InvalidVersion as exc:
        raise MetadataUnavailable(f"{source}: invalid Version in metadata: {exc}") from exc
    if found_version != version:
        raise MetadataUnavailable(
            f"{source}: metadata says version {found_version}, expected {version}"
        )
    requirements = []
    invalid: list[tuple[str, str]] = []
    for text in raw.get("requires_dist", ()):
        try:
            requirements.append(_requirement(text))
        except InvalidRequirement as exc:
            invalid.append((text, str(exc).splitlines()[0]))
    if invalid:  # one line per version (prefect 1.x repeats one bad requirement per extra)
        text, reason = invalid[0]
        more = f" (and {len(invalid) - 1} more)" if len(invalid) > 1 else ""
        warn(f"{name} {version}: skipping the invalid requirement {text!r}{more}: {reason}")
    requires_python = None
    if text := raw.get("requires_python", "").strip():
        try:
            requires_python = _specifier_set(text)
        except InvalidSpecifier:
            warn(f"{name} {version}: ignoring the invalid Requires-Python {text!r}")
    extras = frozenset(canonicalize_name(extra) for extra in raw.get("provides_extra", ()))
    return CoreMetadata(
        name=name,
        version=version,
        requires_dist=tuple(requirements),
        requires_python=requires_python,
        provides_extra=extras,
    )


def _is_static(raw: RawMetadata) -> bool:
    """PEP 643: PKG-INFO of Metadata-Version >= 2.2 whose resolving fields are not Dynamic."""
    try:
        if Version(raw.get("metadata_version", "0")) < Version("2.2"):
            return False
    except InvalidVersion:
        return False
    dynamic = {field.strip().lower() for field in raw.get("dynamic", ())}
    return not (dynamic & _RESOLVING_FIELDS)


# -- archives ------------------------------------------------------------------------------


def _dist_info_metadata(names: Sequence[str], project: NormalizedName) -> str | None:
    """The ``<name>-<version>.dist-info/METADATA`` entry, preferring the project's own."""
    found = [
        n
        for n in names
        if n.count("/") == 1 and n.endswith("/METADATA") and n.split("/")[0].endswith(".dist-info")
    ]
    for entry in found:
        if (
            canonicalize_name(entry.split("/")[0][: -len(".dist-info")].rsplit("-", 1)[0])
            == project
        ):
            return entry
    return found[0] if found else None


def _wheel_metadata(archive: zipfile.ZipFile, filename: str, project: NormalizedName) -> bytes:
    entry = _dist_info_metadata(archive.namelist(), project)
    if entry is None:
        raise MetadataUnavailable(f"{filename}: no .dist-info/METADATA in the wheel")
    return archive.read(entry)


def _pkg_info_entry(names: Sequence[str]) -> str | None:
    for entry in names:
        parts = entry.strip("/").split("/")
        if len(parts) == 2 and parts[1] == "PKG-INFO":
            return entry
    return None


def metadata_from_archive(file: IO[bytes] | Path, filename: str, project: NormalizedName) -> bytes:
    """METADATA of a wheel or PKG-INFO of an sdist (.tar.gz or .zip), from a path or file object.

    Raises ``MetadataUnavailable`` naming ``filename`` when the archive is broken or lacks it.
    """
    import zipfile  # zipfile and tarfile only when an archive is read, tarfile for sdists only

    errors: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, zipfile.BadZipFile)
    try:
        if filename.endswith(".whl"):
            with zipfile.ZipFile(file) as archive:
                return _wheel_metadata(archive, filename, project)
        if filename.endswith(".zip"):
            with zipfile.ZipFile(file) as archive:
                entry = _pkg_info_entry(archive.namelist())
                if entry is not None:
                    return archive.read(entry)
        else:
            import tarfile

            errors += (tarfile.TarError,)
            opened = (
                tarfile.open(file, "r:*")
                if isinstance(file, Path)
                else tarfile.open(fileobj=file, mode="r:*")
            )
            with opened as archive:
                for member in archive:
                    if member.isfile() and _pkg_info_entry([member.name]):
                        extracted = archive.extractfile(member)
                        if extracted is not None:
                            return extracted.read()
    except errors as exc:
        raise MetadataUnavailable(f"{filename}: cannot read the archive: {exc}") from exc
    raise _NoPkgInfo(f"{filename}: no PKG-INFO in the sdist")


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")  # central directory file header
_LOCAL = struct.Struct("<4s2B4HL2L2H")  # local file header
_METADATA_SUFFIX = b".dist-info/METADATA"


def _metadata_from_tail(tail: bytes, start: int, project: NormalizedName) -> bytes | None:
    """A wheel's ``.dist-info/METADATA`` from the last bytes of the wheel (``tail``, from
    offset ``start`` to the end), when they hold the central directory and that file: the
    entries named ``*.dist-info/METADATA`` are found by searching the directory's bytes, not by
    reading every entry (zipfile builds a ZipInfo per entry: most of a range read's CPU for
    wheels of thousands of files). None whenever anything is not as simple (ZIP64, a
    comment-less end record not found, an entry outside ``tail``, a method other than stored
    or deflated, a CRC that does not match): then zipfile reads the wheel as before."""
    lowest = max(0, len(tail) - 65535 - _EOCD.size)  # the record ends with a comment < 64 KiB
    end = len(tail)
    while True:
        end = tail.rfind(b"PK\x05\x06", lowest, end)
        if end < 0:
            return None
        if end + _EOCD.size <= len(tail):
            fields = _EOCD.unpack_from(tail, end)
            if end + _EOCD.size + fields[7] == len(tail):
                break  # its comment reaches the end of the file: this is the record
    _sig, disk, _cd_disk, _count, total, cd_size, cd_offset, _comment = fields
    if disk != 0 or total == 0xFFFF or 0xFFFFFFFF in (cd_size, cd_offset):
        return None
    base = start + end - cd_size - cd_offset  # bytes before the archive (usually none)
    if cd_offset + base < start:
        return None
    raw = tail[cd_offset + base - start : end]
    if len(raw) != cd_size:
        return None
    entries: dict[str, tuple[int, int, int, int, int]] = {}
    found = raw.find(_METADATA_SUFFIX)
    while found >= 0:
        name_end = found + len(_METADATA_SUFFIX)
        header = raw.rfind(b"PK\x01\x02", 0, found)
        if header < 0 or header + _CENTRAL.size > len(raw):
            return None
        fields = _CENTRAL.unpack_from(raw, header)
        flags, method, crc, compressed, size = fields[5:7] + fields[9:12]
        name_length, offset = fields[12], fields[18]
        if header + _CENTRAL.size + name_length == name_end:
            if flags & 1 or 0xFFFFFFFF in (compressed, size, offset):
                return None
            encoding = "utf-8" if flags & 0x800 else "cp437"  # as zipfile reads names
            name = raw[header + _CENTRAL.size : name_end].decode(encoding, errors="replace")
            entries[name] = (method, crc, compressed, size, offset)
        found = raw.find(_METADATA_SUFFIX, name_end)
    chosen = _dist_info_metadata(list(entries), project)
    if chosen is None:
        return None
    method, crc, compressed, size, offset = entries[chosen]
    local = offset + base - start
    if local < 0 or local + _LOCAL.size > len(tail):
        return None
    fields = _LOCAL.unpack_from(tail, local)
    if fields[0] != b"PK\x03\x04":
        return None
    data_start = local + _LOCAL.size + fields[10] + fields[11]
    data = tail[data_start : data_start + compressed]
    if len(data) != compressed:
        return None
    try:
        if method == 8:
            data = zlib.decompressobj(-15).decompress(data)
        elif method != 0:
            return None
    except zlib.error:
        return None
    if len(data) != size or zlib.crc32(data) != crc:
        return None
    return data


class _NoPkgInfo(MetadataUnavailable):
    """An sdist without PKG-INFO: only a build can tell its metadata."""


class _RangeFile(io.RawIOBase):
    """A read-only, seekable view of a remote file that fetches only the byte ranges read."""

    def __init__(self, http: Http, url: str, size: int, chunks: list[tuple[int, bytes]]) -> None:
        super().__init__()
        self._http = http
        self._url = url
        self._size = size
        self._chunks = chunks
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        end = min(self._size, self._pos + len(buffer))
        if end <= self._pos:
            return 0
        data = self._bytes(self._pos, end)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def _bytes(self, start: int, end: int) -> bytes:
        for chunk_start, chunk in self._chunks:
            if chunk_start <= start and end <= chunk_start + len(chunk):
                return chunk[start - chunk_start : end - chunk_start]
        fetch_end = min(self._size, max(end, start + MIN_RANGE))
        response = self._http.get(
            self._url,
            headers={"Range": f"bytes={start}-{fetch_end - 1}", **_IDENTITY},
        )
        if response.status_code != 206:
            raise MetadataUnavailable(
                f"{self._url}: range request answered with HTTP {response.status_code}"
            )
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        chunk_start = int(match.group(1)) if match else start
        self._chunks.append((chunk_start, response.content))
        if not chunk_start <= start < end <= chunk_start + len(response.content):
            raise MetadataUnavailable(f"{self._url}: the server sent the wrong byte range")
        return response.content[start - chunk_start : end - chunk_start]


# -- the disk cache ------------------------------------------------------------------------


class MetadataCache:
    """Parsed metadata as small JSON files under ``<cache_dir>/metadata``, one per file.

    Keyed by index URL, project, version, file name and the file's hash (or URL). Entries are
    written to a temporary file and renamed, so a reader never sees a partial entry. Builds
    that failed because of the sdist itself are remembered beside them for ``FAILED_FOR``
    seconds, so that each run does not build an old sdist again only to fail again.

    Beside each file's entry, a version entry (``*.version``, keyed by project and version)
    holds the same metadata and names the file it came from, its hash and index, and the digest
    of the index page that listed the version's files: a warm run reads that one entry per
    version, and takes it as it is while the page is the same (else while the file it names is
    still listed with the same hash and index), instead of ordering the version's files (numpy
    lists 70 per release) and looking for each file's entry in turn. A version entry that is
    missing, damaged or names another file is a miss: the files' own entries are looked up as
    before, and the one found is recorded as the version's entry.

    Version entries are a marshalled tuple behind a magic and a CRC (``VERSION_FORMAT``): a
    warm lock of examples/large reads 1,841 of them, and JSON's decoding (76,000 instructions
    an entry, for requirement strings full of escaped quotes) cost 139 M instructions. Those
    of format 1, JSON files named ``*.version.json``, are no longer read: a version without a
    new entry is found through its files' entries once, and recorded anew.
    """

    FORMAT = 1
    VERSION_FORMAT = 2
    FAILED_FOR = 7 * 24 * 3600

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._joined: tuple[Path, str] | None = None  # the directory, and it joined with ""
        # Version entries as read by the last lock of the same inputs, by path (``use_pack``),
        # and those this run took, while recorded.
        self._pack: dict[str, bytes] = {}
        self._taken: dict[str, bytes] | None = None

    def __repr__(self) -> str:
        return f"MetadataCache({self.directory!r})"

    def use_pack(self, pack: Mapping[str, bytes]) -> None:
        """Read version entries from ``pack`` (the bytes of entries by their paths, as a lock
        of the same inputs took them: resolver/widths.py keeps it) before their files, and
        record from now on every version entry taken (``taken``). An entry from the pack is
        checked as its file is: only where it is taken from matters. A warm lock of
        examples/large takes 1,478 entries: opening and reading them as files took 26-93 ms
        (the machine's system calls are slow), one pack of 1.5 MB about 2 ms."""
        self._pack = dict(pack)
        self._taken = {}

    def taken(self) -> dict[str, bytes]:
        """The version entries taken since ``use_pack``, by path."""
        return dict(self._taken or {})

    def _path(self, name: NormalizedName, file: DistFile) -> Path | None:
        if self.directory is None:
            return None
        key = "\n".join([file.index or "", name, str(file.version), file.filename, _digest(file)])
        return self.directory / name / f"{sha256(key.encode()).hexdigest()[:40]}.json"

    def _version_path(self, name: NormalizedName, version: Version) -> str:
        """Where the version entry is (a string: a warm lock reads hundreds, and pathlib's
        joins cost more than the read)."""
        assert self.directory is not None
        key = "\n".join(["version", name, str(version)])
        digest = sha256(key.encode()).hexdigest()[:40]
        # As os.path.join(directory, name, file) for a name and file of plain characters, from
        # the directory joined once (os.path.join and the Path's os.fspath are Python calls).
        if self._joined is None or self._joined[0] is not self.directory:
            self._joined = (self.directory, os.path.join(self.directory, ""))
        return f"{self._joined[1]}{name}{os.sep}{digest}.version"

    def load(self, name: NormalizedName, file: DistFile) -> CoreMetadata | None:
        path = self._path(name, file)
        if path is None:
            return None
        try:
            return self._metadata(json.loads(path.read_text(encoding="utf-8")), name, file.version)
        except (OSError, ValueError, LookupError, TypeError, AttributeError):  # damaged: a miss
            return None

    def load_any(
        self, name: NormalizedName, files: Sequence[DistFile]
    ) -> tuple[DistFile, CoreMetadata] | None:
        """The first of ``files`` that has an entry, with its metadata. Only the files whose
        entries the package's folder lists are opened: a version of charset-normalizer has 172
        files, and failing to open each one's entry took 70 ms of a cold lock of
        examples/tiny (two versions, the opens slowed by the other fetch threads)."""
        if self.directory is None:
            return None
        try:
            present = set(os.listdir(self.directory / name))
        except OSError:
            return None
        for file in files:
            path = self._path(name, file)
            if path is not None and path.name in present:
                found = self.load(name, file)
                if found is not None:
                    return file, found
        return None

    def load_version(
        self, name: NormalizedName, version: Version, files: Sequence[DistFile]
    ) -> CoreMetadata | None:
        """The version entry of ``files`` (one version's files, as listed), when they come
        from the same index page as when it was written, or else when the file it names is
        among them with the same hash and index; else None. The pack's copy of the entry
        (``use_pack``) is tried first, then the file."""
        if self.directory is None or not files:
            return None
        path = self._version_path(name, version)
        packed = self._pack.get(path)
        found = None if packed is None else self._version_entry(packed, name, version, files)
        data = packed
        if found is None:
            try:
                with open(path, "rb") as entry_file:
                    data = entry_file.read()
            except OSError:
                return None
            found = self._version_entry(data, name, version, files)
        if found is not None and self._taken is not None:
            self._taken[path] = data  # type: ignore[assignment]
        return found

    def _version_entry(
        self, data: bytes, name: NormalizedName, version: Version, files: Sequence[DistFile]
    ) -> CoreMetadata | None:
        """The metadata a version entry's bytes hold, when they apply to ``files``; else None."""
        try:
            if not data.startswith(_VERSION_MAGIC):
                return None
            body = memoryview(data)[len(_VERSION_MAGIC) + 4 :]
            if zlib.crc32(body) != int.from_bytes(data[len(_VERSION_MAGIC) :][:4], "big"):
                return None
            entry = marshal.loads(body)
            if type(entry) is not tuple or len(entry) != 9 or entry[0] != self.VERSION_FORMAT:
                return None
            _format, filename, index, digest, listed, requires_dist, python, extras, _how = entry
            page = listed_on_page(files)
            if page is None or listed != page:
                for file in files:
                    if file.filename == filename:
                        if file.index == index and _digest(file) == digest:
                            break
                        return None
                else:
                    return None
            if type(requires_dist) is not tuple or type(extras) is not tuple:
                return None
            return _from_texts(name, version, requires_dist, python, extras)
        except (ValueError, LookupError, TypeError, AttributeError, EOFError):
            return None  # damaged: a miss

    def _metadata(
        self, entry: dict[str, Any], name: NormalizedName, version: Version
    ) -> CoreMetadata | None:
        if entry.get("format") != self.FORMAT:
            return None
        python = entry.get("requires_python")
        texts = entry["requires_dist"]
        if type(texts) is not list or type(entry["provides_extra"]) is not list:
            return None
        return _from_texts(name, version, texts, python, entry["provides_extra"])

    def _failure_path(self, name: NormalizedName, file: DistFile) -> Path | None:
        path = self._path(name, file)
        return None if path is None else path.with_name(f"{path.stem}.failed.json")

    def load_failure(self, name: NormalizedName, file: DistFile) -> str | None:
        """Why building this file's metadata failed, if it failed lately."""
        path = self._failure_path(name, file)
        if path is None:
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            if entry["format"] != self.FORMAT or time.time() - entry["at"] > self.FAILED_FOR:
                return None
            return str(entry["failed"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store_failure(self, name: NormalizedName, file: DistFile, message: str) -> None:
        path = self._failure_path(name, file)
        if path is not None:
            entry = {"format": self.FORMAT, "failed": message, "at": time.time()}
            write_atomically(path, json.dumps(entry).encode())

    def store(self, name: NormalizedName, file: DistFile, metadata: CoreMetadata, how: str) -> None:
        path = self._path(name, file)
        if path is None:
            return
        write_atomically(path, _entry_json(self._entry(name, file, metadata, how)))

    def store_version(
        self,
        name: NormalizedName,
        files: Sequence[DistFile],
        file: DistFile,
        metadata: CoreMetadata,
        how: str | None,
    ) -> None:
        """Record ``file``'s metadata as the version entry of ``files`` (``file`` among them)."""
        if self.directory is None or not files:
            return
        python = metadata.requires_python
        entry = (
            self.VERSION_FORMAT,
            file.filename,
            file.index,
            _digest(file),
            listed_on_page(files),
            tuple([str(r) for r in metadata.requires_dist]),
            str(python) if python is not None else None,
            tuple(sorted(metadata.provides_extra)),
            how,
        )
        body = marshal.dumps(entry)
        data = b"".join((_VERSION_MAGIC, zlib.crc32(body).to_bytes(4, "big"), body))
        path = self._version_path(name, metadata.version)
        write_atomically(Path(path), data)
        if self._taken is not None:
            self._taken[path] = data

    def _entry(
        self, name: NormalizedName, file: DistFile, metadata: CoreMetadata, how: str | None
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "format": self.FORMAT,
            "name": name,
            "version": str(metadata.version),
            "file": file.filename,
            "path": how,
            "requires_dist": [str(r) for r in metadata.requires_dist],
            "requires_python": (
                str(metadata.requires_python) if metadata.requires_python is not None else None
            ),
            "provides_extra": sorted(metadata.provides_extra),
        }
        if how is None:
            del entry["path"]
        return entry


_VERSION_MAGIC = b"aspen-metadata-version\n"


# The requirements of a version entry, by its requirement texts: versions repeat their whole
# list (examples/large reads 1,478 entries of 644 distinct lists, 30,800 requirement texts of
# which 13,300 in a list read before), and the universe follows a list it has seen once per
# extra (Universe._scan_all).
_REQUIRES_DIST: dict[tuple[str, ...], tuple[Requirement, ...]] = {}


def _from_texts(
    name: NormalizedName,
    version: Version,
    texts: Sequence[str],
    python: str | None,
    extras: Iterable[str],
) -> CoreMetadata:
    """The metadata a cache entry stores as texts. Most requirement texts were read before
    (versions repeat their requirements): looked up here, without a call each; versions that
    list the same requirements share one tuple of them (``_REQUIRES_DIST``). Anything but a
    string fails in the lookup or the parse (the caller's miss)."""
    if type(texts) is not tuple:
        texts = tuple(texts)
    requires = _REQUIRES_DIST.get(texts)
    if requires is None:
        known = _REQUIREMENTS.get
        requires = tuple([known(r) or _requirement(r) for r in texts])
        _REQUIRES_DIST[texts] = requires
    return CoreMetadata(
        name=name,
        version=version,
        requires_dist=requires,
        requires_python=_specifier_set(python) if python is not None else None,
        provides_extra=frozenset(extras),
    )


def _digest(file: DistFile) -> str:
    """What identifies a file's contents in cache keys: its sha256, else its first other hash
    by name, else its URL."""
    digest = file.hashes.get("sha256") or next(iter(sorted(file.hashes.items())), ("", ""))[1]
    return digest or file.url


def _entry_json(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, separators=(",", ":")).encode()


# -- fetching ------------------------------------------------------------------------------


def _check_hash(data: bytes, hashes: Mapping[str, str], what: str) -> None:
    checker = _HashCheck(hashes, what)
    checker.update(data)
    checker.check()


class _HashCheck:
    """The first of ``hashes`` that hashlib knows, computed over data given in pieces."""

    def __init__(self, hashes: Mapping[str, str], what: str) -> None:
        import hashlib

        self.what = what
        self.expected: tuple[str, str] | None = None
        self.hash: Any = None
        for algorithm, expected in hashes.items():
            if algorithm in hashlib.algorithms_available:
                self.expected = (algorithm, expected)
                self.hash = hashlib.new(algorithm)
                break

    def update(self, data: bytes) -> None:
        if self.hash is not None:
            self.hash.update(data)

    def check(self) -> None:
        """Raises ``MetadataUnavailable`` when the data does not have the expected hash."""
        if self.expected is not None:
            algorithm, expected = self.expected
            actual = self.hash.hexdigest()
            if actual != expected.lower():
                raise MetadataUnavailable(
                    f"{self.what}: {algorithm} hash mismatch (expected {expected}, got {actual})"
                )


def _content_length(response: Any) -> int:
    try:
        return int(response.headers.get("Content-Length") or 0)
    except ValueError:
        return 0


class _ChunkReader(io.RawIOBase):
    """A file object over the chunks of a streamed download, hashing what it reads; a network
    failure half-way is a ``SourceError``."""

    def __init__(self, chunks: Iterator[bytes], checker: _HashCheck, url: str) -> None:
        super().__init__()
        self._chunks = chunks
        self._checker = checker
        self._url = url
        self._pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def _next(self) -> bytes | None:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            return None
        except Exception as exc:  # requests' errors of a body cut short
            raise SourceError(f"cannot fetch {self._url}: {exc}") from exc
        self._checker.update(chunk)
        return chunk

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = self._next()
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def drain(self) -> None:
        """Read (and hash) what the archive left unread."""
        while self._next() is not None:
            pass


def _save(response: Any, path: Path, file: DistFile) -> Path:
    """Write a streamed response's body to ``path`` (1 MB at a time: an sdist can be several
    hundred MB, pyspark's are) and check it against the file's hash."""
    checker = _HashCheck(file.hashes, file.url)
    try:
        with open(path, "wb") as out:
            for chunk in response.iter_content(1 << 20):
                checker.update(chunk)
                out.write(chunk)
    except OSError as exc:
        raise MetadataUnavailable(f"{file.filename}: cannot save the download: {exc}") from exc
    except Exception as exc:  # the connection failed half-way: the source's fault
        raise SourceError(f"cannot fetch {file.url}: {exc}") from exc
    finally:
        response.close()
    checker.check()
    return path


def _http_error(url: str, status: int) -> ProviderError | SourceError:
    """A server error is the source's fault (``SourceError``); a 4xx is the file's."""
    if status >= 500:
        return SourceError(f"{url}: HTTP {status}")
    return MetadataUnavailable(f"{url}: HTTP {status}")


def _file_order(file: DistFile) -> tuple[bool, bool, bool, int]:
    """Wheels first; among them those with announced metadata; local files before remote; pure
    wheels, then other platforms', then macOS wheels, whose dist-info delocate moves to the
    front of the archive (a second range request after the central directory)."""
    platforms = {tag.platform for tag in file.tags}
    layout = (
        0 if platforms == {"any"} else 2 if any(p.startswith("macosx") for p in platforms) else 1
    )
    return (file.kind != "wheel", file.core_metadata is None, not is_local(file.url), layout)


# Exit codes of the child process that reads a large sdist (``_read_tar_apart``).
_CHILD_UNAVAILABLE = 3
_CHILD_SOURCE = 4
_CHILD_TIMEOUT = 1800.0
_CHILD = "from resolver.metadata import _read_tar_child; _read_tar_child()"
# Block size of tarfile's stream reads (its default, 10 KiB, costs 4.4 s of CPU on pyspark's
# 456 MB sdist against 3.45 s with 64 KiB blocks and 1 MiB copies). Larger blocks cost more
# again: tarfile copies its whole decompressed buffer on every read of a member header.
_TAR_BLOCK = 64 * 1024


def _read_tar_child() -> None:
    """The child process of ``_read_tar_apart``: reads the sdist described on its stdin,
    writes ``1`` and PKG-INFO (or ``0``: none) to stdout; a failure exits with
    ``_CHILD_UNAVAILABLE`` or ``_CHILD_SOURCE`` and its message on stderr."""
    import sys
    from types import SimpleNamespace

    request = json.loads(sys.stdin.buffer.read())
    file = SimpleNamespace(
        url=request["url"], filename=request["filename"], hashes=request["hashes"], size=None
    )
    fetcher = MetadataFetcher(Http(), warn=lambda message: None)
    fetcher._separate = False
    try:
        pkg_info = fetcher._read_tar(file, Path(request["dest"]), extract=request["extract"])  # type: ignore[arg-type]
    except MetadataUnavailable as exc:
        print(exc, file=sys.stderr)
        sys.exit(_CHILD_UNAVAILABLE)
    except SourceError as exc:
        print(exc, file=sys.stderr)
        sys.exit(_CHILD_SOURCE)
    sys.stdout.buffer.write(b"0" if pkg_info is None else b"1" + pkg_info)
    sys.stdout.flush()


class MetadataFetcher:
    """Obtains the core metadata of versions from their files, counting which path each took.

    With ``probe_metadata_files``, a wheel whose index does not announce PEP 658 metadata is
    first asked for ``<url>.metadata`` anyway (some mirrors serve the files without the
    attribute), until one of them is missing: then the index's later wheels are read by byte
    ranges at once. (A mirror that has some of the files answers the others with a 404, which
    took about 110 ms on one, against about 8 ms for a range read.)
    """

    def __init__(
        self,
        http: Http,
        *,
        cache_dir: Path | None = None,
        no_cache: bool = False,
        no_build: bool = False,
        build_settings: BuildSettings | Callable[[], BuildSettings] | None = None,
        probe_metadata_files: bool = True,
        warn: Warn,
    ) -> None:
        self._http = http
        self._cache = MetadataCache(
            None if no_cache or cache_dir is None else cache_dir / "metadata"
        )
        self._no_build = no_build
        # Builds are rare: resolver.build is loaded by the first one (or by the caller).
        self._build_settings = build_settings
        self._warn = warn
        self._stats: Counter[str] = Counter()
        self._lock = threading.Lock()
        # Per index: False once an unannounced ``<url>.metadata`` file was missing.
        self._probe: dict[str, bool] = {}
        self._probe_metadata_files = probe_metadata_files
        # Whether large sdists are read in a child process (``_read_tar_apart``).
        self._separate = True

    def __repr__(self) -> str:
        return f"MetadataFetcher(cache={self._cache!r}, no_build={self._no_build})"

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {path: self._stats[path] for path in METADATA_PATHS}

    @property
    def cache(self) -> MetadataCache:
        return self._cache

    def _count(self, path: str) -> None:
        with self._lock:
            self._stats[path] += 1

    def fetch(
        self, name: NormalizedName, version: Version, files: Sequence[DistFile]
    ) -> CoreMetadata:
        """The metadata of ``name`` ``version`` from the first of ``files`` that yields it.

        Raises ``MetadataUnavailable`` naming the files and what went wrong with each, or the
        ``SourceError`` of an unreachable source (network errors are not a property of the version).
        """
        if not files:
            raise MetadataUnavailable(f"{name} {version}: no wheel or sdist to read metadata from")
        cached = self._cache.load_version(name, version, files)
        if cached is not None:
            self._count("cache")
            return cached
        ordered = sorted(files, key=_file_order)
        found = self._cache.load_any(name, ordered)
        if found is not None:
            file, cached = found
            self._count("cache")
            self._cache.store_version(name, files, file, cached, None)
            return cached
        problems: list[str] = []
        source_error: SourceError | None = None
        for file in ordered:
            started = time.perf_counter()
            try:
                metadata, how = self._fetch_file(name, version, file)
            except MetadataUnavailable as exc:
                problems.append(str(exc))
                continue
            except SourceError as exc:
                source_error = source_error or exc
                problems.append(str(exc))
                continue
            trace(f"meta-{how}", file.filename, started)
            self._count(how)
            self._cache.store(name, file, metadata, how)
            self._cache.store_version(name, files, file, metadata, how)
            return metadata
        if source_error is not None:
            raise source_error
        raise MetadataUnavailable(
            f"cannot get the metadata of {name} {version}:\n  " + "\n  ".join(problems)
        )

    def _parse(self, data: bytes, name: NormalizedName, file: DistFile) -> CoreMetadata:
        return parse_metadata(
            data, name=name, version=file.version, source=file.filename, warn=self._warn
        )

    def _fetch_file(
        self, name: NormalizedName, version: Version, file: DistFile
    ) -> tuple[CoreMetadata, str]:
        try:
            data = self._metadata_file(file)
        except MetadataUnavailable as exc:
            self._warn(f"{exc}; reading the file itself instead")
            data = None
        if data is not None:
            return self._parse(data, name, file), "pep658"
        if file.kind == "wheel":
            if is_local(file.url):
                data = metadata_from_archive(local_path(file.url), file.filename, name)
                return self._parse(data, name, file), "local-wheel"
            data, how = self._remote_wheel(file, name)
            return self._parse(data, name, file), how
        return self._sdist(name, file)

    def _metadata_file(self, file: DistFile) -> bytes | None:
        """The PEP 658 ``<url>.metadata`` file: when announced; on local trees when present; on
        other indexes until one of them is missing."""
        url = f"{file.url}.metadata"
        if is_local(file.url):
            path = local_path(url)
            if not path.is_file():
                return None
            data = path.read_bytes()
        else:
            index = file.index or ""
            announced = file.core_metadata is not None
            if not announced and file.kind != "wheel":
                return None
            if not announced and not self._probe_metadata_files:
                return None
            if not announced and self._probe.get(index) is False:
                return None
            try:
                response = self._http.get(url)
            except OfflineError:
                if announced:
                    raise
                return None
            if not announced:
                if response.status_code != 200:
                    self._probe[index] = False
            if response.status_code != 200:
                if announced:
                    self._warn(f"{url} was announced but answered HTTP {response.status_code}")
                return None
            data = response.content
        _check_hash(data, file.core_metadata or {}, url)
        return data

    def _remote_wheel(self, file: DistFile, name: NormalizedName) -> tuple[bytes, str]:
        """METADATA of a remote wheel by byte ranges, or by a whole download if ranges fail."""
        response = self._http.get(
            file.url, headers={"Range": f"bytes=-{TAIL_SIZE}", **_IDENTITY}, stream=True
        )
        if response.status_code == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if match:
                start, size = int(match.group(1)), int(match.group(3))
                tail = read_body(response)
                if start + len(tail) == size:
                    found = _metadata_from_tail(tail, start, name)
                    if found is not None:
                        return found, "range"
                remote = _RangeFile(self._http, file.url, size, [(start, tail)])
                return metadata_from_archive(remote, file.filename, name), "range"  # type: ignore[arg-type]
        if response.status_code != 200:
            response.close()
            if response.status_code >= 400 and response.status_code != 416:
                raise _http_error(file.url, response.status_code)
            response = self._http.get(file.url, stream=True)
            if response.status_code != 200:
                response.close()
                raise _http_error(file.url, response.status_code)
        from resolver import scratch

        with scratch.folder("wheel-") as tmp:
            path = _save(response, tmp / "download.whl", file)
            return metadata_from_archive(path, file.filename, name), "full-download"

    def _sdist(self, name: NormalizedName, file: DistFile) -> tuple[CoreMetadata, str]:
        from packaging.metadata import parse_email

        from resolver import scratch
        from resolver.build import BuildError, BuildSettings, build_metadata, source_tree

        failed = self._cache.load_failure(name, file)
        if failed is not None:
            raise BuildError(f"{failed} (as in an earlier run; --no-cache tries again)")
        with scratch.folder("sdist-") as tmp:
            source = None
            if file.filename.endswith(".zip"):
                path = self._local_copy(file, tmp)
                try:
                    pkg_info = metadata_from_archive(path, file.filename, name)
                except _NoPkgInfo:
                    pkg_info = None
            else:
                path = tmp / file.filename  # never written: the tar is read as it comes
                unpacked = tmp / "src"
                pkg_info = self._read_tar(file, unpacked, extract=not self._no_build)
                source = None if self._no_build else source_tree(unpacked)
            raw = parse_email(pkg_info)[0] if pkg_info is not None else {}
            if _is_static(raw):
                return (
                    _from_raw(
                        raw, name=name, version=file.version, source=file.filename, warn=self._warn
                    ),
                    "sdist-static",
                )
            if self._no_build:
                raise MetadataUnavailable(
                    f"{file.filename}: its metadata is dynamic and needs a build, "
                    "which --no-build forbids"
                )
            settings = self._build_settings
            if settings is None:
                settings = BuildSettings()
            elif not isinstance(settings, BuildSettings):
                settings = settings()
            started = time.perf_counter()
            try:
                data = build_metadata(path, settings, source=source)
            except BuildError as exc:
                if exc.lasting:
                    self._cache.store_failure(name, file, str(exc))
                raise
            finally:
                trace("build", file.filename, started)
            return self._parse(data, name, file), "build"

    def _read_tar(self, file: DistFile, dest: Path, *, extract: bool) -> bytes | None:
        """Read a .tar.gz sdist once, as it downloads: unpack it into ``dest`` (with
        ``extract``) and return its PKG-INFO (None: it has none). The whole download is checked
        against the file's hash before anything from it is used.

        Writing the archive to disk and reading it twice more (for PKG-INFO, then to unpack)
        took pyspark's 456 MB sdists about 2 s more each, alone on the machine.
        """
        import tarfile

        if is_local(file.url):
            handle = open(local_path(file.url), "rb")  # noqa: SIM115 (closed below)
            chunks: Iterator[bytes] = iter(lambda: handle.read(1 << 20), b"")
            close = handle.close
        else:
            if self._separate and (file.size or 0) >= LARGE_DOWNLOAD:
                return self._read_tar_apart(file, dest, extract=extract)
            response = self._http.get(file.url, stream=True)
            if response.status_code != 200:
                response.close()
                raise _http_error(file.url, response.status_code)
            if self._separate and _content_length(response) >= LARGE_DOWNLOAD:
                response.close()
                return self._read_tar_apart(file, dest, extract=extract)
            chunks, close = response.iter_content(1 << 20), response.close
        checker = _HashCheck(file.hashes, file.url)
        stream = _ChunkReader(chunks, checker, file.url)
        pkg_info = None
        started = time.perf_counter()
        try:
            dest.mkdir()
            with tarfile.open(
                fileobj=io.BufferedReader(stream, 1 << 20), mode="r|*", bufsize=_TAR_BLOCK
            ) as archive:
                archive.copybufsize = 1 << 20
                for member in archive:
                    wanted = pkg_info is None and member.isfile() and _pkg_info_entry([member.name])
                    if extract:
                        archive.extract(member, dest, filter="data")
                        if wanted:
                            pkg_info = (dest / member.name.lstrip("/")).read_bytes()
                    elif wanted:
                        extracted = archive.extractfile(member)
                        pkg_info = extracted.read() if extracted is not None else None
            stream.drain()
        except (OSError, EOFError, zlib.error, tarfile.TarError) as exc:
            raise MetadataUnavailable(f"{file.filename}: cannot read the archive: {exc}") from exc
        finally:
            close()
            trace("tar", file.filename, started)
        checker.check()
        return pkg_info

    def _read_tar_apart(self, file: DistFile, dest: Path, *, extract: bool) -> bytes | None:
        """``_read_tar`` of a large remote sdist in a child process, one at a time: its
        download, hash and unpacking take seconds of CPU in small steps that each need the
        interpreter lock, which the fetch threads hold most of the time (pyspark's 456 MB:
        3.5 s alone, 11-12 s in the thick of large's cold lock)."""
        import os
        import subprocess
        import sys

        from resolver import scratch

        request = json.dumps(
            {
                "url": file.url,
                "filename": file.filename,
                "hashes": dict(file.hashes),
                "dest": str(dest),
                "extract": extract,
            }
        )
        environ = {k: v for k, v in os.environ.items() if k != "ASPEN_TRACE"}
        root = str(Path(__file__).resolve().parent.parent)
        environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, environ.get("PYTHONPATH")]))
        waited = time.perf_counter()
        _LARGE_DOWNLOADS.acquire()
        trace("large-wait", file.filename, waited)
        started = time.perf_counter()
        try:
            done = scratch.run(
                [sys.executable, "-c", _CHILD],
                input=request.encode(),  # not in argv: a URL may carry credentials
                env=environ,
                timeout=_CHILD_TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SourceError(f"cannot fetch {file.url}: {exc}") from exc
        finally:
            _LARGE_DOWNLOADS.release()
            trace("tar-apart", file.filename, started)
        out = done.stdout
        if done.returncode == 0 and out[:1] in (b"0", b"1"):
            return out[1:] if out[:1] == b"1" else None
        message = done.stderr.decode("utf-8", errors="replace").strip()
        if done.returncode == _CHILD_UNAVAILABLE:
            raise MetadataUnavailable(message)
        if done.returncode == _CHILD_SOURCE:
            raise SourceError(message)
        last = message.splitlines()[-1] if message else f"exit code {done.returncode}"
        raise MetadataUnavailable(f"{file.filename}: reading the sdist failed: {last}")

    def _local_copy(self, file: DistFile, directory: Path) -> Path:
        if is_local(file.url):
            return local_path(file.url)
        response = self._http.get(file.url, stream=True)
        if response.status_code != 200:
            response.close()
            raise _http_error(file.url, response.status_code)
        return _save(response, directory / file.filename, file)
