"""What every template can use: the viewer, CSRF token, permissions, asset URLs."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from markupsafe import Markup
from quart import Quart, g, render_template, url_for

from flasky.feed import FeedCache, request_stamp
from flasky.idempotency import new_key
from flasky.identity import current_viewer
from flasky.models import Post, User, cached_unread_count, iso, unread_count
from flasky.permissions import Permission
from flasky.security import generate_csrf

STATIC = Path(__file__).resolve().parent.parent / "static"


@cache
def _digest(filename: str) -> str:
    return hashlib.sha256((STATIC / filename).read_bytes()).hexdigest()[:12]


def asset_url(filename: str) -> str:
    """A static URL that changes with the file's content, so it can be cached for a year."""
    return url_for("static", filename=filename, v=_digest(filename))


# -- post cards: rendered once per post and variant (key-based fragment caching) ----------

# (post id, the viewer may edit it, on the post's own page) → the card's HTML. A card dies
# when its post or its author changes (a new comment moves the post: its count).
CARDS: FeedCache[tuple[int, bool, bool], str] = FeedCache(limit=10_000)
# Where an editable card's delete form carries the session's CSRF token.
CSRF_SLOT = "\x00csrf\x00"


async def post_card(post: Post, permalink: bool = False) -> Markup:
    """The card of `post` (posts/_post.html) for this viewer: from the card cache unless
    the post or its author changed since it was rendered, the CSRF token put in afresh.
    Only edit/delete depend on the viewer, so there are two variants per place."""
    editable = post.editable_by(await current_viewer())
    key = (post.id, editable, permalink)
    html = CARDS.get(key)
    if html is None:
        html = await render_template("posts/_post.html", post=post, permalink=permalink)
        if editable:
            html = html.replace(generate_csrf(), CSRF_SLOT)
        stamp = request_stamp()
        if stamp is not None:
            CARDS.put(key, html, (post.topic, f"user:{post.author_id}"), stamp)
    if editable:
        html = html.replace(CSRF_SLOT, generate_csrf())
    return Markup(html)


async def unread_notifications() -> int:
    """The signed-in viewer's unread notifications, for the header badge: the process's
    cached count (a query only after the viewer's notifications moved); 0 for anyone
    else. An error page asks the cache only: the database may be what failed."""
    viewer = await current_viewer()
    if not isinstance(viewer, User):
        return 0
    if g.get("reporting_error"):
        return cached_unread_count(viewer.id) or 0
    return await unread_count(viewer.id)


def init_app(app: Quart) -> None:
    """Register the viewer (per request), the globals macros can see too, and filters."""

    @app.context_processor
    async def _context() -> dict[str, Any]:
        return {"viewer": await current_viewer()}

    # Globals, not context: macros imported without context see them.
    app.jinja_env.globals.update(
        Permission=Permission,
        csrf_token=generate_csrf,
        asset_url=asset_url,
        post_card=post_card,
        unread_notifications=unread_notifications,
        idempotency_key=new_key,
    )

    app.add_template_filter(iso, "iso")
    app.add_template_filter(_exact, "exact")


def _exact(moment: Any) -> str:
    """A readable UTC time for when scripts are off (the browser shows local time)."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""
