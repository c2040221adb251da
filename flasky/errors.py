"""Every error answers through `respond()`: a page, an htmx fragment, or SPEC's JSON body."""

from __future__ import annotations

import logging
from typing import Any

from asyncpg import exceptions as pg
from quart import Quart, Response, g, request, url_for
from tortoise.exceptions import (
    ConfigurationError,
    DBConnectionError,
    IntegrityError,
    OperationalError,
    TransactionManagementError,
    ValidationError,
)
from werkzeug.exceptions import HTTPException

from flasky.exceptions import (
    AuthRequired,
    BadHost,
    BadRequest,
    CredentialsInvalid,
    Forbidden,
    TooManyRequests,
    Unconfirmed,
)
from flasky.models import AnonymousUser
from flasky.negotiate import json_error, respond, wants_json
from flasky.pagination import BadCursor

log = logging.getLogger("flasky.errors")

ERROR_NAMES = {
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "bad request",  # SPEC §4's names: a key still in use is the client's to resend
    413: "payload too large",
    422: "bad request",
    429: "too many requests",
    500: "internal server error",
    503: "service unavailable",
}

MESSAGES = {
    400: "The request could not be understood.",
    401: "Please sign in to do that.",
    403: "You do not have permission to do that.",
    404: "There is nothing here.",
    405: "That method is not allowed here.",
    413: "The request is larger than 1 MiB.",
    429: "Too many attempts. Please wait a little and try again.",
    500: "Something went wrong on our side. It has been logged.",
    503: "The service is briefly unavailable. Please try again in a moment.",
}

WWW_AUTHENTICATE = 'Basic realm="Flasky", charset="UTF-8"'


def _driver_bad_values() -> tuple[type[Exception], ...]:
    """asyncpg's DataError (a value PostgreSQL refuses)."""
    return (pg.DataError,)


def _driver_outages() -> tuple[type[Exception], ...]:
    """asyncpg's errors for a server that is gone, going, refusing or out of resources.
    Tortoise passes them through untranslated; its pool raises InternalClientError when it
    releases a connection the server dropped mid-query."""
    return (
        pg.PostgresConnectionError,
        pg.OperatorInterventionError,
        pg.InsufficientResourcesError,
        pg.InternalClientError,
        # 55000: "database … is not currently accepting connections" (ALLOW_CONNECTIONS
        # false, a database being dropped or recovered)
        pg.ObjectNotInPrerequisiteStateError,
    )


DRIVER_DOWN = _driver_outages()
# What a driver raises for a value it cannot send or the server cannot take (Tortoise
# wraps it in OperationalError): asyncpg's DataError (class 22, or a client-side
# ValueError such as an int past int32), SQLite's OverflowError.
BAD_VALUE: tuple[type[Exception], ...] = (ValueError, OverflowError, *_driver_bad_values())
DATABASE_DOWN = (
    DBConnectionError,
    ConnectionError,
    OSError,
    TimeoutError,
    TransactionManagementError,
    *DRIVER_DOWN,
)


async def error_response(
    status: int, message: str | None = None, headers: dict | None = None
) -> Response:
    """The answer for `status` in the form this request wants."""
    message = message or MESSAGES.get(status, "Error")
    if getattr(g, "viewer", None) is None:
        # Never query while reporting an error (the database may be what failed).
        g.viewer = AnonymousUser()
    g.reporting_error = True  # the page's header badge too: cached counts only
    if wants_json() or _is_api():
        response = json_error(status, ERROR_NAMES.get(status, "error"), message)
        if headers:
            response.headers.update(headers)
        return response
    return await respond(
        "errors/error.html",
        fragment="errors/_error.html",
        status=status,
        headers=headers,
        code=status,
        message=message,
    )


def _is_api() -> bool:
    return request.path.startswith("/api/")


async def _http(exc: HTTPException) -> Response:
    status = exc.code or 500
    message = exc.description if status == 400 and exc.description else None
    allowed = getattr(exc, "valid_methods", None)
    headers = {"Allow": ", ".join(allowed)} if allowed else None
    if message and "browser" in message:
        message = None  # werkzeug's default text speaks of "the browser": use ours
    return await error_response(status, message, headers)


async def _bad_request(exc: BadRequest) -> Response:
    return await error_response(exc.status, exc.message)


async def _bad_cursor(exc: BadCursor) -> Response:
    return await error_response(400, "The cursor is not valid.")


async def _auth_required(exc: AuthRequired) -> Response:
    if wants_json() or _is_api() or "Authorization" in request.headers:
        return await error_response(401, headers={"WWW-Authenticate": WWW_AUTHENTICATE})
    login = url_for("auth.login", next=request.full_path.rstrip("?"))
    return await respond(redirect_to=login, hx_redirect=login)


