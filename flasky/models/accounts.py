"""Accounts: users with their passwords, tokens, presence, avatars, follows and counts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from quart import current_app
from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, RawSQL
from tortoise.functions import Lower
from tortoise.queryset import QuerySet

from flasky import feed as change_feed
from flasky import security
from flasky.models.base import (
    FOLLOWERS_COUNT_SQL,
    FOLLOWING_COUNT_SQL,
    PING_INTERVAL,
    POST_COUNT_SQL,
    Shown,
    UniqueIndex,
    email_hash,
    iso,
    normal_email,
    utcnow,
)
from flasky.models.follows import Follow
from flasky.models.notifications import notify
from flasky.models.roles import AnonymousUser, Role
from flasky.models.sessions import LoginSession
from flasky.permissions import Permission
from flasky.urls import url_for

if TYPE_CHECKING:
    from flasky.models.content import Comment, Post


IDENTICON_VERSION = 2


class User(Shown):
    TOPIC = "user"
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
    # Set by queries, not columns: the FK's id, and the counts of `with_counts`.
    role_id: int
    post_count: int
    followers_count_n: int
    following_count_n: int

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
        async with change_feed.change("user-created") as writing:
            connection = writing.connection
            await user.save(using_db=connection)
            await Follow.create(follower_id=user.id, followed_id=user.id, using_db=connection)
            writing.touch(user.topic)
            writing.actor_id = user.id
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
        cls, purpose: str, token: str, max_age: int = 3600, load: Any = None
    ) -> tuple[User, dict[str, Any]] | None:
        """The user a valid token of `purpose` names, with its payload; else None.
        `load(id)` fetches the user instead of a query (the viewer cache)."""
        data = security.read_token(purpose, token, max_age)
        if not data or not isinstance(data.get("id"), int):
            return None
        if load is not None:
            user = await load(data["id"])
        else:
            user = await cls.get_or_none(id=data["id"]).select_related("role")
        if user is None or data.get("pw") != user.password_fingerprint():
            return None
        return user, data

    def generate_confirmation_token(self) -> str:
        return self.generate_token("confirm", email=self.email)

    @classmethod
    async def confirm_token(cls, token: str, max_age: int = 3600) -> User | None:
        """Confirm the account a confirmation token names (no login needed); None when the
        token is invalid, expired, for an old address, or already used (works once)."""
        found = await cls.from_token("confirm", token, max_age)
        if found is None or found[1].get("email") != found[0].email:
            return None
        user = found[0]
        async with change_feed.change("user-updated", *user.session_topics(), actor=user.id) as w:
            if not await cls.filter(id=user.id, confirmed=False).update(confirmed=True):
                w.cancel()
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
        await found[0].change_password(new_password)
        return True

    async def change_password(self, new_password: str) -> None:
        """Hash and save a new password; every session of the account ends with the old
        one (in every process: the event reaches their session caches)."""
        await self.set_password(new_password)
        async with change_feed.change("password-changed", *self.session_topics(), actor=self.id):
            await self.save(update_fields=["password_hash"])
            await LoginSession.end_all(self.id)

    async def change_role(self, role: Role, actor: int | None = None) -> None:
        """Give the account `role`; its open sessions see the new permissions at their
        next request (the event reaches every process's viewer cache)."""
        self.role_id, self.role = role.id, role
        async with change_feed.change("user-updated", *self.session_topics(), actor=actor):
            await self.save(update_fields=["role_id"])

    def session_topics(self) -> tuple[str, str]:
        """What a change to this account's sign-in touches: the account and its sessions."""
        return self.topic, LoginSession.topic_of(self.id)

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
            async with change_feed.change(
                "user-updated", *self.session_topics(), actor=self.id
            ) as w:
                changed = await User.filter(id=self.id, email=old_email).update(
                    email=new_email,
                    avatar_hash=email_hash(new_email),
                    confirmed=True,  # the link was opened from the new address: confirmed
                )
                if not changed:
                    w.cancel()
        except IntegrityError:
            return False
        if not changed:
            return False
        self.email, self.avatar_hash, self.confirmed = new_email, email_hash(new_email), True
        return True

    def generate_auth_token(self) -> str:
        return self.generate_token("auth")

    @classmethod
    async def verify_auth_token(
        cls, token: str, max_age: int = 3600, load: Any = None
    ) -> User | None:
        found = await cls.from_token("auth", token, max_age, load)
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
        async with change_feed.change("user-seen", self.topic, actor=self.id):
            await User.filter(id=self.id).update(last_seen=now)
        return True

    # -- avatars ---------------------------------------------------------------------------

    def gravatar(self, size: int = 100, default: str = "identicon", rating: str = "g") -> str:
        url = "https://secure.gravatar.com/avatar"
        digest = self.avatar_hash or email_hash(self.email)
        return f"{url}/{digest}?s={size}&d={default}&r={rating}"

    def avatar_url(self, size: int = 100, external: bool = False) -> str:
        """Gravatar or our own identicon, as FLASKY_AVATARS says (absolute for JSON)."""
        if current_app.config.get("FLASKY_AVATARS") == "gravatar":
            return self.gravatar(size)
        # v: the identicon's drawing; a new one gets a new URL (they are cached for a year)
        return url_for(
            "social.avatar", avatar_hash=self.avatar_hash, v=IDENTICON_VERSION, _external=external
        )

    # -- follows -----------------------------------------------------------------------------

    async def follow(self, user: User) -> None:
        """Follow `user`, who is notified (once per follower, ever: SPEC §10); a second
        call (or a concurrent one) changes nothing."""
        async with change_feed.change("follow", self.topic, user.topic, actor=self.id) as writing:
            if await Follow.exists(follower_id=self.id, followed_id=user.id):
                writing.cancel()
                return
            await Follow.bulk_create(
                [Follow(follower_id=self.id, followed_id=user.id, timestamp=utcnow())],
                ignore_conflicts=True,
            )
            # the self-follow is made by `register`, never here; `notify` skips it anyway
            await notify(user.id, "follow", self.id, user.topic)

    async def unfollow(self, user: User) -> None:
        """Stop following `user` (never oneself)."""
        if user.id == self.id:
            return
        async with change_feed.change("unfollow", self.topic, user.topic, actor=self.id) as writing:
            if not await Follow.filter(follower_id=self.id, followed_id=user.id).delete():
                writing.cancel()

    async def relation(self, other: User) -> tuple[bool, bool]:
        """(self follows other, other follows self) in one query; both False for
        oneself (the self-follow is not a relation people see) or an unsaved user."""
        if other.id is None or other.id == self.id:
            return False, False
        followers = await Follow.between(self.id, other.id)
        return self.id in followers, other.id in followers

    async def followers_count(self) -> int:
        """Who follows this user, the self-follow left out (the count `with_counts` shows)."""
        counts = (
            await User.filter(id=self.id)
            .annotate(n=RawSQL(FOLLOWERS_COUNT_SQL))
            .values_list("n", flat=True)
        )
        return counts[0] if counts else 0

    async def follow_state(self, viewer: User | AnonymousUser) -> dict[str, Any]:
        """What a follow button shows: whether `viewer` follows self, and the count."""
        following = False
        if isinstance(viewer, User):
            following = (await viewer.relation(self))[0]
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
    async def named_like(cls, prefix: str, limit: int = 5) -> list[User]:
        """People whose username, name or a word of their name starts with `prefix`
        (any case), with counts: the people of a search. One query."""
        prefix = prefix.strip()
        if not prefix:
            return []
        found = Q(username__istartswith=prefix) | Q(name__istartswith=prefix)
        found |= Q(name__icontains=" " + prefix)
        return await cls.with_counts().filter(found).order_by("username").limit(limit)

    @classmethod
    async def profile(cls, username: str) -> User | None:
        """One user by name, with role and counts: a profile page's single query."""
        return await cls.with_counts().select_related("role").get_or_none(username=username)

    # -- JSON --------------------------------------------------------------------------------

    @classmethod
    async def json_of(cls, user_id: int) -> dict[str, Any]:
        """The user JSON of one user, counts included (one query)."""
        return (await cls.with_counts().get(id=user_id)).to_json()

    def to_json(self) -> dict[str, Any]:
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
            "avatar_url": self.avatar_url(external=True),
            "posts_url": url_for("social.user_posts", username=u, _external=True),
            "followed_posts_url": url_for("social.timeline", username=u, _external=True),
            "followers_url": url_for("social.followers", username=u, _external=True),
            "following_url": url_for("social.followed_by", username=u, _external=True),
            "post_count": getattr(self, "post_count", 0),
            "followers_count": getattr(self, "followers_count_n", 0),
            "following_count": getattr(self, "following_count_n", 0),
        }

    def author_json(self) -> dict[str, Any]:
        """The short author object embedded in posts and comments."""
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "url": url_for("social.user", username=self.username, _external=True),
            "avatar_url": self.avatar_url(external=True),
        }
