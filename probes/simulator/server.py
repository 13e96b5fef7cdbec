"""Running the simulator: uvicorn behind small TCP gates that make ``down`` real.

Why gates. A ``down`` service should look to a probe like a dead process: "connect
refused". That is decided by the kernel when the SYN arrives, before anyone has read the
request path, so one listening socket shared by seven services cannot refuse one of them.
So the simulator listens in two ways, both in front of one uvicorn bound to an ephemeral
loopback port:

- a **service port** per service (by default ``port + 1`` ... ``port + 7``): a plain TCP
  relay whose listening socket is *closed* while its service is ``down`` and reopened when
  the fault ends, so probes get a genuine ECONNREFUSED. Catalog checks should use these.
- the **main port**: every service by path plus the control API. Here a ``down`` service
  cannot be refused, so the gate reads the request line and resets the connection
  (RST, no response): the probe reports "connection reset", which is distinct from both
  "timeout" and "status 503".

Listener state follows the fault table immediately after each control call and, for
faults that start or end with time (``for_seconds``, the scenario), within
``RECONCILE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable, Sequence
from types import TracebackType

import uvicorn

from probes.simulator.app import create_simulator_app, service_of_path
from probes.simulator.faults import (
    DEFAULT_SERVICES,
    Clock,
    FaultTable,
    Scenario,
    load_scenario,
    utc_now,
)

RECONCILE_SECONDS = 0.1
_RELAY_CHUNK_BYTES = 64 * 1024

logger = logging.getLogger("kadou.simulator")


class _Gate:
    """A TCP relay from ``host:port`` to the upstream uvicorn that can stop listening."""

    def __init__(
        self,
        host: str,
        port: int,
        upstream_port: int,
        *,
        reset_request: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._upstream_port = upstream_port
        self._reset_request = reset_request
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def open(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._relay, self.host, self.port)
        # With port 0 the first bind picks a port; reopening must reuse that number.
        self.port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        """Stop listening (new connections are refused) and drop current ones, as a
        crashed process would."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._connections):
            writer.transport.abort()
        self._connections.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            request_line = await reader.readuntil(b"\n")
            if self._reset_request is not None and self._reset_request(request_line):
                _reset(writer)
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self._upstream_port
            )
            upstream_writer.write(request_line)
            pumps = [
                asyncio.create_task(_pump(reader, upstream_writer)),
                asyncio.create_task(_pump(upstream_reader, writer)),
            ]
            # Either side closing ends the exchange; HTTP needs no half-open connections.
            _done, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            self._connections.discard(writer)
            for stream in (upstream_writer, writer):
                if stream is not None:
                    stream.close()


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while chunk := await source.read(_RELAY_CHUNK_BYTES):
            sink.write(chunk)
            await sink.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN: linger on, zero seconds."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class SimulatorServer:
    """The simulator on real sockets; ``async with SimulatorServer(...) as simulator``.

    ``port=0`` and ``service_ports=[0] * n`` pick free ports (tests); the chosen ones are in
    ``main_port`` and ``service_port``. ``service_ports=None`` serves the main port only.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8081,
        *,
        services: Sequence[str] | None = None,
        service_ports: Sequence[int] | None = None,
        scenario: Scenario | None = None,
        clock: Clock = utc_now,
        jitter_ms: float = 3.0,
    ) -> None:
        self.services = tuple(services if services is not None else DEFAULT_SERVICES)
        if service_ports is not None and len(service_ports) != len(self.services):
            raise ValueError(
                f"service_ports: give one port per service ({len(self.services)}), "
                f"got {len(service_ports)}"
            )
        self.host = host
        self._port = port
        self._service_ports = tuple(service_ports) if service_ports is not None else None
        self.app = create_simulator_app(
            list(self.services),
            scenario,
            clock,
            jitter_ms=jitter_ms,
            on_faults_changed=self._reconcile,
        )
        self.faults: FaultTable = self.app.state.faults
        self._uvicorn: uvicorn.Server | None = None
        self._uvicorn_task: asyncio.Task[None] | None = None
        self._reconcile_task: asyncio.Task[None] | None = None
        self._main_gate: _Gate | None = None
        self._service_gates: dict[str, _Gate] = {}

    @property
    def main_port(self) -> int:
        assert self._main_gate is not None, "the simulator is not started"
        return self._main_gate.port

    def service_port(self, service: str) -> int:
        return self._service_gates[service].port

    def main_url(self, service: str) -> str:
        return f"http://{self.host}:{self.main_port}/{service}/health"

    def service_url(self, service: str) -> str:
        return f"http://{self.host}:{self.service_port(service)}/{service}/health"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.main_port}/_control/faults"

    async def start(self) -> None:
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        upstream.bind(("127.0.0.1", 0))
        upstream_port = upstream.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # Hung "timeout" requests end when their client leaves; this bounds the rest.
            timeout_graceful_shutdown=1,
        )
        self._uvicorn = uvicorn.Server(config)
        self._uvicorn_task = asyncio.create_task(self._uvicorn.serve(sockets=[upstream]))
        while not self._uvicorn.started:
            if self._uvicorn_task.done():
                await self._uvicorn_task
                raise RuntimeError("the simulator's HTTP server stopped during startup")
            await asyncio.sleep(0.01)

        def reset_if_down(request_line: bytes) -> bool:
            parts = request_line.split()
            if len(parts) < 2:
                return False
            service = service_of_path(parts[1].decode("latin-1"), self.services)
            return service is not None and self.faults.kind(service) == "down"

        self._main_gate = _Gate(self.host, self._port, upstream_port, reset_request=reset_if_down)
        await self._main_gate.open()
        if self._service_ports is not None:
            for service, port in zip(self.services, self._service_ports, strict=True):
                self._service_gates[service] = _Gate(self.host, port, upstream_port)
        # Bind every service port once, even a "down" one, to learn and keep its number.
        for gate in self._service_gates.values():
            await gate.open()
        await self._reconcile()
        self._reconcile_task = asyncio.create_task(self._reconcile_forever())

    async def stop(self) -> None:
        if self._reconcile_task is not None:
            self._reconcile_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconcile_task
        for gate in (self._main_gate, *self._service_gates.values()):
            if gate is not None:
                gate.close()
        if self._uvicorn is not None and self._uvicorn_task is not None:
            self._uvicorn.should_exit = True
            await self._uvicorn_task

    async def _reconcile(self) -> None:
        for service, gate in self._service_gates.items():
            down = self.faults.kind(service) == "down"
            if down and gate.listening:
                gate.close()
            elif not down and not gate.listening:
                await gate.open()

    async def _reconcile_forever(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_SECONDS)
            try:
                await self._reconcile()
            except OSError:
                # The port was taken meanwhile; keep trying rather than stop simulating.
                logger.exception("could not reopen a simulated service's port")

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve_simulator(
    host: str,
    port: int,
    scenario_path: str | None,
    *,
    service_ports: bool = True,
    jitter_ms: float = 3.0,
) -> None:
    """Serve the seven simulated services until cancelled (``kadou simulate``).

    The main port serves every service by path and ``/_control/faults``; with
    ``service_ports`` each service also gets its own port, ``port + 1`` onwards in catalog
    order, where a ``down`` fault is a genuine "connect refused".
    """
    scenario = load_scenario(scenario_path) if scenario_path else None
    ports = [port + 1 + index for index in range(len(DEFAULT_SERVICES))] if service_ports else None
    simulator = SimulatorServer(
        host, port, service_ports=ports, scenario=scenario, jitter_ms=jitter_ms
    )
    async with simulator:
        logger.info("simulator: control API at %s", simulator.control_url)
        for service in simulator.services:
            url = simulator.service_url(service) if ports else simulator.main_url(service)
            logger.info("simulator: %s at %s", service, url)
        await asyncio.Event().wait()
