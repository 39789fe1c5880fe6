#!/usr/bin/env python3
"""Time the collection half of ``aspen lock`` alone: file lists and window metadata of every
package a project reaches, from the cache (or the network), without solving.

    python bench/collect.py examples/large --cache-dir /tmp/aspen-cache --offline
    python bench/collect.py examples/webapp --cache-dir /tmp/aspen-cache --runs 3

Each run is a fresh process (``--child``), so interpreter start-up and imports are part of
what is measured, as in a real lock; the parent prints one line per run and the median.
``--profile FILE`` runs once under pyinstrument and writes its text report to FILE.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _child(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    if args.gc_threshold:
        import gc

        gc.set_threshold(args.gc_threshold, 10, 10)
    from resolver.environments import DEFAULT_REQUIRES_PYTHON, EnvironmentSpace
    from resolver.index_provider import IndexProvider
    from resolver.project import load_project
    from resolver.universe import Universe

    imported = time.perf_counter()
    project = load_project(Path(args.project).resolve())
    space = EnvironmentSpace.build(
        project.requires_python or DEFAULT_REQUIRES_PYTHON, project.settings.environments
    )
    warnings: list[str] = []
    with IndexProvider(
        index_urls=[args.index_url],
        offline=args.offline,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        no_cache=args.no_cache,
        warn=warnings.append,
        max_workers=args.workers,
    ) as provider:
        universe = Universe(project, provider, space, warn=warnings.append)
        universe.collect()
        collected = time.perf_counter()
        stats = provider.stats()
    packages = universe.packages.values()
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "collect_s": collected - imported,
                "cpu_s": time.process_time(),
                "packages": len(universe.packages),
                "files": sum(len(fs) for p in packages for fs in p.files.values()),
                "metadata": sum(len(p.metadata) for p in packages),
                "http_imported": "requests" in sys.modules,
                "warnings": len(warnings),
                "stats": stats,
            }
        )
    )


def _without(argv: list[str], *options: str) -> list[str]:
    """``argv`` less the given options and their values (``--opt V`` or ``--opt=V``)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not arg.startswith(tuple(f"{option}=" for option in options)):
            out.append(arg)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project")
    parser.add_argument("--cache-dir")
    parser.add_argument("--index-url", default="https://pypi.org/simple/")
    parser.add_argument("--offline", action="store_true")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=16, help="fetch threads (default 16)")
    parser.add_argument(
        "--gc-threshold", type=int, default=0, help="set gc.set_threshold(N, 10, 10) first"
    )
    parser.add_argument("--profile", help="write a pyinstrument report of one run here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    forwarded = _without(sys.argv[1:], "--runs", "--profile")
    if args.profile:
        command = [sys.executable, "-m", "pyinstrument", "-o", args.profile, __file__]
        subprocess.run([*command, *forwarded, "--child"], check=True)
        return
    walls, cpus, collects = [], [], []
    for run in range(args.runs):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, __file__, *forwarded, "--child"],
            check=True,
            capture_output=True,
            text=True,
        )
        walls.append(time.perf_counter() - started)
        report = json.loads(result.stdout)
        cpus.append(report["cpu_s"])
        collects.append(report["collect_s"])
        print(f"run {run + 1}: wall {walls[-1]:.2f} s  {result.stdout.strip()}", flush=True)
    print(
        f"median over {len(walls)} run(s): wall {statistics.median(walls):.2f} s, "
        f"collect {statistics.median(collects):.2f} s, cpu {statistics.median(cpus):.2f} s"
    )


if __name__ == "__main__":
    main()
