"""The environment space a universal lock covers, cut into cells, and markers rendered from cells.

A *cell* is one platform (OS and CPU, with the marker variables that go with them: never an
impossible combination such as ``sys_platform == 'win32'`` with ``os_name == 'posix'``) times one
interval of Python versions. Python intervals are cut at every version that some marker or
Requires-Python mentions, so that every marker and specifier has one truth value per cell and the
cell's lowest version can stand for all of it.

When the project declares conflicting extras or groups (``[tool.aspen] conflicts``), the space
is copied once per *configuration*: one choice of which member of each conflicting set may be
installed. Each configuration has a marker over ``extras``/``dependency_groups`` that selects it
in pylock.toml and leaves out the other members' requirements, so that the members resolve in
forks of their own.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, generic_tags, mac_platforms
from packaging.version import InvalidVersion, Version

from resolver.project import Source
from resolver.provider import DistFile

# CPython minor versions a lock may cover; the last one stands for itself and every later one.
PYTHON_MINORS: tuple[Version, ...] = tuple(Version(f"3.{m}") for m in range(6, 16))
# Without requires-python, lock for the Pythons that still get security fixes (3.10 on 2026-11-21).
DEFAULT_REQUIRES_PYTHON = SpecifierSet(">=3.10")


@dataclass(frozen=True)
class Platform:
    """A Python implementation on an operating system and CPU, with the marker values that hold
    together there."""

    sys_platform: str
    platform_system: str
    os_name: str
    platform_machine: str
    implementation_name: str = "cpython"
    platform_python_implementation: str = "CPython"

    @property
    def label(self) -> str:
        return f"{self.implementation_name}-{self.sys_platform}-{self.platform_machine}"

    @property
    def system(self) -> tuple[str, str]:
        """The OS and CPU, whatever the implementation."""
        return (self.sys_platform, self.platform_machine)


_SYSTEMS = (
    ("linux", "Linux", "posix", "x86_64"),
    ("linux", "Linux", "posix", "aarch64"),
    ("darwin", "Darwin", "posix", "arm64"),
    ("darwin", "Darwin", "posix", "x86_64"),
    ("win32", "Windows", "nt", "AMD64"),
)
PLATFORMS: tuple[Platform, ...] = tuple(
    Platform(*system, implementation, name)
    for implementation, name in (("cpython", "CPython"), ("pypy", "PyPy"))
    for system in _SYSTEMS
)


@dataclass(frozen=True)
class Config:
    """One choice among the project's conflicting extras and groups: the sources it leaves out,
    and the marker that selects it in pylock.toml (None when nothing conflicts)."""

    index: int
    excluded: frozenset[Source] = frozenset()
    condition: str | None = None

    def allows(self, source: Source) -> bool:
        return source not in self.excluded


NO_CONFLICTS = (Config(0),)


def configurations(conflicts: Sequence[Sequence[Source]]) -> tuple[Config, ...]:
    """The configurations of these conflicting sets. For a set ``[a, b, c]``: ``b`` is installed
    (``'b' in extras``, a and c left out), ``c`` likewise, or neither (``'b' not in extras and
    'c' not in extras``, b and c left out, a allowed); several sets multiply. The conditions
    select exactly one configuration for every selection that installs at most one member of
    each set."""
    options: list[list[tuple[frozenset[Source], list[str]]]] = []
    for members in conflicts:
        first = [(frozenset(members[1:]), [_selected(m, "not in") for m in members[1:]])]
        rest = [
            (frozenset(m for m in members if m != chosen), [_selected(chosen, "in")])
            for chosen in members[1:]
        ]
        options.append(first + rest)
    if not options:
        return NO_CONFLICTS
    out: list[Config] = []
    for combination in itertools.product(*options):
        excluded = frozenset().union(*(e for e, _c in combination))
        condition = " and ".join(t for _e, terms in combination for t in terms)
        out.append(Config(len(out), excluded, condition))
    return tuple(out)


def _selected(source: Source, op: str) -> str:
    variable = "extras" if source.kind == "extra" else "dependency_groups"
    return f"'{source.name}' {op} {variable}"


def _environment(platform: Platform, low: Version) -> dict[str, str]:
    """Marker variables of Python ``low`` on the platform (see ``Cell.environment``)."""
    full = _padded(low)
    return {
        "implementation_name": platform.implementation_name,
        "implementation_version": full,
        "os_name": platform.os_name,
        "platform_machine": platform.platform_machine,
        "platform_python_implementation": platform.platform_python_implementation,
        "platform_release": "",
        "platform_system": platform.platform_system,
        "platform_version": "",
        "python_full_version": full,
        "python_version": f"{low.major}.{low.minor}",
        "sys_platform": platform.sys_platform,
    }


# Cell environments by the identities of the platform and the lowest Python, kept alive with
# them: the spaces refined to tell whether a marker can hold (EnvironmentSpace.could_hold)
# make their cells anew, of the same few platforms and Pythons (examples/large: 1,498 cells
# made, each environment built for itself).
_ENVIRONMENTS: dict[tuple[int, int], tuple[Platform, Version, dict[str, str]]] = {}


@dataclass(frozen=True)
class Cell:
    """One platform and one interval ``[python_low, python_high)`` of Python versions, in one
    configuration of conflicting extras and groups."""

    index: int
    platform: Platform
    python_index: int  # position of the Python interval in the space's ``pythons``
    python_low: Version
    python_high: Version | None  # None: no upper end
    config: Config = NO_CONFLICTS[0]

    @cached_property
    def environment(self) -> dict[str, str]:
        """Marker variables of the cell's lowest Python on its platform (CPython); read only:
        cells of the same platform and lowest Python share one (``_environment``)."""
        platform, low = self.platform, self.python_low
        hit = _ENVIRONMENTS.get((id(platform), id(low)))
        if hit is None or hit[0] is not platform or hit[1] is not low:
            hit = _ENVIRONMENTS[(id(platform), id(low))] = (
                platform,
                low,
                _environment(platform, low),
            )
        return hit[2]

    def holds(self, marker: Marker | None, extra: str = "") -> bool:
        if marker is None:
            return True
        key = (id(marker), extra)
        hit = self._held.get(key)
        if hit is None:
            hit = self._held[key] = _truth(marker, extra, self.environment)
        return hit

    @cached_property
    def _held(self) -> dict[tuple[int, str], bool]:
        """Answers of ``holds``, by marker identity (``_truth`` keeps the markers alive)."""
        return {}

    def __hash__(self) -> int:
        # Cells are dictionary keys round after round: hash the fields once, not every time.
        hit = self.__dict__.get("_hash")
        if hit is None:
            hit = hash((self.index, self.platform, self.python_index, self.python_low))
            object.__setattr__(self, "_hash", hit)
        return hit

    @cached_property
    def _wheels(self) -> tuple[str, int, int]:
        """The key of this cell's wheel rule (see ``_wheel_rule``)."""
        major, minor = self.python_low.major, self.python_low.minor
        key = (self.platform.label, major, minor)
        if key not in _RULES:
            _RULES[key] = _wheel_rule(self.platform, major, minor)
        return key

    def installable(self, files: Iterable[DistFile]) -> bool:
        """Whether some file of a version can be installed here: an sdist, or a wheel with a
        tag an installer accepts here (manylinux up to glibc 2.40, macOS 15). A wheel installs
        where one of its tags is accepted, so the version's wheels are asked as one set of
        tags, the union of theirs (``_wheel_tags``), once per rule."""
        sdist, tags = _wheel_tags(files)
        return sdist or _accepts(self._wheels, tags)

    def admits(self, requires_python: SpecifierSet | None) -> bool:
        if requires_python is None:
            return True
        return spec_contains(requires_python, self.python_low)

    def __repr__(self) -> str:
        high = f", {self.python_high}" if self.python_high else ", ..."
        config = f" config {self.config.index}" if self.config.condition else ""
        return f"<Cell {self.index} {self.platform.label} [{self.python_low}{high}){config}>"


