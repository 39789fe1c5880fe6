"""Versions whose metadata needs a build (no wheel, no PEP 658 metadata file): each takes two
places in a candidate window, and the locker fetches an older one only when the windows leave
no lock without it, not on the chance that it serves the objective better. On examples/large's
cold lock every pyspark version is a 456 MB sdist, downloaded and built one after another."""

from __future__ import annotations

from dataclasses import replace

import tomlkit
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from resolver.environments import EnvironmentSpace
from resolver.locker import lock_project
from resolver.memory_provider import MemoryProvider
from resolver.project import load_project
from resolver.universe import Universe


class SdistProvider(MemoryProvider):
    """MemoryProvider where the packages named in ``sdists`` have one sdist per version instead
    of a wheel; ``announced``: the index announces a PEP 658 metadata file for them."""

    def __init__(self, packages, sdists, *, announced: bool = False) -> None:
        super().__init__(packages)
        self.sdists = set(sdists)
        self.announced = announced

    def files(self, name):
        found = super().files(name)
        if name not in self.sdists:
            return found
        return [
            replace(
                f,
                filename=f"{name}-{f.version}.tar.gz",
                url=f"https://example.invalid/{name}-{f.version}.tar.gz",
                kind="sdist",
                tags=frozenset(),
                core_metadata={"sha256": "0" * 64} if self.announced else None,
            )
            for f in found
        ]

    def fetched(self, name: str) -> list[str]:
        return sorted((str(v) for n, v in self.metadata_calls if n == name), key=Version)


def write_project(tmp_path, dependencies) -> None:
    table = {"name": "demo", "version": "0.1", "requires-python": ">=3.9"}
    table["dependencies"] = list(dependencies)
    (tmp_path / "pyproject.toml").write_text(tomlkit.dumps({"project": table}))


def collected(tmp_path, provider, dependencies) -> Universe:
    write_project(tmp_path, dependencies)
    universe = Universe(
        load_project(tmp_path),
        provider,
        EnvironmentSpace.build(SpecifierSet(">=3.9")),
        warn=lambda m: None,
    )
    universe.collect()
    return universe


HISTORY = {f"1.{m}": [] for m in range(6)}


def window(universe: Universe, name: str) -> list[str]:
    return sorted((str(v) for v in universe.packages[name].window), key=Version)


def test_a_version_that_needs_a_build_takes_two_places_in_a_window(tmp_path):
    packages = {"s": HISTORY, "w": HISTORY}
    universe = collected(tmp_path, SdistProvider(packages, {"s"}), ["s", "w"])
    assert window(universe, "s") == ["1.5"]  # one version deep instead of two
    assert window(universe, "w") == ["1.4", "1.5"]
    assert universe.packages["s"].needs_build(Version("1.5"))
    assert not universe.packages["w"].needs_build(Version("1.5"))
    universe.widen({"s"})  # and it deepens like any window
    assert window(universe, "s") == ["1.4", "1.5"]


def test_an_sdist_with_a_metadata_file_takes_one_place(tmp_path):
    provider = SdistProvider({"s": HISTORY}, {"s"}, announced=True)
    universe = collected(tmp_path, provider, ["s"])
    assert not universe.packages["s"].needs_build(Version("1.5"))
    assert window(universe, "s") == ["1.4", "1.5"]


def test_the_newest_version_that_needs_a_build_is_the_only_one_fetched(tmp_path):
    provider = SdistProvider({"s": HISTORY}, {"s"})
    write_project(tmp_path, ["s"])
    resolution = lock_project(load_project(tmp_path), provider, warn=lambda m: None)
    assert [(e.name, str(e.version)) for e in resolution.entries] == [("s", "1.5")]
    assert provider.fetched("s") == ["1.5"]


def test_an_older_version_that_needs_a_build_is_fetched_when_no_lock_exists_without_it(
    tmp_path,
):
    # s 1.5 requires a b that does not exist: the lock needs s 1.4, which the window reaches
    # by widening; the versions before it are not fetched on the chance that they serve
    # better (with wheels, the chosen version on the window's edge widens it once more).
    packages = {"s": {**HISTORY, "1.5": ["b>=2"]}, "b": {"1.0": []}}
    provider = SdistProvider(packages, {"s"})
    write_project(tmp_path, ["s"])
    resolution = lock_project(load_project(tmp_path), provider, warn=lambda m: None)
    assert [(e.name, str(e.version)) for e in resolution.entries] == [("s", "1.4")]
    assert provider.fetched("s") == ["1.4", "1.5"]
    wheels = SdistProvider(packages, set())
    resolution = lock_project(load_project(tmp_path), wheels, warn=lambda m: None)
    assert [(e.name, str(e.version)) for e in resolution.entries] == [("s", "1.4")]
    assert wheels.fetched("s") == ["1.2", "1.3", "1.4", "1.5"]


def test_versions_that_need_a_build_are_read_after_everything_else(tmp_path):
    # s (sdist only) and w are required by the project, w requires x, x requires y: the
    # collection reads w, x and y before it waits for s's build; s's own requirement (z) is
    # read after it. The whole lock is the same as with wheels everywhere.
    packages = {
        "s": {"1.0": ["z"]},
        "w": {"1.0": ["x"]},
        "x": {"1.0": ["y"]},
        "y": {"1.0": []},
        "z": {"1.0": []},
    }
    provider = SdistProvider(packages, {"s"})
    universe = collected(tmp_path, provider, ["s", "w"])
    order = [name for name, _version in provider.metadata_calls]
    assert order == ["w", "x", "y", "s", "z"]
    assert sorted(universe.packages) == ["s", "w", "x", "y", "z"]
    locked = lock_project(
        load_project(tmp_path), SdistProvider(packages, {"s"}), warn=lambda m: None
    )
    wheels = lock_project(
        load_project(tmp_path), SdistProvider(packages, set()), warn=lambda m: None
    )
    assert [(e.name, str(e.version)) for e in locked.entries] == [
        (e.name, str(e.version)) for e in wheels.entries
    ]
