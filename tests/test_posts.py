"""Posts and comments: the home feed, permalinks, create/edit/delete, comments, preview.

Every route is checked in its three forms, permissions as a route × role table, CSRF,
cursor walks (also while new rows arrive), the no-JS "Older" path, query counts that do
not grow with the list, Markdown sanitising on every write path, and `Vary`.
"""

from __future__ import annotations

import base64
import html
import re
from datetime import timedelta
from typing import Any

import pytest

from flasky.models import Comment, Follow, Post, Role, User, utcnow
from flasky.permissions import Permission
from tests.conftest import PASSWORD, csrf_from, make_user, query_count

PAGE = {}
HTMX = {"HX-Request": "true"}
JSON = {"Accept": "application/json"}
FORMS = pytest.mark.parametrize("headers", [PAGE, HTMX, JSON], ids=["page", "htmx", "json"])

POST_KEYS = {
    "id",
    "url",
    "body",
    "body_html",
    "timestamp",
    "author_url",
    "author",
    "comments_url",
    "comment_count",
}
COMMENT_KEYS = {
    "id",
    "url",
    "post_url",
    "body",
    "body_html",
    "timestamp",
    "author_url",
    "author",
    "disabled",
}
XSS = (
    "<script>alert(1)</script> <img src=x onerror=alert(2)> "
    '[click](javascript:alert(3)) <a href="javascript:alert(4)">x</a> '
    '<iframe src="https://evil.example"></iframe> <b onmouseover=alert(5)>bold</b>'
)
POST_IDS = re.compile(r'<li id="post-(\d+)"')
COMMENT_IDS = re.compile(r'<li id="comment-(\d+)"')
SENTINEL = re.compile(r'class="sentinel" hx-get="([^"]+)"')


# -- helpers -------------------------------------------------------------------------------


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