# Wheel rules by platform label and Python version, and which tag sets they accept.
_RULES: dict[
    tuple[str, int, int], tuple[frozenset[tuple[str, str]], frozenset[str], frozenset[Tag]]
] = {}


# Whether a version's files have an sdist, and the union of its wheels' tags, by the identity
# of its list of files (a page hands out one list per version, the same each time; kept alive
# here, with its length). The same files are asked about in cell after cell (facts asks each
# version's in 108 cells of examples/large): reading each file's kind and tags (properties of
# a stored file) for every cell cost 218 M instructions of a warm lock (whole lock with this
# memo: 6,210 M -> 6,046 M).
_WHEEL_TAGS: dict[int, tuple[Sequence[DistFile], int, bool, frozenset[Tag]]] = {}


def _wheel_tags(files: Iterable[DistFile]) -> tuple[bool, frozenset[Tag]]:
    """Whether some of the files is an sdist, and the tags of the others, as one set."""
    if type(files) is list or type(files) is tuple:
        hit = _WHEEL_TAGS.get(id(files))
        if hit is not None and hit[0] is files and hit[1] == len(files):
            return hit[2], hit[3]
    sdist = False
    tags: set[Tag] = set()
    for f in files:
        if f.kind == "sdist":
            sdist = True
        else:
            tags.update(f.tags)
    found = frozenset(tags)
    if type(files) is list or type(files) is tuple:
        _WHEEL_TAGS[id(files)] = (files, len(files), sdist, found)
    return sdist, found


@functools.cache
def _accepts(key: tuple[str, int, int], tags: frozenset[Tag]) -> bool:
    """Whether a wheel with these tags installs under the rule of ``key`` (whether one of the
    tags is accepted: a set of several wheels' tags is accepted where one of them is)."""
    pairs, platforms, anywhere = _RULES[key]
    if not anywhere.isdisjoint(tags):
        return True
    return any(platform in platforms and pair in pairs for pair, platform in _tag_parts(tags))


@functools.cache
def _tag_parts(tags: frozenset[Tag]) -> tuple[tuple[tuple[str, str], str], ...]:
    """((interpreter, abi), platform) of each tag (Tag's fields are properties: slow to read for
    every cell and every wheel)."""
    return tuple(((t.interpreter, t.abi), t.platform) for t in tags)


_PLACEHOLDER = "placeholder_platform"


@functools.cache
def _wheel_rule(
    platform: Platform, major: int, minor: int
) -> tuple[frozenset[tuple[str, str]], frozenset[str], frozenset[Tag]]:
    """The wheel tags an installer accepts, as three parts: the (interpreter, abi) pairs that
    go with every platform tag of the platform, those platform tags, and the tags for any
    platform. packaging.tags lists exactly such products (each pair with each platform tag, then
    the ``any`` tags), so one placeholder platform reads the pairs off it, instead of building
    every tag: about a thousand on Linux, for each Python."""
    machine = platform.platform_machine
    system = platform.sys_platform
    if system == "linux":
        platforms = [f"manylinux_2_{k}_{machine}" for k in range(40, 4, -1)]
        platforms += [f"manylinux{y}_{machine}" for y in ("2014", "2010", "1")]
        platforms.append(f"linux_{machine}")
    elif system == "darwin":
        platforms = list(mac_platforms((15, 0), machine))
    elif system == "win32":
        platforms = ["win_amd64"] if machine == "AMD64" else []
    else:
        platforms = []
    pairs, anywhere = _interpreter_rule(platform.implementation_name == "cpython", major, minor)
    return pairs, frozenset(platforms), anywhere


