"""Hermetic package indexes for tests: real wheels and sdists, PEP 503/691 pages, an HTTP server.

Typical use::

    idx = Index(tmp_path / "index")
    idx.add("foo", "1.0", requires=["bar>=2"], extras={"fast": ['baz; os_name == "posix"']})
    idx.add("bar", "2.0", requires_python=">=3.9", sdist=True)
    simple = idx.write()                 # file:// tree; idx.simple_url points at it
    with idx.serve(json=False) as served:
        fetch(served.url)                # "http://127.0.0.1:PORT/simple/"
        assert all(m != "GET" or r for m, p, r in served.requests if p.endswith(".whl"))

Layout under ``root``: ``files/`` holds every wheel, sdist and ``.metadata`` file; ``simple/``
holds ``index.html``/``index.json`` for the project list and ``{normalized-name}/`` for each
project. Links are relative (``../../files/...``), so the same tree works over ``file://`` and HTTP.
Everything is deterministic: the same calls give byte-identical files.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import io
import json as jsonlib
import re
import shutil
import tarfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from packaging.requirements import Requirement
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

DEFAULT_UPLOAD_TIME = "2024-01-01T00:00:00.000000Z"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"
_ZIP_DATE = (2020, 1, 1, 0, 0, 0)
_TAR_MTIME = 1577836800  # 2020-01-01T00:00:00Z
_BACKEND = "aspen_test_backend"


@dataclass
class _File:
    filename: str
    content: bytes
    version: str | None
    requires_python: str | None = None
    yanked: str | None = None
    upload_time: str = DEFAULT_UPLOAD_TIME
    metadata: bytes | None = None  # PEP 658 file content, written as "{filename}.metadata"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


# ---------------------------------------------------------------------------------------------
# Core metadata, wheels and sdists


def dist_name(name: str) -> str:
    """The escaped name used in wheel and sdist filenames: ``Foo.Bar`` -> ``foo_bar``."""
    return canonicalize_name(name).replace("-", "_")


def with_extra(requirement: str, extra: str) -> str:
    """Put ``requirement`` under ``extra``: ``dep; m`` -> ``dep; (m) and extra == "x"``."""
    req = Requirement(requirement)
    condition = f'extra == "{extra}"'
    if req.marker is None:
        return f"{requirement.strip()}; {condition}"
    marker, req.marker = req.marker, None
    separator = " ; " if req.url else "; "  # PEP 508: a URL must be followed by whitespace
    return f"{req}{separator}({marker}) and {condition}"


def core_metadata(
    name: str,
    version: str,
    *,
    metadata_version: str = "2.3",
    requires: Iterable[str] = (),
    requires_python: str | None = None,
    extras: Mapping[str, Iterable[str]] | None = None,
    dynamic: Iterable[str] = (),
) -> str:
    """METADATA / PKG-INFO text; ``extras`` give Provides-Extra and extra-marked Requires-Dist."""
    lines = [f"Metadata-Version: {metadata_version}", f"Name: {name}", f"Version: {version}"]
    lines += [f"Dynamic: {item}" for item in dynamic]
    if requires_python is not None:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Provides-Extra: {extra}" for extra in extras or {}]
    lines += [f"Requires-Dist: {req}" for req in requires]
    for extra, reqs in (extras or {}).items():
        lines += [f"Requires-Dist: {with_extra(req, extra)}" for req in reqs]
    return "\n".join(lines) + "\n"


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _zip(entries: Mapping[str, bytes], stored: Iterable[str] = ()) -> bytes:
    """A deterministic zip: fixed timestamps and permissions, entries in the given order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in entries.items():
            info = zipfile.ZipInfo(path, _ZIP_DATE)
            info.create_system = 3  # unix, whatever the host
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_STORED if path in stored else zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def _tar_gz(entries: Mapping[str, bytes]) -> bytes:
    """A deterministic .tar.gz: fixed mtime, root ownership, no name or time in the gzip header."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0) as compressed:
        with tarfile.open(fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for path, data in entries.items():
                info = tarfile.TarInfo(path)
                info.size, info.mtime, info.mode = len(data), _TAR_MTIME, 0o644
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def build_wheel(
    name: str, version: str, tag: str, metadata: str, *, padding: int = 0
) -> tuple[str, bytes]:
    """A real, installable wheel for ``tag`` (may be compressed, e.g. ``py2.py3-none-any``).

    Contents: ``{dist}/__init__.py`` with ``VERSION = "..."``, optionally ``{dist}/_payload.bin``
    of ``padding`` stored (uncompressed) bytes, and ``{dist}-{version}.dist-info/`` with METADATA,
    WHEEL and RECORD. Returns ``(filename, content)``.
    """
    dist, tags = dist_name(name), sorted(str(t) for t in parse_tag(tag))
    purelib = all(t.endswith("-any") for t in tags)
    dist_info = f"{dist}-{version}.dist-info"
    wheel_text = "".join(
        ["Wheel-Version: 1.0\nGenerator: aspen-indexbuilder\n"]
        + [f"Root-Is-Purelib: {str(purelib).lower()}\n"]
        + [f"Tag: {t}\n" for t in tags]
    )
    entries = {f"{dist}/__init__.py": f'VERSION = "{version}"\n'.encode()}
    payload = f"{dist}/_payload.bin"
    if padding:
        entries[payload] = (bytes(range(256)) * (padding // 256 + 1))[:padding]
    entries[f"{dist_info}/METADATA"] = metadata.encode()
    entries[f"{dist_info}/WHEEL"] = wheel_text.encode()
    record = [f"{path},sha256={_record_hash(data)},{len(data)}" for path, data in entries.items()]
    entries[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,", ""]).encode()
    return f"{dist}-{version}-{tag}.whl", _zip(entries, stored={payload})


def make_sdist(path: Path, files: Mapping[str, str]) -> Path:
    """Write ``path`` (``NAME-VERSION.tar.gz``) holding these files (name -> text) under its
    top folder ``NAME-VERSION/``; the sdist of a hand-made source tree."""
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{path.name.removesuffix('.tar.gz')}/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def build_sdist(
    name: str,
    version: str,
    *,
    metadata: str,
    pkg_info: str,
    broken: bool = False,
) -> tuple[str, bytes]:
    """A PEP 625 sdist built by an in-tree, stdlib-only PEP 517 backend (``aspen_test_backend``).

    ``pkg_info`` is what the sdist claims (static or with ``Dynamic:`` fields); ``metadata`` is
    what the backend writes when asked to build, i.e. the truth. ``broken`` makes every hook raise.
    """
    dist = dist_name(name)
    stem = f"{dist}-{version}"
    module = f'VERSION = "{version}"\n'
    pyproject = (
        f'[build-system]\nrequires = []\nbuild-backend = "{_BACKEND}"\nbackend-path = ["."]\n'
    )
    sources = ["PKG-INFO", "pyproject.toml", f"{_BACKEND}.py", f"{dist}/__init__.py"]
    constants = {
        "NAME": name,
        "VERSION": version,
        "DIST": dist,
        "METADATA": metadata,
        "MODULE": module,
        "BROKEN": broken,
        "SOURCES": sources,
    }
    backend = (
        f'"""PEP 517 backend for {name} {version}, generated by aspen tests/indexbuilder.py."""\n\n'
        + "".join(f"{key} = {value!r}\n" for key, value in constants.items())
        + _BACKEND_BODY
    )
    contents = [pkg_info, pyproject, backend, module]
    entries = {f"{stem}/{p}": text.encode() for p, text in zip(sources, contents, strict=True)}
    return f"{stem}.tar.gz", _tar_gz(entries)


_BACKEND_BODY = """
import base64
import hashlib
import os
import tarfile
import zipfile

