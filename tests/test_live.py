"""Live updates (SPEC §9) through real HTTP: hypercorn serving the test app in this
process (same database), httpx streaming `GET /stream`, writes made through the same
server. Each topic's events, per-viewer fragments (anonymous vs moderator on a
disabled comment), JSON, resume with Last-Event-ID and after= (nothing lost, nothing
twice), the refusals (400/401/403/404/429), keep-alive and the stream's end."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypercorn.asyncio import serve
from hypercorn.config import Config

from tests.conftest import PASSWORD, csrf_from, free_port, make_user


@pytest.fixture
def app_config() -> dict[str, Any]:
    return {
        "FLASKY_STREAM_KEEPALIVE_SECONDS": 0.3,
        "FLASKY_STREAMS_PER_CLIENT": 3,
        "FLASKY_RATE_LIMITS": "off",
    }


def without_lifespan(app: Any) -> Any:
    """The test app (already started by the `app` fixture) for hypercorn: lifespan
    answered here, so the database and the feed listener stay the fixture's."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await app(scope, receive, send)

    return asgi


@pytest.fixture
async def server(app: Any) -> AsyncIterator[str]:
    """hypercorn on a loopback port, serving `app`; its base URL."""
    config = Config()
    port = free_port()
    config.bind = [f"127.0.0.1:{port}"]
    config.graceful_timeout = 1
    config.accesslog = None
    stop = asyncio.Event()
    task = asyncio.get_running_loop().create_task(
        serve(without_lifespan(app), config, shutdown_trigger=stop.wait)
    )
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as probe:
        for _ in range(100):
            with contextlib.suppress(httpx.HTTPError):
                if (await probe.get(base + "/healthz")).status_code == 200:
                    break
            await asyncio.sleep(0.05)
    yield base
    stop.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(task, 5)


@dataclass
class Event:
    id: str | None
    name: str
    data: str