@functools.cache
def _interpreter_rule(
    cpython: bool, major: int, minor: int
) -> tuple[frozenset[tuple[str, str]], frozenset[Tag]]:
    """The parts of ``_wheel_rule`` that depend on the Python only, not on the platform: the
    same for every platform (ten of them, and more that markers name) of one Python."""
    if cpython:
        interpreter = f"cp{major}{minor}"
        specific = cpython_tags((major, minor), platforms=[_PLACEHOLDER])
    else:
        interpreter = f"pp{major}{minor}"
        specific = generic_tags(interpreter, [f"pypy{major}{minor}_pp73", "none"], [_PLACEHOLDER])
    tags = [*specific, *compatible_tags((major, minor), interpreter, [_PLACEHOLDER])]
    pairs = frozenset((t.interpreter, t.abi) for t in tags if t.platform == _PLACEHOLDER)
    anywhere = frozenset(t for t in tags if t.platform == "any")
    return pairs, anywhere


# Marker truth, memoised for the whole process. A marker's value depends only on the variables
# it names, so environments that agree on those share one evaluation; markers are keyed by
# identity (the same requirement objects are asked about again and again) and kept alive here
# so that an id cannot be reused by another object.
_NAMED: dict[int, tuple[Marker, tuple[str, ...]]] = {}
_TRUTH: dict[tuple[int, str, tuple[str, ...]], bool] = {}


# The default of each variable a key reads, as ``map(environment.get, names, _BLANKS)``: the
# values of a marker's variables are read for every truth asked (12,000 comparisons and 8,400
# markers on examples/large), and a list comprehension is a Python call of its own.
_BLANKS = itertools.repeat("")


def _truth(marker: Marker, extra: str, environment: dict[str, str]) -> bool:
    plan = _PLANS.get(id(marker))
    if plan is None:
        plan = _PLANS[id(marker)] = _planned(marker)
    key = (id(marker), extra, tuple(map(environment.get, plan[1], _BLANKS)))
    hit = _TRUTH.get(key)
    if hit is None:
        if plan[3]:
            environment = {**environment, "extra": extra}
        hit = _TRUTH[key] = _held(plan[2], environment)
    return hit


# Each marker (kept alive), by identity: the variables it names (``_named``), its plan (see
# ``_plan``) and whether it names ``extra`` (else it is evaluated in the environment as it is,
# not a copy with the extra). examples/large asks 8,400 truths of 4,800 (marker, extra,
# values) keys: evaluating each by walking the marker's list, a call per comparison, cost
# 24,000 instructions a marker (two or three comparisons), 205 M in all.
_PLANS: dict[int, tuple[Marker, tuple[str, ...], tuple[Any, ...], bool]] = {}


def _planned(marker: Marker) -> tuple[Marker, tuple[str, ...], tuple[Any, ...], bool]:
    plan = _plan(marker._markers)
    return marker, _named(marker), plan, "extra" in _plan_names(plan)


def _plan(markers: list[Any]) -> tuple[Any, ...]:
    """A marker's parsed list as its groups joined by "or", each the comparisons (and nested
    lists) joined by "and" in it: a comparison as ``(marker of its own, variables it names)``
    (``_atom``), a nested list as a list of its groups."""
    groups: list[list[Any]] = [[]]
    for item in markers:
        if isinstance(item, list):
            groups[-1].append(list(_plan(item)))
        elif isinstance(item, tuple):
            groups[-1].append(_atom(item))
        elif item == "or":
            groups.append([])
    return tuple(tuple(group) for group in groups)


def _plan_names(plan: Sequence[Any]) -> set[str]:
    """The variables a plan's comparisons name (``extra`` included)."""
    names: set[str] = set()
    for group in plan:
        for entry in group:
            names.update(_plan_names(entry) if type(entry) is list else entry[1])
    return names


def _held(plan: Sequence[Any], environment: dict[str, str]) -> bool:
    """``Marker.evaluate(environment)`` of a marker's plan, as packaging combines its parsed
    list ("and" binds tighter than "or"; every comparison is evaluated, so one that cannot be
    raises as there), each comparison's answer remembered by the values of the variables it
    names (``_ANSWERS``)."""
    answers = _ANSWERS
    value = False
    for group in plan:
        held = True
        for entry in group:
            if type(entry) is list:
                found = _held(entry, environment)
            else:
                alone, named = entry
                key = (id(alone), tuple(map(environment.get, named)))
                found = answers.get(key)
                if found is None:
                    found = answers[key] = alone.evaluate(environment)
            if not found:
                held = False
        if held:
            value = True
    return value


# Each comparison of a marker as a marker of its own (one per comparison text), and its truth
# by the values of the variables it names: markers share their comparisons (``python_version <
# "3.11"``, ``extra == "test"``), and packaging's evaluate() builds the environment and parses a
# Specifier for each version comparison anew (examples/large evaluated markers 4,800 times).
_ATOMS: dict[int, tuple[tuple[Any, Any, Any], tuple[Marker, tuple[str, ...]]]] = {}
_ALONE: dict[str, Marker] = {}
_ANSWERS: dict[tuple[int, tuple[str | None, ...]], bool] = {}


