"""Home feed, post page, create/edit/delete, comments, preview."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from quart import Blueprint, Response, abort, current_app, request

from flasky import throttle
from flasky.cache import anonymous_page_cache, shows
from flasky.exceptions import BadRequest, Forbidden, TooComplex
from flasky.forms import BaseForm, CommentForm, PostForm, PreviewForm
from flasky.idempotency import idempotent
from flasky.identity import Viewer, current_viewer, permission_required, require_login
from flasky.models import Comment, Follow, Post, User, utcnow
from flasky.negotiate import invalid, representation, respond, wants_fragment, wants_json
from flasky.pagination import Page, collection, cursor, encode_cursor, page_of, per_page
from flasky.permissions import Permission
from flasky.prepared import Bound
from flasky.text import COMMENT_MAX, POST_MAX, render
from flasky.urls import url_for

bp = Blueprint("posts", __name__)

SHOW_FOLLOWED = "show_followed"
SHOW_FOLLOWED_AGE = 30 * 24 * 3600
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FEED_PAGE = "posts/_feed_page.html"


# -- home ----------------------------------------------------------------------------------


@bp.get("/")
@anonymous_page_cache
async def index() -> Response:
    """Home: the post form (WRITE), the All / Followed tabs and a page of the feed."""
    viewer = await current_viewer()
    form = PostForm() if viewer.can(Permission.WRITE) else None
    return await _home(viewer, form)


@bp.post("/")
@permission_required(Permission.WRITE)
@idempotent
async def create_post() -> Response:
    """Publish a post; htmx gets the new card for the top of the feed and a fresh form."""
    viewer: Any = await current_viewer()
    form = await PostForm.bind()
    if not form.validate_on_submit():
        return await _home_with_errors(viewer, form)
    await throttle.check_write("posts", viewer.id)
    post = await Post.publish(viewer, form.body.data)
    return await respond(
        fragment="posts/_post_created.html",
        data=post.to_json,
        redirect_to=url_for("posts.index"),
        created=url_for("posts.post", id=post.id, _external=True),
        flash="Your post has been published.",
        post=post,
        form=PostForm(),
    )


@bp.get("/all")
async def show_all() -> Response:
    """Show everyone's posts on the home page (cookie for 30 days); JSON gets that feed."""
    if wants_json():
        return await _home(await current_viewer(), None, chosen="all")
    return await _remember_feed("")


@bp.get("/followed")
async def show_followed() -> Response:
    """Show the posts of the people one follows on the home page (cookie for 30 days);
    a JSON client (bearer token) gets the followed feed itself."""
    if wants_json():
        return await _home(await require_login(), None, chosen="followed")
    return await _remember_feed("1")


# -- one post --------------------------------------------------------------------------------


@bp.get("/post/<int:id>")
@anonymous_page_cache
async def post(id: int) -> Response:
    """The permalink with its comments."""
    found = await _post_or_404(id)
    return await _post_page(found, fragment="posts/_post.html", data=found.to_json)


@bp.get("/edit/<int:id>")
async def edit_post(id: int) -> Response:
    """The edit form (author or ADMIN)."""
    found = await _editable_post(id)
    return await respond(
        "posts/edit_post.html",
        fragment="posts/_edit_form.html",
        data=found.to_json,
        post=found,
        form=await PostForm.bind(obj=found),
        preview_html=found.body_html,
    )


@bp.put("/post/<int:id>")
@bp.post("/edit/<int:id>")
async def update_post(id: int) -> Response:
    """Save a new body (author or ADMIN) from the edit form, an htmx PUT or JSON."""
    found = await _editable_post(id)
    form = await PostForm.bind()
    if not form.validate_on_submit():
        return await invalid(
            form,
            "posts/edit_post.html",
            fragment="posts/_edit_form.html",
            post=found,
            preview_html=await _typed_preview(form, "post"),
        )
    await found.change_body(form.body.data, actor=(await current_viewer()).id)
    return await respond(
        fragment="posts/_post.html",
        data=found.to_json,
        redirect_to=url_for("posts.post", id=found.id),
        flash="The post has been updated.",
        post=found,
    )


@bp.get("/delete/<int:id>")
async def confirm_delete(id: int) -> Response:
    """The confirmation page of a delete (author or ADMIN), for when scripts are off;
    with scripts the card asks inline."""
    found = await _editable_post(id)
    return await respond("posts/delete_post.html", data=found.to_json, post=found)


@bp.delete("/post/<int:id>")
@bp.post("/delete/<int:id>")
async def delete_post(id: int) -> Response:
    """Delete a post with its comments (author or ADMIN)."""
    found = await _editable_post(id)
    await found.remove(actor=(await current_viewer()).id)
    # Nothing is left to show a program: JSON clients and plain DELETEs get 204.
    if wants_json() or (request.method == "DELETE" and not wants_fragment()):
        return await respond(status=204)
    return await respond(
        fragment="posts/_post_deleted.html",
        redirect_to=url_for("posts.index"),
        flash="The post has been deleted.",
    )


