"""Accounts through HTTP: the book's register → confirm → login → logout flow, every /auth
flow, and the refusals (CSRF, wrong password, throttle, open redirects, short passwords,
expired / reused / foreign tokens). Mail goes through the outbox to a real aiosmtpd.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from flasky import create_app, email
from flasky.models import Follow, Outbox, Role, ThrottleEvent, User, utcnow
from tests.conftest import (
    PASSWORD,
    TEST_DATABASE_URL,
    SMTPSink,
    csrf_from,
    feed_listening,
    get_csrf,
    make_user,
    reset_database,
)
from tests.helpers import basic, text

NEW_PASSWORD = "a brand new secret"


@pytest.fixture
def app_config(smtp_server: SMTPSink) -> dict[str, Any]:
    return {"MAIL_SERVER": smtp_server.host, "MAIL_PORT": smtp_server.port, "MAIL_USE_TLS": False}


# -- helpers --------------------------------------------------------------------------------


async def post_form(
    client: Any, path: str, data: dict[str, Any], *, token_from: str | None = None, **kw: Any
) -> Any:
    """POST a form with the CSRF token of the page at `token_from` (default: `path`)."""
    token = await get_csrf(client, token_from or path)
    return await client.post(path, form={**data, "csrf_token": token}, **kw)


async def register(
    client: Any, email_address: str = "john@example.com", username: str = "john", **extra: Any
) -> Any:
    data = {
        "email": email_address,
        "username": username,
        "password": PASSWORD,
        "password2": PASSWORD,
        **extra,
    }
    return await post_form(client, "/auth/register", data)


async def mails(app: Any, smtp: SMTPSink, count: int) -> list[Any]:
    """Run the sender once and return the messages that arrived (waiting for `count`)."""
    async with app.app_context():
        await email.deliver_all()
    return await smtp.wait_for(count)


def body_of(message: Any, subtype: str = "plain") -> str:
    found = next(p for p in message.walk() if p.get_content_type() == f"text/{subtype}")
    return found.get_payload(decode=True).decode()


def link_in(message: Any, route: str) -> str:
    """The path of the first link to `route` (e.g. "/auth/confirm/") in a mail's text."""
    match = re.search(rf"http://localhost({re.escape(route)}\S+)", body_of(message))
    assert match, body_of(message)
    return match.group(1)


def aged_token(app: Any, purpose: str, payload: dict[str, Any], age: int) -> str:
    """A genuinely signed token of `purpose` made `age` seconds ago."""

    class Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    return URLSafeTimedSerializer(app.secret_key, salt=f"flasky.{purpose}", signer=Then).dumps(
        payload
    )


async def fingerprint(app: Any, user: User) -> str:
    async with app.app_context():
        return user.password_fingerprint()


async def logged_in_as(client: Any) -> str | None:
    """Whose session this client holds, as the header of the home page shows it."""
    html = await text(await client.get("/auth/login"))
    match = re.search(r'href="/user/([^"]+)">Profile', html)
    return match.group(1) if match else None


# -- the book's test_client flow ------------------------------------------------------------


