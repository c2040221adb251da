"""Live updates under load (SPEC §9): delivery latency, 1,000 idle streams, fan-out.

    python -m bench.live [--streams 1000] [--live-writes 200] [--fanouts 5]
                         [--live-duration 10] [--warmup 3]
    python -m bench.run --only live [same options]      # the same thing
    make bench                                          # everything, these cases last

The data set is loaded as `bench.run` does (SQLite, or `BENCH_DATABASE_URL`), then:

1. Delivery (PostgreSQL only: SQLite is one process): two hypercorn servers with one
   worker each on the same database. One `GET /stream?topic=posts` stream is open on B;
   `POST /` (JSON, bearer token) on A, one write at a time (after 5 unmeasured ones).
   Per write: the seconds from reading A's 201 to the post-created event arriving on
   B's stream (negative when the event came first: the NOTIFY leaves at commit, before
   A answers), and from sending the POST. Both are reported as measured, nothing
   clamped; the target (p99 ≤ 100 ms) is read on the first.
2. Idle streams: one server with one worker. wrk measures the home page and the
   busiest post anonymously, then 1,000 `posts` streams are opened (raw sockets,
   `SseClient`), the worker's VmRSS read before and after, the pages measured again
   with the streams open, and once more after they are closed (how noisy the machine is).
3. Fan-out, on the same server with the 1,000 streams open: one post (written on that
   process) and the time from sending it until the last stream received its
   post-created event; repeated `--fanouts` times after one unmeasured warm-up post.

Each stream says `X-Forwarded-For: 10.x.y.z` (its own address) and the servers run with
FLASKY_TRUSTED_PROXIES=1, so FLASKY_STREAMS_PER_CLIENT keeps its default (8), as
behind a proxy; the limit itself is checked from one address first. Streams use the
HTML format (what the pages subscribe to); FLASKY_STREAM_SECONDS is raised to an hour so
no stream ends mid-run, keep-alives stay at 15 s.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import math
import os
import re
import resource
import secrets
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from bench.run import (
    BENCH_EMAIL,
    BENCH_PASSWORD,
    DATA,
    Server,
    WrkResult,
    bearer_token,
    busiest,
    other_cpu,
    run_wrk,
    serve,
    serve_pair,
    server_log_problems,
)

STREAMS = 1000
WRITES = 200
FANOUTS = 5
PAGE_SECONDS = 10.0
STREAM_LIMIT = 8  # FLASKY_STREAMS_PER_CLIENT, the default, set explicitly below
OPEN_CONCURRENCY = 50  # streams being opened at once (hypercorn's backlog is 100)
DELIVERY_WARMUP = 5  # writes before the measured ones
DELIVERY_TARGET_S = 0.1
FANOUT_TARGET_S = 1.0
IDLE_TARGET = 0.20  # p99 with the streams open within 20 % of without
BUSY = 0.20  # other work's share of the CPU above which a p99 comparison is only indicative
WAIT_S = 10.0  # how long an event may take before it counts as missed
STREAM_PATH = "/stream?topic=posts"

T = TypeVar("T")

# -- text/event-stream, chunked bodies, response heads ------------------------------------


@dataclass(frozen=True)
class SseEvent:
    """One dispatched server-sent event."""

    event: str
    data: str
    id: str | None = None


class SseParser:
    """An incremental text/event-stream parser (the WHATWG rules for `data`, `event`,
    `id`, `retry` and comments; lines end in LF or CRLF). `feed` the body bytes as they
    arrive; it returns the events completed by them."""

    def __init__(self) -> None:
        self._rest = b""
        self._data: list[str] = []
        self._event = ""
        self.last_id: str | None = None  # the last event id buffer: kept across events
        self.retry_ms: int | None = None
        self.comments = 0
        self.last_comment: str | None = None

    def feed(self, chunk: bytes) -> list[SseEvent]:
        """The events that `chunk` completes, in order."""
        *lines, self._rest = (self._rest + chunk).split(b"\n")
        events: list[SseEvent] = []
        for raw in lines:
            event = self._line(raw.removesuffix(b"\r").decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
        return events

    def _line(self, line: str) -> SseEvent | None:
        if line == "":
            if not self._data:  # nothing to dispatch (a block of comments or retry)
                self._event = ""
                return None
            event = SseEvent(self._event or "message", "\n".join(self._data), self.last_id)
            self._data, self._event = [], ""
            return event
        if line.startswith(":"):
            self.comments += 1
            self.last_comment = line[1:].strip()
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None


class ChunkedDecoder:
    """An incremental `Transfer-Encoding: chunked` decoder: `feed` the bytes read, get the
    body's bytes back; `done` once the last (zero-size) chunk has come."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._left: int | None = None  # None: a size line is next; 0: the CRLF after data
        self.done = False

    def feed(self, data: bytes) -> bytes:
        """The body bytes that `data` completes (raises ValueError on a broken framing)."""
        self._buffer += data
        out = bytearray()
        while not self.done:
            if self._left is None:
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    break
                line = bytes(self._buffer[:end]).split(b";", 1)[0].strip()
                del self._buffer[: end + 2]
                if not re.fullmatch(rb"[0-9A-Fa-f]+", line):
                    raise ValueError(f"not a chunk size: {line!r}")
                size = int(line, 16)
                if size == 0:
                    self.done = True  # trailers, if any, are not read
                    break
                self._left = size
            elif self._left > 0:
                take = min(self._left, len(self._buffer))
                if take == 0:
                    break
                out += self._buffer[:take]
                del self._buffer[:take]
                self._left -= take
            else:
                if len(self._buffer) < 2:
                    break
                if self._buffer[:2] != b"\r\n":
                    raise ValueError("a chunk's data is not followed by CRLF")
                del self._buffer[:2]
                self._left = None
        return bytes(out)


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """(status, headers with lower-case names) of an HTTP/1.x response head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


# -- figures -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The `q`-th percentile (0 < q ≤ 100) by nearest rank: the smallest value with at
    least q % of the values at or below it (p99 of 200 values is the 198th smallest)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def vmrss_kb(status: str) -> int:
    """The resident set size in kB from the text of /proc/<pid>/status."""
    match = re.search(r"^VmRSS:\s+(\d+)\s+kB\s*$", status, re.M)
    if not match:
        raise ValueError("no VmRSS line")
    return int(match.group(1))


def pick_worker(children: dict[int, str]) -> int:
    """The hypercorn worker among a master's children ({pid: command line}): the one
    multiprocessing spawned (`spawn_main`), not its resource tracker."""
    workers = [pid for pid, cmdline in children.items() if "spawn_main" in cmdline]
    if len(workers) != 1:
        raise RuntimeError(f"expected one worker process, found {children}")
    return workers[0]


def worker_pid(master: int) -> int:
    """The pid of the one worker of the hypercorn master `master`."""
    children: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rpartition(")")[2].split()[1])
            if ppid != master:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                children[int(entry)] = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
    return pick_worker(children)


def rss_kb(pid: int) -> int:
    """VmRSS of process `pid`, in kB."""
    with open(f"/proc/{pid}/status") as f:
        return vmrss_kb(f.read())


def forwarded_for(index: int) -> str:
    """A distinct private address per stream: 10.0.0.1, 10.0.0.2, …"""
    n = index + 1
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def log_summary(text: str) -> str:
    """`server_log_problems` plus the log lines the live streams may add."""
    parts = [server_log_problems(text)]
    ended = text.count("live stream ended by an error")
    errors = len(re.findall(r"\[ERROR\]", text))
    if ended:
        parts.append(f"{ended} 'live stream ended by an error' warnings")
    if errors:
        parts.append(f"{errors} [ERROR] lines")
    if len(parts) > 1 and parts[0] == "no errors logged":
        parts.pop(0)
    return ", ".join(parts)


# -- a light stream client -----------------------------------------------------------------


@dataclass
class Watch:
    """Who has seen one marker so far: stream index → when (perf_counter seconds)."""

    expected: int
    times: dict[int, float] = field(default_factory=dict)
    complete: asyncio.Event = field(default_factory=asyncio.Event)

    def saw(self, index: int, at: float) -> None:
        """Stream `index` received the marker at `at` (only its first time counts)."""
        if index not in self.times:
            self.times[index] = at
            if len(self.times) >= self.expected:
                self.complete.set()


class Arrivals:
    """The markers being waited for, and which streams' post-created events carried them."""

    def __init__(self) -> None:
        self.watches: dict[str, Watch] = {}

    def watch(self, marker: str, expected: int) -> Watch:
        """Start waiting for `marker` on `expected` streams."""
        self.watches[marker] = Watch(expected)
        return self.watches[marker]

    def forget(self, marker: str) -> None:
        """Stop waiting for `marker`."""
        self.watches.pop(marker, None)

    def heard(self, index: int, event: SseEvent, at: float) -> None:
        """Stream `index` received `event` at `at`."""
        for marker, watch in self.watches.items():
            if marker in event.data:
                watch.saw(index, at)


