"""Start-up of a warm lock: what importing the command line leaves behind."""

from __future__ import annotations

import subprocess
import sys


def test_the_command_line_loads_without_collecting_and_freezes_what_it_loaded() -> None:
    # A fresh interpreter: the collector must be on again once resolver.cli is loaded, must
    # not have run while it loaded, and what the imports made is out of its sight.
    code = (
        "import gc\n"
        "runs = []\n"
        "gc.callbacks.append(lambda phase, info: runs.append(phase))\n"
        "import resolver.cli\n"
        "print(gc.isenabled(), len(runs), gc.get_freeze_count() > 0)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "0", "True"]


def test_a_disabled_collector_stays_disabled() -> None:
    code = "import gc\ngc.disable()\nimport resolver.cli\nprint(gc.isenabled())\n"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False"]
