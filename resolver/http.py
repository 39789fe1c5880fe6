"""HTTP access for one run: plain GETs, and how long an index's answer may be kept.

Nothing here caches responses: what a lock needs of a response is kept parsed instead (index
pages in ``resolver.parsed_cache`` with the response's validators and expiry, core metadata in
``resolver.metadata``'s cache), which a warm run reads without HTTP and ``--offline`` serves.
An HTTP cache beside them would store every page twice and cost more CPU per request than the
request itself (pickling, compressing and writing multi-MB pages to SQLite).

``requests`` is imported only when the first http(s) URL is fetched: importing it costs about
0.1 s, and a warm lock that needs no network must not pay it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from contextlib import suppress
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from resolver.errors import SourceError
from resolver.trace import trace

if TYPE_CHECKING:
    import ssl
    from concurrent.futures import Future, ThreadPoolExecutor

    import requests
    import requests.adapters

__all__ = [
    "Http",
    "OfflineError",
    "default_cache_dir",
    "expiry",
    "make_session",
    "read_body",
    "storable",
    "user_agent",
]

# Connect and read timeouts, in seconds, for every request.
TIMEOUT = (15.0, 60.0)
# Responses without cache headers (some mirrors send none, not even a validator) are fresh this
# long, as long as PyPI's own max-age; stale ones stay in the cache so that ``--offline`` can serve
# them.
DEFAULT_EXPIRY = timedelta(minutes=10)
POOL_SIZE = 32
# Hedged requests (``Http._hedged``). files.pythonhosted.org answers some requests seconds late:
# of 421 in 12 cold locks of examples/tiny, the median began its answer after 9 ms and the 99th
# percentile after 0.14 s, but in other runs single requests waited 1 to 7 s for their headers,
# on connections that had just served others at once (about one run in four; uv, asking for
# fewer files, met none in the same period). A request without an answer by its host's deadline
# is sent again and the first answer is taken. The first deadline was 1 s: in 16 cold locks of
# tiny, 4 took 1.2-1.5 s, with requests of 0.6-1.0 s; at 0.4 s, none of 16 took 1 s.
HEDGE_FIRST = 0.4  # the deadline, in seconds, until a host has answered HEDGE_SAMPLES requests
HEDGE_SAMPLES = 8
HEDGE_FACTOR = 10  # then this many times the median time of its last answers,
HEDGE_MIN = 0.3  # and at least this


class OfflineError(SourceError):
    """``--offline`` was given and a URL the lock needs is not in the cache."""


def default_cache_dir() -> Path:
    """``$ASPEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/aspen``, else ``~/.cache/aspen``."""
    if explicit := os.environ.get("ASPEN_CACHE_DIR"):
        return Path(explicit)
    if xdg := os.environ.get("XDG_CACHE_HOME"):
        return Path(xdg) / "aspen"
    return Path.home() / ".cache" / "aspen"


def user_agent() -> str:
    """``aspen/<version>``, the User-Agent of every request."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"aspen/{version('aspen')}"
    except PackageNotFoundError:
        return "aspen/0+unknown"


def _directives(headers: Mapping[str, str]) -> dict[str, str | None]:
    """``Cache-Control: max-age=600, public`` as ``{"max-age": "600", "public": None}``."""
    found: dict[str, str | None] = {}
    for part in headers.get("Cache-Control", "").split(","):
        name, sep, value = part.strip().partition("=")
        if name:
            found[name.lower()] = value.strip().strip('"') if sep else None
    return found


def storable(headers: Mapping[str, str]) -> bool:
    """Whether a response may be kept (not ``Cache-Control: no-store``)."""
    return "no-store" not in _directives(headers)


def expiry(headers: Mapping[str, str], now: float | None = None) -> float:
    """Until when (POSIX time) a response with these headers is fresh, as HTTP caching reads
    them: ``no-cache`` (revalidate every time), else ``max-age`` less ``Age``, else ``Expires``,
    else ``DEFAULT_EXPIRY``."""
    now = time.time() if now is None else now
    directives = _directives(headers)
    if "no-cache" in directives:
        return now
    max_age = directives.get("max-age")
    if max_age is not None:
        try:
            age = int(headers.get("Age", "0") or 0)
            return now + max(0, int(max_age) - max(0, age))
        except ValueError:
            return now
    expires = headers.get("Expires")
    if expires is not None:
        from email.utils import parsedate_to_datetime

        try:
            return parsedate_to_datetime(expires).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return now  # an invalid Expires means "already expired"
    return now + DEFAULT_EXPIRY.total_seconds()


