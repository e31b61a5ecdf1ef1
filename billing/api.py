"""Refunds API (staff): ``/api/v1/payments/<payment id>/refunds``.

``payments.refund`` (owners and admins) lists a payment's refunds and refunds part or all of
what is left, with a reason. Another clinic's payment id is a 404, as a missing one; more
than is left is a 422 naming ``amount_minor``. The refund is sent to Stripe after commit
(:mod:`billing.refunds`); its ``status`` is ``pending`` until Stripe answers.
"""

from __future__ import annotations

import uuid

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from saas import db
from saas.scheduling.access import staff_actor
from saas.security.rbac import requires
from saas.web import CLINIC, serve_on

from . import refunds

blp = Blueprint(
    "payments_api",
    __name__,
    url_prefix="/api/v1/payments",
    description="Online visit payments: refunds by staff",
)
serve_on(blp, CLINIC)


class RefundRequestSchema(Schema):
    """A staff refund."""

    amount_minor = fields.Integer(
        required=True, strict=True, metadata={"description": "Minor units, at most what is left"}
    )
    reason = fields.String(required=True, validate=validate.Length(min=1, max=refunds.MAX_REASON))


class RefundSchema(Schema):
    """A refund and where it stands."""

    id = fields.UUID()
    payment_id = fields.UUID()
    amount_minor = fields.Integer()
    currency = fields.String()
    kind = fields.String(metadata={"description": "policy or staff"})
    reason = fields.String()
    status = fields.String(metadata={"description": "pending, succeeded, failed, canceled"})
    stripe_refund_id = fields.String(allow_none=True)
    created_by = fields.String()
    created_at = fields.DateTime()


@blp.route("/<uuid:payment_id>/refunds")
class PaymentRefunds(MethodView):
    """A payment's refunds."""

    @requires("payments.refund")
    @blp.response(200, RefundSchema(many=True))
    def get(self, payment_id: uuid.UUID):
        """List the payment's refunds, oldest first."""
        pay = refunds.payment_or_404(db.session, g.tenant, payment_id)
        return refunds.refunds_of(db.session, g.tenant.id, pay.id)

    @requires("payments.refund")
    @blp.arguments(RefundRequestSchema)
    @blp.response(201, RefundSchema)
    def post(self, data, payment_id: uuid.UUID):
        """Refund part or all of what is left of the payment, with a reason."""
        pay = refunds.payment_or_404(db.session, g.tenant, payment_id, lock=True)
        return refunds.create_refund(
            db.session,
            g.tenant,
            pay,
            data["amount_minor"],
            kind="staff",
            reason=data["reason"],
            actor=staff_actor(),
        )
