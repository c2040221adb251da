"""The committed migrations agree with the models: applied to an empty database they build
the schema Tortoise builds from the models (tables, columns, indexes, constraints), and
aerich's recorded model state is today's, so `aerich migrate` would find nothing to do.

Each database step runs in an event loop of its own (`asyncio.run`), as `flasky deploy`
does: aerich initialises Tortoise itself.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from tortoise import Tortoise

from flasky import db, search
from flasky.db import MIGRATIONS, tortoise_config
from tests.helpers import postgres_admin

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL") or "sqlite://:memory:"
ON_POSTGRES = urlsplit(TEST_DATABASE_URL).scheme in {"postgres", "postgresql", "asyncpg"}


async def migrate(url: str) -> list[str]:
    try:
        return await db.upgrade(url)
    finally:
        await db.disconnect()


async def generate(url: str) -> None:
    """The models' schema, with what the search index adds to it (search.SCHEMA)."""
    await Tortoise.init(config=tortoise_config(url))
    try:
        await Tortoise.generate_schemas(safe=False)
        await search.create_schema()
    finally:
        await Tortoise.close_connections()


def migration_files() -> list[Path]:
    return sorted(Path(MIGRATIONS, "models").glob("*.py"), key=lambda p: int(p.name.split("_")[0]))


# -- SQLite ------------------------------------------------------------------------------------


def sqlite_schema(path: Path) -> dict[str, Any]:
    """Tables with their columns, indexes (with columns and uniqueness) and foreign keys."""
    with sqlite3.connect(path) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name <> 'sqlite_sequence'"
            )
        ]
        schema: dict[str, Any] = {}
        for table in sorted(tables):
            columns = [
                (name, kind.upper(), notnull, default, pk)
                for _, name, kind, notnull, default, pk in conn.execute(
                    f'PRAGMA table_info("{table}")'
                )
            ]
            indexes = {}
            for _, name, unique, origin, _partial in conn.execute(f'PRAGMA index_list("{table}")'):
                cols = [r[2] for r in conn.execute(f'PRAGMA index_info("{name}")')]
                indexes[name] = (tuple(cols), bool(unique), origin)
            keys = sorted(
                (r[3], r[2], r[4], r[6])
                for r in conn.execute(f'PRAGMA foreign_key_list("{table}")')
            )
            schema[table] = {"columns": columns, "indexes": indexes, "foreign_keys": keys}
        return schema


def test_sqlite_migrations_build_the_models_schema(tmp_path: Path):
    migrated, generated = tmp_path / "migrated.sqlite", tmp_path / "generated.sqlite"
    applied = asyncio.run(migrate(f"sqlite://{migrated}"))
    assert applied == [p.name for p in migration_files()]
    asyncio.run(generate(f"sqlite://{generated}"))
    left, right = sqlite_schema(migrated), sqlite_schema(generated)
    assert set(left) == set(right)
    for table in right:
        assert left[table] == right[table], table
    assert {"users", "roles", "follows", "posts", "comments", "outbox", "throttle_events"} <= set(
        left
    )
    assert "sessions" in left and "login_failures" not in left
    lowered = left["users"]["indexes"]["ux_users_username_lower"]
    assert lowered[1]  # unique: "Alice" and "alice" cannot both exist
    # what the lists lean on is there
    assert left["posts"]["indexes"]["ix_posts_author_ts"][0] == ("author_id", "timestamp", "id")
    unique = {cols for cols, is_unique, _ in left["follows"]["indexes"].values() if is_unique}
    assert ("follower_id", "followed_id") in unique


def test_sqlite_upgrade_twice_changes_nothing(tmp_path: Path):
    path = tmp_path / "twice.sqlite"
    assert asyncio.run(migrate(f"sqlite://{path}"))
    before = sqlite_schema(path)
    assert asyncio.run(migrate(f"sqlite://{path}")) == []
    assert sqlite_schema(path) == before
    with sqlite3.connect(path) as conn:
        versions = [r[0] for r in conn.execute('SELECT "version" FROM "aerich"')]
    assert versions == [p.name for p in migration_files()]


def before_migration(path: Path, suffix: str, undo: str) -> str:
    """A SQLite database at `path` brought back to before the migration whose file name
    ends with `suffix` (`undo` drops what it made, its version is forgotten), with one
    user (id 1) to write posts as; the migration's file name."""
    assert asyncio.run(migrate(f"sqlite://{path}"))
    name = next(p.name for p in migration_files() if p.name.endswith(suffix))
    with sqlite3.connect(path) as conn:
        conn.executescript(undo)
        conn.execute('DELETE FROM "aerich" WHERE "version" = ?', (name,))
        conn.execute(
            'INSERT INTO "users" ("id", "email", "username", "role_id", "password_hash", '
            '"confirmed", "member_since", "last_seen", "avatar_hash") '
            "VALUES (1, 'a@example.com', 'ada', 1, '', 1, '2026-01-01', '2026-01-01', '0')"
        )
    return name


def test_the_search_migration_indexes_the_posts_already_there(tmp_path: Path):
    """Migration 5 on a database with posts: their words are searchable at once (the
    database is brought back to before it: its tables dropped, its version forgotten)."""
    path = tmp_path / "before.sqlite"
    undo = (
        'DROP TRIGGER "post_search_delete"; DROP TABLE "post_search"; '
        'DROP TABLE "post_tags"; DROP TABLE "post_mentions";'
    )
    search_migration = before_migration(path, "_search.py", undo)
    with sqlite3.connect(path) as conn:
        for n, html in enumerate(["<p>Old words here</p>", "<p>今天天气很好</p>"], 1):
            conn.execute(
                'INSERT INTO "posts" ("id", "body", "body_html", "timestamp", "author_id") '
                "VALUES (?, 'x', ?, '2026-01-01', 1)",
                (n, html),
            )
    assert asyncio.run(migrate(f"sqlite://{path}")) == [search_migration]
    with sqlite3.connect(path) as conn:
        found = conn.execute(
            """SELECT rowid FROM "post_search" WHERE "post_search" MATCH '"old" "words"'"""
        ).fetchall()
        cjk = conn.execute(
            """SELECT rowid FROM "post_search" WHERE "post_search" MATCH '"天气"'"""
        ).fetchall()
    assert found == [(1,)] and cjk == [(2,)]


