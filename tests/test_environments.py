"""The environment space: cells, cuts and markers rendered from sets of cells."""

from __future__ import annotations

import random

import pytest
from packaging.markers import Marker
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.version import Version

from resolver.environments import (
    EnvironmentSpace,
    marker_cuts,
    marker_platforms,
    specifier_cuts,
)
from resolver.provider import DistFile


def space(requires_python: str = ">=3.9", environments=(), cuts=()) -> EnvironmentSpace:
    markers = [Marker(m) for m in environments]
    return EnvironmentSpace.build(
        SpecifierSet(requires_python), markers, [Version(c) for c in cuts]
    )


def test_cells_never_combine_impossible_marker_values():
    for cell in space().cells:
        env = cell.environment
        expected = {
            "linux": ("Linux", "posix"),
            "darwin": ("Darwin", "posix"),
            "win32": ("Windows", "nt"),
        }[env["sys_platform"]]
        assert (env["platform_system"], env["os_name"]) == expected
        assert (env["implementation_name"], env["platform_python_implementation"]) in {
            ("cpython", "CPython"),
            ("pypy", "PyPy"),
        }


def test_cells_of_one_platform_and_python_share_their_environment():
    # A space refined for a marker makes its cells anew: those of a platform and lowest Python
    # already met share one environment, the same as one built for the cell alone.
    from resolver.environments import _environment

    base = space(">=3.9")
    refined = base.refine([Version("3.11.4")])
    assert refined is not base
    by_place = {(c.platform, c.python_low): c.environment for c in base.cells}
    shared = 0
    for cell in refined.cells:
        assert cell.environment == _environment(cell.platform, cell.python_low)
        known = by_place.get((cell.platform, cell.python_low))
        if known is not None:
            assert cell.environment is known
            shared += 1
    assert shared and shared < len(refined.cells)  # the cells at 3.11.4 are new
    env = {c.environment["python_full_version"] for c in refined.cells}
    assert {"3.11.0", "3.11.4"} <= env


def test_python_intervals_follow_requires_python_and_cuts():
    s = space(">=3.9.2,<3.13", cuts=["3.11.4"])
    lows = [str(low) for low, _ in s.pythons]
    assert lows == ["3.9.2", "3.10", "3.11", "3.11.4", "3.12"]


@pytest.mark.parametrize(
    ("marker", "expected"),
    [
        ("python_version >= '3.10'", {"3.10", "3.11"}),
        ("python_full_version > '3.9.1'", {"3.9.1", "3.9.2"}),
        ("python_full_version >= '3.9.1'", {"3.9.1"}),
        ("sys_platform == 'linux'", set()),
    ],
)
def test_marker_cuts(marker, expected):
    assert {str(v) for v in marker_cuts(Marker(marker))} == expected


def test_specifier_cuts():
    assert {str(v) for v in specifier_cuts(SpecifierSet("==3.9.*,!=3.10.1,~=3.11.2"))} == {
        "3.9",
        "3.10",
        "3.10.1",
        "3.10.2",
        "3.11.2",
        "3.12",
    }


@pytest.mark.parametrize(
    "configuration",
    [
        {},
        {"requires_python": ">=3.10,<3.14", "cuts": ["3.11.3"]},
        {"environments": ["sys_platform != 'win32'"]},
        {"environments": ["implementation_name == 'cpython'"], "requires_python": ">=3.12"},
    ],
)
def test_rendered_markers_hold_in_exactly_the_chosen_cells(configuration):
    s = space(**configuration)
    rng = random.Random(1234)
    cells = list(s.cells)
    subsets = [set(rng.sample(cells, k)) for k in range(1, len(cells)) for _ in range(3)]
    by_platform = {}
    for cell in cells:
        by_platform.setdefault(cell.platform, set()).add(cell)
    subsets += list(by_platform.values())  # structured sets render short; check them too
    for subset in subsets:
        text = s.render(subset)
        assert text is not None
        marker = Marker(text)
        for cell in cells:
            assert marker.evaluate(dict(cell.environment)) == (cell in subset), (text, cell)
    assert s.render(cells) is None


