"""The holes an outside audit found (issue 9), each closed at its one place, shown through
HTTP with Quart's test client. What needs a real server (raw sockets, repeated headers,
a copied cookie on another process) is in `test_hardening_live.py`; the stored htmx worm
in Chromium is `browser/test_worm.py`."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest

from flasky import create_app, security, text
from flasky.cache import store_of
from flasky.models import Comment, LoginSession, Outbox, Post, User
from tests.conftest import PASSWORD, TEST_DATABASE_URL, csrf_from, get_csrf, make_user
from tests.helpers import HTMX, JSON, SLOW_MARKDOWN, basic, postgres_admin, set_body


async def body(response: Any) -> str:
    return await response.get_data(as_text=True)


async def login(client: Any, email: str = "john@example.com", password: str = PASSWORD) -> Any:
    token = await get_csrf(client, "/auth/login")
    form = {"email": email, "password": password, "csrf_token": token}
    return await client.post("/auth/login", form=form)


async def page_token(client: Any, path: str = "/") -> str:
    return csrf_from(await body(await client.get(path)))


# -- 1. user content never drives the page --------------------------------------------------

WORM = (
    "<div hx-post='/edit-profile/2' hx-trigger='load' hx-vals='{\"role\": 3}'"
    ' hx-target="body">x</div><a href="/api/v1/posts/1" hx-boost=\'true\'>more</a>'
)


async def test_bodies_comments_and_previews_sit_in_hx_disable_containers(client):
    author = await make_user()
    post = Post(author=author)
    set_body(post, "A [link](/api/v1/posts/1) and *markdown*.")
    await post.save()
    comment = Comment(author=author, post=post)
    set_body(comment, "a *comment* with [a link](/post/1)")
    await comment.save()
    for path in ("/", f"/post/{post.id}", "/user/john"):
        html = await body(await client.get(path))
        assert '<div class="body" hx-disable><p>A <a href="/api/v1/posts/1"' in html, path
    html = await body(await client.get(f"/post/{post.id}"))
    assert '<div class="body" hx-disable>a <em>comment</em>' in html
    await login(client)
    html = await body(await client.get("/"))
    assert 'class="preview-body body" hx-disable id="post-form-preview"' in html


async def test_raw_html_with_hx_attributes_is_stripped_from_body_html(client):
    await make_user()
    await login(client)
    token = await page_token(client)
    response = await client.post("/", json={"body": WORM}, headers={**JSON, "X-CSRFToken": token})
    assert response.status_code == 201
    created = await response.get_json()
    assert "hx-" not in created["body_html"] and "<div" not in created["body_html"]
    assert created["body"] == WORM  # the JSON keeps the source: it must never be swapped


async def test_api_v1_never_reads_the_session_cookie(client):
    await make_user()
    await login(client)
    assert (await client.get("/me", headers=JSON)).status_code == 200  # signed in
    response = await client.get("/api/v1/posts/")
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    token = await page_token(client)
    response = await client.post(
        "/api/v1/posts/", json={"body": "by cookie"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 401
    assert not await Post.exists()
    response = await client.get("/api/v1/posts/", headers=basic("john@example.com", PASSWORD))
    assert response.status_code == 200


async def test_htmx_swaps_only_html(client):
    """The swap rule lives in static/js/flasky.js; the browser test clicks through it."""
    script = (await body(await client.get("/static/js/flasky.js"))).replace(" ", "")
    assert 'addEventListener("htmx:beforeSwap"' in script
    assert "event.detail.shouldSwap=false" in script


# -- 2. links we send point at us ------------------------------------------------------------


@pytest.fixture
def mail_base(smtp_server: Any) -> dict[str, Any]:
    return {"MAIL_SERVER": smtp_server.host, "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False}


async def test_reset_link_ignores_the_host_header(smtp_server, mail_base):
    application = create_app(
        "testing",
        DATABASE_URL=TEST_DATABASE_URL,
        FLASKY_BASE_URL="https://flasky.example",
        **mail_base,
    )
    from flasky import email
    from tests.conftest import feed_listening, reset_database

    async with application.test_app():
        await reset_database()
        await feed_listening(application)
        from flasky.models import Role

        await Role.insert_roles()
        await make_user()
        client = application.test_client()
        headers = {"Host": "evil.example"}
        page = await client.get("/auth/reset", headers=headers)
        token = csrf_from(await body(page))
        response = await client.post(
            "/auth/reset",
            form={"email": "john@example.com", "csrf_token": token},
            headers=headers,
        )
        assert response.status_code == 303
        async with application.app_context():
            await email.deliver_all()
        [message] = await smtp_server.wait_for(1)
        text_part = message.get_payload()[0].get_payload(decode=True).decode()
        assert "https://flasky.example/auth/reset/" in text_part
        assert "evil.example" not in message.as_string()
        # JSON's absolute URLs come from the base URL too
        data = await (await client.get("/user/john", headers={**headers, **JSON})).get_json()
        assert data["url"] == "https://flasky.example/user/john"
        assert data["avatar_url"].startswith("https://flasky.example/avatar/")


@pytest.fixture
async def production(monkeypatch: Any) -> Any:
    monkeypatch.setenv("SECRET_KEY", "a production secret for the host check")
    monkeypatch.setenv("FLASKY_BASE_URL", "https://flasky.example")
    monkeypatch.setenv("FLASKY_ALLOWED_HOSTS", "www.flasky.example, 10.0.0.5:8000")
    application = create_app("production", DATABASE_URL=TEST_DATABASE_URL)
    async with application.test_app():
        yield application


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("flasky.example", 200),
        ("FLASKY.example:443", 200),
        ("www.flasky.example", 200),
        ("10.0.0.5:8000", 200),
        ("evil.example", 400),
        ("flasky.example:8443", 400),
        ("10.0.0.5", 400),
        ("", 400),
    ],
)
async def test_production_refuses_foreign_hosts(production, host, status):
    client = production.test_client()
    response = await client.get("/healthz", headers={"Host": host}, scheme="https")
    assert response.status_code == status
    if status == 400:
        json_answer = await client.get("/auth/login", headers={"Host": host, **JSON})
        assert json_answer.status_code == 400
        assert (await json_answer.get_json())["error"] == "bad request"
        page = await client.get("/auth/reset", headers={"Host": host})
        assert page.status_code == 400 and "host" in await body(page)


# -- 3. Markdown cannot hurt the server ------------------------------------------------------


# A quarter of a second: SLOW_MARKDOWN takes a second or two, however fast the machine.
SHORT_BUDGET = {"FLASKY_RENDER_BUDGET": 0.25}


@pytest.mark.parametrize("app_config", [SHORT_BUDGET])
@pytest.mark.parametrize("payload", ["1. " * 3333, SLOW_MARKDOWN, "> " * 200 + "deep"])
async def test_pathological_markdown_is_a_clear_400_and_leaves_rendering_intact(client, payload):
    await make_user()
    await login(client)
    token = await page_token(client)
    started = time.monotonic()
    response = await client.post(
        "/preview", json={"body": payload}, headers={**JSON, "X-CSRFToken": token}
    )
    assert time.monotonic() - started < text.BUDGET + 1.5
    assert response.status_code == 400
    assert (await response.get_json())["message"] == "This text is too complex to render."
    fragment = await client.post(
        "/preview", form={"body": payload, "csrf_token": token}, headers=HTMX
    )
    assert "This text is too complex to render." in await body(fragment)
    created = await client.post("/", json={"body": payload}, headers={**JSON, "X-CSRFToken": token})
    assert created.status_code == 400
    form_post = await client.post("/", form={"body": payload, "csrf_token": token})
    assert form_post.status_code == 400
    assert not await Post.exists()
    # the next render is right, in the workers and in this process
    good = await client.post(
        "/preview", json={"body": "- *one*\n- two"}, headers={**JSON, "X-CSRFToken": token}
    )
    assert (await good.get_json())[
        "body_html"
    ] == "<ul>\n<li><em>one</em></li>\n<li>two</li>\n</ul>"
    if text.nesting(payload) > text.MAX_NESTING:  # the in-process path refuses it too
        with pytest.raises(text.TooComplex):
            text.render_markdown(payload)
    assert text.render_markdown("*fine*") == "<p><em>fine</em></p>"


@pytest.mark.parametrize("app_config", [SHORT_BUDGET])
async def test_healthz_answers_while_two_pathological_bodies_render(client):
    await make_user()
    await login(client)
    token = await page_token(client)
    await client.post("/preview", json={"body": "*warm*"}, headers={**JSON, "X-CSRFToken": token})

    async def pathological() -> int:
        response = await client.post(
            "/preview", json={"body": SLOW_MARKDOWN}, headers={**JSON, "X-CSRFToken": token}
        )
        return response.status_code

    renders = [asyncio.create_task(pathological()) for _ in range(2)]
    await asyncio.sleep(0.2)  # both are rendering now
    started = time.monotonic()
    health = await client.get("/healthz")
    elapsed = time.monotonic() - started
    assert health.status_code == 200
    assert elapsed < 0.2, elapsed
    assert await asyncio.gather(*renders) == [400, 400]


def test_nesting_is_measured_per_line_and_by_indentation():
    assert text.nesting("plain text") == 0
    assert text.nesting("- a\n    - b\n        - c") == 3
    assert text.nesting("1. 1. 1. x") == 3
    assert text.nesting("> > > quote") == 3
    assert text.nesting("- " * 30) == 30
    assert text.nesting("a - b - c") == 0


# -- 4. the page cache and repeated headers --------------------------------------------------


async def test_one_entry_per_miss_and_a_404_forgets_the_entry(app, client):
    app.config["FLASKY_PAGE_CACHE_SECONDS"] = 60
    author = await make_user()
    post = await Post.create(author=author, body="soon gone", body_html="<p>soon gone</p>")
    store = store_of(app)
    store.clear()
    first = await client.get(f"/post/{post.id}")
    assert first.status_code == 200
    assert len(store.entries) == 1
    assert "soon gone" in await body(await client.get(f"/post/{post.id}"))
    await post.delete()
    # the entry is fresh for another minute; a request that re-renders it (here, after
    # the entry is made stale) answers 404, and the entry goes with it
    for key, entry in list(store.entries.items()):
        store.entries[key] = type(entry)(0.0, entry.status, entry.headers, entry.body)
    assert (await client.get(f"/post/{post.id}")).status_code == 404
    assert not store.entries
    assert (await client.get(f"/post/{post.id}")).status_code == 404


async def test_a_get_with_a_body_is_never_cached(app, client):
    app.config["FLASKY_PAGE_CACHE_SECONDS"] = 60
    await make_user()
    store = store_of(app)
    store.clear()
    headers = {"Content-Type": "text/plain", "Content-Length": "10"}
    await client.get("/", data=b"x" * 10, headers=headers)
    assert not store.entries


# -- 5. sessions end when they should --------------------------------------------------------


async def test_logout_ends_the_session_on_the_server(app, client):
    await make_user()
    await login(client)
    cookie = client.cookie_jar  # a copy of the cookie, as an attacker would keep it
    saved = {c.name: c.value for c in cookie}
    assert await LoginSession.filter().count() == 1
    row = await LoginSession.first().select_related("user")
    assert row.user.username == "john" and len(row.token_hash) == 64
    assert row.user_agent and row.created and row.last_used
    token = await page_token(client)
    await client.post("/auth/logout", form={"csrf_token": token})
    assert await LoginSession.filter().count() == 0
    copied = app.test_client()
    for name, value in saved.items():
        copied.set_cookie("localhost", name, value)
    response = await copied.get("/me", headers=JSON)
    assert response.status_code == 401


async def test_a_new_password_ends_every_session(app, client):
    await make_user()
    await login(client)
    other = app.test_client()
    await login(other)
    assert await LoginSession.filter().count() == 2
    token = await page_token(client, "/auth/change-password")
    new = "another good password"
    response = await client.post(
        "/auth/change-password",
        form={"old_password": PASSWORD, "password": new, "password2": new, "csrf_token": token},
    )
    assert response.status_code == 303
    assert await LoginSession.filter().count() == 1  # this browser's new one
    assert (await other.get("/me", headers=JSON)).status_code == 401
    assert (await client.get("/me", headers=JSON)).status_code == 200


async def test_signed_in_answers_are_private_and_not_kept_in_history(client):
    await make_user()
    anonymous = await client.get("/")
    assert "no-store" not in anonymous.headers.get("Cache-Control", "")
    await login(client)
    for path, headers in (("/", {}), ("/", HTMX), ("/user/john", JSON)):
        response = await client.get(path, headers=headers)
        assert response.headers["Cache-Control"] == "private, no-store", (path, headers)
    page = await body(await client.get("/"))
    assert 'hx-history="false"' in page
    assert "data-logout" in page
    avatar = await client.get(f"/avatar/{'0' * 32}.svg")
    assert "immutable" in avatar.headers["Cache-Control"]


# -- 6. mail bombing -------------------------------------------------------------------------


async def test_resets_mail_at_most_three_times_an_hour(client):
    await make_user()
    answers = set()
    for _ in range(30):
        token = await get_csrf(client, "/auth/reset")
        response = await client.post(
            "/auth/reset", form={"email": "john@example.com", "csrf_token": token}
        )
        answers.add((response.status_code, response.headers.get("Location")))
    assert answers == {(303, "/auth/login")}  # the same answer every time
    assert await Outbox.filter(recipient="john@example.com").count() == 3


async def test_email_change_mails_a_third_party_at_most_three_times(client):
    await make_user()
    await login(client)
    for _ in range(20):
        token = await get_csrf(client, "/auth/change_email")
        response = await client.post(
            "/auth/change_email",
            form={"email": "victim@example.com", "password": PASSWORD, "csrf_token": token},
        )
        assert response.status_code == 303
    assert await Outbox.filter(recipient="victim@example.com").count() == 3


async def test_confirmation_mails_are_throttled_too(client):
    await make_user(confirmed=False)
    await login(client)
    for _ in range(6):
        token = await get_csrf(client, "/auth/unconfirmed")
        response = await client.post("/auth/confirm", form={"csrf_token": token})
        assert response.status_code == 303
    assert await Outbox.filter(recipient="john@example.com").count() == 3


async def test_ten_registrations_per_address_an_hour(app):
    here = {"client": ("10.2.2.2", 4000)}
    for n in range(11):
        client = app.test_client()
        page = await client.get("/auth/register", scope_base=here)
        form = {
            "email": f"new{n}@example.com",
            "username": f"new{n}",
            "password": PASSWORD,
            "password2": PASSWORD,
            "csrf_token": csrf_from(await body(page)),
        }
        response = await client.post("/auth/register", form=form, scope_base=here)
        if n < 10:
            assert response.status_code == 303, n
    assert response.status_code == 429
    assert "Please wait" in await body(response)
    assert int(response.headers["Retry-After"]) > 3000
    assert await User.filter().count() == 10
    other = app.test_client()
    page = await other.get("/auth/register")
    form = {
        "email": "elsewhere@example.com",
        "username": "elsewhere",
        "password": PASSWORD,
        "password2": PASSWORD,
        "csrf_token": csrf_from(await body(page)),
    }
    assert (await other.post("/auth/register", form=form)).status_code == 303


# -- 7. lockout and enumeration --------------------------------------------------------------


async def test_the_owner_is_not_locked_out_by_strangers(app, client):
    await make_user()
    assert (await login(client)).status_code == 303  # this browser signed in before
    token = await page_token(client)
    await client.post("/auth/logout", form={"csrf_token": token})
    stranger = app.test_client()
    for n in range(5):
        token = await get_csrf(stranger, "/auth/login")
        form = {"email": "john@example.com", "password": "wrong", "csrf_token": token}
        await stranger.post("/auth/login", form=form, scope_base={"client": (f"10.3.0.{n}", 1)})
    assert (await login(stranger)).status_code == 429  # the stranger is stopped
    throttled = await login(stranger)
    assert "Please wait" in await body(throttled) and "minute" in await body(throttled)
    assert (await login(client)).status_code == 303  # the owner's browser is not


async def test_a_forged_device_cookie_trusts_nothing(app):
    await make_user()
    client = app.test_client()
    client.set_cookie("localhost", "flasky_device", "[1]")
    for n in range(5):
        token = await get_csrf(client, "/auth/login")
        form = {"email": "john@example.com", "password": "wrong", "csrf_token": token}
        await client.post("/auth/login", form=form, scope_base={"client": (f"10.4.0.{n}", 1)})
    assert (await login(client)).status_code == 429


async def test_trusted_proxies_choose_the_client_address(app):
    await make_user()
    app.config["FLASKY_TRUSTED_PROXIES"] = 1
    client = app.test_client()
    for n in range(20):
        token = await get_csrf(client, "/auth/login")
        form = {"email": f"x{n}@example.com", "password": "wrong", "csrf_token": token}
        headers = {"X-Forwarded-For": f"1.1.1.{n}, 9.9.9.9"}  # the proxy saw 9.9.9.9
        await client.post("/auth/login", form=form, headers=headers)
    token = await get_csrf(client, "/auth/login")
    form = {"email": "john@example.com", "password": PASSWORD, "csrf_token": token}
    blocked = await client.post("/auth/login", form=form, headers={"X-Forwarded-For": "9.9.9.9"})
    assert blocked.status_code == 429
    app.config["FLASKY_TRUSTED_PROXIES"] = 0  # the header is ignored: anyone can write it
    token = await get_csrf(client, "/auth/login")
    form = {"email": "john@example.com", "password": PASSWORD, "csrf_token": token}
    assert (await client.post("/auth/login", form=form)).status_code == 303


async def test_unknown_accounts_cost_the_same_time_on_every_credential_path(client):
    await make_user()
    security.configure_hasher(fast=False)  # the real argon2 parameters
    try:
        await User.filter(email="john@example.com").update(
            password_hash=await security.hash_password(PASSWORD)
        )

        async def timed(headers: dict[str, str]) -> float:
            started = time.perf_counter()
            response = await client.get("/me", headers={**headers, **JSON})
            assert response.status_code == 401
            return time.perf_counter() - started

        known = min([await timed(basic("john@example.com", "wrong")) for _ in range(3)])
        unknown = min([await timed(basic("nobody@example.com", "wrong")) for _ in range(3)])
        assert unknown > known * 0.5, (known, unknown)
        started = time.perf_counter()
        await login(client, "nobody@example.com", "wrong")
        assert time.perf_counter() - started > known * 0.5
    finally:
        security.configure_hasher(fast=True)


# -- 8. the smaller ones ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "[" * 100000,
        json.dumps(
            {"body": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}
        ),
        '{"body": "a", "body": 1}',
        '{"body": "a",',
    ],
)
async def test_bad_json_is_a_400_with_a_message(client, payload):
    await make_user()
    response = await client.post(
        "/", data=payload, headers={**basic("john@example.com", PASSWORD), **JSON,
                                    "Content-Type": "application/json"}
    )  # fmt: skip
    assert response.status_code == 400
    assert (await response.get_json())["message"]
    assert not await Post.exists()


async def test_same_typed_duplicate_keys_keep_the_last(client):
    await make_user()
    response = await client.post(
        "/", data='{"body": "first", "body": "second"}',
        headers={**basic("john@example.com", PASSWORD), **JSON,
                 "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 201
    assert (await response.get_json())["body"] == "second"


@pytest.mark.parametrize("depth", [40, 100000])
async def test_a_cursor_holding_deep_json_is_a_400(client, depth):
    cursor = base64.urlsafe_b64encode(("[" * depth).encode()).decode().rstrip("=")
    for headers in ({}, HTMX, JSON):
        response = await client.get(f"/?cursor={cursor}", headers=headers)
        assert response.status_code == 400


async def test_usernames_are_unique_regardless_of_case_in_the_database(app):
    await make_user("alice@example.com", "Alice")
    from tortoise.exceptions import IntegrityError

    with pytest.raises(IntegrityError):
        await make_user("other@example.com", "aLICE")


async def test_concurrent_registrations_differing_in_case_make_one_account(app):
    async def attempt(n: int, name: str) -> int:
        client = app.test_client()
        page = await client.get("/auth/register")
        form = {
            "email": f"r{n}@example.com",
            "username": name,
            "password": PASSWORD,
            "password2": PASSWORD,
            "csrf_token": csrf_from(await body(page)),
        }
        return (await client.post("/auth/register", form=form)).status_code

    codes = await asyncio.gather(attempt(1, "Twin"), attempt(2, "twin"), attempt(3, "TWIN"))
    assert sorted(codes) == [303, 422, 422]
    assert await User.filter(username__iexact="twin").count() == 1


async def test_admin_rename_respects_case(client):
    await make_user("admin@example.com", "admin", role="Administrator")
    await make_user("alice@example.com", "alice")
    bob = await make_user("bob@example.com", "bob")
    await login(client, "admin@example.com")
    token = await page_token(client, f"/edit-profile/{bob.id}")
    response = await client.post(
        f"/edit-profile/{bob.id}",
        form={"email": "bob@example.com", "username": "ALICE", "role": str(bob.role_id),
              "confirmed": "y", "csrf_token": token},
    )  # fmt: skip
    assert response.status_code == 422
    assert "Username already in use." in await body(response)
    assert (await User.get(id=bob.id)).username == "bob"


async def test_two_email_change_links_opened_together_apply_one(app, client):
    user = await make_user()
    await login(client)
    async with app.app_context():
        first = user.generate_email_change_token("one@example.com")
        second = user.generate_email_change_token("two@example.com")
    answers = await asyncio.gather(
        client.get(f"/auth/change_email/{first}"), client.get(f"/auth/change_email/{second}")
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [302, 400]
    assert (await User.get(id=user.id)).email in ("one@example.com", "two@example.com")


async def test_a_form_post_with_only_the_csrf_header_is_accepted(client):
    await make_user()
    await login(client)
    token = await page_token(client)
    response = await client.post(
        "/", form={"body": "header only"}, headers={**HTMX, "X-CSRFToken": token}
    )
    assert response.status_code == 200
    assert await Post.filter(body="header only").exists()
    profile = await client.post(
        "/edit-profile", form={"name": "John"}, headers={"X-CSRFToken": token}
    )
    assert profile.status_code == 303
    assert (await User.get(username="john")).name == "John"
    refused = await client.post("/", form={"body": "no token"}, headers=HTMX)
    assert refused.status_code == 400


# -- 9. per-user write limits ----------------------------------------------------------------


async def test_write_limits_answer_429_in_all_three_forms(app, client):
    app.config["_RATE_LIMITS"] = {"posts": (2, 3600), "comments": (1, 3600), "follows": (1, 3600)}
    await make_user()
    await make_user("susan@example.com")
    await login(client)
    token = await page_token(client)
    for n in range(2):
        assert (
            await client.post("/", form={"body": f"p{n}", "csrf_token": token})
        ).status_code == 303
    page = await client.post("/", form={"body": "p3", "csrf_token": token})
    assert page.status_code == 429 and "limit of 2 posts" in await body(page)
    fragment = await client.post("/", form={"body": "p3", "csrf_token": token}, headers=HTMX)
    assert fragment.status_code == 429 and "<html" not in await body(fragment)
    answer = await client.post("/", json={"body": "p3"}, headers={**JSON, "X-CSRFToken": token})
    assert answer.status_code == 429 and int(answer.headers["Retry-After"]) > 0
    assert (await answer.get_json())["error"] == "too many requests"
    api = await client.post(
        "/api/v1/posts/", json={"body": "p3"}, headers=basic("john@example.com", PASSWORD)
    )
    assert api.status_code == 429
    assert await Post.filter().count() == 2
    post = await Post.first()
    comments = f"/post/{post.id}/comments"
    assert (await client.post(comments, form={"body": "c", "csrf_token": token})).status_code == 303
    assert (await client.post(comments, form={"body": "c", "csrf_token": token})).status_code == 429
    follow = await client.post("/follow/susan", headers={**JSON, "X-CSRFToken": token})
    assert follow.status_code == 200
    unfollow = await client.post("/unfollow/susan", headers={**JSON, "X-CSRFToken": token})
    assert unfollow.status_code == 200  # unfollowing is never limited
    again = await client.post("/follow/susan", headers={**JSON, "X-CSRFToken": token})
    assert again.status_code == 429


@pytest.mark.parametrize(
    ("text_value", "expected"),
    [
        ("", {"posts": (30, 3600), "comments": (60, 3600), "follows": (200, 3600)}),
        ("off", {}),
        ("posts=100/h,comments=300/h,follows=1000/h",
         {"posts": (100, 3600), "comments": (300, 3600), "follows": (1000, 3600)}),
        ("posts=5/10m", {"posts": (5, 600), "comments": (60, 3600), "follows": (200, 3600)}),
    ],
)  # fmt: skip
def test_rate_limit_settings(text_value, expected):
    from flasky.throttle import parse_rate_limits

    assert parse_rate_limits(text_value) == expected


def test_a_bad_rate_limit_setting_stops_the_start():
    with pytest.raises(RuntimeError, match="FLASKY_RATE_LIMITS"):
        create_app("testing", FLASKY_RATE_LIMITS="posts=lots")


# Defined only when the suite runs on PostgreSQL (TEST_DATABASE_URL), as `.ci/run` does.
if TEST_DATABASE_URL.startswith(("postgres://", "postgresql://")):
    from urllib.parse import urlsplit, urlunsplit

    async def test_a_database_refusing_connections_is_a_503():
        """SQLSTATE 55000: "database … is not currently accepting connections"."""
        parts = urlsplit(TEST_DATABASE_URL)
        name = f"{parts.path.lstrip('/')}_refusing"
        url = urlunsplit(parts._replace(path=f"/{name}"))
        await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await postgres_admin(f'CREATE DATABASE "{name}"')
        try:
            application = create_app("testing", DATABASE_URL=url)
            async with application.test_app():
                client = application.test_client()
                assert (await client.get("/healthz")).status_code == 200
                await postgres_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                await postgres_admin(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    f" WHERE datname = '{name}'"
                )
                for headers in ({}, HTMX, JSON):
                    response = await client.get("/user/nobody", headers=headers)
                    assert response.status_code == 503, headers
                assert (await client.get("/healthz")).status_code == 503
        finally:
            await postgres_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
