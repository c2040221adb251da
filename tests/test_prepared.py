"""Prepared list queries (flasky/prepared.py): SQL built once per shape, every later run
binds that run's values, and the pages and counts equal those of the plain queryset."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from flasky.models import Comment, Post, User
from flasky.models.content import AUTHOR_POSTS, EVERYONES_POSTS, FOLLOWED_POSTS, POST_COMMENTS
from flasky.pagination import keyset_page
from flasky.prepared import Bound, Prepared
from tests.conftest import make_user
from tests.test_pagination import BASE, comments_on, posts_by


async def walk(query: Callable[[], Any], per_page: int, newest_first: bool = True) -> list[int]:
    seen: list[int] = []
    cursor = None
    while True:
        page = await keyset_page(query(), cursor, per_page, newest_first=newest_first)
        seen += [item.id for item in page.items]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


async def two_authors() -> tuple[User, User, User]:
    """A reader following `ann` (not `bob`), each with posts sharing timestamps."""
    reader = await make_user("reader@example.com")
    ann = await make_user("ann@example.com")
    bob = await make_user("bob@example.com")
    await reader.follow(ann)
    await posts_by(ann, 17, same_every=3)
    await posts_by(bob, 11, start=50, same_every=2)
    return reader, ann, bob


@pytest.mark.parametrize("per_page", [1, 4, 7, 100])
async def test_prepared_walks_equal_queryset_walks(app: Any, per_page: int):
    reader, ann, bob = await two_authors()
    pairs = [
        (lambda: Post.feed(reader), Post.listing),
        (lambda: Post.feed(reader, followed=True), lambda: Post.timeline(reader)),
        (lambda: Post.written_by(ann), lambda: Post.by_author(ann)),
        (lambda: Post.written_by(bob), lambda: Post.by_author(bob)),
    ]
    for prepared, plain in pairs:
        assert isinstance(prepared(), Bound)
        expected = await walk(plain, per_page)
        assert expected, "the data set must not be empty"
        assert await walk(prepared, per_page) == expected


async def test_each_run_binds_its_own_values(app: Any):
    """One shape serves every author: the second author's page is not the first's."""
    _, ann, bob = await two_authors()
    ann_page = await keyset_page(Post.written_by(ann), None, 100)
    bob_page = await keyset_page(Post.written_by(bob), None, 100)
    assert {p.author_id for p in ann_page.items} == {ann.id}
    assert {p.author_id for p in bob_page.items} == {bob.id}
    assert len(ann_page.items) == 17 and len(bob_page.items) == 11
    # one shape for a first page and one for a cursor page, whatever the author
    first_pages = [key for key in AUTHOR_POSTS._shapes if "moment" not in key[-1]]
    assert len(first_pages) == 1


async def test_rows_carry_what_cards_show(app: Any):
    """Authors joined and comment counts annotated, as the queryset's rows are."""
    reader, ann, _ = await two_authors()
    post = (await keyset_page(Post.written_by(ann), None, 1)).items[0]
    await comments_on(post, [reader, ann], 3)
    fresh = (await keyset_page(Post.written_by(ann), None, 1)).items[0]
    assert fresh.id == post.id
    assert fresh.author.username == ann.username
    assert fresh.comment_count == 3
    assert fresh.timestamp.tzinfo is not None


async def test_counts_equal_queryset_counts(app: Any):
    reader, ann, bob = await two_authors()
    assert await Post.followed_by(reader).count() == await Post.timeline(reader).count() == 17
    assert await Post.written_by(bob).count() == 11
    assert await EVERYONES_POSTS().count() == await Post.all().count() == 28
    assert await FOLLOWED_POSTS(user=bob.id).count() == 11  # bob follows only himself


async def test_comment_pages_stop_at_their_moment(app: Any):
    author = await make_user()
    post = await Post.publish(author, "p")
    await comments_on(post, [author], 9, same_every=2)
    for minutes in (0, 2, 10):
        until = BASE + timedelta(minutes=minutes)
        plain = await walk(
            lambda until=until: Comment.for_post(post.id).filter(timestamp__lte=until), 2, False
        )
        prepared = await walk(lambda until=until: Comment.on_post_until(post.id, until), 2, False)
        assert prepared == plain
        assert len(prepared) == min(9, 2 * (minutes + 1))
    assert POST_COMMENTS(post=post.id, until=BASE).queryset is not None


async def test_a_value_folded_into_the_sql_is_refused(app: Any):
    """A builder that ignores a value would freeze the first run's value; it is caught."""
    ignores = Prepared(Post, lambda user: Post.filter(author_id=1))
    with pytest.raises(RuntimeError, match="did not become parameters"):
        await ignores(user=5).page(None, None, 10, newest_first=True)
