"""The book's /api/v1: every scenario and assertion of its tests/test_api.py, ported
(users made through the model layer, passwords of 8+ characters), and what SPEC adds:
absolute URLs, offset pages, JSON errors, disabled comments hidden."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from flasky.models import Comment, Post, User
from tests.conftest import make_user, query_count
from tests.helpers import api_headers, set_body

CAT = "cat-password"
DOG = "dog-password"
BASE = "http://localhost"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


async def add_post(author: User, body: str = "body of the post") -> Post:
    post = Post(author=author)
    set_body(post, body)
    await post.save()
    return post


async def add_comment(author: User, post: Post, body: str = "Thank you!", **extra: Any) -> Comment:
    comment = Comment(author=author, post=post, **extra)
    set_body(comment, body)
    await comment.save()
    return comment


async def json_of(response: Any) -> Any:
    return json.loads(await response.get_data(as_text=True))


# -- the book's tests, one for one -------------------------------------------------------


async def test_404(client):
    response = await client.get("/wrong/url", headers=api_headers("email", "password"))
    assert response.status_code == 404
    json_response = await json_of(response)
    assert json_response["error"] == "not found"


async def test_no_auth(client):
    response = await client.get("/api/v1/posts/", headers={"Content-Type": "application/json"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert (await json_of(response))["error"] == "unauthorized"


async def test_bad_auth(client):
    await make_user("john@example.com", password=CAT)
    response = await client.get("/api/v1/posts/", headers=api_headers("john@example.com", DOG))
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    assert (await json_of(response))["error"] == "unauthorized"


async def test_token_auth(client):
    await make_user("john@example.com", password=CAT)

    # a bad token
    response = await client.get("/api/v1/posts/", headers=api_headers("bad-token", ""))
    assert response.status_code == 401

    # get a token
    response = await client.post("/api/v1/tokens/", headers=api_headers("john@example.com", CAT))
    assert response.status_code == 200
    json_response = await json_of(response)
    assert json_response.get("token") is not None
    assert json_response["expiration"] == 3600
    token = json_response["token"]

    # the token as `token:` and as a bearer token
    response = await client.get("/api/v1/posts/", headers=api_headers(token, ""))
    assert response.status_code == 200
    response = await client.get("/api/v1/posts/", headers=bearer(token))
    assert response.status_code == 200

    # a token cannot mint another token
    response = await client.post("/api/v1/tokens/", headers=api_headers(token, ""))
    assert response.status_code == 401
    response = await client.post("/api/v1/tokens/", headers=bearer(token))
    assert response.status_code == 401


async def test_anonymous(client):
    response = await client.get("/api/v1/posts/", headers=api_headers("", ""))
    assert response.status_code == 401


async def test_unconfirmed_account(client):
    await make_user("john@example.com", password=CAT, confirmed=False)
    response = await client.get("/api/v1/posts/", headers=api_headers("john@example.com", CAT))
    assert response.status_code == 403
    assert await json_of(response) == {"error": "forbidden", "message": "Unconfirmed account"}


async def test_posts(client):
    user = await make_user("john@example.com", password=CAT)
    headers = api_headers("john@example.com", CAT)

    # write an empty post
    response = await client.post("/api/v1/posts/", headers=headers, data=json.dumps({"body": ""}))
    assert response.status_code == 400
    assert (await json_of(response))["error"] == "bad request"

    # write a post
    response = await client.post(
        "/api/v1/posts/", headers=headers, data=json.dumps({"body": "body of the *blog* post"})
    )
    assert response.status_code == 201
    url = response.headers.get("Location")
    assert url is not None
    assert url.startswith(f"{BASE}/api/v1/posts/")

    # get the new post
    response = await client.get(url, headers=headers)
    assert response.status_code == 200
    json_response = await json_of(response)
    assert json_response["url"] == url
    assert json_response["body"] == "body of the *blog* post"
    assert json_response["body_html"] == "<p>body of the <em>blog</em> post</p>"
    json_post = json_response

    # get the post from the user
    response = await client.get(f"/api/v1/users/{user.id}/posts/", headers=headers)
    assert response.status_code == 200
    json_response = await json_of(response)
    assert json_response.get("posts") is not None
    assert json_response.get("count", 0) == 1
    assert json_response["posts"][0] == json_post

    # get the post from the user as a follower
    response = await client.get(f"/api/v1/users/{user.id}/timeline/", headers=headers)
    assert response.status_code == 200
    json_response = await json_of(response)
    assert json_response.get("posts") is not None
    assert json_response.get("count", 0) == 1
    assert json_response["posts"][0] == json_post

    # edit post
    response = await client.put(url, headers=headers, data=json.dumps({"body": "updated body"}))
    assert response.status_code == 200
    json_response = await json_of(response)
    assert json_response["url"] == url
    assert json_response["body"] == "updated body"
    assert json_response["body_html"] == "<p>updated body</p>"


async def test_users(client):
    u1 = await make_user("john@example.com", "john", password=CAT)
    u2 = await make_user("susan@example.com", "susan", password=DOG)

    response = await client.get(
        f"/api/v1/users/{u1.id}", headers=api_headers("susan@example.com", DOG)
    )
    assert response.status_code == 200
    json_response = await json_of(response)
    assert json_response["username"] == "john"
    response = await client.get(
        f"/api/v1/users/{u2.id}", headers=api_headers("susan@example.com", DOG)
    )
    assert response.status_code == 200
    json_response = await json_of(response)
    assert json_response["username"] == "susan"


async def test_comments(client):
    u1 = await make_user("john@example.com", "john", password=CAT)
    await make_user("susan@example.com", "susan", password=DOG)
    post = await add_post(u1)

    # write a comment
    response = await client.post(
        f"/api/v1/posts/{post.id}/comments/",
        headers=api_headers("susan@example.com", DOG),
        data=json.dumps({"body": "Good [post](http://example.com)!"}),
    )
    assert response.status_code == 201
    json_response = await json_of(response)
    url = response.headers.get("Location")
    assert url is not None
    assert json_response["body"] == "Good [post](http://example.com)!"
    assert re.sub("<.*?>", "", json_response["body_html"]) == "Good post!"

    # get the new comment
    response = await client.get(url, headers=api_headers("john@example.com", CAT))
    assert response.status_code == 200
    json_response = await json_of(response)
    assert json_response["url"] == url
    assert json_response["body"] == "Good [post](http://example.com)!"

    # add another comment
    await add_comment(u1, post, "Thank you!")

    # get the two comments from the post
    response = await client.get(
        f"/api/v1/posts/{post.id}/comments/", headers=api_headers("susan@example.com", DOG)
    )
    assert response.status_code == 200
    json_response = await json_of(response)
    assert json_response.get("comments") is not None
    assert json_response.get("count", 0) == 2

    # get all the comments
    response = await client.get("/api/v1/comments/", headers=api_headers("susan@example.com", DOG))
    assert response.status_code == 200
    json_response = await json_of(response)
    assert json_response.get("comments") is not None
    assert json_response.get("count", 0) == 2


# -- the book's keys, absolute URLs, ISO timestamps ------------------------------------


async def test_book_json_keys(client):
    john = await make_user("john@example.com", "john", password=CAT)
    post = await add_post(john, "hello")
    comment = await add_comment(john, post, "nice")
    headers = api_headers("john@example.com", CAT)

    post_json = await json_of(await client.get(f"/api/v1/posts/{post.id}", headers=headers))
    assert post_json == {
        "url": f"{BASE}/api/v1/posts/{post.id}",
        "body": "hello",
        "body_html": "<p>hello</p>",
        "timestamp": post_json["timestamp"],
        "author_url": f"{BASE}/api/v1/users/{john.id}",
        "comments_url": f"{BASE}/api/v1/posts/{post.id}/comments/",
        "comment_count": 1,
        "tags": [],
    }
    assert ISO_Z.match(post_json["timestamp"])

    user_json = await json_of(await client.get(f"/api/v1/users/{john.id}", headers=headers))
    assert set(user_json) == {
        "url",
        "username",
        "member_since",
        "last_seen",
        "posts_url",
        "followed_posts_url",
        "post_count",
    }
    assert user_json["url"] == f"{BASE}/api/v1/users/{john.id}"
    assert user_json["posts_url"] == f"{BASE}/api/v1/users/{john.id}/posts/"
    assert user_json["followed_posts_url"] == f"{BASE}/api/v1/users/{john.id}/timeline/"
    assert user_json["post_count"] == 1
    assert ISO_Z.match(user_json["member_since"]) and ISO_Z.match(user_json["last_seen"])
    assert "john@example.com" not in json.dumps(user_json)

    comment_json = await json_of(
        await client.get(f"/api/v1/comments/{comment.id}", headers=headers)
    )
    assert comment_json == {
        "url": f"{BASE}/api/v1/comments/{comment.id}",
        "post_url": f"{BASE}/api/v1/posts/{post.id}",
        "body": "nice",
        "body_html": "nice",
        "timestamp": comment_json["timestamp"],
        "author_url": f"{BASE}/api/v1/users/{john.id}",
        "disabled": False,
    }
    # every URL the API hands out answers
    for url in (
        post_json["author_url"],
        post_json["comments_url"],
        user_json["posts_url"],
        user_json["followed_posts_url"],
        comment_json["post_url"],
    ):
        assert (await client.get(url, headers=headers)).status_code == 200


async def test_timeline_follows(client):
    john = await make_user("john@example.com", "john", password=CAT)
    susan = await make_user("susan@example.com", "susan", password=DOG)
    await add_post(susan, "from susan")
    await add_post(john, "from john")
    headers = api_headers("john@example.com", CAT)

    data = await json_of(await client.get(f"/api/v1/users/{john.id}/timeline/", headers=headers))
    assert [p["body"] for p in data["posts"]] == ["from john"]
    await john.follow(susan)
    data = await json_of(await client.get(f"/api/v1/users/{john.id}/timeline/", headers=headers))
    assert [p["body"] for p in data["posts"]] == ["from john", "from susan"]
    assert data["count"] == 2


# -- pages -----------------------------------------------------------------------------


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"FLASKY_POSTS_PER_PAGE": 2, "FLASKY_COMMENTS_PER_PAGE": 2}


async def test_page_links_walk_every_post_once(client):
    john = await make_user("john@example.com", "john", password=CAT)
    for n in range(5):
        await add_post(john, f"post {n}")
    headers = api_headers("john@example.com", CAT)

    seen, url, pages = [], f"{BASE}/api/v1/posts/", 0
    prev = None
    while url:
        data = await json_of(await client.get(url, headers=headers))
        pages += 1
        assert data["count"] == 5
        assert data["prev"] == prev
        seen += [p["body"] for p in data["posts"]]
        prev, url = url if pages > 1 else f"{BASE}/api/v1/posts/?page=1", data["next"]
    assert pages == 3
    assert seen == [f"post {n}" for n in reversed(range(5))]

    data = await json_of(await client.get("/api/v1/posts/?page=2", headers=headers))
    assert data["prev"] == f"{BASE}/api/v1/posts/?page=1"
    assert data["next"] == f"{BASE}/api/v1/posts/?page=3"
    data = await json_of(await client.get("/api/v1/posts/?page=9", headers=headers))
    assert data["posts"] == [] and data["next"] is None and data["count"] == 5


async def test_comment_pages_oldest_first(client):
    john = await make_user("john@example.com", "john", password=CAT)
    post = await add_post(john)
    for n in range(3):
        await add_comment(john, post, f"c{n}")
    headers = api_headers("john@example.com", CAT)

    first = await json_of(await client.get(f"/api/v1/posts/{post.id}/comments/", headers=headers))
    assert [c["body"] for c in first["comments"]] == ["c0", "c1"]
    assert first["prev"] is None
    assert first["next"] == f"{BASE}/api/v1/posts/{post.id}/comments/?page=2"
    second = await json_of(await client.get(first["next"], headers=headers))
    assert [c["body"] for c in second["comments"]] == ["c2"]
    assert second["next"] is None

    newest = await json_of(await client.get("/api/v1/comments/", headers=headers))
    assert [c["body"] for c in newest["comments"]] == ["c2", "c1"]
    assert newest["count"] == 3


@pytest.mark.parametrize("page", ["0", "-1", "two", ""])
async def test_bad_page_number(client, page):
    await make_user("john@example.com", password=CAT)
    response = await client.get(
        f"/api/v1/posts/?page={page}", headers=api_headers("john@example.com", CAT)
    )
    assert response.status_code == 400
    assert (await json_of(response))["error"] == "bad request"


# -- permissions -----------------------------------------------------------------------


async def test_edit_post_author_or_admin(client):
    john = await make_user("john@example.com", "john", password=CAT)
    await make_user("susan@example.com", "susan", password=DOG)
    await make_user("admin@example.com", "admin", password=CAT, role="Administrator")
    post = await add_post(john, "original")
    url = f"/api/v1/posts/{post.id}"

    response = await client.put(
        url, headers=api_headers("susan@example.com", DOG), data=json.dumps({"body": "hijacked"})
    )
    assert response.status_code == 403
    assert await json_of(response) == {"error": "forbidden", "message": "Insufficient permissions"}
    assert (await Post.get(id=post.id)).body == "original"

    response = await client.put(
        url, headers=api_headers("admin@example.com", CAT), data=json.dumps({"body": "by admin"})
    )
    assert response.status_code == 200
    assert (await json_of(response))["body"] == "by admin"

    # the book keeps the body when the JSON has none
    response = await client.put(url, headers=api_headers("john@example.com", CAT), data="{}")
    assert response.status_code == 200
    assert (await json_of(response))["body"] == "by admin"


async def test_write_needs_permission(client):
    john = await make_user("john@example.com", "john", password=CAT)
    post = await add_post(john)
    john.role.permissions = 1  # FOLLOW only
    await john.role.save()
    headers = api_headers("john@example.com", CAT)

    response = await client.post("/api/v1/posts/", headers=headers, data=json.dumps({"body": "x"}))
    assert response.status_code == 403
    response = await client.post(
        f"/api/v1/posts/{post.id}/comments/", headers=headers, data=json.dumps({"body": "x"})
    )
    assert response.status_code == 403
    assert (await json_of(response))["error"] == "forbidden"
    assert await Post.all().count() == 1 and await Comment.all().count() == 0


async def test_disabled_comment_body_only_for_moderators(client):
    john = await make_user("john@example.com", "john", password=CAT)
    await make_user("mod@example.com", "mod", password=DOG, role="Moderator")
    post = await add_post(john)
    comment = await add_comment(john, post, "rude words", disabled=True)

    for path in (
        f"/api/v1/comments/{comment.id}",
        "/api/v1/comments/",
        f"/api/v1/posts/{post.id}/comments/",
    ):
        as_user = await json_of(
            await client.get(path, headers=api_headers("john@example.com", CAT))
        )
        as_mod = await json_of(await client.get(path, headers=api_headers("mod@example.com", DOG)))
        if "comments" in as_user:
            as_user, as_mod = as_user["comments"][0], as_mod["comments"][0]
        assert as_user["disabled"] is True and as_mod["disabled"] is True
        assert "body" not in as_user and "body_html" not in as_user
        assert "rude words" not in json.dumps(as_user)
        assert as_mod["body"] == "rude words"


# -- errors in JSON --------------------------------------------------------------------


async def test_not_found_in_json(client):
    await make_user("john@example.com", password=CAT)
    headers = api_headers("john@example.com", CAT)
    for method, path in (
        ("GET", "/api/v1/posts/99"),
        ("PUT", "/api/v1/posts/99"),
        ("GET", "/api/v1/users/99"),
        ("GET", "/api/v1/users/99/posts/"),
        ("GET", "/api/v1/users/99/timeline/"),
        ("GET", "/api/v1/comments/99"),
        ("GET", "/api/v1/posts/99/comments/"),
        ("POST", "/api/v1/posts/99/comments/"),
        ("GET", "/api/v1/nothing-here"),
    ):
        response = await client.open(
            path, method=method, headers=headers, data=json.dumps({"body": "x"})
        )
        assert response.status_code == 404, (method, path)
        body = await json_of(response)
        assert body["error"] == "not found" and body["message"], (method, path)


async def test_method_not_allowed_in_json(client):
    await make_user("john@example.com", password=CAT)
    response = await client.delete("/api/v1/posts/", headers=api_headers("john@example.com", CAT))
    assert response.status_code == 405
    assert (await json_of(response))["error"] == "method not allowed"
    assert "GET" in response.headers["Allow"] and "POST" in response.headers["Allow"]


@pytest.mark.parametrize(
    ("payload", "content_type"),
    [
        ("{not json", "application/json"),
        ('["body"]', "application/json"),
        ('{"body": 5}', "application/json"),
        ('{"body": ["a"]}', "application/json"),
        ('{"body": null}', "application/json"),
        ("{}", "application/json"),
        ('{"body": "   "}', "application/json"),
        ('{"body": "x"}', "text/plain"),
        (json.dumps({"body": "x" * 10_001}), "application/json"),
    ],
)
async def test_bad_post_bodies(client, payload, content_type):
    await make_user("john@example.com", password=CAT)
    headers = {**api_headers("john@example.com", CAT), "Content-Type": content_type}
    response = await client.post("/api/v1/posts/", headers=headers, data=payload)
    assert response.status_code == 400
    body = await json_of(response)
    assert body["error"] == "bad request" and body["message"]
    assert await Post.all().count() == 0


async def test_comment_too_long(client):
    john = await make_user("john@example.com", password=CAT)
    post = await add_post(john)
    headers = api_headers("john@example.com", CAT)
    url = f"/api/v1/posts/{post.id}/comments/"
    response = await client.post(url, headers=headers, data=json.dumps({"body": "x" * 2_001}))
    assert response.status_code == 400
    response = await client.post(url, headers=headers, data=json.dumps({"body": "x" * 2_000}))
    assert response.status_code == 201


async def test_payload_too_large(client):
    await make_user("john@example.com", password=CAT)
    response = await client.post(
        "/api/v1/posts/",
        headers=api_headers("john@example.com", CAT),
        data=json.dumps({"body": "x" * (1024 * 1024)}),
    )
    assert response.status_code == 413
    assert (await json_of(response))["error"] == "payload too large"


async def test_basic_auth_throttled(client):
    await make_user("john@example.com", password=CAT)
    for _ in range(5):
        response = await client.get("/api/v1/posts/", headers=api_headers("john@example.com", DOG))
        assert response.status_code == 401
    response = await client.get("/api/v1/posts/", headers=api_headers("john@example.com", CAT))
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert (await json_of(response))["error"] == "too many requests"


async def test_writes_with_credentials_need_no_csrf(client):
    john = await make_user("john@example.com", password=CAT)
    response = await client.post(
        "/api/v1/posts/",
        headers=api_headers("john@example.com", CAT),
        data=json.dumps({"body": "hi"}),
    )
    assert response.status_code == 201
    assert (
        "Set-Cookie" not in response.headers or "flasky_auth" not in response.headers["Set-Cookie"]
    )
    assert await Post.filter(author_id=john.id).count() == 1


async def test_list_queries_do_not_grow_with_the_page(client):
    john = await make_user("john@example.com", "john", password=CAT)
    post = await add_post(john)
    await add_comment(john, post)
    headers = api_headers("john@example.com", CAT)
    paths = ("/api/v1/posts/", f"/api/v1/users/{john.id}/posts/", "/api/v1/comments/")
    before = [query_count(await client.get(path, headers=headers)) for path in paths]
    await add_post(await make_user("susan@example.com", "susan", password=DOG))
    await add_comment(john, post)
    after = [query_count(await client.get(path, headers=headers)) for path in paths]
    assert after == before
