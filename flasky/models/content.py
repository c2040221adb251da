"""Posts and comments: their bodies (rendered by text.py on every path), the lists
they appear in, and their JSON."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tortoise import fields
from tortoise.expressions import Q, RawSQL, Subquery
from tortoise.indexes import Index
from tortoise.models import Model
from tortoise.queryset import QuerySet

from flasky import feed as change_feed
from flasky import search
from flasky.db import Sql
from flasky.models.accounts import User
from flasky.models.base import COMMENT_COUNT_SQL, Shown, iso, utcnow
from flasky.models.follows import Follow
from flasky.models.notifications import forget, notify
from flasky.models.roles import AnonymousUser
from flasky.permissions import Permission
from flasky.prepared import Bound, Prepared
from flasky.text import keep_mentions, mention_names, mentions_in, normal_tag, render, tags_in
from flasky.urls import url_for

# A comment's notification subject (`Comment.topic`), written in SQL.
COMMENT_SUBJECT_SQL = """('comment:' || CAST("comments"."id" AS VARCHAR(20)))"""


class Post(Shown):
    TOPIC = "post"
    id = fields.IntField(primary_key=True)
    body = fields.TextField()
    body_html = fields.TextField()
    timestamp = fields.DatetimeField(default=utcnow)
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="posts", on_delete=fields.CASCADE
    )

    comments: fields.ReverseRelation[Comment]
    author_id: int
    comment_count: int  # annotated by `listing`

    class Meta:
        table = "posts"
        indexes = (
            Index(fields=("timestamp", "id"), name="ix_posts_ts"),
            Index(fields=("author_id", "timestamp", "id"), name="ix_posts_author_ts"),
        )

    async def render_body(self, body: str) -> None:
        """Set the body and its HTML, rendered off the event loop (TooComplex → 400);
        `@name`s of existing users link their profiles (`mentioned`: their ids)."""
        self.body_html, self.mentioned = await settled(await render(body, "post"))
        self.body = body

    @property
    def tags(self) -> list[str]:
        """The post's tags, read from its HTML (the links rendering made)."""
        return tags_in(self.body_html)

    async def _indexed(self, writing: change_feed.Writing, before: list[str] | None = None) -> None:
        """Inside the write's transaction: the search index, tags and mentions follow
        the body (the tag lists it joins or leaves move: topics `tag:<tag>`); newly
        mentioned users are told by the author (`notify`: once a post, ever)."""
        fresh = before is None  # a new post: nothing of it in the index yet
        await search.index(writing.connection, [(self.id, self.body_html)], fresh=fresh)
        writing.touch(*(f"tag:{t}" for t in {*self.tags, *(before or ())}))
        for user_id in getattr(self, "mentioned", ()):
            await notify(user_id, "mention", self.author_id, self.topic)

    def editable_by(self, viewer: User | AnonymousUser) -> bool:
        """The one rule for who may edit or delete a post: its author or an administrator."""
        return bool(viewer.is_authenticated) and (
            viewer.id == self.author_id or viewer.can(Permission.ADMIN)
        )

    @classmethod
    def listing(cls) -> QuerySet[Post]:
        """Posts with author and comment_count fetched in the same query."""
        return cls.all().select_related("author").annotate(comment_count=RawSQL(COMMENT_COUNT_SQL))

    @classmethod
    def feed(
        cls, viewer: User | AnonymousUser | None = None, followed: bool = False
    ) -> Bound[Post]:
        """The home feed: everyone's posts, or those of whom `viewer` follows."""
        if followed and isinstance(viewer, User):
            return cls.followed_by(viewer)
        return EVERYONES_POSTS()

    @classmethod
    def followed_by(cls, user: User) -> Bound[Post]:
        """The timeline of `user`, prepared for keyset pages."""
        return FOLLOWED_POSTS(user=user.id)

    @classmethod
    def written_by(cls, user: User) -> Bound[Post]:
        """`user`'s posts, prepared for keyset pages."""
        return AUTHOR_POSTS(user=user.id)

    @classmethod
    def timeline(cls, user: User | int) -> QuerySet[Post]:
        """Posts of the people `user` follows (themselves included)."""
        user_id = user if isinstance(user, int) else user.id
        followed = Subquery(Follow.filter(follower_id=user_id).values("followed_id"))
        return cls.listing().filter(author_id__in=followed)

    @classmethod
    def by_author(cls, user: User | int) -> QuerySet[Post]:
        """`user`'s posts."""
        return cls.listing().filter(author_id=user if isinstance(user, int) else user.id)

    @classmethod
    async def recent_author_ids(cls, posts: int = 300) -> list[int]:
        """Who wrote the latest `posts` posts, most recent first, each once (one query
        walking the timestamp index)."""
        rows = (
            await cls.all()
            .order_by("-timestamp", "-id")
            .limit(posts)
            .values_list("author_id", flat=True)
        )
        return list(dict.fromkeys(rows))

    @classmethod
    async def with_details(cls, post_id: int) -> Post | None:
        """One post with author and comment_count: a permalink's single query."""
        return await cls.listing().get_or_none(id=post_id)

    @classmethod
    async def publish(cls, author: User, body: str) -> Post:
        """Save a new post by `author`, body_html rendered; ready for `to_json` and cards."""
        post = cls(author=author)
        await post.render_body(body)
        async with change_feed.change(
            "post-created", "posts", author.topic, actor=author.id
        ) as writing:
            await post.save()
            writing.touch(post.topic)
            await post._indexed(writing)
        post.comment_count = 0
        return post

    async def change_body(self, body: str, actor: int | None = None) -> None:
        """Replace the body (and its sanitised HTML) and save just those two columns."""
        before = self.tags
        await self.render_body(body)
        async with change_feed.change("post-updated", self.topic, actor=actor) as writing:
            await self.save(update_fields=["body", "body_html"])
            await self._indexed(writing, before)

    async def remove(self, actor: int | None = None) -> None:
        """Delete the post with its comments, and the notifications about them (a
        comment or a mention whose link would lead nowhere)."""
        topics = ("posts", self.topic, f"user:{self.author_id}")
        comments = Comment.filter(post_id=self.id).annotate(subject=RawSQL(COMMENT_SUBJECT_SQL))
        async with change_feed.change("post-deleted", *topics, actor=actor):
            await forget(Q(subject=self.topic), Q(subject__in=Subquery(comments.values("subject"))))
            await self.delete()

    def title(self, length: int = 80) -> str:
        """The first line of the Markdown as plain words, shortened: what names the post
        where there is no room for it (the moderation queue, an Atom entry)."""
        lines = (_plain_line(line) for line in self.body.splitlines())
        first = next((line for line in lines if line), "")
        return first if len(first) <= length else first[: length - 1].rstrip() + "…"

    @classmethod
    async def latest(
        cls, author: User | None = None, limit: int = 20, tag: str | None = None
    ) -> list[Post]:
        """The newest `limit` posts (of `author`, or carrying `tag`), authors fetched: one
        query."""
        query = cls.all() if author is None else cls.filter(author_id=author.id)
        if tag is not None:
            query = query.filter(id__in=_carrying(tag))
        return await query.select_related("author").order_by("-timestamp", "-id").limit(limit)

    def to_json(self) -> dict[str, Any]:
        """The post JSON of SPEC §4 (author fetched; comment_count from `listing`)."""
        author = self.author
        return {
            "id": self.id,
            "url": url_for("posts.post", id=self.id, _external=True),
            "body": self.body,
            "body_html": self.body_html,
            "timestamp": iso(self.timestamp),
            "author_url": url_for("social.user", username=author.username, _external=True),
            "author": author.author_json(),
            "comments_url": url_for("posts.comments", id=self.id, _external=True),
            "comment_count": getattr(self, "comment_count", 0),
            "tags": self.tags,
        }

    @classmethod
    def tagged(cls, tag: str) -> Bound[Post]:
        """The posts carrying `tag` (any case), prepared for keyset pages."""
        return TAGGED_POSTS(tag=normal_tag(tag))


