"""What many test modules share: the three request forms, the JSON key sets of SPEC §4,
Basic credentials, and small readers of answers. Fixtures live in conftest.py."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from flasky.models import Comment
from flasky.text import render_markdown
from tests.conftest import PASSWORD, TEST_DATABASE_URL, AuthActions, csrf_from

# The three representations of every URL (compared by identity: `headers is JSON`).
PAGE: dict[str, str] = {}
HTMX = {"HX-Request": "true"}
JSON = {"Accept": "application/json"}
FORMS = pytest.mark.parametrize("headers", [PAGE, HTMX, JSON], ids=["page", "fragment", "json"])

# fmt: off
POST_KEYS = {
    "id", "url", "body", "body_html", "timestamp", "author_url", "author", "comments_url",
    "comment_count", "tags",
}
COMMENT_KEYS = {
    "id", "url", "post_url", "body", "body_html", "timestamp", "author_url", "author",
    "disabled",
}
USER_KEYS = {
    "id", "url", "username", "name", "location", "about_me", "member_since", "last_seen",
    "avatar_url", "posts_url", "followed_posts_url", "followers_url", "following_url",
    "post_count", "followers_count", "following_count",
}
AUTHOR_KEYS = {"id", "username", "name", "url", "avatar_url"}
# fmt: on

# Markdown that takes a worker past its budget: Python-Markdown 3.11's link parsing is
# quadratic in unclosed "[a](" (1–2 s here, under the 10,000-character limit; the tests
# that use it set FLASKY_RENDER_BUDGET to 0.25 s). Markdown 3.11 made the old payload,
# "[" * 6000, fast.
SLOW_MARKDOWN = "[a](" * 2400


async def text(response: Any) -> str:
    """The answer's body as text."""
    return await response.get_data(as_text=True)


def basic(user: str, password: str = PASSWORD) -> dict[str, str]:
    """An HTTP Basic `Authorization` header (email or token, password)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def login(client: Any, user: Any, password: str = PASSWORD) -> None:
    """Sign `user` in through the real login form."""
    response = await AuthActions(client).login(user.email, password)
    assert response.status_code in (302, 303), await text(response)


async def csrf(client: Any) -> str:
    """A CSRF token of the signed-in client's session (from the own-profile form)."""
    return csrf_from(await text(await client.get("/edit-profile", headers=HTMX)))


def assert_form(headers: dict[str, str], response: Any, body: str, fragment_id: str) -> None:
    """The answer has the form `headers` asked for, and `Vary`."""
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"] and "Accept" in response.headers["Vary"]
    if headers is JSON:
        assert response.mimetype == "application/json"
    elif headers is HTMX:
        assert "<html" not in body and fragment_id in body
    else:
        assert body.lstrip().lower().startswith("<!doctype html>") and fragment_id in body


def api_headers(user: str, password: str = PASSWORD) -> dict[str, str]:
    """Basic credentials and JSON both ways (what the book's API tests send)."""
    return {**basic(user, password), **JSON, "Content-Type": "application/json"}


async def postgres_admin(sql: str) -> None:
    """Run one statement on the PostgreSQL test server outside any transaction (CREATE /
    DROP DATABASE)."""
    import asyncpg  # only the PostgreSQL runs need the driver here

    url = TEST_DATABASE_URL.replace("postgres://", "postgresql://", 1)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def set_body(row: Any, body: str) -> None:
    """Give an unsaved Post or Comment a body and its sanitised HTML, as a bulk path does
    (the routes render through `render_body`, off the event loop)."""
    row.body = body
    row.body_html = render_markdown(body, "comment" if isinstance(row, Comment) else "post")
