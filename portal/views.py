"""The patient-facing portal on the clinic's own address."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("portal", __name__, template_folder="templates")


def home():
    """The clinic's branded front page."""
    return render_template("portal/home.html")