DIST_INFO = DIST + "-" + VERSION + ".dist-info"
WHEEL = (
    "Wheel-Version: 1.0\\nGenerator: aspen_test_backend\\n"
    "Root-Is-Purelib: true\\nTag: py3-none-any\\n"
)


def _check():
    if BROKEN:
        raise RuntimeError("aspen_test_backend: %s %s is deliberately broken" % (NAME, VERSION))


def get_requires_for_build_wheel(config_settings=None):
    _check()
    return []


def get_requires_for_build_sdist(config_settings=None):
    _check()
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _check()
    target = os.path.join(metadata_directory, DIST_INFO)
    os.makedirs(target, exist_ok=True)
    for name, text in (("METADATA", METADATA), ("WHEEL", WHEEL)):
        with open(os.path.join(target, name), "w", encoding="utf-8") as f:
            f.write(text)
    return DIST_INFO


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _check()
    entries = {
        DIST + "/__init__.py": MODULE.encode(),
        DIST_INFO + "/METADATA": METADATA.encode(),
        DIST_INFO + "/WHEEL": WHEEL.encode(),
    }
    record = []
    for path, data in entries.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (path, digest, len(data)))
    record.append(DIST_INFO + "/RECORD,,")
    entries[DIST_INFO + "/RECORD"] = ("\\n".join(record) + "\\n").encode()
    filename = DIST + "-" + VERSION + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as archive:
        for path, data in entries.items():
            archive.writestr(zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0)), data)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    _check()
    stem = DIST + "-" + VERSION
    with tarfile.open(os.path.join(sdist_directory, stem + ".tar.gz"), "w:gz") as archive:
        for path in SOURCES:
            archive.add(path, arcname=stem + "/" + path)
    return stem + ".tar.gz"