def marker_of(tag: str, n: int) -> str:
    """A text no other probe's text contains ("probe-ab12-1-end" is not in "…-10-end")."""
    return f"probe-{tag}-{n}-end"


class SseClient:
    """One stream on a raw socket: the GET written by hand, the chunked body decoded, the
    events parsed and each post-created handed to `arrivals` with the time it was read."""

    def __init__(self, index: int, arrivals: Arrivals) -> None:
        self.index = index
        self.arrivals = arrivals
        self.parser = SseParser()
        self.decoder: ChunkedDecoder | None = None
        self.connected = asyncio.Event()  # the first comment (": connected") arrived
        self.status: int | None = None
        self.events = 0
        self.ended = False
        self.error: str | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None

    async def open(self, host: str, port: int, path: str, headers: dict[str, str]) -> int:
        """Send the request and read the answer's head; a 200 starts reading the body."""
        reader, self._writer = await asyncio.open_connection(host, port)
        lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}", "Accept: text/event-stream"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await reader.readuntil(b"\r\n\r\n")
        self.status, answer = parse_head(head)
        if self.status != 200:
            await self.close()
            return self.status
        if answer.get("transfer-encoding", "").lower() == "chunked":
            self.decoder = ChunkedDecoder()
        self._task = asyncio.get_running_loop().create_task(self._pump(reader))
        return self.status

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                data = await reader.read(65536)
                at = time.perf_counter()
                if not data:
                    break
                body = self.decoder.feed(data) if self.decoder else data
                for event in self.parser.feed(body):
                    self.events += 1
                    if event.event == "post-created":
                        self.arrivals.heard(self.index, event, at)
                if self.parser.comments:
                    self.connected.set()
                if self.decoder and self.decoder.done:
                    break
        except (OSError, ValueError) as error:
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.ended = True

    async def close(self) -> None:
        """Stop reading and close the socket."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()


def _host_port(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


async def open_stream(
    base_url: str, index: int, arrivals: Arrivals, address: str, timeout: float = 30.0
) -> SseClient:
    """A `posts` stream from `address` (X-Forwarded-For), open and connected when 200."""
    host, port = _host_port(base_url)
    client = SseClient(index, arrivals)
    status = await asyncio.wait_for(
        client.open(host, port, STREAM_PATH, {"X-Forwarded-For": address}), timeout
    )
    if status == 200:
        await asyncio.wait_for(client.connected.wait(), timeout)
    return client


async def open_streams(
    base_url: str, n: int, arrivals: Arrivals
) -> tuple[list[SseClient], collections.Counter[str]]:
    """`n` streams, each from its own address, OPEN_CONCURRENCY at a time: (the open
    ones, how many failed and why)."""
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    failed: collections.Counter[str] = collections.Counter()

    async def one(index: int) -> SseClient | None:
        async with gate:
            try:
                client = await open_stream(base_url, index, arrivals, forwarded_for(index))
            except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError) as error:
                failed[type(error).__name__] += 1
                return None
            if client.status != 200:
                failed[f"HTTP {client.status}"] += 1
                return None
            return client

    opened = await asyncio.gather(*(one(i) for i in range(n)))
    return [c for c in opened if c is not None], failed


async def close_all(clients: Sequence[SseClient]) -> None:
    """Close every stream of `clients`."""
    await asyncio.gather(*(c.close() for c in clients))


# -- results -------------------------------------------------------------------------------


@dataclass
class Delivery:
    """Case 1: per write, seconds from reading the 201 (negative: the event came first)
    and from sending the POST to the event arriving on the other process's stream."""

    after_ack: list[float] = field(default_factory=list)
    after_send: list[float] = field(default_factory=list)
    missed: int = 0


