"""The project being locked: its requirements, extras, dependency groups and aspen settings."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from resolver.errors import InputError
from resolver.options import FORK_STRATEGIES, PRERELEASE_POLICIES, RESOLUTIONS, choose, parse_cutoff

# [tool.aspen] keys and the type each must have.
_SETTINGS: dict[str, type] = {
    "environments": list,
    "index-url": str,
    "extra-index-url": list,
    "find-links": list,
    "no-build": bool,
    "prerelease": str,
    "resolution": str,
    "fork-strategy": str,
    "exclude-newer": str,
    "constraint-dependencies": list,
    "override-dependencies": list,
    "required-environments": list,
    "conflicts": list,
}


@dataclass(frozen=True)
class Source:
    """Where a requirement of the project comes from: its main dependencies, an extra or a group."""

    kind: str  # "main", "extra" or "group"
    name: str = ""

    def __str__(self) -> str:
        return {"main": "project.dependencies"}.get(
            self.kind,
            f"project.optional-dependencies.{self.name}"
            if self.kind == "extra"
            else f"dependency-groups.{self.name}",
        )


@dataclass(frozen=True)
class Settings:
    environments: tuple[Marker, ...] = ()
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_build: bool = False
    prerelease: str | None = None
    resolution: str | None = None
    fork_strategy: str | None = None
    exclude_newer: datetime | None = None
    # Requirements that bind a package only when something else needs it.
    constraints: tuple[Requirement, ...] = ()
    # Requirements that replace every requirement on their package, the project's included.
    overrides: tuple[Requirement, ...] = ()
    # Environments where every chosen package must have a file that installs.
    required_environments: tuple[Marker, ...] = ()
    # Sets of extras and groups that are never installed together.
    conflicts: tuple[tuple[Source, ...], ...] = ()


@dataclass(frozen=True)
class Project:
    root: Path
    name: NormalizedName
    requires_python: SpecifierSet | None
    dependencies: tuple[Requirement, ...]
    extras: dict[NormalizedName, tuple[Requirement, ...]]
    groups: dict[NormalizedName, tuple[Requirement, ...]]
    settings: Settings = field(default_factory=Settings)

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    @property
    def lock_path(self) -> Path:
        return self.root / "pylock.toml"

    def requirements(self) -> list[tuple[Source, Requirement]]:
        """Every requirement of the project with the source it belongs to, in a fixed order.

        A requirement on the project itself (``me[test]`` in a group, ``all = ["me[a,b]"]``)
        stands for the requirements of those extras, under its marker. Overrides replace the
        requirements on their packages."""
        return list(self._requirements)

    @cached_property
    def _requirements(self) -> tuple[tuple[Source, Requirement], ...]:
        out = [(Source("main"), r) for r in self._expand(self.dependencies)]
        for extra in sorted(self.extras):
            out += [(Source("extra", extra), r) for r in self._expand(self.extras[extra])]
        for group in sorted(self.groups):
            out += [(Source("group", group), r) for r in self._expand(self.groups[group])]
        if not self.settings.overrides:
            return tuple(out)
        return tuple((source, new) for source, req in out for new in self.overridden((req,)))

    @cached_property
    def overrides_by_name(self) -> dict[NormalizedName, list[Requirement]]:
        out: dict[NormalizedName, list[Requirement]] = {}
        for req in self.settings.overrides:
            out.setdefault(canonicalize_name(req.name), []).append(req)
        return out

    def overridden(self, reqs: Iterable[Requirement]) -> tuple[Requirement, ...]:
        """The requirements with ``tool.aspen.override-dependencies`` applied: a requirement on
        an overridden package becomes each override of it, under both markers, asking for the
        extras of both (as in uv, where an override has a marker, the original requirement no
        longer applies outside it: give one override per environment you need)."""
        out: list[Requirement] = []
        for req in reqs:
            overrides = self.overrides_by_name.get(canonicalize_name(req.name))
            if not overrides:
                out.append(req)
                continue
            for override in overrides:
                new = Requirement(str(override))
                new.extras = set(override.extras) | set(req.extras)
                if req.marker is not None and override.marker is not None:
                    new.marker = Marker(f"({req.marker}) and ({override.marker})")
                elif req.marker is not None:
                    new.marker = req.marker
                out.append(new)
        return tuple(out)

    def _expand(
        self, reqs: tuple[Requirement, ...], seen: frozenset[str] = frozenset()
    ) -> list[Requirement]:
        out: list[Requirement] = []
        for req in reqs:
            if canonicalize_name(req.name) != self.name:
                out.append(req)
                continue
            for extra in sorted(canonicalize_name(e) for e in req.extras):
                if extra in seen:
                    continue
                if extra not in self.extras:
                    raise InputError(
                        f"{self.pyproject}: {req} names no extra {extra!r} of {self.name}"
                    )
                for inner in self._expand(self.extras[extra], seen | {extra}):
                    out.append(_under_marker(inner, req.marker))
        return out


def _under_marker(req: Requirement, marker: Marker | None) -> Requirement:
    """The requirement, applying only where ``marker`` holds too."""
    if marker is None:
        return req
    combined = Requirement(str(req))
    combined.marker = Marker(f"({req.marker}) and ({marker})" if req.marker else str(marker))
    return combined


def load_project(root: Path) -> Project:
    """Read ``root/pyproject.toml``; a problem is an ``InputError`` naming the file and entry."""
    path = root / "pyproject.toml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"no pyproject.toml in {root} (use --project DIR to point at one)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}") from None
    return project_from_dict(data, root)


def project_from_dict(data: dict[str, Any], root: Path) -> Project:
    path = root / "pyproject.toml"
    table = data.get("project")
    if not isinstance(table, dict):
        raise InputError(f"{path}: no [project] table")
    raw_name = table.get("name")
    if not isinstance(raw_name, str) or not raw_name:
        raise InputError(f"{path}: [project] needs a name")
    requires_python = None
    if "requires-python" in table:
        raw = table["requires-python"]
        try:
            requires_python = SpecifierSet(_expect(raw, str, path, "project.requires-python"))
        except InvalidSpecifier:
            raise InputError(
                f"{path}: project.requires-python = {raw!r} is not a valid version specifier"
            ) from None
    dependencies = _requirements(table.get("dependencies", []), path, "project.dependencies")
    extras: dict[NormalizedName, tuple[Requirement, ...]] = {}
    optional = _expect(
        table.get("optional-dependencies", {}), dict, path, "project.optional-dependencies"
    )
    for extra, reqs in optional.items():
        key = f"project.optional-dependencies.{extra}"
        extras[canonicalize_name(extra)] = _requirements(reqs, path, key)
    groups = _groups(data.get("dependency-groups", {}), path)
    settings = _settings(data.get("tool", {}).get("aspen", {}), path)
    for members in settings.conflicts:
        for source in members:
            known = extras if source.kind == "extra" else groups
            if source.name not in known:
                raise InputError(
                    f"{path}: tool.aspen.conflicts names {source.kind} {source.name!r}, "
                    f"which the project does not have"
                )
    return Project(
        root=root,
        name=canonicalize_name(raw_name),
        requires_python=requires_python,
        dependencies=dependencies,
        extras=extras,
        groups=groups,
        settings=settings,
    )


def _expect(value: Any, kind: type, path: Path, key: str) -> Any:
    if not isinstance(value, kind):
        names = {str: "a string", list: "an array", dict: "a table", bool: "true or false"}
        raise InputError(f"{path}: {key} must be {names[kind]}, not {value!r}")
    return value


def _requirements(items: Any, path: Path, key: str) -> tuple[Requirement, ...]:
    out = []
    for i, item in enumerate(_expect(items, list, path, key)):
        out.append(parse_requirement(item, f"{path}: {key}[{i}]"))
    return tuple(out)


def parse_requirement(text: Any, where: str) -> Requirement:
    if not isinstance(text, str):
        raise InputError(f"{where}: expected a PEP 508 requirement string, not {text!r}")
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise InputError(f"{where}: invalid requirement {text!r}: {exc}") from None


def _groups(table: Any, path: Path) -> dict[NormalizedName, tuple[Requirement, ...]]:
    table = _expect(table, dict, path, "dependency-groups")
    groups: dict[NormalizedName, tuple[Requirement, ...]] = {}
    if not table:
        return groups
    from packaging.dependency_groups import resolve_dependency_groups  # only with groups

    for name in table:
        try:
            resolved = resolve_dependency_groups(table, name)
        except Exception as exc:  # packaging raises several error types for bad groups
            raise InputError(f"{path}: dependency-groups.{name}: {exc}") from None
        key = f"dependency-groups.{name}"
        groups[canonicalize_name(name)] = tuple(
            parse_requirement(text, f"{path}: {key}") for text in resolved
        )
    return groups


def _settings(table: Any, path: Path) -> Settings:
    table = _expect(table, dict, path, "tool.aspen")
    for key, value in table.items():
        if key not in _SETTINGS:
            known = ", ".join(sorted(_SETTINGS))
            raise InputError(f"{path}: unknown key tool.aspen.{key} (known keys: {known})")
        _expect(value, _SETTINGS[key], path, f"tool.aspen.{key}")
    prerelease = choose(
        f"{path}: tool.aspen.prerelease", table.get("prerelease"), PRERELEASE_POLICIES
    )
    resolution = choose(f"{path}: tool.aspen.resolution", table.get("resolution"), RESOLUTIONS)
    fork_strategy = choose(
        f"{path}: tool.aspen.fork-strategy", table.get("fork-strategy"), FORK_STRATEGIES
    )
    exclude_newer = None
    if "exclude-newer" in table:
        exclude_newer = parse_cutoff(table["exclude-newer"], f"{path}: tool.aspen.exclude-newer")
    for key in ("extra-index-url", "find-links"):
        for i, item in enumerate(table.get(key, [])):
            _expect(item, str, path, f"tool.aspen.{key}[{i}]")
    return Settings(
        environments=_markers(table, "environments", path),
        index_url=table.get("index-url"),
        extra_index_urls=tuple(table.get("extra-index-url", [])),
        find_links=tuple(table.get("find-links", [])),
        no_build=table.get("no-build", False),
        prerelease=prerelease,
        resolution=resolution,
        fork_strategy=fork_strategy,
        exclude_newer=exclude_newer,
        constraints=_requirements(
            table.get("constraint-dependencies", []), path, "tool.aspen.constraint-dependencies"
        ),
        overrides=_requirements(
            table.get("override-dependencies", []), path, "tool.aspen.override-dependencies"
        ),
        required_environments=_markers(table, "required-environments", path),
        conflicts=_conflicts(table.get("conflicts", []), path),
    )


def _markers(table: dict[str, Any], key: str, path: Path) -> tuple[Marker, ...]:
    out = []
    for i, text in enumerate(table.get(key, [])):
        where = f"tool.aspen.{key}[{i}]"
        try:
            out.append(Marker(_expect(text, str, path, where)))
        except InvalidMarker as exc:
            raise InputError(f"{path}: {where} = {text!r}: {exc}") from None
    return tuple(out)


def _conflicts(items: list[Any], path: Path) -> tuple[tuple[Source, ...], ...]:
    """``[[{extra = "cpu"}, {extra = "cuda"}], ...]``: each set names two or more extras or
    groups of the project, of which at most one is installed."""
    out = []
    for i, members in enumerate(items):
        where = f"tool.aspen.conflicts[{i}]"
        _expect(members, list, path, where)
        sources = []
        for j, item in enumerate(members):
            _expect(item, dict, path, f"{where}[{j}]")
            if len(item) != 1 or next(iter(item)) not in ("extra", "group"):
                raise InputError(
                    f'{path}: {where}[{j}] = {item!r}: expected {{ extra = "name" }} or '
                    '{ group = "name" }'
                )
            kind, name = next(iter(item.items()))
            _expect(name, str, path, f"{where}[{j}].{kind}")
            sources.append(Source(kind, canonicalize_name(name)))
        if len(set(sources)) < 2:
            raise InputError(f"{path}: {where} must name at least two extras or groups")
        out.append(tuple(dict.fromkeys(sources)))
    return tuple(out)