"""


# ---------------------------------------------------------------------------------------------
# The index


class Index:
    """An in-memory set of projects and files, written out as a PEP 503/691 tree on demand."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._projects: dict[str, list[_File]] = {}

    @property
    def simple_dir(self) -> Path:
        return self.root / "simple"

    @property
    def files_dir(self) -> Path:
        return self.root / "files"

    @property
    def simple_url(self) -> str:
        """``file://.../simple/`` (call :meth:`write` first)."""
        return self.simple_dir.resolve().as_uri() + "/"

    def filenames(self, name: str) -> list[str]:
        """Filenames of a project in the order they were added."""
        return [f.filename for f in self._projects.get(canonicalize_name(name), [])]

    def add(
        self,
        name: str,
        version: str,
        *,
        requires: Iterable[str] = (),
        requires_python: str | None = None,
        extras: dict[str, list[str]] | None = None,
        wheel_tags: Iterable[str] = ("py3-none-any",),
        sdist: bool = False,
        wheel: bool = True,
        yanked: str | None = None,
        upload_time: str | None = None,
        sdist_dynamic: bool = False,
        sdist_broken: bool = False,
        metadata_version: str = "2.3",
        sdist_metadata_version: str | None = None,
        wheel_padding: int = 0,
    ) -> None:
        """Add one release: a wheel per tag in ``wheel_tags`` (if ``wheel``) and maybe an sdist.

        - ``requires``: PEP 508 strings, written verbatim as Requires-Dist.
        - ``extras``: extra -> requirements, written as Provides-Extra plus extra-marked
          Requires-Dist (an existing marker ``m`` becomes ``(m) and extra == "x"``).
        - ``version`` is normalized (``1.0-rc1`` -> ``1.0rc1``) everywhere; for invalid or legacy
          versions use :meth:`add_raw_file`.
        - ``sdist``: also ``{dist}-{version}.tar.gz`` with PKG-INFO (``sdist_metadata_version``,
          default ``max(metadata_version, "2.2")``), a pyproject.toml and an in-tree backend.
          ``sdist_dynamic``: PKG-INFO says ``Dynamic: Requires-Dist`` and ``Dynamic:
          Requires-Python`` and omits both fields, so only a build tells the truth.
          ``sdist_broken``: every backend hook raises.
        - ``yanked``: None, or a PEP 592 reason ("" = yanked without reason).
        - ``upload_time``: PEP 700 upload-time, default :data:`DEFAULT_UPLOAD_TIME`.
        - ``wheel_padding``: add that many incompressible bytes to each wheel (``_payload.bin``,
          stored), to make whole-wheel downloads visible in tests of range requests.
        """
        version, requires, extras = str(Version(version)), list(requires), extras or {}
        metadata = core_metadata(
            name,
            version,
            metadata_version=metadata_version,
            requires=requires,
            requires_python=requires_python,
            extras=extras,
        )
        common = {
            "version": version,
            "requires_python": requires_python,
            "yanked": yanked,
            "upload_time": upload_time or DEFAULT_UPLOAD_TIME,
        }
        files: list[_File] = []
        for tag in wheel_tags if wheel else ():
            filename, content = build_wheel(name, version, tag, metadata, padding=wheel_padding)
            files.append(_File(filename, content, metadata=metadata.encode(), **common))
        if sdist:
            if sdist_metadata_version is None:
                sdist_metadata_version = max(metadata_version, "2.2", key=Version)
            dynamic = ("Requires-Dist", "Requires-Python") if sdist_dynamic else ()
            pkg_info = core_metadata(
                name,
                version,
                metadata_version=sdist_metadata_version,
                requires=() if sdist_dynamic else requires,
                requires_python=None if sdist_dynamic else requires_python,
                extras={e: [] for e in extras} if sdist_dynamic else extras,
                dynamic=dynamic,
            )
            filename, content = build_sdist(
                name, version, metadata=metadata, pkg_info=pkg_info, broken=sdist_broken
            )
            files.append(_File(filename, content, **common))
        for file in files:
            self._add_file(name, file)

    def add_raw_file(
        self,
        name: str,
        filename: str,
        content: bytes,
        *,
        requires_python: str | None = None,
        yanked: str | None = None,
        upload_time: str | None = None,
        metadata: bytes | None = None,
    ) -> None:
        """Add an arbitrary file to project ``name`` (e.g. ``foo-latest.tar.gz``, legacy versions).

        ``metadata``, if given, is published as the file's PEP 658 ``.metadata`` file (it need
        not match ``content``). The version in ``versions`` of the JSON page is taken from the
        filename when it parses as a wheel or sdist filename.
        """
        self._add_file(
            name,
            _File(
                filename,
                content,
                version=_version_from_filename(filename),
                requires_python=requires_python,
                yanked=yanked,
                upload_time=upload_time or DEFAULT_UPLOAD_TIME,
                metadata=metadata,
            ),
        )

    def _add_file(self, name: str, file: _File) -> None:
        files = self._projects.setdefault(canonicalize_name(name), [])
        if any(f.filename == file.filename for f in files):
            raise ValueError(f"{file.filename} was already added")
        files.append(file)

    # -- writing ---------------------------------------------------------------------------

    def write(
        self,
        *,
        html: bool = True,
        json: bool = True,
        metadata_files: bool = True,
        core_metadata_attr: bool = True,
    ) -> Path:
        """Write ``root/files`` and ``root/simple`` (replacing old output); return the simple dir.

        ``html``/``json`` choose the page formats; ``metadata_files`` writes PEP 658
        ``.metadata`` files; ``core_metadata_attr`` advertises them (PEP 714 ``data-core-metadata``
        and ``data-dist-info-metadata`` / JSON ``core-metadata`` and ``dist-info-metadata``).
        With ``metadata_files=True, core_metadata_attr=False`` the files exist but are not
        announced, as on some mirrors.
        """
        for directory in (self.simple_dir, self.files_dir):
            shutil.rmtree(directory, ignore_errors=True)
        self.files_dir.mkdir(parents=True)
        advertise = metadata_files and core_metadata_attr
        for project, files in self._projects.items():
            for file in files:
                (self.files_dir / file.filename).write_bytes(file.content)
                if metadata_files and file.metadata is not None:
                    (self.files_dir / f"{file.filename}.metadata").write_bytes(file.metadata)
            page_dir = self.simple_dir / project
            page_dir.mkdir(parents=True)
            if html:
                (page_dir / "index.html").write_text(_project_html(project, files, advertise))
            if json:
                (page_dir / "index.json").write_text(_project_json(project, files, advertise))
        projects = sorted(self._projects)
        self.simple_dir.mkdir(parents=True, exist_ok=True)
        if html:
            (self.simple_dir / "index.html").write_text(_root_html(projects))
        if json:
            (self.simple_dir / "index.json").write_text(_dump_json(_root_json(projects)))
        return self.simple_dir

    def write_find_links(self, dir: Path | None = None) -> Path:
        """Copy all wheels, sdists and raw files into one flat folder (default root/find-links)."""
        target = Path(dir) if dir is not None else self.root / "find-links"
        target.mkdir(parents=True, exist_ok=True)
        for files in self._projects.values():
            for file in files:
                (target / file.filename).write_bytes(file.content)
        return target

    # -- serving ---------------------------------------------------------------------------

    @contextmanager
    def serve(
        self,
        *,
        json: bool = True,
        html: bool = True,
        metadata_files: bool = True,
        core_metadata_attr: bool = True,
        ranges: bool = True,
        fail_paths: Iterable[str] = (),
        delay: float = 0.0,
    ) -> Iterator[Served]:
        """Write the tree (same flags as :meth:`write`) and serve ``root`` over HTTP on 127.0.0.1.

        Yields a :class:`Served` (``.url`` is ``http://127.0.0.1:PORT/simple/``, ``.requests``
        the log). ``ranges``: answer single ``Range: bytes=...`` requests with 206; when False,
        ignore Range and never send ``Accept-Ranges``. ``fail_paths``: URL paths (as requested,
        e.g. ``/simple/foo/``) answered with 500. ``delay``: seconds to sleep per request.
        ``served.fail_paths`` and ``served.delay`` may be changed while serving.
        """
        self.write(
            html=html, json=json, metadata_files=metadata_files,
            core_metadata_attr=core_metadata_attr,
        )  # fmt: skip
        server = _Server(("127.0.0.1", 0), _Handler)
        origin = f"http://127.0.0.1:{server.server_address[1]}"
        server.served = Served(
            url=f"{origin}/simple/",
            origin=origin,
            root=self.root.resolve(),
            ranges=ranges,
            fail_paths=set(fail_paths),
            delay=delay,
        )
        with running(server):
            yield server.served


