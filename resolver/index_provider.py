"""The real provider: files and core metadata from package indexes and find-links locations."""

from __future__ import annotations

import sys
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from resolver.http import Http, default_cache_dir
from resolver.index import (
    PageNote,
    by_project,
    fetch_find_links,
    fetch_project_page,
    is_local,
    local_path,
    normalized,
    to_url,
)
from resolver.metadata import MetadataFetcher
from resolver.page_worker import PageWorker
from resolver.parsed_cache import PageCache, PageFiles
from resolver.provider import (
    CoreMetadata,
    DistFile,
    MetadataUnavailable,
    PackageNotFound,
    canonical,
    needs_build,
)
from resolver.trace import trace, tracing

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

    def peek(self, key: Hashable) -> Any:
        """The value of a finished computation; None while it runs, failed or never started."""
        with self._lock:
            slot = self._slots.get(key)
        if slot is None or not slot.done or slot.error is not None:
            return None
        return slot.value


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
        note: Callable[[str], None] | None = None,
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
        # Where notes on index pages' own listings go (index.PageNote; the command line shows
        # them with -v), else with the warnings.
        self._note = warn if note is None else note
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
        # Online, big index pages are parsed in a child process (resolver/page_worker.py).
        self._worker = None if offline else PageWorker()
        self._memo = _Memo()
        self._executor: ThreadPoolExecutor | None = None  # work fetched ahead
        self._asked: ThreadPoolExecutor | None = None  # what the resolver prefetches
        self._builds: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._closed = False
        # Warnings of work fetched ahead wait until the resolver asks for that work (a page or
        # a version it never uses warns nothing).
        self._local = threading.local()
        self._held: dict[Hashable, list[str]] = {}
        self._held_lock = threading.Lock()
        # The specifier of the first requirement that led to each package fetched ahead (its
        # likely versions are the newest that meet it), and whether its marker names a Python.
        self._wanted: dict[NormalizedName, tuple[SpecifierSet, bool]] = {}
        # How the resolver's windows are walked (see ``expect_windows``).
        self._windows: dict[str, Any] = {}

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
            executors = (self._executor, self._asked, self._builds)
            self._executor = self._asked = self._builds = None
        for executor in executors:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
        if self._worker is not None:
            self._worker.close()
        self._http.close()

    # -- the Provider protocol -------------------------------------------------------------

    def files(self, name: NormalizedName) -> Sequence[DistFile]:
        return self._get(*self._job(name, None))  # type: ignore[return-value]

    def metadata(self, name: NormalizedName, version: Version) -> CoreMetadata:
        return self._get(*self._job(name, version))  # type: ignore[return-value]

    def metadata_pack(self, pack: Mapping[str, bytes]) -> None:
        """Read cached version entries from ``pack`` first, and record those taken (see
        ``MetadataCache.use_pack``); nothing without a cache."""
        if not self.no_cache:
            self._fetcher.cache.use_pack(pack)

    def metadata_taken(self) -> dict[str, bytes]:
        """The cached version entries taken since ``metadata_pack``."""
        return self._fetcher.cache.taken()

    def files_by_version(self, name: NormalizedName) -> Mapping[Version, list[DistFile]]:
        """``files(name)`` grouped by version, in the order of their first file (as
        ``for f in files: groups.setdefault(f.version, []).append(f)``): a stored or parsed
        page's ``PageVersions`` (a version's files are made when they are read) when the files
        are that page's, else file by file."""
        files = self.files(name)
        if isinstance(files, PageFiles):
            return files.by_version()
        by_version: dict[Version, list[DistFile]] = {}
        for file in files:
            by_version.setdefault(file.version, []).append(file)
        return by_version

    def expect_windows(self, pythons: Sequence[Version], depth: int, build_places: int) -> None:
        """How the resolver's first windows are made (``Universe._walk``): for each of
        ``pythons``, the newest ``depth`` places of versions that run there, a version whose
        metadata needs a build taking ``build_places``. Work fetched ahead follows it."""
        self._windows = {"pythons": tuple(pythons), "depth": depth, "build_places": build_places}

    def prefetch(self, items: Iterable[tuple[NormalizedName, Version | None]]) -> None:
        """Start fetching these in the background. Offline, everything comes from local files,
        which the resolver's own thread reads faster than threads that take turns with it for
        the interpreter (a warm fastapi-standard lock: 0.68 -> 0.52 s, webapp 0.48 -> 0.41 s,
        medians of 7)."""
        if self.offline:
            return
        self._submit(items, ahead=False)

    def _submit(
        self,
        items: Iterable[tuple[NormalizedName, Version | None]],
        ahead: bool,
        files: Sequence[DistFile] | None = None,
        urgent: bool = False,
    ) -> None:
        """Start these in the fetch threads; a version whose metadata needs a download of its
        sdist (and a build) goes to threads of its own, so that it starts at once instead of
        behind hundreds of quick metadata reads (large's pyspark waited 3.2 s in the queue).
        ``files``: the package's files, when all items are of the same package. ``urgent``
        work fetched ahead is what work the resolver asked for leads to (a page's first window,
        a version's requirements' pages), which it most likely asks next: it runs in the
        resolver's own threads instead of behind everything else fetched ahead (in webapp's
        cold lock, sqlalchemy's window waited there 0.1-0.3 s while the resolver waited for
        it); what it leads to in turn is fetched ahead as usual."""
        executor = self._pool(ahead and not urgent)
        if executor is None:
            return  # closed: a fetch still running asked for more
        for name, version in items:
            key, compute = self._job(name, version)
            if key in self._memo:
                continue
            pool = executor
            if version is not None and self._needs_build(name, version, files):
                pool = self._build_pool()
            if ahead:
                call = lambda k=key, c=compute: self._memo.get(k, lambda: self._holding(k, c))  # noqa: E731
            else:
                call = lambda k=key, c=compute: self._get(k, c)  # noqa: E731
            pool.submit(_quietly, call)

    def _needs_build(
        self, name: NormalizedName, version: Version, files: Sequence[DistFile] | None
    ) -> bool:
        """Whether ``version``'s files (when known) have no wheel and no PEP 658 metadata."""
        if files is None:
            files = self._memo.peek(("files", canonicalize_name(name)))
            if files is None:
                return False
        return needs_build(_of_version(files, version))

    def _job(
        self, name: NormalizedName, version: Version | None
    ) -> tuple[Hashable, Callable[[], object]]:
        """The memo key and the computation of a package's files (``version`` None) or of one
        version's metadata."""
        name = canonical(name)
        if version is None:
            key: tuple[Any, ...] = ("files", name)
            return key, _traced(key, lambda: self._files(name))
        key = ("metadata", name, version)
        return key, _traced(key, lambda: self._metadata(name, version))

    def _get(self, key: Hashable, compute: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return self._memo.get(key, compute)
        finally:
            if tracing() and threading.current_thread() is threading.main_thread():
                trace("wait", repr(key), started)
            with self._held_lock:
                held = self._held.pop(key, [])
            for message in held:
                self._say(message)

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

    def _resolvers_work(self) -> bool:
        """Whether the work running in this thread is the resolver's (not fetched ahead)."""
        return getattr(self._local, "held", None) is None

    def _emit(self, message: str) -> None:
        held = getattr(self._local, "held", None)
        if held is not None:
            held.append(message)
        else:
            self._say(message)

    def _say(self, message: str) -> None:
        (self._note if isinstance(message, PageNote) else self._warn)(message)

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

    def _build_pool(self) -> ThreadPoolExecutor:
        """The threads of metadata that needs an sdist: as many as builds may run at once, and
        two more for the large sdists read beside them (pyspark's two, 8-10 s each, kept
        ruamel-yaml-clibz's build waiting 6 s for a thread)."""
        with self._executor_lock:
            if self._builds is None:
                from concurrent.futures import ThreadPoolExecutor

                from resolver.build import BUILD_SLOTS
                from resolver.metadata import LARGE_AT_ONCE

                self._builds = ThreadPoolExecutor(
                    max_workers=BUILD_SLOTS + LARGE_AT_ONCE, thread_name_prefix="aspen-sdist"
                )
            return self._builds

    def _pool(self, ahead: bool) -> ThreadPoolExecutor | None:
        """The threads of work fetched ahead, or those of what the resolver asks for: its own,
        so that it never waits behind hundreds of reads fetched ahead (on large's cold lock the
        resolver's thread fetched 66 versions' metadata itself, one after another, 8.9 s, while
        they sat in the queue)."""
        with self._executor_lock:
            if self._closed:
                return None
            executor = self._executor if ahead else self._asked
            if executor is None:
                from concurrent.futures import ThreadPoolExecutor

                executor = ThreadPoolExecutor(
                    max_workers=self._max_workers,
                    thread_name_prefix="aspen-fetch" if ahead else "aspen-asked",
                )
                if ahead:
                    self._executor = executor
                else:
                    self._asked = executor
            return executor

    def _find_links_files(self, location: str) -> dict[NormalizedName, list[DistFile]]:
        return self._memo.get(
            ("find-links", location),
            lambda: by_project(
                fetch_find_links(self._http, location, warn=self._emit, pages=self._pages)
            ),
        )

    def _files(self, name: NormalizedName) -> Sequence[DistFile]:
        files = self._listed(name)
        if self.speculate:
            with self._held_lock:
                wanted, gated = self._wanted.get(name, (None, False))
            # No build ahead for a package first required for some Pythons only (backports
            # such as pickle5 or ordereddict, which a lock for newer Pythons never asks for).
            versions = _likely_versions(
                files, wanted, builds=not (self.no_build or gated), **self._windows
            )
            self._submit(
                ((name, v) for v in versions),
                ahead=True,
                files=files,
                urgent=self._resolvers_work(),
            )
        return files

    def _listed(self, name: NormalizedName) -> Sequence[DistFile]:
        found: Sequence[DistFile] | None = None
        for index_url in self.index_urls:
            found = fetch_project_page(
                self._http,
                index_url,
                name,
                warn=self._emit,
                pages=self._pages,
                worker=self._worker,
            )
            if found is not None:
                break
        extra = [f for loc in self.find_links for f in self._find_links_files(loc).get(name, ())]
        if found is None and not extra:
            tried = [*self.index_urls, *self.find_links]
            where = ", ".join(tried) if tried else "no index or find-links location configured"
            raise PackageNotFound(f"package {name!r} not found (looked in: {where})")
        if not extra:
            return () if found is None else found  # pages come normalized
        return tuple(normalized([*(found or ()), *extra]))  # index files before find-links

    def _metadata(self, name: NormalizedName, version: Version) -> CoreMetadata:
        try:
            files = self.files(name)
        except PackageNotFound as exc:
            raise MetadataUnavailable(str(exc)) from exc
        candidates = list(_of_version(files, version))
        if not candidates:
            raise MetadataUnavailable(f"{name} {version}: no file of this version is listed")
        meta = self._fetcher.fetch(name, version, candidates)
        if self.speculate:
            required = [
                r for r in meta.requires_dist if r.marker is None or "extra" not in str(r.marker)
            ]
            with self._held_lock:
                for r in required:
                    gated = r.marker is not None and _old_pythons_only(r.marker)
                    self._wanted.setdefault(canonicalize_name(r.name), (r.specifier, gated))
            self._submit(
                ((canonicalize_name(r.name), None) for r in required),
                ahead=True,
                urgent=self._resolvers_work(),
            )
        return meta


def _likely_versions(
    files: Sequence[DistFile],
    wanted: SpecifierSet | None = None,
    *,
    pythons: Sequence[Version] = (),
    depth: int = 2,
    build_places: int = 2,
    builds: bool = True,
    scan: int = 40,
) -> list[Version]:
    """The versions the resolver's first window of a package most likely holds (``files``
    sorted by version, oldest first), picked as ``Universe._walk`` picks them: for each of
    ``pythons`` (the lower ends of the space's Python intervals; none given: one Python that
    every version runs on), the newest final releases, not yanked, that meet ``wanted`` (the
    first requirement seen on the package, if any) and run there, until they fill ``depth``
    places. A release whose metadata needs a build (no wheel, no PEP 658 file) fills
    ``build_places``: it is what an sdist-only package's window starts with and it takes
    longest to come, so its download and build start as soon as its page is read. Without
    ``builds`` such releases are passed over. At most ``scan`` releases are looked at (a
    package whose releases never run on some Python would be walked to its first release).

    Fetching only the newest two missed every window that reaches back for older Pythons
    (webapp's contourpy, numpy, tornado; large's sphinx, ...): the resolver then fetched
    those itself, one round trip each, on its own critical path."""
    lows: Sequence[Version | None] = tuple(pythons) or (None,)
    places = [0] * len(lows)
    left = set(range(len(lows)))
    runs: dict[int, tuple[SpecifierSet | None, list[int]]] = {}
    found: list[Version] = []
    looked = 0
    end = len(files)
    while end > 0 and left and looked < scan:
        version = files[end - 1].version
        start = end - 1
        while start > 0 and files[start - 1].version == version:
            start -= 1
        live = [f for f in files[start:end] if not f.is_yanked]
        end = start
        if version.is_prerelease or not live:
            continue
        if wanted is not None and not wanted.contains(version, prereleases=True):
            continue
        looked += 1
        cheap = any(f.kind == "wheel" or f.core_metadata is not None for f in live)
        if not (cheap or builds):
            continue
        python = next((f.requires_python for f in live if f.requires_python is not None), None)
        hit = runs.get(id(python))
        if hit is None or hit[0] is not python:
            where = [
                i
                for i, low in enumerate(lows)
                if python is None or low is None or python.contains(low, prereleases=True)
            ]
            hit = runs[id(python)] = (python, where)
        taken = [i for i in hit[1] if i in left]
        if not taken:
            continue
        found.append(version)
        for i in taken:
            places[i] += 1 if cheap else build_places
            if places[i] >= depth:
                left.discard(i)
    return found


_OLD_ONLY: dict[str, bool] = {}


def _old_pythons_only(marker: Marker) -> bool:
    """Whether a requirement's marker holds for none of CPython 3.9 to 3.14 on Linux (a
    backport such as ``pickle5; python_version < "3.8"``, or a package for other platforms)."""
    text = str(marker)
    known = _OLD_ONLY.get(text)
    if known is None:
        environment = {
            "implementation_name": "cpython",
            "implementation_version": "3.12.0",
            "os_name": "posix",
            "platform_machine": "x86_64",
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "sys_platform": "linux",
            "extra": "",
        }
        known = True
        for minor in range(9, 15):
            environment["python_version"] = f"3.{minor}"
            environment["python_full_version"] = f"3.{minor}.0"
            try:
                if marker.evaluate(environment):
                    known = False
                    break
            except Exception:  # a marker packaging cannot evaluate: not known to be old
                known = False
                break
        _OLD_ONLY[text] = known
    return known


def _of_version(files: Sequence[DistFile], version: Version) -> Sequence[DistFile]:
    """The files of ``version`` among ``files`` (sorted by version, as pages come): a page's
    from its runs of one version, else one run found by bisection."""
    if isinstance(files, PageFiles):
        return files.of_version(version)
    start = bisect_left(files, version, key=_version_of)
    return files[start : bisect_right(files, version, lo=start, key=_version_of)]


def _version_of(file: DistFile) -> Version:
    return file.version


def _traced(key: tuple[Any, ...], compute: Callable[[], T]) -> Callable[[], T]:
    """``compute``, traced as "files NAME" or "metadata NAME VERSION" when tracing (the text
    is made only then: a Version's str() is a Python call, and a warm lock asks thousands)."""
    if not tracing():
        return compute

    def run() -> T:
        started = time.perf_counter()
        try:
            return compute()
        finally:
            trace("compute", " ".join(map(str, key)), started)

    return run


def _quietly(call: Callable[[], object]) -> None:
    """Run a prefetch; its error is memoised and raised by the later real call."""
    try:
        call()
    except Exception:  # re-raised by the later files()/metadata() call
        pass
