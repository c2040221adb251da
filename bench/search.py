"""Search on the shared data set (SPEC §11): latency of 20 typical queries, and the load.

    python -m bench.search [--rounds 10] [--tagged 300]
    python -m bench.run --only search [same options]     # the same thing
    BENCH_DATABASE_URL=postgres://… python -m bench.search   # on PostgreSQL

Steps: the data set is loaded as `bench.run` does (`flasky deploy` + `flasky load`
into a fresh SQLite file or `BENCH_DATABASE_URL`; the load's seconds include building
the search index). The data set has no tags or mentions, so `--tagged` posts carrying
`#python`, `#htmx` and `@user3` are written first through `POST /` (JSON, a bearer
token: the path every client takes, index and mention rows in its transaction). Then,
with the server of `hypercorn.toml` (production configuration, 2 workers), each of the
20 queries below is asked once unmeasured and `--rounds` times measured, one request
at a time, as JSON and as the full page: the latency from sending the request to
reading the whole answer, by query and over all of them (p50, p99, max), beside the
number of posts each query matches and the queries it ran (`X-Query-Count`).

Targets (issue 14): p50 under 50 ms and p99 under 150 ms; `flasky load` of the
default data set under 60 s on SQLite with the index built.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench.run import (
    BENCH_EMAIL,
    BENCH_PASSWORD,
    DATA,
    _redact,
    bearer_token,
    bench_env,
    load_database,
    prepare_dataset,
    publish,
    serve,
)

# Twenty typical queries: one word, two words, phrases, exclusions, tags, a mention,
# `from:`, and a name (the people list).
QUERIES = (
    "lorem",
    "flask",
    "python",
    "htmx",
    "magna",
    "laborum",
    "quart htmx",
    "dolor sit",
    "consectetur adipiscing",
    "velit esse",
    '"dolor sit amet"',
    '"magna aliqua"',
    '"ut labore et dolore"',
    "ullamco -laboris",
    "#python",
    "#htmx async",
    "@user3",
    "from:user2",
    "from:user3 flask",
    "ada",
)
TAGGED_BODY = "Notes {n} on #python and #htmx, thanks @user3: {words}"


@dataclass
class QueryRow:
    query: str
    count: int
    queries: int
    json_ms: list[float] = field(default_factory=list)
    page_ms: list[float] = field(default_factory=list)


@dataclass
class SearchResults:
    db_name: str
    load_seconds: float
    tagged_seconds: float
    tagged: int
    rounds: int
    rows: list[QueryRow]


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options (also `bench.run --only search`)."""
    parser.add_argument("--rounds", type=int, default=10, help="measured requests per query")
    parser.add_argument("--tagged", type=int, default=300, help="tagged posts written first")


def write_tagged(base_url: str, token: str, count: int) -> float:
    """`count` posts with tags and a mention through POST / (JSON); their seconds."""
    words = "lorem ipsum python flask async quart"
    started = time.perf_counter()
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for n in range(count):
            response = client.post(
                "/",
                json={"body": TAGGED_BODY.format(n=n, words=words)},
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            )
            if response.status_code != 201:
                raise SystemExit(f"POST / answered {response.status_code}: {response.text[:200]}")
    return time.perf_counter() - started


def measure_queries(base_url: str, rounds: int) -> list[QueryRow]:
    """Each query: one unmeasured request, then `rounds` as JSON and as the page."""
    rows: list[QueryRow] = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for q in QUERIES:
            path = "/search?" + urlencode({"q": q})
            first = client.get(path, headers={"Accept": "application/json"})
            if first.status_code != 200:
                raise SystemExit(f"{path} answered {first.status_code}")
            row = QueryRow(q, first.json()["count"], int(first.headers.get("X-Query-Count", 0)))
            client.get(path)  # the page, unmeasured
            for _ in range(rounds):
                for accept, into in (("application/json", row.json_ms), ("text/html", row.page_ms)):
                    started = time.perf_counter()
                    response = client.get(path, headers={"Accept": accept})
                    response.read()
                    into.append((time.perf_counter() - started) * 1000)
                    if response.status_code != 200:
                        raise SystemExit(f"{path} answered {response.status_code}")
            rows.append(row)
            print(
                f"   {q:26} {row.count:6} posts  json p50 {statistics.median(row.json_ms):6.1f} ms"
                f"  page p50 {statistics.median(row.page_ms):6.1f} ms",
                flush=True,
            )
    return rows


