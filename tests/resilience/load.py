"""Mixed load for the resilience tests: signed-in visitors reading, posting, commenting,
following and unfollowing (as forms, htmx and JSON), and anonymous readers, each on its
own connection, bounded by a deadline and a request count.

The ledger keeps every answer, and every write the server acknowledged, so that the
database can be checked afterwards: an acknowledged post, comment or follow state must
be there, and nothing may be there that nobody sent.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.resilience.harness import Browser, csrf_from, fetch

JSON = {"Accept": "application/json"}
HTMX = {"HX-Request": "true"}
REDIRECT = {302, 303}


@dataclass
class Ledger:
    """What the load sent and what came back."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    # (when it was answered, status, what): answers outside the expected statuses
    unexpected: list[tuple[float, int, str]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    error_times: list[float] = field(default_factory=list)
    posts_sent: set[str] = field(default_factory=set)
    posts_acknowledged: set[str] = field(default_factory=set)
    comments_sent: set[str] = field(default_factory=set)
    comments_acknowledged: set[str] = field(default_factory=set)
    # (follower, followed) -> state after the last answered toggle; None once unknown
    follows: dict[tuple[str, str], bool | None] = field(default_factory=dict)
    writes_acknowledged: int = 0
    registrations_sent: set[str] = field(default_factory=set)
    registrations_acknowledged: set[str] = field(default_factory=set)
    latencies: list[float] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")

    @property
    def server_errors(self) -> int:
        """Answers with a 5xx status."""
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def summary(self, seconds: float) -> str:
        """One line of figures."""
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        times = sorted(self.latencies) or [0.0]
        p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
        return (
            f"{self.requests} requests in {seconds:.1f} s ({self.requests / seconds:.0f}/s); "
            f"statuses {{{statuses}}}; 5xx {self.server_errors}; "
            f"transport errors {sum(self.errors.values())}; "
            f"writes acknowledged {self.writes_acknowledged}; latency p50 {p50 * 1000:.0f} ms, "
            f"p99 {p99 * 1000:.0f} ms, max {self.slowest[0] * 1000:.0f} ms ({self.slowest[1]})"
        )


class Visitor:
    """One person on one connection: a loop of weighted actions until the deadline."""

    def __init__(
        self,
        browser: Browser,
        username: str | None,
        others: list[str],
        post_ids: list[int],
        ledger: Ledger,
        seed: int,
    ) -> None:
        self.browser = browser
        self.username = username
        self.others = others
        self.post_ids = post_ids
        self.ledger = ledger
        self.rng = random.Random(seed)

    async def run(self, until: float, budget: list[int]) -> None:
        """Act until `until` (monotonic) or until the shared request budget is spent."""
        reads = [
            self.home_page,
            self.home_fragment,
            self.home_json,
            self.post_page,
            self.comments_json,
            self.profile_page,
            self.followers_page,
            self.timeline_json,
        ]
        writes = [self.publish_post, self.publish_comment, self.toggle_follow]
        while time.monotonic() < until and budget[0] > 0:
            budget[0] -= 1
            signed_in = self.username is not None
            action = (
                self.rng.choice(writes)
                if signed_in and self.rng.random() < 0.4
                else self.rng.choice(reads)
            )
            await action()

    # -- sending ------------------------------------------------------------------------

    async def send(
        self, method: str, path: str, expected: set[int], **kwargs: Any
    ) -> httpx.Response | None:
        """One request; answers outside `expected` are written down, transport errors
        counted (None)."""
        self.ledger.requests += 1
        started = time.monotonic()
        try:
            response = await self.browser.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.ledger.errors[f"{type(exc).__name__} on {method} {path}"] += 1
            self.ledger.error_times.append(started)
            return None
        took = time.monotonic() - started
        self.ledger.latencies.append(took)
        if took > self.ledger.slowest[0]:
            self.ledger.slowest = (took, f"{method} {path}")
        self.ledger.statuses[response.status_code] += 1
        if response.status_code not in expected:
            what = f"{method} {path} -> {response.status_code}: {response.text[:300]!r}"
            self.ledger.unexpected.append((time.monotonic(), response.status_code, what))
        return response

    def headers(self, kind: str) -> dict[str, str]:
        """Headers of a write sent as `kind` (form, htmx or json)."""
        if kind == "form":
            return {}
        base = HTMX if kind == "htmx" else JSON
        return {**base, "X-CSRFToken": self.browser.token}

    async def write(
        self, path: str, kind: str, fields: dict[str, str], ok: set[int]
    ) -> httpx.Response | None:
        """POST `fields` as a form, an htmx form or a JSON object; the answer if it is in
        `ok` (then counted as an acknowledged write), else None."""
        headers = self.headers(kind)
        if kind == "json":
            response = await self.send("POST", path, ok, json=fields, headers=headers)
        else:
            # htmx sends the form's hidden csrf_token field too (and the header from <body>)
            data = {**fields, "csrf_token": self.browser.token}
            response = await self.send("POST", path, ok, data=data, headers=headers)
        if response is None or response.status_code not in ok:
            return None
        self.ledger.writes_acknowledged += 1
        return response

    def some_post(self) -> int:
        return self.rng.choice(self.post_ids)

    def someone(self) -> str:
        return self.rng.choice(self.others)

    # -- reads --------------------------------------------------------------------------

    async def home_page(self) -> None:
        await self.send("GET", "/", {200})

    async def home_fragment(self) -> None:
        await self.send("GET", "/", {200}, headers=HTMX)

    async def home_json(self) -> None:
        await self.send("GET", "/", {200}, headers=JSON)

    async def post_page(self) -> None:
        await self.send("GET", f"/post/{self.some_post()}", {200})

    async def comments_json(self) -> None:
        await self.send("GET", f"/post/{self.some_post()}/comments", {200}, headers=JSON)

    async def profile_page(self) -> None:
        await self.send("GET", f"/user/{self.someone()}", {200})

    async def followers_page(self) -> None:
        await self.send("GET", f"/followers/{self.someone()}", {200})

    async def timeline_json(self) -> None:
        await self.send("GET", f"/user/{self.someone()}/timeline", {200}, headers=JSON)

    # -- writes -------------------------------------------------------------------------

    async def publish_post(self) -> None:
        kind = self.rng.choice(("form", "htmx", "json"))
        body = f"load post {uuid.uuid4().hex} by *{self.username}*"
        self.ledger.posts_sent.add(body)
        ok = {"form": REDIRECT, "htmx": {200}, "json": {201}}[kind]
        response = await self.write("/", kind, {"body": body}, ok)
        if response is not None:
            self.ledger.posts_acknowledged.add(body)
            if kind == "json":
                self.post_ids.append(response.json()["id"])

    async def publish_comment(self) -> None:
        kind = self.rng.choice(("form", "htmx", "json"))
        body = f"load comment {uuid.uuid4().hex}"
        self.ledger.comments_sent.add(body)
        ok = {"form": REDIRECT, "htmx": {200}, "json": {201}}[kind]
        path = f"/post/{self.some_post()}/comments"
        if await self.write(path, kind, {"body": body}, ok) is not None:
            self.ledger.comments_acknowledged.add(body)

    async def toggle_follow(self) -> None:
        assert self.username is not None
        other = self.someone()
        if other == self.username:
            return
        follow = self.rng.random() < 0.6
        kind = self.rng.choice(("form", "htmx", "json"))
        ok = REDIRECT if kind == "form" else {200}
        path = f"/{'follow' if follow else 'unfollow'}/{other}"
        pair = (self.username, other)
        response = await self.write(path, kind, {}, ok)
        if response is None:
            self.ledger.follows[pair] = None  # it may or may not have happened
            return
        if kind == "json" and response.json()["following"] is not follow:
            what = f"POST {path} -> {response.json()}"
            self.ledger.unexpected.append((time.monotonic(), response.status_code, what))
        if pair not in self.ledger.follows or self.ledger.follows[pair] is not None:
            self.ledger.follows[pair] = follow  # once unknown, it stays unknown


class Registrar(Visitor):
    """Someone new each time: opens the register form and creates an account (a user,
    its self-follow and its confirmation mail, in one transaction)."""

    async def run(self, until: float, budget: list[int]) -> None:
        while time.monotonic() < until and budget[0] > 0:
            budget[0] -= 1
            self.browser = Browser(self.browser.client, self.browser.base_url)
            form = await self.send("GET", "/auth/register", {200})
            if form is None or form.status_code != 200:
                continue
            name = f"new{uuid.uuid4().hex[:12]}"
            self.ledger.registrations_sent.add(name)
            fields = {"email": f"{name}@example.com", "username": name, "password": "x" * 12}
            fields.update(password2="x" * 12, csrf_token=csrf_from(form.text))
            answer = await self.send("POST", "/auth/register", REDIRECT, data=fields)
            if answer is not None and answer.status_code in REDIRECT:
                self.ledger.writes_acknowledged += 1
                self.ledger.registrations_acknowledged.add(name)


async def visitors(
    pool: httpx.AsyncClient,
    base_url: str,
    usernames: list[str],
    anonymous: int,
    post_ids: list[int],
    ledger: Ledger,
) -> list[Visitor]:
    """Signed-in visitors (one per username, logged in through the form) and anonymous
    readers, sharing the connection pool."""
    people: list[Visitor] = []

    async def sign_in(index: int, name: str) -> None:
        browser = Browser(pool, base_url)
        response = await browser.login(f"{name}@example.com")
        assert response.status_code in REDIRECT, f"login of {name}: {response.status_code}"
        people.append(Visitor(browser, name, usernames, post_ids, ledger, seed=index))

    await asyncio.gather(*(sign_in(i, name) for i, name in enumerate(usernames)))
    for n in range(anonymous):
        browser = Browser(pool, base_url)
        people.append(Visitor(browser, None, usernames, post_ids, ledger, seed=1000 + n))
    return people


async def run_load(
    people: list[Visitor],
    seconds: float,
    max_requests: int = 1_000_000,
    during: Callable[[Callable[[], None]], Awaitable[Any]] | None = None,
) -> float:
    """Every visitor acts for `seconds` (at most `max_requests` in all) while
    `during(stop)` runs alongside (`stop()` ends the load early); returns the seconds
    it took."""
    started = time.monotonic()
    until = started + seconds
    budget = [max_requests]

    def stop() -> None:
        budget[0] = 0

    tasks = [asyncio.create_task(person.run(until, budget)) for person in people]
    try:
        if during is not None:
            await during(stop)
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return time.monotonic() - started


async def check_database(url: str, ledger: Ledger, exact: bool) -> list[str]:
    """What is wrong in the database after the load: acknowledged writes missing, rows
    nobody sent, half-written rows. With `exact`, every write sent but not acknowledged
    must be absent too (no answer was lost)."""
    problems: list[str] = []
    stored_posts = {
        r["body"] for r in await fetch(url, "SELECT body FROM posts WHERE body LIKE 'load post %'")
    }
    stored_comments = {
        r["body"]
        for r in await fetch(url, "SELECT body FROM comments WHERE body LIKE 'load comment %'")
    }
    for kind, stored, sent, acked in (
        ("post", stored_posts, ledger.posts_sent, ledger.posts_acknowledged),
        ("comment", stored_comments, ledger.comments_sent, ledger.comments_acknowledged),
    ):
        if missing := acked - stored:
            problems.append(f"{len(missing)} acknowledged {kind}s missing, e.g. {min(missing)}")
        if phantom := stored - sent:
            problems.append(f"{len(phantom)} {kind}s nobody sent")
        if exact and (extra := stored - acked):
            problems.append(f"{len(extra)} {kind}s stored but not acknowledged")
    pairs = {
        (r["follower"], r["followed"])
        for r in await fetch(
            url,
            "SELECT a.username AS follower, b.username AS followed FROM follows f "
            "JOIN users a ON a.id = f.follower_id JOIN users b ON b.id = f.followed_id",
        )
    }
    wrong = [
        pair
        for pair, state in ledger.follows.items()
        if state is not None and (pair in pairs) != state
    ]
    if wrong:
        problems.append(f"{len(wrong)} follow states differ from the last answer, e.g. {wrong[0]}")
    users = {r["username"] for r in await fetch(url, "SELECT username FROM users")}
    if missing := ledger.registrations_acknowledged - users:
        problems.append(f"{len(missing)} acknowledged registrations missing")
    if phantom := {u for u in users if u.startswith("new")} - ledger.registrations_sent:
        problems.append(f"{len(phantom)} accounts nobody registered")
    problems += await half_written(url)
    return problems


async def half_written(url: str) -> list[str]:
    """Rows that only make sense with their partners: a post or comment without its
    HTML, a user without the self-follow registration writes with it."""
    checks = {
        "posts without body_html": "SELECT count(*) FROM posts WHERE body_html = ''",
        "comments without body_html": "SELECT count(*) FROM comments WHERE body_html = ''",
        "users without their self-follow": (
            "SELECT count(*) FROM users u WHERE NOT EXISTS "
            "(SELECT 1 FROM follows f WHERE f.follower_id = u.id AND f.followed_id = u.id)"
        ),
        "registered users without their confirmation mail": (
            "SELECT count(*) FROM users u WHERE u.username LIKE 'new%' AND NOT EXISTS "
            "(SELECT 1 FROM outbox o WHERE o.recipient = u.email)"
        ),
    }
    problems = []
    for label, sql in checks.items():
        count = (await fetch(url, sql))[0][0]
        if count:
            problems.append(f"{count} {label}")
    return problems
