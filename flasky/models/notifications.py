"""Notifications (SPEC §10): who did what to a user's things, written in the same
transaction as the action, and the unread count every signed-in page shows.

Two tables:
- `notifications`: one line of a user's list — its kind, its subject (`user:3`,
  `post:12`, `comment:5`: what it links to, built when shown), the UTC day it began,
  how many actors it holds, when it last moved, and whether it was read. Likes and
  follows of one subject on one UTC day share a line (a new actor moves it up and makes
  it unread again); comments, replies and mentions are a line each. One line per
  (user, kind, subject, day).
- `notification_actors`: who acted, one row per (recipient, kind, subject, actor) for
  ever: following, unfollowing and following again notifies once.

`notify(...)` runs inside the writer's `feed.change(...)` (its transaction: a rolled
back action leaves no notification) and touches the topic `notifications:<user id>`, so
the event says whose list moved: the unread counts cached here (`unread_count`) and
the live badge (SPEC §9, topic `me`) follow it.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q, RawSQL
from tortoise.indexes import Index
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from flasky import feed as change_feed
from flasky.models.base import iso, utcnow
from flasky.urls import base_url, url_for

if TYPE_CHECKING:
    from flasky.models.accounts import User

KINDS = ("follow", "comment", "reply", "mention", "like")
# Kinds whose actors on one subject in one UTC day share one line.
GROUPED = frozenset({"follow", "like"})
# The most recent actors a line carries (text, avatars, JSON); `actor_count` has them all.
ACTORS_SHOWN = 10

# How many newer actors a line has than this one: the rank that keeps ACTORS_SHOWN each.
NEWER_ACTORS_SQL = (
    '(SELECT COUNT(*) FROM "notification_actors" n'
    ' WHERE n."notification_id" = "notification_actors"."notification_id"'
    ' AND n."id" > "notification_actors"."id")'
)


def topic_of(user_id: int) -> str:
    """The change-feed topic of a user's notifications (list, unread count, badge)."""
    return f"notifications:{user_id}"


class Notification(Model):
    """One line of a user's notifications."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notifications", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=16)  # follow | comment | reply | mention | like
    subject = fields.CharField(max_length=64)  # "user:3", "post:12", "comment:5"
    day = fields.DateField()  # the UTC day the line began: likes and follows group by it
    actor_count = fields.IntField(default=1)
    created_at = fields.DatetimeField(default=utcnow)
    updated_at = fields.DatetimeField(default=utcnow)  # the latest actor: the list's order
    read = fields.BooleanField(default=False)

    user_id: int
    # Set by `with_actors`, not columns: the most recent actors, newest first, and the
    # path the line links to today.
    recent_actors: list[User]
    path: str

    class Meta:
        table = "notifications"
        unique_together = (("user", "kind", "subject", "day"),)
        indexes = (
            Index(fields=("user_id", "updated_at", "id"), name="ix_notifications_user_ts"),
            Index(fields=("user_id", "read", "id"), name="ix_notifications_unread"),
            Index(fields=("subject",), name="ix_notifications_subject"),  # `forget`
        )

    @classmethod
    def of(cls, user_id: int) -> QuerySet[Notification]:
        """A user's notifications (page them newest first by `updated_at`)."""
        return cls.filter(user_id=user_id)

    def who(self) -> tuple[list[str], int]:
        """Whom the line names and how many others acted, newest first: (["alice"], 0),
        (["alice", "bob"], 0), (["alice"], 3) — "alice and 3 others" (needs
        `recent_actors`; an actor whose account is gone is only counted)."""
        names = [actor.name or actor.username for actor in self.recent_actors]
        total = max(self.actor_count, len(names))
        if total == 2 and len(names) == 2:
            return names, 0
        return names[:1], total - min(len(names), 1)

    def to_json(self) -> dict[str, Any]:
        """The notification JSON of SPEC §10 (`recent_actors` set by `with_actors`)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "actors": [actor.author_json() for actor in self.recent_actors],
            "subject_url": base_url() + self.path,
            "timestamp": iso(self.updated_at),
            "read": self.read,
        }


class NotificationActor(Model):
    """Who acted on a line: at most one row per (recipient, kind, subject, actor), ever."""

    id = fields.IntField(primary_key=True)
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="actors", on_delete=fields.CASCADE
    )
    user_id = fields.IntField()  # the recipient (the line's user; it cascades from there)
    kind = fields.CharField(max_length=16)
    subject = fields.CharField(max_length=64)
    actor: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="notification_actions", on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField(default=utcnow)

    notification_id: int
    actor_id: int

    class Meta:
        table = "notification_actors"
        unique_together = (("user_id", "kind", "subject", "actor"),)
        indexes = (
            Index(fields=("notification_id", "id"), name="ix_notification_actors_line"),
            Index(fields=("actor_id",), name="ix_notification_actors_actor"),
        )


# -- writing -------------------------------------------------------------------------------


async def notify(
    recipient_id: int, kind: str, actor_id: int, subject: str, *, now: datetime | None = None
) -> bool:
    """Tell `recipient_id` that `actor_id` did `kind` (KINDS) to `subject` — the topic of
    what the line links to: `user:<recipient id>` (a follow), `post:<id>`,
    `comment:<id>`; True when that made or moved a line.

    Call it inside the action's open `feed.change(...)` block (RuntimeError otherwise):
    it writes in that transaction and touches `notifications:<recipient id>` on it.
    Nothing happens for one's own action, or when this (kind, actor, subject) was
    notified before — whatever happened since (an unfollow, a read)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    writing = _open_change("notify")
    if actor_id == recipient_id:
        return False
    claim = {"user_id": recipient_id, "kind": kind, "subject": subject, "actor_id": actor_id}
    if await NotificationActor.exists(**claim):
        return False
    now = now or utcnow()
    for attempt in range(2):
        try:
            # a savepoint: a concurrent twin (same claim, or the same day's line) rolls
            # back only this, and the action itself still commits
            async with in_transaction():
                line = await _line_for(recipient_id, kind, subject, now)
                await NotificationActor.create(notification_id=line.id, created_at=now, **claim)
            break
        except IntegrityError:
            if attempt or await NotificationActor.exists(**claim):
                return False  # a twin notified it first
    writing.touch(topic_of(recipient_id))
    return True


