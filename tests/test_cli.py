"""The `flasky` commands: dataset (deterministic, the shared generator's bytes), load (a
small data set, malformed rows), fake, deploy, profile and test — in process where we
check data, as real subprocesses where we check exit codes and what a person reads."""

from __future__ import annotations

import csv
import os
import pstats
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tortoise import Tortoise

from flasky import db
from flasky.dataset import (
    DATASET_PASSWORD,
    USERNAME_RE,
    LoadError,
    Renderer,
    load_dataset,
    reset_sequences,
)
from flasky.fake import FAKE_PASSWORD, fake_data
from flasky.models import Comment, Follow, Post, Role, User, email_hash
from flasky.text import render_markdown
from tests.conftest import free_port

REPO = Path(__file__).resolve().parent.parent
FLASKY = str(Path(sys.executable).parent / "flasky")
# The team's benchmark generator, when this clone sits beside it (peer applications load
# the same files); the project's own `flasky dataset` must write the same bytes.
SHARED_SCRIPT = Path(
    os.environ.get("FLASKY_DATASET_SCRIPT", REPO.parent / "shared" / "bench" / "make_dataset.py")
)
SMALL = ["--users", "20", "--posts", "100", "--comments", "200"]
FILES = ("users.csv", "follows.csv", "posts.csv", "comments.csv")


# -- the data set ------------------------------------------------------------------------------


def write_with_cli(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FLASKY, "dataset", str(out), *args], check=True, capture_output=True, text=True
    )


