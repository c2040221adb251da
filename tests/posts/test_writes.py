"""Create, edit, delete and comment in the three forms; who may do what, as a route ×
role table; CSRF on every cookie write."""

from __future__ import annotations

from typing import Any

import pytest

from flasky.models import Comment, Post, Role, User
from flasky.permissions import Permission
from tests.helpers import FORMS, HTMX, JSON, PAGE, POST_KEYS, basic, text
from tests.posts.conftest import (
    assert_vary,
    sign_in,
    token,
)

# -- writes in three forms ------------------------------------------------------------------


@FORMS
async def test_create_post_three_forms(client, auth, people, headers):
    await sign_in(auth, "author")
    csrf = await token(client)
    if headers is JSON:
        response = await client.post(
            "/", json={"body": "From *JSON*"}, headers={**JSON, "X-CSRFToken": csrf}
        )
    else:
        response = await client.post(
            "/", form={"body": "From *a form*", "csrf_token": csrf}, headers=headers
        )
    assert_vary(response)
    created = await Post.get(author_id=people["author"].id)
    assert "<em>" in created.body_html
    if headers is PAGE:
        assert response.status_code in (302, 303) and response.headers["Location"] == "/"
        home = await text(await client.get("/"))
        assert "Your post has been published." in home
    elif headers is HTMX:
        body = await text(response)
        assert response.status_code == 200
        assert body.lstrip().startswith(f'<li id="post-{created.id}" class="post" data-card=')
        # a fresh, empty form replaces the one that was sent, out of band
        assert 'id="post-form"' in body and 'hx-swap-oob="true"' in body
        assert "From *a form*</textarea>" not in body
        assert "<html" not in body
    else:
        assert response.status_code == 201
        data = await response.get_json()
        assert response.headers["Location"] == data["url"]
        assert data["url"].endswith(f"/post/{created.id}")
        assert set(data) == POST_KEYS and data["comment_count"] == 0


@FORMS
@pytest.mark.parametrize("bad_body", ["", "   ", "x" * 10_001], ids=["empty", "blank", "long"])
async def test_create_post_errors(client, auth, people, headers, bad_body):
    await sign_in(auth, "author")
    csrf = await token(client)
    if headers is JSON:
        response = await client.post(
            "/", json={"body": bad_body}, headers={**JSON, "X-CSRFToken": csrf}
        )
        assert response.status_code == 400
        data = await response.get_json()
        assert data["error"] == "bad request" and data["message"]
    else:
        response = await client.post(
            "/", form={"body": bad_body, "csrf_token": csrf}, headers=headers
        )
        assert response.status_code == 422
        body = await text(response)
        assert 'class="error"' in body and 'aria-invalid="true"' in body
        if bad_body.strip():
            assert bad_body in body  # what was typed is kept
        if headers is HTMX:
            assert response.headers["HX-Retarget"] == "#post-form"
            assert response.headers["HX-Reswap"] == "outerHTML"
            assert "<html" not in body and 'id="post-form"' in body
        else:
            assert "<html" in body
    assert await Post.all().count() == 0


@pytest.mark.parametrize(
    "payload", [["a list"], {"body": 12}, {"text": "no body"}, "just a string"], ids=str
)
async def test_create_post_rejects_wrong_json(client, auth, people, payload):
    await sign_in(auth, "author")
    csrf = await token(client)
    response = await client.post("/", json=payload, headers={**JSON, "X-CSRFToken": csrf})
    assert response.status_code == 400
    assert "body" in (await response.get_json())["message"]
    assert await Post.all().count() == 0


async def test_basic_auth_writes_need_no_csrf(client, people):
    response = await client.post(
        "/", json={"body": "via Basic"}, headers={**JSON, **basic("author@example.com")}
    )
    assert response.status_code == 201
    response = await client.post(
        "/", form={"body": "a form via Basic"}, headers={**JSON, **basic("author@example.com")}
    )
    assert response.status_code == 201
    assert await Post.filter(author_id=people["author"].id).count() == 2


