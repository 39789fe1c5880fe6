"""The run's HTTP client: bodies read in one go (decoded, the connection kept for the next
request, a body that breaks off an error naming the URL), the environment's proxy settings
still applied host by host although they are worked out once per host, and host names resolved
once per run."""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from indexbuilder import answer, running

from resolver import http as client_module
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


def counting_resolver(monkeypatch: pytest.MonkeyPatch, answer=None) -> list[tuple]:
    """Put a resolver in place of the system's behind resolver.http (the run's memo emptied):
    the questions it is asked, in order."""
    asked: list[tuple] = []
    real = client_module._system_getaddrinfo

    def resolve(*question: object) -> list:
        asked.append(question)
        if answer is not None:
            return answer(*question)
        return real(*question)

    monkeypatch.setattr(client_module, "_system_getaddrinfo", resolve)
    monkeypatch.setattr(client_module, "_ADDRESSES", {})
    monkeypatch.setattr(client_module, "_LOOKUPS", {})
    return asked


def test_a_host_name_is_resolved_once_for_every_connection_of_the_run(origin, monkeypatch):
    asked = counting_resolver(monkeypatch)
    for _ in range(3):  # three clients: three connection pools, three connections
        client = Http()
        assert len(client.get(f"http://localhost:{origin}/").content) == 500_000
        client.close()
    assert len(Origin.connections) == 3
    assert [q[:2] for q in asked] == [("localhost", origin)]


def test_threads_asking_the_same_name_at_once_wait_for_one_lookup(monkeypatch):
    def slow(host, port, *rest):
        time.sleep(0.05)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", port))]

    asked = counting_resolver(monkeypatch, slow)
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: client_module._getaddrinfo("index.example", 443), range(8)))
    assert asked == [("index.example", 443, 0, 0, 0, 0)]
    assert all(
        f == [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", 443))] for f in found
    )
    found[0].clear()  # each caller gets a list of its own
    assert client_module._getaddrinfo("index.example", 443) == found[1]


def test_a_failed_lookup_is_asked_again(monkeypatch):
    failures = [socket.gaierror(socket.EAI_AGAIN, "temporary failure")]

    def flaky(host, port, *rest):
        if failures:
            raise failures.pop()
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.7", port))]

    asked = counting_resolver(monkeypatch, flaky)
    with pytest.raises(socket.gaierror):
        client_module._getaddrinfo("index.example", 443)
    assert client_module._getaddrinfo("index.example", 443)[0][4] == ("192.0.2.7", 443)
    assert len(asked) == 2


class Stalling(BaseHTTPRequestHandler):
    """``/stall``: the first request is answered ("first") only when the test is over (or
    after 20 s), any later one at once ("second"). ``/slow``: every answer begins after 50 ms.
    Other paths are answered at once. Every request is counted."""

    protocol_version = "HTTP/1.1"
    requests: list[str] = []
    over = threading.Event()

    def do_GET(self) -> None:
        Stalling.requests.append(self.path)
        if self.path == "/stall":
            if Stalling.requests.count("/stall") == 1:
                Stalling.over.wait(20)
                answer(self, b"first")
            else:
                answer(self, b"second")
            return
        if self.path == "/slow":
            time.sleep(0.05)
        answer(self, b"at once")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def stalling(origin: int) -> Iterator[int]:  # origin: the proxy variables cleared
    Stalling.requests = []
    Stalling.over = threading.Event()
    server = serve(Stalling)
    try:
        yield next(server)
    finally:
        Stalling.over.set()  # before the server waits for its handlers
        server.close()


def test_a_request_left_unanswered_is_sent_again_and_the_first_answer_taken(stalling, monkeypatch):
    monkeypatch.setattr(client_module, "HEDGE_FIRST", 0.05)
    http = Http()
    assert http.get(f"http://127.0.0.1:{stalling}/stall").content == b"second"
    assert Stalling.requests == ["/stall", "/stall"]
    assert http.get(f"http://127.0.0.1:{stalling}/other").content == b"at once"


def test_a_server_that_answers_is_asked_once_per_request(stalling):
    http = Http()
    for n in range(20):
        assert http.get(f"http://127.0.0.1:{stalling}/{n}").content == b"at once"
    assert Stalling.requests == [f"/{n}" for n in range(20)]


def test_the_deadline_follows_how_long_the_host_takes_to_answer(stalling):
    http = Http()
    host = f"127.0.0.1:{stalling}"
    assert http._deadline(host) == client_module.HEDGE_FIRST  # nothing known yet
    for _ in range(client_module.HEDGE_SAMPLES):
        http.get(f"http://{host}/slow")
    assert http._deadline(host) >= client_module.HEDGE_FACTOR * 0.05  # a slow host: more time
    assert http._deadline("elsewhere:80") == client_module.HEDGE_FIRST
    assert Stalling.requests == ["/slow"] * client_module.HEDGE_SAMPLES