# -- comments --------------------------------------------------------------------------------


@bp.get("/post/<int:id>/comments")
@anonymous_page_cache
async def comments(id: int) -> Response:
    """A post's comments, oldest first, a page at a time."""
    found = await _post_or_404(id)
    viewer = await current_viewer()
    page = await _comment_page(found, _until())
    moderator = viewer.can(Permission.MODERATE)
    return await _post_page(
        found,
        fragment="posts/_comments_page.html",
        data=lambda: collection(
            "comments",
            [c.to_json(moderator) for c in page.items],
            page,
            found.comment_count,
            "posts.comments",
            id=found.id,
        ),
        page=page,
    )


@bp.post("/post/<int:id>/comments")
@permission_required(Permission.COMMENT)
@idempotent
async def add_comment(id: int) -> Response:
    """Publish a comment; htmx gets it for the end of the list and a fresh form."""
    found = await _post_or_404(id)
    viewer: Any = await current_viewer()
    form = await CommentForm.bind()
    if not form.validate_on_submit():
        return await _post_page(found, fragment="posts/_comment_form.html", form=form)
    await throttle.check_write("comments", viewer.id)
    comment = await Comment.publish(viewer, found, form.body.data)
    return await respond(
        fragment="posts/_comment_created.html",
        data=lambda: comment.to_json(viewer.can(Permission.MODERATE)),
        redirect_to=_comment_place(comment, before=found.comment_count),
        created=url_for("posts.comment", id=comment.id, _external=True),
        flash="Your comment has been published.",
        comment=comment,
        post=found,
        comment_form=CommentForm(),
        comment_count=found.comment_count + 1,
    )


@bp.get("/comment/<int:id>")
@anonymous_page_cache
async def comment(id: int) -> Response:
    """One comment: JSON, its fragment, or a redirect to its place on the post page."""
    found = await Comment.with_details(id)
    if found is None:
        abort(404)
    viewer = await current_viewer()
    # Only the page needs the comment's position (one more query): it redirects there.
    place = _comment_place(found, await found.position()) if representation() == "page" else None
    return await respond(
        fragment="posts/_comment.html",
        data=lambda: found.to_json(viewer.can(Permission.MODERATE)),
        redirect_to=place,
        comment=found,
    )


# -- preview ---------------------------------------------------------------------------------


@bp.post("/preview")
async def preview() -> Response:
    """Markdown `body` rendered by the code that stores body_html (fragment or JSON)."""
    form = await PreviewForm.bind()
    if not form.validate_on_submit():
        return await invalid(form, "posts/preview.html", fragment="posts/_preview.html", html="")
    body, kind = form.body.data or "", form.kind.data
    limit = COMMENT_MAX if kind == "comment" else POST_MAX
    html, error = "", None
    if len(body) > limit:
        error = f"Too long to preview: at most {limit:,} characters."
    else:
        try:
            html = await render(body, kind)
        except TooComplex as exc:
            error = exc.message
    if error and wants_json():
        raise BadRequest(error)  # a program gets the 400; a person sees it in the preview box
    # Without scripts the composer's Preview button lands here: the post form comes back
    # under the preview with the text in it, to post or to keep editing.
    viewer = await current_viewer()
    again = None
    if representation() == "page" and kind == "post" and viewer.can(Permission.WRITE):
        again = PostForm(formdata=None, data={"body": body})
    return await respond(
        "posts/preview.html",
        fragment="posts/_preview.html",
        data={"body_html": html},
        html=html,
        error=error,
        form=again,
    )


# -- helpers ---------------------------------------------------------------------------------


FEEDS = ("all", "followed")


def _feed_in_url() -> str | None:
    """`?feed=all` or `?feed=followed` (SPEC §4), which overrides the cookie; else None."""
    chosen = request.args.get("feed")
    if chosen is not None and chosen not in FEEDS:
        raise BadRequest("The feed parameter is all or followed.")
    return chosen


def _chosen_feed(viewer: Viewer, chosen: str | None = None) -> tuple[Bound[Post], bool]:
    """The feed this viewer chose — by the route, the URL's `?feed=` or else the cookie —
    and whether it is the followed one (only a signed-in viewer has one)."""
    chosen = (
        chosen
        or _feed_in_url()
        or ("followed" if request.cookies.get(SHOW_FOLLOWED) == "1" else "all")
    )
    followed = chosen == "followed" and viewer.is_authenticated
    return Post.feed(viewer, followed=followed), followed


