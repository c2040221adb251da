"""What scripts need (SPEC §4): `GET /me`, the author's name in post JSON, the home feed's
choice in the URL (`?feed=`), `/followed` answered as a feed for a token, and
`Idempotency-Key` on JSON creates."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from typing import Any

from flasky.models import Comment, IdempotentRequest, Post, User, utcnow
from tests.conftest import make_user
from tests.helpers import JSON, USER_KEYS, api_headers, login, text


async def body_of(response: Any) -> Any:
    return json.loads(await text(response))


async def token_headers(client: Any, user: User) -> dict[str, str]:
    response = await client.post("/auth/tokens", headers=api_headers(user.email))
    assert response.status_code == 200
    token = (await body_of(response))["token"]
    return {"Authorization": f"Bearer {token}", **JSON}


async def reader_and_authors() -> tuple[User, User, User]:
    """`reader` follows `ann` (one post), not `bob` (one post)."""
    reader = await make_user("reader@example.com", name="Rea Der")
    ann = await make_user("ann@example.com", name="Ann Author")
    bob = await make_user("bob@example.com")
    await reader.follow(ann)
    await Post.publish(ann, "ann writes")
    await Post.publish(bob, "bob writes")
    return reader, ann, bob


# -- /me ----------------------------------------------------------------------------------


async def test_me_with_a_token_is_the_user_json_with_email(client):
    reader, _, _ = await reader_and_authors()
    response = await client.get("/me", headers=await token_headers(client, reader))
    assert response.status_code == 200
    data = await body_of(response)
    assert set(data) == USER_KEYS | {"email"}
    assert data["email"] == "reader@example.com" and data["username"] == "reader"
    assert data["following_count"] == 1 and data["name"] == "Rea Der"  # ann (self not counted)
    assert "no-store" in response.headers["Cache-Control"]


async def test_me_page_goes_to_the_profile_and_anonymous_is_refused(client):
    reader, _, _ = await reader_and_authors()
    response = await client.get("/me", headers=JSON)
    assert response.status_code == 401 and "WWW-Authenticate" in response.headers
    response = await client.get("/me")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    await login(client, reader)
    response = await client.get("/me")
    assert response.status_code == 302 and response.headers["Location"].endswith("/user/reader")
    assert (await body_of(await client.get("/me", headers=JSON)))["email"] == reader.email


async def test_post_json_names_its_author(client):
    _, ann, _ = await reader_and_authors()
    posts = (await body_of(await client.get("/", headers=JSON)))["posts"]
    by_ann = next(p for p in posts if p["author"]["username"] == "ann")
    assert by_ann["author"]["name"] == "Ann Author"


# -- the feed in the URL --------------------------------------------------------------------


async def test_feed_in_the_url_overrides_the_cookie(client):
    reader, _, _ = await reader_and_authors()
    await login(client, reader)
    await client.get("/followed")  # the cookie says followed
    page = await text(await client.get("/"))
    assert "ann writes" in page and "bob writes" not in page
    response = await client.get("/?feed=all")
    page = await text(response)
    assert "ann writes" in page and "bob writes" in page
    assert 'href="/?feed=all" aria-current="page"' in page
    # choosing a tab in the URL is remembered like the old /all route
    assert "show_followed=;" in response.headers["Set-Cookie"]
    page = await text(await client.get("/?feed=followed"))
    assert "bob writes" not in page and 'href="/?feed=followed" aria-current="page"' in page


async def test_feed_in_the_url_for_scripts_and_strangers(client):
    reader, _, _ = await reader_and_authors()
    headers = await token_headers(client, reader)
    data = await body_of(await client.get("/?feed=followed", headers=headers))
    assert [p["body"] for p in data["posts"]] == ["ann writes"] and data["count"] == 1
    # a stranger has no followed feed: everyone's posts
    data = await body_of(await client.get("/?feed=followed", headers=JSON))
    assert data["count"] == 2
    response = await client.get("/?feed=mine", headers=JSON)
    assert response.status_code == 400
    assert "feed" in (await body_of(response))["message"]


async def test_next_links_keep_the_feed(client, app):
    reader, ann, _ = await reader_and_authors()
    app.config["FLASKY_POSTS_PER_PAGE"] = 1
    await Post.publish(ann, "ann again")
    headers = await token_headers(client, reader)
    data = await body_of(await client.get("/?feed=followed", headers=headers))
    assert "feed=followed" in data["next"]
    path = data["next"].removeprefix("http://localhost")
    rest = await body_of(await client.get(path, headers=headers))
    assert [p["body"] for p in rest["posts"]] == ["ann writes"] and rest["next"] is None


async def test_followed_answers_a_token_with_the_followed_feed(client):
    reader, _, _ = await reader_and_authors()
    response = await client.get("/followed", headers=await token_headers(client, reader))
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    data = await body_of(response)
    assert [p["body"] for p in data["posts"]] == ["ann writes"]
    assert (await client.get("/followed", headers=JSON)).status_code == 401
    everyone = await body_of(await client.get("/all", headers=JSON))
    assert everyone["count"] == 2
    # browsers still get the cookie and the redirect
    assert (await client.get("/followed")).status_code == 302


# -- Idempotency-Key ------------------------------------------------------------------------


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_a_retried_post_creates_one_post(client):
    reader, _, _ = await reader_and_authors()
    headers = keyed(await token_headers(client, reader), "retry-1")
    first = await client.post("/", headers=headers, json={"body": "only once"})
    again = await client.post("/", headers=headers, json={"body": "only once"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Location"] == first.headers["Location"]
    assert await body_of(again) == await body_of(first)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await Post.filter(body="only once").count() == 1
    # a new key is a new post
    other = await client.post("/", headers=keyed(headers, "retry-2"), json={"body": "only once"})
    assert other.status_code == 201 and await Post.filter(body="only once").count() == 2


async def test_a_key_names_one_request_of_one_user(client):
    reader, ann, _ = await reader_and_authors()
    headers = keyed(await token_headers(client, reader), "k")
    assert (await client.post("/", headers=headers, json={"body": "first"})).status_code == 201
    response = await client.post("/", headers=headers, json={"body": "different"})
    assert (
        response.status_code == 422 and "different request" in (await body_of(response))["message"]
    )
    # the same key from someone else is theirs
    theirs = keyed(await token_headers(client, ann), "k")
    assert (await client.post("/", headers=theirs, json={"body": "different"})).status_code == 201
    assert await Post.filter(body="different").count() == 1


async def test_failed_requests_free_the_key_and_old_keys_expire(client):
    reader, _, _ = await reader_and_authors()
    headers = keyed(await token_headers(client, reader), "fix-and-retry")
    response = await client.post("/", headers=headers, json={"body": ""})
    assert response.status_code == 400
    assert await IdempotentRequest.all().count() == 0
    assert (await client.post("/", headers=headers, json={"body": "fixed"})).status_code == 201
    # a day later the key is free again
    await IdempotentRequest.all().update(created_at=utcnow() - timedelta(hours=25))
    assert (await client.post("/", headers=headers, json={"body": "fixed"})).status_code == 201
    assert await Post.filter(body="fixed").count() == 2


async def test_bad_keys_are_refused(client):
    reader, _, _ = await reader_and_authors()
    headers = await token_headers(client, reader)
    for key in ("", "x" * 256, "has space", "tab\there", "é"):
        response = await client.post("/", headers=keyed(headers, key), json={"body": "no"})
        assert response.status_code == 400, key
        assert "Idempotency-Key" in (await body_of(response))["message"]
    assert await Post.filter(body="no").count() == 0


async def test_racing_retries_create_one_post(client):
    reader, _, _ = await reader_and_authors()
    headers = keyed(await token_headers(client, reader), "race")
    answers = await asyncio.gather(
        *(client.post("/", headers=headers, json={"body": "raced"}) for _ in range(4))
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses[0] == 201 and set(statuses) <= {201, 409}
    assert await Post.filter(body="raced").count() == 1


async def test_comments_honour_the_key(client):
    reader, ann, _ = await reader_and_authors()
    post = await Post.get(body="ann writes")
    headers = keyed(await token_headers(client, reader), "c1")
    path = f"/post/{post.id}/comments"
    first = await client.post(path, headers=headers, json={"body": "nice"})
    again = await client.post(path, headers=headers, json={"body": "nice"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Location"] == first.headers["Location"]
    assert await Comment.filter(body="nice").count() == 1
    assert await IdempotentRequest.filter(key="c1").count() == 1


# -- flasky role ----------------------------------------------------------------------------


async def test_a_new_role_reaches_an_open_session(client, app):
    """`flasky role` calls `User.change_role`: the signed-in browser's next request has the
    new permissions, without signing in again (the viewer cache hears the event)."""
    from flasky.models import Role
    from tests.conftest import feed_listening

    reader, _, _ = await reader_and_authors()
    await login(client, reader)
    await feed_listening(app)
    assert (await client.get("/moderate")).status_code == 403
    await reader.change_role(await Role.get(name="Moderator"))
    for _ in range(50):  # the event arrives within milliseconds (SQLite polls every 50 ms)
        if (await client.get("/moderate")).status_code == 200:
            break
        await asyncio.sleep(0.02)
    assert (await client.get("/moderate")).status_code == 200


# -- the composers' keys: htmx retries --------------------------------------------------------


async def test_composers_carry_a_fresh_key_and_an_htmx_retry_replays(client):
    from tests.helpers import HTMX, csrf

    reader, _, _ = await reader_and_authors()
    await login(client, reader)
    page = await text(await client.get("/"))
    keys = re.findall(r'hx-headers=\'\{"Idempotency-Key": "([\w-]+)"\}\'', page)
    assert len(keys) == 1
    again = re.findall(r'"Idempotency-Key": "([\w-]+)"', await text(await client.get("/")))
    assert again != keys  # a fresh key each time the form is drawn
    headers = {**HTMX, "Idempotency-Key": keys[0], "X-CSRFToken": await csrf(client)}
    form = {"body": "sent by htmx, retried"}
    first = await client.post("/", headers=headers, form=form)
    retry = await client.post("/", headers=headers, form=form)
    assert first.status_code == retry.status_code == 200
    assert await text(retry) == await text(first)
    assert retry.headers["Content-Type"] == first.headers["Content-Type"]
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert await Post.filter(body="sent by htmx, retried").count() == 1
    # a plain form post (no scripts) ignores a key: Post/Redirect/Get covers it
    plain = await client.post(
        "/", headers={"Idempotency-Key": keys[0]}, form={**form, "csrf_token": await csrf(client)}
    )
    assert plain.status_code == 303


async def test_a_request_cut_off_keeps_its_key_for_a_minute(client):
    reader, _, _ = await reader_and_authors()
    headers = keyed(await token_headers(client, reader), "cut-off")
    # what a request cancelled mid-way leaves: the key taken, no answer stored
    row = await IdempotentRequest.create(user_id=reader.id, key="cut-off", fingerprint="?")
    response = await client.post("/", headers=headers, json={"body": "after a cut"})
    assert response.status_code in (409, 422)
    data = await body_of(response)
    assert data["error"] == "bad request"
    row.created_at = utcnow() - timedelta(minutes=2)
    await row.save(update_fields=["created_at"])
    created = await client.post("/", headers=headers, json={"body": "after a cut"})
    assert created.status_code == 201
    assert await Post.filter(body="after a cut").count() == 1