# TLS contexts by CA bundle (file, folder), made once per run (``_tls_context``).
_TLS: dict[tuple[str | None, str | None], Future[ssl.SSLContext]] = {}
_TLS_LOCK = threading.Lock()


def _tls_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """urllib3's client context that trusts the CA bundle ``cafile`` or ``capath``, made by
    the first thread to ask for it; the others wait for that one."""
    from concurrent.futures import Future

    key = (cafile, capath)
    with _TLS_LOCK:
        made = _TLS.get(key)
        mine = made is None
        if made is None:
            made = _TLS[key] = Future()
    if mine:
        try:
            import ssl

            from urllib3.util.ssl_ import create_urllib3_context

            context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED)
            try:
                context.load_verify_locations(cafile=cafile, capath=capath)
            except (ssl.SSLError, OSError) as exc:
                where = cafile or capath
                raise SourceError(f"cannot load the CA certificates in {where}: {exc}") from exc
            made.set_result(context)
        except BaseException as exc:
            made.set_exception(exc)
    return made.result()


def prepare_tls() -> None:
    """Begin making the TLS context of requests' default CA bundle (as requests picks it:
    ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, else certifi's) in a thread of its own, when
    no context was asked for yet. Loading certifi's bundle takes about 40 ms, which OpenSSL
    does without holding the GIL: begun while the rest of requests is imported, it is ready by
    the first connection instead of delaying it. Another bundle asked for later is made then.

    What the thread uses is imported here, before it starts: a thread importing urllib3 while
    another imports requests (which imports urllib3 in another order) can deadlock on the
    modules' import locks, which Python breaks by raising ``_DeadlockError`` in one of them
    (seen once in a cold lock of examples/fastapi-standard)."""
    if _TLS:
        return
    import ssl  # noqa: F401
    from concurrent.futures import Future  # noqa: F401

    from urllib3.util.ssl_ import create_urllib3_context  # noqa: F401

    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if not bundle:
        import certifi

        bundle = certifi.where()
    key = (None, bundle) if os.path.isdir(bundle) else (bundle, None)
    threading.Thread(target=_prepared, args=key, name="aspen-tls", daemon=True).start()


def _prepared(cafile: str | None, capath: str | None) -> None:
    with suppress(BaseException):  # a bundle that fails is reported to the request that uses it
        _tls_context(cafile, capath)


def _adapter() -> requests.adapters.HTTPAdapter:
    """requests' adapter, with a connection pool as large as the fetch threads, retries of
    connection errors and 5xx, and one TLS context per CA bundle for the whole run.

    urllib3 builds a context and loads the CA bundle for every new connection: about 30 ms
    (60 ms for a system bundle named by ``REQUESTS_CA_BUNDLE``) of CPU each, and a cold lock
    opens dozens of connections. The bundle requests chose (``verify``, ``REQUESTS_CA_BUNDLE``,
    certifi) is loaded once into a shared context instead (``_tls_context``); verification is
    the same.
    """
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    class Adapter(HTTPAdapter):
        def cert_verify(self, conn: object, url: str, verify: object, cert: object) -> None:
            try:
                super().cert_verify(conn, url, verify, cert)  # type: ignore[arg-type]
            except OSError as exc:  # a CA bundle or client certificate that is not there
                raise SourceError(f"cannot fetch {url}: {exc}") from exc
            cafile = getattr(conn, "ca_certs", None)
            capath = getattr(conn, "ca_cert_dir", None)
            if getattr(conn, "cert_reqs", None) == "CERT_REQUIRED" and (cafile or capath):
                conn.conn_kw["ssl_context"] = _tls_context(cafile, capath)  # type: ignore[attr-defined]
                conn.ca_certs = conn.ca_cert_dir = None  # type: ignore[attr-defined]

    retry = Retry(
        total=3,
        connect=3,
        read=2,
        status=2,
        backoff_factor=0.2,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=("GET", "HEAD"),
        raise_on_status=False,
    )
    return Adapter(pool_connections=POOL_SIZE, pool_maxsize=POOL_SIZE, max_retries=retry)


