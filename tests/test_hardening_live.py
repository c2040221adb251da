"""Hardening shown against a real server, as the audit tried it: hypercorn serving the
production configuration (page cache on, 2 s) on a SQLite file, spoken to over raw
sockets — repeated headers, foreign and repeated Host headers, a GET that declares a body
and never sends it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.helpers import SLOW_MARKDOWN

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "live-test-password"

SEED = f"""
import asyncio, json
from flasky import create_app, db
from flasky.models import Post, User
async def main():
    app = create_app()
    async with app.app_context():
        await db.connect(app.config["DATABASE_URL"])
        user = await User.register(email="john@example.com", username="john",
                                   password={PASSWORD!r}, confirmed=True)
        posts = [await Post.publish(user, f"Live post {{n}}, *hello*") for n in range(3)]
        await db.disconnect()
    print(json.dumps([p.id for p in posts]))
asyncio.run(main())
"""


@dataclass
class Live:
    host: str
    port: int
    posts: list[int]

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    def raw(self, request: str, body: bytes = b"", wait: float = 10.0) -> tuple[int, str, str]:
        """Send one raw HTTP/1.1 request; (status, headers, body) of the answer."""
        with socket.create_connection((self.host, self.port), timeout=wait) as sock:
            sock.sendall(request.replace("\n", "\r\n").encode() + body)
            chunks = []
            while True:
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        data = b"".join(chunks).decode("utf-8", "replace")
        head, _, rest = data.partition("\r\n\r\n")
        status = int(head.split(" ", 2)[1]) if head else 0
        return status, head.lower(), rest

    def get(self, path: str, *headers: str) -> tuple[int, str, str]:
        lines = "".join(f"{h}\n" for h in headers)
        host = (
            f"Host: {self.host}:{self.port}\n"
            if not any(h.lower().startswith("host:") for h in headers)
            else ""
        )
        return self.raw(f"GET {path} HTTP/1.1\n{host}{lines}Connection: close\n\n")


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    workdir = Path(tempfile.mkdtemp(prefix="flasky-live-"))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FLASKY_", "MAIL_"))},
        "FLASKY_CONFIG": "production",
        "SECRET_KEY": "live-hardening-secret-key",
        "DATABASE_URL": f"sqlite://{workdir / 'live.sqlite'}",
        "FLASKY_BASE_URL": f"http://127.0.0.1:{port}",
        "FLASKY_MAIL_SENDER_TASK": "0",
        "FLASKY_DOTENV": str(workdir / "no.env"),
        # SLOW_MARKDOWN takes a second or two: well past this, however fast the machine
        "FLASKY_RENDER_BUDGET": "0.25",
    }
    bindir = Path(sys.executable).parent
    subprocess.run([str(bindir / "flasky"), "deploy"], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=120)  # fmt: skip
    seeded = subprocess.run([sys.executable, "-c", SEED], cwd=ROOT, env=env, check=True,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    posts = json.loads(seeded.stdout.strip().splitlines()[-1])
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "hypercorn", "--config", str(ROOT / "hypercorn.toml"),
         "--workers", "1", "--bind", f"127.0.0.1:{port}", "flasky.asgi:app"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        yield Live("127.0.0.1", port, posts)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def is_page(answer: tuple[int, str, str]) -> bool:
    return answer[0] == 200 and "text/html" in answer[1] and "<html" in answer[2]


@pytest.mark.parametrize("path", ["/", "/post/{post}", "/user/john"])
@pytest.mark.parametrize(
    "repeated",
    [
        ("Accept: application/json", "Accept: text/html"),
        ("Accept: text/html", "Accept: application/json"),
        ("HX-Request: true", "HX-Request: false"),
        ("HX-Request: false", "HX-Request: true"),
    ],
)
def test_repeated_headers_cannot_poison_the_page_cache(live: Live, path: str, repeated):
    path = path.format(post=live.posts[0]) + f"?probe={time.monotonic_ns()}"
    first = live.get(path, *repeated)
    assert first[0] == 200
    for _ in range(2):  # the next browser, from the cache or not, gets the page
        assert is_page(live.get(path, "Accept: text/html,application/xhtml+xml"))
    json_answer = live.get(path, "Accept: application/json")
    assert json_answer[0] == 200 and json_answer[2].lstrip().startswith("{")
    fragment = live.get(path, "HX-Request: true")
    assert fragment[0] == 200 and "<html" not in fragment[2]
    assert is_page(live.get(path))


def test_foreign_and_repeated_hosts_are_refused(live: Live):
    assert live.get("/healthz")[0] == 200
    assert live.get("/healthz", "Host: evil.example")[0] == 400
    refused = live.get("/", "Host: evil.example", "Accept: application/json")
    assert refused[0] == 400 and json.loads(refused[2])["error"] == "bad request"
    both = live.get("/", f"Host: {live.host}:{live.port}", "Host: evil.example")
    assert both[0] == 400
    # nothing cached under our host leaks to another one either
    assert live.get("/", "Host: evil.example")[0] == 400


def test_a_reset_request_for_a_foreign_host_sends_nothing(live: Live):
    status, _, _ = live.raw(
        "POST /auth/reset HTTP/1.1\nHost: evil.example\n"
        "Content-Type: application/x-www-form-urlencoded\nContent-Length: 22\n"
        "Connection: close\n\n",
        b"email=john@example.com",
    )
    assert status == 400


def test_a_hanging_request_does_not_keep_a_deleted_post_alive(live: Live):
    post = live.posts[-1]
    assert is_page(live.get(f"/post/{post}"))  # cached for 2 s
    token = base64.b64encode(f"john@example.com:{PASSWORD}".encode()).decode()
    status, _, _ = live.raw(
        f"DELETE /post/{post} HTTP/1.1\nHost: {live.host}:{live.port}\n"
        f"Authorization: Basic {token}\nAccept: application/json\nConnection: close\n\n"
    )
    assert status == 204
    time.sleep(2.2)  # the entry has expired
    with socket.create_connection((live.host, live.port)) as hanging:
        hanging.sendall(
            f"GET /post/{post} HTTP/1.1\r\nHost: {live.host}:{live.port}\r\n"
            "Content-Length: 100\r\n\r\n".encode()
        )  # declares a body and never sends it
        time.sleep(0.3)
        started = time.monotonic()
        answer = live.get(f"/post/{post}")
        assert answer[0] == 404
        assert time.monotonic() - started < 2
        for _ in range(3):
            assert live.get(f"/post/{post}")[0] == 404


async def test_healthz_stays_fast_while_pathological_markdown_renders(live: Live):
    import httpx

    token = base64.b64encode(f"john@example.com:{PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
    async with httpx.AsyncClient(base_url=live.origin, timeout=10) as client:
        warm = await client.post("/preview", json={"body": "*warm*"}, headers=headers)
        assert warm.status_code == 200
        renders = [
            asyncio.create_task(
                client.post("/preview", json={"body": SLOW_MARKDOWN}, headers=headers)
            )
            for _ in range(2)
        ]
        await asyncio.sleep(0.3)
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            assert (await client.get("/healthz")).status_code == 200
            timings.append(time.perf_counter() - started)
        answers = await asyncio.gather(*renders)
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json()["message"] == "This text is too complex to render."
    assert max(timings) < 0.2, timings
