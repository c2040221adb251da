"""The change feed's table: one row per write, in the write's transaction (SPEC §8)."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from flasky.models.base import utcnow


class Event(Model):
    """One change of the change feed: its kind, topics, actor and time."""

    # topics: what it touches ("post:12", "user:3", "posts", "*" for everything).
    # Ids increase; rows live at least 24 hours.

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=32)
    topics = fields.TextField()  # space-separated
    actor_id = fields.IntField(null=True)  # not a foreign key: events outlive accounts
    created_at = fields.DatetimeField(default=utcnow)

    class Meta:
        table = "events"
        indexes = (
            Index(fields=("created_at",), name="ix_events_created"),
            # the latest change of some kinds (an Atom feed's Last-Modified)
            Index(fields=("kind", "created_at"), name="ix_events_kind_created"),
        )
