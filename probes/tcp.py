"""TCP probe: can a connection be opened? Also the connect helper the TLS probe uses."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time

from app.catalog.model import TcpCheck
from probes.base import ProbeContext, ProbeResult, elapsed_ms

# A graceful TLS close waits for the peer's close_notify; a probe should not wait long.
_CLOSE_GRACE_SECONDS = 1.0


async def open_stream(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to the first address of ``host`` that accepts, trying each in turn.

    We resolve ourselves rather than let ``asyncio.open_connection`` do it because, when a
    name has several addresses (``localhost`` is ``::1`` and ``127.0.0.1``), asyncio folds
    the errors into one ``OSError("Multiple exceptions: ...")`` without an errno, and we
    could no longer tell "connect refused" from other failures. A DNS failure raises
    ``socket.gaierror``; if every address fails, the first address's error is raised.
    A TLS error is raised at once: the server answered, trying another address would hide it.
    """
    loop = asyncio.get_running_loop()
    addresses = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    first_error: OSError | None = None
    for _family, _type, _proto, _canonname, sockaddr in addresses:
        address = str(sockaddr[0])
        try:
            return await asyncio.open_connection(
                address,
                port,
                ssl=ssl_context,
                server_hostname=(server_hostname or host) if ssl_context else None,
            )
        except ssl.SSLError:
            raise
        except OSError as error:
            first_error = first_error or error
    if first_error is None:
        raise socket.gaierror(socket.EAI_NONAME, f"no address for {host}")
    raise first_error


async def close_stream(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        async with asyncio.timeout(_CLOSE_GRACE_SECONDS):
            await writer.wait_closed()
    except (OSError, TimeoutError):
        # The peer reset or never answered our close; either way we are done with it.
        with contextlib.suppress(Exception):
            writer.transport.abort()


async def probe_tcp(check: TcpCheck, ctx: ProbeContext) -> ProbeResult:
    started = time.perf_counter()
    _reader, writer = await open_stream(check.host, check.port)
    latency_ms = elapsed_ms(started)
    await close_stream(writer)
    return ProbeResult(True, latency_ms)
