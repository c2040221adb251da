"""Live streams (SPEC §9) against real hypercorn servers on the private PostgreSQL: a
stream on one process sees writes made on another (delivery time reported), and the
per-client limit counts the streams of both; streams
open across a PostgreSQL restart resume and lose nothing; SIGTERM ends open streams at
once and cleanly, not after the graceful timeout (and hypercorn's keep-alive timeout
never cuts a stream)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.resilience.harness import PASSWORD, client_pool, report, seed, server_env

pytestmark = pytest.mark.resilience

GRACEFUL_TIMEOUT = 20.0  # hypercorn.toml
KEEP_ALIVE_TIMEOUT = 5.0  # hypercorn.toml: idle connections only, never a stream


async def bearer(client: httpx.AsyncClient, base_url: str, email: str) -> dict[str, str]:
    """Authorization for `email` by a token (no cookies, no CSRF)."""
    answer = await client.post(base_url + "/auth/tokens", auth=(email, PASSWORD))
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}", "Accept": "application/json"}


async def publish(client: httpx.AsyncClient, base_url: str, auth: dict[str, str], body: str) -> int:
    answer = await client.post(base_url + "/", json={"body": body}, headers=auth)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


async def events(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    """The events of an open stream: {"id", "event", "data"} (comments skipped)."""
    fields: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "event" in fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


class Follower:
    """What a browser's EventSource does: keep a stream open, and when it ends or the
    server refuses (503 in an outage), connect again with `Last-Event-ID`."""

    def __init__(self, client: httpx.AsyncClient, url: str) -> None:
        self.client = client
        self.url = url
        self.last_id = ""
        self.received: list[tuple[int, dict[str, Any], float]] = []
        self.connections = 0
        self.arrived = asyncio.Event()

    async def run(self) -> None:
        while True:
            headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
            try:
                async with self.client.stream("GET", self.url, headers=headers) as response:
                    if response.status_code != 200:
                        await response.aread()
                        await asyncio.sleep(0.2)
                        continue
                    self.connections += 1
                    async for event in events(response):
                        if event.get("id"):
                            self.last_id = event["id"]
                        data = json.loads(event["data"])
                        self.received.append((int(event["id"]), data, time.monotonic()))
                        self.arrived.set()
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)

    def post_ids(self) -> list[int]:
        return [data["id"] for _, data, _ in self.received]

    async def wait_for(self, post_id: int, timeout: float = 15.0) -> float:
        """When `post_id` arrived (monotonic)."""
        deadline = time.monotonic() + timeout
        while True:
            for _, data, at in self.received:
                if data.get("id") == post_id:
                    return at
            left = deadline - time.monotonic()
            assert left > 0, f"post {post_id} never arrived; got {self.post_ids()}"
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)


@contextlib.asynccontextmanager
async def following(client: httpx.AsyncClient, url: str) -> AsyncIterator[Follower]:
    follower = Follower(client, url)
    task = asyncio.get_running_loop().create_task(follower.run())
    try:
        deadline = time.monotonic() + 10
        while follower.connections == 0:
            assert time.monotonic() < deadline, "the stream never opened"
            await asyncio.sleep(0.05)
        yield follower
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_stream_on_one_process_sees_writes_made_on_another(database, servers):
    await seed(database, 2, admin=False)
    env = server_env(database)
    a, b = await asyncio.gather(servers.start(env, workers=1), servers.start(env, workers=1))
    async with client_pool(16) as pool:
        auth = await bearer(pool, a.base_url, "user0@example.com")
        url = b.base_url + "/stream?topic=posts&format=json"
        async with following(pool, url) as follower:
            delays = []
            for n in range(30):
                post_id = await publish(pool, a.base_url, auth, f"Written on A, {n}")
                acknowledged = time.monotonic()
                delays.append(await follower.wait_for(post_id) - acknowledged)
            await asyncio.sleep(0.3)
            ids = follower.post_ids()
            # the per-client limit counts this client's streams on both processes: the
            # follower's one on B and 7 on A make 8; a 9th, on either, is refused
            async with contextlib.AsyncExitStack() as held:
                for _ in range(7):
                    response = await held.enter_async_context(
                        pool.stream("GET", a.base_url + "/stream?topic=posts")
                    )
                    assert response.status_code == 200
                for server in (a, b):
                    refused = await pool.get(server.base_url + "/stream?topic=posts")
                    assert refused.status_code == 429, refused.text
            await asyncio.sleep(0.5)  # closed: their places are free again
            async with pool.stream("GET", b.base_url + "/stream?topic=posts") as again:
                assert again.status_code == 200
    delays.sort()
    p50, p99 = statistics.median(delays), delays[int(len(delays) * 0.99) - 1]
    report(f"live across processes: 30 posts on A, stream on B: p50 {p50 * 1000:.1f} ms,"
           f" p99 {p99 * 1000:.1f} ms")  # fmt: skip
    assert len(ids) == len(set(ids)) == 30, ids
    assert p99 < 0.5, delays
    assert not a.failures() and not b.failures()


async def test_streams_resume_across_a_postgres_restart(database, postgres, servers):
    await seed(database, 2, admin=False)
    server = await servers.start(server_env(database), workers=2)
    async with client_pool(8) as pool:
        auth = await bearer(pool, server.base_url, "user0@example.com")
        url = server.base_url + "/stream?topic=posts&format=json"
        async with following(pool, url) as first, following(pool, url) as second:
            before = [await publish(pool, server.base_url, auth, f"Before {n}") for n in range(3)]
            for post_id in before:
                await first.wait_for(post_id)
            await asyncio.to_thread(postgres.stop, "fast")
            await asyncio.sleep(2.0)
            await asyncio.to_thread(postgres.start)
            after: list[int] = []
            deadline = time.monotonic() + 30
            while len(after) < 5:  # writes are refused (503) until the pool reconnects
                assert time.monotonic() < deadline, "writes never worked again"
                answer = await pool.post(
                    server.base_url + "/", json={"body": f"After {len(after)}"}, headers=auth
                )
                if answer.status_code == 201:
                    after.append(answer.json()["id"])
                else:
                    await asyncio.sleep(0.2)
            for follower in (first, second):
                for post_id in after:
                    await follower.wait_for(post_id, timeout=20)
            await asyncio.sleep(0.5)
            got = [first.post_ids(), second.post_ids()]
    report(
        f"live across a PostgreSQL restart: streams reconnected {first.connections - 1}"
        f" and {second.connections - 1} times; {len(got[0])} and {len(got[1])} events"
    )
    for ids in got:
        assert ids == before + after, ids  # nothing lost, nothing twice, in order
    assert server.failures() == ""


async def test_sigterm_ends_open_streams_at_once_and_cleanly(database, servers):
    await seed(database, 1, admin=False)
    server = await servers.start(server_env(database), workers=2)
    async with client_pool(8) as pool:
        ended: list[tuple[float, str]] = []

        async def hold() -> None:
            url = server.base_url + "/stream?topic=posts"
            try:
                async with pool.stream("GET", url) as response:
                    assert response.status_code == 200
                    async for _ in response.aiter_lines():
                        pass
                ended.append((time.monotonic(), "clean"))
            except httpx.HTTPError as error:
                ended.append((time.monotonic(), type(error).__name__))

        tasks = [asyncio.get_running_loop().create_task(hold()) for _ in range(4)]
        await asyncio.sleep(KEEP_ALIVE_TIMEOUT + 1.5)
        assert not ended, "hypercorn's keep-alive timeout cut an open stream"
        signalled = time.monotonic()
        server.terminate()
        status = await server.wait(GRACEFUL_TIMEOUT + 10)
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
    report("SIGTERM with 4 open streams: ended after "
           + ", ".join(f"{at - signalled:.2f} s ({how})" for at, how in ended))  # fmt: skip
    assert status == 0
    assert all(how == "clean" for _, how in ended), ended
    assert all(at - signalled < 3.0 for at, _ in ended), ended
