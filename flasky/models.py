"""Role, User, Follow, Post, Comment, Outbox, LoginFailure — and the queries on them.

Every list query is written once here, with what its page needs fetched up front
(authors by `select_related`, counts as correlated sub-selects), so a page runs a fixed
number of queries whatever its length. Templates get fully loaded objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import fields
from tortoise.expressions import Q, RawSQL, Subquery
from tortoise.functions import Count
from tortoise.indexes import Index
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from flasky import security
from flasky.permissions import ROLE_PERMISSIONS, Permission
from flasky.text import render_markdown

UrlFor = Callable[..., str]

PING_INTERVAL = timedelta(minutes=1)


def utcnow() -> datetime:
    """Now, timezone-aware UTC (Tortoise returns aware datetimes; never mix in naive ones)."""
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, to the second, as the JSON bodies show it."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def email_hash(email: str) -> str:
    """md5 of the normalised address: Gravatar's key and our identicon's seed."""
    return hashlib.md5(email.strip().lower().encode("utf-8")).hexdigest()


# Counts shown to people: the self-follow is left out.
POST_COUNT_SQL = '(SELECT COUNT(*) FROM "posts" p WHERE p."author_id" = "users"."id")'
FOLLOWERS_COUNT_SQL = (
    '(SELECT COUNT(*) FROM "follows" f WHERE f."followed_id" = "users"."id"'
    ' AND f."follower_id" <> "users"."id")'
)
FOLLOWING_COUNT_SQL = (
    '(SELECT COUNT(*) FROM "follows" f WHERE f."follower_id" = "users"."id"'
    ' AND f."followed_id" <> "users"."id")'
)
COMMENT_COUNT_SQL = '(SELECT COUNT(*) FROM "comments" c WHERE c."post_id" = "posts"."id")'


class Role(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    default = fields.BooleanField(default=False, db_index=True)
    permissions = fields.IntField(default=0)

    users: fields.ReverseRelation[User]

    class Meta:
        table = "roles"

    def __str__(self) -> str:
        return self.name

    @classmethod
    async def insert_roles(cls) -> None:
        """Create or update User, Moderator and Administrator; safe to run again."""
        for name, (perms, default) in ROLE_PERMISSIONS.items():
            role = await cls.get_or_none(name=name)
            if role is None:
                await cls.create(name=name, permissions=int(perms), default=default)
            elif role.permissions != int(perms) or role.default != default:
                role.permissions, role.default = int(perms), default
                await role.save(update_fields=["permissions", "default"])

    @classmethod
    async def default_role(cls) -> Role:
        """The role new accounts get."""
        return await cls.get(default=True)

    def has_permission(self, perm: int) -> bool:
        return self.permissions & perm == perm

    def add_permission(self, perm: int) -> None:
        if not self.has_permission(perm):
            self.permissions += perm

    def remove_permission(self, perm: int) -> None:
        if self.has_permission(perm):
            self.permissions -= perm

    def reset_permissions(self) -> None:
        self.permissions = 0


class AnonymousUser:
    """The viewer nobody is signed in as."""

    id = None
    username = ""
    confirmed = False
    is_authenticated = False
    is_anonymous = True

    def can(self, perm: int) -> bool:
        return False

    def is_administrator(self) -> bool:
        return False


class User(Model):
    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    username = fields.CharField(max_length=64, unique=True)
    role: fields.ForeignKeyRelation[Role] = fields.ForeignKeyField(
        "models.Role", related_name="users", on_delete=fields.RESTRICT
    )
    password_hash = fields.CharField(max_length=255, default="")
    confirmed = fields.BooleanField(default=False)
    name = fields.CharField(max_length=64, null=True)
    location = fields.CharField(max_length=64, null=True)
    about_me = fields.TextField(null=True)
    member_since = fields.DatetimeField(default=utcnow)
    last_seen = fields.DatetimeField(default=utcnow)
    avatar_hash = fields.CharField(max_length=32)

    posts: fields.ReverseRelation[Post]
    comments: fields.ReverseRelation[Comment]

    is_authenticated = True
    is_anonymous = False

    class Meta:
        table = "users"

    def __str__(self) -> str:
        return self.username

    # -- creation and passwords --------------------------------------------------------

    @classmethod
    async def new(
        cls, *, email: str, username: str, password: str, role: Role | None = None, **extra: Any
    ) -> User:
        """Build (unsaved) a user with its hash, avatar hash and role resolved."""
        if role is None:
            role = await Role.default_role()
        user = cls(email=email.strip().lower(), username=username, role=role, **extra)
        user.avatar_hash = email_hash(user.email)
        user.password_hash = await security.hash_password(password)
        return user

    @classmethod
    async def register(
        cls,
        *,
        email: str,
        username: str,
        password: str,
        admin_email: str = "",
        on_created: Callable[[User, Any], Awaitable[None]] | None = None,
        **extra: Any,
    ) -> User:
        """Create and save an account that follows itself, in one transaction; `on_created`
        (user, connection) runs inside it, so the mail it queues commits with the account."""
        role = None
        if admin_email and email.strip().lower() == admin_email.strip().lower():
            role = await Role.get(name="Administrator")
        user = await cls.new(email=email, username=username, password=password, role=role, **extra)
        async with in_transaction() as connection:
            await user.save(using_db=connection)
            await Follow.create(follower_id=user.id, followed_id=user.id, using_db=connection)
            if on_created is not None:
                await on_created(user, connection)
        return user

    @property
    def password(self) -> str:
        raise AttributeError("password is not a readable attribute")

    async def set_password(self, password: str) -> None:
        """Hash `password` off the event loop (the caller saves)."""
        self.password_hash = await security.hash_password(password)

    async def verify_password(self, password: str) -> bool:
        return await security.verify_password(self.password_hash, password)

    def password_fingerprint(self) -> str:
        return security.password_fingerprint(self.password_hash)

    # -- tokens: signed, purpose-bound, expiring, dead once the password changes --------

    def generate_token(self, purpose: str, **extra: Any) -> str:
        payload = {"id": self.id, "pw": self.password_fingerprint(), **extra}
        return security.make_token(purpose, payload)

    @classmethod
    async def from_token(
        cls, purpose: str, token: str, max_age: int = 3600
    ) -> tuple[User, dict[str, Any]] | None:
        """The user a valid token of `purpose` names, with its payload; else None."""
        data = security.read_token(purpose, token, max_age)
        if not data or not isinstance(data.get("id"), int):
            return None
        user = await cls.get_or_none(id=data["id"]).select_related("role")
        if user is None or data.get("pw") != user.password_fingerprint():
            return None
        return user, data

    def generate_confirmation_token(self) -> str:
        return self.generate_token("confirm", email=self.email)

    async def confirm(self, token: str, max_age: int = 3600) -> bool:
        """Mark this account confirmed if `token` is its confirmation token."""
        found = await User.from_token("confirm", token, max_age)
        if found is None or found[0].id != self.id or found[1].get("email") != self.email:
            return False
        if not self.confirmed:
            self.confirmed = True
            await self.save(update_fields=["confirmed"])
        return True

    @classmethod
    async def confirm_token(cls, token: str, max_age: int = 3600) -> User | None:
        """Confirm the account a confirmation token names (no login needed); None when the
        token is invalid, expired, for an old address, or already used (works once)."""
        found = await cls.from_token("confirm", token, max_age)
        if found is None or found[1].get("email") != found[0].email:
            return None
        user = found[0]
        if not await cls.filter(id=user.id, confirmed=False).update(confirmed=True):
            return None
        user.confirmed = True
        return user

    def generate_reset_token(self) -> str:
        return self.generate_token("reset")

    @classmethod
    async def reset_password(cls, token: str, new_password: str, max_age: int = 3600) -> bool:
        """Set a new password from a reset token; the token dies with the old hash."""
        found = await cls.from_token("reset", token, max_age)
        if found is None:
            return False
        user = found[0]
        await user.set_password(new_password)
        await user.save(update_fields=["password_hash"])
        return True

    def generate_email_change_token(self, new_email: str) -> str:
        return self.generate_token("change_email", old_email=self.email, new_email=new_email)

    async def change_email(self, token: str, max_age: int = 3600) -> bool:
        """Apply an address change from its token; refused if taken or already used."""
        found = await User.from_token("change_email", token, max_age)
        if found is None or found[0].id != self.id:
            return False
        data = found[1]
        new_email = str(data.get("new_email") or "").strip().lower()
        if not new_email or data.get("old_email") != self.email:
            return False
        if await User.filter(email=new_email).exists():
            return False
        self.email = new_email
        self.avatar_hash = email_hash(new_email)
        self.confirmed = True  # the link was opened from the new address: it is confirmed
        await self.save(update_fields=["email", "avatar_hash", "confirmed"])
        return True

    def generate_auth_token(self) -> str:
        return self.generate_token("auth")

    @classmethod
    async def verify_auth_token(cls, token: str, max_age: int = 3600) -> User | None:
        found = await cls.from_token("auth", token, max_age)
        return found[0] if found else None

    # -- roles and permissions -----------------------------------------------------------

    def can(self, perm: int) -> bool:
        """True when this user's role has every bit of `perm` (role must be fetched)."""
        role = self.role
        return role is not None and isinstance(role, Role) and role.has_permission(perm)

    def is_administrator(self) -> bool:
        return self.can(Permission.ADMIN)

    # -- presence --------------------------------------------------------------------------

    async def ping(self, now: datetime | None = None) -> bool:
        """Refresh `last_seen`, at most once a minute; True when it wrote."""
        now = now or utcnow()
        if self.last_seen is not None and now - self.last_seen < PING_INTERVAL:
            return False
        self.last_seen = now
        await User.filter(id=self.id).update(last_seen=now)
        return True

    # -- avatars ---------------------------------------------------------------------------

    def gravatar(self, size: int = 100, default: str = "identicon", rating: str = "g") -> str:
        url = "https://secure.gravatar.com/avatar"
        digest = self.avatar_hash or email_hash(self.email)
        return f"{url}/{digest}?s={size}&d={default}&r={rating}"

    def avatar_url(self, url_for: UrlFor, size: int = 100, style: str = "identicon") -> str:
        """Gravatar or our own identicon, as configured."""
        if style == "gravatar":
            return self.gravatar(size)
        return url_for("social.avatar", avatar_hash=self.avatar_hash, _external=True)

    # -- follows -----------------------------------------------------------------------------

    async def follow(self, user: User) -> None:
        """Follow `user`; a second call (or a concurrent one) changes nothing."""
        await Follow.bulk_create(
            [Follow(follower_id=self.id, followed_id=user.id, timestamp=utcnow())],
            ignore_conflicts=True,
        )

    async def unfollow(self, user: User) -> None:
        """Stop following `user` (never oneself)."""
        if user.id != self.id:
            await Follow.filter(follower_id=self.id, followed_id=user.id).delete()

    async def is_following(self, user: User) -> bool:
        if user.id is None:
            return False
        return await Follow.filter(follower_id=self.id, followed_id=user.id).exists()

    async def is_followed_by(self, user: User) -> bool:
        if user.id is None:
            return False
        return await Follow.filter(follower_id=user.id, followed_id=self.id).exists()

    async def followers_count(self) -> int:
        return await Follow.filter(followed_id=self.id).exclude(follower_id=self.id).count()

    async def following_count(self) -> int:
        return await Follow.filter(follower_id=self.id).exclude(followed_id=self.id).count()

    async def follow_state(self, viewer: User | AnonymousUser) -> dict[str, Any]:
        """What a follow button shows: whether `viewer` follows self, and the count."""
        following = bool(viewer.is_authenticated) and await viewer.is_following(self)  # type: ignore[union-attr]
        return {"following": following, "followers_count": await self.followers_count()}

    # -- queries -----------------------------------------------------------------------------

    @classmethod
    def with_counts(cls) -> QuerySet[User]:
        """Users with post_count, followers_count and following_count in the same query."""
        return cls.all().annotate(
            post_count=RawSQL(POST_COUNT_SQL),
            followers_count_n=RawSQL(FOLLOWERS_COUNT_SQL),
            following_count_n=RawSQL(FOLLOWING_COUNT_SQL),
        )

    @classmethod
    async def profile(cls, username: str) -> User | None:
        """One user by name, with role and counts: a profile page's single query."""
        return await cls.with_counts().select_related("role").get_or_none(username=username)

    # -- JSON --------------------------------------------------------------------------------

    def to_json(self, url_for: UrlFor, avatar_style: str = "identicon") -> dict[str, Any]:
        """The user JSON of SPEC §4 (needs `with_counts`); never email or hashes."""
        u = self.username
        return {
            "id": self.id,
            "url": url_for("social.user", username=u, _external=True),
            "username": u,
            "name": self.name,
            "location": self.location,
            "about_me": self.about_me,
            "member_since": iso(self.member_since),
            "last_seen": iso(self.last_seen),
            "avatar_url": self.avatar_url(url_for, style=avatar_style),
            "posts_url": url_for("social.user_posts", username=u, _external=True),
            "followed_posts_url": url_for("social.timeline", username=u, _external=True),
            "followers_url": url_for("social.followers", username=u, _external=True),
            "following_url": url_for("social.followed_by", username=u, _external=True),
            "post_count": getattr(self, "post_count", 0),
            "followers_count": getattr(self, "followers_count_n", 0),
            "following_count": getattr(self, "following_count_n", 0),
        }

    def author_json(self, url_for: UrlFor, avatar_style: str = "identicon") -> dict[str, Any]:
        """The short author object embedded in posts and comments."""
        return {
            "id": self.id,
            "username": self.username,
            "url": url_for("social.user", username=self.username, _external=True),
            "avatar_url": self.avatar_url(url_for, style=avatar_style),
        }