async def _credentials(exc: CredentialsInvalid) -> Response:
    return await error_response(
        401, "Invalid credentials.", headers={"WWW-Authenticate": WWW_AUTHENTICATE}
    )


async def _forbidden(exc: Forbidden) -> Response:
    return await error_response(403, exc.message)


async def _unconfirmed(exc: Unconfirmed) -> Response:
    if wants_json() or _is_api() or "Authorization" in request.headers:
        return json_error(403, "forbidden", "Unconfirmed account")
    target = url_for("auth.unconfirmed")
    return await respond(redirect_to=target, hx_redirect=target)


async def _throttled(exc: TooManyRequests) -> Response:
    first = exc.message or "Too many attempts."
    message = f"{first} Please wait {wait_text(exc.retry_after)} and try again."
    return await error_response(429, message, headers={"Retry-After": str(exc.retry_after)})


async def _bad_host(exc: BadHost) -> Response:
    return await error_response(400, "This server does not answer for that host name.")


async def _integrity(exc: IntegrityError) -> Response:
    log.info("integrity error on %s %s: %s", request.method, request.path, exc)
    return await error_response(400, "That conflicts with existing data.")


async def _operational(exc: OperationalError) -> Response:
    if isinstance(exc.__cause__, DATABASE_DOWN) or _looks_down(exc) or _lost_connection(exc):
        log.warning("database unavailable: %s", exc)
        return await error_response(503)
    if isinstance(exc.__cause__, BAD_VALUE):
        return await _unusable_value(exc)
    log.exception("database error", exc_info=exc)
    return await error_response(500)


async def _unusable_value(exc: Exception) -> Response:
    """A value from the request that no row can hold (a 300-character username, a NUL
    character, an id past the integer range): nothing has it (404), or it cannot be
    stored (400)."""
    log.info("unusable value on %s %s: %s", request.method, request.path, exc)
    return await error_response(404 if request.method in ("GET", "HEAD") else 400)


async def _down(exc: Exception) -> Response:
    log.warning("database unavailable: %s", exc)
    return await error_response(503)


async def _unexpected(exc: Exception) -> Response:
    if _lost_connection(exc):
        return await _down(exc)
    log.exception("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    return await error_response(500)


# Raised outside Tortoise's OperationalError when the database is gone: 503.
OUTAGES = (DBConnectionError, ConnectionError, ConfigurationError, TimeoutError, *DRIVER_DOWN)
HANDLERS: tuple[tuple[type[Exception], Any], ...] = (
    (HTTPException, _http),
    (BadRequest, _bad_request),
    (BadCursor, _bad_cursor),
    (AuthRequired, _auth_required),
    (CredentialsInvalid, _credentials),
    (Forbidden, _forbidden),
    (Unconfirmed, _unconfirmed),
    (TooManyRequests, _throttled),
    (BadHost, _bad_host),
    (IntegrityError, _integrity),
    (OperationalError, _operational),
    (ValidationError, _unusable_value),
    (OverflowError, _unusable_value),  # SQLite's driver raises it unwrapped
    *((down, _down) for down in OUTAGES),
    (Exception, _unexpected),
)


def init_app(app: Quart) -> None:
    """Register the handlers (the most specific class wins, as Quart looks them up)."""
    for exc_type, handler in HANDLERS:
        app.register_error_handler(exc_type, handler)


def wait_text(seconds: int) -> str:
    """'40 seconds', '1 minute', '15 minutes', '2 hours': how long a throttle holds."""
    if seconds < 60:
        amount, unit = seconds, "second"
    elif seconds < 3600:
        amount, unit = -(-seconds // 60), "minute"
    else:
        amount, unit = -(-seconds // 3600), "hour"
    return f"{amount} {unit}{'s' if amount != 1 else ''}"


def _lost_connection(exc: BaseException) -> bool:
    """Whether a database error came of a database that went away: raised while handling
    the driver's word that the connection is gone (a rollback on a connection the server
    has just closed raises asyncpg's InterfaceError, chained to the
    ConnectionDoesNotExistError that closed it), or saying itself that the connection is
    closed. Only database errors qualify: another bug stays a 500 with its traceback."""
    if not isinstance(exc, (pg.InterfaceError, OperationalError)):
        return False
    if isinstance(exc, pg.InterfaceError) and "connection is closed" in str(exc).lower():
        return True
    seen: set[int] = {id(exc)}
    link = exc.__cause__ or exc.__context__
    while link is not None and id(link) not in seen and len(seen) < 20:
        seen.add(id(link))
        if isinstance(link, (DBConnectionError, *DRIVER_DOWN)):
            return True
        link = link.__cause__ or link.__context__
    return False


def _looks_down(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(
        phrase in text
        for phrase in (
            "connection",
            "could not connect",
            "terminating",
            "shutdown",
            "shutting down",
            "closed",
            "unable to open database",
            "database is locked",
        )
    )
