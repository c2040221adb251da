"""What the posts and comments tests share: the accounts of the permission table, a post
with a comment, bulk writers, and checks for sanitised markup and `Vary`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from flasky.models import Comment, Post, User, utcnow
from tests.conftest import csrf_from, make_user
from tests.helpers import set_body, text

XSS = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> "
    '[click](javascript:alert(3)) <a href="javascript:alert(4)">x</a> '
    '<iframe src="https://evil.example"></iframe> <b onmouseover=alert(5)>bold</b>'
)
POST_IDS = re.compile(r'<li id="post-(\d+)"')
COMMENT_IDS = re.compile(r'<li id="comment-(\d+)"')
SENTINEL = re.compile(r'class="sentinel" hx-get="([^"]+)"')


def assert_clean(markup: str) -> None:
    """No script, handler, javascript: URL or disallowed element survived."""
    lowered = markup.lower()
    for bad in ("<script", "onerror", "onmouseover", "javascript:", "<iframe", "<img"):
        assert bad not in lowered, (bad, markup)


def page_is_safe(markup: str) -> None:
    """A whole page: the payloads may appear escaped (in a textarea), never live."""
    for bad in ("<script>alert", "<img src=x", 'href="javascript:', "<iframe src", "<b onmouse"):
        assert bad not in markup


def assert_vary(response: Any) -> None:
    """The answer says it depends on Accept and HX-Request (Quart may add Cookie)."""
    vary = {v.strip() for v in response.headers.get("Vary", "").split(",")}
    assert {"Accept", "HX-Request"} <= vary, (response.status_code, vary)


async def token(client: Any) -> str:
    """A CSRF token for the client's session, from the first page that shows one."""
    for path in ("/", "/auth/unconfirmed", "/auth/login"):
        response = await client.get(path)
        body = await text(response)
        if response.status_code == 200 and ("csrf_token" in body or "X-CSRFToken" in body):
            return csrf_from(body)
    raise AssertionError("no page shows a CSRF token")


async def write_posts(author: User, n: int, *, same_time: bool = False) -> list[int]:
    """`n` posts by `author`, one second apart (or all at one moment); ids oldest first."""
    start = utcnow() - timedelta(days=1)
    posts = []
    for i in range(n):
        post = Post(author=author, timestamp=start if same_time else start + timedelta(seconds=i))
        set_body(post, f"post number {i}")
        posts.append(post)
    await Post.bulk_create(posts)
    return list(await Post.filter(author_id=author.id).order_by("id").values_list("id", flat=True))


async def write_comments(author: User, post_id: int, n: int) -> list[int]:
    """`n` comments on a post, one second apart, an hour ago; the post's ids oldest first."""
    start = utcnow() - timedelta(hours=1)
    comments = []
    for i in range(n):
        comment = Comment(author=author, post_id=post_id, timestamp=start + timedelta(seconds=i))
        set_body(comment, f"comment number {i}")
        comments.append(comment)
    await Comment.bulk_create(comments)
    return list(
        await Comment.filter(post_id=post_id)
        .order_by("timestamp", "id")
        .values_list("id", flat=True)
    )


async def new_post(author: User, body: str = "Hello *world*") -> Post:
    return await Post.publish(author, body)


@pytest.fixture
async def people(app: Any) -> dict[str, User]:
    """One account per role of the permission table."""
    return {
        "author": await make_user(EMAILS["author"]),
        "user": await make_user(EMAILS["user"]),
        "moderator": await make_user(EMAILS["moderator"], role="Moderator"),
        "admin": await make_user(EMAILS["admin"], role="Administrator"),
        "unconfirmed": await make_user(EMAILS["unconfirmed"], confirmed=False),
    }


@pytest.fixture
async def post(people: dict[str, User]) -> Post:
    """A post by `author` with one comment by `user`."""
    found = await new_post(people["author"])
    await Comment.publish(people["user"], found, "First!")
    return found


EMAILS = {
    "author": "author@example.com",
    "user": "user@example.com",
    "moderator": "mod@example.com",
    "admin": "admin@example.com",
    "unconfirmed": "new@example.com",
}


async def sign_in(auth: Any, who: str) -> None:
    """Log in through the real form as one of `people` (anonymous stays out)."""
    if who != "anonymous":
        response = await auth.login(EMAILS[who])
        assert response.status_code in (302, 303), await text(response)