async def _home(viewer: Viewer, form: BaseForm | None, chosen: str | None = None) -> Response:
    """The home page: a page of the chosen feed under the post form."""
    query, followed = _chosen_feed(viewer, chosen)
    shows("posts")  # a new or deleted post moves every page of the feed
    feed = await page_of(query, "POSTS")
    in_url = chosen or _feed_in_url()
    # the next pages keep a choice made in the URL (the cookie keeps its own)
    feed_args = {"feed": in_url} if in_url else {}

    async def data() -> dict[str, Any]:
        items = [p.to_json() for p in feed.items]
        return collection("posts", items, feed, await query.count(), "posts.index", **feed_args)

    people = (
        await _people_to_follow(viewer)
        if followed and representation() == "page" and not cursor()
        else []
    )
    response = await respond(
        "posts/index.html",
        fragment=FEED_PAGE,
        data=data,
        form=form,
        preview_html="",
        feed=feed,
        feed_args=feed_args,
        people=people,
        cursor=cursor(),
        show_followed=followed,
    )
    if in_url and viewer.is_authenticated and representation() == "page":
        # a tab chosen stays chosen
        _set_feed_cookie(response, "1" if followed else "", if_changed=True)
    return response


PEOPLE_TO_FOLLOW = 5


async def _people_to_follow(viewer: Viewer) -> list[User]:
    """For a newcomer (following fewer than five people): up to five who posted lately
    and whom they do not follow yet, with counts (three queries, on the Followed tab)."""
    if not isinstance(viewer, User) or not viewer.can(Permission.FOLLOW):
        return []
    following = await Follow.following_others(viewer.id, PEOPLE_TO_FOLLOW)
    if len(following) >= PEOPLE_TO_FOLLOW:
        return []
    skip = following | {viewer.id}
    ids = [i for i in await Post.recent_author_ids() if i not in skip][:PEOPLE_TO_FOLLOW]
    users = {u.id: u for u in await User.with_counts().filter(id__in=ids)} if ids else {}
    return [users[i] for i in ids if i in users]


async def _home_with_errors(viewer: Viewer, form: BaseForm) -> Response:
    """After a failed post: the form again with its errors. The form's fragment holds no
    feed, so only a full page queries one."""
    query, followed = _chosen_feed(viewer)
    feed = await page_of(query, "POSTS") if representation() == "page" else None
    return await invalid(
        form,
        "posts/index.html",
        fragment="posts/_post_form.html",
        headers=_retarget("#post-form"),
        preview_html=await _typed_preview(form, "post"),
        feed=feed,
        cursor=cursor(),
        show_followed=followed,
    )


async def _post_page(
    post: Post,
    *,
    fragment: str,
    data: Any = None,
    page: Page[Comment] | None = None,
    form: BaseForm | None = None,
) -> Response:
    """The post page (or `fragment`): the post, a page of comments and the comment form;
    with a `form` given, that comment form failed and comes back with its errors."""
    viewer = await current_viewer()
    until = _until()
    if page is None and representation() == "page":
        page = await _comment_page(post, until)
    context = {
        "post": post,
        "comments": page,
        "cursor": cursor(),
        "until": _encode_until(until),
    }
    if form is not None:
        return await invalid(
            form,
            "posts/post.html",
            fragment=fragment,
            headers=_retarget("#comment-form"),
            comment_form=form,
            preview_html=await _typed_preview(form, "comment"),
            **context,
        )
    comment_form = CommentForm() if viewer.can(Permission.COMMENT) else None
    return await respond(
        "posts/post.html",
        fragment=fragment,
        data=data,
        comment_form=comment_form,
        preview_html="",
        **context,
    )


async def _comment_page(post: Post, until: datetime) -> Page[Comment]:
    """One page of `post`'s comments, oldest first, none written after `until`."""
    return await page_of(Comment.on_post_until(post.id, until), "COMMENTS", newest_first=False)


def _comment_place(comment: Comment, before: int) -> str:
    """The post page URL that shows `comment` (`before` comments precede it)."""
    anchor = f"comment-{comment.id}"
    if before < per_page("COMMENTS"):
        return url_for("posts.post", id=comment.post_id, _anchor=anchor)
    # a cursor just before this comment: its page starts with it
    start = encode_cursor(comment.timestamp, comment.id - 1)
    return url_for("posts.post", id=comment.post_id, cursor=start, _anchor=anchor)


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
    _set_feed_cookie(response, value)
    return response


def _set_feed_cookie(response: Response, value: str, *, if_changed: bool = False) -> None:
    """Remember the home feed chosen ("1": followed) for 30 days."""
    if if_changed and request.cookies.get(SHOW_FOLLOWED, "") == value:
        return
    response.set_cookie(
        SHOW_FOLLOWED,
        value,
        max_age=SHOW_FOLLOWED_AGE,
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
    )


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
