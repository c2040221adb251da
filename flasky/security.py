"""Password hashing off the event loop, signed tokens, CSRF, request bodies, headers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from quart import Quart, Response, current_app, g, request, session
from werkzeug.sansio.multipart import Data, Epilogue, Field, MultipartDecoder, NeedData

from flasky import safejson
from flasky.exceptions import BadRequest

# -- password hashing ------------------------------------------------------------------

_hasher = PasswordHasher()


def configure_hasher(fast: bool) -> None:
    """Use cheap argon2 parameters (tests) or the library's slow defaults."""
    global _hasher
    if fast:
        _hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    else:
        _hasher = PasswordHasher()


async def hash_password(password: str) -> str:
    """argon2id hash of `password`, computed in a worker thread."""
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; runs in a worker thread."""
    if not password_hash:
        return False

    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


_dummy_hashes: dict[str, str] = {}


async def dummy_verify(password: str) -> None:
    """Spend the time a real check spends (same parameters), for an account that does
    not exist: timing tells nobody which addresses have accounts."""
    params = f"{_hasher.time_cost}:{_hasher.memory_cost}:{_hasher.parallelism}"
    if params not in _dummy_hashes:
        _dummy_hashes[params] = await hash_password(secrets.token_hex(16))
    await verify_password(_dummy_hashes[params], password)


def password_fingerprint(password_hash: str) -> str:
    """A short keyed digest of a password hash: tokens carry it and die when it changes."""
    key = current_app.secret_key
    key_bytes = key.encode() if isinstance(key, str) else bytes(key or b"")
    return hmac.new(key_bytes, (password_hash or "").encode(), hashlib.sha256).hexdigest()[:16]


# -- signed, purpose-bound, expiring tokens ---------------------------------------------


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=f"flasky.{purpose}")


def make_token(purpose: str, payload: dict[str, Any]) -> str:
    """Sign `payload` for one purpose ('confirm', 'reset', 'change_email', 'auth')."""
    return _serializer(purpose).dumps(payload)


def read_token(purpose: str, token: str, max_age: int) -> dict[str, Any] | None:
    """The payload of a valid, unexpired token of this purpose, else None."""
    try:
        data = _serializer(purpose).loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired, UnicodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- CSRF ---------------------------------------------------------------------------------

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRFToken"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _csrf_signer() -> TimestampSigner:
    return TimestampSigner(current_app.secret_key, salt="flasky.csrf")


def generate_csrf() -> str:
    """A token for this browser session (made once, signed once per request)."""
    token = g.get("csrf_signed")
    if token is None:
        raw = session.get("csrf")
        if not raw:
            raw = secrets.token_urlsafe(24)
            session["csrf"] = raw
        token = g.csrf_signed = _csrf_signer().sign(raw).decode()
    return token


def validate_csrf(token: str | None) -> bool:
    """True when `token` was signed for this session and is not older than the limit."""
    raw = session.get("csrf")
    if not token or not raw:
        return False
    try:
        value = _csrf_signer().unsign(token, max_age=current_app.config["CSRF_TIME_LIMIT"])
    except (BadSignature, SignatureExpired, UnicodeError):
        return False
    return hmac.compare_digest(value.decode(), raw)


async def csrf_token_from_request() -> str | None:
    """The token sent as `X-CSRFToken` header or as the `csrf_token` form field."""
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form
        return form.get(CSRF_FIELD)
    return None


# -- request bodies ---------------------------------------------------------------------

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
BAD_TEXT = "The request holds text that is not UTF-8, or NUL characters."


async def check_body() -> None:
    """Refuse a write's body before anything reads it: over MAX_CONTENT_LENGTH once read
    (a chunked upload announces no length) → 413; form fields or JSON strings that are not
    UTF-8, or that hold NUL or lone surrogates → 400; JSON that is malformed, nested
    deeper than 32 levels or repeats a key with another type → 400. Werkzeug would quietly
    turn bad bytes into U+FFFD, and PostgreSQL refuses NUL and surrogates with an error."""
    data = await request.get_data()  # Quart raises 413 past MAX_CONTENT_LENGTH
    if not data or not (request.mimetype in FORM_TYPES or request.is_json):
        return
    try:
        texts = _json_texts(data) if request.is_json else _form_texts(data)
        for text in texts:
            if "\x00" in text:
                raise ValueError("NUL")
            text.encode("utf-8")  # a lone surrogate cannot be encoded
    except (UnicodeError, ValueError):
        raise BadRequest(BAD_TEXT) from None


def _json_texts(data: bytes) -> list[str]:
    """Every key and string of a JSON body (BadRequest when it is not JSON we accept)."""
    try:
        document = safejson.loads(data.decode("utf-8"))
    except safejson.BadJSON as exc:
        raise BadRequest(str(exc)) from None
    found: list[str] = []
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            found.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def _form_texts(data: bytes) -> Iterator[str]:
    """Every field name and value of a form body, decoded strictly."""
    if request.mimetype == "application/x-www-form-urlencoded":
        for pair in data.split(b"&"):
            for part in pair.split(b"=", 1):
                yield unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
        return
    boundary = request.mimetype_params.get("boundary", "").encode("latin-1")
    decoder = MultipartDecoder(boundary)
    decoder.receive_data(data)
    decoder.receive_data(None)
    chunks: list[bytes] | None = None
    while not isinstance(event := decoder.next_event(), Epilogue | NeedData):
        if isinstance(event, Field):
            chunks = []
            yield event.name
        elif isinstance(event, Data) and chunks is not None:
            chunks.append(event.data)
            if not event.more_data:
                yield b"".join(chunks).decode("utf-8")
                chunks = None
        elif not isinstance(event, Data):
            chunks = None  # a file: bytes, not text


class FinishReading:
    """ASGI middleware: an answer that comes before the client has sent all of its body
    (a 413, or a 401 that never needed the body) waits for the rest of the body, up to
    `seconds`, before it is completed. Otherwise the server closes the connection with
    data unread, and the client's kernel reports a reset instead of our answer."""

    def __init__(self, app: Any, seconds: float = 5.0) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = asyncio.Event()

        async def watched() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                received.set()
            return message

        async def held(message: dict[str, Any]) -> None:
            last = message["type"] == "http.response.body" and not message.get("more_body")
            if last and not received.is_set():
                # Quart's own receiver keeps reading (and dropping) the body meanwhile.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(received.wait(), self.seconds)
            await send(message)

        await self.app(scope, watched, held)


# -- response headers and request limits ------------------------------------------------

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' https://secure.gravatar.com data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def init_app(app: Quart) -> None:
    """Hashing parameters, strict headers on every answer, the request size limit."""
    configure_hasher(bool(app.config.get("PASSWORD_HASH_FAST")))
    app.asgi_app = FinishReading(app.asgi_app)  # type: ignore[method-assign]

    @app.after_request
    async def _headers(response: Response) -> Response:
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config["PRODUCTION"]:
            h.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
