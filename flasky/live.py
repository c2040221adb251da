"""Live updates (SPEC §9): `GET /stream?topic=T&topic=T…` answers `text/event-stream`.

A stream is one subscriber of this process's change feed (`feed.HUB`): no database
polling, whatever the number of streams. Each event heard is matched against the
stream's topics (`Stream.match`: one SSE event per change, however many topics it
touches), then rendered *for this viewer* — the same fragments the pages show (a
disabled comment's body never reaches a non-moderator; Edit only for who may edit), or
with `format=json` the JSON of SPEC §4. What several streams need is loaded once per
change (`_shared`) and cards come from the card cache (one render per variant).

Resuming: `Last-Event-ID` (the browser's own reconnect) or `after=<id>` (the pages keep
the last id they saw in their stream URL, for htmx-ext-sse's fresh EventSource after an
error answer) replays the kept events after it that this viewer may see, then goes live;
ids already sent are never sent twice. A `: keep-alive` comment goes out every
FLASKY_STREAM_KEEPALIVE_SECONDS (15); a stream ends after FLASKY_STREAM_SECONDS (300),
when the server shuts down (SIGTERM), or when the viewer's session ends (`session-ended`
on `me`), and the browser reconnects. At most FLASKY_STREAMS_PER_CLIENT (8) open streams
per account or anonymous address in a process; more → 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import multiprocessing
import os
import random
import re
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from quart import (
    Blueprint,
    Quart,
    Response,
    current_app,
    g,
    render_template,
    request,
    stream_with_context,
)

from flasky import throttle
from flasky.exceptions import BadRequest, Forbidden, TooManyRequests
from flasky.feed import HUB, VERSIONS, Change, FeedCache, replay
from flasky.identity import Viewer, current_viewer, reload_viewer
from flasky.models import Comment, Event, Follow, Post, User, unread_count
from flasky.permissions import Permission
from flasky.templating import post_card
from flasky.text import tag_named
from flasky.urls import url_for

bp = Blueprint("live", __name__)
log = logging.getLogger("flasky.live")

# Topics anyone may name, and the parametrised ones.
PLAIN_TOPICS = frozenset({"posts", "followed", "moderation", "me"})
POST_TOPIC = re.compile(r"post:([1-9][0-9]{0,17})")
USER_TOPIC = re.compile(r"user:([A-Za-z0-9_.]{1,64})")
MAX_TOPICS = 16
MAX_EVENT_ID = 2**63 - 1
EVENT_ID = re.compile(r"[0-9]{1,19}")
# Every event name a page's stream element listens for (base.html).
EVENT_NAMES = (
    "post-created", "post-updated", "post-deleted", "comment-created", "comment-updated",
    "comment-deleted", "like-count", "follow-count", "report-created", "report-updated",
    "notification", "session-ended",
)  # fmt: skip
RETRY_MS = 2000
SENT_KEPT = 4096
MAX_REPLAY_SCAN = 10_000
# Kinds no stream sends or acts on, left out of a replay's query (last_seen moves often).
NEVER_STREAMED = ("user-seen", "user-created")
SHUTDOWN = Change(0, "server-closing", frozenset())

# The open streams of this process (to end them at shutdown).
STREAMS: set[Any] = set()


# -- what a stream asked for ---------------------------------------------------------------


@dataclass
class Stream:
    """One open stream: its viewer, topics, format, and what it has sent."""

    viewer: Viewer
    names: list[str]  # the topics as asked, in order
    as_json: bool
    post_ids: set[int] = field(default_factory=set)
    user_ids: set[int] = field(default_factory=set)
    followed: set[int] = field(default_factory=set)
    sent: set[int] = field(default_factory=set)  # the ids sent (the last SENT_KEPT)
    sent_order: deque[int] = field(default_factory=deque)
    last_id: int = 0  # the newest id sent
    seen_id: int = 0  # the newest id looked at (sent or not)
    ended: bool = False

    def mark_sent(self, change_id: int) -> None:
        self.sent.add(change_id)
        self.sent_order.append(change_id)
        self.last_id = max(self.last_id, change_id)
        if len(self.sent_order) > SENT_KEPT:
            self.sent.discard(self.sent_order.popleft())

    @property
    def signed_in(self) -> bool:
        return isinstance(self.viewer, User)

    @property
    def viewer_id(self) -> int | None:
        return self.viewer.id if isinstance(self.viewer, User) else None

    def match(self, change: Change) -> tuple[str, str] | None:
        """(event name, the topic it arrives by) when `change` is for this stream."""
        kind, topics = change.kind, change.topics
        ids = _ids(topics, "post")
        for name in self.names:
            if name == "posts" and kind in ("post-created", "post-updated", "post-deleted"):
                return kind, name
            if name == "followed" and kind == "post-created" and change.actor_id in self.followed:
                return kind, name
            if name.startswith("post:") and kind in POST_EVENTS and int(name[5:]) in ids:
                return kind, name
            if name.startswith("user:"):
                mine = self.user_ids & _ids(topics, "user")
                if mine and kind in ("follow", "unfollow"):
                    return "follow-count", name
                if mine and kind == "post-created" and change.actor_id in mine:
                    return kind, name
            if name.startswith("tag:") and kind == "post-created" and name in topics:
                return kind, name  # `Post._indexed` touched it
            if name == "moderation" and kind in ("comment-created", "comment-updated"):
                return kind, name
            if name == "me" and f"notifications:{self.viewer_id}" in topics:
                return "notification", name
        return None

    def told_of(self, change: Change) -> bool:
        """True when this stream has `me` and `change` moved the viewer's notifications."""
        return "me" in self.names and f"notifications:{self.viewer_id}" in change.topics

    def matters(self, change: Change) -> bool:
        """True when `change` may alter who this stream serves or what it follows."""
        uid = self.viewer_id
        if uid is None:
            return False
        return f"sessions:{uid}" in change.topics or (
            change.kind in ("follow", "unfollow") and change.actor_id == uid
        )


