"""Builds of one run that ask for the same build requirements share one environment; a
backend that asks for more gets an environment of its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from indexbuilder import Index, make_sdist

from resolver import build as build_module
from resolver.build import BuildError, BuildSettings, build_metadata

# The backend reports the environment it runs in (sys.prefix) and whether "extra" is importable
# there; it asks for the requirements named in its REQUIRES.
BACKEND = """
import importlib.util, os, sys
REQUIRES = {requires!r}
def get_requires_for_build_wheel(config_settings=None):
    return list(REQUIRES)
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    import helper  # the build requirement every test sdist names
    info = os.path.join(metadata_directory, "{name}-1.0.dist-info")
    os.makedirs(info)
    extra = importlib.util.find_spec("extra") is not None
    with open(os.path.join(info, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: {name}\\nVersion: 1.0\\n")
        f.write("Summary: " + sys.prefix + " " + str(extra) + "\\n")
    return "{name}-1.0.dist-info"
"""


def _sdist(tmp_path: Path, name: str, requires: list[str]) -> Path:
    files = {
        "pyproject.toml": '[build-system]\nrequires = ["helper"]\nbuild-backend = "backend"\n'
        'backend-path = ["."]\n',
        "backend.py": BACKEND.format(name=name, requires=requires),
    }
    return make_sdist(tmp_path / f"{name}-1.0.tar.gz", files)


def _summary(metadata: bytes) -> tuple[Path, bool]:
    line = next(x for x in metadata.decode().splitlines() if x.startswith("Summary: "))
    prefix, extra = line.removeprefix("Summary: ").rsplit(" ", 1)
    return Path(prefix), extra == "True"


@pytest.fixture
def shared() -> Iterator[None]:
    build_module.cleanup()
    yield
    build_module.cleanup()


def test_builds_share_an_environment_per_requirements(
    shared: None, tmp_path: Path, index: Index
) -> None:
    index.add("helper", "1.0")
    index.add("extra", "1.0")
    settings = BuildSettings(find_links=(str(index.write_find_links()),))
    first, first_extra = _summary(build_metadata(_sdist(tmp_path, "one", []), settings))
    second, _ = _summary(build_metadata(_sdist(tmp_path, "two", []), settings))
    assert first == second and first.is_dir() and not first_extra
    # A backend asking for more builds elsewhere, and what it installs stays there.
    own, own_extra = _summary(build_metadata(_sdist(tmp_path, "three", ["extra"]), settings))
    assert own != first and own_extra
    again, again_extra = _summary(build_metadata(_sdist(tmp_path, "four", []), settings))
    assert again == first and not again_extra
    # Other sources, another environment.
    other_links = tmp_path / "other-links"
    index.write_find_links(other_links)
    other, _ = _summary(
        build_metadata(_sdist(tmp_path, "five", []), BuildSettings(find_links=(str(other_links),)))
    )
    assert other != first
    build_module.cleanup()
    assert not first.exists() and not other.exists()


def test_an_environment_that_could_not_be_made_is_tried_again(
    shared: None, tmp_path: Path, index: Index
) -> None:
    links = tmp_path / "links"
    links.mkdir()
    settings = BuildSettings(find_links=(str(links),))
    with pytest.raises(BuildError, match="one-1.0.tar.gz: installing build requirements"):
        build_metadata(_sdist(tmp_path, "one", []), settings)
    index.add("helper", "1.0")
    index.write_find_links(links)  # the requirement is there now: the next build makes it
    prefix, _ = _summary(build_metadata(_sdist(tmp_path, "two", []), settings))
    assert prefix.is_dir()
