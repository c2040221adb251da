"""A short-lived, per-process cache of what anonymous readers are shown.

Most traffic to a social site is people who are not logged in reading the same pages.
`@anonymous_page_cache` keeps the rendered answer of a GET (page, htmx fragment or JSON)
for `FLASKY_PAGE_CACHE_SECONDS` (0 turns it off) and hands the same bytes to the next
anonymous reader of the same URL. It stays out of the way of everything personal: a
request with an auth cookie or an `Authorization` header, with flash messages waiting,
or whose answer sets a cookie, is never served from or stored in the cache.

Two layers share one store:
- `PageCacheMiddleware` sits in front of Quart (`app.asgi_app`) and answers a GET that
  carries neither an auth nor a session cookie nor an `Authorization` header straight
  from the store, without a request context, hooks or session: a hit costs little more
  than the server's own work. It stores only answers the decorator marked as cacheable,
  as they left Quart (security headers included; `X-Query-Count` becomes 0 on a hit).
- The decorator serves, inside Quart, the anonymous readers who carry a session cookie
  (a CSRF token from a visit to the login form): it checks for pending flash messages.
When an entry expires, one request renders it again while the others get the old copy
for those few milliseconds, instead of all rendering at once.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec

from quart import Quart, Response, current_app, request, session
from quart.wrappers.response import DataBody
from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header, parse_cookie

from flasky.negotiate import representation

P = ParamSpec("P")
MAX_ENTRIES = 512
# Set by the decorator on an answer the middleware may store; never reaches the client.
MARK = "X-Flasky-Page-Cache"
_MARK_BYTES = MARK.lower().encode()
# Headers that belong to one answer, not to the page: never replayed by the decorator.
_NOT_STORED = {"set-cookie", "content-length", "x-query-count", "date", MARK.lower()}

Key = tuple[Any, ...]
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


@dataclass(frozen=True)
class Entry:
    """A stored answer and when it stops being fresh."""

    expires: float
    status: int
    headers: tuple[tuple[Any, Any], ...]
    body: bytes


class PageStore:
    """Entries by key (bounded), and the keys some request is rendering right now."""

    def __init__(self) -> None:
        self.entries: dict[Key, Entry] = {}
        self.rendering: set[Key] = set()

    def lookup(self, key: Key, now: float) -> Entry | None:
        """A fresh entry, or the expired one while another request renders it anew."""
        entry = self.entries.get(key)
        if entry is None or (entry.expires <= now and key not in self.rendering):
            return None
        return entry

    @contextmanager
    def rendering_of(self, key: Key) -> Iterator[None]:
        """Mark `key` as being rendered for the duration of the block."""
        self.rendering.add(key)
        try:
            yield
        finally:
            self.rendering.discard(key)

    def put(self, key: Key, entry: Entry, now: float) -> None:
        """Store `entry`, dropping expired entries (or all) when the store is full."""
        if len(self.entries) >= MAX_ENTRIES:
            for stale in [k for k, e in self.entries.items() if e.expires <= now]:
                del self.entries[stale]
            if len(self.entries) >= MAX_ENTRIES:
                self.entries.clear()
        self.entries[key] = entry

    def clear(self) -> None:
        """Forget every entry."""
        self.entries.clear()


def store_of(app: Quart) -> PageStore:
    """The page store of `app` (one per process)."""
    return app.extensions.setdefault("flasky_page_cache", PageStore())


def clear(app: Quart | None = None) -> None:
    """Forget every stored answer of `app` (default: the current app)."""
    store_of(app or current_app._get_current_object()).clear()  # type: ignore[attr-defined]


def init_app(app: Quart) -> None:
    """Put the middleware in front of the app."""
    app.asgi_app = PageCacheMiddleware(app.asgi_app, app)  # type: ignore[method-assign]


# -- inside Quart: the decorator ----------------------------------------------------------


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
    return ("view", representation(), request.url, request.headers.get("HX-Target", ""), cookies)


def anonymous_page_cache(
    view: Callable[P, Awaitable[Any]],
) -> Callable[P, Awaitable[Any]]:
    """Serve anonymous GETs of this view from the page cache (see the module docstring)."""

    @functools.wraps(view)
    async def cached(*args: P.args, **kwargs: P.kwargs) -> Any:
        ttl = float(current_app.config.get("FLASKY_PAGE_CACHE_SECONDS") or 0)
        if ttl <= 0 or not cacheable_request():
            return await view(*args, **kwargs)
        store = store_of(current_app)
        key = cache_key()
        now = time.monotonic()
        entry = store.lookup(key, now)
        if entry is not None:
            response = Response(entry.body, status=entry.status, headers=list(entry.headers))
            if entry.expires > now:
                response.headers[MARK] = repr(entry.expires - now)
            return response
        with store.rendering_of(key):
            response = await current_app.make_response(await view(*args, **kwargs))
        if _storable(response):
            headers = tuple(
                (k, v) for k, v in response.headers.items() if k.lower() not in _NOT_STORED
            )
            now = time.monotonic()
            store.put(key, Entry(now + ttl, 200, headers, await response.get_data()), now)
            response.headers[MARK] = repr(ttl)
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


# -- in front of Quart: the middleware ------------------------------------------------------


class PageCacheMiddleware:
    """ASGI layer answering cookie-less anonymous GETs from the page store."""

    def __init__(self, asgi_app: ASGIApp, app: Quart) -> None:
        self.asgi_app = asgi_app
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.asgi_app(scope, receive, send)
            return
        key = self.key(scope)
        store = store_of(self.app)
        if key is not None:
            entry = store.lookup(key, time.monotonic())
            if entry is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": entry.status,
                        "headers": list(entry.headers),
                    }
                )
                await send({"type": "http.response.body", "body": entry.body})
                return
            with store.rendering_of(key):
                captured = await self._forward(scope, receive, send, capture=True)
            if captured is not None:
                store.put(key, captured, time.monotonic())
            return
        await self._forward(scope, receive, send, capture=False)

    def key(self, scope: dict[str, Any]) -> Key | None:
        """The store key of a cookie-less anonymous GET, else None (Quart decides)."""
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers[name.lower()] = value
        if b"authorization" in headers:
            return None
        cookies: tuple[tuple[str, str], ...] = ()
        if b"cookie" in headers:
            parsed = parse_cookie(headers[b"cookie"].decode("latin-1"))
            config = self.app.config
            if parsed.get(config["QUART_AUTH_COOKIE_NAME"]) or parsed.get(
                config["SESSION_COOKIE_NAME"]
            ):
                return None
            cookies = tuple(sorted(parsed.items(multi=True)))
        return (
            "asgi",
            _representation(headers),
            scope.get("scheme", "http"),
            headers.get(b"host", b""),
            scope.get("root_path", ""),
            scope.get("raw_path") or scope["path"].encode(),
            scope.get("query_string", b""),
            headers.get(b"hx-target", b""),
            cookies,
        )

    async def _forward(
        self, scope: dict[str, Any], receive: Any, send: Any, *, capture: bool
    ) -> Entry | None:
        """Run Quart; strip the mark; return the answer as an Entry when it was marked."""
        state: dict[str, Any] = {"ttl": None, "body": []}

        async def relay(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kept = []
                for name, value in message["headers"]:
                    if name.lower() == _MARK_BYTES:
                        state["ttl"] = float(value)
                    else:
                        kept.append((name, value))
                message = {**message, "headers": kept}
                state["status"], state["headers"] = message["status"], kept
            elif message["type"] == "http.response.body" and capture and state["ttl"]:
                state["body"].append(message.get("body", b""))
            await send(message)

        await self.asgi_app(scope, receive, relay)
        headers = state.get("headers") or []
        if not (capture and state["ttl"] and state.get("status") == 200):
            return None
        if any(name.lower() == b"set-cookie" for name, _ in headers):
            return None
        replay = tuple(
            (name, b"0" if name.lower() == b"x-query-count" else value) for name, value in headers
        )
        return Entry(time.monotonic() + state["ttl"], 200, replay, b"".join(state["body"]))


def _representation(headers: dict[bytes, bytes]) -> str:
    """'json', 'fragment' or 'page', decided from raw headers as `negotiate` decides it."""
    accept = parse_accept_header(headers.get(b"accept", b"").decode("latin-1") or None, MIMEAccept)
    if accept.best_match(["text/html", "application/json"]) == "application/json":
        return "json"
    htmx = headers.get(b"hx-request") == b"true"
    if htmx and b"hx-boosted" not in headers and b"hx-history-restore-request" not in headers:
        return "fragment"
    return "page"
