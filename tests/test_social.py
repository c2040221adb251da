"""Profiles, the user's posts and timeline, follower lists, follow/unfollow, identicons and
the own-profile form — each in its three forms, for each kind of viewer."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flasky.models import Follow, Post, User
from flasky.social import identicon_svg
from tests.conftest import csrf_from, make_user, query_count
from tests.helpers import (
    FORMS,
    HTMX,
    JSON,
    PAGE,
    POST_KEYS,
    USER_KEYS,
    assert_form,
    csrf,
    login,
    set_body,
    text,
)

BASE = datetime(2026, 1, 1, tzinfo=UTC)


# -- helpers ------------------------------------------------------------------------------


async def make_posts(author: User, n: int, start: int = 0) -> None:
    """`n` posts by `author`, a minute apart."""
    posts = []
    for i in range(start, start + n):
        post = Post(author_id=author.id, timestamp=BASE + timedelta(minutes=i))
        set_body(post, f"Post number {i} by {author.username}")
        posts.append(post)
    await Post.bulk_create(posts)


async def make_followers(user: User, n: int, prefix: str = "fan") -> list[User]:
    """`n` users following `user`, one minute apart (oldest first in the result)."""
    fans = []
    for i in range(n):
        fan = await make_user(f"{prefix}{i}@example.com")
        await Follow.create(
            follower_id=fan.id, followed_id=user.id, timestamp=BASE + timedelta(minutes=i)
        )
        fans.append(fan)
    return fans


@pytest.fixture
async def alice() -> User:
    return await make_user("alice@example.com", "alice")


@pytest.fixture
async def bob() -> User:
    return await make_user("bob@example.com", "bob")


# -- profile --------------------------------------------------------------------------------


@FORMS
async def test_profile_three_forms(client, alice, bob, headers):
    await make_posts(alice, 3)
    await bob.follow(alice)
    response = await client.get("/user/alice", headers=headers)
    body = await text(response)
    assert_form(headers, response, body, 'id="profile"')
    if headers is JSON:
        data = await response.get_json()
        assert set(data) == USER_KEYS
        assert data["username"] == "alice" and data["post_count"] == 3
        assert data["followers_count"] == 1 and data["following_count"] == 0
        assert data["url"] == "http://localhost/user/alice"
        assert data["avatar_url"] == f"http://localhost/avatar/{alice.avatar_hash}.svg?v=2"
        assert data["followers_url"] == "http://localhost/followers/alice"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["member_since"])
    else:
        assert "@alice" in body and "Member since" in body and "Last seen" in body
        assert 'class="avatar avatar-96"' in body
        assert "Post number 2 by alice" in body
        assert re.search(r'id="followers-count-\d+"[^>]*><strong>1</strong> follower<', body)
        assert 'href="/followers/alice"' in body and 'href="/followed_by/alice"' in body


async def test_profile_unknown_user_is_404(client):
    assert (await client.get("/user/nobody")).status_code == 404
    response = await client.get("/user/nobody", headers=JSON)
    assert response.status_code == 404
    assert (await response.get_json())["error"] == "not found"


async def test_profile_escapes_what_people_typed(client, alice):
    alice.about_me = "<script>alert(1)</script> **not markdown**"
    alice.location = "<b>Here</b>"
    await alice.save()
    body = await text(await client.get("/user/alice", headers=HTMX))
    assert "<script>alert(1)" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;b&gt;Here&lt;/b&gt;" in body and "**not markdown**" in body


async def test_profile_follow_button_badge_and_edit_links(client, alice, bob):
    await alice.follow(bob)
    await login(client, bob)
    body = await text(await client.get("/user/alice", headers=HTMX))
    assert 'class="badge">Follows you<' in body
    assert f'id="follow-{alice.id}"' in body and 'action="/follow/alice"' in body
    assert "Edit profile" not in body and "Edit as admin" not in body

    own = await text(await client.get("/user/bob", headers=HTMX))
    assert f'id="follow-{bob.id}"' not in own and "Follows you" not in own
    assert 'href="/edit-profile"' in own


async def test_profile_of_someone_followed_shows_following(client, alice, bob):
    await bob.follow(alice)
    await login(client, bob)
    body = await text(await client.get("/user/alice", headers=HTMX))
    assert "follow-button is-following" in body and 'action="/unfollow/alice"' in body
    assert (
        '<span class="when-rest">Following</span><span class="when-hover">Unfollow</span>' in body
    )
    assert "Follows you" not in body


async def test_admin_sees_edit_as_admin(client, alice):
    admin = await make_user("root@example.com", "root", role="Administrator")
    await login(client, admin)
    body = await text(await client.get("/user/alice", headers=HTMX))
    assert f'href="/edit-profile/{alice.id}"' in body and "Edit as admin" in body


async def test_anonymous_profile_offers_login_instead_of_follow(client, alice):
    body = await text(await client.get("/user/alice", headers=HTMX))
    assert f'id="follow-{alice.id}"' not in body and "Follows you" not in body
    assert 'href="/auth/login?next=/user/alice">Follow</a>' in body


@pytest.mark.parametrize("app_config", [{"FLASKY_AVATARS": "gravatar"}])
async def test_gravatar_setting_points_avatars_at_gravatar(client, alice):
    data = await (await client.get("/user/alice", headers=JSON)).get_json()
    assert data["avatar_url"].startswith(f"https://secure.gravatar.com/avatar/{alice.avatar_hash}")


# -- the user's posts and timeline ------------------------------------------------------------


@FORMS
@pytest.mark.parametrize("path", ["/user/alice/posts", "/user/alice/timeline"])
async def test_post_lists_three_forms(client, alice, bob, headers, path):
    await alice.follow(bob)
    await make_posts(alice, 2)
    await make_posts(bob, 2, start=10)
    response = await client.get(path, headers=headers)
    body = await text(response)
    assert_form(headers, response, body, "Post number 1 by alice")
    if headers is JSON:
        data = await response.get_json()
        assert set(data) == {"posts", "next", "count"} and data["next"] is None
        assert all(set(p) == POST_KEYS for p in data["posts"])
        authors = [p["author"]["username"] for p in data["posts"]]
        if path.endswith("timeline"):
            assert authors == ["bob", "bob", "alice", "alice"] and data["count"] == 4
        else:
            assert authors == ["alice", "alice"] and data["count"] == 2
    else:
        assert ("Post number 10 by bob" in body) == path.endswith("timeline")


async def test_user_posts_cursor_walk_visits_each_post_once(client, alice):
    await make_posts(alice, 7)
    client.app.config["FLASKY_POSTS_PER_PAGE"] = 3
    seen: list[int] = []
    url = "/user/alice/posts"
    while url:
        data = await (await client.get(url, headers=JSON)).get_json()
        seen += [p["id"] for p in data["posts"]]
        url = data["next"]
    expected = (
        await Post.filter(author_id=alice.id).order_by("-timestamp").values_list("id", flat=True)
    )
    assert seen == list(expected)


async def test_user_posts_fragment_ends_with_a_sentinel(client, alice):
    await make_posts(alice, 4)
    client.app.config["FLASKY_POSTS_PER_PAGE"] = 3
    body = await text(await client.get("/user/alice/posts", headers=HTMX))
    sentinel = re.search(
        r'<li class="sentinel" hx-get="([^"]+)" hx-trigger="revealed" hx-swap="outerHTML"', body
    )
    assert sentinel and "cursor=" in sentinel.group(1)
    assert f'<a href="{sentinel.group(1)}">Older</a>' in body
    last = await text(await client.get(sentinel.group(1).replace("&amp;", "&"), headers=HTMX))
    assert "Post number 0 by alice" in last and "sentinel" not in last


async def test_bad_cursor_is_400(client, alice):
    response = await client.get("/user/alice/posts?cursor=nonsense", headers=JSON)
    assert response.status_code == 400


# -- follower lists -----------------------------------------------------------------------------


@FORMS
@pytest.mark.parametrize("path", ["/followers/alice", "/followed_by/bob"])
async def test_follow_lists_three_forms(client, alice, bob, headers, path):
    await bob.follow(alice)
    response = await client.get(path, headers=headers)
    body = await text(response)
    assert_form(headers, response, body, 'class="user-row"')
    if headers is JSON:
        data = await response.get_json()
        assert set(data) == {"follows", "next", "count"} and data["count"] == 1
        (item,) = data["follows"]
        assert set(item) == {"user", "timestamp"} and set(item["user"]) == USER_KEYS
        expected = "bob" if path.startswith("/followers") else "alice"
        assert item["user"]["username"] == expected
        assert "email" not in item["user"]
    else:
        # the self-follow is left out of every list
        assert body.count('class="user-row"') == 1


async def test_followers_cursor_walk_visits_each_follower_once_in_order(client, alice):
    fans = await make_followers(alice, 7)
    client.app.config["FLASKY_FOLLOWERS_PER_PAGE"] = 3
    seen: list[str] = []
    url = "/followers/alice"
    pages = 0
    while url:
        data = await (await client.get(url, headers=JSON)).get_json()
        assert data["count"] == 7
        seen += [f["user"]["username"] for f in data["follows"]]
        url = data["next"]
        pages += 1
    assert pages == 3
    assert seen == [f.username for f in reversed(fans)]


async def test_followed_by_fragment_walk_visits_each_once(client, alice):
    stars = [await make_user(f"star{i}@example.com") for i in range(5)]
    for i, star in enumerate(stars):
        await Follow.create(
            follower_id=alice.id, followed_id=star.id, timestamp=BASE + timedelta(hours=i)
        )
    client.app.config["FLASKY_FOLLOWERS_PER_PAGE"] = 2
    seen: list[str] = []
    url: str | None = "/followed_by/alice"
    while url:
        body = await text(await client.get(url, headers=HTMX))
        seen += re.findall(r'<span class="handle">@(\w+)</span>', body)
        found = re.search(r'class="sentinel" hx-get="([^"]+)"', body)
        url = found.group(1).replace("&amp;", "&") if found else None
    assert seen == [s.username for s in reversed(stars)]


async def test_follow_list_rows_carry_the_viewers_buttons(client, alice, bob):
    carol = await make_user("carol@example.com", "carol")
    await bob.follow(alice)
    await carol.follow(alice)
    await bob.follow(carol)
    await login(client, bob)
    body = await text(await client.get("/followers/alice", headers=HTMX))
    assert f'id="follow-{bob.id}"' not in body  # no button for oneself
    assert f'id="follow-{carol.id}"' in body and 'action="/unfollow/carol"' in body


@pytest.mark.parametrize("path", ["/followers/nobody", "/followed_by/nobody", "/user/nobody/posts"])
async def test_lists_of_unknown_users_are_404(client, path):
    assert (await client.get(path, headers=JSON)).status_code == 404


# -- follow / unfollow ----------------------------------------------------------------------------


async def test_follow_htmx_answers_toggled_button_and_oob_count(client, alice, bob):
    await login(client, bob)
    token = await csrf(client)
    response = await client.post("/follow/alice", form={"csrf_token": token}, headers=HTMX)
    body = await text(response)
    assert response.status_code == 200 and "<html" not in body
    assert "Vary" in response.headers and "HX-Request" in response.headers["Vary"]
    assert body.lstrip().startswith(f'<form id="follow-{alice.id}"')
    assert "is-following" in body and 'hx-post="/unfollow/alice"' in body
    assert re.search(
        rf'id="followers-count-{alice.id}"[^>]*hx-swap-oob="true"><strong>1</strong> follower<',
        body,
    )

    response = await client.post("/unfollow/alice", form={"csrf_token": token}, headers=HTMX)
    body = await text(response)
    assert "is-following" not in body and 'hx-post="/follow/alice"' in body
    assert re.search(
        rf'id="followers-count-{alice.id}"[^>]*hx-swap-oob="true"><strong>0</strong>', body
    )


async def test_follow_json_and_no_js_redirect(client, alice, bob):
    await login(client, bob)
    token = await csrf(client)
    response = await client.post("/follow/alice", headers={**JSON, "X-CSRFToken": token})
    assert response.status_code == 200
    assert await response.get_json() == {"following": True, "followers_count": 1}

    response = await client.post("/unfollow/alice", form={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/user/alice"
    assert not (await bob.relation(alice))[0]


async def test_follow_is_idempotent(client, alice, bob):
    await login(client, bob)
    token = await csrf(client)
    for _ in range(3):
        response = await client.post("/follow/alice", headers={**JSON, "X-CSRFToken": token})
        assert await response.get_json() == {"following": True, "followers_count": 1}
    assert await Follow.filter(follower_id=bob.id, followed_id=alice.id).count() == 1
    for _ in range(2):
        response = await client.post("/unfollow/alice", headers={**JSON, "X-CSRFToken": token})
        assert await response.get_json() == {"following": False, "followers_count": 0}
    assert await Follow.filter(follower_id=bob.id, followed_id=alice.id).count() == 0
    assert await Follow.filter(follower_id=bob.id, followed_id=bob.id).count() == 1


async def test_concurrent_follows_keep_one_row(client, alice, bob):
    await login(client, bob)
    token = await csrf(client)
    headers = {**JSON, "X-CSRFToken": token}
    responses = await asyncio.gather(
        *(client.post("/follow/alice", headers=headers) for _ in range(8))
    )
    assert all(r.status_code == 200 for r in responses)
    assert await Follow.filter(follower_id=bob.id, followed_id=alice.id).count() == 1
    data = await (await client.get("/user/alice", headers=JSON)).get_json()
    assert data["followers_count"] == 1
    data = await (await client.get("/user/bob", headers=JSON)).get_json()
    assert data["following_count"] == 1


async def test_follow_unknown_user_is_404_and_self_is_400(client, bob):
    await login(client, bob)
    token = await csrf(client)
    headers = {**JSON, "X-CSRFToken": token}
    assert (await client.post("/follow/nobody", headers=headers)).status_code == 404
    assert (await client.post("/unfollow/nobody", headers=headers)).status_code == 404
    for path in ("/follow/bob", "/unfollow/bob"):
        response = await client.post(path, headers=headers)
        assert response.status_code == 400
        assert (await response.get_json())["error"] == "bad request"
    assert await Follow.filter(follower_id=bob.id, followed_id=bob.id).count() == 1


@pytest.mark.parametrize("token", [None, "forged"])
async def test_follow_without_csrf_is_400_and_changes_nothing(client, alice, bob, token):
    await login(client, bob)
    form = {"csrf_token": token} if token else {}
    for headers in (PAGE, HTMX, JSON):
        response = await client.post("/follow/alice", form=form, headers=headers)
        assert response.status_code == 400
    assert not (await bob.relation(alice))[0]


async def test_basic_auth_follow_needs_no_csrf(client, alice, bob):
    import base64

    credentials = base64.b64encode(b"bob@example.com:correct horse battery").decode()
    response = await client.post(
        "/follow/alice", headers={**JSON, "Authorization": f"Basic {credentials}"}
    )
    assert response.status_code == 200
    assert (await response.get_json())["following"] is True


# -- who may do what ------------------------------------------------------------------------------

ROLES = ["anonymous", "unconfirmed", "User", "Moderator", "Administrator"]
WRITES = [("POST", "/follow/alice"), ("POST", "/unfollow/alice"), ("GET", "/edit-profile")]


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


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), WRITES)
async def test_permission_table_pages(client, alice, role, method, path):
    await viewer_for(client, role)
    token = csrf_from(await text(await client.get("/auth/login")))
    response = await client.open(
        path, method=method, form={"csrf_token": token} if method == "POST" else None
    )
    if role == "anonymous":
        assert response.status_code in (302, 303)
        assert response.headers["Location"].startswith("/auth/login?next=")
    elif role == "unconfirmed":
        assert response.status_code in (302, 303)
        assert response.headers["Location"] == "/auth/unconfirmed"
    else:
        assert response.status_code in (200, 303)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), WRITES)
async def test_permission_table_json(client, alice, role, method, path):
    await viewer_for(client, role)
    token = csrf_from(await text(await client.get("/auth/login")))
    response = await client.open(path, method=method, headers={**JSON, "X-CSRFToken": token})
    data = await response.get_json()
    if role == "anonymous":
        assert response.status_code == 401 and "WWW-Authenticate" in response.headers
        assert data["error"] == "unauthorized"
    elif role == "unconfirmed":
        assert response.status_code == 403
        assert data == {"error": "forbidden", "message": "Unconfirmed account"}
    else:
        assert response.status_code == 200


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", ["/user/alice", "/followers/alice", "/user/alice/timeline"])
async def test_reads_are_public_but_not_for_the_unconfirmed(client, alice, role, path):
    await viewer_for(client, role)
    response = await client.get(path, headers=JSON)
    assert response.status_code == (403 if role == "unconfirmed" else 200)


# -- query counts ------------------------------------------------------------------------------

LISTS = [
    "/user/star", "/user/star/posts", "/user/star/timeline", "/followers/star",
    "/followed_by/star",
]  # fmt: skip


async def fill(star: User, fans: list[User], n: int) -> None:
    """`n` posts by `star`; the first `n` fans follow `star` and `star` follows them."""
    await make_posts(star, n)
    for fan in fans[:n]:
        await fan.follow(star)
        await star.follow(fan)


@pytest.mark.parametrize("path", LISTS)
@FORMS
async def test_query_count_does_not_grow_with_the_list(client, path, headers):
    star = await make_user("star@example.com", "star")
    fans = [await make_user(f"fan{i}@example.com") for i in range(50)]
    viewer = await make_user("viewer@example.com", "viewer")
    await viewer.follow(fans[0])
    await login(client, viewer)
    await fill(star, fans, 5)
    await client.get(path, headers=headers)  # the session is in this process's cache now
    small = query_count(await client.get(path, headers=headers))
    await fill(star, fans[5:], 45)
    response = await client.get(path, headers=headers)
    assert response.status_code == 200
    assert query_count(response) == small


# -- identicons -----------------------------------------------------------------------------------


async def test_identicon_is_deterministic_and_cacheable(client, alice):
    url = f"/avatar/{alice.avatar_hash}.svg"
    first, second = await client.get(url), await client.get(url)
    assert first.status_code == 200 and first.mimetype == "image/svg+xml"
    assert await first.get_data() == await second.get_data()
    assert first.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    svg = await text(first)
    assert svg.startswith("<svg") and "<script" not in svg
    assert svg == identicon_svg(alice.avatar_hash)
    # a disc of the reader's scheme: its own style, and nothing else may load or run
    assert "prefers-color-scheme:dark" in svg
    csp = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    assert first.headers["Content-Security-Policy"] == csp


def test_identicons_differ_and_are_mirrored():
    a, b = identicon_svg("0" * 32), identicon_svg("1" * 32)
    assert a != b
    # all-even digits: every cell is on, all-odd: none is
    assert a.count("h1v1h-1z") == 25 and b.count("h1v1h-1z") == 0
    squares = re.findall(r"M([\d.]+) ([\d.]+)h1", identicon_svg("0f" * 16))
    cells = {(float(x), float(y)) for x, y in squares}
    assert cells and all((7 - x, y) in cells for x, y in cells)  # symmetric about the middle


@pytest.mark.parametrize(
    "name", ["abc", "g" * 32, "A" * 32, "0" * 31, "0" * 33, "..%2F" + "0" * 27]
)
async def test_identicon_refuses_what_is_not_a_hash(client, name):
    assert (await client.get(f"/avatar/{name}.svg")).status_code == 404


async def test_identicon_is_served_to_unconfirmed_accounts(client, alice):
    newbie = await make_user("new@example.com", "newbie", confirmed=False)
    await login(client, newbie)
    assert (await client.get(f"/avatar/{alice.avatar_hash}.svg")).status_code == 200


# -- own profile form -----------------------------------------------------------------------------


@FORMS
async def test_edit_profile_get_three_forms(client, alice, headers):
    alice.name, alice.location = "Alice Liddell", "Oxford"
    await alice.save()
    await login(client, alice)
    response = await client.get("/edit-profile", headers=headers)
    body = await text(response)
    assert_form(headers, response, body, 'id="edit-profile-form"')
    if headers is JSON:
        assert (await response.get_json())["name"] == "Alice Liddell"
    else:
        assert 'value="Alice Liddell"' in body and 'value="Oxford"' in body


async def test_edit_profile_saves_and_redirects(client, alice):
    await login(client, alice)
    token = await csrf(client)
    form = {"csrf_token": token, "name": " Alice ", "location": "Wonderland", "about_me": "Hi <b>"}
    response = await client.post("/edit-profile", form=form)
    assert response.status_code == 303 and response.headers["Location"] == "/user/alice"
    saved = await User.get(id=alice.id)
    assert (saved.name, saved.location, saved.about_me) == ("Alice", "Wonderland", "Hi <b>")
    # a blank field empties it
    await client.post("/edit-profile", form={"csrf_token": token, "name": "", "location": ""})
    saved = await User.get(id=alice.id)
    assert saved.name is None and saved.location is None


async def test_edit_profile_errors_come_back_in_place(client, alice):
    await login(client, alice)
    token = await csrf(client)
    form = {"csrf_token": token, "name": "x" * 65, "location": "Kept"}
    response = await client.post("/edit-profile", form=form, headers=HTMX)
    body = await text(response)
    assert response.status_code == 422 and "<html" not in body
    assert 'id="edit-profile-form"' in body and 'class="error"' in body and 'value="Kept"' in body
    response = await client.post("/edit-profile", form=form)
    assert response.status_code == 422 and 'class="error"' in await text(response)
    assert (await User.get(id=alice.id)).location is None


async def test_edit_profile_json(client, alice):
    await login(client, alice)
    token = await csrf(client)
    headers = {**JSON, "X-CSRFToken": token}
    response = await client.post("/edit-profile", json={"location": "Paris"}, headers=headers)
    assert response.status_code == 200
    data = await response.get_json()
    assert data["location"] == "Paris" and set(data) == USER_KEYS
    response = await client.post("/edit-profile", json={"name": 5}, headers=headers)
    assert response.status_code == 400 and "name" in (await response.get_json())["message"]
    response = await client.post("/edit-profile", json=["name"], headers=headers)
    assert response.status_code == 400
    response = await client.post("/edit-profile", json={"name": "y" * 65}, headers=headers)
    assert response.status_code == 400
    assert (await User.get(id=alice.id)).location == "Paris"


@pytest.mark.parametrize("app_config", [{"FLASKY_PAGE_CACHE_SECONDS": 60}])
async def test_anonymous_reads_come_from_the_page_cache(client, alice, bob):
    await make_posts(alice, 2)
    first = await client.get("/user/alice", headers=JSON)
    again = await client.get("/user/alice", headers=JSON)
    assert query_count(first) > 0 and query_count(again) == 0
    assert await first.get_data() == await again.get_data()
    await login(client, bob)  # signed-in viewers always get a fresh answer
    assert query_count(await client.get("/user/alice", headers=JSON)) > 0


async def test_edit_profile_page_links_to_account_settings(client, auth) -> None:
    """The own-profile editor links to changing the password and the email address."""
    await make_user("links@example.com", "links")
    await auth.login("links@example.com")
    html = await (await client.get("/edit-profile")).get_data(as_text=True)
    assert 'href="/auth/change-password"' in html
    assert 'href="/auth/change_email"' in html
