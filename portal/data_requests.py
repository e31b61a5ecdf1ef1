"""A patient's request to delete their account (erasure), forwarded to the clinic.

Erasure is a staff verb in :mod:`saas.records.gdpr` (a person confirms it). The portal
therefore records the patient's request — an audit entry naming the patient by id — and
emails it to the clinic (its published address, else its owners), in the same transaction.
The request carries no clinical or contact values. A copy of the data (export) is
self-service: :func:`saas.records.gdpr.request_own_export` prepares it and the patient
downloads it on the profile page; the clinic is still told (audit entry and email) that
the patient took a copy, with nothing left for it to do.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import audit, outbox, settings
from saas.models import Patient, Tenant, User

KINDS = {
    "export": ("patient.export_requested", "A patient asks for a copy of their data"),
    "erasure": ("patient.erasure_requested", "A patient asks for their account to be deleted"),
}


def _clinic_addresses(sess: Session, tenant: Tenant) -> list[str]:
    published = (settings.read(tenant, "branding").get("email") or "").strip()
    if published:
        return [published]
    owners = sess.scalars(
        select(User.email).where(User.tenant_id == tenant.id, User.role == "owner")
    )
    return sorted(set(owners))


def request_data_action(sess: Session, tenant: Tenant, patient: Patient, kind: str) -> None:
    """Record and forward the patient's request (``kind``: ``export`` or ``erasure``)."""
    action, subject = KINDS[kind]
    audit.record(sess, tenant.id, action, actor=patient, target=f"patient:{patient.id}")
    if kind == "export":
        todo = (
            "A patient asked on the portal for a copy of their data. The portal prepares it "
            "and the patient downloads it there: nothing is left for you to do."
        )
    else:
        todo = (
            "A patient asked on the portal for the deletion of their account. Open the patient "
            "in the staff console or the API to handle the request within one month, as data "
            "protection law requires."
        )
    for address in _clinic_addresses(sess, tenant):
        outbox.emit(
            sess,
            tenant.id,
            f"email.{action}",
            {
                "to": address,
                "subject": f"{subject} ({tenant.name})",
                "body": f"{todo}\n\nPatient reference: {patient.id}\n",
            },
        )
