"""The benchmark harness: wrk output parsing, the bare app served by hypercorn, and the
live cases' helpers (SSE and chunked parsing, percentiles, RSS, the report lines)."""

import os
import subprocess
import sys
import time

import httpx
import pytest

from bench.bare import BODY, PAGE_SIZE
from bench.live import (
    Arrivals,
    ChunkedDecoder,
    Delivery,
    FanOut,
    LiveResults,
    PageRuns,
    SseEvent,
    SseParser,
    forwarded_for,
    live_figures,
    live_targets,
    log_summary,
    marker_of,
    parse_head,
    percentile,
    pick_worker,
    rss_kb,
    vmrss_kb,
)
from bench.run import (
    Case,
    Row,
    WrkResult,
    other_cpu,
    parse_duration_ms,
    parse_wrk,
    serve,
    table,
    targets,
)

WRK_OUTPUT = """\
Running 20s test @ http://127.0.0.1:40211/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.31ms  812.44us  41.02ms   91.20%
    Req/Sec     7.02k   402.11     7.90k    71.50%
  Latency Distribution
     50%    2.14ms
     75%    2.48ms
     90%    2.96ms
     99%    1.05s
  279512 requests in 20.01s, 3.29GB read
  Socket errors: connect 0, read 3, write 0, timeout 7
  Non-2xx or 3xx responses: 12
Requests/sec:  13968.60
Transfer/sec:    168.52MB
"""

CLEAN_OUTPUT = """\
Running 1s test @ http://127.0.0.1:5001/
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us  100.00us   3.00ms   90.00%
    Req/Sec    10.00k     1.00k    11.00k    70.00%
  Latency Distribution
     50%  790.00us
     75%  850.00us
     90%    1.00ms
     99%    1.50ms
  20000 requests in 1.00s, 240.00MB read
Requests/sec:  19990.01
Transfer/sec:    239.00MB
"""


def test_parse_wrk_with_errors():
    result = parse_wrk(WRK_OUTPUT)
    assert result.requests == 279512
    assert result.requests_per_s == pytest.approx(13968.60)
    assert result.p50_ms == pytest.approx(2.14)
    assert result.p99_ms == pytest.approx(1050.0)
    assert (result.socket_errors, result.non_2xx_3xx, result.errors) == (10, 12, 22)


def test_parse_wrk_clean_run_in_microseconds():
    result = parse_wrk(CLEAN_OUTPUT)
    assert result.p50_ms == pytest.approx(0.79)
    assert result.p99_ms == pytest.approx(1.5)
    assert result.errors == 0


def test_parse_wrk_refuses_output_without_latency_distribution():
    without = "\n".join(line for line in CLEAN_OUTPUT.splitlines() if "%  " not in line)
    with pytest.raises(ValueError):
        parse_wrk(without)


@pytest.mark.parametrize(
    ("text", "ms"), [("812.00us", 0.812), ("1.25ms", 1.25), ("2.01s", 2010.0), ("1.00m", 60000.0)]
)
def test_parse_duration(text, ms):
    assert parse_duration_ms(text) == pytest.approx(ms)


