"""A TCP proxy that misbehaves on demand, to put between Kadou and its database (or an
agent and the server) and see what a bad day in production does.

    proxy = FaultProxy("127.0.0.1", 5432)   # listens on 127.0.0.1:proxy.port
    proxy.mode = Mode.BLACK_HOLE            # switchable at any time
    proxy.close()

Modes:
- PASS: forward both ways.
- REFUSE: the port refuses connections (the listener is closed) and every open connection
  is reset, as when the server is down.
- BLACK_HOLE: connections are accepted but nothing is forwarded either way, on new and
  open connections alike, as when a network drops packets or a server hangs; what was
  sent meanwhile goes through once the mode changes back (as TCP would resend it).
- SLOW: forward, but each chunk ``delay`` seconds late.
- CUT: forward ``cut_after`` bytes more on each connection (each way), then reset it.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from enum import StrEnum


class Mode(StrEnum):
    PASS = "pass"
    REFUSE = "refuse"
    BLACK_HOLE = "black-hole"
    SLOW = "slow"
    CUT = "cut"


def _reset(sock: socket.socket) -> None:
    """Close with an RST rather than a FIN: the peer sees the connection fail."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Link:
    """One proxied connection: the client's socket and the upstream one."""

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream: socket.socket | None = None
        self.closed = threading.Event()
        self.budget = {"up": 0, "down": 0}

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        # In a black hole the upstream connection is not even opened: the client waits.
        while self.proxy.mode is Mode.BLACK_HOLE and not self.closed.is_set():
            time.sleep(0.02)
        if self.closed.is_set():
            return
        try:
            self.upstream = socket.create_connection(self.proxy.target, timeout=5)
        except OSError:
            self.close()
            return
        threading.Thread(
            target=self._pump, args=(self.client, self.upstream, "up"), daemon=True
        ).start()
        self._pump(self.upstream, self.client, "down")

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str) -> None:
        try:
            source.settimeout(0.05)
        except OSError:  # closed meanwhile (reset by a mode change)
            self.close()
            return
        while not self.closed.is_set():
            if self.proxy.mode is Mode.BLACK_HOLE:
                # Nothing is read, so nothing is lost: like a network that drops packets,
                # whatever was sent arrives once it heals (TCP resends it).
                time.sleep(0.02)
                continue
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            # Read just as the hole opened: held, like the rest, until it closes.
            while self.proxy.mode is Mode.BLACK_HOLE and not self.closed.is_set():
                time.sleep(0.02)
            mode = self.proxy.mode
            if mode is Mode.SLOW:
                time.sleep(self.proxy.delay)
            if mode is Mode.CUT:
                self.budget[direction] += len(data)
                if self.budget[direction] > self.proxy.cut_after:
                    keep = len(data) - (self.budget[direction] - self.proxy.cut_after)
                    with contextlib.suppress(OSError):
                        sink.sendall(data[: max(0, keep)])
                    break
            try:
                sink.sendall(data)
            except OSError:
                break
        self.close()

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        _reset(self.client)
        if self.upstream is not None:
            _reset(self.upstream)
        self.proxy._forget(self)


class FaultProxy:
    def __init__(self, host: str, port: int, *, listen_port: int = 0) -> None:
        self.target = (host, port)
        self.delay = 1.0
        self.cut_after = 1024
        self._mode = Mode.PASS
        self._lock = threading.Lock()
        self._links: set[_Link] = set()
        self._listener: socket.socket | None = None
        self._stopping = False
        self.port = listen_port
        self._listen()
        self.port = self._listener.getsockname()[1]  # type: ignore[union-attr]

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        with self._lock:
            previous, self._mode = self._mode, Mode(mode)
        if mode is Mode.REFUSE and previous is not Mode.REFUSE:
            self._stop_listening()
            self.reset_all()
        elif mode is not Mode.REFUSE and previous is Mode.REFUSE:
            self._listen()
        if mode is Mode.CUT:
            with self._lock:
                for link in self._links:
                    link.budget = {"up": 0, "down": 0}

    def reset_all(self) -> None:
        """Reset every open connection (the mode stays as it is)."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close()

    def close(self) -> None:
        self._stopping = True
        self._stop_listening()
        self.reset_all()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown wakes the thread blocked in accept(); close alone may not.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._stopping or self._mode is Mode.REFUSE:
                _reset(client)
                continue
            link = _Link(self, client)
            with self._lock:
                self._links.add(link)
            link.start()

    def _forget(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