class Comment(Shown):
    TOPIC = "comment"
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

    author_id: int
    post_id: int

    async def render_body(self, body: str) -> None:
        """Set the body and its HTML, rendered off the event loop (TooComplex → 400);
        `@name`s of existing users link their profiles (`mentioned`: their ids)."""
        self.body_html, self.mentioned = await settled(await render(body, "comment"))
        self.body = body

    @classmethod
    def for_post(cls, post_id: int) -> QuerySet[Comment]:
        """A post's comments with authors (page them oldest first)."""
        return cls.filter(post_id=post_id).select_related("author")

    @classmethod
    def on_post_until(cls, post_id: int, until: datetime) -> Bound[Comment]:
        """A post's comments written up to `until`, prepared for keyset pages."""
        return POST_COMMENTS(post=post_id, until=until)

    @classmethod
    async def publish(cls, author: User, post: Post, body: str) -> Comment:
        """Save a new comment by `author` on `post`, body_html rendered, author set; the
        post's author is notified (`notify` skips their own comments), and the users it
        mentions (but the post's author, told already)."""
        comment = cls(author=author, post=post)
        await comment.render_body(body)
        async with change_feed.change("comment-created", post.topic, actor=author.id) as writing:
            await comment.save()
            writing.touch(comment.topic)
            await notify(post.author_id, "comment", author.id, comment.topic)
            for user_id in comment.mentioned:  # the post's author has the comment's line
                if user_id != post.author_id:
                    await notify(user_id, "mention", author.id, comment.topic)
        return comment

    async def set_disabled(self, disabled: bool, actor: int | None = None) -> None:
        """Hide (or show again) the comment's body from everyone but moderators."""
        if self.disabled == disabled:
            return
        self.disabled = disabled
        async with change_feed.change(
            "comment-updated", self.topic, f"post:{self.post_id}", actor=actor
        ):
            await self.save(update_fields=["disabled"])

    @classmethod
    async def with_details(cls, comment_id: int) -> Comment | None:
        """One comment with its author: a single query."""
        return await cls.all().select_related("author").get_or_none(id=comment_id)

    async def position(self) -> int:
        """How many comments of the same post come before this one, oldest first."""
        return await Comment.filter(
            Q(timestamp__lt=self.timestamp) | Q(timestamp=self.timestamp, id__lt=self.id),
            post_id=self.post_id,
        ).count()

    @classmethod
    def moderation_queue(cls, disabled: bool | None = None) -> QuerySet[Comment]:
        """Every comment (or only the disabled or enabled ones) with its author and its
        post (page them newest first)."""
        query = cls.all() if disabled is None else cls.filter(disabled=disabled)
        return query.select_related("author", "post")

    def post_title(self, length: int = 80) -> str:
        """The title of the post this comment is on: what the queue shows to say which
        post a comment is on (needs `post` fetched)."""
        return self.post.title(length)

    def to_json(self, show_disabled: bool = False) -> dict[str, Any]:
        """The comment JSON of SPEC §4; a disabled body is left out unless `show_disabled`."""
        author = self.author
        data: dict[str, Any] = {
            "id": self.id,
            "url": url_for("posts.comment", id=self.id, _external=True),
            "post_url": url_for("posts.post", id=self.post_id, _external=True),
            "body": self.body,
            "body_html": self.body_html,
            "timestamp": iso(self.timestamp),
            "author_url": url_for("social.user", username=author.username, _external=True),
            "author": author.author_json(),
            "disabled": self.disabled,
        }
        if self.disabled and not show_disabled:
            del data["body"], data["body_html"]
        return data