async def test_register_confirm_login_logout(app, client, auth, smtp_server):
    response = await register(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/auth/unconfirmed"
    [message] = await mails(app, smtp_server, 1)
    assert message["Subject"] == "[Flasky] Confirm Your Account"
    assert message["X-Envelope-To"] == "john@example.com"
    assert {p.get_content_type() for p in message.walk()} >= {"text/plain", "text/html"}
    await post_form(client, "/auth/logout", {}, token_from="/auth/unconfirmed")

    response = await auth.login("john@example.com", PASSWORD)
    assert response.status_code == 303
    page = await text(await client.get(response.headers["Location"], follow_redirects=True))
    assert re.search(r"Hello,\s+john!", page)
    assert "You have not confirmed your account yet" in page

    # the link works without being logged in
    stranger = app.test_client()
    response = await stranger.get(link_in(message, "/auth/confirm/"), follow_redirects=True)
    assert response.status_code == 200
    assert "You have confirmed your account" in await text(response)
    assert (await User.get(email="john@example.com")).confirmed

    response = await auth.logout()
    assert response.status_code == 303
    page = await text(await client.get(response.headers["Location"]))
    assert "You have been logged out" in page
    assert await logged_in_as(client) is None


# -- registration -------------------------------------------------------------------------


async def test_registration_writes_account_follow_and_mail_together(app, client):
    await register(client)
    user = await User.get(email="john@example.com").select_related("role")
    assert not user.confirmed and user.role.name == "User"
    assert await Follow.filter(follower_id=user.id, followed_id=user.id).exists()
    assert await Outbox.filter(recipient="john@example.com", status="pending").count() == 1
    assert await logged_in_as(client) == "john"  # signed in, kept at /auth/unconfirmed
    response = await client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/unconfirmed"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"email": "taken@example.com"}, "email", "Email already registered."),
        ({"email": "TAKEN@example.com"}, "email", "Email already registered."),
        ({"username": "taken"}, "username", "Username already in use."),
        ({"username": "Taken"}, "username", "Username already in use."),
        ({"username": "1john"}, "username", "start with a letter"),
        ({"username": "jo hn"}, "username", "start with a letter"),
        ({"username": "x" * 65}, "username", ""),
        ({"email": "not-an-address"}, "email", "Invalid email address."),
        ({"password": "short", "password2": "short"}, "password", "8 to 128 characters"),
        ({"password2": "something else"}, "password2", "Passwords must match."),
    ],
)
async def test_registration_refusals(client, changes, field, message):
    await make_user("taken@example.com", "taken")
    data = {
        "email": "new@example.com",
        "username": "newbie",
        "password": PASSWORD,
        "password2": PASSWORD,
    }
    data.update(changes)
    response = await post_form(client, "/auth/register", data)
    assert response.status_code == 422
    html = await text(response)
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', html)
    assert error and message in error.group(1)
    assert re.search(
        rf'aria-describedby="[^"]*{field}-error"[^>]*aria-invalid="true"', html
    ) or re.search(rf'aria-invalid="true"[^>]*aria-describedby="[^"]*{field}-error"', html)
    # what was typed is kept, except passwords
    assert f'value="{data["username"]}"' in html
    assert PASSWORD not in html and 'type="password" value=""' in html
    assert await User.all().count() == 1
    assert await Outbox.all().count() == 0


