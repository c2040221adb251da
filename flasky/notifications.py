"""The viewer's notifications (SPEC §10): the list, and marking them read.

What is notified, and when, is the models' business (`flasky/models/notifications.py`:
`notify` runs inside the action's change); this area shows the list and takes the one
write people make here. The header badge is `templates/notifications/_badge.html`, fed
by the `unread_notifications()` template global (templating.py).
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from flasky.forms import MarkReadForm
from flasky.identity import login_required, require_login
from flasky.models import Notification, User, mark_read, unread_count, with_actors
from flasky.negotiate import invalid, respond, wants_fragment, wants_json
from flasky.pagination import Page, collection, cursor, next_url, page_of
from flasky.urls import url_for

bp = Blueprint("notifications", __name__)

PAGE = "notifications/index.html"
LIST = "notifications/_list.html"


@bp.get("/notifications")
@login_required
async def index() -> Response:
    """The viewer's notifications, newest first, a keyset page at a time (unread marked)."""
    viewer = await require_login()
    page, context = await _list_context(viewer)

    async def data() -> dict[str, Any]:
        items = [line.to_json() for line in page.items]
        total = await Notification.of(viewer.id).count()
        body = collection("notifications", items, page, total, "notifications.index")
        return {**body, "unread": context["unread"]}

    return await respond(PAGE, fragment="notifications/_page.html", data=data, **context)


@bp.post("/notifications/read")
@login_required
async def read() -> Response:
    """Mark the viewer's notifications read (those with id <= `up_to`, or all); answers
    the unread count, the badge with the list again (htmx), or the list (PRG)."""
    viewer = await require_login()
    form = await MarkReadForm.bind()
    if not form.validate_on_submit():
        context = {} if wants_json() else (await _list_context(viewer))[1]
        context.pop("form", None)  # this one, with its errors, comes back instead
        return await invalid(form, PAGE, fragment=LIST, **context)
    await mark_read(viewer.id, form.up_to.data)
    context = (await _list_context(viewer))[1] if wants_fragment() else {}
    unread = await unread_count(viewer.id)
    return await respond(
        fragment="notifications/_read_answer.html",
        data={"unread": unread},
        redirect_to=url_for("notifications.index"),
        **context,
    )


async def _list_context(viewer: User) -> tuple[Page[Notification], dict[str, Any]]:
    """A page of the viewer's lines with their actors (two queries whatever its length),
    and what the list shows of it: the lines, the next page's URL, the unread count and
    the mark-read form."""
    page = await page_of(Notification.of(viewer.id), "NOTIFICATIONS", ts_field="updated_at")
    lines = await with_actors(page.items, viewer)
    unread = await unread_count(viewer.id)
    first = cursor() is None
    # "Mark all read" marks what the first page shows and older: not what arrives meanwhile
    newest = max((line.id for line in lines), default=None) if first else None
    return page, {
        "lines": lines,
        "next_url": next_url(page, "notifications.index"),
        "cursor": cursor(),
        "unread": unread,
        "form": MarkReadForm(formdata=None, data={"up_to": newest}),
    }