def _session_class() -> type[requests.Session]:
    import requests

    class Session(requests.Session):
        """requests' session, with the settings a request takes from the environment (proxies
        from ``HTTPS_PROXY`` and ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``) worked out once per
        scheme and host for the run instead of once per request: requests walks the whole
        environment twice for each one, 0.55 ms of the 2.9 ms of CPU a range read of a wheel's
        tail took (40 reads of files.pythonhosted.org). What requests decides is unchanged: it
        depends on the URL only through its scheme and host."""

        def __init__(self) -> None:
            super().__init__()
            self._settings: dict[tuple, dict] = {}

        def merge_environment_settings(  # type: ignore[override]
            self, url: str, proxies: Mapping | None, stream: bool, verify: object, cert: object
        ) -> dict:
            scheme, _, rest = url.partition("://")
            origin = f"{scheme.lower()}://{rest.split('/', 1)[0].lower()}"
            key = (origin, tuple(sorted((proxies or {}).items())), stream, verify, cert)
            found = self._settings.get(key)
            if found is None:
                found = self._settings[key] = super().merge_environment_settings(
                    url, dict(proxies or {}), stream, verify, cert
                )
            return {**found, "proxies": dict(found["proxies"])}

    return Session


# Host names resolved once per run. Every new connection resolves its host again (urllib3
# calls ``socket.getaddrinfo`` for each), and a cold lock opens dozens: 17 lookups for
# examples/tiny, 27 for examples/webapp. This machine's resolver loses about one query in 30
# and answers it 5 s later (2 of 60 lookups of files.pythonhosted.org), which stalls the lock
# that asked (cold locks of tiny took 2.3-3.1 s in 5 of 8 runs while uv's took 1 s; not every
# such stall was a lookup). The addresses of an answer are kept for the run (a run lasts
# seconds to minutes; a connection pool keeps its addresses that long anyway), failures are
# not kept, and threads asking for the same name at once wait for one lookup.
_system_getaddrinfo = socket.getaddrinfo
_ADDRESSES: dict[tuple, list] = {}
_LOOKUPS: dict[tuple, threading.Lock] = {}
_LOOKUPS_LOCK = threading.Lock()


def _getaddrinfo(
    host: object, port: object, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
) -> list:
    """``socket.getaddrinfo``, asked of the system once per question for the run."""
    key = (host, port, family, type, proto, flags)
    found = _ADDRESSES.get(key)
    if found is None:
        with _LOOKUPS_LOCK:
            lookup = _LOOKUPS.setdefault(key, threading.Lock())
        with lookup:
            found = _ADDRESSES.get(key)
            if found is None:
                found = _ADDRESSES[key] = _system_getaddrinfo(*key)  # type: ignore[arg-type]
    return list(found)


