"""``aspen lock`` read without typer (resolver.cli.lock_arguments) means what typer reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import resolver.cli as cli
from resolver.commands import app


@pytest.fixture
def calls(monkeypatch):
    """What each lock was asked to do, as ``_lock`` and ``_reported`` receive it."""
    seen: list[tuple] = []

    def fake_lock(run, **rest):
        fields = [getattr(run, slot) for slot in cli.Invocation.__slots__ if slot != "console"]
        seen.append((run.console.verbosity, *fields, tuple(sorted(rest.items()))))

    reported = cli._reported

    def fake_reported(console, output_format):
        seen.append(("format", output_format))
        return reported(console, output_format)

    monkeypatch.setattr(cli, "_lock", fake_lock)
    monkeypatch.setattr(cli, "_reported", fake_reported)
    return seen


READ_ALIKE = [
    [],
    ["--project", "some/dir"],
    ["--project=some/dir", "--offline", "-q"],
    ["--offline", "--cache-dir", "/tmp/c", "--no-build", "--no-cache", "--no-index"],
    ["-i", "https://example.org/simple/", "--extra-index-url", "a", "--extra-index-url=b"],
    ["-f", "one", "--find-links", "two", "-U", "--check"],
    ["--locked", "-P", "numpy", "--upgrade-package", "pandas<3", "-P", "x==1"],
    ["--prerelease", "allow", "--resolution=lowest-direct", "--fork-strategy", "fewest"],
    ["--exclude-newer", "2025-03-01", "--format", "json", "-v", "-v", "--verbose"],
    ["--index-url", "a", "--index-url", "b", "--prerelease", "disallow", "--prerelease=allow"],
    ["--index-url", "", "--exclude-newer=none", "--format=text", "--quiet", "--upgrade"],
]


@pytest.mark.parametrize("args", READ_ALIKE)
def test_a_usual_lock_command_line_is_read_as_typer_reads_it(calls, args):
    result = CliRunner().invoke(app, ["lock", *args])
    assert result.exit_code == 0, result.output
    by_typer = list(calls)
    calls.clear()
    arguments = cli.lock_arguments(["lock", *args])
    assert arguments is not None
    cli.lock(**arguments)
    assert calls == by_typer
    assert len(calls) == 2


@pytest.mark.parametrize(
    "args",
    [
        ["why", "numpy"],
        ["lock", "--help"],
        ["lock", "-qv"],
        ["lock", "-ihttps://example.org/simple/"],
        ["lock", "--prerelease", "sometimes"],
        ["lock", "--offline=1"],
        ["lock", "--index-url"],
        ["lock", "--index-url", "-q"],
        ["lock", "--project", ""],
        ["lock", "extra-argument"],
        ["lock", "--", "--offline"],
        ["--help"],
        [],
    ],
)
def test_anything_else_is_left_to_typer(args):
    assert cli.lock_arguments(args) is None


def test_every_option_of_the_commands_is_declared_once():
    # The commands' parameters are the table's, and no two options share a name.
    names = [flag for flags, _kind, _help in cli.OPTIONS.values() for flag in flags]
    assert len(names) == len(set(names))
    for function in (cli.lock, cli.why, cli.why_not_command):
        parameters = function.__code__.co_varnames[: function.__code__.co_argcount]
        assert set(parameters) <= set(cli.OPTIONS)


def test_a_lock_read_without_typer_never_loads_it(tmp_path: Path):
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import resolver.cli as cli\n"
        f"arguments = cli.lock_arguments(['lock', '--project', {str(tmp_path)!r}, '-q'])\n"
        "try:\n"
        "    cli.lock(**arguments)\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, [m for m in ('typer', 'click', 'rich') if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["2", "[]"]  # no pyproject.toml: an input error, without typer
