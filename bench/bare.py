"""The yardstick: a bare ASGI app answering every request with one fixed 12 KB HTML page.

Served with the same hypercorn settings as Flasky (`hypercorn --config hypercorn.toml
bench.bare:app`), it shows what the server, the loopback and wrk cost on their own, so
each Flasky page can be given as a fraction of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

PAGE_SIZE = 12 * 1024

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def make_page(size: int = PAGE_SIZE) -> bytes:
    """A well-formed HTML document of exactly `size` bytes."""
    head = (
        b'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        b"<title>Bare</title></head><body>\n"
    )
    tail = b"</body></html>\n"
    line = b"<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.</p>\n"
    room = size - len(head) - len(tail)
    filler = (line * (room // len(line) + 1))[:room]
    # never cut a tag in half: pad the remainder of the last line with spaces
    cut = filler.rfind(b"\n") + 1
    filler = filler[:cut] + b" " * (room - cut)
    return head + filler + tail


BODY = make_page()
HEADERS = [
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-length", str(len(BODY)).encode()),
]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI entry point: lifespan is acknowledged, every HTTP request gets BODY."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})
