"""Widening and the memos that make solve rounds cheap: the windows and facts they give are the
ones a fresh computation gives, and which windows grow does not depend on which of several
equally good selections the solver finds first."""

from __future__ import annotations

from dataclasses import replace

import tomlkit
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from resolver.environments import EnvironmentSpace
from resolver.facts import build_facts
from resolver.locker import lock_project
from resolver.memory_provider import MemoryProvider
from resolver.project import load_project
from resolver.solve import Solver
from resolver.universe import Universe


def universe_for(tmp_path, packages, dependencies, provider=MemoryProvider) -> Universe:
    table = {"name": "demo", "version": "0.1", "requires-python": ">=3.9"}
    table["dependencies"] = list(dependencies)
    (tmp_path / "pyproject.toml").write_text(tomlkit.dumps({"project": table}))
    universe = Universe(
        load_project(tmp_path),
        provider(packages),
        EnvironmentSpace.build(SpecifierSet(">=3.9")),
        warn=lambda m: None,
    )
    universe.collect()
    return universe


# a's window versions need c, whose window versions need a package no index has: taking a
# outside its window (a 2.x needs nothing) or c (c 4.x needs nothing) gives a selection, so {a}
# and {c} are both as small as a set of packages outside their windows can be.
EITHER = {
    "a": {**{f"2.{m}": [] for m in range(10)}, **{f"3.{m}": ["c"] for m in range(2)}},
    "c": {**{f"4.{m}": [] for m in range(4)}, **{f"5.{m}": ["ghost"] for m in range(2)}},
}


def test_every_package_some_fewest_selection_takes_outside_is_widened(tmp_path):
    universe = universe_for(tmp_path, EITHER, ["a"])
    facts = build_facts(universe)
    solver = Solver(facts)
    assert not solver.fits_windows()
    fewest = solver.fewest_outside()
    assert fewest is not None and fewest.cost[0] == 1
    taken = {facts.names[p] for (p, v) in fewest.selected if facts.outside.get(p) == v}
    assert len(taken) == 1  # one of the two, whichever the search met first
    assert {facts.names[p] for p in solver.every_outside(fewest)} == {"a", "c"}
    # The switches are back off: the same solver answers as before.
    assert not solver.fits_windows()
    assert solver.fewest_outside().cost[0] == 1


def test_windows_grow_twice_as_deep_twice_then_eight_times_then_64_more(tmp_path):
    history = {f"1.{m}": ["ghost"] for m in range(200)}
    universe = universe_for(tmp_path, {"a": history, "ghost": {}}, ["a"])
    package = universe.packages["a"]
    depths = [package.depth]
    for _ in range(6):
        assert universe.widen({"a"})
        depths.append(package.depth)
    assert depths == [2, 4, 8, 64, 128, 192, 256]
    assert package.window == set(package.versions)  # 200 versions, all in a 256-deep window
    assert not universe.widen({"a"})  # nothing left to add


# a's ten newest versions do not run on Python 3.12 and later: there its window starts at 1.9.
SPLIT = {
    "a": {
        **{f"1.{m}": [] for m in range(10)},
        **{f"1.{m}": {"requires_python": "<3.12"} for m in range(10, 20)},
    }
}


def test_a_window_grows_only_at_the_python_intervals_asked(tmp_path):
    universe = universe_for(tmp_path, SPLIT, ["a"])
    package = universe.packages["a"]
    old, new = Version("3.9"), Version("3.12")
    assert package.window == {Version(v) for v in ("1.19", "1.18", "1.9", "1.8")}
    # The solver's intervals may be cut finer than the space's: 3.12.4 is inside 3.12's.
    assert universe.widen({"a"}, {"a": {Version("3.12.4"), Version("3.14")}})
    assert (package.depth_at(old), package.depth_at(new), package.depth) == (2, 4, 2)
    assert package.window == {Version(f"1.{m}") for m in (19, 18, 9, 8, 7, 6)}
    # A widening that names no interval (a conflict's part, resolver/explain.py) grows the
    # intervals the last one named.
    assert universe.widen({"a"})
    assert (package.depth_at(old), package.depth_at(new)) == (2, 8)
    assert package.window == {Version(f"1.{m}") for m in (19, 18, *range(2, 10))}
    assert universe.widen({"a"})  # 1.1 and 1.0 are all that is left at 3.12: 64 deep
    assert package.window == {Version(f"1.{m}") for m in (19, 18, *range(10))}
    # Nothing is left where it was asked: it grows everywhere instead.
    assert universe.widen({"a"})
    assert package.depth_at(old) == 4 and package.wanted_at is None
    assert package.window == {Version(f"1.{m}") for m in (19, 18, 17, 16, *range(10))}


def test_a_window_widened_at_some_pythons_equals_one_collected_at_those_depths(tmp_path):
    widened = universe_for(tmp_path, SPLIT, ["a"])
    widened.widen({"a"}, {"a": {Version("3.13")}})
    widened.widen({"a"})
    fresh = Universe(widened.project, MemoryProvider(SPLIT), widened.space)
    fresh.collect()
    fresh.packages["a"].at = dict(widened.packages["a"].at)
    fresh.collect()
    assert widened.packages["a"].window == fresh.packages["a"].window
    assert build_facts(widened).text() == build_facts(fresh).text()


def test_a_widened_window_equals_one_collected_at_that_depth(tmp_path):
    # Windows are recomputed only where what they depend on changed: widening one package must
    # leave every window as a fresh collection with the same depths would have it.
    packages = {
        "a": {
            **{f"1.{m}": ["b>=1"] for m in range(12)},
            **{f"2.{m}": {"requires": ["b>=2"], "requires_python": ">=3.11"} for m in range(6)},
        },
        "b": {
            **{f"1.{m}": [] for m in range(9)},
            **{f"2.{m}": {"requires_python": ">=3.12"} for m in range(7)},
        },
    }
    widened = universe_for(tmp_path, packages, ["a"])
    widened.widen({"a"})
    widened.widen({"a", "b"})
    fresh = Universe(widened.project, MemoryProvider(packages), widened.space)
    fresh.collect()  # with depth 2, then deepened by hand to the widened depths
    for name in ("a", "b"):
        fresh.packages[name].depth = widened.packages[name].depth
    fresh.collect()
    for name in ("a", "b"):
        assert widened.packages[name].window == fresh.packages[name].window
    assert len(widened.packages["b"].window) > 4
    assert build_facts(widened).text() == build_facts(fresh).text()


def test_facts_are_the_same_when_built_again(tmp_path):
    # build_facts keeps truth columns on the universe between rounds; a second build must give
    # the same text, and so must a build on a universe that never had one.
    universe = universe_for(tmp_path, EITHER, ["a; sys_platform != 'win32'"])
    first = build_facts(universe).text()
    assert build_facts(universe).text() == first
    again = universe_for(tmp_path, EITHER, ["a; sys_platform != 'win32'"])
    assert build_facts(again).text() == first


def test_a_conflicts_part_widens_every_package_a_fewest_selection_takes_outside(tmp_path):
    # a 3.x needs c, and c's newest versions need a package no index has; a 2.x needs nothing
    # (less fresh) and c 4.x neither. The windows leave no lock in the first round nor after
    # one widening, so the conflict's part {a, c} is widened on its own: either a (to 2.x) or
    # c (to 4.x) gives it a lock, and both grow, whichever the search meets first. The optimum
    # then keeps a at its newest, with c 4.x.
    packages = {
        "a": {**{f"2.{m}": [] for m in range(10)}, **{f"3.{m}": ["c"] for m in range(6)}},
        "c": {**{f"4.{m}": [] for m in range(10)}, **{f"5.{m}": ["ghost"] for m in range(6)}},
    }
    table = {"name": "demo", "version": "0.1", "requires-python": ">=3.9", "dependencies": ["a"]}
    (tmp_path / "pyproject.toml").write_text(tomlkit.dumps({"project": table}))
    provider = MemoryProvider(packages)
    resolution = lock_project(load_project(tmp_path), provider, warn=lambda m: None)
    assert {(e.name, str(e.version)) for e in resolution.entries} == {("a", "3.5"), ("c", "4.9")}
    fetched = {(n, str(v)) for n, v in provider.metadata_calls}
    assert ("a", "2.9") in fetched and ("c", "4.9") in fetched