@dataclass
class PageRuns:
    """Case 2: one page measured by wrk without, with, and again without the streams."""

    label: str
    path: str
    without: WrkResult
    with_streams: WrkResult | None = None
    after: WrkResult | None = None
    other_cpu: list[float] = field(default_factory=list)  # per run, 0.0 to 1.0


@dataclass
class FanOut:
    """Case 3: one post sent to every open stream (seconds from sending the POST)."""

    expected: int
    received: int
    to_ack: float
    to_first: float | None
    to_last: float | None
    harness_cpu: float = 0.0  # CPU seconds this process spent meanwhile (reading them)


@dataclass
class LiveResults:
    """Everything the live cases measured, and what they noticed."""

    db_name: str
    streams_asked: int
    delivery: Delivery | None = None
    streams_open: int = 0
    open_seconds: float = 0.0
    refused: collections.Counter[str] = field(default_factory=collections.Counter)
    rss_before_kb: int | None = None
    rss_open_kb: int | None = None
    rss_closed_kb: int | None = None
    pages: list[PageRuns] = field(default_factory=list)
    fanouts: list[FanOut] = field(default_factory=list)
    ended_early: int = 0  # streams that ended before the harness closed them
    notes: list[str] = field(default_factory=list)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _change(before: float, after: float) -> str:
    return f"{100 * (after - before) / before:+.0f} %" if before else "?"