@pytest.fixture(scope="session")
def small_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 users, 100 posts, 200 comments written by `flasky dataset`."""
    out = tmp_path_factory.mktemp("dataset")
    write_with_cli(out, *SMALL)
    return out


@pytest.fixture
def dataset(small_dataset: Path, tmp_path: Path) -> Path:
    """A copy of the small data set that a test may spoil."""
    return Path(shutil.copytree(small_dataset, tmp_path / "ds"))


def rows(directory: Path, name: str) -> list[dict[str, str]]:
    with (directory / name).open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def table_counts() -> tuple[int, int, int, int]:
    return (
        await User.all().count(),
        await Follow.all().count(),
        await Post.all().count(),
        await Comment.all().count(),
    )


def test_dataset_is_deterministic_by_seed(small_dataset: Path, tmp_path: Path):
    again, other = tmp_path / "again", tmp_path / "other"
    done = write_with_cli(again, *SMALL)
    assert "Wrote 20 users, 100 posts, 200 comments" in done.stdout
    write_with_cli(other, *SMALL, "--seed", "86")
    for name in FILES:
        assert (again / name).read_bytes() == (small_dataset / name).read_bytes(), name
        assert (other / name).read_bytes() != (small_dataset / name).read_bytes(), name
    users = rows(small_dataset, "users.csv")
    assert [u["role"] for u in users[:6]] == ["Administrator", *["Moderator"] * 4, "User"]
    assert {u["confirmed"] for u in users} == {"1"}
    follows = rows(small_dataset, "follows.csv")
    assert len(follows) == 20 * 20  # everyone: themselves and (at most 50) of the 19 others
    assert all(utc(p["timestamp"]).year in (2025, 2026) for p in rows(small_dataset, "posts.csv"))


def test_dataset_defaults_are_the_benchmarks():
    shown = subprocess.run([FLASKY, "dataset", "--help"], capture_output=True, text=True).stdout
    for option, default in (
        ("--users", 1000),
        ("--posts", 50000),
        ("--comments", 100000),
        ("--follows", 50),
        ("--seed", 85),
    ):
        assert re.search(rf"{option} INTEGER[^\[]*\[default: {default}[;\]]", shown), option


@pytest.mark.skipif(
    not SHARED_SCRIPT.is_file(),
    reason=f"the team's shared generator is not beside this clone ({SHARED_SCRIPT}); "
    "`flasky dataset` is checked on its own above",
)
async def test_the_shared_generator_writes_the_same_files(
    app: Any, small_dataset: Path, tmp_path: Path
):
    shared = tmp_path / "shared"
    subprocess.run([sys.executable, str(SHARED_SCRIPT), "--out", str(shared), *SMALL], check=True)
    for name in FILES:
        assert (shared / name).read_bytes() == (small_dataset / name).read_bytes(), name
    counts = await load_dataset(shared)
    assert (counts.users, counts.posts, counts.comments) == (20, 100, 200)


# -- flasky load, in process -------------------------------------------------------------------


async def test_load_keeps_ids_renders_bodies_and_sets_roles(app: Any, dataset: Path):
    users, follows = rows(dataset, "users.csv"), rows(dataset, "follows.csv")
    posts, comments = rows(dataset, "posts.csv"), rows(dataset, "comments.csv")
    with db.count_queries() as stats:
        report = await load_dataset(dataset)
    assert (report.users, report.follows, report.posts, report.comments) == (
        20,
        len(follows),
        100,
        200,
    )
    assert await table_counts() == (20, len(follows), 100, 200)
    assert stats.count < 30  # batches, not a statement per row

    assert set(await User.all().values_list("id", flat=True)) == {int(u["id"]) for u in users}
    assert set(await Post.all().values_list("id", flat=True)) == {int(p["id"]) for p in posts}
    assert set(await Comment.all().values_list("id", flat=True)) == {int(c["id"]) for c in comments}

    by_id = {u.id: u for u in await User.all().select_related("role")}
    for row in users:
        user = by_id[int(row["id"])]
        assert user.email == row["email"] and user.username == row["username"]
        assert (user.name, user.location, user.about_me) == (
            row["name"],
            row["location"],
            row["about_me"],
        )
        assert user.role.name == row["role"]
        assert user.confirmed
        assert user.member_since == utc(row["member_since"])
        assert user.last_seen == utc(row["last_seen"])
        assert user.avatar_hash == email_hash(row["email"])
    assert by_id[1].is_administrator()
    assert [by_id[i].role.name for i in range(2, 6)] == ["Moderator"] * 4
    assert by_id[6].role.name == "User"
    hashes = {u.password_hash for u in by_id.values()}
    assert len(hashes) == 1  # computed once, reused
    assert await by_id[7].verify_password(DATASET_PASSWORD)

    stored_posts = {p.id: p for p in await Post.all()}
    for row in posts:
        post = stored_posts[int(row["id"])]
        assert post.author_id == int(row["author_id"])  # type: ignore[attr-defined]
        assert post.timestamp == utc(row["timestamp"])
        assert post.body == row["body"]
        assert post.body_html == render_markdown(row["body"], "post")
    stored_comments = {c.id: c for c in await Comment.all()}
    for row in comments:
        comment = stored_comments[int(row["id"])]
        assert comment.post_id == int(row["post_id"])  # type: ignore[attr-defined]
        assert comment.disabled is (row["disabled"] == "1")
        assert comment.body_html == render_markdown(row["body"], "comment")

    for user_id in by_id:  # every user follows themselves
        assert await Follow.filter(follower_id=user_id, followed_id=user_id).exists()
    first = follows[1]
    link = await Follow.get(
        follower_id=int(first["follower_id"]), followed_id=int(first["followed_id"])
    )
    assert link.timestamp == utc(first["timestamp"])


async def test_loaded_bodies_are_sanitised(app: Any, dataset: Path):
    with (dataset / "posts.csv").open("a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerow(
            [101, 3, "2026-01-01T00:00:00", "# Hi\n\n<script>alert(1)</script> [x](javascript:y)"]
        )
    with (dataset / "comments.csv").open("a", newline="", encoding="utf-8") as f:
        csv.writer(f).writerow(
            [201, 101, 4, "2026-01-02T00:00:00", 0, "<img src=x onerror=z> **b**"]
        )
    await load_dataset(dataset)
    post = await Post.get(id=101)
    assert post.body_html.startswith("<h1>Hi</h1>")
    assert "<script" not in post.body_html and "javascript" not in post.body_html
    comment = await Comment.get(id=201)
    assert "<img" not in comment.body_html and "onerror" not in comment.body_html
    assert "<strong>b</strong>" in comment.body_html


async def test_new_rows_after_a_load_get_fresh_ids(app: Any, dataset: Path):
    await load_dataset(dataset)
    author = await User.get(id=3).select_related("role")
    post = await Post.publish(author, "after the load")
    assert post.id == 101
    user = await User.register(email="new@example.com", username="newcomer", password="x" * 8)
    assert user.id == 21
    comment = await Comment.publish(user, post, "hi")
    assert comment.id == 201


async def test_load_refuses_a_database_that_holds_data(app: Any, dataset: Path):
    await load_dataset(dataset)
    with pytest.raises(LoadError, match="users table is not empty"):
        await load_dataset(dataset)
    assert (await table_counts())[0] == 20


async def test_load_renders_in_worker_processes(app: Any, dataset: Path, monkeypatch: Any):
    monkeypatch.setattr("flasky.dataset.POOL_THRESHOLD", 1)
    monkeypatch.setattr("flasky.dataset.CHUNK_SIZE", 30)
    await load_dataset(dataset, workers=2)
    for row in rows(dataset, "posts.csv"):
        post = await Post.get(id=int(row["id"]))
        assert post.body_html == render_markdown(row["body"], "post")


async def test_renderer_keeps_order_across_chunks(monkeypatch: Any):
    monkeypatch.setattr("flasky.dataset.POOL_THRESHOLD", 1)
    monkeypatch.setattr("flasky.dataset.CHUNK_SIZE", 7)
    bodies = [f"item *{i}*" if i % 3 else f"plain item number {i}" for i in range(40)]
    with Renderer(workers=2) as renderer:
        parts = renderer.chunks(bodies, "post")
        rendered = [html for part in parts for html in await part]
    assert rendered == [render_markdown(b, "post") for b in bodies]


# -- malformed data sets -----------------------------------------------------------------------


def physical_lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def append_row(name: str, row: list[Any]) -> Callable[[Path], int]:
    """Append a record to `name`; the error is expected on the line it starts on."""

    def spoil(directory: Path) -> int:
        path = directory / name
        line = physical_lines(path) + 1
        with path.open("a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(row)
        return line

    return spoil


def replace_user(field: str, value: str, record: int = 4) -> Callable[[Path], int]:
    """Set one field of the `record`-th user (users.csv has one line per record)."""

    def spoil(directory: Path) -> int:
        path = directory / "users.csv"
        data = rows(directory, "users.csv")
        data[record - 1][field] = value
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(data[0]))
            writer.writeheader()
            writer.writerows(data)
        return record + 1

    return spoil


def raw_line(name: str, text: bytes) -> Callable[[Path], int]:
    def spoil(directory: Path) -> int:
        path = directory / name
        line = physical_lines(path) + 1
        with path.open("ab") as f:
            f.write(text)
        return line

    return spoil


T = "2026-01-01T00:00:00"
MALFORMED = {
    "users-columns": ("users.csv", raw_line("users.csv", b"21,a@example.com,a\r\n"), "3 columns"),
    "users-bad-id": ("users.csv", replace_user("id", "four"), "'four' is not an integer"),
    "users-zero-id": ("users.csv", replace_user("id", "0"), "must be positive"),
    "users-role": ("users.csv", replace_user("role", "Wizard"), "role 'Wizard'"),
    "users-time": ("users.csv", replace_user("member_since", "yesterday"), "ISO 8601"),
    "users-email": ("users.csv", replace_user("email", "nobody"), "not an email address"),
    "users-dup-email": ("users.csv", replace_user("email", "user1@example.com"), "appears twice"),
    "users-username": ("users.csv", replace_user("username", "9lives"), "username"),
    "users-confirmed": ("users.csv", replace_user("confirmed", "maybe"), "not 0 or 1"),
    "users-long-name": ("users.csv", replace_user("name", "n" * 65), "at most 64"),
    "follows-unknown": ("follows.csv", append_row("follows.csv", [1, 999, T]), "names no user"),
    "follows-dup": ("follows.csv", append_row("follows.csv", [1, 1, T]), "appears twice"),
    "posts-empty": ("posts.csv", append_row("posts.csv", [101, 1, T, "  "]), "body is empty"),
    "posts-nested": (
        "posts.csv",
        append_row("posts.csv", [101, 1, T, "1. " * 3333]),
        "deeper than 20 levels",
    ),
    "posts-long": (
        "posts.csv",
        append_row("posts.csv", [101, 1, T, "x" * 10_001]),
        "at most 10000",
    ),
    "posts-author": ("posts.csv", append_row("posts.csv", [101, 99, T, "hi"]), "names no user"),
    "posts-time": ("posts.csv", append_row("posts.csv", [101, 1, "2026-13-01", "hi"]), "ISO 8601"),
    "posts-dup-id": ("posts.csv", append_row("posts.csv", [100, 1, T, "hi"]), "appears twice"),
    "posts-quote": (
        "posts.csv",
        raw_line("posts.csv", b'101,1,2026-01-01,"never closed\r\n'),
        "unexpected end of data",
    ),
    "posts-bytes": ("posts.csv", raw_line("posts.csv", b"101,1,2026-01-01,caf\xe9\r\n"), "UTF-8"),
    "comments-flag": (
        "comments.csv",
        append_row("comments.csv", [201, 1, 1, T, 2, "hi"]),
        "disabled '2' is not 0 or 1",
    ),
    "comments-post": (
        "comments.csv",
        append_row("comments.csv", [201, 999, 1, T, 0, "hi"]),
        "names no post",
    ),
    "comments-long": (
        "comments.csv",
        append_row("comments.csv", [201, 1, 1, T, 0, "y" * 2001]),
        "at most 2000",
    ),
    "comments-id": ("comments.csv", append_row("comments.csv", ["x", 1, 1, T, 0, "hi"]), "integer"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_row_loads_nothing(app: Any, dataset: Path, case: str):
    name, spoil, fragment = MALFORMED[case]
    line = spoil(dataset)
    with pytest.raises(LoadError) as caught:
        await load_dataset(dataset)
    message = str(caught.value)
    assert message.startswith(f"{name} line {line}: "), message
    assert fragment in message
    assert "\n" not in message
    assert await table_counts() == (0, 0, 0, 0)


async def test_bad_header_and_missing_files(app: Any, dataset: Path):
    text = (dataset / "posts.csv").read_text(encoding="utf-8")
    (dataset / "posts.csv").write_text(text.replace("author_id", "writer", 1), encoding="utf-8")
    with pytest.raises(LoadError, match=r"^posts\.csv line 1: the header must be"):
        await load_dataset(dataset)
    (dataset / "comments.csv").unlink()
    with pytest.raises(LoadError, match=r"^comments\.csv: not found in "):
        await load_dataset(dataset)
    with pytest.raises(LoadError, match="no such directory"):
        await load_dataset(dataset / "nowhere")
    assert await table_counts() == (0, 0, 0, 0)


# -- flasky fake -------------------------------------------------------------------------------


async def test_fake_inserts_realistic_data_in_batches(app: Any):
    with db.count_queries() as stats:
        report = await fake_data(users=12, posts=40, comments=60, seed=7)
    assert (report.users, report.posts, report.comments) == (12, 40, 60)
    assert stats.count < 40  # 112 rows and the follows, in a handful of statements
    users = await User.all().select_related("role")
    assert len(users) == 12
    assert len({u.password_hash for u in users}) == 1
    assert await users[0].verify_password(FAKE_PASSWORD)
    since = {}
    for user in users:
        assert user.confirmed and user.role.name == "User"
        assert USERNAME_RE.fullmatch(user.username)
        assert user.avatar_hash == email_hash(user.email)
        assert await Follow.filter(follower_id=user.id, followed_id=user.id).exists()
        since[user.id] = user.member_since
    assert await Follow.all().count() == report.follows > 12
    posts = await Post.all()
    for post in posts:
        assert post.body_html == render_markdown(post.body, "post")
        assert post.timestamp >= since[post.author_id]  # type: ignore[attr-defined]
    stamps = {p.id: p.timestamp for p in posts}
    for comment in await Comment.all():
        assert comment.body_html == render_markdown(comment.body, "comment")
        assert comment.timestamp >= stamps[comment.post_id]  # type: ignore[attr-defined]


async def test_fake_twice_adds_more_without_collisions(app: Any):
    await fake_data(users=15, posts=5, comments=5, seed=3)
    await fake_data(users=15, posts=5, comments=5, seed=3)  # same names come up again
    assert await User.all().count() == 30
    assert len(set(await User.all().values_list("email", flat=True))) == 30
    assert await Post.all().count() == 10


async def test_fake_with_no_users_does_nothing(app: Any):
    report = await fake_data(users=0, posts=10, comments=10)
    assert (report.users, report.posts) == (0, 0)
    assert await table_counts() == (0, 0, 0, 0)
    assert await Role.all().count() == 3


# -- the commands as a person runs them ----------------------------------------------------


def run_flasky(*args: str, url: str, timeout: float = 120, **extra: str) -> Any:
    env = {
        **os.environ,
        "FLASKY_CONFIG": "development",
        "DATABASE_URL": url,
        "FLASKY_MAIL_SENDER_TASK": "0",
        "FLASKY_DOTENV": os.devnull,
        **extra,
    }
    return subprocess.run(
        [FLASKY, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def one_error_line(result: Any) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_deploy_twice_on_an_empty_sqlite_file(tmp_path: Path):
    url = f"sqlite://{tmp_path / 'deploy.sqlite'}"
    first = run_flasky("deploy", url=url)
    assert first.returncode == 0, first.stderr
    assert "0_" in first.stdout and "_init.py" in first.stdout
    second = run_flasky("deploy", url=url)
    assert second.returncode == 0, second.stderr
    assert "none (already at head)" in second.stdout
    with sqlite3.connect(tmp_path / "deploy.sqlite") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"users", "roles", "posts", "comments", "follows", "outbox", "aerich"} <= tables
        assert conn.execute("SELECT COUNT(*) FROM roles").fetchone() == (3,)
        migrations = len(list((Path(__file__).parents[1] / "migrations" / "models").glob("*.py")))
        assert conn.execute("SELECT COUNT(*) FROM aerich").fetchone() == (migrations,)


@pytest.mark.parametrize(
    "url",
    ["not a url", "sqlite//missing-colon", "http://example.com/db", "postgres://u@host:port/db"],
)
def test_deploy_refuses_a_malformed_url(url: str):
    line = one_error_line(run_flasky("deploy", url=url))
    assert line.startswith("Error: deploy failed for DATABASE_URL=")


def test_deploy_reports_an_unreachable_database():
    result = run_flasky("deploy", url="postgres://postgres@127.0.0.1:1/x", timeout=60)
    line = one_error_line(result)
    assert "postgres://postgres@127.0.0.1:1/x" in line
    assert "refused" in line.lower() or "connect" in line.lower()


def test_deploy_hides_the_password_of_the_url():
    result = run_flasky("deploy", url="postgres://app:s3cret@127.0.0.1:1/x", timeout=60)
    line = one_error_line(result)
    assert "s3cret" not in line and "app:***@" in line


def test_role_promotes_an_existing_account(tmp_path: Path, dataset: Path):
    url = f"sqlite://{tmp_path / 'role.sqlite'}"
    assert run_flasky("deploy", url=url).returncode == 0
    assert run_flasky("load", str(dataset), url=url).returncode == 0
    with sqlite3.connect(tmp_path / "role.sqlite") as conn:
        email = conn.execute("SELECT email FROM users ORDER BY id LIMIT 1").fetchone()[0]
    result = run_flasky("role", email.upper(), "Moderator", url=url)
    assert result.returncode == 0, result.stderr
    assert "→ Moderator." in result.stdout and email in result.stdout
    with sqlite3.connect(tmp_path / "role.sqlite") as conn:
        role = conn.execute(
            "SELECT r.name FROM users u JOIN roles r ON r.id = u.role_id WHERE u.email = ?",
            (email,),
        ).fetchone()
        assert role == ("Moderator",)
        # the change went through the change feed (sessions and pages hear it)
        assert conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'user-updated'").fetchone()[0]
    missing = run_flasky("role", "nobody@example.com", "Administrator", url=url)
    assert missing.returncode == 1
    assert one_error_line(missing) == "Error: No account has the address nobody@example.com."
    wrong = run_flasky("role", email, "Emperor", url=url)
    assert wrong.returncode == 2 and "Emperor" in wrong.stderr


def test_load_and_fake_commands(tmp_path: Path, dataset: Path):
    url = f"sqlite://{tmp_path / 'load.sqlite'}"
    assert run_flasky("deploy", url=url).returncode == 0
    loaded = run_flasky("load", str(dataset), url=url)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.startswith("Loaded 20 users, ")
    assert " 100 posts, 200 comments in " in loaded.stdout
    again = run_flasky("load", str(dataset), url=url)
    assert "not empty" in one_error_line(again)
    faked = run_flasky("fake", "--users", "5", "--posts", "7", "--comments", "9", url=url)
    assert faked.returncode == 0, faked.stderr
    assert faked.stdout.strip().startswith("Inserted 5 users, ")
    with sqlite3.connect(tmp_path / "load.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone() == (25,)
        assert conn.execute("SELECT COUNT(*) FROM posts").fetchone() == (107,)
        assert conn.execute("SELECT COUNT(*) FROM comments").fetchone() == (209,)


def test_load_command_with_a_malformed_row(tmp_path: Path, dataset: Path):
    url = f"sqlite://{tmp_path / 'bad.sqlite'}"
    assert run_flasky("deploy", url=url).returncode == 0
    line_no = append_row("comments.csv", [201, 1, 1, "not-a-time", 0, "hi"])(dataset)
    line = one_error_line(run_flasky("load", str(dataset), url=url))
    assert f"comments.csv line {line_no}: timestamp 'not-a-time'" in line
    assert "nothing was loaded" in line
    with sqlite3.connect(tmp_path / "bad.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone() == (0,)


def test_load_command_without_a_schema(tmp_path: Path, dataset: Path):
    result = run_flasky("load", str(dataset), url=f"sqlite://{tmp_path / 'empty.sqlite'}")
    assert "load failed" in one_error_line(result)


def wait_for(url: str, timeout: float = 30.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_profile_writes_a_report_per_request(tmp_path: Path):
    url = f"sqlite://{tmp_path / 'profile.sqlite'}"
    assert run_flasky("deploy", url=url).returncode == 0
    port = free_port()
    reports = tmp_path / "profiles"
    log = (tmp_path / "profile.log").open("w")
    env = {
        **os.environ,
        "FLASKY_CONFIG": "development",
        "DATABASE_URL": url,
        "FLASKY_MAIL_SENDER_TASK": "0",
        "FLASKY_DOTENV": os.devnull,
    }
    server = subprocess.Popen(
        [FLASKY, "profile", "--port", str(port), "--dir", str(reports), "--length", "7"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        assert b'"ok"' in wait_for(f"http://127.0.0.1:{port}/healthz")
        assert b"<html" in wait_for(f"http://127.0.0.1:{port}/")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    files = sorted(p.name for p in reports.iterdir())
    assert any(n.startswith("GET.healthz.") and n.endswith(".prof") for n in files), files
    assert any(n.startswith("GET.root.") for n in files), files
    stats = pstats.Stats(str(reports / files[0]))
    assert stats.total_calls > 0  # type: ignore[attr-defined]
    output = (tmp_path / "profile.log").read_text()
    assert "PATH: GET /healthz" in output and "PATH: GET /" in output
    assert "Ordered by: cumulative time" in output


def make_run(tmp_path: Path, port: int, log: Any) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite://{tmp_path / 'run.sqlite'}",
        "FLASKY_MAIL_SENDER_TASK": "0",
        "FLASKY_DOTENV": os.devnull,
    }
    env.pop("FLASKY_CONFIG", None)  # make run's own default: development
    env.pop("FLASKY_BASE_URL", None)
    return subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # make and hypercorn stop together
    )


def test_make_run_serves_on_the_port_given(tmp_path: Path):
    port = free_port()
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        server = make_run(tmp_path, port, log)
        try:
            assert b'"ok"' in wait_for(f"http://127.0.0.1:{port}/healthz")
            page = wait_for(f"http://127.0.0.1:{port}/auth/reset").decode()
            assert "<form" in page
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    output = log_path.read_text()
    assert f"serving http://127.0.0.1:{port}" in output
    assert "pip" not in output.lower()  # the install, if any, speaks one line


def test_make_run_on_a_busy_port_says_how_to_choose_another(tmp_path: Path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        log_path = tmp_path / "run.log"
        with log_path.open("w") as log:
            server = make_run(tmp_path, port, log)
            assert server.wait(timeout=120) != 0
    output = log_path.read_text()
    assert f"Port {port} on 127.0.0.1 is already in use" in output
    assert f"make run PORT={port + 1}" in output
    assert "Traceback" not in output and "OSError" not in output


def test_test_command_runs_pytest_under_coverage(tmp_path: Path):
    env = {
        **os.environ,
        "COVERAGE_RCFILE": str(REPO / "pyproject.toml"),
        "COVERAGE_FILE": str(tmp_path / ".coverage"),
    }
    args = [
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(REPO),
        "-c",
        str(REPO / "pyproject.toml"),
    ]
    target = str(REPO / "tests" / "test_text.py")
    result = subprocess.run(
        [FLASKY, "test", "--coverage", *args, target, "-k", "mailto"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout
    assert "text.py" in result.stdout and "TOTAL" in result.stdout
    assert (tmp_path / "htmlcov" / "index.html").is_file()
    failing = subprocess.run(
        [FLASKY, "test", *args, target, "-k", "no_test_has_this_name"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert failing.returncode != 0  # pytest's exit code comes through


def test_cli_lists_the_project_commands():
    result = subprocess.run([FLASKY, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("deploy", "fake", "load", "profile", "test", "mail", "run", "routes"):
        assert f"  {command} " in result.stdout


async def test_sequence_reset_is_harmless_when_run_again(app: Any, dataset: Path):
    await load_dataset(dataset)
    await reset_sequences(Tortoise.get_connection("default"))
    author = await User.get(id=2).select_related("role")
    assert (await Post.publish(author, "x")).id == 101


def test_load_builds_the_search_index_and_reindex_rebuilds_it(tmp_path: Path, dataset: Path):
    """`flasky load` indexes every post in its transaction (and links mentions of users
    it loaded); `flasky search reindex` rebuilds the words, tags and mentions."""
    posts = rows(dataset, "posts.csv")
    users = rows(dataset, "users.csv")
    posts[0]["body"] = f"Hello @{users[1]['username']} and #Loaded today"
    with (dataset / "posts.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(posts[0]))
        writer.writeheader()
        writer.writerows(posts)
    path = tmp_path / "search.sqlite"
    url = f"sqlite://{path}"
    assert run_flasky("deploy", url=url).returncode == 0
    assert run_flasky("load", str(dataset), url=url).returncode == 0
    first = int(posts[0]["id"])

    def state() -> tuple[int, list[str], list[int], str]:
        with sqlite3.connect(path) as conn:
            indexed = conn.execute('SELECT COUNT(*) FROM "post_search"').fetchone()[0]
            tags = [r[0] for r in conn.execute('SELECT "tag" FROM "post_tags"')]
            mentioned = [r[0] for r in conn.execute('SELECT "user_id" FROM "post_mentions"')]
            html = conn.execute('SELECT "body_html" FROM "posts" WHERE id = ?', (first,))
            return indexed, tags, mentioned, html.fetchone()[0]

    indexed, tags, mentioned, html = state()
    assert indexed == len(posts) and tags == ["loaded"]
    assert mentioned == [int(users[1]["id"])] and 'class="mention"' in html
    with sqlite3.connect(path) as conn:
        conn.execute('DELETE FROM "post_search"')
        conn.execute('DELETE FROM "post_tags"')
    result = run_flasky("search", "reindex", url=url)
    assert result.returncode == 0, result.stderr
    assert f"Indexed {len(posts)} posts" in result.stdout
    assert state()[:3] == (len(posts), ["loaded"], [int(users[1]["id"])])


def test_reindex_render_links_the_tags_of_bodies_written_before_them(tmp_path: Path, dataset: Path):
    path = tmp_path / "old.sqlite"
    url = f"sqlite://{path}"
    assert run_flasky("deploy", url=url).returncode == 0
    assert run_flasky("load", str(dataset), url=url).returncode == 0
    with sqlite3.connect(path) as conn:  # as a body written before tags were links
        first, username = conn.execute(
            'SELECT p."id", u."username" FROM "posts" p JOIN "users" u ON u."id" = p."author_id" '
            'ORDER BY p."id" LIMIT 1'
        ).fetchone()
        conn.execute(
            'UPDATE "posts" SET "body" = ?, "body_html" = ? WHERE "id" = ?',
            (f"Old #Topic for @{username}", f"<p>Old #Topic for @{username}</p>", first),
        )
    result = run_flasky("search", "reindex", "--render", url=url)
    assert result.returncode == 0, result.stderr
    assert "Rendered and indexed" in result.stdout
    with sqlite3.connect(path) as conn:
        html = conn.execute('SELECT "body_html" FROM "posts" WHERE "id" = ?', (first,)).fetchone()
        tags = conn.execute('SELECT "post_id", "tag" FROM "post_tags"').fetchall()
        mentions = conn.execute('SELECT COUNT(*) FROM "post_mentions"').fetchone()[0]
        notified = conn.execute('SELECT COUNT(*) FROM "notifications"').fetchone()[0]
    assert 'href="/tag/topic" class="tag"' in html[0] and 'class="mention"' in html[0]
    assert tags == [(first, "topic")] and mentions == 1 and notified == 0
