"""The command line as typer declares it: aspen's commands (``resolver.cli``), each parameter
declared to typer as its entry of ``resolver.cli.OPTIONS`` says. Loaded by the console script
(``resolver.cli.main``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from resolver import cli

app = typer.Typer(
    name="aspen",
    help="Lock Python projects into a universal, optimal pylock.toml.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main() -> None:
    """aspen: the lock is an answer-set program, solved to optimality by clingo."""


_TYPES: dict[str, Any] = {"flag": bool, "count": int, "text": str, "texts": list[str], "path": Path}


def _declared(function: Callable[..., None]) -> Callable[..., None]:
    """A command calling ``function``, whose parameters typer reads from ``cli.OPTIONS``:
    their type (an option with words to choose from takes an enumeration of them, which is
    what typer shows and checks) and their declaration (names and help)."""
    given = {
        **inspect.signature(cli.Invocation).parameters,
        **inspect.signature(function).parameters,
    }
    parameters = []
    for name in cli.parameters(function):
        flags, kind, text = cli.OPTIONS[name]
        parameter = given[name].replace(kind=inspect.Parameter.KEYWORD_ONLY)
        default = parameter.default
        if isinstance(kind, tuple):
            words = StrEnum(name.title().replace("_", ""), {w: w for w in kind})
            hint: Any = words
            if default is not None:
                default = words(default)
        else:
            hint = _TYPES[kind]
        if default is None:
            hint = hint | None
        if flags:
            declaration: Any = typer.Option(*flags, help=text, count=kind == "count")
        else:
            declaration = typer.Argument(help=text)
        parameters.append(
            parameter.replace(annotation=Annotated[hint, declaration], default=default)
        )

    def command(**arguments: Any) -> None:
        function(**arguments)

    command.__name__ = function.__name__
    command.__doc__ = function.__doc__
    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    return command


app.command("lock")(_declared(cli.lock))
app.command("why")(_declared(cli.why))
app.command("why-not")(_declared(cli.why_not_command))
