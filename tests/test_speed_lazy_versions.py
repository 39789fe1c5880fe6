"""A stored page's versions are read by position (rank) and made only when read: a lock looks
at a few versions of each page (windows, bisections), and making, hashing and sorting every
version of examples/large's 480 pages (41,452) cost about 110 ms of each warm lock. Windows,
eligible and outside versions, facts and locks are those of the versions as a sorted list."""

from __future__ import annotations

import dataclasses

from packaging.specifiers import SpecifierSet
from packaging.version import Version
from test_speed_widening import universe_for

from resolver import parsed_cache
from resolver.environments import spec_contains
from resolver.facts import _Columns, build_facts
from resolver.memory_provider import MemoryProvider
from resolver.parsed_cache import VersionOrder
from resolver.universe import Chosen


class PagedProvider(MemoryProvider):
    """The same packages, each one's files read from a page as the page cache stores it."""

    def files_by_version(self, name):
        files = self.files(name)
        page = parsed_cache.parsed_page(None, b"d", parsed_cache._tables(files), ())
        return page.files.by_version()


PACKAGES = {
    "a": {
        **{f"1.{m}": ["b>=1"] for m in range(30)},
        "1.31": {"requires": ["b>=1"], "requires_python": ">=3.11"},
        "1.32": {"requires": [], "yanked": "broken"},
        "2.0rc1": [],
        "1.7.post1": {"requires": [], "requires_python": ">=3.10"},
    },
    "b": {
        **{f"{m}.0": {"requires": [], "requires_python": f">=3.{9 + m % 4}"} for m in range(1, 20)},
        "21.0.dev1": [],
        "20.0": {"requires": [], "yanked": ""},
    },
}


def universes(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "paged").mkdir()
    plain = universe_for(tmp_path / "plain", PACKAGES, ["a", "b<15"])
    paged = universe_for(tmp_path / "paged", PACKAGES, ["a", "b<15"], provider=PagedProvider)
    return plain, paged


def texts(specifiers) -> list[str]:
    return list(dict.fromkeys(map(str, specifiers)))


def same(plain, paged) -> None:
    for name, package in paged.packages.items():
        other = plain.packages[name]
        assert list(package.versions) == other.versions
        assert package.prereleases == other.prereleases
        assert package.yanked_versions == other.yanked_versions
        assert package.window == other.window
        for universe, mine in ((paged, package), (plain, other)):
            assert universe.eligible(mine) == [
                v for v in other.versions if v not in other.yanked_versions | other.prereleases
            ]
        assert list(paged.outside(package)) == list(plain.outside(other))
        # (The memory provider makes one Requires-Python object per version, a page one per
        # text: the distinct texts, in the order first met.)
        assert texts(package.requires_pythons(paged.outside(package))) == texts(
            other.requires_pythons(plain.outside(other))
        )
        for v in other.versions:
            assert package.rank[v] == other.rank[v]
            assert package.file_requires_python(v) == other.file_requires_python(v)
    assert build_facts(paged).text() == build_facts(plain).text()


def test_a_pages_versions_give_the_windows_and_facts_of_a_sorted_list(tmp_path):
    plain, paged = universes(tmp_path)
    for name, package in paged.packages.items():
        assert isinstance(package.versions, VersionOrder)
        assert isinstance(paged.eligible(package), Chosen)
        made = sum(v is not None for v in package.versions._page.slots)
        assert 0 < made < len(package.versions), name  # windows and bisections only
        if name == "a":  # 34 versions: a window two deep, and bisections
            assert made < 12
    same(plain, paged)
    for universe in (plain, paged):
        universe.widen({"a", "b"})
        universe.widen({"a"})
    same(plain, paged)


def test_versions_chosen_by_rank_read_as_a_list(tmp_path):
    _plain, paged = universes(tmp_path)
    package = paged.packages["a"]
    rest = paged.outside(package)
    listed = list(rest)
    assert rest == listed and len(rest) == len(listed) and rest[-1] == listed[-1]
    assert rest[2:5] == listed[2:5] and isinstance(rest[2:5], Chosen)
    assert list(reversed(rest)) == listed[::-1]
    assert listed[3] in rest and Version(str(listed[3]) + ".0") in rest  # equal, another object
    assert not any(v in rest for v in package.window) and Version("9.9") not in rest
    # An outside version with metadata stating its own Requires-Python: that one counts.
    v = rest[4]
    meta = next(iter(package.metadata.values()))
    package.metadata[v] = dataclasses.replace(meta, requires_python=SpecifierSet(">=3.13"))
    expected = list({id(rp): rp for rp in map(package.requires_python, listed)}.values())
    assert package.requires_pythons(rest) == expected
    assert SpecifierSet(">=3.13") in expected


def test_meets_any_of_versions_chosen_by_rank_answers_as_a_scan(tmp_path):
    _plain, paged = universes(tmp_path)
    truth = _Columns([])
    for name in ("a", "b"):
        rest = paged.outside(paged.packages[name])
        listed = list(rest)
        for text in [">=1.5,<1.9", "<1.2", "==1.7.*", ">=3", "", ">=5,<9,!=6.0", "~=1.20", "<4"]:
            spec = SpecifierSet(text)
            expected = any(spec_contains(spec, v) for v in listed)
            assert truth.meets_any(spec, rest) is expected, (name, text)
