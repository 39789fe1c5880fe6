"""Big index pages parsed in a child process: a cold lock is bound by the interpreter lock,
and the parse of a few pages listing thousands of files each (pydantic-core, ruff, sqlalchemy,
psycopg-binary, greenlet, websockets: 90% of the 22 MB of webapp's pages) took most of the
time the fetch threads held it. In a child, those parses run on another core beside the
resolver, the metadata reads and the small pages' parses.

An index provider has one child, started with its first remote page (its start-up overlaps
that page's round trip) and ended when the provider closes (or by ``scratch.cleanup`` when the
run is interrupted). It turns a response (JSON or HTML) into the page cache's stored tables,
as ``index`` would in the process, and sends them back with the parse's warnings: the process
decodes the tables as it decodes a stored page, and stores them as they are. When the child
cannot start or fails, pages are parsed in the process again, for the rest of the run.
"""

from __future__ import annotations

import json
import marshal
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

# Responses at least this large go to the child. Below it, the round trip through the pipes
# and a wait behind a big page cost more than the parse itself (a 100 KB page parses in about
# 5 ms).
BIG_PAGE = 256 * 1024
_CHILD = "from resolver.page_worker import serve; serve()"
_LENGTH = 8  # bytes of each length prefix
_OK, _SOURCE_ERROR, _FAILED = b"0", b"1", b"2"


class PageWorker:
    """The run's child that parses big pages; ``parse`` answers None when it is not there."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one page at a time through the pipes
        self._starting = threading.Lock()  # never held while a page is parsed
        self._process: subprocess.Popen | None = None
        self._broken = False

    def start(self) -> None:
        """Start the child, if it is not running yet (it imports while the first page comes).
        Never waits for a page being parsed: every remote page asks this before its request
        (waiting here held each page's request back behind the big pages' parses)."""
        if self._process is None and not self._broken:
            self._started()

    def _started(self) -> subprocess.Popen | None:
        with self._starting:
            if self._process is None and not self._broken:
                from resolver import scratch

                environ = dict(os.environ)
                root = str(Path(__file__).resolve().parent.parent)
                environ["PYTHONPATH"] = os.pathsep.join(
                    filter(None, [root, environ.get("PYTHONPATH")])
                )
                environ.pop("ASPEN_TRACE", None)
                try:
                    self._process = scratch.start(
                        [sys.executable, "-c", _CHILD],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL,
                        env=environ,
                    )
                except (OSError, RuntimeError):  # cannot start, or the run is ending
                    self._broken = True
            return self._process

    def parse(
        self, request: dict[str, Any], body: bytes
    ) -> tuple[bool, bytes | str, list[tuple[bool, str]]] | None:
        """``(True, stored tables, warnings)`` of a response, ``(False, message, [])`` when the
        response does not parse (``index.SourceError``), or None when the child is not there
        (the caller parses the page itself). ``request``: the ``index._response_tables``
        arguments but the body and the warning callback. Warnings are (is a page note, text)."""
        with self._lock:
            process = self._started()
            if process is None:
                return None
            try:
                assert process.stdin is not None and process.stdout is not None
                _send(process.stdin, json.dumps(request).encode(), body)
                status = process.stdout.read(1)
                payload = _receive(process.stdout)
            except (OSError, ValueError):  # the child died, or its pipes are closed
                payload = None
            if payload is None or status not in (_OK, _SOURCE_ERROR):
                self._give_up(process)
                return None
        if status == _SOURCE_ERROR:
            return False, payload.decode("utf-8", errors="replace"), []
        tables, warnings = marshal.loads(payload)
        return True, tables, [(bool(note), str(text)) for note, text in warnings]

    def _give_up(self, process: subprocess.Popen) -> None:
        from resolver import scratch

        with self._starting:
            self._broken = True
            self._process = None
        scratch.stop(process)

    def close(self) -> None:
        """End the child (no page is parsed by it after this)."""
        with self._lock, self._starting:
            process, self._process = self._process, None
            self._broken = True
        if process is not None:
            from resolver import scratch

            scratch.stop(process)


def _send(stream: IO[bytes], *parts: bytes) -> None:
    for part in parts:
        stream.write(len(part).to_bytes(_LENGTH, "big"))
        stream.write(part)
    stream.flush()


def _receive(stream: IO[bytes]) -> bytes | None:
    """One length-prefixed part; None at the end of the stream."""
    head = stream.read(_LENGTH)
    if len(head) < _LENGTH:
        return None
    size = int.from_bytes(head, "big")
    data = stream.read(size)
    return data if len(data) == size else None


def serve() -> None:
    """The child: parse each request from stdin until it closes, answering on stdout with a
    status byte and a length-prefixed payload (the stored tables and warnings, marshalled;
    or a message)."""
    from resolver.errors import SourceError
    from resolver.index import PageNote, _response_tables
    from resolver.parsed_cache import _encoded, collection_paused

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = _receive(stdin)
        body = _receive(stdin) if header is not None else None
        if header is None or body is None:
            return
        request = json.loads(header)
        warnings: list[tuple[bool, str]] = []

        def record(message: str, warnings: list[tuple[bool, str]] = warnings) -> None:
            warnings.append((isinstance(message, PageNote), str(message)))

        try:
            with collection_paused():
                tables = _response_tables(
                    body,
                    request["content_type"],
                    request["page_url"],
                    warn=record,
                    index=request["index"],
                    project=request["project"],
                )
                answer = _OK, marshal.dumps((_encoded(tables), warnings))
        except SourceError as exc:
            answer = _SOURCE_ERROR, str(exc).encode()
        except Exception as exc:  # noqa: BLE001 (told to the process, which parses it itself)
            answer = _FAILED, repr(exc).encode()
        stdout.write(answer[0])
        _send(stdout, answer[1])
