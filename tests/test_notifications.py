"""Notifications (SPEC §10): who is told what, once; grouping by day; the list in its three
forms with a fixed number of queries; unread counts, marking read and the header badge;
nothing for one's own actions or for an action that rolled back."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from quart import render_template

from flasky import feed
from flasky.models import (
    Comment,
    Event,
    Notification,
    NotificationActor,
    Post,
    User,
    notify,
    unread_count,
)
from tests.conftest import make_user, query_count
from tests.helpers import AUTHOR_KEYS, FORMS, HTMX, JSON, assert_form, basic, csrf, login, text

LIST_KEYS = {"notifications", "next", "count", "unread"}
NOTIFICATION_KEYS = {"id", "kind", "actors", "subject_url", "timestamp", "read"}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


# -- helpers ------------------------------------------------------------------------------


@pytest.fixture
async def alice() -> User:
    return await make_user("alice@example.com", "alice")


@pytest.fixture
async def bob() -> User:
    return await make_user("bob@example.com", "bob")


@pytest.fixture
async def carol() -> User:
    return await make_user("carol@example.com", "carol")


def words(html: str) -> str:
    """The text of some HTML, tags out and spaces folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def follow_as(app: Any, follower: User, followed: User, unfollow: bool = False) -> None:
    """`follower` follows (or unfollows) `followed` through the real route."""
    client = app.test_client()
    await login(client, follower)
    action = "unfollow" if unfollow else "follow"
    response = await client.post(
        f"/{action}/{followed.username}", headers={**JSON, "X-CSRFToken": await csrf(client)}
    )
    assert response.status_code == 200, await text(response)


async def comment_as(app: Any, author: User, post: Post, body: str = "Nice!") -> int:
    """`author` comments on `post` through the real route; the new comment's id."""
    client = app.test_client()
    await login(client, author)
    response = await client.post(
        f"/post/{post.id}/comments",
        json={"body": body},
        headers={**JSON, "X-CSRFToken": await csrf(client)},
    )
    assert response.status_code == 201, await text(response)
    return (await response.get_json())["id"]


async def listing(client: Any, **params: Any) -> dict[str, Any]:
    response = await client.get("/notifications", headers=JSON, query_string=params)
    assert response.status_code == 200, await text(response)
    return await response.get_json()


async def signed_in(app: Any, user: User) -> tuple[Any, dict[str, str]]:
    """A client signed in as `user`, and its CSRF header."""
    client = app.test_client()
    await login(client, user)
    return client, {"X-CSRFToken": await csrf(client)}


# -- who is told what -----------------------------------------------------------------------


async def test_a_follow_notifies_the_followed(app, alice, bob):
    await follow_as(app, bob, alice)
    lines = await Notification.filter(user_id=alice.id)
    assert [(n.kind, n.subject, n.read) for n in lines] == [("follow", f"user:{alice.id}", False)]
    assert not await Notification.filter(user_id=bob.id).exists()  # nor the self-follows

    client, _ = await signed_in(app, alice)
    data = await listing(client)
    assert data["count"] == 1 and data["unread"] == 1
    (item,) = data["notifications"]
    assert item["kind"] == "follow" and [a["username"] for a in item["actors"]] == ["bob"]
    assert item["subject_url"] == "http://localhost/followers/alice"
    page = words(await text(await client.get("/notifications")))
    assert "Unread: bob followed you" in page


async def test_follow_unfollow_follow_again_is_one_notification(app, alice, bob):
    await follow_as(app, bob, alice)
    await follow_as(app, bob, alice, unfollow=True)
    await follow_as(app, bob, alice)
    await follow_as(app, bob, alice)  # the second follow of a pair changes nothing
    assert await Notification.filter(user_id=alice.id).count() == 1
    assert await NotificationActor.filter(user_id=alice.id).count() == 1
    # ... even on another day, and once read
    await Notification.filter(user_id=alice.id).update(
        day=(await Notification.get(user_id=alice.id)).day - timedelta(days=3), read=True
    )
    await follow_as(app, bob, alice, unfollow=True)
    await follow_as(app, bob, alice)
    assert await Notification.filter(user_id=alice.id).count() == 1
    assert await unread_count(alice.id) == 0


