"""The one probe signature every protocol module implements, and what they share.

Shaped like blackbox_exporter's ``prober/``: a probe function takes a check and a shared
context and returns success, its wall time, a short reason on failure and a few named
measurements. The protocol modules import this one and nothing imports them but
``probes.protocols``, which maps each ``check.type`` to its function (``run_probe``).
"""

from __future__ import annotations

import errno
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType

import aiohttp
import certifi
from aiohttp.http_exceptions import HttpProcessingError

from app.catalog.model import HttpCheck, TcpCheck, TlsCheck

Check = HttpCheck | TcpCheck | TlsCheck

# Enough for any health document; a body condition never makes us download a large page.
DEFAULT_BODY_LIMIT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    # Wall time of the probe attempt.
    latency_ms: float
    # Short reason on failure ("timeout", "connect refused", "status 503", ...); None on success.
    detail: str | None = None
    # A few named numbers, e.g. {"status_code": 200.0} or {"cert_days_left": 41.2}.
    measurements: Mapping[str, float] = field(default_factory=dict)
    # "Degraded but answering" ("cert expires in 10 days", "slow: 2.3 s > 2 s"): shown and
    # alerted on, never downtime. A condition the catalog declares a failure is a failure.
    warnings: tuple[str, ...] = ()


def kadou_version() -> str:
    try:
        return version("kadou")
    except PackageNotFoundError:
        return "0.0.0"


class ProbeContext:
    """What probes share for the lifetime of a runner: HTTP sessions, TLS contexts, a clock.

    Two aiohttp sessions are created lazily, one per connection policy. Checks with
    ``new_connection=True`` share a session whose connector closes every connection after its
    response (``force_close``), so each probe opens a fresh TCP (and TLS) connection — a
    refused connection is seen every time — without paying for a new session per probe. TLS
    verification is chosen per request from the cached SSL contexts (building one costs
    milliseconds of CPU); aiohttp keys its pool by SSL context, so a kept-alive connection is
    never reused across verification policies.
    """

    def __init__(
        self,
        *,
        user_agent: str | None = None,
        max_connections: int | None = None,
        body_limit_bytes: int = DEFAULT_BODY_LIMIT_BYTES,
        ca_file: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.user_agent = user_agent or f"Kadou/{kadou_version()}"
        # None: no pool limit. A probe waiting for a pool slot would be reported as a
        # timeout of the target, so concurrency is bounded by the runner instead.
        self.max_connections = max_connections
        self.body_limit_bytes = body_limit_bytes
        self.ca_file = ca_file
        self.clock = clock
        self._sessions: dict[bool, aiohttp.ClientSession] = {}
        self._ssl_contexts: dict[bool, ssl.SSLContext] = {}
        # What a protocol module prepares once per check (the HTTP probe's request bytes),
        # by check key, kept with the check it was made for.
        self.plans: dict[str, tuple[object, object]] = {}

    def ssl_context(self, *, verify: bool) -> ssl.SSLContext:
        context = self._ssl_contexts.get(verify)
        if context is None:
            context = _make_ssl_context(verify=verify, ca_file=self.ca_file)
            self._ssl_contexts[verify] = context
        return context

    def http_session(self, *, keep_alive: bool) -> aiohttp.ClientSession:
        """The shared session for one connection policy; must be called in the running loop."""
        session = self._sessions.get(keep_alive)
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                # 0: unbounded (see max_connections).
                limit=self.max_connections or 0,
                limit_per_host=0,
                force_close=not keep_alive,
                # Resolve on every new connection, as a probe should: a cached address would
                # hide a DNS failure or change for up to the cache's lifetime.
                use_dns_cache=False,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                # "Connection: close" also tells the server not to hold the socket for us.
                headers=(
                    {"User-Agent": self.user_agent}
                    if keep_alive
                    else {"User-Agent": self.user_agent, "Connection": "close"}
                ),
                # Probes are independent: a cookie set by one target must not ride along on
                # the next probe (and a real jar costs CPU on every response).
                cookie_jar=aiohttp.DummyCookieJar(),
                # Probes go direct: a proxy picked up from the environment would make us
                # measure the proxy rather than the target.
                trust_env=False,
                # run_probe bounds the whole attempt; each request sets its own total.
                timeout=aiohttp.ClientTimeout(total=None),
            )
            self._sessions[keep_alive] = session
        return session

    async def aclose(self) -> None:
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            await session.close()

    async def __aenter__(self) -> ProbeContext:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


def _make_ssl_context(*, verify: bool, ca_file: str | None) -> ssl.SSLContext:
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context(cafile=ca_file)
    if ca_file is None and context.cert_store_stats()["x509_ca"] == 0:
        # Slim container images may ship no system trust store; certifi's is the fallback.
        context.load_verify_locations(cafile=certifi.where())
    return context


ProbeFn = Callable[[Check, ProbeContext], Awaitable[ProbeResult]]


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and grouped exceptions.

    aiohttp wraps the error it met (``ClientConnectorError`` from ``ConnectionRefusedError``,
    ``ClientConnectorCertificateError`` from ``SSLCertVerificationError``); the reason is at
    the bottom.
    """
    pending = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        # Both links: a wrapper may keep the original only as a suppressed __context__.
        for linked in (current.__context__, current.__cause__):
            if linked is not None:
                pending.append(linked)


# aiohttp's names for "the server spoke, but not valid HTTP / hung up mid-answer".
_PROTOCOL_ERRORS = (
    aiohttp.ServerDisconnectedError,
    aiohttp.ClientPayloadError,
    aiohttp.ClientResponseError,
    HttpProcessingError,
)


def describe_error(exc: BaseException) -> str:
    """A short, stable reason for a failed attempt, telling the usual failures apart."""
    chain = list(_exception_chain(exc))
    # aiohttp's timeouts subclass TimeoutError too.
    if any(isinstance(e, TimeoutError) for e in chain):
        return "timeout"
    if any(isinstance(e, socket.gaierror | aiohttp.ClientConnectorDNSError) for e in chain):
        return "dns failure"
    # aiohttp's SSL wrappers subclass the ssl errors but carry none of their attributes; the
    # error they wrap (chained with ``from``) has the reason.
    originals = [e for e in chain if not isinstance(e, aiohttp.ClientError)]
    for error in originals:
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"tls handshake failed: {error.verify_message or error.reason}"
    for error in originals:
        if isinstance(error, ssl.SSLError):
            return f"tls handshake failed: {error.reason or error}"
    # By errno rather than by class: aiohttp's wrappers (ClientConnectorError, ClientOSError)
    # copy the errno but are not ConnectionRefusedError, and some are raised without a cause.
    # Wrappers such as "Multiple exceptions: ..." with mixed errnos carry none.
    os_errors = [e for e in chain if isinstance(e, OSError) and e.errno is not None]
    if os_errors and all(e.errno == errno.ECONNREFUSED for e in os_errors):
        return "connect refused"
    if any(e.errno == errno.ECONNRESET for e in os_errors):
        return "connection reset"
    for error in chain:
        if isinstance(error, _PROTOCOL_ERRORS):
            return f"protocol error: {_first_line(_protocol_message(error))}"
    if os_errors:
        return f"connect failed: {os_errors[0].strerror or os_errors[0]}"
    text = _first_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _protocol_message(error: BaseException) -> str:
    if isinstance(error, aiohttp.ClientResponseError | HttpProcessingError):
        return error.message or type(error).__name__
    return str(error) or type(error).__name__


def _first_line(text: str, limit: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:limit]
