"""`flasky load DIR`: the CSV data set (`flasky dataset`, `flasky.generate`) into empty
tables, ids kept.

Every file is checked completely before anything is written, and everything is written
in one transaction: a malformed row stops the load with one line naming the file and
line, and leaves the database as it was. One password hash serves every account; bodies
render through `text.render_many` in worker processes, like any path that sets a body.
"""

from __future__ import annotations

import asyncio
import csv
import os
import re
from collections.abc import Awaitable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient

from flasky import db, search, security
from flasky.feed import EVERYTHING, change
from flasky.models import Comment, Follow, Post, Role, User, email_hash
from flasky.models.content import settled_many
from flasky.text import (
    COMMENT_MAX,
    MAX_NESTING,
    POST_MAX,
    nesting,
    render_many,
    render_plain,
)

CHUNK_SIZE = 2000  # bodies rendered per unit of work
DATASET_PASSWORD = "cat"  # every account of the data set (`flasky.generate.PASSWORD`)
USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,63}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_UNDECODED = re.compile("[\udc80-\udcff]")
# Below this many bodies to render, starting worker processes costs more than it saves.
POOL_THRESHOLD = 4000

FILES: dict[str, tuple[str, ...]] = {
    "users.csv": (
        "id",
        "email",
        "username",
        "name",
        "location",
        "about_me",
        "role",
        "confirmed",
        "member_since",
        "last_seen",
    ),
    "follows.csv": ("follower_id", "followed_id", "timestamp"),
    "posts.csv": ("id", "author_id", "timestamp", "body"),
    "comments.csv": ("id", "post_id", "author_id", "timestamp", "disabled", "body"),
}
TABLES = ("users", "follows", "posts", "comments")


class LoadError(Exception):
    """A data set that cannot be loaded; the message is one line naming file and line."""


# -- reading and checking the CSV files ----------------------------------------------------


def _records(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of each record of `path`, the header and column count checked."""
    columns = FILES[path.name]
    try:
        # undecodable bytes become lone surrogates, found below with their line number
        handle = path.open(newline="", encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise LoadError(f"{path.name}: cannot read it ({exc.strerror})") from None
    with handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != columns:
                raise LoadError(f"{path.name} line 1: the header must be {','.join(columns)}")
            start = reader.line_num + 1
            for fields in reader:
                if len(fields) != len(columns):
                    raise LoadError(
                        f"{path.name} line {start}: {len(fields)} columns, expected {len(columns)}"
                    )
                if any(not f.isascii() and _UNDECODED.search(f) for f in fields):
                    raise LoadError(f"{path.name} line {start}: not UTF-8")
                yield start, dict(zip(columns, fields, strict=True))
                start = reader.line_num + 1
        except csv.Error as exc:
            raise LoadError(f"{path.name} line {reader.line_num}: {exc}") from None


def _int(value: str, column: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{column} {value!r} is not an integer") from None
    if number < 1:
        raise ValueError(f"{column} {value!r} must be positive")
    return number


def _flag(value: str, column: str) -> bool:
    text = value.strip().lower()
    if text in {"1", "true", "t", "yes"}:
        return True
    if text in {"0", "false", "f", "no"}:
        return False
    raise ValueError(f"{column} {value!r} is not 0 or 1")


def _timestamp(value: str, column: str) -> datetime:
    """ISO 8601; naive values are UTC (the data set writes naive UTC)."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{column} {value!r} is not an ISO 8601 timestamp") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _text(value: str, column: str, limit: int, required: bool = False) -> str | None:
    if len(value) > limit:
        raise ValueError(f"{column} is {len(value)} characters, at most {limit} allowed")
    if required and not value.strip():
        raise ValueError(f"{column} is empty")
    return value if value.strip() else None


def _body(value: str, limit: int) -> str:
    if not value.strip():
        raise ValueError("body is empty")
    if len(value) > limit:
        raise ValueError(f"body is {len(value)} characters, at most {limit} allowed")
    if nesting(value) > MAX_NESTING:
        raise ValueError(f"body nests lists or quotes deeper than {MAX_NESTING} levels")
    return value


