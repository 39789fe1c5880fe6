"""Learned widths: how deep each package's candidate window had to grow the last time a project
was locked from the same inputs, kept in the cache folder and applied as starting depths, so
that locking again skips the rounds that widened the windows one conflict at a time.

A memory is taken only when it reproduces the lock made without it, byte for byte:

- its key is everything a lock depends on besides the index: the project's requirements and
  settings, the lock options, the previous lock's text, ``--upgrade-package`` (no memory for
  ``why-not``'s pins), the provider's indexes and ``--no-build``, and every module and
  encoding of aspen by size and modification time (so edited code never meets an old memory);
- it records each package's index page (the digest of the response its files were read from),
  its depth (and its depths at single Python intervals), window (by rank) and skipped
  versions, the packages no index has, what decides the windows' walks besides these (the
  specifiers asked of each package, and the Requires-Python of the metadata read), and whether
  the lock let every package fork on every marker. Before any metadata is read, every recorded
  package's page must be the same, and each starts with its recorded window instead of walking
  its versions for one (``Universe.seed_window``); after collection, the universe must be the
  one recorded (same packages, skipped versions and walk inputs: hence the windows walks would
  have given, the same metadata, requirements and facts);
- it records the selection the solver chose; if the lock made from the memory chose another
  (an equally good one, found by another search path), the lock is made again without it.

Beside a memory, the facts of the lock's last round (``*.facts``): the next lock of the same
inputs solves them in a thread from its start (``solve.EarlySolve``), and takes that optimum
only when the facts its first round makes are the same text (a lock taken from the memory
whose first round made other facts records those instead).

Anything else (a page that changed, a package that appeared, a memory of another version of
aspen) sends the lock the usual way, and the memory is replaced or removed once it is made. A
memory is written after every lock made without one (so that the next lock of the same inputs
solves early even when no window grew). Files whose pages are not stored in the
cache (``file://`` indexes, ``--find-links`` folders, ``--no-cache``) never get one.
"""

from __future__ import annotations

import json
import marshal
import zlib
from collections.abc import Mapping
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from resolver.environments import spec_text
from resolver.options import LockOptions
from resolver.parsed_cache import PageVersions, listed_on_page, sha256, write_atomically
from resolver.prior import PriorLock
from resolver.project import Project
from resolver.provider import Provider

if TYPE_CHECKING:
    from resolver.facts import FactBase
    from resolver.solve import Solution
    from resolver.universe import Universe

FORMAT = 3  # 2: with each package's depths at single Python intervals; 3: windows by rank,
# and what decides their walks
KEPT = 32  # memories kept in a cache folder, the most recently written