class FilesWithoutRequiresPython(MemoryProvider):
    """The index lists no Requires-Python: only the metadata states it."""

    def files(self, name):
        return [replace(f, requires_python=None) for f in super().files(name)]


def test_a_requires_python_that_only_the_metadata_states_recomputes_the_window(tmp_path):
    # Windows are recomputed only when something they depend on changed; metadata with a
    # Requires-Python of its own is such a change. a 2.0 and 1.9 turn out not to run on Python
    # 3.9 and 3.10, so the window reaches back to 1.8 and 1.7 for them.
    packages = {
        "a": {
            **{f"1.{m}": [] for m in range(9)},
            "1.9": {"requires_python": ">=3.11"},
            "2.0": {"requires_python": ">=3.11"},
        }
    }
    universe = universe_for(tmp_path, packages, ["a"], provider=FilesWithoutRequiresPython)
    assert sorted(str(v) for v in universe.packages["a"].window) == ["1.7", "1.8", "1.9", "2.0"]
    assert universe.packages["a"].rp_changes == 2


def test_versions_beyond_a_window_that_meet_requirements_are_found_as_one_by_one():
    """``_Beyond.meeting`` skips the versions under a specifier's lower bound (the end of a
    newest-first list): it finds what checking every version finds, for bounds that include
    or exclude pre-releases, post-releases and local versions, and for clauses that bound
    nothing from below (wildcards, ``===``, ``<``, ``!=``)."""
    from packaging.requirements import Requirement

    from resolver.environments import spec_contains
    from resolver.locker import _Beyond

    texts = [
        "0.9", "1.0.dev1", "1.0a1", "1.0", "1.0+local", "1.0.post1", "1.0.1", "1.1rc1", "1.1",
        "1.2.0", "1.2.5", "1.3", "2.0.dev0", "2.0", "2.0+abc", "2.1", "10.0",
    ]  # fmt: skip
    versions = sorted(map(Version, texts), reverse=True)
    specifiers = [
        "", ">=1.0", ">1.0", ">=1.0,<2", "~=1.2.0", "~=1.1", "==1.0", "==1.0+local", "==1.2.*",
        "!=1.0", ">=1.0a1", ">=2.0.dev0,!=2.0", "<1.1", "<=2.0", "===1.1", ">=0.1,==2.*",
        ">1.0.post1", ">=3", ">=1.1,>=1.2",
    ]  # fmt: skip
    for first in range(len(versions)):
        beyond = _Beyond(versions[first:])
        for text in specifiers:
            for other in ("", "!=1.3", "<2"):
                reqs = [Requirement(f"x{text}"), Requirement(f"x{other}")]
                expected = [
                    v for v in versions[first:] if all(spec_contains(r.specifier, v) for r in reqs)
                ]
                assert list(beyond.meeting(reqs)) == expected, (text, other, first)


def test_versions_past_the_chosen_one_are_sliced_by_position():
    """``locker._past`` gives the versions of a ``Chosen`` older than the one at a rank (newer
    with --resolution lowest), as comparing each with it does, without reading any."""
    from resolver.locker import _past
    from resolver.universe import Chosen

    versions = sorted(map(Version, ["0.9", "1.0", "1.1", "1.2", "2.0", "2.1", "3.0"]), reverse=True)
    read = []

    class Counting(list):
        def __getitem__(self, i):
            read.append(i)
            return list.__getitem__(self, i)

    rank = {v: r for r, v in enumerate(versions)}
    for positions in ([0, 1, 3, 4, 6], [2, 5], [], list(range(7))):
        for chosen in range(len(versions)):
            for lowest in (False, True):
                outside = Chosen(Counting(versions), rank, positions)
                read.clear()
                past = _past(outside, chosen, lowest)
                assert read == []
                c = versions[chosen]
                expected = [v for v in outside if (v > c if lowest else v < c)]
                assert list(past) == expected