def _unique(seen: set[Any], value: Any, column: str) -> None:
    if value in seen:
        raise ValueError(f"{column} {value!r} appears twice")
    seen.add(value)


@dataclass
class DataSet:
    """The checked rows of the four files, ready to insert."""

    users: list[dict[str, Any]] = field(default_factory=list)
    follows: list[tuple[int, int, datetime]] = field(default_factory=list)
    posts: list[tuple[int, int, datetime, str]] = field(default_factory=list)
    comments: list[tuple[int, int, int, datetime, bool, str]] = field(default_factory=list)


def _check_file(path: Path, check: Any) -> None:
    """Run `check(row)` on each record; a ValueError becomes a LoadError naming the line."""
    for line, row in _records(path):
        try:
            check(row)
        except ValueError as exc:
            raise LoadError(f"{path.name} line {line}: {exc}") from None


def read_dataset(directory: Path, role_names: set[str]) -> DataSet:
    """Read and check every file of the data set in `directory` (nothing is written)."""
    if not directory.is_dir():
        raise LoadError(f"{directory}: no such directory")
    for name in FILES:
        if not (directory / name).is_file():
            raise LoadError(f"{name}: not found in {directory}")
    data = DataSet()
    ids: set[int] = set()
    emails: set[str] = set()
    names: set[str] = set()

    def user(row: dict[str, str]) -> None:
        user_id = _int(row["id"], "id")
        email = row["email"].strip().lower()
        if len(email) > 254 or not EMAIL_RE.fullmatch(email):
            raise ValueError(f"email {row['email']!r} is not an email address")
        username = row["username"].strip()
        if not USERNAME_RE.fullmatch(username):
            raise ValueError(
                f"username {row['username']!r} must be letters, digits, dots or underscores,"
                " start with a letter, at most 64"
            )
        if row["role"] not in role_names:
            raise ValueError(f"role {row['role']!r} is not one of {', '.join(sorted(role_names))}")
        record = {
            "id": user_id,
            "email": email,
            "username": username,
            "name": _text(row["name"], "name", 64),
            "location": _text(row["location"], "location", 64),
            "about_me": _text(row["about_me"], "about_me", 10_000),
            "role": row["role"],
            "confirmed": _flag(row["confirmed"], "confirmed"),
            "member_since": _timestamp(row["member_since"], "member_since"),
            "last_seen": _timestamp(row["last_seen"], "last_seen"),
        }
        _unique(ids, user_id, "id")
        _unique(emails, email, "email")
        _unique(names, username, "username")
        data.users.append(record)

    pairs: set[tuple[int, int]] = set()

    def follow(row: dict[str, str]) -> None:
        follower = _known(_int(row["follower_id"], "follower_id"), ids, "follower_id", "user")
        followed = _known(_int(row["followed_id"], "followed_id"), ids, "followed_id", "user")
        moment = _timestamp(row["timestamp"], "timestamp")
        _unique(pairs, (follower, followed), "follow")
        data.follows.append((follower, followed, moment))

    post_ids: set[int] = set()

    def post(row: dict[str, str]) -> None:
        post_id = _int(row["id"], "id")
        author = _known(_int(row["author_id"], "author_id"), ids, "author_id", "user")
        moment = _timestamp(row["timestamp"], "timestamp")
        body = _body(row["body"], POST_MAX)
        _unique(post_ids, post_id, "id")
        data.posts.append((post_id, author, moment, body))

    comment_ids: set[int] = set()

    def comment(row: dict[str, str]) -> None:
        comment_id = _int(row["id"], "id")
        post_id = _known(_int(row["post_id"], "post_id"), post_ids, "post_id", "post")
        author = _known(_int(row["author_id"], "author_id"), ids, "author_id", "user")
        moment = _timestamp(row["timestamp"], "timestamp")
        disabled = _flag(row["disabled"], "disabled")
        body = _body(row["body"], COMMENT_MAX)
        _unique(comment_ids, comment_id, "id")
        data.comments.append((comment_id, post_id, author, moment, disabled, body))

    _check_file(directory / "users.csv", user)
    _check_file(directory / "follows.csv", follow)
    _check_file(directory / "posts.csv", post)
    _check_file(directory / "comments.csv", comment)
    # every user follows themselves, whether or not the file says so
    for record in data.users:
        if (record["id"], record["id"]) not in pairs:
            data.follows.append((record["id"], record["id"], record["member_since"]))
    return data


