"""The change feed (SPEC §8): every write says what it changed, and every process hears it.

A write runs inside `async with change(kind, *topics, actor=id) as writing:` — one
transaction that also inserts an `events` row (increasing id, kind, topics, actor, time)
and, on PostgreSQL, `pg_notify`s it, so the notice goes out exactly when the write commits
and never for a write that rolled back. Topics name what a reader may be showing:
`post:<id>`, `comment:<id>`, `user:<id>`, `sessions:<user id>`, `posts` (the list of
everyone's posts), `*` (everything: bulk loads).

In each process:
- the writer applies its own event as soon as the transaction commits, before it answers
  (`Hub.local`), so the next request here sees the change;
- one `Listener` task hears the others: `LISTEN` on PostgreSQL (reconnecting after an
  outage, then catching up from the table by id), a cheap poll of the table by id on
  SQLite (one process is the rule there; the poll keeps a second worker right too).

What hearing an event does:
- `VERSIONS` moves the topics on: every cache entry remembers the `stamp()` it was made
  at and the topics it showed, and is fresh only while none of them moved since
  (`fresh`). While the listener is deaf (the database connection lost) nothing is
  trusted: caches miss and store nothing; when it hears again everything older is dropped.
- subscribers (`Hub.subscribe(topics)`, for the live updates of SPEC §9 and the
  notifications of §10) get the event on their queue; `replay(after, topics)` reads the
  table for a client that resumes.

Events are kept 24 hours (`prune`, from housekeeping and `flasky prune`).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from quart import Quart, g
from tortoise.transactions import in_transaction

from flasky import db
from flasky.models.base import iso, utcnow
from flasky.models.events import Event

log = logging.getLogger("flasky.feed")

CHANNEL = "flasky_feed"
EVERYTHING = "*"
KEEP = timedelta(hours=24)
# A NOTIFY payload is at most 8000 bytes: a longer list of topics goes out as "*".
MAX_PAYLOAD = 7000
# How many topics the version table holds before it starts again from a new floor.
MAX_TOPICS = 100_000

K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Change:
    """One event as every reader of the feed sees it."""

    id: int
    kind: str
    topics: frozenset[str]
    actor_id: int | None = None
    created_at: datetime | None = None

    def touches(self, topics: Iterable[str]) -> bool:
        """True when this event names one of `topics` (or everything)."""
        return EVERYTHING in self.topics or not self.topics.isdisjoint(topics)

    def payload(self) -> str:
        """The NOTIFY payload: the event as JSON, its topics folded to "*" if too many."""
        data = {"id": self.id, "kind": self.kind, "topics": sorted(self.topics),
                "actor": self.actor_id}  # fmt: skip
        text = json.dumps(data, separators=(",", ":"))
        if len(text.encode()) > MAX_PAYLOAD:
            text = json.dumps({**data, "topics": [EVERYTHING]}, separators=(",", ":"))
        return text

    @classmethod
    def from_payload(cls, text: str) -> Change:
        data = json.loads(text)
        return cls(int(data["id"]), str(data["kind"]), frozenset(data["topics"]), data["actor"])

    @classmethod
    def from_row(cls, row: Event) -> Change:
        return cls(row.id, row.kind, frozenset(row.topics.split()), row.actor_id, row.created_at)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "topics": sorted(self.topics),
                "actor_id": self.actor_id, "created_at": iso(self.created_at)}  # fmt: skip


# -- versions: what every cache checks -------------------------------------------------------


class Versions:
    """A local clock and, per topic, the tick it last changed at. An entry stamped at
    tick t that showed topics T is fresh while no topic of T moved after t."""

    def __init__(self) -> None:
        self.tick = 0
        self.floor = 0  # entries stamped before this are stale whatever they showed
        self.moved: dict[str, int] = {}
        self.trusted = True  # False while this process may be missing events

    def stamp(self) -> int:
        """The tick to remember with an entry made from now on."""
        return self.tick

    def move(self, topics: Iterable[str]) -> None:
        """These topics changed (the caller heard an event)."""
        self.tick += 1
        topics = set(topics)
        if EVERYTHING in topics or len(self.moved) + len(topics) > MAX_TOPICS:
            self.floor = self.tick
            self.moved.clear()
            return
        for topic in topics:
            self.moved[topic] = self.tick

    def fresh(self, topics: Iterable[str], stamp: int) -> bool:
        """True when an entry stamped at `stamp`, showing `topics`, is still right."""
        if not self.trusted or stamp < self.floor:
            return False
        moved = self.moved
        return all(moved.get(topic, -1) < stamp + 1 for topic in topics)

    def distrust(self) -> None:
        """The listener lost the database: serve nothing from a cache until it is back."""
        self.trusted = False

    def trust(self) -> None:
        """The listener hears again (and caught up): everything cached before is dropped."""
        self.move([EVERYTHING])
        self.trusted = True


VERSIONS = Versions()


class FeedCache(Generic[K, V]):
    """A bounded in-process map whose entries die when a topic they showed changes."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.entries: OrderedDict[K, tuple[V, frozenset[str], int]] = OrderedDict()

    def get(self, key: K) -> V | None:
        found = self.entries.get(key)
        if found is None:
            return None
        value, topics, stamp = found
        if not VERSIONS.fresh(topics, stamp):
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        return value

    def discard(self, key: K) -> None:
        self.entries.pop(key, None)

    def clear(self) -> None:
        self.entries.clear()

    def put(self, key: K, value: V, topics: Iterable[str], stamp: int) -> None:
        """Store `value`, made at `stamp` from `topics` — unless one moved meanwhile."""
        topics = frozenset(topics)
        if not VERSIONS.fresh(topics, stamp):
            return
        self.entries[key] = (value, topics, stamp)
        self.entries.move_to_end(key)
        while len(self.entries) > self.limit:
            self.entries.popitem(last=False)


