"""Why no lock exists: the smallest set of requirements that cannot hold together, from clingo's
unsatisfiable cores, and where it fails.

Every project requirement and every package's requirements on another are named inputs of the
encoding (``drop(D)``, ``edge_off(P,Q)`` in encodings/lock.lp). The explainer first finds the
environments that fail (each Python interval, then each platform, solved on its own), then asks
clingo for a core on a small failing part with every input held, and shrinks it by deletion:
an input whose removal leaves the problem unsatisfiable is not needed for the conflict. The
shrinking stops at a time budget, and the explanation then says it may not be minimal.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import clingo
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from resolver.environments import Cell
from resolver.errors import NoLockError
from resolver.facts import FactBase, build_facts
from resolver.project import Project, Settings, Source
from resolver.provider import CoreMetadata, MetadataUnavailable
from resolver.solve import Solver
from resolver.universe import Demand, Package, Universe

BUDGET_S = 10.0  # for finding the failing environments and for shrinking the core, each
MAX_PART_ROUNDS = 12  # widenings of a conflict's part before the locker goes on as usual
MAX_PART_PACKAGES = 40  # a conflict's part larger than this is left to the locker


@dataclass
class Reason:
    """One requirement of a conflict."""

    owner: str  # the project's name, or the package that states the requirement
    versions: list[str]  # the owner's versions that state it (empty for the project)
    requirement: str
    source: str = ""  # for the project: where in pyproject.toml; for a package: an override
    verb: str = "requires"  # "constrains" for tool.aspen.constraint-dependencies
    # Each of the owner's versions pins the target to that same version (``requirement`` is
    # the newest one's): mlflow 3.18.0 requires mlflow-skinny==3.18.0, and so on.
    same_version: bool = False
    # A policy that leaves the owner's versions out ("pre-release" or "yanked"); then
    # ``requirement`` is empty and ``source`` names the setting.
    policy: str = ""

    def text(self) -> str:
        if self.policy:
            one = len(self.versions) == 1
            kind = {"pre-release": "a pre-release" if one else "pre-releases"}.get(
                self.policy, self.policy
            )
            left = f"{self.owner} {_version_list(self.versions)}"
            return f"{left}: left out as {kind} ({self.source})"
        if not self.versions:
            return f"{self.owner} {self.verb} {self.requirement} ({self.source})"
        verb = "requires" if len(self.versions) == 1 else "require"
        where = f" ({self.source})" if self.source else ""
        requirement = self.requirement
        if self.same_version and len(self.versions) > 1:
            pinned = Requirement(self.requirement)
            requirement = f"{pinned.name} of the same version"
            if pinned.marker is not None:
                requirement += f"; {pinned.marker}"
        return f"{self.owner} {_version_list(self.versions)} {verb} {requirement}{where}"


@dataclass
class Explanation:
    project: str
    fails: str  # a marker, or "every environment"
    works: str | None  # where a lock exists, when somewhere does
    reasons: list[Reason] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # package -> why it is unavailable
    hints: list[str] = field(default_factory=list)
    minimal: bool = True

    def render(self) -> str:
        lines = [f"no lock exists for {self.project}."]
        where = (
            "in every environment" if self.fails == "every environment" else (f"where {self.fails}")
        )
        lines.append(f"These requirements cannot all hold {where}:")
        lines += [f"  {reason.text()}" for reason in self.reasons]
        for name, why in sorted(self.missing.items()):
            lines.append(f"  {name} is not available: {why}")
        if not self.minimal:
            lines.append("  (time ran out while shrinking: this set may not be minimal)")
        if self.works:
            lines.append(f"A lock exists where {self.works}.")
        lines += [f"hint: {hint}" for hint in self.hints]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "fails": self.fails,
            "works": self.works,
            "reasons": [
                {
                    "owner": r.owner,
                    "versions": r.versions,
                    "requirement": r.requirement,
                    "source": r.source or None,
                    "same_version": r.same_version,
                    "policy": r.policy or None,
                }
                for r in self.reasons
            ],
            "missing": self.missing,
            "hints": self.hints,
            "minimal": self.minimal,
        }


def refute(
    universe: Universe,
    facts: FactBase,
    solver: Solver,
    widened: list[list[str]] | None = None,
) -> bool:
    """When the candidate windows leave no lock: the part of the project that a core inside
    the windows names, widened on its own until it locks or is shown to have no lock at all,
    which raises NoLockError with its explanation. A conflict is proven on a few packages
    instead of re-solving the whole project after every widening. True when windows grew.

    Only a small part is worth it (a core over a large project may name most of it), and the
    part is solved with the locker's classes; only a part that has no lock with them is solved
    again with every package free to fork, before it counts as proven.

    A part widens as the locker widens the whole project: every package that some selection
    with as few versions outside the windows as possible takes outside
    (``Solver.every_outside``), not only those of the selection the search met first. Which
    windows grow then does not depend on the search, and one widening serves every way out at
    once: on examples/large, the parts of the second round's conflicts lock after four
    widenings instead of eight, and the final windows are smaller (3375 package classes instead
    of 3414), for the same lock. ``widened``: where to record each widening (the lock's report,
    which ``-v`` shows)."""
    held = solver.core(solver.inputs, outside=False)
    grew = False
    for _ in range(MAX_PART_ROUNDS if held else 0):
        part = _Part(universe, facts, held)
        if len(part.packages) > MAX_PART_PACKAGES:
            break
        mine = build_facts(part)  # type: ignore[arg-type]
        trial = Solver(mine, outside=True)  # a conflict, expected to need them
        if trial.fits_windows():
            break
        widest = trial.fewest_outside()
        if widest is None:
            if Solver(build_facts(part, fine=True)).fewest_outside() is not None:  # type: ignore[arg-type]
                break  # it locks once packages fork on every marker: the locker's case
            explanation = explain_no_lock(universe, part=part)
            raise NoLockError(explanation.render(), explanation)
        grow = {mine.names[p] for p in trial.every_outside(widest)}
        if not universe.widen(grow):
            break
        if widened is not None:
            widened.append(sorted(grow))
        grew = True
    return grew


def explain_no_lock(
    universe: Universe,
    *,
    budget: float = BUDGET_S,
    part: _Part | None = None,
    solved: tuple[FactBase, Solver] | None = None,
) -> Explanation:
    """Why no lock exists; ``part``: a part of the project already known to have none;
    ``solved``: the facts and solver of the whole project that found none, to take the first
    core from without grounding the project again."""
    space = universe.final_space()
    cells = list(space.cells)
    if part is None:
        # A first core over the whole project, then the part of the project it involves,
        # which is solved on its own from there on: a few packages instead of hundreds.
        held = None
        if solved is not None:
            facts, solver = solved
            held = solver.core(solver.inputs)
        if held is None:
            facts, solver, held = _first_core(universe, cells)
        part = _Part(universe, facts, held)
    if _core_on(part, cells)[2] is None:
        # The coarse core leans on the coarse classes: take one from the fine model.
        facts, solver, held = _core_on(universe, cells)
        assert held is not None, "no lock, yet no core"
        part = _Part(universe, facts, held)
    part.admit_left_out()
    failing = _failing_cells(cells, lambda c: _core_on(part, c)[2] is not None, budget)
    fails = space.render(failing) or "every environment"
    working = [c for c in cells if c not in failing]
    # Where the part locks, the rest of the project may still fail: on its own conflicts.
    elsewhere = []
    if working and not _locks_on(universe, working):
        elsewhere = _failing_cells(working, lambda c: not _locks_on(universe, c), budget)
        working = [c for c in working if c not in elsewhere]
    works = space.render(working) if working else None

    # The core, on a small part that fails: one Python interval, one platform if that fails.
    first = min(failing, key=lambda c: (c.python_index, c.index))
    interval = [c for c in failing if c.python_index == first.python_index]
    small = [c for c in interval if c.platform == first.platform]
    for candidate in (small, interval, failing, cells):
        facts, solver, held = _core_on(part, candidate)
        if held is not None:
            break
    assert held is not None, "no lock, yet no core"
    held, minimal = _shrink(solver, held, budget)

    explanation = Explanation(universe.project.name, fails, works, minimal=minimal)
    explanation.reasons = _reasons(part, facts, held)
    involved = {_name_of(r.requirement) for r in explanation.reasons if not r.policy}
    explanation.missing = {n: why for n, why in universe.missing.items() if n in involved}
    explanation.hints = _hints(part, facts, held, explanation, failing)
    if elsewhere:
        explanation.hints.append(
            f"other requirements fail where {space.render(elsewhere) or 'every environment'} "
            "as well: lock again once this conflict is fixed to see them"
        )
    return explanation


class _Part:
    """The part of a universe that a set of held inputs reaches: the project requirements and
    constraints among them, and the packages they lead to, each keeping only its requirements
    on packages along held edges. Solving the part is solving the whole universe with every
    other input left out, and it grounds in a fraction of the time."""

    def __init__(self, universe: Universe, facts: FactBase, held: list[clingo.Symbol]) -> None:
        self._whole = universe
        roots: set[str] = set()
        constraints: set[str] = set()
        edges: dict[NormalizedName, set[NormalizedName]] = {}
        for symbol in held:
            args = [a.number for a in symbol.arguments]
            if symbol.name == "drop":
                roots.add(str(facts.requirements[args[0]]))
            elif symbol.name == "constraint_off":
                constraints.add(str(facts.requirements[args[0]]))
            else:
                edges.setdefault(facts.names[args[0]], set()).add(facts.names[args[1]])
        project = universe.project
        self.project = _PartProject(
            project,
            [(s, r) for s, r in project.requirements() if str(r) in roots],
            replace(
                project.settings,
                constraints=tuple(c for c in project.settings.constraints if str(c) in constraints),
            ),
        )
        reached = {canonicalize_name(r.name) for _s, r in self.project.requirements()}
        reached |= set(edges).union(*edges.values())
        self._edges = edges
        self.demands = {n: d for n, d in universe.demands.items() if n in reached}
        self.packages = {
            n: _keeping(universe.packages[n], edges.get(n, set()))
            for n in reached
            if n in universe.packages
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self._whole, name)

    def admit_left_out(self, per_kind: int = 3) -> None:
        """Let in the newest versions that the pre-release and yanked policies leave out (those
        some requirement in the part would take), each behind a requirement on a package that
        cannot exist, ``<pre-release>`` or ``<yanked>``. A package's edge to it is an input like
        any other: a core names the policy where leaving it out would lift the conflict."""
        whole = self._whole
        for name, package in sorted(self.packages.items()):
            specifiers = [r.specifier for r in self._requirements_on(name)]
            eligible = set(whole.eligible(whole.packages[name]))
            counts = dict.fromkeys(POLICIES, 0)
            for version in package.versions:
                kind = _left_out_by(package, version, eligible)
                if kind is None or counts[kind] >= per_kind:
                    continue
                if not any(s.contains(version, prereleases=True) for s in specifiers):
                    continue
                meta = package.metadata.get(version) or self._fetch(name, version)
                if meta is None:
                    continue
                counts[kind] += 1
                kept = [
                    r
                    for r in meta.requires_dist
                    if canonicalize_name(r.name) in self._edges.get(name, set())
                ]
                package.metadata[version] = replace(
                    meta, requires_dist=(*kept, _policy_requirement(kind))
                )
                package.window.add(version)
                self.demands.setdefault(POLICIES[kind], Demand())

    def _requirements_on(self, name: NormalizedName) -> list[Requirement]:
        found = [r for _s, r in self.project.requirements() if canonicalize_name(r.name) == name]
        for package in self.packages.values():
            for version in package.window:
                meta = package.metadata.get(version)
                found += [
                    r
                    for r in (meta.requires_dist if meta else ())
                    if canonicalize_name(r.name) == name
                ]
        return found

    def _fetch(self, name: NormalizedName, version: Version) -> CoreMetadata | None:
        try:
            return self._whole.metadata(name, version)
        except MetadataUnavailable:
            return None


# The packages that stand for a policy in an explanation's part: no project can have these
# names, so a version that requires one can be chosen only when its edge is left out.
POLICIES = {
    "pre-release": canonicalize_name("<pre-release>"),
    "yanked": canonicalize_name("<yanked>"),
}


def _policy_requirement(kind: str) -> Requirement:
    requirement = Requirement("policy")  # parsed with a valid name, then given the policy's
    requirement.name = POLICIES[kind]
    return requirement


def _left_out_by(package: Package, version: Version, eligible: set[Version]) -> str | None:
    """Which policy leaves this version out, if one does."""
    if version in eligible or version in package.failed:
        return None
    if package.yanked(version):
        return "yanked"
    return "pre-release" if version in package.prereleases else None


class _PartProject:
    """A project that states only some of its requirements and constraints."""

    def __init__(
        self, project: Project, requirements: list[tuple[Source, Requirement]], settings: Settings
    ) -> None:
        self._whole = project
        self._requirements = requirements
        self.settings = settings

    def requirements(self) -> list[tuple[Source, Requirement]]:
        return list(self._requirements)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._whole, name)


def _keeping(package: Package, targets: set[NormalizedName]) -> Package:
    """A copy of the package with only its requirements on these packages."""
    metadata = {
        v: replace(
            meta,
            requires_dist=tuple(
                r for r in meta.requires_dist if canonicalize_name(r.name) in targets
            ),
        )
        for v, meta in package.metadata.items()
    }
    return replace(package, metadata=metadata, window=set(package.window))


def _first_core(
    universe: Universe, cells: list[Cell]
) -> tuple[FactBase, Solver, list[clingo.Symbol]]:
    """A core over the whole project with every input held: from the package classes the
    locker uses, which ground quickly, else from the fine model."""
    for fine in (False, True):
        facts, solver, held = _core_on(universe, cells, fine=fine)
        if held is not None:
            return facts, solver, held
    raise AssertionError("no lock, yet no core")


def _core_on(
    universe: Universe | _Part, cells: list[Cell], *, fine: bool = True
) -> tuple[FactBase, Solver, list[clingo.Symbol] | None]:
    """The model of these cells alone, and its core with every input held (None: a lock
    exists there)."""
    facts = build_facts(universe, fine=fine, only=set(cells).__contains__)  # type: ignore[arg-type]
    solver = Solver(facts)
    return facts, solver, solver.core(solver.inputs)


def _locks_on(universe: Universe, cells: list[Cell]) -> bool:
    """Whether the whole project locks in these cells (with the locker's classes, else with
    every package free to fork)."""
    return any(_core_on(universe, cells, fine=fine)[2] is None for fine in (False, True))


def _failing_cells(
    cells: list[Cell], fails: Callable[[list[Cell]], bool], budget: float
) -> list[Cell]:
    """The cells where ``fails``: Python intervals tried one by one, then the platforms of the
    failing ones. What the budget leaves untried counts as failing."""
    started = time.perf_counter()

    def tried(part: list[Cell]) -> bool:
        return time.perf_counter() - started > budget or fails(part)

    pythons = sorted({c.python_index for c in cells})
    bad_pythons = [
        y for y in pythons if len(pythons) == 1 or tried([c for c in cells if c.python_index == y])
    ] or pythons
    in_bad = [c for c in cells if c.python_index in bad_pythons]
    platforms = list(dict.fromkeys(c.platform for c in in_bad))
    bad_platforms = [
        p for p in platforms if len(platforms) == 1 or tried([c for c in in_bad if c.platform == p])
    ] or platforms
    return [c for c in in_bad if c.platform in bad_platforms]


def _shrink(
    solver: Solver, held: list[clingo.Symbol], budget: float
) -> tuple[list[clingo.Symbol], bool]:
    """Deletion-based shrinking: drop each input in turn and keep it out when the rest still
    conflicts. Package edges go first, so that what stays leans on the project's own
    requirements, which the user can change."""
    started = time.perf_counter()
    order = sorted(held, key=lambda s: (s.name != "edge_off", str(s)))
    kept = list(order)
    for symbol in order:
        if symbol not in kept:
            continue
        if time.perf_counter() - started > budget:
            return kept, False
        trial = [s for s in kept if s != symbol]
        core = solver.core(trial)
        if core is not None:
            kept = [s for s in trial if s in core]
    return kept, True


def _reasons(
    universe: Universe | _Part, facts: FactBase, held: list[clingo.Symbol]
) -> list[Reason]:
    """The held inputs as lines, in the order a reader follows them: the project's requirements,
    then the packages they lead to."""
    reasons: list[Reason] = []
    project = universe.project
    edges: dict[NormalizedName, list[NormalizedName]] = {}
    roots: list[NormalizedName] = []
    for symbol in held:
        args = [a.number for a in symbol.arguments]
        if symbol.name == "drop":
            req = facts.requirements[args[0]]
            sources = ", ".join(str(s) for s in facts.roots.get(args[0], []))
            if _overridden(universe, req.name):
                sources += ", as tool.aspen.override-dependencies replaces it"
            reasons.append(Reason(project.name, [], str(req), sources))
            roots.append(canonicalize_name(req.name))
        elif symbol.name == "constraint_off":
            req = facts.requirements[args[0]]
            source = "tool.aspen.constraint-dependencies"
            reasons.append(Reason(project.name, [], str(req), source, "constrains"))
        else:
            owner, target = facts.names[args[0]], facts.names[args[1]]
            edges.setdefault(owner, []).append(target)
    # Package edges, breadth first from the project's requirements.
    order: list[tuple[NormalizedName, NormalizedName]] = []
    seen: set[NormalizedName] = set()
    queue = list(roots)
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        for target in sorted(edges.get(name, [])):
            order.append((name, target))
            queue.append(target)
    order += sorted(
        (o, t) for o, targets in edges.items() for t in targets if (o, t) not in set(order)
    )
    for owner, target in order:
        if target in POLICIES.values():
            reasons.append(_policy_reason(universe.packages[owner], target, universe))
        else:
            reasons += _edge_reasons(universe.packages[owner], target, universe)
    return reasons


def _policy_reason(package: Package, target: NormalizedName, universe: Universe | _Part) -> Reason:
    kind = next(k for k, name in POLICIES.items() if name == target)
    versions = [
        str(v)
        for v in sorted(package.metadata, reverse=True)
        if any(r.name == target for r in package.metadata[v].requires_dist)
    ]
    source = {
        "pre-release": f"--prerelease {universe.options.prerelease}",
        "yanked": "only an == pin in the project's own requirements takes a yanked version",
    }[kind]
    return Reason(package.name, versions, "", source, policy=kind)


def _edge_reasons(
    package: Package, target: NormalizedName, universe: Universe | _Part
) -> list[Reason]:
    """What the fetched versions of a package require of another, grouped by requirement; a
    requirement pinning the target to the owner's own version is one group across versions."""
    by_text: dict[str, list[Version]] = {}
    newest: dict[str, str] = {}  # group -> the requirement of its newest version
    for version in sorted(package.metadata, reverse=True):
        if version not in package.window:
            continue
        for req in package.metadata[version].requires_dist:
            if canonicalize_name(req.name) == target:
                key = _same_version_key(req, version) or str(req)
                by_text.setdefault(key, []).append(version)
                newest.setdefault(key, str(req))
    source = "tool.aspen.override-dependencies" if _overridden(universe, target) else ""
    return [
        Reason(
            package.name,
            [str(v) for v in versions],
            newest[key],
            source,
            same_version=key.startswith(SAME_VERSION),
        )
        for key, versions in sorted(by_text.items(), key=lambda kv: kv[1][0], reverse=True)
    ]