def test_structured_sets_render_short():
    s = space(">=3.9")
    linux = {c for c in s.cells if c.platform.sys_platform == "linux"}
    assert s.render(linux) == "sys_platform == 'linux'"
    old = {c for c in s.cells if c.python_low < Version("3.11")}
    assert s.render(old) == "python_version < '3.11'"
    not_windows = {c for c in s.cells if c.platform.sys_platform != "win32"}
    assert s.render(not_windows) == "sys_platform != 'win32'"
    pypy = {c for c in s.cells if c.platform.implementation_name == "pypy"}
    assert s.render(pypy) == "implementation_name == 'pypy'"


def test_wheels_install_only_where_their_platform_tag_fits():
    # A platform aspen knows no wheel platform tags for (cygwin, named by a marker) takes only
    # `any` wheels and sdists: never the tags of the machine aspen runs on.
    space = EnvironmentSpace.build(SpecifierSet(">=3.12,<3.13"), ()).refine(
        (), marker_platforms(Marker("sys_platform == 'cygwin'"))
    )

    def wheel(tag: str) -> DistFile:
        interpreter, abi, platform = tag.split("-")
        return DistFile(
            f"x-1-{tag}.whl",
            "u",
            "wheel",
            Version("1"),
            tags=frozenset({Tag(interpreter, abi, platform)}),
        )

    linux = wheel("cp312-cp312-manylinux_2_17_x86_64")
    pure = wheel("py3-none-any")
    abi3 = wheel("cp39-abi3-manylinux2014_x86_64")
    old_python = wheel("cp311-cp311-manylinux_2_17_x86_64")
    by_label = {c.platform.label: c for c in space.cells}
    cygwin, host = by_label["cpython-cygwin-x86_64"], by_label["cpython-linux-x86_64"]
    assert not cygwin.installable([linux]) and not cygwin.installable([abi3])
    assert cygwin.installable([pure])
    assert host.installable([linux]) and host.installable([abi3]) and host.installable([pure])
    assert not host.installable([old_python])
    assert not by_label["cpython-win32-AMD64"].installable([linux])
    sdist = DistFile("x-1.tar.gz", "u", "sdist", Version("1"))
    assert cygwin.installable([linux, sdist])


def test_a_versions_files_are_read_once_for_all_cells():
    # Cell.installable asks a list of files for its kinds and tags once (_wheel_tags, by
    # the list's identity), then answers each cell's rule from the union of the wheels' tags:
    # the same as asking the files one by one.
    space = EnvironmentSpace.build(SpecifierSet(">=3.11,<3.13"), ())
    reads = []

    class Counted:
        def __init__(self, tag: str | None) -> None:
            self.tag = tag

        @property
        def kind(self) -> str:
            reads.append(("kind", self.tag))
            return "sdist" if self.tag is None else "wheel"

        @property
        def tags(self) -> frozenset[Tag]:
            reads.append(("tags", self.tag))
            return frozenset({Tag(*self.tag.split("-"))}) if self.tag else frozenset()

    tags = [
        "cp311-cp311-manylinux_2_17_x86_64",
        "cp312-cp312-win_amd64",
        "cp312-abi3-macosx_11_0_arm64",
    ]
    files = [Counted(t) for t in tags]
    answers = [c.installable(files) for c in space.cells]
    assert len(reads) == 2 * len(files)  # one kind and one tags read per file, for all cells
    assert answers == [any(c.installable([f]) for f in files) for c in space.cells]
    assert True in answers and False in answers
    with_sdist = [*files, Counted(None)]
    assert all(c.installable(with_sdist) for c in space.cells)


