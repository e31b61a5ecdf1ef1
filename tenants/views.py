"""Platform pages on the bare base domain: landing and clinic signup."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template

from saas import db
from saas.errors import form_errors, status_of
from saas.exceptions import DomainError
from saas.extensions import limiter
from saas.security.handoff import make_handoff
from saas.web import PLATFORM, serve_on

from .forms import SignupForm
from .services import commit_signup, signup_clinic

bp = Blueprint("platform", __name__, template_folder="templates")
serve_on(bp, PLATFORM)


def home():
    """What Similia is, and the way in."""
    return render_template("tenants/home.html")


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit("10/hour;3/minute", methods=["POST"])
def signup():
    """Create a clinic; continue on the clinic's own address to set up two-step sign-in."""
    form = SignupForm()
    status = 200
    if form.validate_on_submit():
        keys = current_app.extensions["similia.keys"]
        try:
            # the page is forgiving about case; the API is strict
            result = signup_clinic(db.session, keys, {**form.data, "slug": form.slug.data.lower()})
        except DomainError as exc:
            form_errors(form, exc)
            status = status_of(exc)
        else:
            commit_signup(db.session, keys, result.tenant.id)
            token = make_handoff(result.tenant.id, result.owner.id)
            cfg = current_app.config["SIMILIA"]
            return redirect(cfg.public_url(result.tenant.slug, f"/auth/handoff?t={token}"))
    elif form.errors:
        status = 422
    return render_template("tenants/signup.html", form=form), status
