"""Forms of the practice settings pages (flask-wtf: CSRF on every form).

Forms only parse what people type into the units the services take (minutes, minor units,
ids); every rule stays in the service (:mod:`saas.scheduling.practice`, the settings
registry), whose refusals the pages show next to the fields.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    EmailField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from tenants.forms import ZONES
from tenants.rules import CURRENCIES


class CheckboxesField(SelectMultipleField):
    """Several choices as a list of checkboxes (a fieldset in the template)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        """Unknown values are reported by the service, which knows the clinic's records."""


class ProfileForm(FlaskForm):
    """The clinic's name, contact details, zone and currency."""

    name = StringField(
        "Clinic name",
        validators=[DataRequired(), Length(max=120)],
        render_kw={"autocomplete": "organization"},
    )
    address = TextAreaField(
        "Address",
        validators=[Length(max=500)],
        description="Shown on your public page. Street, town and postcode.",
        render_kw={"rows": 3, "autocomplete": "street-address"},
    )
    phone = StringField(
        "Phone",
        validators=[Length(max=40)],
        description="For patients who prefer to call, e.g. +44 20 7946 0000.",
        render_kw={"autocomplete": "tel", "type": "tel"},
    )
    email = EmailField(
        "Email for patients", validators=[Length(max=254)], render_kw={"autocomplete": "email"}
    )
    timezone = SelectField(
        "Time zone",
        choices=[SelectChoice(z) for z in ZONES],
        description="Every time in the console and on your public page is shown in this zone.",
    )
    currency = SelectField(
        "Currency",
        choices=[SelectChoice(c) for c in sorted(CURRENCIES)],
        description="Used for new visit types; existing prices keep their currency.",
    )


class LocationForm(FlaskForm):
    """A place where visits happen."""

    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    kind = RadioField(
        "Kind",
        choices=[
            SelectChoice("in_person", "In person, at an address"),
            SelectChoice("online", "Video consultation"),
        ],
        default="in_person",
    )
    address = TextAreaField(
        "Address",
        validators=[Length(max=500)],
        description="Needed for in-person locations.",
        render_kw={"rows": 3},
    )
    timezone = SelectField(
        "Time zone",
        choices=[SelectChoice(z) for z in ZONES],
        description="Weekly hours at this location are written in this zone.",
    )


class PractitionerForm(FlaskForm):
    """A bookable person: a staff member's profile or a bookable-only person."""

    display_name = StringField(
        "Name shown to patients", validators=[DataRequired(), Length(max=120)]
    )
    title = StringField(
        "Title",
        validators=[Length(max=160)],
        description="For example: Classical homeopath, MD (Hom).",
    )
    bio = TextAreaField("About", validators=[Length(max=2000)], render_kw={"rows": 4})
    user_id = SelectField(
        "Staff account",
        choices=[],
        description=(
            "Link a staff member so they see their own schedule; "
            "choose none for a bookable-only person."
        ),
    )


class NotificationPrefsForm(FlaskForm):
    """A practitioner's own emails: alerts of changes on their calendar, the day's agenda.

    Both go to the email of the staff account linked to the practitioner profile.
    """

    alerts_enabled = BooleanField(
        "Calendar alerts",
        description="Email me when a visit on my calendar is booked, moved or cancelled.",
    )
    daily_agenda = BooleanField(
        "Daily agenda",
        description=(
            "Email me my day's visits at 06:00 each morning (clinic time), "
            "including those booked overnight."
        ),
    )


class PractitionerEditForm(PractitionerForm, NotificationPrefsForm):
    """A practitioner's profile and the emails their linked staff account gets."""