def test_targets_report_misses_by_how_much():
    bare = WrkResult(requests=1, requests_per_s=10_000, p50_ms=1.0, p99_ms=2.0)
    rows = [
        Row(Case("home, anonymous", "/"), WrkResult(1, 3_000, 2.0, 4.0), 200, 3, 0),
        Row(Case("feed 2,000 deep", "/?cursor=x"), WrkResult(1, 2_900, 2.6, 5.0), 200, 3, 0),
        Row(Case("profile", "/user/a"), WrkResult(1, 6_100, 9.0, 20.0), 200, 5, 5),
        Row(Case("profile (no page cache)", "/user/a"), WrkResult(1, 1_400, 9.0, 20.0), 200, 5, 5),
        Row(Case("followed feed, logged in", "/"), WrkResult(1, 1_600, 9.0, 20.0), 200, 3, 3),
        Row(Case("create a post, logged in", "/"), WrkResult(1, 900, 9.0, 20.0), 200, 3, 3),
        Row(Case("mixed: 90 %", "/"), WrkResult(1, 2_600, 9.0, 120.0), 200, 0, 0),
    ]
    lines = "\n".join(targets(rows, bare))
    assert "1.30× (2.60 vs 2.00 ms) — MISSED" in lines
    assert "highest is 5 (profile) — MISSED" in lines
    assert "home, anonymous ≥ 60 % of bare: 30.0 %, short by 30.0 points (2.0× too slow)" in lines
    assert "profile ≥ 60 % of bare: 61.0 % — met" in lines
    assert "profile (no page cache) ≥ 15 % of bare: 14.0 %, short by 1.0 points" in lines
    assert "followed feed, logged in ≥ 15 % of bare: 16.0 % — met" in lines
    assert "create a post, logged in ≥ 10 % of bare: 9.0 %" in lines
    assert "mixed: 90 % ≥ 25 % of bare: 26.0 % — met" in lines
    assert "0 errors, p99 120.0 ms — MISSED" in lines
    bares = [
        Row(Case("bare (first)", "/"), bare),
        Row(Case("bare (last)", "/"), WrkResult(1, 8_000, 1.2, 2.5)),
    ]
    rendered = table(rows, bares)
    assert "| 30.0 % |" in rendered and "cursor=…" in rendered
    assert "| bare (last) | 8,000 |" in rendered and "| 80.0 % |" in rendered


def test_bare_page_is_12_kb_of_html():
    assert len(BODY) == PAGE_SIZE == 12 * 1024
    assert BODY.startswith(b"<!doctype html>") and BODY.endswith(b"</html>\n")


