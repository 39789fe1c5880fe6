"""The ``aspen`` command line: what each command does, and its options.

The commands are typer's: ``resolver.commands`` declares them to typer from the functions and
the table of options here.
"""

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
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

PYPI = "https://pypi.org/simple/"
FORMATS = ("text", "json")

# Every option and argument of the commands, by parameter name: its names on the command line
# (none: an argument), what it takes, and its help. What it takes: "flag", "count" (-v -v),
# "text", "texts" (repeatable), "path", or the words it allows.
OPTIONS: dict[str, tuple[tuple[str, ...], str | tuple[str, ...], str]] = {
    "name": ((), "text", "The package to trace."),
    "requirement": ((), "text", "NAME==VERSION"),
    "project_dir": (("--project",), "path", "The project folder (holding pyproject.toml)."),
    "index_url": (("--index-url", "-i"), "text", f"The package index (default {PYPI})."),
    "extra_index_url": (
        ("--extra-index-url",),
        "texts",
        "More indexes, after --index-url (repeatable).",
    ),
    "find_links": (
        ("--find-links", "-f"),
        "texts",
        "A folder or page of distribution files (repeatable).",
    ),
    "no_index": (("--no-index",), "flag", "Ignore all indexes; use --find-links only."),
    "offline": (("--offline",), "flag", "No network: cached responses and local files only."),
    "no_cache": (("--no-cache",), "flag", "Neither read nor write the cache."),
    "cache_dir": (("--cache-dir",), "path", "Cache folder (default ~/.cache/aspen)."),
    "no_build": (("--no-build",), "flag", "Never build an sdist to read its metadata."),
    "upgrade": (("--upgrade", "-U"), "flag", "Ignore the existing lock: newest everything."),
    "upgrade_package": (
        ("--upgrade-package", "-P"),
        "texts",
        "Move this package to its newest allowed version, or to NAME==VER / NAME<VER; "
        "others move only if they must (repeatable).",
    ),
    "check": (
        ("--check", "--locked"),
        "flag",
        "Exit 1 if pylock.toml is missing or stale; write nothing.",
    ),
    "prerelease": (
        ("--prerelease",),
        PRERELEASE_POLICIES,
        "Which pre-releases may be chosen (default if-necessary-or-explicit).",
    ),
    "resolution": (
        ("--resolution",),
        RESOLUTIONS,
        "Prefer the highest versions (default), the lowest, or the lowest for direct "
        "dependencies only.",
    ),
    "fork_strategy": (
        ("--fork-strategy",),
        FORK_STRATEGIES,
        "requires-python (default): the newest version for each Python range; fewest: "
        "the fewest versions of each package, before freshness.",
    ),
    "exclude_newer": (
        ("--exclude-newer",),
        "text",
        "Leave out files uploaded at or after this date (2025-03-01) or RFC 3339 time; "
        "recorded in the lock and reused; 'none' clears it.",
    ),
    "output_format": (("--format",), FORMATS, "text for people, json for tools (on stdout)."),
    "quiet": (("--quiet", "-q"), "flag", "Print errors only."),
    "verbose": (("--verbose", "-v"), "count", "Print details."),
}


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


class Invocation:
    """What the options that ``lock`` and ``why-not`` share say: the project, where packages
    come from, the lock options as given (None: not given), and how to report (these are the
    parameters of those commands' ``**common``). (A plain class, not a dataclass: a dataclass
    costs most of a millisecond to create, and every run loads this module.)"""

    __slots__ = (
        "project_dir",
        "index_url",
        "extra_index_urls",
        "find_links",
        "no_index",
        "offline",
        "no_cache",
        "cache_dir",
        "no_build",
        "prerelease",
        "resolution",
        "fork_strategy",
        "exclude_newer",
        "output_format",
        "console",
    )

    def __init__(
        self,
        project_dir: Path = Path("."),
        index_url: str | None = None,
        extra_index_url: list[str] | None = None,
        find_links: list[str] | None = None,
        no_index: bool = False,
        offline: bool = False,
        no_cache: bool = False,
        cache_dir: Path | None = None,
        no_build: bool = False,
        prerelease: str | None = None,
        resolution: str | None = None,
        fork_strategy: str | None = None,
        exclude_newer: str | None = None,
        output_format: str = "text",
        quiet: bool = False,
        verbose: int = 0,
    ) -> None:
        self.project_dir = project_dir
        self.index_url = index_url
        self.extra_index_urls = extra_index_url or []
        self.find_links = find_links or []
        self.no_index = no_index
        self.offline = offline
        self.no_cache = no_cache
        self.cache_dir = cache_dir
        self.no_build = no_build
        self.prerelease = prerelease
        self.resolution = resolution
        self.fork_strategy = fork_strategy
        self.exclude_newer = exclude_newer
        self.output_format = output_format
        self.console = Console(-1 if quiet else verbose)


