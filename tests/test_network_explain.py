"""Explanations against PyPI: a real conflict explained in a few lines, side by side with uv's
message on the same input, and why-not naming a transitive upper bound."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.network

ASPEN = [sys.executable, "-m", "resolver"]
UV = shutil.which("uv") or str(Path(sys.executable).parent / "uv")


def project(tmp_path: Path, dependencies: list[str]) -> Path:
    deps = ", ".join(f'"{d}"' for d in dependencies)
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "clash"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
        f"dependencies = [{deps}]\n"
    )
    return tmp_path


@pytest.mark.timeout(900)
def test_requests_below_2_beside_a_package_needing_requests_2(tmp_path):
    root = project(tmp_path, ["requests<2", "docker>=7"])
    result = subprocess.run(
        [*ASPEN, "lock", "--project", str(root), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    owners = {
        (r["owner"], r["requirement"].split(";")[0].replace(" ", "")) for r in data["reasons"]
    }
    assert ("clash", "requests<2") in owners
    assert ("clash", "docker>=7") in owners
    assert any(owner == "docker" and req.startswith("requests>=2") for owner, req in owners)
    assert len(data["reasons"]) <= 4
    assert data["fails"] == "every environment"
    # Old requests sdists that no longer build are skipped with warnings first; the
    # explanation itself is the block from "error:" on.
    stderr = result.stderr.splitlines()
    lines = stderr[next(i for i, line in enumerate(stderr) if line.startswith("error:")) :]
    assert len(lines) <= 8, result.stderr
    uv = subprocess.run([UV, "lock", "--project", str(root)], capture_output=True, text=True)
    assert uv.returncode != 0
    print("aspen:\n" + "\n".join(lines) + "\nuv:\n" + uv.stderr)


@pytest.mark.timeout(900)
def test_why_not_names_the_transitive_upper_bound(tmp_path):
    # fastapi pins starlette below some release; ask for a starlette above every fastapi bound.
    root = project(tmp_path, ["fastapi==0.115.0"])
    assert (
        subprocess.run([*ASPEN, "lock", "--project", str(root), "-q"], timeout=800).returncode == 0
    )
    result = subprocess.run(
        [*ASPEN, "why-not", "starlette==0.45.0", "--project", str(root), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=800,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["verdict"] == "impossible"
    reasons = {(r["owner"], r["requirement"]) for r in data["explanation"]["reasons"]}
    assert ("fastapi", "starlette<0.39.0,>=0.37.2") in reasons