async def test_registration_errors_as_htmx_fragment_and_json(client):
    token = await get_csrf(client, "/auth/register")
    bad = {"email": "x@example.com", "username": "x", "password": "short", "password2": "short"}
    response = await client.post(
        "/auth/register", form={**bad, "csrf_token": token}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 422
    html = await text(response)
    assert 'id="auth-form"' in html and "<html" not in html and "8 to 128 characters" in html
    assert "Accept, HX-Request" in response.headers["Vary"]

    headers = {"Accept": "application/json", "X-CSRFToken": token}
    response = await client.post("/auth/register", json=bad, headers=headers)
    assert response.status_code == 400
    data = await response.get_json()
    assert data["error"] == "bad request" and "password" in data["errors"]

    response = await client.post("/auth/register", json={**bad, "username": 5}, headers=headers)
    assert response.status_code == 400
    assert "'username' must be a string" in (await response.get_json())["message"]

    good = {
        "email": "x@example.com",
        "username": "xavier",
        "password": PASSWORD,
        "password2": PASSWORD,
    }
    response = await client.post("/auth/register", json=good, headers=headers)
    assert response.status_code == 201
    data = await response.get_json()
    assert data["username"] == "xavier" and data["url"] == "http://localhost/user/xavier"


async def test_flasky_admin_becomes_administrator_and_hears_of_new_users(app, client, smtp_server):
    app.config["FLASKY_ADMIN"] = "boss@example.com"
    await register(client, "Boss@Example.com", "boss")
    await register(app.test_client(), "ann@example.com", "ann")
    assert (await User.get(username="boss").select_related("role")).role.name == "Administrator"
    assert (await User.get(username="ann").select_related("role")).role.name == "User"
    messages = await mails(app, smtp_server, 4)
    notices = [m for m in messages if m["Subject"] == "[Flasky] New User"]
    assert {m["X-Envelope-To"] for m in notices} == {"boss@example.com"}
    assert any("User ann (ann@example.com) has joined" in body_of(m) for m in notices)
    assert any("http://localhost/user/ann" in body_of(m, "html") for m in notices)


# -- confirmation ---------------------------------------------------------------------------


async def test_confirmation_tokens_refused(app, client, smtp_server):
    await register(client)
    [message] = await mails(app, smtp_server, 1)
    link = link_in(message, "/auth/confirm/")
    user = await User.get(email="john@example.com")
    pw = await fingerprint(app, user)

    expired = aged_token(app, "confirm", {"id": user.id, "pw": pw, "email": user.email}, 3601)
    fresh = aged_token(app, "confirm", {"id": user.id, "pw": pw, "email": user.email}, 3000)
    foreign = aged_token(app, "reset", {"id": user.id, "pw": pw}, 0)  # a reset token
    for token in (expired, foreign, link.rsplit("/", 1)[1] + "x", "nonsense"):
        response = await client.get(f"/auth/confirm/{token}")
        assert response.status_code == 400
        assert "invalid, expired or already used" in await text(response)
    assert not (await User.get(id=user.id)).confirmed

    assert (await client.get(link)).status_code == 302
    response = await client.get(link, headers={"Accept": "application/json"})  # used once already
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "bad request"
    assert (
        await client.get(f"/auth/confirm/{fresh}")
    ).status_code == 400  # account already confirmed


async def test_unconfirmed_gate_and_resend(app, client, auth, smtp_server):
    await make_user("john@example.com", confirmed=False)
    await auth.login()
    response = await client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/unconfirmed"
    response = await client.get("/", headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert await response.get_json() == {"error": "forbidden", "message": "Unconfirmed account"}
    assert (await client.get("/auth/change-password")).status_code == 200  # /auth/* stays open

    page = await text(await client.get("/auth/unconfirmed"))
    assert 'action="/auth/confirm"' in page and "Hello, john!" in page
    assert (await client.post("/auth/confirm")).status_code == 400  # no CSRF token
    response = await post_form(client, "/auth/confirm", {}, token_from="/auth/unconfirmed")
    assert response.status_code == 303 and response.headers["Location"] == "/auth/unconfirmed"
    [message] = await mails(app, smtp_server, 1)
    assert (await client.get(link_in(message, "/auth/confirm/"))).status_code == 302
    assert (await client.get("/")).status_code == 200
    assert (await client.get("/auth/unconfirmed")).status_code == 302  # nothing to wait for


async def test_resend_needs_a_login(client):
    response = await post_form(client, "/auth/confirm", {}, token_from="/auth/login")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/auth/login?next=")


# -- login, logout, sessions -----------------------------------------------------------------


async def test_login_page_three_ways(client):
    page = await client.get("/auth/login")
    html = await text(page)
    assert page.status_code == 200 and "<html" in html
    assert 'name="email"' in html and 'name="password"' in html and 'name="remember_me"' in html
    assert 'href="/auth/reset"' in html and 'href="/auth/register"' in html
    fragment = await client.get("/auth/login", headers={"HX-Request": "true"})
    assert 'id="auth-form"' in await text(fragment) and "<html" not in await text(fragment)
    data = await (
        await client.get("/auth/login", headers={"Accept": "application/json"})
    ).get_json()
    assert data["fields"] == ["email", "password", "remember_me"] and data["csrf_token"]
    assert (
        "Accept, HX-Request" in page.headers["Vary"]
        and "Accept, HX-Request" in fragment.headers["Vary"]
    )


async def test_login_cookie_and_remember_me(client, auth):
    await make_user()
    response = await auth.login()
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("flasky_auth="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires" not in cookie and "Max-Age" not in cookie  # ends with the browser
    first = cookie.split(";")[0]

    response = await auth.login(remember_me="y")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("flasky_auth="))
    assert "Expires" in cookie or "Max-Age" in cookie
    assert cookie.split(";")[0] != first  # renewed at every login


async def test_cookies_are_secure_in_production(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "a production secret, long enough to be real")
    monkeypatch.setenv("FLASKY_BASE_URL", "http://localhost")
    production = create_app(
        "production",
        DATABASE_URL=TEST_DATABASE_URL,
        PASSWORD_HASH_FAST=True,
        FLASKY_MAIL_SENDER_TASK=False,
        FLASKY_MAIL_ERRORS=False,
    )
    async with production.test_app():
        await reset_database()
        await feed_listening(production)
        await Role.insert_roles()
        await make_user()
        client = production.test_client()
        token = await get_csrf(client, "/auth/login")
        form = {"email": "john@example.com", "password": PASSWORD, "csrf_token": token}
        response = await client.post("/auth/login", form=form)
    assert response.status_code == 303
    cookies = response.headers.getlist("Set-Cookie")
    assert cookies and all(
        "Secure" in c and "HttpOnly" in c and "SameSite=Lax" in c for c in cookies
    )


async def test_login_refusals(client, auth):
    await make_user()
    response = await auth.login("john@example.com", "wrong password")
    assert response.status_code == 422
    html = await text(response)
    assert "Invalid email or password." in html and 'value="john@example.com"' in html
    assert await logged_in_as(client) is None
    response = await auth.login("nobody@example.com", PASSWORD)
    assert "Invalid email or password." in await text(response)

    response = await client.post(
        "/auth/login", form={"email": "john@example.com", "password": PASSWORD}
    )
    assert response.status_code == 400  # no CSRF token
    assert await logged_in_as(client) is None


async def test_login_by_json_for_programs(client):
    await make_user()
    schema = await (
        await client.get("/auth/login", headers={"Accept": "application/json"})
    ).get_json()
    headers = {"Accept": "application/json", "X-CSRFToken": schema["csrf_token"]}
    response = await client.post(
        "/auth/login", json={"email": "john@example.com", "password": "nope"}, headers=headers
    )
    assert response.status_code == 401
    assert (await response.get_json())["error"] == "unauthorized"
    body = {"email": "john@example.com", "password": PASSWORD, "remember_me": True}
    response = await client.post("/auth/login", json=body, headers=headers)
    assert response.status_code == 200
    assert await response.get_json() == {
        "message": "You are logged in.",
        "username": "john",
        "confirmed": True,
    }
    assert await logged_in_as(client) == "john"
    response = await client.post(
        "/auth/login", json={"email": "john@example.com", "password": PASSWORD}
    )
    assert response.status_code == 400  # JSON without the X-CSRFToken header


async def test_htmx_login_with_csrf_header(client):
    await make_user()
    token = await get_csrf(client, "/auth/login")
    headers = {"HX-Request": "true", "X-CSRFToken": token}
    response = await client.post(
        "/auth/login", form={"email": "john@example.com", "password": "bad"}, headers=headers
    )
    assert response.status_code == 422 and "Invalid email or password." in await text(response)
    form = {"email": "john@example.com", "password": PASSWORD, "csrf_token": token}
    response = await client.post("/auth/login", form=form, headers=headers)
    assert response.status_code == 200 and response.headers["HX-Redirect"] == "/"


async def test_a_csrf_token_hours_old_still_posts(app, client):
    await make_user()
    token = await get_csrf(client, "/auth/login")
    raw = TimestampSigner(app.secret_key, salt="flasky.csrf").unsign(token).decode()

    def signed(age: int) -> str:
        class Then(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(time.time()) - age

        return Then(app.secret_key, salt="flasky.csrf").sign(raw).decode()

    form = {"email": "john@example.com", "password": PASSWORD}
    response = await client.post("/auth/login", form={**form, "csrf_token": signed(8 * 24 * 3600)})
    assert response.status_code == 400  # past the limit (a week)
    response = await client.post("/auth/login", form={**form, "csrf_token": signed(6 * 3600)})
    assert response.status_code == 303  # a page left open for six hours


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/user/john?tab=posts", "/user/john?tab=posts"),
        ("/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("\\/evil.example", "/"),
        ("/\t/evil.example", "/"),
        (" //evil.example", "/"),
        ("https://evil.example/", "/"),
        ("http:/evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
    ],
)
async def test_next_only_to_local_paths(client, target, expected):
    await make_user()
    page = await client.get("/auth/login", query_string={"next": target})
    token = csrf_from(await text(page))
    form = {"email": "john@example.com", "password": PASSWORD, "csrf_token": token}
    response = await client.post("/auth/login", form=form, query_string={"next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == expected


async def test_login_required_comes_back_with_next(client, auth):
    await make_user()
    response = await client.get("/auth/change-password")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert urlsplit(location).path == "/auth/login" and "next=" in location
    html = await text(await client.get(location))
    action = re.search(r'<form id="auth-form"[^>]* action="([^"]+)"', html).group(1)
    assert action == location
    token = csrf_from(html)
    form = {"email": "john@example.com", "password": PASSWORD, "csrf_token": token}
    response = await client.post(location, form=form)
    assert response.headers["Location"] == "/auth/change-password"


async def test_logout_is_post_only(client, auth):
    await make_user()
    await auth.login()
    assert (await client.get("/auth/logout")).status_code == 405
    assert (await client.post("/auth/logout")).status_code == 400  # no CSRF token
    assert await logged_in_as(client) == "john"
    response = await auth.logout()
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert await logged_in_as(client) is None


# -- throttling ------------------------------------------------------------------------------


async def test_five_failures_on_an_account_throttle_it(client, auth):
    await make_user()
    for n in range(5):
        other_address = {"client": (f"10.0.0.{n + 1}", 5000)}
        token = await get_csrf(client, "/auth/login")
        form = {"email": "john@example.com", "password": "wrong", "csrf_token": token}
        response = await client.post("/auth/login", form=form, scope_base=other_address)
        assert response.status_code == 422
    response = await auth.login()  # the right password, from yet another address
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    assert await logged_in_as(client) is None
    # Basic auth shares the counter
    headers = {**basic("john@example.com", PASSWORD), "Accept": "application/json"}
    response = await client.post("/auth/tokens", headers=headers)
    assert response.status_code == 429
    assert (await response.get_json())["error"] == "too many requests"


async def test_twenty_failures_from_an_address_throttle_it(client, auth):
    await make_user()
    here = {"client": ("10.1.1.1", 5000)}

    async def login(email: str, password: str) -> Any:
        token = await get_csrf(client, "/auth/login")
        form = {"email": email, "password": password, "csrf_token": token}
        return await client.post("/auth/login", form=form, scope_base=here)

    for n in range(19):
        await login(f"someone{n}@example.com", "wrong")
    # failures on made-up accounts lock nobody out of their own account
    assert (await login("john@example.com", PASSWORD)).status_code == 303
    await auth.logout()
    await login("someone@example.com", "wrong")  # the 20th failure from this address
    response = await login("john@example.com", PASSWORD)
    assert response.status_code == 429  # even from a browser that signed in before
    # the same account from another address is fine
    token = await get_csrf(client, "/auth/login")
    form = {"email": "john@example.com", "password": PASSWORD, "csrf_token": token}
    response = await client.post("/auth/login", form=form, scope_base={"client": ("10.9.9.9", 1)})
    assert response.status_code == 303


async def test_old_failures_leave_the_window_and_success_forgives(client, auth):
    await make_user()
    for _ in range(4):
        await auth.login("john@example.com", "wrong")
    assert (await auth.login()).status_code == 303  # forgives the account
    assert not await ThrottleEvent.filter(key="login:account:john@example.com").exists()
    await ThrottleEvent.filter().update(timestamp=utcnow().replace(year=2000))
    for _ in range(4):
        assert (await auth.login("john@example.com", "wrong")).status_code == 422
    assert (await auth.login()).status_code == 303


# -- passwords -------------------------------------------------------------------------------


async def test_change_password(app, client, auth):
    await make_user()
    await auth.login()
    elsewhere = app.test_client()
    token = await get_csrf(elsewhere, "/auth/login")
    await elsewhere.post(
        "/auth/login", form={"email": "john@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert await logged_in_as(elsewhere) == "john"

    path = "/auth/change-password"
    response = await post_form(
        client, path, {"old_password": "wrong", "password": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )
    assert response.status_code == 422 and "Invalid password." in await text(response)
    response = await post_form(
        client, path, {"old_password": PASSWORD, "password": "short", "password2": "short"}
    )
    assert "8 to 128 characters" in await text(response)

    response = await post_form(
        client,
        path,
        {"old_password": PASSWORD, "password": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 303
    assert "Your password has been updated." in await text(await client.get("/"))
    assert await logged_in_as(client) == "john"  # this session renewed
    assert await logged_in_as(elsewhere) is None  # every other session ended
    await auth.logout()
    assert (await auth.login("john@example.com", PASSWORD)).status_code == 422
    assert (await auth.login("john@example.com", NEW_PASSWORD)).status_code == 303


async def test_password_reset(app, client, auth, smtp_server):
    user = await make_user()
    # a known and an unknown address get the same answer; only the known one gets mail
    answers = []
    for address in ("john@example.com", "nobody@example.com"):
        visitor = app.test_client()
        response = await post_form(visitor, "/auth/reset", {"email": address})
        answers.append(
            (
                response.status_code,
                response.headers["Location"],
                await text(await visitor.get("/auth/login")),
            )
        )
    assert answers[0][:2] == answers[1][:2] == (303, "/auth/login")
    assert "An email with instructions to reset your password" in answers[0][2]
    assert answers[0][2].count("instructions") == answers[1][2].count("instructions")
    [message] = await mails(app, smtp_server, 1)
    assert message["X-Envelope-To"] == "john@example.com"
    assert message["Subject"] == "[Flasky] Reset Your Password"
    link = link_in(message, "/auth/reset/")

    html = await text(await client.get(link))
    assert 'name="password"' in html and 'name="password2"' in html
    response = await post_form(client, link, {"password": "short", "password2": "short"})
    assert response.status_code == 422 and "8 to 128 characters" in await text(response)
    for n in range(5):  # locked out (from other addresses): the reset lifts it
        form = {
            "email": "john@example.com",
            "password": "forgotten",
            "csrf_token": await auth.csrf("/auth/login"),
        }
        await client.post("/auth/login", form=form, scope_base={"client": (f"10.1.1.{n}", 1)})
    assert (await auth.login("john@example.com", PASSWORD)).status_code == 429
    response = await post_form(
        client,
        link,
        {"password": NEW_PASSWORD, "password2": NEW_PASSWORD},
        token_from="/auth/reset",
    )
    assert response.status_code == 303 and response.headers["Location"] == "/auth/login"
    assert (await client.get(link)).status_code == 400  # the link died with the old password
    assert (
        await auth.login("john@example.com", NEW_PASSWORD)
    ).status_code == 303  # throttle lifted

    expired = aged_token(
        app,
        "reset",
        {"id": user.id, "pw": await fingerprint(app, await User.get(id=user.id))},
        3601,
    )
    assert (await client.get(f"/auth/reset/{expired}")).status_code == 400
    confirm = aged_token(app, "confirm", {"id": user.id, "pw": "x", "email": user.email}, 0)
    assert (await client.get(f"/auth/reset/{confirm}")).status_code == 400  # wrong purpose


# -- email change ----------------------------------------------------------------------------


async def test_change_email(app, client, auth, smtp_server):
    await make_user()
    await make_user("taken@example.com")
    await auth.login()
    path = "/auth/change_email"
    response = await post_form(client, path, {"email": "new@example.com", "password": "wrong"})
    assert "Invalid password." in await text(response)
    response = await post_form(client, path, {"email": "taken@example.com", "password": PASSWORD})
    assert "Email already registered." in await text(response)
    response = await post_form(client, path, {"email": "New@Example.com", "password": PASSWORD})
    assert response.status_code == 303
    [message] = await mails(app, smtp_server, 1)
    assert message["X-Envelope-To"] == "new@example.com"
    link = link_in(message, "/auth/change_email/")
    assert (await User.get(username="john")).email == "john@example.com"  # not until confirmed

    stranger = app.test_client()
    response = await stranger.get(link)
    assert response.status_code == 302 and response.headers["Location"].startswith(
        "/auth/login?next="
    )
    other = app.test_client()
    await post_form(other, "/auth/login", {"email": "taken@example.com", "password": PASSWORD})
    assert (await other.get(link)).status_code == 400  # someone else's link
    assert (await client.get(link)).status_code == 302
    assert (await User.get(username="john")).email == "new@example.com"
    assert (await client.get(link)).status_code == 400  # used once already
    await auth.logout()
    assert (await auth.login("new@example.com", PASSWORD)).status_code == 303


# -- API tokens ------------------------------------------------------------------------------


async def test_tokens(client, auth):
    await make_user()
    await make_user("ann@example.com", confirmed=False)
    response = await client.post("/auth/tokens", headers=basic("john@example.com", PASSWORD))
    assert response.status_code == 200
    data = await response.get_json()
    assert data["expiration"] == 3600 and data["token"]
    bearer = {"Authorization": f"Bearer {data['token']}", "Accept": "application/json"}
    assert (await client.get("/auth/change-password", headers=bearer)).status_code == 200

    # a token cannot mint tokens, as in the book
    for headers in (bearer, basic(data["token"], "")):
        response = await client.post("/auth/tokens", headers=headers)
        assert response.status_code == 401 and "WWW-Authenticate" in response.headers
    response = await client.post("/auth/tokens", headers=basic("john@example.com", "wrong"))
    assert response.status_code == 401
    response = await client.post("/auth/tokens", headers=basic("ann@example.com", PASSWORD))
    assert response.status_code == 403
    assert await response.get_json() == {"error": "forbidden", "message": "Unconfirmed account"}
    await auth.login()
    response = await post_form(client, "/auth/tokens", {}, token_from="/auth/change-password")
    assert response.status_code == 401  # a cookie session is not a password


async def test_token_dies_with_the_password(app, client):
    user = await make_user()
    data = await (
        await client.post("/auth/tokens", headers=basic("john@example.com", PASSWORD))
    ).get_json()
    async with app.app_context():
        await user.set_password(NEW_PASSWORD)
    await user.save(update_fields=["password_hash"])
    headers = {"Authorization": f"Bearer {data['token']}", "Accept": "application/json"}
    assert (await client.get("/auth/change-password", headers=headers)).status_code == 401


# -- presence --------------------------------------------------------------------------------


async def test_last_seen_refreshed_at_most_once_a_minute(client, auth):
    user = await make_user()
    await auth.login()
    long_ago = utcnow().replace(microsecond=0) - timedelta(minutes=5)
    await User.filter(id=user.id).update(last_seen=long_ago)
    await client.get("/auth/change-password")
    seen = (await User.get(id=user.id)).last_seen
    assert seen > long_ago
    await client.get("/auth/change-password")
    assert (await User.get(id=user.id)).last_seen == seen