# inspect.CO_VARKEYWORDS, without loading inspect (about 10 ms; typer loads it anyway).
_CO_VARKEYWORDS = 0x08


def parameters(command: Callable[..., None]) -> list[str]:
    """The parameters of a command, in the order of ``OPTIONS``: its own, and for
    ``**common`` those of ``Invocation``."""
    code = command.__code__
    names = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
    if code.co_flags & _CO_VARKEYWORDS:
        init = Invocation.__init__.__code__
        names += init.co_varnames[1 : init.co_argcount]
    order = list(OPTIONS)
    return sorted(names, key=order.index)


def lock(
    upgrade: bool = False,
    upgrade_package: list[str] | None = None,
    check: bool = False,
    **common: Any,
) -> None:
    """Create or refresh pylock.toml for the project."""
    run = Invocation(**common)
    with _reported(run.console, run.output_format):
        _lock(
            run,
            upgrade=upgrade,
            upgrade_packages=upgrade_package or [],
            check=check,
        )


@contextmanager
def _reported(console: Console, output_format: str) -> Iterator[None]:
    """Turn aspen's errors into a message (and JSON on stdout for an explained no-lock when
    asked) and the exit code that goes with them."""
    try:
        yield
    except AspenError as exc:
        explanation = getattr(exc, "explanation", None)
        if output_format == "json" and explanation is not None:
            print(json.dumps(explanation.as_dict(), indent=2))
        console.error(str(exc))
        raise SystemExit(exc.exit_code) from None


def why(
    name: str,
    project_dir: Path = Path("."),
    output_format: str = "text",
    quiet: bool = False,
) -> None:
    """Show the dependency paths that bring NAME into pylock.toml, per fork."""
    from resolver.project import load_project
    from resolver.why import render_why, why, why_as_dict

    console = Console(-1 if quiet else 0)
    with _reported(console, output_format):
        project = load_project(project_dir.resolve())
        forks = why(project, name)
        if output_format == "json":
            print(json.dumps(why_as_dict(name, forks), indent=2))
        else:
            print(render_why(name, forks))


def why_not_command(requirement: str, **common: Any) -> None:
    """Say why NAME==VERSION is not in the lock: impossible (and the smallest reason), or
    possible but worse under the objective (which level, by how much). Writes nothing."""
    from resolver.prior import read_prior
    from resolver.project import load_project
    from resolver.why import why_not

    run = Invocation(**common)
    console = run.console
    with _reported(console, run.output_format):
        project = load_project(run.project_dir.resolve())
        prior = read_prior(project.lock_path, console.warn)
        options = _options(project, prior, run)
        answer = why_not(
            project,
            _provider(console, project, run),
            requirement,
            prior=_kept(console, prior, options),
            options=options,
            warn=console.warn,
        )
        if run.output_format == "json":
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


def _options(project: Project, prior: PriorLock | None, policy: Invocation) -> LockOptions:
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


