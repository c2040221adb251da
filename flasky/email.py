"""Outbox writer, sender task, aiosmtplib."""

from __future__ import annotations

from quart import Quart


def init_app(app: Quart) -> None:
    """Start the outbox sender with the server (filled in by the accounts work)."""