class Follow(Model):
    id = fields.IntField(primary_key=True)
    follower: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="following", on_delete=fields.CASCADE
    )
    followed: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="followers", on_delete=fields.CASCADE
    )
    timestamp = fields.DatetimeField(default=utcnow)

    class Meta:
        table = "follows"
        unique_together = (("follower", "followed"),)
        indexes = (
            Index(fields=("followed_id", "timestamp", "id"), name="ix_follows_followed_ts"),
            Index(fields=("follower_id", "timestamp", "id"), name="ix_follows_follower_ts"),
        )

    @classmethod
    def followers_of(cls, user: User) -> QuerySet[Follow]:
        """Who follows `user`, newest first, self-follow left out; `follower` fetched."""
        return (
            cls.filter(followed_id=user.id)
            .exclude(follower_id=user.id)
            .select_related("follower")
        )

    @classmethod
    def followed_by(cls, user: User) -> QuerySet[Follow]:
        """Whom `user` follows, newest first, self-follow left out; `followed` fetched."""
        return (
            cls.filter(follower_id=user.id)
            .exclude(followed_id=user.id)
            .select_related("followed")
        )


class Post(Model):
    id = fields.IntField(primary_key=True)
    body = fields.TextField()
    body_html = fields.TextField()
    timestamp = fields.DatetimeField(default=utcnow)
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="posts", on_delete=fields.CASCADE
    )

    comments: fields.ReverseRelation[Comment]

    class Meta:
        table = "posts"
        indexes = (
            Index(fields=("timestamp", "id"), name="ix_posts_ts"),
            Index(fields=("author_id", "timestamp", "id"), name="ix_posts_author_ts"),
        )

    def set_body(self, body: str) -> None:
        """Set the Markdown body and its sanitised HTML together."""
        self.body = body
        self.body_html = render_markdown(body, "post")

    @classmethod
    def listing(cls) -> QuerySet[Post]:
        """Posts with author and comment_count fetched in the same query."""
        return cls.all().select_related("author").annotate(comment_count=RawSQL(COMMENT_COUNT_SQL))

    @classmethod
    def feed(
        cls, viewer: User | AnonymousUser | None = None, followed: bool = False
    ) -> QuerySet[Post]:
        """The home feed: everyone's posts, or those of whom `viewer` follows."""
        if followed and viewer is not None and viewer.is_authenticated:
            return cls.timeline(viewer)  # type: ignore[arg-type]
        return cls.listing()

    @classmethod
    def timeline(cls, user: User) -> QuerySet[Post]:
        """Posts of the people `user` follows (themselves included)."""
        followed = Subquery(Follow.filter(follower_id=user.id).values("followed_id"))
        return cls.listing().filter(author_id__in=followed)

    @classmethod
    def by_author(cls, user: User) -> QuerySet[Post]:
        """`user`'s posts."""
        return cls.listing().filter(author_id=user.id)

    @classmethod
    async def with_details(cls, post_id: int) -> Post | None:
        """One post with author and comment_count: a permalink's single query."""
        return await cls.listing().get_or_none(id=post_id)

    @classmethod
    async def publish(cls, author: User, body: str) -> Post:
        """Save a new post by `author`, body_html rendered; ready for `to_json` and cards."""
        post = cls(author=author)
        post.set_body(body)
        await post.save()
        post.comment_count = 0  # type: ignore[attr-defined]
        return post

    async def change_body(self, body: str) -> None:
        """Replace the body (and its sanitised HTML) and save just those two columns."""
        self.set_body(body)
        await self.save(update_fields=["body", "body_html"])

    def to_json(self, url_for: UrlFor, avatar_style: str = "identicon") -> dict[str, Any]:
        """The post JSON of SPEC §4 (author fetched; comment_count from `listing`)."""
        author = self.author
        return {
            "id": self.id,
            "url": url_for("posts.post", id=self.id, _external=True),
            "body": self.body,
            "body_html": self.body_html,
            "timestamp": iso(self.timestamp),
            "author_url": url_for("social.user", username=author.username, _external=True),
            "author": author.author_json(url_for, avatar_style),
            "comments_url": url_for("posts.comments", id=self.id, _external=True),
            "comment_count": getattr(self, "comment_count", 0),
        }


