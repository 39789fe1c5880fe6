#!/usr/bin/env python3
"""Time ``aspen lock`` against ``uv lock`` on the projects in ``examples/``.

Each measured run is a whole process (interpreter start-up, imports, network or cache,
resolution, writing the lock), started from this script and reaped with ``os.wait4``, which
gives the run's own resource usage: wall time comes from ``time.perf_counter`` around the
spawn and the reap, peak memory from the reaped child's ``ru_maxrss`` (see bench/README.md).

aspen and uv runs are interleaved (A, U, A, U, ...) so that machine noise hits both tools,
and each tool gets its own temporary project folder and cache.

    python bench/run.py                          # all examples, warm and cold
    python bench/run.py --mode warm --runs 3 --examples tiny webapp
    python bench/run.py --json results.json     # also write every run's raw numbers

Standard library only (Python 3.11+).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
TOOLS = ("aspen", "uv")
LOCKFILE = {"aspen": "pylock.toml", "uv": "uv.lock"}

# Targets from the "Speed" issue (see bench/README.md).
TARGET_RATIO = 1.5
TARGET_LARGE_WARM_S = 3.0
TARGET_LARGE_WARM_MB = 500.0


# --------------------------------------------------------------------------- measuring


@dataclass
class Run:
    tool: str
    mode: str  # "fill", "warm" or "cold"
    index: int
    status: str  # "ok", "failed" (non-zero exit), "timeout", "error" (could not start)
    exit_code: int | None
    wall_s: float
    maxrss_mb: float  # peak resident set size of the largest process of the run's tree
    user_s: float
    sys_s: float
    log: str = ""  # last lines of stderr when the run did not succeed


def measure(
    cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float, log_path: Path
) -> tuple[str, int | None, float, float, float, float]:
    """Run ``cmd`` as a whole process; return (status, exit code, wall s, peak MB, user s, sys s).

    The child is reaped with ``os.wait4`` on its own pid: wall time is measured from before the
    spawn to the reap, CPU time is the child's own plus that of every descendant it waited for.
    The child gets its own session (process group) so that a timed-out run is killed with all it
    started.

    Peak memory: ``ru_maxrss`` of a process starts from the memory of the process that forked it
    (Linux carries the pre-exec high-water mark over into the exec'd program), so the wait4 value
    of a child of this Python process is never below this process's own peak (about 15 MB). When
    GNU time is there (``TIME_BIN``), the command runs under ``/usr/bin/time -f %M``: a ~1 MB C
    program forks the command and reports the command's own ``ru_maxrss``, which is then the peak
    RSS of the largest single process of the command's tree (the command, or a descendant it
    waited for), with a floor of about 1-2 MB.
    """
    rusage_file = log_path.with_suffix(".rusage")
    if TIME_BIN:
        argv = [TIME_BIN, "-f", "%M", "-o", str(rusage_file), *cmd]
    else:
        argv = cmd
    with open(log_path, "wb") as log:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            log.write(f"cannot start {argv[0]}: {exc}\n".encode())
            return "error", None, 0.0, 0.0, 0.0, 0.0
        timed_out = not _wait_exit(proc.pid, timeout)
        hwm_kib = 0
        if timed_out:
            hwm_kib = _group_hwm_kib(proc.pid)  # the peak so far, before the kill
            # SIGTERM first, so that aspen removes its temporary folders and ends its builds
            # (a run killed outright leaves unpacked sdists behind); SIGKILL if it lingers.
            for kill in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(proc.pid, kill)
                except ProcessLookupError:
                    break
                if _wait_exit(proc.pid, 15):
                    break
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # reaped here, not by Popen
    if timed_out:
        state = "timeout"
    else:
        state = "ok" if code == 0 else "failed"
        try:  # leftovers of the run's process group (there should be none)
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    maxrss_kib = usage.ru_maxrss  # Linux: KiB
    if timed_out:
        # Killed: GNU time reports nothing, and wait4 only has what was reaped before the kill.
        # Use the largest VmHWM (peak RSS) of the group's processes read just before the kill.
        maxrss_kib = hwm_kib
    elif TIME_BIN:
        try:
            maxrss_kib = int(rusage_file.read_text().split()[-1])
        except (OSError, ValueError, IndexError):
            pass  # GNU time wrote nothing: keep the wait4 value
    return state, code, wall, maxrss_kib / 1024, usage.ru_utime, usage.ru_stime


def _group_hwm_kib(pgid: int) -> int:
    """The largest VmHWM (KiB) among the live processes of process group ``pgid``."""
    best = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) != pgid:  # fields: state, ppid, pgrp, ...
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    best = max(best, int(line.split()[1]))
        except (OSError, ValueError, IndexError):
            continue
    return best


def find_time_bin() -> str | None:
    """GNU time, if it is there and answers to ``-f %M``."""
    path = shutil.which("time", path="/usr/bin:/bin") or None
    if not path:
        return None
    try:
        out = subprocess.run([path, "-f", "%M", "true"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if out.returncode == 0 and out.stderr.strip().isdigit() else None


TIME_BIN: str | None = None  # set by main()


def _wait_exit(pid: int, timeout: float) -> bool:
    """Block until ``pid`` has exited (without reaping it) or ``timeout`` passes."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        try:
            ready, _, _ = select.select([fd], [], [], timeout)
            return bool(ready)
        finally:
            os.close(fd)
    # No pidfd: poll with waitid(WNOWAIT), which leaves the child for wait4.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is not None:
            return True
        time.sleep(0.001)
    return False


def tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


# --------------------------------------------------------------------------- the tools


@dataclass
class Workspace:
    """One example's temporary folders: a project folder and a cache per tool."""

    example: str
    root: Path
    project: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def create(cls, example: str, base: Path) -> Workspace:
        root = base / example
        ws = cls(example, root)
        for tool in TOOLS:
            project = root / f"{tool}-project"
            project.mkdir(parents=True)
            shutil.copy2(EXAMPLES / example / "pyproject.toml", project / "pyproject.toml")
            ws.project[tool] = project
        return ws

    def lock(self, tool: str) -> Path:
        return self.project[tool] / LOCKFILE[tool]


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "ASPEN_"))}
    env.pop("VIRTUAL_ENV", None)
    env["UV_NO_CONFIG"] = "1"  # no user or system uv.toml
    env["NO_COLOR"] = "1"
    return env


def command(
    tool: str, exe: str, project: Path, cache: Path, offline: bool
) -> tuple[list[str], dict]:
    env = base_env()
    if tool == "aspen":
        cmd = [exe, "lock", "--project", str(project), "--cache-dir", str(cache)]
    else:
        cmd = [exe, "lock", "--project", str(project)]
        env["UV_CACHE_DIR"] = str(cache)
    if offline:
        cmd.append("--offline")
    return cmd, env


def run_tool(
    tool: str,
    exe: str,
    ws: Workspace,
    mode: str,
    index: int,
    cache: Path,
    offline: bool,
    timeout: float,
) -> Run:
    ws.lock(tool).unlink(missing_ok=True)
    cmd, env = command(tool, exe, ws.project[tool], cache, offline)
    log_path = ws.root / f"{tool}-{mode}-{index}.log"
    state, code, wall, rss, user, system = measure(
        cmd, cwd=ws.project[tool], env=env, timeout=timeout, log_path=log_path
    )
    if state == "ok" and not ws.lock(tool).exists():
        state = "failed"  # exit 0 but no lock written
    run = Run(tool, mode, index, state, code, wall, rss, user, system)
    if state != "ok":
        run.log = tail(log_path)
    return run


# --------------------------------------------------------------------------- lock contents


def count_packages(tool: str, lock: Path, project_name: str) -> dict | None:
    """Entries (a package locked at two versions counts twice) and distinct names of a lock."""
    try:
        data = tomllib.loads(lock.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return None
    if tool == "aspen":
        entries = data.get("packages", [])
    else:
        entries = [
            p
            for p in data.get("package", [])
            if not (
                p.get("name") == project_name
                and ("virtual" in p.get("source", {}) or "editable" in p.get("source", {}))
            )
        ]
    names = {_normalize(p.get("name", "")) for p in entries}
    return {"entries": len(entries), "names": len(names)}


def _normalize(name: str) -> str:
    return "-".join(name.replace("_", "-").replace(".", "-").lower().split("-"))


# --------------------------------------------------------------------------- the machine


def machine(aspen: str, uv: str) -> dict:
    info: dict[str, str | int | None] = {}
    info["nproc"] = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    )
    info["cpu"] = _first_field(Path("/proc/cpuinfo"), "model name") or platform.processor() or None
    mem = _first_field(Path("/proc/meminfo"), "MemTotal")
    if mem and mem.split()[0].isdigit():
        info["memory"] = f"{int(mem.split()[0]) / 1024 / 1024:.1f} GiB"
    info["os"] = f"{platform.system()} {platform.release()} {platform.machine()}"
    info["python (bench)"] = platform.python_version()
    aspen_python = _shebang(aspen)
    if aspen_python:
        info["python (aspen)"] = _output(
            [aspen_python, "-c", "import platform; print(platform.python_version())"]
        )
        info["clingo"] = _output([aspen_python, "-c", "import clingo; print(clingo.__version__)"])
    commit = _output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    if commit:
        dirty = _output(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "resolver", "encodings"]
        )
        info["aspen commit"] = commit + (" (resolver/ or encodings/ modified)" if dirty else "")
    info["uv"] = _output([uv, "--version"])
    return info


