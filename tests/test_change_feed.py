"""Every reader sees every write (SPEC §8): with the anonymous page cache on and warm, the
next request after any kind of write shows it — page, htmx fragment and JSON alike."""

from __future__ import annotations

import re
from typing import Any

import pytest

from flasky.models import Comment, Post, Role
from tests.conftest import PASSWORD, csrf_from, make_user, query_count
from tests.helpers import HTMX, JSON, PAGE, csrf, login, text

READS = (PAGE, HTMX, JSON)


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {"FLASKY_PAGE_CACHE_SECONDS": 60}  # long: only the change feed may end an entry


@pytest.fixture
def reader(app):
    """An anonymous browser of its own (no cookies shared with the writer)."""
    return app.test_client()


@pytest.fixture
async def alice(app):
    return await make_user("alice@example.com", "alice", name="Alice Ash")


@pytest.fixture
async def bob(app):
    return await make_user("bob@example.com", "bob", name="Bob Birch")


@pytest.fixture
async def first_post(alice):
    return await Post.publish(alice, "An orchard of quinces")


async def warm(reader: Any, *urls: str, forms: tuple = READS) -> None:
    """Read every URL in all three forms (or `forms`) twice; the second answer comes
    from the cache."""
    for url in urls:
        for headers in forms:
            first = await reader.get(url, headers=headers)
            again = await reader.get(url, headers=headers)
            assert first.status_code == again.status_code == 200, (url, headers)
            assert again.headers["X-Query-Count"] == "0", (url, headers, "not cached")


async def read(reader: Any, url: str, forms: tuple = READS) -> list[tuple[int, str]]:
    """(status, body) of the URL in all three forms (or `forms`)."""
    answers = []
    for headers in forms:
        response = await reader.get(url, headers=headers)
        answers.append((response.status_code, await text(response)))
    return answers


async def shows(reader: Any, url: str, marker: str, forms: tuple = READS) -> bool:
    """True when every form of the URL (or `forms`) answers 200 with `marker` in it (False
    when none does; a mix is a failure: the representations disagree). A profile's JSON
    is the user alone: its posts are checked on the page and fragment."""
    if url.startswith("/user/") and url.count("/") == 2:
        forms = tuple(f for f in forms if f is not JSON)
    answers = await read(reader, url, forms)
    found = [status == 200 and marker in body for status, body in answers]
    assert len(set(found)) == 1, (url, marker, found)
    return found[0]


async def signed_in(app: Any, user: Any) -> tuple[Any, dict[str, str]]:
    """A client signed in as `user` and the CSRF header for its JSON writes."""
    client = app.test_client()
    await login(client, user)
    return client, {"X-CSRFToken": await csrf(client)}


async def test_a_new_post_shows_on_the_next_read(app, reader, alice, first_post):
    await warm(reader, "/", "/user/alice", "/user/alice/posts", "/user/alice/timeline")
    writer, token = await signed_in(app, alice)
    form = {"body": "A second harvest of figs", "csrf_token": token["X-CSRFToken"]}
    assert (await writer.post("/", form=form)).status_code in (302, 303)
    for url in ("/", "/user/alice", "/user/alice/posts", "/user/alice/timeline"):
        assert await shows(reader, url, "A second harvest of figs"), url
    profile = await (await reader.get("/user/alice", headers=JSON)).get_json()
    assert profile["post_count"] == 2


@pytest.mark.parametrize("how", ["form", "json"])
async def test_an_edit_shows_on_the_next_read(app, reader, alice, first_post, how):
    urls = (f"/post/{first_post.id}", "/", "/user/alice")
    await warm(reader, *urls)
    writer, token = await signed_in(app, alice)
    if how == "form":
        form = {"body": "An orchard of medlars", "csrf_token": token["X-CSRFToken"]}
        response = await writer.post(f"/edit/{first_post.id}", form=form)
        assert response.status_code in (302, 303)
    else:
        response = await writer.put(
            f"/post/{first_post.id}", json={"body": "An orchard of medlars"},
            headers={**JSON, **token},
        )  # fmt: skip
        assert response.status_code == 200
    for url in urls:
        assert await shows(reader, url, "medlars"), url
        assert not await shows(reader, url, "quinces"), url


