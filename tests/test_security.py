"""`security`: argon2 off the event loop, signed purpose-bound tokens, CSRF, the login
throttle's counters, and the headers and cookie flags every answer carries."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from quart import session

from flasky import create_app, security, throttle
from flasky.exceptions import TooManyRequests
from flasky.models import ThrottleEvent
from tests.conftest import TEST_DATABASE_URL, get_csrf, make_user

# -- password hashing --------------------------------------------------------------------------


async def test_hashes_are_argon2id_and_verify():
    digest = await security.hash_password("correct horse")
    assert digest.startswith("$argon2id$")
    assert await security.verify_password(digest, "correct horse")
    assert not await security.verify_password(digest, "wrong horse")


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$v=19$broken"])
async def test_bad_stored_hashes_never_verify(stored: str):
    assert not await security.verify_password(stored, "anything")


async def test_slow_hashing_does_not_stall_the_event_loop():
    security.configure_hasher(fast=False)  # the production parameters
    try:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        started = time.perf_counter()
        digest = await security.hash_password("a slow one")
        elapsed = time.perf_counter() - started
        stop.set()
        await task
        assert "m=65536" in digest  # argon2's default memory cost, not the tests' cheap one
        assert elapsed > 0.01
        assert ticks >= 2  # the loop kept running while the hash was computed
    finally:
        security.configure_hasher(fast=True)


async def test_password_fingerprint_follows_hash_and_key(app: Any):
    async with app.app_context():
        one = security.password_fingerprint("$argon2id$one")
        assert one == security.password_fingerprint("$argon2id$one")
        assert one != security.password_fingerprint("$argon2id$two")
        assert len(one) == 16
        app.secret_key = "another secret"
        assert security.password_fingerprint("$argon2id$one") != one


# -- tokens ------------------------------------------------------------------------------------


async def test_tokens_round_trip_and_bind_purpose(app: Any):
    async with app.app_context():
        token = security.make_token("reset", {"id": 7})
        assert security.read_token("reset", token, 3600) == {"id": 7}
        assert security.read_token("confirm", token, 3600) is None
        assert security.read_token("reset", token + "x", 3600) is None
        assert security.read_token("reset", "", 3600) is None
        assert security.read_token("reset", "é", 3600) is None
        not_a_dict = security.make_token("reset", [1, 2])  # type: ignore[arg-type]
        assert security.read_token("reset", not_a_dict, 3600) is None


async def test_tokens_expire(app: Any):
    async with app.app_context():
        token = security.make_token("confirm", {"id": 1})
        await asyncio.sleep(1.1)
        assert security.read_token("confirm", token, 0) is None
        assert security.read_token("confirm", token, 60) == {"id": 1}


# -- CSRF --------------------------------------------------------------------------------------


async def test_csrf_tokens_belong_to_their_session(app: Any):
    async with app.test_request_context("/"):
        token = security.generate_csrf()
        assert security.validate_csrf(token)
        assert security.validate_csrf(security.generate_csrf())
        assert not security.validate_csrf(None)
        assert not security.validate_csrf("")
        assert not security.validate_csrf(token + "x")
    async with app.test_request_context("/"):
        assert not security.validate_csrf(token)  # another session
        session["csrf"] = "something else"
        assert not security.validate_csrf(token)


@pytest.mark.parametrize("app_config", [{"CSRF_TIME_LIMIT": 1}])
async def test_csrf_tokens_expire(app: Any):
    async with app.test_request_context("/"):
        token = security.generate_csrf()
        await asyncio.sleep(2.1)
        assert not security.validate_csrf(token)


@pytest.mark.parametrize(
    ("headers", "marker"),
    [
        ({}, "<html"),
        ({"HX-Request": "true"}, 'id="error"'),
        ({"Accept": "application/json"}, '"bad request"'),
    ],
    ids=["page", "fragment", "json"],
)
async def test_a_form_post_without_csrf_is_refused(
    client: Any, headers: dict[str, str], marker: str
):
    await make_user()
    response = await client.post(
        "/auth/login",
        form={"email": "john@example.com", "password": "correct horse battery"},
        headers=headers,
    )
    assert response.status_code == 400
    assert marker in await response.get_data(as_text=True)
    assert "flasky_auth" not in response.headers.get("Set-Cookie", "")


async def test_csrf_header_or_field_lets_the_post_through(client: Any):
    await make_user()
    token = await get_csrf(client, "/auth/login")
    form = {"email": "john@example.com", "password": "correct horse battery"}
    bad = await client.post("/auth/login", form=form, headers={"X-CSRFToken": "forged"})
    assert bad.status_code == 400
    good = await client.post("/auth/login", form=form, headers={"X-CSRFToken": token})
    assert good.status_code in (302, 303)


# -- login throttle counters -------------------------------------------------------------------


async def test_throttle_after_five_failures_per_account(app: Any):
    async with app.test_request_context("/", scope_base={"client": ("10.0.0.1", 1)}):
        for _ in range(4):
            await throttle.record_login_failure("John@Example.com")
        await throttle.check_login("john@example.com")
        await throttle.record_login_failure("john@example.com ")
        with pytest.raises(TooManyRequests) as caught:
            await throttle.check_login("john@example.com")
        assert 1 <= caught.value.retry_after <= 15 * 60 + 1
        await throttle.check_login("john@example.com", trusted_device=True)  # the owner's browser
        await throttle.check_login("susan@example.com")
        await throttle.forgive_account("john@example.com")
        await throttle.check_login("john@example.com")


async def test_throttle_per_address(app: Any):
    async with app.test_request_context("/", scope_base={"client": ("10.0.0.7", 1)}):
        for i in range(20):
            await throttle.record_login_failure(f"user{i}@example.com")
        with pytest.raises(TooManyRequests):
            await throttle.check_login("someone@example.com", trusted_device=True)
        assert await ThrottleEvent.filter(key="login:address:10.0.0.7").count() == 20
    async with app.test_request_context("/", scope_base={"client": ("10.0.0.8", 1)}):
        await throttle.check_login("someone@example.com")


# -- headers and cookies -----------------------------------------------------------------------


async def test_security_headers_on_a_page(client: Any):
    response = await client.get("/auth/login")
    h = response.headers
    csp = h["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert "'unsafe-inline'" not in directives["script-src"]
    assert "'unsafe-eval'" not in directives["script-src"]
    assert "'unsafe-inline'" not in directives["style-src"]
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert h["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in h  # development and tests are plain HTTP


async def test_session_cookie_flags(client: Any):
    response = await client.get("/auth/login")  # the form puts a CSRF secret in the session
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("flasky_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


@pytest.fixture
async def production_app(monkeypatch: Any) -> Any:
    monkeypatch.setenv("SECRET_KEY", "a production secret for this test")
    monkeypatch.setenv("FLASKY_BASE_URL", "http://localhost")
    application = create_app("production", DATABASE_URL=TEST_DATABASE_URL)
    async with application.test_app():
        yield application


async def test_production_adds_hsts_and_secure_cookies(production_app: Any):
    client = production_app.test_client()
    health = await client.get("/healthz")
    assert health.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert production_app.config["SESSION_COOKIE_SECURE"] is True
    assert production_app.config["QUART_AUTH_COOKIE_SECURE"] is True
    assert production_app.config["PASSWORD_HASH_FAST"] is False
