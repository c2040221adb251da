"""A per-process cache of what anonymous readers are shown.

Most traffic to a social site is people who are not logged in reading the same pages.
`@anonymous_page_cache` marks the answer of a GET (page, htmx fragment or JSON) as one
the next anonymous reader of the same URL may be handed until something it shows
changes (the change feed, `flasky/feed.py`), for at most `FLASKY_PAGE_CACHE_SECONDS`
(a long safety limit; 0 turns the cache off). It stays out of the way of everything
personal: a request with an auth cookie or an `Authorization` header, with flash messages
waiting, or whose answer sets a cookie, is never served from or stored in the cache.

Two layers share one store and one key (`page_key`, built from the same scope and the
same `negotiate.representation_from` in both):
- `PageCacheMiddleware` sits in front of Quart and answers a GET that carries neither an
  auth nor a session cookie nor an `Authorization` header straight from the store,
  without a request context, hooks or session. It is also the only writer: it stores
  an answer the decorator marked, as it left Quart (security headers included;
  `X-Query-Count` becomes 0), once per miss.
- The decorator serves, inside Quart, the anonymous readers who carry a session cookie
  (a CSRF token from a visit to the login form): it checks for pending flash messages.

What an entry shows is recorded while it renders: every post, comment and user row built
from the database adds its topic (`models.base.Shown`: "post:12"), and a view adds the
lists it shows (`shows("posts")`). The entry keeps those topics and the feed's stamp from
when it began to render; it is dropped the moment an event names one of them (a write of
this process before its writer answers, another process's as soon as the listener hears
it), and never stored if one moved while it rendered. While the listener cannot hear the
database nothing is served or stored.

An answer that is not stored (a 404 for a deleted post, a 500, a cookie) removes the
entry it would have replaced. When an entry reaches its safety limit, one request renders
it again while the others get the old copy, for at most `STALE_GRACE` seconds (a request that hangs,
say one that declared a body and never sent it, cannot keep an old answer alive).
GETs that carry a body are never served from, nor stored in, the cache.
"""

from __future__ import annotations

import functools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ParamSpec

from quart import Quart, Response, current_app, g, request, session
from quart.wrappers.response import DataBody
from werkzeug.http import parse_cookie

from flasky.feed import VERSIONS, request_stamp
from flasky.models.base import SHOWN
from flasky.negotiate import representation_from
from flasky.urls import BAD_HOST

P = ParamSpec("P")
# Per process: entries and bytes of body kept (the least recently used go first). An
# entry now lives until what it shows changes, so the store holds a site's hot pages.
MAX_ENTRIES = 10_000
MAX_BYTES = 64 * 1024 * 1024
# An expired entry is served while another request renders it, for at most this long.
STALE_GRACE = 1.0
# Never keyed: a live stream (SPEC §9) is never one answer to keep.
UNCACHED_PATHS = frozenset({"/stream"})
# Set by the decorator on an answer the middleware may store; never reaches the client.
# Its value is the entry's time to live, or DROP: forget the stored answer of this key.
MARK = "X-Flasky-Page-Cache"
# In the scope of a request the middleware is rendering: a stale entry is not for it.
RENDERING = "flasky.page_cache_rendering"
# In the scope of a cacheable request: (the feed stamp it started at, the topics shown).
SHOWN_KEY = "flasky.page_cache_shown"
DROP = "drop"
_MARK_BYTES = MARK.lower().encode()

Key = tuple[Any, ...]
ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


@dataclass(frozen=True)
class Entry:
    """A stored answer, what it showed (change-feed topics, from `stamp` on) and when
    its safety time to live ends."""

    expires: float
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    topics: frozenset[str] = frozenset()
    stamp: int = 0


