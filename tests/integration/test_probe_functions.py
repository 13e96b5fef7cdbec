"""The http, tcp and tls probes against real servers on loopback."""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.catalog.model import BasicAuth, HttpCheck, JsonFieldCondition, TcpCheck, TlsCheck
from probes.base import ProbeContext
from probes.http_fast import plan_for
from probes.protocols import run_probe
from probes.simulator import SimulatorServer

SERVICE = "info-network/main"


def http_check(url: str, **fields: object) -> HttpCheck:
    values: dict[str, object] = {"id": "health", "interval_ms": 60_000, "timeout_ms": 2_000}
    values.update(fields)
    return HttpCheck(url=url, **values)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def simulator() -> AsyncIterator[SimulatorServer]:
    async with SimulatorServer("127.0.0.1", 0, service_ports=[0] * 7, jitter_ms=0) as server:
        yield server


@pytest.fixture
async def ctx() -> AsyncIterator[ProbeContext]:
    async with ProbeContext() as context:
        yield context


# --- http against the simulator ---------------------------------------------------------


async def test_http_ok_reports_status_and_latency(
    simulator: SimulatorServer, ctx: ProbeContext
) -> None:
    result = await run_probe(http_check(simulator.service_url(SERVICE)), ctx)
    assert result.ok, result.detail
    assert result.detail is None
    assert result.measurements["status_code"] == 200
    assert 0 < result.latency_ms < 2_000


async def test_http_status_503_fails_unless_expected(
    simulator: SimulatorServer, ctx: ProbeContext
) -> None:
    simulator.faults.set(SERVICE, "error")
    result = await run_probe(http_check(simulator.service_url(SERVICE)), ctx)
    assert (result.ok, result.detail) == (False, "status 503")
    assert result.measurements["status_code"] == 503
    expecting_503 = http_check(simulator.service_url(SERVICE), expected_status=(503,))
    assert (await run_probe(expecting_503, ctx)).ok


async def test_http_body_contains(simulator: SimulatorServer, ctx: ProbeContext) -> None:
    url = simulator.service_url(SERVICE)
    assert (await run_probe(http_check(url, body_contains="info-network"), ctx)).ok
    result = await run_probe(http_check(url, body_contains="degraded"), ctx)
    assert (result.ok, result.detail) == (False, "body mismatch")


async def test_http_json_field(simulator: SimulatorServer, ctx: ProbeContext) -> None:
    url = simulator.service_url(SERVICE)
    matching = JsonFieldCondition(path="status", equals="ok")
    assert (await run_probe(http_check(url, json_field=matching), ctx)).ok

    other = JsonFieldCondition(path="status", equals="degraded")
    result = await run_probe(http_check(url, json_field=other), ctx)
    assert (result.ok, result.detail) == (False, "json field status='ok' != 'degraded'")

    missing = JsonFieldCondition(path="checks.db", equals="ok")
    result = await run_probe(http_check(url, json_field=missing), ctx)
    assert result.detail == "json field checks.db missing"

    # A string "true" is not the boolean true.
    typed = JsonFieldCondition(path="status", equals=True)
    assert not (await run_probe(http_check(url, json_field=typed), ctx)).ok


async def test_http_timeout_is_enforced(simulator: SimulatorServer, ctx: ProbeContext) -> None:
    simulator.faults.set(SERVICE, "timeout")
    started = time.perf_counter()
    result = await run_probe(http_check(simulator.service_url(SERVICE), timeout_ms=300), ctx)
    elapsed = time.perf_counter() - started
    assert (result.ok, result.detail) == (False, "timeout")
    assert 0.3 <= elapsed < 0.8
    assert 250 <= result.latency_ms < 800


async def test_http_connect_refused(ctx: ProbeContext) -> None:
    result = await run_probe(http_check(f"http://127.0.0.1:{closed_port()}/health"), ctx)
    assert (result.ok, result.detail) == (False, "connect refused")


async def test_http_dns_failure(ctx: ProbeContext) -> None:
    result = await run_probe(http_check("http://kadou-probe-test.invalid/health"), ctx)
    assert (result.ok, result.detail) == (False, "dns failure")


