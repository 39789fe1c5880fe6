"""``aspen why NAME`` and ``aspen why-not NAME==VER``.

``why`` reads the lock: the dependency paths from the project's requirements to each entry of
the package, per fork. ``why-not`` asks the solver the counterfactual: the lock again with that
package held to that version (everything else kept as locked where it can be). No selection at
all means the version is impossible, and the unsatisfiable core says why; otherwise the version
is possible but worse, and the first objective level where it costs more says by how much.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from resolver.errors import InputError, NoLockError
from resolver.explain import Explanation, nearest_versions
from resolver.locker import lock_project
from resolver.options import LockOptions
from resolver.prior import PriorLock
from resolver.project import Project
from resolver.provider import PackageNotFound, Provider
from resolver.solve import LEVELS

# -- why ------------------------------------------------------------------------------------


@dataclass
class Fork:
    version: str
    marker: str | None
    paths: list[list[str]] = field(default_factory=list)  # each: source, then "name version"s


def why(project: Project, name: str) -> list[Fork]:
    """Per lock entry of the package: the shortest path from each of the project's direct
    requirements that leads to it."""
    target = canonicalize_name(name)
    try:
        data = tomllib.loads(project.lock_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{project.lock_path} does not exist; run `aspen lock` first") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{project.lock_path}: {exc}") from None
    entries = [
        (canonicalize_name(p["name"]), str(p.get("version", "")), p)
        for p in data.get("packages", [])
    ]
    if not any(n == target for n, _v, _p in entries):
        raise InputError(f"{target} is not in {project.lock_path}")
    by_name: dict[NormalizedName, list[int]] = {}
    for i, (n, _v, _p) in enumerate(entries):
        by_name.setdefault(n, []).append(i)
    children: dict[int, list[int]] = {}
    for i, (_n, _v, p) in enumerate(entries):
        for dep in p.get("dependencies", []):
            dep_name = canonicalize_name(dep["name"])
            for j in by_name.get(dep_name, []):
                if "version" not in dep or entries[j][1] == str(dep["version"]):
                    children.setdefault(i, []).append(j)
    forks = []
    for goal in by_name[target]:
        fork = Fork(entries[goal][1], entries[goal][2].get("marker"))
        seen_paths: set[tuple[str, ...]] = set()
        for source, req in project.requirements():
            for start in by_name.get(canonicalize_name(req.name), []):
                if not _satisfies(req, entries[start][1]):
                    continue  # another fork's entry (a conflicting extra's variant, say)
                path = _shortest(start, goal, children)
                if path is None:
                    continue
                steps = [f"{entries[k][0]} {entries[k][1]}" for k in path]
                key = (str(source), *steps)
                if key not in seen_paths:
                    seen_paths.add(key)
                    fork.paths.append([f"{project.name} ({source}: {req})", *steps])
        fork.paths.sort(key=len)
        forks.append(fork)
    return forks


def _satisfies(req: Requirement, version: str) -> bool:
    try:
        return req.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return True


def _shortest(start: int, goal: int, children: dict[int, list[int]]) -> list[int] | None:
    parent: dict[int, int | None] = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        if node == goal:
            path = [node]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])  # type: ignore[arg-type]
            return path[::-1]
        for child in children.get(node, []):
            if child not in parent:
                parent[child] = node
                queue.append(child)
    return None


def render_why(name: str, forks: list[Fork]) -> str:
    lines = []
    for fork in forks:
        where = f" (where {fork.marker})" if fork.marker else ""
        lines.append(f"{canonicalize_name(name)} {fork.version}{where}:")
        for path in fork.paths or [["(no path from the project's requirements)"]]:
            lines.append("  " + " -> ".join(path))
    return "\n".join(lines)


def why_as_dict(name: str, forks: list[Fork]) -> dict[str, Any]:
    return {
        "package": canonicalize_name(name),
        "entries": [{"version": f.version, "marker": f.marker, "paths": f.paths} for f in forks],
    }


# -- why-not --------------------------------------------------------------------------------


@dataclass
class WhyNot:
    package: str
    version: str
    verdict: str  # "impossible", "worse", "chosen", "not-needed"
    explanation: Explanation | None = None
    level: str | None = None  # for "worse": the first objective level that costs more
    cost: int | None = None
    instead: int | None = None  # the optimum's cost at that level
    nearest: list[str] = field(default_factory=list)

    def render(self) -> str:
        head = f"{self.package} {self.version}"
        if self.verdict == "chosen":
            return f"{head} is in the lock already."
        if self.verdict == "not-needed":
            return f"{head} is not in the lock: nothing the project requires needs {self.package}."
        if self.verdict == "missing":
            near = f" (nearest: {', '.join(self.nearest)})" if self.nearest else ""
            return f"{head} does not exist on the configured indexes{near}."
        if self.verdict == "worse":
            return (
                f"{head} is possible, but the lock is better without it: with it, "
                f"{self.level} would be {self.cost} instead of {self.instead} "
                "(every higher-priority level costs the same)."
            )
        assert self.explanation is not None
        reasons = self.explanation.render().splitlines()[1:]
        return "\n".join([f"{head} cannot be in the lock.", *reasons])

    def as_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "verdict": self.verdict,
            "level": self.level,
            "cost": self.cost,
            "optimum": self.instead,
            "nearest": self.nearest,
            "explanation": self.explanation.as_dict() if self.explanation else None,
        }


def why_not(
    project: Project,
    provider: Provider,
    text: str,
    *,
    prior: PriorLock | None,
    options: LockOptions,
    warn: Callable[[str], None],
) -> WhyNot:
    try:
        req = Requirement(text)
        (spec,) = list(req.specifier)
        assert spec.operator == "==" and "*" not in spec.version
        version = Version(spec.version)
    except Exception:
        raise InputError(f"why-not {text!r}: give one exact version, as NAME==VERSION") from None
    name = canonicalize_name(req.name)
    result = WhyNot(name, str(version), "impossible")
    try:
        versions = sorted({f.version for f in provider.files(name)}, reverse=True)
    except PackageNotFound as exc:
        raise InputError(f"why-not {text}: {exc}") from None
    if version not in versions:
        result.verdict = "missing"
        result.nearest = [str(v) for v in nearest_versions(versions, version)]
        return result

    def run(spec: str):
        return lock_project(
            project,
            provider,
            options=options,
            warn=warn,
            prior=prior,
            pins={name: SpecifierSet(spec)},
        )

    best = run("")
    if not any(e.name == name for e in best.entries):
        result.verdict = "not-needed"
        return result
    if any(e.name == name and e.version == version for e in best.entries):
        result.verdict = "chosen"
        return result
    try:
        forced = run(f"=={version}")
    except NoLockError as exc:
        result.explanation = exc.explanation  # type: ignore[assignment]
        return result
    result.verdict = "worse"
    for priority, cost, optimum in zip(
        best.solution.priorities, forced.solution.cost, best.solution.cost, strict=True
    ):
        if cost != optimum:
            result.level = LEVELS.get(priority, f"level {priority}")
            result.cost, result.instead = cost, optimum
            break
    return result
