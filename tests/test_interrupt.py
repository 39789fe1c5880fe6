"""A lock ended by a signal (Ctrl-C, SIGTERM) in the middle of a build: it stops at once with
the shell's exit code for that signal, writes no lock, and leaves neither temporary folders
nor the build's processes behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from indexbuilder import make_sdist

# A backend whose metadata build writes its process id, then takes a minute.
BACKEND = """
import os, time
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    with open({marker!r}, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_during_a_build_ends_the_run_and_leaves_nothing_behind(tmp_path, signum):
    marker = tmp_path / "building"
    links = tmp_path / "links"
    links.mkdir()
    make_sdist(
        links / "slow-1.0.tar.gz",
        {
            "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\n'
            'backend-path = ["."]\n',
            "backend.py": BACKEND.format(marker=str(marker)),
        },
    )
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "p"\nversion = "0"\nrequires-python = ">=3.11"\n'
        'dependencies = ["slow"]\n'
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "NO_COLOR": "1"}
    command = [sys.executable, "-m", "resolver", "lock", "--project", str(project)]
    command += ["--no-index", "--find-links", str(links), "--no-cache"]
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not (marker.is_file() and marker.read_text()):
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "the build never started"
            time.sleep(0.05)
        backend = int(marker.read_text())
        assert any(scratch.iterdir())  # the run's folder, with the unpacked sdist in it
        started = time.monotonic()
        run.send_signal(signum)
        _out, err = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert time.monotonic() - started < 10  # not the minute the build would take
    assert run.returncode == 128 + signum
    assert "aspen: interrupted" in err.decode()
    assert not (project / "pylock.toml").exists()
    assert list(scratch.iterdir()) == []
    assert not _alive(backend)
