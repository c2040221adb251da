"""Home feed, post page, create/edit/delete, comments, preview."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from quart import Blueprint, Response, abort, current_app, flash, request

from flasky import throttle
from flasky.cache import anonymous_page_cache
from flasky.exceptions import BadRequest, Forbidden, TooComplex
from flasky.forms import BaseForm, CommentForm, PostForm
from flasky.identity import (
    Viewer,
    authenticated_by_header,
    current_viewer,
    require_login,
)
from flasky.models import Comment, Post, utcnow
from flasky.negotiate import representation, respond, wants_fragment, wants_json
from flasky.pagination import Page, encode_cursor, keyset_page
from flasky.permissions import Permission, permission_required
from flasky.text import COMMENT_MAX, POST_MAX, render
from flasky.urls import url_for

bp = Blueprint("posts", __name__)

SHOW_FOLLOWED = "show_followed"
SHOW_FOLLOWED_AGE = 30 * 24 * 3600
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FEED_PAGE = "posts/_feed_page.html"


# -- home ----------------------------------------------------------------------------------


@bp.route("/", methods=["GET", "POST"])
@anonymous_page_cache
async def index() -> Response:
    """Home: the post form (WRITE), the All / Followed tabs and a page of the feed."""
    if request.method == "POST":
        return await _create_post()
    viewer = await current_viewer()
    form = PostForm() if viewer.can(Permission.WRITE) else None
    return await _home(viewer, form)


@permission_required(Permission.WRITE)
async def _create_post() -> Response:
    """Publish a post; htmx gets the new card for the top of the feed and a fresh form."""
    viewer = await current_viewer()
    body, form = await _read_body(PostForm, POST_MAX)
    if body is None:
        return await _home(viewer, form, status=422, fragment="posts/_post_form.html")
    await throttle.check_write("posts", viewer.id)  # type: ignore[arg-type]
    post = await Post.publish(viewer, body)  # type: ignore[arg-type]
    await _flash("Your post has been published.")
    return await respond(
        fragment="posts/_post_created.html",
        data=post.to_json(url_for, _avatars()),
        redirect_to=url_for("posts.index"),
        **_created(url_for("posts.post", id=post.id, _external=True)),
        post=post,
        form=PostForm(),
    )


@bp.get("/all")
async def show_all() -> Response:
    """Show everyone's posts on the home page (cookie for 30 days)."""
    return await _remember_feed("")


@bp.get("/followed")
async def show_followed() -> Response:
    """Show the posts of the people one follows on the home page (cookie for 30 days)."""
    return await _remember_feed("1")


# -- one post --------------------------------------------------------------------------------


@bp.route("/post/<int:id>", methods=["GET", "PUT", "DELETE"])
@anonymous_page_cache
async def post(id: int) -> Response:
    """The permalink with its comments; PUT edits, DELETE deletes (author or ADMIN)."""
    if request.method == "PUT":
        return await _update_post(id)
    if request.method == "DELETE":
        return await _delete_post(id)
    found = await _post_or_404(id)
    return await _post_page(found, fragment="posts/_post.html", data=_post_json(found))


@bp.route("/edit/<int:id>", methods=["GET", "POST"])
async def edit_post(id: int) -> Response:
    """The edit form (author or ADMIN); a valid POST saves and shows the post."""
    if request.method == "POST":
        return await _update_post(id)
    found = await _editable_post(id)
    return await respond(
        "posts/edit_post.html",
        fragment="posts/_edit_form.html",
        data=_post_json(found),
        post=found,
        form=PostForm(obj=found),
        preview_html=found.body_html,
    )


@bp.post("/delete/<int:id>")
async def delete_post(id: int) -> Response:
    """Delete a post from a form (author or ADMIN)."""
    return await _delete_post(id)


