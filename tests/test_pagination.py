"""Keyset pages: a list query runs the same number of queries whatever its length, a
cursor walk visits every item once and in order (equal timestamps, rows arriving
mid-walk), and a cursor we did not write is refused."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flasky import db
from flasky.models import Comment, Follow, Post, User
from flasky.pagination import BadCursor, decode_cursor, encode_cursor, keyset_page
from tests.conftest import make_user
from tests.helpers import set_body

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def posts_by(author: User, count: int, *, start: int = 0, same_every: int = 1) -> None:
    """`count` posts by `author`; every `same_every` consecutive posts share a timestamp."""
    rows = []
    for i in range(start, start + count):
        post = Post(author_id=author.id, timestamp=BASE + timedelta(minutes=i // same_every))
        set_body(post, f"post {i}")
        rows.append(post)
    await Post.bulk_create(rows)


async def comments_on(post: Post, authors: list[User], count: int, same_every: int = 1) -> None:
    rows = []
    for i in range(count):
        comment = Comment(
            post_id=post.id,
            author_id=authors[i % len(authors)].id,
            timestamp=BASE + timedelta(minutes=i // same_every),
        )
        set_body(comment, f"comment {i}")
        rows.append(comment)
    await Comment.bulk_create(rows)


async def followers(target: User, count: int, prefix: str) -> None:
    for i in range(count):
        fan = await make_user(f"{prefix}{i}@example.com")
        await fan.follow(target)


async def measured(run: Callable[[], Awaitable[Any]]) -> int:
    """Queries run by `run()`, including reading every field a page shows."""
    with db.count_queries() as stats:
        await run()
    return stats.count


def touch_posts(page: Any) -> None:
    for post in page.items:
        assert post.author.username and post.comment_count >= 0


# -- query counts do not grow with the list ---------------------------------------------------


@pytest.mark.parametrize("followed", [False, True], ids=["all", "followed"])
async def test_feed_query_count_is_fixed(app: Any, followed: bool):
    viewer = await make_user("viewer@example.com")
    counts = []
    for size, name in ((5, "small"), (50, "large")):
        author = await make_user(f"{name}@example.com")
        await viewer.follow(author)
        await Post.all().delete()
        await posts_by(author, size)

        async def run(size: int = size) -> None:
            page = await keyset_page(Post.feed(viewer, followed=followed), None, 100)
            assert len(page.items) == size
            touch_posts(page)

        counts.append(await measured(run))
    assert counts[0] == counts[1] == 1


USER_LISTS = {
    "timeline": Post.timeline,
    "by_author": Post.by_author,
    "followed_by": Post.followed_by,  # the prepared forms the pages use
    "written_by": Post.written_by,
}


@pytest.mark.parametrize("which", list(USER_LISTS))
async def test_user_lists_query_count_is_fixed(app: Any, which: str):
    counts = []
    for size, name in ((5, "small"), (50, "large")):
        user = await make_user(f"{name}@example.com")
        await posts_by(user, size)
        query = USER_LISTS[which](user)

        async def run(query: Any = query, size: int = size) -> None:
            page = await keyset_page(query, None, 100)
            assert len(page.items) == size
            touch_posts(page)

        counts.append(await measured(run))
    assert counts[0] == counts[1] == 1


async def test_comments_query_count_is_fixed(app: Any):
    author = await make_user()
    counts = []
    for size in (5, 50):
        post = await Post.publish(author, f"post with {size} comments")
        await comments_on(post, [author], size)

        async def run(post: Post = post, size: int = size) -> None:
            page = await keyset_page(Comment.for_post(post.id), None, 100, newest_first=False)
            assert len(page.items) == size
            assert all(c.author.username == author.username for c in page.items)

        counts.append(await measured(run))
    assert counts[0] == counts[1] == 1


@pytest.mark.parametrize("direction", ["followers_of", "followed_by"])
async def test_follow_lists_query_count_is_fixed(app: Any, direction: str):
    counts = []
    for size, name in ((5, "small"), (50, "large")):
        star = await make_user(f"{name}@example.com")
        if direction == "followers_of":
            await followers(star, size, f"{name}-fan")
            query = Follow.followers_of(star)
            other = "follower"
        else:
            for i in range(size):
                await star.follow(await make_user(f"{name}-idol{i}@example.com"))
            query = Follow.followed_by(star)
            other = "followed"

        async def run(query: Any = query, size: int = size, other: str = other) -> None:
            page = await keyset_page(query, None, 100)
            assert len(page.items) == size  # the self-follow is left out
            assert all(getattr(f, other).username for f in page.items)

        counts.append(await measured(run))
    assert counts[0] == counts[1] == 1


async def test_moderation_queue_query_count_is_fixed(app: Any):
    author = await make_user()
    post = await Post.publish(author, "p")
    counts = []
    for size in (5, 50):
        await Comment.all().delete()
        await comments_on(post, [author], size)

        async def run(size: int = size) -> None:
            page = await keyset_page(Comment.moderation_queue(), None, 100)
            assert len(page.items) == size
            assert all(c.author.username for c in page.items)

        counts.append(await measured(run))
    assert counts[0] == counts[1] == 1


# -- walking with cursors ----------------------------------------------------------------------


async def walk(query: Callable[[], Any], per_page: int, newest_first: bool = True) -> list[int]:
    seen: list[int] = []
    cursor = None
    for _ in range(1000):
        page = await keyset_page(query(), cursor, per_page, newest_first=newest_first)
        seen += [item.id for item in page.items]
        if page.next_cursor is None:
            return seen
        assert page.next_cursor is not None
        cursor = page.next_cursor
    raise AssertionError("the walk never ended")


def expected_order(rows: list[tuple[int, datetime]], newest_first: bool = True) -> list[int]:
    ordered = sorted(rows, key=lambda r: (r[1], r[0]), reverse=newest_first)
    return [row_id for row_id, _ in ordered]


@pytest.mark.parametrize("per_page", [1, 4, 7, 45, 100])
async def test_walk_visits_every_post_once_in_order(app: Any, per_page: int):
    author = await make_user()
    await posts_by(author, 45, same_every=5)  # nine groups of five equal timestamps
    rows = await Post.all().values_list("id", "timestamp")
    seen = await walk(Post.listing, per_page)
    assert seen == expected_order(rows)
    assert len(set(seen)) == 45


async def test_walk_oldest_first_with_equal_timestamps(app: Any):
    author = await make_user()
    post = await Post.publish(author, "p")
    await comments_on(post, [author], 23, same_every=4)
    rows = await Comment.all().values_list("id", "timestamp")
    seen = await walk(lambda: Comment.for_post(post.id), 3, newest_first=False)
    assert seen == expected_order(rows, newest_first=False)


async def test_rows_arriving_mid_walk_are_neither_skipped_nor_repeated(app: Any):
    author = await make_user()
    await posts_by(author, 30, same_every=3)
    original = expected_order(await Post.all().values_list("id", "timestamp"))

    first = await keyset_page(Post.listing(), None, 10)
    last = first.items[-1]
    # new posts: newer than everything, and one sharing the cursor's own timestamp
    await posts_by(author, 5, start=100)
    twin = Post(author_id=author.id, timestamp=last.timestamp)
    set_body(twin, "same moment as the cursor, written later")
    await twin.save()

    seen = [p.id for p in first.items]
    cursor = first.next_cursor
    while cursor:
        page = await keyset_page(Post.listing(), cursor, 10)
        seen += [p.id for p in page.items]
        cursor = page.next_cursor
    assert seen == original
    assert len(seen) == len(set(seen))


async def test_last_page_has_no_next_cursor(app: Any):
    author = await make_user()
    await posts_by(author, 10)
    page = await keyset_page(Post.listing(), None, 10)
    assert len(page.items) == 10 and page.next_cursor is None
    empty = await keyset_page(Post.listing().filter(id=-1), None, 10)
    assert empty.items == [] and empty.next_cursor is None


# -- cursors -----------------------------------------------------------------------------------


def test_cursor_round_trip():
    moment = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    cursor = encode_cursor(moment, 42)
    assert decode_cursor(cursor) == (moment, 42)
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor
    naive = encode_cursor(datetime(2026, 3, 1, 12, 0), 7)  # naive means UTC
    assert decode_cursor(naive) == (datetime(2026, 3, 1, 12, 0, tzinfo=UTC), 7)


def b64(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "é",
        "x",
        b64(b"\xff\xfe not json"),
        b64({"a": 1}),
        b64([1, 2, 3]),
        b64(None),
        b64(["not a time", 1]),
        b64([12345, 1]),
        b64(["2026-03-01T12:00:00", 1]),  # no offset: we never write those
        b64(["2026-03-01T12:00:00+00:00", "1"]),
        b64(["2026-03-01T12:00:00+00:00", True]),
        b64(["2026-03-01T12:00:00+00:00", 1.5]),
    ],
)
async def test_bad_cursor_is_refused(app: Any, cursor: str):
    with pytest.raises(BadCursor):
        decode_cursor(cursor)
    with pytest.raises(BadCursor):
        await keyset_page(Post.listing(), cursor, 10)


@pytest.mark.parametrize(
    ("headers", "expect"),
    [
        ({}, "<html"),
        ({"HX-Request": "true"}, 'id="error"'),
        ({"Accept": "application/json"}, '"bad request"'),
    ],
    ids=["page", "fragment", "json"],
)
async def test_bad_cursor_answers_400(client: Any, headers: dict[str, str], expect: str):
    response = await client.get("/?cursor=garbage!", headers=headers)
    assert response.status_code == 400
    assert expect in await response.get_data(as_text=True)
