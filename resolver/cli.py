"""The ``aspen`` command line."""

# ruff: noqa: E402  (the collector is turned off before the imports)
from __future__ import annotations

import gc

# No cyclic garbage collection while the modules load: imports make many objects and almost no
# garbage, and the collector walked them 45 times for one lock's imports (about 9 ms). Once they
# are loaded, what they made is frozen (never walked again) and the collector turned back on;
# the lock does the same after its own imports (see _lock).
_COLLECTING = gc.isenabled()
gc.disable()

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from resolver.errors import AspenError, StaleLock
from resolver.options import FORK_STRATEGIES, PRERELEASE_POLICIES, RESOLUTIONS

gc.freeze()
if _COLLECTING:
    gc.enable()

if TYPE_CHECKING:
    from resolver.options import LockOptions
    from resolver.prior import PriorLock
    from resolver.project import Project
    from resolver.provider import Provider

app = typer.Typer(
    name="aspen",
    help="Lock Python projects into a universal, optimal pylock.toml.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PYPI = "https://pypi.org/simple/"


# The values each option allows, as typer choices (the words live in resolver.options).
Prerelease = StrEnum("Prerelease", {word: word for word in PRERELEASE_POLICIES})
Resolution = StrEnum("Resolution", {word: word for word in RESOLUTIONS})
ForkStrategy = StrEnum("ForkStrategy", {word: word for word in FORK_STRATEGIES})


class Console:
    """Messages on stderr, by verbosity: -q shows errors only, -v adds details."""

    def __init__(self, verbosity: int) -> None:
        self.verbosity = verbosity
        self._lock = threading.Lock()  # fetch threads warn too: one whole line at a time

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            print(message, file=sys.stderr)

    def detail(self, message: str) -> None:
        if self.verbosity > 0:
            print(message, file=sys.stderr)

    def warn(self, message: str) -> None:
        if self.verbosity >= 0:
            with self._lock:
                print(f"warning: {message}", file=sys.stderr, flush=True)

    def note(self, message: str) -> None:
        """A warning that matters only to someone looking closer (shown with -v)."""
        if self.verbosity > 0:
            self.warn(message)

    def error(self, message: str) -> None:
        print(f"error: {message}", file=sys.stderr)


@app.callback()
def _main() -> None:
    """aspen: the lock is an answer-set program, solved to optimality by clingo."""


class Format(StrEnum):
    text = "text"
    json = "json"


ProjectOpt = Annotated[
    Path, typer.Option("--project", help="The project folder (holding pyproject.toml).")
]
IndexUrlOpt = Annotated[
    str | None, typer.Option("--index-url", "-i", help=f"The package index (default {PYPI}).")
]
ExtraIndexOpt = Annotated[
    list[str] | None,
    typer.Option("--extra-index-url", help="More indexes, after --index-url (repeatable)."),
]
FindLinksOpt = Annotated[
    list[str] | None,
    typer.Option("--find-links", "-f", help="A folder or page of distribution files (repeatable)."),
]
NoIndexOpt = Annotated[
    bool, typer.Option("--no-index", help="Ignore all indexes; use --find-links only.")
]
OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="No network: cached responses and local files only.")
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the cache.")]
CacheDirOpt = Annotated[
    Path | None, typer.Option("--cache-dir", help="Cache folder (default ~/.cache/aspen).")
]
NoBuildOpt = Annotated[
    bool, typer.Option("--no-build", help="Never build an sdist to read its metadata.")
]
PrereleaseOpt = Annotated[
    Prerelease | None,
    typer.Option(
        "--prerelease", help="Which pre-releases may be chosen (default if-necessary-or-explicit)."
    ),
]


ResolutionOpt = Annotated[
    Resolution | None,
    typer.Option(
        "--resolution",
        help="Prefer the highest versions (default), the lowest, or the lowest for direct "
        "dependencies only.",
    ),
]
ForkStrategyOpt = Annotated[
    ForkStrategy | None,
    typer.Option(
        "--fork-strategy",
        help="requires-python (default): the newest version for each Python range; fewest: "
        "the fewest versions of each package, before freshness.",
    ),
]
ExcludeNewerOpt = Annotated[
    str | None,
    typer.Option(
        "--exclude-newer",
        help="Leave out files uploaded at or after this date (2025-03-01) or RFC 3339 time; "
        "recorded in the lock and reused; 'none' clears it.",
    ),
]
FormatOpt = Annotated[
    Format, typer.Option("--format", help="text for people, json for tools (on stdout).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")]
