"""Two app processes (two hypercorn servers) on one PostgreSQL database behave as one
application: a session made on one is valid on the other, the login throttle counts
failures from both, and every mail is sent exactly once."""

from __future__ import annotations

import asyncio

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import SMTPSink
from tests.resilience.harness import (
    PASSWORD,
    Browser,
    client_pool,
    fetch,
    free_port,
    report,
    seed,
    server_env,
)

pytestmark = pytest.mark.resilience

REGISTRATIONS_EACH = 12


@pytest.fixture
def smtp_sink():
    """A real SMTP server on loopback that both processes send to."""
    sink = SMTPSink(host="127.0.0.1", port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


async def register(browser: Browser, name: str) -> int:
    """Register through the form; the status."""
    token = await browser.csrf("/auth/register")
    fields = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
    fields.update(password2=PASSWORD, csrf_token=token)
    return (await browser.request("POST", "/auth/register", data=fields)).status_code


async def failed_login(browser: Browser, email: str) -> int:
    """A login with a wrong password through the form; the status."""
    token = await browser.csrf("/auth/login")
    form = {"email": email, "password": "not the password", "csrf_token": token}
    return (await browser.request("POST", "/auth/login", data=form)).status_code


async def test_two_processes_share_sessions_throttle_and_outbox(database, servers, smtp_sink):
    await seed(database, 3, admin=False)
    env = server_env(database, MAIL_PORT=str(smtp_sink.port))
    a, b = await asyncio.gather(servers.start(env, workers=1), servers.start(env, workers=1))
    async with client_pool(16) as pool:
        # A session made on A is valid on B: B shows the signed-in page and accepts a
        # write with the CSRF token A handed out.
        alice = Browser(pool, a.base_url)
        assert (await alice.login("user0@example.com")).status_code == 303
        alice.base_url = b.base_url
        profile = await alice.request("GET", "/edit-profile")
        assert profile.status_code == 200 and 'name="about_me"' in profile.text
        follow = await alice.request(
            "POST",
            "/follow/user1",
            headers={"Accept": "application/json", "X-CSRFToken": alice.token},
        )
        assert follow.status_code == 200 and follow.json()["following"] is True

        # A password changed on B ends the sessions the account had on A.
        other = Browser(pool, a.base_url)
        assert (await other.login("user0@example.com")).status_code == 303
        token = await alice.csrf("/auth/change-password")
        change = {"old_password": PASSWORD, "password": "a new long password"}
        change.update(password2="a new long password", csrf_token=token)
        assert (
            await alice.request("POST", "/auth/change-password", data=change)
        ).status_code == 303
        assert (await other.request("GET", "/edit-profile")).status_code in (302, 303)
        assert (await alice.request("GET", "/edit-profile")).status_code == 200

        # Logging out on B ends the session on A too: a copy of the cookie fails there.
        copied = Browser(pool, a.base_url)
        copied.cookies = dict(alice.cookies)
        assert (await copied.request("GET", "/edit-profile")).status_code == 200
        token = await alice.csrf("/")
        logout = await alice.request("POST", "/auth/logout", data={"csrf_token": token})
        assert logout.status_code == 303
        assert (await copied.request("GET", "/edit-profile")).status_code in (302, 303)

        # Every mail is sent once: both processes register accounts at the same time,
        # and both processes' senders deliver from the one outbox.
        names = [f"new{side}{n}" for side in "ab" for n in range(REGISTRATIONS_EACH)]
        statuses = await asyncio.gather(
            *(
                register(Browser(pool, (a if name[3] == "a" else b).base_url), name)
                for name in names
            )
        )
        assert statuses == [303] * len(names)
        await smtp_sink.wait_for(len(names), timeout=30)
        await asyncio.sleep(2.0)  # a copy claimed by the other sender would come now
        ids = [m["Message-ID"] for m in smtp_sink.messages]
        assert len(ids) == len(set(ids)) == len(names)
        assert sorted(m["To"] for m in smtp_sink.messages) == sorted(
            f"{n}@example.com" for n in names
        )
        outbox = await fetch(database, "SELECT status, attempts FROM outbox")
        assert [(r["status"], r["attempts"]) for r in outbox] == [("sent", 1)] * len(names)

        # The throttle counts failures on both: 3 on A and 2 on B, then both refuse,
        # even the right password.
        mallory = Browser(pool, a.base_url)
        results = [await failed_login(mallory, "user2@example.com") for _ in range(3)]
        mallory.base_url = b.base_url
        results += [await failed_login(mallory, "user2@example.com") for _ in range(2)]
        assert 429 not in results
        for server in (a, b):
            mallory.base_url = server.base_url
            refused = await mallory.login("user2@example.com")
            assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    report(
        f"two processes: session from A valid on B, ended on A by a password change and by"
        f" a logout on B;"
        f" {len(names)} registrations on A and B -> {len(ids)} mails, each sent once;"
        f" 3 failed logins on A + 2 on B -> 429 on both"
    )
