"""Who is asking: the signed-in viewer from a server-side session (the quart-auth cookie
names a `LoginSession` row), HTTP Basic (`email:password` or `token:`), or a bearer
token — loaded once per request — and the one password check every path uses.

`/api/v1/` takes Basic and token credentials only, never the cookie (SPEC §6).
"""

from __future__ import annotations

import base64
import binascii
import copy
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from quart import Quart, Response, current_app, g, request
from quart_auth import AuthUser, current_user, login_user, logout_user
from werkzeug.exceptions import RequestEntityTooLarge

from flasky import security, throttle
from flasky.exceptions import AuthRequired, BadRequest, CredentialsInvalid, Forbidden, Unconfirmed
from flasky.feed import VERSIONS, FeedCache
from flasky.models import AnonymousUser, LoginSession, User, unread_count, utcnow
from flasky.permissions import Permission

Viewer = User | AnonymousUser
P = ParamSpec("P")
T = TypeVar("T")

# The longest address; auth tokens are far shorter. A longer Basic name is refused before
# the throttle looks it up (its key would not fit the throttle's column).
MAX_NAME = 254

# Blueprints that accept Authorization credentials only.
HEADER_ONLY = {"api_v1"}


# -- the one password check ----------------------------------------------------------------


async def verify_credentials(email: str, password: str, user: User | None = None) -> User | None:
    """The account of `email` when `password` is its password, else None — under the
    login throttle (TooManyRequests), in the same time whether or not the account exists,
    a failure counted and a success forgiving the account. Every path that checks a
    password calls this: the login form and its JSON, HTTP Basic, the old password of
    change-password and change-email. `user` skips the lookup when the caller has it."""
    if user is None:
        user = await User.by_email(email)
    trusted = user is not None and user.id in throttle.device_accounts()
    await throttle.check_login(email, trusted_device=trusted)
    if user is None:
        await security.dummy_verify(password)
        ok = False
    else:
        ok = await user.verify_password(password)
    if ok:
        await throttle.forgive_account(email)
        return user
    await throttle.record_login_failure(email)
    return None


# -- sessions --------------------------------------------------------------------------------


async def sign_in(user: User, remember: bool = False) -> None:
    """Start a server-side session for `user` (a new cookie value every time); the
    browser's previous session, if any, ends. The header's unread count is looked up
    here, so the pages that follow find it in the process cache."""
    previous = current_user.auth_id
    if previous:
        await LoginSession.end(previous)
    token = await LoginSession.start(
        user, throttle.client_address(), request.headers.get("User-Agent")
    )
    login_user(AuthUser(token), remember=remember)
    throttle.remember_device(user.id)
    g.viewer = user
    await unread_count(user.id)


async def sign_out() -> None:
    """End this browser's session on the server, and its cookie."""
    token = current_user.auth_id
    if token:
        await LoginSession.end(token)
    logout_user()
    g.viewer = AnonymousUser()


async def current_viewer() -> Viewer:
    """The viewer of this request, loaded at most once (role fetched with the user)."""
    viewer = getattr(g, "viewer", None)
    if viewer is None:
        viewer = await _load_viewer()
        g.viewer = viewer
    return viewer


async def reload_viewer() -> Viewer:
    """The viewer of this request loaded afresh (a long request — a live stream — asks
    again after its account's sessions changed): anonymous once the session ended."""
    g.viewer = None
    try:
        viewer = await _load_viewer()
    except CredentialsInvalid:
        viewer = AnonymousUser()
    g.viewer = viewer
    return viewer


def authenticated_by_header() -> bool:
    """True when the request carries Basic or bearer credentials (no CSRF needed)."""
    return "Authorization" in request.headers


# The sessions and token users of this process, kept until the change feed says the
# account or its sessions changed (`sessions:<id>`, `user:<id>`): most signed-in requests
# then load no viewer from the database. Each request gets its own copy of the user.
SESSIONS: FeedCache[str, LoginSession] = FeedCache(limit=20_000)
TOKEN_USERS: FeedCache[int, User] = FeedCache(limit=20_000)


def _own_copy(user: User) -> User:
    """A request's own copy of a cached user (its changes stay in the request)."""
    clone = copy.copy(user)
    clone._await_when_save = {}
    return clone


async def _session_of(token: str) -> LoginSession | None:
    """The session a cookie names, from this process's cache or one query."""
    key = LoginSession.hash_token(token) if token and len(token) <= 128 else ""
    found = SESSIONS.get(key) if key else None
    if found is None:
        stamp = VERSIONS.stamp()
        found = await LoginSession.find(token)
        if found is None:
            return None
        SESSIONS.put(key, found, found.user.session_topics(), stamp)
    return found


async def _token_user(user_id: int) -> User | None:
    """The account a valid auth token names, from this process's cache or one query."""
    user = TOKEN_USERS.get(user_id)
    if user is None:
        stamp = VERSIONS.stamp()
        user = await User.get_or_none(id=user_id).select_related("role")
        if user is None:
            return None
        TOKEN_USERS.put(user_id, user, user.session_topics(), stamp)
    return _own_copy(user)