SAME_VERSION = "\0same version\0"


def _same_version_key(req: Requirement, version: Version) -> str | None:
    """A group key for ``req`` when it pins its package to exactly ``version``."""
    specs = list(req.specifier)
    if len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version:
        try:
            if Version(specs[0].version) == version:
                extras = ",".join(sorted(req.extras))
                return f"{SAME_VERSION}{canonicalize_name(req.name)}[{extras}];{req.marker}"
        except ValueError:
            return None
    return None


def _overridden(universe: Universe | _Part, name: str) -> bool:
    return canonicalize_name(name) in universe.project.overrides_by_name


def _hints(
    universe: Universe | _Part,
    facts: FactBase,
    held: list[clingo.Symbol],
    explanation: Explanation,
    failing: list[Cell],
) -> list[str]:
    hints: list[str] = []
    listed = getattr(universe.provider, "names", None)
    known = sorted(set(universe.packages) | (listed() if listed else set()))
    for name in sorted(explanation.missing):
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"{name} is on no index or find-links location aspen was given; check the name"
        hints.append(hint + (f" (did you mean {', '.join(close)}?)" if close else ""))
    pythons = sorted({c.python_low for c in failing})
    for reason in explanation.reasons:
        if reason.same_version or reason.policy:
            continue  # each version's own pin: what one version lacks says nothing to act on
        req = Requirement(reason.requirement)
        package = universe.packages.get(canonicalize_name(req.name))
        if package is None:
            continue
        matching = [v for v in package.versions if req.specifier.contains(v, prereleases=True)]
        eligible = set(universe.eligible(package))
        if not matching:
            near = _nearest(package.versions, req)
            hints.append(
                f"no version of {package.name} matches {req.specifier}"
                + (f"; nearest: {', '.join(map(str, near))}" if near else "")
            )
            continue
        usable = [v for v in matching if v in eligible]
        if not usable:
            kinds = []
            if any(v in package.prereleases for v in matching):
                kinds.append("pre-release")
            if any(package.yanked(v) for v in matching):
                kinds.append("yanked")
            shown = ", ".join(str(v) for v in matching[:3])
            remedy = {
                "pre-release": "pass --prerelease allow or name the pre-release in the requirement",
                "yanked": "pin the yanked version with == in the project's own requirements",
            }
            hints.append(
                f"only {' or '.join(kinds) or 'skipped'} versions of {package.name} match "
                f"{req.specifier} ({shown}): "
                + "; or ".join(remedy[k] for k in kinds if k in remedy)
            )
            continue
        runnable = [
            v
            for v in usable
            if any(
                p is None or p.contains(py, prereleases=True)
                for p in [package.requires_python(v)]
                for py in pythons
            )
        ]
        if not runnable:
            needs = {str(package.requires_python(v)) for v in usable[:3]}
            hints.append(
                f"every version of {package.name} that matches {req.specifier} needs Python "
                f"{' or '.join(sorted(needs))}, but the lock must cover Python {pythons[0]}: "
                "raise requires-python, or limit the requirement with a python_version marker"
            )
            continue
        hint = _required_hint(universe, package, runnable, failing)
        if hint:
            hints.append(f"{hint} (required by {req})")
    if explanation.works:
        hints.append(
            "the conflict is only in some environments: to lock just the others, set "
            f'[tool.aspen] environments = ["{explanation.works}"]'
        )
    return list(dict.fromkeys(hints))


