"""Profiles, follow/unfollow, follower lists, avatars."""

from __future__ import annotations

import colorsys
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from quart import Blueprint, Response, abort, current_app, flash, request
from tortoise.expressions import Q
from werkzeug.datastructures import MultiDict
from wtforms import BooleanField, Form, SelectField

from flasky import throttle
from flasky.cache import anonymous_page_cache
from flasky.exceptions import AuthRequired, BadRequest
from flasky.forms import EditProfileForm
from flasky.identity import Viewer, current_viewer
from flasky.models import Follow, Post, User, iso
from flasky.negotiate import representation, respond, wants_json
from flasky.pagination import Page, keyset_page
from flasky.permissions import Permission, login_required, permission_required
from flasky.urls import url_for

bp = Blueprint("social", __name__)

F = TypeVar("F", bound=Form)

AVATAR_HASH = re.compile(r"[0-9a-f]{32}")
AVATAR_CACHE = "public, max-age=31536000, immutable"


@bp.get("/user/<username>")
@anonymous_page_cache
async def user(username: str) -> Response:
    """A profile: header, counts, follow button, and the first page of the user's posts."""
    profile = await profile_or_404(username)
    viewer = await current_viewer()
    posts = await keyset_page(Post.by_author(profile), cursor(), per_page("POSTS"))
    following, follows_you = await relation(viewer, profile)
    return await respond(
        "social/user.html",
        fragment="social/_profile.html",
        data=json_view(lambda: profile.to_json(url_for, avatar_style())),
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
    posts = await keyset_page(Post.by_author(profile), cursor(), per_page("POSTS"))
    return await _post_list(posts, profile, "social.user_posts", profile.post_count, "posts")


@bp.get("/user/<username>/timeline")
@anonymous_page_cache
async def timeline(username: str) -> Response:
    """Posts of the people the user follows (their own included), newest first."""
    profile = await profile_or_404(username)
    query = Post.timeline(profile)
    posts = await keyset_page(query, cursor(), per_page("POSTS"))
    count = await query.count() if wants_json() else 0
    return await _post_list(posts, profile, "social.timeline", count, "timeline")


@bp.get("/followers/<username>")
@anonymous_page_cache
async def followers(username: str) -> Response:
    """Who follows the user, most recent first (the self-follow left out)."""
    profile = await profile_or_404(username)
    page = await keyset_page(Follow.followers_of(profile), cursor(), per_page("FOLLOWERS"))
    rows = await follow_rows(page.items, "follower", await current_viewer())
    return await _follow_list(page, rows, profile, "social.followers", profile.followers_count_n)


@bp.get("/followed_by/<username>")
@anonymous_page_cache
async def followed_by(username: str) -> Response:
    """Whom the user follows, most recent first (the self-follow left out)."""
    profile = await profile_or_404(username)
    page = await keyset_page(Follow.followed_by(profile), cursor(), per_page("FOLLOWERS"))
    rows = await follow_rows(page.items, "followed", await current_viewer())
    return await _follow_list(page, rows, profile, "social.followed_by", profile.following_count_n)


@bp.post("/follow/<username>")
@permission_required(Permission.FOLLOW)
async def follow(username: str) -> Response:
    """Follow a user (idempotent); answers with the toggled button and the new count."""
    viewer = await current_viewer()
    target = await _other_user_or_404(username, viewer)
    await throttle.check_write("follows", viewer.id)  # type: ignore[arg-type]
    await viewer.follow(target)  # type: ignore[union-attr]
    return await _follow_answer(target, viewer, f"You are now following {target.username}.")


@bp.post("/unfollow/<username>")
@permission_required(Permission.FOLLOW)
async def unfollow(username: str) -> Response:
    """Stop following a user (idempotent); answers like `follow`."""
    viewer = await current_viewer()
    target = await _other_user_or_404(username, viewer)
    await viewer.unfollow(target)  # type: ignore[union-attr]
    return await _follow_answer(target, viewer, f"You are not following {target.username} anymore.")


@bp.get("/me")
async def me() -> Response:
    """The signed-in user (cookie or token): the user JSON plus `email`; pages go to the
    profile; anonymous → 401 (JSON) or the login page."""
    viewer = await current_viewer()
    if not viewer.is_authenticated:
        raise AuthRequired()
    data = {**await user_json(viewer.id), "email": viewer.email} if wants_json() else None  # type: ignore[union-attr]
    return await respond(redirect_to=url_for("social.user", username=viewer.username), data=data)


@bp.get("/avatar/<avatar_hash>.svg")
async def avatar(avatar_hash: str) -> Response:
    """A deterministic identicon for an avatar hash, cacheable for a year."""
    if not AVATAR_HASH.fullmatch(avatar_hash):
        abort(404)
    response = Response(identicon_svg(avatar_hash), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = AVATAR_CACHE
    return response


@bp.route("/edit-profile", methods=["GET", "POST"])
@login_required
async def edit_profile() -> Response:
    """Edit one's own name, location and about me (Post/Redirect/Get)."""
    viewer: User = await current_viewer()  # type: ignore[assignment]
    form = await bind_form(EditProfileForm, viewer)
    if form.validate_on_submit():
        copy_profile_fields(viewer, form)
        await viewer.save(update_fields=PROFILE_FIELDS)
        return await profile_saved(viewer, "Your profile has been updated.")
    return await form_answer(
        "social/edit_profile.html",
        "social/_edit_profile_form.html",
        form,
        data=await user_json(viewer.id) if wants_json() else None,
        user=viewer,
    )


# -- helpers (moderation.py uses some of them too) ----------------------------------------


@dataclass
class FollowRow:
    """One line of a follower list: the other user (with counts), when, and the button."""

    user: User
    timestamp: datetime
    following: bool
    can_follow: bool


def cursor() -> str | None:
    """The `?cursor=` of this request, if any."""
    return request.args.get("cursor") or None


def per_page(kind: str) -> int:
    """Page size from FLASKY_<kind>_PER_PAGE."""
    return int(current_app.config[f"FLASKY_{kind}_PER_PAGE"])


def avatar_style() -> str:
    """'identicon' or 'gravatar', as configured."""
    return str(current_app.config["FLASKY_AVATARS"])


def next_url(page: Page[Any], endpoint: str, external: bool = False, **values: Any) -> str | None:
    """The URL of the page after `page` (absolute for JSON), or None on the last one."""
    if page.next_cursor is None:
        return None
    return url_for(endpoint, cursor=page.next_cursor, _external=external, **values)


def json_view(build: Callable[[], Any]) -> Any:
    """The JSON body, built only when this request asks for JSON."""
    return build() if wants_json() else None


async def profile_or_404(username: str) -> User:
    """The user with role and counts, or 404."""
    found = await User.profile(username)
    if found is None:
        abort(404)
    return found


async def user_json(user_id: int) -> dict[str, Any]:
    """The user JSON of SPEC §4 for one user, counts included."""
    found = await User.with_counts().get(id=user_id)
    return found.to_json(url_for, avatar_style())


async def relation(viewer: Viewer, other: User) -> tuple[bool, bool]:
    """(viewer follows other, other follows viewer), in one query; False for oneself."""
    if not viewer.is_authenticated or viewer.id == other.id:
        return False, False
    followers = await Follow.filter(
        Q(follower_id=viewer.id, followed_id=other.id)
        | Q(follower_id=other.id, followed_id=viewer.id)
    ).values_list("follower_id", flat=True)
    return viewer.id in followers, other.id in followers


async def follow_rows(follows: list[Follow], side: str, viewer: Viewer) -> list[FollowRow]:
    """The users on one side of `follows`, with counts and the viewer's follow state, in
    two queries whatever the length of the page."""
    ids = [getattr(f, f"{side}_id") for f in follows]
    users = {u.id: u for u in await User.with_counts().filter(id__in=ids)} if ids else {}
    may_follow = viewer.can(Permission.FOLLOW)
    followed: set[int] = set()
    if ids and may_follow:
        followed = set(
            await Follow.filter(follower_id=viewer.id, followed_id__in=ids).values_list(
                "followed_id", flat=True
            )
        )
    return [
        FollowRow(users[uid], f.timestamp, uid in followed, may_follow and uid != viewer.id)
        for f, uid in zip(follows, ids, strict=True)
        if uid in users
    ]


async def bind_form(form_cls: type[F], obj: Any, **values: Any) -> F:
    """The form bound to the submitted form data, or to a JSON object whose absent keys keep
    the current values: `obj`'s, or `values` where given (types checked: strings,
    `true`/`false` for checkboxes, ids for choices)."""
    if request.method != "POST" or not request.is_json:
        form = await form_cls.from_request(obj=obj)  # type: ignore[attr-defined]
        if request.method != "POST":
            _set_data(form, values)
        return form
    payload = await request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object.")
    current = _set_data(form_cls(obj=obj, meta={"csrf": False}), values)
    formdata: MultiDict[str, str] = MultiDict()
    for name, field in current._fields.items():
        if field.type in ("CSRFTokenField", "SubmitField"):
            continue
        value = payload.get(name, field.data)
        formdata.setlist(name, _form_values(name, field, value))
    return form_cls(formdata=formdata, meta={"csrf": False})


def _set_data(form: F, values: dict[str, Any]) -> F:
    """Show `values` in the form's fields (they win over the object's attributes)."""
    for name, value in values.items():
        form[name].data = value
    return form


def _form_values(name: str, field: Any, value: Any) -> list[str]:
    if isinstance(field, BooleanField):
        if not isinstance(value, bool):
            raise BadRequest(f"'{name}' must be true or false.")
        return ["y"] if value else []
    if isinstance(field, SelectField):
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadRequest(f"'{name}' must be an integer id.")
        return [str(value)]
    if value is None:
        return []
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string.")
    return [value]


async def form_answer(
    page: str, fragment: str, form: Form, *, data: Any, **context: Any
) -> Response:
    """Show a form; after a failed submit, with its errors (422 for htmx, 400 for JSON)."""
    submitted = request.method == "POST"
    if submitted and wants_json():
        raise BadRequest(form_error_text(form))
    status = 422 if submitted and request.headers.get("HX-Request") == "true" else 200
    return await respond(page, fragment=fragment, data=data, status=status, form=form, **context)


def form_error_text(form: Form) -> str:
    """Every field error of `form` in one sentence per field."""
    return " ".join(
        f"{form[name].label.text}: {' '.join(errs)}" for name, errs in form.errors.items()
    )


PROFILE_FIELDS = ["name", "location", "about_me"]


def copy_profile_fields(user: User, form: EditProfileForm) -> None:
    """Copy name, location and about me from `form` (blank → empty); the caller saves."""
    user.name = form.name.data or None
    user.location = form.location.data or None
    user.about_me = form.about_me.data or None


async def profile_saved(user: User, message: str) -> Response:
    """After a successful profile edit: PRG to the profile, or the user JSON."""
    if representation() != "json":
        await flash(message, "success")
    return await respond(
        redirect_to=url_for("social.user", username=user.username),
        data=await user_json(user.id) if wants_json() else None,
    )


async def _post_list(
    posts: Page[Post], profile: User, endpoint: str, count: int, kind: str
) -> Response:
    """A list of posts as a page, the items-plus-sentinel fragment, or collection JSON."""
    name = profile.username
    return await respond(
        "social/posts.html",
        fragment="posts/_feed_page.html",
        data=json_view(
            lambda: {
                "posts": [p.to_json(url_for, avatar_style()) for p in posts.items],
                "next": next_url(posts, endpoint, external=True, username=name),
                "count": count,
            }
        ),
        **_feed_context(posts, profile, endpoint),
        kind=kind,
    )


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


async def _follow_list(
    page: Page[Follow], rows: list[FollowRow], profile: User, endpoint: str, count: int
) -> Response:
    """A follower list as a page, the rows-plus-sentinel fragment, or collection JSON."""
    name = profile.username
    return await respond(
        "social/follows.html",
        fragment="social/_follows_page.html",
        data=json_view(
            lambda: {
                "follows": [
                    {"user": r.user.to_json(url_for, avatar_style()), "timestamp": iso(r.timestamp)}
                    for r in rows
                ],
                "next": next_url(page, endpoint, external=True, username=name),
                "count": count,
            }
        ),
        user=profile,
        kind="followers" if endpoint == "social.followers" else "following",
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


async def _follow_answer(target: User, viewer: Viewer, message: str) -> Response:
    """The follow state as JSON, the toggled button with the count out-of-band, or PRG."""
    state = await target.follow_state(viewer)
    if representation() == "page":
        await flash(message, "success")
    return await respond(
        fragment="social/_follow_answer.html",
        data=state,
        redirect_to=url_for("social.user", username=target.username),
        user=target,
        **state,
    )


@functools.lru_cache(maxsize=4096)
def identicon_svg(avatar_hash: str) -> str:
    """A 5×5 mirrored identicon drawn from the hash: cells from its first 15 hex digits,
    colour from its last ones. The same hash always gives the same bytes."""
    hue = int(avatar_hash[-3:], 16) / 4096
    saturation = 0.45 + int(avatar_hash[-5:-3], 16) / 255 * 0.2
    fg = _hex_colour(hue, 0.42, saturation)
    bg = _hex_colour(hue, 0.93, 0.35)
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
        f'<rect width="8" height="8" fill="{bg}"/><path fill="{fg}" d="{path}"/></svg>'
    )


def _hex_colour(hue: float, lightness: float, saturation: float) -> str:
    r, g, b = colorsys.hls_to_rgb(hue, lightness, saturation)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
