"""`Idempotency-Key` on JSON creates (SPEC §4): a script that retries a POST whose answer
it never got creates nothing new and gets the first answer again.

The first request with a key reserves (user, key) by inserting a row — the unique index
makes two racing requests one winner — then runs; a 2xx answer is stored on the row, any
other answer (a form error, a throttle) frees the key so a corrected retry can use it.
Later requests with the key, from the same user within a day:
- the same method, path and body → the stored answer, with `Idempotent-Replayed: true`;
- a different request → 422 (a key names one request);
- the first still running → 409, try again shortly.
A key is 1–255 visible ASCII characters; anything else is a 400. Pages and htmx forms
carry no key (the browser's Post/Redirect/Get and the CSRF token already cover them).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import ParamSpec

from quart import Response, request
from tortoise.exceptions import IntegrityError

from flasky.exceptions import BadRequest
from flasky.identity import current_viewer
from flasky.models import IdempotentRequest, utcnow
from flasky.negotiate import add_vary, wants_json

HEADER = "Idempotency-Key"
LIFETIME = timedelta(hours=24)
P = ParamSpec("P")


def idempotent(func: Callable[P, Awaitable[Response]]) -> Callable[P, Awaitable[Response]]:
    """Honour `Idempotency-Key` on this JSON create (put it under the permission check)."""

    @functools.wraps(func)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        key = request.headers.get(HEADER)
        if key is None or not wants_json():
            return await func(*args, **kwargs)
        _check(key)
        viewer = await current_viewer()
        fingerprint = await _fingerprint()
        row, reserved = await _reserve(int(viewer.id), key, fingerprint)
        if not reserved:
            return _answer_again(row, fingerprint)
        try:
            response = await func(*args, **kwargs)
        except BaseException:
            await row.delete()
            raise
        if 200 <= response.status_code < 300:
            row.status = response.status_code
            row.location = response.headers.get("Location")
            row.body = await response.get_data(as_text=True)
            await row.save(update_fields=["status", "location", "body"])
        else:
            await row.delete()
        return response

    return wrapper


def _check(key: str) -> None:
    if not 1 <= len(key) <= 255 or not all("\x21" <= ch <= "\x7e" for ch in key):
        raise BadRequest(f"The {HEADER} header is 1 to 255 visible ASCII characters.")


async def _fingerprint() -> str:
    """What makes two requests the same request: method, path and body."""
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(await request.get_data(cache=True))
    return digest.hexdigest()


async def _reserve(user_id: int, key: str, fingerprint: str) -> tuple[IdempotentRequest, bool]:
    """This request's new row (True), or the row an earlier request left (False)."""
    await IdempotentRequest.filter(
        user_id=user_id, key=key, created_at__lt=utcnow() - LIFETIME
    ).delete()
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
    response = Response(row.body or "", status=row.status, mimetype="application/json")
    if row.location:
        response.headers["Location"] = row.location
    response.headers["Idempotent-Replayed"] = "true"
    return add_vary(response)