def basic(email: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{email}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def text(response: Any) -> str:
    return await response.get_data(as_text=True)


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
        post.set_body(f"post number {i}")
        posts.append(post)
    await Post.bulk_create(posts)
    return list(await Post.filter(author_id=author.id).order_by("id").values_list("id", flat=True))


async def write_comments(author: User, post_id: int, n: int) -> list[int]:
    """`n` comments on a post, one second apart, an hour ago; the post's ids oldest first."""
    start = utcnow() - timedelta(hours=1)
    comments = []
    for i in range(n):
        comment = Comment(author=author, post_id=post_id, timestamp=start + timedelta(seconds=i))
        comment.set_body(f"comment number {i}")
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
        assert body.lstrip().startswith(f'<li id="post-{created.id}" class="post">')
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
        assert body.lstrip().startswith(f'<li id="post-{post.id}" class="post">')
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


# -- Markdown sanitising on every path ---------------------------------------------------------


async def test_markdown_is_sanitised_on_every_write_path(client, auth, people):
    await sign_in(auth, "author")
    csrf = await token(client)
    json_headers = {**JSON, "X-CSRFToken": csrf}
    await client.post("/", form={"body": XSS, "csrf_token": csrf})
    await client.post("/", form={"body": XSS, "csrf_token": csrf}, headers=HTMX)
    await client.post("/", json={"body": XSS}, headers=json_headers)
    await client.post("/", json={"body": XSS}, headers={**JSON, **basic("author@example.com")})
    posts = await Post.all().order_by("id")
    assert len(posts) == 4
    target = posts[0].id
    await client.post(f"/edit/{posts[1].id}", form={"body": XSS + " edited", "csrf_token": csrf})
    await client.put(f"/post/{posts[2].id}", json={"body": XSS + " put"}, headers=json_headers)
    await client.post(f"/post/{target}/comments", form={"body": XSS, "csrf_token": csrf})
    await client.post(
        f"/post/{target}/comments", form={"body": XSS, "csrf_token": csrf}, headers=HTMX
    )
    await client.post(f"/post/{target}/comments", json={"body": XSS}, headers=json_headers)
    for item in [*await Post.all(), *await Comment.all()]:
        assert_clean(item.body_html)
        assert "bold" in item.body_html
    assert await Comment.all().count() == 3
    for path in ("/", f"/post/{target}", f"/post/{target}/comments", f"/edit/{target}"):
        for headers in (PAGE, HTMX):
            page_is_safe(await text(await client.get(path, headers=headers)))
    for headers in (HTMX, JSON):
        response = await client.post(
            "/preview", form={"body": XSS, "csrf_token": csrf}, headers=headers
        )
        assert response.status_code == 200
        markup = (
            (await response.get_json())["body_html"] if headers is JSON else await text(response)
        )
        assert_clean(markup)


async def test_comments_allow_fewer_tags_than_posts(client, auth, people, post):
    await sign_in(auth, "user")
    csrf = await token(client)
    await client.post(
        f"/post/{post.id}/comments", form={"body": "# Big\n\n> quote", "csrf_token": csrf}
    )
    comment = await Comment.filter(post_id=post.id).order_by("-id").first()
    assert "<h1>" not in comment.body_html and "<blockquote>" not in comment.body_html
    assert "Big" in comment.body_html


# -- preview -----------------------------------------------------------------------------------


@FORMS
async def test_preview_three_forms(client, auth, people, headers):
    await sign_in(auth, "user")
    csrf = await token(client)
    response = await client.post(
        "/preview",
        form={"body": "# Title\n\nSee https://example.com", "csrf_token": csrf},
        headers=headers,
    )
    assert response.status_code == 200
    assert_vary(response)
    if headers is JSON:
        markup = (await response.get_json())["body_html"]
    else:
        markup = await text(response)
        assert ("<html" in markup) is (headers is PAGE)
    assert "<h1>Title</h1>" in markup
    assert '<a href="https://example.com" rel="nofollow">https://example.com</a>' in markup


async def test_preview_matches_what_is_stored(client, auth, people):
    await sign_in(auth, "user")
    csrf = await token(client)
    body = "Some **bold** and `code` and <em>raw</em> <script>x</script>"
    preview = await client.post(
        "/preview", json={"body": body}, headers={**JSON, "X-CSRFToken": csrf}
    )
    created = await client.post("/", json={"body": body}, headers={**JSON, "X-CSRFToken": csrf})
    assert (await preview.get_json())["body_html"] == (await created.get_json())["body_html"]
    comment_preview = await client.post(
        "/preview", json={"body": "# h", "kind": "comment"}, headers={**JSON, "X-CSRFToken": csrf}
    )
    assert "<h1>" not in (await comment_preview.get_json())["body_html"]


async def test_preview_limits_and_types(client, auth, people):
    await sign_in(auth, "user")
    csrf = await token(client)
    headers = {**JSON, "X-CSRFToken": csrf}
    assert (await client.post("/preview", json={"body": 5}, headers=headers)).status_code == 400
    assert (
        await client.post("/preview", json={"body": "x" * 10_001}, headers=headers)
    ).status_code == 400
    response = await client.post(
        "/preview", form={"body": "x" * 10_001, "csrf_token": csrf}, headers=HTMX
    )
    assert response.status_code == 200 and "Too long to preview" in await text(response)
    response = await client.post("/preview", form={"body": "", "csrf_token": csrf}, headers=HTMX)
    assert (await text(response)).strip() == ""


async def test_forms_carry_live_preview(client, auth, people, post):
    await sign_in(auth, "user")
    home = await text(await client.get("/"))
    assert 'hx-post="/preview"' in home and 'hx-trigger="input changed delay:400ms"' in home
    assert 'hx-target="#post-form-preview"' in home and "data-reset-on-success" in home
    page = await text(await client.get(f"/post/{post.id}"))
    assert 'hx-target="#comment-form-preview"' in page


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
    assert re.search(r'<a href="/followed" aria-current="page">Followed</a>', body)
    data = await (await client.get("/", headers=JSON)).get_json()
    assert data["count"] == 1
    await Follow.create(follower_id=people["user"].id, followed_id=people["author"].id)
    assert len(POST_IDS.findall(await text(await client.get("/")))) == 3
    response = await client.get("/all")
    assert response.headers["Set-Cookie"].startswith("show_followed=;")
    assert "Max-Age=2592000" in response.headers["Set-Cookie"]
    body = await text(await client.get("/"))
    assert re.search(r'<a href="/all" aria-current="page">All</a>', body)


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
    assert "Follow people to fill this feed — see everyone's posts under" in body
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
