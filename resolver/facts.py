"""Facts: the universe turned into ASP atoms for ``encodings/*.lp``.

Python decides nothing the solver should decide; it precomputes what the encodings must not
parse: which versions satisfy which requirement, which markers hold where, which versions can
run where.

Each package's cells are grouped into *classes*: cells that nothing the package depends on
tells apart, namely the classes of every package that requires it, the markers of those
requirements, its own versions' Requires-Python, and the Python versions where something in its
dependency closure changes. A package has one version per class, so it forks across platforms
only where the requirements on it differ there; a package that nothing marks keeps one class
per run of Python intervals that its closure does not tell apart. (Grouping the whole space into
regions that every marker of every package agrees on, as a first version did, multiplies
independent distinctions: 126 regions and 448k facts on a 400-package project.) ``fine=True``
gives every package the same classes, those regions, which lets a package fork wherever any
marker does; the locker uses it only when the classes leave no lock.

Atoms (all arguments are integers):

- ``partition(P,S)``: P's classes are those of partition S (packages with the same classes
  share a partition: examples/large's 441 packages have 30); ``nested(S,K,T,KT)``: class K of
  partition S lies inside class KT of partition T, stated for the pairs of partitions of a
  package and a package that requires it (instead of a fact per class of each package and
  package requiring it: examples/large had 9,419 of those).
  Package 0 is the project itself, with the one version 0.
- ``class(S,K,Y)``: class K of partition S covers Python interval Y (one fact per interval),
  stated only for the project's partition and where S ``forks``: nothing asks elsewhere.
- ``forks(S,Y)``: more than one class of partition S covers Python interval Y (its packages
  may have more than one version there, on different platforms); ``solo(S,K,N)``: class K of
  S is the only class of S on N of the Python intervals it covers.
- ``direct(P)``: the project requires P. A version is named by its rank among all the
  package's versions (0 = newest). (No ``package(P)`` or ``version(P,V)`` facts: no rule read
  them, and examples/large had 1,304 of them.)
- ``next_version(P,U,V)``: V is the next older version of P after U among those in the facts.
- ``avail(P,V,K)``: version V may be chosen in class K (window, metadata, Requires-Python);
  ``avail_all(P,V)`` instead where it may be chosen in every class of P (examples/large: 1,313
  facts instead of 6,057). ``only(P,V)``: besides, V is P's one window version, so that where
  no version outside the windows can be chosen, V is chosen wherever P is needed (stated only
  in such a program: ``FactBase.inside_atoms``).
- ``outside(P,V)``: V stands for every eligible version outside P's window, whose metadata is not
  fetched; ``avail_outside(P,V,K)``: it can run in K. Choosing it means the window must grow.
- ``dep(0,0,D)``: the project has requirement D. A package's requirements come in bundles, those
  that the same versions of it have: ``bundle(P,V,B)``: version V of P has the requirements
  of bundle B, ``bundled(B,P,D)``: requirement D is one of them (a bundle belongs to one
  package). A package whose bundles take fewer rules so states them over spans, runs of its
  window versions halved again and again (``_Spans``): ``span(P,V,G)``: version V of P lies in
  span G, ``span_in(H,G)``: span H lies in span G, ``bundle_span(G,P,B)``: the versions of
  span G have bundle B (its ``bundle`` facts then name only the versions none of its spans
  holds).
  ``req_pkg(D,Q)``, ``req_extra(D,E)``;
  ``req_on(D,K)``: D's marker holds in class K of Q (``req_all(D)`` instead: in every class of
  Q); ``req_extra_on(D,E,K)``: it holds there
  under extra E.
- ``req_fails(D,Q,W)``: version W of Q, D's package, does not satisfy D's specifier (most
  requirements admit every version in the facts: examples/large has 746 of these where it
  had 2,940 facts of the versions that do).
- ``uninstallable(P,V,K,N)``: in N cells of class K no file of V installs (no sdist, no wheel
  with a fitting tag).
- ``locked(P,V,K)``: the previous lock had version V of P in class K (absent with --upgrade);
  ``upgrade(P)``: --upgrade-package exempts P from keeping its locked version.
- ``pref(P,V,C)``: the preference cost of version V: its rank from the newest, or from the
  oldest where --resolution lowest applies (0 = most preferred, stated by no fact: a cost of
  0 adds nothing to any level).
- ``constraint(D)``: requirement D is a tool.aspen constraint (binds, never makes needed).
- ``required_fail(P,V,K)``: some cell of class K is a required environment where no file of V
  installs; ``fork_strategy_fewest``: --fork-strategy fewest.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from resolver.environments import (
    Cell,
    EnvironmentSpace,
    admits_column,
    marker_column,
    spec_contains,
    spec_span,
)
from resolver.predicates import PREDICATES
from resolver.project import Source
from resolver.provider import DistFile
from resolver.universe import Package, Universe, marker_extras

ROOT = 0

Column = tuple  # one value per cell of the space


@dataclass
class PackageClass:
    """Cells where one package has one version."""

    index: int
    cells: list[Cell]
    # The positions of its cells among the cells of the facts: looking a cell up by value
    # calls its Python __hash__ (90,000 times a round on examples/large).
    at: list[int] = field(default_factory=list)

    @property
    def cell(self) -> Cell:
        return self.cells[0]

    @cached_property
    def pythons(self) -> list[int]:
        """The Python intervals (indices into the space's ``pythons``) the class covers (read
        once the class has all its cells)."""
        return sorted({c.python_index for c in self.cells})


@dataclass
class FactBase:
    """The facts of one solve, and the tables to read a model back."""

    space: EnvironmentSpace
    classes: dict[int, list[PackageClass]]  # package id -> its classes
    package_ids: dict[NormalizedName, int]
    names: list[NormalizedName]
    requirements: list[Requirement]  # index = requirement id
    extras: list[str]  # index = extra id
    outside: dict[int, int] = field(default_factory=dict)  # package id -> pseudo-version rank
    locked: dict[tuple[int, int], int] = field(default_factory=dict)  # (package, class) -> rank
    # Project requirement id -> where the project states it (for explanations).
    roots: dict[int, list[Source]] = field(default_factory=dict)
    # Predicate name -> the texts of its atoms (no period), in the order they were made.
    atoms: dict[str, list[str]] = field(default_factory=lambda: {p: [] for p in PREDICATES})
    # Predicate name -> indices into its atoms of those that mention an outside pseudo-version
    # (see ``inside``).
    about_outside: dict[str, set[int]] = field(default_factory=dict)
    # ``next_version`` atoms that step over an outside pseudo-version between two window
    # versions: with the pseudo-versions left out (``inside_atoms``), they keep each package's
    # versions one chain.
    bridges: list[str] = field(default_factory=list)
    # ``only`` atoms, which hold only without the outside pseudo-versions (``inside_atoms``).
    sole: list[str] = field(default_factory=list)

    def text(self) -> str:
        """The facts as a logic program, one per line, grouped by predicate."""
        return "".join(f"{atom}.\n" for atoms in self.atoms.values() for atom in atoms)

    def inside(self) -> str:
        """The facts without those that mention an outside pseudo-version. With versions
        outside the windows not allowed, those change no selection and no cost, so two fact
        bases with the same ``inside`` have the same optima inside the windows (even when a
        pseudo-version moved because a window grew)."""
        return "\n".join(
            atom for name, atoms in self.atoms.items() for atom in self._inside(name, atoms)
        )

    def inside_atoms(self, name: str) -> list[str]:
        """The predicate's atoms that mention no outside pseudo-version, with the ``bridges``
        among ``next_version``'s and the ``sole`` as ``only``'s: the facts of a program where
        no version outside the windows can be chosen, with the same costs for every
        selection."""
        atoms = self._inside(name, self.atoms[name])
        if name == "next_version":
            return atoms + self.bridges
        return atoms + self.sole if name == "only" else atoms

    def _inside(self, name: str, atoms: list[str]) -> list[str]:
        skip = self.about_outside.get(name)
        if not skip:
            return atoms
        return [atom for i, atom in enumerate(atoms) if i not in skip]

    @property
    def class_count(self) -> int:
        return sum(len(c) for c in self.classes.values())


def build_facts(
    universe: Universe,
    *,
    fine: bool = False,
    only: Callable[[Cell], bool] | None = None,
    prune: bool = False,
) -> FactBase:
    """The facts of the universe; ``only``: keep just the cells it accepts (explanations solve
    parts of the space on their own); ``prune``: leave out window versions that a more
    preferred one dominates (see ``_dominated``)."""
    space = universe.final_space()
    cells = [c for c in space.cells if only is None or only(c)]
    project = universe.project
    packages = universe.packages

    names: list[NormalizedName] = [project.name]
    package_ids: dict[NormalizedName, int] = {project.name: ROOT}
    for name in sorted(set(universe.demands) | set(packages)):
        if name not in package_ids:
            package_ids[name] = len(names)
            names.append(name)

    truth = _Columns.of(universe, space, cells, only is None)
    req_ids: dict[str, int] = {}
    requirements: list[Requirement] = []
    deps: list[tuple[int, int, int]] = []

    def intern(req: Requirement, root: bool = False) -> int:
        # The project's requirements get ids of their own: with conflicting extras they hold
        # only in some configurations, which a package's equal requirement does not.
        key = f"root {req}" if root else truth.text(req)
        if key not in req_ids:
            req_ids[key] = len(requirements)
            requirements.append(req)
        return req_ids[key]

    # What each package depends on for its classes: the (package, requirement, extra) edges
    # into it, and its versions' Requires-Python. Columns by identity (``_Columns`` hands out
    # one object per marker and extra): a set of them hashed every column of 180 cells at each
    # of the 35,000 requirements of examples/large's windows.
    columns: dict[int, dict[int, Column]] = {pid: {} for pid in range(len(names))}
    parents: dict[int, set[int]] = {pid: set() for pid in range(len(names))}

    def add_dep(
        pid: int, req: Requirement, extras: Iterable[str], gate: Column | None = None
    ) -> int | None:
        """The requirement's id, once its package's classes depend on it; None when it is
        never active."""
        name, under, live = truth.requirement(req, extras)
        target = package_ids[name]
        if gate is not None:
            gated = [
                tuple(a and b for a, b in zip(col, gate, strict=True)) for col in under.values()
            ]
            under = {id(col): col for col in gated}
            live = any(any(col) for col in gated)
        if not live:
            return None  # never active: its marker holds nowhere under the extras asked of it
        parents[target].add(pid)
        columns[target].update(under)
        return intern(req, root=pid == ROOT)

    constraint_ids: list[int] = []
    for req in project.settings.constraints:
        target = package_ids.get(canonicalize_name(req.name))
        if target is not None:
            constraint_ids.append(intern(req))
            column = truth.marker(req.marker, "")
            columns[target][id(column)] = column
    roots: dict[int, list[Source]] = {}
    for source, req in project.requirements():
        if canonicalize_name(req.name) in package_ids:
            roots.setdefault(intern(req, root=True), []).append(source)
    # Where each project requirement holds for its sources (conflicting extras and groups).
    gates: dict[int, Column] = {}
    if len(space.configs) > 1:
        gates = {
            did: tuple(any(c.config.allows(s) for s in sources) for c in cells)
            for did, sources in roots.items()
        }
    for did in roots:
        if add_dep(ROOT, requirements[did], frozenset(), gates.get(did)) is not None:
            deps.append((ROOT, 0, did))
    windows: dict[NormalizedName, list[Version]] = {}
    rests = {name: universe.outside(package) for name, package in packages.items()}
    for name in sorted(packages):
        package = packages[name]
        window = sorted((v for v in package.window if v in package.metadata), reverse=True)
        windows[name] = window
        asked = frozenset(universe.demands[name].extras if name in universe.demands else {""})
        pid = package_ids[name]
        # The versions of a package share most requirement objects (the metadata cache
        # hands out one per text): each is added once per package (examples/large: 21,173
        # requirements of window versions, 3,481 distinct).
        known: dict[int, int | None] = {}  # by the requirement's id: its id in the facts
        for v in window:
            rank = package.rank[v]
            for req in package.metadata[v].requires_dist:
                did = known.get(id(req), -1)
                if did == -1:
                    did = known[id(req)] = (
                        add_dep(pid, req, asked) if truth.name(req) in package_ids else None
                    )
                if did is not None:
                    deps.append((pid, rank, did))
        for rp in (
            *_requires_pythons(package, window),
            *_outside_requires_pythons(package, rests[name]),
        ):
            column = truth.admits(rp)
            columns[pid][id(column)] = column

    class_of = _partitions(cells, columns, parents, fine)
    # Packages with the same classes share them (they are read only): examples/large's 441
    # packages have 30 different sets of classes.
    classes: dict[int, list[PackageClass]] = {}
    shared: dict[tuple[int, ...], list[PackageClass]] = {}
    # Package id -> its partition: the number of its set of classes, in order of first
    # appearance (``partition`` and ``nested`` facts).
    partition: dict[int, int] = {}
    number: dict[tuple[int, ...], int] = {}
    for pid, assignment in class_of.items():
        key = tuple(assignment)
        mine = shared.get(key)
        if mine is None:
            number[key] = len(number)
            mine = shared[key] = []
            for i, (cell, k) in enumerate(zip(cells, assignment, strict=True)):
                if k == len(mine):
                    mine.append(PackageClass(k, []))
                mine[k].cells.append(cell)
                mine[k].at.append(i)
        classes[pid] = mine
        partition[pid] = number[key]

    extras: list[str] = []
    extra_ids: dict[str, int] = {}

    def extra_id(name: str) -> int:
        name = canonicalize_name(name)
        if name not in extra_ids:
            extra_ids[name] = len(extras)
            extras.append(name)
        return extra_ids[name]

    base = FactBase(space, classes, package_ids, names, requirements, extras, roots=roots)
    emit = base.atoms
    emit["constraint"] += [f"constraint({did})" for did in sorted(set(constraint_ids))]
    if universe.options.fork_strategy == "fewest":
        emit["fork_strategy_fewest"].append("fork_strategy_fewest")
    required_markers = project.settings.required_environments

    required = [any(cell.holds(m) for m in required_markers) for cell in cells]

    # Which classes cover each Python interval depends on the classes alone: stated once per
    # partition (examples/large: 422 class, 186 forks and 58 solo facts instead of 732, 336
    # and 2,635 per package).
    root = partition[ROOT]
    for s, mine in enumerate(shared.values()):
        covering = Counter(y for c in mine for y in c.pythons)
        # Only where S forks (and for the project's): elsewhere the encodings never ask, and
        # examples/large has 5,036 class facts of its packages of which 4,300 are not on a fork.
        emit["class"] += [
            f"class({s},{c.index},{y})"
            for c in mine
            for y in c.pythons
            if s == root or covering[y] > 1
        ]
        emit["forks"] += [f"forks({s},{y})" for y in sorted(covering) if covering[y] > 1]
        for c in mine:
            alone = sum(1 for y in c.pythons if covering[y] == 1)
            if alone:
                emit["solo"].append(f"solo({s},{c.index},{alone})")
    nested: set[tuple[int, int]] = set()  # the pairs of partitions stated by ``nested``
    for pid in sorted(classes):
        emit["partition"].append(f"partition({pid},{partition[pid]})")
        for parent in sorted(parents[pid]):
            pair = (partition[pid], partition[parent])
            if pair not in nested:
                nested.add(pair)
                assignment = class_of[parent]
                emit["nested"] += [
                    f"nested({pair[0]},{c.index},{pair[1]},{assignment[c.at[0]]})"
                    for c in classes[pid]
                ]
    direct = {canonicalize_name(req.name) for _s, req in project.requirements()}
    emit["direct"] += [f"direct({package_ids[name]})" for name in sorted(direct & set(package_ids))]
    if prune:
        windows = _undominated(universe, windows, package_ids, requirements, deps, truth)
        kept = {
            (package_ids[name], packages[name].rank[v]) for name in windows for v in windows[name]
        }
        deps = [d for d in deps if d[0] == ROOT or d[:2] in kept]
    _lock_facts(universe, base, windows)

    avail, avail_all, pref = emit["avail"], emit["avail_all"], emit["pref"]
    next_version = emit["next_version"]
    orders: dict[int, list[int]] = {}  # package id -> the ranks of its window versions

    def about_outside(name: str) -> None:
        """Marks the predicate's next atom as one that mentions an outside pseudo-version."""
        base.about_outside.setdefault(name, set()).add(len(emit[name]))

    for name, pid in sorted(package_ids.items(), key=lambda kv: kv[1]):
        if pid == ROOT:
            continue
        package = packages.get(name)
        if package is None:
            continue  # not on any index: required anywhere, the solve is unsatisfiable
        mine = [(c.index, c.at) for c in classes[pid]]
        for v in windows[name]:
            rank = package.rank[v]
            admits = truth.admits(package.requires_python(v))
            installs = truth.installable(package.files[v])
            everywhere = installs is truth.everywhere
            admitted = [(k, at) for k, at in mine if admits[at[0]]]
            if len(admitted) == len(mine):
                avail_all.append(f"avail_all({pid},{rank})")
                if len(windows[name]) == 1:
                    base.sole.append(f"only({pid},{rank})")
            else:
                avail += [f"avail({pid},{rank},{k})" for k, _at in admitted]
            if everywhere:
                continue
            for k, at in admitted:
                failing = [i for i in at if not installs[i]]
                if failing:
                    emit["uninstallable"].append(f"uninstallable({pid},{rank},{k},{len(failing)})")
                if any(required[i] for i in failing):
                    emit["required_fail"].append(f"required_fail({pid},{rank},{k})")
        ranks = [package.rank[v] for v in windows[name]]
        orders[pid] = sorted(ranks)
        rest = rests[name]
        lowest = universe.lowest(name)
        if rest:
            # The outside version stands for the most preferred version outside the window.
            pseudo = package.rank[rest[-1] if lowest else rest[0]]
            ranks = sorted({*ranks, pseudo})
            base.outside[pid] = pseudo
            about_outside("outside")
            emit["outside"].append(f"outside({pid},{pseudo})")
            runs = [truth.admits(rp) for rp in _outside_requires_pythons(package, rest)]
            for c in classes[pid]:
                if any(col[c.at[0]] for col in runs):
                    about_outside("avail_outside")
                    emit["avail_outside"].append(f"avail_outside({pid},{pseudo},{c.index})")
        pseudo = base.outside.get(pid)
        if pseudo is not None and 0 < (step := ranks.index(pseudo)) < len(ranks) - 1:
            base.bridges.append(f"next_version({pid},{ranks[step - 1]},{ranks[step + 1]})")
        for u, v in pairwise(ranks):
            if pseudo in (u, v):
                about_outside("next_version")
            next_version.append(f"next_version({pid},{u},{v})")
        # Preference cost of each version: its rank from the newest, or from the oldest with
        # --resolution lowest (0 = most preferred). No fact for cost 0: it adds nothing to any
        # level (464 facts on examples/large).
        oldest = len(package.versions) - 1
        for r in ranks:
            cost = oldest - r if lowest else r
            if not cost:
                continue
            if r == pseudo:
                about_outside("pref")
            pref.append(f"pref({pid},{r},{cost})")

    _bundle_facts(base, deps, orders)
    req_on, req_extra_on, req_fails = emit["req_on"], emit["req_extra_on"], emit["req_fails"]
    for did, req in enumerate(requirements):
        target = truth.name(req)
        qid = package_ids[target]
        emit["req_pkg"].append(f"req_pkg({did},{qid})")
        for extra in sorted(req.extras):
            emit["req_extra"].append(f"req_extra({did},{extra_id(extra)})")
        marker, gate = req.marker, gates.get(did)
        # One fact for a requirement that holds in every class of its package (on
        # examples/large, 10,365 of 11,190 req_on facts: 1,331 requirements), such as every
        # requirement without a marker. Where a marker holds is read from its columns, at each
        # class's first cell.
        if marker is None and gate is None:
            emit["req_all"].append(f"req_all({did})")
        else:
            holds = truth.marker(marker, "")
            named = sorted(marker_extras(marker))
            plain: list[int] = []
            for c in classes[qid]:
                i = c.at[0]
                if gate is not None and not gate[i]:
                    continue
                if holds[i]:
                    plain.append(c.index)
                else:
                    for extra in named:
                        if truth.marker(marker, extra)[i]:
                            req_extra_on.append(f"req_extra_on({did},{extra_id(extra)},{c.index})")
            if len(plain) == len(classes[qid]):
                emit["req_all"].append(f"req_all({did})")
            else:
                req_on += [f"req_on({did},{k})" for k in plain]
        package = packages.get(target)
        if package is None:
            continue
        spec = req.specifier
        req_fails += [
            f"req_fails({did},{qid},{package.rank[v]})"
            for v in windows[target]
            if not spec_contains(spec, v)
        ]
        if qid in base.outside and not truth.meets_any(spec, rests[target]):
            about_outside("req_fails")
            req_fails.append(f"req_fails({did},{qid},{base.outside[qid]})")
    return base


