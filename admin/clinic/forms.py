"""Forms of the staff console and sign-in pages (flask-wtf: CSRF on every form)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, EmailField, PasswordField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from saas.models import ROLES


class LoginForm(FlaskForm):
    """Email and password."""

    # no syntax check on sign-in: an unknown address simply fails like a wrong password
    email = EmailField(
        "Email",
        validators=[DataRequired(), Length(max=254)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )


class CodeForm(FlaskForm):
    """A 6-digit authenticator code, or a recovery code."""

    code = StringField(
        "Code from your authenticator app",
        validators=[DataRequired(), Length(min=6, max=20)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True},
    )


class ForgotForm(FlaskForm):
    """Ask for a reset link."""

    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])


class NewPasswordForm(FlaskForm):
    """Choose a password."""

    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(max=256)],
        description="At least 10 characters, mixing letters with digits or symbols.",
        render_kw={"autocomplete": "new-password"},
    )


class InviteForm(FlaskForm):
    """Invite a staff member."""

    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Email(), Length(max=254)])
    role = SelectField(
        "Role", choices=[SelectChoice(r, r.capitalize()) for r in ROLES], default="practitioner"
    )


class RoleForm(FlaskForm):
    """Change a role."""

    role = SelectField("Role", choices=[SelectChoice(r, r.capitalize()) for r in ROLES])


class PasswordChangeForm(FlaskForm):
    """Change one's own password."""

    current_password = PasswordField(
        "Current password",
        validators=[DataRequired(), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(max=256)],
        description="At least 10 characters, mixing letters with digits or symbols.",
        render_kw={"autocomplete": "new-password"},
    )


class ReauthForm(FlaskForm):
    """Confirm a sensitive step with one's password."""

    password = PasswordField(
        "Your password",
        validators=[DataRequired(), Length(max=256)],
        description="New codes replace the old ones, which stop working.",
        render_kw={"autocomplete": "current-password"},
    )


class PlainForm(FlaskForm):
    """A button that only needs CSRF."""


class AuditFilterForm(FlaskForm):
    """The audit history's filters (a GET form: no CSRF token). Choices are set per clinic."""

    class Meta:
        csrf = False

    actor = SelectField("Who (staff member)", choices=[], default="")
    patient = StringField(
        "Patient", validators=[Optional(), Length(max=160)], description="Part of a name"
    )
    action = SelectField("What", choices=[], default="")
    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])


class SupportAccessForm(FlaskForm):
    """How long Similia support may look at the clinic's console information."""

    hours = RadioField(
        "How long",
        choices=[
            SelectChoice("1", "1 hour"),
            SelectChoice("4", "4 hours"),
            SelectChoice("24", "24 hours"),
        ],
        default="1",
        validators=[DataRequired(message="Choose how long.")],
        description="You can end it earlier at any time.",
    )


class ClinicExportForm(FlaskForm):
    """Ask for the export of the whole clinic: the owner confirms with password and a code."""

    password = PasswordField(
        "Your password",
        validators=[DataRequired(message="Enter your password."), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        "Code from your authenticator app",
        validators=[DataRequired(message="Enter the code."), Length(min=6, max=7)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class CloseClinicForm(FlaskForm):
    """Ask for the clinic's deletion: the owner confirms with password and a fresh code."""

    reason = StringField(
        "Why are you closing the clinic?",
        validators=[DataRequired(message="Enter the reason."), Length(max=500)],
    )
    password = PasswordField(
        "Your password",
        validators=[DataRequired(message="Enter your password."), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    code = StringField(
        "Code from your authenticator app",
        validators=[DataRequired(message="Enter the code."), Length(min=6, max=7)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )
