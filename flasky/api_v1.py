"""The book's /api/v1 — a thin adapter over the same queries and serializers.

Clients written for *Flask Web Development*'s API keep working: the same paths, methods,
status codes and JSON keys, offset pages (`?page=N` with `prev`, `next`, `count`), and
credentials on every call (HTTP Basic `email:password`, `token:` or a bearer token —
identity.py reads them). Each book shape is one function mapping a model's own
`to_json` to the book's keys; each list reuses the model's query.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, current_app, jsonify, request
from tortoise.queryset import QuerySet

from flasky import throttle
from flasky.exceptions import AuthRequired, BadRequest, Forbidden, Unconfirmed
from flasky.forms import CommentForm, PostForm
from flasky.identity import current_viewer, new_token, require_permission
from flasky.models import Comment, Post, User
from flasky.negotiate import form_error_json
from flasky.permissions import Permission
from flasky.urls import url_for

bp = Blueprint("api_v1", __name__, url_prefix="/api/v1")

NEWEST_FIRST = ("-timestamp", "-id")
OLDEST_FIRST = ("timestamp", "id")


@bp.before_request
async def require_credentials() -> None:
    """Every call needs Basic or token credentials of a confirmed account (the book's
    `auth.login_required`); the session cookie is never read here (identity.HEADER_ONLY)."""
    viewer = await current_viewer()
    if not viewer.is_authenticated:
        raise AuthRequired()
    if not viewer.confirmed:
        raise Unconfirmed()


# -- tokens -----------------------------------------------------------------------------


@bp.post("/tokens/")
async def get_token() -> Response:
    """A bearer token for a caller that proved its password (a token cannot mint another)."""
    return jsonify(await new_token())


# -- posts ------------------------------------------------------------------------------


@bp.get("/posts/")
async def get_posts() -> Response:
    """Everyone's posts, newest first, one offset page."""
    return await _collection(Post.listing(), "posts", book_post, "FLASKY_POSTS_PER_PAGE")


@bp.get("/posts/<int:id>")
async def get_post(id: int) -> Response:
    """One post."""
    return jsonify(book_post(await _post_or_404(id)))


@bp.post("/posts/")
async def new_post() -> Response:
    """Create a post from `{"body"}`: 201 with its URL in `Location`."""
    viewer = await require_permission(Permission.WRITE)
    form = await PostForm.bind()
    if not form.validate_on_submit():
        return form_error_json(form)
    await throttle.check_write("posts", viewer.id)
    post = await Post.publish(viewer, form.body.data)
    return _created(book_post(post))


@bp.put("/posts/<int:id>")
async def edit_post(id: int) -> Response:
    """Change a post's body (its author or an administrator); no `body` keeps it."""
    viewer = await require_permission(Permission.WRITE)
    post = await _post_or_404(id)
    if not post.editable_by(viewer):
        raise Forbidden("Insufficient permissions")
    form = await PostForm.bind(obj=post)  # no "body" keeps the body, as the book does
    if not form.validate_on_submit():
        return form_error_json(form)
    if form.body.data != post.body:
        await post.change_body(form.body.data, actor=viewer.id)
    return jsonify(book_post(post))


# -- users ------------------------------------------------------------------------------


@bp.get("/users/<int:id>")
async def get_user(id: int) -> Response:
    """One user (never email or password hash)."""
    return jsonify(book_user(await _user_or_404(id)))


@bp.get("/users/<int:id>/posts/")
async def get_user_posts(id: int) -> Response:
    """A user's posts, newest first."""
    user = await _user_or_404(id)
    return await _collection(Post.by_author(user), "posts", book_post, "FLASKY_POSTS_PER_PAGE")


@bp.get("/users/<int:id>/timeline/")
async def get_user_followed_posts(id: int) -> Response:
    """Posts of the people a user follows (themselves included), newest first."""
    user = await _user_or_404(id)
    return await _collection(Post.timeline(user), "posts", book_post, "FLASKY_POSTS_PER_PAGE")


# -- comments ---------------------------------------------------------------------------


@bp.get("/comments/")
async def get_comments() -> Response:
    """Every comment, newest first."""
    serialize = await _comment_serializer()
    return await _collection(
        Comment.moderation_queue(), "comments", serialize, "FLASKY_COMMENTS_PER_PAGE"
    )


@bp.get("/comments/<int:id>")
async def get_comment(id: int) -> Response:
    """One comment (a disabled one's body only for moderators)."""
    comment = await Comment.with_details(id)
    if comment is None:
        raise _not_found("comment")
    return jsonify((await _comment_serializer())(comment))


@bp.get("/posts/<int:id>/comments/")
async def get_post_comments(id: int) -> Response:
    """A post's comments, oldest first."""
    if not await Post.exists(id=id):
        raise _not_found("post")
    serialize = await _comment_serializer()
    return await _collection(
        Comment.for_post(id), "comments", serialize, "FLASKY_COMMENTS_PER_PAGE", OLDEST_FIRST
    )


