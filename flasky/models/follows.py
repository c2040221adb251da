"""Who follows whom: the one table, and the questions asked of it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.expressions import Q
from tortoise.indexes import Index
from tortoise.models import Model
from tortoise.queryset import QuerySet

from flasky.models.base import utcnow

if TYPE_CHECKING:
    from flasky.models.accounts import User


class Follow(Model):
    id = fields.IntField(primary_key=True)
    follower: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="following", on_delete=fields.CASCADE
    )
    followed: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="followers", on_delete=fields.CASCADE
    )
    timestamp = fields.DatetimeField(default=utcnow)

    follower_id: int
    followed_id: int

    class Meta:
        table = "follows"
        unique_together = (("follower", "followed"),)
        indexes = (
            Index(fields=("followed_id", "timestamp", "id"), name="ix_follows_followed_ts"),
            Index(fields=("follower_id", "timestamp", "id"), name="ix_follows_follower_ts"),
        )

    @classmethod
    def followers_of(cls, user: User) -> QuerySet[Follow]:
        """Who follows `user`, newest first, self-follow left out; `follower` fetched."""
        return (
            cls.filter(followed_id=user.id).exclude(follower_id=user.id).select_related("follower")
        )

    @classmethod
    def followed_by(cls, user: User) -> QuerySet[Follow]:
        """Whom `user` follows, newest first, self-follow left out; `followed` fetched."""
        return (
            cls.filter(follower_id=user.id).exclude(followed_id=user.id).select_related("followed")
        )

    @classmethod
    async def between(cls, one: int, other: int) -> set[int]:
        """The follower ids of the follows between two users, either way (one query)."""
        rows = await cls.filter(
            Q(follower_id=one, followed_id=other) | Q(follower_id=other, followed_id=one)
        ).values_list("follower_id", flat=True)
        return set(rows)

    @classmethod
    async def following_others(cls, follower_id: int, at_most: int) -> set[int]:
        """Up to `at_most` of whom the user follows, themselves left out (one query)."""
        rows = await (
            cls.filter(follower_id=follower_id)
            .exclude(followed_id=follower_id)
            .limit(at_most)
            .values_list("followed_id", flat=True)
        )
        return set(rows)

    @classmethod
    async def followed_ids(cls, follower_id: int) -> set[int]:
        """Everyone the user follows (one query)."""
        rows = await cls.filter(follower_id=follower_id).values_list("followed_id", flat=True)
        return set(rows)

    @classmethod
    async def followed_among(cls, follower_id: int, ids: list[int]) -> set[int]:
        """Which of `ids` the user `follower_id` follows (one query)."""
        if not ids:
            return set()
        rows = await cls.filter(follower_id=follower_id, followed_id__in=ids).values_list(
            "followed_id", flat=True
        )
        return set(rows)
