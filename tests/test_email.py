"""The outbox: multipart mail from templates, written in the caller's transaction, sent by
a sender that claims rows atomically, retries while SMTP is down, survives restarts, never
sends twice with two senders, gives up after a day; `flasky mail`; ERROR logs mailed to
the administrator once per distinct error per hour. Against a real aiosmtpd on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from tortoise.transactions import in_transaction

from flasky import create_app, db, email, errormail
from flasky.models import Outbox, Role, User, utcnow
from tests.conftest import (
    PASSWORD,
    TEST_DATABASE_URL,
    SMTPSink,
    csrf_from,
    feed_listening,
    free_port,
    reset_database,
)

ROOT = Path(__file__).resolve().parents[1]
ON_POSTGRES = TEST_DATABASE_URL.startswith(("postgres", "asyncpg", "psycopg"))
FAST_RETRY = {"FLASKY_MAIL_RETRY_BASE": 0.2, "FLASKY_MAIL_POLL_INTERVAL": 0.1}


def smtp_config(host: str, port: int) -> dict[str, Any]:
    return {"MAIL_SERVER": host, "MAIL_PORT": port, "MAIL_USE_TLS": False, "MAIL_TIMEOUT": 5.0}


@pytest.fixture
def app_config(smtp_server: SMTPSink) -> dict[str, Any]:
    return smtp_config(smtp_server.host, smtp_server.port)


@contextlib.contextmanager
def smtp_on(port: int) -> Any:
    """A real SMTP server on a chosen port, started late (SMTP "coming back up")."""
    sink = SMTPSink(host="127.0.0.1", port=port)
    controller = Controller(sink, hostname=sink.host, port=port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
async def durable_url(tmp_path: Path) -> str:
    """A database that outlives an app: a file on SQLite, the test database on
    PostgreSQL; emptied, with roles."""
    url = f"sqlite://{tmp_path / 'outbox.sqlite'}" if not ON_POSTGRES else TEST_DATABASE_URL
    await db.connect(url)
    try:
        await reset_database()
        await Role.insert_roles()
    finally:
        await db.disconnect()
    return url


@contextlib.asynccontextmanager
async def serving(url: str, **config: Any) -> AsyncIterator[Any]:
    """An app serving (before/while/after_serving hooks run) on an existing database."""
    application = create_app("testing", DATABASE_URL=url, **config)
    async with application.test_app():
        yield application


async def register(
    client: Any, email_address: str = "john@example.com", username: str = "john"
) -> Any:
    token = csrf_from(await (await client.get("/auth/register")).get_data(as_text=True))
    form = {
        "email": email_address,
        "username": username,
        "password": PASSWORD,
        "password2": PASSWORD,
        "csrf_token": token,
    }
    response = await client.post("/auth/register", form=form)
    assert response.status_code == 303, await response.get_data(as_text=True)
    return response


async def deliver(app: Any) -> int:
    async with app.app_context():
        return await email.deliver_all()


async def wait_until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def part(message: Any, subtype: str) -> str:
    found = next(p for p in message.walk() if p.get_content_type() == f"text/{subtype}")
    return found.get_payload(decode=True).decode()


# -- writing --------------------------------------------------------------------------------


async def test_mail_is_multipart_from_templates_with_prefix(app, smtp_server):
    async with app.test_request_context("/"):
        user = await User.register(email="ann@example.com", username="ann", password=PASSWORD)
        token = user.generate_confirmation_token()
        await email.queue_mail(
            user.email, "Confirm Your Account", "confirm", user=user, token=token
        )
    assert await deliver(app) == 1
    [message] = await smtp_server.wait_for(1)
    assert message["Subject"] == "[Flasky] Confirm Your Account"
    assert message["From"] == "Flasky Admin <flasky@example.com>"
    assert message["X-Envelope-To"] == "ann@example.com"
    assert message.get_content_type() == "multipart/alternative"
    link = f"http://localhost/auth/confirm/{token}"
    assert "Dear ann," in part(message, "plain") and link in part(message, "plain")
    assert f'href="{link}"' in part(message, "html")
    row = await Outbox.get()
    assert (row.status, row.attempts, row.sent_at is not None) == ("sent", 1, True)


async def test_mail_commits_or_rolls_back_with_its_transaction(app):
    async with app.test_request_context("/"):
        with pytest.raises(RuntimeError):
            async with in_transaction() as conn:
                await email.queue_mail("a@example.com", "Hi", "error", connection=conn, report="x")
                raise RuntimeError("the change that caused the mail failed")
        assert await Outbox.all().count() == 0

        async def fail_after_queueing(user: User, conn: Any) -> None:
            await email.queue_mail(user.email, "Hi", "error", connection=conn, report="x")
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            await User.register(
                email="b@example.com",
                username="b",
                password=PASSWORD,
                on_created=fail_after_queueing,
            )
    assert await Outbox.all().count() == 0
    assert not await User.filter(email="b@example.com").exists()


async def test_without_mail_server_the_message_goes_to_the_log(app, client, caplog):
    app.config["MAIL_SERVER"] = ""
    caplog.set_level(logging.INFO, logger="flasky.email")
    await register(client)
    assert await deliver(app) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "flasky.email")
    assert "To: john@example.com" in logged
    assert "[Flasky] Confirm Your Account" in logged
    assert re.search(r"http://localhost/auth/confirm/\S+", logged)
    assert await Outbox.filter(status="sent").count() == 1


# -- retrying, durability ------------------------------------------------------------------


async def test_smtp_down_while_registering_then_back_up(app, client):
    port = free_port()  # nothing listens here yet: SMTP is down
    app.config.update(smtp_config("127.0.0.1", port), **FAST_RETRY)
    sender = email.MailSender(app)
    sender.start()
    try:
        await register(client)
        await wait_until(lambda: Outbox.filter(attempts__gte=2, status="pending").exists())
        row = await Outbox.get()
        assert row.sent_at is None and row.last_error
        with smtp_on(port) as sink:
            [message] = await sink.wait_for(1)
            await wait_until(lambda: Outbox.filter(status="sent").exists())
            await asyncio.sleep(0.5)  # a duplicate would have arrived by now
            assert len(sink.messages) == 1
    finally:
        await sender.stop()
    assert message["Subject"] == "[Flasky] Confirm Your Account"


async def test_mail_survives_an_app_restart(durable_url):
    port = free_port()
    config = {**smtp_config("127.0.0.1", port), **FAST_RETRY, "FLASKY_MAIL_SENDER_TASK": True}
    async with serving(durable_url, **config) as first:
        await register(first.test_client())
        await wait_until(lambda: Outbox.filter(attempts__gte=1).exists())
    # the first process is gone; SMTP comes back; a new process starts on the same data
    with smtp_on(port) as sink:
        async with serving(durable_url, **config):
            [message] = await sink.wait_for(1)
            await wait_until(lambda: Outbox.filter(status="sent").exists())
    assert message["X-Envelope-To"] == "john@example.com"
    assert len(sink.messages) == 1


async def queue_many(app: Any, count: int) -> None:
    async with app.app_context(), in_transaction() as conn:
        for n in range(count):
            await email.queue_mail(
                f"user{n}@example.com", f"Mail {n}", "error", connection=conn, report=str(n)
            )


def assert_each_once(messages: list[Any], count: int) -> None:
    ids = [m["Message-ID"] for m in messages]
    assert len(ids) == count
    assert len(set(ids)) == count
    assert {m["X-Envelope-To"] for m in messages} == {f"user{n}@example.com" for n in range(count)}


async def test_two_sender_loops_share_one_outbox(durable_url, smtp_server):
    count = 60
    config = {**smtp_config(smtp_server.host, smtp_server.port), "FLASKY_MAIL_BATCH": 4}
    async with serving(durable_url, **config) as app:
        await queue_many(app, count)

        async def loop() -> int:
            handled = 0
            async with app.app_context():
                while n := await email.deliver_due():
                    handled += n
            return handled

        first, second = await asyncio.gather(loop(), loop())
        assert first + second == count
        assert first and second, "both loops should have taken part"
        assert await Outbox.filter(status="sent").count() == count
    assert_each_once(smtp_server.messages, count)


SENDER_PROCESS = r"""
import asyncio, sys
from flasky import create_app, db, email

