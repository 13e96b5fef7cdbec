"""A free loopback port for a server a test starts as a separate process.

A port taken with ``bind(("127.0.0.1", 0))`` comes from the kernel's ephemeral range, the
same range outgoing connections use: between the test releasing it and the server binding
it, any client connection of the machine (another test's, an agent's, PostgreSQL's) can
take it, and the server fails with "address already in use". So the port is chosen below
the ephemeral range, where no outgoing connection lands, from a range each process starts
at a random place in, and checked bindable.
"""

from __future__ import annotations

import itertools
import random
import socket
from pathlib import Path

_FALLBACK_EPHEMERAL_START = 32768
_LOWEST = 20000


def _ephemeral_start() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return _FALLBACK_EPHEMERAL_START


_START = _ephemeral_start()
_candidates = itertools.cycle(range(_LOWEST, max(_START, _LOWEST + 1000)))
for _ in range(random.randrange(max(_START - _LOWEST, 1000))):
    next(_candidates)


def free_port() -> int:
    """A loopback TCP port nothing listens on, outside the ephemeral range."""
    for _ in range(max(_START - _LOWEST, 1000)):
        port = next(_candidates)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port between {_LOWEST} and {_START}")