def test_bare_app_served_by_hypercorn(tmp_path):
    with serve("bench.bare:app", log_path=tmp_path / "bare.log") as server:
        response = httpx.get(server.base_url + "/anything", timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert response.content == BODY
        process = server.process
    assert process.poll() is not None


def test_other_cpu_sees_a_process_that_is_not_ours():
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        time.sleep(0.2)
        with other_cpu(server_pgid=0) as share:
            time.sleep(1.0)
    finally:
        burner.kill()
        burner.wait()
    # one core kept busy: 1/ncores of the machine, less what other work took from it
    assert share[0] > 0.3 / os.cpu_count()


# -- bench/live.py's helpers ---------------------------------------------------------------

# What hypercorn sent for `GET /stream?topic=posts` (head shortened), then one event.
EVENT = b"id: 42\nevent: post-created\ndata: <article>\ndata: hi</article>\n\n"
STREAM_HEAD = (
    b"HTTP/1.1 200 \r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-store\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"19\r\nretry: 2000\n: connected\n\n\r\ne\r\n: keep-alive\n\n\r\n"
)
STREAM_BYTES = STREAM_HEAD + b"%x\r\n%s\r\n" % (len(EVENT), EVENT)


def test_stream_bytes_decode_fed_in_any_pieces():
    head, _, body = STREAM_BYTES.partition(b"\r\n\r\n")
    status, headers = parse_head(head + b"\r\n\r\n")
    assert status == 200
    assert headers["transfer-encoding"] == "chunked"
    assert headers["content-type"].startswith("text/event-stream")
    for size in (1, 2, 7, len(body)):
        decoder, parser, events = ChunkedDecoder(), SseParser(), []
        for start in range(0, len(body), size):
            events += parser.feed(decoder.feed(body[start : start + size]))
        assert events == [SseEvent("post-created", "<article>\nhi</article>", "42")]
        assert (parser.comments, parser.last_comment, parser.retry_ms) == (2, "keep-alive", 2000)
        assert not decoder.done


def test_chunked_decoder_extensions_last_chunk_and_bad_framing():
    decoder = ChunkedDecoder()
    assert decoder.feed(b"4;name=value\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n") == b"Wikipedia"
    assert decoder.done
    with pytest.raises(ValueError):
        ChunkedDecoder().feed(b"zz\r\nhello\r\n")
    with pytest.raises(ValueError):
        ChunkedDecoder().feed(b"2\r\nhiX\r\n")


def test_sse_parser_rules():
    parser = SseParser()
    events = parser.feed(
        b"data: one\r\n\r\n"  # CRLF lines; no event name is "message"
        b"id: 7\nevent: post-updated\ndata:no space\ndata:  two spaces\n\n"
        b"event: ignored\n\n"  # no data: nothing dispatched, and the name is reset
        b"data\n\n"  # a field without a colon: empty data
        b": a comment\nretry: soon\nunknown: x\ndata: last\n"
    )
    assert events == [
        SseEvent("message", "one"),
        SseEvent("post-updated", "no space\n two spaces", "7"),
        SseEvent("message", "", "7"),  # the last event id is kept across events
    ]
    assert parser.retry_ms is None and parser.comments == 1
    assert parser.feed(b"\n") == [SseEvent("message", "last", "7")]


def test_parse_head_refuses_what_is_not_a_status_line():
    assert parse_head(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 5\r\n\r\n") == (
        429,
        {"retry-after": "5"},
    )
    with pytest.raises(ValueError):
        parse_head(b"SSH-2.0-OpenSSH\r\n\r\n")


def test_percentile_is_nearest_rank():
    values = [float(n) for n in range(200, 0, -1)]  # 1..200, unsorted
    assert percentile(values, 99) == 198.0
    assert percentile(values, 50) == 100.0
    assert percentile(values, 100) == 200.0
    assert percentile([3.0, 1.0, 2.0, 5.0, 4.0], 50) == 3.0
    assert percentile([-0.5], 99) == -0.5
    with pytest.raises(ValueError):
        percentile([], 50)


def test_rss_and_worker_from_proc():
    status = "Name:\tpython\nVmPeak:\t  300000 kB\nVmRSS:\t   65712 kB\nRssAnon:\t 50000 kB\n"
    assert vmrss_kb(status) == 65712
    with pytest.raises(ValueError):
        vmrss_kb("Name:\tkthreadd\n")
    assert rss_kb(os.getpid()) > 1000
    children = {
        20297: "python -B -c from multiprocessing.resource_tracker import main;main(4)",
        20298: "python -B -c from multiprocessing.spawn import spawn_main; spawn_main(5, 7)",
    }
    assert pick_worker(children) == 20298
    with pytest.raises(RuntimeError):
        pick_worker({20297: children[20297]})


def test_each_stream_its_own_address_and_markers_never_nested():
    addresses = {forwarded_for(i) for i in range(70_000)}
    assert len(addresses) == 70_000 and forwarded_for(0) == "10.0.0.1"
    assert marker_of("ab", 1) not in marker_of("ab", 10)


def test_arrivals_count_each_stream_once():
    arrivals = Arrivals()
    watch = arrivals.watch(marker_of("t", 1), expected=2)
    event = SseEvent("post-created", f"<p>Fan-out probe {marker_of('t', 1)}.</p>")
    arrivals.heard(0, event, 1.0)
    arrivals.heard(0, event, 2.0)
    arrivals.heard(1, SseEvent("post-created", "another post"), 3.0)
    assert not watch.complete.is_set() and watch.times == {0: 1.0}
    arrivals.heard(1, event, 4.0)
    assert watch.complete.is_set() and watch.times == {0: 1.0, 1: 4.0}
    arrivals.forget(marker_of("t", 1))
    assert arrivals.watches == {}


def _live_results(**changes):
    page = PageRuns(
        "home, anonymous",
        "/",
        without=WrkResult(1, 4_000, 2.0, 10.0),
        with_streams=WrkResult(1, 3_900, 2.1, 12.5),
        after=WrkResult(1, 4_100, 2.0, 9.0),
        other_cpu=[0.1, 0.2, 0.3],
    )
    fanouts = [FanOut(1000, 1000, 0.02, 0.03, s) for s in (0.2, 0.25, 0.3, 0.35, 1.2)]
    live = LiveResults(
        db_name="postgres",
        streams_asked=1000,
        delivery=Delivery([-0.001, 0.002, 0.004, 0.15], [0.006, 0.008, 0.01, 0.16], 0),
        streams_open=1000,
        open_seconds=2.5,
        rss_before_kb=60_000,
        rss_open_kb=100_000,
        pages=[page],
        fanouts=fanouts,
    )
    for name, value in changes.items():
        setattr(live, name, value)
    return live


def test_live_targets_and_figures():
    live = _live_results()
    targets_ = "\n".join(live_targets(live))
    assert "p99 ≤ 100 ms from the 201: 150.0 ms (0 missed) — MISSED" in targets_
    assert "p99 of home, anonymous within 20 %: 10.00 → 12.50 ms (+25 %) — MISSED\n" in targets_
    assert "fan-out to 1,000 streams ≤ 1 s (slowest of 5): 1200.0 ms — MISSED" in targets_
    figures = "\n".join(live_figures(live))
    assert "min -1.0 ms (1 events arrived before the writer had read its 201)" in figures
    assert "40.0 KB per stream" in figures
    assert "10.00 ms without, 12.50 ms with the streams open (+25 %), 9.00 ms after" in figures
    assert "median 300.0 ms, max 1200.0 ms" in figures
    assert "own CPU meanwhile median 0.0 ms" in figures

    better = _live_results(
        delivery=Delivery([0.001] * 10, [0.002] * 10, 0),
        fanouts=[FanOut(1000, 1000, 0.02, 0.03, 0.4)],
    )
    better.pages[0].with_streams = WrkResult(1, 4_000, 2.0, 11.9)
    assert all(line.endswith("— met") for line in live_targets(better))
    busy = _live_results()
    busy.pages[0].other_cpu = [0.05, 0.45, 0.9]  # the run after closing them does not count
    assert "— MISSED (other work took up to 45 % of the CPU: indicative only)" in "\n".join(
        live_targets(busy)
    )
    lost = _live_results(fanouts=[FanOut(1000, 990, 0.02, 0.03, 0.4)])
    assert live_targets(lost)[-1].endswith(", not every stream got it — MISSED")
    assert "missing after 10 s: 10" in "\n".join(live_figures(lost))


def test_live_on_sqlite_skips_delivery():
    live = _live_results(db_name="sqlite", delivery=None)
    assert "delivery across 2 processes: skipped on sqlite" in live_figures(live)[0]
    assert not any("delivery" in line for line in live_targets(live))


def test_live_log_summary():
    assert log_summary("[INFO] Running\n") == "no errors logged"
    text = "Traceback (most recent call last)\nlive stream ended by an error\n[ERROR] x\n"
    assert log_summary(text) == (
        "1 tracebacks, 1 'live stream ended by an error' warnings, 1 [ERROR] lines"
    )


def test_full_report_carries_the_live_figures_and_targets():
    from bench.run import _report, parse_args

    bare = Row(Case("bare (first)", "/"), WrkResult(1, 10_000, 1.0, 2.0))
    rows = [Row(Case("home, anonymous", "/"), WrkResult(1, 7_000, 1.5, 3.0), 200, 1, 0)]
    report = _report(rows, [bare], "postgres", parse_args([]), 12.0, ["a note"], _live_results())
    live_at, targets_at = report.index("Live updates (`bench/live.py`"), report.index("Targets:")
    assert live_at < targets_at
    assert "- fan-out to 1,000 streams ≤ 1 s" in report[targets_at:]
    assert "home, anonymous ≥ 60 % of bare: 70.0 % — met" in report
    assert report.rstrip().endswith("Data set loaded in 12.0 s. a note.")