def test_plain_comparisons_are_answered_without_packaging(monkeypatch) -> None:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from resolver.environments import spec_contains

    monkeypatch.setattr(SpecifierSet, "contains", lambda *a, **k: pytest.fail("asked packaging"))
    for text in (">=3.9.1,<4", "<4, >=3.9.1", "==3.9.7", "!=3.9.6,<=3.10", ""):
        assert spec_contains(SpecifierSet(text), Version("3.9.7")) is True
    assert spec_contains(SpecifierSet("<4"), Version("4.0rc1")) is False


_VERSIONS = [
    "0.9", "1.0", "1.0.0", "1.0.dev0", "1.0a1", "1.0a1.dev2", "1.0rc1", "1.0.post1",
    "1.0.post1.dev1", "1.0.1", "1.0+local", "1.0.1+local", "1!0.5", "2", "2.0.0.0", "2.0b1",
    "2.0.dev3", "2.0.post2", "2.1",
]  # fmt: skip
_SPECIFIERS = [
    "", ">=1.0", ">=1.0.0,<2", "<2", "<2.0.0", "<2.0b1", "<2.0.post1", "<1!1", "<=1.0",
    "==1.0", "==1.0+local", "!=1.0+local", "==1.*", "!=1.0", "!=1.0.*", "~=1.0", ">1.0",
    ">1.0.post1", "===1.0", ">=1.0.dev0,<2.0.dev0", "!=2.0b1,>=1.0a1",
]  # fmt: skip


@pytest.mark.parametrize("text", _SPECIFIERS)
def test_specifiers_answer_as_packaging_does(text: str) -> None:
    # Plain comparisons are answered as Version comparisons (see environments._comparisons);
    # every other form, and versions with a local part, by packaging.
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from resolver.environments import spec_contains

    spec = SpecifierSet(text)
    for version in map(Version, _VERSIONS):
        assert spec_contains(spec, version) is spec.contains(version, prereleases=True), version


_MORE_SPECIFIERS = [
    "<=1.0.1", "==1.0.1", "==2", ">=1.0.post1", "~=1.0.1", ">=1.0,!=1.0.1,<=2.0.post2",
    "<1.0.1,>0.9", "==1.0a1", "<=1.0rc1", ">=3", "<0.1", ">=1!0",
]  # fmt: skip


@pytest.mark.parametrize("text", _SPECIFIERS + _MORE_SPECIFIERS)
def test_spans_hold_every_version_in_the_specifier(text: str) -> None:
    # A window walks only the versions within the specifier's bounds (spec_span): every
    # version outside them, local versions and pre-releases included, must be outside the set.
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from resolver.environments import spec_span

    spec = SpecifierSet(text)
    versions = sorted(set(map(Version, _VERSIONS)), reverse=True)
    for count in range(len(versions) + 1):
        part = versions[:count]
        start, stop = spec_span(spec, part)
        assert 0 <= start <= stop <= len(part)
        outside = part[:start] + part[stop:]
        assert not [v for v in outside if spec.contains(v, prereleases=True)], (part, start, stop)


@pytest.mark.parametrize("text", _SPECIFIERS + _MORE_SPECIFIERS)
def test_spans_of_versions_chosen_by_position_are_those_of_their_list(text: str) -> None:
    # Versions chosen by position (universe.Chosen, as windows walk them) are bisected on their
    # positions: the same span as the list of the same versions gets.
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from resolver.environments import spec_span
    from resolver.universe import Chosen

    spec = SpecifierSet(text)
    versions = sorted(set(map(Version, _VERSIONS)), reverse=True)
    rank = {v: r for r, v in enumerate(versions)}
    for step in (1, 2, 3):
        for first in range(step):
            chosen = Chosen(versions, rank, list(range(first, len(versions), step)))
            assert spec_span(spec, chosen) == spec_span(spec, list(chosen)), (step, first)


