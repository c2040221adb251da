"""The models, one module per concern, re-exported here: `flasky.models` is the module
Tortoise and aerich load (`db.MODELS`).

Every list query is written once, on its model, with what its page needs fetched up front
(authors by `select_related`, counts as correlated sub-selects), so a page runs a fixed
number of queries whatever its length. Templates get fully loaded objects.

| module | holds |
| --- | --- |
| `base` | `utcnow`, `iso`, `email_hash`, `normal_email`, the count SQL, `UniqueIndex` |
| `roles` | `Role`, `AnonymousUser` |
| `accounts` | `User` |
| `follows` | `Follow` |
| `content` | `Post`, `Comment`, `PostTag`, `PostMention` (from its HTML), `follow_rename` |
| `sessions` | `LoginSession`, `ThrottleEvent` |
| `outbox` | `Outbox` |
| `events` | `Event` (the change feed) |
| `idempotency` | `IdempotentRequest` (answers kept for `Idempotency-Key`) |
| `notifications` | `Notification`, `NotificationActor`, `notify`, `mark_read`, `unread_count` |
"""

from flasky.models.accounts import User
from flasky.models.base import (
    PING_INTERVAL,
    UniqueIndex,
    email_hash,
    iso,
    normal_email,
    read_timestamps_fast,
    utcnow,
)
from flasky.models.content import Comment, Post, PostMention, PostTag, follow_rename
from flasky.models.events import Event
from flasky.models.follows import Follow
from flasky.models.idempotency import IdempotentRequest
from flasky.models.notifications import (
    Notification,
    NotificationActor,
    cached_unread_count,
    mark_read,
    notify,
    unread_count,
    with_actors,
)
from flasky.models.outbox import Outbox
from flasky.models.roles import AnonymousUser, Role
from flasky.models.sessions import LoginSession, ThrottleEvent

read_timestamps_fast(
    User,
    Post,
    Comment,
    Event,
    Outbox,
    LoginSession,
    ThrottleEvent,
    IdempotentRequest,
    Notification,
    NotificationActor,
)

__all__ = [
    "PING_INTERVAL",
    "AnonymousUser",
    "Comment",
    "Event",
    "Follow",
    "IdempotentRequest",
    "LoginSession",
    "Notification",
    "NotificationActor",
    "Outbox",
    "Post",
    "PostMention",
    "PostTag",
    "Role",
    "ThrottleEvent",
    "UniqueIndex",
    "User",
    "cached_unread_count",
    "email_hash",
    "follow_rename",
    "iso",
    "mark_read",
    "normal_email",
    "notify",
    "unread_count",
    "utcnow",
    "with_actors",
]
