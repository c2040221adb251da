"""Accounts: register, log in and out, confirm the address, change or reset the password,
change the address, API tokens — each page as a full page, an htmx fragment or JSON.

Where the contract is silent (README, "Accounts and email"):
- A form with errors comes back as its page with 200, or — for an htmx request that is
  not a boosted navigation — as the form fragment with 422, which htmx swaps in place.
  JSON clients send the same fields as a JSON object (CSRF in `X-CSRFToken`) and get
  400 with `errors` per field; GET with `Accept: application/json` describes the form
  and hands out a CSRF token.
- A new account is signed in at once and sent to /auth/unconfirmed until its address
  is confirmed. A link that is invalid, expired, already used or for another purpose
  answers 400 and changes nothing.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response, current_app, request
from tortoise.exceptions import IntegrityError

from flasky import security, throttle
from flasky.email import queue_mail
from flasky.errors import WWW_AUTHENTICATE, error_response
from flasky.exceptions import AuthRequired
from flasky.forms import (
    USERNAME_MESSAGE,
    BaseForm,
    ChangeEmailForm,
    ChangePasswordForm,
    LoginForm,
    PasswordResetForm,
    PasswordResetRequestForm,
    RegistrationForm,
)
from flasky.identity import (
    current_viewer,
    new_token,
    sign_in,
    sign_out,
    verify_credentials,
)
from flasky.models import User, normal_email
from flasky.negotiate import invalid, json_error, respond, wants_json
from flasky.urls import local_path, url_for

bp = Blueprint("auth", __name__, url_prefix="/auth")


NEW_PASSWORD_HINT = "At least 8 characters."


@bp.route("/login", methods=["GET", "POST"])
async def login() -> Response:
    """Log in by email and password (throttled); then go to `?next=` if it is local."""
    form = await LoginForm.bind()
    next_url = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        user = await verify_credentials(form.email.data, form.password.data)
        if user is not None:
            await sign_in(user, remember=bool(form.remember_me.data))
            data = {"message": "You are logged in.", "username": user.username}
            data["confirmed"] = user.confirmed
            return await finish(next_url or url_for("posts.index"), None, data=data)
        if wants_json():
            return _unauthorized("Invalid email or password.")
        form.password.errors.append("Invalid email or password.")
    action = url_for("auth.login", next=next_url) if next_url else url_for("auth.login")
    return await form_page("auth/login.html", form, action=action, boost=False)


@bp.post("/logout")
async def logout() -> Response:
    """End the session, on the server too (a copy of the cookie stops working)."""
    await sign_out()
    return await finish(url_for("posts.index"), "You have been logged out.")


@bp.route("/register", methods=["GET", "POST"])
async def register() -> Response:
    """Create an account (signed in, unconfirmed) and mail its confirmation link."""
    form = await RegistrationForm.bind()
    if form.validate_on_submit() and not await identity_taken(form):
        await throttle.check_registration()
        try:
            user = await User.register(
                email=form.email.data,
                username=form.username.data,
                password=form.password.data,
                admin_email=current_app.config.get("FLASKY_ADMIN", ""),
                on_created=mail_new_account,
            )
        except IntegrityError:  # someone took the name or address a moment ago
            await identity_taken(form)
        else:
            await throttle.record_registration()
            await sign_in(user)
            message = "We sent you an email with a link to confirm your account."
            url = url_for("social.user", username=user.username, _external=True)
            data = {"username": user.username, "url": url}
            return await finish(url_for("auth.unconfirmed"), message, data=data, created=url)
    return await form_page(
        "auth/register.html",
        form,
        action=url_for("auth.register"),
        boost=False,
        hints={"username": USERNAME_MESSAGE, "password": NEW_PASSWORD_HINT},
    )


@bp.get("/confirm/<token>")
async def confirm(token: str) -> Response:
    """Confirm the account the token names; no login needed; a token works once."""
    if await User.confirm_token(token) is None:
        return await error_response(
            400, "The confirmation link is invalid, expired or already used."
        )
    return await finish(url_for("posts.index"), "You have confirmed your account. Thanks!")


@bp.post("/confirm")
async def resend_confirmation() -> Response:
    """Mail a new confirmation link to the signed-in, unconfirmed account."""
    viewer = await signed_in()
    if viewer.confirmed:
        return await finish(url_for("posts.index"), "Your account is already confirmed.")
    await mail_confirmation(viewer)
    return await finish(url_for("auth.unconfirmed"), "We sent you a new confirmation email.")


@bp.get("/unconfirmed")
async def unconfirmed() -> Response:
    """Where unconfirmed accounts wait; offers a new confirmation email."""
    viewer = await current_viewer()
    if not viewer.is_authenticated or viewer.confirmed:
        return await respond(
            redirect_to=url_for("posts.index"), data={"confirmed": viewer.confirmed}
        )
    data = {
        "confirmed": False,
        "message": "You have not confirmed your account yet.",
        "resend_url": url_for("auth.resend_confirmation", _external=True),
    }
    return await respond("auth/unconfirmed.html", data=data, user=viewer)


@bp.route("/change-password", methods=["GET", "POST"])
async def change_password() -> Response:
    """Change one's password (the old one required); other sessions end."""
    viewer = await signed_in()
    form = await ChangePasswordForm.bind()
    if form.validate_on_submit():
        if await verify_credentials(viewer.email, form.old_password.data, viewer):
            await viewer.change_password(form.password.data)  # every session ends
            await sign_in(viewer)  # and this browser gets a new one
            return await finish(url_for("posts.index"), "Your password has been updated.")
        form.old_password.errors.append("Invalid password.")
    return await form_page(
        "auth/change_password.html",
        form,
        action=url_for("auth.change_password"),
        hints={"password": NEW_PASSWORD_HINT},
    )


