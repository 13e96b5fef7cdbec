"""The one probe signature every protocol module implements, and the dispatcher around it.

Shaped like blackbox_exporter's ``prober/``: a probe function takes a check and a shared
context and returns success, its wall time, a short reason on failure and a few named
measurements. ``run_probe`` is the only entry point the runner needs: it picks the
function by ``check.type``, enforces ``check.timeout_ms`` on the whole attempt and turns
every exception into a failed result, so one misbehaving target can never stop the runner.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType

import certifi
import httpx

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


def kadou_version() -> str:
    try:
        return version("kadou")
    except PackageNotFoundError:
        return "0.0.0"


class ProbeContext:
    """What probes share for the lifetime of a runner: HTTP clients, TLS contexts, a clock.

    HTTP clients are created lazily, one per (verify_tls, keep_alive) pair, because TLS
    verification is a property of the client in httpx. Checks with ``new_connection=True``
    share a client whose pool keeps no idle connection, so each probe opens a fresh TCP (and
    TLS) connection — a refused connection is seen every time — without paying for a new
    client (and a new SSL context, which costs milliseconds of CPU) per probe.
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
        self._clients: dict[tuple[bool, bool], httpx.AsyncClient] = {}
        self._ssl_contexts: dict[bool, ssl.SSLContext] = {}

    def ssl_context(self, *, verify: bool) -> ssl.SSLContext:
        context = self._ssl_contexts.get(verify)
        if context is None:
            context = _make_ssl_context(verify=verify, ca_file=self.ca_file)
            self._ssl_contexts[verify] = context
        return context

    def http_client(self, *, verify_tls: bool, keep_alive: bool) -> httpx.AsyncClient:
        key = (verify_tls, keep_alive)
        client = self._clients.get(key)
        if client is None:
            limits = httpx.Limits(
                max_connections=self.max_connections,
                max_keepalive_connections=None if keep_alive else 0,
            )
            client = httpx.AsyncClient(
                verify=self.ssl_context(verify=verify_tls),
                limits=limits,
                # "Connection: close" also tells the server not to hold the socket for us; it
                # measured ~8 % less client CPU per probe than relying on the pool alone.
                headers=(
                    {"User-Agent": self.user_agent}
                    if keep_alive
                    else {"User-Agent": self.user_agent, "Connection": "close"}
                ),
                # A health check reports what the URL answers, not where it redirects to.
                follow_redirects=False,
                # Probes go direct: a proxy picked up from the environment would make us
                # measure the proxy rather than the target.
                trust_env=False,
            )
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.aclose()

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


@functools.cache
def probe_registry() -> Mapping[str, ProbeFn]:
    """The probe function for each ``check.type``.

    Imported lazily because the protocol modules import this one.
    """
    from probes.http import probe_http
    from probes.tcp import probe_tcp
    from probes.tls import probe_tls

    registry: dict[str, Callable[..., Awaitable[ProbeResult]]] = {
        "http": probe_http,
        "tcp": probe_tcp,
        "tls": probe_tls,
    }
    return registry


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


async def run_probe(check: Check, ctx: ProbeContext) -> ProbeResult:
    """Probe ``check`` once. Never raises (except on cancellation of the caller itself)."""
    started = time.perf_counter()
    probe = probe_registry().get(check.type)
    if probe is None:
        return ProbeResult(False, 0.0, f"unknown check type {check.type!r}")
    try:
        async with asyncio.timeout(check.timeout_ms / 1000.0):
            return await probe(check, ctx)
    except TimeoutError:
        return ProbeResult(False, elapsed_ms(started), "timeout")
    except Exception as exc:
        return ProbeResult(False, elapsed_ms(started), describe_error(exc))


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, and grouped exceptions.

    httpx wraps httpcore's error which wraps anyio's ``OSError("All connection attempts
    failed")`` which is caused by the real ``ConnectionRefusedError``s; the reason is at the
    bottom.
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
        # Both links: httpcore's error keeps the OSError only as a suppressed __context__.
        for linked in (current.__context__, current.__cause__):
            if linked is not None:
                pending.append(linked)


def describe_error(exc: BaseException) -> str:
    """A short, stable reason for a failed attempt, telling the usual failures apart."""
    chain = list(_exception_chain(exc))
    if any(isinstance(e, TimeoutError | httpx.TimeoutException) for e in chain):
        return "timeout"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "dns failure"
    for error in chain:
        if isinstance(error, ssl.SSLCertVerificationError):
            return f"tls handshake failed: {error.verify_message or error.reason}"
    for error in chain:
        if isinstance(error, ssl.SSLError):
            return f"tls handshake failed: {error.reason or error}"
    # Wrappers such as anyio's "All connection attempts failed" carry no errno.
    os_errors = [e for e in chain if isinstance(e, OSError) and e.errno is not None]
    if os_errors and all(isinstance(e, ConnectionRefusedError) for e in os_errors):
        return "connect refused"
    if any(isinstance(e, ConnectionResetError) for e in os_errors):
        return "connection reset"
    for error in chain:
        if isinstance(error, httpx.RemoteProtocolError):
            return f"protocol error: {_first_line(str(error))}"
    if os_errors:
        return f"connect failed: {os_errors[0].strerror or os_errors[0]}"
    text = _first_line(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _first_line(text: str, limit: int = 120) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:limit]
