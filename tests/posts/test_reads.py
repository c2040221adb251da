"""Posts and comments read back: the home feed, permalinks and comment lists in their
three forms, the All / Followed tabs and empty states, disabled comments, `Vary` on
every answer, and the anonymous page cache."""

from __future__ import annotations

import re

import pytest

from flasky.models import Comment, Follow, Post
from tests.conftest import query_count
from tests.helpers import COMMENT_KEYS, FORMS, HTMX, JSON, PAGE, POST_KEYS, text
from tests.posts.conftest import (
    POST_IDS,
    assert_vary,
    new_post,
    sign_in,
    token,
    write_posts,
)

# -- the three forms of each read ------------------------------------------------------------


@FORMS
async def test_home_three_forms(client, people, headers):
    ids = await write_posts(people["author"], 3)
    response = await client.get("/", headers=headers)
    assert response.status_code == 200
    assert_vary(response)
    if headers is JSON:
        data = await response.get_json()
        assert set(data) == {"posts", "next", "count"}
        assert data["count"] == 3 and data["next"] is None
        assert [p["id"] for p in data["posts"]] == ids[::-1]
        assert set(data["posts"][0]) == POST_KEYS
        assert data["posts"][0]["url"].startswith("http")
        return
    body = await text(response)
    assert [int(i) for i in POST_IDS.findall(body)] == ids[::-1]
    assert ("<html" in body) is (headers is PAGE)


@FORMS
async def test_post_page_three_forms(client, post, headers):
    response = await client.get(f"/post/{post.id}", headers=headers)
    assert response.status_code == 200
    assert_vary(response)
    if headers is JSON:
        data = await response.get_json()
        assert set(data) == POST_KEYS
        assert data["comment_count"] == 1
        assert data["comments_url"].endswith(f"/post/{post.id}/comments")
        return
    body = await text(response)
    assert f'id="post-{post.id}"' in body
    if headers is PAGE:
        assert "<html" in body and 'id="comments"' in body and "First!" in body
    else:
        assert "<html" not in body and "First!" not in body


@FORMS
async def test_comments_three_forms(client, post, headers):
    response = await client.get(f"/post/{post.id}/comments", headers=headers)
    assert response.status_code == 200
    assert_vary(response)
    if headers is JSON:
        data = await response.get_json()
        assert set(data) == {"comments", "next", "count"}
        assert data["count"] == 1 and data["next"] is None
        assert set(data["comments"][0]) == COMMENT_KEYS
        return
    body = await text(response)
    assert "First!" in body and 'id="comment-' in body
    assert ("<html" in body) is (headers is PAGE)


@FORMS
async def test_comment_three_forms(client, post, headers):
    comment = await Comment.get(post_id=post.id)
    response = await client.get(f"/comment/{comment.id}", headers=headers)
    assert_vary(response)
    if headers is PAGE:
        assert response.status_code == 302
        assert response.headers["Location"] == f"/post/{post.id}#comment-{comment.id}"
    elif headers is HTMX:
        body = await text(response)
        assert f'id="comment-{comment.id}"' in body and "<html" not in body
    else:
        data = await response.get_json()
        assert set(data) == COMMENT_KEYS and data["body"] == "First!"


@FORMS
async def test_edit_form_three_forms(client, auth, people, post, headers):
    await sign_in(auth, "author")
    response = await client.get(f"/edit/{post.id}", headers=headers)
    assert response.status_code == 200
    assert_vary(response)
    if headers is JSON:
        assert (await response.get_json())["id"] == post.id
        return
    body = await text(response)
    assert "Hello *world*" in body and 'name="csrf_token"' in body
    if headers is HTMX:
        assert f'<li id="post-{post.id}" class="post post-editing">' in body
        assert "<html" not in body
    else:
        assert "<html" in body


async def test_missing_things_are_404_in_every_form(client, auth, people):
    await sign_in(auth, "author")
    for path in ("/post/999", "/post/999/comments", "/comment/999", "/edit/999"):
        for headers in (PAGE, HTMX, JSON):
            response = await client.get(path, headers=headers)
            assert response.status_code == 404, path
            assert_vary(response)
    response = await client.get("/post/999", headers=JSON)
    assert (await response.get_json())["error"] == "not found"


async def test_bad_cursor_is_400(client, people, post):
    for path in ("/?cursor=nonsense", f"/post/{post.id}/comments?cursor=x", "/?cursor=e30"):
        response = await client.get(path, headers=JSON)
        assert response.status_code == 400
        assert (await response.get_json())["error"] == "bad request"


# -- tabs, cookie, empty states -------------------------------------------------------------------