VerboseOpt = Annotated[int, typer.Option("--verbose", "-v", count=True, help="Print details.")]


class Sources:
    """Where packages come from, as the options give it. (Plain classes, not dataclasses: a
    dataclass costs most of a millisecond to create, and every run loads this module.)"""

    __slots__ = (
        "index_url",
        "extra_index_urls",
        "find_links",
        "no_index",
        "offline",
        "no_cache",
        "cache_dir",
        "no_build",
    )

    def __init__(
        self,
        index_url: str | None = None,
        extra_index_urls: list[str] | None = None,
        find_links: list[str] | None = None,
        no_index: bool = False,
        offline: bool = False,
        no_cache: bool = False,
        cache_dir: Path | None = None,
        no_build: bool = False,
    ) -> None:
        self.index_url = index_url
        self.extra_index_urls = extra_index_urls or []
        self.find_links = find_links or []
        self.no_index = no_index
        self.offline = offline
        self.no_cache = no_cache
        self.cache_dir = cache_dir
        self.no_build = no_build


class Policy:
    """The lock options as the command line gives them (None: not given)."""

    __slots__ = ("prerelease", "resolution", "fork_strategy", "exclude_newer")

    def __init__(
        self,
        prerelease: Prerelease | None = None,
        resolution: Resolution | None = None,
        fork_strategy: ForkStrategy | None = None,
        exclude_newer: str | None = None,
    ) -> None:
        self.prerelease = prerelease
        self.resolution = resolution
        self.fork_strategy = fork_strategy
        self.exclude_newer = exclude_newer


