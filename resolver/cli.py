"""The ``aspen`` command line."""

from __future__ import annotations

import os
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from resolver.errors import AspenError, StaleLock

app = typer.Typer(
    name="aspen",
    help="Lock Python projects into a universal, optimal pylock.toml.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PYPI = "https://pypi.org/simple/"


class Prerelease(StrEnum):
    disallow = "disallow"
    allow = "allow"
    if_necessary = "if-necessary"
    explicit = "explicit"
    if_necessary_or_explicit = "if-necessary-or-explicit"


class Console:
    """Messages on stderr, by verbosity: -q shows errors only, -v adds details."""

    def __init__(self, verbosity: int) -> None:
        self.verbosity = verbosity

    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            print(message, file=sys.stderr)

    def detail(self, message: str) -> None:
        if self.verbosity > 0:
            print(message, file=sys.stderr)

    def warn(self, message: str) -> None:
        if self.verbosity >= 0:
            print(f"warning: {message}", file=sys.stderr)

    def error(self, message: str) -> None:
        print(f"error: {message}", file=sys.stderr)


@app.callback()
def _main() -> None:
    """aspen: the lock is an answer-set program, solved to optimality by clingo."""


@app.command()
def lock(
    project_dir: Annotated[
        Path, typer.Option("--project", help="The project folder (holding pyproject.toml).")
    ] = Path("."),
    index_url: Annotated[
        str | None, typer.Option("--index-url", "-i", help=f"The package index (default {PYPI}).")
    ] = None,
    extra_index_url: Annotated[
        list[str] | None,
        typer.Option("--extra-index-url", help="More indexes, after --index-url (repeatable)."),
    ] = None,
    find_links: Annotated[
        list[str] | None,
        typer.Option(
            "--find-links", "-f", help="A folder or page of distribution files (repeatable)."
        ),
    ] = None,
    no_index: Annotated[
        bool, typer.Option("--no-index", help="Ignore all indexes; use --find-links only.")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="No network: cached responses and local files only.")
    ] = False,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Neither read nor write the cache.")
    ] = False,
    cache_dir: Annotated[
        Path | None, typer.Option("--cache-dir", help="Cache folder (default ~/.cache/aspen).")
    ] = None,
    no_build: Annotated[
        bool, typer.Option("--no-build", help="Never build an sdist to read its metadata.")
    ] = False,
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
    prerelease: Annotated[
        Prerelease | None,
        typer.Option(
            "--prerelease",
            help="Which pre-releases may be chosen (default if-necessary-or-explicit).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print errors only.")] = False,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="Print details.")] = 0,
) -> None:
    """Create or refresh pylock.toml for the project."""
    console = Console(-1 if quiet else verbose)
    try:
        _lock(
            console,
            project_dir,
            index_url=index_url,
            extra_index_urls=extra_index_url or [],
            find_links=find_links or [],
            no_index=no_index,
            offline=offline,
            no_cache=no_cache,
            cache_dir=cache_dir,
            no_build=no_build,
            prerelease=prerelease.value if prerelease else None,
            upgrade=upgrade,
            upgrade_packages=upgrade_package or [],
            check=check,
        )
    except AspenError as exc:
        console.error(str(exc))
        raise typer.Exit(exc.exit_code) from None


def _lock(
    console: Console,
    project_dir: Path,
    *,
    index_url: str | None,
    extra_index_urls: list[str],
    find_links: list[str],
    no_index: bool,
    offline: bool,
    no_cache: bool,
    cache_dir: Path | None,
    no_build: bool,
    prerelease: str | None,
    upgrade: bool,
    upgrade_packages: list[str],
    check: bool,
) -> None:
    from resolver.index_provider import IndexProvider
    from resolver.locker import LockReport, lock_project
    from resolver.lockfile import render_lock, write_lock
    from resolver.prior import read_prior, summarize
    from resolver.project import load_project, parse_requirement

    started = time.perf_counter()
    project = load_project(project_dir.resolve())
    settings = project.settings
    if no_index:
        indexes: list[str] = []
    else:
        indexes = [
            index_url or settings.index_url or PYPI,
            *settings.extra_index_urls,
            *extra_index_urls,
        ]
    links = [*settings.find_links, *find_links]
    if not indexes and not links:
        raise AspenError("--no-index leaves no package source: add --find-links DIR")
    provider = IndexProvider(
        index_urls=[_as_url(u) for u in indexes],
        find_links=[_as_url(u) for u in links],
        offline=offline,
        cache_dir=cache_dir,
        no_cache=no_cache,
        no_build=no_build or settings.no_build,
        warn=console.warn,
    )
    prior = read_prior(project.lock_path, console.warn)
    wanted: dict[str, SpecifierSet] = {}
    for text in upgrade_packages:
        req = parse_requirement(text, "--upgrade-package")
        wanted[canonicalize_name(req.name)] = req.specifier
    report = LockReport()
    resolution = lock_project(
        project,
        provider,
        prerelease=prerelease or settings.prerelease or "if-necessary-or-explicit",
        warn=console.warn,
        report=report,
        prior=None if upgrade else prior,
        upgrade=wanted,
    )
    locked_names = {e.name for e in resolution.entries}
    for name in sorted(set(wanted) - locked_names):
        console.warn(f"--upgrade-package {name}: {name} is not in the lock")
    text = render_lock(resolution)
    changes = summarize(prior, text)
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
        f"{report.rounds} solve round(s); windows widened: {report.widened or 'none'}"
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
    app()


if __name__ == "__main__":
    main()