async def test_followed_and_all_set_the_cookie(client, auth, people):
    await write_posts(people["author"], 2)
    mine = await new_post(people["user"], "my own")
    await sign_in(auth, "user")
    response = await client.get("/followed")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert_vary(response)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("show_followed=1;") and "Max-Age=2592000" in cookie
    body = await text(await client.get("/"))
    assert [int(i) for i in POST_IDS.findall(body)] == [mine.id]
    assert re.search(r'<a href="/\?feed=followed" aria-current="page">Followed</a>', body)
    data = await (await client.get("/", headers=JSON)).get_json()
    assert data["count"] == 1
    await Follow.create(follower_id=people["user"].id, followed_id=people["author"].id)
    assert len(POST_IDS.findall(await text(await client.get("/")))) == 3
    response = await client.get("/all")
    assert response.headers["Set-Cookie"].startswith("show_followed=;")
    assert "Max-Age=2592000" in response.headers["Set-Cookie"]
    body = await text(await client.get("/"))
    assert re.search(r'<a href="/\?feed=all" aria-current="page">All</a>', body)


async def test_anonymous_always_sees_all(client, people):
    await write_posts(people["author"], 2)
    client.set_cookie("localhost", "show_followed", "1")
    data = await (await client.get("/", headers=JSON)).get_json()
    assert data["count"] == 2
    assert 'class="tabs"' not in await text(await client.get("/"))


async def test_empty_states(client, auth, people):
    assert "No posts yet." in await text(await client.get("/"))
    await write_posts(people["author"], 1)
    await sign_in(auth, "user")
    await client.get("/followed")
    body = await text(await client.get("/"))
    # a newcomer who follows nobody: People to follow, saying what the tab is for
    assert "People to follow" in body and "Follow people to fill this feed" in body
    await Post.all().delete()
    body = await text(await client.get("/"))  # nobody has posted: nobody to suggest
    assert "People to follow" not in body
    assert "Follow people to fill this feed — see everyone's posts under" in body
    await write_posts(people["author"], 1)
    post = await Post.first()
    assert "No comments yet." in await text(await client.get(f"/post/{post.id}"))


# -- disabled comments ---------------------------------------------------------------------------

NOTE = "This comment has been disabled by a moderator."


@pytest.mark.parametrize("who", ["anonymous", "user", "author", "moderator", "admin"])
async def test_disabled_comment(client, auth, people, post, who):
    comment = await Comment.get(post_id=post.id)
    await Comment.filter(id=comment.id).update(disabled=True)
    await sign_in(auth, who)
    moderator = who in ("moderator", "admin")
    page = await text(await client.get(f"/post/{post.id}"))
    assert (NOTE in page) is not moderator
    assert ("First!" in page) is moderator
    assert 'class="comment is-disabled"' in page
    if moderator:
        assert f'hx-post="/moderate/enable/{comment.id}"' in page
        assert f'hx-target="#comment-{comment.id}" hx-swap="outerHTML"' in page
    else:
        assert "/moderate/" not in page
    for url in (f"/comment/{comment.id}", f"/post/{post.id}/comments"):
        data = await (await client.get(url, headers=JSON)).get_json()
        item = data if "id" in data else data["comments"][0]
        assert item["disabled"] is True
        assert ("body" in item and "body_html" in item) is moderator


async def test_moderators_see_disable_on_enabled_comments(client, auth, people, post):
    comment = await Comment.get(post_id=post.id)
    await sign_in(auth, "moderator")
    page = await text(await client.get(f"/post/{post.id}"))
    assert f'hx-post="/moderate/disable/{comment.id}"' in page and "Disable" in page


# -- Vary everywhere ---------------------------------------------------------------------------


async def test_vary_on_every_answer(client, auth, people, post):
    answers = [
        await client.get("/"),
        await client.get("/all"),
        await client.get("/followed"),
        await client.get(f"/post/{post.id}", headers=HTMX),
        await client.get("/post/12345"),
        await client.get(f"/edit/{post.id}"),  # anonymous: to the login page
        await client.post("/", form={"body": "no csrf"}),
    ]
    await sign_in(auth, "user")
    csrf = await token(client)
    answers += [
        await client.get(f"/edit/{post.id}", headers=JSON),  # 403
        await client.post("/preview", form={"body": "x", "csrf_token": csrf}),
        await client.post("/", form={"body": "ok", "csrf_token": csrf}),
    ]
    for response in answers:
        assert_vary(response)


# -- anonymous page cache -----------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"FLASKY_PAGE_CACHE_SECONDS": 60}])
async def test_anonymous_reads_come_from_the_page_cache(client, auth, people, post):
    for path in ("/", f"/post/{post.id}", f"/post/{post.id}/comments"):
        first = await client.get(path)
        again = await client.get(path)
        assert query_count(first) > 0 and query_count(again) == 0, path
        assert await text(first) == await text(again)
        assert_vary(again)
    await new_post(people["user"], "fresh")
    await sign_in(auth, "user")
    response = await client.get("/")
    assert query_count(response) > 0 and "fresh" in await text(response)
