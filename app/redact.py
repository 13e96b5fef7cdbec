"""Secrets out of everything Kadou prints: command output and log lines.

A catalog may hold credentials (a URL's password, an ``Authorization`` header, basic
auth), and agents hold API tokens. None of them may reach a terminal, a log file or a
log collector, where people and systems without the right to them read along. What is
printed keeps its shape, with ``***`` where the secret was, so the line still says which
URL, header or token it is about.

Standard library only: this runs inside logging, on every line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"

# Header names whose values are credentials (compared in lower case).
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "x-auth-token"}
)
# Query parameters that carry credentials in URLs people paste into catalogs.
SECRET_QUERY_KEYS = frozenset(
    {"token", "access_token", "api_key", "apikey", "key", "password", "secret", "sig", "signature"}
)

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*://[^\s/:@]*:)(?P<secret>[^\s@/]+)(?=@)")
_AUTH_SCHEME = re.compile(r"(?P<head>\b(?:Bearer|Basic|Token)\s+)(?P<secret>[\w+/=.~-]{6,})")
_HEADER_VALUE = re.compile(
    r"(?P<head>\b(?:" + "|".join(re.escape(name) for name in SECRET_HEADERS) + r")"
    r"['\"]?\s*[:=]\s*['\"]?)(?P<secret>[^'\",\s}][^'\",}]*)",
    re.IGNORECASE,
)
_QUERY_VALUE = re.compile(
    r"(?P<head>[?&](?:" + "|".join(SECRET_QUERY_KEYS) + r")=)(?P<secret>[^&\s#'\"]+)",
    re.IGNORECASE,
)
# Kadou's own API tokens, wherever they appear: "kadou_" and 43 URL-safe characters.
_KADOU_TOKEN = re.compile(r"\bkadou_[A-Za-z0-9_-]{20,}")


def redact_url(url: str) -> str:
    """The URL with its password and credential query parameters replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{hostinfo}"
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True)
    if any(key.lower() in SECRET_QUERY_KEYS for key, _ in pairs):
        query = urlencode(
            [(key, MASK if key.lower() in SECRET_QUERY_KEYS else value) for key, value in pairs],
            safe="*",
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers as they may be shown: credential headers' values replaced by ``***``."""
    return {
        name: MASK if name.lower() in SECRET_HEADERS else value for name, value in headers.items()
    }


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Any text with the secrets it may hold replaced by ``***``: URL passwords, credential
    headers and query parameters, ``Bearer``/``Basic`` credentials, Kadou API tokens, and
    the given ``secrets`` (e.g. the catalog's passwords and header values) verbatim."""
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _KADOU_TOKEN.sub(f"kadou_{MASK}", text)
    for pattern in (_URL_PASSWORD, _HEADER_VALUE, _AUTH_SCHEME, _QUERY_VALUE):
        text = pattern.sub(lambda m: m.group("head") + MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that takes secrets out of every record it passes on.

    Installed on handlers (not loggers) so it sees the records of every library too. The
    message and each argument are redacted in place, keeping the arguments' shape:
    formatters such as uvicorn's access log read them by position. A traceback is
    rendered once, redacted, and kept on the record for the formatter to print.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = frozenset(secrets)

    def _argument(self, value: object) -> object:
        if isinstance(value, (int, float, bool)) or value is None:
            return value  # "%d" and "%.1f" need the number itself
        text = value if isinstance(value, str) else str(value)
        redacted = redact_text(text, self.secrets)
        return redacted if redacted != text or isinstance(value, str) else value

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact_text(record.msg, self.secrets)
        if isinstance(record.args, tuple):
            record.args = tuple(self._argument(value) for value in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: self._argument(value) for key, value in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text, self.secrets)
        return True
