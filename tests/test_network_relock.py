"""Re-locking side by side with uv (network): lock an example, add one dependency, re-lock.
aspen must change no more locked packages than uv, and pick new packages at least as fresh."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import tomlkit
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.network

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BIN = Path(sys.executable).parent


def aspen_versions(project: Path) -> dict[str, set[Version]]:
    out: dict[str, set[Version]] = {}
    for package in tomllib.loads((project / "pylock.toml").read_text())["packages"]:
        out.setdefault(package["name"], set()).add(Version(package["version"]))
    return out


def uv_versions(project: Path, own: str) -> dict[str, set[Version]]:
    out: dict[str, set[Version]] = {}
    for package in tomllib.loads((project / "uv.lock").read_text())["package"]:
        name = canonicalize_name(package["name"])
        if name != own and "version" in package:
            out.setdefault(name, set()).add(Version(package["version"]))
    return out


def changed(before: dict[str, set[Version]], after: dict[str, set[Version]]) -> set[str]:
    """Packages in both locks whose versions differ."""
    return {name for name in before.keys() & after.keys() if before[name] != after[name]}


def add_dependency(project: Path, requirement: str) -> None:
    doc = tomlkit.parse((project / "pyproject.toml").read_text())
    doc["project"]["dependencies"].append(requirement)
    (project / "pyproject.toml").write_text(tomlkit.dumps(doc))


@pytest.mark.parametrize(("example", "added"), [("tiny", "rich"), ("datastack", "httpx")])
def test_adding_a_dependency_changes_no_more_than_uv(tmp_path, example, added):
    mine, theirs = tmp_path / "aspen", tmp_path / "uv"
    for folder in (mine, theirs):
        folder.mkdir()
        shutil.copy(EXAMPLES / example / "pyproject.toml", folder / "pyproject.toml")
    own = canonicalize_name(tomllib.loads((mine / "pyproject.toml").read_text())["project"]["name"])

    def aspen() -> None:
        result = subprocess.run(
            [str(BIN / "aspen"), "lock", "--project", str(mine)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr

    def uv() -> None:
        result = subprocess.run(
            [str(BIN / "uv"), "lock", "--project", str(theirs)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr

    aspen()
    uv()
    mine_before, theirs_before = aspen_versions(mine), uv_versions(theirs, own)
    add_dependency(mine, added)
    add_dependency(theirs, added)
    aspen()
    uv()
    mine_after, theirs_after = aspen_versions(mine), uv_versions(theirs, own)

    assert len(changed(mine_before, mine_after)) <= len(changed(theirs_before, theirs_after))
    new_in_both = (mine_after.keys() - mine_before.keys()) & (
        theirs_after.keys() - theirs_before.keys()
    )
    assert canonicalize_name(added) in new_in_both
    for name in new_in_both:
        assert max(mine_after[name]) >= max(theirs_after[name]), name