POST_EVENTS = frozenset(
    {"comment-created", "comment-updated", "comment-deleted", "post-updated", "post-deleted",
     "like-count"}
)  # fmt: skip


def _ids(topics: frozenset[str], prefix: str) -> set[int]:
    """The ids of `prefix:<id>` topics."""
    start = prefix + ":"
    return {
        int(t[len(start) :]) for t in topics if t.startswith(start) and t[len(start) :].isdigit()
    }


def parse_topics(values: list[str]) -> list[str]:
    """The topics of the query, each checked (400 for an unknown one), each once."""
    if not values:
        raise BadRequest("Name at least one topic: /stream?topic=posts.")
    if len(values) > MAX_TOPICS:
        raise BadRequest(f"At most {MAX_TOPICS} topics per stream.")
    names: list[str] = []
    for value in values:
        tag = tag_named(value[4:]) if value.startswith("tag:") else None
        if tag is not None:
            value = "tag:" + tag  # the tag as posts' events name it
        elif not (
            value in PLAIN_TOPICS or POST_TOPIC.fullmatch(value) or USER_TOPIC.fullmatch(value)
        ):
            shown = value if len(value) <= 40 else value[:40] + "…"
            raise BadRequest(
                f"Unknown topic {shown!r}: use posts, followed, post:<id>, user:<username>,"
                " tag:<tag>, moderation or me."
            )
        if value not in names:
            names.append(value)
    return names


def resume_from() -> int:
    """The id to replay after: the larger of `Last-Event-ID` and `after=` (0: none)."""
    found = 0
    for value in (request.headers.get("Last-Event-ID"), request.args.get("after")):
        if value is None or value.strip() == "":
            continue
        value = value.strip()
        if not EVENT_ID.fullmatch(value) or int(value) > MAX_EVENT_ID:
            raise BadRequest("Last-Event-ID and after= take an event id (a whole number).")
        found = max(found, int(value))
    return found


