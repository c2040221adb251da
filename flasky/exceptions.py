"""The exceptions a request can end in, each answered by `errors.py` in the form the
request wants. A leaf module: it imports nothing of ours, so any module may raise them."""

from __future__ import annotations


class BadRequest(Exception):
    """Bad input with a message meant for the client (400, or `status`)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class TooComplex(BadRequest):
    """Markdown over the nesting limit or the time budget (400); nothing is stored."""

    def __init__(self) -> None:
        super().__init__("This text is too complex to render.")


class TooManyRequests(Exception):
    """A throttle said no: 429 with Retry-After (and pages say how long to wait)."""

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = max(1, int(retry_after))
        self.message = message


class AuthRequired(Exception):
    """Raised when a route needs a signed-in viewer and there is none (401 / login)."""


class CredentialsInvalid(Exception):
    """Raised when an Authorization header names nobody (401 for JSON clients)."""


class Forbidden(Exception):
    """Raised when the viewer lacks a permission (403)."""

    def __init__(self, message: str = "You do not have permission to do that.") -> None:
        super().__init__(message)
        self.message = message


class Unconfirmed(Exception):
    """Raised when an unconfirmed account asks for anything but /auth/* (redirect / 403)."""


class BadHost(Exception):
    """A request for a host this deployment does not serve (400)."""
