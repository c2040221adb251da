"""Links we send point at us, and requests are read one way by every layer.

- `url_for(endpoint, _external=True, ...)` builds absolute URLs from `FLASKY_BASE_URL`,
  never from the request's `Host` (mail, Atom, JSON all use it).
- `RequestHygiene`, the outermost ASGI layer, folds repeated request headers into one
  (so the page cache and Quart cannot read `Accept: a` + `Accept: b` differently) and
  marks requests for a host this deployment does not serve; `check_host` (the first
  before_request) answers those with 400.
- `local_path(target)` is the one open-redirect guard: a path on this site, or None.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import quart
from quart import Quart, current_app, has_request_context, request

from flasky.exceptions import BadHost

BAD_HOST = "flasky.bad_host"
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def base_url() -> str:
    """The origin of every absolute URL we send, without a trailing slash."""
    return str(current_app.config["FLASKY_BASE_URL"]).rstrip("/")


def url_for(endpoint: str, *, _external: bool = False, **values: Any) -> str:
    """Quart's `url_for`, but an absolute URL starts with FLASKY_BASE_URL."""
    if has_request_context():
        path = quart.url_for(endpoint, **values)
    else:  # a command or a log handler: build from the URL map alone
        anchor = values.pop("_anchor", None)
        adapter = current_app.url_map.bind("localhost", script_name="/")
        path = adapter.build(endpoint, values)
        if anchor:
            path += f"#{anchor}"
    return base_url() + path if _external else path


def allowed_hosts(config: dict[str, Any]) -> frozenset[str]:
    """`host` and `host:port` values a production request may name: the base URL's host,
    and FLASKY_ALLOWED_HOSTS (comma-separated)."""
    parts = urlsplit(str(config.get("FLASKY_BASE_URL") or ""))
    hosts: set[str] = set()
    if parts.hostname:
        port = str(parts.port) if parts.port else _DEFAULT_PORTS.get(parts.scheme, "")
        hosts.add(f"{parts.hostname}:{port}")
        if port == _DEFAULT_PORTS.get(parts.scheme):
            hosts.add(parts.hostname)
    for item in str(config.get("FLASKY_ALLOWED_HOSTS") or "").split(","):
        if item.strip():
            hosts.add(item.strip().lower())
    return frozenset(hosts)


def fold_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Each request header once: repeated ones joined as HTTP joins list values
    (`, `; `; ` for Cookie), so every reader sees the same single value."""
    seen: dict[bytes, int] = {}
    folded: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        key = name.lower()
        if key in seen:
            index = seen[key]
            glue = b"; " if key == b"cookie" else b", "
            folded[index] = (key, folded[index][1] + glue + value)
        else:
            seen[key] = len(folded)
            folded.append((key, value))
    return folded


class RequestHygiene:
    """ASGI: fold repeated headers, and mark a request whose Host is repeated or (in
    production) not ours; Quart answers a marked request with 400 and caches nothing."""

    def __init__(self, asgi_app: Any, app: Quart) -> None:
        self.asgi_app = asgi_app
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raw = scope["headers"]
            hosts = [v for n, v in raw if n.lower() == b"host"]
            scope = {**scope, "headers": fold_headers(raw)}
            if len(hosts) > 1 or not self._host_ok(hosts[0] if hosts else b""):
                scope[BAD_HOST] = True
        await self.asgi_app(scope, receive, send)

    def _host_ok(self, host: bytes) -> bool:
        config = self.app.config
        if not config.get("PRODUCTION"):
            return True
        allowed = config.get("_ALLOWED_HOSTS")
        if allowed is None:
            allowed = config["_ALLOWED_HOSTS"] = allowed_hosts(config)
        return host.decode("latin-1").strip().lower() in allowed


def check_host() -> None:
    """Refuse a request RequestHygiene marked (before anything else looks at it)."""
    if request.scope.get(BAD_HOST):
        raise BadHost()


# Browsers drop tabs and newlines inside URLs and treat "\" as "/": "/\t/evil.example"
# and "/\\evil.example" would both leave the site.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def local_path(target: str | None) -> str | None:
    """`target` as a path on this site (a path, or an absolute URL on FLASKY_BASE_URL),
    or None for anything empty or that could lead elsewhere. The one open-redirect guard:
    `?next=` after login and the moderators' way back both use it."""
    if not target:
        return None
    cleaned = _CONTROL.sub("", target).strip()
    if "\\" in cleaned:
        return None
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc:
        ours = urlsplit(base_url())
        if (parts.scheme, parts.netloc.lower()) != (ours.scheme, ours.netloc.lower()):
            return None
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//"):
        return None
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    return path + query + fragment


def init_app(app: Quart) -> None:
    """The hygiene layer outermost, the host check first, and `url_for` for templates."""
    app.asgi_app = RequestHygiene(app.asgi_app, app)  # type: ignore[method-assign]
    app.before_request_funcs.setdefault(None, []).insert(0, _check_host_hook)
    app.jinja_env.globals["url_for"] = url_for


async def _check_host_hook() -> None:
    check_host()
