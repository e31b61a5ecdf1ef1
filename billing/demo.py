"""Payments for the demo clinic: a connected account that is ready, on the local test server.

With the local Stripe test server (``make run`` without keys) the demo clinic's Express
account is created and its onboarding finished, so a newcomer can book and pay the demo's
prepaid visit type at once. With real Stripe keys nothing happens here: the owner connects
an account from the billing page.
"""

from __future__ import annotations

import json
import logging
import urllib.request

from flask import current_app

from saas.actors import Actor

from .gateway import PaymentsUnavailable
from .services import connect_account_for, onboarding_link

log = logging.getLogger(__name__)


def seed_payments(sess, tenant, owner) -> bool:
    """Connect and onboard the demo clinic's account on the test server; True when done."""
    base = current_app.config["SIMILIA"].stripe_api_base
    if not base:
        return False
    url = current_app.config["SIMILIA"].public_url(tenant.slug, "/console/billing/")
    try:
        onboarding_link(sess, tenant, Actor.for_staff(owner), return_url=url, refresh_url=url)
        acct = connect_account_for(sess, tenant)
        req = urllib.request.Request(
            f"{base}/_test/accounts/{acct.account_id}/onboard",
            data=json.dumps({}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10):
            pass
    except (PaymentsUnavailable, OSError) as exc:
        log.warning("demo clinic: no connected account (%s)", exc)
        return False
    # what the account.updated webhook will say once the web server answers it
    acct.details_submitted = acct.charges_enabled = acct.payouts_enabled = True
    sess.flush()
    return True