@bp.route("/reset", methods=["GET", "POST"])
async def password_reset_request() -> Response:
    """Mail a reset link; the same answer whether or not the address has an account."""
    form = await PasswordResetRequestForm.bind()
    if form.validate_on_submit():
        user = await User.by_email(form.email.data)
        if user is not None and await throttle.mail_allowed("reset", user.id, user.email):
            await queue_mail(
                user.email,
                "Reset Your Password",
                "reset_password",
                user=user,
                token=user.generate_reset_token(),
            )
        message = "An email with instructions to reset your password has been sent to you."
        return await finish(url_for("auth.login"), message)
    return await form_page(
        "auth/reset_request.html", form, action=url_for("auth.password_reset_request")
    )


@bp.route("/reset/<token>", methods=["GET", "POST"])
async def password_reset(token: str) -> Response:
    """Set a new password from a reset link (which dies with the old password)."""
    found = await User.from_token("reset", token)
    if found is None:
        return await error_response(
            400, "The password reset link is invalid, expired or already used."
        )
    form = await PasswordResetForm.bind()
    if form.validate_on_submit() and await User.reset_password(token, form.password.data):
        await throttle.forgive_account(found[0].email)  # its sessions ended with the password
        return await finish(url_for("auth.login"), "Your password has been updated.")
    return await form_page(
        "auth/reset_password.html",
        form,
        action=url_for("auth.password_reset", token=token),
        hints={"password": NEW_PASSWORD_HINT},
    )


@bp.route("/change_email", methods=["GET", "POST"])
async def change_email_request() -> Response:
    """Mail a link to the new address; the change happens when it is opened."""
    viewer = await signed_in()
    form = await ChangeEmailForm.bind()
    if form.validate_on_submit() and await email_change_allowed(viewer, form):
        new_email = normal_email(form.email.data)
        if await throttle.mail_allowed("change_email", viewer.id, new_email):
            await queue_mail(
                new_email,
                "Confirm your email address",
                "change_email",
                user=viewer,
                token=viewer.generate_email_change_token(new_email),
            )
        message = (
            "An email with instructions to confirm your new email address has been sent to you."
        )
        return await finish(url_for("posts.index"), message)
    return await form_page(
        "auth/change_email.html", form, action=url_for("auth.change_email_request")
    )