async def main(url, host, port):
    app = create_app("testing", DATABASE_URL=url, MAIL_SERVER=host, MAIL_PORT=int(port),
                     MAIL_USE_TLS=False, FLASKY_MAIL_BATCH=3)
    async with app.app_context():
        await db.connect(url)
        await db.ping()
        print("ready", flush=True)
        sys.stdin.readline()  # both processes start sending together
        handled = 0
        while n := await email.deliver_due():
            handled += n
        await db.disconnect()
    print(handled, flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_two_sender_processes_share_one_outbox(durable_url, smtp_server):
    """On PostgreSQL two real processes; SQLite serves one process, so there two
    concurrent sender loops in one process share the file."""
    count = 80
    if not ON_POSTGRES:
        config = {**smtp_config(smtp_server.host, smtp_server.port), "FLASKY_MAIL_BATCH": 3}
        async with serving(durable_url, **config) as app:
            await queue_many(app, count)
            async with app.app_context():
                results = await asyncio.gather(email.deliver_all(), email.deliver_all())
    else:
        async with serving(durable_url) as app:
            await queue_many(app, count)
        args = [durable_url, smtp_server.host, str(smtp_server.port)]
        env = {**os.environ, "FLASKY_CONFIG": "testing"}
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                SENDER_PROCESS,
                *args,
                cwd=ROOT,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        for proc in procs:
            line = await asyncio.wait_for(proc.stdout.readline(), 60)
            assert line.strip() == b"ready", (line, (await proc.stderr.read()).decode()[-2000:])
        for proc in procs:
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        outputs = [await p.communicate() for p in procs]
        assert all(p.returncode == 0 for p in procs), [err.decode()[-2000:] for _, err in outputs]
        results = [int(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    assert sum(results) == count
    assert all(results), f"both senders should have taken part: {results}"
    await smtp_server.wait_for(count)
    await asyncio.sleep(0.3)
    assert_each_once(smtp_server.messages, count)


async def test_a_stale_claim_returns_to_the_queue(app, smtp_server):
    async with app.app_context():
        await email.queue_mail("a@example.com", "Hi", "error", report="x")
    # a process claimed it and died mid-send: its lease ran out a minute ago
    await Outbox.all().update(status="sending", claimed_until=utcnow() - timedelta(minutes=1))
    assert await deliver(app) == 1
    await smtp_server.wait_for(1)
    assert (await Outbox.get()).status == "sent"


async def test_a_live_claim_is_left_alone(app, smtp_server):
    async with app.app_context():
        await email.queue_mail("a@example.com", "Hi", "error", report="x")
    await Outbox.all().update(status="sending", claimed_until=utcnow() + timedelta(minutes=5))
    assert await deliver(app) == 0
    assert smtp_server.messages == []


async def test_backoff_doubles_up_to_an_hour(app):
    async with app.app_context():
        assert [email.backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
        assert email.backoff(20) == timedelta(hours=1)


async def test_retries_back_off_then_give_up_after_a_day(app):
    app.config.update(smtp_config("127.0.0.1", free_port()))  # SMTP down
    async with app.app_context():
        await email.queue_mail("a@example.com", "Hi", "error", report="x")
    before = utcnow()
    await deliver(app)
    row = await Outbox.get()
    assert (row.status, row.attempts) == ("pending", 1)
    assert timedelta(seconds=25) < row.next_attempt_at - before < timedelta(seconds=40)
    assert await deliver(app) == 0  # not due yet
    # a day later it is still failing
    await Outbox.all().update(
        created_at=utcnow() - timedelta(days=1, minutes=1), next_attempt_at=utcnow()
    )
    await deliver(app)
    row = await Outbox.get()
    assert (row.status, row.attempts) == ("failed", 2)
    assert "Error" in row.last_error or "refused" in row.last_error.lower()


# -- flasky mail ----------------------------------------------------------------------------


def flasky_mail(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "flasky"), "mail", *args]
    environment = {**os.environ, "FLASKY_CONFIG": "testing", "TEST_DATABASE_URL": url, **env}
    return subprocess.run(
        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )


async def test_flasky_mail_lists_retries_and_sends(durable_url, smtp_server):
    async with serving(durable_url) as app, app.app_context():
        for n, status in enumerate(["pending", "sent", "failed", "failed"]):
            row = await email.queue_mail(f"u{n}@example.com", f"Mail {n}", "error", report="x")
            await Outbox.filter(id=row.id).update(
                status=status,
                attempts=3 if status == "failed" else 0,
                last_error="SMTPConnectError: down" if status == "failed" else None,
            )
    listing = await asyncio.to_thread(flasky_mail, durable_url)
    assert listing.returncode == 0, listing.stderr
    assert "Outbox: 1 pending, 0 sending, 1 sent, 2 failed" in listing.stdout
    assert "u2@example.com" in listing.stdout and "SMTPConnectError: down" in listing.stdout

    retried = await asyncio.to_thread(
        flasky_mail,
        durable_url,
        "--retry",
        "--send",
        MAIL_SERVER=smtp_server.host,
        MAIL_PORT=str(smtp_server.port),
        MAIL_USE_TLS="false",
    )
    assert retried.returncode == 0, retried.stderr
    assert "Re-queued 2 failed message(s)." in retried.stdout
    assert "Outbox: 0 pending, 0 sending, 4 sent, 0 failed" in retried.stdout
    await smtp_server.wait_for(3)
    assert sorted(m["X-Envelope-To"] for m in smtp_server.messages) == [
        "u0@example.com",
        "u2@example.com",
        "u3@example.com",
    ]


# -- ERROR logs mailed to the administrator -------------------------------------------------


async def test_errors_are_mailed_to_the_admin_once_per_hour(smtp_server):
    config = {
        **smtp_config(smtp_server.host, smtp_server.port),
        "FLASKY_MAIL_ERRORS": True,
        "FLASKY_ADMIN": "admin@example.com",
    }
    application = create_app("testing", DATABASE_URL=TEST_DATABASE_URL, **config)

    async def boom(n: int) -> str:
        raise RuntimeError(f"boom {n}")

    async def other() -> str:
        raise ValueError("another bug")

    application.add_url_rule("/boom/<int:n>", "boom", boom)
    application.add_url_rule("/other", "other", other)
    async with application.test_app():
        await reset_database()
        await feed_listening(application)
        await Role.insert_roles()
        handler = application.extensions["flasky_error_mail"]
        client = application.test_client()
        for n in (1, 2, 3):
            assert (await client.get(f"/boom/{n}")).status_code == 500
        await handler.drain()
        assert await Outbox.all().count() == 1
        assert (await client.get("/other")).status_code == 500
        await handler.drain()
        assert await Outbox.all().count() == 2

        # another process (its own handler, same outbox) does not mail the same error again
        twin = errormail.ErrorMailHandler(application)
        twin.loop = asyncio.get_running_loop()
        logging.getLogger("flasky").addHandler(twin)
        try:
            assert (await client.get("/boom/4")).status_code == 500
            await twin.drain()
        finally:
            logging.getLogger("flasky").removeHandler(twin)
        assert await Outbox.all().count() == 2

        # from a worker thread too; and never about the mail system itself (no recursion)
        await asyncio.to_thread(logging.getLogger("flasky.worker").error, "disk full")
        logging.getLogger("flasky.email").error("mail #1 failed for good")
        await asyncio.sleep(0.05)
        await handler.drain()
        assert await Outbox.all().count() == 3
        assert await deliver(application) == 3
    messages = await smtp_server.wait_for(3)
    assert {m["X-Envelope-To"] for m in messages} == {"admin@example.com"}
    subjects = sorted(m["Subject"] for m in messages)
    assert subjects == [
        "[Flasky] Error: disk full",
        "[Flasky] Error: unhandled error on GET /boom/1",
        "[Flasky] Error: unhandled error on GET /other",
    ]
    report = part(next(m for m in messages if "/boom/1" in m["Subject"]), "plain")
    assert "RuntimeError: boom 1" in report and "Traceback" in report


async def test_errors_are_not_mailed_outside_production(app, client):
    assert not app.config.get("FLASKY_MAIL_ERRORS") and not app.config["PRODUCTION"]
    handler = app.extensions["flasky_error_mail"]
    assert handler not in logging.getLogger("flasky").handlers
    logging.getLogger("flasky.test").error("not mailed")
    await handler.drain()
    assert await Outbox.all().count() == 0


async def test_housekeeping_drops_old_throttle_events_and_idle_sessions(app):
    from datetime import timedelta

    from flasky.models import LoginSession, ThrottleEvent, utcnow
    from tests.conftest import make_user

    user = await make_user("keeper@example.com")
    old, recent = utcnow() - timedelta(days=2), utcnow() - timedelta(hours=1)
    await ThrottleEvent.create(key="login:account:old", timestamp=old)
    await ThrottleEvent.create(key="login:account:new", timestamp=recent)
    await LoginSession.create(
        token_hash="a" * 64, user=user, last_used=utcnow() - timedelta(days=400)
    )
    await LoginSession.create(token_hash="b" * 64, user=user, last_used=recent)
    async with app.app_context():
        await email.housekeeping()
    assert await ThrottleEvent.filter().values_list("key", flat=True) == ["login:account:new"]
    assert await LoginSession.filter().values_list("token_hash", flat=True) == ["b" * 64]
