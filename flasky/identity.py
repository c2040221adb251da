"""Who is asking: the signed-in viewer from the quart-auth cookie, HTTP Basic
(`email:password` or `token:`), or a bearer token — loaded once per request."""

from __future__ import annotations

import base64
import binascii
import secrets

from quart import g, request
from quart_auth import AuthUser, current_user, login_user, logout_user

from flasky.models import AnonymousUser, User

Viewer = User | AnonymousUser

# The longest address; auth tokens are far shorter. A longer Basic name is refused before
# the throttle looks it up (its key would not fit the login_failures column).
MAX_NAME = 254


class AuthRequired(Exception):
    """Raised when a route needs a signed-in viewer and there is none (401 / login)."""


class CredentialsInvalid(Exception):
    """Raised when an Authorization header names nobody (401 for JSON clients)."""


class Forbidden(Exception):
    """Raised when the viewer lacks a permission (403)."""

    def __init__(self, message: str = "You do not have permission to do that.") -> None:
        super().__init__(message)
        self.message = message


class Unconfirmed(Exception):
    """Raised when an unconfirmed account asks for anything but /auth/* (redirect / 403)."""


def session_id_for(user: User) -> str:
    """The quart-auth id: user id, password fingerprint (a new password ends every
    session), and a fresh nonce (the cookie is renewed at each login)."""
    return f"{user.id}.{user.password_fingerprint()}.{secrets.token_hex(8)}"


def sign_in(user: User, remember: bool = False) -> None:
    """Start a cookie session for `user` (a new cookie value every time)."""
    login_user(AuthUser(session_id_for(user)), remember=remember)
    g.viewer = user


def sign_out() -> None:
    """End the cookie session."""
    logout_user()
    g.viewer = AnonymousUser()


async def current_viewer() -> Viewer:
    """The viewer of this request, loaded at most once (role fetched with the user)."""
    viewer = getattr(g, "viewer", None)
    if viewer is None:
        viewer = await _load_viewer()
        g.viewer = viewer
    return viewer


def authenticated_by_header() -> bool:
    """True when the request carries Basic or bearer credentials (no CSRF needed)."""
    return "Authorization" in request.headers


async def _load_viewer() -> Viewer:
    header = request.headers.get("Authorization")
    if header is not None:
        user = await _user_from_authorization(header)
        if user is None:
            raise CredentialsInvalid()
        return user
    auth_id = current_user.auth_id
    if not auth_id:
        return AnonymousUser()
    try:
        user_id_text, fingerprint, _nonce = auth_id.split(".")
        user_id = int(user_id_text)
    except ValueError:
        return AnonymousUser()
    user = await User.get_or_none(id=user_id).select_related("role")
    if user is None or user.password_fingerprint() != fingerprint:
        return AnonymousUser()
    g.auth_method = "cookie"
    return user


async def _user_from_authorization(header: str) -> User | None:
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and value:
        g.auth_method = "token"
        return await User.verify_auth_token(value)
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
        return await User.verify_auth_token(username)
    g.auth_method = "basic"
    return await _check_basic_password(username, password)


async def _check_basic_password(email: str, password: str) -> User | None:
    """email:password, throttled like the login form (the check runs off the loop)."""
    from flasky.security import login_retry_after, record_login_failure

    retry_after = await login_retry_after(email, request.remote_addr)
    if retry_after:
        from flasky.errors import TooManyRequests

        raise TooManyRequests(retry_after)
    user = await User.get_or_none(email=email.strip().lower()).select_related("role")
    if user is None or not await user.verify_password(password):
        await record_login_failure(email, request.remote_addr)
        return None
    return user


async def require_login() -> User:
    """The signed-in, confirmed viewer, or raise AuthRequired / Unconfirmed."""
    viewer = await current_viewer()
    if not viewer.is_authenticated:
        raise AuthRequired()
    if not viewer.confirmed:
        raise Unconfirmed()
    return viewer  # type: ignore[return-value]


async def require_permission(permission: int) -> User:
    """The signed-in, confirmed viewer holding `permission`, or raise."""
    viewer = await require_login()
    if not viewer.can(permission):
        raise Forbidden()
    return viewer


# Bodies a cross-site HTML form can send: checked for CSRF even without a session (login CSRF).
_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}


def _needs_csrf(unsafe_methods: frozenset[str]) -> bool:
    """A write riding on the session cookie, a form post, or an /auth/* form sent as JSON.
    Elsewhere a JSON write with neither Authorization nor a signed-in cookie has nothing
    to forge: it gets its 401 instead of a 400 (so does POST /auth/tokens)."""
    if request.method not in unsafe_methods or authenticated_by_header():
        return False
    return (
        current_user.auth_id is not None
        or request.mimetype in _FORM_TYPES
        or (request.blueprint == "auth" and request.endpoint != "auth.tokens")
    )


# Endpoints an unconfirmed account may still reach.
_OPEN_ENDPOINTS = {"static", "health.healthz", "social.avatar"}


def init_app(app) -> None:  # type: ignore[no-untyped-def]
    """Per request: refuse oversize bodies, check CSRF on cookie writes, load the viewer,
    keep unconfirmed accounts at /auth/unconfirmed, refresh last_seen."""
    from flasky.errors import BadRequest
    from flasky.security import (
        UNSAFE_METHODS,
        check_body,
        csrf_token_from_request,
        validate_csrf,
    )

    @app.before_request
    async def _gate() -> None:
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.content_length is not None and request.content_length > limit:
            from werkzeug.exceptions import RequestEntityTooLarge

            raise RequestEntityTooLarge()
        if request.method in UNSAFE_METHODS and request.routing_exception is None:
            await check_body()  # chunked bodies over the limit, text that is not UTF-8
        if request.routing_exception is not None and authenticated_by_header():
            return  # no such route (404/405) whoever asks: don't check credentials first
        if _needs_csrf(UNSAFE_METHODS) and not validate_csrf(await csrf_token_from_request()):
            raise BadRequest("The CSRF token is missing or invalid.")
        if not authenticated_by_header() and current_user.auth_id is None:
            return  # anonymous: no query
        viewer = await current_viewer()
        if not viewer.is_authenticated:
            return
        await viewer.ping()  # type: ignore[union-attr]
        endpoint = request.endpoint or ""
        if not viewer.confirmed and not (
            endpoint.startswith("auth.") or endpoint in _OPEN_ENDPOINTS
        ):
            raise Unconfirmed()
