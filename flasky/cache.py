"""A short-lived, per-process cache of what anonymous readers are shown.

Most traffic to a social site is people who are not logged in reading the same pages.
`@anonymous_page_cache` keeps the rendered answer of a GET (page, htmx fragment or JSON)
for `FLASKY_PAGE_CACHE_SECONDS` (0 turns it off) and hands the same bytes to the next
anonymous reader of the same URL. It stays out of the way of everything personal: a
request with an auth cookie or an `Authorization` header, with flash messages waiting,
or whose answer sets a cookie, is never served from or stored in the cache. Security
headers and `X-Query-Count` are added after the view, so a cached answer gets them fresh.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec

from quart import Quart, Response, current_app, request, session
from quart.wrappers.response import DataBody

from flasky.negotiate import representation

P = ParamSpec("P")
MAX_ENTRIES = 512
# Headers that belong to one answer, not to the page: never replayed from the cache.
_NOT_STORED = {"set-cookie", "content-length", "x-query-count", "date"}

Key = tuple[str, str, str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class Entry:
    """A stored answer and when it stops being served."""

    expires: float
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _store(app: Quart) -> dict[Key, Entry]:
    return app.extensions.setdefault("flasky_page_cache", {})


def clear(app: Quart | None = None) -> None:
    """Forget every stored answer of `app` (default: the current app)."""
    _store(app or current_app._get_current_object()).clear()  # type: ignore[attr-defined]


def cacheable_request() -> bool:
    """A GET from someone anonymous, with no flash message waiting to be shown."""
    if request.method != "GET" or "Authorization" in request.headers:
        return False
    config = current_app.config
    if request.cookies.get(config["QUART_AUTH_COOKIE_NAME"]):
        return False
    has_session = bool(request.cookies.get(config["SESSION_COOKIE_NAME"]))
    return not (has_session and session.get("_flashes"))


def cache_key() -> Key:
    """What the answer depends on: the form asked for, the full URL (JSON links are
    absolute, so the host counts), the htmx target, and cookies other than the session."""
    session_cookie = current_app.config["SESSION_COOKIE_NAME"]
    cookies = tuple(sorted((k, v) for k, v in request.cookies.items() if k != session_cookie))
    return (representation(), request.url, request.headers.get("HX-Target", ""), cookies)


def anonymous_page_cache(
    view: Callable[P, Awaitable[Any]],
) -> Callable[P, Awaitable[Any]]:
    """Serve anonymous GETs of this view from the page cache (see the module docstring)."""

    @functools.wraps(view)
    async def cached(*args: P.args, **kwargs: P.kwargs) -> Any:
        ttl = float(current_app.config.get("FLASKY_PAGE_CACHE_SECONDS") or 0)
        if ttl <= 0 or not cacheable_request():
            return await view(*args, **kwargs)
        store = _store(current_app)
        key = cache_key()
        now = time.monotonic()
        entry = store.get(key)
        if entry is not None and entry.expires > now:
            return Response(entry.body, status=entry.status, headers=list(entry.headers))
        response = await current_app.make_response(await view(*args, **kwargs))
        if _storable(response):
            _put(store, key, now, ttl, response, await response.get_data())
        return response

    return cached


def _storable(response: Response) -> bool:
    return (
        response.status_code == 200
        and "Set-Cookie" not in response.headers
        and not session.modified
        and "no-store" not in (response.headers.get("Cache-Control") or "")
        and isinstance(response.response, DataBody)
    )


def _put(
    store: dict[Key, Entry], key: Key, now: float, ttl: float, response: Response, body: bytes
) -> None:
    if len(store) >= MAX_ENTRIES:
        for stale in [k for k, e in store.items() if e.expires <= now]:
            del store[stale]
        if len(store) >= MAX_ENTRIES:
            store.clear()
    headers = tuple((k, v) for k, v in response.headers.items() if k.lower() not in _NOT_STORED)
    store[key] = Entry(now + ttl, response.status_code, headers, body)
