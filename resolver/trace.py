"""Spans of a run for finding its critical path: ``ASPEN_TRACE=<file>`` records every page,
metadata fetch, HTTP request, sdist read, build step and wait of the resolver's thread as a span
(thread, kind, key, start, end; seconds from start-up), written as JSON lines when the process
ends, with the CPU times of the process and of its children. Nothing is recorded without it."""

from __future__ import annotations

import os
import threading
import time

_TRACE_PATH = os.environ.get("ASPEN_TRACE")
_TRACE: list[tuple[str, str, str, float, float]] = []
_T0 = time.perf_counter()


def tracing() -> bool:
    return _TRACE_PATH is not None


def trace(kind: str, key: str, start: float, end: float | None = None) -> None:
    """Record a span (``time.perf_counter`` times) when ASPEN_TRACE is set."""
    if _TRACE_PATH is None:
        return
    if end is None:
        end = time.perf_counter()
    _TRACE.append(
        (threading.current_thread().name, kind, key, round(start - _T0, 4), round(end - _T0, 4))
    )


def finish() -> None:
    """Write the trace file (once), when ASPEN_TRACE is set: at interpreter exit, or from the
    console script before it ends the process with ``os._exit``."""
    global _TRACE_PATH
    if _TRACE_PATH is None:
        return
    import json
    import resource

    path, _TRACE_PATH = _TRACE_PATH, None
    for who, label in ((resource.RUSAGE_SELF, "self"), (resource.RUSAGE_CHILDREN, "children")):
        usage = resource.getrusage(who)
        _TRACE.append(("rusage", label, "user/system CPU s", usage.ru_utime, usage.ru_stime))
    with open(path, "w", encoding="utf-8") as out:
        for thread, kind, key, start, end in _TRACE:
            out.write(json.dumps([thread, kind, key, start, end]) + "\n")


if _TRACE_PATH is not None:
    import atexit

    atexit.register(finish)
