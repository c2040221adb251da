"""Every error status answers as a page, an htmx fragment, or SPEC's JSON body, with the
security headers, `Vary` and the query count; database outages answer 503."""

from __future__ import annotations

from typing import Any

import pytest
from asyncpg import exceptions as pg
from quart import Blueprint, abort, request
from tortoise.exceptions import DBConnectionError, OperationalError

from flasky import create_app, db
from flasky.errors import BadRequest, TooManyRequests
from flasky.identity import AuthRequired, Forbidden
from tests.helpers import FORMS, HTMX, JSON

UNREACHABLE = "postgres://postgres@127.0.0.1:1/flasky_nowhere"

NAMES = {
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    413: "payload too large",
    429: "too many requests",
    500: "internal server error",
    503: "service unavailable",
}

# A blueprint that exists only in these tests: each route fails in one way.
raising = Blueprint("raising", __name__, url_prefix="/_raise")


@raising.get("/bad-request")
async def bad_request() -> Any:
    """Our own 400 with a message for the client."""
    raise BadRequest("The field 'body' must be a string.")


@raising.get("/abort/<int:code>")
async def aborted(code: int) -> Any:
    """werkzeug's HTTP exception for `code`."""
    abort(code)


@raising.get("/forbidden")
async def forbidden() -> Any:
    """The permission check's exception."""
    raise Forbidden()


@raising.get("/login-needed")
async def login_needed() -> Any:
    """What login_required raises for an anonymous viewer."""
    raise AuthRequired()


@raising.get("/throttled")
async def throttled() -> Any:
    """The login throttle's exception."""
    raise TooManyRequests(42)


@raising.get("/crash")
async def crash() -> Any:
    """A bug."""
    raise RuntimeError("boom: a secret detail that must not leak")


@raising.get("/db-down")
async def db_down() -> Any:
    """The database does not answer."""
    raise DBConnectionError("connection refused")


@raising.get("/db-gone")
async def db_gone() -> Any:
    """An operational error whose cause is a dropped connection."""
    raise OperationalError("query failed") from ConnectionResetError("connection reset by peer")


@raising.get("/rollback-on-a-closed-connection")
async def rollback_on_a_closed_connection() -> Any:
    """What a transaction's exit raised when PostgreSQL shut down under it (found by the
    outage test): the rollback's InterfaceError, saying the connection is closed."""
    raise pg.InterfaceError(
        "cannot call Transaction.rollback(): the underlying connection is closed"
    )


@raising.get("/raised-while-the-connection-went")
async def raised_while_the_connection_went() -> Any:
    """A database error with no outage words of its own, raised while handling the
    driver's word that the connection is gone: the chain says it is an outage."""
    try:
        raise pg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    except pg.ConnectionDoesNotExistError:
        raise pg.InterfaceError("cannot call Transaction.rollback()") from None  # context kept


@raising.get("/bug-while-the-connection-went")
async def bug_while_the_connection_went() -> Any:
    """Our own bug, raised while handling a lost connection: still a bug (500)."""
    try:
        raise pg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    except pg.ConnectionDoesNotExistError:
        raise RuntimeError("boom: a bug in the handler") from None


@raising.get("/interface-bug")
async def interface_bug() -> Any:
    """asyncpg's InterfaceError for a mistake of ours (the database is fine): a 500."""
    raise pg.InterfaceError("the server expects 2 arguments for this query, 1 was passed")


@raising.get("/shutting-down")
async def shutting_down() -> Any:
    """An operational error worded as PostgreSQL words a shutdown, with no cause kept."""
    raise OperationalError("the database system is shutting down")


@raising.post("/echo")
async def echo() -> Any:
    """Reads the body and tells its length."""
    return {"length": len(await request.get_data())}


@pytest.fixture
def raising_client(app: Any) -> Any:
    app.register_blueprint(raising)
    return app.test_client()


async def assert_error(response: Any, status: int, headers: dict[str, str]) -> Any:
    """The checks every error answer passes, in the form `headers` asked for."""
    assert response.status_code == status
    text = await response.get_data(as_text=True)
    h = response.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in h["Content-Security-Policy"]
    assert "unsafe-inline" not in h["Content-Security-Policy"].split("script-src")[1].split(";")[0]
    assert h["Referrer-Policy"]
    assert "Accept" in h["Vary"] and "HX-Request" in h["Vary"]
    assert int(h["X-Query-Count"]) >= 0
    assert "boom" not in text and "Traceback" not in text
    if headers is JSON:
        assert h["Content-Type"].startswith("application/json")
        body = await response.get_json()
        assert set(body) == {"error", "message"}
        assert body["error"] == NAMES[status]
        assert isinstance(body["message"], str) and body["message"]
        return body
    assert h["Content-Type"].startswith("text/html")
    assert str(status) in text
    if headers is HTMX:
        assert 'id="error"' in text
        assert "<html" not in text
    else:
        assert text.lstrip().lower().startswith("<!doctype html>")
        assert "<html" in text and 'id="error"' in text
    return text


