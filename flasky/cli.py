"""The `flasky` command: Quart's CLI bound to this app, plus deploy, fake, load, test,
profile and mail."""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import click
from quart import Quart
from quart.cli import QuartGroup, ScriptInfo

from flasky import create_app, db, email
from flasky.dataset import LoadError, load_dataset
from flasky.generate import Size, write_dataset
from flasky.models import Follow, Role, User
from flasky.permissions import ROLE_PERMISSIONS

T = TypeVar("T")


def _create_app(*_: Any) -> Quart:
    return create_app()


def run_async(app: Quart, work: Callable[[], Awaitable[T]], *, connect: bool = True) -> T:
    """Run `work` inside the app context with Tortoise connected, then close."""

    async def runner() -> T:
        async with app.app_context():
            if connect:
                await db.connect(app.config["DATABASE_URL"])
            try:
                return await work()
            finally:
                if connect:
                    await db.disconnect()

    return asyncio.run(runner())


pass_app = click.make_pass_decorator(ScriptInfo)


def load_app(info: ScriptInfo) -> Quart:
    """The app Quart's CLI would load (FLASKY_CONFIG picks the configuration)."""
    return info.load_app()


def fail(message: str) -> None:
    """Print one clear line and exit non-zero."""
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def run_or_fail(
    app: Quart, command: str, work: Callable[[], Awaitable[T]], *, connect: bool = True
) -> T:
    """`run_async`, turning any failure into one line that names the command and the
    (redacted) database; a LoadError says nothing was loaded."""
    try:
        return run_async(app, work, connect=connect)
    except LoadError as exc:
        fail(f"{command} failed, nothing was loaded: {exc}")
    except Exception as exc:  # one clear line, whatever the driver raised
        url = _redact(app.config["DATABASE_URL"])
        fail(f"{command} failed for DATABASE_URL={url}: {type(exc).__name__}: {exc}")
    raise AssertionError("unreachable")  # fail() exits


@click.group(cls=QuartGroup, create_app=_create_app)
def cli() -> None:
    """Flasky management commands."""


@cli.command()
@pass_app
def deploy(info: ScriptInfo) -> None:
    """Apply migrations, insert/update roles, make every user follow themselves."""
    app = load_app(info)
    url = app.config["DATABASE_URL"]

    async def work() -> list[str]:
        try:
            applied = await db.upgrade(url)
            await Role.insert_roles()
            ids = await User.all().values_list("id", flat=True)
            await Follow.bulk_create(
                [Follow(follower_id=i, followed_id=i) for i in ids],
                ignore_conflicts=True,
                batch_size=1000,
            )
            return applied
        finally:
            # aerich opened the connections; an open SQLite connection's worker thread
            # would keep the process from exiting.
            await db.disconnect()

    applied = run_or_fail(app, "deploy", work, connect=False)
    click.echo(f"Migrations applied: {', '.join(applied) if applied else 'none (already at head)'}")
    click.echo("Roles inserted; self-follows ensured.")


@cli.command()
@click.option("--users", default=100, show_default=True, type=click.IntRange(0))
@click.option("--posts", default=1000, show_default=True, type=click.IntRange(0))
@click.option("--comments", default=2000, show_default=True, type=click.IntRange(0))
@click.option("--seed", type=int, default=None, help="Make the data reproducible.")
@pass_app
def fake(info: ScriptInfo, users: int, posts: int, comments: int, seed: int | None) -> None:
    """Insert realistic fake users, follows, posts and comments (password: cat)."""
    from flasky.fake import fake_data  # Faker is slow to import: only this command pays

    app = load_app(info)
    report = run_or_fail(app, "fake", lambda: fake_data(users, posts, comments, seed))
    click.echo(
        f"Inserted {report.users} users, {report.follows} follows, {report.posts} posts,"
        f" {report.comments} comments."
    )


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--users", default=Size.users, show_default=True, type=click.IntRange(1))
@click.option("--posts", default=Size.posts, show_default=True, type=click.IntRange(1))
@click.option("--comments", default=Size.comments, show_default=True, type=click.IntRange(0))
@click.option(
    "--follows",
    default=Size.follows,
    show_default=True,
    type=click.IntRange(0),
    help="People each user follows besides themselves.",
)
@click.option("--seed", default=Size.seed, show_default=True, type=int)
def dataset(
    directory: Path, users: int, posts: int, comments: int, follows: int, seed: int
) -> None:
    """Write a deterministic data set (users, follows, posts, comments CSV) into
    DIRECTORY for `flasky load` and the benchmarks; every password is "cat"."""
    started = time.perf_counter()
    write_dataset(directory, Size(users, posts, comments, follows, seed))
    click.echo(
        f"Wrote {users} users, {posts} posts, {comments} comments to {directory}"
        f" in {time.perf_counter() - started:.1f} s."
    )


