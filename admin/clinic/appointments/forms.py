"""Forms of the calendar pages (flask-wtf: CSRF on every form)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional


class ActionForm(FlaskForm):
    """A one-click action's button (CSRF only)."""


class CancelForm(FlaskForm):
    """Cancel a visit: the reason is required from staff."""

    reason = TextAreaField(
        "Reason for the cancellation",
        validators=[DataRequired("Enter a reason."), Length(max=500)],
        description="Kept sealed with the appointment; the patient is told it was cancelled.",
    )
    charge_fee = BooleanField("Charge the late-cancellation fee")


class SlotForm(FlaskForm):
    """Choose a free time (reschedule or book): ``<ISO start>|<practitioner>|<location>``."""

    slot = RadioField("Free times", choices=[], validate_choice=False)


class BookForm(FlaskForm):
    """The confirmed booking: patient, visit type and the chosen free time."""

    patient_id = HiddenField(validators=[DataRequired()])
    service_id = HiddenField(validators=[DataRequired()])
    slot = HiddenField(validators=[DataRequired()])


class NewPatientForm(FlaskForm):
    """A caller who is not yet a patient of the clinic."""

    full_name = StringField(
        "Full name", validators=[DataRequired("Enter the patient's name."), Length(max=160)]
    )
    email = EmailField(
        "Email (optional)",
        validators=[Optional(), Length(max=254)],
        description="For confirmations and reminders, and to sign in to the portal later.",
        render_kw={"autocomplete": "off"},
    )
    phone = StringField(
        "Phone (optional)",
        validators=[Optional(), Length(max=40)],
        render_kw={"autocomplete": "off", "inputmode": "tel"},
    )