async def test_a_comment_notifies_the_post_author_with_a_link_to_it(app, alice, bob):
    post = await Post.publish(alice, "Quinces")
    comment_id = await comment_as(app, bob, post)
    (line,) = await Notification.filter(user_id=alice.id)
    assert (line.kind, line.subject) == ("comment", f"comment:{comment_id}")

    client, _ = await signed_in(app, alice)
    (item,) = (await listing(client))["notifications"]
    assert item["subject_url"] == f"http://localhost/comment/{comment_id}"
    assert [a["username"] for a in item["actors"]] == ["bob"]
    page = await text(await client.get("/notifications"))
    assert f'href="/comment/{comment_id}"' in page
    assert "bob commented on your post" in words(page)
    # the link is a plain one (the line is hx-disable): the browser lands on the anchor
    line = re.search(r'<li class="notification[^"]*"[^>]*>', page)
    assert line and "hx-disable" in line.group(0)
    landing = await client.get(f"/comment/{comment_id}")
    assert landing.headers["Location"] == f"/post/{post.id}#comment-{comment_id}"
    # a second comment is a second line: comments do not group
    await comment_as(app, bob, post, "Again!")
    assert await Notification.filter(user_id=alice.id, kind="comment").count() == 2


@pytest.mark.parametrize("app_config", [{"FLASKY_COMMENTS_PER_PAGE": 2}])
async def test_a_comment_past_the_first_page_leads_to_its_page(app, alice, bob):
    post = await Post.publish(alice, "Quinces")
    ids = [await comment_as(app, bob, post, f"Comment {i}") for i in range(3)]
    client, _ = await signed_in(app, alice)
    page = await text(await client.get("/notifications"))
    assert f'href="/comment/{ids[2]}"' in page
    place = (await client.get(f"/comment/{ids[2]}")).headers["Location"]
    assert "cursor=" in place and place.endswith(f"#comment-{ids[2]}")
    assert f'id="comment-{ids[2]}"' in await text(await client.get(place.split("#")[0]))


async def test_the_books_api_notifies_too(app, alice, bob):
    post = await Post.publish(alice, "Quinces")
    response = await app.test_client().post(
        f"/api/v1/posts/{post.id}/comments/",
        json={"body": "Through the API"},
        headers={**basic(bob.email), **JSON},
    )
    assert response.status_code == 201, await text(response)
    (line,) = await Notification.filter(user_id=alice.id)
    comment = await Comment.get(post_id=post.id)
    assert (line.kind, line.subject) == ("comment", comment.topic)


async def test_deleting_a_post_takes_its_notifications_with_it(app, alice, bob, carol):
    """A line about a deleted post or one of its comments would lead to a 404: it goes
    with them (its unread count and badge too); lines about other things stay."""
    post = await Post.publish(alice, "Quinces, @carol?")  # carol: a mention of the post
    other = await Post.publish(alice, "Medlars")
    await comment_as(app, bob, post, "Ripe, @carol")  # alice: a comment; carol: a mention
    kept = await comment_as(app, bob, other)
    await follow_as(app, bob, alice)
    client, headers = await signed_in(app, alice)
    assert (await listing(client))["unread"] == 3
    assert "Notifications, 3 unread" in _badge(await text(await client.get("/")))
    assert await Notification.filter(user_id=carol.id).count() == 2

    response = await client.delete(f"/post/{post.id}", headers={**JSON, **headers})
    assert response.status_code == 204
    lines = await listing(client)
    assert [
        (n["kind"], n["subject_url"].split("localhost")[1]) for n in lines["notifications"]
    ] == [
        ("follow", "/followers/alice"),
        ("comment", f"/comment/{kept}"),
    ]
    assert lines["unread"] == 2 and lines["count"] == 2
    assert "Notifications, 2 unread" in _badge(await text(await client.get("/")))
    assert not await Notification.filter(user_id=carol.id).exists()
    assert not await NotificationActor.filter(user_id=carol.id).exists()
    # a later mention in another post is told as usual
    await Post.publish(bob, "@carol, medlars")
    assert await Notification.filter(user_id=carol.id, kind="mention").count() == 1


async def test_nobody_is_notified_of_their_own_actions(app, alice):
    post = await Post.publish(alice, "Talking to myself")
    await comment_as(app, alice, post)
    async with feed.change("test", actor=alice.id):
        assert await notify(alice.id, "follow", alice.id, alice.topic) is False
    assert not await Notification.all().exists()
    assert not await NotificationActor.all().exists()