async def _load_viewer() -> Viewer:
    header = request.headers.get("Authorization")
    if header is not None:
        user = await _user_from_authorization(header)
        if user is None:
            raise CredentialsInvalid()
        return user
    token = current_user.auth_id
    if not token or request.blueprint in HEADER_ONLY:
        return AnonymousUser()
    found = await _session_of(token)
    if found is None:
        logout_user()  # ended elsewhere (logout, new password): drop the dead cookie
        return AnonymousUser()
    g.auth_method = "cookie"
    g.login_session = found  # shared: its last_used is the process's to keep
    return _own_copy(found.user)


async def _user_from_authorization(header: str) -> User | None:
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        g.auth_method = "token"
        return await User.verify_auth_token(value, load=_token_user)
    if scheme != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep or not username or len(username) > MAX_NAME:
        return None  # too long for an address or a token: no account, nothing to count
    if password == "":
        g.auth_method = "token"
        return await User.verify_auth_token(username, load=_token_user)
    g.auth_method = "basic"
    return await verify_credentials(username, password)


async def require_login() -> User:
    """The signed-in, confirmed viewer, or raise AuthRequired / Unconfirmed."""
    viewer = await current_viewer()
    if not isinstance(viewer, User):
        raise AuthRequired()
    if not viewer.confirmed:
        raise Unconfirmed()
    return viewer


async def new_token() -> dict[str, str | int]:
    """`{"token", "expiration"}` for the viewer who sent Basic email:password with this
    request (a token cannot mint another, a cookie cannot mint one), else
    CredentialsInvalid; Unconfirmed for an unconfirmed account."""
    viewer = await current_viewer()
    if not isinstance(viewer, User) or g.get("auth_method") != "basic":
        raise CredentialsInvalid()
    if not viewer.confirmed:
        raise Unconfirmed()
    expiration = int(current_app.config["TOKEN_EXPIRATION"])
    return {"token": viewer.generate_auth_token(), "expiration": expiration}


async def require_permission(permission: int) -> User:
    """The signed-in, confirmed viewer holding `permission`, or raise."""
    viewer = await require_login()
    if not viewer.can(permission):
        raise Forbidden()
    return viewer


def login_required(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Let only a signed-in, confirmed viewer through (401/redirect otherwise)."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        await require_login()
        return await func(*args, **kwargs)

    return wrapper


def permission_required(
    permission: int,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Let only a signed-in, confirmed viewer holding `permission` through (403 otherwise)."""

    def decorator(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            await require_permission(permission)
            return await func(*args, **kwargs)

        return wrapper

    return decorator


def admin_required(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Shorthand for `permission_required(Permission.ADMIN)`."""
    return permission_required(Permission.ADMIN)(func)


# Bodies a cross-site HTML form can send: checked for CSRF even without a session (login CSRF).
_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}


def _needs_csrf(unsafe_methods: frozenset[str]) -> bool:
    """A write riding on the session cookie, a form post, or an /auth/* form sent as JSON.
    Elsewhere a JSON write with neither Authorization nor a signed-in cookie has nothing
    to forge: it gets its 401 instead of a 400 (so does POST /auth/tokens, and /api/v1,
    which never reads the cookie)."""
    if request.method not in unsafe_methods or authenticated_by_header():
        return False
    if request.blueprint in HEADER_ONLY:
        return False
    return (
        current_user.auth_id is not None
        or request.mimetype in _FORM_TYPES
        or (request.blueprint == "auth" and request.endpoint != "auth.tokens")
    )


# Endpoints an unconfirmed account may still reach.
_OPEN_ENDPOINTS = {"static", "health.healthz", "social.avatar"}
# Answers that are the same for everyone: their own Cache-Control stands.
_PUBLIC_ENDPOINTS = {"static", "social.avatar"}


def init_app(app: Quart) -> None:
    """Per request: refuse oversize bodies, check CSRF on cookie writes, load the viewer,
    keep unconfirmed accounts at /auth/unconfirmed, refresh last_seen; signed-in answers
    are `Cache-Control: private, no-store`."""

    @app.before_request
    async def _gate() -> None:
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.content_length is not None and request.content_length > limit:
            raise RequestEntityTooLarge()
        if request.method in security.UNSAFE_METHODS and request.routing_exception is None:
            await security.check_body()  # chunked bodies over the limit, bad text, bad JSON
        if request.routing_exception is not None and authenticated_by_header():
            return  # no such route (404/405) whoever asks: don't check credentials first
        if _needs_csrf(security.UNSAFE_METHODS) and not security.validate_csrf(
            await security.csrf_token_from_request()
        ):
            raise BadRequest("The CSRF token is missing or invalid.")
        g.csrf_settled = True  # the forms' own CSRF check defers to this one
        if not authenticated_by_header() and current_user.auth_id is None:
            return  # anonymous: no query
        viewer = await current_viewer()
        if not isinstance(viewer, User):
            return
        now = utcnow()
        await viewer.ping(now)  # each at most once a minute
        login_session = g.get("login_session")
        if login_session is not None:
            await login_session.touch(now)
        endpoint = request.endpoint or ""
        if not viewer.confirmed and not (
            endpoint.startswith("auth.") or endpoint in _OPEN_ENDPOINTS
        ):
            raise Unconfirmed()

    @app.after_request
    async def _private(response: Response) -> Response:
        viewer = g.get("viewer")
        if (
            viewer is not None
            and viewer.is_authenticated
            and request.endpoint not in _PUBLIC_ENDPOINTS
        ):
            response.headers["Cache-Control"] = "private, no-store"
        return response