def marker_of(parts: list[Any]) -> Marker:
    """The marker of a list of comparisons, ``"and"``, ``"or"`` and nested lists, as packaging
    parses one into ``Marker._markers``, made without parsing anything again (as packaging's
    own ``&`` and ``|`` make one). The one place that builds a Marker from its parts."""
    marker = Marker.__new__(Marker)
    marker._markers = parts
    return marker


def _atom(atom: tuple[Any, Any, Any]) -> tuple[Marker, tuple[str, ...]]:
    """A comparison as a marker of its own (one per comparison text), and the variables it
    names."""
    hit = _ATOMS.get(id(atom))
    if hit is None or hit[0] is not atom:
        lhs, op, rhs = atom
        named = tuple(n.value for n in (lhs, rhs) if type(n).__name__ == "Variable")
        text = f"{lhs.serialize()} {op.serialize()} {rhs.serialize()}"
        alone = _ALONE.get(text)
        if alone is None:
            alone = _ALONE[text] = marker_of([atom])
        hit = _ATOMS[id(atom)] = (atom, (alone, named))
    return hit[1]


def marker_column(cells: Sequence[Cell], marker: Marker, extra: str = "") -> tuple[bool, ...]:
    """The marker's truth in each of the cells."""
    representatives, groups, _masks = _grouping(cells, _named(marker))
    values = [_truth(marker, extra, cell.environment) for cell in representatives]
    return tuple([values[g] for g in groups])


def marker_mask(cells: Sequence[Cell], marker: Marker, extra: str = "") -> int:
    """The cells where the marker holds, as a bit mask over their positions."""
    representatives, _groups, masks = _grouping(cells, _named(marker))
    mask = 0
    for cell, bits in zip(representatives, masks, strict=True):
        if _truth(marker, extra, cell.environment):
            mask |= bits
    return mask


def admits_column(cells: Sequence[Cell], requires_python: SpecifierSet) -> tuple[bool, ...]:
    """Whether each of the cells can run a version with this Requires-Python."""
    representatives, groups, _masks = _grouping(cells, _PYTHON)
    values = [spec_contains(requires_python, cell.python_low) for cell in representatives]
    return tuple([values[g] for g in groups])


_PYTHON = ("python_full_version",)  # cells with the same value share their lowest Python
# Specifier answers by specifier identity (the same requirement and Requires-Python objects are
# asked again and again, round after round), then by version identity: looking a Version up by
# value calls its Python __hash__, and fastapi-standard asks 20,600 times (each answer keeps
# its version, so that an id cannot be reused by another object unseen). The specifiers are kept
# alive in _SPECS, for the same reason.
_CONTAINS: dict[int, dict[int, tuple[Version, bool]]] = {}
_SPECS: dict[int, SpecifierSet] = {}
# Each specifier set's comparisons (see _comparisons), by identity; None: asked of packaging.
_TESTS: dict[int, tuple[tuple[Callable[[Version, Version], bool], Version], ...] | None] = {}


# Each specifier set's text, by identity (the sets are kept alive in _SPECS: an id with a
# text is never another object's).
_TEXTS: dict[int, str] = {}


def spec_text(spec: SpecifierSet) -> str:
    """``str(spec)`` (which sorts and joins its clauses in Python), once per object: the
    universe keys what requirements ask of a package by it, and spec_contains its answers
    (examples/large: 1,070 requirement specifiers, each printed once instead of twice)."""
    text = _TEXTS.get(id(spec))
    if text is None:
        _SPECS[id(spec)] = spec
        text = _TEXTS[id(spec)] = str(spec)
    return text


def spec_contains(spec: SpecifierSet, version: Version) -> bool:
    """Whether the version is in the specifier set (pre-releases included), memoised."""
    answers = _CONTAINS.get(id(spec))
    if answers is None:
        _SPECS[id(spec)] = spec
        answers = _CONTAINS[id(spec)] = {}
        _TESTS[id(spec)] = _comparisons(spec_text(spec), spec)
    hit = answers.get(id(version))
    if hit is not None and hit[0] is version:
        return hit[1]
    tests = _TESTS[id(spec)]
    if tests is not None and version.local is None:
        found = True
        for test, bound in tests:
            if not test(version, bound):
                found = False
                break
    else:
        found = spec.contains(version, prereleases=True)
    answers[id(version)] = (version, found)
    return found


