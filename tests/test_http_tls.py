"""TLS: one context per CA bundle for the whole run, and certificates still verified."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from indexbuilder import answer, running

from resolver import http as client_module
from resolver.errors import SourceError
from resolver.http import Http

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost`` only (not for 127.0.0.1)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=DNS:localhost"],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def port(certificate: tuple[Path, Path]) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            answer(self, b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with running(server):
        yield server.server_address[1]
        server.server_close()


def test_many_connections_share_one_context(
    port: int, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    monkeypatch.setattr(client_module, "_TLS", {})  # the contexts of the run
    made: list[tuple] = []
    real = client_module._tls_context

    def counted(*bundle: str | None) -> ssl.SSLContext:
        made.append(bundle)
        return real(*bundle)

    monkeypatch.setattr(client_module, "_tls_context", counted)
    http = Http()
    url = f"https://localhost:{port}/"
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: http.get(url).status_code, range(16)))
    assert statuses == [200] * 16
    # Begun before the first request (prepare_tls), and used by every connection.
    assert list(client_module._TLS) == [(str(certificate[0]), None)]
    assert made[0] == (str(certificate[0]), None) and len(set(made)) == 1
    http.close()


def test_certificates_are_still_verified(
    port: int, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED"):
        Http().get(f"https://localhost:{port}/")  # not signed by a known authority
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    http = Http()
    assert http.get(f"https://localhost:{port}/").status_code == 200
    with pytest.raises(SourceError, match="CERTIFICATE_VERIFY_FAILED.*mismatch"):
        http.get(f"https://127.0.0.1:{port}/")  # the certificate names localhost only


def test_a_ca_bundle_that_cannot_be_loaded_is_an_error_naming_it(
    port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    damaged = tmp_path / "damaged.pem"
    damaged.write_text("not a certificate\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(damaged))
    with pytest.raises(SourceError, match=f"CA certificates in {damaged}"):
        Http().get(f"https://localhost:{port}/")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(SourceError, match=f"localhost:{port}/.*{tmp_path / 'missing.pem'}"):
        Http().get(f"https://localhost:{port}/")


def test_the_thread_that_loads_the_ca_bundle_imports_nothing() -> None:
    # Two threads importing modules that import each other in other orders can deadlock (Python
    # then raises _DeadlockError in one): the thread prepare_tls starts must find every module
    # it uses imported already, while the first request goes on importing requests.
    script = """
import sys, threading
from resolver import http
before = set(sys.modules)
http.prepare_tls()
started = set(sys.modules) - before
for thread in threading.enumerate():
    if thread.name == "aspen-tls":
        thread.join()
print(sorted(set(sys.modules) - before - started), "requests" in sys.modules, len(http._TLS))
"""
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split() == ["[]", "False", "1"]