async def test_http_bad_url_is_a_failed_result_not_an_exception(ctx: ProbeContext) -> None:
    # The catalog refuses such a URL; a check built around validation must still not raise.
    check = HttpCheck.model_construct(
        id="health", interval_ms=60_000, timeout_ms=2_000, url="ftp://127.0.0.1/health"
    )
    result = await run_probe(check, ctx)
    assert not result.ok
    assert result.detail


# --- http against a recording server (headers, connection reuse, TLS) ---------------------


@dataclass
class RecordingServer:
    """A minimal HTTP/1.1 server that records requests and counts connections."""

    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                close = b"connection: close" in head.lower()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b'Content-Length: 15\r\n\r\n{"status":"ok"}'
                )
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()


async def start_recording_server(
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[RecordingServer, asyncio.Server]:
    recorder = RecordingServer()
    server = await asyncio.start_server(recorder.handle, "127.0.0.1", 0, ssl=ssl_context)
    recorder.port = server.sockets[0].getsockname()[1]
    return recorder, server


async def test_http_new_connection_per_probe_unless_reuse_is_asked(ctx: ProbeContext) -> None:
    recorder, server = await start_recording_server()
    async with server:
        url = f"http://127.0.0.1:{recorder.port}/health"
        for _ in range(3):
            assert (await run_probe(http_check(url), ctx)).ok
        assert recorder.connections == 3
        for _ in range(3):
            assert (await run_probe(http_check(url, new_connection=False), ctx)).ok
        assert recorder.connections == 4


async def test_http_sends_user_agent_headers_and_basic_auth(ctx: ProbeContext) -> None:
    recorder, server = await start_recording_server()
    async with server:
        check = http_check(
            f"http://127.0.0.1:{recorder.port}/health",
            headers={"X-Probe": "kadou"},
            basic_auth=BasicAuth(username="monitor", password="s3cret"),
        )
        assert (await run_probe(check, ctx)).ok
    head = recorder.requests[0].decode().lower()
    assert f"user-agent: {ctx.user_agent.lower()}" in head
    assert ctx.user_agent.startswith("Kadou/")
    assert "x-probe: kadou" in head
    assert "authorization: basic bw9uaxrvcjpzm2nyzxq=" in head  # monitor:s3cret


async def test_http_basic_auth_is_utf8(ctx: ProbeContext) -> None:
    recorder, server = await start_recording_server()
    async with server:
        check = http_check(
            f"http://127.0.0.1:{recorder.port}/health",
            basic_auth=BasicAuth(username="監視", password="pässword"),
        )
        assert (await run_probe(check, ctx)).ok, "a non-latin-1 credential must not fail"
    expected = base64.b64encode("監視:pässword".encode()).decode().lower()
    assert f"authorization: basic {expected}" in recorder.requests[0].decode().lower()


async def start_scripted_server(
    respond: Callable[[asyncio.StreamWriter], Awaitable[None]],
) -> tuple[list[bytes], int, asyncio.Server]:
    """A server that reads one request head, then lets ``respond`` answer (or misbehave)."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            heads.append(await reader.readuntil(b"\r\n\r\n"))
            await respond(writer)
        except (asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return heads, server.sockets[0].getsockname()[1], server


async def test_http_redirect_is_reported_not_followed(ctx: ProbeContext) -> None:
    async def redirect(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()

    heads, port, server = await start_scripted_server(redirect)
    async with server:
        result = await run_probe(http_check(f"http://127.0.0.1:{port}/health"), ctx)
    assert (result.ok, result.detail) == (False, "status 302")
    assert result.measurements["status_code"] == 302
    assert len(heads) == 1


async def test_http_ignores_proxy_from_environment(
    ctx: ProbeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy that refuses: the probe succeeds only if it goes direct.
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{closed_port()}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    recorder, server = await start_recording_server()
    async with server:
        result = await run_probe(http_check(f"http://127.0.0.1:{recorder.port}/health"), ctx)
    assert result.ok, result.detail


async def test_http_body_read_is_bounded() -> None:
    # The marker is past a 1 KiB limit; the document is not JSON at all.
    document = b"<html>" + b"x" * 4_000 + b'"status"</html>'

    async def large(writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(document) + document)
        await writer.drain()

    _heads, port, server = await start_scripted_server(large)
    url = f"http://127.0.0.1:{port}/health"
    as_json = http_check(url, json_field=JsonFieldCondition(path="status", equals="ok"))
    marker = http_check(url, body_contains='"status"')
    async with (
        server,
        ProbeContext(body_limit_bytes=1_024) as small_ctx,
        ProbeContext(body_limit_bytes=len(document)) as exact_ctx,
    ):
        assert (await run_probe(as_json, small_ctx)).detail == "body not json (truncated)"
        assert (await run_probe(marker, small_ctx)).detail == "body mismatch"
        # A body of exactly the limit is read whole, and not called truncated.
        assert (await run_probe(marker, exact_ctx)).ok
        assert (await run_probe(as_json, exact_ctx)).detail == "body not json"


async def test_http_connection_reset(ctx: ProbeContext) -> None:
    async def reset(writer: asyncio.StreamWriter) -> None:
        # Linger 0: close() sends RST instead of FIN.
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    _heads, port, server = await start_scripted_server(reset)
    async with server:
        result = await run_probe(http_check(f"http://127.0.0.1:{port}/health"), ctx)
    assert (result.ok, result.detail) == (False, "connection reset")


async def test_http_keeps_no_cookies_between_probes(ctx: ProbeContext) -> None:
    async def set_cookie(writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nSet-Cookie: session=abc; Path=/\r\nContent-Length: 0\r\n\r\n"
        )
        await writer.drain()

    heads, port, server = await start_scripted_server(set_cookie)
    async with server:
        # A host name: cookie jars ignore cookies from a bare IP address.
        for _ in range(2):
            assert (await run_probe(http_check(f"http://localhost:{port}/health"), ctx)).ok
    assert len(heads) == 2
    assert b"cookie" not in heads[1].lower()


# --- TLS: a local server with a short-lived self-signed certificate -----------------------


@dataclass(frozen=True)
class SelfSignedCertificate:
    cert_path: Path
    key_path: Path
    not_after: datetime

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def make_certificate(directory: Path, valid_for: timedelta) -> SelfSignedCertificate:
    """A self-signed certificate for localhost/127.0.0.1, valid from an hour ago."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    not_before = min(now - timedelta(hours=1), now + valid_for - timedelta(hours=1))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + valid_for)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return SelfSignedCertificate(cert_path, key_path, now + valid_for)


@pytest.fixture
def ten_day_certificate(tmp_path: Path) -> Iterator[SelfSignedCertificate]:
    yield make_certificate(tmp_path, timedelta(days=10, hours=6))


def tls_check(port: int, **fields: object) -> TlsCheck:
    values: dict[str, object] = {"id": "cert", "interval_ms": 60_000, "timeout_ms": 2_000}
    values.update(fields)
    return TlsCheck(host="127.0.0.1", port=port, **values)


async def test_tls_days_left_and_threshold(ten_day_certificate: SelfSignedCertificate) -> None:
    recorder, server = await start_recording_server(ten_day_certificate.server_context())
    async with server, ProbeContext(ca_file=str(ten_day_certificate.cert_path)) as ctx:
        passing = await run_probe(tls_check(recorder.port, min_days_left=7), ctx)
        assert passing.ok, passing.detail
        truth = (ten_day_certificate.not_after - datetime.now(UTC)).total_seconds() / 86_400
        assert passing.measurements["cert_days_left"] == pytest.approx(truth, abs=0.01)

        assert passing.warnings == ()

        # Expiring soon is a warning, not a failure: the service still answers everyone.
        expiring = await run_probe(tls_check(recorder.port, min_days_left=14), ctx)
        assert (expiring.ok, expiring.detail) == (True, None)
        assert expiring.warnings == ("cert expires in 10 days",)
        assert expiring.measurements["cert_days_left"] == pytest.approx(truth, abs=0.01)

        # Only a catalog that says so explicitly makes it a failure.
        strict = tls_check(recorder.port, min_days_left=14, expiring_is_failure=True)
        failing = await run_probe(strict, ctx)
        assert (failing.ok, failing.detail) == (False, "cert expires in 10 days")


async def test_a_slow_answer_is_a_warning_unless_the_catalog_says_failure(
    simulator: SimulatorServer, ctx: ProbeContext
) -> None:
    url = simulator.main_url(SERVICE)
    simulator.faults.set(SERVICE, "slow", latency_ms=300)
    slow = await run_probe(http_check(url, slow_after_ms=100), ctx)
    assert slow.ok and slow.detail is None
    assert len(slow.warnings) == 1 and slow.warnings[0].startswith("slow: ")
    failing = await run_probe(http_check(url, slow_after_ms=100, slow_is_failure=True), ctx)
    assert not failing.ok and failing.detail is not None and failing.detail.startswith("slow: ")
    quick = await run_probe(http_check(url, slow_after_ms=1_500), ctx)
    assert quick.ok and quick.warnings == ()


async def test_tls_verification_failure_is_a_handshake_error(
    ten_day_certificate: SelfSignedCertificate, ctx: ProbeContext
) -> None:
    recorder, server = await start_recording_server(ten_day_certificate.server_context())
    async with server:
        untrusted = await run_probe(tls_check(recorder.port), ctx)
        assert not untrusted.ok
        assert untrusted.detail is not None
        assert untrusted.detail.startswith("tls handshake failed:")
        assert "self" in untrusted.detail and "signed" in untrusted.detail

        # With verification off the expiry is still read from the certificate.
        unverified = await run_probe(
            tls_check(recorder.port, verify_tls=False, min_days_left=7), ctx
        )
        assert unverified.ok, unverified.detail
        assert unverified.measurements["cert_days_left"] > 10


async def test_tls_wrong_server_name(ten_day_certificate: SelfSignedCertificate) -> None:
    recorder, server = await start_recording_server(ten_day_certificate.server_context())
    async with server, ProbeContext(ca_file=str(ten_day_certificate.cert_path)) as ctx:
        result = await run_probe(tls_check(recorder.port, server_name="jpki.example.jp"), ctx)
    assert not result.ok
    assert result.detail is not None
    assert result.detail.startswith("tls handshake failed:")
    assert "mismatch" in result.detail or "match" in result.detail


async def test_tls_expired_certificate(tmp_path: Path, ctx: ProbeContext) -> None:
    expired = make_certificate(tmp_path, timedelta(hours=-2))
    recorder, server = await start_recording_server(expired.server_context())
    async with server:
        result = await run_probe(tls_check(recorder.port, verify_tls=False), ctx)
    assert (result.ok, result.detail) == (False, "cert expired")
    assert result.measurements["cert_days_left"] < 0


async def test_https_tls_errors_are_told_apart_from_status(
    ten_day_certificate: SelfSignedCertificate, ctx: ProbeContext
) -> None:
    recorder, server = await start_recording_server(ten_day_certificate.server_context())
    async with server:
        url = f"https://127.0.0.1:{recorder.port}/health"
        untrusted = await run_probe(http_check(url), ctx)
        assert not untrusted.ok
        assert untrusted.detail is not None
        assert untrusted.detail.startswith("tls handshake failed:")
        assert (await run_probe(http_check(url, verify_tls=False), ctx)).ok


# --- tcp --------------------------------------------------------------------------------


def tcp_check(host: str, port: int) -> TcpCheck:
    return TcpCheck(id="port", interval_ms=60_000, timeout_ms=2_000, host=host, port=port)


async def test_tcp_ok_refused_and_dns(ctx: ProbeContext) -> None:
    recorder, server = await start_recording_server()
    async with server:
        opened = await run_probe(tcp_check("127.0.0.1", recorder.port), ctx)
        assert opened.ok, opened.detail
        assert opened.latency_ms > 0
        # "localhost" may resolve to ::1 first, where nothing listens: the next address wins.
        assert (await run_probe(tcp_check("localhost", recorder.port), ctx)).ok
    refused = await run_probe(tcp_check("localhost", closed_port()), ctx)
    assert (refused.ok, refused.detail) == (False, "connect refused")
    unresolved = await run_probe(tcp_check("kadou-probe-test.invalid", 80), ctx)
    assert (unresolved.ok, unresolved.detail) == (False, "dns failure")


async def test_tls_handshake_that_never_completes_times_out(ctx: ProbeContext) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Accept, then never answer the ClientHello.
        await reader.read()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        started = time.perf_counter()
        result = await run_probe(tls_check(port, timeout_ms=200), ctx)
        elapsed = time.perf_counter() - started
    assert (result.ok, result.detail) == (False, "timeout")
    assert 0.2 <= elapsed < 0.7


# --- the short way for a status over a new connection (probes.http_fast) ------------------

ANSWERS = {
    "ok": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "ok, no reason, HTTP/1.0": b"HTTP/1.0 204\r\n\r\n",
    "503": b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 5\r\n\r\n",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "bad status line": b"HTTP/1.1 2x0 OK\r\n\r\n",
    "not http": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "informational first": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
    "folded header": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  continued\r\n\r\n",
    "space before colon": b"HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n",
    "length and chunked": (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\nok"
    ),
    "two lengths": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    "bad length": b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\nok",
    "closed mid-head": b"HTTP/1.1 200 OK\r\nX-A: 1\r\n",
}
# The answers the short way judges itself; every other one is handed to aiohttp.
JUDGED_BY_THE_SHORT_WAY = {"ok", "ok, no reason, HTTP/1.0", "503", "chunked"}


@pytest.mark.parametrize("answer", list(ANSWERS))
async def test_the_short_way_and_aiohttp_give_the_same_result(answer: str) -> None:
    async def respond(writer: asyncio.StreamWriter) -> None:
        writer.write(ANSWERS[answer])
        await writer.drain()

    heads, port, server = await start_scripted_server(respond)
    async with server, ProbeContext() as short, ProbeContext() as long:
        check = http_check(f"http://127.0.0.1:{port}/health?x=1", headers={"X-Probe": "k"})
        long.plans[check.key] = (check, None)  # no plan: aiohttp's way only
        through_aiohttp = await run_probe(check, long)
        connections = len(heads)
        result = await run_probe(check, short)
        short_connections = len(heads) - connections
    assert (result.ok, result.detail, dict(result.measurements)) == (
        through_aiohttp.ok,
        through_aiohttp.detail,
        dict(through_aiohttp.measurements),
    )
    # The short way's one connection, then, when it handed over, aiohttp's own as before.
    handed_over = 0 if answer in JUDGED_BY_THE_SHORT_WAY else connections
    assert short_connections == 1 + handed_over
    # The same request line and headers either way (in aiohttp's order or not).
    assert sorted(heads[connections].split(b"\r\n")) == sorted(heads[0].split(b"\r\n"))


async def test_the_short_way_hands_connection_errors_to_aiohttp(ctx: ProbeContext) -> None:
    result = await run_probe(http_check(f"http://127.0.0.1:{closed_port()}/"), ctx)
    assert (result.ok, result.detail) == (False, "connect refused")


def test_only_a_plain_status_check_takes_the_short_way() -> None:
    url = "http://127.0.0.1:8080/health"
    assert plan_for(http_check(url), {}, "Kadou/1") is not None
    for fields in (
        {"new_connection": False},
        {"body_contains": "ok"},
        {"json_field": JsonFieldCondition(path="status", equals="ok")},
        {"method": "POST"},
    ):
        assert plan_for(http_check(url, **fields), {}, "Kadou/1") is None, fields
    assert plan_for(http_check("http://user:pw@127.0.0.1:8080/health"), {}, "Kadou/1") is None
    for headers in ({"Host": "other"}, {"Connection": "keep-alive"}, {"X-A": "caf\u00e9"}):
        assert plan_for(http_check(url), headers, "Kadou/1") is None, headers
    plan = plan_for(http_check("https://example.test/a b?q=1"), {}, "Kadou/1")
    assert plan is not None and plan.tls and plan.server_hostname == "example.test"
    assert plan.port == 443
    assert plan.request.startswith(b"GET /a%20b?q=1 HTTP/1.1\r\nHost: example.test\r\n")
