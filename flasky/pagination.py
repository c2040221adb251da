"""Keyset (cursor) pages: page 1,000 costs what page 1 costs, and nothing is skipped or
repeated when rows arrive while someone scrolls.

A cursor is the (timestamp, id) of the last item shown, encoded opaquely; `prepared.keyset`
writes the condition.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from quart import current_app, request
from tortoise.queryset import QuerySet

from flasky import safejson
from flasky.prepared import Bound, keyset
from flasky.urls import url_for

T = TypeVar("T")


class BadCursor(ValueError):
    """A `?cursor=` value we did not write."""


def encode_cursor(moment: datetime, item_id: int) -> str:
    """Opaque, URL-safe cursor for the position after (moment, item_id)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    raw = json.dumps([moment.astimezone(UTC).isoformat(), item_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """(moment, id) from a cursor; BadCursor when it was not written by us."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, item_id = safejson.loads(base64.urlsafe_b64decode(padded.encode("ascii")), 2)
        moment = datetime.fromisoformat(stamp)
    except (ValueError, TypeError, binascii.Error, UnicodeError) as exc:
        raise BadCursor("invalid cursor") from exc
    if not isinstance(item_id, int) or isinstance(item_id, bool) or moment.tzinfo is None:
        raise BadCursor("invalid cursor")
    if not (0 <= item_id < 2**63 and 1900 <= moment.year <= 9000):  # what a database holds
        raise BadCursor("invalid cursor")
    return moment, item_id


@dataclass
class Page(Generic[T]):
    """One page of a list, and the cursor of the next (None on the last)."""

    items: list[T]
    next_cursor: str | None


async def keyset_page(
    query: QuerySet[Any] | Bound[Any],
    cursor: str | None,
    per_page: int,
    *,
    newest_first: bool = True,
    ts_field: str = "timestamp",
) -> Page[Any]:
    """Fetch one page of `query` ordered by (ts_field, id), after `cursor`. A prepared
    query (flasky/prepared.py) runs its SQL built once; a queryset is built each time."""
    moment, item_id = decode_cursor(cursor) if cursor else (None, None)
    if isinstance(query, Bound):
        rows = await query.page(moment, item_id, per_page + 1, newest_first=newest_first)
    else:
        rows = await keyset(
            query, moment, item_id, per_page + 1, newest_first=newest_first, ts_field=ts_field
        )
    items = list(rows[:per_page])
    next_cursor = None
    if len(rows) > per_page and items:
        last = items[-1]
        next_cursor = encode_cursor(getattr(last, ts_field), last.id)
    return Page(items=items, next_cursor=next_cursor)


# -- the request side: the cursor asked for, page sizes, links to the next page -----------


def cursor() -> str | None:
    """The `?cursor=` of this request, if any."""
    return request.args.get("cursor") or None


def per_page(kind: str) -> int:
    """Page size from FLASKY_<kind>_PER_PAGE (POSTS, FOLLOWERS, COMMENTS, NOTIFICATIONS)."""
    return int(current_app.config[f"FLASKY_{kind}_PER_PAGE"])


async def page_of(
    query: QuerySet[Any] | Bound[Any],
    kind: str,
    *,
    newest_first: bool = True,
    ts_field: str = "timestamp",
) -> Page[Any]:
    """The page of `query` this request's cursor asks for, FLASKY_<kind>_PER_PAGE long,
    in (`ts_field`, id) order."""
    return await keyset_page(
        query, cursor(), per_page(kind), newest_first=newest_first, ts_field=ts_field
    )


def next_url(page: Page[Any], endpoint: str, external: bool = False, **values: Any) -> str | None:
    """The URL of the page after `page` (absolute for JSON), or None on the last one."""
    if page.next_cursor is None:
        return None
    return url_for(endpoint, cursor=page.next_cursor, _external=external, **values)


def collection(
    key: str, items: list[Any], page: Page[Any], count: int, endpoint: str, **values: Any
) -> dict[str, Any]:
    """The collection JSON of SPEC §4: `{key: [...], "next": absolute URL or null, "count"}`."""
    return {key: items, "next": next_url(page, endpoint, external=True, **values), "count": count}
