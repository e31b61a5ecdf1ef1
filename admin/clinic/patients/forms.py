"""Forms of the patient pages (flask-wtf: CSRF on every form)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from admin.clinic.records.schemas import POTENCY_RE
from saas.records.consents import CHANNELS, PURPOSES

TEXT = Length(max=20000)
KINDS = [
    SelectChoice("initial", "Initial consultation"),
    SelectChoice("follow_up", "Follow-up"),
    SelectChoice("acute", "Acute visit"),
]


def _labelled(values) -> list[SelectChoice]:
    """Choices labelled from their codes: ``in_person`` → "In person"."""
    return [SelectChoice(v, v.replace("_", " ").capitalize()) for v in values]


FORMS = [
    SelectChoice("", "Choose a form"),
    *_labelled(("globules", "pills", "tablets", "liquid", "drops", "powder", "other")),
]


class NoteForm(FlaskForm):
    """A case note's sections (see :mod:`admin.clinic.patients.notes` for how they are stored)."""

    kind = SelectField("Kind of visit", choices=KINDS, default="initial")
    visit_date = DateField("Visit date", validators=[Optional()])
    appointment_id = HiddenField()
    expected_version = HiddenField()
    presenting = TextAreaField(
        "Presenting complaints",
        validators=[TEXT],
        description="Each complaint with location, sensation, onset and duration.",
    )
    better = TextAreaField("Better for (modalities)", validators=[TEXT])
    worse = TextAreaField("Worse for (modalities)", validators=[TEXT])
    mentals = TextAreaField(
        "Mentals and emotionals",
        validators=[TEXT],
        description="Temperament, fears, moods, sleep and dreams.",
    )
    generals = TextAreaField(
        "Generals",
        validators=[TEXT],
        description="Appetite, thirst, cravings and aversions, thermal state, perspiration.",
    )
    rubrics = TextAreaField(
        "Rubrics noted",
        validators=[TEXT],
        description="From the repertory, with remedies considered.",
    )
    assessment = TextAreaField("Assessment", validators=[TEXT])
    plan = TextAreaField("Plan", validators=[TEXT])
    reason = TextAreaField(
        "Reason for the amendment",
        validators=[Length(max=1000)],
        description="Required once the visit is signed.",
    )


def _potency(form, field):
    if field.data and not POTENCY_RE.match(field.data.strip()):
        from wtforms.validators import ValidationError

        raise ValidationError("Use a potency like 6C, 30C, 200C, 1M, LM1 or Q1.")


def _follow_up_days(label: str) -> IntegerField:
    """One end of the follow-up window, in days after the visit (optional)."""
    return IntegerField(label, validators=[Optional(), NumberRange(min=1, max=730)])


class PrescriptionForm(FlaskForm):
    """A remedy prescribed at a visit, with the follow-up window that feeds the recall list."""

    remedy = StringField(
        "Remedy",
        validators=[DataRequired("Enter the remedy."), Length(max=120)],
        description="For example Pulsatilla or Nat-m.",
    )
    potency = StringField(
        "Potency",
        validators=[DataRequired("Enter the potency."), Length(max=12), _potency],
        description="For example 6C, 30C, 200C, 1M or LM1.",
    )
    form = SelectField("Form", choices=FORMS, default="")
    dose = StringField("Dose", validators=[Length(max=200)], description="For example 3 pills.")
    frequency = StringField(
        "Repetition",
        validators=[Length(max=200)],
        description="For example single dose, or daily for 4 weeks.",
    )
    start_date = DateField("Start date", validators=[Optional()])
    follow_up_from_days = _follow_up_days("Follow-up from (days after the visit)")
    follow_up_to_days = _follow_up_days("Follow-up until (days after the visit)")
    follow_up_service_id = SelectField("Follow-up visit type", choices=[], validate_choice=False)
    amendment_reason = TextAreaField("Reason (the visit is signed)", validators=[Length(max=1000)])


class UploadForm(FlaskForm):
    """A PDF or image for the patient's record."""

    file = FileField("File (PDF, PNG, JPEG, at most 10 MB)")


class ConsentForm(FlaskForm):
    """A consent given."""

    purpose = SelectField("Purpose", choices=_labelled(PURPOSES))
    text_version = StringField(
        "Wording version",
        validators=[DataRequired("Enter the version of the wording."), Length(max=32)],
        default="v1",
    )
    channel = SelectField("How it was given", choices=_labelled(CHANNELS))


class EraseForm(FlaskForm):
    """Erase a patient: the reason, a reference and the name typed to confirm."""

    reason = SelectField(
        "Reason",
        choices=[
            SelectChoice("patient_request", "The patient asked for erasure"),
            SelectChoice("other", "Other"),
        ],
    )
    reference = StringField(
        "Reference (optional)",
        validators=[Length(max=64)],
        description="For example the request's ticket; must not identify the patient.",
    )
    confirm_name = StringField(
        "Type the patient's full name to confirm",
        validators=[DataRequired("Type the patient's full name.")],
    )


class LegalHoldForm(FlaskForm):
    """Place a legal hold: the reason is required."""

    reason = TextAreaField(
        "Reason for the legal hold",
        validators=[DataRequired("Enter the reason for the legal hold."), Length(max=500)],
        description="For example a claim or an authority's request and its reference. "
        "Only owners read it.",
    )


class RetentionForm(FlaskForm):
    """How long clinical records are kept after the last visit."""

    retention_years = IntegerField(
        "Years to keep clinical records after the last visit",
        validators=[
            Optional(),
            NumberRange(min=1, max=100, message="Enter a number of years from 1 to 100."),
        ],
        description="Leave empty for no period: erasure then destroys everything and "
        "nobody is erased automatically.",
    )