class Comment(Model):
    id = fields.IntField(primary_key=True)
    body = fields.TextField()
    body_html = fields.TextField()
    timestamp = fields.DatetimeField(default=utcnow)
    disabled = fields.BooleanField(default=False)
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="comments", on_delete=fields.CASCADE
    )
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="comments", on_delete=fields.CASCADE
    )

    class Meta:
        table = "comments"
        indexes = (
            Index(fields=("post_id", "timestamp", "id"), name="ix_comments_post_ts"),
            Index(fields=("timestamp", "id"), name="ix_comments_ts"),
            Index(fields=("author_id",), name="ix_comments_author"),
        )

    def set_body(self, body: str) -> None:
        """Set the Markdown body and its sanitised HTML together."""
        self.body = body
        self.body_html = render_markdown(body, "comment")

    @classmethod
    def for_post(cls, post_id: int) -> QuerySet[Comment]:
        """A post's comments with authors (page them oldest first)."""
        return cls.filter(post_id=post_id).select_related("author")

    @classmethod
    async def publish(cls, author: User, post: Post, body: str) -> Comment:
        """Save a new comment by `author` on `post`, body_html rendered, author set."""
        comment = cls(author=author, post=post)
        comment.set_body(body)
        await comment.save()
        return comment

    @classmethod
    async def with_details(cls, comment_id: int) -> Comment | None:
        """One comment with its author: a single query."""
        return await cls.all().select_related("author").get_or_none(id=comment_id)

    async def position(self) -> int:
        """How many comments of the same post come before this one, oldest first."""
        return await Comment.filter(
            Q(timestamp__lt=self.timestamp) | Q(timestamp=self.timestamp, id__lt=self.id),
            post_id=self.post_id,  # type: ignore[attr-defined]
        ).count()

    @classmethod
    def moderation_queue(cls) -> QuerySet[Comment]:
        """Every comment with its author (page them newest first)."""
        return cls.all().select_related("author")

    @classmethod
    async def counts_for(cls, post_ids: list[int]) -> dict[int, int]:
        """Comment counts of many posts in one query."""
        rows = (
            await cls.filter(post_id__in=post_ids)
            .group_by("post_id")
            .annotate(n=Count("id"))
            .values_list("post_id", "n")
        )
        return {pid: n for pid, n in rows}

    def to_json(
        self, url_for: UrlFor, show_disabled: bool = False, avatar_style: str = "identicon"
    ) -> dict[str, Any]:
        """The comment JSON of SPEC §4; a disabled body is left out unless `show_disabled`."""
        author = self.author
        data: dict[str, Any] = {
            "id": self.id,
            "url": url_for("posts.comment", id=self.id, _external=True),
            "post_url": url_for("posts.post", id=self.post_id, _external=True),  # type: ignore[attr-defined]
            "body": self.body,
            "body_html": self.body_html,
            "timestamp": iso(self.timestamp),
            "author_url": url_for("social.user", username=author.username, _external=True),
            "author": author.author_json(url_for, avatar_style),
            "disabled": self.disabled,
        }
        if self.disabled and not show_disabled:
            del data["body"], data["body_html"]
        return data


