"""Server-side sessions and the throttles' counted events."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from flasky import feed as change_feed
from flasky.models.base import PING_INTERVAL, utcnow

if TYPE_CHECKING:
    from flasky.models.accounts import User


class ThrottleEvent(Model):
    """One counted event of a throttle (a failed login, a mail, a registration, a write).

    Keys such as 'login:account:…', 'mail:reset:to:…' or 'write:posts:<user id>'."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=300)
    timestamp = fields.DatetimeField(default=utcnow)

    class Meta:
        table = "throttle_events"
        indexes = (Index(fields=("key", "timestamp"), name="ix_throttle_events_key_ts"),)

    @classmethod
    async def record(cls, keys: list[str], using_db: Any = None) -> None:
        """Count one event under each of `keys`."""
        now = utcnow()
        await cls.bulk_create([cls(key=k, timestamp=now) for k in keys], using_db=using_db)

    @classmethod
    async def oldest_over_limit(
        cls, limits: dict[str, int], since: datetime, using_db: Any = None
    ) -> datetime | None:
        """For the keys with at least their limit of events since `since` (one query), the
        latest moment at which the window frees a slot for all of them; else None."""
        rows = await (
            cls.filter(key__in=list(limits), timestamp__gte=since)
            .using_db(using_db)
            .order_by("-timestamp")
            .values_list("key", "timestamp")
        )
        by_key: dict[str, list[datetime]] = {}
        for key, moment in rows:
            by_key.setdefault(key, []).append(moment)
        worst: datetime | None = None
        for key, moments in by_key.items():
            limit = limits[key]
            if len(moments) >= limit:
                # the limit-th newest event must leave the window before another try
                candidate = moments[limit - 1]
                worst = candidate if worst is None or candidate > worst else worst
        return worst

    @classmethod
    async def forget(cls, keys: list[str]) -> None:
        """Drop the events of `keys` (a successful login forgives the account's failures)."""
        await cls.filter(key__in=keys).delete()

    @classmethod
    async def purge(cls, before: datetime) -> int:
        """Drop events older than every window."""
        return await cls.filter(timestamp__lt=before).delete()


class LoginSession(Model):
    """A signed-in browser: its cookie names this row by a random token.

    The row keeps the token's SHA-256 (a copy of the table opens no session); ending a
    session is deleting its row."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    created = fields.DatetimeField(default=utcnow)
    last_used = fields.DatetimeField(default=utcnow)
    address = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=255, null=True)

    class Meta:
        table = "sessions"
        indexes = (Index(fields=("user_id", "last_used"), name="ix_sessions_user_used"),)

    @staticmethod
    def topic_of(user_id: int) -> str:
        """The change-feed topic of a user's sessions: moved when one starts meaning
        something else (ended, or its account's password, address or role changed)."""
        return f"sessions:{user_id}"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

    @classmethod
    async def start(cls, user: User, address: str | None, user_agent: str | None) -> str:
        """A new session of `user`; returns the token its cookie carries."""
        token = secrets.token_urlsafe(32)
        await cls.create(
            token_hash=cls.hash_token(token),
            user_id=user.id,
            address=(address or "")[:64] or None,
            user_agent=(user_agent or "")[:255] or None,
        )
        return token

    @classmethod
    async def find(cls, token: str) -> LoginSession | None:
        """The session a cookie names, with its user and role: one indexed query."""
        if not token or len(token) > 128:
            return None
        return (
            await cls.filter(token_hash=cls.hash_token(token)).select_related("user__role").first()
        )

    async def touch(self, now: datetime) -> bool:
        """Record a use, at most once a minute; True when it wrote."""
        if self.last_used is not None and now - self.last_used < PING_INTERVAL:
            return False
        self.last_used = now
        await LoginSession.filter(id=self.id).update(last_used=now)
        return True

    @classmethod
    async def end(cls, token: str) -> None:
        """End the session a cookie names (logout), in every process's session cache."""
        token_hash = cls.hash_token(token)
        user_id = await cls.filter(token_hash=token_hash).values_list("user_id", flat=True)
        if not user_id:
            return
        async with change_feed.change("session-ended", cls.topic_of(user_id[0]), actor=user_id[0]):
            await cls.filter(token_hash=token_hash).delete()

    @classmethod
    async def end_all(cls, user_id: int, using_db: Any = None) -> int:
        """End every session of a user (a new password, a reset, later a suspension)."""
        async with change_feed.change("session-ended", cls.topic_of(user_id), actor=user_id):
            return await cls.filter(user_id=user_id).using_db(using_db).delete()

    @classmethod
    async def purge(cls, idle_before: datetime) -> int:
        """Drop sessions unused since `idle_before` (and from every session cache)."""
        idle = cls.filter(last_used__lt=idle_before)
        users = set(await idle.values_list("user_id", flat=True))
        if not users:
            return 0
        topics = [cls.topic_of(user_id) for user_id in sorted(users)]
        async with change_feed.change("session-ended", *topics):
            return await idle.delete()