class Reader:
    """An open stream: `await reader.next()` is the next event (comments skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self, timeout: float = 5.0) -> Event:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> Event:
        fields: dict[str, list[str]] = {}
        async for line in self.lines:
            if line == "":
                if "event" in fields or "data" in fields:
                    return Event(
                        (fields.get("id") or [None])[0],
                        (fields.get("event") or ["message"])[0],
                        "\n".join(fields.get("data", [])),
                    )
                fields = {}
                continue
            if line.startswith(":"):
                self.comments.append(line)
                continue
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)
        raise EOFError("the stream ended")

    async def nothing(self, seconds: float = 0.6) -> None:
        """No event arrives within `seconds` (keep-alives may)."""
        with pytest.raises(TimeoutError):
            await self.next(seconds)


@contextlib.asynccontextmanager
async def streaming(
    client: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None
) -> AsyncIterator[Reader]:
    async with client.stream("GET", "/stream?" + query, headers=headers or {}) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = Reader(response)
        try:
            yield reader
        finally:
            await reader.lines.aclose()  # in this loop, not by the collector later


class Browser:
    """An httpx client signed in through the real login form (cookie session)."""

    def __init__(self, base: str) -> None:
        self.client = httpx.AsyncClient(base_url=base, timeout=10)
        self.token = ""

    async def login(self, email: str) -> Browser:
        page = await self.client.get("/auth/login")
        form = {"email": email, "password": PASSWORD, "csrf_token": csrf_from(page.text)}
        answer = await self.client.post("/auth/login", data=form)
        assert answer.status_code in (302, 303), answer.text
        self.token = csrf_from((await self.client.get("/")).text)
        return self

    async def post(self, path: str, **form: str) -> httpx.Response:
        answer = await self.client.post(path, data={**form, "csrf_token": self.token})
        assert answer.status_code in (200, 201, 302, 303), answer.text
        return answer

    async def close(self) -> None:
        await self.client.aclose()


@pytest.fixture
async def people(server: str) -> AsyncIterator[dict[str, Any]]:
    """john (writer), susan (reader), mod (moderator), each with a signed-in browser;
    `anon`, an anonymous client."""
    await make_user("john@example.com")
    await make_user("susan@example.com")
    await make_user("mod@example.com", role="Moderator")
    browsers = {
        name: await Browser(server).login(f"{name}@example.com")
        for name in ("john", "susan", "mod")
    }
    anon = httpx.AsyncClient(base_url=server, timeout=10)
    yield {**browsers, "anon": anon}
    for browser in browsers.values():
        await browser.close()
    await anon.aclose()


def post_id_of(answer: httpx.Response) -> int:
    return int(answer.headers["Location"].rstrip("/").rsplit("/", 1)[1])


async def publish(browser: Browser, body: str) -> int:
    answer = await browser.client.post(
        "/",
        json={"body": body},
        headers={"X-CSRFToken": browser.token, "Accept": "application/json"},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


async def comment(browser: Browser, post_id: int, body: str) -> int:
    answer = await browser.client.post(
        f"/post/{post_id}/comments",
        json={"body": body},
        headers={"X-CSRFToken": browser.token, "Accept": "application/json"},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


# -- refusals ------------------------------------------------------------------------------


async def test_refusals_before_a_stream_starts(server: str, people: dict[str, Any]) -> None:
    anon, susan = people["anon"], people["susan"].client
    json_accept = {"Accept": "application/json"}
    cases = [
        (anon, "", 400),
        (anon, "topic=everything", 400),
        (anon, "topic=post:abc", 400),
        (anon, "topic=posts&after=soon", 400),
        (anon, "topic=posts&format=xml", 400),
        (anon, "topic=post:999999", 404),
        (anon, "topic=user:nobody", 404),
        (anon, "topic=tag:123", 400),
        (anon, "topic=tag:a-b", 400),
        (anon, "topic=followed", 401),
        (anon, "topic=me", 401),
        (anon, "topic=moderation", 401),
        (susan, "topic=moderation", 403),
    ]
    for client, query, status in cases:
        answer = await client.get("/stream?" + query, headers=json_accept)
        assert answer.status_code == status, (query, answer.text)
        assert answer.json()["error"] and answer.json()["message"], query
    answer = await anon.get("/stream?topic=posts", headers={**json_accept, "Last-Event-ID": "x"})
    assert answer.status_code == 400


async def test_too_many_streams_per_client(server: str, people: dict[str, Any]) -> None:
    susan = people["susan"].client
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(3):  # FLASKY_STREAMS_PER_CLIENT in this file
            await stack.enter_async_context(streaming(susan, "topic=posts"))
        answer = await susan.get("/stream?topic=posts", headers={"Accept": "application/json"})
        assert answer.status_code == 429
        assert int(answer.headers["Retry-After"]) >= 1
        # anonymous readers are counted by address, apart from susan's account
        async with streaming(people["anon"], "topic=posts") as reader:
            assert reader.response.status_code == 200
    async with streaming(susan, "topic=posts"):  # closed streams free their places
        pass


# -- topics --------------------------------------------------------------------------------


async def test_posts_stream_sends_new_edited_and_deleted_posts(people: dict[str, Any]) -> None:
    john = people["john"]
    async with streaming(people["anon"], "topic=posts") as reader:
        post_id = await publish(john, "Hello *live* world")
        event = await reader.next()
        assert (event.name, event.id) == ("post-created", event.id)
        assert event.id and int(event.id) > 0
        assert f'id="post-{post_id}"' in event.data and "<em>live</em>" in event.data
        assert 'hx-swap-oob="afterbegin:#incoming"' in event.data
        assert "hx-disable" in event.data  # the body never drives the page
        assert ">Edit<" not in event.data  # anonymous: no edit button

        await john.client.put(
            f"/post/{post_id}", json={"body": "Edited"}, headers={"X-CSRFToken": john.token}
        )
        event = await reader.next()
        assert event.name == "post-updated" and "Edited" in event.data
        assert f'id="post-{post_id}" hx-swap-oob="true"' in event.data

        await john.post(f"/delete/{post_id}")
        event = await reader.next()
        assert event.name == "post-deleted"
        assert "This post has been deleted." in event.data


async def test_the_author_sees_edit_in_the_card_others_do_not(people: dict[str, Any]) -> None:
    john, susan = people["john"], people["susan"]
    async with (
        streaming(john.client, "topic=posts") as own,
        streaming(susan.client, "topic=posts") as other,
    ):
        await publish(john, "Whose card is this")
        mine, theirs = await own.next(), await other.next()
        assert ">Edit<" in mine.data and ">Edit<" not in theirs.data
        # the author's delete form carries a CSRF token of john's session
        assert 'name="csrf_token"' in mine.data and "csrf_token" not in theirs.data


async def test_json_format(people: dict[str, Any]) -> None:
    async with streaming(people["anon"], "topic=posts&format=json") as reader:
        post_id = await publish(people["john"], "As **JSON**")
        event = await reader.next()
        data = json.loads(event.data)
        assert event.name == "post-created"
        assert data["id"] == post_id and data["body"] == "As **JSON**"
        assert data["author"]["username"] == "john" and data["url"].endswith(f"/post/{post_id}")


async def test_followed_stream_has_only_followed_authors(people: dict[str, Any]) -> None:
    john, susan, mod = people["john"], people["susan"], people["mod"]
    await susan.post("/follow/john")
    async with streaming(susan.client, "topic=followed") as reader:
        await publish(mod, "Not followed")
        followed = await publish(john, "Followed")
        own = await publish(susan, "Self included")
        first, second = await reader.next(), await reader.next()
        assert [first.name, second.name] == ["post-created", "post-created"]
        assert f'id="post-{followed}"' in first.data and f'id="post-{own}"' in second.data
        await susan.post("/follow/mod")  # a follow made while streaming counts at once
        later = await publish(mod, "Now followed")
        assert f'id="post-{later}"' in (await reader.next()).data


async def test_post_stream_comments_per_viewer(people: dict[str, Any]) -> None:
    john, mod = people["john"], people["mod"]
    post_id = await publish(john, "Discuss")
    query = f"topic=post:{post_id}"
    async with (
        streaming(people["anon"], query) as anon,
        streaming(mod.client, query) as moderator,
        streaming(people["anon"], query + "&format=json") as anon_json,
    ):
        comment_id = await comment(people["susan"], post_id, "A *secret* remark")
        for reader in (anon, moderator, anon_json):
            assert (await reader.next()).name == "comment-created"

        await mod.post(f"/moderate/disable/{comment_id}")
        seen, modseen, data = await anon.next(), await moderator.next(), await anon_json.next()
        assert seen.name == modseen.name == data.name == "comment-updated"
        assert "secret" not in seen.data and "disabled by a moderator" in seen.data
        assert f'id="comment-{comment_id}" hx-swap-oob="true"' in seen.data
        assert "secret" in modseen.data and "Enable" in modseen.data
        assert "body" not in json.loads(data.data) and json.loads(data.data)["disabled"] is True

        await mod.post(f"/moderate/enable/{comment_id}")
        assert "secret" in (await anon.next()).data


async def test_moderation_stream(people: dict[str, Any]) -> None:
    john, mod = people["john"], people["mod"]
    post_id = await publish(john, "Moderated")
    async with streaming(mod.client, "topic=moderation") as reader:
        comment_id = await comment(people["susan"], post_id, "For the queue")
        event = await reader.next()
        assert event.name == "comment-created"
        assert 'hx-swap-oob="afterbegin:#moderation-queue"' in event.data
        assert "comment-on" in event.data  # the queue names the post
        await mod.post(f"/moderate/disable/{comment_id}")
        assert (await reader.next()).name == "comment-updated"


async def test_user_stream_counts_and_posts(people: dict[str, Any]) -> None:
    john, susan = people["john"], people["susan"]
    async with streaming(people["anon"], "topic=user:john") as reader:
        await susan.post("/follow/john")
        event = await reader.next()
        assert event.name == "follow-count" and 'hx-swap-oob="true"' in event.data
        assert re.search(r"<strong>1</strong> follower\b", event.data)
        await publish(john, "On my profile")
        assert (await reader.next()).name == "post-created"
        await publish(susan, "Not on john's")
        await reader.nothing()


async def test_tag_stream_brings_the_posts_that_carry_it(people: dict[str, Any]) -> None:
    john = people["john"]
    async with streaming(people["anon"], "topic=tag:Python") as reader:  # any case
        await publish(john, "Learning #python today")
        event = await reader.next()
        assert event.name == "post-created" and "afterbegin:#incoming" in event.data
        await publish(john, "No tag, python")
        await publish(john, "Another #pythonic one")
        await reader.nothing()


async def test_an_event_on_several_topics_is_sent_once(people: dict[str, Any]) -> None:
    john = people["john"]
    await people["susan"].post("/follow/john")
    query = "topic=posts&topic=followed&topic=user:john"
    async with streaming(people["susan"].client, query) as reader:
        await publish(john, "Once")
        assert (await reader.next()).name == "post-created"
        await reader.nothing()


async def test_me_stream_notification_and_session_end(people: dict[str, Any]) -> None:
    john, susan = people["john"], people["susan"]
    async with streaming(john.client, "topic=me&format=json") as reader:
        await susan.post("/follow/john")
        event = await reader.next()
        assert event.name == "notification" and json.loads(event.data)["unread"] == 1
        await john.post("/auth/logout")
        event = await reader.next()
        assert event.name == "session-ended" and event.id is None
        with pytest.raises(EOFError):
            await reader.next()


# -- resume, keep-alive, end ---------------------------------------------------------------


async def test_resume_with_last_event_id_loses_nothing_and_repeats_nothing(
    people: dict[str, Any],
) -> None:
    john, anon = people["john"], people["anon"]
    async with streaming(anon, "topic=posts") as reader:
        first = await publish(john, "Before the cut")
        seen = await reader.next()
    missed = [await publish(john, f"While away {n}") for n in range(3)]
    async with streaming(anon, "topic=posts", {"Last-Event-ID": seen.id or ""}) as reader:
        replayed = [await reader.next() for _ in missed]
        assert [re.search(r'id="post-(\d+)"', e.data).group(1) for e in replayed] == [
            str(n) for n in missed
        ]
        assert f'id="post-{first}"' not in "".join(e.data for e in replayed)
        live = await publish(john, "Live again")
        assert f'id="post-{live}"' in (await reader.next()).data
        await reader.nothing()
    # after= in the URL does the same (a fresh EventSource sends no Last-Event-ID)
    async with streaming(anon, f"topic=posts&after={replayed[1].id}") as reader:
        assert f'id="post-{missed[2]}"' in (await reader.next()).data
        assert f'id="post-{live}"' in (await reader.next()).data


async def test_keep_alive_and_the_stream_ends_by_itself(app: Any, people: dict[str, Any]) -> None:
    app.config["FLASKY_STREAM_SECONDS"] = 1.2
    app.config["RESPONSE_TIMEOUT"] = 0.4  # Quart's limit does not cut a stream
    started = asyncio.get_running_loop().time()
    async with streaming(people["anon"], "topic=posts") as reader:
        text = await asyncio.wait_for(reader.response.aread(), 5)
    lasted = asyncio.get_running_loop().time() - started
    assert text.startswith(b"retry: ")
    assert text.count(b": keep-alive") >= 2
    assert 1.1 < lasted < 3.0


async def test_pages_name_their_stream(people: dict[str, Any]) -> None:
    john, anon = people["john"], people["anon"]
    post_id = await publish(john, "Page with a stream")
    home = (await anon.get("/")).text
    assert re.search(r'id="live"[^>]*sse-connect="/stream\?topic=posts&amp;after=\d+"', home)
    assert 'id="incoming"' in home and "data-new-posts" in home
    signed_in = (await john.client.get("/")).text
    assert "topic=posts&amp;topic=me" in signed_in
    page = (await anon.get(f"/post/{post_id}")).text
    assert f"topic=post:{post_id}" in page or f"topic=post%3A{post_id}" in page
    profile = (await anon.get("/user/john")).text
    assert "topic=user" in profile and 'id="counts-' in profile
    queue = (await people["mod"].client.get("/moderate")).text
    assert "topic=moderation" in queue


async def test_keep_alive_goes_out_however_busy_the_feed(people: dict[str, Any]) -> None:
    john = people["john"]
    post_id = await publish(john, "A quiet post")
    async with streaming(people["anon"], f"topic=post:{post_id}") as reader:
        loop = asyncio.get_running_loop()
        until = loop.time() + 1.2
        while loop.time() < until:  # events every few ms, none of them for this stream
            await publish(john, "Busy elsewhere")
        await reader.nothing(0.2)
    assert sum("keep-alive" in line for line in reader.comments) >= 2


async def test_a_replay_shows_things_as_they_are_now(people: dict[str, Any]) -> None:
    john, mod = people["john"], people["mod"]
    post_id = await publish(john, "Replayed later")
    async with streaming(people["anon"], f"topic=post:{post_id}") as reader:
        comment_id = await comment(people["susan"], post_id, "A *secret* soon disabled")
        first = await reader.next()
        assert "secret" in first.data
    await mod.post(f"/moderate/disable/{comment_id}")
    after = int(first.id or 0) - 1  # just before the comment
    for query in (
        f"topic=post:{post_id}&after={after}",
        f"topic=post:{post_id}&format=json&after={after}",
    ):
        async with streaming(people["anon"], query) as late:
            replayed = await late.next()
            assert replayed.name == "comment-created" and replayed.id == first.id
            assert "secret" not in replayed.data, query


async def test_the_badge_moves_with_an_event_of_another_topic(people: dict[str, Any]) -> None:
    john = people["john"]
    post_id = await publish(john, "Comment on this")
    async with (
        streaming(john.client, f"topic=post:{post_id}&topic=me") as html,
        streaming(john.client, f"topic=post:{post_id}&topic=me&format=json") as data,
    ):
        await comment(people["susan"], post_id, "Hello john")
        event, as_json = await html.next(), await data.next()
        assert event.name == as_json.name == "comment-created"  # one event per change
        assert 'id="notification-badge"' in event.data and 'hx-swap-oob="true"' in event.data
        assert json.loads(as_json.data)["unread"] == 1


async def test_an_anonymous_event_source_gets_401_not_a_redirect(people: dict[str, Any]) -> None:
    for topic in ("followed", "me", "moderation"):
        answer = await people["anon"].get(
            f"/stream?topic={topic}", headers={"Accept": "text/event-stream"}
        )
        assert answer.status_code == 401, topic


async def test_odd_digits_in_a_resume_id_are_400(people: dict[str, Any]) -> None:
    anon = people["anon"]
    assert (
        await anon.get("/stream?topic=posts", headers={"Last-Event-ID": b"\xb2"})
    ).status_code == 400
    assert (await anon.get("/stream?topic=posts&after=%C2%B2")).status_code == 400
    assert (await anon.get("/stream?topic=posts&after=%D9%A3")).status_code == 400


async def test_a_resuming_page_learns_its_post_was_deleted(people: dict[str, Any]) -> None:
    john, anon = people["john"], people["anon"]
    post_id = await publish(john, "Soon gone")
    async with streaming(anon, f"topic=post:{post_id}") as reader:
        await comment(people["susan"], post_id, "last words")
        seen = await reader.next()
    await john.post(f"/delete/{post_id}")
    async with streaming(anon, f"topic=post:{post_id}", {"Last-Event-ID": seen.id or ""}) as again:
        event = await again.next()
        assert event.name == "post-deleted" and "This post has been deleted." in event.data
    answer = await anon.get(f"/stream?topic=post:{post_id}", headers={"Accept": "application/json"})
    assert answer.status_code == 404  # not resuming: no such post
