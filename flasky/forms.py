"""WTForms classes on one CSRF-enabled base form. Validators check shape only; database
checks (username taken, email registered) live in the handlers and models."""

from __future__ import annotations

from typing import Any, Self

from quart import request
from wtforms import (
    BooleanField,
    EmailField,
    Form,
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
    Optional,
    Regexp,
    ValidationError,
)

from flasky import security
from flasky.text import COMMENT_MAX, POST_MAX

USERNAME_RE = r"^[A-Za-z][A-Za-z0-9_.]*$"
USERNAME_MESSAGE = "Usernames have letters, digits, dots or underscores, and start with a letter."
PASSWORD_MIN = 8


class SessionCSRF(CSRF):
    """CSRF tokens signed for this browser session (see `security.generate_csrf`)."""

    def generate_csrf_token(self, csrf_token_field: Any) -> str:
        return security.generate_csrf()

    def validate_csrf_token(self, form: Form, field: Any) -> None:
        if not security.validate_csrf(field.data):
            raise ValidationError("The form expired or is invalid. Please try again.")


class BaseForm(Form):
    """Every form: a `csrf_token` field, built from the request's form data."""

    class Meta:
        csrf = True
        csrf_class = SessionCSRF
        csrf_field_name = "csrf_token"

    @classmethod
    async def from_request(cls, **kwargs: Any) -> Self:
        """The form bound to this request's submitted data (empty on GET). A CSRF token
        sent only as the X-CSRFToken header (htmx, scripts) counts as the field: SPEC §4
        says either one is enough, and the request gate has already checked it."""
        formdata = None
        if request.method in ("POST", "PUT"):
            formdata = (await request.form).copy()
            header = request.headers.get(security.CSRF_HEADER)
            if header and not formdata.get(security.CSRF_FIELD):
                formdata[security.CSRF_FIELD] = header
        return cls(formdata=formdata or None, **kwargs)

    def validate_on_submit(self) -> bool:
        return request.method in ("POST", "PUT") and self.validate()


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
