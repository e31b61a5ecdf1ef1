"""Platform API: clinic signup."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from saas import db
from saas.apispec_names import public_operation
from saas.extensions import limiter
from saas.web import PLATFORM, serve_on

from .schemas import SignupResultSchema, SignupSchema
from .services import commit_signup, signup_clinic

blp = Blueprint("signup_api", __name__, url_prefix="/api/v1", description="Clinic signup")
serve_on(blp, PLATFORM)


@blp.route("/signup")
class Signup(MethodView):
    """Clinic signup on the platform host."""

    decorators = [limiter.limit("10/hour;3/minute", methods=["POST"])]

    @public_operation
    @blp.arguments(SignupSchema)
    @blp.response(201, SignupResultSchema)
    def post(self, data):
        """Create a clinic with its owner, keys and TOTP enrolment."""
        keys = current_app.extensions["similia.keys"]
        result = signup_clinic(db.session, keys, data)
        commit_signup(db.session, keys, result.tenant.id)
        t = result.tenant
        return {
            "tenant": {**_tenant_dict(t), "url": current_app.config["SIMILIA"].public_url(t.slug)},
            "owner": result.owner,
            "mfa": {"secret": result.totp_secret, "otpauth_uri": result.otpauth_uri},
        }


def _tenant_dict(t):
    return {
        k: getattr(t, k)
        for k in ("id", "slug", "name", "timezone", "country", "currency", "status")
    }