@FORMS
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/_raise/bad-request", 400),
        ("/_raise/abort/400", 400),
        ("/_raise/abort/401", 401),
        ("/_raise/forbidden", 403),
        ("/_raise/abort/403", 403),
        ("/no/such/page", 404),
        ("/_raise/abort/404", 404),
        ("/_raise/throttled", 429),
        ("/_raise/crash", 500),
        ("/_raise/abort/500", 500),
        ("/_raise/db-down", 503),
        ("/_raise/db-gone", 503),
        ("/_raise/rollback-on-a-closed-connection", 503),
        ("/_raise/raised-while-the-connection-went", 503),
        ("/_raise/bug-while-the-connection-went", 500),
        ("/_raise/interface-bug", 500),
        ("/_raise/shutting-down", 503),
        ("/_raise/abort/503", 503),
    ],
)
async def test_error_forms(raising_client: Any, headers: dict[str, str], path: str, status: int):
    response = await raising_client.get(path, headers=headers)
    await assert_error(response, status, headers)


@FORMS
async def test_400_carries_its_message(raising_client: Any, headers: dict[str, str]):
    response = await raising_client.get("/_raise/bad-request", headers=headers)
    answer = await assert_error(response, 400, headers)
    message = "The field 'body' must be a string."
    if headers is JSON:
        assert answer["message"] == message
    else:
        assert "The field &#39;body&#39; must be a string." in answer


@FORMS
async def test_405_names_the_allowed_methods(raising_client: Any, headers: dict[str, str]):
    response = await raising_client.delete("/healthz", headers=headers)
    await assert_error(response, 405, headers)
    assert "GET" in response.headers["Allow"]


@FORMS
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
async def test_413_for_a_body_over_one_mebibyte(
    raising_client: Any, headers: dict[str, str], declared: bool
):
    body = b"x" * (1024 * 1024 + 1)
    sent = {**headers, "Content-Type": "application/octet-stream"}
    if declared:  # refused before any handler runs; otherwise when the body is read
        sent["Content-Length"] = str(len(body))
    response = await raising_client.post("/_raise/echo", data=body, headers=sent)
    await assert_error(response, 413, headers)


async def test_a_body_of_one_mebibyte_passes(raising_client: Any):
    body = b"x" * (1024 * 1024)
    response = await raising_client.post(
        "/_raise/echo",
        data=body,
        headers={
            **JSON,
            "Content-Type": "application/octet-stream",
            "Content-Length": str(len(body)),
        },
    )
    assert response.status_code == 200
    assert await response.get_json() == {"length": len(body)}


@FORMS
async def test_429_says_when_to_retry(raising_client: Any, headers: dict[str, str]):
    response = await raising_client.get("/_raise/throttled", headers=headers)
    await assert_error(response, 429, headers)
    assert response.headers["Retry-After"] == "42"


async def test_login_needed_redirects_pages_and_answers_401_to_json(raising_client: Any):
    page = await raising_client.get("/_raise/login-needed")
    assert page.status_code in (302, 303)
    assert page.headers["Location"].startswith("/auth/login?next=")
    assert page.headers["Location"].endswith("next=/_raise/login-needed")
    fragment = await raising_client.get("/_raise/login-needed", headers=HTMX)
    assert fragment.headers["HX-Redirect"].startswith("/auth/login?next=")
    data = await raising_client.get("/_raise/login-needed", headers=JSON)
    await assert_error(data, 401, JSON)
    assert data.headers["WWW-Authenticate"].startswith("Basic")


async def test_ties_in_accept_go_to_html(raising_client: Any):
    response = await raising_client.get(
        "/no/such/page", headers={"Accept": "application/json, text/html"}
    )
    assert response.status_code == 404
    assert "<html" in await response.get_data(as_text=True)
    preferred = await raising_client.get(
        "/no/such/page", headers={"Accept": "text/html;q=0.5, application/json"}
    )
    assert (await preferred.get_json())["error"] == "not found"


async def test_api_paths_answer_json_whatever_the_accept_header(raising_client: Any):
    response = await raising_client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert (await response.get_json())["error"] == "not found"


async def test_500_is_logged(raising_client: Any, caplog: Any):
    await raising_client.get("/_raise/crash")
    assert any("boom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


# -- the database is down ----------------------------------------------------------------------


@pytest.fixture
async def down_app() -> Any:
    """The app pointed at a PostgreSQL port where nothing listens."""
    application = create_app("testing", DATABASE_URL=UNREACHABLE)
    async with application.test_app():
        yield application
    await db.disconnect()


async def test_healthz_503_when_the_database_is_down(down_app: Any):
    response = await down_app.test_client().get("/healthz")
    assert response.status_code == 503
    body = await response.get_json()
    assert body["error"] == "service unavailable" and body["message"]
    assert response.headers["Cache-Control"] == "no-store"


@FORMS
async def test_pages_answer_503_when_the_database_is_down(down_app: Any, headers: dict[str, str]):
    response = await down_app.test_client().get("/", headers=headers)
    await assert_error(response, 503, headers)


async def test_healthz_ok_with_the_database_up(client: Any):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