def test_the_lookups_migration_indexes_single_cjk_characters(tmp_path: Path):
    """Migration 6 builds the index again: a post indexed before it (its CJK runs as pairs
    only) is found by one character after it."""
    path = tmp_path / "before.sqlite"
    undo = 'DROP INDEX "ix_events_kind_created"; DROP INDEX "ix_notifications_subject";'
    lookups = before_migration(path, "_lookups.py", undo)
    with sqlite3.connect(path) as conn:
        conn.execute(
            'INSERT INTO "posts" ("id", "body", "body_html", "timestamp", "author_id") '
            "VALUES (1, 'x', '<p>我爱你们</p>', '2026-01-01', 1)"
        )
        conn.execute("""INSERT INTO "post_search" (rowid, "words") VALUES (1, '我爱 爱你 你们')""")
        single = """SELECT rowid FROM "post_search" WHERE "post_search" MATCH '"爱"'"""
        assert conn.execute(single).fetchall() == []
    assert asyncio.run(migrate(f"sqlite://{path}")) == [lookups]
    with sqlite3.connect(path) as conn:
        assert conn.execute(single).fetchall() == [(1,)]
        pairs = """SELECT rowid FROM "post_search" WHERE "post_search" MATCH '"我爱" "爱你"'"""
        assert conn.execute(pairs).fetchall() == [(1,)]


# -- PostgreSQL (when the tests run on it) ------------------------------------------------------


def scratch_url(suffix: str) -> str:
    parts = urlsplit(TEST_DATABASE_URL)
    name = f"{parts.path.lstrip('/') or 'flasky'}_{suffix}"
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def scratch_databases() -> Iterator[tuple[str, str]]:
    """Two empty PostgreSQL databases beside the test database, dropped afterwards."""
    urls = (scratch_url("mig_a"), scratch_url("mig_b"))
    names = [urlsplit(u).path.lstrip("/") for u in urls]
    for name in names:
        asyncio.run(postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield urls
    finally:
        for name in names:
            asyncio.run(postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def postgres_schema(url: str) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        columns = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable, column_default,"
            " character_maximum_length FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        )
        indexes = await conn.fetch(
            "SELECT tablename, indexname, indexdef FROM pg_indexes"
            " WHERE schemaname = 'public' ORDER BY indexname"
        )
        constraints = await conn.fetch(
            "SELECT conrelid::regclass::text AS tbl, conname, contype::text,"
            " pg_get_constraintdef(oid) AS def FROM pg_constraint"
            " WHERE connamespace = 'public'::regnamespace ORDER BY conname"
        )
        comments = await conn.fetch(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') AS comment FROM pg_class c"
            " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' ORDER BY 1"
        )
    finally:
        await conn.close()
    return {
        "columns": [tuple(r) for r in columns],
        "indexes": [tuple(r) for r in indexes],
        "constraints": [tuple(r) for r in constraints],
        "comments": [tuple(r) for r in comments],
    }


# Defined only when the suite runs on PostgreSQL (TEST_DATABASE_URL), as `.ci/run` does.
if ON_POSTGRES:

    def test_postgres_migrations_build_the_models_schema(scratch_databases: tuple[str, str]):
        migrated, generated = scratch_databases
        assert asyncio.run(migrate(migrated)) == [p.name for p in migration_files()]
        asyncio.run(generate(generated))
        left, right = (
            asyncio.run(postgres_schema(migrated)),
            asyncio.run(postgres_schema(generated)),
        )
        for part in ("columns", "indexes", "constraints", "comments"):
            assert left[part] == right[part], part
        tables = {row[0] for row in left["columns"]}
        assert {
            "users",
            "roles",
            "follows",
            "posts",
            "comments",
            "outbox",
            "throttle_events",
            "sessions",
        } <= tables
        assert asyncio.run(migrate(migrated)) == []


# -- aerich's recorded model state -------------------------------------------------------------


def recorded_state() -> dict[str, Any]:
    from aerich.utils import decompress_dict

    last = migration_files()[-1]
    spec = importlib.util.spec_from_file_location("last_migration", last)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return decompress_dict(module.MODELS_STATE)


async def describe_and_diff(url: str, location: Path) -> tuple[dict[str, Any], str]:
    from aerich import Command
    from aerich.utils import get_models_describe

    command = Command(tortoise_config=tortoise_config(url), app="models", location=str(location))
    await command.init()
    try:
        described = json.loads(json.dumps(get_models_describe("models")))
        return described, await command.migrate("agreement_check", no_input=True)
    finally:
        await Tortoise.close_connections()


def test_recorded_model_state_is_the_models_today(tmp_path: Path):
    url = f"sqlite://{tmp_path / 'state.sqlite'}"
    asyncio.run(migrate(url))
    copy = Path(shutil.copytree(MIGRATIONS, tmp_path / "migrations"))
    described, generated = asyncio.run(describe_and_diff(url, copy))
    assert recorded_state() == described
    assert generated == ""  # aerich migrate finds no change to write
    assert sorted(p.name for p in (copy / "models").glob("*.py")) == [
        p.name for p in migration_files()
    ]
