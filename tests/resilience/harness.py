"""What the resilience tests run against: a private PostgreSQL instance (never the shared
cluster), hypercorn serving the production app as `hypercorn.toml` says, and an async
browser that keeps production's `Secure` cookies over plain http."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import http.cookiejar
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from argon2 import PasswordHasher

REPO = Path(__file__).resolve().parents[2]
SECRET_KEY = "resilience-secret-key-0123456789abcdef"
PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


FIGURES: list[str] = []  # what the tests measured, shown at the end of the run


def report(line: str) -> None:
    """Keep a measured figure for the summary at the end of the run (and print it)."""
    FIGURES.append(line)
    print(line)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- a private PostgreSQL -------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    """The newest installed PostgreSQL's `name` program (initdb, pg_ctl)."""
    found = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    if found:
        return max(found, key=lambda path: float(Path(path).parts[-3]))
    on_path = shutil.which(name)
    if on_path is None:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return on_path


class PrivatePostgres:
    """A throw-away PostgreSQL cluster in a temporary directory, on its own port and
    socket directory, owned by the `postgres` OS user when we run as root. Stopping it
    disturbs nobody else."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="flasky-resilience-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = free_port()
        self.running = False
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.root.chmod(0o700)

    def _run(self, *args: str, timeout: float = 60) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}{log}")

    def init(self) -> None:
        """initdb with trust authentication for local connections."""
        self._run(
            _pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        """Start (or restart) the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c max_connections=200"
        )
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.log),
                  "-w", "-t", "60", "start")  # fmt: skip
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` ends every session at once, as an outage would."""
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def destroy(self) -> None:
        """Stop the server if it runs (whatever we believe) and delete its files."""
        try:
            if self.running or (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        """A Tortoise/asyncpg URL of `database` on this server."""
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)


async def fetch(url: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Run one query on its own connection (the test's view of the database)."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


def server_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a production server on `url` (mail to a closed port unless
    `extra` says otherwise: nothing leaves the machine)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASKY_", "MAIL_", "TEST_"))}
    env.update(
        FLASKY_CONFIG="production",
        FLASKY_DOTENV=os.devnull,
        SECRET_KEY=SECRET_KEY,
        DATABASE_URL=url,
        FLASKY_BASE_URL="http://127.0.0.1",  # each Server sets its own origin
        FLASKY_RATE_LIMITS="off",  # the load test writes far past a person's hourly limits
        # As behind a proxy: each Browser comes from an address of its own (X-Forwarded-For),
        # so the per-address login and registration throttles see many people, not one.
        FLASKY_TRUSTED_PROXIES="1",
        FLASKY_PAGE_CACHE_SECONDS="0.5",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=str(free_port()),
        MAIL_USE_TLS="false",
        MAIL_TIMEOUT="5",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def flasky(args: Sequence[str], env: dict[str, str], timeout: float = 120) -> str:
    """Run a `flasky` command; its output, or an error that shows it."""
    cli = Path(sys.executable).parent / "flasky"
    done = subprocess.run(
        [str(cli), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"flasky {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# -- hypercorn ----------------------------------------------------------------------------


class Server:
    """`hypercorn --config hypercorn.toml flasky.asgi:app` on a loopback port of its own,
    in a process group of its own (so that stopping it touches nothing else)."""

    def __init__(self, env: dict[str, str], workers: int = 2, port: int | None = None) -> None:
        self.env = env
        self.workers = workers
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        # production answers only for FLASKY_BASE_URL: this server's own origin
        self.env = {**env, "FLASKY_BASE_URL": self.base_url}
        self.log_path = Path(tempfile.mkstemp(prefix="flasky-hypercorn-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float = 60.0) -> Server:
        """Start and wait until every worker runs and /healthz answers 200."""
        cmd = [
            sys.executable, "-m", "hypercorn", "--config", str(REPO / "hypercorn.toml"),
            "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers), "flasky.asgi:app",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                cmd, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"hypercorn exited:\n{self.log_text()}")
                running = self.log_text().count(f"Running on {self.base_url}")
                with contextlib.suppress(httpx.HTTPError):
                    healthy = (await client.get(self.base_url + "/healthz")).status_code == 200
                    if healthy and running >= max(1, self.workers):
                        return self
                await asyncio.sleep(0.1)
        raise RuntimeError(f"hypercorn not ready after {timeout:.0f} s:\n{self.log_text()}")

    def log_text(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def failures(self, limit: int = 6000) -> str:
        """The server's error reports (unhandled errors with their tracebacks)."""
        text = self.log_text()
        start = text.find("unhandled error")
        return text[start : start + limit] if start >= 0 else ""

    def terminate(self) -> None:
        """SIGTERM to the hypercorn master only: it tells its workers to drain."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float) -> int:
        """Wait for the master to exit; its exit status."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"hypercorn still running after {timeout:.0f} s")
            await asyncio.sleep(0.05)
        return self.process.returncode

    def worker_pids(self) -> set[int]:
        """The processes the master started (its workers and their helpers)."""
        assert self.process is not None
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True)
        return {int(pid) for pid in found.stdout.split()}

    async def group_gone(self, timeout: float = 5.0) -> bool:
        """True once no process of the server's group is left (its workers, and the
        multiprocessing resource tracker, which ends when the master has gone)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return True
            await asyncio.sleep(0.05)
        return False

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL to the whole group if anything lingers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.terminate()
            with contextlib.suppress(AssertionError):
                await self.wait(30)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(5)

    def close(self) -> None:
        """Delete the log file."""
        self.log_path.unlink(missing_ok=True)


# -- a browser over plain http ------------------------------------------------------------


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The shared connection pool keeps no cookies: each Browser keeps its own."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


def client_pool(connections: int = 64, timeout: float = 30.0) -> httpx.AsyncClient:
    """One connection pool for many browsers (cookies are kept per browser)."""
    return httpx.AsyncClient(
        cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
        timeout=timeout,
        # Idle connections are dropped before hypercorn's keep_alive_timeout (5 s) would
        # close them under a request being sent (a client-side race, not a server fault).
        limits=httpx.Limits(
            max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=2
        ),
        follow_redirects=False,
    )


def csrf_from(html: str) -> str:
    """The CSRF token of a page (form field or `hx-headers`)."""
    match = CSRF_RE.search(html)
    if match is None:
        raise AssertionError("no CSRF token in the page")
    return match.group(1) or match.group(2)


class Browser:
    """One person's cookies, sent by hand: production cookies are `Secure`, which
    cookie jars rightly keep off plain http."""

    def __init__(self, client: httpx.AsyncClient, base_url: str) -> None:
        self.client = client
        self.base_url = base_url
        self.cookies: dict[str, str] = {}
        self.token = ""
        self.address = (
            f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}.{secrets.randbelow(256)}"
        )

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send with this browser's cookies; keep the cookies the answer sets."""
        headers = {"X-Forwarded-For": self.address, **dict(kwargs.pop("headers", None) or {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        url = path if path.startswith("http") else self.base_url + path
        response = await self.client.request(method, url, headers=headers, **kwargs)
        for raw in response.headers.get_list("set-cookie"):
            name, _, rest = raw.partition("=")
            value = rest.split(";", 1)[0]
            lowered = raw.lower()
            if (
                "max-age=0" in lowered
                or "expires=thu, 01 jan 1970" in lowered
                or value in ("", '""')
            ):
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value
        return response

    async def csrf(self, path: str = "/") -> str:
        """Open `path` and keep the CSRF token it hands out."""
        response = await self.request("GET", path)
        self.token = csrf_from(response.text)
        return self.token

    async def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        """Log in through the real form; then hold the token of the home page."""
        token = await self.csrf("/auth/login")
        form = {"email": email, "password": password, "csrf_token": token}
        response = await self.request("POST", "/auth/login", data=form)
        if response.status_code in (302, 303):
            await self.csrf("/")
        return response


# -- data ---------------------------------------------------------------------------------


async def seed(url: str, users: int, posts_each: int = 1, admin: bool = True) -> list[str]:
    """Confirmed users `user<i>@example.com` (password PASSWORD), each following itself
    and with `posts_each` posts, through the model code; plus `admin@example.com`
    (Administrator) when asked. Returns the usernames, admin last."""
    from flasky import create_app, db
    from flasky.models import Post, User

    app = create_app("testing", DATABASE_URL=url)  # fast hashes: seeding, not serving
    names = [f"user{i}" for i in range(users)]
    async with app.app_context():
        await db.connect(url)
        try:
            for name in names:
                user = await User.register(
                    email=f"{name}@example.com", username=name, password=PASSWORD, confirmed=True
                )
                for n in range(posts_each):
                    await Post.publish(user, f"Seed post {n} by **{name}**")
            if admin:
                await User.register(
                    email="admin@example.com",
                    username="admin",
                    password=PASSWORD,
                    admin_email="admin@example.com",
                    confirmed=True,
                )
                names.append("admin")
            # Production's slow argon2 parameters, hashed once: logins cost what they would.
            slow_hash = PasswordHasher().hash(PASSWORD)
            await User.all().update(password_hash=slow_hash)
        finally:
            await db.disconnect()
    return names