class VisitTypeForm(FlaskForm):
    """What patients book."""

    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    description = TextAreaField(
        "Description",
        validators=[Length(max=2000)],
        description="Shown to patients when they choose.",
        render_kw={"rows": 3},
    )
    duration_minutes = IntegerField(
        "Duration in minutes",
        validators=[InputRequired("Enter the duration in minutes."), NumberRange(5, 720)],
        render_kw={"inputmode": "numeric"},
    )
    buffer_before_minutes = IntegerField(
        "Preparation before, in minutes",
        validators=[Optional(), NumberRange(0, 240)],
        default=0,
        render_kw={"inputmode": "numeric"},
    )
    buffer_after_minutes = IntegerField(
        "Time for notes after, in minutes",
        validators=[Optional(), NumberRange(0, 240)],
        default=0,
        render_kw={"inputmode": "numeric"},
    )
    price = DecimalField(
        "Price",
        places=2,
        validators=[InputRequired("Enter a price (0 for free)."), NumberRange(0, 10**9)],
        render_kw={"inputmode": "decimal"},
    )
    mode = RadioField(
        "Where",
        choices=[
            SelectChoice("in_person", "In person"),
            SelectChoice("online", "Video"),
            SelectChoice("either", "In person or video"),
        ],
        default="in_person",
    )
    patients = RadioField(
        "Who can book",
        choices=[
            SelectChoice("any", "New and returning patients"),
            SelectChoice("new", "New patients only (e.g. initial case-taking)"),
            SelectChoice("returning", "Returning patients only (e.g. follow-up)"),
        ],
        default="any",
    )
    requires_prepayment = BooleanField("Patients pay when they book")
    payment_mode = RadioField(
        "Payment when booking",
        choices=[
            SelectChoice("none", "No online payment (pay at the clinic)"),
            SelectChoice("deposit", "A deposit online"),
            SelectChoice("full", "The full price online"),
        ],
        default="none",
    )
    deposit = DecimalField(
        "Deposit amount", places=2, validators=[Optional(), NumberRange(0.01, 100000)]
    )
    deposit_percent = IntegerField(
        "or deposit percent",
        validators=[Optional(), NumberRange(1, 100)],
        render_kw={"inputmode": "numeric"},
    )
    practitioner_ids = CheckboxesField("Offered by", choices=[])
    location_ids = CheckboxesField("Offered at", choices=[])
    follow_up_min_days = IntegerField(
        "Suggest a follow-up after, from (days)",
        validators=[Optional(), NumberRange(1, 730)],
        render_kw={"inputmode": "numeric"},
    )
    follow_up_max_days = IntegerField(
        "to (days)",
        validators=[Optional(), NumberRange(1, 730)],
        render_kw={"inputmode": "numeric"},
    )


class RulesForm(FlaskForm):
    """The clinic's booking rules, in the units people think in."""

    slot_step_minutes = IntegerField(
        "Offer a start time every (minutes)",
        validators=[InputRequired("Enter minutes."), NumberRange(5, 240)],
        render_kw={"inputmode": "numeric"},
    )
    min_notice_hours = DecimalField(
        "Minimum notice for online booking (hours)",
        places=None,
        validators=[InputRequired("Enter hours."), NumberRange(0, 8760)],
        render_kw={"inputmode": "decimal"},
    )
    max_advance_days = IntegerField(
        "Patients may book up to (days ahead)",
        validators=[InputRequired("Enter days."), NumberRange(1, 730)],
        render_kw={"inputmode": "numeric"},
    )
    cancellation_cutoff_hours = DecimalField(
        "Free cancellation until (hours before)",
        places=None,
        validators=[InputRequired("Enter hours."), NumberRange(0, 720)],
        render_kw={"inputmode": "decimal"},
    )
    reschedule_cutoff_hours = DecimalField(
        "Rescheduling allowed until (hours before)",
        places=None,
        validators=[InputRequired("Enter hours."), NumberRange(0, 720)],
        render_kw={"inputmode": "decimal"},
    )
    late_fee = DecimalField(
        "Late-cancellation fee",
        places=2,
        validators=[InputRequired("Enter an amount (0 for none)."), NumberRange(0, 10**9)],
        render_kw={"inputmode": "decimal"},
    )
    hold_minutes = IntegerField(
        "Hold a time awaiting payment for (minutes)",
        validators=[InputRequired("Enter minutes."), NumberRange(1, 1440)],
        render_kw={"inputmode": "numeric"},
    )


class ClosureForm(FlaskForm):
    """Whole days the clinic (or one location) is closed."""

    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=120)],
        description="For example: Christmas, staff training.",
    )
    start_date = DateField("First day", validators=[InputRequired("Enter the first day.")])
    end_date = DateField(
        "Last day",
        validators=[Optional()],
        description="Leave empty for a single day.",
    )
    location_id = SelectField("Where", choices=[])


class TimeOffForm(FlaskForm):
    """A practitioner away (or working extra hours)."""

    practitioner_id = SelectField("Practitioner", choices=[])
    kind = RadioField(
        "What",
        choices=[
            SelectChoice("time_off", "Time off (holiday, sick day)"),
            SelectChoice("extra_hours", "Extra hours"),
        ],
        default="time_off",
    )
    start = DateTimeLocalField(
        "From",
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired("Enter when it starts.")],
    )
    end = DateTimeLocalField(
        "Until", format="%Y-%m-%dT%H:%M", validators=[InputRequired("Enter when it ends.")]
    )
    location_id = SelectField(
        "Location",
        choices=[],
        description="Extra hours need a location; time off without one applies everywhere.",
    )
    reason = StringField("Note for the team", validators=[Length(max=200)])


