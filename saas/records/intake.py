"""The intake questionnaire: questions the clinic asks before a first visit, answers sealed.

The clinic writes its questions in the ``intake`` settings section (``GET/PATCH
/api/v1/settings/intake``; the console edits them). A new patient booking online answers
them on the review step; the answers are stored with the question text as it was asked,
as one sealed JSON document in ``intake_responses`` (the clinic's key, bound to the row),
and read by clinical staff only (:func:`intake_for_patient`, audited like every clinical read).

Decisions:

- Asked when the patient has no intake on file yet and the visit type is for new patients
  or the patient has never had a visit (:func:`needs_intake`); answering is part of the
  booking's transaction, so a refused booking keeps no answers.
- Empty answers are allowed (a patient may prefer to tell the practitioner in person);
  the questions stay with the answers, so later edits of the questions do not change what
  a patient was asked.
- Erasure deletes the patient's intake answers (:func:`saas.records.gdpr.on_erasure`).
"""

from __future__ import annotations

import uuid

from marshmallow import Schema, fields, validate
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from saas import audit, settings
from saas.models import Patient, Tenant, utcnow

from .gdpr import on_erasure
from .models import IntakeResponse
from .policy import require_clinical
from .queries import audit_read
from .sealing import open_json, seal_json

MAX_QUESTIONS = 20
MAX_ANSWER = 2000


class IntakeSettingsSchema(Schema):
    """The questions new patients answer before their first visit."""

    questions = fields.List(
        fields.String(validate=validate.Length(min=1, max=300)),
        validate=validate.Length(max=MAX_QUESTIONS),
        load_default=list,
    )


INTAKE = settings.declare(
    settings.Section(
        name="intake",
        schema=IntakeSettingsSchema,
        permission="settings.manage",
        audit_action="settings.intake_changed",
        description="Questions new patients answer when they book their first visit online.",
    )
)


def questions(tenant: Tenant) -> list[str]:
    """The clinic's intake questions (empty: no questionnaire)."""
    return list(settings.read(tenant, INTAKE.name)["questions"] or [])


def has_intake(sess: Session, tenant: Tenant, patient: Patient) -> bool:
    """True when the patient already answered the questionnaire."""
    return (
        sess.scalar(
            select(IntakeResponse.id)
            .where(IntakeResponse.tenant_id == tenant.id, IntakeResponse.patient_id == patient.id)
            .limit(1)
        )
        is not None
    )


def needs_intake(sess: Session, tenant: Tenant, patient: Patient, *, first_visit: bool) -> bool:
    """Ask the questionnaire: the clinic has questions, it is a first visit, none on file."""
    return bool(questions(tenant)) and first_visit and not has_intake(sess, tenant, patient)


def submit_intake(
    sess: Session, tenant: Tenant, patient: Patient, answers: list[str], *, appointment_id=None
) -> IntakeResponse:
    """Store the patient's answers to the current questions, sealed (audited without values)."""
    asked = questions(tenant)
    given = [(a or "").strip()[:MAX_ANSWER] for a in answers] + [""] * len(asked)
    document = [{"question": q, "answer": given[i]} for i, q in enumerate(asked)]
    row_id = uuid.uuid4()
    row = IntakeResponse(
        id=row_id,
        tenant_id=tenant.id,
        patient_id=patient.id,
        appointment_id=appointment_id,
        answers=seal_json(sess, tenant, "intake_responses", "answers", row_id, document),
        created_at=utcnow(),
    )
    sess.add(row)
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "clinical.intake_submitted",
        actor=patient,
        target=f"patient:{patient.id}",
        data={"intake_id": str(row_id), "questions": len(document)},
    )
    return row


def intake_for_patient(sess: Session, tenant: Tenant, actor, patient: Patient) -> list[dict]:
    """The patient's intake answers, newest first, for clinical staff (audited read)."""
    require_clinical(tenant, actor)
    rows = sess.scalars(
        select(IntakeResponse)
        .where(IntakeResponse.tenant_id == tenant.id, IntakeResponse.patient_id == patient.id)
        .order_by(IntakeResponse.created_at.desc())
    ).all()
    audit_read(sess, tenant, actor, patient.id, "intake", [r.id for r in rows])
    return [
        {
            "id": r.id,
            "appointment_id": r.appointment_id,
            "created_at": r.created_at,
            "answers": open_json(sess, tenant.id, "intake_responses", "answers", r.id, r.answers),
        }
        for r in rows
    ]


@on_erasure
def _erase_intake(sess: Session, tenant: Tenant, patient: Patient) -> dict:
    """Erasure removes the answers."""
    result = sess.execute(
        delete(IntakeResponse).where(
            IntakeResponse.tenant_id == tenant.id, IntakeResponse.patient_id == patient.id
        )
    )
    return {"intake_responses": result.rowcount}