class Outbox(Model):
    """An email waiting to be sent, being sent, sent, or given up on."""

    id = fields.IntField(primary_key=True)
    recipient = fields.CharField(max_length=254)
    subject = fields.CharField(max_length=255)
    text_body = fields.TextField()
    html_body = fields.TextField()
    status = fields.CharField(max_length=16, default="pending")  # pending|sending|sent|failed
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField(default=utcnow)
    next_attempt_at = fields.DatetimeField(default=utcnow)
    claimed_until = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)
    # Error reports: one mail per distinct key per hour.
    dedupe_key = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "outbox"
        indexes = (
            Index(fields=("status", "next_attempt_at"), name="ix_outbox_due"),
            Index(fields=("dedupe_key", "created_at"), name="ix_outbox_dedupe"),
        )


class LoginFailure(Model):
    """One failed login, counted against a key ('account:…' or 'address:…')."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=300)
    timestamp = fields.DatetimeField(default=utcnow)

    class Meta:
        table = "login_failures"
        indexes = (Index(fields=("key", "timestamp"), name="ix_login_failures_key_ts"),)

    @classmethod
    async def record(cls, keys: list[str]) -> None:
        now = utcnow()
        await cls.bulk_create([cls(key=k, timestamp=now) for k in keys])

    @classmethod
    async def oldest_over_limit(
        cls, keys: list[str], since: datetime, limit: int
    ) -> datetime | None:
        """For the first key with `limit` or more failures since `since`, the moment the
        window frees a slot (the oldest failure that still counts); else None."""
        rows = await (
            cls.filter(key__in=keys, timestamp__gte=since)
            .order_by("-timestamp")
            .values_list("key", "timestamp")
        )
        by_key: dict[str, list[datetime]] = {}
        for key, moment in rows:
            by_key.setdefault(key, []).append(moment)
        worst: datetime | None = None
        for moments in by_key.values():
            if len(moments) >= limit:
                # the limit-th newest failure must leave the window before another try
                candidate = moments[limit - 1]
                worst = candidate if worst is None or candidate > worst else worst
        return worst

    @classmethod
    async def purge(cls, before: datetime) -> int:
        return await cls.filter(timestamp__lt=before).delete()
