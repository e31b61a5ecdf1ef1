"""A patient's requests about their data: a copy (export) or deletion (erasure).

Exports and erasure are staff verbs in :mod:`saas.records.gdpr` (an export is prepared for,
and downloaded by, a member of staff who hands it over; erasure needs a person to confirm
it). The portal therefore records the patient's request — an audit entry naming the patient
by id — and emails it to the clinic (its published address, else its owners), in the same
transaction. The request carries no clinical or contact values.
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
    what = "a copy of their data" if kind == "export" else "the deletion of their account"
    for address in _clinic_addresses(sess, tenant):
        outbox.emit(
            sess,
            tenant.id,
            f"email.{action}",
            {
                "to": address,
                "subject": f"{subject} ({tenant.name})",
                "body": (
                    f"A patient asked on the portal for {what}.\n\nPatient reference: "
                    f"{patient.id}\n\nOpen the patient in the staff console or the API to "
                    "handle the request within one month, as data protection law requires.\n"
                ),
            },
        )
