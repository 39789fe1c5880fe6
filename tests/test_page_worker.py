"""Big index pages parsed in a child process (resolver/page_worker.py): the same files, notes
and stored page as a parse in the process, and the process's own parse when the child fails."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from indexbuilder import JSON_TYPE, Index, answer, running
from packaging.utils import canonicalize_name

import resolver.index as index_module
from resolver import page_worker, scratch
from resolver.errors import SourceError
from resolver.http import Http
from resolver.index import SIMPLE_ACCEPT, PageNote, fetch_project_page, project_url
from resolver.index_provider import IndexProvider
from resolver.page_worker import PageWorker
from resolver.parsed_cache import PageCache

FOO = canonicalize_name("foo")


def _foo(index: Index) -> None:
    """foo, whose page has a note on its listing, and bar."""
    index.add("foo", "1.0", requires_python=">=3.8")
    index.add("foo", "1.1", sdist=True, wheel_tags=("py3-none-any", "cp312-cp312-win_amd64"))
    index.add("foo", "2.0", yanked="broken")
    index.add_raw_file("foo", "foo-latest.tar.gz", b"not an archive")  # a note on the listing
    index.add("bar", "1.0")


@pytest.fixture
def every_page_apart(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every page counts as big; the list collects the pages the process parsed itself."""
    monkeypatch.setattr(index_module, "BIG_PAGE", 1)
    parsed_here: list[str] = []
    original = index_module._response_tables

    def spy(body: bytes, content_type: str, page_url: str, **kwargs: object) -> object:
        parsed_here.append(page_url)
        return original(body, content_type, page_url, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(index_module, "_response_tables", spy)
    return parsed_here


def _started(worker: PageWorker) -> None:
    """The worker with all its children started (as many big pages announced)."""
    for _ in worker._children:
        worker.announce()
    assert all(c.process is not None for c in worker._children)


def test_a_big_page_starts_a_child_at_its_headers_and_small_pages_none(
    index: Index, every_page_apart: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _foo(index)
    with index.serve() as served:
        worker = PageWorker()
        try:
            monkeypatch.setattr(index_module, "BIG_PAGE", 1 << 30)  # every page small
            fetch_project_page(Http(), served.url, "foo", warn=lambda m: None, worker=worker)
            assert all(c.process is None for c in worker._children)
            monkeypatch.setattr(index_module, "BIG_PAGE", 1)  # every page big
            fetch_project_page(Http(), served.url, "bar", warn=lambda m: None, worker=worker)
            assert [c.process is not None for c in worker._children] == [True, False]
            fetch_project_page(Http(), served.url, "foo", warn=lambda m: None, worker=worker)
            assert all(c.process is not None for c in worker._children)  # one per big page
        finally:
            worker.close()
    # Parsed here: foo while it was small; bar and foo as big pages went to a child.
    assert every_page_apart == [project_url(served.url, "foo")]


def test_a_big_page_of_unknown_size_is_parsed_here_while_a_child_starts(
    every_page_apart: list[str],
) -> None:
    class Unsized(BaseHTTPRequestHandler):  # HTTP/1.0: the body ends when the connection does
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", JSON_TYPE)
            self.end_headers()
            name = self.path.rstrip("/").rsplit("/", 1)[-1]
            self.wfile.write(json.dumps({"name": name, "files": []}).encode())

        def log_message(self, *args: object) -> None:
            pass

    with running(ThreadingHTTPServer(("127.0.0.1", 0), Unsized)) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        worker = PageWorker()
        try:
            for name in ("foo", "bar"):
                found = fetch_project_page(Http(), url, name, warn=lambda m: None, worker=worker)
                assert found is not None and list(found) == []
            assert [c.process is not None for c in worker._children] == [True, False]
        finally:
            worker.close()
    assert every_page_apart == [project_url(url, "foo")]  # bar went to the child foo started


def test_a_big_page_parsed_in_the_child_reads_as_one_parsed_here(
    tmp_path: Path, index: Index, every_page_apart: list[str]
) -> None:
    _foo(index)
    pages = PageCache(tmp_path / "pages")
    with index.serve() as served:
        worker = PageWorker()
        told: list[str] = []
        try:
            _started(worker)
            apart = fetch_project_page(
                Http(), served.url, "foo", warn=told.append, pages=pages, worker=worker
            )
            process = worker._children[0].process
            assert process is not None and process.poll() is None  # the child is serving
            assert process in scratch._CHILDREN  # ended with the run if the run is cut short
        finally:
            worker.close()
        assert process.poll() is not None and process not in scratch._CHILDREN
        assert every_page_apart == []  # nothing parsed in the process
        told_here: list[str] = []
        here = fetch_project_page(Http(), served.url, "foo", warn=told_here.append)
    assert every_page_apart == [project_url(served.url, "foo")]
    assert apart is not None and here is not None
    assert list(apart) == list(here)
    assert [(f.filename, f.requires_python, f.tags, f.yanked, f.hashes) for f in apart] == [
        (f.filename, f.requires_python, f.tags, f.yanked, f.hashes) for f in here
    ]
    assert told == told_here and told
    assert [type(m) for m in told] == [type(m) for m in told_here]
    assert any(isinstance(m, PageNote) for m in told)
    # The page went to the cache as the child made it, and reads back the same.
    stored = pages.load(project_url(served.url, "foo"), SIMPLE_ACCEPT, FOO)
    assert stored is not None and list(stored.files or ()) == list(here)
    assert list(stored.warnings) == [str(m) for m in told]


def test_a_child_that_fails_leaves_the_parse_to_the_process(
    tmp_path: Path, index: Index, every_page_apart: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _foo(index)
    monkeypatch.setattr(page_worker, "_CHILD", "import sys; sys.exit(3)")
    with index.serve() as served:
        worker = PageWorker()
        try:
            _started(worker)
            foo = fetch_project_page(Http(), served.url, "foo", warn=lambda m: None, worker=worker)
            bar = fetch_project_page(Http(), served.url, "bar", warn=lambda m: None, worker=worker)
        finally:
            worker.close()
        here = fetch_project_page(Http(), served.url, "foo", warn=lambda m: None)
    assert foo is not None and here is not None and list(foo) == list(here)
    assert bar is not None and [f.filename for f in bar] == ["bar-1.0-py3-none-any.whl"]
    assert all(c.process is None and c.broken for c in worker._children)
    assert every_page_apart == [project_url(served.url, n) for n in ("foo", "bar", "foo")]


def test_a_big_page_that_does_not_parse_names_its_url(every_page_apart: list[str]) -> None:
    class Broken(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer(self, b'{"files": [', ("Content-Type", JSON_TYPE))

        def log_message(self, *args: object) -> None:
            pass

    with running(ThreadingHTTPServer(("127.0.0.1", 0), Broken)) as server:
        url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        worker = PageWorker()
        try:
            with pytest.raises(SourceError) as apart:  # announced: parsed by the child
                fetch_project_page(Http(), url, "foo", warn=lambda m: None, worker=worker)
            assert worker._children[0].process is not None  # still there for other pages
        finally:
            worker.close()
        with pytest.raises(SourceError) as here:
            fetch_project_page(Http(), url, "foo", warn=lambda m: None)
    assert str(apart.value) == str(here.value)
    assert "http://127.0.0.1" in str(apart.value) and "invalid JSON" in str(apart.value)
    assert every_page_apart == [project_url(url, "foo")]  # the one parse here


def test_the_provider_ends_its_children_when_it_closes(
    tmp_path: Path, index: Index, every_page_apart: list[str]
) -> None:
    _foo(index)
    with index.serve() as served:
        with IndexProvider(
            index_urls=[served.url], cache_dir=tmp_path / "cache", warn=lambda m: None
        ) as provider:
            provider.files(canonicalize_name("bar"))  # each big page starts a child
            assert [str(f.version) for f in provider.files(FOO)][:1] == ["1.0"]
            processes = [c.process for c in provider._worker._children]  # type: ignore[union-attr]
            assert all(p is not None and p.poll() is None for p in processes)
        assert all(p is not None and p.poll() is not None for p in processes)
        assert every_page_apart == []  # both pages parsed by the children
        # Offline, no child is started.
        with IndexProvider(
            index_urls=[served.url], cache_dir=tmp_path / "cache", offline=True
        ) as provider:
            assert provider._worker is None
            assert len(provider.files(FOO)) == len(
                list(index_module.normalized(provider.files(FOO)))
            )


def test_a_big_page_that_finds_every_child_busy_is_parsed_in_the_process(
    tmp_path: Path, index: Index, every_page_apart: list[str]
) -> None:
    _foo(index)
    with index.serve() as served:
        worker = PageWorker()
        try:
            _started(worker)
            held = worker._children[0].lock
            with held, worker._children[1].lock:  # both busy with other pages
                foo = fetch_project_page(
                    Http(), served.url, "foo", warn=lambda m: None, worker=worker
                )
            with held:  # one busy: the other parses
                bar = fetch_project_page(
                    Http(), served.url, "bar", warn=lambda m: None, worker=worker
                )
        finally:
            worker.close()
        here = fetch_project_page(Http(), served.url, "foo", warn=lambda m: None)
    assert foo is not None and here is not None and list(foo) == list(here)
    assert bar is not None and [f.filename for f in bar] == ["bar-1.0-py3-none-any.whl"]
    assert every_page_apart == [project_url(served.url, "foo")] * 2
