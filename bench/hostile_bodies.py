"""Hostile request bodies against `kadou serve`: time to 413, /healthz meanwhile, peak RSS.

    .venv/bin/python bench/hostile_bodies.py [--size-mb 180] [--stream 40] [--parallel 4]

1. A 180 MB JSON body to POST /api/v1/results without a token, with a declared
   Content-Length, sent as fast as loopback allows: seconds until the answer's status line.
2. The same size chunked (no declared length) with a valid prober token: the server must
   read up to the limit (16 MiB) and then refuse.
3. During both, /healthz is polled every 20 ms on another connection: latency p50 / max.
4. A stream of oversized bodies (``--stream`` uploads, ``--parallel`` at a time, chunked with
   a token: the worst case) and the server's peak resident memory (VmHWM) afterwards.

Prints figures; asserts nothing about them.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_load import Server, kadou

CHUNK = b"[" + b'{"check": "x", "ok": true},' * 2400  # ~64 KiB of plausible JSON


def peak_rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set of the process, MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def upload(port: int, size: int, *, token: str | None, chunked: bool) -> tuple[float, int, int]:
    """(seconds to the status line, status, bytes sent) for one oversized upload."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=120)
    head = ["POST /api/v1/results HTTP/1.1", "Host: bench", "Content-Type: application/json"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    if token:
        head.append(f"Authorization: Bearer {token}")
    began = time.perf_counter()
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    answer: list[bytes] = []
    answered = threading.Event()

    def read() -> None:
        try:
            data = sock.recv(65536)
            if data:
                answer.append(data)
        except OSError:
            pass
        answered.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    sent = 0
    try:
        while sent < size and not answered.is_set():
            piece = CHUNK[: size - sent]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            sent += len(piece)
    except OSError:  # the server closed the connection after answering
        pass
    answered.wait(120)
    elapsed = time.perf_counter() - began
    sock.close()
    status = int(answer[0].split(b" ", 2)[1]) if answer else 0
    return elapsed, status, sent


def poll_healthz(base: str, stop: threading.Event) -> list[float]:
    latencies = []
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            began = time.perf_counter()
            client.get("/healthz").raise_for_status()
            latencies.append(time.perf_counter() - began)
            stop.wait(0.02)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=180)
    parser.add_argument("--stream", type=int, default=40, help="oversized uploads in the stream")
    parser.add_argument("--parallel", type=int, default=4)
    options = parser.parse_args()
    size = options.size_mb * 1_000_000

    work = Path(tempfile.mkdtemp(prefix="kadou-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KADOU_")}
    env["KADOU_REPORT_EXPORT"] = "false"
    env["KADOU_DATABASE_URL"] = f"sqlite:///{work}/kadou.db"
    kadou(env, "db", "upgrade")
    token = kadou(env, "token", "create", "--name", "bench-prober", "--role", "prober")
    server = Server(env)
    pid = server.process.pid
    try:
        print(f"server RSS at start: {peak_rss_mb(pid)[0]:.0f} MB")
        for label, kwargs in (
            ("no token, Content-Length", {"token": None, "chunked": False}),
            ("prober token, chunked", {"token": token, "chunked": True}),
        ):
            stop = threading.Event()
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                polling = pool.submit(poll_healthz, server.base, stop)
                time.sleep(0.2)
                elapsed, status, sent = upload(server.port, size, **kwargs)  # type: ignore[arg-type]
                time.sleep(0.2)
                stop.set()
                latencies = polling.result()
            print(
                f"{options.size_mb} MB, {label:<26} -> {status} in {elapsed * 1000:7.1f} ms "
                f"after {sent / 1e6:6.1f} MB sent; /healthz during it: "
                f"p50 {statistics.median(latencies) * 1000:.1f} ms, "
                f"max {max(latencies) * 1000:.1f} ms ({len(latencies)} polls)"
            )
        began = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(options.parallel) as pool:
            results = list(
                pool.map(
                    lambda number: upload(
                        server.port, size, token=token if number % 2 else None, chunked=True
                    ),
                    range(options.stream),
                )
            )
        statuses = sorted({status for _, status, _ in results})
        current, peak = peak_rss_mb(pid)
        print(
            f"stream of {options.stream} oversized chunked uploads ({options.parallel} at a time, "
            f"half with a token): {time.perf_counter() - began:.1f} s, statuses {statuses}, "
            f"server RSS now {current:.0f} MB, peak {peak:.0f} MB"
        )
    finally:
        server.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