class PageStore:
    """Entries by key, least recently used dropped first, and the keys some request is
    rendering right now (with when it started)."""

    def __init__(self) -> None:
        self.entries: OrderedDict[Key, Entry] = OrderedDict()
        self.rendering: dict[Key, float] = {}
        self.size = 0  # bytes of body held

    def lookup(self, key: Key, now: float, stale_ok: bool = True) -> Entry | None:
        """A fresh entry, or (if `stale_ok`) the expired one while another request
        renders it anew."""
        entry = self.entries.get(key)
        if entry is None:
            return None
        if not VERSIONS.fresh(entry.topics, entry.stamp):  # something it shows changed
            self.discard(key)
            return None
        if entry.expires <= now:
            if not stale_ok:
                return None
            started = self.rendering.get(key)
            if started is None or now - started > STALE_GRACE:
                return None
        self.entries.move_to_end(key)
        return entry

    @contextmanager
    def rendering_of(self, key: Key, now: float | None = None) -> Any:
        """Mark `key` as being rendered for the duration of the block."""
        self.rendering[key] = time.monotonic() if now is None else now
        try:
            yield
        finally:
            self.rendering.pop(key, None)

    def put(self, key: Key, entry: Entry) -> None:
        """Store `entry`, dropping the least recently used entries past MAX_ENTRIES or
        MAX_BYTES — unless something it shows changed while it rendered."""
        self.discard(key)
        if not VERSIONS.fresh(entry.topics, entry.stamp):
            return
        self.entries[key] = entry
        self.size += len(entry.body)
        while len(self.entries) > MAX_ENTRIES or self.size > MAX_BYTES:
            _, dropped = self.entries.popitem(last=False)
            self.size -= len(dropped.body)

    def discard(self, key: Key) -> None:
        """Forget the entry of `key` (its page now answers something else)."""
        dropped = self.entries.pop(key, None)
        if dropped is not None:
            self.size -= len(dropped.body)

    def clear(self) -> None:
        """Forget every entry."""
        self.entries.clear()
        self.size = 0


def store_of(app: Quart) -> PageStore:
    """The page store of `app` (one per process)."""
    return app.extensions.setdefault("flasky_page_cache", PageStore())


def clear(app: Quart | None = None) -> None:
    """Forget every stored answer of `app` (default: the current app)."""
    store_of(app or current_app).clear()


def shows(*topics: str) -> None:
    """The answer being rendered shows these lists too ("posts": everyone's posts), beyond
    the rows it loads (which record themselves)."""
    shown = SHOWN.get()
    if shown is not None:
        shown.update(topics)


def init_app(app: Quart) -> None:
    """Put the middleware in front of the app; mark answers it may store."""
    app.asgi_app = PageCacheMiddleware(app.asgi_app, app)  # type: ignore[method-assign]
    app.after_request(_mark)


def page_key(
    form: str, path: bytes, query: bytes, hx_target: str | None, cookies: list[tuple[str, str]]
) -> Key:
    """What an anonymous answer depends on: its representation, the path and query, the
    htmx target, and the cookies other than the session. Never the Host: absolute URLs
    come from FLASKY_BASE_URL."""
    return (form, path, query, hx_target or "", tuple(sorted(cookies)))


def _has_body(header: Callable[[str], str | None]) -> bool:
    length = header("Content-Length")
    return bool(header("Transfer-Encoding")) or (length is not None and length.strip() != "0")


# -- inside Quart: the decorator ----------------------------------------------------------


def cacheable_request() -> bool:
    """A body-less GET from someone anonymous, with no flash message waiting."""
    if request.method != "GET" or "Authorization" in request.headers:
        return False
    if request.scope.get(BAD_HOST) or _has_body(request.headers.get):
        return False
    config = current_app.config
    if request.cookies.get(config["QUART_AUTH_COOKIE_NAME"]):
        return False
    has_session = bool(request.cookies.get(config["SESSION_COOKIE_NAME"]))
    return not (has_session and session.get("_flashes"))


def request_key() -> Key:
    """`page_key` of this request."""
    session_cookie = current_app.config["SESSION_COOKIE_NAME"]
    scope = request.scope
    cookies = [(k, v) for k, v in request.cookies.items(multi=True) if k != session_cookie]
    return page_key(
        representation_from(request.headers.get),
        scope.get("raw_path") or scope["path"].encode(),
        scope.get("query_string", b""),
        request.headers.get("HX-Target"),
        cookies,
    )


def anonymous_page_cache(
    view: Callable[P, Awaitable[Any]],
) -> Callable[P, Awaitable[Any]]:
    """Serve anonymous GETs of this view from the page cache (see the module docstring)."""

    @functools.wraps(view)
    async def cached(*args: P.args, **kwargs: P.kwargs) -> Any:
        ttl = float(current_app.config.get("FLASKY_PAGE_CACHE_SECONDS") or 0)
        if ttl <= 0 or not cacheable_request():
            return await view(*args, **kwargs)
        entry = None
        if request.scope.get(RENDERING) != "looked up":  # the middleware did not look yet
            stale_ok = not request.scope.get(RENDERING)
            entry = store_of(current_app).lookup(request_key(), time.monotonic(), stale_ok)
        if entry is not None:
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in entry.headers]
            return Response(entry.body, status=entry.status, headers=headers)
        g.page_cache_ttl = ttl  # `_mark` decides once the answer (or the error) is made
        shown: set[str] = set()
        request.scope[SHOWN_KEY] = (request_stamp(), shown)
        token = SHOWN.set(shown)
        try:
            return await view(*args, **kwargs)
        finally:
            SHOWN.reset(token)

    return cached


