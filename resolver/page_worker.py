"""Big index pages parsed in child processes: a cold lock is bound by the interpreter lock,
and the parse of a few pages listing thousands of files each (pydantic-core, ruff, sqlalchemy,
psycopg-binary, greenlet, websockets: 90% of the 22 MB of webapp's pages) took most of the
time the fetch threads held it. In children, those parses run on other cores beside the
resolver, the metadata reads and the small pages' parses.

An index provider has a ``PageWorker`` of up to ``CHILDREN`` children, one started for each big
page announced by its headers (while its body comes: a project whose pages are all small, as in
most tests, starts none), and ended when the provider closes (or by ``scratch.cleanup`` when the
run is interrupted). A child turns a response (JSON or HTML) into the page cache's stored
tables, as ``index`` would in the process, and sends them back with the parse's warnings: the
process decodes the tables as it decodes a stored page, and stores them as they are. A big page
that finds every child busy (or gone: a child that cannot start or fails is not asked again) is
parsed in the process.
"""

from __future__ import annotations

import json
import marshal
import subprocess
import sys
import threading
from typing import IO, Any

# Responses at least this large go to a child. Below it, the round trip through the pipes
# costs more than the parse itself (a 100 KB page parses in about 5 ms).
BIG_PAGE = 256 * 1024
# One child left the big pages queued behind each other (webapp's uvloop, 284 KB, waited
# 0.8 s behind pydantic-core's 6.9 MB while the process was idle); two, and the process
# itself when both are busy, keep them moving on a machine of two cores.
CHILDREN = 2
_CHILD = "from resolver.page_worker import serve; serve()"
_LENGTH = 8  # bytes of each length prefix
_OK, _SOURCE_ERROR, _FAILED = b"0", b"1", b"2"

Parsed = tuple[bool, "bytes | str", list[tuple[bool, str]]]


class PageWorker:
    """The children that parse big pages; ``parse`` answers None when none is free."""

    def __init__(self, children: int = CHILDREN) -> None:
        self._children = [_Child() for _ in range(children)]
        self._wanted = 0  # the children started so far, or being started
        self._lock = threading.Lock()

    def announce(self) -> None:
        """A big page is on its way (its headers gave its size): start a child for it while its
        body comes, if fewer children are started than big pages announced. A 2.8 MB page
        (sqlalchemy's) takes about 0.3 s to come, and a child 0.13 s to start; parsed in the
        process instead, beside the fetch threads, it took 0.49 s of webapp's cold lock, on
        the resolver's critical path. A project with one big page (examples/tiny) starts one
        child."""
        with self._lock:
            self._wanted = min(self._wanted + 1, len(self._children))
            wanted = self._children[: self._wanted]
        for child in wanted:
            child.started()

    def parse(self, request: dict[str, Any], body: bytes) -> Parsed | None:
        """``(True, stored tables, warnings)`` of a response, ``(False, message, [])`` when the
        response does not parse (``index.SourceError``), or None when no child is free or
        there (the caller parses the page itself). A big page that was not announced (its
        size unknown until its body was read) when no child is started yet starts one, and is
        parsed by the caller while it starts. ``request``: the ``index._response_tables``
        arguments but the body and the warning callback. Warnings are (is a page note, text)."""
        if not self._wanted:
            self.announce()
            return None
        for child in self._children:
            if child.lock.acquire(blocking=False):
                try:
                    if child.process is not None:
                        return child.parse(request, body)
                finally:
                    child.lock.release()
        return None

    def close(self) -> None:
        """End the children (no page is parsed by them after this)."""
        for child in self._children:
            child.close()


class _Child:
    """One child process and the pipes to it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one page at a time through the pipes
        self._starting = threading.Lock()  # never held while a page is parsed
        self.process: subprocess.Popen | None = None
        self.broken = False

    def started(self) -> subprocess.Popen | None:
        """The child, started if it is not yet; None when it cannot be (or failed)."""
        with self._starting:
            if self.process is None and not self.broken:
                from resolver import scratch

                try:
                    self.process = scratch.start_python(
                        _CHILD,
                        stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.DEVNULL,
                    )
                except (OSError, RuntimeError):  # cannot start, or the run is ending
                    self.broken = True
            return self.process

    def parse(self, request: dict[str, Any], body: bytes) -> Parsed | None:
        """``PageWorker.parse`` through this child (its lock held by the caller)."""
        process = self.process
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
            self.broken = True
            self.process = None
        scratch.stop(process)

    def close(self) -> None:
        with self.lock, self._starting:
            process, self.process = self.process, None
            self.broken = True
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
