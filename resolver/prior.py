"""The prior lock: what an existing pylock.toml holds, where each entry applies, and what a new
lock changes against it."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from resolver.environments import Cell
from resolver.options import LockOptions


@dataclass(frozen=True)
class LockedEntry:
    name: NormalizedName
    version: Version
    marker: Marker | None

    def applies(self, cell: Cell, extras: Iterable[str], groups: Iterable[str]) -> bool:
        """Whether the entry is installed in the cell with every extra and group selected."""
        if self.marker is None:
            return True
        env = {
            **cell.environment,
            "extras": frozenset(extras),
            "dependency_groups": frozenset(groups),
        }
        return self.marker.evaluate(env, "lock_file")


@dataclass(frozen=True)
class PriorLock:
    entries: tuple[LockedEntry, ...]
    text: str
    # The options the lock was made with, as [tool.aspen] records them (absent: the default).
    recorded: dict[str, str] = field(default_factory=dict)

    @property
    def exclude_newer(self) -> str | None:
        return self.recorded.get("exclude-newer")

    def changed_options(self, options: LockOptions) -> list[str]:
        """The options that say what a good lock is and differ from the ones the lock was made
        with, as ``--resolution lowest (was highest)``; the lock's versions are then no longer
        worth keeping."""
        default = LockOptions().choices()
        out = []
        for key, now in options.choices().items():
            before = self.recorded.get(key, default[key])
            if now != before:
                out.append(f"--{key} {now} (was {before})")
        return out

    def versions(self) -> dict[NormalizedName, set[Version]]:
        out: dict[NormalizedName, set[Version]] = {}
        for entry in self.entries:
            out.setdefault(entry.name, set()).add(entry.version)
        return out


def read_prior(path: Path, warn: Callable[[str], None]) -> PriorLock | None:
    """The lock at ``path``; None when there is none. A lock aspen cannot read is ignored with a
    warning (the new lock replaces it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        warn(f"ignoring {path}: {exc}")
        return None
    try:
        data = parse_lock(text)
        packages = data.get("packages", [])
        tool = data.get("tool", {}).get("aspen", {})
        recorded = {k: v for k, v in tool.items() if isinstance(v, str)}
        entries = tuple(
            LockedEntry(
                canonicalize_name(p["name"]),
                Version(p["version"]),
                Marker(p["marker"]) if p.get("marker") else None,
            )
            for p in packages
            if p.get("version")
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, InvalidVersion, InvalidMarker) as exc:
        warn(f"ignoring {path}, which is not a lock aspen can read: {exc}")
        return None
    return PriorLock(entries, text, recorded)


@functools.lru_cache(maxsize=2)
def parse_lock(text: str) -> dict[str, Any]:
    """A lock text parsed by tomllib, once per text (a lock is read for the prior entries, then
    compared with the new lock): callers must not change what it returns."""
    return tomllib.loads(text)


def summarize(old: PriorLock | None, new: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per package that the new lock adds, removes or moves to another version, from
    the ``packages`` of the old lock's text and of the new lock's data."""
    before = _versions(parse_lock(old.text).get("packages", [])) if old else {}
    after = _versions(new)
    lines = []
    for name in sorted(set(before) | set(after)):
        old_versions, new_versions = before.get(name, {}), after.get(name, {})
        if set(old_versions) == set(new_versions):
            continue
        if not old_versions:
            lines.append(f"Added {name} {_listing(new_versions)}")
        elif not new_versions:
            lines.append(f"Removed {name} {_listing(old_versions)}")
        else:
            lines.append(f"Updated {name} {_listing(old_versions)} -> {_listing(new_versions)}")
    return lines


def _versions(packages: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, str | None]]:
    """name -> version -> marker, as the lock file spells them."""
    out: dict[str, dict[str, str | None]] = {}
    for package in packages:
        out.setdefault(package["name"], {})[package["version"]] = package.get("marker")
    return out


def _listing(versions: dict[str, str | None]) -> str:
    """``1.0`` for one version everywhere; ``1.0 (marker), 2.0 (marker)`` for a fork."""
    ordered = sorted(versions, key=Version)
    if len(ordered) == 1:
        return ordered[0]
    return ", ".join(f"{v} ({versions[v]})" if versions[v] else v for v in ordered)
