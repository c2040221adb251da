"""Throttles, counted in the database (`ThrottleEvent`) so every process shares them:

- login: 5 failures for one account in 15 minutes throttle that account, except from a
  browser that signed in to it before (the signed device cookie); 20 failures from one
  address throttle that address. Every credential path counts the same way.
- mail: at most 3 mails of one kind (reset, confirm, change_email) per account and per
  target address per hour; past that nothing is queued and the answer is unchanged.
- registration: 10 per client address per hour (429).
- writes: posts, comments, follows/likes per user per hour (`FLASKY_RATE_LIMITS`).

`client_address()` is the one reading of who is asking from where: the peer address,
or with `FLASKY_TRUSTED_PROXIES` = N the N-th `X-Forwarded-For` entry from the right.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer
from quart import Quart, Response, current_app, g, request

from flasky.exceptions import TooManyRequests
from flasky.models import ThrottleEvent, utcnow

DEVICE_COOKIE = "flasky_device"
DEVICE_AGE = 365 * 24 * 3600
DEVICE_MAX_ACCOUNTS = 10

DEFAULT_WRITE_LIMITS = {"posts": (30, 3600), "comments": (60, 3600), "follows": (200, 3600)}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_LIMIT = re.compile(r"\s*(posts|comments|follows)\s*=\s*(\d+)\s*/\s*(\d*)\s*([smhd])\s*")
# The longest window of any throttle: events older than this count for nothing.
LONGEST_WINDOW = timedelta(days=1)


def parse_rate_limits(text: str | None) -> dict[str, tuple[int, int]]:
    """FLASKY_RATE_LIMITS: unset or empty → the defaults; "off" → none; else
    "posts=100/h,comments=300/h,follows=1000/h" (units s, m, h, d; "5/10m" too), any
    kind left out keeping its default. ValueError names what is wrong."""
    text = (text or "").strip()
    if text.lower() == "off":
        return {}
    limits = dict(DEFAULT_WRITE_LIMITS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        found = _LIMIT.fullmatch(item)
        if found is None:
            raise ValueError(f"FLASKY_RATE_LIMITS: {item!r} is not kind=N/unit (e.g. posts=30/h)")
        kind, count, span, unit = found.groups()
        limits[kind] = (int(count), int(span or 1) * _UNITS[unit])
    return limits


def client_address() -> str | None:
    """The client's address: the peer, or the entry FLASKY_TRUSTED_PROXIES hops back in
    X-Forwarded-For (with 0, the header is ignored: anyone can write it)."""
    hops = int(current_app.config.get("FLASKY_TRUSTED_PROXIES") or 0)
    if hops > 0:
        entries = [e.strip() for e in request.headers.get("X-Forwarded-For", "").split(",")]
        entries = [e for e in entries if e]
        if len(entries) >= hops:
            return entries[-hops][:64]
    # The ASGI peer itself (Quart's remote_addr is a header a client could also send).
    client = request.scope.get("client")
    return str(client[0])[:64] if client else None


async def _retry_after(limits: dict[str, int], window: int, using_db: Any = None) -> int | None:
    """Seconds until every key of `limits` is under its limit again, or None now."""
    now = utcnow()
    span = timedelta(seconds=window)
    oldest = await ThrottleEvent.oldest_over_limit(limits, now - span, using_db)
    if oldest is None:
        return None
    return max(1, int((oldest + span - now).total_seconds()) + 1)


# -- login -------------------------------------------------------------------------------


def _account_key(email: str) -> str:
    return f"login:account:{email.strip().lower()}"


def _address_key(address: str) -> str:
    return f"login:address:{address}"


async def check_login(email: str, *, trusted_device: bool = False) -> None:
    """Raise TooManyRequests when this account (unless the browser signed in to it
    before) or this address is over its failure limit."""
    cfg = current_app.config
    limits: dict[str, int] = {}
    if not trusted_device:
        limits[_account_key(email)] = cfg["LOGIN_ACCOUNT_LIMIT"]
    address = client_address()
    if address:
        limits[_address_key(address)] = cfg["LOGIN_ADDRESS_LIMIT"]
    wait = await _retry_after(limits, cfg["LOGIN_WINDOW"]) if limits else None
    if wait:
        raise TooManyRequests(wait)


async def record_login_failure(email: str) -> None:
    """Count a failed password against the account and the address."""
    keys = [_account_key(email)]
    address = client_address()
    if address:
        keys.append(_address_key(address))
    await ThrottleEvent.record(keys)


async def forgive_account(email: str) -> None:
    """A successful sign-in (or a reset) forgives the account's failures."""
    await ThrottleEvent.forget([_account_key(email)])