@FORMS
async def test_edit_post_three_forms(client, auth, people, post, headers):
    await sign_in(auth, "author")
    csrf = await token(client)
    if headers is JSON:
        response = await client.post(
            f"/edit/{post.id}", json={"body": "Edited"}, headers={**JSON, "X-CSRFToken": csrf}
        )
    else:
        response = await client.post(
            f"/edit/{post.id}", form={"body": "Edited", "csrf_token": csrf}, headers=headers
        )
    assert_vary(response)
    assert (await Post.get(id=post.id)).body_html == "<p>Edited</p>"
    if headers is PAGE:
        assert response.status_code in (302, 303)
        assert response.headers["Location"] == f"/post/{post.id}"
    elif headers is HTMX:
        body = await text(response)
        assert body.lstrip().startswith(f'<li id="post-{post.id}" class="post" data-card=')
        assert "<p>Edited</p>" in body and "1 comment" in body
    else:
        assert (await response.get_json())["body"] == "Edited"


@FORMS
async def test_edit_post_errors_keep_the_form(client, auth, people, post, headers):
    await sign_in(auth, "author")
    csrf = await token(client)
    if headers is JSON:
        response = await client.post(
            f"/edit/{post.id}", json={"body": ""}, headers={**JSON, "X-CSRFToken": csrf}
        )
        assert response.status_code == 400
    else:
        response = await client.post(
            f"/edit/{post.id}", form={"body": "", "csrf_token": csrf}, headers=headers
        )
        assert response.status_code == 422
        body = await text(response)
        assert "Write something first." in body
        if headers is HTMX:
            assert f'<li id="post-{post.id}" class="post post-editing">' in body
    assert (await Post.get(id=post.id)).body == "Hello *world*"


async def test_put_and_delete_post_json(client, auth, people, post):
    await sign_in(auth, "author")
    csrf = {"X-CSRFToken": await token(client)}
    response = await client.put(
        f"/post/{post.id}", json={"body": "**new**"}, headers={**JSON, **csrf}
    )
    assert response.status_code == 200
    data = await response.get_json()
    assert data["body_html"] == "<p><strong>new</strong></p>" and data["comment_count"] == 1
    response = await client.put(f"/post/{post.id}", json={"body": ""}, headers={**JSON, **csrf})
    assert response.status_code == 400
    response = await client.delete(f"/post/{post.id}", headers={**JSON, **csrf})
    assert response.status_code == 204
    assert_vary(response)
    assert not await Post.exists(id=post.id)
    assert not await Comment.exists(post_id=post.id)


async def test_put_with_htmx_form_swaps_the_card(client, auth, people, post):
    await sign_in(auth, "author")
    csrf = await token(client)
    response = await client.put(
        f"/post/{post.id}", form={"body": "put *form*", "csrf_token": csrf}, headers=HTMX
    )
    assert response.status_code == 200
    assert "<em>form</em>" in await text(response)


@FORMS
async def test_delete_post_three_forms(client, auth, people, post, headers):
    await sign_in(auth, "author")
    csrf = await token(client)
    response = await client.post(f"/delete/{post.id}", form={"csrf_token": csrf}, headers=headers)
    assert_vary(response)
    assert not await Post.exists(id=post.id)
    if headers is PAGE:
        assert response.status_code in (302, 303) and response.headers["Location"] == "/"
    elif headers is HTMX:
        assert response.status_code == 200  # an empty swap removes the card
        assert 'id="post-' not in await text(response)
    else:
        assert response.status_code == 204


@FORMS
async def test_add_comment_three_forms(client, auth, people, post, headers):
    await sign_in(auth, "author")
    csrf = await token(client)
    url = f"/post/{post.id}/comments"
    if headers is JSON:
        response = await client.post(
            url, json={"body": "Thanks *all*"}, headers={**JSON, "X-CSRFToken": csrf}
        )
    else:
        response = await client.post(
            url, form={"body": "Thanks *all*", "csrf_token": csrf}, headers=headers
        )
    assert_vary(response)
    comment = await Comment.filter(post_id=post.id).order_by("-id").first()
    assert comment.body_html == "Thanks <em>all</em>"
    if headers is PAGE:
        assert response.status_code in (302, 303)
        assert response.headers["Location"] == f"/post/{post.id}#comment-{comment.id}"
    elif headers is HTMX:
        body = await text(response)
        assert body.lstrip().startswith(f'<li id="comment-{comment.id}" class="comment">')
        assert 'id="comment-form"' in body and 'hx-swap-oob="true"' in body
        assert (
            f'<span id="post-{post.id}-comment-count" hx-swap-oob="true">2 comments</span>' in body
        )
    else:
        assert response.status_code == 201
        data = await response.get_json()
        assert response.headers["Location"] == data["url"]
        assert data["url"].endswith(f"/comment/{comment.id}")
        assert data["post_url"].endswith(f"/post/{post.id}")