async def _update_post(id: int) -> Response:
    """Save a new body from the edit form, an htmx PUT or JSON; answer with the post."""
    found = await _editable_post(id)
    body, form = await _read_body(PostForm, POST_MAX)
    if body is None:
        return await respond(
            "posts/edit_post.html",
            fragment="posts/_edit_form.html",
            status=422,
            post=found,
            form=form,
            preview_html=await _typed_preview(form, "post"),
        )
    await found.change_body(body)
    await _flash("The post has been updated.")
    return await respond(
        fragment="posts/_post.html",
        data=_post_json(found),
        redirect_to=url_for("posts.post", id=found.id),
        post=found,
    )


async def _delete_post(id: int) -> Response:
    """Delete with its comments: 204 for JSON, an empty swap for htmx, else back home."""
    found = await _editable_post(id)
    await found.delete()
    if wants_json() or (request.method == "DELETE" and not wants_fragment()):
        return await respond(status=204)
    await _flash("The post has been deleted.")
    return await respond(fragment="posts/_post_deleted.html", redirect_to=url_for("posts.index"))


# -- comments --------------------------------------------------------------------------------


@bp.route("/post/<int:id>/comments", methods=["GET", "POST"])
@anonymous_page_cache
async def comments(id: int) -> Response:
    """A post's comments, oldest first, a page at a time; POST adds one (COMMENT)."""
    if request.method == "POST":
        return await _add_comment(id)
    found = await _post_or_404(id)
    viewer = await current_viewer()
    page = await _comment_page(found, _until())
    data = _comment_collection(found, page, viewer) if wants_json() else None
    return await _post_page(found, fragment="posts/_comments_page.html", data=data, page=page)


@permission_required(Permission.COMMENT)
async def _add_comment(id: int) -> Response:
    """Publish a comment; htmx gets it for the end of the list and a fresh form."""
    found = await _post_or_404(id)
    viewer = await current_viewer()
    body, form = await _read_body(CommentForm, COMMENT_MAX)
    if body is None:
        return await _post_page(found, fragment="posts/_comment_form.html", form=form, status=422)
    await throttle.check_write("comments", viewer.id)  # type: ignore[arg-type]
    comment = await Comment.publish(viewer, found, body)  # type: ignore[arg-type]
    await _flash("Your comment has been published.")
    return await respond(
        fragment="posts/_comment_created.html",
        data=comment.to_json(url_for, viewer.can(Permission.MODERATE), _avatars()),
        redirect_to=_comment_place(comment, before=found.comment_count),  # type: ignore[attr-defined]
        **_created(url_for("posts.comment", id=comment.id, _external=True)),
        c=comment,
        post=found,
        comment_form=CommentForm(),
        comment_count=found.comment_count + 1,  # type: ignore[attr-defined]
    )


@bp.get("/comment/<int:id>")
@anonymous_page_cache
async def comment(id: int) -> Response:
    """One comment: JSON, its fragment, or a redirect to its place on the post page."""
    found = await Comment.with_details(id)
    if found is None:
        abort(404)
    viewer = await current_viewer()
    place = _comment_place(found, await found.position()) if representation() == "page" else None
    return await respond(
        fragment="posts/_comment.html",
        data=found.to_json(url_for, viewer.can(Permission.MODERATE), _avatars()),
        redirect_to=place,
        c=found,
    )


# -- preview ---------------------------------------------------------------------------------


@bp.post("/preview")
async def preview() -> Response:
    """Markdown `body` rendered by the code that stores body_html (fragment or JSON)."""
    body, kind = await _preview_input()
    limit = COMMENT_MAX if kind == "comment" else POST_MAX
    error = None
    if len(body) > limit:
        if wants_json():
            raise BadRequest(f"The body is longer than {limit:,} characters.")
        error = f"Too long to preview: at most {limit:,} characters."
    html = ""
    if not error:
        try:
            html = await render(body, kind)
        except TooComplex:
            if wants_json():
                raise
            error = TooComplex().message
    return await respond(
        "posts/preview.html",
        fragment="posts/_preview.html",
        data={"body_html": html},
        html=html,
        error=error,
    )


# -- helpers ---------------------------------------------------------------------------------


