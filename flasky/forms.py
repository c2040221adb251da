"""WTForms classes on one CSRF-enabled base form, and the one way to read input:
`await SomeForm.bind(obj)` fills a form from form data or from a JSON object alike.
Validators check shape only; database checks (username taken) live on the models."""

from __future__ import annotations

from typing import Any, Self

from quart import g, request
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    EmailField,
    Form,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.csrf.core import CSRF
from wtforms.validators import (
    DataRequired,
    Email,
    EqualTo,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)

from flasky import security
from flasky.exceptions import BadRequest
from flasky.feed import change
from flasky.text import COMMENT_MAX, POST_MAX

USERNAME_RE = r"^[A-Za-z][A-Za-z0-9_.]*$"
USERNAME_MESSAGE = "Usernames have letters, digits, dots or underscores, and start with a letter."
PASSWORD_MIN = 8


class SessionCSRF(CSRF):
    """CSRF tokens signed for this browser session (see `security.generate_csrf`)."""

    def generate_csrf_token(self, csrf_token_field: Any) -> str:
        return security.generate_csrf()

    def validate_csrf_token(self, form: Form, field: Any) -> None:
        # The request gate (identity.py) is the one CSRF check: it has passed this request
        # (the field or the X-CSRFToken header alone) or found nothing to forge (an
        # Authorization header, a JSON write without a session). Only a form bound
        # outside that gate checks its field here.
        if g.get("csrf_settled"):
            return
        if not security.validate_csrf(field.data):
            raise ValidationError("The form expired or is invalid. Please try again.")


class BaseForm(Form):
    """Every form: a `csrf_token` field, built from the request's form data."""

    class Meta:
        csrf = True
        csrf_class = SessionCSRF
        csrf_field_name = "csrf_token"

    @classmethod
    async def bind(cls, obj: Any = None, **values: Any) -> Self:
        """This form for the request: on POST and PUT filled from the submitted form data
        or JSON object (a JSON key left out keeps the current value: `values`, else
        `obj`'s attribute); otherwise showing `values` / `obj` for editing. JSON values
        must have their field's type (BadRequest otherwise)."""
        if request.method not in SUBMIT_METHODS:
            form = cls(obj=obj)
            for name, value in values.items():
                form[name].data = value
            return form
        if request.is_json:
            return cls(formdata=await _json_formdata(cls, obj, values), obj=obj)
        return cls(formdata=await request.form, obj=obj)

    def validate_on_submit(self) -> bool:
        return request.method in SUBMIT_METHODS and self.validate()


SUBMIT_METHODS = ("POST", "PUT")


async def _json_formdata(cls: type[BaseForm], obj: Any, values: dict[str, Any]) -> MultiDict:
    """A JSON object as the form data an HTML form would send."""
    payload = await request.get_json(silent=True)
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object.")
    current = cls(obj=obj, meta={"csrf": False})
    formdata: MultiDict[str, str] = MultiDict()
    for name, field in current._fields.items():
        if field.type in ("CSRFTokenField", "SubmitField"):
            continue
        value = payload[name] if name in payload else values.get(name, field.data)
        formdata.setlist(name, _as_form_values(name, field, value))
    return formdata


def _as_form_values(name: str, field: Any, value: Any) -> list[str]:
    """One JSON value as form values, refusing a value of the wrong type."""
    if isinstance(field, BooleanField):
        if not isinstance(value, bool):
            raise BadRequest(f"'{name}' must be true or false.")
        return ["y"] if value else []
    if value is None:  # null clears an optional field and is refused elsewhere
        if any(isinstance(check, Optional) for check in field.validators):
            return [""]
        raise BadRequest(f"'{name}' may not be null.")
    if isinstance(field, SelectField) and field.coerce is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadRequest(f"'{name}' must be an integer id.")
        return [str(value)]
    if isinstance(field, IntegerField):
        if not isinstance(value, int) or isinstance(value, bool):
            raise BadRequest(f"'{name}' must be an integer.")
        return [str(value)]
    if not isinstance(value, str):
        raise BadRequest(f"'{name}' must be a string.")
    return [value]


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _password(label: str = "Password") -> PasswordField:
    return PasswordField(
        label,
        validators=[
            DataRequired(),
            Length(min=PASSWORD_MIN, max=128, message="Passwords have 8 to 128 characters."),
        ],
    )


