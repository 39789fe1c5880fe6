"""The real provider: files and core metadata from package indexes and find-links locations."""

from __future__ import annotations

import sys
import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from resolver.http import Http, default_cache_dir
from resolver.index import (
    by_project,
    fetch_find_links,
    fetch_project_page,
    is_local,
    local_path,
    normalized,
    to_url,
)
from resolver.metadata import MetadataFetcher
from resolver.parsed_cache import PageCache, grouped
from resolver.provider import CoreMetadata, DistFile, MetadataUnavailable, PackageNotFound

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from resolver.build import BuildSettings

__all__ = ["IndexProvider"]

T = TypeVar("T")


def _warn_stderr(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


class _Memo:
    """Thread-safe memoisation: one computation per key, however many threads ask at once.

    The first caller of a key computes it in its own thread; later callers wait for its result
    (or exception). Since the owner is always running, waiting never deadlocks.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[Hashable, _Slot] = {}

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            slot = self._slots.get(key)
            owner = slot is None
            if slot is None:
                slot = self._slots[key] = _Slot()
        if owner:
            try:
                slot.value = compute()
            except BaseException as exc:
                slot.error = exc
            finally:
                slot.done = True
                slot.running.release()
        elif not slot.done:
            slot.running.acquire()  # held by the owner until it has finished
            slot.running.release()
        if slot.error is not None:
            raise slot.error
        return slot.value  # type: ignore[no-any-return]

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._slots


class _Slot:
    """One memoised computation: its result or exception once ``done``. (Not a
    concurrent.futures.Future: a warm run makes hundreds, and needs no thread pool at all.)"""

    __slots__ = ("running", "done", "value", "error")

    def __init__(self) -> None:
        self.running = threading.Lock()
        self.running.acquire()
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None


class IndexProvider:
    """Answers ``files`` and ``metadata`` from simple indexes and find-links locations.

    ``index_urls`` are in priority order: the first index that has a package provides all its
    versions (uv's default first-index strategy); files found in ``find_links`` locations are
    added to them. No index URLs means ``--no-index``: find-links only.
    """

    def __init__(
        self,
        *,
        index_urls: Sequence[str],
        find_links: Sequence[str] = (),
        offline: bool = False,
        cache_dir: Path | None = None,
        no_cache: bool = False,
        no_build: bool = False,
        warn: Callable[[str], None] = _warn_stderr,
        max_workers: int = 16,
        speculate: bool | None = None,
    ) -> None:
        self.index_urls = tuple(to_url(url) for url in index_urls)
        self.find_links = tuple(find_links)
        self.offline = offline
        self.cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
        self.no_cache = no_cache
        self.no_build = no_build
        self._warn = warn
        self._max_workers = max_workers
        # Fetch ahead while the resolver waits: online, every page fetched starts the metadata
        # of its newest releases, and every metadata fetched starts the pages of what it
        # requires, so the dependency graph streams in instead of one level per round trip.
        self.speculate = not offline if speculate is None else speculate
        self._http = Http(offline=offline)
        self._pages = None if no_cache else PageCache(self.cache_dir / "pages")
        self._fetcher = MetadataFetcher(
            self._http,
            cache_dir=self.cache_dir,
            no_cache=no_cache,
            no_build=no_build,
            build_settings=self._build_settings,
            warn=self._emit,
        )
        self._memo = _Memo()
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._closed = False
        # Warnings of work fetched ahead wait until the resolver asks for that work (a page or
        # a version it never uses warns nothing).
        self._local = threading.local()
        self._held: dict[Hashable, list[str]] = {}
        self._held_lock = threading.Lock()

    def _build_settings(self) -> BuildSettings:
        """How sdists are built here (made when the first build needs it: builds are rare, and
        resolver.build is not loaded before then)."""
        from resolver.build import BuildSettings

        return BuildSettings(
            index_urls=self.index_urls, find_links=self.find_links, offline=self.offline
        )

    def __repr__(self) -> str:
        return (
            f"IndexProvider(index_urls={list(self.index_urls)!r}, "
            f"find_links={list(self.find_links)!r}, offline={self.offline}, "
            f"no_build={self.no_build})"
        )

    def __enter__(self) -> IndexProvider:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the fetch threads and close HTTP sessions."""
        with self._executor_lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    # -- the Provider protocol -------------------------------------------------------------

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        return self._get(*self._job(name, None))  # type: ignore[return-value]

    def metadata(self, name: NormalizedName, version: Version) -> CoreMetadata:
        return self._get(*self._job(name, version))  # type: ignore[return-value]

    def files_by_version(self, name: NormalizedName) -> dict[Version, list[DistFile]]:
        """``files(name)`` grouped by version, in the order of their first file (as
        ``for f in files: groups.setdefault(f.version, []).append(f)``), from a stored page's
        runs of one version when the files are that page's, else file by file."""
        files = self.files(name)
        by_version = grouped(files)
        if by_version is None:
            by_version = {}
            for file in files:
                by_version.setdefault(file.version, []).append(file)
        return by_version

    def prefetch(self, items: Iterable[tuple[NormalizedName, Version | None]]) -> None:
        """Start fetching these in the background. Offline, everything comes from local files,
        which the resolver's own thread reads faster than threads that take turns with it for
        the interpreter (a warm fastapi-standard lock: 0.68 -> 0.52 s, webapp 0.48 -> 0.41 s,
        medians of 7)."""
        if self.offline:
            return
        self._submit(items, ahead=False)

    def _submit(self, items: Iterable[tuple[NormalizedName, Version | None]], ahead: bool) -> None:
        executor = self._pool()
        if executor is None:
            return  # closed: a fetch still running asked for more
        for name, version in items:
            key, compute = self._job(name, version)
            if key in self._memo:
                continue
            if ahead:
                call = lambda k=key, c=compute: self._memo.get(k, lambda: self._holding(k, c))  # noqa: E731
            else:
                call = lambda k=key, c=compute: self._get(k, c)  # noqa: E731
            executor.submit(_quietly, call)

    def _job(
        self, name: NormalizedName, version: Version | None
    ) -> tuple[Hashable, Callable[[], object]]:
        """The memo key and the computation of a package's files (``version`` None) or of one
        version's metadata."""
        name = canonicalize_name(name)
        if version is None:
            return ("files", name), lambda: self._files(name)
        return ("metadata", name, version), lambda: self._metadata(name, version)

    def _get(self, key: Hashable, compute: Callable[[], T]) -> T:
        try:
            return self._memo.get(key, compute)
        finally:
            with self._held_lock:
                held = self._held.pop(key, [])
            for message in held:
                self._warn(message)

    def _holding(self, key: Hashable, compute: Callable[[], T]) -> T:
        """Compute ahead of the resolver, keeping the warnings until ``key`` is asked for."""
        self._local.held = held = []
        try:
            return compute()
        finally:
            self._local.held = None
            if held:
                with self._held_lock:
                    self._held[key] = held

    def _emit(self, message: str) -> None:
        held = getattr(self._local, "held", None)
        if held is not None:
            held.append(message)
        else:
            self._warn(message)

    def names(self) -> set[NormalizedName]:
        """Project names that local indexes and find-links locations list, for "did you mean"
        hints. Remote indexes are not listed: PyPI's list of every project is tens of MB."""
        found: set[NormalizedName] = set()
        for index_url in self.index_urls:
            if is_local(index_url) and local_path(index_url).is_dir():
                found |= {
                    canonicalize_name(entry.name)
                    for entry in local_path(index_url).iterdir()
                    if entry.is_dir()
                }
        for location in self.find_links:
            try:
                found |= set(self._find_links_files(location))
            except Exception:  # a broken location already failed the lock; no hint from it
                continue
        return found

    def stats(self) -> dict[str, int]:
        """How many metadata fetches took each path (cache, pep658, range, full-download,
        local-wheel, sdist-static, build)."""
        return self._fetcher.stats()

    # -- work ------------------------------------------------------------------------------

    def _pool(self) -> ThreadPoolExecutor | None:
        with self._executor_lock:
            if self._closed:
                return None
            if self._executor is None:
                from concurrent.futures import ThreadPoolExecutor

                self._executor = ThreadPoolExecutor(
                    max_workers=self._max_workers, thread_name_prefix="aspen-fetch"
                )
            return self._executor

    def _find_links_files(self, location: str) -> dict[NormalizedName, list[DistFile]]:
        return self._memo.get(
            ("find-links", location),
            lambda: by_project(
                fetch_find_links(self._http, location, warn=self._emit, pages=self._pages)
            ),
        )

    def _files(self, name: NormalizedName) -> tuple[DistFile, ...]:
        files = self._listed(name)
        if self.speculate:
            self._submit(((name, v) for v in _likely_versions(files)), ahead=True)
        return files

    def _listed(self, name: NormalizedName) -> tuple[DistFile, ...]:
        found: list[DistFile] | None = None
        for index_url in self.index_urls:
            found = fetch_project_page(
                self._http, index_url, name, warn=self._emit, pages=self._pages
            )
            if found is not None:
                break
        extra = [f for loc in self.find_links for f in self._find_links_files(loc).get(name, ())]
        if found is None and not extra:
            tried = [*self.index_urls, *self.find_links]
            where = ", ".join(tried) if tried else "no index or find-links location configured"
            raise PackageNotFound(f"package {name!r} not found (looked in: {where})")
        if not extra:
            return tuple(found or ())  # pages come normalized
        return tuple(normalized([*(found or ()), *extra]))  # index files before find-links

    def _metadata(self, name: NormalizedName, version: Version) -> CoreMetadata:
        try:
            files = self.files(name)
        except PackageNotFound as exc:
            raise MetadataUnavailable(str(exc)) from exc
        # Files come sorted by version: the version's files are one run, found by bisection.
        start = bisect_left(files, version, key=_version_of)
        candidates = list(files[start : bisect_right(files, version, lo=start, key=_version_of)])
        if not candidates:
            raise MetadataUnavailable(f"{name} {version}: no file of this version is listed")
        meta = self._fetcher.fetch(name, version, candidates)
        if self.speculate:
            self._submit(
                (
                    (canonicalize_name(r.name), None)
                    for r in meta.requires_dist
                    if r.marker is None or "extra" not in str(r.marker)
                ),
                ahead=True,
            )
        return meta


def _likely_versions(files: Sequence[DistFile], count: int = 2) -> list[Version]:
    """The newest final releases, not yanked, whose metadata comes without a build: those a
    resolver most likely asks for first (``files`` sorted by version, oldest first)."""
    found: list[Version] = []
    for file in reversed(files):
        version = file.version
        if found and found[-1] == version:
            continue
        if version.is_prerelease or file.is_yanked:
            continue
        if file.kind == "wheel" or file.core_metadata is not None:
            found.append(version)
            if len(found) == count:
                break
    return found


def _version_of(file: DistFile) -> Version:
    return file.version


def _quietly(call: Callable[[], object]) -> None:
    """Run a prefetch; its error is memoised and raised by the later real call."""
    try:
        call()
    except Exception:  # re-raised by the later files()/metadata() call
        pass