@pytest.mark.parametrize("how", ["form", "json"])
async def test_a_delete_shows_on_the_next_read(app, reader, alice, first_post, how):
    post_id = first_post.id
    await Comment.publish(alice, first_post, "A comment on quinces")
    await warm(reader, f"/post/{post_id}", f"/post/{post_id}/comments", "/", "/user/alice")
    writer, token = await signed_in(app, alice)
    if how == "form":
        response = await writer.post(
            f"/delete/{post_id}", form={"csrf_token": token["X-CSRFToken"]}
        )
        assert response.status_code in (302, 303)
    else:
        response = await writer.delete(f"/post/{post_id}", headers={**JSON, **token})
        assert response.status_code == 204
    for status, _ in await read(reader, f"/post/{post_id}"):
        assert status == 404
    for status, _ in await read(reader, f"/post/{post_id}/comments"):
        assert status == 404
    assert not await shows(reader, "/", "quinces")
    assert not await shows(reader, "/user/alice", "quinces")


async def test_a_comment_shows_on_the_next_read(app, reader, alice, bob, first_post):
    urls = (f"/post/{first_post.id}", f"/post/{first_post.id}/comments", "/")
    await warm(reader, *urls)
    writer, token = await signed_in(app, bob)
    form = {"body": "Quince jelly, please", "csrf_token": token["X-CSRFToken"]}
    response = await writer.post(f"/post/{first_post.id}/comments", form=form)
    assert response.status_code in (302, 303)
    # the permalink page lists the comments; its fragment and JSON are the post alone
    assert await shows(reader, f"/post/{first_post.id}", "Quince jelly, please", (PAGE,))
    assert await shows(reader, f"/post/{first_post.id}/comments", "Quince jelly, please")
    permalink = await reader.get(f"/post/{first_post.id}", headers=JSON)
    assert (await permalink.get_json())["comment_count"] == 1
    home = await reader.get("/", headers=JSON)
    assert (await home.get_json())["posts"][0]["comment_count"] == 1


async def test_disable_and_enable_show_on_the_next_read(app, reader, alice, bob, first_post):
    comment = await Comment.publish(bob, first_post, "A secret about quinces")
    moderator = await make_user("mod@example.com", "mod", role="Moderator")
    lists = (f"/post/{first_post.id}/comments",)
    one = (f"/comment/{comment.id}",)  # its page form is a redirect to its place
    page = f"/post/{first_post.id}"
    writer, token = await signed_in(app, moderator)
    for action, visible in (("disable", False), ("enable", True)):
        await warm(reader, *lists)
        await warm(reader, *one, forms=(HTMX, JSON))
        await warm(reader, page, forms=(PAGE,))
        response = await writer.post(f"/moderate/{action}/{comment.id}", headers={**JSON, **token})
        assert response.status_code == 200
        assert await shows(reader, lists[0], "A secret about quinces") is visible
        assert await shows(reader, one[0], "A secret about quinces", (HTMX, JSON)) is visible
        assert await shows(reader, page, "A secret about quinces", (PAGE,)) is visible


async def test_follow_and_unfollow_show_on_the_next_read(app, reader, alice, bob):
    urls = ("/followers/bob", "/followed_by/alice", "/user/bob", "/user/alice")
    await warm(reader, *urls)
    writer, token = await signed_in(app, alice)
    assert (await writer.post("/follow/bob", headers={**JSON, **token})).status_code == 200
    assert await shows(reader, "/followers/bob", "alice")
    assert await shows(reader, "/followed_by/alice", "bob")
    profile = await (await reader.get("/user/bob", headers=JSON)).get_json()
    assert profile["followers_count"] == 1
    profile = await (await reader.get("/user/alice", headers=JSON)).get_json()
    assert profile["following_count"] == 1
    await warm(reader, *urls)
    assert (await writer.post("/unfollow/bob", headers={**JSON, **token})).status_code == 200
    assert not await shows(reader, "/followers/bob", "alice")
    profile = await (await reader.get("/user/bob", headers=JSON)).get_json()
    assert profile["followers_count"] == 0


async def test_a_profile_edit_shows_on_the_next_read(app, reader, alice, first_post):
    urls = ("/user/alice", "/", f"/post/{first_post.id}")
    await warm(reader, *urls)
    writer, token = await signed_in(app, alice)
    form = {"name": "Alice Quux", "location": "Lisbon", "about_me": "Grows quinces.",
            "csrf_token": token["X-CSRFToken"]}  # fmt: skip
    assert (await writer.post("/edit-profile", form=form)).status_code in (302, 303)
    assert await shows(reader, "/user/alice", "Lisbon")
    assert await shows(reader, "/user/alice", "Grows quinces.")
    profile = await (await reader.get("/user/alice", headers=JSON)).get_json()
    assert profile["name"] == "Alice Quux" and profile["location"] == "Lisbon"
    for url in ("/", f"/post/{first_post.id}"):
        assert await shows(reader, url, "Alice Quux", (PAGE, HTMX)), url  # on the cards


