"""PEP 517 metadata builds of sdists, each in an isolated virtual environment.

The sdist is unpacked into a temporary folder; a venv without pip (the stdlib ``venv`` takes
about 0.06 s, ``uv venv`` about 0.2 s) gets ``build-system.requires`` (with ``uv pip install``
when uv is found, else ``pip --python``) from the same indexes as the lock, and a small runner
script calls ``prepare_metadata_for_build_wheel`` (or ``build_wheel`` when the backend lacks
it). Builds of one run that ask for the same requirements share that venv (see
``_SharedEnvs``); a backend whose ``get_requires_for_build_wheel`` asks for more is run again in
a venv of its own with those installed too.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from resolver.provider import MetadataUnavailable

__all__ = ["BuildError", "BuildSettings", "build_metadata", "cleanup", "find_uv", "source_tree"]

# Backend and requirements PEP 517/518 prescribe for a project without [build-system].
LEGACY_BACKEND = "setuptools.build_meta:__legacy__"
LEGACY_REQUIRES = ("setuptools>=40.8.0",)
# At most this many builds run at once, whatever the number of fetch threads.
BUILD_SLOTS = 4
_BUILD_SLOTS = threading.BoundedSemaphore(BUILD_SLOTS)
# Exit code of the runner when the backend needs more requirements installed first.
_NEEDS_REQUIRES = 3


class BuildError(MetadataUnavailable):
    """A metadata build failed; the message names the sdist and the failing step.

    ``lasting``: the failure comes from the sdist itself (it does not unpack, its build system
    is invalid, its backend fails), so building it again would fail again; not so for failures
    of the machine or the network (creating the environment, installing build requirements,
    a timeout), which may pass on another try.
    """

    def __init__(self, message: str, *, lasting: bool = False) -> None:
        super().__init__(message)
        self.lasting = lasting


@dataclass(frozen=True)
class BuildSettings:
    """Where build requirements come from: the lock's own indexes and find-links."""

    index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    offline: bool = False
    timeout: float = 900.0


_RUNNER = """\
import importlib, json, os, sys

def main():
    mode, backend_spec, backend_path, out_dir, result_file = sys.argv[1:6]
    paths = [os.path.abspath(p) for p in json.loads(backend_path)]
    sys.path[:0] = paths
    module_name, _, attribute = backend_spec.partition(":")
    backend = importlib.import_module(module_name)
    for part in filter(None, attribute.split(".")):
        backend = getattr(backend, part)
    result = {}
    if mode == "metadata":
        get_requires = getattr(backend, "get_requires_for_build_wheel", None)
        requires = list(get_requires({})) if get_requires is not None else []
        if requires:
            result["requires"] = requires
            with open(result_file, "w") as f:
                json.dump(result, f)
            sys.exit(NEEDS_REQUIRES)
    prepare = getattr(backend, "prepare_metadata_for_build_wheel", None)
    if prepare is not None:
        result["dist_info"] = prepare(out_dir, {})
    else:
        result["wheel"] = backend.build_wheel(out_dir, {})
    with open(result_file, "w") as f:
        json.dump(result, f)

main()
""".replace("NEEDS_REQUIRES", str(_NEEDS_REQUIRES))


def find_uv() -> str | None:
    """The ``uv`` executable: on PATH, or next to this interpreter."""
    import shutil

    found = shutil.which("uv")
    if found:
        return found
    sibling = Path(sys.executable).parent / ("uv.exe" if os.name == "nt" else "uv")
    return str(sibling) if sibling.is_file() else None


def _unpack(sdist: Path, dest: Path) -> Path:
    """Unpack ``sdist`` into ``dest`` and return the source tree (see ``source_tree``)."""
    import tarfile
    import zipfile

    try:
        if sdist.name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as archive:
                archive.extractall(dest)
        else:
            with tarfile.open(sdist) as archive:
                archive.extractall(dest, filter="data")
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise BuildError(f"cannot unpack {sdist.name}: {exc}", lasting=True) from exc
    return source_tree(dest)


