"""The run's HTTP client: bodies read in one go (decoded, the connection kept for the next
request, a body that breaks off an error naming the URL), and the environment's proxy settings
still applied host by host although they are worked out once per host."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from indexbuilder import answer, running

from resolver.errors import SourceError
from resolver.http import Http, read_body


def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    with running(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as server:
        yield server.server_address[1]


class Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[int] = set()  # client ports seen: one per connection

    def do_GET(self) -> None:
        Origin.connections.add(self.client_address[1])
        body = b"0123456789" * 50_000  # 500 kB: many of requests' 10 KiB chunks
        if self.path == "/gzip":
            answer(self, gzip.compress(body), ("Content-Encoding", "gzip"))
        elif self.path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", str(len(body) + 100))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
        else:
            answer(self, body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def origin(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    Origin.connections = set()
    yield from serve(Origin)


def test_a_body_is_read_whole_and_decoded_and_the_connection_is_kept(origin):
    http = Http()
    for _ in range(3):
        response = http.get(f"http://127.0.0.1:{origin}/plain")
        assert response.content == b"0123456789" * 50_000
        assert response.text[:10] == "0123456789"
    assert http.get(f"http://127.0.0.1:{origin}/gzip").content == b"0123456789" * 50_000
    streamed = http.get(f"http://127.0.0.1:{origin}/plain", stream=True)
    assert read_body(streamed) == b"0123456789" * 50_000 == streamed.content
    assert len(Origin.connections) == 1  # every request on the first connection


def test_a_body_that_breaks_off_is_an_error_naming_the_url(origin):
    with pytest.raises(SourceError, match=rf"127\.0\.0\.1:{origin}/short"):
        Http().get(f"http://127.0.0.1:{origin}/short")


class Proxy(BaseHTTPRequestHandler):
    """Answers every request itself, saying which URL it was asked for."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        answer(self, f"proxied {self.path}".encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_the_proxy_settings_are_still_decided_host_by_host(origin, monkeypatch):
    proxy = serve(Proxy)
    proxy_port = next(proxy)
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy_port}")
        monkeypatch.setenv("NO_PROXY", "localhost")
        http = Http()
        for _ in range(2):  # settings worked out once per host, and kept apart
            direct = http.get(f"http://localhost:{origin}/plain").content
            assert direct == b"0123456789" * 50_000
            proxied = http.get(f"http://127.0.0.1:{origin}/plain").content
            assert proxied == f"proxied http://127.0.0.1:{origin}/plain".encode()
    finally:
        proxy.close()