def _known(value: int, known: set[int], column: str, what: str) -> int:
    if value not in known:
        raise ValueError(f"{column} {value} names no {what} of the data set")
    return value


# -- rendering many bodies -----------------------------------------------------------------


class Renderer:
    """Renders bodies in chunks, in worker processes when many need the full Markdown +
    bleach path (the slow part of a load); plain prose is rendered here at once. Each
    chunk is awaited when its rows are inserted, so inserting overlaps rendering."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers if workers is not None else (os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None
        self._tasks: list[asyncio.Future[list[str]]] = []

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *_: object) -> None:
        for task in self._tasks:
            task.cancel()  # a load that failed early leaves no work behind
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def chunks(self, bodies: list[str], kind: str) -> list[Awaitable[list[str]]]:
        """Start rendering; one awaitable per CHUNK_SIZE bodies, giving their HTML in order."""
        plain = [render_plain(body, kind) for body in bodies]
        slow = sum(html is None for html in plain)
        use_pool = self.workers > 1 and slow >= POOL_THRESHOLD
        if use_pool and self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"))
        return [
            self._chunk(bodies[i : i + CHUNK_SIZE], plain[i : i + CHUNK_SIZE], kind, use_pool)
            for i in range(0, len(bodies), CHUNK_SIZE)
        ]

    def _chunk(
        self, bodies: list[str], plain: list[str | None], kind: str, use_pool: bool
    ) -> Awaitable[list[str]]:
        loop = asyncio.get_running_loop()
        todo = [b for b, html in zip(bodies, plain, strict=True) if html is None]
        if not todo or not use_pool:
            done: asyncio.Future[list[str]] = loop.create_future()
            rendered = iter(render_many(todo, kind))
            done.set_result([html if html is not None else next(rendered) for html in plain])
            return done
        pending = loop.run_in_executor(self._pool, render_many, todo, kind)

        async def merged() -> list[str]:
            rendered = iter(await pending)
            return [html if html is not None else next(rendered) for html in plain]

        task = asyncio.ensure_future(merged())
        self._tasks.append(task)
        return task


# -- writing -------------------------------------------------------------------------------

USER_COLUMNS = (
    "id",
    "email",
    "username",
    "role_id",
    "password_hash",
    "confirmed",
    "name",
    "location",
    "about_me",
    "member_since",
    "last_seen",
    "avatar_hash",
)
FOLLOW_COLUMNS = ("follower_id", "followed_id", "timestamp")
POST_COLUMNS = ("id", "author_id", "timestamp", "body", "body_html")
COMMENT_COLUMNS = ("id", "post_id", "author_id", "timestamp", "disabled", "body", "body_html")


async def _ensure_empty(conn: BaseDBAsyncClient) -> None:
    for model in (User, Follow, Post, Comment):
        if await model.all().using_db(conn).exists():
            table = model._meta.db_table
            raise LoadError(f"the {table} table is not empty: load into a fresh database")


async def analyze() -> None:
    """On PostgreSQL, refresh the planner's statistics: without them the followed-feed
    query plans badly (24 ms instead of 3 ms on the default data set)."""
    if db.dialect() == "postgres":
        await Tortoise.get_connection("default").execute_script("ANALYZE")


async def reset_sequences(conn: BaseDBAsyncClient, tables: tuple[str, ...] = TABLES) -> None:
    """On PostgreSQL, move each id sequence past the largest id (rows were given ids)."""
    if conn.capabilities.dialect != "postgres":
        return  # SQLite's AUTOINCREMENT follows inserted ids by itself
    for table in tables:
        await conn.execute_query(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
            f'COALESCE((SELECT MAX("id") FROM "{table}"), 0) + 1, false)'
        )


@dataclass
class Counts:
    """Rows written by `load` or `fake`."""

    users: int
    follows: int
    posts: int
    comments: int


async def load_dataset(directory: Path, workers: int | None = None) -> Counts:
    """Load the CSV data set in `directory` into empty tables, all in one transaction."""
    await Role.insert_roles()
    roles = {r.name: r.id for r in await Role.all()}
    data = await asyncio.to_thread(read_dataset, directory, set(roles))
    password_hash = await security.hash_password(DATASET_PASSWORD)
    users = [
        (u["id"], u["email"], u["username"], roles[u["role"]], password_hash, u["confirmed"])
        + (u["name"], u["location"], u["about_me"], u["member_since"], u["last_seen"])
        + (email_hash(u["email"]),)
        for u in data.users
    ]
    with Renderer(workers) as renderer:
        post_html = renderer.chunks([p[3] for p in data.posts], "post")
        comment_html = renderer.chunks([c[5] for c in data.comments], "comment")
        async with change("bulk-load", EVERYTHING) as writing:
            conn = writing.connection
            await _ensure_empty(conn)
            await db.insert_rows(conn, "users", USER_COLUMNS, users)
            await db.insert_rows(conn, "follows", FOLLOW_COLUMNS, data.follows)
            for n, html in enumerate(post_html):
                rows = data.posts[n * CHUNK_SIZE : (n + 1) * CHUNK_SIZE]
                bodies = await settled_many(await html, conn)
                values = [row + (h,) for row, h in zip(rows, bodies, strict=True)]
                await db.insert_rows(conn, "posts", POST_COLUMNS, values)
                posted = [(r[0], h) for r, h in zip(rows, bodies, strict=True)]
                await search.index(conn, posted, fresh=True)
            for n, html in enumerate(comment_html):
                rows = data.comments[n * CHUNK_SIZE : (n + 1) * CHUNK_SIZE]
                bodies = await settled_many(await html, conn)
                values = [row + (h,) for row, h in zip(rows, bodies, strict=True)]
                await db.insert_rows(conn, "comments", COMMENT_COLUMNS, values)
            await reset_sequences(conn)
    await analyze()
    return Counts(len(data.users), len(data.follows), len(data.posts), len(data.comments))


async def rerender(workers: int | None = None) -> int:
    """Render every post's and comment's Markdown again (today's rules: tag and mention
    links), settle the mentions, and rebuild the search index from the new HTML — one
    transaction (an edit meanwhile waits for it, or fails it), whose event tells every
    cache; nobody is notified. How many posts."""
    async with change("rerender", EVERYTHING) as writing:
        conn = writing.connection
        mark = ("$1", "$2") if conn.capabilities.dialect == "postgres" else ("?", "?")
        with Renderer(workers) as renderer:
            for table, kind in (("posts", "post"), ("comments", "comment")):
                rows = await conn.execute_query_dict(
                    f'SELECT "id", "body" FROM "{table}" ORDER BY "id"'
                )
                chunks = renderer.chunks([r["body"] for r in rows], kind)
                sql = f'UPDATE "{table}" SET "body_html" = {mark[0]} WHERE "id" = {mark[1]}'
                for n, html in enumerate(chunks):
                    ids = [r["id"] for r in rows[n * CHUNK_SIZE : (n + 1) * CHUNK_SIZE]]
                    bodies = await settled_many(await html, conn)
                    await conn.execute_many(sql, list(zip(bodies, ids, strict=True)))
        return await search.index_all(conn)