@app.command()
def lock(
    project_dir: ProjectOpt = Path("."),
    index_url: IndexUrlOpt = None,
    extra_index_url: ExtraIndexOpt = None,
    find_links: FindLinksOpt = None,
    no_index: NoIndexOpt = False,
    offline: OfflineOpt = False,
    no_cache: NoCacheOpt = False,
    cache_dir: CacheDirOpt = None,
    no_build: NoBuildOpt = False,
    upgrade: Annotated[
        bool, typer.Option("--upgrade", "-U", help="Ignore the existing lock: newest everything.")
    ] = False,
    upgrade_package: Annotated[
        list[str] | None,
        typer.Option(
            "--upgrade-package",
            "-P",
            help="Move this package to its newest allowed version, or to NAME==VER / NAME<VER; "
            "others move only if they must (repeatable).",
        ),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check", "--locked", help="Exit 1 if pylock.toml is missing or stale; write nothing."
        ),
    ] = False,
    prerelease: PrereleaseOpt = None,
    resolution: ResolutionOpt = None,
    fork_strategy: ForkStrategyOpt = None,
    exclude_newer: ExcludeNewerOpt = None,
    output_format: FormatOpt = Format.text,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Create or refresh pylock.toml for the project."""
    console = Console(-1 if quiet else verbose)
    sources = Sources(
        index_url,
        extra_index_url or [],
        find_links or [],
        no_index,
        offline,
        no_cache,
        cache_dir,
        no_build,
    )
    with _reported(console, output_format):
        _lock(
            console,
            project_dir,
            sources,
            Policy(prerelease, resolution, fork_strategy, exclude_newer),
            upgrade=upgrade,
            upgrade_packages=upgrade_package or [],
            check=check,
        )


@contextmanager
def _reported(console: Console, output_format: Format) -> Iterator[None]:
    """Turn aspen's errors into a message (and JSON on stdout for an explained no-lock when
    asked) and the exit code that goes with them."""
    try:
        yield
    except AspenError as exc:
        explanation = getattr(exc, "explanation", None)
        if output_format is Format.json and explanation is not None:
            print(json.dumps(explanation.as_dict(), indent=2))
        console.error(str(exc))
        raise typer.Exit(exc.exit_code) from None


@app.command()
def why(
    name: Annotated[str, typer.Argument(help="The package to trace.")],
    project_dir: ProjectOpt = Path("."),
    output_format: FormatOpt = Format.text,
    quiet: QuietOpt = False,
) -> None:
    """Show the dependency paths that bring NAME into pylock.toml, per fork."""
    from resolver.project import load_project
    from resolver.why import render_why, why, why_as_dict

    console = Console(-1 if quiet else 0)
    with _reported(console, output_format):
        project = load_project(project_dir.resolve())
        forks = why(project, name)
        if output_format is Format.json:
            print(json.dumps(why_as_dict(name, forks), indent=2))
        else:
            print(render_why(name, forks))


@app.command("why-not")
def why_not_command(
    requirement: Annotated[str, typer.Argument(help="NAME==VERSION")],
    project_dir: ProjectOpt = Path("."),
    index_url: IndexUrlOpt = None,
    extra_index_url: ExtraIndexOpt = None,
    find_links: FindLinksOpt = None,
    no_index: NoIndexOpt = False,
    offline: OfflineOpt = False,
    no_cache: NoCacheOpt = False,
    cache_dir: CacheDirOpt = None,
    no_build: NoBuildOpt = False,
    prerelease: PrereleaseOpt = None,
    resolution: ResolutionOpt = None,
    fork_strategy: ForkStrategyOpt = None,
    exclude_newer: ExcludeNewerOpt = None,
    output_format: FormatOpt = Format.text,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = 0,
) -> None:
    """Say why NAME==VERSION is not in the lock: impossible (and the smallest reason), or
    possible but worse under the objective (which level, by how much). Writes nothing."""
    from resolver.prior import read_prior
    from resolver.project import load_project
    from resolver.why import why_not

    console = Console(-1 if quiet else verbose)
    sources = Sources(
        index_url,
        extra_index_url or [],
        find_links or [],
        no_index,
        offline,
        no_cache,
        cache_dir,
        no_build,
    )
    with _reported(console, output_format):
        project = load_project(project_dir.resolve())
        prior = read_prior(project.lock_path, console.warn)
        options = _options(
            project, prior, Policy(prerelease, resolution, fork_strategy, exclude_newer)
        )
        answer = why_not(
            project,
            _provider(console, project, sources),
            requirement,
            prior=_kept(console, prior, options),
            options=options,
            warn=console.warn,
        )
        if output_format is Format.json:
            print(json.dumps(answer.as_dict(), indent=2))
        else:
            print(answer.render())


def _kept(console: Console, prior: PriorLock | None, options: LockOptions) -> PriorLock | None:
    """The lock whose versions to keep: none when an objective option differs from the one it
    was made with (as uv does; keeping its versions would make the new option a no-op)."""
    moved = prior.changed_options(options) if prior is not None else []
    if moved:
        console.info(f"Ignoring the locked versions: {', '.join(moved)}")
        return None
    return prior


def _options(project: Project, prior: PriorLock | None, policy: Policy) -> LockOptions:
    """The command line first, then [tool.aspen], then (for the upload cut-off) the lock."""
    from resolver.options import LockOptions, parse_cutoff

    settings, default = project.settings, LockOptions()
    if policy.exclude_newer is not None:
        cutoff = parse_cutoff(policy.exclude_newer, "--exclude-newer")
    elif settings.exclude_newer is not None:
        cutoff = settings.exclude_newer
    elif prior is not None and prior.exclude_newer is not None:
        cutoff = parse_cutoff(prior.exclude_newer, f"{project.lock_path}: tool.aspen.exclude-newer")
    else:
        cutoff = None
    return LockOptions(
        prerelease=(policy.prerelease or settings.prerelease or default.prerelease),
        resolution=(policy.resolution or settings.resolution or default.resolution),
        fork_strategy=(policy.fork_strategy or settings.fork_strategy or default.fork_strategy),
        exclude_newer=cutoff,
    )


def _provider(console: Console, project: Project, sources: Sources) -> Provider:
    from resolver.index_provider import IndexProvider

    settings = project.settings
    if sources.no_index:
        indexes: list[str] = []
    else:
        indexes = [
            sources.index_url or settings.index_url or PYPI,
            *settings.extra_index_urls,
            *sources.extra_index_urls,
        ]
    links = [*settings.find_links, *sources.find_links]
    if not indexes and not links:
        raise AspenError("--no-index leaves no package source: add --find-links DIR")
    return IndexProvider(
        index_urls=[_as_url(u) for u in indexes],
        find_links=[_as_url(u) for u in links],
        offline=sources.offline,
        cache_dir=sources.cache_dir,
        no_cache=sources.no_cache,
        no_build=sources.no_build or settings.no_build,
        warn=console.warn,
        note=console.note,
    )


def _lock(
    console: Console,
    project_dir: Path,
    sources: Sources,
    policy: Policy,
    *,
    upgrade: bool,
    upgrade_packages: list[str],
    check: bool,
) -> None:
    collecting = gc.isenabled()
    gc.disable()  # while the lock's modules load, as while this one's did
    from resolver.locker import LockReport, lock_project
    from resolver.lockfile import lock_data, render_lock_data, write_lock
    from resolver.prior import read_prior, summarize
    from resolver.project import load_project, parse_requirement

    # Everything alive now (modules, classes, functions: kept until exit in any case) leaves
    # the cyclic collector's view, so that its full collections, which a lock's growing heap
    # triggers, do not walk it again (webapp: one full collection instead of two, about 0.2 s
    # of CPU less in 1.0-1.4 s). Nothing else changes: cycles made from here on are collected
    # as before. (Turning the collector off saves more, but a large lock makes enough cyclic
    # garbage that examples/large grew past 1.3 GB instead of 535 MB.) Young collections run
    # every 10,000 allocations instead of 700, and older ones less often: on examples/large,
    # 82 collections instead of 1,170 (no full one instead of 5), 0.33 s of collecting
    # instead of 0.75-0.83 s, the same peak (368 MB against 371 MB); a few hundredths of a
    # second on the small examples.
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    if collecting:
        gc.enable()
    started = time.perf_counter()
    project = load_project(project_dir.resolve())
    provider = _provider(console, project, sources)
    prior = read_prior(project.lock_path, console.warn)
    wanted: dict[str, SpecifierSet] = {}
    for text in upgrade_packages:
        req = parse_requirement(text, "--upgrade-package")
        wanted[canonicalize_name(req.name)] = req.specifier
    report = LockReport()
    options = _options(project, prior, policy)
    resolution = lock_project(
        project,
        provider,
        options=options,
        warn=console.warn,
        report=report,
        prior=None if upgrade else _kept(console, prior, options),
        upgrade=wanted,
    )
    locked_names = {e.name for e in resolution.entries}
    for name in sorted(set(wanted) - locked_names):
        console.warn(f"--upgrade-package {name}: {name} is not in the lock")
    data = lock_data(resolution)
    text = render_lock_data(data, prior.text if prior else None)
    changes = summarize(prior, data["packages"])
    elapsed = time.perf_counter() - started
    if check:
        if prior is None:
            raise StaleLock(f"{project.lock_path} does not exist; run `aspen lock`")
        if prior.text != text:
            for line in changes or ["(versions unchanged; the file's contents would change)"]:
                console.info(f"  {line}")
            raise StaleLock(f"{project.lock_path} is out of date; run `aspen lock`")
        console.info(f"{project.lock_path} is up to date ({elapsed:.2f}s)")
        return
    changed = write_lock(project.lock_path, text)
    for line in changes:
        console.info(line)
    verb = "Locked" if changed else "Unchanged:"
    count = len(locked_names)
    console.info(f"{verb} {count} packages in {elapsed:.2f}s -> {project.lock_path}")
    console.detail(
        f"  {report.cells} environment cells; {report.classes} package classes"
        f"{' (every package free to fork on every marker)' if report.fine else ''}; "
        f"{report.rounds} solve round(s)"
        f"{f' ({report.reused} answered by the round before)' if report.reused else ''}; "
        f"windows widened: {report.widened or 'none'}"
    )
    for level, cost in resolution.solution.costs().items():
        console.detail(f"  objective: {level}: {cost}")
    for key, value in {**report.timings, **resolution.solution.stats}.items():
        console.detail(f"  {key}: {value:.3f}")


def _as_url(location: str) -> str:
    """Index and find-links locations may be given as local paths; make them file:// URLs."""
    if "://" in location:
        return location
    return Path(location).resolve().as_uri() + ("/" if os.path.isdir(location) else "")


def main() -> None:
    """The console script. Once the command has finished and the streams are flushed, the
    process ends with ``os._exit``: the interpreter's own teardown (freeing every object of a
    solve one by one, joining idle fetch threads) took 0.1 to 1.5 s and does nothing a finished
    run needs. Every file aspen writes is complete by then (locks and cache entries are renamed
    into place), so no file is left half written either."""
    try:
        app()
        code: int | str | None = 0
    except SystemExit as exc:
        code = exc.code
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    if "resolver.trace" in sys.modules:  # loaded by whatever records spans
        sys.modules["resolver.trace"].finish()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that stopped early (`aspen ... | head`)
            pass
    os._exit(code or 0)


if __name__ == "__main__":
    main()
