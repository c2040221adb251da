"""`Idempotency-Key` on creates (SPEC §4): a client that retries a POST whose answer it
never got creates nothing new and gets the first answer again.

Scripts send the header with JSON; the composers send it too (a fresh key each time the
form is drawn, in `hx-headers`), so the Retry of a timed-out or failed htmx post cannot
make a second post. A plain browser form (no scripts) sends none and is not affected.

The first request with a key reserves (user, key) by inserting a row — the unique index
makes two racing requests one winner — then runs; a 2xx answer is stored on the row
(its content type, the headers a client acts on, its body), any other answer (a form
error, a throttle) frees the key so a corrected retry can use it. Later requests with
the key, from the same user within a day:
- the same method, path and body → the stored answer, with `Idempotent-Replayed: true`;
- a different request → 422 (a key names one request);
- the first still running → 409, try again shortly. A request cut off while it ran (the
  client went away, the process died) may or may not have created its item, so its key
  stays taken: it counts as running for a minute, then it is given up and the next
  request with the key runs.
A key is 1–255 visible ASCII characters; anything else is a 400.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import ParamSpec

from quart import Response, request
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from flasky.exceptions import BadRequest
from flasky.identity import current_viewer
from flasky.models import IdempotentRequest, utcnow
from flasky.negotiate import add_vary, representation

HEADER = "Idempotency-Key"
LIFETIME = timedelta(hours=24)
ABANDONED = timedelta(minutes=1)
# What a replay gives back besides the status, body and `Location`: what htmx acts on.
KEPT_HEADERS = ("HX-Retarget", "HX-Reswap", "HX-Redirect", "HX-Trigger")
P = ParamSpec("P")


def new_key() -> str:
    """A fresh key for a form about to be drawn (`idempotency_key()` in templates)."""
    return secrets.token_urlsafe(18)


def idempotent(func: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """Honour `Idempotency-Key` on this create (put it under the permission check)."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        key = request.headers.get(HEADER)
        if key is None or representation() == "page":
            return await func(*args, **kwargs)
        _check(key)
        viewer = await current_viewer()
        fingerprint = await _fingerprint()
        row, reserved = await _reserve(int(viewer.id), key, fingerprint)
        if not reserved:
            return _answer_again(row, fingerprint)
        try:
            response = await func(*args, **kwargs)
        except asyncio.CancelledError:
            raise  # cut off: it may have created its item, so the key stays taken
        except BaseException:
            await row.delete()
            raise
        if 200 <= response.status_code < 300:
            row.status = response.status_code
            row.location = response.headers.get("Location")
            kept = {h: response.headers[h] for h in KEPT_HEADERS if h in response.headers}
            row.body = json.dumps(
                {
                    "type": response.headers.get("Content-Type", "application/json"),
                    "headers": kept,
                    "body": await response.get_data(as_text=True),
                }
            )
            await asyncio.shield(row.save(update_fields=["status", "location", "body"]))
        else:
            await row.delete()
        return response

    return wrapper


def _check(key: str) -> None:
    if not 1 <= len(key) <= 255 or not all("\x21" <= ch <= "\x7e" for ch in key):
        raise BadRequest(f"The {HEADER} header is 1 to 255 visible ASCII characters.")


async def _fingerprint() -> str:
    """What makes two requests the same request: method, path, the answer's form and body."""
    digest = hashlib.sha256(f"{request.method} {request.path} {representation()}\n".encode())
    digest.update(await request.get_data(cache=True))
    return digest.hexdigest()


async def _reserve(user_id: int, key: str, fingerprint: str) -> tuple[IdempotentRequest, bool]:
    """This request's new row (True), or the row an earlier request left (False)."""
    now = utcnow()
    expired = Q(created_at__lt=now - LIFETIME) | Q(
        status__isnull=True, created_at__lt=now - ABANDONED
    )
    await IdempotentRequest.filter(expired, user_id=user_id, key=key).delete()
    try:
        return await IdempotentRequest.create(
            user_id=user_id, key=key, fingerprint=fingerprint
        ), True
    except IntegrityError:
        found = await IdempotentRequest.get_or_none(user_id=user_id, key=key)
        if found is None:  # the other request failed and freed the key meanwhile
            raise BadRequest("A request with this key was running; send it again.", 409) from None
        return found, False


def _answer_again(row: IdempotentRequest, fingerprint: str) -> Response:
    if row.fingerprint != fingerprint:
        raise BadRequest(f"This {HEADER} was already used for a different request.", 422)
    if row.status is None:
        raise BadRequest(f"A request with this {HEADER} is still running; try again.", 409)
    stored = json.loads(row.body or "{}")
    response = Response(stored.get("body", ""), status=row.status, content_type=stored.get("type"))
    response.headers.update(stored.get("headers", {}))
    if row.location:
        response.headers["Location"] = row.location
    response.headers["Idempotent-Replayed"] = "true"
    return add_vary(response)