async def test_a_rolled_back_action_makes_no_notification(app, alice, bob):
    with pytest.raises(RuntimeError, match="changed my mind"):
        async with feed.change("follow", actor=bob.id):
            assert await notify(alice.id, "follow", bob.id, alice.topic)
            raise RuntimeError("changed my mind")
    assert not await Notification.all().exists()
    assert not await NotificationActor.all().exists()
    # nothing was claimed either: the real follow still notifies
    await follow_as(app, bob, alice)
    assert await Notification.filter(user_id=alice.id).count() == 1


async def test_notify_needs_the_actions_change_and_names_the_topic(app, alice, bob):
    with pytest.raises(RuntimeError):
        await notify(alice.id, "follow", bob.id, alice.topic)
    with pytest.raises(ValueError):
        async with feed.change("test", actor=bob.id):
            await notify(alice.id, "poke", bob.id, alice.topic)
    await follow_as(app, bob, alice)
    event = await Event.filter(kind="follow").order_by("-id").first()
    assert event is not None and f"notifications:{alice.id}" in event.topics.split()


# -- grouping -------------------------------------------------------------------------------


async def test_follows_of_one_day_share_a_line(app, alice, bob, carol):
    await follow_as(app, bob, alice)
    await follow_as(app, carol, alice)
    (line,) = await Notification.filter(user_id=alice.id)
    assert line.actor_count == 2
    client, _ = await signed_in(app, alice)
    (item,) = (await listing(client))["notifications"]
    assert [a["username"] for a in item["actors"]] == ["carol", "bob"]  # newest first
    assert "carol and bob followed you" in words(await text(await client.get("/notifications")))

    # another day, another line
    await Notification.filter(id=line.id).update(day=line.day - timedelta(days=1))
    dave = await make_user("dave@example.com", "dave")
    await follow_as(app, dave, alice)
    data = await listing(client)
    assert [[a["username"] for a in n["actors"]] for n in data["notifications"]] == [
        ["dave"],
        ["carol", "bob"],
    ]


async def test_a_big_group_says_how_many_others(app, alice):
    fans = [await make_user(f"fan{i}@example.com", f"fan{i}") for i in range(4)]
    for fan in fans:
        await follow_as(app, fan, alice)
    client, _ = await signed_in(app, alice)
    assert "fan3 and 3 others followed you" in words(await text(await client.get("/notifications")))
    (item,) = (await listing(client))["notifications"]
    assert len(item["actors"]) == 4


async def test_a_new_actor_moves_a_read_line_up_and_makes_it_unread(app, alice, bob, carol):
    await follow_as(app, bob, alice)
    post = await Post.publish(alice, "Quinces")
    await comment_as(app, carol, post)
    client, headers = await signed_in(app, alice)
    data = await listing(client)
    assert [n["kind"] for n in data["notifications"]] == ["comment", "follow"]
    response = await client.post("/notifications/read", json={}, headers={**JSON, **headers})
    assert (await response.get_json()) == {"unread": 0}

    await follow_as(app, carol, alice)  # joins today's follow line
    data = await listing(client)
    assert [n["kind"] for n in data["notifications"]] == ["follow", "comment"]
    assert [n["read"] for n in data["notifications"]] == [False, True]
    assert data["unread"] == 1 and data["count"] == 2


# -- the list -------------------------------------------------------------------------------


@FORMS
async def test_the_list_in_three_forms(app, alice, bob, headers):
    await follow_as(app, bob, alice)
    client, _ = await signed_in(app, alice)
    response = await client.get("/notifications", headers=headers)
    body = await text(response)
    assert_form(headers, response, body, "notification-")
    assert response.headers["Cache-Control"] == "private, no-store"
    if headers is JSON:
        data = await response.get_json()
        assert set(data) == LIST_KEYS
        assert data["next"] is None and data["count"] == 1 and data["unread"] == 1
        (item,) = data["notifications"]
        assert set(item) == NOTIFICATION_KEYS
        assert item["kind"] == "follow" and item["read"] is False
        assert ISO.fullmatch(item["timestamp"])
        assert isinstance(item["id"], int)
        (actor,) = item["actors"]
        assert set(actor) == AUTHOR_KEYS and actor["url"] == "http://localhost/user/bob"
    elif headers is HTMX:
        assert 'class="notification is-unread"' in body and 'id="notifications"' not in body
    else:
        assert 'id="notifications"' in body and "Mark all read" in body
        assert '<span class="visually-hidden">Unread: </span>' in body
        assert "hx-disable" in body  # names are what people typed


