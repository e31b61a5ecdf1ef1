"""Forms of the patient portal (flask-wtf: CSRF on every form).

Labels and hints are whole sentences, ready to be wrapped for translation.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional


class RegisterForm(FlaskForm):
    """Name and email: the password is chosen through the emailed link."""

    full_name = StringField(
        _l("Full name"),
        validators=[DataRequired(_l("Enter your full name.")), Length(max=120)],
        render_kw={"autocomplete": "name"},
    )
    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter your email address.")), Length(max=254)],
        description=_l("We send you a link to confirm it and choose your password."),
        render_kw={"autocomplete": "email"},
    )


class SignInForm(FlaskForm):
    """Email and password."""

    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter your email address.")), Length(max=254)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )


class EmailOnlyForm(FlaskForm):
    """Ask for a link by email."""

    email = EmailField(
        _l("Email"),
        validators=[DataRequired(_l("Enter your email address.")), Length(max=254)],
        render_kw={"autocomplete": "email"},
    )


class ChoosePasswordForm(FlaskForm):
    """The emailed link's token and a new password."""

    token = HiddenField()
    password = PasswordField(
        _l("Choose a password"),
        validators=[DataRequired(_l("Choose a password.")), Length(max=256)],
        description=_l("At least 10 characters; a few unrelated words make a strong one."),
        render_kw={"autocomplete": "new-password"},
    )


class ConfirmBookingForm(FlaskForm):
    """The time the patient reviewed (hidden) and the policy acknowledgement."""

    service_id = HiddenField(validators=[DataRequired()])
    practitioner_id = HiddenField(validators=[DataRequired()])
    location_id = HiddenField(validators=[DataRequired()])
    start = HiddenField(validators=[DataRequired()])
    accept = BooleanField(
        _l("I have read the cancellation policy above."),
        validators=[DataRequired(_l("Confirm that you have read the cancellation policy."))],
    )


class CancelForm(FlaskForm):
    """Cancel with an optional reason."""

    reason = TextAreaField(
        _l("Reason (optional)"),
        validators=[Optional(), Length(max=500)],
        description=_l("The clinic sees this; leave it empty if you prefer."),
    )


class RescheduleForm(FlaskForm):
    """The new time chosen from the list."""

    start = HiddenField(validators=[DataRequired()])
    practitioner_id = HiddenField(validators=[DataRequired()])
    location_id = HiddenField(validators=[DataRequired()])


class WaitlistForm(FlaskForm):
    """What the patient waits for."""

    service_id = SelectField(
        _l("Visit type"), validators=[DataRequired(_l("Choose a visit type."))]
    )
    practitioner_id = SelectField(_l("Practitioner"), validators=[Optional()])
    earliest_date = DateField(
        _l("From"), validators=[Optional()], description=_l("Leave empty for now.")
    )
    latest_date = DateField(
        _l("Until"), validators=[Optional()], description=_l("Leave empty for no end date.")
    )


class ProfileForm(FlaskForm):
    """Contact details the patient keeps up to date."""

    full_name = StringField(
        _l("Full name"), validators=[DataRequired(_l("Enter your full name.")), Length(max=120)]
    )
    phone = StringField(
        _l("Phone"), validators=[Optional(), Length(max=40)], render_kw={"autocomplete": "tel"}
    )


class ActionForm(FlaskForm):
    """A button that changes something (CSRF only)."""


class CodeForm(FlaskForm):
    """A code from the authenticator app (or, where accepted, a recovery code)."""

    code = StringField(
        _l("Code from your authenticator app"),
        validators=[
            DataRequired(_l("Enter the code from your authenticator app.")),
            Length(max=40),
        ],
        render_kw={"autocomplete": "one-time-code", "spellcheck": "false", "autocapitalize": "off"},
    )