class ConfirmForm(FlaskForm):
    """A confirmation step that carries the original form's values (hidden) and choices."""

    confirmed = HiddenField(default="1")


class BrandingForm(FlaskForm):
    """Colours and texts of the public page."""

    brand_color = StringField(
        "Primary colour",
        validators=[DataRequired(), Length(max=7)],
        description="Header and buttons, under white text. Like #2f6f5e.",
        render_kw={"data-brand-input": "--brand", "spellcheck": "false"},
    )
    accent_color = StringField(
        "Accent colour",
        validators=[DataRequired(), Length(max=7)],
        description="Links and outlines on the white page. Like #1f5c4d.",
        render_kw={"data-brand-input": "--accent", "spellcheck": "false"},
    )
    tagline = StringField(
        "Tagline",
        validators=[Length(max=160)],
        render_kw={"data-brand-text": "tagline"},
    )
    welcome_text = TextAreaField(
        "Welcome text",
        validators=[Length(max=1000)],
        description="The first thing patients read on your page.",
        render_kw={"rows": 4},
    )
    opening_hours = TextAreaField(
        "Opening hours",
        validators=[Length(max=500)],
        description="As patients should read them, e.g. Mon–Fri 9:00–17:00.",
        render_kw={"rows": 3},
    )
    embed_origins = TextAreaField(
        "Web sites that may show your booking pages",
        validators=[Length(max=2200)],
        description=(
            "To put online booking on your own web site, list its address here, one per line, "
            "like https://www.your-clinic.example (no path). Leave empty if you do not embed."
        ),
        render_kw={"rows": 3, "spellcheck": "false", "autocapitalize": "none"},
    )


class LogoForm(FlaskForm):
    """A logo file."""

    logo = FileField(
        "Logo",
        description="PNG or JPEG, at most 2 MB and 4096×4096 pixels.",
        render_kw={"accept": "image/png,image/jpeg"},
    )


class ButtonForm(FlaskForm):
    """A button that only needs CSRF (archive, restore, remove)."""


class DatedHoursForm(FlaskForm):
    """One weekly window for a limited period (summer hours): a day, times, first and last day.

    Field names are the availability service's, so its refusals (an overlap, a last day
    before the first) land next to the right field.
    """

    weekday = SelectField(
        "Day of the week",
        choices=[
            SelectChoice(str(n), name)
            for n, name in enumerate(
                ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
                start=1,
            )
        ],
        validators=[InputRequired("Choose a day.")],
    )
    start_time = TimeField(
        "From",
        validators=[InputRequired("Enter a start time, like 09:00.")],
        render_kw={"step": 300},
    )
    end_time = TimeField(
        "Until",
        validators=[InputRequired("Enter an end time, like 13:00.")],
        render_kw={"step": 300},
    )
    valid_from = DateField("First day", validators=[InputRequired("Enter the first day.")])
    valid_until = DateField(
        "Last day",
        validators=[Optional()],
        description="Leave empty to keep these hours with no end.",
    )


def _optional(field_class, label: str, low, high, **kw):
    return field_class(
        label,
        validators=[Optional(), NumberRange(low, high)],
        description="Empty: the clinic's rule.",
        **kw,
    )


class RuleOverridesForm(FlaskForm):
    """One visit type's own booking rules; an empty field keeps the clinic's rule."""

    slot_step_minutes = _optional(
        IntegerField,
        "Offer a start time every (minutes)",
        5,
        240,
        render_kw={"inputmode": "numeric"},
    )
    min_notice_hours = _optional(
        DecimalField,
        "Minimum notice for online booking (hours)",
        0,
        8760,
        places=None,
        render_kw={"inputmode": "decimal"},
    )
    max_advance_days = _optional(
        IntegerField,
        "Patients may book up to (days ahead)",
        1,
        730,
        render_kw={"inputmode": "numeric"},
    )
    cancellation_cutoff_hours = _optional(
        DecimalField,
        "Free cancellation until (hours before)",
        0,
        720,
        places=None,
        render_kw={"inputmode": "decimal"},
    )
    reschedule_cutoff_hours = _optional(
        DecimalField,
        "Rescheduling allowed until (hours before)",
        0,
        720,
        places=None,
        render_kw={"inputmode": "decimal"},
    )
    late_fee = _optional(
        DecimalField,
        "Late-cancellation fee",
        0,
        10**9,
        places=2,
        render_kw={"inputmode": "decimal"},
    )
    hold_minutes = _optional(
        IntegerField,
        "Hold a time awaiting payment for (minutes)",
        1,
        1440,
        render_kw={"inputmode": "numeric"},
    )