async def test_an_empty_list_says_so(app, alice):
    client, _ = await signed_in(app, alice)
    body = await text(await client.get("/notifications"))
    assert "Nothing yet" in body and "Mark all read" not in body
    assert await listing(client) == {"notifications": [], "next": None, "count": 0, "unread": 0}


@pytest.mark.parametrize("app_config", [{"FLASKY_NOTIFICATIONS_PER_PAGE": 3}])
async def test_keyset_pages_with_infinite_scroll(app, alice):
    post = await Post.publish(alice, "Quinces")
    for i in range(7):
        await comment_as(app, await make_user(f"c{i}@example.com", f"c{i}"), post)
    client, _ = await signed_in(app, alice)
    seen, url, pages = [], "/notifications", 0
    while url:
        data = await listing(client, **_query(url))
        seen += [n["id"] for n in data["notifications"]]
        url, pages = data["next"], pages + 1
        assert data["count"] == 7
    assert pages == 3 and len(seen) == len(set(seen)) == 7
    assert seen == sorted(seen, reverse=True)

    page = await text(await client.get("/notifications"))
    match = re.search(r'<li class="sentinel" hx-get="([^"]+)" hx-trigger="revealed"', page)
    assert match and "cursor=" in match.group(1)
    assert re.search(r'<a href="/notifications\?cursor=[^"]+">Older</a>', page)
    fragment = await text(await client.get(match.group(1).replace("&amp;", "&"), headers=HTMX))
    assert "<html" not in fragment and fragment.count('class="notification ') == 3


def _query(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    return dict(parse_qsl(urlsplit(url).query))


@pytest.mark.parametrize("headers", [{}, HTMX, JSON], ids=["page", "fragment", "json"])
async def test_the_list_runs_a_fixed_number_of_queries(app, alice, headers):
    async def grow(n: int, start: int) -> None:
        post = await Post.publish(alice, f"Post {start}")
        for i in range(start, start + n):
            fan = await make_user(f"q{i}@example.com", f"q{i}")
            await follow_as(app, fan, alice)  # grouped lines with many actors
            await comment_as(app, fan, post)  # and lines of their own

    client, _ = await signed_in(app, alice)

    async def measure() -> int:
        await client.get("/notifications", headers=headers)  # caches warm after the writes
        response = await client.get("/notifications", headers=headers)
        assert response.status_code == 200
        return query_count(response)

    await grow(2, 0)
    small = await measure()
    await grow(6, 2)
    assert await Notification.filter(user_id=alice.id).count() == 9
    assert await measure() == small


async def test_anonymous_visitors_are_sent_to_log_in(client):
    response = await client.get("/notifications")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login?next=")
    response = await client.get("/notifications", headers=JSON)
    assert response.status_code == 401 and "WWW-Authenticate" in response.headers
    response = await client.post("/notifications/read", json={}, headers=JSON)
    assert response.status_code == 401


# -- unread count and marking read -----------------------------------------------------------


async def _three_lines(app: Any, alice: User) -> list[int]:
    """Three comment notifications for alice, oldest first: their ids."""
    post = await Post.publish(alice, "Quinces")
    for i in range(3):
        await comment_as(app, await make_user(f"r{i}@example.com", f"r{i}"), post)
    return list(
        await Notification.filter(user_id=alice.id).order_by("id").values_list("id", flat=True)
    )


async def test_mark_all_read_from_the_form_without_js(app, alice):
    ids = await _three_lines(app, alice)
    client, _ = await signed_in(app, alice)
    page = await text(await client.get("/notifications"))
    form = re.search(r'<form class="mark-read".*?</form>', page, re.S)
    assert form and 'action="/notifications/read"' in form.group(0)
    up_to = re.search(r'name="up_to" type="hidden" value="(\d+)"', form.group(0))
    assert up_to and int(up_to.group(1)) == ids[-1]  # what the page showed, and older
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form.group(0))
    assert token
    fields = {"csrf_token": token.group(1), "up_to": up_to.group(1)}
    response = await client.post("/notifications/read", form=fields)
    assert response.status_code == 303 and response.headers["Location"] == "/notifications"
    assert await unread_count(alice.id) == 0
    assert not await Notification.filter(user_id=alice.id, read=False).exists()
    page = await text(await client.get("/notifications"))
    assert "is-unread" not in page and "You are all caught up." in page


