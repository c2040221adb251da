"""`make bench`: load the benchmark data set, serve it as hypercorn.toml says, drive it with wrk.

    python -m bench.run [--duration 20] [--warmup 3] [--connections 32] [--threads 2]
                        [--data-dir bench/data] [--no-uncached] [--only live|search]
                        [--streams 1000] [--live-writes 200] [--fanouts 5] [--live-duration 10]
                        [--rounds 10] [--tagged 300]

Steps: write the data set (`flasky dataset`'s defaults) into `bench/data/` once; load
it into a fresh database with `flasky deploy` + `flasky load` (SQLite file
`bench/data/bench.sqlite`, or `BENCH_DATABASE_URL`, whose `public` schema is dropped and
recreated first); serve it with `hypercorn --config hypercorn.toml` (production
configuration, 2 workers, bound to a free loopback port); log a benchmark user in
through the real form and get a bearer token; then, per URL, one sample request (status
and `X-Query-Count`), a warm-up and a measured wrk run. The same is done for
`bench.bare:app`, a fixed 12 KB page, and every page is given as a ratio of it.
Anonymous pages are measured twice: with the page cache (production default) and with
`FLASKY_PAGE_CACHE_SECONDS=0`, so the cost of rendering is visible too. Last come the
live updates' cases (`bench/live.py`: delivery latency, 1,000 idle streams, fan-out);
`--only live` loads the data set and runs only those; `--only search` runs search's
(`bench/search.py`: 20 typical queries; `make bench` runs it after the rest, on a freshly
loaded database).

The table is printed and written to `bench/results/<date>-<db>.md`.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import csv
import datetime as dt
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from flasky.generate import PASSWORD, write_dataset

if TYPE_CHECKING:
    from bench.live import LiveResults

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
DATA = BENCH / "data"
RESULTS = BENCH / "results"
BENCH_EMAIL = "user2@example.com"
BENCH_PASSWORD = PASSWORD  # every user's password in the data set
DEEP_ITEMS = 2000
MIXED_SPREAD = 1000  # posts and profiles the mixed workload's anonymous reads cover
MIXED_CONNECTIONS = 64
VISIBILITY_WRITES = 50

WRK_MISSING = (
    "wrk is not installed. Install Debian's package (`apt-get install -y wrk`) or run "
    "`make bench`, which installs it when missing."
)

# -- wrk output --------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


@dataclass
class WrkResult:
    """What one wrk run measured."""

    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    socket_errors: int = 0
    non_2xx_3xx: int = 0

    @property
    def errors(self) -> int:
        """Failed requests: non-2xx/3xx answers plus socket errors (timeouts included)."""
        return self.socket_errors + self.non_2xx_3xx


def parse_duration_ms(text: str) -> float:
    """wrk's latency figure ('812.00us', '1.25ms', '2.01s', '1.00m') in milliseconds."""
    match = re.fullmatch(r"\s*([\d.]+)\s*(us|ms|s|m|h)\s*", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    """Requests/s, p50, p99 and errors from the output of `wrk --latency`."""

    def percentile(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+(\S+)\s*$", output, re.M)
        if not match:
            raise ValueError(f"no {label}% line in wrk output (was --latency given?)")
        return parse_duration_ms(match.group(1))

    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in ", output, re.M)
    if not rate or not total:
        raise ValueError("no Requests/sec in wrk output")
    socket_errors = 0
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sock:
        socket_errors = sum(int(n) for n in sock.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests=int(total.group(1)),
        requests_per_s=float(rate.group(1)),
        p50_ms=percentile("50"),
        p99_ms=percentile("99"),
        socket_errors=socket_errors,
        non_2xx_3xx=int(non2xx.group(1)) if non2xx else 0,
    )


def run_wrk(
    url: str,
    *,
    duration: float,
    threads: int,
    connections: int,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> WrkResult:
    """Drive `url` with wrk from a separate process and parse what it printed."""
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    done = subprocess.run(
        cmd, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout}")
    return parse_wrk(done.stdout)


# -- serving -------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, in clock ticks."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy, busy + idle + iowait


def _group_jiffies(pgid: int) -> int:
    """CPU time used so far by the live processes of one process group, in clock ticks."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields[0] is the state; pgrp is the third
            total += int(fields[11]) + int(fields[12])
    return total


def _own_jiffies() -> float:
    """CPU time of this process and its finished children (wrk), in clock ticks."""
    import resource

    ticks = os.sysconf("SC_CLK_TCK")
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime) * ticks


@contextlib.contextmanager
def other_cpu(server_pgid: int) -> Iterator[list[float]]:
    """Share of the machine's CPU used during the block by anything but the server, wrk
    and this script: how much other work competed with the measurement (0.0 to 1.0)."""
    out: list[float] = []
    busy0, total0 = _machine_jiffies()
    server0, own0 = _group_jiffies(server_pgid), _own_jiffies()
    yield out
    busy1, total1 = _machine_jiffies()
    ours = (_group_jiffies(server_pgid) - server0) + (_own_jiffies() - own0)
    others = (busy1 - busy0) - ours
    out.append(max(0.0, others / max(1, total1 - total0)))


@dataclass
class Server:
    """A hypercorn we started: its base URL, process and log file."""

    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self) -> str:
        """Everything the server wrote to stderr/stdout so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def serve(
    target: str,
    *,
    env: dict[str, str] | None = None,
    ready_path: str = "/",
    log_path: Path | None = None,
    workers: int | None = None,
    timeout: float = 60.0,
) -> Iterator[Server]:
    """Run `hypercorn --config hypercorn.toml <target>` on a free loopback port until the
    block ends (then SIGTERM, and SIGKILL to its process group if it lingers)."""
    port = free_port()
    # The app answers only for its FLASKY_BASE_URL in production: this server's origin.
    env = {**(env or {}), "FLASKY_BASE_URL": f"http://127.0.0.1:{port}"}
    cmd = [
        sys.executable,
        "-m",
        "hypercorn",
        "--config",
        str(REPO / "hypercorn.toml"),
        "--bind",
        f"127.0.0.1:{port}",
    ]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    cmd.append(target)
    log_path = log_path or (DATA / f"server-{port}.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    process = subprocess.Popen(
        cmd,
        cwd=REPO,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(base_url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
    try:
        _wait_ready(server, ready_path, timeout)
        yield server
    finally:
        _stop(process)
        log.close()


@contextlib.contextmanager
def serve_pair(env: dict[str, str], tag: str) -> Iterator[tuple[Server, Server]]:
    """Two single-worker servers of the app on one database (logs `server-<tag>-a/b`)."""
    with contextlib.ExitStack() as stack:
        a, b = (
            stack.enter_context(
                serve(
                    "flasky.asgi:app",
                    env=env,
                    ready_path="/healthz",
                    workers=1,
                    log_path=DATA / f"server-{tag}-{name}.log",
                )  # fmt: skip
            )
            for name in "ab"
        )
        yield a, b


def _wait_ready(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited ({server.process.returncode}):\n{server.log_text()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.base_url + path, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout:.0f}s:\n{server.log_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # workers left behind by a master that died: they are in the group we created
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


# -- the data set and the database -------------------------------------------------------


def prepare_dataset(out: Path) -> None:
    """Write the data set with `flasky dataset`'s defaults into `out`, unless already there."""
    names = ("users.csv", "follows.csv", "posts.csv", "comments.csv")
    if not all((out / name).exists() for name in names):
        write_dataset(out)


def flasky_cli() -> str:
    """The `flasky` console script of this interpreter's environment."""
    candidate = Path(sys.executable).parent / "flasky"
    return str(candidate) if candidate.exists() else "flasky"


async def _reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


def load_database(url: str, data_dir: Path, env: dict[str, str]) -> float:
    """A fresh database at `url` holding the data set; returns the load's seconds."""
    if url.startswith("sqlite://"):
        path = Path(url.removeprefix("sqlite://"))
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        asyncio.run(_reset_postgres(url))
    run_env = {**os.environ, **env, "DATABASE_URL": url}
    _flasky(["deploy"], run_env, timeout=300)
    started = time.perf_counter()
    _flasky(["load", str(data_dir)], run_env, timeout=1800)
    return time.perf_counter() - started


def _flasky(args: list[str], env: dict[str, str], timeout: float) -> None:
    """Run a `flasky` command; a failure or a hang stops the benchmark with one line."""
    try:
        subprocess.run([flasky_cli(), *args], cwd=REPO, env=env, check=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"`flasky {args[0]}` did not finish within {timeout:.0f} s") from None
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"`flasky {args[0]}` failed with exit status {exc.returncode}") from None


def busiest(data_dir: Path) -> tuple[str, int]:
    """(username of the author with most posts, id of the post with most comments)."""
    with (data_dir / "posts.csv").open(newline="", encoding="utf-8") as f:
        authors = collections.Counter(row["author_id"] for row in csv.DictReader(f))
    with (data_dir / "comments.csv").open(newline="", encoding="utf-8") as f:
        posts = collections.Counter(row["post_id"] for row in csv.DictReader(f))
    author_id = authors.most_common(1)[0][0]
    with (data_dir / "users.csv").open(newline="", encoding="utf-8") as f:
        username = next(row["username"] for row in csv.DictReader(f) if row["id"] == author_id)
    return username, int(posts.most_common(1)[0][0])


# -- a client that keeps Secure cookies over plain http ---------------------------------


class Browser:
    """Form login and requests against a production server on http://127.0.0.1.

    Production cookies are `Secure`, which cookie jars rightly refuse to send over plain
    http; this keeps them by name so that wrk can be handed the same `Cookie` header."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies: dict[str, str] = {}
        self.client = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def cookie_header(self) -> str:
        """The Cookie header this browser sends."""
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        """Send a request with the kept cookies; remember the cookies it sets."""
        headers = dict(kwargs.pop("headers", None) or {})  # type: ignore[arg-type]
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        self.client.cookies.clear()
        response = self.client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
        for raw in response.headers.get_list("set-cookie"):
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            expired = "max-age=0" in raw.lower() or "expires=thu, 01 jan 1970" in raw.lower()
            if expired or value in ("", '""'):
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value
        return response

    def csrf(self, path: str) -> str:
        """The CSRF token a page hands this browser (form field or hx-headers)."""
        html = self.request("GET", path).text
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
            r'"X-CSRFToken": "([^"]+)"', html
        )
        if not match:
            raise RuntimeError(f"no CSRF token on {path}")
        return match.group(1)

    def login(self, email: str, password: str) -> None:
        """Log in through the real form."""
        token = self.csrf("/auth/login")
        response = self.request(
            "POST", "/auth/login", data={"email": email, "password": password, "csrf_token": token}
        )
        if response.status_code not in (302, 303):
            raise RuntimeError(f"login failed: {response.status_code} {response.text[:300]}")


def bearer_token(base_url: str, email: str, password: str) -> str:
    """A token from POST /auth/tokens with Basic credentials."""
    response = httpx.post(base_url + "/auth/tokens", auth=(email, password), timeout=30)
    response.raise_for_status()
    return response.json()["token"]


def deep_cursor_path(base_url: str, depth: int) -> str:
    """`/?cursor=…` whose page starts after the `depth`-th post of the home feed,
    found by following the JSON collection's `next` links from the first page."""
    url = base_url + "/"
    seen = 0
    with httpx.Client(timeout=30, headers={"Accept": "application/json"}) as client:
        while seen < depth:
            response = client.get(url)
            response.raise_for_status()
            body = response.json()
            seen += len(body["posts"])
            if not body.get("next"):
                raise RuntimeError(f"the feed ends after {seen} posts, before {depth}")
            url = body["next"]
    if seen != depth:
        raise RuntimeError(f"page size does not divide {depth}: reached {seen}")
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


# -- the measured URLs -------------------------------------------------------------------


@dataclass
class Case:
    """One measured request: what it is, and how to send it."""

    label: str
    path: str
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    script: Path | None = None
    form: dict[str, str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    connections: int | None = None  # wrk's -c, when not the command line's
    prewarm: list[str] = field(default_factory=list)  # paths read before the warm-up


async def _read_all(base_url: str, paths: list[str], rounds: int, concurrency: int = 8) -> None:
    """Read every path `rounds` times, `concurrency` at a time (anonymous GETs, no
    cookies kept; a request that fails only leaves its page cold)."""
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:

        async def one(path: str) -> None:
            async with gate:
                client.cookies.clear()
                with contextlib.suppress(httpx.HTTPError):
                    await client.get(path)

        await asyncio.gather(*(one(path) for _ in range(rounds) for path in paths))


@dataclass
class Row:
    """One line of the results table."""

    case: Case
    result: WrkResult | None
    sample_status: int | None = None
    queries_cold: int | None = None
    queries_warm: int | None = None
    note: str = ""
    other_cpu: float | None = None


def sample(browser: Browser, case: Case) -> tuple[int, int | None]:
    """One request as wrk will send it: (status, X-Query-Count)."""
    headers = {k: v for k, v in case.headers.items() if k.lower() != "cookie"}
    saved = dict(browser.cookies)
    if "Cookie" not in case.headers:
        browser.cookies = {}
    try:
        response = browser.request(case.method, case.path, headers=headers, data=case.form)
    finally:
        browser.cookies = saved
    count = response.headers.get("X-Query-Count")
    return response.status_code, int(count) if count is not None else None


def measure(
    browser: Browser,
    case: Case,
    args: argparse.Namespace,
    server_pgid: int,
    *,
    warm_sample: bool = True,
) -> Row:
    """Sample, warm up, measure and sample again one case against `browser.base_url`."""
    row = Row(case=case, result=None)
    row.sample_status, row.queries_cold = sample(browser, case)
    if row.sample_status >= 400:
        row.note = f"sample request answered {row.sample_status}"
    url = browser.base_url + case.path
    wrk_args = {
        "threads": args.threads,
        "connections": case.connections or args.connections,
        "headers": case.headers,
        "script": case.script,
        "env": case.env,
    }
    if case.prewarm:  # a steady state: each worker has rendered the pages once
        asyncio.run(_read_all(browser.base_url, case.prewarm, rounds=2))
    run_wrk(url, duration=args.warmup, **wrk_args)
    with other_cpu(server_pgid) as share:
        row.result = run_wrk(url, duration=args.duration, **wrk_args)
    row.other_cpu = share[0]
    if warm_sample:
        try:
            _, row.queries_warm = sample(browser, case)
        except httpx.TimeoutException:
            # the server still works off what wrk left queued (SQLite's writers, README)
            row.note = "the server was still busy 30 s after the run"
            _wait_idle(browser)
    return row


def _wait_idle(browser: Browser, limit: float = 300.0) -> None:
    """Wait (up to `limit` s) until the server answers /healthz again, so a stalled
    case does not spill into the next one."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            if browser.client.get("/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(1)


def measure_bare(args: argparse.Namespace, label: str) -> Row:
    """The bare 12 KB app under the same hypercorn settings."""
    row = Row(case=Case(label, "/"), result=None)
    with serve("bench.bare:app", log_path=DATA / "server-bare.log") as server:
        url = server.base_url + "/"
        kwargs = {"threads": args.threads, "connections": args.connections}
        run_wrk(url, duration=args.warmup, **kwargs)
        with other_cpu(server.process.pid) as share:
            row.result = run_wrk(url, duration=args.duration, **kwargs)
        row.other_cpu = share[0]
    return row


def yardstick(bares: list[Row]) -> WrkResult:
    """The best bare run: ratios against it are never flattered by a busy moment."""
    return max((row.result for row in bares if row.result), key=lambda r: r.requests_per_s)


# -- report ------------------------------------------------------------------------------


def _fmt_queries(row: Row) -> str:
    cold, warm = row.queries_cold, row.queries_warm
    if cold is None:
        return "?"
    if warm is None or warm == cold:
        return str(cold)
    return f"{cold} → {warm}"


def table(rows: list[Row], bares: list[Row]) -> str:
    """The results as a Markdown table, the bare app's runs first."""
    bare = yardstick(bares)
    lines = [
        "| page | req/s | p50 ms | p99 ms | errors | queries/req | vs bare | other CPU |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in [*bares, *rows]:
        r = row.result
        label = f"{row.case.label} `{row.case.method} {_short(row.case.path)}`"
        load = f"{100 * row.other_cpu:.0f} %" if row.other_cpu is not None else "–"
        if row in bares:
            label = row.case.label
        if r is None:
            lines.append(f"| {label} | – | – | – | – | {_fmt_queries(row)} | {row.note} | {load} |")
            continue
        errors = str(r.errors)
        if r.errors:
            errors += f" ({r.non_2xx_3xx} HTTP, {r.socket_errors} socket)"
        if row.note:
            errors += f"; {row.note}"
        ratio = 100 * r.requests_per_s / bare.requests_per_s if bare.requests_per_s else 0
        queries = "–" if row in bares else _fmt_queries(row)
        lines.append(
            f"| {label} | {r.requests_per_s:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {errors} | "
            f"{queries} | {ratio:.1f} % | {load} |"
        )
    return "\n".join(lines)


def _short(path: str) -> str:
    return re.sub(r"cursor=[^&]+", "cursor=…", path)


def targets(rows: list[Row], bare: WrkResult) -> list[str]:
    """Each target of the issue: met or missed, and by how much."""
    by_label = {row.case.label: row for row in rows if row.result is not None}
    out: list[str] = []

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    for suffix in ("", " (no page cache)"):
        home, deep = (
            by_label.get("home, anonymous" + suffix),
            by_label.get("feed 2,000 deep" + suffix),
        )
        if home and deep and home.result and deep.result:
            ratio = deep.result.p50_ms / home.result.p50_ms
            out.append(
                f"- deep page p50 within 1.2× of the first page{suffix}: {ratio:.2f}× "
                f"({deep.result.p50_ms:.2f} vs {home.result.p50_ms:.2f} ms) — "
                f"{verdict(ratio <= 1.2)}"
            )
    worst = max(rows, key=lambda r: r.queries_cold or 0)
    out.append(
        f"- no page above 4 queries: highest is {worst.queries_cold} ({worst.case.label}) — "
        f"{verdict((worst.queries_cold or 0) <= 4)}"
    )
    for row in rows:
        if row.result is None:
            continue
        need = need_of(row.case.label)
        share = 100 * row.result.requests_per_s / bare.requests_per_s
        gap = (
            ""
            if share >= need
            else f", short by {need - share:.1f} points ({need / share:.1f}× too slow)"
        )
        out.append(
            f"- {row.case.label} ≥ {need:.0f} % of bare: {share:.1f} %{gap} — "
            f"{verdict(share >= need)}"
        )
        if row.case.label.startswith("mixed"):
            r = row.result
            out.append(
                f"- mixed: 0 errors and p99 under 100 ms: {r.errors} errors, p99 "
                f"{r.p99_ms:.1f} ms — {verdict(r.errors == 0 and r.p99_ms < 100)}"
            )
    return out


ANONYMOUS = ("home, anonymous", "feed 2,000 deep", "profile", "post with comments")


def need_of(label: str) -> float:
    """The share of the bare app's throughput the issue asks of a case, in %."""
    if label.endswith("(no page cache)"):
        return 15.0  # rendered
    if label in ANONYMOUS:
        return 60.0  # from the page cache, with invalidation in place
    if label.startswith("create"):
        return 10.0
    if label.startswith("mixed"):
        return 25.0
    return 15.0  # signed in: followed feed, post page, JSON with a bearer token


# -- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds measured per URL")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per URL")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument(
        "--no-uncached", action="store_true", help="skip the anonymous pages without page cache"
    )
    parser.add_argument(
        "--only",
        choices=["live", "search"],
        help="run only these cases (live: bench/live.py's; search: bench/search.py's)",
    )
    from bench import live, search  # not at the top: they import this module

    live.add_arguments(parser)
    search.add_arguments(parser)
    return parser.parse_args(argv)


def mixed_paths(data_dir: Path, out: Path, spread: int = MIXED_SPREAD) -> Path:
    """The mixed workload's paths: `spread` posts and profiles read anonymously (every
    n-th of the data set), a few pages read signed in. Written to `out` for mixed.lua."""
    with (data_dir / "posts.csv").open(newline="", encoding="utf-8") as f:
        post_ids = [row["id"] for row in csv.DictReader(f)]
    with (data_dir / "users.csv").open(newline="", encoding="utf-8") as f:
        names = [row["username"] for row in csv.DictReader(f)]
    half = spread // 2
    posts = post_ids[:: max(1, len(post_ids) // half)][:half]
    users = names[:: max(1, len(names) // half)][:half]
    lines = [f"anon /post/{n}" for n in posts] + [f"anon /user/{u}" for u in users]
    lines += [
        "auth /",
        *(f"auth /post/{n}" for n in posts[:20]),
        *(f"auth /user/{u}" for u in users[:20]),
    ]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def build_cases(
    browser: Browser, token: str, deep: str, username: str, post_id: int, mixed: Path
) -> list[Case]:
    """The URLs of the issue, in the order they are measured (the writes last)."""
    cookie = browser.cookie_header()
    csrf = browser.csrf("/")
    return [
        Case("home, anonymous", "/"),
        Case("feed 2,000 deep", deep),
        Case("profile", f"/user/{username}"),
        Case("post with comments", f"/post/{post_id}"),
        Case("followed feed, logged in", "/", headers={"Cookie": cookie}),
        Case("post page, logged in", f"/post/{post_id}", headers={"Cookie": cookie}),
        Case(
            "JSON posts, bearer token",
            "/",
            headers={"Accept": "application/json", "Authorization": f"Bearer {token}"},
        ),
        Case(
            "create a post, logged in",
            "/",
            method="POST",
            headers={"Cookie": browser.cookie_header(), "X-CSRFToken": csrf},
            script=BENCH / "post.lua",
            form={"body": "Benchmark sample post.", "csrf_token": csrf},
            env={"BENCH_CSRF": csrf},
        ),
        Case(
            "mixed: 90 % anonymous, 8 % signed in, 2 % writes",
            "/",
            script=BENCH / "mixed.lua",
            env={"BENCH_MIXED_PATHS": str(mixed), "BENCH_COOKIE": cookie, "BENCH_CSRF": csrf},
            connections=MIXED_CONNECTIONS,
            prewarm=[
                line.split(" ", 1)[1]
                for line in mixed.read_text(encoding="utf-8").splitlines()
                if line.startswith("anon ")
            ],
        ),
    ]


def visibility(url: str, env: dict[str, str], writes: int = VISIBILITY_WRITES) -> list[float]:
    """Two hypercorn processes on one database: each edit acknowledged by A, the seconds
    until B answers it (B's page cache warm before every write)."""
    latencies: list[float] = []
    with contextlib.ExitStack() as stack:
        a, b = stack.enter_context(serve_pair(env, "visibility"))
        writer, reader = Browser(a.base_url), Browser(b.base_url)
        stack.callback(writer.close)
        stack.callback(reader.close)
        writer.login(BENCH_EMAIL, BENCH_PASSWORD)
        headers = {"Accept": "application/json", "X-CSRFToken": writer.csrf("/")}
        made = writer.request("POST", "/", headers=headers, json={"body": "Visibility probe."})
        made.raise_for_status()
        path = f"/post/{made.json()['id']}"
        for n in range(writes):
            for _ in range(2):  # the second read is a cache hit
                reader.request("GET", path, headers={"Accept": "application/json"})
            body = f"Visibility probe, edit {n}."
            edit = writer.request("PUT", path, headers=headers, json={"body": body})
            edit.raise_for_status()
            start = time.perf_counter()
            while True:
                seen = reader.request("GET", path, headers={"Accept": "application/json"})
                if seen.status_code == 200 and seen.json()["body"] == body:
                    latencies.append(time.perf_counter() - start)
                    break
                if time.perf_counter() - start > 5:
                    raise RuntimeError(f"edit {n} not visible on B after 5 s")
                time.sleep(0.001)
    return latencies


def server_log_problems(text: str) -> str:
    """A one-line summary of errors a server logged (tracebacks, locked database)."""
    tracebacks = text.count("Traceback (most recent call last)")
    locked = text.count("database is locked")
    parts = []
    if tracebacks:
        parts.append(f"{tracebacks} tracebacks")
    if locked:
        parts.append(f"{locked} 'database is locked' lines")
    return ", ".join(parts) or "no errors logged"


def bench_env(url: str) -> dict[str, str]:
    """The environment of the servers and commands: production, on `url`."""
    return {
        "FLASKY_CONFIG": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": url,
        "FLASKY_QUERY_COUNT_HEADER": "1",
        # `serve` sets the real one; `flasky deploy` and `load` need one to start.
        "FLASKY_BASE_URL": "http://127.0.0.1",
        # The POST benchmark (and search's tagged posts) write many posts as one user.
        "FLASKY_RATE_LIMITS": "off",
    }


def main(argv: list[str] | None = None) -> int:
    """Run the whole benchmark and print the table."""
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print(WRK_MISSING, file=sys.stderr)
        return 2
    data_dir: Path = args.data_dir
    prepare_dataset(data_dir)
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite://{data_dir / 'bench.sqlite'}"
    db_name = "sqlite" if url.startswith("sqlite") else "postgres"
    env = bench_env(url)
    print(f"== loading the data set into {db_name} ({_redact(url)})", flush=True)
    load_seconds = load_database(url, data_dir, env)
    print(f"   loaded in {load_seconds:.1f} s", flush=True)
    username, post_id = busiest(data_dir)
    from bench import live, search  # not at the top: they import this module

    if args.only == "search":
        return search.write_report(search.run_search(url, env, args, db_name, load_seconds))

    if args.only == "live":
        results = live.run_live(url, env, args, data_dir, db_name)
        return publish(live.live_report(results, args, load_seconds), f"{db_name}-live")

    print("== bare ASGI app", flush=True)
    bares = [measure_bare(args, "bare ASGI app, fixed 12 KB page (first)")]
    _print_row(bares[0])

    rows: list[Row] = []
    notes: list[str] = []
    with serve(
        "flasky.asgi:app", env=env, ready_path="/healthz", log_path=DATA / f"server-{db_name}.log"
    ) as server:
        browser = Browser(server.base_url)
        try:
            browser.login(BENCH_EMAIL, BENCH_PASSWORD)
            followed = browser.request("GET", "/followed")
            if followed.status_code not in (302, 303):
                raise RuntimeError(f"/followed answered {followed.status_code}")
            token = bearer_token(server.base_url, BENCH_EMAIL, BENCH_PASSWORD)
            deep = deep_cursor_path(server.base_url, DEEP_ITEMS)
            mixed = mixed_paths(data_dir, DATA / "mixed-paths.txt")
            cases = build_cases(browser, token, deep, username, post_id, mixed)
            for case in cases:
                print(f"== {case.label}: {case.method} {_short(case.path)}", flush=True)
                rows.append(measure(browser, case, args, server.process.pid))
                _print_row(rows[-1])
        finally:
            browser.close()
        notes.append(f"cached server log: {server_log_problems(server.log_text())}")

    if not args.no_uncached:
        uncached_env = {**env, "FLASKY_PAGE_CACHE_SECONDS": "0"}
        with serve(
            "flasky.asgi:app",
            env=uncached_env,
            ready_path="/healthz",
            log_path=DATA / f"server-{db_name}-nocache.log",
        ) as server:
            browser = Browser(server.base_url)
            try:
                for case in cases[:4]:
                    uncached = Case(f"{case.label} (no page cache)", case.path)
                    print(f"== {uncached.label}: GET {_short(case.path)}", flush=True)
                    rows.append(measure(browser, uncached, args, server.process.pid))
                    _print_row(rows[-1])
            finally:
                browser.close()
            notes.append(f"uncached server log: {server_log_problems(server.log_text())}")

    if db_name == "postgres":
        print("== visibility: writes on one process, reads on another", flush=True)
        seen = sorted(visibility(url, env))
        p50, p99 = seen[len(seen) // 2], seen[min(len(seen) - 1, int(0.99 * len(seen)))]
        notes.append(
            f"visibility across 2 processes over {len(seen)} edits: p50 {p50 * 1000:.1f} ms, "
            f"p99 {p99 * 1000:.1f} ms (target p99 ≤ 100 ms: {'met' if p99 <= 0.1 else 'MISSED'})"
        )
        print(f"   {notes[-1]}", flush=True)

    live_results = live.run_live(url, env, args, data_dir, db_name)

    print("== bare ASGI app, again", flush=True)
    bares.append(measure_bare(args, "bare ASGI app, fixed 12 KB page (last)"))
    _print_row(bares[1])
    return publish(_report(rows, bares, db_name, args, load_seconds, notes, live_results), db_name)


def publish(report: str, name: str) -> int:
    """Print `report` and write it to `bench/results/<date>-<name>.md`; exit status 0."""
    print()
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{dt.date.today().isoformat()}-{name}.md"
    out.write_text(report + "\n")
    print(f"\n(written to {out.relative_to(REPO)})")
    return 0


def _print_row(row: Row) -> None:
    r = row.result
    if r is not None:
        print(
            f"   {r.requests_per_s:,.0f} req/s, p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms, "
            f"errors {r.errors}, queries {_fmt_queries(row)}, "
            f"other CPU {100 * (row.other_cpu or 0):.0f} % {row.note}",
            flush=True,
        )


def _report(
    rows: list[Row],
    bares: list[Row],
    db_name: str,
    args: argparse.Namespace,
    load_seconds: float,
    notes: list[str],
    live_results: LiveResults | None = None,
) -> str:
    from bench.live import live_figures, live_targets

    live_lines: list[str] = []
    if live_results is not None:
        live_lines = [
            f"Live updates (`bench/live.py`; one worker per server, {args.live_duration:g} s of "
            "wrk per page):",
            *live_figures(live_results),
            "",
        ]
    header = (
        f"### {db_name} — {dt.date.today().isoformat()}, {os.cpu_count()} cores, "
        f"hypercorn.toml (2 workers, uvloop), wrk -t{args.threads} -c{args.connections}, "
        f"{args.warmup:g} s warm-up + {args.duration:g} s per URL"
    )
    return "\n".join(
        [
            header,
            "",
            table(rows, bares),
            "",
            "`queries/req`: X-Query-Count of one request before the warm-up → one after the run",
            "(0 after is a page-cache hit; a logged-in viewer's first request also refreshes",
            "`last_seen`, once a minute). Ratios are to the faster bare run. `other CPU` is the",
            "share of the machine's CPU",
            "that processes other than the server, wrk and this script used during the run:",
            "the machine is shared, and a high figure means the page had fewer cycles.",
            "",
            *live_lines,
            "Targets:",
            *targets(rows, yardstick(bares)),
            *(live_targets(live_results) if live_results is not None else []),
            "",
            f"Data set loaded in {load_seconds:.1f} s. " + "; ".join(notes) + ".",
        ]
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return url.replace(f":{parts.password}@", ":***@") if parts.password else url


if __name__ == "__main__":
    sys.exit(main())
