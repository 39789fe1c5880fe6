"""Large index pages are parsed by a worker process: the same tables and notes as a parse in
this process, the same errors, and a worker that dies only sends pages back here."""

from __future__ import annotations

import json
import marshal
from collections.abc import Iterator

import pytest

from resolver import page_worker
from resolver.errors import SourceError
from resolver.index_provider import IndexProvider

URL = "https://example.invalid/simple/demo/"
JSON = "application/vnd.pypi.simple.v1+json"


def _page(count: int) -> bytes:
    files = []
    for i in range(count):
        version = f"1.{i}"
        for name in (f"demo-{version}-py3-none-any.whl", f"demo-{version}.tar.gz"):
            files.append(
                {
                    "filename": name,
                    "url": f"https://files.example.invalid/{name}",
                    "hashes": {"sha256": f"{i:064x}"},
                    # every 100th release states a Requires-Python that does not parse
                    "requires-python": ">=3.6.*" if i % 100 == 0 else ">=3.9",
                    "size": 1000 + i,
                }
            )
    files.append({"filename": "demo-1.0-final0.tar.gz", "url": "x/demo-1.0-final0.tar.gz"})
    return json.dumps({"meta": {"api-version": "1.1"}, "name": "demo", "files": files}).encode()


@pytest.fixture
def worker() -> Iterator[None]:
    page_worker._worker = None
    yield
    if page_worker._worker:
        page_worker._worker.kill()
    page_worker._worker = None


def test_a_large_page_parses_in_the_worker_as_here(worker: None) -> None:
    body = _page(1500)
    assert len(body) >= page_worker.WORKER_FROM
    tables, notes = page_worker.parse_page(body, JSON, URL, index=URL, project="demo")
    assert page_worker._worker and page_worker._worker.poll() is None  # it parsed there
    here, here_notes = page_worker._parse(body, JSON, URL, URL, "demo")
    assert tables == marshal.loads(here) and notes == here_notes
    assert len(tables[0]) == 1500  # versions
    assert any("Requires-Python '>=3.6.*'" in n for n in notes)
    assert any("demo-1.0-final0.tar.gz" in n for n in notes)


def test_a_page_that_does_not_parse_names_its_url(worker: None) -> None:
    body = b"{" + b" " * page_worker.WORKER_FROM
    with pytest.raises(SourceError, match=f"{URL}: invalid JSON"):
        page_worker.parse_page(body, JSON, URL, index=URL, project="demo")
    assert page_worker._worker and page_worker._worker.poll() is None  # and the worker lives on


def test_pages_are_parsed_here_once_the_worker_is_gone(worker: None) -> None:
    body = _page(1500)
    first, _ = page_worker.parse_page(body, JSON, URL, index=URL, project="demo")
    page_worker._worker.kill()
    page_worker._worker.wait()
    again, _ = page_worker.parse_page(body, JSON, URL, index=URL, project="demo")
    assert again == first and page_worker._worker is False


def test_the_provider_reads_a_large_page_from_the_worker(worker: None, tmp_path, index) -> None:
    # A real index served over HTTP, with one project whose page is over the worker's size.
    for i in range(800):  # files whose content does not matter: only the page is read
        index.add_raw_file("big", f"big-1.{i}-py3-none-any.whl", b"", requires_python=">=3.9")
    index.write()
    with index.serve() as served:
        provider = IndexProvider(index_urls=[served.url], cache_dir=tmp_path / "cache")
        files = provider.files("big")
    assert page_worker._worker and page_worker._worker.poll() is None
    assert len({f.version for f in files}) == 800
    assert all(str(f.requires_python) == ">=3.9" for f in files)
