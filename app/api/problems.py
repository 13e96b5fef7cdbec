"""Errors as RFC 9457 problem bodies (``application/problem+json``), never a stack trace.

Every error the API returns has the same shape, so a client (a probe agent, a script, the
web pages) reads ``detail`` for a person and ``errors[].field`` for a program:

    {"type": "urn:kadou:problem:invalid-input", "title": "Invalid input", "status": 422,
     "detail": "month: write it as YYYY-MM, e.g. 2026-10",
     "errors": [{"field": "month", "message": "write it as YYYY-MM, e.g. 2026-10"}]}
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import KadouError

log = logging.getLogger("kadou.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    field: str = Field(description="The input field, e.g. `month` or `observations[3].check`")
    message: str = Field(description="What is wrong and what is expected")


class Problem(BaseModel):
    """An RFC 9457 problem body."""

    type: str = Field(description="A URN naming the kind of problem")
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = Field(
        default=None, description="Present on 422: one entry per invalid field"
    )


def _slug(title: str) -> str:
    return "-".join(title.lower().replace("'", "").split())


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if title is None:
        phrase = HTTPStatus(status).phrase
        title = phrase[0] + phrase[1:].lower()
    body: dict[str, Any] = {
        "type": f"urn:kadou:problem:{_slug(title)}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = [error.model_dump() for error in errors]
    return ProblemResponse(body, status_code=status, headers=headers)


class ApiProblem(Exception):
    """Raised by the API layer itself (401, 413, 409 …) to answer with a problem body."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.field = field
        self.headers = headers


def _location(loc: Sequence[int | str]) -> str:
    """FastAPI's ``("body", "observations", 3, "check")`` -> ``observations[3].check``."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "body"


def _validation_message(error: dict[str, Any]) -> str:
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "missing":
        return "this field is required"
    if error.get("type") == "extra_forbidden":
        return "unknown field; remove it"
    if error.get("type") == "json_invalid":
        return f"the body is not valid JSON ({error.get('ctx', {}).get('error', message)})"
    return message


def validation_problem(errors: Sequence[FieldError]) -> Response:
    detail = "; ".join(f"{error.field}: {error.message}" for error in errors[:5])
    if len(errors) > 5:
        detail += f" (and {len(errors) - 5} more)"
    return problem(422, detail, title="Invalid input", errors=errors)


async def _on_kadou_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, KadouError)
    errors = None
    if exc.status == 422:
        errors = [FieldError(field=exc.field or "body", message=exc.message)]
    return problem(exc.status, str(exc), title=exc.title, errors=errors)


async def _on_api_problem(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    errors = None
    if exc.status == 422:
        errors = [FieldError(field=exc.field or "body", message=exc.detail)]
    return problem(exc.status, exc.detail, title=exc.title, errors=errors, headers=exc.headers)


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(field=_location(error.get("loc", ())), message=_validation_message(error))
        for error in exc.errors()
    ]
    return validation_problem(errors or [FieldError(field="body", message="invalid request")])


async def _on_http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no such endpoint; the API is under /api/v1 and documented at /docs"
    return problem(exc.status_code, detail, headers=getattr(exc, "headers", None))


class CatchAllMiddleware:
    """Turn any unhandled exception into a 500 problem body and log it with its traceback.

    A plain ASGI middleware rather than an ``Exception`` handler: Starlette re-raises after
    such a handler, and the client must never see more than the problem body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            response = problem(
                500,
                "Kadou failed to answer this request; the error is in the server log",
                title="Internal server error",
            )
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(KadouError, _on_kadou_error)
    app.add_exception_handler(ApiProblem, _on_api_problem)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_middleware(CatchAllMiddleware)


def _problem_response(
    description: str, headers: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 0},
    }
}


# Documented on every route, so clients (and schemathesis) know every answer's shape.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _problem_response("No valid bearer token (header WWW-Authenticate: Bearer)"),
    403: _problem_response("The token's role may not do this; the detail names the role needed"),
    422: _problem_response("Invalid input: `errors` names each field and what is expected"),
    500: _problem_response("Unexpected server error (logged; never a stack trace)"),
    503: _problem_response(
        "The database is unavailable or does not answer in time; retry after Retry-After",
        _RETRY_AFTER,
    ),
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Extra documented problem answers for one route (404, 409, 413 …)."""
    descriptions = {
        400: "The body cannot be read as the declared content type",
        404: "Unknown id; the detail lists the valid choices when they are few",
        409: "Conflicts with the current state (e.g. the window was removed)",
        413: "The body is larger than the limit (KADOU_MAX_BODY_BYTES) or the batch holds "
        "too many items; split it",
        429: "Too many requests; retry after Retry-After",
        503: "Not ready (database unreachable or schema out of date)",
    }
    return {
        status: _problem_response(
            descriptions[status], _RETRY_AFTER if status in (429, 503) else None
        )
        for status in statuses
    }
