"""What every template can use: the viewer, CSRF token, permissions, asset URLs."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from quart import Quart, url_for

from flasky.identity import current_viewer
from flasky.models import iso
from flasky.permissions import Permission
from flasky.security import generate_csrf

STATIC = Path(__file__).resolve().parent.parent / "static"


@cache
def _digest(filename: str) -> str:
    return hashlib.sha256((STATIC / filename).read_bytes()).hexdigest()[:12]


def asset_url(filename: str) -> str:
    """A static URL that changes with the file's content, so it can be cached for a year."""
    return url_for("static", filename=filename, v=_digest(filename))


def init_app(app: Quart) -> None:
    """Register the viewer (per request), the globals macros can see too, and filters."""

    @app.context_processor
    async def _context() -> dict[str, Any]:
        return {"viewer": await current_viewer()}

    # Globals, not context: macros imported without context see them.
    app.jinja_env.globals.update(
        Permission=Permission, csrf_token=generate_csrf, asset_url=asset_url
    )

    app.add_template_filter(iso, "iso")
    app.add_template_filter(_exact, "exact")


def _exact(moment: Any) -> str:
    """A readable UTC time for when scripts are off (the browser shows local time)."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""