# A specifier set of plain comparisons as Version comparisons, which is what PEP 440 makes
# them for a version without a local part, pre-releases included: ``>=``, ``<=``, ``==`` and
# ``!=`` compare as they are (with a bound without a local part), and ``<V`` of a final release
# V is below V's lowest pre-release, V.dev0 (it excludes V's pre-releases). Others (``>``,
# ``~=``, wildcards, ``===``, ``<`` of a pre-release) go to packaging. examples/large asks
# 35,000 (specifier, version) pairs that no memo answers, nearly all ``>=`` and ``<``:
# packaging's contains() runs several Python calls per specifier for each.
_OPERATORS: dict[str, Callable[[Version, Version], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
}
_COMPARISONS: dict[str, tuple[tuple[Callable[[Version, Version], bool], Version], ...] | None] = {}


def _comparisons(
    text: str, spec: SpecifierSet
) -> tuple[tuple[Callable[[Version, Version], bool], Version], ...] | None:
    """The comparisons of a specifier set (its text: equal sets share them), or None."""
    if text in _COMPARISONS:
        return _COMPARISONS[text]
    tests: list[tuple[Callable[[Version, Version], bool], Version]] | None = []
    for item in spec:
        test = _OPERATORS.get(item.operator)
        try:
            bound = Version(item.version)
        except InvalidVersion:  # a wildcard, or ===
            test = None
        if test is None or bound.local is not None:
            tests = None
            break
        if item.operator == "<":
            if bound.is_prerelease or bound.is_postrelease:
                tests = None
                break
            release = ".".join(map(str, bound.release))
            bound = Version(f"{bound.epoch}!{release}.dev0")
        tests.append((test, bound))
    found = _COMPARISONS[text] = None if tests is None else tuple(tests)
    return found


# Each specifier set's bounds (see _bounds), by identity; the sets are kept alive in _SPECS.
_BOUNDS: dict[int, tuple[list[tuple[bool, Version]], Version | None]] = {}


def spec_span(spec: SpecifierSet, versions: Sequence[Version]) -> tuple[int, int]:
    """``(start, stop)``: no version of ``versions`` (newest first) outside ``versions[start:
    stop]`` is in the specifier set, found by bisection on the set's upper and lower bounds.
    A window's walk looks for the newest few versions that fit a requirement, and one that
    pins a range a long history back (botocore ``>=1.44.5,<1.45.0``: one of 2,547 versions)
    found them only after checking every version newer, and then every version older.

    Some of a package's versions chosen by position (``universe.Chosen``: ``positions`` and
    ``version_at``) are bisected on their positions, each version read by one call: bisect's
    key function, ``Chosen.__getitem__`` and the comparison were three Python calls a probe
    (examples/large's windows probe 17,000 times)."""
    bounds = _BOUNDS.get(id(spec))
    if bounds is None:
        _SPECS[id(spec)] = spec
        bounds = _BOUNDS[id(spec)] = _bounds(spec)
    ceilings, floor = bounds
    positions: Sequence[int] | None = getattr(versions, "positions", None)
    if positions is None:
        positions, at = range(len(versions)), versions.__getitem__
    else:
        at = versions.version_at  # type: ignore[attr-defined]
    count = len(positions)
    start = 0
    for strict, bound in ceilings:
        # Versions above the bound come first: for ``<``, those not below it; for ``<=`` and
        # ``==``, those whose public part is above it (a local version of the bound itself
        # sorts above the bound, and meets ``<=`` and ``==``). As bisect_left, the first
        # position from ``start`` on whose version is not among them.
        lo, hi = start, count
        while lo < hi:
            mid = (lo + hi) // 2
            version = at(positions[mid])
            if version >= bound if strict else _above(version, bound):
                lo = mid + 1
            else:
                hi = mid
        start = lo
    stop = count
    if floor is not None:
        # No version below the floor meets it: not even a local one, whose public part is
        # lower still. The first position from ``start`` on whose version is below it.
        lo, hi = start, count
        while lo < hi:
            mid = (lo + hi) // 2
            if at(positions[mid]) < floor:
                hi = mid
            else:
                lo = mid + 1
        stop = lo
    return start, max(start, stop)


def _above(version: Version, bound: Version) -> bool:
    """Whether the version's public part is above the bound."""
    if version.local is None:
        return version > bound
    return Version(version.public) > bound


def _bounds(spec: SpecifierSet) -> tuple[list[tuple[bool, Version]], Version | None]:
    """The upper bounds of a specifier set (``<``: strict; ``<=`` and ``==``: on the public
    part) and its highest lower bound (of ``>=``, ``>``, ``~=`` and ``==``); clauses of other
    forms (wildcards, ``===``, ``!=``) bound nothing."""
    ceilings: list[tuple[bool, Version]] = []
    floor: Version | None = None
    for item in spec:
        op = item.operator
        if op in ("===", "!=") or item.version.endswith(".*"):
            continue
        try:
            bound = Version(item.version)
        except InvalidVersion:
            continue
        if bound.local is not None:
            continue
        if op in ("<", "<=", "=="):
            ceilings.append((op == "<", bound))
        if op in (">=", ">", "~=", "==") and (floor is None or bound > floor):
            floor = bound
    return ceilings, floor


def holds_somewhere(cells: Sequence[Cell], marker: Marker, extras: Iterable[str]) -> bool:
    """Whether the marker holds in some of the cells under some of the extras."""
    representatives = _grouping(cells, _named(marker))[0]
    return any(_truth(marker, e, cell.environment) for cell in representatives for e in extras)


# Cells grouped by the values of some marker variables: a marker naming only those variables
# has one truth value per group, so it is evaluated once per group instead of once per cell.
# Keyed by the identity of the cell sequence, which is kept alive in the entry.
_GROUPINGS: dict[
    tuple[int, tuple[str, ...]], tuple[Sequence[Cell], list[Cell], list[int], list[int]]
] = {}


def _grouping(
    cells: Sequence[Cell], variables: tuple[str, ...]
) -> tuple[list[Cell], list[int], list[int]]:
    """One representative cell per group, the group of every cell, and each group's cells as
    a bit mask over positions."""
    key = (id(cells), variables)
    hit = _GROUPINGS.get(key)
    if hit is None or hit[0] is not cells:
        index: dict[tuple[str, ...], int] = {}
        representatives: list[Cell] = []
        groups: list[int] = []
        masks: list[int] = []
        for position, cell in enumerate(cells):
            environment = cell.environment
            values = tuple(map(environment.get, variables, _BLANKS))
            group = index.get(values)
            if group is None:
                group = index[values] = len(representatives)
                representatives.append(cell)
                masks.append(0)
            groups.append(group)
            masks[group] |= 1 << position
        hit = _GROUPINGS[key] = (cells, representatives, groups, masks)
    return hit[1], hit[2], hit[3]


def _named(marker: Marker) -> tuple[str, ...]:
    """The variables the marker names (see ``_variables``), remembered with the marker."""
    named = _NAMED.get(id(marker))
    if named is None:
        named = _NAMED[id(marker)] = (marker, _variables(marker))
    return named[1]


def _variables(marker: Marker) -> tuple[str, ...]:
    """The environment variables a marker names, but ``extra``."""
    return tuple(sorted({v for v, _op, _value in marker_comparisons(marker)} - {"extra"}))


def _padded(version: Version) -> str:
    release = (*version.release, 0, 0)[:3]
    return ".".join(str(part) for part in release)


def marker_comparisons(marker: Marker) -> Iterator[tuple[str, str, str]]:
    """``(variable, operator, value)`` for every comparison in the marker."""
    stack: list[object] = [marker._markers]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, tuple) and len(node) == 3:
            left, op, right = node
            if type(left).__name__ == "Variable":
                yield left.value, op.value, right.value
            elif type(right).__name__ == "Variable":
                yield right.value, op.value, left.value