def _provider(console: Console, project: Project, sources: Invocation) -> Provider:
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
    run: Invocation,
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
    # as before. (The locker turns the collector off while it locks and back on at a conflict:
    # resolver/locker.py's lock_project. When this was written, a lock made enough cyclic
    # garbage that examples/large grew past 1.3 GB without it.) Young collections run
    # every 10,000 allocations instead of 700, and older ones less often: on examples/large,
    # 82 collections instead of 1,170 (no full one instead of 5), 0.33 s of collecting
    # instead of 0.75-0.83 s, the same peak (368 MB against 371 MB); a few hundredths of a
    # second on the small examples.
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    if collecting:
        gc.enable()
    started = time.perf_counter()
    console = run.console
    project = load_project(run.project_dir.resolve())
    provider = _provider(console, project, run)
    prior = read_prior(project.lock_path, console.warn)
    wanted: dict[str, SpecifierSet] = {}
    for text in upgrade_packages:
        req = parse_requirement(text, "--upgrade-package")
        wanted[canonicalize_name(req.name)] = req.specifier
    report = LockReport()
    options = _options(project, prior, run)
    resolution = lock_project(
        project,
        provider,
        options=options,
        warn=console.warn,
        report=report,
        prior=None if upgrade else _kept(console, prior, options),
        upgrade=wanted,
        ending=True,
    )
    previous = prior.text if prior else None
    # A lock that found again every input of the lock its memory recorded writes that lock's
    # text; any other lock with a memory is recorded for the next (resolver/widths.py).
    recorded = report.written if report.written and report.written.over(previous) else None
    if recorded is not None:
        text, packages = recorded.text, recorded.packages
    else:
        data = lock_data(resolution)
        text, packages = render_lock_data(data, previous), data["packages"]
        if report.memory is not None and report.fingerprint is not None:
            report.memory.write_output(previous, text, packages, report.fingerprint)
    locked_names = {p["name"] for p in packages}
    for name in sorted(set(wanted) - locked_names):
        console.warn(f"--upgrade-package {name}: {name} is not in the lock")
    changes = summarize(prior, packages)
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
        f"  {report.cells} environment cells"
        f"{f'; {report.classes} package classes' if report.classes else ''}"
        f"{' (every package free to fork on every marker)' if report.fine else ''}; "
        f"{report.rounds} solve round(s)"
        f"{f' ({report.reused} answered by the round before)' if report.reused else ''}"
        f"{f' (the first solved early, in a {report.early})' if report.early else ''}; "
        f"windows widened: {report.widened or 'none'}"
    )
    if recorded is not None:
        console.detail("  its text as the last lock of the same inputs wrote it")
    for level, cost in resolution.solution.costs().items():
        console.detail(f"  objective: {level}: {cost}")
    for key, value in {**report.timings, **resolution.solution.stats}.items():
        console.detail(f"  {key}: {value:.3f}")


def _as_url(location: str) -> str:
    """Index and find-links locations may be given as local paths; make them file:// URLs."""
    if "://" in location:
        return location
    return Path(location).resolve().as_uri() + ("/" if os.path.isdir(location) else "")


class Interrupted(SystemExit):
    """A signal that ends the run arrived (Ctrl-C, SIGTERM, SIGHUP)."""


def _interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(128 + signum)


_ENDING_SIGNALS = [signal.SIGINT, signal.SIGTERM, *filter(None, [getattr(signal, "SIGHUP", None)])]


def main() -> None:
    """The console script: typer's commands (``resolver.commands``).

    Once the command has finished and the streams are flushed, the process ends with
    ``os._exit``: the interpreter's own teardown (freeing every object of a solve one by one,
    joining idle fetch threads) took 0.1 to 1.5 s and does nothing a finished run needs. Every
    file aspen writes is complete by then (locks and cache entries are renamed into place), so
    no file is left half written either.

    A signal that ends the run (Ctrl-C, SIGTERM, SIGHUP) stops it where it is, with
    "aspen: interrupted" and the exit code a shell gives a process that signal ended (128 plus
    its number: 130, 143, 129). Its temporary folders and child processes (builds) go with it
    (``resolver.scratch``), and the lock and the cache keep only whole files."""
    for signum in _ENDING_SIGNALS:
        signal.signal(signum, _interrupted)
    try:
        from resolver.commands import app

        app()
        code: int | str | None = 0
    except Interrupted as exc:
        code = exc.code
        print("aspen: interrupted", file=sys.stderr)
    except SystemExit as exc:
        code = exc.code
    for signum in _ENDING_SIGNALS:  # a second signal must not cut the clean-up short
        signal.signal(signum, signal.SIG_IGN)
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    if "resolver.trace" in sys.modules:  # loaded by whatever records spans
        sys.modules["resolver.trace"].finish()
    if "resolver.scratch" in sys.modules:  # loaded by the first download or build
        sys.modules["resolver.scratch"].cleanup(final=True)  # build environments included
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader that stopped early (`aspen ... | head`)
            pass
    os._exit(code or 0)


def __getattr__(name: str) -> Any:
    """``resolver.cli.app``: typer's application (loaded on first use)."""
    if name == "app":
        from resolver.commands import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
