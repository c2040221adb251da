"""The benchmark harness: wrk output parsing, and the bare app served by hypercorn."""

import os
import subprocess
import sys
import time

import httpx
import pytest

from bench.bare import BODY, PAGE_SIZE
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