async def test_mark_read_without_the_token_changes_nothing(app, alice):
    await _three_lines(app, alice)
    client, _ = await signed_in(app, alice)
    response = await client.post("/notifications/read", form={})
    assert response.status_code == 400
    assert await unread_count(alice.id) == 3


async def test_mark_read_up_to_an_id(app, alice):
    ids = await _three_lines(app, alice)
    client, headers = await signed_in(app, alice)
    assert (await listing(client))["unread"] == 3
    response = await client.post(
        "/notifications/read", json={"up_to": ids[1]}, headers={**JSON, **headers}
    )
    assert response.status_code == 200 and await response.get_json() == {"unread": 1}
    read = dict(await Notification.filter(user_id=alice.id).values_list("id", "read"))
    assert read == {ids[0]: True, ids[1]: True, ids[2]: False}
    data = await listing(client)
    assert [n["read"] for n in data["notifications"]] == [False, True, True]
    # all of them, with nothing left to mark: still an answer
    for _ in range(2):
        response = await client.post("/notifications/read", json={}, headers={**JSON, **headers})
        assert await response.get_json() == {"unread": 0}


async def test_mark_read_from_htmx_answers_the_list_and_the_badge(app, alice):
    await _three_lines(app, alice)
    client, headers = await signed_in(app, alice)
    response = await client.post("/notifications/read", form={}, headers={**HTMX, **headers})
    assert response.status_code == 200
    body = await text(response)
    assert "<html" not in body and 'id="notifications"' in body and "is-unread" not in body
    badge = re.search(r'<a id="notification-badge"[^>]*>', body)
    assert badge and 'hx-swap-oob="true"' in badge.group(0)
    assert 'aria-label="Notifications"' in badge.group(0)
    assert 'id="notification-badge-bar"' in body and "notification-count" not in body


@pytest.mark.parametrize(
    "value", ["abc", -1, 0, 10**20, 1.5, True, [1], {"id": 1}], ids=lambda v: repr(v)
)
async def test_a_bad_up_to_is_refused(app, alice, value):
    await _three_lines(app, alice)
    client, headers = await signed_in(app, alice)
    response = await client.post(
        "/notifications/read", json={"up_to": value}, headers={**JSON, **headers}
    )
    assert response.status_code == 400
    data = await response.get_json()
    assert data["error"] == "bad request" and "up_to" in data["message"]
    if isinstance(value, int | str) and not isinstance(value, bool):
        fields = {"up_to": str(value), **_csrf(headers)}
        form = await client.post("/notifications/read", form=fields)
        assert form.status_code == 422
        body = await text(form)
        assert 'class="error" role="alert"' in body and "<html" in body
        fragment = await client.post(
            "/notifications/read", form={"up_to": str(value)}, headers={**HTMX, **headers}
        )
        assert fragment.status_code == 422 and 'id="notifications"' in await text(fragment)
    assert await unread_count(alice.id) == 3


def _csrf(headers: dict[str, str]) -> dict[str, str]:
    return {"csrf_token": headers["X-CSRFToken"]}


# -- the header badge ------------------------------------------------------------------------


def _badge(html: str) -> str:
    match = re.search(r'<a id="notification-badge".*?</a>', html, re.S)
    assert match, "no badge"
    return match.group(0)


