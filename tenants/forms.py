"""The platform's signup form."""

from __future__ import annotations

import zoneinfo

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length

from .rules import CURRENCY_BY_COUNTRY

COUNTRIES = {
    "IN": "India", "GB": "United Kingdom", "DE": "Germany", "FR": "France", "CH": "Switzerland",
    "US": "United States", "BR": "Brazil", "AT": "Austria", "IT": "Italy", "ES": "Spain",
    "NL": "Netherlands", "BE": "Belgium", "IE": "Ireland", "PT": "Portugal", "CA": "Canada",
    "AU": "Australia", "NZ": "New Zealand", "ZA": "South Africa", "MX": "Mexico", "AR": "Argentina",
}  # fmt: skip
assert set(COUNTRIES) == set(CURRENCY_BY_COUNTRY)
ZONES = sorted(z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/"))


class SignupForm(FlaskForm):
    """Create a clinic."""

    name = StringField(
        "Clinic name",
        validators=[DataRequired(), Length(max=120)],
        render_kw={"autocomplete": "organization"},
    )
    slug = StringField(
        "Clinic address",
        validators=[DataRequired(), Length(max=40)],
        description="Lower-case letters, digits and hyphens.",
        render_kw={"autocapitalize": "none", "spellcheck": "false"},
    )
    country = SelectField(
        "Country",
        choices=[
            SelectChoice(code, name)
            for code, name in sorted(COUNTRIES.items(), key=lambda kv: kv[1])
        ],
        default="GB",
    )
    timezone = SelectField(
        "Time zone", choices=[SelectChoice(z) for z in ZONES], default="Europe/London"
    )
    owner_name = StringField(
        "Your name",
        validators=[DataRequired(), Length(max=120)],
        render_kw={"autocomplete": "name"},
    )
    owner_email = EmailField(
        "Your email",
        validators=[DataRequired(), Email(), Length(max=254)],
        render_kw={"autocomplete": "email"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=256)],
        description="At least 10 characters, mixing letters with digits or symbols.",
        render_kw={"autocomplete": "new-password"},
    )
