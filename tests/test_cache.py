"""The anonymous page cache: what it serves again, and what it never touches."""

import asyncio
import base64

import pytest
from quart import Response, flash, get_flashed_messages, redirect, request

from flasky import cache, create_app
from flasky.cache import MARK, Entry, PageStore, anonymous_page_cache
from flasky.feed import VERSIONS
from tests.conftest import PASSWORD, TEST_DATABASE_URL, feed_listening, make_user, reset_database
from tests.helpers import text


@pytest.fixture
async def probe_app():
    """An app with the cache on and a probe view that says how often it rendered."""
    application = create_app(
        "testing", DATABASE_URL=TEST_DATABASE_URL, FLASKY_PAGE_CACHE_SECONDS=60
    )
    renders: list[str] = []
    reached_quart: list[str] = []

    @application.before_request
    async def count_requests() -> None:
        reached_quart.append(request.full_path)

    @application.get("/probe")
    @anonymous_page_cache
    async def probe() -> Response:
        """Answer with the render count, the representation and any flash messages."""
        renders.append(request.full_path)
        messages = " ".join(get_flashed_messages())
        response = Response(f"render {len(renders)} {messages}".strip())
        if request.args.get("status"):
            response.status_code = int(request.args["status"])
        if request.args.get("set_cookie"):
            response.set_cookie("choice", "yes")
        response.headers["Vary"] = "Accept, HX-Request"
        return response

    @application.get("/flash")
    async def flash_something() -> Response:
        """Leave a flash message for the next page."""
        await flash("Saved.")
        return redirect("/probe")

    async with application.test_app():
        from flasky.models import Role

        await reset_database()
        await feed_listening(application)
        await Role.insert_roles()
        application.renders = renders
        application.reached_quart = reached_quart
        yield application


@pytest.fixture
def probe(probe_app):
    return probe_app.test_client()


async def test_anonymous_get_is_rendered_once(probe, probe_app):
    first = await probe.get("/probe")
    second = await probe.get("/probe")
    assert await text(first) == await text(second) == "render 1"
    assert probe_app.renders == ["/probe?"]
    # per-answer headers are added afresh to the cached copy
    assert second.headers["X-Query-Count"] == "0"
    assert "frame-ancestors 'none'" in second.headers["Content-Security-Policy"]
    assert second.headers["Vary"] == "Accept, HX-Request"
    assert MARK not in first.headers and MARK not in second.headers
    # the second answer came from the middleware: Quart never saw the request
    assert probe_app.reached_quart == ["/probe?"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept": "application/json"},
        {"HX-Request": "true"},
        {"HX-Request": "true", "HX-Target": "feed"},
    ],
)
async def test_each_representation_has_its_own_entry(probe, probe_app, headers):
    await probe.get("/probe")
    other = await probe.get("/probe", headers=headers)
    assert await text(other) == "render 2"
    again = await probe.get("/probe", headers=headers)
    assert await text(again) == "render 2"


async def test_query_string_and_cookies_are_part_of_the_key(probe):
    await probe.get("/probe")
    assert await text(await probe.get("/probe?cursor=abc")) == "render 2"
    probe.set_cookie("localhost", "show_followed", "1")
    assert await text(await probe.get("/probe")) == "render 3"


async def test_authorization_header_bypasses_the_cache(probe, probe_app):
    await make_user("reader@example.com")
    basic = base64.b64encode(f"reader@example.com:{PASSWORD}".encode()).decode()
    await probe.get("/probe")
    for expected in ("render 2", "render 3"):
        response = await probe.get("/probe", headers={"Authorization": f"Basic {basic}"})
        assert await text(response) == expected
    assert await text(await probe.get("/probe")) == "render 1"


async def test_auth_cookie_bypasses_the_cache(probe, probe_app):
    await probe.get("/probe")
    probe.set_cookie("localhost", probe_app.config["QUART_AUTH_COOKIE_NAME"], "1.abc.def")
    assert await text(await probe.get("/probe")) == "render 2"
    assert await text(await probe.get("/probe")) == "render 3"


