"""The models, as the book's test_user_model.py and test_basics.py check them — passwords,
tokens, roles, presence, avatars, follows, JSON shapes — plus what our contract adds:
tokens bound to their purpose and dead once the password changes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from quart import current_app

from flasky.models import (
    AnonymousUser,
    Comment,
    Follow,
    Post,
    Role,
    User,
    email_hash,
    iso,
    utcnow,
)
from flasky.permissions import Permission
from tests.conftest import PASSWORD, make_user
from tests.helpers import AUTHOR_KEYS, COMMENT_KEYS, POST_KEYS, USER_KEYS

JOHN_MD5 = "d4c74594d841139328695756648b6bd6"  # md5("john@example.com")


@pytest.fixture
async def ctx(app: Any) -> Any:
    """An app context: tokens are signed with the app's secret key."""
    async with app.app_context():
        yield app


async def fresh(user: User) -> User:
    return await User.get(id=user.id).select_related("role")


# -- the book's test_basics ------------------------------------------------------------------


async def test_app_exists(ctx: Any):
    assert current_app is not None
    assert current_app.name == "flasky"


async def test_app_is_testing(ctx: Any):
    assert current_app.config["TESTING"] is True
    assert current_app.config["CONFIG_NAME"] == "testing"


# -- passwords ---------------------------------------------------------------------------------


async def test_password_setter(ctx: Any):
    user = await User.new(email="john@example.com", username="john", password="cat")
    assert user.password_hash
    assert "cat" not in user.password_hash
    before = user.password_hash
    await user.set_password("dog")
    assert user.password_hash and user.password_hash != before


async def test_no_password_getter(ctx: Any):
    user = await User.new(email="john@example.com", username="john", password="cat")
    with pytest.raises(AttributeError):
        _ = user.password


async def test_password_verification(ctx: Any):
    user = await User.new(email="john@example.com", username="john", password="cat")
    assert await user.verify_password("cat")
    assert not await user.verify_password("dog")
    assert not await user.verify_password("")


async def test_password_salts_are_random(ctx: Any):
    u1 = await User.new(email="john@example.com", username="john", password="cat")
    u2 = await User.new(email="susan@example.com", username="susan", password="cat")
    assert u1.password_hash != u2.password_hash


async def test_an_empty_hash_never_verifies(ctx: Any):
    user = User(email="x@example.com", username="x", password_hash="")
    assert not await user.verify_password("")


# -- confirmation tokens -----------------------------------------------------------------------


async def test_valid_confirmation_token(ctx: Any):
    user = await make_user(confirmed=False)
    token = user.generate_confirmation_token()
    assert (await User.confirm_token(token)).id == user.id
    assert (await fresh(user)).confirmed
    assert await User.confirm_token(token) is None  # a confirmation link works once