async def _mark(response: Response) -> Response:
    """After a rendered cacheable GET: let the middleware store the answer, or forget the
    stored one when the page now answers something else (a deleted post's 404)."""
    ttl = g.get("page_cache_ttl")
    if ttl is not None:
        if _storable(response):
            response.headers[MARK] = repr(ttl)
        elif response.status_code != 200:
            response.headers[MARK] = DROP
    return response


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
    """ASGI layer answering cookie-less anonymous GETs from the page store, and storing
    the answers Quart marked."""

    def __init__(self, asgi_app: ASGIApp, app: Quart) -> None:
        self.asgi_app = asgi_app
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"
            or scope.get(BAD_HOST)
            or scope["path"] in UNCACHED_PATHS
        ):
            await self.asgi_app(scope, receive, send)
            return
        keyed = self.key(scope)
        if keyed is None:
            await self.asgi_app(scope, receive, send)
            return
        key, servable = keyed
        store = store_of(self.app)
        if servable:
            entry = store.lookup(key, time.monotonic())
            if entry is not None:
                await send(
                    {"type": "http.response.start", "status": entry.status,
                     "headers": list(entry.headers)}
                )  # fmt: skip
                await send({"type": "http.response.body", "body": entry.body})
                return
        scope[RENDERING] = "looked up" if servable else "rendering"
        with store.rendering_of(key):
            mark, captured = await self._forward(scope, receive, send)
        if captured is not None:
            store.put(key, captured)
        elif mark == DROP:
            store.discard(key)

    def key(self, scope: dict[str, Any]) -> tuple[Key, bool] | None:
        """(store key, may be served here) of an anonymous body-less GET, else None.
        Requests with a session cookie are keyed (their answers stored) but served inside
        Quart, which can see pending flash messages."""
        headers = {name: value.decode("latin-1") for name, value in scope["headers"]}

        def header(name: str) -> str | None:
            return headers.get(name.lower().encode("latin-1"))

        if header("Authorization") is not None or _has_body(header):
            return None
        config = self.app.config
        cookies = parse_cookie(header("Cookie") or "")
        if cookies.get(config["QUART_AUTH_COOKIE_NAME"]):
            return None
        session_cookie = config["SESSION_COOKIE_NAME"]
        key = page_key(
            representation_from(header),
            scope.get("raw_path") or scope["path"].encode(),
            scope.get("query_string", b""),
            header("HX-Target"),
            [(k, v) for k, v in cookies.items(multi=True) if k != session_cookie],
        )
        return key, not cookies.get(session_cookie)

    async def _forward(
        self, scope: dict[str, Any], receive: Any, send: Any
    ) -> tuple[str | None, Entry | None]:
        """Run Quart and strip the mark: (the mark, the answer as an Entry if marked with
        a time to live)."""
        state: dict[str, Any] = {"mark": None, "body": [], "status": None, "headers": []}

        async def relay(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kept = []
                for name, value in message["headers"]:
                    if name.lower() == _MARK_BYTES:
                        state["mark"] = value.decode("latin-1")
                    else:
                        kept.append((name, value))
                message = {**message, "headers": kept}
                state["status"], state["headers"] = message["status"], kept
            elif message["type"] == "http.response.body" and state["mark"] not in (None, DROP):
                state["body"].append(message.get("body", b""))
            await send(message)

        await self.asgi_app(scope, receive, relay)
        mark, headers = state["mark"], state["headers"]
        if mark in (None, DROP) or state["status"] != 200:
            return (DROP if state["status"] != 200 and mark else mark), None
        if any(name.lower() == b"set-cookie" for name, _ in headers):
            return None, None
        replay = tuple(
            (name, b"0" if name.lower() == b"x-query-count" else value) for name, value in headers
        )
        if SHOWN_KEY not in scope:
            return None, None  # not rendered by the decorator: nothing says what it shows
        stamp, shown = scope[SHOWN_KEY]
        if stamp is None:
            return None, None
        entry = Entry(
            time.monotonic() + float(mark), 200, replay, b"".join(state["body"]),
            frozenset(shown), stamp,
        )  # fmt: skip
        return mark, entry