@FORMS
@pytest.mark.parametrize("bad_body", ["", "y" * 2_001], ids=["empty", "long"])
async def test_add_comment_errors(client, auth, people, post, headers, bad_body):
    await sign_in(auth, "author")
    csrf = await token(client)
    url = f"/post/{post.id}/comments"
    if headers is JSON:
        response = await client.post(
            url, json={"body": bad_body}, headers={**JSON, "X-CSRFToken": csrf}
        )
        assert response.status_code == 400
        assert (await response.get_json())["message"]
    else:
        response = await client.post(
            url, form={"body": bad_body, "csrf_token": csrf}, headers=headers
        )
        assert response.status_code == 422
        body = await text(response)
        assert 'class="error"' in body
        if headers is HTMX:
            assert response.headers["HX-Retarget"] == "#comment-form"
            assert body.lstrip().startswith('<form id="comment-form"')
        else:
            assert "<html" in body and "First!" in body
    assert await Comment.filter(post_id=post.id).count() == 1


async def test_comment_on_missing_post_is_404(client, auth, people):
    await sign_in(auth, "user")
    csrf = await token(client)
    response = await client.post("/post/999/comments", form={"body": "x", "csrf_token": csrf})
    assert response.status_code == 404


# -- who may do what ----------------------------------------------------------------------------

ROLES = ["anonymous", "unconfirmed", "user", "moderator", "admin", "author"]
LOGIN = "login"
UNCONFIRMED = "unconfirmed"

# route → expected answer per role (a status, or where the redirect goes)
TABLE: dict[str, dict[str, Any]] = {
    "GET /": dict(
        anonymous=200, unconfirmed=UNCONFIRMED, user=200, moderator=200, admin=200, author=200
    ),
    "POST /": dict(
        anonymous=LOGIN, unconfirmed=UNCONFIRMED, user=303, moderator=303, admin=303, author=303
    ),
    "GET /edit": dict(
        anonymous=LOGIN, unconfirmed=UNCONFIRMED, user=403, moderator=403, admin=200, author=200
    ),
    "POST /edit": dict(
        anonymous=LOGIN, unconfirmed=UNCONFIRMED, user=403, moderator=403, admin=303, author=303
    ),
    "POST /delete": dict(
        anonymous=LOGIN, unconfirmed=UNCONFIRMED, user=403, moderator=403, admin=303, author=303
    ),
    "PUT json": dict(
        anonymous=401, unconfirmed=403, user=403, moderator=403, admin=200, author=200
    ),
    "DELETE json": dict(
        anonymous=401, unconfirmed=403, user=403, moderator=403, admin=204, author=204
    ),
    "POST comments": dict(
        anonymous=LOGIN, unconfirmed=UNCONFIRMED, user=303, moderator=303, admin=303, author=303
    ),
    "GET post": dict(
        anonymous=200, unconfirmed=UNCONFIRMED, user=200, moderator=200, admin=200, author=200
    ),
}


async def _call(client: Any, route: str, post_id: int, csrf: str) -> Any:
    form = {"body": "Some *text*", "csrf_token": csrf}
    json_headers = {**JSON, "X-CSRFToken": csrf}
    match route:
        case "GET /":
            return await client.get("/")
        case "POST /":
            return await client.post("/", form=form)
        case "GET /edit":
            return await client.get(f"/edit/{post_id}")
        case "POST /edit":
            return await client.post(f"/edit/{post_id}", form=form)
        case "POST /delete":
            return await client.post(f"/delete/{post_id}", form={"csrf_token": csrf})
        case "PUT json":
            return await client.put(f"/post/{post_id}", json={"body": "x"}, headers=json_headers)
        case "DELETE json":
            return await client.delete(f"/post/{post_id}", headers=json_headers)
        case "POST comments":
            return await client.post(f"/post/{post_id}/comments", form=form)
        case "GET post":
            return await client.get(f"/post/{post_id}")
    raise AssertionError(route)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("route", list(TABLE))