def source_tree(unpacked: Path) -> Path:
    """The source tree of an sdist unpacked into ``unpacked``: its single top folder."""
    entries = list(unpacked.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return unpacked


@dataclass(frozen=True)
class _BuildSystem:
    requires: tuple[str, ...]
    backend: str
    backend_path: tuple[str, ...]


def _build_system(source: Path, sdist_name: str) -> _BuildSystem:
    import tomllib

    pyproject = source / "pyproject.toml"
    table: dict[str, object] = {}
    if pyproject.is_file():
        try:
            table = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("build-system", {})
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise BuildError(f"{sdist_name}: invalid pyproject.toml: {exc}", lasting=True) from exc
    elif not (source / "setup.py").is_file():
        raise BuildError(f"{sdist_name}: neither pyproject.toml nor setup.py found", lasting=True)
    if not table:
        return _BuildSystem(LEGACY_REQUIRES, LEGACY_BACKEND, ())
    requires = table.get("requires", [])
    backend = table.get("build-backend", LEGACY_BACKEND)
    backend_path = table.get("backend-path", [])
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise BuildError(
            f"{sdist_name}: build-system.requires must be a list of strings", lasting=True
        )
    if not isinstance(backend, str):
        raise BuildError(f"{sdist_name}: build-system.build-backend must be a string", lasting=True)
    if not isinstance(backend_path, list) or not all(isinstance(p, str) for p in backend_path):
        raise BuildError(
            f"{sdist_name}: build-system.backend-path must be a list of strings", lasting=True
        )
    root = source.resolve()
    for entry in backend_path:
        resolved = (root / entry).resolve()
        if resolved != root and root not in resolved.parents:
            raise BuildError(
                f"{sdist_name}: backend-path {entry!r} leaves the source tree", lasting=True
            )
    return _BuildSystem(tuple(requires), backend, tuple(backend_path))


def _env_python(env: Path) -> Path:
    if os.name == "nt":
        return env / "Scripts" / "python.exe"
    return env / "bin" / "python"


def _clean_environ() -> dict[str, str]:
    environ = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    }
    environ["PYTHONNOUSERSITE"] = "1"
    environ["PIP_NO_INPUT"] = "1"
    return environ


def _index_args(settings: BuildSettings, uv: bool) -> list[str]:
    args: list[str] = []
    if not settings.index_urls:
        args.append("--no-index")
    elif uv:
        # uv prefers --index over --default-index, and earlier --index over later ones.
        for url in settings.index_urls[:-1]:
            args += ["--index", url]
        args += ["--default-index", settings.index_urls[-1]]
    else:
        args += ["--index-url", settings.index_urls[0]]
        for url in settings.index_urls[1:]:
            args += ["--extra-index-url", url]
    for location in settings.find_links:
        args += ["--find-links", location]
    if settings.offline and uv:
        args.append("--offline")
    return args


def _install(
    python: Path, requirements: Sequence[str], settings: BuildSettings, sdist_name: str
) -> None:
    import subprocess

    from resolver import scratch

    if not requirements:
        return
    uv = find_uv()
    if uv is not None:
        command = [uv, "pip", "install", "--quiet", "--no-config", "--python", str(python)]
        command += _index_args(settings, uv=True)
    else:
        command = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
        command += _index_args(settings, uv=False)
    command += list(requirements)
    try:
        done = scratch.run(command, text=True, env=_clean_environ(), timeout=settings.timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"{sdist_name}: installing build requirements failed: {exc}") from exc
    if done.returncode != 0:
        raise BuildError(
            f"{sdist_name}: installing build requirements {list(requirements)} failed: "
            f"{_tail(done.stderr or done.stdout)}"
        )


