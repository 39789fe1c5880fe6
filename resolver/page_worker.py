"""Parsing large index pages in a worker process.

Reading a fetched page into the page cache's tables costs about 25 µs of Python per file
(examples/large's cold lock reads 478 pages, 124 MB, about 8 s), all of it under the GIL that
the resolver and the fetch threads share. Large pages are parsed by one worker process instead,
on the other core; this process only loads the tables it gets back, as it loads a stored page
(about 1 µs per file). Small pages are parsed here: sending them costs more than it saves.

The worker is a fresh interpreter started by the first large page, talking over its stdin and
stdout (length-prefixed ``marshal`` records); it ends when its stdin closes, so it never
outlives this process. Where it cannot start or dies, pages are parsed here as before.
"""

from __future__ import annotations

import marshal
import sys
import threading
from typing import IO, Any

from resolver.errors import SourceError
from resolver.parsed_cache import PageTables, collection_paused

# Pages of at least this many bytes go to the worker (one file is about 400 bytes of a page).
WORKER_FROM = 256 * 1024

# Pages parsed here go one at a time, in the order their responses arrive: the GIL lets only
# one run anyway, and side by side a small page waited for the big ones (fastapi's 742 files
# took 0.7 s beside sqlalchemy's and ruff's thousands at the start of webapp's cold lock).
_here = threading.Lock()
# One page at a time in the worker too.
_lock = threading.Lock()
_worker: Any = None  # the worker's Popen; False once it could not start or died


def parse_page(
    body: bytes, content_type: str, url: str, *, index: str | None, project: str | None
) -> tuple[PageTables, list[str]]:
    """A page's tables (see ``index._page_tables``) and the notes on its listing.
    Raises ``SourceError`` for a page that does not parse."""
    if len(body) >= WORKER_FROM:
        answer = _in_worker((body, content_type, url, index, project))
        if answer is not None:
            ok, encoded, notes = answer
            if not ok:
                raise SourceError(encoded)
            return marshal.loads(encoded), notes
    with _here, collection_paused():
        encoded, notes = _parse(body, content_type, url, index, project)
        return marshal.loads(encoded), notes


def _in_worker(request: tuple[Any, ...]) -> tuple[bool, Any, list[str]] | None:
    """The worker's answer, or None when there is no worker (the page is parsed here)."""
    global _worker
    with _lock:
        if _worker is None:
            _worker = _start()
        if not _worker:
            return None
        try:
            _send(_worker.stdin, marshal.dumps(request))
            return marshal.loads(_receive(_worker.stdout))  # type: ignore[no-any-return]
        except (OSError, EOFError, ValueError):
            _worker.kill()
            _worker = False
            return None


def _start() -> Any:
    import subprocess

    from resolver.trace import child_environ

    try:
        return subprocess.Popen(
            [sys.executable, "-c", "from resolver.page_worker import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=child_environ(),
        )
    except OSError:
        return False


def _send(stream: IO[bytes], data: bytes) -> None:
    stream.write(len(data).to_bytes(8, "big") + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> bytes:
    size = int.from_bytes(_exactly(stream, 8), "big")
    return _exactly(stream, size)


def _exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("the page worker ended")
    return data


def _parse(
    body: bytes, content_type: str, url: str, index: str | None, project: str | None
) -> tuple[bytes, list[str]]:
    from resolver.index import _page_tables, _response_entries

    notes: list[str] = []
    entries = _response_entries(body, content_type, url)
    tables = _page_tables(entries, warn=notes.append, index=index, project=project)
    return marshal.dumps(tables), [str(note) for note in notes]


def serve() -> None:
    """The worker: parse each page asked on stdin, answer on stdout, until stdin closes."""
    import gc

    gc.disable()  # what it parses is freed by reference counting; nothing is kept
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            request = marshal.loads(_receive(requests))
        except EOFError:
            return
        try:
            encoded, notes = _parse(*request)
            answer = (True, encoded, notes)
        except SourceError as exc:
            answer = (False, str(exc), [])
        _send(answers, marshal.dumps(answer))
