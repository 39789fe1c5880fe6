"""Locking while sdists build.

A cold lock waits for the metadata of versions that publish only an sdist: the sdist is
downloaded whole and usually built (examples/large's pyspark: 456 MB, about 20 s). Meanwhile the
resolver could already meet the conflicts that make it widen windows, and fetch what those
widenings need. So a lock first runs with a stand-in for every version still building: no
requirements, the Requires-Python of its files. Requirements only restrict, so a conflict found
with stand-ins is a real one, and the windows it widens are fetched as they would be later.

The stand-in run decides nothing. When it has used no stand-in, its lock is the lock (every
answer it got was real). Otherwise, once every version it stood in for has arrived (or when it
ends first), the lock runs again from the start on the same provider, whose fetched pages and
metadata are in memory by then; that run is the lock, the same as one that waited from the
start (none of its answers depends on timing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from resolver.locker import LockReport, lock_project
from resolver.provider import CoreMetadata, DistFile, Provider
from resolver.resolution import Resolution
from resolver.trace import trace, tracing


class _Arrived(Exception):
    """Every version stood in for has its metadata now: lock from what is known."""


class _StandIns:
    """A provider that answers a version whose metadata is still building with a stand-in, and
    everything else as the provider it wraps."""

    def __init__(self, provider: Any) -> None:
        self._provider = provider
        self.stood_in: set[tuple[NormalizedName, Version]] = set()

    def __getattr__(self, name: str) -> Any:  # files_by_version, when the provider has it
        return getattr(self._provider, name)

    def _check(self) -> None:
        if self.stood_in and not any(self._provider.building(*k) for k in self.stood_in):
            raise _Arrived

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        self._check()
        return self._provider.files(name)

    def prefetch(self, items: Iterable[tuple[NormalizedName, Version | None]]) -> None:
        self._provider.prefetch(items)

    def metadata(self, name: NormalizedName, version: Version) -> CoreMetadata:
        self._check()
        provider = self._provider
        if not provider.building(name, version):
            return provider.metadata(name, version)
        self.stood_in.add((name, version))
        files = [f for f in provider.files(name) if f.version == version]
        python = next((f.requires_python for f in files if f.requires_python), None)
        return CoreMetadata(canonicalize_name(name), version, (), python)


def lock_while_building(
    project: Any,
    provider: Provider,
    *,
    warn: Callable[[str], None],
    report: LockReport,
    **kwargs: Any,
) -> Resolution:
    """``lock_project``, started with stand-ins for versions whose sdists are still being
    fetched or built by the provider's threads (a provider without a ``building`` method, or
    offline, just locks)."""
    if getattr(provider, "building", None) is None or getattr(provider, "offline", True):
        return lock_project(project, provider, warn=warn, report=report, **kwargs)
    stand_ins = _StandIns(provider)
    said: set[str] = set()

    def first_warn(message: str) -> None:
        # Until the first stand-in, the run is as real as the next one: warn now, and not
        # again; after it, the next run warns.
        if not stand_ins.stood_in:
            said.add(message)
            warn(message)

    first = LockReport()
    started = time.perf_counter()
    try:
        resolution = lock_project(project, stand_ins, warn=first_warn, report=first, **kwargs)  # type: ignore[arg-type]
    except _Arrived:
        resolution = None
    except Exception:
        if not stand_ins.stood_in:
            raise
        resolution = None
    if tracing():
        trace("stand-ins", f"{len(stand_ins.stood_in)} versions", started)
    if not stand_ins.stood_in:
        vars(report).update(vars(first))
        return resolution  # type: ignore[return-value]
    ahead = time.perf_counter() - started

    def again_warn(message: str) -> None:
        if message not in said:
            warn(message)

    resolution = lock_project(project, provider, warn=again_warn, report=report, **kwargs)
    report.timings["stand_ins_s"] = ahead
    return resolution
