"""User-facing errors, each carrying the exit code the CLI returns for it."""

from __future__ import annotations


class AspenError(Exception):
    """An error aspen reports to the user in one message, without a traceback."""

    exit_code = 2


class InputError(AspenError):
    """Bad input: a malformed pyproject.toml, an invalid requirement, an unknown option value."""

    exit_code = 2


class NoLockError(AspenError):
    """The requirements cannot hold together: no lock exists. ``explanation`` says why, when
    aspen could work it out (resolver.explain.Explanation)."""

    exit_code = 1

    def __init__(self, message: str, explanation: object | None = None) -> None:
        super().__init__(message)
        self.explanation = explanation


class SourceError(AspenError):
    """A package source failed in a way that leaves no lock to write (unreachable index, ...)."""

    exit_code = 2


class StaleLock(AspenError):
    """``--check``: the lock is missing or would change."""

    exit_code = 1
