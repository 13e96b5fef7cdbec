"""The common HTTP probe without aiohttp's per-request machinery: a status from a new connection.

Most checks ask only for a status over a new connection (``new_connection``, no body
condition, GET or HEAD). For them aiohttp's request and response objects, its connector,
timers and header multidicts were most of a probe's CPU. Here the request's bytes are
built once per check, and a probe is a connection, one write and a read up to the end of
the response's head, checked strictly.

Nothing unusual is judged here. A connection or TLS error, a response head that is not a
plain well-formed HTTP/1.x head (an informational status, a folded or oversized header, a
framing header aiohttp would refuse, the connection closing early) returns None, and the
caller probes again through aiohttp, whose verdict and wording are then the result. So a
result is the same as aiohttp's, and only healthy answers take the short way.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass

from aiohttp.client_reqrep import ClientRequest
from yarl import URL

from app.catalog.model import HttpCheck

# aiohttp's own limits for a response head (max_line_size, max_field_size, max_headers).
MAX_LINE_BYTES = 8190
MAX_HEADERS = 128
MAX_HEAD_BYTES = 64 * 1024
# aiohttp's default for a host with several addresses (TCPConnector happy_eyeballs_delay).
HAPPY_EYEBALLS_DELAY_S = 0.25

# A final (not 1xx) status line of HTTP/1.0 or 1.1, with an optional reason phrase.
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([2-5][0-9]{2})(?: [\t\x20-\x7e\x80-\xff]*)?")
# "name: value": a token, no space before the colon, visible characters in the value.
_HEADER_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[\t\x20-\x7e\x80-\xff]*")
# Request headers this path leaves to aiohttp: they change the framing or the connection.
_AIOHTTP_ONLY_HEADERS = frozenset(
    {"host", "connection", "content-length", "transfer-encoding", "expect", "upgrade", "te"}
)


@dataclass(frozen=True, slots=True)
class FastPlan:
    """What a fast probe of one check sends, and where."""

    host: str
    port: int
    tls: bool
    server_hostname: str | None
    request: bytes
    # A literal address has one address to try: no happy eyeballs race (which costs tasks).
    literal: bool


def plan_for(check: HttpCheck, headers: dict[str, str], user_agent: str) -> FastPlan | None:
    """The plan for ``check`` (its final ``headers``), or None when aiohttp must do it."""
    if not check.new_connection or check.body_contains is not None or check.json_field:
        return None
    if check.method not in ("GET", "HEAD"):
        return None
    try:
        url = URL(check.url)
    except ValueError:
        return None
    if url.scheme not in ("http", "https") or url.user is not None or url.password is not None:
        return None
    host, port, authority = url.raw_host, url.port, url.host_port_subcomponent
    if not host or port is None or authority is None:
        return None
    names = {name.lower() for name in headers}
    if names & _AIOHTTP_ONLY_HEADERS:
        return None
    # The same headers aiohttp sends: Host, the session's, the check's, aiohttp's defaults.
    lines = [f"{check.method} {url.raw_path_qs or '/'} HTTP/1.1", f"Host: {authority}"]
    if "user-agent" not in names:
        lines.append(f"User-Agent: {user_agent}")
    lines.append("Connection: close")
    lines.extend(f"{name}: {value}" for name, value in headers.items())
    for name, value in ClientRequest.DEFAULT_HEADERS.items():
        if name.lower() not in names:
            lines.append(f"{name}: {value}")
    if any("\r" in line or "\n" in line or "\0" in line for line in lines):
        return None  # aiohttp refuses these; it keeps that job
    text = "\r\n".join(lines)
    if not text.isascii():
        return None  # aiohttp encodes these; it keeps that job
    tls = url.scheme == "https"
    literal = _is_ip(host)
    # A literal IP is not a server name (aiohttp sends no SNI for one either).
    server_hostname = host if tls and not literal else None
    request = (text + "\r\n\r\n").encode("ascii")
    return FastPlan(host.strip("[]"), port, tls, server_hostname, request, literal)


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


class _HeadReader(asyncio.Protocol):
    """Collects bytes up to the end of the response head, then resolves ``head``."""

    __slots__ = ("_buffer", "head")

    def __init__(self, head: asyncio.Future[bytes | None]) -> None:
        self.head = head
        self._buffer = b""

    def data_received(self, data: bytes) -> None:
        if self.head.done():
            return
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end >= 0:
            self.head.set_result(self._buffer[:end])
        elif len(self._buffer) > MAX_HEAD_BYTES:
            self.head.set_result(None)

    def eof_received(self) -> bool:
        if not self.head.done():
            self.head.set_result(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.head.done():
            self.head.set_result(None)


async def fast_status(plan: FastPlan, ssl_context: ssl.SSLContext) -> int | None:
    """The status of one request on a new connection, or None: ask aiohttp instead."""
    loop = asyncio.get_running_loop()
    head: asyncio.Future[bytes | None] = loop.create_future()
    try:
        transport, _ = await loop.create_connection(
            lambda: _HeadReader(head),
            plan.host,
            plan.port,
            ssl=ssl_context if plan.tls else None,
            server_hostname=plan.server_hostname,
            happy_eyeballs_delay=None if plan.literal else HAPPY_EYEBALLS_DELAY_S,
        )
    except Exception:
        # Refused, unreachable, DNS, TLS, or anything odd: aiohttp says it in its words.
        return None
    try:
        transport.write(plan.request)
        received = await head
    finally:
        transport.close()
    return None if received is None else parse_status(received)


def parse_status(head: bytes) -> int | None:
    """The status of a plain, well-formed response head, or None."""
    lines = head.split(b"\r\n")
    if len(lines) > MAX_HEADERS + 1 or any(len(line) > MAX_LINE_BYTES for line in lines):
        return None
    status = _STATUS_LINE.fullmatch(lines[0])
    if status is None:
        return None
    lengths: list[bytes] = []
    chunked = False
    for line in lines[1:]:
        header = _HEADER_LINE.fullmatch(line)
        if header is None:
            return None
        name = header.group(1).lower()
        if name == b"content-length":
            lengths.append(line.split(b":", 1)[1].strip(b" \t"))
        elif name == b"transfer-encoding":
            if chunked or line.split(b":", 1)[1].strip(b" \t").lower() != b"chunked":
                return None
            chunked = True
    # Framing that aiohttp's parser refuses (or that this reading does not judge).
    if len(lengths) > 1 or (lengths and (chunked or not lengths[0].isdigit())):
        return None
    return int(status.group(1))
