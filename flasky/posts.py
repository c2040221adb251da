"""Home feed, post page, create/edit/delete, comments, preview."""

from __future__ import annotations

from quart import Blueprint

bp = Blueprint("posts", __name__)