def request_stamp() -> int | None:
    """The feed's tick when this request began (before its view read anything): what a
    cache entry made from this request's rows remembers. None outside a request."""
    return g.get("feed_stamp")


# -- subscribers ---------------------------------------------------------------------------


@dataclass(eq=False)
class Subscription:
    """A queue of the events that touch `topics` (or all, when empty), from now on."""

    topics: frozenset[str]
    queue: asyncio.Queue[Change] = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    overflowed: bool = False

    def offer(self, event: Change) -> None:
        if self.topics and not event.touches(self.topics):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True  # the reader is too slow: it must replay from the table

    async def next(self, timeout: float | None = None) -> Change | None:
        """The next event, or None after `timeout` seconds."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class Hub:
    """This process's end of the feed: events heard once each, in the order heard."""

    def __init__(self) -> None:
        self.subscriptions: set[Subscription] = set()
        self.heard: deque[int] = deque(maxlen=10_000)
        self._heard: set[int] = set()
        self.last_id = 0

    def local(self, event: Change) -> None:
        """A write of this process committed: apply it before the writer answers."""
        self._hear(event)

    def remote(self, event: Change) -> None:
        """The listener heard an event (ours, heard again, are skipped)."""
        if event.id not in self._heard:
            self._hear(event)

    def _hear(self, event: Change) -> None:
        if len(self.heard) == self.heard.maxlen:
            self._heard.discard(self.heard[0])
        self.heard.append(event.id)
        self._heard.add(event.id)
        self.last_id = max(self.last_id, event.id)
        VERSIONS.move(event.topics)
        for subscription in list(self.subscriptions):
            subscription.offer(event)

    @contextlib.contextmanager
    def subscribe(self, topics: Iterable[str] = ()) -> Any:
        """`with HUB.subscribe({"posts"}) as sub: event = await sub.next()`."""
        subscription = Subscription(frozenset(topics))
        self.subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self.subscriptions.discard(subscription)

    def reset(self) -> None:
        """Forget the ids heard (a new database: ids start again)."""
        self.heard.clear()
        self._heard.clear()
        self.last_id = 0


HUB = Hub()


# -- writing -------------------------------------------------------------------------------


@dataclass
class Writing:
    """What a write inside `change` has touched so far (`touch` adds more)."""

    kind: str
    topics: set[str]
    actor_id: int | None
    connection: Any
    cancelled: bool = False

    def touch(self, *topics: str) -> None:
        self.topics.update(topics)

    def cancel(self) -> None:
        """Nothing changed after all (a second follow): commit without an event."""
        self.cancelled = True


_OPEN: contextvars.ContextVar[Writing | None] = contextvars.ContextVar(
    "flasky_feed_open", default=None
)


@asynccontextmanager
async def change(kind: str, *topics: str, actor: int | None = None) -> AsyncIterator[Writing]:
    """One transaction holding the write and its event; the event is heard here as soon
    as it commits. Topics may be added inside the block (`writing.touch`). A change
    inside another joins it (one transaction, one event, heard after the outer commit)."""
    outer = _OPEN.get()
    if outer is not None:  # inside another change: its transaction, its one event
        inner = Writing(kind, set(topics), actor, outer.connection)
        yield inner
        if not inner.cancelled:
            outer.touch(*inner.topics)
            outer.cancelled = False
        return
    async with in_transaction() as connection:
        writing = Writing(kind, set(topics), actor, connection)
        token = _OPEN.set(writing)
        try:
            yield writing
        finally:
            _OPEN.reset(token)
        if writing.cancelled:
            return
        event = await record(writing, connection)
    HUB.local(event)  # after the commit, before the writer answers