def live_figures(live: LiveResults) -> list[str]:
    """The figures of the live cases, one Markdown bullet each."""
    out: list[str] = []
    d = live.delivery
    if d is None:
        out.append(
            f"- delivery across 2 processes: skipped on {live.db_name} (one process is the"
            " rule there; give BENCH_DATABASE_URL for PostgreSQL)"
        )
    elif d.after_ack:
        early = sum(1 for s in d.after_ack if s < 0)
        out.append(
            f"- delivery across 2 processes (write on A, `posts` stream on B, 1 worker each) "
            f"over {len(d.after_ack)} writes: from reading the 201 p50 "
            f"{_ms(percentile(d.after_ack, 50))} ms, p99 {_ms(percentile(d.after_ack, 99))} "
            f"ms, min {_ms(min(d.after_ack))} ms ({early} events arrived before the writer "
            f"had read its 201); from sending the POST p50 {_ms(percentile(d.after_send, 50))} "
            f"ms, p99 {_ms(percentile(d.after_send, 99))} ms, max {_ms(max(d.after_send))} "
            f"ms; {d.missed} not received within {WAIT_S:.0f} s"
        )
    else:
        out.append(f"- delivery across 2 processes: no event arrived ({d.missed} missed)")
    refused = ", ".join(f"{n} × {why}" for why, n in live.refused.most_common())
    opened = (
        f"- {live.streams_open:,} of {live.streams_asked:,} `posts` streams opened on one worker"
        f" in {live.open_seconds:.1f} s" + (f" (refused: {refused})" if refused else "")
    )
    if live.rss_before_kb is not None and live.rss_open_kb is not None and live.streams_open:
        per = (live.rss_open_kb - live.rss_before_kb) / live.streams_open
        opened += (
            f"; worker VmRSS {live.rss_before_kb / 1024:.1f} → {live.rss_open_kb / 1024:.1f} MB"
            f", {per:.1f} KB per stream"
        )
        if live.rss_closed_kb is not None:
            opened += f" ({live.rss_closed_kb / 1024:.1f} MB 2 s after closing them)"
    if live.ended_early:
        opened += f"; {live.ended_early} streams ended before the harness closed them"
    out.append(opened)
    for page in live.pages:
        line = f"- p99 of {page.label} `GET {page.path}`: {page.without.p99_ms:.2f} ms without"
        if page.with_streams is not None:
            line += (
                f", {page.with_streams.p99_ms:.2f} ms with the streams open "
                f"({_change(page.without.p99_ms, page.with_streams.p99_ms)})"
            )
        if page.after is not None:
            line += f", {page.after.p99_ms:.2f} ms after closing them"
        runs = [page.without, page.with_streams, page.after]
        rates = " / ".join(f"{r.requests_per_s:,.0f}" for r in runs if r is not None)
        errors = sum(r.errors for r in runs if r is not None)
        line += f"; req/s {rates}; {errors} errors"
        if page.other_cpu:
            line += "; other CPU " + " / ".join(f"{100 * c:.0f} %" for c in page.other_cpu)
        out.append(line)
    lasts = [f.to_last for f in live.fanouts if f.to_last is not None]
    if live.fanouts:
        complete = sum(1 for f in live.fanouts if f.received == f.expected)
        acks = [f.to_ack for f in live.fanouts]
        firsts = [f.to_first for f in live.fanouts if f.to_first is not None]
        line = f"- fan-out of one post to {live.fanouts[0].expected:,} streams, {len(live.fanouts)}"
        line += " posts: from sending the POST to the last stream"
        if lasts:
            line += f" median {_ms(percentile(lasts, 50))} ms, max {_ms(max(lasts))} ms"
        line += f"; to the 201 median {_ms(percentile(acks, 50))} ms"
        if firsts:
            line += f"; to the first stream median {_ms(percentile(firsts, 50))} ms"
        harness = percentile([f.harness_cpu for f in live.fanouts], 50)
        line += f"; this harness's own CPU meanwhile median {_ms(harness)} ms"
        line += f"; every stream received it in {complete} of {len(live.fanouts)}"
        missing = [f"{f.expected - f.received}" for f in live.fanouts if f.received < f.expected]
        if missing:
            line += f" (missing after {WAIT_S:.0f} s: {', '.join(missing)})"
        out.append(line)
    out += [f"- {note}" for note in live.notes]
    return out


