"""The project being locked: its requirements, extras, dependency groups and aspen settings."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.dependency_groups import resolve_dependency_groups
from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from resolver.errors import InputError

PRERELEASE_POLICIES = ("disallow", "allow", "if-necessary", "explicit", "if-necessary-or-explicit")

# [tool.aspen] keys and the type each must have.
_SETTINGS: dict[str, type] = {
    "environments": list,
    "index-url": str,
    "extra-index-url": list,
    "find-links": list,
    "no-build": bool,
    "prerelease": str,
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
        stands for the requirements of those extras, under its marker."""
        out = [(Source("main"), r) for r in self._expand(self.dependencies)]
        for extra in sorted(self.extras):
            out += [(Source("extra", extra), r) for r in self._expand(self.extras[extra])]
        for group in sorted(self.groups):
            out += [(Source("group", group), r) for r in self._expand(self.groups[group])]
        return out

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
    environments = []
    for i, text in enumerate(table.get("environments", [])):
        try:
            environments.append(Marker(_expect(text, str, path, f"tool.aspen.environments[{i}]")))
        except InvalidMarker as exc:
            raise InputError(f"{path}: tool.aspen.environments[{i}] = {text!r}: {exc}") from None
    prerelease = table.get("prerelease")
    if prerelease is not None and prerelease not in PRERELEASE_POLICIES:
        raise InputError(
            f"{path}: tool.aspen.prerelease = {prerelease!r}; "
            f"expected one of {', '.join(PRERELEASE_POLICIES)}"
        )
    for key in ("extra-index-url", "find-links"):
        for i, item in enumerate(table.get(key, [])):
            _expect(item, str, path, f"tool.aspen.{key}[{i}]")
    return Settings(
        environments=tuple(environments),
        index_url=table.get("index-url"),
        extra_index_urls=tuple(table.get("extra-index-url", [])),
        find_links=tuple(table.get("find-links", [])),
        no_build=table.get("no-build", False),
        prerelease=prerelease,
    )