async def record(writing: Writing, connection: Any) -> Change:
    """Insert the event row of `writing` (and NOTIFY it on PostgreSQL), in `connection`."""
    row = await Event.create(
        kind=writing.kind,
        topics=" ".join(sorted(writing.topics)) or EVERYTHING,
        actor_id=writing.actor_id,
        using_db=connection,
    )
    event = Change.from_row(row)
    if connection.capabilities.dialect == "postgres":
        await connection.execute_query("SELECT pg_notify($1, $2)", [CHANNEL, event.payload()])
    return event


async def announce(kind: str, *topics: str, actor: int | None = None) -> None:
    """An event for a write that is already done (bulk loads: one event per batch)."""
    async with change(kind, *topics, actor=actor):
        pass


async def replay(
    after: int, topics: Iterable[str] = (), limit: int = 1000, skip_kinds: Iterable[str] = ()
) -> list[Change]:
    """The kept events after id `after` that touch `topics` (all when empty), oldest
    first; `skip_kinds` leaves those kinds out in the query itself."""
    query = Event.filter(id__gt=after)
    if skip_kinds:
        query = query.exclude(kind__in=list(skip_kinds))
    rows = await query.order_by("id").limit(limit)
    wanted = frozenset(topics)
    events = [Change.from_row(row) for row in rows]
    return [e for e in events if not wanted or e.touches(wanted)]


async def prune(now: datetime | None = None) -> int:
    """Drop events older than KEEP (24 hours); returns how many."""
    return await Event.filter(created_at__lt=(now or utcnow()) - KEEP).delete()


async def newest_id() -> int:
    row = await Event.all().order_by("-id").first()
    return row.id if row else 0


# -- the listener --------------------------------------------------------------------------


def asyncpg_dsn(url: str) -> str:
    """A libpq DSN for asyncpg from our DATABASE_URL (Tortoise's own options dropped)."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))


class Listener:
    """The one task per process that hears other processes' writes."""

    def __init__(self, app: Quart) -> None:
        self.app = app
        self.task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self.connected = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run(), name="flasky-feed")

    async def stop(self) -> None:
        self._stopping = True
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
            self.task = None

    async def _run(self) -> None:
        HUB.reset()
        HUB.last_id = await self._retrying(newest_id)
        postgres = db.dialect() == "postgres"
        while not self._stopping:
            try:
                if postgres:
                    await self._listen()
                else:
                    await self._poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("change feed listener lost the database; retrying", exc_info=True)
            self.connected.clear()
            VERSIONS.distrust()
            await asyncio.sleep(self.retry_seconds)

    @property
    def retry_seconds(self) -> float:
        return float(self.app.config["FLASKY_FEED_RETRY_SECONDS"])

    async def _retrying(self, query: Any) -> Any:
        """`query()` once the database answers (caches distrusted until then)."""
        while True:
            try:
                return await query()
            except asyncio.CancelledError:
                raise
            except Exception:
                VERSIONS.distrust()
                await asyncio.sleep(self.retry_seconds)

    async def catch_up(self) -> None:
        """Hear every event after the last one heard (by id, from the table)."""
        while True:
            events = await replay(HUB.last_id)
            for event in events:
                HUB.remote(event)
            if len(events) < 1000:
                return

    async def _listen(self) -> None:
        connection = await asyncpg.connect(asyncpg_dsn(self.app.config["DATABASE_URL"]))
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _c: lost.set())

            def heard(_c: Any, _pid: int, _channel: str, payload: str) -> None:
                HUB.remote(Change.from_payload(payload))

            await connection.add_listener(CHANNEL, heard)
            await self.catch_up()  # what was written while we were not listening
            self._heard_again()
            keepalive = float(self.app.config["FLASKY_FEED_KEEPALIVE_SECONDS"])
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), keepalive)
                if not lost.is_set():
                    await asyncio.wait_for(connection.fetchval("SELECT 1"), keepalive)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 1.0)

    async def _poll(self) -> None:
        every = float(self.app.config["FLASKY_FEED_POLL_SECONDS"])
        await self.catch_up()
        self._heard_again()
        while True:
            await asyncio.sleep(every)
            await self.catch_up()

    def _heard_again(self) -> None:
        if not VERSIONS.trusted:
            VERSIONS.trust()
        self.connected.set()


def listener_of(app: Quart) -> Listener:
    return app.extensions["flasky_feed"]


def init_app(app: Quart) -> None:
    """One listener per server process (FLASKY_FEED_LISTENER), from start to stop; each
    request notes the feed's tick as it begins (`request_stamp`)."""
    listener = Listener(app)
    app.extensions["flasky_feed"] = listener

    @app.before_request
    async def _stamp() -> None:
        g.feed_stamp = VERSIONS.stamp()

    @app.while_serving
    async def _serve() -> Any:
        if app.config["FLASKY_FEED_LISTENER"]:
            listener.start()
        try:
            yield
        finally:
            await listener.stop()