async def test_pending_flash_is_shown_not_a_cached_page(probe):
    assert await text(await probe.get("/probe")) == "render 1"
    await probe.get("/flash")
    assert await text(await probe.get("/probe")) == "render 2 Saved."
    # the message was shown once; the page without it is cached again
    assert await text(await probe.get("/probe")) == "render 1"


async def test_answers_that_set_cookies_or_fail_are_not_stored(probe):
    await probe.get("/probe?set_cookie=1")
    assert await text(await probe.get("/probe?set_cookie=1")) == "render 2"
    await probe.get("/probe?status=404")
    response = await probe.get("/probe?status=404")
    assert response.status_code == 404
    assert await text(response) == "render 4"


async def test_entries_expire(probe, probe_app):
    probe_app.config["FLASKY_PAGE_CACHE_SECONDS"] = 0.05
    await probe.get("/probe")
    await asyncio.sleep(0.1)
    assert await text(await probe.get("/probe")) == "render 2"


async def test_zero_seconds_turns_it_off(probe, probe_app):
    probe_app.config["FLASKY_PAGE_CACHE_SECONDS"] = 0
    await probe.get("/probe")
    assert await text(await probe.get("/probe")) == "render 2"


async def test_clear_forgets_everything(probe, probe_app):
    await probe.get("/probe")
    async with probe_app.app_context():
        cache.clear()
    assert await text(await probe.get("/probe")) == "render 2"


async def test_store_stays_bounded(probe, probe_app, monkeypatch):
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    for n in range(5):
        await probe.get(f"/probe?n={n}")
    assert len(cache.store_of(probe_app).entries) <= 3


async def test_session_cookie_is_served_inside_quart(probe, probe_app):
    probe.set_cookie("localhost", probe_app.config["SESSION_COOKIE_NAME"], "not-a-valid-session")
    first = await probe.get("/probe")
    second = await probe.get("/probe")
    assert await text(first) == await text(second) == "render 1"
    assert probe_app.reached_quart == ["/probe?", "/probe?"]
    assert MARK not in second.headers


async def test_writes_pass_through(probe, probe_app):
    await probe.get("/probe")
    response = await probe.post("/probe")
    assert response.status_code in (400, 405)
    assert probe_app.reached_quart == ["/probe?", "/probe?"]


def test_expired_entry_is_served_only_while_someone_renders_it():
    store = PageStore()
    store.put(
        ("k",), Entry(expires=10.0, status=200, headers=(), body=b"old", stamp=VERSIONS.stamp())
    )
    assert store.lookup(("k",), now=5.0).body == b"old"
    assert store.lookup(("k",), now=11.0) is None
    with store.rendering_of(("k",), now=11.0):
        assert store.lookup(("k",), now=11.5).body == b"old"
        assert store.lookup(("k",), now=11.5, stale_ok=False) is None
        # a render that hangs does not keep the old answer alive
        assert store.lookup(("k",), now=11.0 + cache.STALE_GRACE + 0.1) is None
    assert store.lookup(("k",), now=11.0) is None


def test_full_store_drops_the_least_recently_used():
    store = PageStore()
    for name in "abc":
        store.put(
            (name,),
            Entry(expires=10.0, status=200, headers=(), body=name.encode(), stamp=VERSIONS.stamp()),
        )
    assert store.lookup(("a",), now=1.0) is not None  # "a" is now the most recent
    original = cache.MAX_ENTRIES
    cache.MAX_ENTRIES = 3
    try:
        store.put(
            ("d",), Entry(expires=10.0, status=200, headers=(), body=b"d", stamp=VERSIONS.stamp())
        )
    finally:
        cache.MAX_ENTRIES = original
    assert list(store.entries) == [("c",), ("a",), ("d",)]


def test_full_store_is_bounded_by_bytes_too(monkeypatch):
    store = PageStore()
    monkeypatch.setattr(cache, "MAX_BYTES", 10)
    for name in "abc":
        entry = Entry(expires=10.0, status=200, headers=(), body=b"x" * 4, stamp=VERSIONS.stamp())
        store.put((name,), entry)
    assert list(store.entries) == [("b",), ("c",)] and store.size == 8
    store.put(("c",), Entry(expires=10.0, status=200, headers=(), body=b"", stamp=VERSIONS.stamp()))
    assert store.size == 4
    store.discard(("b",))
    assert store.size == 0