@contextmanager
def running(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    """Serve in a thread until the block ends, then stop and close the server."""
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def answer(handler: BaseHTTPRequestHandler, body: bytes, *headers: tuple[str, str]) -> None:
    """A 200 response with this body (and these headers), from a handler's ``do_GET``."""
    handler.send_response(200)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def _version_from_filename(filename: str) -> str | None:
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except ValueError:  # InvalidWheelFilename, InvalidSdistFilename, InvalidVersion
        return None


# ---------------------------------------------------------------------------------------------
# Pages


def _file_url(file: _File) -> str:
    return f"../../files/{quote(file.filename)}"


def _project_html(project: str, files: list[_File], advertise: bool) -> str:
    anchors = []
    for file in files:
        attrs = {"href": f"{_file_url(file)}#sha256={file.sha256}"}
        if file.requires_python is not None:
            attrs["data-requires-python"] = file.requires_python
        if file.yanked is not None:
            attrs["data-yanked"] = file.yanked
        if advertise and file.metadata is not None:
            digest = f"sha256={hashlib.sha256(file.metadata).hexdigest()}"
            attrs["data-core-metadata"] = attrs["data-dist-info-metadata"] = digest
        rendered = " ".join(f'{key}="{html.escape(value)}"' for key, value in attrs.items())
        anchors.append(f"    <a {rendered}>{html.escape(file.filename)}</a><br>\n")
    return _html_page(f"Links for {project}", "".join(anchors))


def _root_html(projects: list[str]) -> str:
    anchors = "".join(f'    <a href="{quote(p)}/">{html.escape(p)}</a><br>\n' for p in projects)
    return _html_page("Simple index", anchors)


def _html_page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.1">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        f"    <h1>{html.escape(title)}</h1>\n{body}  </body>\n</html>\n"
    )


