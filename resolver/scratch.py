"""The run's scratch space: every temporary folder of a run (wheels and sdists downloaded or
unpacked, build environments, builds) is made inside one folder, and every child process the
run starts (builds, installs of build requirements, large sdists read apart) is known, so
that ``cleanup`` removes them all when the run ends, however it ends: ``resolver.cli.main``
calls it after a command, an error, Ctrl-C, SIGTERM or SIGHUP.

A child is started in a session of its own and ended with its whole process group: a build
backend's own children (compilers, pip) go with it, and one that went on writing into an
unpacked sdist after its folder was removed would make that folder again. A child that runs
beside the run (``start``, ``start_python``: the parser of big index pages, the early solve)
is ended the same way.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()
_ROOT: Path | None = None
_CHILDREN: set[subprocess.Popen] = set()
_CLOSED = False  # after the final cleanup: nothing new is made


def root() -> Path:
    """The run's scratch folder (made on first use, in the system's temporary folder)."""
    global _ROOT
    with _LOCK:
        if _CLOSED:
            raise RuntimeError("the run is ending: no new scratch folder")
        if _ROOT is None:
            import atexit

            _ROOT = Path(tempfile.mkdtemp(prefix="aspen-"))
            atexit.register(cleanup)  # the command line calls it itself before os._exit
        return _ROOT


@contextmanager
def folder(prefix: str) -> Iterator[Path]:
    """A new folder inside the run's scratch folder, removed when the block ends."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=root()))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run(
    args: Sequence[str],
    *,
    input: bytes | str | None = None,
    timeout: float | None = None,
    **options: Any,
) -> subprocess.CompletedProcess:
    """``subprocess.run(args, capture_output=True, ...)`` for a child that ``cleanup`` ends
    (with its process group) if the run ends first. Raises ``OSError`` when the child cannot
    start and ``subprocess.TimeoutExpired`` (the child killed) after ``timeout`` seconds."""
    stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
    with subprocess.Popen(
        args,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        **options,
    ) as process:
        with _LOCK:
            _CHILDREN.add(process)
            closing = _CLOSED
        try:
            if closing:
                kill(process)
            try:
                stdout, stderr = process.communicate(input, timeout=timeout)
            except BaseException as exc:  # a timeout, or the run interrupted while it waits
                kill(process)  # (leaving the block would otherwise wait for the child)
                if isinstance(exc, subprocess.TimeoutExpired):
                    process.communicate()
                raise
        finally:
            with _LOCK:
                _CHILDREN.discard(process)
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def start(args: Sequence[str], **options: Any) -> subprocess.Popen:
    """``subprocess.Popen(args, ...)`` for a child that runs beside the run (it is given its
    input as it goes), ended with its process group by ``stop`` or, if the run ends first, by
    ``cleanup``. Raises ``OSError`` when it cannot start, ``RuntimeError`` when the run is
    ending."""
    with _LOCK:
        if _CLOSED:
            raise RuntimeError("the run is ending: no new child process")
        process = subprocess.Popen(args, start_new_session=True, **options)
        _CHILDREN.add(process)
    return process


def start_python(code: str, **options: Any) -> subprocess.Popen:
    """``start`` for a child Python that runs ``code``, with this aspen importable first
    (installed or a source checkout) and no trace of its own (``ASPEN_TRACE``)."""
    environ = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, environ.get("PYTHONPATH")]))
    environ.pop("ASPEN_TRACE", None)
    return start([sys.executable, "-c", code], env=environ, **options)


def stop(process: subprocess.Popen) -> None:
    """End a child that ``start`` started, and forget it."""
    kill(process)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    with _LOCK:
        _CHILDREN.discard(process)


def kill(process: subprocess.Popen) -> None:
    """End a child that ``start`` started, with its process group, without waiting for it:
    whoever reads its output sees the output end."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except OSError:  # already gone
        pass


def cleanup(*, final: bool = False) -> None:
    """End the run's children and remove its scratch folder. ``final``: the run is ending, and
    nothing new is made after this (a fetch thread still at work cannot start a child or make
    a folder that would outlive the process)."""
    global _ROOT, _CLOSED
    with _LOCK:
        _CLOSED = _CLOSED or final
        children = list(_CHILDREN)
        path, _ROOT = _ROOT, None
    for process in children:
        kill(process)
    for process in children:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
