"""Moderation queue, enable/disable, admin profile edit."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("moderation", __name__)