def _required_hint(
    universe: Universe | _Part, package: Package, versions: list[Version], failing: list[Cell]
) -> str | None:
    """When every one of these versions lacks a file for some required environment where the
    lock fails: which, and where."""
    markers = universe.project.settings.required_environments
    required = [c for c in failing if any(c.holds(m) for m in markers)]
    if not required:
        return None
    where: set[Cell] = set()
    for version in versions:
        files = package.files[version]
        missing = [
            c
            for c in required
            if c.admits(package.requires_python(version)) and not c.installable(files)
        ]
        if not missing:
            return None
        where.update(missing)
    shown = ", ".join(str(v) for v in versions[:3])
    place = universe.final_space().render(where) or "every environment"
    return (
        f"{package.name} {shown}{' ...' if len(versions) > 3 else ''} has no file that installs "
        f"where {place}, which tool.aspen.required-environments requires"
    )


def _nearest(versions: list[Version], req: Requirement) -> list[Version]:
    """Up to three existing versions closest to the versions the specifier names."""
    named = []
    for spec in req.specifier:
        try:
            named.append(Version(spec.version.removesuffix(".*")))
        except ValueError:
            continue
    return nearest_versions(versions, named[0]) if named else []


def nearest_versions(versions: list[Version], target: Version) -> list[Version]:
    """The two existing versions just below the target and the one just above, newest first
    (``versions`` newest first)."""
    older = [v for v in versions if v < target][:2]
    newer = [v for v in reversed(versions) if v > target][:1]
    return sorted({*older, *newer}, reverse=True)


def _name_of(requirement: str) -> NormalizedName:
    return canonicalize_name(Requirement(requirement).name)


def _version_list(versions: list[str]) -> str:
    if len(versions) == 1:
        return versions[0]
    if len(versions) <= 3:
        return f"{', '.join(versions[:-1])} and {versions[-1]}"
    return f"{versions[0]} to {versions[-1]} ({len(versions)} versions)"