async def test_an_admin_edit_shows_on_the_next_read_and_to_the_user(app, reader, alice, bob):
    admin = await make_user("admin@example.com", "admin", role="Administrator")
    await warm(reader, "/user/bob", "/followers/alice")
    bobs, _ = await signed_in(app, bob)
    assert (await bobs.get("/moderate")).status_code == 403
    writer, token = await signed_in(app, admin)
    moderator = await Role.get(name="Moderator")
    form = {"email": "bob@example.com", "username": "bobby", "role": str(moderator.id),
            "confirmed": "y", "name": "Robert Birch"}  # fmt: skip
    form["csrf_token"] = token["X-CSRFToken"]
    assert (await writer.post(f"/edit-profile/{bob.id}", form=form)).status_code in (302, 303)
    for status, _ in await read(reader, "/user/bob"):
        assert status == 404  # renamed
    assert await shows(reader, "/user/bobby", "Robert Birch")
    assert (await (await reader.get("/user/bobby", headers=JSON)).get_json())[
        "name"
    ] == "Robert Birch"
    # the new role reaches Bob's own session at once
    assert (await bobs.get("/moderate")).status_code == 200


async def test_the_cache_still_serves_what_no_write_touched(app, reader, alice, bob, first_post):
    """Invalidation is by what an entry shows: a write elsewhere leaves it cached."""
    await warm(reader, f"/post/{first_post.id}", "/user/bob")
    writer, token = await signed_in(app, alice)
    form = {
        "name": "Alice Quux",
        "location": "",
        "about_me": "",
        "csrf_token": token["X-CSRFToken"],
    }
    assert (await writer.post("/edit-profile", form=form)).status_code in (302, 303)
    again = await reader.get("/user/bob", headers=JSON)
    assert again.headers["X-Query-Count"] == "0"  # Bob's profile shows nothing of Alice's
    post_page = await reader.get(f"/post/{first_post.id}", headers=JSON)
    assert post_page.headers["X-Query-Count"] != "0"  # the post shows its author


async def test_a_signed_in_viewer_comes_from_the_process_cache_until_it_changes(app, alice):
    client, token = await signed_in(app, alice)
    # `signed_in` read a page already: the session and its user are in the process cache,
    # and the profile form needs nothing else
    assert query_count(await client.get("/edit-profile")) == 0
    other, _ = await signed_in(app, alice)  # a second browser of the same account
    assert (await other.get("/edit-profile")).status_code == 200
    assert (await other.get("/edit-profile")).status_code == 200  # its session cached too
    form = {"old_password": PASSWORD, "password": "a brand new password",
            "password2": "a brand new password", "csrf_token": token["X-CSRFToken"]}  # fmt: skip
    assert (await client.post("/auth/change-password", form=form)).status_code in (302, 303)
    # the new password ended every session of the account, cached or not
    response = await other.get("/edit-profile", headers=JSON)
    assert response.status_code == 401


# -- the post-card cache: shared by every viewer, never their personal bits ----------------


async def test_cached_cards_keep_edit_and_csrf_to_those_they_belong_to(app, alice, bob, first_post):
    author, _ = await signed_in(app, alice)
    other_session, _ = await signed_in(app, alice)
    reader, _ = await signed_in(app, bob)
    anonymous = app.test_client()
    mine = await text(await author.get("/"))
    again = await text(await other_session.get("/"))  # the same card, from the card cache
    assert f"/delete/{first_post.id}" in mine and f"/delete/{first_post.id}" in again
    assert csrf_from(mine) != csrf_from(again)
    for page in (mine, again):  # each delete form carries its own session's token
        forms = re.findall(r'action="/delete/\d+".*?name="csrf_token" value="([^"]+)"', page, re.S)
        assert forms == [csrf_from(page)]
    for client in (reader, anonymous):
        page = await text(await client.get("/"))
        assert "An orchard of quinces" in page and f"/delete/{first_post.id}" not in page


async def test_a_signed_in_reader_sees_an_edit_on_the_next_read(app, alice, bob, first_post):
    reader, _ = await signed_in(app, bob)
    for path in ("/", f"/post/{first_post.id}", "/user/alice"):
        assert "quinces" in await text(await reader.get(path))
    await first_post.change_body("An orchard of medlars", actor=alice.id)
    await Comment.publish(bob, first_post, "Lovely.")
    for path in ("/", f"/post/{first_post.id}", "/user/alice"):
        page = await text(await reader.get(path))
        assert "medlars" in page and "quinces" not in page, path
        assert "1 comment" in page, path
