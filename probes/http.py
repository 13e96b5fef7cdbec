"""HTTP probe: status, then optional body and JSON conditions on a bounded read."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import aiohttp

from app.catalog.model import BasicAuth, HttpCheck, JsonFieldCondition
from probes.base import ProbeContext, ProbeResult, elapsed_ms
from probes.http_fast import FastPlan, fast_status, plan_for

_MISSING = object()


def _request_headers(check: HttpCheck) -> dict[str, str] | None:
    headers = check.headers or None
    if check.basic_auth is not None:
        # The credentials win over a configured header, whatever its spelling.
        headers = {k: v for k, v in check.headers.items() if k.lower() != "authorization"}
        headers["Authorization"] = _basic_authorization(check.basic_auth)
    return headers


def _fast_plan(check: HttpCheck, ctx: ProbeContext) -> FastPlan | None:
    """The check's prepared request (once per check object), or None for aiohttp's way."""
    made = ctx.plans.get(check.key)
    if made is None or made[0] is not check:
        made = (check, plan_for(check, _request_headers(check) or {}, ctx.user_agent))
        ctx.plans[check.key] = made
    plan = made[1]
    return plan if isinstance(plan, FastPlan) else None


async def probe_http(check: HttpCheck, ctx: ProbeContext) -> ProbeResult:
    plan = _fast_plan(check, ctx)
    if plan is not None:
        # A status over a new connection: the short way (probes.http_fast), which hands
        # anything but a plain healthy exchange back to aiohttp below.
        started = time.perf_counter()
        status = await fast_status(plan, ctx.ssl_context(verify=check.verify_tls))
        if status is not None:
            detail = _status_failure(check, status)
            measurements = {"status_code": float(status)}
            return ProbeResult(detail is None, elapsed_ms(started), detail, measurements)
    started = time.perf_counter()
    session = ctx.http_session(keep_alive=not check.new_connection)
    headers = _request_headers(check)
    async with session.request(
        check.method,
        check.url,
        headers=headers,
        # A health check reports what the URL answers, not where it redirects to.
        allow_redirects=False,
        ssl=ctx.ssl_context(verify=check.verify_tls),
        # run_probe bounds the whole attempt; the same figure here bounds a probe called
        # directly too.
        timeout=aiohttp.ClientTimeout(total=check.timeout_ms / 1000.0),
    ) as response:
        measurements = {"status_code": float(response.status)}
        detail = _status_failure(check, response.status)
        wants_body = check.body_contains is not None or check.json_field is not None
        # A reused connection goes back to the pool only once its body has been read.
        if (detail is None and wants_body) or not check.new_connection:
            body, truncated = await _read_bounded(response, ctx.body_limit_bytes)
            if detail is None and wants_body:
                detail = _body_failure(check, body, truncated)
    return ProbeResult(detail is None, elapsed_ms(started), detail, measurements)


def _basic_authorization(basic_auth: BasicAuth) -> str:
    # Built here rather than with aiohttp's BasicAuth (deprecated, latin-1 by default, which
    # cannot encode every password): UTF-8, as RFC 7617 recommends and httpx did.
    credentials = f"{basic_auth.username}:{basic_auth.password}".encode()
    return "Basic " + base64.b64encode(credentials).decode("ascii")


def _status_failure(check: HttpCheck, status: int) -> str | None:
    if check.expected_status is None:
        return None if 200 <= status < 300 else f"status {status}"
    return None if status in check.expected_status else f"status {status}"


async def _read_bounded(response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the (decoded) body, and whether there was more."""
    chunks: list[bytes] = []
    size = 0
    # One byte past the limit tells a body of exactly ``limit`` bytes from a longer one.
    while size <= limit:
        chunk = await response.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:limit], True


def _body_failure(check: HttpCheck, body: bytes, truncated: bool) -> str | None:
    if check.body_contains is not None and check.body_contains.encode() not in body:
        return "body mismatch"
    if check.json_field is not None:
        try:
            document = json.loads(body)
        except ValueError:
            return "body not json (truncated)" if truncated else "body not json"
        return _json_field_failure(check.json_field, document)
    return None


def _json_field_failure(condition: JsonFieldCondition, document: Any) -> str | None:
    actual = _resolve_path(document, condition.path)
    if actual is _MISSING:
        return f"json field {condition.path} missing"
    if _json_equal(actual, condition.equals):
        return None
    return f"json field {condition.path}={_short_repr(actual)} != {_short_repr(condition.equals)}"


def _resolve_path(document: Any, path: str) -> Any:
    """Follow a dot-separated path; a numeric part indexes a list (``items.0.status``)."""
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _json_equal(actual: Any, expected: str | int | float | bool | None) -> bool:
    # In Python True == 1; in a health document `true` and `1` are different answers.
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    return bool(actual == expected)


def _short_repr(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