async def _home(
    viewer: Viewer,
    form: BaseForm | None,
    *,
    status: int = 200,
    fragment: str = FEED_PAGE,
) -> Response:
    """The home page (or `fragment`) with the feed this viewer chose."""
    followed = viewer.is_authenticated and request.cookies.get(SHOW_FOLLOWED) == "1"
    query = Post.feed(viewer, followed=followed)
    cursor = request.args.get("cursor") or None
    feed = None
    if fragment == FEED_PAGE or representation() != "fragment":
        feed = await keyset_page(query, cursor, current_app.config["FLASKY_POSTS_PER_PAGE"])
    data = None
    if wants_json() and feed is not None:
        data = _collection(
            "posts",
            [p.to_json(url_for, _avatars()) for p in feed.items],
            feed,
            await query.count(),
            "posts.index",
        )
    return await respond(
        "posts/index.html",
        fragment=fragment,
        data=data,
        status=status,
        headers=_retarget("#post-form") if status == 422 else None,
        feed=feed,
        cursor=cursor,
        form=form,
        show_followed=followed,
        preview_html=await _typed_preview(form, "post") if status == 422 else "",
    )


async def _post_page(
    post: Post,
    *,
    fragment: str,
    data: Any = None,
    page: Page[Comment] | None = None,
    form: BaseForm | None = None,
    status: int = 200,
) -> Response:
    """The post page (or `fragment`): the post, a page of comments and the comment form."""
    viewer = await current_viewer()
    until = _until()
    if page is None and representation() == "page":
        page = await _comment_page(post, until)
    if form is None and viewer.can(Permission.COMMENT):
        form = CommentForm()
    return await respond(
        "posts/post.html",
        fragment=fragment,
        data=data,
        status=status,
        headers=_retarget("#comment-form") if status == 422 else None,
        post=post,
        comments=page,
        cursor=request.args.get("cursor") or None,
        until=_encode_until(until),
        comment_form=form,
        preview_html=await _typed_preview(form, "comment") if status == 422 else "",
    )


async def _comment_page(post: Post, until: datetime) -> Page[Comment]:
    """One page of `post`'s comments, oldest first, none written after `until`."""
    query = Comment.for_post(post.id).filter(timestamp__lte=until)
    per_page = current_app.config["FLASKY_COMMENTS_PER_PAGE"]
    return await keyset_page(query, request.args.get("cursor"), per_page, newest_first=False)


def _comment_collection(post: Post, page: Page[Comment], viewer: Viewer) -> dict[str, Any]:
    """The comments collection JSON; disabled bodies only for moderators."""
    moderator = viewer.can(Permission.MODERATE)
    items = [c.to_json(url_for, moderator, _avatars()) for c in page.items]
    count = post.comment_count  # type: ignore[attr-defined]
    return _collection("comments", items, page, count, "posts.comments", id=post.id)


def _collection(
    key: str, items: list[dict[str, Any]], page: Page[Any], count: int, endpoint: str, **values: Any
) -> dict[str, Any]:
    """`{key: [...], "next": absolute URL or null, "count": N}`."""
    next_url = None
    if page.next_cursor:
        next_url = url_for(endpoint, cursor=page.next_cursor, _external=True, **values)
    return {key: items, "next": next_url, "count": count}


def _comment_place(comment: Comment, before: int) -> str:
    """The post page URL that shows `comment` (`before` comments precede it)."""
    anchor = f"comment-{comment.id}"
    post_id = comment.post_id  # type: ignore[attr-defined]
    if before < current_app.config["FLASKY_COMMENTS_PER_PAGE"]:
        return url_for("posts.post", id=post_id, _anchor=anchor)
    # a cursor just before this comment: its page starts with it
    cursor = encode_cursor(comment.timestamp, comment.id - 1)
    return url_for("posts.post", id=post_id, cursor=cursor, _anchor=anchor)


