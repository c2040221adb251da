"""Role, User, Follow, Post, Comment, Outbox, ThrottleEvent, LoginSession — and the
queries on them.

Every list query is written once here, with what its page needs fetched up front
(authors by `select_related`, counts as correlated sub-selects), so a page runs a fixed
number of queries whatever its length. Templates get fully loaded objects.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, RawSQL, Subquery
from tortoise.functions import Count, Lower
from tortoise.indexes import Index
from tortoise.models import Model
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from flasky import security
from flasky.permissions import ROLE_PERMISSIONS, Permission
from flasky.text import render, render_markdown

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


class UniqueIndex(Index):
    """A unique index on columns or expressions (`unique=True` cannot say "unique
    regardless of case")."""

    def get_sql(self, schema_generator: Any, model: type[Model], safe: bool) -> str:
        self.resolve_expressions(model)
        sql = schema_generator._get_index_sql(
            model, self.field_names, safe, index_name=self.name, extra=self.extra
        )
        return sql.replace("CREATE INDEX", "CREATE UNIQUE INDEX", 1)


def normal_email(email: str) -> str:
    """An address as we store and compare it."""
    return email.strip().lower()


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
        # Usernames are unique regardless of case: "Alice" and "alice" are one name.
        indexes = (UniqueIndex(Lower("username"), name="ux_users_username_lower"),)

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
        user = cls(email=normal_email(email), username=username, role=role, **extra)
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
        if admin_email and normal_email(email) == normal_email(admin_email):
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
        new_email = normal_email(str(data.get("new_email") or ""))
        old_email = data.get("old_email")
        if not new_email or old_email != self.email:
            return False
        # One conditional write: of two links opened together, only the first finds the
        # old address still in place; an address taken meanwhile is refused by the index.
        try:
            changed = await User.filter(id=self.id, email=old_email).update(
                email=new_email,
                avatar_hash=email_hash(new_email),
                confirmed=True,  # the link was opened from the new address: it is confirmed
            )
        except IntegrityError:
            return False
        if not changed:
            return False
        self.email, self.avatar_hash, self.confirmed = new_email, email_hash(new_email), True
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

    def avatar_url(
        self, url_for: UrlFor, size: int = 100, style: str = "identicon", external: bool = False
    ) -> str:
        """Gravatar or our own identicon, as configured (absolute for JSON)."""
        if style == "gravatar":
            return self.gravatar(size)
        return url_for("social.avatar", avatar_hash=self.avatar_hash, _external=external)

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
    async def by_email(cls, email: str) -> User | None:
        """The account of an address (compared as stored: trimmed, lower case), role fetched."""
        return await cls.get_or_none(email=normal_email(email)).select_related("role")

    @classmethod
    async def identity_taken(
        cls, email: str | None, username: str | None, exclude_id: int | None = None
    ) -> tuple[bool, bool]:
        """(address taken, username taken, regardless of case) by someone other than
        `exclude_id`: the one rule registration and the admin edit both ask."""
        query = Q()
        if email:
            query |= Q(email=normal_email(email))
        if username:
            query |= Q(username__iexact=username)
        if not email and not username:
            return False, False
        rows = await cls.filter(query).exclude(id=exclude_id or 0).values_list("email", "username")
        email_taken = bool(email) and any(e == normal_email(email) for e, _ in rows)
        name_taken = bool(username) and any(u.lower() == username.lower() for _, u in rows)
        return email_taken, name_taken

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
            "avatar_url": self.avatar_url(url_for, style=avatar_style, external=True),
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
            "avatar_url": self.avatar_url(url_for, style=avatar_style, external=True),
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
            cls.filter(followed_id=user.id).exclude(follower_id=user.id).select_related("follower")
        )

    @classmethod
    def followed_by(cls, user: User) -> QuerySet[Follow]:
        """Whom `user` follows, newest first, self-follow left out; `followed` fetched."""
        return (
            cls.filter(follower_id=user.id).exclude(followed_id=user.id).select_related("followed")
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
        """Set the Markdown body and its sanitised HTML together (here, for bulk paths)."""
        self.body = body
        self.body_html = render_markdown(body, "post")

    async def render_body(self, body: str) -> None:
        """Set the body and its HTML, rendered off the event loop (TooComplex → 400)."""
        self.body_html = await render(body, "post")
        self.body = body

    def editable_by(self, viewer: User | AnonymousUser) -> bool:
        """The one rule for who may edit or delete a post: its author or an administrator."""
        return bool(viewer.is_authenticated) and (
            viewer.id == self.author_id or viewer.can(Permission.ADMIN)  # type: ignore[attr-defined]
        )

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
        await post.render_body(body)
        await post.save()
        post.comment_count = 0  # type: ignore[attr-defined]
        return post

    async def change_body(self, body: str) -> None:
        """Replace the body (and its sanitised HTML) and save just those two columns."""
        await self.render_body(body)
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
        """Set the Markdown body and its sanitised HTML together (here, for bulk paths)."""
        self.body = body
        self.body_html = render_markdown(body, "comment")

    async def render_body(self, body: str) -> None:
        """Set the body and its HTML, rendered off the event loop (TooComplex → 400)."""
        self.body_html = await render(body, "comment")
        self.body = body

    @classmethod
    def for_post(cls, post_id: int) -> QuerySet[Comment]:
        """A post's comments with authors (page them oldest first)."""
        return cls.filter(post_id=post_id).select_related("author")

    @classmethod
    async def publish(cls, author: User, post: Post, body: str) -> Comment:
        """Save a new comment by `author` on `post`, body_html rendered, author set."""
        comment = cls(author=author, post=post)
        await comment.render_body(body)
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


class ThrottleEvent(Model):
    """One counted event of a throttle (a failed login, a mail, a registration, a write).

    Keys such as 'login:account:…', 'mail:reset:to:…' or 'write:posts:<user id>'."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=300)
    timestamp = fields.DatetimeField(default=utcnow)

    class Meta:
        table = "throttle_events"
        indexes = (Index(fields=("key", "timestamp"), name="ix_throttle_events_key_ts"),)

    @classmethod
    async def record(cls, keys: list[str], using_db: Any = None) -> None:
        """Count one event under each of `keys`."""
        now = utcnow()
        await cls.bulk_create([cls(key=k, timestamp=now) for k in keys], using_db=using_db)

    @classmethod
    async def oldest_over_limit(
        cls, limits: dict[str, int], since: datetime, using_db: Any = None
    ) -> datetime | None:
        """For the keys with at least their limit of events since `since` (one query), the
        latest moment at which the window frees a slot for all of them; else None."""
        rows = await (
            cls.filter(key__in=list(limits), timestamp__gte=since)
            .using_db(using_db)
            .order_by("-timestamp")
            .values_list("key", "timestamp")
        )
        by_key: dict[str, list[datetime]] = {}
        for key, moment in rows:
            by_key.setdefault(key, []).append(moment)
        worst: datetime | None = None
        for key, moments in by_key.items():
            limit = limits[key]
            if len(moments) >= limit:
                # the limit-th newest event must leave the window before another try
                candidate = moments[limit - 1]
                worst = candidate if worst is None or candidate > worst else worst
        return worst

    @classmethod
    async def forget(cls, keys: list[str]) -> None:
        """Drop the events of `keys` (a successful login forgives the account's failures)."""
        await cls.filter(key__in=keys).delete()

    @classmethod
    async def purge(cls, before: datetime) -> int:
        """Drop events older than every window."""
        return await cls.filter(timestamp__lt=before).delete()


class LoginSession(Model):
    """A signed-in browser: its cookie names this row by a random token.

    The row keeps the token's SHA-256 (a copy of the table opens no session); ending a
    session is deleting its row."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="sessions", on_delete=fields.CASCADE
    )
    created = fields.DatetimeField(default=utcnow)
    last_used = fields.DatetimeField(default=utcnow)
    address = fields.CharField(max_length=64, null=True)
    user_agent = fields.CharField(max_length=255, null=True)

    class Meta:
        table = "sessions"
        indexes = (Index(fields=("user_id", "last_used"), name="ix_sessions_user_used"),)

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()

    @classmethod
    async def start(cls, user: User, address: str | None, user_agent: str | None) -> str:
        """A new session of `user`; returns the token its cookie carries."""
        token = secrets.token_urlsafe(32)
        await cls.create(
            token_hash=cls.hash_token(token),
            user_id=user.id,
            address=(address or "")[:64] or None,
            user_agent=(user_agent or "")[:255] or None,
        )
        return token

    @classmethod
    async def find(cls, token: str) -> LoginSession | None:
        """The session a cookie names, with its user and role: one indexed query."""
        if not token or len(token) > 128:
            return None
        return (
            await cls.filter(token_hash=cls.hash_token(token)).select_related("user__role").first()
        )

    async def touch(self, now: datetime) -> bool:
        """Record a use, at most once a minute; True when it wrote."""
        if self.last_used is not None and now - self.last_used < PING_INTERVAL:
            return False
        self.last_used = now
        await LoginSession.filter(id=self.id).update(last_used=now)
        return True

    @classmethod
    async def end(cls, token: str) -> None:
        """End the session a cookie names (logout)."""
        await cls.filter(token_hash=cls.hash_token(token)).delete()

    @classmethod
    async def end_all(cls, user_id: int, using_db: Any = None) -> int:
        """End every session of a user (a new password, a reset, later a suspension)."""
        return await cls.filter(user_id=user_id).using_db(using_db).delete()

    @classmethod
    async def purge(cls, idle_before: datetime) -> int:
        """Drop sessions unused since `idle_before`."""
        return await cls.filter(last_used__lt=idle_before).delete()