class PostTag(Model):
    """A tag a post carries (`#word` in its body, normalised by `text.normal_tag`);
    written by `search.index` from the rendered HTML."""

    id = fields.IntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="tag_rows", on_delete=fields.CASCADE
    )
    tag = fields.CharField(max_length=256)

    class Meta:
        table = "post_tags"
        unique_together = (("post", "tag"),)
        indexes = (Index(fields=("tag", "post_id"), name="ix_post_tags_tag"),)


class PostMention(Model):
    """A user a post mentions (`@username` of an existing user): the `@user` search
    filter; written by `search.index` from the rendered HTML."""

    id = fields.IntField(primary_key=True)
    post: fields.ForeignKeyRelation[Post] = fields.ForeignKeyField(
        "models.Post", related_name="mention_rows", on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="mentioned_in", on_delete=fields.CASCADE
    )

    class Meta:
        table = "post_mentions"
        unique_together = (("post", "user"),)
        indexes = (Index(fields=("user_id", "post_id"), name="ix_post_mentions_user"),)


def _carrying(tag: str) -> Subquery:
    """The ids of the posts carrying `tag` (normalised)."""
    return Subquery(PostTag.filter(tag=tag).values("post_id"))


async def follow_rename(writing: change_feed.Writing, user_id: int, old: str, new: str) -> int:
    """A renamed user's mentions follow them: every stored post and comment body that links
    `@old` to their profile links the profile under its new name instead (the words stay
    as written), in the rename's own change, whose event tells the pages showing them.
    One UPDATE a table (`REPLACE`, ids returned for the topics): posts through
    `post_mentions`, comments by their HTML (a scan: comments keep no mention rows).
    How many bodies changed."""
    if old == new:
        return 0
    conn, dialect = writing.connection, writing.connection.capabilities.dialect
    before = f'<a href="/user/{old}" class="mention">'
    after = f'<a href="/user/{new}" class="mention">'
    pattern = f"%{before}%"  # `_` in a name matches any character: REPLACE is exact
    # execute_query_dict: Tortoise's execute_query drops RETURNING rows on PostgreSQL
    sql = Sql(dialect)
    posts = await conn.execute_query_dict(
        f'UPDATE "posts" SET "body_html" = REPLACE("body_html", {sql(before)}, {sql(after)})'
        f' WHERE "body_html" LIKE {sql(pattern)} AND "id" IN (SELECT "post_id"'
        f' FROM "post_mentions" WHERE "user_id" = {sql(user_id)}) RETURNING "id"',
        sql.params,
    )
    sql = Sql(dialect)
    comments = await conn.execute_query_dict(
        f'UPDATE "comments" SET "body_html" = REPLACE("body_html", {sql(before)}, {sql(after)})'
        f' WHERE "body_html" LIKE {sql(pattern)} RETURNING "id", "post_id"',
        sql.params,
    )
    writing.touch(*(f"post:{row['id']}" for row in posts))
    for row in comments:
        writing.touch(f"comment:{row['id']}", f"post:{row['post_id']}")
    return len(posts) + len(comments)


