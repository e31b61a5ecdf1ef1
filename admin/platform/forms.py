"""Forms of the operator console (flask-wtf: CSRF on every form)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional


class SignInForm(FlaskForm):
    """Email and password."""

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
    """The 6-digit code of the operator's authenticator app."""

    code = StringField(
        "Code from your authenticator app",
        validators=[DataRequired(), Length(min=6, max=7)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class ReasonForm(FlaskForm):
    """Why (the clinic's owner reads it)."""

    reason = TextAreaField(
        "Reason",
        validators=[DataRequired(message="Enter the reason."), Length(max=500)],
        description="The clinic's owner receives this by email; it is kept in both audit logs.",
    )


class TrialForm(FlaskForm):
    """Extend a trial by a number of days."""

    days = IntegerField(
        "Days to add",
        validators=[
            InputRequired(message="Enter a number of days."),
            NumberRange(min=1, max=90, message="Enter a number of days from 1 to 90."),
        ],
    )
    reason = TextAreaField(
        "Reason",
        validators=[DataRequired(message="Enter the reason."), Length(max=500)],
        description="Kept in both audit logs.",
    )


def _limit(label: str) -> IntegerField:
    return IntegerField(
        label,
        validators=[
            Optional(),
            NumberRange(min=0, max=100_000, message="Enter a whole number from 0 to 100000."),
        ],
        description="Empty: the plan's limit.",
    )


class LimitsForm(FlaskForm):
    """Adjust one clinic's plan limits (empty: the plan's)."""

    max_practitioners = _limit("Active practitioners")
    max_locations = _limit("Locations")
    sms_per_month = _limit("Text messages a month")
    reason = TextAreaField(
        "Why the limits change",
        validators=[DataRequired(message="Enter the reason."), Length(max=500)],
        description="Kept in both audit logs.",
    )


class CloseForm(FlaskForm):
    """Close a clinic whose contract ended (grace period, then deletion)."""

    reason = TextAreaField(
        "Why is the clinic closing?",
        validators=[DataRequired(message="Enter why the clinic is closing."), Length(max=500)],
        description="The clinic's owner receives this by email; it is kept in both audit logs.",
    )
