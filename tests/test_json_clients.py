"""JSON clients on the browser's URLs (SPEC §4 "JSON bodies"): the book's API scenarios
replayed on the negotiated routes, token and Basic auth, the CSRF rule both ways, every
error status in JSON, and a client walking `next` links."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from quart import abort
from tortoise.exceptions import DBConnectionError

from flasky import create_app
from flasky.models import Comment, Post, Role, User
from tests.conftest import TEST_DATABASE_URL, feed_listening, get_csrf, make_user, reset_database
from tests.helpers import AUTHOR_KEYS, COMMENT_KEYS, JSON, POST_KEYS, USER_KEYS, api_headers

CAT = "cat-password"
DOG = "dog-password"
BASE = "http://localhost"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **JSON, "Content-Type": "application/json"}


async def body_of(response: Any) -> Any:
    return json.loads(await response.get_data(as_text=True))


async def add_post(author: User, body: str = "body of the post") -> Post:
    return await Post.publish(author, body)


async def add_comment(author: User, post: Post, body: str = "Thank you!") -> Comment:
    return await Comment.publish(author, post, body)


def assert_error(data: dict[str, Any], error: str) -> None:
    # a form's errors also come field by field (`errors`), with the first in `message`
    assert set(data) in ({"error", "message"}, {"error", "message", "errors"})
    assert data["error"] == error
    assert isinstance(data["message"], str) and data["message"]


# -- the book's scenarios on the negotiated routes ------------------------------------


async def test_404(client):
    response = await client.get("/wrong/url", headers=api_headers("email", "password"))
    assert response.status_code == 404
    assert_error(await body_of(response), "not found")


async def test_no_auth_reads_are_public_writes_are_not(client):
    response = await client.get("/", headers=JSON)
    assert response.status_code == 200
    assert (await body_of(response))["posts"] == []

    response = await client.post("/", headers=JSON, json={"body": "hello"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert_error(await body_of(response), "unauthorized")
    assert await Post.all().count() == 0


async def test_bad_auth(client):
    await make_user("john@example.com", password=CAT)
    response = await client.get("/", headers=api_headers("john@example.com", DOG))
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    assert_error(await body_of(response), "unauthorized")


async def test_token_auth(client):
    await make_user("john@example.com", password=CAT)

    response = await client.get("/", headers=api_headers("bad-token", ""))
    assert response.status_code == 401
    response = await client.get("/", headers=bearer("bad-token"))
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers

    response = await client.post("/auth/tokens", headers=api_headers("john@example.com", CAT))
    assert response.status_code == 200
    data = await body_of(response)
    assert data["expiration"] == 3600
    token = data["token"]
    assert token

    response = await client.post("/", headers=api_headers(token, ""), json={"body": "with token:"})
    assert response.status_code == 201
    response = await client.post("/", headers=bearer(token), json={"body": "with bearer"})
    assert response.status_code == 201
    assert await Post.all().count() == 2


async def test_tokens_need_a_password(client):
    await make_user("john@example.com", password=CAT)
    response = await client.post("/auth/tokens", headers=JSON)
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    response = await client.post("/auth/tokens", headers=api_headers("john@example.com", DOG))
    assert response.status_code == 401
    assert_error(await body_of(response), "unauthorized")


async def test_anonymous_credentials(client):
    response = await client.get("/", headers=api_headers("", ""))
    assert response.status_code == 401


async def test_unconfirmed_account(client):
    await make_user("john@example.com", password=CAT, confirmed=False)
    for method, path in (("GET", "/"), ("POST", "/"), ("GET", "/moderate")):
        response = await client.open(
            path, method=method, headers=api_headers("john@example.com", CAT), json={"body": "x"}
        )
        assert response.status_code == 403, path
        assert await body_of(response) == {"error": "forbidden", "message": "Unconfirmed account"}
    assert await Post.all().count() == 0


async def test_posts(client):
    john = await make_user("john@example.com", "john", password=CAT)
    headers = api_headers("john@example.com", CAT)

    # an empty post
    response = await client.post("/", headers=headers, json={"body": ""})
    assert response.status_code == 400
    assert_error(await body_of(response), "bad request")

    # a post
    response = await client.post("/", headers=headers, json={"body": "body of the *blog* post"})
    assert response.status_code == 201
    url = response.headers["Location"]
    assert re.fullmatch(rf"{BASE}/post/\d+", url)
    created = await body_of(response)
    assert created["url"] == url

    # the new post
    response = await client.get(url, headers=headers)
    assert response.status_code == 200
    json_post = await body_of(response)
    assert set(json_post) == POST_KEYS
    assert json_post["url"] == url
    assert json_post["body"] == "body of the *blog* post"
    assert json_post["body_html"] == "<p>body of the <em>blog</em> post</p>"
    assert json_post["author_url"] == f"{BASE}/user/john"
    assert json_post["author"]["username"] == "john" and set(json_post["author"]) == AUTHOR_KEYS
    assert json_post["comments_url"] == f"{url}/comments"
    assert json_post["comment_count"] == 0
    assert ISO_Z.match(json_post["timestamp"])
    assert json_post == created

    # the post in the author's posts and in their timeline
    for path in ("/user/john/posts", "/user/john/timeline", "/"):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, path
        data = await body_of(response)
        assert data["count"] == 1 and data["next"] is None, path
        assert data["posts"][0] == json_post, path

    # edit the post
    response = await client.put(url, headers=headers, json={"body": "updated body"})
    assert response.status_code == 200
    data = await body_of(response)
    assert data["url"] == url
    assert data["body"] == "updated body"
    assert data["body_html"] == "<p>updated body</p>"

    # delete it
    response = await client.delete(url, headers=headers)
    assert response.status_code == 204
    response = await client.get(url, headers=headers)
    assert response.status_code == 404
    assert_error(await body_of(response), "not found")
    assert await Post.filter(author_id=john.id).count() == 0


async def test_users(client):
    await make_user("john@example.com", "john", password=CAT)
    await make_user("susan@example.com", "susan", password=DOG)
    for name in ("john", "susan"):
        response = await client.get(f"/user/{name}", headers=api_headers("susan@example.com", DOG))
        assert response.status_code == 200
        data = await body_of(response)
        assert data["username"] == name
        assert set(data) == USER_KEYS
        assert data["url"] == f"{BASE}/user/{name}"
        assert data["posts_url"] == f"{BASE}/user/{name}/posts"
        assert data["followed_posts_url"] == f"{BASE}/user/{name}/timeline"
        assert ISO_Z.match(data["member_since"]) and ISO_Z.match(data["last_seen"])
        text = json.dumps(data)
        assert "@example.com" not in text and "argon2" not in text

    response = await client.get("/user/nobody", headers=JSON)
    assert response.status_code == 404
    assert_error(await body_of(response), "not found")


async def test_comments(client):
    john = await make_user("john@example.com", "john", password=CAT)
    await make_user("susan@example.com", "susan", password=DOG)
    await make_user("mod@example.com", "mod", password=CAT, role="Moderator")
    post = await add_post(john)

    # write a comment
    response = await client.post(
        f"/post/{post.id}/comments",
        headers=api_headers("susan@example.com", DOG),
        json={"body": "Good [post](http://example.com)!"},
    )
    assert response.status_code == 201
    url = response.headers["Location"]
    assert re.fullmatch(rf"{BASE}/comment/\d+", url)
    data = await body_of(response)
    assert set(data) == COMMENT_KEYS
    assert data["body"] == "Good [post](http://example.com)!"
    assert re.sub("<.*?>", "", data["body_html"]) == "Good post!"
    assert data["post_url"] == f"{BASE}/post/{post.id}"
    assert data["author_url"] == f"{BASE}/user/susan"
    assert data["disabled"] is False

    # get it back
    response = await client.get(url, headers=api_headers("john@example.com", CAT))
    assert response.status_code == 200
    data = await body_of(response)
    assert data["url"] == url
    assert data["body"] == "Good [post](http://example.com)!"

    # another comment; the post's comments, oldest first
    await add_comment(john, post, "Thank you!")
    response = await client.get(
        f"/post/{post.id}/comments", headers=api_headers("susan@example.com", DOG)
    )
    assert response.status_code == 200
    data = await body_of(response)
    assert data["count"] == 2 and data["next"] is None
    assert [c["body"] for c in data["comments"]] == [
        "Good [post](http://example.com)!",
        "Thank you!",
    ]
    post_json = await body_of(await client.get(f"/post/{post.id}", headers=JSON))
    assert post_json["comment_count"] == 2

    # all the comments: the moderation queue, newest first (moderators only)
    response = await client.get("/moderate", headers=api_headers("mod@example.com", CAT))
    assert response.status_code == 200
    data = await body_of(response)
    assert data["count"] == 2
    assert [c["body"] for c in data["comments"]] == [
        "Thank you!",
        "Good [post](http://example.com)!",
    ]
    response = await client.get("/moderate", headers=api_headers("susan@example.com", DOG))
    assert response.status_code == 403
    assert_error(await body_of(response), "forbidden")


# -- writes over JSON ------------------------------------------------------------------


async def test_edit_and_delete_author_or_admin(client):
    john = await make_user("john@example.com", "john", password=CAT)
    await make_user("susan@example.com", "susan", password=DOG)
    await make_user("admin@example.com", "admin", password=CAT, role="Administrator")
    post = await add_post(john, "original")
    url = f"/post/{post.id}"

    susan = api_headers("susan@example.com", DOG)
    response = await client.put(url, headers=susan, json={"body": "hijacked"})
    assert response.status_code == 403
    assert_error(await body_of(response), "forbidden")
    response = await client.delete(url, headers=susan)
    assert response.status_code == 403
    assert (await Post.get(id=post.id)).body == "original"

    response = await client.put(url, headers=JSON, json={"body": "anonymous"})
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers

    admin = api_headers("admin@example.com", CAT)
    response = await client.put(url, headers=admin, json={"body": "by admin"})
    assert response.status_code == 200
    assert (await body_of(response))["body"] == "by admin"
    response = await client.delete(url, headers=admin)
    assert response.status_code == 204
    assert not await Post.exists(id=post.id)


async def test_follow_and_unfollow(client):
    await make_user("john@example.com", "john", password=CAT)
    await make_user("susan@example.com", "susan", password=DOG)
    headers = api_headers("john@example.com", CAT)

    for _ in range(2):  # idempotent
        response = await client.post("/follow/susan", headers=headers)
        assert response.status_code == 200
        assert await body_of(response) == {"following": True, "followers_count": 1}

    data = await body_of(await client.get("/followers/susan", headers=JSON))
    assert data["count"] == 1 and data["next"] is None
    [item] = data["follows"]
    assert set(item) == {"user", "timestamp"}
    assert item["user"]["username"] == "john" and set(item["user"]) == USER_KEYS
    assert ISO_Z.match(item["timestamp"])
    data = await body_of(await client.get("/followed_by/john", headers=JSON))
    assert [f["user"]["username"] for f in data["follows"]] == ["susan"]
    assert (await body_of(await client.get("/user/susan", headers=JSON)))["followers_count"] == 1

    for _ in range(2):
        response = await client.post("/unfollow/susan", headers=headers)
        assert response.status_code == 200
        assert await body_of(response) == {"following": False, "followers_count": 0}

    response = await client.post("/follow/nobody", headers=headers)
    assert response.status_code == 404
    assert_error(await body_of(response), "not found")
    response = await client.post("/follow/susan", headers=JSON)
    assert response.status_code == 401


async def test_moderation_enable_disable(client):
    john = await make_user("john@example.com", "john", password=CAT)
    await make_user("mod@example.com", "mod", password=DOG, role="Moderator")
    post = await add_post(john)
    comment = await add_comment(john, post, "rude words")
    mod, user = api_headers("mod@example.com", DOG), api_headers("john@example.com", CAT)

    response = await client.post(f"/moderate/disable/{comment.id}", headers=user)
    assert response.status_code == 403
    response = await client.post(f"/moderate/disable/{comment.id}", headers=mod)
    assert response.status_code == 200
    data = await body_of(response)
    assert data["disabled"] is True and data["body"] == "rude words"

    # the body is left out for everyone but moderators
    for path in (f"/comment/{comment.id}", f"/post/{post.id}/comments"):
        for headers, sees_body in ((user, False), (JSON, False), (mod, True)):
            data = await body_of(await client.get(path, headers=headers))
            item = data["comments"][0] if "comments" in data else data
            assert item["disabled"] is True
            assert ("body" in item) is sees_body and ("body_html" in item) is sees_body
            assert ("rude words" in json.dumps(item)) is sees_body

    response = await client.post(f"/moderate/enable/{comment.id}", headers=mod)
    assert response.status_code == 200
    assert (await body_of(response))["disabled"] is False
    data = await body_of(await client.get(f"/comment/{comment.id}", headers=user))
    assert data["body"] == "rude words"

    response = await client.post("/moderate/enable/999", headers=mod)
    assert response.status_code == 404
    assert_error(await body_of(response), "not found")


async def test_every_page_route_answers_json(client):
    john = await make_user("john@example.com", "john", password=CAT)
    admin = await make_user("admin@example.com", "admin", password=DOG, role="Administrator")
    post = await add_post(john)
    comment = await add_comment(john, post)
    as_admin = api_headers("admin@example.com", DOG)
    expected_keys = {
        "/": {"posts", "next", "count"},
        f"/post/{post.id}": POST_KEYS,
        f"/edit/{post.id}": POST_KEYS,
        f"/post/{post.id}/comments": {"comments", "next", "count"},
        f"/comment/{comment.id}": COMMENT_KEYS,
        "/user/john": USER_KEYS,
        "/user/john/posts": {"posts", "next", "count"},
        "/user/john/timeline": {"posts", "next", "count"},
        "/followers/john": {"follows", "next", "count"},
        "/followed_by/john": {"follows", "next", "count"},
        "/edit-profile": USER_KEYS,
        f"/edit-profile/{john.id}": USER_KEYS,
        "/moderate": {"comments", "next", "count"},
        "/healthz": {"status"},
    }
    for path, keys in expected_keys.items():
        response = await client.get(path, headers=as_admin)
        assert response.status_code == 200, path
        assert response.mimetype == "application/json", path
        assert set(await body_of(response)) == keys, path
    own = await body_of(await client.get("/edit-profile", headers=as_admin))
    assert own["username"] == admin.username


async def test_edit_profile_over_json(client):
    await make_user("john@example.com", "john", password=CAT)
    headers = api_headers("john@example.com", CAT)
    response = await client.post(
        "/edit-profile", headers=headers, json={"name": "John", "location": "Lisbon"}
    )
    assert response.status_code == 200
    data = await body_of(response)
    assert (data["name"], data["location"]) == ("John", "Lisbon")
    response = await client.post("/edit-profile", headers=headers, json={"name": 5})
    assert response.status_code == 400
    assert_error(await body_of(response), "bad request")
    # null clears an optional field (and leaves the others as they were)
    response = await client.post("/edit-profile", headers=headers, json={"location": None})
    assert response.status_code == 200
    data = await body_of(response)
    assert (data["name"], data["location"]) == ("John", None)


async def test_preview(client):
    response = await client.post("/preview", headers=JSON, json={"body": "*hi* <script>x</script>"})
    assert response.status_code == 200
    data = await body_of(response)
    assert set(data) == {"body_html"}
    assert data["body_html"].startswith("<p><em>hi</em>")
    assert "<script>" not in data["body_html"]


# -- CSRF: cookie-authenticated JSON writes need it, token-authenticated ones do not ----


async def test_cookie_json_writes_need_csrf(client, auth):
    await make_user("john@example.com", "john", password=CAT)
    susan = await make_user("susan@example.com", "susan", password=DOG)
    response = await auth.login("john@example.com", CAT)
    assert response.status_code in (302, 303)
    post = await add_post(susan, "susan's")

    writes = [
        ("POST", "/", {"body": "no token"}),
        ("PUT", f"/post/{post.id}", {"body": "no token"}),
        ("POST", f"/post/{post.id}/comments", {"body": "no token"}),
        ("POST", "/follow/susan", None),
        ("POST", "/preview", {"body": "x"}),
    ]
    for method, path, payload in writes:
        response = await client.open(path, method=method, headers=JSON, json=payload)
        assert response.status_code == 400, path
        assert_error(await body_of(response), "bad request")
        response = await client.open(
            path, method=method, headers={**JSON, "X-CSRFToken": "forged"}, json=payload
        )
        assert response.status_code == 400, path
    assert await Post.all().count() == 1 and await Comment.all().count() == 0
    assert not (await (await User.get(username="john")).relation(susan))[0]

    token = await get_csrf(client, "/")
    headers = {**JSON, "X-CSRFToken": token}
    response = await client.post("/", headers=headers, json={"body": "with token"})
    assert response.status_code == 201
    response = await client.post(f"/post/{post.id}/comments", headers=headers, json={"body": "hi"})
    assert response.status_code == 201
    response = await client.post("/follow/susan", headers=headers)
    assert await body_of(response) == {"following": True, "followers_count": 1}


async def test_token_json_writes_need_no_csrf(client):
    john = await make_user("john@example.com", "john", password=CAT)
    await make_user("susan@example.com", "susan", password=DOG)
    token = (
        await body_of(
            await client.post("/auth/tokens", headers=api_headers("john@example.com", CAT))
        )
    )["token"]
    for headers in (bearer(token), api_headers(token, ""), api_headers("john@example.com", CAT)):
        response = await client.post("/", headers=headers, json={"body": "no csrf needed"})
        assert response.status_code == 201
        post_url = response.headers["Location"]
        response = await client.put(post_url, headers=headers, json={"body": "changed"})
        assert response.status_code == 200
        response = await client.post(f"{post_url}/comments", headers=headers, json={"body": "c"})
        assert response.status_code == 201
        response = await client.delete(post_url, headers=headers)
        assert response.status_code == 204
    response = await client.post("/follow/susan", headers=bearer(token))
    assert response.status_code == 200
    assert (await john.relation(await User.get(username="susan")))[0]


# -- every error status in JSON --------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        ("{not json", "application/json"),
        ('["body"]', "application/json"),
        ('"body"', "application/json"),
        ('{"body": 5}', "application/json"),
        ('{"body": ["a"]}', "application/json"),
        ('{"body": null}', "application/json"),
        ("{}", "application/json"),
        ('{"body": ""}', "application/json"),
        ('{"body": "   "}', "application/json"),
        (json.dumps({"body": "x" * 10_001}), "application/json"),
    ],
)
async def test_bad_json_is_400(client, payload, content_type):
    john = await make_user("john@example.com", "john", password=CAT)
    post = await add_post(john, "original")
    headers = {**api_headers("john@example.com", CAT), "Content-Type": content_type}
    for method, path in (("POST", "/"), ("PUT", f"/post/{post.id}")):
        response = await client.open(path, method=method, headers=headers, data=payload)
        assert response.status_code == 400, (method, path)
        assert_error(await body_of(response), "bad request")
    assert await Post.all().count() == 1
    assert (await Post.get(id=post.id)).body == "original"


async def test_comment_bodies_checked(client):
    john = await make_user("john@example.com", "john", password=CAT)
    post = await add_post(john)
    headers = api_headers("john@example.com", CAT)
    url = f"/post/{post.id}/comments"
    for payload in ({"body": "x" * 2_001}, {"body": ""}, {"body": 1}, {}, ["x"]):
        response = await client.post(url, headers=headers, json=payload)
        assert response.status_code == 400, payload
        assert_error(await body_of(response), "bad request")
    response = await client.post(url, headers=headers, json={"body": "x" * 2_000})
    assert response.status_code == 201
    for payload in ({"body": 5}, {"body": None}, {"body": "x", "kind": None}):
        response = await client.post("/preview", headers=headers, json=payload)
        assert response.status_code == 400, payload
        assert "null" in (await body_of(response))["message"] or payload == {"body": 5}


async def test_wrong_permission_is_403(client):
    john = await make_user("john@example.com", "john", password=CAT)
    post = await add_post(john)
    john.role.permissions = 0
    await john.role.save()
    headers = api_headers("john@example.com", CAT)
    for path, payload in (("/", {"body": "x"}), (f"/post/{post.id}/comments", {"body": "x"})):
        response = await client.post(path, headers=headers, json=payload)
        assert response.status_code == 403, path
        assert_error(await body_of(response), "forbidden")
    response = await client.post("/follow/john", headers=headers)
    assert response.status_code == 403


async def test_method_not_allowed_is_405(client):
    await make_user("john@example.com", "john", password=CAT)
    for method, path in (("DELETE", "/"), ("PUT", "/user/john"), ("GET", "/follow/john")):
        response = await client.open(
            path, method=method, headers=api_headers("john@example.com", CAT)
        )
        assert response.status_code == 405, path
        assert_error(await body_of(response), "method not allowed")
        assert response.headers["Allow"]


async def test_payload_too_large_is_413(client):
    await make_user("john@example.com", "john", password=CAT)
    response = await client.post(
        "/",
        headers=api_headers("john@example.com", CAT),
        data=json.dumps({"body": "x" * (1 << 20)}),
    )
    assert response.status_code == 413
    assert_error(await body_of(response), "payload too large")
    assert await Post.all().count() == 0


async def test_too_many_password_failures_is_429(client):
    await make_user("john@example.com", "john", password=CAT)
    for _ in range(5):
        response = await client.get("/", headers=api_headers("john@example.com", DOG))
        assert response.status_code == 401
    response = await client.post("/auth/tokens", headers=api_headers("john@example.com", CAT))
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert_error(await body_of(response), "too many requests")


async def test_bad_cursor_is_400(client):
    response = await client.get("/?cursor=not-a-cursor", headers=JSON)
    assert response.status_code == 400
    assert_error(await body_of(response), "bad request")


@pytest.fixture
async def failing_app():
    """The app plus two routes that fail the ways a handler can: a bug and a lost database."""
    application = create_app("testing", DATABASE_URL=TEST_DATABASE_URL)

    async def bug() -> str:
        raise RuntimeError("a bug")

    async def database_down() -> str:
        raise DBConnectionError("connection refused")

    async def gone() -> str:
        abort(404)

    application.add_url_rule("/test-only/bug", "bug", bug)
    application.add_url_rule("/test-only/down", "down", database_down)
    application.add_url_rule("/test-only/gone", "gone", gone)
    async with application.test_app():
        await reset_database()
        await feed_listening(application)
        await Role.insert_roles()
        yield application


async def test_server_errors_in_json(failing_app, caplog):
    client = failing_app.test_client()
    response = await client.get("/test-only/bug", headers=JSON)
    assert response.status_code == 500
    assert_error(await body_of(response), "internal server error")
    assert "a bug" not in await response.get_data(as_text=True)
    response = await client.get("/test-only/down", headers=JSON)
    assert response.status_code == 503
    assert_error(await body_of(response), "service unavailable")
    response = await client.get("/test-only/gone", headers=JSON)
    assert response.status_code == 404


async def test_json_answers_vary(client):
    response = await client.get("/", headers=JSON)
    assert response.mimetype == "application/json"
    assert "Accept" in response.headers["Vary"] and "HX-Request" in response.headers["Vary"]
    response = await client.get("/", headers={"Accept": "application/json, text/html"})
    assert response.mimetype == "text/html"  # ties go to HTML


# -- walking `next` links --------------------------------------------------------------


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {
        "FLASKY_POSTS_PER_PAGE": 3,
        "FLASKY_COMMENTS_PER_PAGE": 3,
        "FLASKY_FOLLOWERS_PER_PAGE": 3,
    }


async def walk(client: Any, url: str, key: str, headers: dict[str, str] = JSON) -> list[Any]:
    """Follow `next` from `url` to the end; every page's count is the same."""
    items: list[Any] = []
    counts = set()
    while url:
        response = await client.get(url, headers=headers)
        assert response.status_code == 200, url
        data = await body_of(response)
        assert len(data[key]) <= 3
        counts.add(data["count"])
        items += data[key]
        url = data["next"]
        assert url is None or url.startswith(f"{BASE}/")
    assert len(counts) == 1
    return items