async def open_stream(viewer: Viewer, names: list[str], as_json: bool, after: int = 0) -> Stream:
    """A stream of `names` for `viewer`, or raise: 404 for no such post or user, 401 for
    a topic that needs a signed-in viewer, 403 for one that needs a permission. A stream
    that resumes (`after`) may name a post deleted meanwhile: its replay says so."""
    stream = Stream(viewer, names, as_json)
    for name in names:
        if name.startswith("post:"):
            post_id = int(name[5:])
            if not await Post.exists(id=post_id) and not (after and await _deleted(post_id, after)):
                raise BadRequest(f"No post {post_id}.", status=404)
            stream.post_ids.add(post_id)
        elif name.startswith("user:"):
            user = await User.get_or_none(username=name[5:]).only("id")
            if user is None:
                raise BadRequest(f"No user {name[5:]}.", status=404)
            stream.user_ids.add(user.id)
    needs_login = any(name in ("followed", "me", "moderation") for name in names)
    if needs_login and not stream.signed_in:  # 401 whatever the Accept (no login redirect)
        raise BadRequest("Sign in to follow this topic.", status=401)
    if "moderation" in names and not viewer.can(Permission.MODERATE):
        raise Forbidden("The moderation stream is for moderators.")
    if "followed" in names:
        stream.followed = await _followed_ids(viewer)
    return stream


async def _deleted(post_id: int, after: int) -> bool:
    """True when the post was deleted after change `after` (so a resuming page learns it)."""
    rows = await Event.filter(id__gt=after, kind="post-deleted").values_list("topics", flat=True)
    return any(f"post:{post_id}" in topics.split() for topics in rows)


async def _followed_ids(viewer: Viewer) -> set[int]:
    if not isinstance(viewer, User):
        return set()
    return {*await Follow.followed_ids(viewer.id), viewer.id}


# -- the endpoint --------------------------------------------------------------------------


