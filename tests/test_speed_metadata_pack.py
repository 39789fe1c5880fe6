"""The metadata pack (resolver/widths.py, resolver/metadata.py ``use_pack``): a lock made again
from the same inputs reads the cached metadata entries the last one took from one file instead
of one file per version, checks them as it checks the files, and falls back to the files
whenever the pack is missing, damaged or does not apply."""

from __future__ import annotations

import tomlkit

from resolver.index_provider import IndexProvider
from resolver.locker import lock_project
from resolver.lockfile import lock_data, render_lock_data
from resolver.project import load_project
from resolver.widths import Memory

GRAPH = {
    "a": {"1.0": ["b>=1"], "1.1": ["b>=2", "c"]},
    "b": {"1.0": [], "2.0": [], "2.1": []},
    "c": {"0.9": [], "1.0": ["b"]},
}


def served_index(index):
    for name, versions in GRAPH.items():
        for version, requires in versions.items():
            index.add(name, version, requires=requires)
    return index.serve()


def lock(tmp_path, url, *, offline: bool = False, no_cache: bool = False) -> str:
    project_dir = tmp_path / "project"
    project_dir.mkdir(exist_ok=True)
    table = {"name": "demo", "version": "0.1", "requires-python": ">=3.9", "dependencies": ["a"]}
    (project_dir / "pyproject.toml").write_text(tomlkit.dumps({"project": table}))
    provider = IndexProvider(
        index_urls=[url], cache_dir=tmp_path / "cache", offline=offline, no_cache=no_cache
    )
    with provider:
        resolution = lock_project(load_project(project_dir), provider, warn=lambda m: None)
    return render_lock_data(lock_data(resolution), None)


def packs(tmp_path) -> list:
    return sorted((tmp_path / "cache" / "widths").glob("*.pack"))


def read(path) -> dict[str, bytes]:
    return Memory(path.with_suffix(".json")).read_pack()


def damage_metadata_files(tmp_path) -> int:
    damaged = 0
    for path in (tmp_path / "cache" / "metadata").rglob("*"):
        if path.is_file():
            path.write_bytes(b"damaged")
            damaged += 1
    return damaged


def test_a_lock_made_again_takes_its_metadata_from_the_pack(tmp_path, index):
    with served_index(index) as served:
        first = lock(tmp_path, served.url)
    (pack,) = packs(tmp_path)
    entries = read(pack)
    # One entry per version whose metadata the lock read, each a version entry's bytes.
    assert len(entries) >= 3
    assert all(data.startswith(b"aspen-metadata-version\n") for data in entries.values())
    # Offline, with every metadata file in the cache damaged, only the pack can serve them.
    assert damage_metadata_files(tmp_path) > 0
    again = lock(tmp_path, served.url, offline=True)
    assert again == first
    assert read(pack) == entries  # the same entries taken: left as it was


def test_without_the_pack_the_damaged_files_are_a_miss(tmp_path, index):
    with served_index(index) as served:
        first = lock(tmp_path, served.url)
        (pack,) = packs(tmp_path)
        pack.unlink()
        damage_metadata_files(tmp_path)
        # Online, the metadata is fetched again (the files were misses), and the pack written.
        again = lock(tmp_path, served.url)
    assert again == first
    assert read(pack)


def test_a_damaged_pack_is_ignored_and_written_again(tmp_path, index):
    with served_index(index) as served:
        first = lock(tmp_path, served.url)
        (pack,) = packs(tmp_path)
        entries = read(pack)
        data = bytearray(pack.read_bytes())
        data[-5] ^= 0xFF
        pack.write_bytes(bytes(data))
        assert read(pack) == {}  # the CRC tells
        again = lock(tmp_path, served.url, offline=True)
    assert again == first
    assert read(pack) == entries


def test_a_pack_entry_that_no_longer_applies_falls_back_to_the_file(tmp_path, index):
    with served_index(index) as served:
        first = lock(tmp_path, served.url)
        (pack,) = packs(tmp_path)
        old = pack.read_bytes()
        # b 2.1 is uploaded again with another requirement: its page changes, and its old
        # entry (in the pack and in its file) names a file the page no longer lists.
        index._projects["b"] = [f for f in index._projects["b"] if "2.1" not in f.filename]
        index.add("b", "2.1", requires=["d"])
        index.add("d", "1.0")
        index.write()
        for page in (tmp_path / "cache" / "pages").rglob("*"):  # as if each page had expired
            if page.is_file():
                page.unlink()
        changed = lock(tmp_path, served.url)
        assert 'name = "d"' in changed and 'name = "d"' not in first
        assert pack.read_bytes() != old  # b 2.1's new entry recorded
        # The old pack back, and the files' own entries gone: offline, b 2.1's entry in the
        # pack does not apply, and only its version file (written by the last lock) can serve.
        pack.write_bytes(old)
        for entry in (tmp_path / "cache" / "metadata").rglob("*.json"):
            entry.unlink()
        again = lock(tmp_path, served.url, offline=True)
    assert again == changed


def test_no_pack_without_a_cache(tmp_path, index):
    with served_index(index) as served:
        lock(tmp_path, served.url, no_cache=True)
    assert not packs(tmp_path)