async def test_walking_next_sees_every_item_once(client):
    john = await make_user("john@example.com", "john", password=CAT)
    mod = await make_user("mod@example.com", "mod", password=DOG, role="Moderator")
    posts = [await add_post(john, f"post {n}") for n in range(10)]
    comments = [await add_comment(john, posts[0], f"comment {n}") for n in range(7)]
    fans = [await make_user(f"fan{n}@example.com", f"fan{n}") for n in range(5)]
    for fan in fans:
        await fan.follow(john)
        await john.follow(fan)
    await mod.follow(john)

    expected_posts = [p.id for p in reversed(posts)]
    for path in ("/", "/user/john/posts", "/user/john/timeline"):
        seen = [p["id"] for p in await walk(client, f"{BASE}{path}", "posts")]
        assert seen == expected_posts, path
    seen = [c["id"] for c in await walk(client, f"{BASE}/post/{posts[0].id}/comments", "comments")]
    assert seen == [c.id for c in comments]
    queue = await walk(client, f"{BASE}/moderate", "comments", api_headers("mod@example.com", DOG))
    assert [c["id"] for c in queue] == [c.id for c in reversed(comments)]
    followers = await walk(client, f"{BASE}/followers/john", "follows")
    assert sorted(f["user"]["id"] for f in followers) == sorted([f.id for f in fans] + [mod.id])
    following = await walk(client, f"{BASE}/followed_by/john", "follows")
    assert sorted(f["user"]["id"] for f in following) == sorted(f.id for f in fans)


async def test_walking_next_while_posts_arrive(client):
    john = await make_user("john@example.com", "john", password=CAT)
    old = [await add_post(john, f"old {n}") for n in range(7)]
    response = await client.get("/", headers=JSON)
    data = await body_of(response)
    seen = [p["id"] for p in data["posts"]]
    url = data["next"]
    while url:
        await add_post(john, "new while scrolling")
        data = await body_of(await client.get(url, headers=JSON))
        seen += [p["id"] for p in data["posts"]]
        url = data["next"]
    assert seen == [p.id for p in reversed(old)]
