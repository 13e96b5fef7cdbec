"""Real processes for end-to-end tests: subprocesses with their logs, the simulator in a thread."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from probes.simulator import SimulatorServer

STOP_TIMEOUT_S = 15.0
LOG_TAIL_CHARS = 6000


@dataclass
class ManagedProcess:
    """A subprocess whose output goes to a log file, stopped politely and then firmly."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(
        cls, name: str, argv: list[str], env: dict[str, str], workdir: Path
    ) -> ManagedProcess:
        """Start ``argv`` with its output appended to ``workdir/<name>.log``."""
        log_path = workdir / f"{name}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir
            )
        return cls(name, process, log_path)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:]

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """``kill -9``: no shutdown code runs, as when a machine or a container dies."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_S)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class SimulatorThread:
    """The simulator on its own event loop in a background thread, on free ports."""

    def __init__(self, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        # A daemon, so that a test that dies half-way cannot keep pytest from exiting.
        self.thread = threading.Thread(target=self.loop.run_forever, name="simulator", daemon=True)
        self.server = SimulatorServer(
            "127.0.0.1", 0, **({"service_ports": [0] * 7, "jitter_ms": 0} | options)
        )

    def _run(self, coroutine: Any) -> Any:
        done: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        return done.result(timeout=STOP_TIMEOUT_S)

    def __enter__(self) -> SimulatorServer:
        self.thread.start()
        try:
            self._run(self.server.start())
        except BaseException:
            self._stop_loop()
            raise
        return self.server

    def __exit__(self, *_exc: object) -> None:
        try:
            self._run(self.server.stop())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=STOP_TIMEOUT_S)
        if not self.thread.is_alive():
            self.loop.close()
