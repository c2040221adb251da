"""Profiles, follow/unfollow, follower lists, the signed-in user, avatars."""

from __future__ import annotations

import colorsys
import functools
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from quart import Blueprint, Response, abort

from flasky import throttle
from flasky.cache import anonymous_page_cache, shows
from flasky.exceptions import AuthRequired, BadRequest
from flasky.forms import EditProfileForm
from flasky.identity import Viewer, current_viewer, login_required, permission_required
from flasky.models import Follow, Post, User, iso
from flasky.negotiate import invalid, respond
from flasky.pagination import Page, collection, cursor, next_url, page_of
from flasky.permissions import Permission
from flasky.urls import url_for

bp = Blueprint("social", __name__)

AVATAR_HASH = re.compile(r"[0-9a-f]{32}")
AVATAR_CACHE = "public, max-age=31536000, immutable"


@bp.get("/user/<username>")
@anonymous_page_cache
async def user(username: str) -> Response:
    """A profile: header, counts, follow button, and the first page of the user's posts."""
    profile = await profile_or_404(username)
    viewer = await current_viewer()
    posts = await page_of(Post.written_by(profile), "POSTS")
    following, follows_you = (
        await viewer.relation(profile) if isinstance(viewer, User) else (False, False)
    )
    return await respond(
        "social/user.html",
        fragment="social/_profile.html",
        data=profile.to_json,
        **_feed_context(posts, profile, "social.user_posts"),
        following=following,
        follows_you=follows_you,
        can_follow=viewer.can(Permission.FOLLOW) and viewer.id != profile.id,
    )


@bp.get("/user/<username>/posts")
@anonymous_page_cache
async def user_posts(username: str) -> Response:
    """The user's posts, newest first, one keyset page at a time."""
    profile = await profile_or_404(username)
    posts = await page_of(Post.written_by(profile), "POSTS")
    return await _post_list(posts, profile, "social.user_posts", lambda: profile.post_count)


@bp.get("/user/<username>/timeline")
@anonymous_page_cache
async def timeline(username: str) -> Response:
    """Posts of the people the user follows (their own included), newest first."""
    profile = await profile_or_404(username)
    shows("posts")  # a new post by anyone followed moves it
    query = Post.followed_by(profile)
    posts = await page_of(query, "POSTS")
    return await _post_list(posts, profile, "social.timeline", query.count)


@bp.get("/followers/<username>")
@anonymous_page_cache
async def followers(username: str) -> Response:
    """Who follows the user, most recent first (the self-follow left out)."""
    return await _follow_list(username, "followers")


@bp.get("/followed_by/<username>")
@anonymous_page_cache
async def followed_by(username: str) -> Response:
    """Whom the user follows, most recent first (the self-follow left out)."""
    return await _follow_list(username, "following")


@bp.post("/follow/<username>")
@permission_required(Permission.FOLLOW)
async def follow(username: str) -> Response:
    """Follow a user (idempotent); answers with the toggled button and the new count."""
    viewer: Any = await current_viewer()
    target = await _other_user_or_404(username, viewer)
    await throttle.check_write("follows", viewer.id)
    await viewer.follow(target)
    return await _follow_answer(target, viewer, f"You are now following {target.username}.")


@bp.post("/unfollow/<username>")
@permission_required(Permission.FOLLOW)
async def unfollow(username: str) -> Response:
    """Stop following a user (idempotent); answers like `follow`."""
    viewer: Any = await current_viewer()
    target = await _other_user_or_404(username, viewer)
    await viewer.unfollow(target)
    message = f"You are not following {target.username} anymore."
    undo = (url_for("social.follow", username=target.username), f"#follow-{target.id}")
    return await _follow_answer(target, viewer, message, undo)


