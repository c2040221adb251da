"""PostgreSQL stopped and started again under load: meanwhile every request that needs
the database answers 503 (a page for browsers, SPEC's JSON error for programs), never
another 5xx, never a hang or a dropped connection; once PostgreSQL is back the same
processes serve normally again within 10 seconds."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.resilience.harness import Browser, client_pool, fetch, report, seed, server_env
from tests.resilience.load import Ledger, check_database, run_load, visitors

pytestmark = pytest.mark.resilience

WARM_UP = 4.0  # seconds of load before the outage
OUTAGE = 6.0  # seconds PostgreSQL stays down
AFTER = 6.0  # seconds of load once the app serves again
RECOVERY_LIMIT = 10.0


async def probe_down(browser: Browser) -> None:
    """Each representation of a database-backed answer is a 503 while PostgreSQL is down."""
    page = await browser.request("GET", "/")
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/html") and "<html" in page.text
    fragment = await browser.request("GET", "/", headers={"HX-Request": "true"})
    assert fragment.status_code == 503 and "<html" not in fragment.text
    data = await browser.request("GET", "/", headers={"Accept": "application/json"})
    assert data.status_code == 503
    assert data.json()["error"] == "service unavailable"
    write = await browser.request(
        "POST", "/", data={"body": "written during the outage", "csrf_token": browser.token}
    )
    assert write.status_code == 503
    health = await browser.client.get(browser.base_url + "/healthz")  # as a load balancer
    assert health.status_code == 503 and health.json()["error"] == "service unavailable"


async def serves_normally(browser: Browser) -> bool:
    """The signed-in home page, its JSON, a write and /healthz all succeed."""
    checks = (
        ("GET", "/", {}, None, {200}),
        ("GET", "/", {"Accept": "application/json"}, None, {200}),
        ("POST", "/follow/user1", {"Accept": "application/json"}, {}, {200}),
        ("GET", "/healthz", {}, None, {200}),
    )
    for method, path, headers, body, ok in checks:
        if body is not None:
            headers = {**headers, "X-CSRFToken": browser.token}
        response = await browser.request(method, path, headers=headers, json=body)
        if response.status_code not in ok:
            return False
    return True


async def test_postgres_outage_answers_503_then_recovers_without_a_restart(
    database, postgres, servers
):
    names = (await seed(database, 16))[:16]
    post_ids = [r["id"] for r in await fetch(database, "SELECT id FROM posts")]
    server = await servers.start(server_env(database), workers=2)
    workers = server.worker_pids()
    ledger = Ledger()
    times: dict[str, float] = {}

    async def outage(probe: Browser) -> None:
        await asyncio.sleep(WARM_UP)
        times["stopping"] = time.monotonic()
        await asyncio.to_thread(postgres.stop, "fast")
        times["down"] = time.monotonic()
        while time.monotonic() < times["down"] + OUTAGE:
            await probe_down(probe)
            await asyncio.sleep(0.5)
        await asyncio.to_thread(postgres.start)
        times["back"] = time.monotonic()
        while not await serves_normally(probe):
            assert time.monotonic() - times["back"] < 30, "the app never recovered"
            await asyncio.sleep(0.1)
        times["recovered"] = time.monotonic()

    async with client_pool(40) as pool, client_pool(2) as probe_pool:
        probe = Browser(probe_pool, server.base_url)
        assert (await probe.login("user0@example.com")).status_code == 303
        people = await visitors(pool, server.base_url, names[1:], 16, post_ids, ledger)
        total = WARM_UP + OUTAGE + RECOVERY_LIMIT + AFTER
        seconds = await run_load(people, total, during=lambda stop: outage(probe))

    recovered_in = times["recovered"] - times["back"]
    outage_answers = [u for u in ledger.unexpected if u[1] == 503]
    last_503 = max((u[0] for u in outage_answers), default=times["back"])
    report(
        f"outage: {ledger.summary(seconds)}; PostgreSQL down {times['back'] - times['down']:.1f}"
        f" s; {len(outage_answers)} load answers were 503; probes served normally"
        f" {recovered_in:.2f} s after PostgreSQL was back; last 503 of the load"
        f" {max(0.0, last_503 - times['back']):.2f} s after"
    )

    assert recovered_in < RECOVERY_LIMIT
    assert last_503 - times["back"] < RECOVERY_LIMIT
    assert outage_answers, "the load should have met the outage"
    assert all(times["stopping"] <= u[0] for u in outage_answers)
    others = [u for u in ledger.unexpected if u[1] != 503]
    assert not others, (others[:5], server.failures())
    assert not ledger.errors, ledger.errors
    assert server.process.poll() is None and server.worker_pids() == workers, "no restart"
    assert await check_database(database, ledger, exact=False) == []
    assert not await fetch(database, "SELECT id FROM posts WHERE body LIKE '%during the outage'")