def _password2() -> PasswordField:
    return PasswordField(
        "Confirm password",
        validators=[DataRequired(), EqualTo("password", message="Passwords must match.")],
    )


def _email(label: str = "Email") -> EmailField:
    return EmailField(label, validators=[DataRequired(), Length(1, 254), Email()], filters=[_strip])


def _username() -> StringField:
    return StringField(
        "Username",
        validators=[DataRequired(), Length(1, 64), Regexp(USERNAME_RE, message=USERNAME_MESSAGE)],
        filters=[_strip],
    )


class LoginForm(BaseForm):
    email = _email()
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    remember_me = BooleanField("Keep me logged in")
    submit = SubmitField("Log in")


class RegistrationForm(BaseForm):
    email = _email()
    username = _username()
    password = _password()
    password2 = _password2()
    submit = SubmitField("Register")


class ChangePasswordForm(BaseForm):
    old_password = PasswordField("Old password", validators=[DataRequired(), Length(max=128)])
    password = _password("New password")
    password2 = _password2()
    submit = SubmitField("Update password")


class PasswordResetRequestForm(BaseForm):
    email = _email()
    submit = SubmitField("Reset password")


class PasswordResetForm(BaseForm):
    password = _password("New password")
    password2 = _password2()
    submit = SubmitField("Reset password")


class ChangeEmailForm(BaseForm):
    email = _email("New email")
    password = PasswordField("Password", validators=[DataRequired(), Length(max=128)])
    submit = SubmitField("Update email address")


class EditProfileForm(BaseForm):
    name = StringField("Real name", validators=[Optional(), Length(0, 64)], filters=[_strip])
    location = StringField("Location", validators=[Optional(), Length(0, 64)], filters=[_strip])
    about_me = TextAreaField("About me", validators=[Optional(), Length(0, 2000)])
    submit = SubmitField("Save")

    PROFILE_FIELDS = ("name", "location", "about_me")

    def copy_profile(self, user: Any) -> None:
        """Name, location and about me onto `user` (blank → empty); the caller saves."""
        for name in self.PROFILE_FIELDS:
            setattr(user, name, self[name].data or None)

    async def save_to(self, user: Any) -> None:
        """Copy the profile fields onto `user` and save just those."""
        self.copy_profile(user)
        async with change("user-updated", user.topic, actor=user.id):
            await user.save(update_fields=list(self.PROFILE_FIELDS))


class EditProfileAdminForm(EditProfileForm):
    email = _email()
    username = _username()
    confirmed = BooleanField("Confirmed")
    role = SelectField("Role", coerce=int)


class PostForm(BaseForm):
    body = TextAreaField(
        "What's on your mind?",
        validators=[DataRequired(message="Write something first."), Length(1, POST_MAX)],
    )
    submit = SubmitField("Post")


class CommentForm(BaseForm):
    body = TextAreaField(
        "Add a comment",
        validators=[DataRequired(message="Write something first."), Length(1, COMMENT_MAX)],
    )
    submit = SubmitField("Comment")


class PreviewForm(BaseForm):
    """What `/preview` renders: a body of either kind (length checked by kind)."""

    body = TextAreaField("Body")  # may be empty; its limit depends on the kind
    kind = SelectField("Kind", choices=["post", "comment"], default="post")


class MarkReadForm(BaseForm):
    """Mark notifications read: those with id <= `up_to`, or all when it is left out."""

    up_to = IntegerField(
        "Up to",
        validators=[
            Optional(),
            NumberRange(1, 2**31 - 1, message="up_to is a notification id."),
        ],
    )
    submit = SubmitField("Mark all read")
