"""Where a request's time goes: CPU time per request and a cProfile, in process.

    python -m bench.profile [--database-url URL] [--requests 100] [--top 30]

Runs after `make bench` on the database it loaded (default `bench/data/bench.sqlite`,
or `BENCH_DATABASE_URL`), with the production configuration and the page cache off. It
sends the benchmark's requests through Quart's test client, one at a time, and reports
the CPU time each costs (`time.process_time`: unlike requests/s under wrk, it does not
move when other work shares the machine), then profiles the costliest one with cProfile.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import io
import os
import pstats
import re
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from bench.run import BENCH_EMAIL, BENCH_PASSWORD, DATA, DEEP_ITEMS, busiest


async def _login(app: Any) -> Any:
    client = app.test_client()
    html = await (await client.get("/auth/login")).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    if token is None:
        raise RuntimeError("no CSRF token on /auth/login")
    form = {"email": BENCH_EMAIL, "password": BENCH_PASSWORD, "csrf_token": token.group(1)}
    response = await client.post("/auth/login", form=form)
    if response.status_code not in (302, 303):
        raise RuntimeError(f"login failed: {response.status_code}")
    await client.get("/followed")
    return client


async def _deep_path(client: Any) -> str:
    url, seen = "/", 0
    while seen < DEEP_ITEMS:
        body = await (await client.get(url, headers={"Accept": "application/json"})).get_json()
        seen += len(body["posts"])
        parts = urlsplit(body["next"])
        url = f"{parts.path}?{parts.query}"
    return url


async def profile(
    url: str, requests: int, top: int, case: str = "", sort: str = "cumulative"
) -> None:
    """Measure CPU per request for each benchmarked URL, then cProfile the costliest
    (or the first whose name contains `case`)."""
    from flasky import create_app

    app = create_app(
        "production",
        DATABASE_URL=url,
        FLASKY_PAGE_CACHE_SECONDS=0,
        FLASKY_MAIL_SENDER_TASK=False,
        FLASKY_QUERY_COUNT_HEADER=True,
        # the test client speaks plain http: let it keep the session cookies
        QUART_AUTH_COOKIE_SECURE=False,
        SESSION_COOKIE_SECURE=False,
    )
    username, post_id = busiest(DATA)
    async with app.test_app():
        anonymous = app.test_client()
        member = await _login(app)
        basic = base64.b64encode(f"{BENCH_EMAIL}:{BENCH_PASSWORD}".encode()).decode()
        answer = await anonymous.post("/auth/tokens", headers={"Authorization": f"Basic {basic}"})
        token = (await answer.get_json())["token"]
        cases: dict[str, tuple[Any, str, dict[str, str]]] = {
            "home, anonymous": (anonymous, "/", {}),
            "feed 2,000 deep": (anonymous, await _deep_path(anonymous), {}),
            "profile": (anonymous, f"/user/{username}", {}),
            "post with comments": (anonymous, f"/post/{post_id}", {}),
            "followed feed, logged in": (member, "/", {}),
            "post page, logged in": (member, f"/post/{post_id}", {}),
            "JSON posts, bearer token": (
                anonymous,
                "/",
                {"Accept": "application/json", "Authorization": f"Bearer {token}"},
            ),
            "/healthz (the smallest route)": (anonymous, "/healthz", {}),
        }
        costs: dict[str, float] = {}
        print(f"{'request':32} {'CPU ms':>7} {'wall ms':>8} queries")
        for name, (client, path, headers) in cases.items():
            for _ in range(3):
                await client.get(path, headers=headers)
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(requests):
                response = await client.get(path, headers=headers)
            cpu = (time.process_time() - cpu) * 1000 / requests
            wall = (time.perf_counter() - wall) * 1000 / requests
            costs[name] = cpu
            count = response.headers.get("X-Query-Count", "?")
            print(f"{name:32} {cpu:7.2f} {wall:8.2f} {count:>7}  ({response.status_code})")

        matching = [name for name in costs if case and case in name]
        worst = matching[0] if matching else max(costs, key=costs.__getitem__)
        client, path, headers = cases[worst]
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(requests):
            await client.get(path, headers=headers)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(sort).print_stats(top)
        print(f"\ncProfile of {requests} × {worst} ({sort}):")
        print(out.getvalue())


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile", description=__doc__.splitlines()[0]
    )
    default = os.environ.get("BENCH_DATABASE_URL") or f"sqlite://{DATA / 'bench.sqlite'}"
    parser.add_argument("--database-url", default=default)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--case", default="", help="profile the first case whose name has this")
    parser.add_argument("--sort", default="cumulative", help="cumulative or tottime")
    args = parser.parse_args(argv)
    os.environ.setdefault("SECRET_KEY", "bench-profile-only")
    os.environ.setdefault("FLASKY_BASE_URL", "http://localhost")
    asyncio.run(profile(args.database_url, args.requests, args.top, args.case, args.sort))
    return 0


if __name__ == "__main__":
    sys.exit(main())
