"""The moderation queue, Enable / Disable in place, and the administrator's profile form —
each in its three forms, for each kind of viewer."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flasky.models import Comment, Post, Role, User, email_hash
from tests.conftest import csrf_from, make_user, query_count
from tests.helpers import (
    FORMS,
    HTMX,
    JSON,
    PAGE,
    USER_KEYS,
    assert_form,
    csrf,
    login,
    set_body,
    text,
)

COMMENT_KEYS = {
    "id", "url", "post_url", "body", "body_html", "timestamp", "author_url", "author",
    "disabled",
}  # fmt: skip
BASE = datetime(2026, 1, 1, tzinfo=UTC)
ROLES = ["anonymous", "unconfirmed", "User", "Moderator", "Administrator"]


@pytest.fixture
async def alice() -> User:
    return await make_user("alice@example.com", "alice")


@pytest.fixture
async def moderator() -> User:
    return await make_user("mod@example.com", "mod", role="Moderator")


@pytest.fixture
async def admin() -> User:
    return await make_user("root@example.com", "root", role="Administrator")


@pytest.fixture
async def post(alice: User) -> Post:
    return await Post.publish(alice, "A post to comment on")


async def make_comments(post: Post, author: User, n: int, start: int = 0) -> list[Comment]:
    """`n` comments on `post`, a minute apart; every third one disabled."""
    comments = []
    for i in range(start, start + n):
        comment = Comment(
            post_id=post.id,
            author_id=author.id,
            timestamp=BASE + timedelta(minutes=i),
            disabled=i % 3 == 2,
        )
        set_body(comment, f"Comment number {i}")
        comments.append(comment)
    await Comment.bulk_create(comments)
    return list(await Comment.filter(post_id=post.id).order_by("timestamp", "id"))


async def viewer_for(client: Any, role: str) -> User | None:
    """Sign in someone of `role` ('anonymous': nobody)."""
    if role == "anonymous":
        return None
    if role == "unconfirmed":
        user = await make_user("new@example.com", "newbie", confirmed=False)
    else:
        user = await make_user(f"{role.lower()}@example.com", f"the{role.lower()}", role=role)
    await login(client, user)
    return user


# -- the queue ----------------------------------------------------------------------------------


@FORMS
async def test_moderate_three_forms(client, moderator, post, alice, headers):
    comments = await make_comments(post, alice, 3)
    await login(client, moderator)
    response = await client.get("/moderate", headers=headers)
    body = await text(response)
    assert_form(headers, response, body, f'id="comment-{comments[0].id}"')
    if headers is JSON:
        data = await response.get_json()
        assert set(data) == {"comments", "next", "count"}
        assert data["count"] == 3 and data["next"] is None
        assert [c["id"] for c in data["comments"]] == [c.id for c in reversed(comments)]
        assert all(set(c) == COMMENT_KEYS for c in data["comments"])
        disabled = next(c for c in data["comments"] if c["disabled"])
        assert disabled["body"] == "Comment number 2"  # moderators see disabled bodies
    else:
        # newest first, each with the button that flips it
        assert body.index("Comment number 2") < body.index("Comment number 0")
        assert f'hx-post="/moderate/enable/{comments[2].id}"' in body
        assert f'hx-post="/moderate/disable/{comments[0].id}"' in body
        if headers is PAGE:
            assert 'hx-history="false"' in body


async def test_moderate_empty_queue(client, moderator):
    await login(client, moderator)
    body = await text(await client.get("/moderate"))
    assert 'class="empty"' in body
    data = await (await client.get("/moderate", headers=JSON)).get_json()
    assert data == {"comments": [], "next": None, "count": 0}


async def test_moderation_cursor_walk_visits_each_comment_once_in_order(
    client, moderator, post, alice
):
    comments = await make_comments(post, alice, 8)
    client.app.config["FLASKY_COMMENTS_PER_PAGE"] = 3
    await login(client, moderator)
    seen: list[int] = []
    url = "/moderate"
    while url:
        data = await (await client.get(url, headers=JSON)).get_json()
        seen += [c["id"] for c in data["comments"]]
        url = data["next"]
    assert seen == [c.id for c in reversed(comments)]


async def test_moderation_fragment_walk_appends_pages_with_sentinels(
    client, moderator, post, alice
):
    comments = await make_comments(post, alice, 5)
    client.app.config["FLASKY_COMMENTS_PER_PAGE"] = 2
    await login(client, moderator)
    seen: list[int] = []
    url: str | None = "/moderate"
    while url:
        body = await text(await client.get(url, headers=HTMX))
        seen += [int(i) for i in re.findall(r'<li id="comment-(\d+)"', body)]
        found = re.search(r'class="sentinel" hx-get="([^"]+)" hx-trigger="revealed"', body)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == [c.id for c in reversed(comments)]


async def test_moderation_walk_is_stable_when_comments_arrive(client, moderator, post, alice):
    comments = await make_comments(post, alice, 4)
    client.app.config["FLASKY_COMMENTS_PER_PAGE"] = 2
    await login(client, moderator)
    first = await (await client.get("/moderate", headers=JSON)).get_json()
    await make_comments(post, alice, 3, start=100)  # newer ones arrive while scrolling
    second = await (await client.get(first["next"], headers=JSON)).get_json()
    assert [c["id"] for c in first["comments"] + second["comments"]] == [
        c.id for c in reversed(comments)
    ]


@FORMS
async def test_moderation_query_count_does_not_grow(client, moderator, post, alice, headers):
    await login(client, moderator)
    await make_comments(post, alice, 5)
    await client.get("/moderate", headers=headers)  # the session is in this process's cache
    small = query_count(await client.get("/moderate", headers=headers))
    others = [await make_user(f"c{i}@example.com") for i in range(10)]
    for i, other in enumerate(others):
        await make_comments(post, other, 5, start=10 + i * 5)
    response = await client.get("/moderate", headers=headers)
    assert response.status_code == 200
    assert len(re.findall(r'<li id="comment-', await text(response))) in (0, 30)
    assert query_count(response) == small


# -- enable / disable ---------------------------------------------------------------------------


async def test_disable_and_enable_htmx_swap_the_comment(client, moderator, post, alice):
    (comment,) = await make_comments(post, alice, 1)
    await login(client, moderator)
    token = await csrf(client)
    response = await client.post(
        f"/moderate/disable/{comment.id}", form={"csrf_token": token}, headers=HTMX
    )
    body = await text(response)
    assert response.status_code == 200 and "<html" not in body
    assert "HX-Request" in response.headers["Vary"]
    assert body.lstrip().startswith(f'<li id="comment-{comment.id}" class="comment is-disabled"')
    assert f'hx-post="/moderate/enable/{comment.id}"' in body
    assert (await Comment.get(id=comment.id)).disabled

    response = await client.post(
        f"/moderate/enable/{comment.id}", form={"csrf_token": token}, headers=HTMX
    )
    body = await text(response)
    assert "is-disabled" not in body and f'hx-post="/moderate/disable/{comment.id}"' in body
    assert not (await Comment.get(id=comment.id)).disabled


async def test_disable_json_and_idempotent(client, moderator, post, alice):
    (comment,) = await make_comments(post, alice, 1)
    await login(client, moderator)
    headers = {**JSON, "X-CSRFToken": await csrf(client)}
    for _ in range(2):
        response = await client.post(f"/moderate/disable/{comment.id}", headers=headers)
        data = await response.get_json()
        assert response.status_code == 200 and set(data) == COMMENT_KEYS
        assert data["disabled"] is True and data["body"] == "Comment number 0"
    response = await client.post(f"/moderate/enable/{comment.id}", headers=headers)
    assert (await response.get_json())["disabled"] is False


async def test_disabled_comment_is_hidden_from_readers(client, moderator, post, alice):
    (comment,) = await make_comments(post, alice, 1)
    await login(client, moderator)
    headers = {**JSON, "X-CSRFToken": await csrf(client)}
    await client.post(f"/moderate/disable/{comment.id}", headers=headers)
    await login(client, alice)
    page = await text(await client.get(f"/post/{post.id}"))
    assert "This comment has been disabled by a moderator." in page
    assert "Comment number 0" not in page


@pytest.mark.parametrize(
    ("next_field", "referrer", "expected"),
    [
        ("/post/1#comments", None, "/post/1#comments"),
        ("https://evil.example/x", None, "/moderate"),
        ("//evil.example/x", None, "/moderate"),
        ("/\\evil.example", None, "/moderate"),
        (None, "http://localhost/moderate?cursor=abc", "/moderate?cursor=abc"),
        (None, "https://evil.example/moderate", "/moderate"),
        (None, None, "/moderate"),
    ],
)
async def test_no_js_moderation_redirects_back_only_locally(
    client, moderator, post, alice, next_field, referrer, expected
):
    (comment,) = await make_comments(post, alice, 1)
    await login(client, moderator)
    form = {"csrf_token": await csrf(client)}
    if next_field:
        form["next"] = next_field
    headers = {"Referer": referrer} if referrer else {}
    response = await client.post(f"/moderate/disable/{comment.id}", form=form, headers=headers)
    assert response.status_code == 303
    assert response.headers["Location"] == expected
    assert (await Comment.get(id=comment.id)).disabled


async def test_moderating_unknown_comment_is_404(client, moderator):
    await login(client, moderator)
    headers = {**JSON, "X-CSRFToken": await csrf(client)}
    assert (await client.post("/moderate/disable/999", headers=headers)).status_code == 404


async def test_moderation_without_csrf_is_400_and_changes_nothing(client, moderator, post, alice):
    (comment,) = await make_comments(post, alice, 1)
    await login(client, moderator)
    for headers in (PAGE, HTMX, JSON):
        response = await client.post(f"/moderate/disable/{comment.id}", headers=headers)
        assert response.status_code == 400
    assert not (await Comment.get(id=comment.id)).disabled


# -- who may do what --------------------------------------------------------------------------

ROUTES = [
    ("GET", "/moderate", "Moderator"),
    ("POST", "/moderate/disable/{comment}", "Moderator"),
    ("POST", "/moderate/enable/{comment}", "Moderator"),
    ("GET", "/edit-profile/{alice}", "Administrator"),
]
ALLOWED = {"Moderator": {"Moderator", "Administrator"}, "Administrator": {"Administrator"}}


async def _open(client: Any, method: str, path: str, alice: User, comment: Comment, **kw: Any):
    path = path.format(alice=alice.id, comment=comment.id)
    token = csrf_from(await text(await client.get("/auth/login")))
    if method == "POST":
        kw.setdefault("form", {"csrf_token": token})
        if "headers" in kw:
            kw["headers"] = {**kw["headers"], "X-CSRFToken": token}
    return await client.open(path, method=method, **kw)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "needs"), ROUTES)
async def test_permission_table_pages(client, alice, post, role, method, path, needs):
    (comment,) = await make_comments(post, alice, 1)
    await viewer_for(client, role)
    response = await _open(client, method, path, alice, comment)
    if role == "anonymous":
        assert response.status_code in (302, 303)
        assert response.headers["Location"].startswith("/auth/login?next=")
    elif role == "unconfirmed":
        assert response.status_code in (302, 303)
        assert response.headers["Location"] == "/auth/unconfirmed"
    elif role in ALLOWED[needs]:
        assert response.status_code in (200, 303)
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "needs"), ROUTES)
async def test_permission_table_json(client, alice, post, role, method, path, needs):
    (comment,) = await make_comments(post, alice, 1)
    await viewer_for(client, role)
    response = await _open(client, method, path, alice, comment, headers=JSON)
    data = await response.get_json()
    if role == "anonymous":
        assert response.status_code == 401 and "WWW-Authenticate" in response.headers
        assert data["error"] == "unauthorized"
    elif role == "unconfirmed":
        assert response.status_code == 403
        assert data == {"error": "forbidden", "message": "Unconfirmed account"}
    elif role in ALLOWED[needs]:
        assert response.status_code == 200
    else:
        assert response.status_code == 403 and data["error"] == "forbidden"
    assert not (await Comment.get(id=comment.id)).disabled or role in ALLOWED[needs]


# -- the administrator's profile form --------------------------------------------------------


@FORMS
async def test_edit_profile_admin_get_three_forms(client, admin, alice, headers):
    await alice.fetch_related("role")
    await login(client, admin)
    response = await client.get(f"/edit-profile/{alice.id}", headers=headers)
    body = await text(response)
    assert_form(headers, response, body, 'id="edit-profile-admin-form"')
    if headers is JSON:
        data = await response.get_json()
        assert set(data) == USER_KEYS and data["username"] == "alice"
    else:
        assert 'value="alice@example.com"' in body and 'value="alice"' in body
        user_role = await Role.get(name="User")
        assert re.search(rf'<option selected value="{user_role.id}">User</option>', body)
        assert "Moderator</option>" in body and "Administrator</option>" in body


async def test_edit_profile_admin_unknown_user_is_404(client, admin):
    await login(client, admin)
    assert (await client.get("/edit-profile/999", headers=JSON)).status_code == 404


async def test_edit_profile_admin_saves_everything(client, admin, alice):
    await login(client, admin)
    token = await csrf(client)
    moderator_role = await Role.get(name="Moderator")
    form = {
        "csrf_token": token,
        "email": "Alice.New@Example.com",
        "username": "alice2",
        "role": str(moderator_role.id),
        "name": "Alice",
        "location": "Lyon",
        "about_me": "Edited by an admin",
    }
    response = await client.post(f"/edit-profile/{alice.id}", form=form)
    assert response.status_code == 303 and response.headers["Location"] == "/user/alice2"
    saved = await User.get(id=alice.id).select_related("role")
    assert saved.email == "alice.new@example.com" and saved.username == "alice2"
    assert saved.avatar_hash == email_hash("alice.new@example.com") != alice.avatar_hash
    assert saved.role.name == "Moderator" and saved.confirmed is False
    assert (saved.name, saved.location, saved.about_me) == ("Alice", "Lyon", "Edited by an admin")


async def test_a_rename_takes_the_users_mentions_along(app, client, admin, alice):
    """After an admin renames bob, `@bob` in posts and comments links his profile under
    the new name (the words as written), the cached pages show it, and whoever registers
    the freed name later is linked by none of them."""
    bob = await make_user("bob@example.com", "Bob")
    post = await Post.publish(alice, "Thanks @bob and @alice")
    comment = await Comment.publish(alice, post, "Yes, @BOB!")
    elsewhere = await Post.publish(alice, "Nobody mentioned")
    anonymous = app.test_client()
    assert 'href="/user/Bob" class="mention">@bob</a>' in await text(
        await anonymous.get(f"/post/{post.id}")
    )  # and now the page is cached

    await login(client, admin)
    form = {"csrf_token": await csrf(client), "email": "bob@example.com", "username": "robert"}
    form |= {"role": str(bob.role_id), "confirmed": "y"}
    response = await client.post(f"/edit-profile/{bob.id}", form=form)
    assert response.status_code == 303, await text(response)

    page = await text(await anonymous.get(f"/post/{post.id}"))
    assert 'href="/user/robert" class="mention">@bob</a>' in page
    assert 'href="/user/robert" class="mention">@BOB</a>' in page
    assert 'href="/user/alice" class="mention">@alice</a>' in page  # others untouched
    assert "/user/Bob" not in page
    saved = await Comment.get(id=comment.id)
    assert saved.body == "Yes, @BOB!" and "/user/robert" in saved.body_html
    assert (await Post.get(id=elsewhere.id)).body_html == elsewhere.body_html
    await make_user("bob2@example.com", "bob")  # the freed name, taken by someone else
    assert "/user/bob" not in (await text(await anonymous.get(f"/post/{post.id}"))).lower()
    found = await anonymous.get("/search", query_string={"q": "@robert"}, headers=JSON)
    assert [p["id"] for p in (await found.get_json())["posts"]] == [post.id]


async def test_edit_profile_admin_refuses_taken_email_and_username(client, admin, alice):
    await make_user("bob@example.com", "bob")
    await login(client, admin)
    token = await csrf(client)
    role = await Role.get(name="User")
    form = {
        "csrf_token": token,
        "email": "BOB@example.com",
        "username": "bob",
        "role": str(role.id),
        "confirmed": "y",
    }
    response = await client.post(f"/edit-profile/{alice.id}", form=form, headers=HTMX)
    body = await text(response)
    assert response.status_code == 422 and "<html" not in body
    assert "Email already registered." in body and "Username already in use." in body
    assert 'value="BOB@example.com"' in body  # what was typed is kept
    saved = await User.get(id=alice.id)
    assert (saved.email, saved.username) == ("alice@example.com", "alice")

    response = await client.post(f"/edit-profile/{alice.id}", form=form, headers=JSON)
    assert response.status_code == 400 and "already" in (await response.get_json())["message"]


async def test_edit_profile_admin_keeps_own_email_and_validates_shape(client, admin, alice):
    await login(client, admin)
    token = await csrf(client)
    role = await Role.get(name="User")
    form = {
        "csrf_token": token,
        "email": "alice@example.com",
        "username": "alice",
        "role": str(role.id),
    }
    response = await client.post(f"/edit-profile/{alice.id}", form=form)
    assert response.status_code == 303
    assert (await User.get(id=alice.id)).avatar_hash == alice.avatar_hash
    bad = {**form, "email": "not an address", "username": "9lives", "role": "12345"}
    response = await client.post(f"/edit-profile/{alice.id}", form=bad, headers=HTMX)
    body = await text(response)
    assert response.status_code == 422
    assert body.count('class="error"') == 3


async def test_edit_profile_admin_json_body(client, admin, alice):
    await login(client, admin)
    headers = {**JSON, "X-CSRFToken": await csrf(client)}
    response = await client.post(
        f"/edit-profile/{alice.id}", json={"confirmed": False, "location": "Nice"}, headers=headers
    )
    assert response.status_code == 200
    data = await response.get_json()
    assert data["location"] == "Nice" and data["username"] == "alice"
    saved = await User.get(id=alice.id)
    assert saved.confirmed is False and saved.email == "alice@example.com"
    response = await client.post(
        f"/edit-profile/{alice.id}", json={"confirmed": "yes"}, headers=headers
    )
    assert response.status_code == 400
    response = await client.post(
        f"/edit-profile/{alice.id}", json={"role": "Admin"}, headers=headers
    )
    assert response.status_code == 400