def test_specifier_texts_are_packagings_once_per_object() -> None:
    # spec_text prints a specifier set once per object (its clauses sorted, as str() does),
    # and never gives one object's text for another.
    from packaging.specifiers import SpecifierSet

    from resolver.environments import spec_text

    texts = ["==1.0,>0.5,!=0.7", ">0.5,!=0.7,==1.0", "<2,>=1", "", ">=1"]
    for round_ in range(50):
        for text in texts:
            spec = SpecifierSet(text)
            assert spec_text(spec) == str(spec), (round_, text)
            assert spec_text(spec) is spec_text(spec)
    kept = SpecifierSet(">=3")
    printed = spec_text(kept)
    kept._specs = SpecifierSet("<3")._specs  # the text is the object's first one
    assert spec_text(kept) is printed


def test_answers_by_identity_never_answer_for_another_version() -> None:
    # Answers are kept by the identity of the version asked: a version that is gone and
    # another one made in its place (often at the same address) gets its own answer.
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from resolver.environments import spec_contains

    spec = SpecifierSet(">=2")
    for round_ in range(200):
        text = "3.0" if round_ % 2 else "1.0"
        assert spec_contains(spec, Version(text)) is (text == "3.0")
    assert spec_contains(spec, Version("2.0")) is spec_contains(spec, Version("2.0.0")) is True


def test_spans_leave_out_versions_beyond_the_bounds() -> None:
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from resolver.environments import spec_span

    versions = [Version(f"1.{minor}") for minor in range(20, -1, -1)]  # 1.20 ... 1.0
    start, stop = spec_span(SpecifierSet(">=1.5,<1.8"), versions)
    assert [str(v) for v in versions[start:stop]] == ["1.7", "1.6", "1.5"]
    start, stop = spec_span(SpecifierSet("==1.3"), versions)
    assert [str(v) for v in versions[start:stop]] == ["1.3"]
    assert spec_span(SpecifierSet("!=1.3,~=1.0"), versions) == (0, 21)  # no upper bound here


_MARKERS = [
    'python_version < "3.11"',
    'python_full_version >= "3.10.1" and sys_platform == "linux"',
    'sys_platform == "win32" or platform_machine == "aarch64" and python_version >= "3.12"',
    '(sys_platform == "darwin" or os_name == "nt") and extra == "Test_Extra"',
    '"linux" in sys_platform and platform_system != "Linux"',
    'python_version not in "3.10, 3.11" or implementation_name == "pypy"',
    'platform_python_implementation == "CPython" and (extra == "a" or extra == "b")',
    'python_version ~= "3.12" and platform_release >= "5"',
    'python_version == "3.*" and sys_platform != "cygwin"',
]


@pytest.mark.parametrize("text", _MARKERS)
def test_marker_truth_is_packagings(text: str) -> None:
    # Markers are evaluated comparison by comparison, each comparison's answer remembered by
    # the values of its variables (environments._held): the same truth as packaging's
    # evaluate() of the whole marker, in every cell and under every extra.
    from resolver.environments import marker_column

    marker = Marker(text)
    cells = space(">=3.9", cuts=["3.10.1"]).cells
    for extra in ("", "a", "test-extra", "b"):
        expected = tuple(marker.evaluate({**c.environment, "extra": extra}) for c in cells)
        assert marker_column(cells, marker, extra) == expected, extra


def test_a_marker_is_planned_once_for_every_truth(monkeypatch) -> None:
    # A marker's parsed list is turned into its plan (groups of comparisons, each with the
    # variables it names) once, when its first truth is asked (environments._PLANS): every
    # later truth, in other cells and under other extras, walks the plan.
    from resolver import environments
    from resolver.environments import marker_column

    planned = []
    plan = environments._plan
    monkeypatch.setattr(environments, "_plan", lambda markers: planned.append(1) or plan(markers))
    marker = Marker('(sys_platform == "darwin" or os_name == "nt") and extra == "a"')
    cells = space(">=3.9").cells
    for extra in ("", "a", "b"):
        expected = tuple(marker.evaluate({**c.environment, "extra": extra}) for c in cells)
        assert marker_column(cells, marker, extra) == expected
    assert len(planned) == 2  # the marker's list, and its nested one
