"""Facts: the universe turned into ASP atoms for ``encodings/*.lp``.

Python decides nothing the solver should decide; it precomputes what the encodings must not
parse: which versions satisfy which requirement, which markers hold in which region, which
versions can run in which region. Atoms (all arguments are integers):

- ``region(R)``, ``region_py(R,Y)``: cells that no marker or Requires-Python tells apart are one
  region; ``Y`` numbers the Python intervals a region covers.
- ``package(P)``, ``direct(P)``, ``version(P,V)``: ``V`` is the version's rank among all the
  package's versions (0 = newest). Package 0 is the project itself, with the one version 0.
- ``avail(P,V,R)``: version V may be chosen in region R (window, metadata, Requires-Python).
- ``outside(P,V)``: V stands for every eligible version outside P's window, whose metadata is not
  fetched; ``avail_outside(P,V,R)``: it can run in R. Choosing it means the window must grow.
- ``dep(P,V,D)``: version V of P has requirement D; ``req_pkg(D,Q)``, ``req_extra(D,E)``;
  ``req_on(D,R)``: D's marker holds in R; ``req_extra_on(D,E,R)``: it holds there under extra E.
- ``req_ok(D,W)``: version W of D's package satisfies D's specifier.
- ``uninstallable(P,V,R)``: no file of V installs in R (no sdist, no wheel with a fitting tag).
- ``locked(P,V,R)``: the previous lock had version V of P in region R (absent with --upgrade);
  ``upgrade(P)``: --upgrade-package exempts P from keeping its locked version.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from resolver.environments import Cell, EnvironmentSpace
from resolver.project import Source
from resolver.universe import Universe, marker_extras

ROOT = 0


@dataclass
class Region:
    index: int
    cells: list[Cell]

    @property
    def cell(self) -> Cell:
        return self.cells[0]


@dataclass
class FactBase:
    """The facts of one solve, and the tables to read a model back."""

    space: EnvironmentSpace
    regions: list[Region]
    package_ids: dict[NormalizedName, int]
    names: list[NormalizedName]
    requirements: list[Requirement]  # index = requirement id
    extras: list[str]  # index = extra id
    outside: dict[int, int] = field(default_factory=dict)  # package id -> pseudo-version rank
    locked: dict[tuple[int, int], int] = field(default_factory=dict)  # (package, region) -> rank
    # Project requirement id -> where the project states it (for explanations).
    roots: dict[int, list[Source]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def build_facts(universe: Universe) -> FactBase:
    space = universe.final_space()
    project = universe.project
    packages = universe.packages

    # Requirements of the project (package 0, version 0) and of every window version.
    names: list[NormalizedName] = [project.name]
    package_ids: dict[NormalizedName, int] = {project.name: ROOT}
    for name in sorted(set(universe.demands) | set(packages)):
        if name not in package_ids:
            package_ids[name] = len(names)
            names.append(name)

    req_ids: dict[str, int] = {}
    requirements: list[Requirement] = []
    deps: list[tuple[int, int, int]] = []

    def intern(req: Requirement) -> int:
        key = str(req)
        if key not in req_ids:
            req_ids[key] = len(requirements)
            requirements.append(req)
        return req_ids[key]

    roots: dict[int, list[Source]] = {}
    for source, req in project.requirements():
        if canonicalize_name(req.name) in package_ids:
            did = intern(req)
            deps.append((ROOT, 0, did))
            roots.setdefault(did, []).append(source)
    windows: dict[NormalizedName, list[Version]] = {}
    for name in sorted(packages):
        package = packages[name]
        window = sorted((v for v in package.window if v in package.metadata), reverse=True)
        windows[name] = window
        for v in window:
            for req in package.metadata[v].requires_dist:
                if canonicalize_name(req.name) in package_ids:
                    deps.append((package_ids[name], package.rank[v], intern(req)))

    # Regions: cells where every marker (under every extra it names) and every Requires-Python
    # of a candidate agree are one region.
    markers: list[tuple[Marker, str]] = []
    seen_markers: set[tuple[str, str]] = set()
    for req in requirements:
        if req.marker is not None:
            for extra in ("", *sorted(marker_extras(req.marker))):
                key = (str(req.marker), extra)
                if key not in seen_markers:
                    seen_markers.add(key)
                    markers.append((req.marker, extra))
    specs: dict[str, SpecifierSet] = {}
    for name, window in windows.items():
        package = packages[name]
        for v in [*window, *universe.outside(package)]:
            rp = package.requires_python(v)
            if rp is not None:
                specs.setdefault(str(rp), rp)
    spec_list = [specs[k] for k in sorted(specs)]
    # Versions with wheels only: where they can be installed also tells cells apart.
    binary_only = [
        packages[name].files[v]
        for name, window in windows.items()
        for v in window
        if not any(f.kind == "sdist" for f in packages[name].files[v])
    ]
    groups: dict[tuple[bool, ...], list[Cell]] = {}
    for cell in space.cells:
        signature = (
            tuple(cell.holds(m, e) for m, e in markers)
            + tuple(cell.admits(s) for s in spec_list)
            + tuple(cell.installable(files) for files in binary_only)
        )
        groups.setdefault(signature, []).append(cell)
    regions = [Region(i, cells) for i, cells in enumerate(groups.values())]

    extras: list[str] = []
    extra_ids: dict[str, int] = {}

    def extra_id(name: str) -> int:
        name = canonicalize_name(name)
        if name not in extra_ids:
            extra_ids[name] = len(extras)
            extras.append(name)
        return extra_ids[name]

    base = FactBase(space, regions, package_ids, names, requirements, extras, roots=roots)
    out = base.lines
    for region in regions:
        out.append(f"region({region.index}).")
        for y in sorted({c.python_index for c in region.cells}):
            out.append(f"region_py({region.index},{y}).")
    out.append(f"package({ROOT}). version({ROOT},0).")
    out += [f"avail({ROOT},0,{r.index})." for r in regions]
    direct = {canonicalize_name(req.name) for _s, req in project.requirements()}
    for name in sorted(direct & set(package_ids)):
        out.append(f"direct({package_ids[name]}).")
    out += _lock_facts(universe, base, windows)

    for name, pid in sorted(package_ids.items(), key=lambda kv: kv[1]):
        if pid == ROOT:
            continue
        out.append(f"package({pid}).")
        package = packages.get(name)
        if package is None:
            continue  # not on any index: required anywhere, the solve is unsatisfiable
        for v in windows[name]:
            rank = package.rank[v]
            out.append(f"version({pid},{rank}).")
            rp = package.requires_python(v)
            for region in regions:
                if region.cell.admits(rp):
                    out.append(f"avail({pid},{rank},{region.index}).")
                    if not region.cell.installable(package.files[v]):
                        out.append(f"uninstallable({pid},{rank},{region.index}).")
        rest = universe.outside(package)
        if rest:
            pseudo = package.rank[rest[0]]
            base.outside[pid] = pseudo
            out.append(f"version({pid},{pseudo}). outside({pid},{pseudo}).")
            for region in regions:
                if any(region.cell.admits(package.requires_python(v)) for v in rest):
                    out.append(f"avail_outside({pid},{pseudo},{region.index}).")

    for pid, rank, did in sorted(set(deps)):
        out.append(f"dep({pid},{rank},{did}).")
    for did, req in enumerate(requirements):
        target = canonicalize_name(req.name)
        qid = package_ids[target]
        out.append(f"req_pkg({did},{qid}).")
        for extra in sorted(req.extras):
            out.append(f"req_extra({did},{extra_id(extra)}).")
        named = sorted(marker_extras(req.marker))
        for region in regions:
            if region.cell.holds(req.marker):
                out.append(f"req_on({did},{region.index}).")
            else:
                for extra in named:
                    if region.cell.holds(req.marker, extra):
                        out.append(f"req_extra_on({did},{extra_id(extra)},{region.index}).")
        package = packages.get(target)
        if package is None:
            continue
        for v in windows[target]:
            if req.specifier.contains(v, prereleases=True):
                out.append(f"req_ok({did},{package.rank[v]}).")
        if qid in base.outside and _any_satisfies(req, universe.outside(package)):
            out.append(f"req_ok({did},{base.outside[qid]}).")
    return base


def _lock_facts(
    universe: Universe, base: FactBase, windows: dict[NormalizedName, list[Version]]
) -> list[str]:
    """``locked`` facts: the version each package had, in each region where its entry applies
    (with every extra and group selected); a package locked at one version everywhere keeps
    it in regions that did not need it before, too. ``upgrade`` facts for exempt packages."""
    package_ids = base.package_ids
    out = [f"upgrade({package_ids[n]})." for n in sorted(universe.upgrade) if n in package_ids]
    prior = universe.prior
    if prior is None:
        return out
    extras, groups = sorted(universe.project.extras), sorted(universe.project.groups)
    entries: dict[NormalizedName, list] = {}
    for entry in prior.entries:
        entries.setdefault(entry.name, []).append(entry)
    for name in sorted(entries):
        if name not in package_ids or name not in windows or name in universe.upgrade:
            continue
        package = universe.packages[name]
        mine = entries[name]
        for region in base.regions:
            applying = [e for e in mine if e.applies(region.cell, extras, groups)]
            if not applying and len(mine) == 1:
                applying = mine
            for entry in applying[:1]:
                if entry.version in windows[name]:
                    rank = package.rank[entry.version]
                    base.locked[(package_ids[name], region.index)] = rank
                    out.append(f"locked({package_ids[name]},{rank},{region.index}).")
    return out


def _any_satisfies(req: Requirement, versions: Iterable[Version]) -> bool:
    return any(req.specifier.contains(v, prereleases=True) for v in versions)
