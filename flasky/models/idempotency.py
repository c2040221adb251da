"""The answers of JSON creates sent with an `Idempotency-Key` (SPEC §4)."""

from __future__ import annotations

from datetime import datetime

from tortoise import fields
from tortoise.models import Model

from flasky.models.base import utcnow


class IdempotentRequest(Model):
    """One (user, key): the request's fingerprint and, once it succeeded, its answer.

    A row with no `status` is a request still running (or one whose process died midway);
    it is answered 409 until it is a day old."""

    id = fields.IntField(primary_key=True)
    user_id = fields.IntField()
    key = fields.CharField(max_length=255)
    fingerprint = fields.CharField(max_length=64)
    status = fields.IntField(null=True)
    location = fields.TextField(null=True)
    body = fields.TextField(null=True)
    created_at = fields.DatetimeField(default=utcnow)

    class Meta:
        table = "idempotent_requests"
        unique_together = (("user_id", "key"),)

    @classmethod
    async def purge(cls, before: datetime) -> int:
        """Forget keys older than `before` (a key lives a day)."""
        return await cls.filter(created_at__lt=before).delete()
