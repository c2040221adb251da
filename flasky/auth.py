"""Register, login, confirm, reset, change email/password, tokens."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("auth", __name__, url_prefix="/auth")