def live_targets(live: LiveResults) -> list[str]:
    """The live targets of the issue: met or MISSED, and by how much."""
    out: list[str] = []
    d = live.delivery
    if d is not None:
        if d.after_ack:
            p99 = percentile(d.after_ack, 99)
            ok = p99 <= DELIVERY_TARGET_S and d.missed == 0
            out.append(
                f"- live delivery across 2 processes p99 ≤ 100 ms from the 201: {_ms(p99)} ms"
                f" ({d.missed} missed) — {_verdict(ok)}"
            )
        else:
            out.append(f"- live delivery across 2 processes: {d.missed} missed — MISSED")
    for page in live.pages:
        if page.with_streams is None:
            continue
        before, after = page.without.p99_ms, page.with_streams.p99_ms
        ok = after <= before * (1 + IDLE_TARGET)
        busy = max(page.other_cpu[:2], default=0.0)
        caveat = (
            f" (other work took up to {100 * busy:.0f} % of the CPU: indicative only)"
            if busy > BUSY
            else ""
        )
        out.append(
            f"- {live.streams_open:,} idle streams: p99 of {page.label} within 20 %: "
            f"{before:.2f} → {after:.2f} ms ({_change(before, after)}) — {_verdict(ok)}{caveat}"
        )
    if live.fanouts:
        lasts = [f.to_last for f in live.fanouts if f.to_last is not None]
        complete = all(f.received == f.expected for f in live.fanouts)
        worst = max(lasts) if lasts else None
        ok = complete and worst is not None and worst <= FANOUT_TARGET_S
        shown = f"{_ms(worst)} ms" if worst is not None else "never"
        out.append(
            f"- fan-out to {live.fanouts[0].expected:,} streams ≤ 1 s (slowest of "
            f"{len(live.fanouts)}): {shown}"
            + ("" if complete else ", not every stream got it")
            + f" — {_verdict(ok)}"
        )
    return out


