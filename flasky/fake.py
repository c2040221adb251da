"""`flasky fake`: realistic users, follows, posts and comments for development.

Inserted in batches with `bulk_create` (one transaction per batch, never one commit per
row), one password hash for every account, every body rendered like any other path.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from faker import Faker
from tortoise.models import Model

from flasky import search, security
from flasky.dataset import Counts
from flasky.feed import EVERYTHING, change
from flasky.models import Comment, Follow, Post, Role, User, email_hash, utcnow
from flasky.models.content import settled_many
from flasky.text import COMMENT_MAX, POST_MAX, render_markdown

FAKE_PASSWORD = "cat"  # the data set's too, so one password opens every test account
BATCH = 500


async def fake_data(
    users: int = 100, posts: int = 1000, comments: int = 2000, seed: int | None = None
) -> Counts:
    """Insert realistic fake users (confirmed, following themselves and some others),
    posts and comments, one transaction per batch."""
    fake = Faker()
    rng = random.Random(seed)
    if seed is not None:
        fake.seed_instance(seed)
    since_of = await _people(fake, rng, users)
    if not since_of:
        return Counts(0, 0, 0, 0)
    follows = _follows(rng, since_of)
    await _insert_batches(Follow, follows)
    written = await _posts(fake, rng, since_of, posts)
    comment_rows = _comments(fake, rng, list(since_of), written, comments)
    for row, html in zip(
        comment_rows, await settled_many([r.body_html for r in comment_rows]), strict=True
    ):
        row.body_html = html
    await _insert_batches(Comment, comment_rows)
    return Counts(len(since_of), len(follows), posts, len(comment_rows))


async def _people(fake: Faker, rng: random.Random, count: int) -> dict[int, datetime]:
    """Insert `count` users; their ids and member-since times."""
    now = utcnow()
    role = await Role.default_role()
    password_hash = await security.hash_password(FAKE_PASSWORD)
    taken_names = {n.lower() for n in await User.all().values_list("username", flat=True)}
    taken_emails = set(await User.all().values_list("email", flat=True))
    people: list[User] = []
    for _ in range(count):
        username = _username(fake, taken_names)
        email = f"{username.lower()}@{fake.free_email_domain()}"
        while email in taken_emails:
            email = f"{username.lower()}{rng.randint(1, 99999)}@{fake.free_email_domain()}"
        taken_emails.add(email)
        since = _between(rng, now - timedelta(days=365), now)
        people.append(
            User(
                email=email,
                username=username,
                role_id=role.id,
                password_hash=password_hash,
                confirmed=True,
                name=fake.name()[:64],
                location=fake.city()[:64],
                about_me=fake.sentence(),
                member_since=since,
                last_seen=_between(rng, since, now),
                avatar_hash=email_hash(email),
            )
        )
    created: list[tuple[int, datetime]] = []
    for batch in _chunks(people):
        async with change("bulk-insert", EVERYTHING) as writing:
            conn = writing.connection
            await User.bulk_create(batch, using_db=conn)
            emails = [u.email for u in batch]
            created += (
                await User.filter(email__in=emails).using_db(conn).values_list("id", "member_since")
            )
    return dict(created)


def _follows(rng: random.Random, since_of: dict[int, datetime]) -> list[Follow]:
    """Everyone follows themselves and up to 20 others."""
    ids = list(since_of)
    follows: list[Follow] = []
    for uid in ids:
        others = rng.sample(ids, min(len(ids), rng.randint(0, 20)))
        for other in {uid, *others}:
            follows.append(Follow(follower_id=uid, followed_id=other, timestamp=since_of[uid]))
    return follows


async def _posts(
    fake: Faker, rng: random.Random, since_of: dict[int, datetime], count: int
) -> list[tuple[int, datetime]]:
    """Insert `count` posts by these users; the new posts' ids and times."""
    now, ids = utcnow(), list(since_of)
    rows: list[Post] = []
    for _ in range(count):
        author = rng.choice(ids)
        body = _body(fake, rng)[:POST_MAX]
        rows.append(
            Post(
                author_id=author,
                timestamp=_between(rng, since_of[author], now),
                body=body,
                body_html=render_markdown(body, "post"),
            )
        )
    for row, html in zip(rows, await settled_many([r.body_html for r in rows]), strict=True):
        row.body_html = html
    first = (await Post.all().order_by("-id").first().values_list("id", flat=True)) or 0
    await _insert_batches(Post, rows)
    return await Post.filter(id__gt=first, author_id__in=ids).values_list("id", "timestamp")


def _comments(
    fake: Faker,
    rng: random.Random,
    ids: list[int],
    posts: list[tuple[int, datetime]],
    count: int,
) -> list[Comment]:
    """`count` comments on these posts (3 % of them disabled)."""
    now = utcnow()
    rows: list[Comment] = []
    for _ in range(count if posts else 0):
        post_id, stamp = rng.choice(posts)
        body = fake.sentence(nb_words=rng.randint(4, 20))[:COMMENT_MAX]
        rows.append(
            Comment(
                post_id=post_id,
                author_id=rng.choice(ids),
                timestamp=_between(rng, stamp, now),
                body=body,
                body_html=render_markdown(body, "comment"),
                disabled=rng.random() < 0.03,
            )
        )
    return rows


def _body(fake: Faker, rng: random.Random) -> str:
    """A Markdown post: paragraphs, sometimes emphasis, a list, a link or code."""
    parts = [fake.paragraph(nb_sentences=rng.randint(1, 4))]
    roll = rng.random()
    if roll < 0.25:
        parts.append(f"Some *{fake.word()}* and **{fake.word()}** here.")
    elif roll < 0.4:
        parts.append("\n".join(f"- {fake.sentence(nb_words=4)}" for _ in range(rng.randint(2, 4))))
    elif roll < 0.5:
        parts.append(f"See [{fake.word()}]({fake.url()}) or `{fake.word()}()`.")
    elif roll < 0.6:
        parts.append(f"> {fake.sentence()}")
    if rng.random() < 0.3:
        parts.append(fake.paragraph())
    return "\n\n".join(parts)


def _username(fake: Faker, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9_.]", "", fake.user_name()) or "user"
    if not base[0].isalpha():
        base = "u" + base
    name, n = base[:60], 1
    while name.lower() in taken:
        n += 1
        name = f"{base[:58]}{n}"
    taken.add(name.lower())
    return name


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    span = max(0.0, (end - start).total_seconds())
    return start + timedelta(seconds=rng.uniform(0, span))


def _chunks(rows: list[Any], size: int = BATCH) -> Iterator[list[Any]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


async def _insert_batches(model: type[Model], rows: list[Model]) -> None:
    """Bulk insert, one transaction per batch (posts: with their search index, tags and
    mentions, in the same transaction)."""
    for batch in _chunks(rows):
        async with change("bulk-insert", EVERYTHING) as writing:
            conn = writing.connection
            if model is not Post:
                await model.bulk_create(batch, using_db=conn)
                continue
            newest = Post.all().using_db(conn).order_by("-id").first()
            last = await newest.values_list("id", flat=True)
            await model.bulk_create(batch, using_db=conn)
            new = Post.filter(id__gt=last or 0).using_db(conn).order_by("id")
            await search.index(conn, await new.values_list("id", "body_html"), fresh=True)