def _bundle_facts(
    base: FactBase, deps: Iterable[tuple[int, int, int]], orders: dict[int, list[int]]
) -> None:
    """Adds the ``dep`` facts of the project and the ``bundle`` and ``bundled`` facts of the
    packages: each package's requirements grouped by the set of its versions that have them.
    A class's chosen version then brings one ``has`` atom per bundle instead of one per
    requirement (on examples/large, the 61,124 ground rules that joined every selection with
    each of its 9,463 requirements become 39,546: 798 bundles). A package whose bundles take
    fewer rules over spans of its window versions (``_Spans``) has them stated so."""
    versions: dict[tuple[int, int], set[int]] = {}  # (package, requirement) -> ranks
    for pid, rank, did in deps:
        if pid == ROOT:
            base.atoms["dep"].append(f"dep({ROOT},0,{did})")
        else:
            versions.setdefault((pid, did), set()).add(rank)
    base.atoms["dep"].sort()
    bundles: dict[tuple[int, tuple[int, ...]], list[int]] = {}
    for (pid, did), ranks in versions.items():
        bundles.setdefault((pid, tuple(sorted(ranks))), []).append(did)
    bundle, bundled = base.atoms["bundle"], base.atoms["bundled"]
    owned: dict[int, list[tuple[int, tuple[int, ...]]]] = {}  # package id -> its bundles
    for b, ((pid, ranks), dids) in enumerate(sorted(bundles.items())):
        owned.setdefault(pid, []).append((b, ranks))
        bundled += [f"bundled({b},{pid},{did})" for did in sorted(dids)]
    spans = 0  # span ids handed out so far
    for pid, mine in owned.items():
        tree = _Spans(orders[pid])
        pieces = [(b, tree.cover(ranks)) for b, ranks in mine]
        if tree.rules() + sum(len(p) for _, p in pieces) >= sum(len(r) for _, r in mine):
            bundle += [f"bundle({pid},{rank},{b})" for b, ranks in mine for rank in ranks]
            continue
        tree.number(spans)
        spans += len(tree.ids)
        for (lo, hi), span in sorted(tree.ids.items()):
            for part in ((lo, (lo + hi) // 2), ((lo + hi) // 2, hi)):
                if part[1] - part[0] == 1:
                    base.atoms["span"].append(f"span({pid},{tree.order[part[0]]},{span})")
                else:
                    base.atoms["span_in"].append(f"span_in({tree.ids[part]},{span})")
        for b, covering in pieces:
            for piece in covering:
                if isinstance(piece, int):
                    bundle.append(f"bundle({pid},{piece},{b})")
                else:
                    base.atoms["bundle_span"].append(f"bundle_span({tree.ids[piece]},{pid},{b})")


class _Spans:
    """A package's window versions, newest first, split in halves again and again: a binary
    tree of spans (runs of consecutive versions), of which a bundle names the fewest that
    together hold just its versions. Most requirements hold for a run of versions (from the
    release that added them to the one that changed or dropped them), so a bundle of a long
    window is a few spans: a class's chosen version then reaches a bundle through the spans
    it lies in instead of one ``has`` rule per version of the bundle. On examples/large,
    prefect's 73 window versions have 139 bundles with 2,463 versions between them: 17,156
    ``has`` rules over its 7 classes, and 5,334 over spans (1,558 of them placing the chosen
    version in spans). Spans pay only for many bundles over a long window: a span costs two
    rules a class, and the spans inside it too."""

    def __init__(self, order: list[int]) -> None:
        self.order = order  # the ranks of the window versions, newest first
        self._at = {rank: i for i, rank in enumerate(order)}
        self.used: set[tuple[int, int]] = set()  # spans used, as (start, stop) positions
        self.ids: dict[tuple[int, int], int] = {}  # once numbered: each span used, its id

    def cover(self, ranks: tuple[int, ...]) -> list[int | tuple[int, int]]:
        """The fewest spans (or single versions, by rank) that hold just these versions."""
        positions = sorted(self._at[r] for r in ranks)
        out: list[int | tuple[int, int]] = []
        start = 0
        for i, here in enumerate(positions):
            if i + 1 == len(positions) or positions[i + 1] != here + 1:  # a run ends here
                self._cover(0, len(self.order), positions[start], here + 1, out)
                start = i + 1
        return out

    def _cover(self, lo: int, hi: int, start: int, stop: int, out: list) -> None:
        if stop <= lo or hi <= start:
            return
        if start <= lo and hi <= stop:
            if hi - lo == 1:
                out.append(self.order[lo])
            else:
                self._use(lo, hi)
                out.append((lo, hi))
            return
        middle = (lo + hi) // 2
        self._cover(lo, middle, start, stop, out)
        self._cover(middle, hi, start, stop, out)

    def _use(self, lo: int, hi: int) -> None:
        """A span used, with the spans it is made of, down to single versions."""
        if hi - lo < 2 or (lo, hi) in self.used:
            return
        self.used.add((lo, hi))
        middle = (lo + hi) // 2
        self._use(lo, middle)
        self._use(middle, hi)

    def rules(self) -> int:
        """The rules per class that compute which spans the chosen version lies in: one for
        each of the two parts of each span used."""
        return 2 * len(self.used)

    def number(self, first: int) -> None:
        """Gives the spans used their ids, from ``first`` on."""
        self.ids = {key: first + n for n, key in enumerate(sorted(self.used))}


class _Columns:
    """Truth values over every cell of the space, memoised: a marker under an extra, a
    Requires-Python, whether a version's files install. Markers, specifiers and file lists are
    keyed by identity (the universe hands out the same objects round after round) and kept
    alive here, so that an id cannot be reused."""

    def __init__(self, cells: Sequence[Cell]) -> None:
        self.cells = cells
        self._markers: dict[tuple[int, str], Column] = {}
        self._specs: dict[int, Column] = {}
        self._files: dict[int, Column] = {}
        self._tags: dict[frozenset, Column] = {}
        self._requirements: dict[tuple[int, frozenset[str]], tuple] = {}
        self._names: dict[int, NormalizedName] = {}
        self._texts: dict[int, str] = {}
        self._meets: dict[tuple[int, int], bool] = {}
        self._kept: list[object] = []
        self.everywhere = (True,) * len(cells)

    @classmethod
    def of(
        cls, universe: Universe, space: EnvironmentSpace, cells: Sequence[Cell], keep: bool
    ) -> _Columns:
        """The columns of these cells, kept on the universe from one solve round to the next
        while its space stays the same (``keep``: the cells are all of the space's)."""
        if not keep:
            return cls(cells)
        memo = universe.memo
        hit = memo.get("columns")
        if not isinstance(hit, _Columns) or hit.cells is not space.cells:
            hit = memo["columns"] = cls(space.cells)
        return hit

    def marker(self, marker: Marker | None, extra: str) -> Column:
        if marker is None:
            return self.everywhere
        key = (id(marker), extra)
        hit = self._markers.get(key)
        if hit is None:
            self._kept.append(marker)
            hit = self._markers[key] = marker_column(self.cells, marker, extra)
        return hit

    def name(self, req: Requirement) -> NormalizedName:
        """The requirement's canonical package name, memoised."""
        hit = self._names.get(id(req))
        if hit is None:
            self._kept.append(req)
            hit = self._names[id(req)] = canonicalize_name(req.name)
        return hit

    def text(self, req: Requirement) -> str:
        hit = self._texts.get(id(req))
        if hit is None:
            self._kept.append(req)
            hit = self._texts[id(req)] = str(req)
        return hit

    def requirement(
        self, req: Requirement, extras: frozenset[str]
    ) -> tuple[NormalizedName, dict[int, Column], bool]:
        """The package a requirement names, where its marker holds plainly and under each extra
        asked of its owner that the marker names (by identity), and whether it holds
        anywhere."""
        key = (id(req), extras)
        hit = self._requirements.get(key)
        if hit is None:
            self._kept.append(req)
            under = {
                id(col): col
                for e in ("", *sorted(marker_extras(req.marker)))
                if e == "" or e in extras
                for col in [self.marker(req.marker, e)]
            }
            hit = (self.name(req), under, any(any(col) for col in under.values()))
            self._requirements[key] = hit
        return hit

    def meets_any(self, spec: SpecifierSet, versions: Sequence[Version]) -> bool:
        """Whether some of these versions (``Universe.outside``'s, the same object while a
        window stays the same) meets the specifier: the versions outside a window are scanned
        for every requirement on the package, round after round. Only those within the
        specifier's bounds are (``spec_span``, by bisection: they come newest first, and are
        made as they are read; examples/large: most requirements exclude every version
        outside the window, 22,000 checks a round without bounds)."""
        key = (id(spec), id(versions))
        hit = self._meets.get(key)
        if hit is None:
            self._kept += (spec, versions)
            start, stop = spec_span(spec, versions)
            hit = any(spec_contains(spec, v) for v in versions[start:stop])
            self._meets[key] = hit
        return hit

    def admits(self, spec: SpecifierSet | None) -> Column:
        if spec is None:
            return self.everywhere
        hit = self._specs.get(id(spec))
        if hit is None:
            self._kept.append(spec)
            hit = self._specs[id(spec)] = admits_column(self.cells, spec)
        return hit

    @cached_property
    def _wheel_groups(self) -> tuple[list[Cell], list[int]]:
        """One cell of each platform and Python minor version, what ``Cell.installable``
        answers by, and the group of every cell: the cells of a group are asked once
        (examples/large: 108 of 180 cells)."""
        index: dict[tuple[str, int, int], int] = {}
        cells: list[Cell] = []
        group: list[int] = []
        for c in self.cells:
            key = (c.platform.label, c.python_low.major, c.python_low.minor)
            if key not in index:
                index[key] = len(cells)
                cells.append(c)
            group.append(index[key])
        return cells, group

    def installable(self, files: list[DistFile]) -> Column:
        """Where some file of a version installs (an sdist: everywhere)."""
        hit = self._files.get(id(files))
        if hit is None:
            self._kept.append(files)
            if any(f.kind == "sdist" for f in files):
                hit = self.everywhere
            else:
                # Wheels install where their tags fit, so versions with the same tag sets
                # share an answer (the index hands out one tag set object per text).
                tags = frozenset(f.tags for f in files)
                hit = self._tags.get(tags)
                if hit is None:
                    cells, group = self._wheel_groups
                    answers = [c.installable(files) for c in cells]
                    hit = self._tags[tags] = tuple(map(answers.__getitem__, group))
            self._files[id(files)] = hit
        return hit


def _renumber(columns: Iterable[Column]) -> list[int]:
    """Class index of every cell: cells with equal values in every column share one, numbered
    in order of first appearance."""
    ids: dict[tuple, int] = {}
    return [ids.setdefault(key, len(ids)) for key in zip(*columns, strict=True)]


def _partitions(
    cells: Sequence[Cell],
    columns: dict[int, dict[int, Column]],
    parents: dict[int, set[int]],
    fine: bool,
) -> dict[int, list[int]]:
    """Every package's classes, as the class index of each cell.

    A package's cells are told apart by its own columns, by the classes of the packages that
    require it, and by every Python version where something it depends on, directly or not,
    changes: there an older Python may need an older version of it. Classes are refined to a
    fixpoint (dependency cycles included); they only ever split, so the number of classes of
    each package tells when nothing changes any more."""
    if fine:
        every = {key: col for mine in columns.values() for key, col in mine.items()}
        everything = _renumber(list(every.values()) or [(0,) * len(cells)])
        return {pid: everything for pid in columns}
    python = _python_columns(cells, columns, parents)
    # Each package's classes by its own columns alone: refining them by its parents' classes
    # renumbers these labels and the parents', not every column again (the fixpoint renumbers
    # 1,000 times a round on examples/large).
    # Columns with one value in every cell tell no cells apart: left out (examples/large: 829
    # of the 2,117 distinct columns renumbered).
    varies: dict[int, bool] = {}
    for mine in columns.values():
        for key, col in mine.items():
            if key not in varies:
                varies[key] = bool(col) and col.count(col[0]) != len(col)
    own = {
        pid: _renumber([*(c for k, c in columns[pid].items() if varies[k]), python[pid]])
        for pid in columns
    }
    part = dict(own)
    count = {pid: max(assignment) for pid, assignment in part.items()}
    alone = dict(count)  # the highest class index of each package by its own columns
    # The parents' class counts each package's classes were last computed from: a package
    # none of whose parents split since then would get the same classes again.
    basis: dict[int, tuple[int, ...]] = {}
    order = {pid: sorted(parents[pid]) for pid in columns}
    changed = True
    while changed:
        changed = False
        for pid in sorted(columns):
            if not parents[pid]:
                continue
            now = tuple(count[p] for p in order[pid])
            if basis.get(pid) == now:
                continue
            basis[pid] = now
            # Parents of one class tell no cells apart, and classes already numbered in order
            # of first appearance need no renumbering (examples/large: 382 renumberings a
            # round instead of 580).
            split = [part[p] for p in order[pid] if count[p]]
            if not split:
                new = own[pid]
            elif len(split) == 1 and not alone[pid]:
                new = split[0]
            else:
                new = _renumber([own[pid], *split])
            if max(new) != count[pid]:
                changed = True
                count[pid] = max(new)
            part[pid] = new
    return part


def _python_columns(
    cells: Sequence[Cell], columns: dict[int, dict[int, Column]], parents: dict[int, set[int]]
) -> dict[int, Column]:
    """For each package, the Python interval of every cell, merged where nothing in the
    package's dependency closure changes between neighbouring intervals."""
    position = {(c.python_index, c.platform, c.config): i for i, c in enumerate(cells)}
    pairs = [
        (y, position[(y - 1, c.platform, c.config)], i)
        for i, c in enumerate(cells)
        if (y := c.python_index) and (y - 1, c.platform, c.config) in position
    ]
    known: dict[int, set[int]] = {}  # by the column's id: the Pythons where it changes

    def changes(col: Column) -> set[int]:
        hit = known.get(id(col))
        if hit is None:
            hit = known[id(col)] = {y for y, before, here in pairs if col[before] != col[here]}
        return hit

    cuts: dict[int, set[int]] = {
        pid: set().union(*map(changes, cols.values())) for pid, cols in columns.items()
    }
    children: dict[int, set[int]] = {pid: set() for pid in columns}
    for pid, mine in parents.items():
        for parent in mine:
            children[parent].add(pid)
    changed = True
    while changed:
        changed = False
        for pid in sorted(columns):
            grown = cuts[pid].union(*(cuts[child] for child in children[pid]))
            if len(grown) != len(cuts[pid]):
                cuts[pid] = grown
                changed = True
    # The project has one version: nothing about it changes with Python.
    cuts[ROOT] = set()
    built: dict[frozenset[int], Column] = {}
    for pid in columns:
        key = frozenset(cuts[pid])
        if key not in built:
            built[key] = tuple(sum(1 for y in key if y <= c.python_index) for c in cells)
    return {pid: built[frozenset(cuts[pid])] for pid in columns}


def _lock_facts(
    universe: Universe, base: FactBase, windows: dict[NormalizedName, list[Version]]
) -> None:
    """Adds to ``base`` the ``locked`` facts: the version each package had, in each class where
    its entry applies (with every extra and group selected); a package locked at one version
    everywhere keeps it in classes that did not need it before, too. ``upgrade`` facts for
    exempt packages."""
    package_ids = base.package_ids
    base.atoms["upgrade"] += [
        f"upgrade({package_ids[n]})" for n in sorted(universe.upgrade) if n in package_ids
    ]
    prior = universe.prior
    if prior is None:
        return
    project = universe.project
    entries: dict[NormalizedName, list] = {}
    for entry in prior.entries:
        entries.setdefault(entry.name, []).append(entry)
    for name in sorted(entries):
        if name not in package_ids or name not in windows:
            continue
        if name in universe.upgrade or name in universe.pins:
            continue
        package = universe.packages[name]
        pid = package_ids[name]
        mine = entries[name]
        for c in base.classes[pid]:
            # Every extra and group selected that the cell's configuration allows.
            config = c.cell.config
            extras = [e for e in sorted(project.extras) if config.allows(Source("extra", e))]
            groups = [g for g in sorted(project.groups) if config.allows(Source("group", g))]
            applying = [e for e in mine if e.applies(c.cell, extras, groups)]
            if not applying and len(mine) == 1:
                applying = mine
            for entry in applying[:1]:
                if entry.version in windows[name]:
                    rank = package.rank[entry.version]
                    base.locked[(pid, c.index)] = rank
                    base.atoms["locked"].append(f"locked({pid},{rank},{c.index})")


def _undominated(
    universe: Universe,
    windows: dict[NormalizedName, list[Version]],
    package_ids: dict[NormalizedName, int],
    requirements: list[Requirement],
    deps: list[tuple[int, int, int]],
    truth: _Columns,
) -> dict[NormalizedName, list[Version]]:
    """Each window without the versions that a more preferred version of the same window
    dominates: the same requirements (so the same requirements active wherever either is
    chosen), the same Requires-Python and installability in every cell, and the same answer to
    every requirement on the package. Choosing the preferred one instead, in every class at
    once, keeps every selection valid and costs no more at any level of the objective (fewer
    or as many distinct versions, a lower preference rank), and strictly less freshness: a
    dominated version is in no optimal lock, so leaving it out changes no optimum. Locked
    versions are always kept (keeping the lock is worth more than freshness).

    On examples/large, prefect's window reaches back 400 versions for Python 3.15, most of
    them patch releases with the requirements of the release before."""
    of_version: dict[tuple[int, int], list[int]] = {}
    for pid, rank, did in deps:
        of_version.setdefault((pid, rank), []).append(did)
    on: dict[NormalizedName, list[int]] = {}
    for did, req in enumerate(requirements):
        on.setdefault(truth.name(req), []).append(did)
    # Columns by content, numbered once per column object instead of hashed (180 cells) in
    # every version's key: examples/large's warm round builds its facts in 1,354 M instructions
    # instead of 1,379 M.
    numbers: dict[int, int] = {}
    contents: dict[Column, int] = {}

    def number(column: Column) -> int:
        hit = numbers.get(id(column))
        if hit is None:
            hit = numbers[id(column)] = contents.setdefault(column, len(contents))
        return hit

    kept: dict[NormalizedName, list[Version]] = {}
    for name, window in windows.items():
        package = universe.packages[name]
        pid = package_ids[name]
        locked = universe.locked.get(name, set())
        seen: set[tuple] = set()
        mine: list[Version] = []
        for v in window[::-1] if universe.lowest(name) else window:
            key = (
                frozenset(of_version.get((pid, package.rank[v]), ())),
                number(truth.admits(package.requires_python(v))),
                number(truth.installable(package.files[v])),
                frozenset(
                    d for d in on.get(name, ()) if spec_contains(requirements[d].specifier, v)
                ),
            )
            if key not in seen or v in locked:
                seen.add(key)
                mine.append(v)
        kept[name] = sorted(mine, reverse=True)
    return kept


def _outside_requires_pythons(
    package: Package, rest: Sequence[Version]
) -> list[SpecifierSet | None]:
    """``_requires_pythons`` of the versions outside the window (``Universe.outside``'s, the
    same object while the window stays the same), memoised on the package: long histories are
    outside, round after round. A page's are read off its stored column by rank
    (``Package.requires_pythons``), without making the versions."""
    hit = package.outside_rps
    if hit is None or hit[0] is not rest:
        hit = package.outside_rps = (rest, package.requires_pythons(rest))  # type: ignore[assignment]
    return hit[1]


def _requires_pythons(package: Package, versions: Iterable[Version]) -> list[SpecifierSet | None]:
    """The distinct Requires-Python of these versions (by identity: the universe hands out one
    object per text, and hashing a SpecifierSet is slow)."""
    return list({id(rp): rp for rp in map(package.requires_python, versions)}.values())
