"""Secrets are replaced by *** wherever Kadou prints them, and nothing else changes."""

from __future__ import annotations

import logging

import pytest

from app.redact import RedactingFilter, redact_headers, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://ops:pa55@example.jp/health", "https://ops:***@example.jp/health"),
        (
            "https://example.jp/health?token=abc&lang=ja",
            "https://example.jp/health?token=***&lang=ja",
        ),
        ("postgresql://kadou:pw@db:5432/kadou", "postgresql://kadou:***@db:5432/kadou"),
        ("https://example.jp:8443/a?b=1", "https://example.jp:8443/a?b=1"),
        ("https://user@example.jp/", "https://user@example.jp/"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_headers_keeps_names_and_harmless_values() -> None:
    assert redact_headers({"Authorization": "Bearer x", "X-API-Key": "k", "Accept": "json"}) == {
        "Authorization": "***",
        "X-API-Key": "***",
        "Accept": "json",
    }


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "GET http://monitor:s3cret@10.0.0.1/x failed",
            "GET http://monitor:***@10.0.0.1/x failed",
        ),
        ("Authorization: Bearer abcdef123456", "Authorization: ***"),
        ("{'authorization': 'Basic dXNlcjpwYXNz'}", "{'authorization': '***'}"),
        ("sent Bearer abcdef123456 to the server", "sent Bearer *** to the server"),
        (
            "token kadou_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd refused",
            "token kadou_*** refused",
        ),
        ("https://x.jp/?api_key=s3cr3t#top", "https://x.jp/?api_key=***#top"),
        ("availability 99.93% for jpki/main", "availability 99.93% for jpki/main"),
    ],
)
def test_redact_text(text: str, shown: str) -> None:
    assert redact_text(text) == shown


def test_known_secrets_are_replaced_verbatim() -> None:
    assert redact_text("login as ops/hunter2-long", {"hunter2-long", "ab"}) == "login as ops/***"


def test_the_filter_redacts_arguments_and_tracebacks() -> None:
    record = logging.LogRecord(
        "probes.runner", logging.WARNING, __file__, 1, "probe %s failed: %s", None, None
    )
    record.args = ("http://u:p4ss@h/", "refused")
    try:
        raise ConnectionError("cannot reach http://u:p4ss@h/ with the-catalog-secret")
    except ConnectionError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter({"the-catalog-secret"}).filter(record)
    text = logging.Formatter().format(record)
    assert "p4ss" not in text and "the-catalog-secret" not in text
    assert text.startswith("probe http://u:***@h/ failed: refused")
    assert "cannot reach http://u:***@h/ with ***" in text


def test_the_filter_keeps_the_arguments_a_formatter_reads_by_position() -> None:
    from uvicorn.logging import AccessFormatter

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/v1/status?token=s3cr3t-value", "1.1", 200),
        None,
    )
    assert RedactingFilter().filter(record)
    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(record)
    assert line == '127.0.0.1:5000 - "GET /api/v1/status?token=*** HTTP/1.1" 200 OK'