async def test_the_badge_shows_the_unread_count_and_hides_at_zero(app, alice, bob):
    client, headers = await signed_in(app, alice)
    badge = _badge(await text(await client.get("/")))
    assert 'aria-label="Notifications"' in badge and "notification-count" not in badge
    assert 'href="/notifications"' in badge

    ids = await _three_lines(app, alice)
    page = await text(await client.get("/"))
    badge = _badge(page)
    assert 'aria-label="Notifications, 3 unread"' in badge
    assert '<span class="badge notification-count" aria-hidden="true">3</span>' in badge
    assert "hx-swap-oob" not in badge
    bar = re.search(r'<nav class="bottom-bar".*?</nav>', page, re.S)
    assert bar and 'id="notification-badge-bar"' in bar.group(0)
    assert "Notifications, 3 unread" in bar.group(0)

    await client.post("/notifications/read", json={"up_to": ids[0]}, headers={**JSON, **headers})
    assert "Notifications, 2 unread" in _badge(await text(await client.get("/edit-profile")))
    await client.post("/notifications/read", json={}, headers={**JSON, **headers})
    badge = _badge(await text(await client.get("/")))
    assert 'aria-label="Notifications"' in badge and "notification-count" not in badge

    # nobody else's badge moved, and anonymous pages have none
    other, _ = await signed_in(app, bob)
    assert "notification-count" not in _badge(await text(await other.get("/")))
    assert 'id="notification-badge"' not in await text(await app.test_client().get("/"))


async def test_the_badge_comes_from_the_cache_until_the_count_moves(app, alice, bob):
    client, _ = await signed_in(app, alice)
    await client.get("/edit-profile")
    assert query_count(await client.get("/edit-profile")) == 0  # the badge cost nothing
    await follow_as(app, bob, alice)
    response = await client.get("/edit-profile")
    assert "Notifications, 1 unread" in _badge(await text(response))
    # once: the new count, and her session (a follow moves `user:<id>`, which it shows)
    assert query_count(response) == 2
    assert query_count(await client.get("/edit-profile")) == 0


async def test_the_badge_template_answers_out_of_band(app):
    async with app.test_request_context("/"):
        html = await render_template("notifications/_badge.html", count=120, oob=True)
        plain = await render_template("notifications/_badge.html", count=0)
    root = re.match(r'\s*<a id="notification-badge"[^>]*>', html)
    assert root and 'hx-swap-oob="true"' in root.group(0)
    assert 'aria-label="Notifications, 120 unread"' in root.group(0) and ">99+<" in html
    assert 'id="notification-badge-bar"' in html
    assert plain.strip().startswith('<a id="notification-badge"') and "hx-swap-oob" not in plain
    assert "notification-count" not in plain and "notification-badge-bar" not in plain


async def test_a_line_carries_its_ten_latest_actors_and_counts_them_all(app, alice):
    fans = [await make_user(f"many{i}@example.com", f"many{i}") for i in range(12)]
    for fan in fans:
        await fan.follow(alice)  # what the route calls
    (line,) = await Notification.filter(user_id=alice.id)
    assert line.actor_count == 12
    client, _ = await signed_in(app, alice)
    (item,) = (await listing(client))["notifications"]
    assert [a["username"] for a in item["actors"]] == [f"many{i}" for i in range(11, 1, -1)]
    assert "many11 and 11 others followed you" in words(
        await text(await client.get("/notifications"))
    )


async def test_a_twin_that_notified_first_leaves_the_action_standing(app, alice, bob, monkeypatch):
    """Two requests of one follower at once: both find no claim, one inserts it; the
    other's insert fails in its savepoint, and its own write still commits."""
    await follow_as(app, bob, alice)
    await bob.unfollow(alice)
    real = NotificationActor.exists
    calls = []

    async def blind_once(*args: Any, **kwargs: Any) -> bool:
        calls.append(kwargs)
        return False if len(calls) == 1 else await real(*args, **kwargs)

    monkeypatch.setattr(NotificationActor, "exists", blind_once)
    await bob.follow(alice)
    assert len(calls) == 2  # the look before, and the look after the conflict
    assert await bob.relation(alice) == (True, False)  # the follow committed
    assert await Notification.filter(user_id=alice.id).count() == 1
    assert await NotificationActor.filter(user_id=alice.id).count() == 1


async def test_two_first_actors_of_a_day_share_the_line(app, alice, bob, carol, monkeypatch):
    """Two new followers at once: both find no line for today, one makes it; the other's
    line fails on the (user, kind, subject, day) key and it joins that line instead."""
    await bob.follow(alice)
    real = Notification.get_or_none
    calls = []

    def blind_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return _none() if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(Notification, "get_or_none", blind_once)
    await carol.follow(alice)
    assert len(calls) == 2
    (line,) = await Notification.filter(user_id=alice.id)
    assert line.actor_count == 2
    assert await NotificationActor.filter(notification_id=line.id).count() == 2


async def _none() -> None:
    return None
