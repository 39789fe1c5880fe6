"""Lock options: the policies that say which versions may be chosen and what a good lock is,
from the command line, ``[tool.aspen]`` and the previous lock, in that order of precedence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from resolver.errors import InputError

PRERELEASE_POLICIES = ("disallow", "allow", "if-necessary", "explicit", "if-necessary-or-explicit")
RESOLUTIONS = ("highest", "lowest", "lowest-direct")
FORK_STRATEGIES = ("requires-python", "fewest")
# ``--exclude-newer none`` clears a cut-off recorded in the lock.
NO_CUTOFF = "none"


@dataclass(frozen=True)
class LockOptions:
    prerelease: str = "if-necessary-or-explicit"
    resolution: str = "highest"
    fork_strategy: str = "requires-python"
    # Files uploaded after this moment do not exist for the lock (None: no cut-off).
    exclude_newer: datetime | None = None

    def choices(self) -> dict[str, str]:
        """The options that say what a good lock is, by the names the command line and
        ``[tool.aspen]`` give them."""
        return {
            "resolution": self.resolution,
            "fork-strategy": self.fork_strategy,
            "prerelease": self.prerelease,
        }

    def lowest(self, direct: bool) -> bool:
        """Whether a package is resolved to its lowest version rather than its highest."""
        return self.resolution == "lowest" or (self.resolution == "lowest-direct" and direct)


def choose(where: str, value: str | None, allowed: tuple[str, ...]) -> str | None:
    """``value`` checked against the allowed words; ``where`` names the input at fault."""
    if value is not None and value not in allowed:
        raise InputError(f"{where} = {value!r}; expected one of {', '.join(allowed)}")
    return value


def parse_cutoff(text: str, where: str) -> datetime | None:
    """An RFC 3339 timestamp (``2025-03-01T12:00:00Z``; no offset means UTC) or a date
    (``2025-03-01``: midnight UTC at its start); ``none`` for no cut-off. Files uploaded at or
    after the cut-off are left out."""
    if text == NO_CUTOFF:
        return None
    try:
        if len(text) == 10:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{where} = {text!r} is neither a date (2025-03-01) nor an RFC 3339 timestamp "
            "(2025-03-01T12:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_cutoff(moment: datetime) -> str:
    """The cut-off as the lock records it: RFC 3339 in UTC."""
    text = moment.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")
