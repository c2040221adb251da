"""The change feed across processes (SPEC §8): two hypercorn servers on one PostgreSQL,
each with its page cache on for an hour. A write acknowledged by one is visible on the
other within 0.1 s; after a PostgreSQL restart the listeners reconnect and no cache keeps
an answer the outage made stale."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest

from tests.resilience.harness import Browser, client_pool, fetch, report, seed, server_env

pytestmark = pytest.mark.resilience

JSON = {"Accept": "application/json"}
LIMIT = 0.1  # seconds from the writer's acknowledgement to the other process showing it
ROUNDS = 10  # of each kind of write


async def cached(reader: Browser, path: str, within: float = 1.0) -> None:
    """Read `path` until the reader's server answers it from its page cache (a server
    whose listener is reconnecting caches nothing yet)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        response = await reader.request("GET", path, headers=JSON)
        assert response.status_code == 200, (path, response.text[:200])
        if response.headers.get("X-Query-Count") == "0":
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} is not served from the cache")


async def seen_after(reader: Browser, path: str, check: Callable[[httpx.Response], bool]) -> float:
    """Seconds until the reader's server answers `path` with what `check` wants."""
    start = time.perf_counter()
    while True:
        response = await reader.request("GET", path, headers=JSON)
        elapsed = time.perf_counter() - start
        if check(response):
            return elapsed
        if elapsed > 5:
            raise AssertionError(f"{path} still stale after 5 s: {response.text[:300]}")
        await asyncio.sleep(0.002)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def two_servers(database: str, servers: object) -> tuple[object, object]:
    env = server_env(database, FLASKY_PAGE_CACHE_SECONDS="3600", FLASKY_QUERY_COUNT_HEADER="true")
    return await asyncio.gather(servers.start(env, workers=1), servers.start(env, workers=1))


async def test_a_write_on_one_process_is_visible_on_the_other_within_100_ms(database, servers):
    await seed(database, 3, admin=False)
    a, b = await two_servers(database, servers)
    (post_id,) = [row["id"] for row in await fetch(database, "SELECT min(id) AS id FROM posts")]
    delays: dict[str, list[float]] = {"edit": [], "comment": [], "follow": [], "unfollow": []}
    async with client_pool(8) as pool:
        writer = Browser(pool, a.base_url)
        assert (await writer.login("user0@example.com")).status_code == 303
        reader = Browser(pool, b.base_url)
        headers = {**JSON, "X-CSRFToken": writer.token}
        for n in range(ROUNDS):
            await cached(reader, f"/post/{post_id}")
            body = f"edited on A, round {n}"
            put = await writer.request(
                "PUT", f"/post/{post_id}", headers=headers, json={"body": body}
            )
            assert put.status_code == 200
            delays["edit"].append(
                await seen_after(
                    reader, f"/post/{post_id}", lambda r, b=body: r.json()["body"] == b
                )
            )

            await cached(reader, f"/post/{post_id}/comments")
            text = f"comment {n} from A"
            made = await writer.request(
                "POST", f"/post/{post_id}/comments", headers=headers, json={"body": text}
            )
            assert made.status_code == 201
            delays["comment"].append(
                await seen_after(
                    reader,
                    f"/post/{post_id}/comments",
                    lambda r, t=text: t in [c["body"] for c in r.json()["comments"]],
                )  # fmt: skip
            )

            for kind, want in (("follow", 1), ("unfollow", 0)):
                await cached(reader, "/user/user1")
                done = await writer.request("POST", f"/{kind}/user1", headers=headers)
                assert done.status_code == 200
                delays[kind].append(
                    await seen_after(
                        reader, "/user/user1", lambda r, w=want: r.json()["followers_count"] == w
                    )
                )
    everything = [d for values in delays.values() for d in values]
    report(
        f"change feed, A→B visibility over {len(everything)} writes: "
        f"p50 {percentile(everything, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(everything, 0.99) * 1000:.1f} ms, "
        f"max {max(everything) * 1000:.1f} ms"
    )
    for kind, values in delays.items():
        assert max(values) <= LIMIT, (kind, values)


async def test_listeners_catch_up_after_a_postgres_restart(database, postgres, servers):
    await seed(database, 3, admin=False)
    a, b = await two_servers(database, servers)
    (post_id,) = [row["id"] for row in await fetch(database, "SELECT min(id) AS id FROM posts")]
    async with client_pool(8) as pool:
        writer = Browser(pool, a.base_url)
        assert (await writer.login("user0@example.com")).status_code == 303
        reader = Browser(pool, b.base_url)
        await cached(reader, f"/post/{post_id}")
        await cached(reader, "/user/user1")

        await asyncio.to_thread(
            postgres.stop, "fast"
        )  # every connection, the listeners' included, is cut
        await asyncio.sleep(1.0)
        down = await reader.request("GET", f"/post/{post_id}", headers=JSON)
        assert down.status_code == 503  # nothing is served from a cache that may be deaf
        await asyncio.to_thread(postgres.start)

        # The first write after the restart, made as soon as A can: B's listener may not
        # have reconnected yet, so it learns of the write by catching up, not by NOTIFY.
        headers = {**JSON, "X-CSRFToken": writer.token}
        deadline = time.monotonic() + 20
        while True:
            put = await writer.request(
                "PUT", f"/post/{post_id}", headers=headers, json={"body": "after the restart"}
            )
            if put.status_code == 200:
                break
            assert put.status_code == 503 and time.monotonic() < deadline, put.text[:300]
            await asyncio.sleep(0.05)
        delay = await seen_after(
            reader, f"/post/{post_id}",
            lambda r: r.status_code == 200 and r.json()["body"] == "after the restart",
        )  # fmt: skip
        report(f"change feed, visible on B {delay * 1000:.0f} ms after the restart's first write")

        # Once B hears again, its cache works and follows the feed as before.
        await cached(reader, "/user/user1", within=10)
        follow = await writer.request("POST", "/follow/user1", headers=headers)
        assert follow.status_code == 200
        assert (
            await seen_after(reader, "/user/user1", lambda r: r.json()["followers_count"] == 1)
            <= LIMIT
        )
    assert "unhandled error" not in a.log_text() + b.log_text()
