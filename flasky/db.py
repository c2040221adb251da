"""Tortoise configuration (aerich reads `TORTOISE_ORM`), start/stop, query counting.

Tortoise 1.x keeps its state in a context variable and hypercorn runs the ASGI lifespan
in a task of its own, so Tortoise is initialised in our `before_serving` hook with the
global fallback on (see SPEC, known traps), and closed in `after_serving`.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aerich import Command
from quart import Quart, Response, request
from tortoise import BaseDBAsyncClient, Tortoise
from tortoise.backends.asyncpg import client as pg_client
from tortoise.backends.base_postgres import client as base_pg
from tortoise.backends.sqlite import client as sqlite_client

from flasky.config import load_config

log = logging.getLogger("flasky.db")

MODELS = ["flasky.models", "aerich.models"]


def tortoise_config(url: str) -> dict[str, Any]:
    """The Tortoise config dict for one database URL."""
    return {
        "connections": {"default": url},
        "apps": {"models": {"models": MODELS, "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


def _aerich_url() -> str:
    return load_config()["DATABASE_URL"]


class _LazyConfig(dict):
    """aerich's `tortoise_orm` setting: resolved from the environment when first read."""

    def _fill(self) -> None:
        if not dict.__len__(self):
            self.update(tortoise_config(_aerich_url()))

    def __getitem__(self, key: str) -> Any:
        self._fill()
        return dict.__getitem__(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        self._fill()
        return dict.get(self, key, default)

    def __iter__(self) -> Iterator[str]:
        self._fill()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._fill()
        return dict.__len__(self)

    def keys(self) -> Any:
        self._fill()
        return dict.keys(self)

    def items(self) -> Any:
        self._fill()
        return dict.items(self)


TORTOISE_ORM = _LazyConfig()


def check_url(url: str) -> None:
    """Refuse a DATABASE_URL Tortoise cannot use, with one clear sentence."""
    scheme = urlsplit(url).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "asyncpg", "psycopg", "mysql"}:
        raise ValueError(f"DATABASE_URL {url!r} is not a database URL (sqlite://… or postgres://…)")


async def connect(url: str) -> None:
    """Initialise Tortoise for `url`, reachable from every task of this process."""
    check_url(url)
    install_query_hooks()
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)


async def disconnect() -> None:
    """Close every Tortoise connection."""
    await Tortoise.close_connections()


async def ping() -> None:
    """Run a trivial query; raises when the database does not answer."""
    await Tortoise.get_connection("default").execute_query("SELECT 1")


def dialect() -> str:
    """'sqlite' or 'postgres' (or another Tortoise dialect name)."""
    return Tortoise.get_connection("default").capabilities.dialect


def init_app(app: Quart) -> None:
    """Connect when the server starts, close when it stops; count queries per request."""

    @app.before_serving
    async def _open() -> None:
        await connect(app.config["DATABASE_URL"])

    @app.after_serving
    async def _close() -> None:
        await disconnect()

    @app.before_request
    async def _start_counting() -> None:
        _stats.set(QueryStats(route=f"{request.method} {request.path}"))

    @app.after_request
    async def _report(response: Response) -> Response:
        if app.config["FLASKY_QUERY_COUNT_HEADER"]:
            stats = _stats.get()
            if stats is not None:
                response.headers["X-Query-Count"] = str(stats.count)
        return response

    app.config.setdefault("FLASKY_SLOW_DB_QUERY_TIME", 0.5)
    global _slow_threshold
    _slow_threshold = float(app.config["FLASKY_SLOW_DB_QUERY_TIME"])


# -- query counting and the slow-query log ---------------------------------------------


@dataclass
class QueryStats:
    """Queries run in one request (or one `count_queries` block)."""

    route: str = ""
    count: int = 0
    statements: list[str] = field(default_factory=list)


_stats: contextvars.ContextVar[QueryStats | None] = contextvars.ContextVar(
    "flasky_query_stats", default=None
)
_slow_threshold = 0.5
_METHODS = (
    "execute_insert",
    "execute_many",
    "execute_query",
    "execute_query_dict",
    "execute_script",
)
_installed = False
_counted: set[Callable[..., Awaitable[Any]]] = set()  # the wrappers, never wrapped twice


@contextmanager
def count_queries() -> Iterator[QueryStats]:
    """Count the queries run inside the block (in this task and tasks it starts)."""
    stats = QueryStats(route="count_queries")
    token = _stats.set(stats)
    try:
        yield stats
    finally:
        _stats.reset(token)


def _wrap(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def counted(self, query: str, *args: Any, **kwargs: Any) -> Any:
        stats = _stats.get()
        if stats is not None:
            stats.count += 1
            stats.statements.append(query)
        started = time.perf_counter()
        try:
            return await method(self, query, *args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            if elapsed >= _slow_threshold:
                log.warning(
                    "slow query %.3fs route=%s statement=%s parameters=%s",
                    elapsed,
                    stats.route if stats else "-",
                    query,
                    _shorten(repr(args[0]) if args else "None"),
                )

    _counted.add(counted)
    return counted


def _shorten(text: str, limit: int = 500) -> str:
    """A bulk insert's parameters can run to megabytes: log their start only."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def install_query_hooks() -> None:
    """Wrap the execute methods of the backends we ship for, once per process."""
    global _installed
    if _installed:
        return
    classes = (
        sqlite_client.SqliteClient,
        sqlite_client.SqliteTransactionWrapper,
        base_pg.BasePostgresClient,
        pg_client.AsyncpgDBClient,
        pg_client.TransactionWrapper,
    )
    for cls in classes:
        for name in _METHODS:
            method = cls.__dict__.get(name)
            if method is not None and method not in _counted:
                setattr(cls, name, _wrap(method))
    _installed = True


# Rows per statement batch of `insert_rows`.
BATCH_SIZE = 1000


class Sql:
    """SQL text and its parameters, with the dialect's placeholders: `sql(value)` keeps
    the value and answers its placeholder (`$n` on PostgreSQL, `?` on SQLite: call it
    in the order the text has them); `sql.params` are the values to send."""

    def __init__(self, dialect: str) -> None:
        self.postgres = dialect == "postgres"
        self.params: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}" if self.postgres else "?"


async def insert_rows(
    conn: BaseDBAsyncClient, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Insert `rows` of checked values into `table`, BATCH_SIZE rows per statement batch,
    on `conn` (a transaction's). Values are what Tortoise's fields would send (aware
    datetimes, bools, str, int): `bulk_create` without building model instances (the
    bulk load's 150,000 rows, the search index's tags and mentions)."""
    if conn.capabilities.dialect == "postgres":
        marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
    else:
        marks = ", ".join("?" for _ in columns)
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'
    for i in range(0, len(rows), BATCH_SIZE):
        await conn.execute_many(sql, rows[i : i + BATCH_SIZE])


MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")


async def upgrade(url: str) -> list[str]:
    """Apply committed migrations that this database has not seen (aerich upgrade)."""
    check_url(url)
    install_query_hooks()
    command = Command(tortoise_config=tortoise_config(url), app="models", location=MIGRATIONS)
    await command.init()
    return await command.upgrade(run_in_transaction=True)