def marker_cuts(marker: Marker) -> frozenset[Version]:
    """Python versions where the marker's ``python_version``/``python_full_version`` comparisons
    can change truth value; remembered with the marker (a lock notes thousands of requirements,
    most with a marker seen before)."""
    hit = _CUTS.get(id(marker))
    if hit is None or hit[0] is not marker:
        hit = _CUTS[id(marker)] = (marker, frozenset(_marker_cuts(marker)))
    return hit[1]


_CUTS: dict[int, tuple[Marker, frozenset[Version]]] = {}
_PLATFORMS: dict[int, tuple[Marker, frozenset[Platform]]] = {}


def _marker_cuts(marker: Marker) -> set[Version]:
    found: set[Version] = set()
    for variable, op, value in marker_comparisons(marker):
        if variable == "python_version":
            # python_version is "X.Y": it can only change at a minor version.
            for v in _parse_versions(value):
                major, minor = (*v.release, 0)[:2]
                found.update({Version(f"{major}.{minor}"), Version(f"{major}.{minor + 1}")})
        elif variable == "python_full_version":
            for v in _parse_versions(value):
                found.update(_comparison_cuts(op, v))
    return found


# platform_machine values that name Windows or macOS CPUs, not Linux ones.
_NOT_LINUX_MACHINES = {"AMD64", "amd64", "ARM64", "arm64", "x86", "win32", "WIN32", "Win32"}
_KNOWN_MACHINES = {system[3] for system in _SYSTEMS}
_SYSTEM_NAMES = {
    "cygwin": "CYGWIN_NT",
    "aix": "AIX",
    "emscripten": "Emscripten",
    "sunos5": "SunOS",
    "illumos": "SunOS",
    "wasi": "WASI",
}


def marker_platforms(marker: Marker) -> frozenset[Platform]:
    """Platforms for the ``sys_platform`` and Linux ``platform_machine`` values a marker names
    that PLATFORMS does not have, for CPython and PyPy; remembered with the marker."""
    hit = _PLATFORMS.get(id(marker))
    if hit is None or hit[0] is not marker:
        hit = _PLATFORMS[id(marker)] = (marker, frozenset(_marker_platforms(marker)))
    return hit[1]


def _marker_platforms(marker: Marker) -> set[Platform]:
    systems: set[tuple[str, str, str, str]] = set()
    for variable, _op, value in marker_comparisons(marker):
        if variable == "sys_platform" and value not in {s[0] for s in _SYSTEMS}:
            systems.add((value, _SYSTEM_NAMES.get(value, ""), "posix", "x86_64"))
        elif variable == "platform_machine" and value not in _KNOWN_MACHINES | _NOT_LINUX_MACHINES:
            systems.add(("linux", "Linux", "posix", value))
    return {
        Platform(*system, implementation, name)
        for implementation, name in (("cpython", "CPython"), ("pypy", "PyPy"))
        for system in systems
    }


def specifier_cuts(spec: SpecifierSet) -> set[Version]:
    """Python versions where membership in the specifier set can change."""
    found: set[Version] = set()
    for item in spec:
        text = item.version
        try:
            version = Version(text.removesuffix(".*"))
        except ValueError:
            continue
        if text.endswith(".*"):
            release = version.release
            found.add(Version(".".join(map(str, release))))
            found.add(Version(".".join(map(str, (*release[:-1], release[-1] + 1)))))
        elif item.operator == "~=":
            release = version.release
            found.add(version)
            found.add(Version(".".join(map(str, (*release[:-2], release[-2] + 1)))))
        else:
            found.update(_comparison_cuts(item.operator, version))
    return found


def _comparison_cuts(op: str, version: Version) -> set[Version]:
    major, minor, patch = (*version.release, 0, 0)[:3]
    here = Version(f"{major}.{minor}.{patch}")
    if op in (">=", "<"):
        return {here}
    # ==, !=, >, <=, ===, in, not in: the version itself and the next patch.
    return {here, Version(f"{major}.{minor}.{patch + 1}")}


def _parse_versions(text: str) -> set[Version]:
    out: set[Version] = set()
    for word in text.replace(",", " ").split():
        try:
            out.add(Version(word))
        except ValueError:
            continue
    return out


# One configuration's cells, the platforms they are on, each platform's cells, and their Python
# intervals (see EnvironmentSpace._layout).
_Layout = tuple[list[Cell], list[Platform], list[tuple[Platform, list[Cell]]], list[int]]