def _project_json(project: str, files: list[_File], advertise: bool) -> str:
    entries = []
    for file in files:
        entry: dict[str, object] = {
            "filename": file.filename,
            "url": _file_url(file),
            "hashes": {"sha256": file.sha256},
        }
        if file.requires_python is not None:
            entry["requires-python"] = file.requires_python
        entry["yanked"] = False if file.yanked is None else (file.yanked or True)
        entry["size"] = len(file.content)
        entry["upload-time"] = file.upload_time
        metadata: object = False
        if advertise and file.metadata is not None:
            metadata = {"sha256": hashlib.sha256(file.metadata).hexdigest()}
        entry["core-metadata"] = entry["dist-info-metadata"] = metadata
        entries.append(entry)
    versions = sorted({f.version for f in files if f.version is not None}, key=Version)
    page = {"meta": {"api-version": "1.1"}, "name": project, "versions": versions, "files": entries}
    return _dump_json(page)


def _root_json(projects: list[str]) -> dict[str, object]:
    return {"meta": {"api-version": "1.1"}, "projects": [{"name": p} for p in projects]}


def _dump_json(data: object) -> str:
    return jsonlib.dumps(data, indent=2) + "\n"


# ---------------------------------------------------------------------------------------------
# HTTP


@dataclass
class Served:
    """A running test server. ``requests`` logs ``(method, raw path, Range header or None)``."""

    url: str  # http://127.0.0.1:PORT/simple/
    origin: str  # http://127.0.0.1:PORT
    root: Path
    ranges: bool = True
    fail_paths: set[str] = field(default_factory=set)
    delay: float = 0.0
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    def paths(self) -> list[str]:
        """The raw paths asked so far, in order."""
        return [path for _method, path, _range in self.requests]

    def wait_until(self, condition: Callable[[], bool], timeout: float = 20) -> None:
        """Wait for work that runs in the background (fetches ahead); fail with the requests
        served so far when ``condition`` does not hold within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, self.requests
            time.sleep(0.01)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    served: Served


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_ACCEPT_ALIASES = {
    "application/vnd.pypi.simple.latest+json": JSON_TYPE,
    "application/vnd.pypi.simple.latest+html": HTML_TYPE,
}


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Inclusive ``(first, last)`` for one byte range, or None to send everything (unsupported
    or invalid ranges are ignored, as RFC 9110 allows). Raises ValueError if unsatisfiable."""
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:  # suffix: the final N bytes
        if int(last) == 0 or size == 0:
            raise ValueError("unsatisfiable range")
        return max(size - int(last), 0), size - 1
    if last and int(last) < int(first):
        return None
    if int(first) >= size:
        raise ValueError("unsatisfiable range")
    return int(first), min(int(last), size - 1) if last else size - 1


