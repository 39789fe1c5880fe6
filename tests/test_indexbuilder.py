"""The hermetic index builder produces what it claims: real wheels/sdists, pages, an HTTP server."""

from __future__ import annotations

import base64
import email
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.request
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urldefrag, urljoin

import pytest
from indexbuilder import HTML_TYPE, JSON_TYPE, Index, negotiate, with_extra

UV_ACCEPT = f"{JSON_TYPE}, {HTML_TYPE};q=0.2, text/html;q=0.01"


# -- helpers --------------------------------------------------------------------------------


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


def parse_anchors(page: str) -> list[dict[str, str | None]]:
    parser = _Anchors()
    parser.feed(page)
    return parser.anchors


def anchors(page: str) -> dict[str, dict[str, str | None]]:
    """The anchors of a project page, keyed by the filename at the end of the href."""
    return {urldefrag(a["href"] or "")[0].rsplit("/", 1)[-1]: a for a in parse_anchors(page)}


def fetch(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``url`` with ``headers``; HTTP errors are returned, not raised."""
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except HTTPError as error:
        return error.code, dict(error.headers), error.read()


def head(url: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, dict(response.headers), response.read()


def metadata_of(data: bytes) -> email.message.Message:
    return email.message_from_bytes(data)


def wheel_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def tar_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def uv() -> str:
    path = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if path is None:
        pytest.skip("uv is not installed")
    return path


def uv_install(tmp_path: Path, *args: str) -> Path:
    target = tmp_path / "target"
    env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_PYTHON_DOWNLOADS": "never"}
    command = [uv(), "pip", "install", "--no-config", "--python", sys.executable]
    command += ["--target", str(target), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return target


def import_versions(target: Path, *modules: str) -> list[str]:
    names = ", ".join(modules)
    code = f"import {names}; print(' '.join(m.VERSION for m in [{names}]))"
    env = {**os.environ, "PYTHONPATH": str(target)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


# -- wheels ---------------------------------------------------------------------------------


def test_wheel_is_complete_and_record_hashes_match(index: Index) -> None:
    index.add(
        "Foo.Bar",
        "1.0-rc1",
        requires=["bar>=2,<3"],
        requires_python=">=3.8",
        extras={"x": ['dep; python_version < "3.10"', "other"]},
    )
    index.write()
    assert index.filenames("foo-bar") == ["foo_bar-1.0rc1-py3-none-any.whl"]
    members = wheel_members(index.files_dir / "foo_bar-1.0rc1-py3-none-any.whl")
    dist_info = "foo_bar-1.0rc1.dist-info"
    assert set(members) == {
        "foo_bar/__init__.py",
        f"{dist_info}/METADATA",
        f"{dist_info}/WHEEL",
        f"{dist_info}/RECORD",
    }
    assert members["foo_bar/__init__.py"] == b'VERSION = "1.0rc1"\n'

    meta = metadata_of(members[f"{dist_info}/METADATA"])
    assert meta["Metadata-Version"] == "2.3"
    assert (meta["Name"], meta["Version"]) == ("Foo.Bar", "1.0rc1")
    assert meta["Requires-Python"] == ">=3.8"
    assert meta.get_all("Provides-Extra") == ["x"]
    assert meta.get_all("Requires-Dist") == [
        "bar>=2,<3",
        'dep; (python_version < "3.10") and extra == "x"',
        'other; extra == "x"',
    ]

    wheel = metadata_of(members[f"{dist_info}/WHEEL"])
    assert wheel["Wheel-Version"] == "1.0"
    assert wheel["Root-Is-Purelib"] == "true"
    assert wheel.get_all("Tag") == ["py3-none-any"]

    rows = [line.split(",") for line in members[f"{dist_info}/RECORD"].decode().splitlines()]
    assert {row[0] for row in rows} == set(members)
    for path, digest, size in rows:
        if path.endswith("RECORD"):
            assert (digest, size) == ("", "")
        else:
            assert digest == f"sha256={record_hash(members[path])}"
            assert int(size) == len(members[path])


def test_one_wheel_per_tag_with_expanded_tags(index: Index) -> None:
    tags = ("cp312-cp312-manylinux_2_17_x86_64", "py2.py3-none-any", "cp39-abi3-win_amd64")
    index.add("native-pkg", "2.0", wheel_tags=tags)
    index.write()
    assert index.filenames("native_pkg") == [f"native_pkg-2.0-{tag}.whl" for tag in tags]
    expected = {
        tags[0]: (["cp312-cp312-manylinux_2_17_x86_64"], "false"),
        tags[1]: (["py2-none-any", "py3-none-any"], "true"),
        tags[2]: (["cp39-abi3-win_amd64"], "false"),
    }
    for tag, (tag_lines, purelib) in expected.items():
        members = wheel_members(index.files_dir / f"native_pkg-2.0-{tag}.whl")
        wheel = metadata_of(members["native_pkg-2.0.dist-info/WHEEL"])
        assert (wheel.get_all("Tag"), wheel["Root-Is-Purelib"]) == (tag_lines, purelib)


def test_with_extra_combines_markers() -> None:
    assert with_extra("dep", "x") == 'dep; extra == "x"'
    assert with_extra('dep>=1; python_version < "3.10"', "x") == (
        'dep>=1; (python_version < "3.10") and extra == "x"'
    )
    assert with_extra('dep; os_name == "nt" or sys_platform == "linux"', "y") == (
        'dep; (os_name == "nt" or sys_platform == "linux") and extra == "y"'
    )
    assert with_extra('dep @ https://example.invalid/dep.whl ; os_name == "nt"', "z") == (
        'dep @ https://example.invalid/dep.whl ; (os_name == "nt") and extra == "z"'
    )


def test_padding_and_metadata_version(index: Index) -> None:
    index.add("big", "1.0", wheel_padding=100_000, metadata_version="2.1", sdist=True)
    index.write()
    wheel = index.files_dir / "big-1.0-py3-none-any.whl"
    assert wheel.stat().st_size > 100_000
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo("big/_payload.bin")
        assert (info.compress_type, info.file_size) == (zipfile.ZIP_STORED, 100_000)
        assert metadata_of(archive.read("big-1.0.dist-info/METADATA"))["Metadata-Version"] == "2.1"
    pkg_info = tar_members(index.files_dir / "big-1.0.tar.gz")["big-1.0/PKG-INFO"]
    assert metadata_of(pkg_info)["Metadata-Version"] == "2.2"


# -- sdists ---------------------------------------------------------------------------------


def test_static_sdist(index: Index) -> None:
    index.add("Foo.Bar", "1.0", requires=["bar"], requires_python=">=3.9", sdist=True, wheel=False)
    index.write()
    assert index.filenames("foo.bar") == ["foo_bar-1.0.tar.gz"]
    sdist = index.files_dir / "foo_bar-1.0.tar.gz"
    assert sdist.read_bytes()[4:8] == b"\0\0\0\0"  # gzip header mtime
    members = tar_members(sdist)
    assert set(members) == {
        "foo_bar-1.0/PKG-INFO",
        "foo_bar-1.0/pyproject.toml",
        "foo_bar-1.0/aspen_test_backend.py",
        "foo_bar-1.0/foo_bar/__init__.py",
    }
    pkg_info = metadata_of(members["foo_bar-1.0/PKG-INFO"])
    assert pkg_info["Metadata-Version"] == "2.3"
    assert pkg_info.get_all("Dynamic") is None
    assert pkg_info.get_all("Requires-Dist") == ["bar"]
    assert pkg_info["Requires-Python"] == ">=3.9"
    build_system = tomllib.loads(members["foo_bar-1.0/pyproject.toml"].decode())["build-system"]
    assert build_system == {
        "requires": [],
        "build-backend": "aspen_test_backend",
        "backend-path": ["."],
    }
    with tarfile.open(sdist) as archive:
        assert {(m.mtime, m.uid, m.gid, m.uname) for m in archive.getmembers()} == {
            (1577836800, 0, 0, "")
        }


def test_dynamic_sdist_hides_requirements(index: Index) -> None:
    index.add("dyn", "1.0", requires=["bar"], requires_python=">=3.9", extras={"x": ["baz"]},
              sdist=True, sdist_dynamic=True)  # fmt: skip
    index.write()
    members = tar_members(index.files_dir / "dyn-1.0.tar.gz")
    pkg_info = metadata_of(members["dyn-1.0/PKG-INFO"])
    assert pkg_info.get_all("Dynamic") == ["Requires-Dist", "Requires-Python"]
    assert pkg_info.get_all("Requires-Dist") is None
    assert pkg_info["Requires-Python"] is None
    assert pkg_info.get_all("Provides-Extra") == ["x"]
    assert b"Requires-Dist: bar" in members["dyn-1.0/aspen_test_backend.py"]


def extract_sdist(index: Index, filename: str, into: Path) -> Path:
    with tarfile.open(index.files_dir / filename) as archive:
        archive.extractall(into, filter="data")
    return into / filename.removesuffix(".tar.gz")


def test_dynamic_sdist_builds_through_pep517_hooks(index: Index, tmp_path: Path) -> None:
    hooks = pytest.importorskip("pyproject_hooks")
    index.add("dyn", "1.0", requires=["bar>=2"], requires_python=">=3.9", extras={"x": ["baz"]},
              sdist=True, sdist_dynamic=True)  # fmt: skip
    index.write()
    source = extract_sdist(index, "dyn-1.0.tar.gz", tmp_path / "src")
    caller = hooks.BuildBackendHookCaller(
        str(source), "aspen_test_backend", backend_path=["."], python_executable=sys.executable
    )
    assert caller.get_requires_for_build_wheel() == []
    meta_dir = tmp_path / "meta"
    meta_dir.mkdir()
    dist_info = caller.prepare_metadata_for_build_wheel(str(meta_dir))
    meta = metadata_of((meta_dir / dist_info / "METADATA").read_bytes())
    assert meta.get_all("Requires-Dist") == ["bar>=2", 'baz; extra == "x"']
    assert meta["Requires-Python"] == ">=3.9"

    out = tmp_path / "out"
    out.mkdir()
    wheel = out / caller.build_wheel(str(out))
    assert wheel.name == "dyn-1.0-py3-none-any.whl"
    members = wheel_members(wheel)
    assert members["dyn/__init__.py"] == b'VERSION = "1.0"\n'
    assert members["dyn-1.0.dist-info/METADATA"] == (meta_dir / dist_info / "METADATA").read_bytes()
    sdist = out / caller.build_sdist(str(out))
    assert set(tar_members(sdist)) == set(tar_members(index.files_dir / "dyn-1.0.tar.gz"))


def test_sdist_builds_with_python_build(index: Index, tmp_path: Path) -> None:
    pytest.importorskip("build")
    index.add("dyn", "1.0", requires=["bar"], sdist=True, sdist_dynamic=True)
    index.write()
    source = extract_sdist(index, "dyn-1.0.tar.gz", tmp_path / "src")
    out = tmp_path / "dist"
    command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out)]
    result = subprocess.run([*command, str(source)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    members = wheel_members(out / "dyn-1.0-py3-none-any.whl")
    assert metadata_of(members["dyn-1.0.dist-info/METADATA"]).get_all("Requires-Dist") == ["bar"]


def test_broken_sdist_fails_in_every_hook(index: Index, tmp_path: Path) -> None:
    hooks = pytest.importorskip("pyproject_hooks")
    index.add("old", "0.1", sdist=True, wheel=False, sdist_broken=True)
    index.write()
    source = extract_sdist(index, "old-0.1.tar.gz", tmp_path / "src")
    caller = hooks.BuildBackendHookCaller(
        str(source), "aspen_test_backend", backend_path=["."], python_executable=sys.executable
    )
    out = str(tmp_path)
    for call in (
        caller.get_requires_for_build_wheel,
        lambda: caller.prepare_metadata_for_build_wheel(out, _allow_fallback=False),
        lambda: caller.build_wheel(out),
        lambda: caller.build_sdist(out),
    ):
        with pytest.raises(subprocess.CalledProcessError):
            call()


# -- installing -----------------------------------------------------------------------------


def test_uv_installs_wheels_and_builds_dynamic_sdist(index: Index, tmp_path: Path) -> None:
    index.add("foo", "1.0", requires=["bar"], wheel_tags=("py3-none-any",))
    index.add("bar", "2.0", requires=["baz"], sdist=True, wheel=False, sdist_dynamic=True)
    index.add("baz", "3.0", wheel_tags=("py2.py3-none-any",))
    links = index.write_find_links()
    target = uv_install(tmp_path, "--no-index", "--find-links", str(links), "foo==1.0")
    assert import_versions(target, "foo", "bar", "baz") == ["1.0", "2.0", "3.0"]


def test_uv_installs_from_served_index(index: Index, tmp_path: Path) -> None:
    index.add("foo", "1.0", extras={"fast": ["bar"]})
    index.add("foo", "0.9")
    index.add("bar", "2.0")
    with index.serve() as served:
        target = uv_install(tmp_path, "--index-url", served.url, "foo[fast]")
    assert import_versions(target, "foo", "bar") == ["1.0", "2.0"]
    paths = [path for _, path, _ in served.requests]
    assert "/simple/foo/" in paths
    assert "/files/foo-1.0-py3-none-any.whl.metadata" in paths  # PEP 658 used
    assert "/files/foo-1.0-py3-none-any.whl" in paths


@pytest.mark.parametrize("ranges", [True, False])
def test_uv_reads_metadata_by_range_without_core_metadata_attr(
    index: Index, tmp_path: Path, ranges: bool
) -> None:
    """A real client takes the byte-range path when the index hides PEP 658 and allows ranges."""
    index.add("foo", "1.0", requires=["bar"], wheel_padding=200_000)
    index.add("bar", "2.0", wheel_padding=200_000)
    env = {**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache")}
    with index.serve(core_metadata_attr=False, ranges=ranges) as served:
        command = [uv(), "pip", "compile", "--no-config", "-", "--python-version", "3.11"]
        result = subprocess.run(
            [*command, "--index-url", served.url],
            input="foo\n", env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "bar==2.0" in result.stdout
    wheel_gets = [r for r in served.requests if r[0] == "GET" and r[1].endswith(".whl")]
    assert not [r for r in served.requests if r[1].endswith(".metadata")]
    assert len(wheel_gets) == 2
    # With ranges uv reads only the tail; without Accept-Ranges it must download whole wheels.
    assert all((rng is not None) == ranges for _, _, rng in wheel_gets)


# -- pages ----------------------------------------------------------------------------------


def sample(index: Index) -> None:
    index.add("foo", "1.0", requires_python=">=3.8", sdist=True, upload_time="2023-05-06T07:08:09Z")
    index.add("foo", "1.1", yanked="", wheel_tags=("py3-none-any", "cp312-abi3-win_amd64"))
    index.add("foo", "1.2", yanked="broken <build>")
    index.add_raw_file("foo", "foo-latest.tar.gz", b"not an sdist")
    index.add("Other_Project", "0.1")


def test_html_pages(index: Index) -> None:
    sample(index)
    simple = index.write()
    assert index.simple_url.startswith("file://") and index.simple_url.endswith("/simple/")
    root_page = (simple / "index.html").read_text()
    assert [a["href"] for a in parse_anchors(root_page)] == ["foo/", "other-project/"]
    page_url = urljoin(index.simple_url, "foo/index.html")
    with urllib.request.urlopen(page_url) as response:
        page = response.read().decode()
    assert 'data-requires-python="&gt;=3.8"' in page
    links = anchors(page)
    assert list(links) == index.filenames("foo")
    for filename, attrs in links.items():
        url, fragment = urldefrag(urljoin(page_url, attrs["href"]))
        with urllib.request.urlopen(url) as response:
            content = response.read()
        assert fragment == f"sha256={hashlib.sha256(content).hexdigest()}"
        if filename.endswith(".whl"):
            with urllib.request.urlopen(url + ".metadata") as response:
                metadata = response.read()
            digest = f"sha256={hashlib.sha256(metadata).hexdigest()}"
            assert attrs["data-core-metadata"] == attrs["data-dist-info-metadata"] == digest
            dist_info = f"foo-{filename.split('-')[1]}.dist-info"
            assert metadata == wheel_members(index.files_dir / filename)[f"{dist_info}/METADATA"]
        else:
            assert "data-core-metadata" not in attrs
    assert links["foo-1.0-py3-none-any.whl"]["data-requires-python"] == ">=3.8"
    assert "data-yanked" not in links["foo-1.0-py3-none-any.whl"]
    assert links["foo-1.1-py3-none-any.whl"]["data-yanked"] == ""
    assert links["foo-1.2-py3-none-any.whl"]["data-yanked"] == "broken <build>"
    assert 'data-yanked="broken &lt;build&gt;"' in page


def test_json_pages(index: Index) -> None:
    sample(index)
    simple = index.write()
    root = json.loads((simple / "index.json").read_text())
    assert root == {
        "meta": {"api-version": "1.1"},
        "projects": [{"name": "foo"}, {"name": "other-project"}],
    }
    page = json.loads((simple / "foo" / "index.json").read_text())
    assert page["meta"] == {"api-version": "1.1"}
    assert page["name"] == "foo"
    assert page["versions"] == ["1.0", "1.1", "1.2"]
    files = {f["filename"]: f for f in page["files"]}
    assert list(files) == index.filenames("foo")
    for filename, entry in files.items():
        content = (index.files_dir / filename).read_bytes()
        assert (simple / "foo" / entry["url"]).resolve() == (index.files_dir / filename).resolve()
        assert entry["hashes"] == {"sha256": hashlib.sha256(content).hexdigest()}
        assert entry["size"] == len(content)
    wheel = files["foo-1.0-py3-none-any.whl"]
    assert wheel["requires-python"] == ">=3.8"
    assert wheel["upload-time"] == "2023-05-06T07:08:09Z"
    metadata = (index.files_dir / "foo-1.0-py3-none-any.whl.metadata").read_bytes()
    assert wheel["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
    assert wheel["dist-info-metadata"] == wheel["core-metadata"]
    assert wheel["yanked"] is False
    assert files["foo-1.0.tar.gz"]["core-metadata"] is False
    assert "requires-python" not in files["foo-1.2-py3-none-any.whl"]
    assert files["foo-1.1-py3-none-any.whl"]["yanked"] is True
    assert files["foo-1.2-py3-none-any.whl"]["yanked"] == "broken <build>"
    assert files["foo-latest.tar.gz"]["upload-time"] == "2024-01-01T00:00:00.000000Z"


def test_write_flags(index: Index) -> None:
    sample(index)
    index.write()
    simple = index.write(json=False, core_metadata_attr=False)
    assert not (simple / "index.json").exists() and not (simple / "foo" / "index.json").exists()
    assert (index.files_dir / "foo-1.0-py3-none-any.whl.metadata").exists()
    assert "data-core-metadata" not in (simple / "foo" / "index.html").read_text()

    simple = index.write(html=False, metadata_files=False)
    assert not (simple / "index.html").exists() and not (simple / "foo" / "index.html").exists()
    assert not list(index.files_dir.glob("*.metadata"))
    page = json.loads((simple / "foo" / "index.json").read_text())
    assert all(f["core-metadata"] is False for f in page["files"])


def test_raw_files_and_find_links(index: Index, tmp_path: Path) -> None:
    index.add("foo", "1.0", sdist=True)
    index.add_raw_file("foo", "foo-latest.tar.gz", b"junk")
    index.add_raw_file("foo", "foo-0.5-py3-none-any.whl", b"junk", metadata=b"Name: bar\n")
    index.write()
    assert (index.files_dir / "foo-latest.tar.gz").read_bytes() == b"junk"
    assert (index.files_dir / "foo-0.5-py3-none-any.whl.metadata").read_bytes() == b"Name: bar\n"
    page = json.loads((index.simple_dir / "foo" / "index.json").read_text())
    assert page["versions"] == ["0.5", "1.0"]
    links = index.write_find_links(tmp_path / "links")
    assert sorted(p.name for p in links.iterdir()) == sorted(index.filenames("foo"))
    assert index.write_find_links() == index.root / "find-links"
    with pytest.raises(ValueError):
        index.add_raw_file("foo", "foo-latest.tar.gz", b"again")


def test_output_is_deterministic(tmp_path: Path) -> None:
    def build(root: Path) -> dict[str, bytes]:
        index = Index(root)
        sample(index)
        index.add("dyn", "1.0", requires=["x"], sdist=True, sdist_dynamic=True, wheel_padding=999)
        index.write()
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    first, second = build(tmp_path / "a"), build(tmp_path / "b")
    assert len(first) > 10
    assert first == second


# -- HTTP -----------------------------------------------------------------------------------


def test_content_negotiation(index: Index) -> None:
    sample(index)
    with index.serve() as served:
        project = served.url + "foo/"
        status, headers, body = fetch(project, Accept=JSON_TYPE)
        assert (status, headers["Content-Type"]) == (200, JSON_TYPE)
        assert json.loads(body)["name"] == "foo"
        assert headers["Vary"] == "Accept"
        assert fetch(project, Accept=UV_ACCEPT)[1]["Content-Type"] == JSON_TYPE
        assert fetch(project, Accept="application/vnd.pypi.simple.latest+json")[0] == 200
        status, headers, body = fetch(project, Accept="text/html")
        assert headers["Content-Type"].startswith("text/html") and body.startswith(b"<!DOCTYPE")
        assert fetch(project, Accept=HTML_TYPE)[1]["Content-Type"].startswith(HTML_TYPE)
        assert fetch(project)[1]["Content-Type"].startswith("text/html")
        assert fetch(served.url, Accept=JSON_TYPE)[2].startswith(b"{")
        assert fetch(project, Accept="image/png")[0] == 406

    with index.serve(json=False) as served:
        status, headers, _ = fetch(served.url + "foo/", Accept=UV_ACCEPT)
        assert (status, headers["Content-Type"]) == (200, f"{HTML_TYPE}; charset=utf-8")
        assert fetch(served.url + "foo/", Accept=JSON_TYPE)[0] == 406

    with index.serve(html=False) as served:
        assert fetch(served.url + "foo/", Accept="text/html")[0] == 406
        assert fetch(served.url + "foo/", Accept="*/*")[1]["Content-Type"] == JSON_TYPE


def test_negotiate_q_values() -> None:
    both = ["text/html", HTML_TYPE, JSON_TYPE]
    assert negotiate(None, both) == "text/html"
    assert negotiate("*/*", [JSON_TYPE]) == JSON_TYPE
    assert negotiate(f"text/html;q=0.5, {JSON_TYPE};q=0.9", both) == JSON_TYPE
    assert negotiate(f"{JSON_TYPE};q=0, text/html", both) == "text/html"
    assert negotiate(f"{HTML_TYPE}, {JSON_TYPE}", both) == HTML_TYPE
    assert negotiate("text/plain", both) is None


def test_pages_and_files_over_http_match_disk(index: Index) -> None:
    sample(index)
    with index.serve() as served:
        page_url = served.url + "foo/"
        _, _, body = fetch(page_url)
        for filename, attrs in anchors(body.decode()).items():
            url, fragment = urldefrag(urljoin(page_url, attrs["href"]))
            status, headers, content = fetch(url)
            assert status == 200 and headers["Accept-Ranges"] == "bytes"
            assert content == (index.files_dir / filename).read_bytes()
            assert fragment == f"sha256={hashlib.sha256(content).hexdigest()}"
        # without the trailing slash: redirected
        status, _, body = fetch(served.url + "foo")
        assert status == 200 and b"Links for foo" in body
        assert ("GET", "/simple/foo", None) in served.requests
        assert fetch(served.origin + "/nothing-here")[0] == 404
        assert fetch(served.origin + "/../../etc/passwd")[0] in (400, 404)


def test_range_requests(index: Index) -> None:
    index.add("foo", "1.0", wheel_padding=5000)
    with index.serve() as served:
        url = served.origin + "/files/foo-1.0-py3-none-any.whl"
        whole = (index.files_dir / "foo-1.0-py3-none-any.whl").read_bytes()
        size = len(whole)
        status, headers, _ = head(url)
        assert (status, int(headers["Content-Length"])) == (200, size)
        assert headers["Accept-Ranges"] == "bytes"

        cases = {
            "bytes=0-9": (0, 9),
            "bytes=100-": (100, size - 1),
            "bytes=-22": (size - 22, size - 1),
            f"bytes=10-{size + 50}": (10, size - 1),
            f"bytes=-{size * 2}": (0, size - 1),
        }
        for header, (first, last) in cases.items():
            status, headers, body = fetch(url, Range=header)
            assert status == 206, header
            assert headers["Content-Range"] == f"bytes {first}-{last}/{size}"
            assert body == whole[first : last + 1]
            assert int(headers["Content-Length"]) == len(body)

        status, headers, body = fetch(url, Range=f"bytes={size}-")
        assert (status, headers["Content-Range"], body) == (416, f"bytes */{size}", b"")
        assert fetch(url, Range="bytes=0-1,5-6")[0] == 200  # multi-range: whole body
        assert fetch(url, Range="bytes=9-3")[0] == 200

        # Reading METADATA lazily from the tail only never downloads the whole wheel.
        served.requests.clear()
        _, _, tail = fetch(url, Range="bytes=-4096")
        assert tail == whole[-4096:]
        assert served.requests == [("GET", "/files/foo-1.0-py3-none-any.whl", "bytes=-4096")]
        assert not [r for r in served.requests if r[1].endswith(".whl") and r[2] is None]


def test_ranges_disabled(index: Index) -> None:
    index.add("foo", "1.0")
    with index.serve(ranges=False) as served:
        url = served.origin + "/files/foo-1.0-py3-none-any.whl"
        status, headers, body = fetch(url, Range="bytes=0-9")
        assert status == 200 and "Accept-Ranges" not in headers and "Content-Range" not in headers
        assert body == (index.files_dir / "foo-1.0-py3-none-any.whl").read_bytes()
        assert "Accept-Ranges" not in head(url)[1]
        assert served.requests[0] == ("GET", "/files/foo-1.0-py3-none-any.whl", "bytes=0-9")


def test_metadata_files_without_attribute_are_served(index: Index) -> None:
    index.add("foo", "1.0")
    with index.serve(core_metadata_attr=False, json=False) as served:
        _, _, page = fetch(served.url + "foo/")
        assert b"data-core-metadata" not in page
        status, _, metadata = fetch(served.origin + "/files/foo-1.0-py3-none-any.whl.metadata")
        assert status == 200 and metadata.startswith(b"Metadata-Version: 2.3")
    with index.serve(metadata_files=False) as served:
        assert fetch(served.origin + "/files/foo-1.0-py3-none-any.whl.metadata")[0] == 404


def test_fail_paths_and_delay(index: Index) -> None:
    index.add("foo", "1.0")
    index.add("bar", "1.0")
    with index.serve(fail_paths={"/simple/foo/"}, delay=0.2) as served:
        start = time.monotonic()
        assert fetch(served.url + "foo/")[0] == 500
        assert time.monotonic() - start >= 0.2
        assert fetch(served.url + "bar/")[0] == 200
        served.fail_paths.clear()
        served.delay = 0
        assert fetch(served.url + "foo/")[0] == 200
        assert [m for m, _, _ in served.requests] == ["GET"] * 3