def make_session() -> requests.Session:
    """A session for index pages, metadata files and byte ranges: aspen's User-Agent and
    ``_adapter``'s connections, whose host names are resolved once per run (``_getaddrinfo``,
    put in place of ``socket.getaddrinfo`` for the process: urllib3 resolves through it)."""
    socket.getaddrinfo = _getaddrinfo  # type: ignore[assignment]
    session = _session_class()()
    session.headers["User-Agent"] = user_agent()
    adapter = _adapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class Http:
    """The HTTP client of one run, shared by all threads; the session is created on first use.

    With ``offline``, every request raises ``OfflineError``: an offline run answers from the
    caches of parsed pages and metadata alone.
    """

    def __init__(self, *, offline: bool = False) -> None:
        self.offline = offline
        self._lock = threading.Lock()
        self._session: requests.Session | None = None
        self._senders: ThreadPoolExecutor  # with the session
        self._answers: dict[str, deque[float]] = {}  # how long each host's answers took, s

    def __repr__(self) -> str:
        return f"Http(offline={self.offline})"

    def get(
        self, url: str, *, headers: Mapping[str, str] | None = None, stream: bool = False
    ) -> requests.Response:
        """GET ``url`` and return the response, whatever its status. With ``stream``, the body
        is left unread (``iter_content``), and the caller closes the response.

        A request whose answer has not begun by its host's deadline is sent a second time, and
        the first answer is taken (``_hedged``).

        Raises ``SourceError`` naming the URL when the server cannot be reached, and
        ``OfflineError`` with ``--offline``.
        """
        if self.offline:
            raise OfflineError(f"--offline: cannot download {url} (it is not in the cache)")
        if self._session is None:
            prepare_tls()
        import requests

        with self._lock:
            if self._session is None:
                from concurrent.futures import ThreadPoolExecutor

                self._session = make_session()
                self._senders = ThreadPoolExecutor(2 * POOL_SIZE, thread_name_prefix="aspen-http")
            session = self._session
        started = time.perf_counter()
        try:
            response = self._hedged(session, url, dict(headers or {}))
            if not stream:
                read_body(response)
            return response
        except requests.RequestException as exc:
            raise SourceError(f"cannot fetch {url}: {exc}") from exc
        finally:
            trace("http", f"{url} {(headers or {}).get('Range', '')}", started)

    def _hedged(
        self, session: requests.Session, url: str, headers: dict[str, str]
    ) -> requests.Response:
        """The response to the first of at most two sends of the request whose headers arrive
        (body unread). The second is sent when the first has no answer by the host's deadline:
        ``HEDGE_FACTOR`` times the median time its last answers took, at least ``HEDGE_MIN``
        seconds, and ``HEDGE_FIRST`` until ``HEDGE_SAMPLES`` answers are known. A server that
        is slow throughout is so given time in proportion, and the second send goes out on
        another connection. The answer not taken is closed when it comes, its connection
        dropped. An error is raised only when both sends failed (the first send's)."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures import TimeoutError as FutureTimeout

        host = url.split("/", 3)[2] if "://" in url else url
        first = self._senders.submit(self._send, session, url, headers, host)
        try:
            return first.result(timeout=self._deadline(host))
        except FutureTimeout:
            pass
        trace("hedge", url, time.perf_counter())
        second = self._senders.submit(self._send, session, url, headers, host)
        pending = {first, second}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for send in done:
                if send.exception() is None:
                    for other in pending | (done - {send}):  # the answers not taken
                        other.add_done_callback(_close_answer)
                    return send.result()
        return first.result()  # both failed: raises the first send's error

    def _send(
        self, session: requests.Session, url: str, headers: dict[str, str], host: str
    ) -> requests.Response:
        started = time.perf_counter()
        response = session.get(url, headers=headers, timeout=TIMEOUT, stream=True)
        took = time.perf_counter() - started
        with self._lock:
            self._answers.setdefault(host, deque(maxlen=HEDGE_SAMPLES * 8)).append(took)
        return response

    def _deadline(self, host: str) -> float:
        with self._lock:
            known = sorted(self._answers.get(host, ()))
        if len(known) < HEDGE_SAMPLES:
            return HEDGE_FIRST
        return max(HEDGE_MIN, HEDGE_FACTOR * known[len(known) // 2])

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()
                self._senders.shutdown(wait=False)
            self._session = None


def _close_answer(send: Future) -> None:
    """Close the response of a send whose answer came second (its body is never read)."""
    if send.exception() is None:
        send.result().close()


def read_body(response: requests.Response) -> bytes:
    """The whole body of a streamed response (decoded as ``response.content`` decodes it), read
    in one call instead of requests' 10 KiB chunks, and kept as the response's content; the
    connection goes back to the pool. A range read of a wheel's 256 KiB tail costs about 1.2 ms
    less CPU so (2.4 instead of 3.7 ms, 25 reads). Raises ``SourceError`` when the body breaks
    off."""
    from urllib3.exceptions import HTTPError

    try:
        body = response.raw.read(decode_content=True) if response.raw is not None else b""
    except (HTTPError, OSError) as exc:
        response.close()
        raise SourceError(f"cannot fetch {response.url}: {exc}") from exc
    response._content = body or b""  # what requests' own reading of the body leaves
    response._content_consumed = True
    response.close()  # the body is read: this hands the connection back
    return response._content