def _tail(text: str) -> str:
    """The last line a failed build printed (usually the error itself): one line per skipped
    version, so that a project with many old sdists does not bury the answer in tracebacks."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _run_hook(
    python: Path,
    runner: Path,
    mode: str,
    system: _BuildSystem,
    source: Path,
    out_dir: Path,
    settings: BuildSettings,
    sdist_name: str,
) -> tuple[int, dict[str, object]]:
    import subprocess

    from resolver import scratch

    result_file = out_dir.parent / f"result-{mode}.json"
    command = [
        str(python),
        str(runner),
        mode,
        system.backend,
        json.dumps(list(system.backend_path)),
        str(out_dir),
        str(result_file),
    ]
    try:
        done = scratch.run(
            command, cwd=source, text=True, env=_clean_environ(), timeout=settings.timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"building the metadata of {sdist_name} failed: {exc}") from exc
    if done.returncode not in (0, _NEEDS_REQUIRES) or not result_file.is_file():
        raise BuildError(
            f"building the metadata of {sdist_name} with {system.backend} failed "
            f"(exit code {done.returncode}): {_tail(done.stderr or done.stdout)}",
            lasting=True,
        )
    return done.returncode, json.loads(result_file.read_text(encoding="utf-8"))


def _read_result(result: dict[str, object], out_dir: Path, sdist_name: str) -> bytes:
    import zipfile

    try:
        if "dist_info" in result:
            return (out_dir / str(result["dist_info"]) / "METADATA").read_bytes()
        with zipfile.ZipFile(out_dir / str(result["wheel"])) as wheel:
            for entry in wheel.namelist():
                parts = entry.split("/")
                if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                    return wheel.read(entry)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise BuildError(f"{sdist_name}: the backend's output has no METADATA: {exc}") from exc
    raise BuildError(f"{sdist_name}: the wheel the backend built has no METADATA", lasting=True)


class _SharedEnvs:
    """Build environments shared by the builds of one run that ask for the same requirements.

    Most old sdists have no pyproject.toml and all ask for ``setuptools>=40.8.0``; each fresh
    environment cost an install, and each first import of setuptools compiled it again (about
    1.5 s of CPU per build). A shared environment is only ever used for the first hook; a
    backend that asks for more requirements gets an environment of its own, so nothing a
    build installs reaches another build. They live in the run's scratch folder, which the end
    of the run removes (``resolver.scratch``); ``cleanup`` removes them sooner (tests).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._root: Path | None = None
        # Each set of requirements (and sources): the lock its creation holds, and its folder.
        self._envs: dict[tuple[tuple[str, ...], BuildSettings], tuple[threading.Lock, Path]] = {}
        self._ready: set[tuple[tuple[str, ...], BuildSettings]] = set()

    def python(self, requires: tuple[str, ...], settings: BuildSettings, sdist_name: str) -> Path:
        """The interpreter of a shared environment with ``requires`` installed."""
        import shutil
        import tempfile

        from resolver import scratch

        key = (requires, settings)
        with self._lock:
            if self._root is None:
                self._root = Path(tempfile.mkdtemp(prefix="build-envs-", dir=scratch.root()))
            entry = self._envs.get(key)
            if entry is None:
                entry = self._envs[key] = (threading.Lock(), self._root / str(len(self._envs)))
        made, env = entry
        with made:
            if key not in self._ready:
                try:
                    _create_env(env, requires, settings, sdist_name)
                except BuildError:
                    shutil.rmtree(env, ignore_errors=True)  # the next build tries again
                    raise
                self._ready.add(key)
        return _env_python(env)

    def cleanup(self) -> None:
        import shutil

        with self._lock:
            root, self._root = self._root, None
            self._envs.clear()
            self._ready.clear()
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


_SHARED = _SharedEnvs()


def cleanup() -> None:
    """Remove the build environments this run shared."""
    _SHARED.cleanup()


def _create_env(
    env: Path, requires: Sequence[str], settings: BuildSettings, sdist_name: str
) -> None:
    import subprocess
    import time
    import venv

    from resolver.trace import trace

    t = time.perf_counter()
    try:
        venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BuildError(f"{sdist_name}: cannot create a build environment: {exc}") from exc
    trace("venv", sdist_name, t)
    t = time.perf_counter()
    _install(_env_python(env), requires, settings, sdist_name)
    trace("install", f"{sdist_name} {tuple(requires)}", t)


def build_metadata(
    sdist: Path, settings: BuildSettings | None = None, *, source: Path | None = None
) -> bytes:
    """Build ``sdist``'s core metadata (the bytes of METADATA) in an isolated environment.
    With ``source``, the sdist is already unpacked there (and ``sdist`` only names it).

    Raises ``BuildError`` (a ``MetadataUnavailable``) naming the sdist and the failing step.
    """
    import time

    from resolver import scratch
    from resolver.trace import trace

    settings = settings or BuildSettings()
    waited = time.perf_counter()
    with _BUILD_SLOTS, scratch.folder("build-") as work:
        trace("slot-wait", sdist.name, waited)
        if source is None:
            (work / "src").mkdir()
            source = _unpack(sdist, work / "src")
        system = _build_system(source, sdist.name)
        python = _SHARED.python(system.requires, settings, sdist.name)
        t = time.perf_counter()
        runner = work / "aspen_hook_runner.py"
        runner.write_text(_RUNNER, encoding="utf-8")
        out_dir = work / "out"
        out_dir.mkdir()
        code, result = _run_hook(
            python, runner, "metadata", system, source, out_dir, settings, sdist.name
        )
        trace("hook1", sdist.name, t)
        if code == _NEEDS_REQUIRES:
            requires = result.get("requires")
            if not isinstance(requires, list):
                raise BuildError(
                    f"{sdist.name}: get_requires_for_build_wheel returned {requires!r}"
                )
            # More requirements: in an environment of this build's own.
            env = work / "env"
            _create_env(env, [*system.requires, *map(str, requires)], settings, sdist.name)
            t = time.perf_counter()
            code, result = _run_hook(
                _env_python(env), runner, "prepare", system, source, out_dir, settings, sdist.name
            )
            trace("hook2", f"{sdist.name} {requires}", t)
        return _read_result(result, out_dir, sdist.name)
