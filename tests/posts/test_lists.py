"""Keyset pages: cursor walks (also while new rows arrive), the no-JS "Older" path, and
query counts that do not grow with the list."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from flasky.models import Comment, Post
from tests.conftest import csrf_from, query_count
from tests.helpers import HTMX, JSON, PAGE, text
from tests.posts.conftest import (
    COMMENT_IDS,
    POST_IDS,
    SENTINEL,
    new_post,
    sign_in,
    write_comments,
    write_posts,
)

# -- walking the cursors ----------------------------------------------------------------------


async def walk_json(client: Any, url: str, key: str, between: Any = None) -> list[int]:
    """Follow `next` from `url` to the end; `between(step)` runs after each page."""
    seen: list[int] = []
    step = 0
    while url:
        response = await client.get(url, headers=JSON)
        assert response.status_code == 200
        data = await response.get_json()
        seen += [item["id"] for item in data[key]]
        url = data["next"]
        if url:
            assert url.startswith("http://")
        step += 1
        if between:
            await between(step)
    return seen


async def walk_sentinels(
    client: Any, url: str, ids: re.Pattern[str], between: Any = None
) -> list[int]:
    """Load `url` as a page, then follow each sentinel's hx-get as htmx would."""
    body = await text(await client.get(url))
    seen = [int(i) for i in ids.findall(body)]
    step = 0
    while match := SENTINEL.search(body):
        response = await client.get(html.unescape(match.group(1)), headers=HTMX)
        body = await text(response)
        assert "<html" not in body
        seen += [int(i) for i in ids.findall(body)]
        step += 1
        if between:
            await between(step)
    return seen


SMALL_PAGES = pytest.mark.parametrize(
    "app_config", [{"FLASKY_POSTS_PER_PAGE": 7, "FLASKY_COMMENTS_PER_PAGE": 6}]
)


@SMALL_PAGES
@pytest.mark.parametrize("same_time", [False, True], ids=["spread", "same-moment"])
async def test_walk_home_feed_json(client, people, same_time):
    ids = await write_posts(people["author"], 30, same_time=same_time)

    async def more_posts(step: int) -> None:
        for _ in range(3):
            await new_post(people["user"], f"arrived at step {step}")

    assert await walk_json(client, "/", "posts", more_posts) == sorted(ids, reverse=True)


@SMALL_PAGES
async def test_walk_home_feed_htmx_and_no_js(client, people):
    ids = (await write_posts(people["author"], 30))[::-1]

    async def more_posts(step: int) -> None:
        await new_post(people["user"], f"arrived at step {step}")

    assert await walk_sentinels(client, "/", POST_IDS, more_posts) == ids
    # without JS: the "Older" link loads the next page in full
    seen: list[int] = []
    url = "/"
    while url:
        body = await text(await client.get(url))
        assert "<html" in body
        seen += [int(i) for i in POST_IDS.findall(body)]
        link = re.search(r'<a href="([^"]+)">Older</a>', body)
        url = html.unescape(link.group(1)) if link else None
    assert [i for i in seen if i in ids] == ids
    assert len(seen) == len(set(seen))


@SMALL_PAGES
async def test_walk_comments(client, people, post):
    ids = await write_comments(people["user"], post.id, 20)
    late: list[int] = []

    async def more_comments(step: int) -> None:
        if step == 1:
            late.append((await Comment.publish(people["author"], post, "late")).id)

    # JSON: oldest first; a comment posted mid-walk comes at the end, once
    assert (
        await walk_json(client, f"/post/{post.id}/comments", "comments", more_comments)
        == ids + late
    )
    # htmx: the pages fetched while scrolling stop at the moment the first was drawn
    ids += late
    late.clear()
    assert await walk_sentinels(client, f"/post/{post.id}", COMMENT_IDS, more_comments) == ids
    assert len(late) == 1


@SMALL_PAGES
async def test_comments_no_js_path_and_comment_redirect(client, people, post):
    ids = await write_comments(people["user"], post.id, 20)
    seen: list[int] = []
    url: str | None = f"/post/{post.id}"
    while url:
        body = await text(await client.get(url))
        assert "<html" in body
        seen += [int(i) for i in COMMENT_IDS.findall(body)]
        link = re.search(r'<a href="([^"#]+)#comments">More comments</a>', body)
        url = html.unescape(link.group(1)) if link else None
    assert seen == ids
    # a comment far down: its redirect lands on a page that starts with it
    target = ids[15]
    response = await client.get(f"/comment/{target}")
    location = response.headers["Location"]
    assert "cursor=" in location and location.endswith(f"#comment-{target}")
    body = await text(await client.get(location.split("#")[0]))
    assert [int(i) for i in COMMENT_IDS.findall(body)][0] == target
    assert "Back to the first comments" in body


@pytest.mark.parametrize("app_config", [{"FLASKY_COMMENTS_PER_PAGE": 5}])
async def test_new_comment_is_not_fetched_again_by_the_sentinel(client, auth, people, post):
    """htmx appends one's own comment at the end; later pages stop before it."""
    await write_comments(people["user"], post.id, 12)
    await sign_in(auth, "author")
    body = await text(await client.get(f"/post/{post.id}"))
    next_page = html.unescape(SENTINEL.search(body).group(1))
    csrf = csrf_from(body)
    response = await client.post(
        f"/post/{post.id}/comments", form={"body": "mine", "csrf_token": csrf}, headers=HTMX
    )
    mine = int(COMMENT_IDS.search(await text(response)).group(1))
    seen = [int(i) for i in COMMENT_IDS.findall(body)]
    url: str | None = next_page
    while url:
        chunk = await text(await client.get(url, headers=HTMX))
        seen += [int(i) for i in COMMENT_IDS.findall(chunk)]
        match = SENTINEL.search(chunk)
        url = html.unescape(match.group(1)) if match else None
    assert mine not in seen and len(seen) == 13


# -- query counts ---------------------------------------------------------------------------


async def _counts(client: Any, paths: list[str]) -> list[int]:
    counts = []
    for path in paths:
        for headers in (PAGE, HTMX, JSON):
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, path
            counts.append(query_count(response))
    return counts


@pytest.mark.parametrize(
    "app_config", [{"FLASKY_POSTS_PER_PAGE": 50, "FLASKY_COMMENTS_PER_PAGE": 50}]
)
@pytest.mark.parametrize("who", ["anonymous", "user"])
async def test_query_count_does_not_grow_with_the_list(client, auth, people, who):
    await sign_in(auth, who)
    if who == "user":
        await client.get("/followed")

    async def fill(n: int) -> list[int]:
        await Comment.all().delete()
        await Post.all().delete()
        await write_posts(people["user"], n)
        await write_posts(people["author"], n)  # the user's followed feed holds n
        first = (await Post.filter(author_id=people["user"].id).first()).id
        await write_comments(people["author"], first, n)
        return await _counts(client, ["/", f"/post/{first}", f"/post/{first}/comments"])

    assert await fill(5) == await fill(50)


@pytest.mark.parametrize(
    "app_config", [{"FLASKY_POSTS_PER_PAGE": 5, "FLASKY_COMMENTS_PER_PAGE": 5}]
)
async def test_a_page_far_down_costs_what_the_first_costs(client, people, post):
    await write_posts(people["user"], 60)
    await write_comments(people["user"], post.id, 60)
    for start in ("/", f"/post/{post.id}/comments"):
        counts = []
        url: str | None = start
        while url:
            response = await client.get(url, headers=JSON)
            counts.append(query_count(response))
            url = (await response.get_json())["next"]
        assert len(counts) > 10 and len(set(counts)) == 1, counts
