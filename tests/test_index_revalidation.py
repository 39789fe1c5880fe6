"""Index pages kept as parses only: cache headers decide freshness, validators save pages,
``no-store`` is obeyed, a failing index serves the stale parse."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from resolver.http import DEFAULT_EXPIRY, expiry, storable
from resolver.index_provider import IndexProvider

FOO = canonicalize_name("foo")
PAGE = b'<a href="/files/foo-1.0.tar.gz#sha256=ab">foo-1.0.tar.gz</a>'
PAGE_2 = PAGE + b'<a href="/files/foo-2.0.tar.gz#sha256=cd">foo-2.0.tar.gz</a>'


@dataclass
class Page:
    """What the server answers for /simple/foo/, and the headers of each request it got."""

    body: bytes = PAGE
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    etag: str | None = None  # answered with 304 when If-None-Match names it
    requests: list[dict[str, str]] = field(default_factory=list)


@contextmanager
def serve(page: Page) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            page.requests.append(dict(self.headers))
            if self.path != "/simple/foo/":
                status, body, headers = 404, b"", {}
            elif page.etag is not None and self.headers.get("If-None-Match") == page.etag:
                status, body, headers = 304, b"", dict(page.headers)
            else:
                status, body, headers = page.status, page.body, dict(page.headers)
                headers.setdefault("Content-Type", "text/html")
                if page.etag is not None:
                    headers["ETag"] = page.etag
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()


def versions(tmp_path: Path, url: str, warn: object = pytest.fail, **options: object) -> list[str]:
    with IndexProvider(
        index_urls=[url], cache_dir=tmp_path / "cache", warn=warn, speculate=False, **options
    ) as p:
        return [str(f.version) for f in p.files(FOO)]


def test_expiry_reads_cache_headers() -> None:
    now = 1_000_000.0
    assert expiry({}, now) == now + DEFAULT_EXPIRY.total_seconds()
    assert expiry({"Cache-Control": "max-age=600, public"}, now) == now + 600
    assert expiry({"Cache-Control": "public, max-age=600", "Age": "100"}, now) == now + 500
    assert expiry({"Cache-Control": "max-age=60", "Age": "100"}, now) == now
    assert expiry({"Cache-Control": "no-cache, max-age=600"}, now) == now
    assert expiry({"Cache-Control": "max-age=soon"}, now) == now
    assert expiry({"Expires": formatdate(now + 30, usegmt=True)}, now) == now + 30
    assert expiry({"Expires": "0"}, now) == now
    # max-age wins over Expires
    assert expiry({"Cache-Control": "max-age=5", "Expires": formatdate(now + 30)}, now) == now + 5
    assert storable({"Cache-Control": "max-age=600"}) and storable({})
    assert not storable({"Cache-Control": "private, no-store"})


def test_fresh_page_is_not_asked_for_again(tmp_path: Path) -> None:
    page = Page(headers={"Cache-Control": "max-age=600"})
    with serve(page) as url:
        assert versions(tmp_path, url) == versions(tmp_path, url) == ["1.0"]
    assert len(page.requests) == 1


def test_expired_page_is_revalidated_with_its_etag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = Page(headers={"Cache-Control": "max-age=0"}, etag='"v1"')
    with serve(page) as url:
        assert versions(tmp_path, url) == ["1.0"]
        assert "If-None-Match" not in page.requests[0]
        # 304: the stored parse answers, and is fresh again for the 304's max-age.
        monkeypatch.setattr(
            "resolver.index._response_tables", lambda *a, **k: pytest.fail("parsed")
        )
        page.headers = {"Cache-Control": "max-age=600"}
        assert versions(tmp_path, url) == ["1.0"]
        assert page.requests[1]["If-None-Match"] == '"v1"'
        assert versions(tmp_path, url) == ["1.0"]
        assert len(page.requests) == 2
        monkeypatch.undo()
        # Once the 304's max-age is over, a new page (new ETag) replaces the stored one.
        page.headers, page.etag, page.body = {}, '"v2"', PAGE_2
        with monkeypatch.context() as m:
            m.setattr("time.time", lambda: 2e9)
            assert versions(tmp_path, url) == ["1.0", "2.0"]
        assert page.requests[2]["If-None-Match"] == '"v1"'
        assert versions(tmp_path, url) == ["1.0", "2.0"]  # stored in turn
        assert len(page.requests) == 3


def test_expired_page_is_revalidated_with_its_date(tmp_path: Path) -> None:
    when = formatdate(1_700_000_000, usegmt=True)
    page = Page(headers={"Cache-Control": "no-cache", "Last-Modified": when})
    with serve(page) as url:
        versions(tmp_path, url)
        versions(tmp_path, url)
    assert "If-Modified-Since" not in page.requests[0]
    assert page.requests[1]["If-Modified-Since"] == when


def test_no_store_pages_are_not_kept(tmp_path: Path) -> None:
    page = Page(headers={"Cache-Control": "no-store"})
    with serve(page) as url:
        assert versions(tmp_path, url) == versions(tmp_path, url) == ["1.0"]
    assert len(page.requests) == 2
    assert not list((tmp_path / "cache" / "pages").rglob("*"))


def test_stale_page_when_the_index_is_gone(tmp_path: Path) -> None:
    page = Page(headers={"Cache-Control": "max-age=0"})
    with serve(page) as url:
        assert versions(tmp_path, url) == ["1.0"]
    warnings: list[str] = []
    assert versions(tmp_path, url, warn=warnings.append) == ["1.0"]
    assert warnings == [f"{url}foo/ could not be refreshed; using the cached copy"]
    # Without a stored page, the failure is the lock's.
    with pytest.raises(Exception, match="cannot fetch"):
        versions(tmp_path / "other", url)