async def settled(body_html: str) -> tuple[str, list[int]]:
    """A freshly rendered body with its mentions settled: links for existing users
    (to their profile as registered), plain text for the rest; and those users' ids.
    One query, and only when the body has an `@name` at all."""
    names = mentions_in(body_html)
    if not names:
        return body_html, []
    users = await search.users_named(mention_names(names))
    html = keep_mentions(body_html, {low: name for low, (_, name) in users.items()})
    return html, [users[name.lower()][0] for name in mentions_in(html)]


async def settled_many(bodies: list[str], conn: Any = None) -> list[str]:
    """`settled` for many rendered bodies at once (bulk writes): one query in all."""
    named = {name for html in bodies for name in mentions_in(html)}
    if not named:
        return bodies
    users = await search.users_named(mention_names(named), conn)
    names = {low: name for low, (_, name) in users.items()}
    return [keep_mentions(html, names) for html in bodies]


_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")  # [text](url), ![alt](src) → text


# Block markers at a line's start: a heading's #s (with their space: `#tag` is a tag),
# quotes, list bullets and numbers.
_BLOCK_MARKS = re.compile(r"^(?:#{1,6}[ \t]+|>[ \t]*|[*+-][ \t]+|\d{1,9}[.)][ \t]+)+")
# Emphasis and code marks at the edge of a word (`snake_case` and `@ada_l` keep theirs).
_EMPHASIS = re.compile(r"(?<!\w)[*_`~]+|[*_`~]+(?!\w)")


def _plain_line(line: str) -> str:
    """A line of Markdown as words: block markers, links and emphasis marks taken out."""
    words = _LINK.sub(r"\1", _BLOCK_MARKS.sub("", line.strip()))
    return " ".join(_EMPHASIS.sub("", words).split())


# The lists every page shows, their SQL built once per shape (flasky/prepared.py).
EVERYONES_POSTS = Prepared(Post, lambda: Post.listing())
FOLLOWED_POSTS = Prepared(Post, lambda user: Post.timeline(user))
AUTHOR_POSTS = Prepared(Post, lambda user: Post.by_author(user))
TAGGED_POSTS = Prepared(Post, lambda tag: Post.listing().filter(id__in=_carrying(tag)))
POST_COMMENTS = Prepared(
    Comment, lambda post, until: Comment.for_post(post).filter(timestamp__lte=until)
)