async def test_permission_table(client, auth, people, post, route, role):
    await sign_in(auth, role)
    csrf = await token(client)
    response = await _call(client, route, post.id, csrf)
    expected = TABLE[route][role]
    assert_vary(response)
    if expected == LOGIN:
        assert response.status_code in (302, 303)
        assert response.headers["Location"].startswith("/auth/login?next=")
    elif expected == UNCONFIRMED:
        assert response.status_code in (302, 303)
        assert response.headers["Location"].endswith("/auth/unconfirmed")
    elif expected == 303:
        assert response.status_code in (302, 303), await text(response)
    else:
        assert response.status_code == expected, await text(response)
    if expected == 401:
        assert "WWW-Authenticate" in response.headers
    if expected == 403 and route.endswith("json") and role == "unconfirmed":
        assert await response.get_json() == {"error": "forbidden", "message": "Unconfirmed account"}


async def test_comment_permission_is_checked_on_the_server(client, auth, app, people, post):
    """A role without COMMENT sees no form and cannot post one anyway."""
    mute = await Role.create(name="Mute", permissions=int(Permission.FOLLOW | Permission.WRITE))
    await User.filter(id=people["user"].id).update(role_id=mute.id)
    await sign_in(auth, "user")
    csrf = await token(client)
    page = await text(await client.get(f"/post/{post.id}"))
    assert 'id="comment-form"' not in page
    response = await client.post(
        f"/post/{post.id}/comments", form={"body": "sneaky", "csrf_token": csrf}
    )
    assert response.status_code == 403
    response = await client.post(
        f"/post/{post.id}/comments", json={"body": "sneaky"}, headers={**JSON, "X-CSRFToken": csrf}
    )
    assert response.status_code == 403
    assert await Comment.filter(post_id=post.id).count() == 1


async def test_write_permission_is_checked_on_the_server(client, auth, people):
    reader = await Role.create(
        name="Reader", permissions=int(Permission.FOLLOW | Permission.COMMENT)
    )
    await User.filter(id=people["user"].id).update(role_id=reader.id)
    await sign_in(auth, "user")
    csrf = await token(client)
    assert 'id="post-form"' not in await text(await client.get("/"))
    response = await client.post("/", form={"body": "sneaky", "csrf_token": csrf})
    assert response.status_code == 403
    assert await Post.all().count() == 0


async def test_edit_and_delete_links_only_for_author_and_admin(client, auth, people, post):
    edit = f'href="/edit/{post.id}"'
    assert edit not in await text(await client.get("/"))
    for who, shown in (("user", False), ("admin", True), ("author", True)):
        await sign_in(auth, who)
        assert (edit in await text(await client.get("/"))) is shown, who
        await auth.logout()


# -- CSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path,kind",
    [
        ("POST", "/", "form"),
        ("POST", "/", "json"),
        ("POST", "/edit/{id}", "form"),
        ("POST", "/delete/{id}", "form"),
        ("PUT", "/post/{id}", "json"),
        ("DELETE", "/post/{id}", "json"),
        ("POST", "/post/{id}/comments", "form"),
        ("POST", "/post/{id}/comments", "json"),
        ("POST", "/preview", "form"),
    ],
)
@pytest.mark.parametrize("bad", [None, "forged"], ids=["missing", "wrong"])
async def test_csrf_missing_or_wrong_is_400_and_changes_nothing(
    client, auth, people, post, method, path, kind, bad
):
    await sign_in(auth, "author")
    url = path.format(id=post.id)
    form = {"body": "changed"} if bad is None else {"body": "changed", "csrf_token": bad}
    headers = {} if bad is None else {"X-CSRFToken": bad}
    for extra in (PAGE, HTMX, JSON):
        if kind == "json":
            response = await client.open(
                url, method=method, json={"body": "changed"}, headers={**headers, **extra}
            )
        else:
            response = await client.open(url, method=method, form=form, headers=extra)
        assert response.status_code == 400, (url, extra)
        assert_vary(response)
    fresh = await Post.get(id=post.id)
    assert fresh.body == "Hello *world*"
    assert await Post.all().count() == 1 and await Comment.all().count() == 1
