"""Profiles, follow/unfollow, follower lists, avatars."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("social", __name__)