@cli.group()
def search() -> None:
    """The search index (SPEC §11)."""


@search.command("reindex")
@click.option(
    "--render",
    is_flag=True,
    help="Render every post and comment again first (links the #tags and @mentions of "
    "bodies written before them).",
)
@pass_app
def search_reindex(info: ScriptInfo, render: bool) -> None:
    """Rebuild the search index, tags and mentions of every post from its stored HTML."""
    from flasky.dataset import rerender
    from flasky.search import reindex

    app = load_app(info)
    started = time.perf_counter()
    count = run_or_fail(app, "search reindex", rerender if render else reindex)
    done = "Rendered and indexed" if render else "Indexed"
    click.echo(f"{done} {count} posts in {time.perf_counter() - started:.1f} s.")


@cli.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=None,
    help="Processes rendering Markdown (default: one per CPU).",
)
@pass_app
def load(info: ScriptInfo, directory: Path, workers: int | None) -> None:
    """Load the CSV data set of `flasky dataset` from DIRECTORY into empty tables."""
    app = load_app(info)
    started = time.perf_counter()
    report = run_or_fail(app, "load", lambda: load_dataset(directory, workers))
    click.echo(
        f"Loaded {report.users} users, {report.follows} follows, {report.posts} posts,"
        f" {report.comments} comments in {time.perf_counter() - started:.1f} s."
    )