async def test_invalid_confirmation_token(ctx: Any):
    u1 = await make_user("john@example.com", confirmed=False)
    u2 = await make_user("susan@example.com", confirmed=False)
    token = u1.generate_confirmation_token()
    assert await User.confirm_token(token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None
    assert await User.confirm_token(u2.generate_reset_token()) is None
    assert not (await fresh(u2)).confirmed
    assert not (await fresh(u1)).confirmed


async def test_expired_confirmation_token(ctx: Any):
    user = await make_user(confirmed=False)
    token = user.generate_confirmation_token()
    await asyncio.sleep(1.1)  # token timestamps count whole seconds
    assert await User.confirm_token(token, max_age=0) is None
    assert not (await fresh(user)).confirmed
    assert await User.confirm_token(token) is not None  # within the normal hour it works


async def test_confirmation_by_token_alone_works_once(ctx: Any):
    user = await make_user(confirmed=False)
    token = user.generate_confirmation_token()
    confirmed = await User.confirm_token(token)
    assert confirmed is not None and confirmed.id == user.id
    assert (await fresh(user)).confirmed
    assert await User.confirm_token(token) is None


async def test_confirmation_token_is_for_the_address_it_was_sent_to(ctx: Any):
    user = await make_user(confirmed=False)
    token = user.generate_confirmation_token()
    await User.filter(id=user.id).update(email="other@example.com")
    assert await User.confirm_token(token) is None


# -- password reset tokens ---------------------------------------------------------------------


async def test_valid_reset_token(ctx: Any):
    user = await make_user()
    token = user.generate_reset_token()
    assert await User.reset_password(token, "dog")
    assert await (await fresh(user)).verify_password("dog")


async def test_invalid_reset_token(ctx: Any):
    user = await make_user()
    token = user.generate_reset_token()
    assert not await User.reset_password(token + "a", "horse")
    assert not await User.reset_password("not-a-token", "horse")
    assert await (await fresh(user)).verify_password(PASSWORD)


async def test_expired_reset_token(ctx: Any):
    user = await make_user()
    token = user.generate_reset_token()
    await asyncio.sleep(1.1)
    assert not await User.reset_password(token, "horse", max_age=0)
    assert await (await fresh(user)).verify_password(PASSWORD)


async def test_reset_token_works_once(ctx: Any):
    user = await make_user()
    token = user.generate_reset_token()
    assert await User.reset_password(token, "dog")
    assert not await User.reset_password(token, "horse")  # the hash it was bound to is gone
    assert await (await fresh(user)).verify_password("dog")


# -- email change tokens -----------------------------------------------------------------------


async def test_valid_email_change_token(ctx: Any):
    user = await make_user("john@example.com")
    token = user.generate_email_change_token("susan@example.org")
    assert await user.change_email(token)
    saved = await fresh(user)
    assert saved.email == "susan@example.org"
    assert saved.avatar_hash == email_hash("susan@example.org")


async def test_invalid_email_change_token(ctx: Any):
    u1 = await make_user("john@example.com")
    u2 = await make_user("susan@example.org")
    token = u1.generate_email_change_token("david@example.net")
    assert not await u2.change_email(token)
    assert (await fresh(u2)).email == "susan@example.org"
    assert (await fresh(u1)).email == "john@example.com"


async def test_duplicate_email_change_token(ctx: Any):
    await make_user("john@example.com")
    u2 = await make_user("susan@example.org")
    token = u2.generate_email_change_token("john@example.com")
    assert not await u2.change_email(token)
    assert (await fresh(u2)).email == "susan@example.org"


async def test_expired_email_change_token(ctx: Any):
    user = await make_user("john@example.com")
    token = user.generate_email_change_token("susan@example.org")
    await asyncio.sleep(1.1)
    assert not await user.change_email(token, max_age=0)
    assert (await fresh(user)).email == "john@example.com"


async def test_email_change_token_works_once(ctx: Any):
    user = await make_user("john@example.com")
    token = user.generate_email_change_token("susan@example.org")
    assert await user.change_email(token)
    assert not await user.change_email(token)  # it names the old address


# -- tokens: purpose-bound, and dead once the password changes ---------------------------------


async def test_tokens_are_bound_to_their_purpose(ctx: Any):
    user = await make_user(confirmed=False)
    confirm = user.generate_confirmation_token()
    reset = user.generate_reset_token()
    change = user.generate_email_change_token("new@example.com")
    auth = user.generate_auth_token()
    assert not await User.reset_password(confirm, "horse")
    assert not await User.reset_password(auth, "horse")
    assert await User.confirm_token(reset) is None
    assert await User.confirm_token(change) is None
    assert not await user.change_email(confirm)
    assert await User.verify_auth_token(reset) is None
    assert await User.verify_auth_token(confirm) is None
    assert await User.verify_auth_token(auth) is not None
    assert await (await fresh(user)).verify_password(PASSWORD)
    assert not (await fresh(user)).confirmed


async def test_tokens_die_when_the_password_changes(ctx: Any):
    user = await make_user(confirmed=False)
    confirm = user.generate_confirmation_token()
    reset = user.generate_reset_token()
    change = user.generate_email_change_token("new@example.com")
    auth = user.generate_auth_token()
    await user.set_password("a brand new password")
    await user.save(update_fields=["password_hash"])
    assert await User.confirm_token(confirm) is None
    assert not await User.reset_password(reset, "horse")
    assert not await user.change_email(change)
    assert await User.verify_auth_token(auth) is None
    fresh_token = user.generate_auth_token()
    assert (await User.verify_auth_token(fresh_token)).id == user.id  # type: ignore[union-attr]


async def test_expired_auth_token(ctx: Any):
    user = await make_user()
    token = user.generate_auth_token()
    assert (await User.verify_auth_token(token)).id == user.id  # type: ignore[union-attr]
    await asyncio.sleep(1.1)
    assert await User.verify_auth_token(token, max_age=0) is None


async def test_tokens_of_another_secret_key_are_refused(app: Any):
    async with app.app_context():
        user = await make_user()
        token = user.generate_reset_token()
    other = app.__class__(app.import_name)
    other.config.update(app.config)
    other.secret_key = "another key entirely"
    async with other.app_context():
        assert not await User.reset_password(token, "horse")


# -- roles and permissions ---------------------------------------------------------------------


async def test_user_role(ctx: Any):
    user = await make_user()
    assert user.role.name == "User"
    for perm in (Permission.FOLLOW, Permission.COMMENT, Permission.WRITE):
        assert user.can(perm)
    for perm in (Permission.MODERATE, Permission.ADMIN):
        assert not user.can(perm)
    assert not user.is_administrator()


async def test_moderator_role(ctx: Any):
    user = await make_user(role="Moderator")
    for perm in (Permission.FOLLOW, Permission.COMMENT, Permission.WRITE, Permission.MODERATE):
        assert user.can(perm)
    assert not user.can(Permission.ADMIN)
    assert not user.is_administrator()


async def test_administrator_role(ctx: Any):
    user = await make_user(role="Administrator")
    for perm in Permission:
        assert user.can(perm)
    assert user.can(Permission.MODERATE | Permission.ADMIN)
    assert user.is_administrator()


async def test_anonymous_user(ctx: Any):
    anonymous = AnonymousUser()
    for perm in Permission:
        assert not anonymous.can(perm)
    assert not anonymous.is_administrator()
    assert not anonymous.is_authenticated and anonymous.is_anonymous


async def test_admin_address_registers_as_administrator(ctx: Any):
    admin = await User.register(
        email="Boss@Example.com",
        username="boss",
        password=PASSWORD,
        admin_email="boss@example.com",
    )
    other = await User.register(
        email="someone@example.com",
        username="someone",
        password=PASSWORD,
        admin_email="boss@example.com",
    )
    assert (await fresh(admin)).role.name == "Administrator"
    assert (await fresh(other)).role.name == "User"
    assert (await fresh(admin)).email == "boss@example.com"  # addresses are kept lowercase


async def test_insert_roles_is_idempotent_and_repairs(ctx: Any):
    await Role.insert_roles()
    await Role.insert_roles()
    roles = {r.name: r for r in await Role.all()}
    assert set(roles) == {"User", "Moderator", "Administrator"}
    assert roles["User"].permissions == Permission.FOLLOW | Permission.COMMENT | Permission.WRITE
    assert roles["Moderator"].permissions == roles["User"].permissions | Permission.MODERATE
    assert roles["Administrator"].permissions == 31
    assert [r.name for r in roles.values() if r.default] == ["User"]
    await Role.filter(name="Moderator").update(permissions=1, default=True)
    await Role.insert_roles()
    moderator = await Role.get(name="Moderator")
    assert moderator.permissions == roles["Moderator"].permissions and not moderator.default
    assert (await Role.default_role()).name == "User"


async def test_role_permissions(ctx: Any):
    role = Role(name="Test", permissions=Permission.FOLLOW | Permission.WRITE)
    assert role.has_permission(Permission.WRITE)
    assert role.has_permission(Permission.FOLLOW | Permission.WRITE)
    assert not role.has_permission(Permission.WRITE | Permission.MODERATE)


# -- timestamps and presence -------------------------------------------------------------------


async def test_timestamps(ctx: Any):
    user = await fresh(await make_user())
    now = datetime.now(UTC)
    for moment in (user.member_since, user.last_seen):
        assert moment.tzinfo is not None
        assert timedelta(0) <= now - moment < timedelta(seconds=5)


async def test_ping_is_throttled_to_once_a_minute(ctx: Any):
    user = await fresh(await make_user())
    seen = user.last_seen
    assert not await user.ping()  # just created: within the minute
    assert not await user.ping(seen + timedelta(seconds=59))
    assert (await fresh(user)).last_seen == seen

    later = seen + timedelta(seconds=61)
    assert await user.ping(later)
    assert user.last_seen == later
    stored = (await fresh(user)).last_seen
    assert abs(stored - later) < timedelta(milliseconds=1)
    assert not await user.ping(later + timedelta(seconds=30))


async def test_real_ping_after_a_minute(ctx: Any):
    user = await make_user()
    old = utcnow() - timedelta(minutes=2)
    await User.filter(id=user.id).update(last_seen=old)
    user = await fresh(user)
    assert await user.ping()
    assert (await fresh(user)).last_seen > old + timedelta(minutes=1)


# -- avatars -----------------------------------------------------------------------------------


async def test_avatar_hash_is_the_md5_of_the_normalised_address(ctx: Any):
    user = await make_user(" John@Example.com ", username="john")
    assert user.email == "john@example.com"
    assert user.avatar_hash == JOHN_MD5
    assert email_hash("JOHN@example.com ") == JOHN_MD5


async def test_gravatar(ctx: Any):
    user = await User.new(email="john@example.com", username="john", password="cat")
    assert user.gravatar().startswith(f"https://secure.gravatar.com/avatar/{JOHN_MD5}?")
    assert "s=256" in user.gravatar(size=256)
    assert "r=pg" in user.gravatar(rating="pg")
    assert "d=retro" in user.gravatar(default="retro")
    user.avatar_hash = ""  # computed from the address when the stored hash is missing
    assert JOHN_MD5 in user.gravatar()


async def test_avatar_url_styles(app: Any):
    user = await User.new(email="john@example.com", username="john", password="cat")
    async with app.test_request_context("/"):
        identicon = user.avatar_url()
        external = user.avatar_url(external=True)
        app.config["FLASKY_AVATARS"] = "gravatar"
        gravatar = user.avatar_url(size=64)
    assert identicon == f"/avatar/{JOHN_MD5}.svg?v=2"  # pages: on this site, whatever its host
    assert external == f"http://localhost/avatar/{JOHN_MD5}.svg?v=2"  # JSON: FLASKY_BASE_URL
    assert (
        gravatar.startswith(f"https://secure.gravatar.com/avatar/{JOHN_MD5}") and "s=64" in gravatar
    )


# -- follows -----------------------------------------------------------------------------------


async def counts(user: User) -> tuple[int, int]:
    """(followers, following) as pages show them: the self-follow left out."""
    row = await User.with_counts().get(id=user.id)
    return row.followers_count_n, row.following_count_n


async def test_follows(ctx: Any):
    u1 = await make_user("john@example.com")
    u2 = await make_user("susan@example.org")
    assert await u1.relation(u2) == (False, False)
    assert await u1.relation(u1) == (False, False)  # oneself is no relation people see...
    assert await Follow.exists(follower_id=u1.id, followed_id=u1.id)  # ...but is a row
    assert await counts(u1) == (0, 0)  # and the counts leave it out
    assert await u1.followers_count() == 0

    started = utcnow()
    await u1.follow(u2)
    await u1.follow(u2)  # idempotent
    assert await u1.relation(u2) == (True, False)
    assert await u2.relation(u1) == (False, True)
    assert await counts(u1) == (0, 1)
    assert await counts(u2) == (1, 0)
    assert await u2.followers_count() == 1
    link = await Follow.get(follower_id=u1.id, followed_id=u2.id)
    assert timedelta(0) <= link.timestamp - started < timedelta(seconds=5)
    assert await Follow.filter(follower_id=u1.id, followed_id=u2.id).count() == 1

    await u1.unfollow(u2)
    await u1.unfollow(u2)
    assert await u1.relation(u2) == (False, False)
    assert await counts(u1) == (0, 0) and await counts(u2) == (0, 0)

    await u1.unfollow(u1)  # the self-follow stays
    assert await Follow.exists(follower_id=u1.id, followed_id=u1.id)
    assert await Follow.all().count() == 2
    assert await Follow.followed_among(u1.id, [u1.id, u2.id]) == {u1.id}


async def test_follow_state(ctx: Any):
    u1 = await make_user("john@example.com")
    u2 = await make_user("susan@example.org")
    assert await u2.follow_state(AnonymousUser()) == {"following": False, "followers_count": 0}
    await u1.follow(u2)
    assert await u2.follow_state(u1) == {"following": True, "followers_count": 1}


async def test_deleting_a_user_removes_their_follows(ctx: Any):
    u1 = await make_user("john@example.com")
    u2 = await make_user("susan@example.org")
    await u1.follow(u2)
    await u2.follow(u1)
    assert await Follow.all().count() == 4
    await u2.delete()
    assert await Follow.all().count() == 1  # john's self-follow
    assert await counts(u1) == (0, 0)


async def test_count_annotations_match_the_methods(ctx: Any):
    u1 = await make_user("john@example.com")
    u2 = await make_user("susan@example.org")
    u3 = await make_user("david@example.net")
    await u1.follow(u2)
    await u3.follow(u2)
    await u2.follow(u1)
    await Post.publish(u2, "one")
    await Post.publish(u2, "two")
    counted = {u.id: u for u in await User.with_counts()}
    for user in (u1, u2, u3):
        row = counted[user.id]
        assert row.followers_count_n == await user.followers_count()
    assert counted[u2.id].post_count == 2
    assert counted[u2.id].followers_count_n == 2
    assert counted[u1.id].following_count_n == 1
    profile = await User.profile("susan")
    assert profile is not None and profile.role.name == "User"


# -- JSON shapes (SPEC §4) ---------------------------------------------------------------------


async def test_user_to_json(app: Any):
    user = await make_user("john@example.com")
    other = await make_user("susan@example.org")
    await other.follow(user)
    await Post.publish(user, "hello")
    loaded = await User.with_counts().get(id=user.id)
    async with app.test_request_context("/"):
        data = loaded.to_json()
    assert set(data) == USER_KEYS
    assert "email" not in data and "password_hash" not in data
    assert "john@example.com" not in str(data) and loaded.password_hash not in str(data)
    assert data["username"] == "john"
    assert data["url"] == "http://localhost/user/john"
    assert data["posts_url"] == "http://localhost/user/john/posts"
    assert data["followed_posts_url"] == "http://localhost/user/john/timeline"
    assert data["followers_url"] == "http://localhost/followers/john"
    assert data["following_url"] == "http://localhost/followed_by/john"
    assert (data["post_count"], data["followers_count"], data["following_count"]) == (1, 1, 0)
    assert data["member_since"] == iso(loaded.member_since)
    assert data["member_since"].endswith("Z")
    datetime.strptime(data["last_seen"], "%Y-%m-%dT%H:%M:%SZ")


async def test_post_to_json(app: Any):
    author = await make_user("john@example.com")
    post = await Post.publish(author, "*hi* there")
    reader = await make_user("susan@example.org")
    await Comment.publish(reader, post, "nice")
    loaded = await Post.with_details(post.id)
    assert loaded is not None
    async with app.test_request_context("/"):
        data = loaded.to_json()
    assert set(data) == POST_KEYS
    assert set(data["author"]) == AUTHOR_KEYS
    assert data["url"] == f"http://localhost/post/{post.id}"
    assert data["comments_url"] == f"http://localhost/post/{post.id}/comments"
    assert data["author_url"] == "http://localhost/user/john"
    assert data["author"]["username"] == "john"
    assert data["body"] == "*hi* there"
    assert data["body_html"] == "<p><em>hi</em> there</p>"
    assert data["comment_count"] == 1
    assert data["timestamp"] == iso(loaded.timestamp)


async def test_comment_to_json(app: Any):
    author = await make_user("john@example.com")
    post = await Post.publish(author, "a post")
    comment = await Comment.publish(author, post, "**bold** <script>x</script>")
    loaded = await Comment.with_details(comment.id)
    assert loaded is not None
    async with app.test_request_context("/"):
        data = loaded.to_json()
        loaded.disabled = True
        hidden = loaded.to_json()
        shown = loaded.to_json(show_disabled=True)
    assert set(data) == COMMENT_KEYS
    assert set(data["author"]) == AUTHOR_KEYS
    assert data["url"] == f"http://localhost/comment/{comment.id}"
    assert data["post_url"] == f"http://localhost/post/{post.id}"
    assert data["body_html"].startswith("<strong>bold</strong>")
    assert "<script" not in data["body_html"]
    assert data["disabled"] is False
    assert hidden["disabled"] is True
    assert "body" not in hidden and "body_html" not in hidden
    assert shown["body"] == "**bold** <script>x</script>"


async def test_iso_is_utc_with_z():
    moment = datetime(2026, 11, 25, 4, 50, 45, 999, tzinfo=UTC)
    assert iso(moment) == "2026-11-25T04:50:45Z"
    assert iso(moment.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))) == iso(moment)
    assert iso(datetime(2026, 11, 25, 4, 50, 45)) == "2026-11-25T04:50:45Z"
    assert iso(None) is None


# -- bodies ------------------------------------------------------------------------------------


async def test_bodies_are_rendered_whenever_set(ctx: Any):
    author = await make_user()
    post = await Post.publish(author, "# Title\n\n<script>alert(1)</script>")
    assert post.body_html.startswith("<h1>Title</h1>")
    assert "<script" not in post.body_html
    await post.change_body("[x](javascript:alert(1)) and https://example.com")
    saved = await Post.get(id=post.id)
    assert "javascript" not in saved.body_html
    assert '<a href="https://example.com" rel="nofollow">' in saved.body_html
    comment = await Comment.publish(author, post, "# not a heading")
    assert "<h1>" not in comment.body_html