def negotiate(accept: str | None, available: list[str]) -> str | None:
    """Pick the content type from ``available`` (in server preference order) with the highest
    q-value in ``accept``; earlier header entries win ties. None means 406."""
    best, best_q = None, 0.0
    for part in (accept or "*/*").split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        media = _ACCEPT_ALIASES.get(media.lower(), media.lower())
        q = 1.0
        for param in params:
            if param.replace(" ", "").startswith("q="):
                try:
                    q = float(param.split("=", 1)[1])
                except ValueError:
                    q = 0.0
        for candidate in available:
            if media in (candidate, "*/*") and q > best_q:
                best, best_q = candidate, q
    return best


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 30

    def do_GET(self) -> None:
        self._respond(head=False)

    def do_HEAD(self) -> None:
        self._respond(head=True)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _respond(self, *, head: bool) -> None:
        served = self.server.served
        range_header = self.headers.get("Range")
        served.requests.append((self.command, self.path, range_header))
        if served.delay:
            time.sleep(served.delay)
        path = urlsplit(self.path).path
        if path in served.fail_paths:
            return self._send(500, b"injected failure\n", {"Content-Type": "text/plain"}, head)
        target = (served.root / unquote(path).lstrip("/")).resolve()
        if not target.is_relative_to(served.root) or not target.exists():
            return self._send(404, b"not found\n", {"Content-Type": "text/plain"}, head)
        headers = {}
        if target.is_dir():
            if not path.endswith("/"):
                return self._send(301, b"", {"Location": path + "/"}, head)
            available = [t for t, f in _PAGE_FILES.items() if (target / f).is_file()]
            content_type = negotiate(self.headers.get("Accept"), available)
            if content_type is None:
                return self._send(406, b"not acceptable\n", {"Content-Type": "text/plain"}, head)
            target = target / _PAGE_FILES[content_type]
            headers["Vary"] = "Accept"
        else:
            content_type = _CONTENT_TYPES.get(target.suffix, "application/octet-stream")
        charset = "; charset=utf-8" if content_type in ("text/html", HTML_TYPE) else ""
        headers["Content-Type"] = content_type + charset
        self._send_body(target.read_bytes(), headers, head, range_header)

    def _send_body(
        self, body: bytes, headers: dict[str, str], head: bool, range_header: str | None
    ) -> None:
        if not self.server.served.ranges or range_header is None:
            if self.server.served.ranges:
                headers["Accept-Ranges"] = "bytes"
            return self._send(200, body, headers, head)
        headers["Accept-Ranges"] = "bytes"
        try:
            span = parse_range(range_header, len(body))
        except ValueError:
            headers["Content-Range"] = f"bytes */{len(body)}"
            return self._send(416, b"", headers, head)
        if span is None:
            return self._send(200, body, headers, head)
        first, last = span
        headers["Content-Range"] = f"bytes {first}-{last}/{len(body)}"
        self._send(206, body[first : last + 1], headers, head)

    def _send(self, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


_PAGE_FILES = {"text/html": "index.html", HTML_TYPE: "index.html", JSON_TYPE: "index.json"}
_CONTENT_TYPES = {".html": "text/html", ".json": JSON_TYPE}
