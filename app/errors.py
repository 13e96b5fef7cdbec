"""Errors that carry what the user needs to fix their input.

The CLI prints ``str(error)`` on one line and exits 2; the API turns them into problem
bodies (RFC 9457) with the matching status code.
"""

from __future__ import annotations


class KadouError(Exception):
    status = 400
    title = "Bad request"

    def __init__(self, message: str, *, field: str | None = None, ja: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        # The same message in Japanese, for pages shown in Japanese; the CLI, the API and
        # logs keep the English one so that scripts can rely on it.
        self.ja = ja

    def localized(self, lang: str) -> str:
        return self.ja if lang == "ja" and self.ja else self.message

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidInput(KadouError):
    status = 422
    title = "Invalid input"


class NotFound(KadouError):
    status = 404
    title = "Not found"


class Forbidden(KadouError):
    status = 403
    title = "Forbidden"


class Conflict(KadouError):
    status = 409
    title = "Conflict"
