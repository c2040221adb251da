"""The book's /api/v1 — a thin adapter over the same queries."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")