@bp.get("/change_email/<token>")
async def change_email(token: str) -> Response:
    """Apply an address change from the link mailed to the new address."""
    viewer = await signed_in()
    if not await viewer.change_email(token):
        return await error_response(
            400, "The email change link is invalid, expired or already used."
        )
    return await finish(url_for("posts.index"), "Your email address has been updated.")


@bp.post("/tokens")
async def tokens() -> Response:
    """Trade HTTP Basic email:password for a bearer token; a token cannot mint tokens."""
    return await respond(data=await new_token())


# -- helpers ------------------------------------------------------------------------------


def safe_next(target: str | None) -> str | None:
    """`?next=` when it is a path on this site (urls.local_path, the one guard)."""
    return local_path(target)


async def signed_in() -> User:
    """The signed-in viewer, confirmed or not (every /auth page serves both)."""
    viewer = await current_viewer()
    if not isinstance(viewer, User):
        raise AuthRequired()
    return viewer


async def identity_taken(form: RegistrationForm) -> bool:
    """Put "already registered" / "already in use" on the form; True when either is."""
    email_taken, name_taken = await User.identity_taken(form.email.data, form.username.data)
    if email_taken and "Email already registered." not in form.email.errors:
        form.email.errors.append("Email already registered.")
    if name_taken and "Username already in use." not in form.username.errors:
        form.username.errors.append("Username already in use.")
    return email_taken or name_taken


async def email_change_allowed(user: User, form: ChangeEmailForm) -> bool:
    """The password is right (throttled) and the new address is free; else form errors."""
    if not await verify_credentials(user.email, form.password.data, user):
        form.password.errors.append("Invalid password.")
        return False
    if (await User.identity_taken(form.email.data, None))[0]:
        form.email.errors.append("Email already registered.")
        return False
    return True


async def mail_confirmation(user: User, connection: Any = None) -> None:
    """Queue the confirmation mail (in `connection`'s transaction if given), at most
    three an hour per account and address (past that, silently nothing)."""
    if not await throttle.mail_allowed("confirm", user.id, user.email, connection):
        return
    await queue_mail(
        user.email,
        "Confirm Your Account",
        "confirm",
        connection=connection,
        user=user,
        token=user.generate_confirmation_token(),
    )


async def mail_new_account(user: User, connection: Any) -> None:
    """Inside registration's transaction: the confirmation mail and the admin's notice."""
    await mail_confirmation(user, connection)
    admin = current_app.config.get("FLASKY_ADMIN")
    if admin:
        await queue_mail(admin, "New User", "new_user", connection=connection, user=user)


async def form_page(page: str, form: BaseForm, **context: Any) -> Response:
    """The form's page; after a failed POST the form again with its errors (`invalid`).
    A JSON GET describes the fields and hands out a CSRF token."""
    context.setdefault("hints", {})
    if request.method == "POST":
        return await invalid(form, page, fragment="auth/_form.html", **context)
    fields = [f.name for f in form if f.type not in ("CSRFTokenField", "SubmitField")]
    return await respond(
        page,
        fragment="auth/_form.html",
        data=lambda: {"fields": fields, "csrf_token": security.generate_csrf()},
        form=form,
        **context,
    )


async def finish(
    target: str,
    message: str | None,
    *,
    data: dict[str, Any] | None = None,
    created: str | None = None,
) -> Response:
    """After a success: JSON for programs (`message` and `data`); a flash and
    Post/Redirect/Get for browsers (HX-Redirect for an htmx fragment request)."""
    body = {"message": message, **(data or {})} if message else dict(data or {})
    return await respond(
        data=body, redirect_to=target, hx_redirect=target, flash=message, created=created
    )


def _unauthorized(message: str) -> Response:
    response = json_error(401, "unauthorized", message)
    response.headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response