async def _read_body(form_class: type[BaseForm], limit: int) -> tuple[str | None, BaseForm | None]:
    """The submitted `body` from JSON or the form: (body, form), or (None, form) on errors.

    JSON bodies and JSON answers get a 400 with a message instead of a form.
    """
    if request.is_json:
        payload = await request.get_json(silent=True)
        body = payload.get("body") if isinstance(payload, dict) else None
        if not isinstance(body, str):
            raise BadRequest('Send a JSON object with a string "body".')
        if not body.strip():
            raise BadRequest("The body must not be empty.")
        if len(body) > limit:
            raise BadRequest(f"The body is longer than {limit:,} characters.")
        return body, None
    meta = {"csrf": False} if authenticated_by_header() else {}
    form = await form_class.from_request(meta=meta)
    if form.validate_on_submit():
        return form.body.data, form  # type: ignore[attr-defined]
    if wants_json():
        first = next(iter(form.errors.values()), ["The form is not valid."])
        raise BadRequest(str(first[0]))
    return None, form


async def _preview_input() -> tuple[str, str]:
    """(body, kind) of a preview request, from JSON or the form."""
    if request.is_json:
        payload = await request.get_json(silent=True)
        if not isinstance(payload, dict):
            raise BadRequest('Send a JSON object with a string "body".')
    else:
        payload = dict((await request.form).items())
    body, kind = payload.get("body", ""), payload.get("kind", "post")
    if not isinstance(body, str):
        raise BadRequest('"body" must be a string.')
    if kind not in ("post", "comment"):
        raise BadRequest('"kind" must be "post" or "comment".')
    return body, kind


async def _post_or_404(id: int) -> Post:
    """The post with author and comment count, or 404."""
    found = await Post.with_details(id)
    if found is None:
        abort(404)
    return found


async def _editable_post(id: int) -> Post:
    """The post if the signed-in viewer wrote it or is an administrator (401/404/403)."""
    viewer = await require_login()
    found = await _post_or_404(id)
    if not found.editable_by(viewer):
        raise Forbidden("Only the author or an administrator may change this post.")
    return found


async def _remember_feed(value: str) -> Response:
    """Set the show_followed cookie and go home."""
    response = await respond(redirect_to=url_for("posts.index"))
    response.set_cookie(
        SHOW_FOLLOWED,
        value,
        max_age=SHOW_FOLLOWED_AGE,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
    )
    return response


async def _flash(message: str) -> None:
    """Flash for pages and htmx answers (JSON clients never see flashes)."""
    if not wants_json():
        await flash(message, "success")


def _post_json(post: Post) -> dict[str, Any]:
    return post.to_json(url_for, _avatars())


def _avatars() -> str:
    return current_app.config["FLASKY_AVATARS"]


def _created(location: str) -> dict[str, Any]:
    """201 + Location for JSON answers to a create; nothing special otherwise."""
    return {"status": 201, "headers": {"Location": location}} if wants_json() else {}


def _retarget(selector: str) -> dict[str, str] | None:
    """Swap an htmx form-error answer over the form itself, whatever the form targets."""
    return {"HX-Retarget": selector, "HX-Reswap": "outerHTML"} if wants_fragment() else None


async def _typed_preview(form: BaseForm | None, kind: str) -> str:
    """The preview of what the person typed, for a form sent back with errors."""
    data = getattr(getattr(form, "body", None), "data", None)
    if not isinstance(data, str) or len(data) > POST_MAX:
        return ""
    try:
        return await render(data, kind)
    except TooComplex:
        return ""


def _encode_until(moment: datetime) -> str:
    """Microseconds since the epoch: the `until` bound of a comment list."""
    return str((moment - EPOCH) // timedelta(microseconds=1))


def _until() -> datetime:
    """The `?until=` bound of a comment list, else now.

    The infinite scroll's later pages carry the moment the first was drawn, so a
    comment posted since (one's own, which htmx appends at the end) is not fetched twice.
    """
    raw = request.args.get("until")
    if not raw:
        return utcnow()
    try:
        return EPOCH + timedelta(microseconds=int(raw))
    except (ValueError, OverflowError) as exc:
        raise BadRequest("The until parameter is not valid.") from exc
