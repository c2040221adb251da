"""The mail outbox: what `email.py` writes in a transaction and its sender delivers."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from flasky.models.base import utcnow


class Outbox(Model):
    """An email waiting to be sent, being sent, sent, or given up on."""

    id = fields.IntField(primary_key=True)
    recipient = fields.CharField(max_length=254)
    subject = fields.CharField(max_length=255)
    text_body = fields.TextField()
    html_body = fields.TextField()
    status = fields.CharField(max_length=16, default="pending")  # pending|sending|sent|failed
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField(default=utcnow)
    next_attempt_at = fields.DatetimeField(default=utcnow)
    claimed_until = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    # Error reports: one mail per distinct key per hour.
    dedupe_key = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "outbox"
        indexes = (
            Index(fields=("status", "next_attempt_at"), name="ix_outbox_due"),
            Index(fields=("dedupe_key", "created_at"), name="ix_outbox_dedupe"),
        )
