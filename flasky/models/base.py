"""What every model module shares: time, JSON timestamps, address normalisation, the
correlated counts, and an index type Tortoise lacks."""

from __future__ import annotations

import contextvars
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

# `last_seen` and a session's `last_used` are written at most this often.
PING_INTERVAL = timedelta(minutes=1)


def utcnow() -> datetime:
    """Now, timezone-aware UTC (Tortoise returns aware datetimes; never mix in naive ones)."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, to the second, as the JSON bodies show it."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def email_hash(email: str) -> str:
    """md5 of the normalised address: Gravatar's key and our identicon's seed."""
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()


# Counts shown to people: the self-follow is left out.
POST_COUNT_SQL = '(SELECT COUNT(*) FROM "posts" p WHERE p."author_id" = "users"."id")'
FOLLOWERS_COUNT_SQL = (
    '(SELECT COUNT(*) FROM "follows" f WHERE f."followed_id" = "users"."id"'
    ' AND f."follower_id" <> "users"."id")'
)
FOLLOWING_COUNT_SQL = (
    '(SELECT COUNT(*) FROM "follows" f WHERE f."follower_id" = "users"."id"'
    ' AND f."followed_id" <> "users"."id")'
)
COMMENT_COUNT_SQL = '(SELECT COUNT(*) FROM "comments" c WHERE c."post_id" = "posts"."id")'


class UniqueIndex(Index):
    """A unique index on columns or expressions (`unique=True` cannot say "unique
    regardless of case")."""

    def get_sql(self, schema_generator: Any, model: type[Model], safe: bool) -> str:
        self.resolve_expressions(model)
        sql = schema_generator._get_index_sql(
            model, self.field_names, safe, index_name=self.name, extra=self.extra
        )
        return sql.replace("CREATE INDEX", "CREATE UNIQUE INDEX", 1)


def normal_email(email: str) -> str:
    """An address as we store and compare it."""
    return email.strip().lower()


# -- what a rendering showed: the change-feed topics a cached answer depends on ----------

# A set while a cacheable answer renders (cache.py starts it): every row built from the
# database adds its topic ("post:12"), so a cached entry dies when any of them changes.
SHOWN: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar(
    "flasky_shown", default=None
)


class Shown(Model):
    """A model whose rows, when loaded, are recorded in `SHOWN` as `<TOPIC>:<id>`."""

    TOPIC = ""

    class Meta:
        abstract = True

    @classmethod
    def _init_from_db(cls, **kwargs: Any) -> Any:
        row = super()._init_from_db(**kwargs)
        shown = SHOWN.get()
        if shown is not None:
            shown.add(f"{cls.TOPIC}:{row.pk}")
        return row

    @property
    def topic(self) -> str:
        """This row's change-feed topic ("post:12")."""
        return f"{self.TOPIC}:{self.pk}"


# -- reading timestamps ------------------------------------------------------------------


def _read_timestamp(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime. SQLite hands back ISO text, which
    Tortoise parses with the pure-Python `iso8601` (a quarter of a feed page's CPU);
    `datetime.fromisoformat` does it in C. PostgreSQL hands back datetimes."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    elif not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.utcoffset() == _ZERO else value.astimezone(UTC)


_ZERO = timedelta(0)


def read_timestamps_fast(*models: type[Model]) -> None:
    """Give every `DatetimeField` of `models` the fast reader above (db.py sets
    `use_tz=True, timezone="UTC"`, which is what it assumes). The field's class is
    kept, so the schema aerich records does not change."""
    for model in models:
        for field in model._meta.fields_map.values():
            if isinstance(field, fields.DatetimeField):
                field.to_python_value = _read_timestamp  # type: ignore[method-assign]