@dataclass(frozen=True)
class EnvironmentSpace:
    """All cells of a lock: the Python intervals allowed by requires-python, on every platform,
    limited to the configured environments (if any)."""

    requires_python: SpecifierSet
    environments: tuple[Marker, ...]
    cuts: frozenset[Version]
    # Platforms beyond PLATFORMS that some marker names (sys_platform == 'cygwin', a Linux
    # platform_machine such as 'i686'): marker values are open-ended, so the space grows to
    # include every value a requirement can tell apart.
    more_platforms: frozenset[Platform] = frozenset()
    configs: tuple[Config, ...] = NO_CONFLICTS

    @classmethod
    def build(
        cls,
        requires_python: SpecifierSet,
        environments: Sequence[Marker] = (),
        cuts: Iterable[Version] = (),
        conflicts: Sequence[Sequence[Source]] = (),
    ) -> EnvironmentSpace:
        points = {*PYTHON_MINORS, *specifier_cuts(requires_python), *cuts}
        return cls(
            requires_python,
            tuple(environments),
            frozenset(points),
            configs=configurations(conflicts),
        )

    def refine(
        self, cuts: Iterable[Version], platforms: Iterable[Platform] = ()
    ) -> EnvironmentSpace:
        cuts = self.cuts | set(cuts)
        more = self.more_platforms | (set(platforms) - set(PLATFORMS))
        if cuts == self.cuts and more == self.more_platforms:
            return self
        return EnvironmentSpace(
            self.requires_python, self.environments, frozenset(cuts), frozenset(more), self.configs
        )

    @cached_property
    def platforms(self) -> tuple[Platform, ...]:
        return PLATFORMS + tuple(sorted(self.more_platforms, key=lambda p: p.label))

    @cached_property
    def pythons(self) -> tuple[tuple[Version, Version | None], ...]:
        """The Python intervals ``[low, high)`` inside requires-python, ascending."""
        floor, ceiling = PYTHON_MINORS[0], PYTHON_MINORS[-1]
        points = sorted(c for c in self.cuts if floor <= c <= ceiling)
        intervals: list[tuple[Version, Version | None]] = []
        for i, low in enumerate(points):
            high = points[i + 1] if i + 1 < len(points) else None
            if self.requires_python.contains(low, prereleases=True):
                intervals.append((low, high))
        return tuple(intervals)

    @cached_property
    def cells(self) -> tuple[Cell, ...]:
        cells: list[Cell] = []
        for config in self.configs:
            for p_index, (low, high) in enumerate(self.pythons):
                for platform in self.platforms:
                    cell = Cell(len(cells), platform, p_index, low, high, config)
                    if self.environments and not any(cell.holds(m) for m in self.environments):
                        continue
                    cells.append(cell)
        return tuple(cells)

    @cached_property
    def plain_cells(self) -> tuple[Cell, ...]:
        """The cells of the first configuration (all of them when nothing conflicts)."""
        return tuple(c for c in self.cells if c.config.index == 0)

    def could_hold(self, marker: Marker | None, extras: Iterable[str] = ("",)) -> bool:
        """Whether the marker holds in some cell, for some of the given extras."""
        if marker is None:
            return True
        extras = tuple(extras)
        answers = self._could_hold
        hit = answers.get((id(marker), extras))
        if hit is not None:
            return hit
        key = (frozenset(marker_cuts(marker)), frozenset(marker_platforms(marker)))
        space = self._refined.get(key)
        if space is None:
            space = self._refined[key] = self.refine(*key)
        hit = holds_somewhere(space.plain_cells, marker, extras)
        answers[(id(marker), extras)] = hit
        return hit

    @cached_property
    def _refined(self) -> dict[tuple[frozenset[Version], frozenset[Platform]], EnvironmentSpace]:
        return {}

    @cached_property
    def _could_hold(self) -> dict[tuple[int, tuple[str, ...]], bool]:
        return {}

    # -- rendering -------------------------------------------------------------------------

    def render(self, cells: Iterable[Cell], within: Sequence[Config] | None = None) -> str | None:
        """A marker that holds in exactly the given cells (of this space); None for all of them.
        ``within``: only these configurations can occur (a selected extra rules out the others),
        so the marker need not tell them apart from the rest."""
        configs = tuple(within) if within is not None else self.configs
        chosen = {cell.index for cell in cells if cell.config in configs}
        if all(c.index in chosen for c in self.cells if c.config in configs):
            return None
        if not chosen:
            raise ValueError("cannot render an empty set of cells")
        if len(configs) == 1:
            return self._render_plain(chosen, configs[0])
        # Per configuration, the (Python, platform) places chosen in it.
        places: dict[int, frozenset[tuple[int, Platform]]] = {}
        for config in configs:
            places[config.index] = frozenset(
                (c.python_index, c.platform)
                for c in self.cells
                if c.config == config and c.index in chosen
            )
        if len(set(places.values())) == 1:
            config = configs[0]
            return self._render_plain(self._indices(config, places[config.index]), config)
        parts = []
        for config in configs:
            if not places[config.index]:
                continue
            plain = self._render_plain(self._indices(config, places[config.index]), config)
            assert config.condition is not None
            terms = [config.condition, *([plain] if plain else [])]
            parts.append(" and ".join(_parenthesised(t) for t in terms))
        if len(parts) == 1:
            return parts[0]
        return " or ".join(f"({p})" if " and " in p else p for p in parts)

    def _indices(self, config: Config, places: frozenset[tuple[int, Platform]]) -> set[int]:
        return {
            c.index
            for c in self.cells
            if c.config == config and (c.python_index, c.platform) in places
        }

    def _layout(self, config: Config) -> _Layout:
        """The cells of one configuration, the platforms they are on, each platform's cells,
        and their Python intervals: the same for every entry of a lock."""
        hit = self._layouts.get(config)
        if hit is None:
            mine = [c for c in self.cells if c.config == config]
            platforms = [p for p in self.platforms if any(c.platform == p for c in mine)]
            cells_of = [(p, [c for c in mine if c.platform == p]) for p in platforms]
            python_indices = sorted({c.python_index for c in mine})
            hit = self._layouts[config] = (mine, platforms, cells_of, python_indices)
        return hit

    @cached_property
    def _layouts(self) -> dict[Config, _Layout]:
        return {}

    def _render_plain(self, chosen: set[int], config: Config) -> str | None:
        """A marker over Python and platform for the chosen cells of one configuration; None or
        "" when they are all of its cells."""
        mine, platforms, cells_of, python_indices = self._layout(config)
        if all(c.index in chosen for c in mine):
            return None
        by_pythons: dict[frozenset[int], list[Platform]] = {}
        for platform, cells in cells_of:
            pys = frozenset(c.python_index for c in cells if c.index in chosen)
            if pys:
                by_pythons.setdefault(pys, []).append(platform)
        parts: list[str] = []
        for pys, plats in sorted(by_pythons.items(), key=lambda kv: sorted(kv[0])):
            terms = [
                t
                for t in (
                    self._platform_expr(plats, platforms),
                    self._python_expr(pys, python_indices),
                )
                if t
            ]
            parts.append(" and ".join(f"({t})" if " or " in t else t for t in terms))
        if len(parts) == 1:
            return parts[0]
        return " or ".join(f"({p})" if " and " in p else p for p in parts)

    def _python_expr(self, chosen: frozenset[int], indices: list[int]) -> str:
        if set(indices) <= chosen:
            return ""
        runs: list[tuple[int, int]] = []
        for i in indices:
            if i not in chosen:
                continue
            if runs and runs[-1][1] == indices.index(i) - 1:
                runs[-1] = (runs[-1][0], indices.index(i))
            else:
                runs.append((indices.index(i), indices.index(i)))
        exprs = []
        for first, last in runs:
            low = self.pythons[indices[first]][0] if first > 0 else None
            high = self.pythons[indices[last]][1] if last < len(indices) - 1 else None
            bounds = []
            if low is not None:
                bounds.append(_python_bound(">=", low))
            if high is not None:
                bounds.append(_python_bound("<", high))
            exprs.append(" and ".join(bounds))
        if len(exprs) == 1:
            return exprs[0]
        return " or ".join(f"({e})" if " and " in e else e for e in exprs)

    @staticmethod
    def _platform_expr(chosen: list[Platform], present: list[Platform]) -> str:
        if len(chosen) == len(present):
            return ""
        implementations = sorted({p.implementation_name for p in present})
        picked = {
            i: {p.system for p in chosen if p.implementation_name == i} for i in implementations
        }
        offered = {
            i: {p.system for p in present if p.implementation_name == i} for i in implementations
        }
        # The same OS/CPU choice for every implementation: no need to name one.
        if (
            len({frozenset(v) for v in picked.values()}) == 1
            and len({frozenset(v) for v in offered.values()}) == 1
        ):
            return _system_expr(picked[implementations[0]], offered[implementations[0]])
        terms = []
        for implementation in implementations:
            if not picked[implementation]:
                continue
            term = f"implementation_name == '{implementation}'"
            systems = _system_expr(picked[implementation], offered[implementation])
            if systems:
                term += f" and {_parenthesised(systems)}"
            terms.append(term)
        if len(terms) == 1:
            return terms[0]
        return " or ".join(f"({t})" if " and " in t else t for t in terms)