# -- the device cookie: browsers that signed in to an account before ----------------------


def _device_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="flasky.device")


def device_accounts() -> list[int]:
    """Ids of the accounts this browser has signed in to (from its signed cookie)."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw or len(raw) > 1024:
        return []
    try:
        ids = _device_serializer().loads(raw)
    except (BadSignature, UnicodeError, ValueError):
        return []
    return [i for i in ids if isinstance(i, int)] if isinstance(ids, list) else []


def remember_device(user_id: int) -> None:
    """After a successful sign-in: this browser is trusted for that account from now on
    (the cookie is written by `_write_device_cookie`)."""
    g.device_user = user_id


async def _write_device_cookie(response: Response) -> Response:
    user_id = g.get("device_user")
    if user_id is None:
        return response
    ids = [i for i in device_accounts() if i != user_id][-(DEVICE_MAX_ACCOUNTS - 1) :]
    response.set_cookie(
        DEVICE_COOKIE,
        _device_serializer().dumps([*ids, user_id]),
        max_age=DEVICE_AGE,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
    )
    return response


# -- mail and registration ----------------------------------------------------------------


async def mail_allowed(kind: str, account: Any, target: str, connection: Any = None) -> bool:
    """True (and counted, in `connection`'s transaction if given) when a mail of `kind`
    may go to `target` for `account` (a user id, or None): at most MAIL_LIMIT per
    account and per address per MAIL_WINDOW."""
    cfg = current_app.config
    keys = [f"mail:{kind}:to:{target.strip().lower()}"]
    if account is not None:
        keys.append(f"mail:{kind}:user:{account}")
    limit = cfg["MAIL_LIMIT"]
    if await _retry_after(dict.fromkeys(keys, limit), cfg["MAIL_WINDOW"], connection):
        return False
    await ThrottleEvent.record(keys, using_db=connection)
    return True


async def check_registration() -> None:
    """Raise TooManyRequests past REGISTRATION_LIMIT new accounts from this address."""
    address = client_address()
    if not address:
        return
    cfg = current_app.config
    key = f"register:address:{address}"
    wait = await _retry_after({key: cfg["REGISTRATION_LIMIT"]}, cfg["REGISTRATION_WINDOW"])
    if wait:
        raise TooManyRequests(wait, "Too many new accounts from your address.")


async def record_registration() -> None:
    address = client_address()
    if address:
        await ThrottleEvent.record([f"register:address:{address}"])


# -- writes -------------------------------------------------------------------------------

_WRITE_NAMES = {"posts": "posts", "comments": "comments", "follows": "follows and likes"}


async def check_write(kind: str, user_id: int) -> None:
    """Raise TooManyRequests when the user is over the hourly limit of `kind`
    (posts, comments, follows); otherwise count this write."""
    limit = current_app.config["_RATE_LIMITS"].get(kind)
    if limit is None:
        return
    count, window = limit
    key = f"write:{kind}:{user_id}"
    wait = await _retry_after({key: count}, window)
    if wait:
        raise TooManyRequests(wait, f"You have reached the limit of {count} {_WRITE_NAMES[kind]}.")
    await ThrottleEvent.record([key])


async def prune(now: datetime | None = None) -> int:
    """Drop events older than the longest window."""
    return await ThrottleEvent.purge((now or utcnow()) - LONGEST_WINDOW)


def init_app(app: Quart) -> None:
    """Settle the write limits (a bad FLASKY_RATE_LIMITS stops the start) and write the
    device cookie after sign-ins."""
    try:
        app.config["_RATE_LIMITS"] = parse_rate_limits(app.config.get("FLASKY_RATE_LIMITS"))
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    app.after_request(_write_device_cookie)