def run_search(
    url: str, env: dict[str, str], args: argparse.Namespace, db_name: str, load_seconds: float
) -> SearchResults:
    """Write the tagged posts and measure the queries on a server of `url`."""
    with serve(
        "flasky.asgi:app",
        env=env,
        ready_path="/healthz",
        log_path=DATA / f"server-{db_name}-search.log",
    ) as server:
        token = bearer_token(server.base_url, BENCH_EMAIL, BENCH_PASSWORD)
        print(f"== writing {args.tagged} tagged posts", flush=True)
        tagged_seconds = write_tagged(server.base_url, token, args.tagged)
        print(f"== {len(QUERIES)} queries × {args.rounds} rounds", flush=True)
        rows = measure_queries(server.base_url, args.rounds)
    return SearchResults(db_name, load_seconds, tagged_seconds, args.tagged, args.rounds, rows)


def report(results: SearchResults) -> str:
    """The results as Markdown."""
    every_json = [ms for row in results.rows for ms in row.json_ms]
    every_page = [ms for row in results.rows for ms in row.page_ms]
    lines = [
        f"#### Search — {results.db_name}, {dt.date.today().isoformat()}, "
        f"{os.cpu_count()} cores, hypercorn.toml (2 workers), one request at a time",
        "",
        f"- `flasky load` of the default data set, search index included: "
        f"{results.load_seconds:.1f} s (target: under 60 s on SQLite)",
        f"- {results.tagged} tagged posts through `POST /` (JSON): "
        f"{results.tagged_seconds / max(1, results.tagged) * 1000:.1f} ms each",
        f"- all {len(results.rows)} queries, {results.rounds} rounds each — JSON: p50 "
        f"{statistics.median(every_json):.1f} ms, p99 {percentile(every_json, 99):.1f} ms, "
        f"max {max(every_json):.1f} ms; page: p50 {statistics.median(every_page):.1f} ms, "
        f"p99 {percentile(every_page, 99):.1f} ms, max {max(every_page):.1f} ms "
        "(targets: p50 < 50 ms, p99 < 150 ms)",
        "",
        "| query | posts | queries | JSON p50 | JSON p99 | page p50 | page p99 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results.rows:
        lines.append(
            f"| `{row.query}` | {row.count} | {row.queries} "
            f"| {statistics.median(row.json_ms):.1f} | {percentile(row.json_ms, 99):.1f} "
            f"| {statistics.median(row.page_ms):.1f} | {percentile(row.page_ms, 99):.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.search", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--data-dir", type=Path, default=DATA)
    add_arguments(parser)
    args = parser.parse_args(argv)
    prepare_dataset(args.data_dir)
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite://{args.data_dir / 'bench.sqlite'}"
    db_name = "sqlite" if url.startswith("sqlite") else "postgres"
    env = bench_env(url)
    print(f"== loading the data set into {db_name} ({_redact(url)})", flush=True)
    load_seconds = load_database(url, args.data_dir, env)
    print(f"   loaded in {load_seconds:.1f} s", flush=True)
    return write_report(run_search(url, env, args, db_name, load_seconds))


def write_report(results: SearchResults) -> int:
    """Print the report and write it to `bench/results/<date>-<db>-search.md`."""
    return publish(report(results), f"{results.db_name}-search")


if __name__ == "__main__":
    raise SystemExit(main())