def live_report(live: LiveResults, args: argparse.Namespace, load_seconds: float) -> str:
    """The report of `--only live`: figures and targets."""
    header = (
        f"### live updates, {live.db_name} — {dt.date.today().isoformat()}, {os.cpu_count()} "
        f"cores, hypercorn.toml with 1 worker per server (uvloop), wrk -t{args.threads} "
        f"-c{args.connections}, {args.warmup:g} s warm-up + {args.live_duration:g} s per page"
    )
    return "\n".join(
        [
            header,
            "",
            *live_figures(live),
            "",
            "Targets:",
            *live_targets(live),
            "",
            f"Data set loaded in {load_seconds:.1f} s.",
        ]
    )


# -- the cases -----------------------------------------------------------------------------


def live_env(env: dict[str, str]) -> dict[str, str]:
    """The servers' environment for the live cases (see the module's docstring)."""
    return {
        **env,
        "FLASKY_TRUSTED_PROXIES": "1",
        "FLASKY_STREAMS_PER_CLIENT": str(STREAM_LIMIT),
        "FLASKY_STREAM_SECONDS": "3600",
    }


def raise_fd_limit(need: int) -> None:
    """Raise this process's soft limit of open files to `need` (at most the hard limit);
    the servers started from here inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        wanted = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `main()` on uvloop when it is installed (as the servers do), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


def _json_client(base_url: str, token: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    return httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30)


async def _post(http: httpx.AsyncClient, body: str) -> tuple[float, float]:
    """POST a new post: (perf_counter when sent, when its 201 was read)."""
    sent = time.perf_counter()
    response = await http.post("/", json={"body": body})
    acked = time.perf_counter()
    if response.status_code != 201:
        raise RuntimeError(f"POST / answered {response.status_code}: {response.text[:300]}")
    return sent, acked


async def delivery(writer: Server, reader: Server, token: str, writes: int) -> Delivery:
    """Case 1: `writes` posts on `writer`, each awaited on a stream of `reader`."""
    result = Delivery()
    arrivals = Arrivals()
    stream = await open_stream(reader.base_url, 0, arrivals, forwarded_for(0))
    if stream.status != 200:
        raise RuntimeError(f"the stream on B answered {stream.status}")
    tag = secrets.token_hex(3)
    try:
        async with _json_client(writer.base_url, token) as http:
            for n in range(DELIVERY_WARMUP + writes):
                marker = marker_of(tag, n)
                watch = arrivals.watch(marker, 1)
                sent, acked = await _post(http, f"Delivery probe {marker}.")
                try:
                    await asyncio.wait_for(watch.complete.wait(), WAIT_S)
                except TimeoutError:
                    if n >= DELIVERY_WARMUP:
                        result.missed += 1
                    continue
                finally:
                    arrivals.forget(marker)
                if n >= DELIVERY_WARMUP:
                    got = watch.times[0]
                    result.after_ack.append(got - acked)
                    result.after_send.append(got - sent)
                await asyncio.sleep(0.01)
    finally:
        await stream.close()
    return result


async def limit_check(base_url: str) -> str:
    """Open STREAM_LIMIT + 1 streams from one address, close them, and see how soon the
    address may open STREAM_LIMIT again (a closed stream must give its place back)."""
    arrivals = Arrivals()
    address = "192.0.2.1"
    clients = [await open_stream(base_url, i, arrivals, address) for i in range(STREAM_LIMIT + 1)]
    statuses = [c.status for c in clients]
    await close_all(clients)
    closed = time.perf_counter()
    freed: float | None = None
    while time.perf_counter() - closed < 30:
        again = [await open_stream(base_url, i, arrivals, address) for i in range(STREAM_LIMIT)]
        ok = all(c.status == 200 for c in again)
        await close_all(again)
        if ok:
            freed = time.perf_counter() - closed
            break
        await asyncio.sleep(0.5)
    opened = sum(1 for s in statuses if s == 200)
    line = (
        f"per-client limit ({STREAM_LIMIT}): {opened} of {STREAM_LIMIT + 1} streams from one "
        f"address opened, the last answered {statuses[-1]}"
    )
    if freed is None:
        return line + f"; after closing them the address could not open {STREAM_LIMIT} in 30 s"
    return line + f"; {STREAM_LIMIT} could be opened again {freed:.1f} s after closing them"


async def fan_out(
    http: httpx.AsyncClient, clients: Sequence[SseClient], arrivals: Arrivals, marker: str
) -> FanOut:
    """Case 3, once: a post carrying `marker`, awaited on every stream still open."""
    expected = sum(1 for c in clients if not c.ended)
    watch = arrivals.watch(marker, expected)
    cpu = time.process_time()
    try:
        sent, acked = await _post(http, f"Fan-out probe {marker}.")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watch.complete.wait(), WAIT_S)
    finally:
        arrivals.forget(marker)
    times = list(watch.times.values())
    return FanOut(
        expected=expected,
        received=len(times),
        to_ack=acked - sent,
        to_first=min(times) - sent if times else None,
        to_last=max(times) - sent if times else None,
        harness_cpu=time.process_time() - cpu,
    )


async def _wrk_page(
    server: Server, path: str, args: argparse.Namespace, cpu: list[float]
) -> WrkResult:
    url = server.base_url + path
    kwargs = {"threads": args.threads, "connections": args.connections}
    await asyncio.to_thread(run_wrk, url, duration=args.warmup, **kwargs)
    with other_cpu(server.process.pid) as share:
        result = await asyncio.to_thread(run_wrk, url, duration=args.live_duration, **kwargs)
    cpu.append(share[0])
    return result


async def idle_and_fanout(
    server: Server, token: str, pages: list[tuple[str, str]], args: argparse.Namespace,
    live: LiveResults,
) -> None:  # fmt: skip
    """Cases 2 and 3 on one single-worker server, filling `live`."""
    worker = worker_pid(server.process.pid)
    live.notes.append(await limit_check(server.base_url))
    for label, path in pages:
        print(f"== without streams: {label} GET {path}", flush=True)
        cpu: list[float] = []
        without = await _wrk_page(server, path, args, cpu)
        live.pages.append(PageRuns(label, path, without, other_cpu=cpu))
        print(f"   p99 {without.p99_ms:.2f} ms, {without.requests_per_s:,.0f} req/s", flush=True)
    await asyncio.sleep(1)
    live.rss_before_kb = rss_kb(worker)
    arrivals = Arrivals()
    print(f"== opening {live.streams_asked:,} streams", flush=True)
    started = time.perf_counter()
    clients, live.refused = await open_streams(server.base_url, live.streams_asked, arrivals)
    live.open_seconds = time.perf_counter() - started
    live.streams_open = len(clients)
    await asyncio.sleep(2)
    live.rss_open_kb = rss_kb(worker)
    print(
        f"   {len(clients):,} open in {live.open_seconds:.1f} s, {dict(live.refused)}", flush=True
    )
    try:
        for page in live.pages:
            print(f"== with streams: {page.label} GET {page.path}", flush=True)
            page.with_streams = await _wrk_page(server, page.path, args, page.other_cpu)
            print(f"   p99 {page.with_streams.p99_ms:.2f} ms", flush=True)
        tag = secrets.token_hex(3)
        async with _json_client(server.base_url, token) as http:
            for n in range(1 + args.fanouts):  # the first warms the paths up, unmeasured
                await asyncio.sleep(1)
                result = await fan_out(http, clients, arrivals, marker_of(tag, n))
                if n > 0:
                    live.fanouts.append(result)
                shown = _ms(result.to_last) if result.to_last is not None else "–"
                print(
                    f"== fan-out {n or 'warm-up'}: {result.received}/{result.expected} streams,"
                    f" last after {shown} ms, 201 after {_ms(result.to_ack)} ms",
                    flush=True,
                )
    finally:
        live.ended_early = sum(1 for c in clients if c.ended)
        errors = collections.Counter(c.error for c in clients if c.error)
        if errors:
            live.notes.append(
                "stream read errors: " + ", ".join(f"{n} × {e}" for e, n in errors.items())
            )
        await close_all(clients)
    await asyncio.sleep(2)
    live.rss_closed_kb = rss_kb(worker)
    for page in live.pages:
        print(f"== after closing the streams: {page.label} GET {page.path}", flush=True)
        page.after = await _wrk_page(server, page.path, args, page.other_cpu)
        print(f"   p99 {page.after.p99_ms:.2f} ms", flush=True)


def run_live(
    url: str, env: dict[str, str], args: argparse.Namespace, data_dir: Path, db_name: str
) -> LiveResults:
    """The three live cases against the loaded database at `url`."""
    raise_fd_limit(2 * args.streams + 1024)
    live = LiveResults(db_name=db_name, streams_asked=args.streams)
    server_env = live_env(env)
    if db_name == "postgres":
        print("== live delivery: writes on A, a stream on B", flush=True)
        with serve_pair(server_env, "live") as (a, b):
            token = bearer_token(a.base_url, BENCH_EMAIL, BENCH_PASSWORD)
            live.delivery = run_async(lambda: delivery(a, b, token, args.live_writes))
            for name, server in (("A", a), ("B", b)):
                live.notes.append(f"delivery server {name} log: {log_summary(server.log_text())}")
        print(f"   {live_figures(live)[0]}", flush=True)
    _username, post_id = busiest(data_dir)
    pages = [("home, anonymous", "/"), ("post with comments", f"/post/{post_id}")]
    with serve(
        "flasky.asgi:app",
        env=server_env,
        ready_path="/healthz",
        workers=1,
        log_path=DATA / f"server-live-{db_name}.log",
    ) as server:
        token = bearer_token(server.base_url, BENCH_EMAIL, BENCH_PASSWORD)
        run_async(lambda: idle_and_fanout(server, token, pages, args, live))
        live.notes.append(f"streams server log: {log_summary(server.log_text())}")
    return live


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The live cases' options, on `bench.run`'s command line."""
    parser.add_argument("--streams", type=int, default=STREAMS, help="idle streams to open")
    parser.add_argument(
        "--live-writes", type=int, default=WRITES, help="writes timed for the delivery latency"
    )
    parser.add_argument("--fanouts", type=int, default=FANOUTS, help="posts fanned out")
    parser.add_argument(
        "--live-duration", type=float, default=PAGE_SECONDS, help="seconds of wrk per page"
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.live`: `python -m bench.run --only live`."""
    from bench import run

    return run.main(["--only", "live", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