async def forget(*subjects: Q) -> int:
    """Drop the lines about what is being deleted (each of `subjects` a filter on
    `subject`: a post, its comments), with their actors, inside the deleting
    `feed.change(...)`: the recipients' lists, unread counts and badges move with its
    event. Each filter is asked alone, so each can use the index on `subject` (under an
    OR, PostgreSQL would scan). Returns how many lines went."""
    writing = _open_change("forget")
    gone = 0
    for about in subjects:
        recipients = await Notification.filter(about).distinct().values_list("user_id", flat=True)
        if recipients:
            writing.touch(*(topic_of(user_id) for user_id in recipients))
            gone += await Notification.filter(about).delete()
    return gone


def _open_change(caller: str) -> change_feed.Writing:
    """The action's open `feed.change(...)`, which `caller` writes in (RuntimeError
    outside one: a notification is never written apart from its action)."""
    writing = change_feed._OPEN.get()
    if writing is None:
        raise RuntimeError(f"{caller}() runs inside the action's feed.change(...) block")
    return writing


async def _line_for(recipient_id: int, kind: str, subject: str, now: datetime) -> Notification:
    """The line a new actor joins: today's line of a grouped kind (moved up, unread
    again), else a new line (the other kinds have one actor per subject: a comment, a
    reply, the post or comment that mentions)."""
    day = now.date()  # `now` is UTC: the grouping day is the UTC day
    if kind in GROUPED:
        line = await Notification.get_or_none(
            user_id=recipient_id, kind=kind, subject=subject, day=day
        )
        if line is not None:
            await Notification.filter(id=line.id).update(
                actor_count=F("actor_count") + 1, updated_at=now, read=False
            )
            return line
    return await Notification.create(
        user_id=recipient_id,
        kind=kind,
        subject=subject,
        day=day,
        created_at=now,
        updated_at=now,
    )


async def mark_read(user_id: int, up_to: int | None = None) -> int:
    """Mark the user's notifications with id <= `up_to` (all when None) read, as one
    change (`notifications-read`); returns how many changed (no event when none did)."""
    async with change_feed.change("notifications-read", topic_of(user_id), actor=user_id) as w:
        query = Notification.filter(user_id=user_id, read=False)
        if up_to is not None:
            query = query.filter(id__lte=up_to)
        changed = await query.update(read=True)
        if not changed:
            w.cancel()
    return changed


# -- reading -------------------------------------------------------------------------------


def subject_path(subject: str, owner: User) -> str:
    """The path a line about `subject` links to: the owner's followers list (for
    `user:<owner id>`, under the name they have today), a post, or a comment's permalink
    (which leads to its place on its post's page, `#comment-<id>`)."""
    kind, _, ident = subject.partition(":")
    if subject == owner.topic:
        return url_for("social.followers", username=owner.username)
    if kind == "post" and ident.isdigit():
        return url_for("posts.post", id=int(ident))
    if kind == "comment" and ident.isdigit():
        return url_for("posts.comment", id=int(ident))
    return url_for("notifications.index")


async def with_actors(lines: list[Notification], owner: User) -> list[Notification]:
    """Set `recent_actors` on each of `owner`'s lines — its ACTORS_SHOWN most recent
    actors, newest first, in one query whatever the number of lines — and `path`, the
    path it links to (`subject_path`)."""
    by_id = {line.id: line for line in lines}
    for line in lines:
        line.recent_actors = []
        line.path = subject_path(line.subject, owner)
    if not by_id:
        return lines
    rows = (
        await NotificationActor.filter(notification_id__in=list(by_id))
        .annotate(newer=RawSQL(NEWER_ACTORS_SQL))
        .filter(newer__lt=ACTORS_SHOWN)
        .select_related("actor")
        .order_by("-id")
    )
    for row in rows:
        by_id[row.notification_id].recent_actors.append(row.actor)
    return lines


@functools.cache
def unread_counts() -> change_feed.FeedCache[int, int]:
    """This process's unread counts by user id, each until `notifications:<id>` moves
    (made on first use: the models load while flasky.feed may still be loading)."""
    return change_feed.FeedCache(limit=20_000)


def cached_unread_count(user_id: int) -> int | None:
    """The user's unread count if this process has it fresh, else None (no query)."""
    return unread_counts().get(user_id)


async def unread_count(user_id: int) -> int:
    """How many of the user's notifications are unread: from this process's cache, or
    one query whose answer is cached unless the user's notifications moved meanwhile."""
    cache = unread_counts()
    found = cache.get(user_id)
    if found is None:
        stamp = change_feed.VERSIONS.stamp()
        found = await Notification.filter(user_id=user_id, read=False).count()
        cache.put(user_id, found, (topic_of(user_id),), stamp)
    return found