@bp.post("/posts/<int:id>/comments/")
async def new_post_comment(id: int) -> Response:
    """Comment on a post from `{"body"}`: 201 with its URL in `Location`."""
    viewer = await require_permission(Permission.COMMENT)
    post = await Post.get_or_none(id=id)
    if post is None:
        raise _not_found("post")
    form = await CommentForm.bind()
    if not form.validate_on_submit():
        return form_error_json(form)
    await throttle.check_write("comments", viewer.id)
    comment = await Comment.publish(viewer, post, form.body.data)
    return _created(book_comment(comment, show_disabled=True))


# -- the book's shapes, mapped from each model's own to_json ---------------------------


# The book's keys, and `tags` (SPEC §11: a post's tags are in its JSON).
POST_KEYS = (
    "url", "body", "body_html", "timestamp", "author_url", "comments_url", "comment_count", "tags"
)  # fmt: skip
USER_KEYS = (
    "url", "username", "member_since", "last_seen", "posts_url", "followed_posts_url", "post_count"
)  # fmt: skip
COMMENT_KEYS = ("url", "post_url", "body", "body_html", "timestamp", "author_url", "disabled")


# Each link: (key, endpoint, the attribute holding the id it takes).
POST_LINKS = (
    ("url", "api_v1.get_post", "id"),
    ("author_url", "api_v1.get_user", "author_id"),
    ("comments_url", "api_v1.get_post_comments", "id"),
)
USER_LINKS = (
    ("url", "api_v1.get_user", "id"),
    ("posts_url", "api_v1.get_user_posts", "id"),
    ("followed_posts_url", "api_v1.get_user_followed_posts", "id"),
)
COMMENT_LINKS = (
    ("url", "api_v1.get_comment", "id"),
    ("post_url", "api_v1.get_post", "post_id"),
    ("author_url", "api_v1.get_user", "author_id"),
)


def book_post(post: Post) -> dict[str, Any]:
    """The book's post JSON (author fetched, `comment_count` from `Post.listing`)."""
    return _book(post, post.to_json(), POST_KEYS, POST_LINKS)


def book_user(user: User) -> dict[str, Any]:
    """The book's user JSON (counts from `User.with_counts`)."""
    return _book(user, user.to_json(), USER_KEYS, USER_LINKS)


def book_comment(comment: Comment, show_disabled: bool = False) -> dict[str, Any]:
    """The book's comment JSON; a disabled comment's body only when `show_disabled`."""
    return _book(comment, comment.to_json(show_disabled), COMMENT_KEYS, COMMENT_LINKS)


def _book(
    row: Any,
    data: dict[str, Any],
    keys: tuple[str, ...],
    links: tuple[tuple[str, str, str], ...],
) -> dict[str, Any]:
    """The book's keys in the book's order: absolute links into /api/v1 over the model's
    own JSON (a key the model left out, such as a hidden comment's body, stays out)."""
    values = {**data, **{key: _url(end, id=getattr(row, attr)) for key, end, attr in links}}
    return {key: values[key] for key in keys if key in values}


# -- helpers ----------------------------------------------------------------------------


async def _collection(
    query: QuerySet[Any],
    key: str,
    serialize: Any,
    per_page_setting: str,
    order: tuple[str, ...] = NEWEST_FIRST,
) -> Response:
    """One offset page of `query` as `{key: [...], prev, next, count}` (the book's lists)."""
    page = _page_number()
    per_page = current_app.config[per_page_setting]
    count = await query.count()
    rows = await query.order_by(*order).offset((page - 1) * per_page).limit(per_page)
    args = dict(request.view_args or {})
    prev_url = _url(request.endpoint, page=page - 1, **args) if page > 1 else None
    next_url = _url(request.endpoint, page=page + 1, **args) if page * per_page < count else None
    return jsonify(
        {key: [serialize(row) for row in rows], "prev": prev_url, "next": next_url, "count": count}
    )


def _page_number() -> int:
    """`?page=N`, 1 when absent; anything but a positive integer is a 400."""
    raw = request.args.get("page", "1")
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest("page must be a positive integer.")
    return int(raw)


async def _comment_serializer() -> Any:
    """`book_comment` for this viewer: disabled bodies only for moderators."""
    viewer = await current_viewer()
    show = viewer.can(Permission.MODERATE)
    return lambda comment: book_comment(comment, show_disabled=show)


def _created(data: dict[str, Any]) -> Response:
    """201 with the new resource's URL in `Location`."""
    response = jsonify(data)
    response.status_code = 201
    response.headers["Location"] = data["url"]
    return response


async def _post_or_404(id: int) -> Post:
    post = await Post.with_details(id)
    if post is None:
        raise _not_found("post")
    return post


async def _user_or_404(id: int) -> User:
    user = await User.with_counts().get_or_none(id=id)
    if user is None:
        raise _not_found("user")
    return user


def _not_found(what: str) -> BadRequest:
    return BadRequest(f"There is no such {what}.", status=404)


def _url(endpoint: str | None, **values: Any) -> str:
    return url_for(endpoint or "api_v1.get_posts", _external=True, **values)
