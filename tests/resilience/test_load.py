"""60 seconds of mixed load at 64 connections against two hypercorn workers on
PostgreSQL: no 5xx, and every write answered 2xx/3xx is in the database afterwards."""

from __future__ import annotations

import pytest

from tests.resilience.harness import client_pool, fetch, report, seed, server_env
from tests.resilience.load import Ledger, check_database, run_load, visitors

pytestmark = pytest.mark.resilience

CONNECTIONS = 64
SIGNED_IN = 48
SECONDS = 60.0


async def test_a_minute_of_mixed_load_answers_without_5xx_and_loses_no_write(database, servers):
    names = (await seed(database, SIGNED_IN, posts_each=2))[:SIGNED_IN]
    post_ids = [r["id"] for r in await fetch(database, "SELECT id FROM posts")]
    server = await servers.start(server_env(database), workers=2)
    ledger = Ledger()
    async with client_pool(CONNECTIONS) as pool:
        people = await visitors(
            pool, server.base_url, names, CONNECTIONS - SIGNED_IN, post_ids, ledger
        )
        seconds = await run_load(people, SECONDS)
    report(f"mixed load: {ledger.summary(seconds)}")

    assert seconds >= SECONDS
    assert ledger.server_errors == 0, ledger.unexpected[:5]
    assert not ledger.errors, ledger.errors
    assert not ledger.unexpected, ledger.unexpected[:5]
    assert ledger.requests > 20 * SECONDS, "the load should be real load"
    assert ledger.posts_acknowledged and ledger.comments_acknowledged and ledger.follows
    assert await check_database(database, ledger, exact=True) == []
