"""The change feed itself (SPEC §8): one event per write in the write's transaction, heard
here at commit, replayable by id, subscribable by topic, pruned after 24 hours."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flasky import feed
from flasky.feed import EVERYTHING, HUB, Change, Versions, change, replay
from flasky.models import Event, Post, User, utcnow
from tests.conftest import make_user


async def events() -> list[Event]:
    return await Event.all().order_by("id")


async def test_a_write_and_its_event_commit_together(app):
    alice = await make_user("alice@example.com", "alice")
    before = len(await events())
    with HUB.subscribe({"posts"}) as sub:
        post = await Post.publish(alice, "hello")
        heard = await sub.next(timeout=1)
    rows = await events()
    assert len(rows) == before + 1
    row = rows[-1]
    assert row.kind == "post-created" and row.actor_id == alice.id
    assert set(row.topics.split()) == {"posts", f"user:{alice.id}", f"post:{post.id}"}
    assert heard is not None and heard.id == row.id and heard.kind == "post-created"


async def test_a_rolled_back_write_leaves_no_event_and_is_never_heard(app):
    alice = await make_user("alice@example.com", "alice")
    before = len(await events())
    with HUB.subscribe() as sub:
        with pytest.raises(RuntimeError):
            async with change("post-created", "posts", actor=alice.id) as writing:
                post = await Post.create(author=alice, body="x", body_html="<p>x</p>")
                writing.touch(post.topic)
                raise RuntimeError("the write fails half way")
        assert await sub.next(timeout=0.2) is None
    assert len(await events()) == before
    assert await Post.all().count() == 0


async def test_a_change_inside_another_joins_it(app):
    alice = await make_user("alice@example.com", "alice")
    before = len(await events())
    outer = change("outer", "posts", actor=alice.id)
    async with outer, change("inner", f"user:{alice.id}") as inner:
        inner.touch("comment:9")
    rows = await events()
    assert len(rows) == before + 1
    assert rows[-1].kind == "outer"
    assert set(rows[-1].topics.split()) == {"posts", f"user:{alice.id}", "comment:9"}


async def test_a_write_that_changed_nothing_has_no_event(app):
    alice = await make_user("alice@example.com", "alice")
    bob = await make_user("bob@example.com", "bob")
    await alice.follow(bob)
    count = len(await events())
    await alice.follow(bob)  # already following
    await alice.unfollow(bob)
    await alice.unfollow(bob)  # already not
    kinds = [row.kind for row in (await events())[count:]]
    assert kinds == ["unfollow"]


async def test_replay_from_an_id_by_topic(app):
    alice = await make_user("alice@example.com", "alice")
    start = await feed.newest_id()
    first = await Post.publish(alice, "one")
    assert await alice.ping(utcnow() + timedelta(minutes=5))
    second = await Post.publish(alice, "two")
    everything = await replay(start)
    assert [e.kind for e in everything][-3:] == ["post-created", "user-seen", "post-created"]
    assert [e.id for e in everything] == sorted(e.id for e in everything)
    about_first = await replay(start, {f"post:{first.id}"})
    assert [e.kind for e in about_first] == ["post-created"]
    after_first = await replay(about_first[0].id, {"posts"})
    assert len(after_first) == 1 and f"post:{second.id}" in after_first[0].topics


async def test_prune_keeps_a_day(app):
    await Event.create(kind="old", topics="posts", created_at=utcnow() - timedelta(hours=25))
    fresh = await Event.create(kind="fresh", topics="posts")
    assert await feed.prune() == 1
    assert [row.id for row in await Event.filter(kind__in=["old", "fresh"])] == [fresh.id]


async def test_every_account_write_is_an_event(app, client):
    """Registration, confirmation, a password change: each says what it changed."""
    user = await User.register(email="c@example.com", username="carol", password="x" * 12)
    async with app.app_context():
        token = user.generate_confirmation_token()
        assert await User.confirm_token(token)
        await user.change_password("another long password")
    kinds = [row.kind for row in await events()]
    assert kinds[-3:] == ["user-created", "user-updated", "password-changed"]
    assert f"sessions:{user.id}" in (await events())[-1].topics


def test_versions_drop_only_what_a_topic_moved():
    versions = Versions()
    stamp = versions.stamp()
    versions.move({"post:1"})
    assert not versions.fresh({"post:1", "user:1"}, stamp)
    assert versions.fresh({"post:2", "user:1"}, stamp)
    later = versions.stamp()
    assert versions.fresh({"post:1"}, later)
    versions.move({EVERYTHING})
    assert not versions.fresh({"post:2"}, later)
    # deaf: nothing is trusted; hearing again drops all that came before
    now = versions.stamp()
    versions.distrust()
    assert not versions.fresh(set(), now)
    versions.trust()
    assert not versions.fresh(set(), now)
    assert versions.fresh(set(), versions.stamp())


def test_a_long_topic_list_goes_out_as_everything():
    event = Change(1, "bulk", frozenset(f"post:{n}" for n in range(5000)))
    assert Change.from_payload(event.payload()).topics == {EVERYTHING}
    small = Change(2, "post-created", frozenset({"posts", "post:3"}), 7)
    assert Change.from_payload(small.payload()) == small
