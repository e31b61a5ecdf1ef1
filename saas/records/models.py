"""Clinical record models. Every ``*_enc`` column is sealed with the clinic's data key.

A sealed column says so where it is declared (``info={"sealed": True}``); key rotation
re-encrypts exactly the declared columns (:func:`saas.models.registry.sealed_columns`).

Only what must be queried without decrypting is in clear: dates, kinds, states, the
follow-up window of a prescription (for the recall list), sizes and sniffed content types.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from saas.models import Base, TenantScoped


def _fk(cols, table, *, nullify: str | None = None, name: str | None = None):
    ondelete = f"SET NULL ({nullify})" if nullify else None
    return ForeignKeyConstraint(
        ["tenant_id", *cols], [f"{table}.tenant_id", f"{table}.id"], ondelete=ondelete, name=name
    )


def _by_staff(table: str, column: str):
    """``column`` names a staff member of the same clinic (Postgres's default FK name)."""
    return _fk([column], "users", name=f"{table}_tenant_id_{column}_fkey")


class ClinicalVisit(TenantScoped, Base):
    """One consultation's clinical record; signed (locked) by the practitioner when complete."""

    __tablename__ = "clinical_visits"
    __table_args__ = (
        _fk(["patient_id"], "patients"),
        _fk(["appointment_id"], "appointments", nullify="appointment_id"),
        _by_staff("clinical_visits", "practitioner_id"),
        _by_staff("clinical_visits", "signed_by"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    #: The practitioner's staff account (``users.id``, not ``practitioners.id``).
    practitioner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: The scheduling appointment this record belongs to, if any.
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(16))  #: initial, follow_up, acute
    visit_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")  #: open, signed
    signed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    signed_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    shared_with_patient: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Summary written for the patient (shown on the portal when shared).
    patient_summary: Mapped[bytes | None] = mapped_column(
        "patient_summary_enc", LargeBinary, info={"sealed": True}
    )
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class CaseNote(TenantScoped, Base):
    """One version of a visit's case notes (sealed JSON of the sections). Never rewritten."""

    __tablename__ = "case_notes"
    __table_args__ = (
        _fk(["visit_id"], "clinical_visits"),
        _by_staff("case_notes", "author_id"),
        UniqueConstraint("tenant_id", "visit_id", "version", name="uq_case_notes_visit_version"),
    )

    visit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    version: Mapped[int] = mapped_column(Integer)
    #: True for versions written after the visit was signed.
    is_amendment: Mapped[bool] = mapped_column(Boolean, default=False)
    body: Mapped[bytes] = mapped_column("body_enc", LargeBinary, info={"sealed": True})
    reason: Mapped[bytes | None] = mapped_column("reason_enc", LargeBinary, info={"sealed": True})
    author_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class Prescription(TenantScoped, Base):
    """A remedy prescribed at a visit, with an optional follow-up window (the recall list)."""

    __tablename__ = "prescriptions"
    __table_args__ = (
        _fk(["visit_id"], "clinical_visits"),
        _fk(["patient_id"], "patients"),
        _fk(["follow_up_service_id"], "visit_types", nullify="follow_up_service_id"),
        _by_staff("prescriptions", "practitioner_id"),
    )

    visit_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    patient_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    practitioner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: Sealed JSON: remedy, potency, form, dose, frequency, duration, instructions.
    details: Mapped[bytes] = mapped_column("details_enc", LargeBinary, info={"sealed": True})
    follow_up_from: Mapped[dt.date | None] = mapped_column(Date)
    follow_up_to: Mapped[dt.date | None] = mapped_column(Date)
    #: The follow-up visit type the booking link pre-selects.
    follow_up_service_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    shared_with_patient: Mapped[bool] = mapped_column(Boolean, default=False)
    is_amendment: Mapped[bool] = mapped_column(Boolean, default=False)
    amendment_reason: Mapped[bytes | None] = mapped_column(
        "amendment_reason_enc", LargeBinary, info={"sealed": True}
    )
    voided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    voided_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    void_reason: Mapped[bytes | None] = mapped_column(
        "void_reason_enc", LargeBinary, info={"sealed": True}
    )
    #: When the patient was emailed the follow-up booking invitation.
    invited_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: When staff took the item off the recall list by hand.
    recall_closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class ClinicalFact(TenantScoped, Base):
    """An allergy or a current medication; ended (with a reason), never deleted."""

    __tablename__ = "clinical_facts"
    __table_args__ = (_fk(["patient_id"], "patients"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    kind: Mapped[str] = mapped_column(String(16))  #: allergy, medication
    details: Mapped[bytes] = mapped_column("details_enc", LargeBinary, info={"sealed": True})
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    ended_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    end_reason: Mapped[bytes | None] = mapped_column(
        "end_reason_enc", LargeBinary, info={"sealed": True}
    )


class Attachment(TenantScoped, Base):
    """A scanned report or image; content and file name sealed, type sniffed on upload."""

    __tablename__ = "patient_attachments"
    __table_args__ = (_fk(["patient_id"], "patients"), _fk(["visit_id"], "clinical_visits"))

    patient_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    visit_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    filename: Mapped[bytes] = mapped_column("filename_enc", LargeBinary, info={"sealed": True})
    content: Mapped[bytes] = mapped_column("content_enc", LargeBinary, info={"sealed": True})
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class Consent(TenantScoped, Base):
    """A consent given for one purpose and text version; withdrawal is recorded, not deleted."""

    __tablename__ = "patient_consents"
    __table_args__ = (_fk(["patient_id"], "patients"),)

    patient_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    purpose: Mapped[str] = mapped_column(String(32))
    text_version: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    #: Staff member who recorded it (None when the patient gave it on the portal).
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_channel: Mapped[str | None] = mapped_column(String(16))
    withdrawn_recorded_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class RecordExport(TenantScoped, Base):
    """A GDPR data-export bundle: assembled by a worker, downloadable once before it expires."""

    __tablename__ = "record_exports"
    __table_args__ = (_fk(["patient_id"], "patients"), _by_staff("record_exports", "requested_by"))

    patient_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    #: The member of staff who asked (empty when the patient asked on the portal).
    requested_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: The patient asked on the portal: only they download it there; staff never see it.
    requested_by_patient: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    #: The zip (sealed); wiped when downloaded or expired.
    bundle: Mapped[bytes | None] = mapped_column("bundle_enc", LargeBinary, info={"sealed": True})
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    ready_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    downloaded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    downloaded_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class ClinicExport(TenantScoped, Base):
    """The owner's export of the whole clinic: worker-built, sealed, downloaded once."""

    __tablename__ = "clinic_exports"
    __table_args__ = (_by_staff("clinic_exports", "requested_by"),)

    requested_by: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    #: The zip (sealed); wiped when downloaded or expired.
    bundle: Mapped[bytes | None] = mapped_column("bundle_enc", LargeBinary, info={"sealed": True})
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    patients: Mapped[int | None] = mapped_column(Integer)
    ready_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    downloaded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class KeyRotation(TenantScoped, Base):
    """A data-key rotation (re-encryption progress) or a transit rewrap, for ``keys status``."""

    __tablename__ = "key_rotations"

    kind: Mapped[str] = mapped_column(String(16))  #: data_key, rewrap
    from_version: Mapped[int] = mapped_column(Integer)
    to_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="running")
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class IntakeResponse(TenantScoped, Base):
    """A patient's answers to the clinic's intake questions before a first visit (sealed)."""

    __tablename__ = "intake_responses"
    __table_args__ = (
        _fk(["patient_id"], "patients"),
        _fk(["appointment_id"], "appointments"),
    )

    patient_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    #: The booking the answers were given for (None once that booking is gone).
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    #: ``[{"question": ..., "answer": ...}, ...]`` as JSON, sealed.
    answers: Mapped[bytes] = mapped_column("answers_enc", LargeBinary, info={"sealed": True})
