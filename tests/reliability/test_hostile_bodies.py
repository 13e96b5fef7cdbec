"""Bodies are bounded and a request without a valid token never gets its body read.

Raw sockets, because the point is what the server does before the client has sent the
body: each test sends only the request head (or part of the body) and reads the answer.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import httpx

from tests.reliability.conftest import LiveServer

ANSWER_WITHIN = 15.0  # seconds; a bound so that a hung server fails the test, not a goal


def send_head(server: LiveServer, head: str) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=ANSWER_WITHIN)
    sock.sendall(head.encode())
    return sock


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the answer, read until the server closes."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def post_head(path: str, *, length: int | None, token: str | None = None) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: kadou", "Content-Type: application/json"]
    if length is None:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {length}")
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return "\r\n".join(lines) + "\r\n\r\n"


def test_a_declared_length_over_the_limit_is_413_before_any_byte_is_sent(
    live_server: LiveServer,
) -> None:
    # 180 MB declared, nothing sent: the answer can only come from the head.
    for token in (None, live_server.tokens["prober"]):
        sock = send_head(live_server, post_head("/api/v1/results", length=180_000_000, token=token))
        status, headers, body = read_answer(sock)
        assert status == 413
        assert headers["content-type"] == "application/problem+json"
        assert headers["connection"] == "close"
        assert "KADOU_MAX_BODY_BYTES" in json.loads(body)["detail"]


def test_the_limit_holds_on_web_pages_too(live_server: LiveServer) -> None:
    sock = send_head(live_server, post_head("/login", length=180_000_000))
    assert read_answer(sock)[0] == 413


def test_no_token_or_a_bad_token_is_401_before_the_body_is_read(
    live_server: LiveServer,
) -> None:
    for token in (None, "kadou_not-a-token"):
        sock = send_head(live_server, post_head("/api/v1/results", length=1000, token=token))
        status, headers, body = read_answer(sock)
        assert status == 401, body
        assert headers["www-authenticate"].startswith("Bearer")
        assert headers["connection"] == "close"


def test_a_chunked_body_is_cut_at_the_limit(live_server: LiveServer) -> None:
    limit = live_server.runtime.settings.max_body_bytes
    sock = send_head(
        live_server, post_head("/api/v1/results", length=None, token=live_server.tokens["prober"])
    )
    chunk = b"x" * 8192
    sent = 0
    # Keep sending until the server stops reading; it must answer 413 once past the limit.
    try:
        while sent < 50 * limit:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert read_answer(sock)[0] == 413
    assert sent < 50 * limit, "the server kept reading past the limit"


def test_an_undecodable_body_without_a_token_is_401(live_server: LiveServer) -> None:
    response = httpx.post(
        live_server.base + "/api/v1/results",
        content=b"\xff\xfe{not json",
        headers={"content-type": "application/json"},
        timeout=ANSWER_WITHIN,
    )
    assert response.status_code == 401
    with_token = httpx.post(
        live_server.base + "/api/v1/results",
        content=b"\xff\xfe{not json",
        headers={"content-type": "application/json", **live_server.auth("prober")},
        timeout=ANSWER_WITHIN,
    )
    assert with_token.status_code == 422
    assert with_token.json()["errors"][0]["field"] == "body"


def test_a_body_under_the_limit_is_stored(live_server: LiveServer) -> None:
    item = {
        "check": "info-network/main/http",
        "location": "tokyo",
        "observed_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "ok": True,
        "latency_ms": 3.0,
        "detail": None,
    }
    body = json.dumps({"observations": [item]}).encode()
    # Declared length, then chunked (a generator has no length).
    for content in (body, iter([body[:10], body[10:]])):
        response = httpx.post(
            live_server.base + "/api/v1/results",
            content=content,
            headers={"content-type": "application/json", **live_server.auth("prober")},
            timeout=ANSWER_WITHIN,
        )
        assert response.status_code == 200, response.text