@cli.command()
@click.option("--length", default=25, show_default=True, help="Functions listed per request.")
@click.option(
    "--dir",
    "profile_dir",
    default="profiles",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the .prof reports go.",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@pass_app
def profile(info: ScriptInfo, length: int, profile_dir: Path, host: str, port: int) -> None:
    """Serve the app with every request profiled; reports go to --dir."""
    app = load_app(info)
    profile_dir.mkdir(parents=True, exist_ok=True)
    app.asgi_app = ProfilerMiddleware(app.asgi_app, profile_dir, length)  # type: ignore[method-assign]
    click.echo(f"Profiling every request; reports in {profile_dir.resolve()}")
    app.run(host=host, port=port, debug=False, use_reloader=False)


class ProfilerMiddleware:
    """ASGI middleware: profiles each HTTP request with cProfile, one at a time (the
    profiler sees the whole thread, so concurrent requests would blur together), prints
    the top functions and writes `<METHOD>.<path>.<ms>ms.<time>.prof` for pstats/snakeviz."""

    def __init__(self, asgi_app: Any, directory: Path, length: int = 25) -> None:
        self.asgi_app = asgi_app
        self.directory = directory
        self.length = length
        self._lock = asyncio.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.asgi_app(scope, receive, send)
            return
        async with self._lock:
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            try:
                await self.asgi_app(scope, receive, send)
            finally:
                profiler.disable()
                elapsed_ms = (time.perf_counter() - started) * 1000
                path = scope["path"].strip("/").replace("/", ".") or "root"
                name = f"{scope['method']}.{path}.{elapsed_ms:06.0f}ms.{time.time():.0f}.prof"
                profiler.dump_stats(self.directory / name)
                out = io.StringIO()
                stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
                stats.print_stats(self.length)
                header = f"PATH: {scope['method']} {scope['path']} ({elapsed_ms:.1f} ms)"
                click.echo(f"{'-' * 80}\n{header}\n{out.getvalue()}")


@cli.command("test", context_settings={"ignore_unknown_options": True})
@click.option("--coverage/--no-coverage", default=False, help="Measure coverage.")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def test_command(coverage: bool, pytest_args: tuple[str, ...]) -> None:
    """Run the test suite (optionally under coverage); other arguments go to pytest."""
    os.environ["FLASKY_CONFIG"] = "testing"
    if coverage:
        cmd = [sys.executable, "-m", "coverage", "run", "-m", "pytest", *pytest_args]
    else:
        cmd = [sys.executable, "-m", "pytest", *pytest_args]
    code = subprocess.call(cmd)
    if coverage:
        subprocess.call([sys.executable, "-m", "coverage", "report"])
        subprocess.call([sys.executable, "-m", "coverage", "html", "-d", "htmlcov"])
        click.echo("HTML report: htmlcov/index.html")
    sys.exit(code)


@cli.command()
@click.option("--retry", is_flag=True, help="Put failed mail back in the queue.")
@click.option("--send", is_flag=True, help="Deliver the mail that is due now, then exit.")
@click.option("--recent", default=10, show_default=True, help="Rows shown per status.")
@pass_app
def mail(info: ScriptInfo, retry: bool, send: bool, recent: int) -> None:
    """Show the outbox (pending, sent, failed); --retry re-queues failed mail."""
    app = load_app(info)

    async def work() -> tuple[int | None, int | None, dict[str, Any]]:
        retried = await email.retry_failed() if retry else None
        sent = await email.deliver_all() if send else None
        return retried, sent, await email.outbox_summary(recent)

    retried, sent, summary = run_or_fail(app, "mail", work)
    if retried is not None:
        click.echo(f"Re-queued {retried} failed message(s).")
    if sent is not None:
        click.echo(f"Handled {sent} due message(s).")
    counts = summary["counts"]
    click.echo("Outbox: " + ", ".join(f"{counts[s]} {s}" for s in email.STATUSES))
    for status, rows in summary["recent"].items():
        click.echo(f"\n{status} (most recent first):")
        for row in rows:
            when = (row.sent_at or row.created_at).strftime("%Y-%m-%d %H:%M:%S")
            line = f"  #{row.id}  {when}  {row.recipient}  {row.subject!r}  attempts={row.attempts}"
            if status == email.PENDING and row.attempts:
                line += f"  next={row.next_attempt_at:%H:%M:%S}"
            if row.last_error and status != email.SENT:
                line += f"  error={row.last_error}"
            click.echo(line)


@cli.command()
@click.argument("email")
@click.argument("role", type=click.Choice(list(ROLE_PERMISSIONS)))
@pass_app
def role(info: ScriptInfo, email: str, role: str) -> None:
    """Give the account of EMAIL the role ROLE (User, Moderator or Administrator); its
    open sessions get the new permissions at their next request."""
    app = load_app(info)

    async def work() -> str | None:
        user = await User.by_email(email)
        if user is None:
            return None
        before = user.role.name
        await user.change_role(await Role.get(name=role))
        return f"{user.username} ({user.email}): {before} → {role}."

    message = run_or_fail(app, "role", work)
    if message is None:
        fail(f"No account has the address {email.strip().lower()}.")
    click.echo(message)


@cli.command()
@pass_app
def prune(info: ScriptInfo) -> None:
    """Drop what nothing reads any more: old throttle rows, idle sessions, change-feed
    events and Idempotency-Key answers older than 24 hours (the server's sender task
    does this every 10 minutes)."""
    app = load_app(info)
    run_or_fail(app, "prune", email.housekeeping)
    click.echo(
        "Pruned throttle rows, idle sessions, change-feed events and idempotency keys"
        " older than 24 h."
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="flasky")