@bp.get("/me")
async def me() -> Response:
    """The signed-in user (cookie or token): the user JSON plus `email`; pages go to the
    profile; anonymous → 401 (JSON) or the login page."""
    viewer = await current_viewer()
    if not isinstance(viewer, User):
        raise AuthRequired()

    async def data() -> dict[str, Any]:
        return {**await User.json_of(viewer.id), "email": viewer.email}

    return await respond(redirect_to=url_for("social.user", username=viewer.username), data=data)


@bp.get("/avatar/<avatar_hash>.svg")
async def avatar(avatar_hash: str) -> Response:
    """A deterministic identicon for an avatar hash, cacheable for a year."""
    if not AVATAR_HASH.fullmatch(avatar_hash):
        abort(404)
    response = Response(identicon_svg(avatar_hash), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = AVATAR_CACHE
    # its own <style> picks the colours of the scheme; nothing else may run or load
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    )
    return response


@bp.route("/edit-profile", methods=["GET", "POST"])
@login_required
async def edit_profile() -> Response:
    """Edit one's own name, location and about me (Post/Redirect/Get)."""
    viewer: Any = await current_viewer()
    form = await EditProfileForm.bind(obj=viewer)
    if form.validate_on_submit():
        await form.save_to(viewer)
        return await profile_saved(viewer, "Your profile has been updated.")
    page, fragment = "social/edit_profile.html", "social/_edit_profile_form.html"
    if form.errors:
        return await invalid(form, page, fragment=fragment, user=viewer)
    return await respond(page, fragment=fragment, data=viewer.to_json, form=form, user=viewer)


async def profile_saved(user: User, message: str) -> Response:
    """After a successful profile edit: the profile (PRG), or the user JSON."""
    return await respond(
        redirect_to=url_for("social.user", username=user.username),
        data=lambda: User.json_of(user.id),
        flash=message,
    )


async def profile_or_404(username: str) -> User:
    """The user with role and counts, or 404."""
    found = await User.profile(username)
    if found is None:
        abort(404)
    return found


# -- helpers ------------------------------------------------------------------------------


@dataclass
class FollowRow:
    """One line of a follower list: the other user (with counts), when, and the button."""

    user: User
    timestamp: datetime
    following: bool
    can_follow: bool


async def follow_rows(follows: list[Follow], side: str, viewer: Viewer) -> list[FollowRow]:
    """The users on one side of `follows` (`follower` or `followed`), with counts and the
    viewer's follow state, in two queries whatever the length of the page."""
    ids = [getattr(f, f"{side}_id") for f in follows]
    users = {u.id: u for u in await User.with_counts().filter(id__in=ids)} if ids else {}
    may_follow = isinstance(viewer, User) and viewer.can(Permission.FOLLOW)
    followed = (
        await Follow.followed_among(viewer.id, ids)
        if may_follow and isinstance(viewer, User)
        else set()
    )
    return [
        FollowRow(users[uid], f.timestamp, uid in followed, may_follow and uid != viewer.id)
        for f, uid in zip(follows, ids, strict=True)
        if uid in users
    ]


def _feed_context(posts: Page[Post], profile: User, endpoint: str) -> dict[str, Any]:
    """What the posts area's feed fragment (cards + sentinel) needs for this user's list."""
    name = profile.username
    empty = {
        "social.user_posts": f"{name} has not posted anything yet.",
        "social.timeline": f"Nothing here yet — posts of the people {name} follows show up here.",
    }[endpoint]
    return {
        "user": profile,
        "feed": posts,
        "feed_endpoint": endpoint,
        "feed_args": {"username": name},
        "cursor": cursor(),
        "empty_message": empty,
    }


async def _post_list(posts: Page[Post], profile: User, endpoint: str, count: Any) -> Response:
    """A list of posts as a page, the items-plus-sentinel fragment, or collection JSON
    (`count` gives the length of the whole list; called only for JSON)."""

    async def data() -> dict[str, Any]:
        total = count()
        total = await total if not isinstance(total, int) else total
        items = [p.to_json() for p in posts.items]
        return collection("posts", items, posts, total, endpoint, username=profile.username)

    return await respond(
        "social/posts.html",
        fragment="posts/_feed_page.html",
        data=data,
        **_feed_context(posts, profile, endpoint),
        kind="posts" if endpoint == "social.user_posts" else "timeline",
    )


