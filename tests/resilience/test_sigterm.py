"""SIGTERM to the hypercorn master under load: requests in flight complete (a post still
being uploaded, logins waiting on argon2), the master exits 0, no row is half written,
and mail queued while SMTP was unreachable goes out, once, after the next start."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from aiosmtpd.controller import Controller

from tests.conftest import SMTPSink
from tests.resilience.harness import (
    Browser,
    client_pool,
    fetch,
    free_port,
    report,
    seed,
    server_env,
)
from tests.resilience.load import Ledger, Registrar, check_database, run_load, visitors

pytestmark = pytest.mark.resilience

WARM_UP = 5.0
UPLOAD_SECONDS = 3.0
GRACEFUL_TIMEOUT = 20.0  # hypercorn.toml


async def slow_upload(browser: Browser, body: str) -> httpx.Response:
    """POST a post form whose body trickles in over UPLOAD_SECONDS."""
    payload = urlencode({"body": body, "csrf_token": browser.token}).encode()
    pieces = 10
    step = len(payload) // pieces + 1

    async def trickle() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), step):
            yield payload[start : start + step]
            await asyncio.sleep(UPLOAD_SECONDS / pieces)

    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": str(len(payload)),
    }
    return await browser.request("POST", "/", content=trickle(), headers=headers)


async def logins(browsers: list[Browser], names: list[str]) -> list[Any]:
    """Form logins (argon2 at production cost, in worker threads), all at once."""

    async def one(browser: Browser, name: str) -> Any:
        form = {"email": f"{name}@example.com", "password": "correct horse battery"}
        form["csrf_token"] = browser.token
        return await browser.request("POST", "/auth/login", data=form)

    return await asyncio.gather(*(one(b, n) for b, n in zip(browsers, names, strict=True)))


async def test_sigterm_drains_in_flight_requests_and_queued_mail_survives(database, servers):
    names = (await seed(database, 16))[:16]
    post_ids = [r["id"] for r in await fetch(database, "SELECT id FROM posts")]
    smtp_port = free_port()  # nothing listens here until the second start
    server = await servers.start(server_env(database, MAIL_PORT=str(smtp_port)), workers=2)
    ledger = Ledger()
    in_flight: dict[str, Any] = {}
    times: dict[str, float] = {}

    async with client_pool(48) as pool, client_pool(16) as side_pool:
        people = await visitors(pool, server.base_url, names[4:], 8, post_ids, ledger)
        people += [
            Registrar(Browser(pool, server.base_url), None, [], [], ledger, seed=n)
            for n in range(2)
        ]
        uploader = Browser(side_pool, server.base_url)
        assert (await uploader.login(f"{names[0]}@example.com")).status_code == 303
        late = [Browser(side_pool, server.base_url) for _ in range(8)]
        for browser in late:
            await browser.csrf("/auth/login")
        upload_body = f"slow upload {uuid.uuid4().hex} " + "x" * 3000

        async def terminate(stop: Any) -> None:
            await asyncio.sleep(WARM_UP)
            upload = asyncio.create_task(slow_upload(uploader, upload_body))
            waiting = asyncio.create_task(logins(late, [names[i % 4] for i in range(8)]))
            await asyncio.sleep(0.5)
            times["sigterm"] = time.monotonic()
            server.terminate()
            in_flight["upload"] = await upload
            in_flight["logins"] = await waiting
            in_flight["exit"] = await server.wait(GRACEFUL_TIMEOUT + 10)
            times["exited"] = time.monotonic()
            stop()

        seconds = await run_load(people, 60.0, during=terminate)

    drained = times["exited"] - times["sigterm"]
    report(
        f"SIGTERM: {ledger.summary(seconds)}; master exited {in_flight['exit']} after"
        f" {drained:.2f} s; transport errors, all on requests sent after SIGTERM:"
        f" {dict(Counter(kind.split()[0] for kind in ledger.errors.elements()))}"
    )
    assert in_flight["exit"] == 0
    assert await server.group_gone()
    assert in_flight["upload"].status_code == 303, in_flight["upload"].text[:300]
    assert [r.status_code for r in in_flight["logins"]] == [303] * 8
    assert ledger.server_errors == 0, ledger.unexpected[:5]
    assert not ledger.unexpected, ledger.unexpected[:5]
    assert all(t >= times["sigterm"] for t in ledger.error_times)
    assert ledger.registrations_acknowledged, "some accounts should have been registered"
    assert await fetch(database, "SELECT id FROM posts WHERE body = $1", upload_body)
    assert await check_database(database, ledger, exact=False) == []

    queued = await fetch(database, "SELECT id, recipient FROM outbox WHERE status <> 'sent'")
    assert len(queued) >= len(ledger.registrations_acknowledged)
    sink = SMTPSink(host="127.0.0.1", port=smtp_port)
    controller = Controller(sink, hostname=sink.host, port=smtp_port)
    controller.start()
    try:
        env = server_env(database, MAIL_PORT=str(smtp_port))
        await servers.start(env, workers=2)
        started = time.monotonic()
        # rows tried once while SMTP was down wait out the first retry (30 s)
        await sink.wait_for(len(queued), timeout=60)
        await asyncio.sleep(1.0)  # a duplicate would arrive about now
        sent_after = time.monotonic() - started
    finally:
        controller.stop()
    report(f"queued mail: {len(queued)} messages delivered {sent_after:.1f} s after the restart")
    ids = [m["Message-ID"] for m in sink.messages]
    assert len(ids) == len(set(ids)) == len(queued)
    assert {m["To"] for m in sink.messages} == {r["recipient"] for r in queued}
    assert not await fetch(database, "SELECT id FROM outbox WHERE status <> 'sent'")