@bp.get("/stream")
async def stream() -> Response:
    """The event stream of the topics asked (SPEC §9)."""
    names = parse_topics(request.args.getlist("topic"))
    fmt = request.args.get("format", "html")
    if fmt not in ("html", "json"):
        raise BadRequest("format is html (the default) or json.")
    as_json = fmt == "json"
    after = resume_from()
    if CLOSING.is_set():
        raise TooManyRequests(2, "The server is restarting; the stream resumes in a moment.")
    viewer = await current_viewer()
    opened = await open_stream(viewer, names, as_json, after)
    client = (
        f"user:{viewer.id}" if isinstance(viewer, User) else f"addr:{throttle.client_address()}"
    )
    slot = Slot.take(client, int(current_app.config["FLASKY_STREAMS_PER_CLIENT"]))
    if slot is None:
        raise TooManyRequests(2, "Too many open streams; close a tab or wait a moment.")
    response = Response(_run(opened, after, slot), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    response.timeout = None  # Quart's RESPONSE_TIMEOUT must not cut the stream
    return response


class Slot:
    """One of a client's at most N open streams on this machine, whichever server process
    holds it: an exclusive `flock` on one of N empty files named after the client (in
    `slots_dir()`), held until the stream ends — or, should its body never start, until
    the slot is dropped; the kernel lets go if the process dies."""

    def __init__(self, fd: int) -> None:
        self.fd: int | None = fd

    @classmethod
    def take(cls, client: str, limit: int) -> Slot | None:
        """A free slot of `client`, or None when all `limit` are held."""
        folder = slots_dir()
        name = hashlib.sha256(client.encode()).hexdigest()[:32]
        for n in range(limit):
            fd = os.open(folder / f"{name}.{n}", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            os.utime(fd)  # in use: not pruned
            return cls(fd)
        return None

    def release(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)  # and with it the lock

    def __del__(self) -> None:
        self.release()


def slots_dir() -> Path:
    """Where this application's stream slots live: FLASKY_STREAM_SLOTS_DIR, else a
    folder in the temporary directory named after the database (the servers of one
    application share it; another application on the machine has its own)."""
    configured = current_app.config.get("FLASKY_STREAM_SLOTS_DIR")
    if configured:
        folder = Path(configured)
    else:
        key = hashlib.sha256(str(current_app.config["DATABASE_URL"]).encode()).hexdigest()[:16]
        folder = Path(tempfile.gettempdir()) / f"flasky-streams-{key}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def prune_slots(folder: Path, older_than: float = 86400.0) -> int:
    """Remove slot files no stream used for a day (left by clients long gone)."""
    removed = 0
    limit = time.time() - older_than
    for path in folder.glob("*.*"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime >= limit:
                continue
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                path.unlink()
                removed += 1
            except BlockingIOError:
                pass
            finally:
                os.close(fd)
    return removed


def _run(opened: Stream, after: int, slot: Slot) -> AsyncIterator[bytes]:
    config = current_app.config
    seconds = float(config["FLASKY_STREAM_SECONDS"])
    keepalive = float(config["FLASKY_STREAM_KEEPALIVE_SECONDS"])

    @stream_with_context
    async def body() -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:
            with HUB.subscribe() as subscription:
                STREAMS.add(subscription)
                try:
                    yield f"retry: {RETRY_MS}\n: connected\n\n".encode()
                    async for chunk in _replayed(opened, after):
                        yield chunk
                    wrote, quiet = loop.time(), _jittered(keepalive)
                    while not opened.ended and not CLOSING.is_set():
                        now = loop.time()
                        if now >= deadline:
                            break
                        if now - wrote >= quiet:  # quiet for us, however busy the feed
                            yield b": keep-alive\n\n"
                            wrote, quiet = now, _jittered(keepalive)
                        if subscription.overflowed:  # too slow a reader: read the table
                            subscription.overflowed = False
                            _drain(subscription.queue)
                            async for chunk in _replayed(opened, opened.seen_id):
                                yield chunk
                                wrote = loop.time()
                            continue
                        wait = min(quiet - (now - wrote), deadline - now)
                        change = await subscription.next(max(wait, 0.0))
                        if change is SHUTDOWN:
                            break
                        if change is not None:
                            chunk = await _handle(opened, change)
                            if chunk:
                                yield chunk
                                wrote = loop.time()
                except Exception:  # the database went away mid-stream: end it; the
                    # browser reconnects with Last-Event-ID and nothing is lost
                    log.warning("live stream ended by an error", exc_info=True)
                finally:
                    STREAMS.discard(subscription)
        finally:
            slot.release()

    return body()


def _jittered(seconds: float) -> float:
    """A keep-alive interval, a little shorter at random: streams that all got the same
    event do not all send their keep-alive in the same instant afterwards."""
    return seconds * random.uniform(0.5, 1.0)


def _drain(queue: asyncio.Queue[Change]) -> None:
    while not queue.empty():
        queue.get_nowait()


async def _replayed(opened: Stream, after: int) -> AsyncIterator[bytes]:
    """The kept events after `after` this stream may see, oldest first — looking at no
    more than MAX_REPLAY_SCAN of them (a client further behind than that reloads rather
    than replays; a page's stream URL moves on with every event it gets)."""
    if after <= 0:
        return
    scanned = 0
    while scanned < MAX_REPLAY_SCAN:
        changes = await replay(after, skip_kinds=NEVER_STREAMED)
        scanned += len(changes)
        for change in changes:
            chunk = await _handle(opened, change)
            if chunk:
                yield chunk
            if opened.ended:
                return
        if len(changes) < 1000:
            return
        after = changes[-1].id
        opened.seen_id = max(opened.seen_id, after)


async def _handle(opened: Stream, change: Change) -> bytes | None:
    """The SSE text of `change` for this stream, or None when it is not for it."""
    opened.seen_id = max(opened.seen_id, change.id)
    if change.id in opened.sent:
        return None
    if opened.matters(change):
        ended = await _recheck(opened)
        if ended is not None:
            opened.mark_sent(change.id)
            return ended
    matched = opened.match(change)
    if matched is None:
        return None
    name, via = matched
    data = await _render(opened, change, name, via)
    if name != "notification" and opened.told_of(change):  # the badge moves with it
        badge = await _render_notification(opened, change)
        if data is None:
            name, data = "notification", badge
        elif badge is not None:
            data = _with_badge(data, badge, opened.as_json)
    opened.mark_sent(change.id)
    if data is None:
        return None
    return frame(change.id, name, data)


def _with_badge(data: str, badge: str, as_json: bool) -> str:
    """An event's data with the viewer's new unread count too (one event per change)."""
    if not as_json:
        return data + "\n" + badge
    return json.dumps({**json.loads(data), "unread": json.loads(badge)["unread"]})


def frame(event_id: int | None, name: str, data: str) -> bytes:
    """One SSE event; each line of `data` on its own `data:` line. Without an id (an
    event that is not a change) the browser keeps the last id it had."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    lines = re.split(r"\r\n|\r|\n", data)
    return (
        head + f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"
    ).encode()


async def _recheck(opened: Stream) -> bytes | None:
    """The viewer's sessions or follows changed: follow the follows; when the session
    ended or the permissions changed, end the stream (`session-ended` first if it
    ended) so the browser reconnects to what it may see now."""
    before = opened.viewer
    viewer = await reload_viewer()
    if not isinstance(viewer, User) or viewer.id != opened.viewer_id:
        return _ended(opened, "signed out", "You have been signed out.")
    if viewer.role_id != getattr(before, "role_id", None) or viewer.confirmed != before.confirmed:
        # new permissions: the page reloads and asks again
        return _ended(opened, "permissions changed", "Your permissions have changed.")
    opened.viewer = viewer
    if "followed" in opened.names:
        opened.followed = await _followed_ids(viewer)
    return None


def _ended(opened: Stream, reason: str, sentence: str) -> bytes:
    """The stream's last event: `session-ended` (no id: not a change of the feed)."""
    opened.ended = True
    data = json.dumps({"reason": reason}) if opened.as_json else f"<p>{sentence}</p>"
    return frame(None, "session-ended", data)


# -- rendering, shared between the streams of this process ---------------------------------

# (what, ids…, change id) → a row loaded, or a fragment rendered, once for every stream
# of this process that needs it (per variant: what differs between viewers is in the
# key), with the feed's tick taken before (what the card cache stores a card under). A
# FeedCache like every other cache here: an entry serves only while the topics it shows
# have not moved, so a stream replaying an old change later gets the thing as it is now
# (a comment disabled since shows its notice), never the copy made for the first stream.
# The entry is the load's future, so streams asking at once wait for the one load.
_SHARED: FeedCache[tuple[Any, ...], asyncio.Future[Any]] = FeedCache(limit=1024)


async def _shared(
    key: tuple[Any, ...], topics: frozenset[str], load: Callable[[], Awaitable[Any]]
) -> Any:
    """`(await load(), tick)`, computed by the first stream that asks for `key` while
    `topics` stay as they were."""
    found = _SHARED.get(key)
    if found is not None:
        return await asyncio.shield(found)
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    stamp = VERSIONS.stamp()
    _SHARED.put(key, future, topics, stamp)
    try:
        future.set_result((await load(), stamp))
    except BaseException as error:
        _SHARED.discard(key)
        future.set_exception(error)
        raise
    return future.result()


def oob(html: str, element_id: str) -> str:
    """`html` whose root element (id `element_id`) replaces its namesake in the page."""
    return html.replace(f'id="{element_id}"', f'id="{element_id}" hx-swap-oob="true"', 1)


async def _render(opened: Stream, change: Change, name: str, via: str) -> str | None:
    if name.startswith("post-"):
        return await _render_post(opened, change, name, via)
    if name.startswith("comment-"):
        return await _render_comment(opened, change, name, via)
    if name == "follow-count":
        return await _render_counts(opened, change)
    if name == "notification":
        return await _render_notification(opened, change)
    return None


async def _render_post(opened: Stream, change: Change, name: str, via: str) -> str | None:
    post_id = next(iter(_ids(change.topics, "post")), None)
    if post_id is None:
        return None
    if name == "post-deleted":
        if opened.as_json:
            return json.dumps(
                {"id": post_id, "url": url_for("posts.post", id=post_id, _external=True)}
            )
        return await render_template("live/_post_deleted.html", post_id=post_id)
    post, stamp = await _shared(
        ("post", post_id, change.id), frozenset({f"post:{post_id}"}),
        lambda: Post.with_details(post_id),
    )  # fmt: skip
    if post is None:
        return None  # deleted since: its own post-deleted follows
    if opened.as_json:
        return json.dumps(post.to_json())
    g.feed_stamp = stamp  # the card cache keeps this render under the load's tick
    card = str(await post_card(post, permalink=via.startswith("post:")))
    if name == "post-updated":
        return oob(card, f"post-{post.id}")
    return f'<div hx-swap-oob="afterbegin:#incoming">{card}</div>'


async def _render_comment(opened: Stream, change: Change, name: str, via: str) -> str | None:
    comment_id = next(iter(_ids(change.topics, "comment")), None)
    if comment_id is None:
        return None
    if name == "comment-deleted":
        return (
            json.dumps({"id": comment_id})
            if opened.as_json
            else (f'<li id="comment-{comment_id}" hx-swap-oob="delete"></li>')
        )
    shows = frozenset({f"comment:{comment_id}"})
    comment, _stamp = await _shared(
        ("comment", comment_id, change.id), shows,
        lambda: Comment.all().select_related("author", "post").get_or_none(id=comment_id),
    )  # fmt: skip
    if comment is None:
        return None
    moderator = opened.viewer.can(Permission.MODERATE)
    if opened.as_json:
        return json.dumps(comment.to_json(moderator))
    in_queue = via == "moderation"

    async def draw() -> str:
        return await render_template("posts/_comment.html", comment=comment, in_queue=in_queue)

    if moderator:  # its Enable/Disable forms carry this session's CSRF token
        html = await draw()
    else:  # every reader's variant is the same: rendered once
        html, _stamp = await _shared(("comment-html", comment_id, in_queue, change.id), shows, draw)
    if name == "comment-updated":
        return oob(html.strip(), f"comment-{comment.id}")
    where = "afterbegin:#moderation-queue" if in_queue else "beforeend:#comments"
    return f'<div hx-swap-oob="{where}">{html}</div>'


async def _render_counts(opened: Stream, change: Change) -> str | None:
    """The counts of each watched user the follow touched (JSON: the first of them)."""
    users = []
    for user_id in sorted(opened.user_ids & _ids(change.topics, "user")):
        user, _stamp = await _shared(
            ("counts", user_id, change.id), frozenset({f"user:{user_id}"}),
            lambda uid=user_id: User.with_counts().get_or_none(id=uid),
        )  # fmt: skip
        if user is not None:
            users.append(user)
    if not users:
        return None
    if opened.as_json:
        return json.dumps(users[0].to_json())
    parts = [await render_template("social/_counts.html", user=u, oob=True) for u in users]
    return "\n".join(part.strip() for part in parts)


async def _render_notification(opened: Stream, change: Change) -> str | None:
    user_id = opened.viewer_id
    if user_id is None:
        return None
    unread = await unread_count(user_id)
    if opened.as_json:
        return json.dumps({"unread": unread})
    return await render_template("notifications/_badge.html", count=unread, oob=True)


# -- shutdown ------------------------------------------------------------------------------

CLOSING = asyncio.Event()


def close_all() -> None:
    """End every open stream now (the browser reconnects to another process)."""
    CLOSING.set()
    for subscription in list(STREAMS):
        with contextlib.suppress(asyncio.QueueFull):
            subscription.queue.put_nowait(SHUTDOWN)


def _hypercorn_shutdown_event() -> Any:
    """The shutdown event hypercorn's master hands each worker process (None when this
    is not a hypercorn worker): SIGTERM to the master sets it."""
    process = multiprocessing.current_process()
    return getattr(process, "_kwargs", {}).get("shutdown_event")


async def _watch_shutdown(event: Any) -> None:
    while not event.is_set():
        await asyncio.sleep(0.2)
    close_all()


def init_app(app: Quart) -> None:
    """End the streams as soon as hypercorn is told to stop (SIGTERM), not after its
    graceful timeout; and when the app stops serving."""

    @app.before_request
    def _note_last_event() -> None:
        g.live_after = HUB.last_id  # before the view reads anything

    app.jinja_env.globals.update(
        # a page's stream replays what came after the page began
        live_after=lambda: g.get("live_after", HUB.last_id),
        live_events=",".join(EVENT_NAMES),
    )

    @app.while_serving
    async def _serve() -> Any:
        global CLOSING
        CLOSING = asyncio.Event()
        _SHARED.clear()  # keyed by change id: a new database starts ids again
        await asyncio.to_thread(prune_slots, slots_dir())
        shutdown = _hypercorn_shutdown_event()
        watcher = (
            asyncio.get_running_loop().create_task(_watch_shutdown(shutdown)) if shutdown else None
        )
        try:
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
            close_all()