class Memory:
    """The learned widths of one set of inputs: a file in the cache folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of(
        cls,
        project: Project,
        provider: Provider,
        options: LockOptions,
        prior: PriorLock | None,
        upgrade: Mapping[NormalizedName, SpecifierSet],
    ) -> Memory | None:
        """The memory for these inputs; None when the provider keeps no cache."""
        cache_dir = getattr(provider, "cache_dir", None)
        if cache_dir is None or getattr(provider, "no_cache", True):
            return None
        key = sha256(repr(_inputs(project, provider, options, prior, upgrade)).encode())
        key.update(repr(_code()).encode())
        return cls(Path(cache_dir) / "widths" / f"{key.hexdigest()[:40]}.json")

    def read(self) -> dict[str, Any] | None:
        """The recorded state, or None (no memory, or one of another shape)."""
        try:
            found = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(found, dict) or found.get("format") != FORMAT:
            return None
        if not all(isinstance(found.get(k), t) for k, t in _SHAPE.items()):
            return None
        if not all(map(_text, found["missing"])) or not all(
            isinstance(entry, list)
            and [type(x) for x in entry] == [str, int, int, list, list, list]
            and all(type(r) is int and r >= 0 for r in entry[3])
            and all(map(_text, entry[4]))
            and all(
                isinstance(at, list) and [type(x) for x in at] == [str, int, int] for at in entry[5]
            )
            for entry in found["packages"].values()
        ):
            return None
        return found

    def write(self, state: dict[str, Any]) -> None:
        """Record a state (atomically; a cache that cannot be written is left as it is), and
        keep only the ``KEPT`` most recently written memories (each set of inputs and each
        version of the code has its own: about 50 KB for examples/large)."""
        write_atomically(self.path, json.dumps({"format": FORMAT, **state}).encode("utf-8"))
        _prune(self.path.parent, "*.json")

    def forget(self) -> None:
        for path in (self.path, self.path.with_suffix(".facts"), self.path.with_suffix(".out")):
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass

    # The metadata pack: the cached version entries (resolver/metadata.py) that the last lock
    # of the same inputs took, in one file beside the memory (``*.pack``), kept whether or not
    # a window grew: a magic, a CRC, and a marshalled (format, {path: entry bytes}).

    def read_pack(self) -> dict[str, bytes]:
        """The pack, or nothing (none, damaged, or of another format)."""
        try:
            data = self.path.with_suffix(".pack").read_bytes()
        except OSError:
            return {}
        found = _unsealed(data, _PACK_MAGIC)
        if type(found) is not tuple or len(found) != 2 or found[0] != FORMAT:
            return {}
        entries = found[1]
        if type(entries) is not dict or not all(
            type(k) is str and type(v) is bytes for k, v in entries.items()
        ):
            return {}
        return entries

    def write_pack(self, entries: Mapping[str, bytes]) -> None:
        """Record the pack (atomically), and keep only the ``KEPT`` most recently written."""
        path = self.path.with_suffix(".pack")
        write_atomically(path, _sealed(_PACK_MAGIC, (FORMAT, dict(sorted(entries.items())))))
        _prune(path.parent, "*.pack")

    # The facts the last lock of the same inputs solved first, as ``solve.inside_text`` gives
    # them (``*.facts``): solved in a thread while a lock collects (``solve.EarlySolve``),
    # taken only when they are the facts the lock then makes.

    def read_facts(self) -> str | None:
        try:
            return self.path.with_suffix(".facts").read_text(encoding="utf-8")
        except (OSError, ValueError):
            return None

    def write_facts(self, text: str) -> None:
        path = self.path.with_suffix(".facts")
        write_atomically(path, text.encode("utf-8"))
        _prune(path.parent, "*.facts")

    # The lock the last lock of the same inputs wrote (``*.out``): its text, the previous lock's
    # text it was written over (as a digest: a lock keeps the previous one's text when the data
    # is the same), each package's name, version and marker (what the summary of changes
    # reads), and the fingerprint of the lock that wrote it (``fingerprint``). Given again only
    # to a lock with the same fingerprint (``LockReport.written``).

    def read_output(self) -> Written | None:
        """The recorded lock, or None (none, damaged, or of another format)."""
        try:
            data = self.path.with_suffix(".out").read_bytes()
        except OSError:
            return None
        found = _unsealed(data, _OUTPUT_MAGIC)
        if type(found) is not tuple or len(found) != 5 or found[0] != FORMAT:
            return None
        _format, previous, text, packages, printed = found
        if (
            type(previous) is not str
            or type(text) is not str
            or type(packages) is not list
            or type(printed) is not tuple
            or not all(type(part) is str for part in printed)
            or not all(
                type(p) is dict and all(type(k) is str and type(v) is str for k, v in p.items())
                for p in packages
            )
        ):
            return None
        return Written(previous, text, packages, printed)

    def write_output(
        self,
        previous: str | None,
        text: str,
        packages: list[Mapping[str, Any]],
        printed: tuple[str, ...],
    ) -> None:
        """Record the lock written over ``previous`` by a lock of fingerprint ``printed``
        (atomically), and keep only the ``KEPT`` most recently written."""
        kept = [
            {k: p[k] for k in ("name", "version", "marker") if type(p.get(k)) is str}
            for p in packages
        ]
        path = self.path.with_suffix(".out")
        body = (FORMAT, _digest_of(previous), text, kept, tuple(printed))
        write_atomically(path, _sealed(_OUTPUT_MAGIC, body))
        _prune(path.parent, "*.out")


class Written(NamedTuple):
    """A lock as its memory recorded it (``Memory.read_output``)."""

    previous: str  # the digest of the lock file's text it was written over ("": none)
    text: str
    packages: list[dict[str, str]]  # name, version and marker (when one) of each package
    fingerprint: tuple[str, ...]  # of the lock that wrote it (``fingerprint``)

    def over(self, previous: str | None) -> bool:
        """Whether it was written over this previous text (None: no lock file)."""
        return self.previous == _digest_of(previous)


def fingerprint(
    recorded: Mapping[str, Any], facts: str, solution: Solution | None
) -> tuple[str, ...]:
    """What a lock made from a memory is known by: digests of the memory's state (its pages,
    windows, walks, whether packages fork on every marker, the selection), of the facts of the
    lock's last round (``solve.inside_text``), and of the solver's optimum of them (each chosen
    version's package id, rank and classes, and the costs; None: left out). Two locks of the
    same memory's key with the same fingerprint and the same metadata entries had the same
    inputs throughout, and write the same lock."""
    state = json.dumps({k: recorded[k] for k in sorted(_SHAPE)}, sort_keys=True)
    choice = repr(
        None
        if solution is None
        else (
            sorted((key, sorted(classes)) for key, classes in solution.selected.items()),
            solution.cost,
            solution.priorities,
        )
    )
    return tuple(sha256(part.encode()).hexdigest() for part in (state, facts, choice))


def _digest_of(text: str | None) -> str:
    return "" if text is None else sha256(text.encode()).hexdigest()


def _sealed(magic: bytes, value: object) -> bytes:
    """``value`` marshalled behind a magic and the CRC of the marshalled bytes."""
    body = marshal.dumps(value)
    return b"".join((magic, zlib.crc32(body).to_bytes(4, "big"), body))


def _unsealed(data: bytes, magic: bytes) -> object:
    """What ``_sealed`` sealed, or None (another magic, a CRC that fails, or damaged)."""
    start = len(magic) + 4
    body = memoryview(data)[start:]
    if not data.startswith(magic) or zlib.crc32(body) != int.from_bytes(
        data[len(magic) : start], "big"
    ):
        return None
    try:
        return marshal.loads(body)
    except (ValueError, EOFError, TypeError):
        return None


def _prune(folder: Path, pattern: str) -> None:
    """Keep only the ``KEPT`` most recently written files of the folder that match."""
    try:
        kept = sorted(folder.glob(pattern), key=lambda p: p.stat().st_mtime)
        for old in kept[:-KEPT]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


_PACK_MAGIC = b"aspen-metadata-pack\n"
_OUTPUT_MAGIC = b"aspen-lock-output\n"


_SHAPE = {"packages": dict, "missing": list, "walks": str, "fine": bool, "selection": str}


def _text(value: object) -> bool:
    return isinstance(value, str)


def _inputs(
    project: Project,
    provider: Provider,
    options: LockOptions,
    prior: PriorLock | None,
    upgrade: Mapping[NormalizedName, SpecifierSet],
) -> tuple:
    """What a lock depends on besides the index pages and the code (the project's folder does
    not count: the same pyproject.toml elsewhere locks alike)."""
    return (
        FORMAT,
        project.name,
        str(project.requires_python),
        [(repr(source), str(req)) for source, req in project.requirements()],
        repr(project.settings),
        repr(options),
        prior.text if prior is not None else None,
        sorted((name, str(spec)) for name, spec in upgrade.items()),
        [repr(getattr(provider, a, None)) for a in ("index_urls", "find_links", "no_build")],
    )


def _code() -> list[tuple[str, int, int]]:
    """Every module of aspen and every encoding, by name, size and modification time: a memory
    made by other code (reading pages or metadata, deciding windows or optima) is never used.
    (Their contents would do as well, at about 1 ms of reading and hashing per lock.)"""
    from resolver.solve import encoding_dir

    here = Path(__file__).resolve().parent
    found = []
    for path in sorted(chain(here.glob("*.py"), encoding_dir().glob("*.lp"))):
        stat = path.stat()
        found.append((path.name, stat.st_size, stat.st_mtime_ns))
    return found


def page_digest(files: Mapping[Any, list]) -> str | None:
    """The digest of the index page that every file of a package came from (None: not all from
    one stored page); a page's ``PageVersions`` knows it without making any file."""
    if isinstance(files, PageVersions):
        return files.digest()
    return listed_on_page(list(chain.from_iterable(files.values())))


def state(universe: Universe, pages: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """What a memory records of a universe, and what it must find again: each package's page,
    depth, widenings, window and skipped versions, and the packages no index has. None when
    some package's files are not all from one stored page. ``pages``: digests already taken
    (``start_from``'s; examples/large's 263,000 files take 30 ms)."""
    packages: dict[str, list] = {}
    for name in sorted(universe.packages):
        package = universe.packages[name]
        digest = (pages or {}).get(name) or page_digest(package.files)
        ranks = list(map(package.rank.get, package.window))
        if digest is None or None in ranks:
            return None
        packages[name] = [
            digest,
            package.depth,
            package.widenings,
            sorted(ranks),  # type: ignore[type-var]
            sorted(map(str, package.failed)),
            [[str(low), *grown] for low, grown in sorted(package.at.items())],
        ]
    return {"packages": packages, "missing": sorted(universe.missing), "walks": _walked(universe)}


def _walked(universe: Universe) -> str:
    """A digest of what decides the windows' walks (``Universe._walk``) besides what the memory
    records of each package (its page, depths and skipped versions) and what its key holds: the
    specifiers asked of each package, and the Requires-Python of each version's metadata (which
    may not be its files'). A memory that finds these again after collection holds the very
    windows walks would give (``start_from`` gives them without walking), even where metadata
    is not fixed by the page (a version whose metadata came from building its sdist)."""
    parts = []
    for name in sorted(universe.packages):
        package = universe.packages[name]
        demand = universe.demands.get(name)
        rank = package.rank
        parts.append(
            (
                name,
                sorted(demand.specifiers) if demand is not None else [],
                sorted(
                    (rank[v], spec_text(meta.requires_python))
                    for v, meta in package.metadata.items()
                    if meta.requires_python is not None
                ),
            )
        )
    return sha256(repr(parts).encode()).hexdigest()


def start_from(universe: Universe, recorded: Mapping[str, Any]) -> dict[str, str] | None:
    """Read the pages of every package the memory names and, when each is the page recorded
    and the same packages are missing, start their windows at the recorded depths, each with
    the recorded window (``Universe.seed_window``): the pages' digests. None otherwise: the
    universe then holds packages it may never reach (start a fresh one)."""
    packages: dict[str, list] = recorded["packages"]
    missing: list[str] = recorded["missing"]
    universe.load_packages([*packages, *missing])  # type: ignore[list-item]
    if sorted(universe.missing) != missing:
        return None
    for name, (digest, depth, widenings, window, _failed, at) in packages.items():
        package = universe.packages.get(name)  # type: ignore[call-overload]
        if package is None or page_digest(package.files) != digest:
            return None
        versions = package.versions
        if window and max(window) >= len(versions):
            return None
        package.depth, package.widenings = depth, widenings
        package.at = {Version(low): (d, w) for low, d, w in at}
        universe.seed_window(package, {versions[r] for r in window})
    return {name: entry[0] for name, entry in packages.items()}


def selection(facts: FactBase, solution: Solution) -> str:
    """A digest of the solver's choice as the lock reads it: each package's chosen versions
    with the cells they are chosen in (a bit mask over their indices: ``selected_cells``), over
    the space's cells, whose platforms, Python bounds and configurations are written once per
    object (examples/large's 180 cells share a few of each). On examples/large's warm lock,
    31.5 M instructions instead of 137 M with sorted lists of cell indices."""
    from resolver.resolution import selected_cells

    written: dict[int, str] = {}  # id -> text, of objects the cells keep alive

    def once(value: object, write: Any) -> str:
        text = written.get(id(value))
        if text is None:
            text = written[id(value)] = write(value)
        return text

    cells = [
        (once(c.platform, repr), once(c.python_low, str), once(c.python_high, str))
        + (once(c.config, repr),)
        for c in facts.space.cells
    ]
    names = facts.names
    chosen = sorted(
        (names[pid], rank, cells) for (pid, rank), cells in selected_cells(facts, solution).items()
    )
    return sha256(repr((cells, chosen)).encode()).hexdigest()
