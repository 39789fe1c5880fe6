"""Start-up of a warm lock: what importing the command line leaves behind."""

from __future__ import annotations

import subprocess
import sys


def _python(code: str) -> str:
    """What a fresh interpreter running ``code`` prints."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout


def test_the_command_line_loads_without_collecting_and_freezes_what_it_loaded() -> None:
    # A fresh interpreter: the collector must be on again once resolver.cli is loaded, must
    # not have run while it loaded, and what the imports made is out of its sight.
    # Compiling a changed module (no bytecode yet: PYTHONDONTWRITEBYTECODE, or an edit) makes
    # garbage before the module's code runs; that is not what this test is about, so the
    # bytecode is written first, as any import without that setting does.
    code = (
        "import compileall, resolver, sys\n"
        "sys.dont_write_bytecode = False\n"
        "compileall.compile_dir(resolver.__path__[0], quiet=1)\n"
        "import gc\n"
        "runs = []\n"
        "gc.callbacks.append(lambda phase, info: runs.append(phase))\n"
        "import resolver.cli\n"
        "print(gc.isenabled(), len(runs), gc.get_freeze_count() > 0)\n"
    )
    out = _python(code)
    assert out.split() == ["True", "0", "True"]


def test_a_disabled_collector_stays_disabled() -> None:
    code = "import gc\ngc.disable()\nimport resolver.cli\nprint(gc.isenabled())\n"
    out = _python(code)
    assert out.split() == ["False"]


def test_the_lock_path_loads_no_build_http_or_toml_writing_modules(tmp_path) -> None:
    # What a warm lock loads besides the command line (typer, loaded by the console script):
    # the lock's own modules and a provider. Builds (resolver.build), HTTP (requests), tomlkit,
    # rich and hashlib (OpenSSL's bindings: cache keys use the sha256 module alone) are loaded
    # only when used, and the fetch threads' pool (concurrent.futures) only online; PEP 735's
    # resolution (packaging.dependency_groups) only for a project with dependency groups.
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\ndependencies = ['a']\n")
    code = (
        "import sys\n"
        "import resolver.cli, resolver.locker, resolver.lockfile, resolver.prior\n"
        "from pathlib import Path\n"
        "from resolver.index_provider import IndexProvider\n"
        "from resolver.project import load_project\n"
        f"IndexProvider(index_urls=['https://pypi.org/simple/'], offline=True, "
        f"cache_dir=Path({str(tmp_path)!r}))\n"
        f"load_project(Path({str(tmp_path)!r}))\n"
        "heavy = ['typer', 'resolver.commands', 'resolver.build', 'requests', 'urllib3', 'tomlkit',"
        " 'rich', 'email', 'hashlib', 'concurrent.futures', 'packaging.dependency_groups']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    out = _python(code)
    assert out.strip() == "[]"