def compile_aspen(aspen: str) -> str:
    """Compile aspen's modules to bytecode before timing, as installing a wheel does. An
    editable install run under PYTHONDONTWRITEBYTECODE (set on some machines) would otherwise
    compile every module from source on every run: 0.1 s of a 0.2 s lock."""
    python = _shebang(aspen)
    if python is None:
        return "not compiled (no Python found in aspen's launcher)"
    code = (
        "import compileall, os, resolver; "
        "print(compileall.compile_dir(os.path.dirname(resolver.__file__), quiet=1))"
    )
    done = _output([python, "-c", code])
    if done != "True":
        return "not compiled (compileall failed)"
    return "compiled before timing (compileall, as a wheel install does)"


def _first_field(path: Path, key: str) -> str | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _shebang(script: str) -> str | None:
    try:
        with open(script, "rb") as f:
            first = f.readline().decode(errors="replace").strip()
    except OSError:
        return None
    if first.startswith("#!"):
        parts = first[2:].split()
        return parts[0] if parts else None
    return None


def _output(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


# --------------------------------------------------------------------------- the bench


def bench_example(
    example: str, modes: list[str], args: argparse.Namespace, base: Path, exes: dict[str, str]
) -> dict:
    project_name = tomllib.loads((EXAMPLES / example / "pyproject.toml").read_text())["project"][
        "name"
    ]
    result: dict = {"example": example, "runs": [], "packages": {}}

    def record(run: Run, ws: Workspace) -> None:
        result["runs"].append(asdict(run))
        note = "" if run.status == "ok" else f"  [{run.status}, exit {run.exit_code}]"
        if run.status == "timeout":
            note += " (peak MB: as read just before the kill)"
        progress(
            f"  {example:18} {run.mode:4} #{run.index} {run.tool:5} "
            f"{run.wall_s:8.2f} s {run.maxrss_mb:8.1f} MB{note}"
        )
        if run.log:
            progress("    " + run.log.replace("\n", "\n    "))
        if run.status == "ok":
            counted = count_packages(run.tool, ws.lock(run.tool), project_name)
            if counted:
                result["packages"][run.tool] = counted

    if "warm" in modes:
        ws = Workspace.create(example, base / "warm")
        caches = {tool: ws.root / f"{tool}-cache" for tool in TOOLS}
        filled = {}
        for tool in TOOLS:  # fill each tool's own cache once, with network
            run = run_tool(tool, exes[tool], ws, "fill", 0, caches[tool], False, args.timeout)
            record(run, ws)
            filled[tool] = run.status == "ok"
        result["fill_ok"] = filled
        result["fill"] = {r["tool"]: r for r in result["runs"] if r["mode"] == "fill"}
        runs = args.runs_for.get(example, args.runs)
        for i in range(1, runs + 1):
            for tool in TOOLS:
                if tool == "aspen" and args.no_learned_widths:
                    shutil.rmtree(caches[tool] / "widths", ignore_errors=True)
                if filled[tool]:
                    record(
                        run_tool(tool, exes[tool], ws, "warm", i, caches[tool], True, args.timeout),
                        ws,
                    )

    if "cold" in modes:
        ws = Workspace.create(example, base / "cold")
        for i in range(1, args.cold_runs + 1):
            for tool in TOOLS:
                cache = ws.root / f"{tool}-cache-{i}"
                cache.mkdir()
                record(run_tool(tool, exes[tool], ws, "cold", i, cache, False, args.timeout), ws)
                if not args.keep:
                    shutil.rmtree(cache, ignore_errors=True)

    return result


def summarize(results: list[dict], modes: list[str]) -> list[dict]:
    rows = []
    for res in results:
        for mode in modes:
            row: dict = {"example": res["example"], "mode": mode}
            for tool in TOOLS:
                runs = [r for r in res["runs"] if r["tool"] == tool and r["mode"] == mode]
                ok = [r for r in runs if r["status"] == "ok"]
                row[tool] = {
                    "runs": len(runs),
                    "ok": len(ok),
                    "median_s": statistics.median(r["wall_s"] for r in ok) if ok else None,
                    "min_s": min((r["wall_s"] for r in ok), default=None),
                    "max_s": max((r["wall_s"] for r in ok), default=None),
                    "peak_mb": max((r["maxrss_mb"] for r in ok), default=None),
                    "median_cpu_s": statistics.median(r["user_s"] + r["sys_s"] for r in ok)
                    if ok
                    else None,
                    "problems": sorted({r["status"] for r in runs if r["status"] != "ok"}),
                }
                bad = [r for r in runs if r["status"] != "ok"]
                if mode == "warm" and not res.get("fill_ok", {}).get(tool, True):
                    fill = res["fill"][tool]
                    bad.append(fill)
                    text = f"cache fill {fill['status']}"
                    if fill["status"] == "timeout":
                        text += f" after {fill['wall_s']:.0f} s"
                    row[tool]["problems"].append(text)
                timeouts = [r for r in bad if r["status"] == "timeout"]
                row[tool]["timeout_peak_mb"] = max((r["maxrss_mb"] for r in timeouts), default=None)
            a, u = row["aspen"]["median_s"], row["uv"]["median_s"]
            row["ratio"] = a / u if a is not None and u else None
            row["packages"] = res["packages"]
            row["targets"] = targets(row)
            rows.append(row)
    return rows


def targets(row: dict) -> dict[str, bool | None]:
    """Each target: True met, False missed, None unknown. An aspen run that timed out misses
    the time targets, and one whose peak before the kill was already over the limit misses the
    memory target."""
    a = row["aspen"]
    timed_out = a["timeout_peak_mb"] is not None and a["median_s"] is None
    out: dict[str, bool | None] = {}
    if row["ratio"] is not None:
        out[f"{row['mode']} ratio <= {TARGET_RATIO}"] = row["ratio"] <= TARGET_RATIO
    else:
        out[f"{row['mode']} ratio <= {TARGET_RATIO}"] = False if timed_out else None
    if row["example"] == "large" and row["mode"] == "warm":
        out[f"warm < {TARGET_LARGE_WARM_S:g} s"] = (
            (False if timed_out else None)
            if a["median_s"] is None
            else a["median_s"] < TARGET_LARGE_WARM_S
        )
        if a["peak_mb"] is not None:
            out[f"warm < {TARGET_LARGE_WARM_MB:g} MB"] = a["peak_mb"] < TARGET_LARGE_WARM_MB
        elif timed_out and a["timeout_peak_mb"] >= TARGET_LARGE_WARM_MB:
            out[f"warm < {TARGET_LARGE_WARM_MB:g} MB"] = False
        else:
            out[f"warm < {TARGET_LARGE_WARM_MB:g} MB"] = None
    return out


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[dict]) -> str:
    head = [
        "example",
        "mode",
        "runs A/U",
        "aspen median s",
        "uv median s",
        "aspen/uv",
        "aspen peak MB",
        "uv peak MB",
        "packages aspen",
        "packages uv",
        "targets",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        a, u = row["aspen"], row["uv"]

        def pk(tool: str, row: dict = row) -> str:
            p = row["packages"].get(tool)
            return f"{p['entries']} / {p['names']}" if p else "-"

        def median(t: dict) -> str:
            text = fmt(t["median_s"], ".2f")
            if t["problems"]:
                text += " (" + ", ".join(t["problems"]) + ")"
            return text

        def peak(t: dict) -> str:
            if t["peak_mb"] is None and t.get("timeout_peak_mb"):
                return f">= {t['timeout_peak_mb']:.0f} (at kill)"
            return fmt(t["peak_mb"], ".0f")

        verdicts = [
            f"{name}: {'-' if ok is None else ('yes' if ok else 'NO')}"
            for name, ok in row["targets"].items()
        ]
        cells = [
            row["example"],
            row["mode"],
            f"{a['ok']}/{u['ok']}",
            median(a),
            median(u),
            fmt(row["ratio"], ".2f"),
            peak(a),
            peak(u),
            pk("aspen"),
            pk("uv"),
            "; ".join(verdicts),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def default_exe(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    all_examples = sorted(p.parent.name for p in EXAMPLES.glob("*/pyproject.toml"))
    parser = argparse.ArgumentParser(
        description="Time `aspen lock` against `uv lock` (whole processes, interleaved).",
    )
    parser.add_argument(
        "--examples",
        nargs="+",
        metavar="NAME",
        default=all_examples,
        help=f"folders of examples/ (default: all: {' '.join(all_examples)})",
    )
    parser.add_argument("--mode", choices=["warm", "cold", "both"], default="both")
    parser.add_argument("--runs", type=int, default=5, help="warm runs per tool (default 5)")
    parser.add_argument(
        "--runs-for",
        action="append",
        default=[],
        metavar="NAME=N",
        help="warm runs for one example, overriding --runs (repeatable), e.g. large=1",
    )
    parser.add_argument("--cold-runs", type=int, default=2, help="cold runs per tool (default 2)")
    parser.add_argument("--aspen", default=default_exe("aspen"), help="aspen executable")
    parser.add_argument("--uv", default=default_exe("uv"), help="uv executable")
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds per run (default 900)"
    )
    parser.add_argument(
        "--memory",
        choices=["auto", "time", "wait4"],
        default="auto",
        help="peak-memory method: GNU time's %%M (auto: when /usr/bin/time is there) or plain "
        "wait4 (ru_maxrss of the direct child, which starts at this script's own peak)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write raw results here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folders (logs, locks)"
    )
    parser.add_argument(
        "--no-learned-widths",
        action="store_true",
        help="aspen's warm runs start without the window widths its cache fill learned "
        "(widths/ is removed from its cache before each warm run)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 when a target is missed or a run did not succeed",
    )
    args = parser.parse_args(argv)
    unknown = [e for e in args.examples if not (EXAMPLES / e / "pyproject.toml").is_file()]
    if unknown:
        parser.error(f"no examples/<NAME>/pyproject.toml for: {', '.join(unknown)}")
    for tool in TOOLS:
        exe = getattr(args, tool)
        if not exe or not (shutil.which(exe) or Path(exe).is_file()):
            parser.error(f"{tool} not found; give --{tool} PATH")
        setattr(args, tool, str(Path(shutil.which(exe) or exe).absolute()))
    runs_for = {}
    for item in args.runs_for:
        name, _, n = item.partition("=")
        if not n.isdigit():
            parser.error(f"--runs-for wants NAME=N, not {item!r}")
        runs_for[name] = int(n)
    args.runs_for = runs_for
    return args


def main(argv: list[str] | None = None) -> int:
    global TIME_BIN
    args = parse_args(argv)
    if args.memory != "wait4":
        TIME_BIN = find_time_bin()
        if args.memory == "time" and not TIME_BIN:
            progress("--memory time: no working GNU time in /usr/bin (apt-get install time)")
            return 2
    modes = ["warm", "cold"] if args.mode == "both" else [args.mode]
    exes = {"aspen": args.aspen, "uv": args.uv}
    info = machine(args.aspen, args.uv)
    info["aspen bytecode"] = compile_aspen(args.aspen)
    floor_log = Path(tempfile.mkdtemp(prefix="aspen-bench-floor-")) / "true.log"
    floor = measure(["true"], cwd=floor_log.parent, env=base_env(), timeout=30, log_path=floor_log)
    shutil.rmtree(floor_log.parent, ignore_errors=True)
    info["peak memory"] = (
        f"GNU time %M ({TIME_BIN})" if TIME_BIN else "os.wait4 ru_maxrss of the direct child"
    ) + f"; `true` measures {floor[3]:.1f} MB this way"
    started = datetime.datetime.now().astimezone()
    load_start = os.getloadavg()
    progress(f"aspen: {args.aspen}\nuv:    {args.uv}")
    results = []
    base = Path(tempfile.mkdtemp(prefix="aspen-bench-"))
    try:
        for example in args.examples:
            progress(f"{example}:")
            results.append(bench_example(example, modes, args, base, exes))
    finally:
        if args.keep:
            progress(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    rows = summarize(results, modes)
    load_end = os.getloadavg()
    info["load average (1 min) at start / end"] = f"{load_start[0]:.2f} / {load_end[0]:.2f}"

    print(f"# aspen vs uv, {started:%Y-%m-%d %H:%M %Z}")
    print()
    for key, value in info.items():
        print(f"- {key}: {value if value is not None else 'unknown'}")
    print(f"- command: python bench/run.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print()
    print(table(rows))
    print()
    print(
        "Median wall time of the whole process; aspen/uv is the ratio of the medians.\n"
        "Peak MB is the largest ru_maxrss (largest single process of the run's tree)\n"
        "over the successful runs.\n"
        "packages: entries / distinct names in the lock (uv.lock without the project itself)."
    )

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "date": started.isoformat(timespec="seconds"),
                    "machine": info,
                    "argv": sys.argv[1:] if argv is None else argv,
                    "aspen": args.aspen,
                    "uv": args.uv,
                    "results": results,
                    "summary": rows,
                },
                indent=2,
            )
            + "\n"
        )

    if args.check:
        missed = any(ok is False for row in rows for ok in row["targets"].values())
        broken = any(row[t]["problems"] or row[t]["ok"] == 0 for row in rows for t in TOOLS)
        return 1 if missed or broken else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