async def _follow_list(username: str, kind: str) -> Response:
    """A follower list (`followers`, or `following`) as a page, the rows-plus-sentinel
    fragment, or collection JSON."""
    profile = await profile_or_404(username)
    if kind == "followers":
        query, side, endpoint = Follow.followers_of(profile), "follower", "social.followers"
        count = profile.followers_count_n
    else:
        query, side, endpoint = Follow.followed_by(profile), "followed", "social.followed_by"
        count = profile.following_count_n
    page = await page_of(query, "FOLLOWERS")
    rows = await follow_rows(page.items, side, await current_viewer())
    name = profile.username
    return await respond(
        "social/follows.html",
        fragment="social/_follows_page.html",
        data=lambda: collection(
            "follows",
            [{"user": r.user.to_json(), "timestamp": iso(r.timestamp)} for r in rows],
            page,
            count,
            endpoint,
            username=name,
        ),
        user=profile,
        kind=kind,
        rows=rows,
        next_url=next_url(page, endpoint, username=name),
    )


async def _other_user_or_404(username: str, viewer: Viewer) -> User:
    """The user to follow or unfollow: 404 when unknown, 400 when it is the viewer."""
    target = await User.get_or_none(username=username)
    if target is None:
        abort(404)
    if target.id == viewer.id:
        raise BadRequest("You always follow yourself; that cannot be changed.")
    return target


async def _follow_answer(
    target: User, viewer: Viewer, message: str, undo: tuple[str, str] | None = None
) -> Response:
    """The follow state as JSON, the toggled button with the count out-of-band, or PRG
    (`undo`: the toast of an htmx answer offers to take it back)."""
    state = await target.follow_state(viewer)
    return await respond(
        fragment="social/_follow_answer.html",
        data=state,
        redirect_to=url_for("social.user", username=target.username),
        flash=message,
        undo=undo,
        user=target,
        **state,
    )


@functools.lru_cache(maxsize=4096)
def identicon_svg(avatar_hash: str) -> str:
    """A 5×5 mirrored identicon drawn from the hash: cells from its first 15 hex digits,
    colour from its last ones. The same hash always gives the same bytes. The disc follows
    the reader's colour scheme: pale behind dark cells in light mode, deep behind light
    cells in dark mode (no bright discs on a dark page)."""
    hue = int(avatar_hash[-3:], 16) / 4096
    saturation = 0.45 + int(avatar_hash[-5:-3], 16) / 255 * 0.2
    fg, fg_dark = _hex_colour(hue, 0.42, saturation), _hex_colour(hue, 0.70, saturation)
    bg, bg_dark = _hex_colour(hue, 0.93, 0.35), _hex_colour(hue, 0.20, 0.25)
    squares = sorted(
        {
            (row, c)
            for row in range(5)
            for col in range(3)
            if int(avatar_hash[row * 3 + col], 16) % 2 == 0
            for c in (col, 4 - col)
        }
    )
    path = "".join(f"M{1.5 + c} {1.5 + r}h1v1h-1z" for r, c in squares)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8" width="96" height="96"'
        ' shape-rendering="crispEdges">'
        f"<style>.b{{fill:{bg}}}.f{{fill:{fg}}}@media (prefers-color-scheme:dark)"
        f"{{.b{{fill:{bg_dark}}}.f{{fill:{fg_dark}}}}}</style>"
        f'<rect class="b" width="8" height="8"/><path class="f" d="{path}"/></svg>'
    )


def _hex_colour(hue: float, lightness: float, saturation: float) -> str:
    r, g, b = colorsys.hls_to_rgb(hue, lightness, saturation)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