def _parenthesised(expression: str) -> str:
    return f"({expression})" if " or " in expression else expression


def _system_expr(chosen: set[tuple[str, str]], present: set[tuple[str, str]]) -> str:
    """A marker for the chosen (sys_platform, platform_machine) pairs among those present."""
    if chosen == present:
        return ""
    systems: dict[str, list[tuple[str, str]]] = {}
    known = [s for s, _m in _SYSTEMS_ORDER]
    for pair in sorted(present, key=lambda p: (known.index(p[0]) if p[0] in known else 9, p)):
        systems.setdefault(pair[0], []).append(pair)
    include: list[str] = []
    for system, members in systems.items():
        picked = [p for p in members if p in chosen]
        if not picked:
            continue
        if len(picked) == len(members):
            include.append(f"sys_platform == '{system}'")
        else:
            machines = " or ".join(f"platform_machine == '{machine}'" for _s, machine in picked)
            if len(picked) > 1:
                machines = f"({machines})"
            include.append(f"sys_platform == '{system}' and {machines}")
    # Saying which systems are left out is shorter when most are in.
    left_out = [s for s, members in systems.items() if not any(p in chosen for p in members)]
    whole = all(
        all(p in chosen for p in members) or not any(p in chosen for p in members)
        for members in systems.values()
    )
    if whole and 0 < len(left_out) < len(include):
        return " and ".join(f"sys_platform != '{s}'" for s in left_out)
    if len(include) == 1:
        return include[0]
    return " or ".join(f"({t})" if " and " in t else t for t in include)


_SYSTEMS_ORDER = [(system[0], system[3]) for system in _SYSTEMS]


def _python_bound(op: str, version: Version) -> str:
    major, minor, patch = (*version.release, 0, 0)[:3]
    if patch == 0:
        return f"python_version {op} '{major}.{minor}'"
    return f"python_full_version {op} '{major}.{minor}.{patch}'"
