"""Moderation queue, enable/disable, admin profile edit."""

from __future__ import annotations

from quart import Blueprint, Response, abort, request
from tortoise.exceptions import IntegrityError

from flasky.exceptions import BadRequest
from flasky.feed import change
from flasky.forms import EditProfileAdminForm
from flasky.identity import admin_required, current_viewer, permission_required
from flasky.models import Comment, Role, User, email_hash, follow_rename, normal_email
from flasky.negotiate import invalid, respond
from flasky.pagination import Page, collection, next_url, page_of
from flasky.permissions import Permission
from flasky.urls import local_path, url_for

bp = Blueprint("moderation", __name__)

ADMIN_FIELDS = ["email", "avatar_hash", "username", "confirmed", "role_id"]


# `?show=` of the queue: which comments, as the `disabled` filter of the query.
SHOWS = {"all": None, "disabled": True, "enabled": False}


@bp.get("/moderate")
@permission_required(Permission.MODERATE)
async def moderate() -> Response:
    """Every comment (or `?show=disabled` / `enabled`), newest first, each with the post
    it is on and Enable / Disable."""
    show = request.args.get("show", "all")
    if show not in SHOWS:
        raise BadRequest("The show parameter is all, disabled or enabled.")
    query = Comment.moderation_queue(SHOWS[show])
    page: Page[Comment] = await page_of(query, "COMMENTS")
    args = {} if show == "all" else {"show": show}

    async def data() -> dict:
        # moderators see the bodies of disabled comments too
        items = [c.to_json(show_disabled=True) for c in page.items]
        count = await query.count()
        return collection("comments", items, page, count, "moderation.moderate", **args)

    return await respond(
        "moderation/moderate.html",
        fragment="moderation/_queue_page.html",
        data=data,
        comments=page.items,
        show=show,
        next_url=next_url(page, "moderation.moderate", **args),
    )


@bp.post("/moderate/enable/<int:id>")
@permission_required(Permission.MODERATE)
async def enable(id: int) -> Response:
    """Show a comment again; answers with the comment swapped in place."""
    return await _set_disabled(id, False)


@bp.post("/moderate/disable/<int:id>")
@permission_required(Permission.MODERATE)
async def disable(id: int) -> Response:
    """Hide a comment's body from everyone but moderators; answers like `enable`."""
    return await _set_disabled(id, True)


@bp.route("/edit-profile/<int:id>", methods=["GET", "POST"])
@admin_required
async def edit_profile_admin(id: int) -> Response:
    """An administrator edits anyone's account: also email, username, confirmed, role."""
    user = await User.get_or_none(id=id)
    if user is None:
        abort(404)
    form = await EditProfileAdminForm.bind(obj=user, role=user.role_id)
    form.role.choices = [(r.id, r.name) for r in await Role.all().order_by("permissions")]
    if form.validate_on_submit() and await _save_admin_edit(user, form):
        return await respond(
            redirect_to=url_for("social.user", username=user.username),
            data=lambda: User.json_of(user.id),
            flash=f"The profile of {user.username} has been updated.",
        )
    page, fragment = "moderation/edit_profile.html", "moderation/_edit_profile_form.html"
    if form.errors:
        return await invalid(form, page, fragment=fragment, user=user)
    return await respond(
        page, fragment=fragment, data=lambda: User.json_of(user.id), form=form, user=user
    )


# -- helpers --------------------------------------------------------------------------------


async def _set_disabled(comment_id: int, disabled: bool) -> Response:
    """Switch a comment off or on: the comment fragment, its JSON, or back where it was."""
    comment = await Comment.with_details(comment_id)
    if comment is None:
        abort(404)
    viewer = await current_viewer()
    await comment.set_disabled(disabled, actor=viewer.id)
    # in the queue the swapped comment keeps its line naming the post
    in_queue = (await request.form).get("in") == "queue"
    if in_queue:
        await comment.fetch_related("post")
    return await respond(
        fragment="posts/_comment.html",
        data=lambda: comment.to_json(show_disabled=True),
        redirect_to=await _back(),
        comment=comment,
        in_queue=in_queue,
    )


async def _back() -> str:
    """Where a no-JS moderator returns to: a local `next` field, else a local referrer,
    else the moderation queue (never another site)."""
    form = await request.form
    for candidate in (form.get("next"), request.referrer):
        local = local_path(candidate)
        if local:
            return local
    return url_for("moderation.moderate")


async def _save_admin_edit(user: User, form: EditProfileAdminForm) -> bool:
    """Apply the admin form in one write; False (with the errors on the form) when the new
    email or username belongs to someone else, in any case."""
    email, username = normal_email(form.email.data), form.username.data
    email_taken, name_taken = await User.identity_taken(email, username, exclude_id=user.id)
    if email_taken:
        form.email.errors = [*form.email.errors, "Email already registered."]
    if name_taken:
        form.username.errors = [*form.username.errors, "Username already in use."]
    if email_taken or name_taken:
        return False
    if email != user.email:
        user.email, user.avatar_hash = email, email_hash(email)
    renamed_from = user.username
    user.username, user.confirmed = username, form.confirmed.data
    user.role_id = form.role.data
    form.copy_profile(user)
    actor = (await current_viewer()).id
    try:
        async with change("user-updated", *user.session_topics(), actor=actor) as writing:
            await user.save(update_fields=[*ADMIN_FIELDS, *form.PROFILE_FIELDS])
            await follow_rename(writing, user.id, renamed_from, user.username)
    except IntegrityError:
        form.username.errors = [*form.username.errors, "That email or username was just taken."]
        return False
    return True
