"""One-time sign-in links by email: sign in without typing a password.

Decisions:

- A link is a ``signin`` patient token (stored hashed), single use, valid 15 minutes;
  asking for a new one does not revoke older ones (each still expires on its own).
- Only an active patient of this clinic gets an email; the page answers the same for any
  address (no way to learn who has an account).
- Opening the link shows a button; only pressing it uses the link, so mail scanners that
  fetch links do not burn it. Using it proves the address, so it also confirms the email.
"""

from __future__ import annotations

import datetime as dt
import uuid

from flask import current_app
from flask_babel import gettext
from sqlalchemy import update
from sqlalchemy.orm import Session

from saas import audit, languages, outbox
from saas.exceptions import Invalid, NotFound
from saas.models import Patient, PatientToken, Tenant, utcnow
from saas.patients import (
    TOKEN_PREFIX,
    get_patient_by_email_in_tenant,
    get_patient_in_tenant,
    normalise_email,
)
from saas.security.secrets import digest, new_token

SIGNIN_TTL = dt.timedelta(minutes=15)


def _issue(sess: Session, patient: Patient, purpose: str, ttl: dt.timedelta) -> str:
    plain = TOKEN_PREFIX + new_token()
    sess.add(
        PatientToken(
            id=uuid.uuid4(),
            tenant_id=patient.tenant_id,
            patient_id=patient.id,
            purpose=purpose,
            token_hash=digest(plain),
            expires_at=utcnow() + ttl,
        )
    )
    sess.flush()
    return plain


def send_sign_in_link(sess: Session, tenant: Tenant, email: str) -> None:
    """Email a sign-in link to ``email`` if it belongs to an active patient (else nothing)."""
    try:
        email = normalise_email(email)
    except Invalid:
        return
    patient = get_patient_by_email_in_tenant(sess, tenant, email)
    if patient is None or patient.status != "active":
        return
    token = _issue(sess, patient, "signin", SIGNIN_TTL)
    link = current_app.config["SIMILIA"].public_url(tenant.slug, f"/sign-in/link?token={token}")
    with languages.force_locale(languages.patient_language(tenant, patient)):
        subject = gettext("Your sign-in link for %(clinic)s", clinic=tenant.name)
        body = gettext(
            "Hello %(name)s,\n\nUse this link within 15 minutes to sign in to %(clinic)s. "
            "It works once:\n%(link)s\n\n"
            "If you did not ask for it, ignore this email; nobody can sign in without it.\n",
            name=patient.full_name,
            clinic=tenant.name,
            link=link,
        )
    outbox.emit(
        sess, tenant.id, "email.sign_in_link", {"to": email, "subject": subject, "body": body}
    )
    audit.record(
        sess, tenant.id, "patient.sign_in_link_sent", actor=patient, target=f"patient:{patient.id}"
    )


def use_sign_in_link(sess: Session, tenant: Tenant, token: str) -> Patient:
    """Consume a sign-in link (it proves the address): the patient it was sent to.

    The caller then opens the session (:func:`saas.patients.open_patient_session`), or first
    asks for the code of a patient who turned on two-step sign-in. An unknown, used or
    expired link is :class:`~saas.exceptions.NotFound`.
    """
    now = utcnow()
    row = sess.execute(
        update(PatientToken)
        .where(
            PatientToken.tenant_id == tenant.id,
            PatientToken.token_hash == digest(token or ""),
            PatientToken.purpose == "signin",
            PatientToken.revoked_at.is_(None),
            PatientToken.expires_at > now,
        )
        .values(revoked_at=now)
        .returning(PatientToken.patient_id)
    ).first()
    patient = get_patient_in_tenant(sess, tenant, row[0]) if row else None
    if patient is None or patient.status != "active":
        raise NotFound("This link is invalid, used or expired.", errors={"token": "invalid"})
    patient.email_verified_at = patient.email_verified_at or now
    audit.record(
        sess, tenant.id, "patient.sign_in_link_used", actor=patient, target=f"patient:{patient.id}"
    )
    return patient
