"""Shared fixtures: the app on a fresh database, a client, users, form login, a real SMTP
server on loopback, and CSRF helpers.

The database is SQLite in memory unless TEST_DATABASE_URL names another (PostgreSQL in
CI): then the committed migrations are applied once and every test starts from empty
tables.
"""

from __future__ import annotations

import asyncio
import gc
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from tortoise import Tortoise

from flasky import create_app, db, feed, search
from flasky.models import Role, User

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or "sqlite://:memory:"
IS_SQLITE_MEMORY = TEST_DATABASE_URL.startswith("sqlite://:memory:")
PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
HX_CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')

os.environ.setdefault("FLASKY_CONFIG", "testing")


# Every table a test may write, children first.
TABLES = (
    "post_search",
    "post_mentions",
    "post_tags",
    "notification_actors",
    "notifications",
    "sessions",
    "comments",
    "posts",
    "follows",
    "users",
    "roles",
    "outbox",
    "throttle_events",
    "events",
    "idempotent_requests",
)


def pytest_configure(config: pytest.Config) -> None:
    """On a server database, bring the schema to head once per session."""
    if IS_SQLITE_MEMORY or TEST_DATABASE_URL.startswith("sqlite"):
        return

    async def drop() -> None:
        await db.connect(TEST_DATABASE_URL)
        conn = Tortoise.get_connection("default")
        await conn.execute_script("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        await db.disconnect()

    async def migrate() -> None:
        await db.upgrade(TEST_DATABASE_URL)
        await db.disconnect()

    # Two event loops: a closed Tortoise context stays current in the task that closed it,
    # and aerich's own init would then find no connections.
    asyncio.run(drop())
    asyncio.run(migrate())


async def reset_database() -> None:
    """Start a test from empty tables (schema from the models on SQLite memory); what the
    process cached from the last database is dropped, as a bulk load's event would."""
    feed.VERSIONS.move([feed.EVERYTHING])
    if IS_SQLITE_MEMORY:
        await Tortoise.generate_schemas(safe=True)
        await search.create_schema()
        return
    conn = Tortoise.get_connection("default")
    if db.dialect() == "postgres":
        await conn.execute_script(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in TABLES) + " RESTART IDENTITY CASCADE"
        )
    else:
        await Tortoise.generate_schemas(safe=True)
        await search.create_schema()
        for table in TABLES:
            await conn.execute_script(f'DELETE FROM "{table}"')


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Per-test overrides of the testing configuration (override this fixture)."""
    return {}


@pytest.fixture
async def app(app_config: dict[str, Any]) -> AsyncIterator[Any]:
    # The last test's garbage goes now, not in the middle of compiling this app's URL
    # rules: a collection run inside werkzeug's `ast.parse` sometimes trips CPython
    # 3.11.7's "AST constructor recursion depth mismatch" (SystemError) — seen once in
    # eight runs of tests/test_live.py, never with this.
    gc.collect()
    application = create_app("testing", DATABASE_URL=TEST_DATABASE_URL, **app_config)
    async with application.test_app():
        await reset_database()
        await Role.insert_roles()
        await feed_listening(application)
        yield application


async def feed_listening(application: Any, timeout: float = 5.0) -> None:
    """Wait until the app's change-feed listener hears the (new) database."""
    listener = feed.listener_of(application)
    if listener.task is not None:
        await asyncio.wait_for(listener.connected.wait(), timeout)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


async def make_user(
    email: str = "john@example.com",
    username: str | None = None,
    password: str = PASSWORD,
    *,
    confirmed: bool = True,
    role: str | None = None,
    **extra: Any,
) -> User:
    """A saved user that follows itself (through the same path registration uses)."""
    username = username or email.split("@")[0].replace("-", "_")
    user = await User.register(email=email, username=username, password=password, **extra)
    changed = []
    if confirmed:
        user.confirmed = True
        changed.append("confirmed")
    if role:
        user.role = await Role.get(name=role)
        changed.append("role_id")
    if changed:
        await user.save(update_fields=changed)
    return await User.get(id=user.id).select_related("role")


@pytest.fixture
def user_factory() -> Any:
    return make_user


def csrf_from(html: str) -> str:
    """The CSRF token of the first form (or of `hx-headers`) in a page."""
    match = CSRF_RE.search(html)
    if match:
        return match.group(1) or match.group(2)
    match = HX_CSRF_RE.search(html)
    assert match, "no CSRF token in page"
    return match.group(1)


async def get_csrf(client: Any, path: str = "/auth/login") -> str:
    response = await client.get(path)
    return csrf_from(await response.get_data(as_text=True))


@dataclass
class AuthActions:
    """Log in and out through the real forms (flaskr's AuthActions)."""

    client: Any

    async def login(
        self, email: str = "john@example.com", password: str = PASSWORD, **extra: Any
    ) -> Any:
        token = await get_csrf(self.client, "/auth/login")
        form = {"email": email, "password": password, "csrf_token": token, **extra}
        return await self.client.post("/auth/login", form=form)

    async def logout(self) -> Any:
        token = await get_csrf(self.client, "/")
        return await self.client.post("/auth/logout", form={"csrf_token": token})

    async def csrf(self, path: str = "/") -> str:
        return await get_csrf(self.client, path)


@pytest.fixture
def auth(client: Any) -> AuthActions:
    return AuthActions(client)


# -- a real SMTP server on loopback ----------------------------------------------------


@dataclass
class SMTPSink:
    """Messages received by the aiosmtpd server, parsed."""

    host: str
    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        msg = message_from_bytes(envelope.content)
        msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 OK"

    async def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[Message]:
        """Wait until `count` messages have arrived."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.messages) < count:
            if loop.time() > deadline:
                raise AssertionError(f"expected {count} messages, got {len(self.messages)}")
            await asyncio.sleep(0.05)
        return self.messages


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[SMTPSink]:
    sink = SMTPSink(host="127.0.0.1", port=free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


def query_count(response: Any) -> int:
    """Queries the request ran, from the X-Query-Count header."""
    return int(response.headers["X-Query-Count"])
