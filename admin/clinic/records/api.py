"""Staff API for patients and their records.

Demographics, clinical records, prescriptions, recall list, attachments, consents, data export and
erasure.

Views are thin: they resolve the object *in the clinic* (404 for missing and for another
clinic's alike), call a service verb or reader (which checks the role again and audits),
commit, and serialise. Receptionists get demographics, consents and the recall list without
clinical fields; every clinical route refuses them (RBAC here, the policy in the service).
"""

from __future__ import annotations

import io
import uuid

from flask import g, send_file
from flask.views import MethodView
from flask_smorest import Blueprint, abort
from flask_smorest.fields import Upload
from marshmallow import Schema, fields
from sqlalchemy import func, select

from saas import audit, db
from saas.fields import FieldOpener
from saas.models import utcnow
from saas.records import attachments as attachment_svc
from saas.records import consents as consent_svc
from saas.records import errors, followups, gdpr, queries, services
from saas.records.models import Consent
from saas.records.policy import can_read_clinical, records_settings
from saas.security.rbac import requires

from .schemas import (
    AttachmentSchema,
    ConsentRequestSchema,
    ConsentSchema,
    ErasureRequestSchema,
    ErasureSchema,
    ExportSchema,
    FactRequestSchema,
    FactSchema,
    NoteSchema,
    NoteVersionRequestSchema,
    PatientCreateSchema,
    PatientQuerySchema,
    PatientSchema,
    PatientUpdateSchema,
    PrescriptionRequestSchema,
    PrescriptionSchema,
    ReasonSchema,
    RecallItemSchema,
    RecallQuerySchema,
    RecordSchema,
    RecordsSettingsSchema,
    SharePrescriptionSchema,
    ShareVisitSchema,
    VisitCreateSchema,
    VisitSchema,
    WithdrawSchema,
)

blp = Blueprint(
    "records_api", __name__, url_prefix="/api/v1", description="Patients and clinical records"
)


errors.register(blp)


def _patient(patient_id):
    patient = queries.access_patient(db.session, g.tenant, patient_id)
    if patient is None:
        abort(404, message="No such patient.")
    return patient


def _found(obj, what: str):
    if obj is None:
        abort(404, message=f"No such {what}.")
    return obj


# -- patients (demographics) -----------------------------------------------------------------------
@blp.route("/patients")
class Patients(MethodView):
    """The clinic's patients."""

    @requires("patients.view")
    @blp.arguments(PatientQuerySchema, location="query")
    @blp.response(200, PatientSchema(many=True))
    @blp.paginate(page_size=50, max_page_size=100)
    def get(self, args, pagination_parameters):
        """Search patients by name (substring) or exact email; 50 per page."""
        sess = db.session
        stmt = queries.search_patients(sess, g.tenant, q=args.get("q"), email=args.get("email"))
        pagination_parameters.item_count = sess.scalar(
            select(func.count()).select_from(stmt.subquery())
        )
        rows = list(
            sess.scalars(
                stmt.offset(pagination_parameters.first_item).limit(pagination_parameters.page_size)
            )
        )
        opener = FieldOpener(sess, g.tenant.id)
        out = [queries.demographics(sess, p, opener) for p in rows]
        audit.record(
            sess,
            g.tenant.id,
            "patient.searched",
            actor=g.api_user,
            data={"results": len(rows), "by": sorted(k for k in ("q", "email") if args.get(k))},
        )
        sess.commit()
        return out

    @requires("patients.manage")
    @blp.arguments(PatientCreateSchema)
    @blp.response(201, PatientSchema)
    def post(self, data):
        """Create a patient (receptionists too)."""
        patient = services.create_patient_by_staff(db.session, g.tenant, g.api_user, data)
        out = queries.demographics(db.session, patient)
        db.session.commit()
        return out


@blp.route("/patients/<uuid:patient_id>")
class PatientItem(MethodView):
    """One patient's demographics."""

    @requires("patients.view")
    @blp.response(200, PatientSchema)
    def get(self, patient_id: uuid.UUID):
        """Read a patient's demographics."""
        patient = _patient(patient_id)
        out = queries.demographics(db.session, patient)
        audit.record(
            db.session,
            g.tenant.id,
            "patient.read",
            actor=g.api_user,
            target=f"patient:{patient.id}",
        )
        db.session.commit()
        return out

    @requires("patients.manage")
    @blp.arguments(PatientUpdateSchema)
    @blp.response(200, PatientSchema)
    def patch(self, data, patient_id: uuid.UUID):
        """Change demographics (only the fields sent; null clears)."""
        patient = _patient(patient_id)
        services.update_demographics(db.session, g.tenant, patient, data, actor=g.api_user)
        out = queries.demographics(db.session, patient)
        db.session.commit()
        return out


# -- the clinical record ---------------------------------------------------------------------------
@blp.route("/patients/<uuid:patient_id>/record")
class PatientRecord(MethodView):
    """A patient's clinical record."""

    @requires("clinical.read")
    @blp.response(200, RecordSchema)
    def get(self, patient_id: uuid.UUID):
        """Allergies, medication, visits with current notes, prescriptions."""
        patient = _patient(patient_id)
        out = queries.read_patient_record(db.session, g.tenant, g.api_user, patient)
        db.session.commit()
        return out


@blp.route("/patients/<uuid:patient_id>/visits")
class Visits(MethodView):
    """Visit records of a patient."""

    @requires("clinical.write")
    @blp.arguments(VisitCreateSchema)
    @blp.response(201, VisitSchema)
    def post(self, data, patient_id: uuid.UUID):
        """Open a visit's record with its first case-note version."""
        patient = _patient(patient_id)
        visit = services.record_visit_note(
            db.session,
            g.tenant,
            g.api_user,
            patient,
            kind=data["kind"],
            visit_date=data["visit_date"] or utcnow().date(),
            sections=data["note"],
            practitioner_id=data["practitioner_id"],
            appointment_id=data["appointment_id"],
        )
        out = queries.read_visit(db.session, g.tenant, g.api_user, visit)
        db.session.commit()
        return out


@blp.route("/visits/<uuid:visit_id>")
class VisitItem(MethodView):
    """One visit record."""

    @requires("clinical.read")
    @blp.response(200, VisitSchema)
    def get(self, visit_id: uuid.UUID):
        """The visit with its current notes, version history and prescriptions."""
        visit = _found(queries.access_visit(db.session, g.tenant, visit_id), "visit")
        out = queries.read_visit(db.session, g.tenant, g.api_user, visit)
        db.session.commit()
        return out


@blp.route("/visits/<uuid:visit_id>/note")
class VisitNote(MethodView):
    """The visit's case notes."""

    @requires("clinical.write")
    @blp.arguments(NoteVersionRequestSchema)
    @blp.response(201, NoteSchema)
    def put(self, data, visit_id: uuid.UUID):
        """Write a new version (an amendment with a reason once the visit is signed)."""
        visit = _found(queries.access_visit(db.session, g.tenant, visit_id), "visit")
        note = services.amend_note(
            db.session,
            g.tenant,
            g.api_user,
            visit,
            data["sections"],
            reason=data["reason"],
            expected_version=data["expected_version"],
        )
        out = queries.read_note_version(db.session, g.tenant, g.api_user, visit, note.version)
        db.session.commit()
        return out


@blp.route("/visits/<uuid:visit_id>/notes/<int:version>")
class VisitNoteVersion(MethodView):
    """One version of the visit's notes."""

    @requires("clinical.read")
    @blp.response(200, NoteSchema)
    def get(self, visit_id: uuid.UUID, version: int):
        """Read an earlier (or the current) version."""
        visit = _found(queries.access_visit(db.session, g.tenant, visit_id), "visit")
        out = queries.read_note_version(db.session, g.tenant, g.api_user, visit, version)
        db.session.commit()
        return out


@blp.route("/visits/<uuid:visit_id>/sign")
class VisitSign(MethodView):
    """Signing."""

    @requires("clinical.write")
    @blp.response(200, VisitSchema)
    def post(self, visit_id: uuid.UUID):
        """Sign (lock) the visit; later changes are amendments."""
        visit = _found(queries.access_visit(db.session, g.tenant, visit_id), "visit")
        services.sign_visit(db.session, g.tenant, g.api_user, visit)
        out = queries.read_visit(db.session, g.tenant, g.api_user, visit)
        db.session.commit()
        return out


@blp.route("/visits/<uuid:visit_id>/sharing")
class VisitSharing(MethodView):
    """What the patient sees of this visit."""

    @requires("clinical.write")
    @blp.arguments(ShareVisitSchema)
    @blp.response(200, VisitSchema)
    def put(self, data, visit_id: uuid.UUID):
        """Share the visit summary with the patient on the portal (or stop)."""
        visit = _found(queries.access_visit(db.session, g.tenant, visit_id), "visit")
        services.share_visit(
            db.session,
            g.tenant,
            g.api_user,
            visit,
            shared=data["shared_with_patient"],
            summary=data["patient_summary"],
        )
        out = queries.read_visit(db.session, g.tenant, g.api_user, visit)
        db.session.commit()
        return out


# -- prescriptions ---------------------------------------------------------------------------------
@blp.route("/visits/<uuid:visit_id>/prescriptions")
class VisitPrescriptions(MethodView):
    """Prescriptions of a visit."""

    @requires("clinical.write")
    @blp.arguments(PrescriptionRequestSchema)
    @blp.response(201, PrescriptionSchema)
    def post(self, data, visit_id: uuid.UUID):
        """Prescribe a remedy (with an optional follow-up window)."""
        visit = _found(queries.access_visit(db.session, g.tenant, visit_id), "visit")
        rx = services.add_prescription(db.session, g.tenant, g.api_user, visit, data)
        out = queries.prescription_dict(db.session, rx)
        db.session.commit()
        return out


@blp.route("/patients/<uuid:patient_id>/prescriptions")
class PatientPrescriptions(MethodView):
    """A patient's prescriptions."""

    @requires("clinical.read")
    @blp.response(200, PrescriptionSchema(many=True))
    def get(self, patient_id: uuid.UUID):
        """All prescriptions, newest first (void ones included, marked)."""
        patient = _patient(patient_id)
        out = queries.list_prescriptions(db.session, g.tenant, g.api_user, patient)
        db.session.commit()
        return out


@blp.route("/prescriptions/<uuid:rx_id>/void")
class PrescriptionVoid(MethodView):
    """Voiding."""

    @requires("clinical.write")
    @blp.arguments(ReasonSchema)
    @blp.response(200, PrescriptionSchema)
    def post(self, data, rx_id: uuid.UUID):
        """Void a prescription with a reason (kept in the record)."""
        rx = _found(queries.access_prescription(db.session, g.tenant, rx_id), "prescription")
        services.void_prescription(db.session, g.tenant, g.api_user, rx, data["reason"])
        out = queries.prescription_dict(db.session, rx)
        db.session.commit()
        return out


@blp.route("/prescriptions/<uuid:rx_id>/sharing")
class PrescriptionSharing(MethodView):
    """What the patient sees of this prescription."""

    @requires("clinical.write")
    @blp.arguments(SharePrescriptionSchema)
    @blp.response(200, PrescriptionSchema)
    def put(self, data, rx_id: uuid.UUID):
        """Share the prescription with the patient on the portal (or stop)."""
        rx = _found(queries.access_prescription(db.session, g.tenant, rx_id), "prescription")
        services.share_prescription(
            db.session, g.tenant, g.api_user, rx, shared=data["shared_with_patient"]
        )
        out = queries.prescription_dict(db.session, rx)
        db.session.commit()
        return out


# -- recall list -----------------------------------------------------------------------------------
@blp.route("/recalls")
class Recalls(MethodView):
    """Follow-ups due."""

    @requires("schedule.view")
    @blp.arguments(RecallQuerySchema, location="query")
    @blp.response(200, RecallItemSchema(many=True))
    def get(self, args):
        """Follow-ups whose window opens within ``within_days`` and that nobody has booked.

        Receptionists see who to call and when; remedy and potency only appear for roles
        that may read clinical content.
        """
        include_clinical = can_read_clinical(g.tenant, g.api_user)
        out = followups.recall_list(
            db.session,
            g.tenant,
            g.api_user,
            within_days=args["within_days"],
            include_clinical=include_clinical,
        )
        db.session.commit()
        return out


@blp.route("/recalls/<uuid:rx_id>/close")
class RecallClose(MethodView):
    """Taking an item off the recall list."""

    @requires("appointments.manage")
    @blp.response(204)
    def post(self, rx_id: uuid.UUID):
        """Close a recall by hand (booked by phone, patient declined, ...)."""
        rx = _found(queries.access_prescription(db.session, g.tenant, rx_id), "prescription")
        followups.close_recall(db.session, g.tenant, g.api_user, rx)
        db.session.commit()


# -- allergies and medication ----------------------------------------------------------------------
@blp.route("/patients/<uuid:patient_id>/facts")
class Facts(MethodView):
    """Allergies and current medication."""

    @requires("clinical.write")
    @blp.arguments(FactRequestSchema)
    @blp.response(201, FactSchema)
    def post(self, data, patient_id: uuid.UUID):
        """Record an allergy or a current medication."""
        patient = _patient(patient_id)
        fact = services.record_fact(
            db.session,
            g.tenant,
            g.api_user,
            patient,
            kind=data["kind"],
            details={"name": data["name"], "details": data["details"]},
        )
        out = queries.fact_dict(db.session, fact)
        db.session.commit()
        return out


@blp.route("/facts/<uuid:fact_id>/end")
class FactEnd(MethodView):
    """Ending an allergy/medication entry."""

    @requires("clinical.write")
    @blp.arguments(ReasonSchema)
    @blp.response(200, FactSchema)
    def post(self, data, fact_id: uuid.UUID):
        """Mark resolved/stopped, with a reason (kept in the history)."""
        fact = _found(queries.access_fact(db.session, g.tenant, fact_id), "entry")
        services.end_fact(db.session, g.tenant, g.api_user, fact, data["reason"])
        out = queries.fact_dict(db.session, fact)
        db.session.commit()
        return out


# -- attachments -----------------------------------------------------------------------------------
class UploadSchema(Schema):
    """The uploaded file (multipart field ``file``)."""

    file = Upload(required=True)


class UploadQuerySchema(Schema):
    """The visit an upload belongs to (optional)."""

    visit_id = fields.UUID(load_default=None)


@blp.route("/patients/<uuid:patient_id>/attachments")
class Attachments(MethodView):
    """Scanned reports and images."""

    @requires("clinical.read")
    @blp.response(200, AttachmentSchema(many=True))
    def get(self, patient_id: uuid.UUID):
        """List a patient's attachments (metadata only)."""
        patient = _patient(patient_id)
        out = attachment_svc.list_attachments(db.session, g.tenant, g.api_user, patient)
        db.session.commit()
        return out

    @requires("clinical.write")
    @blp.arguments(UploadSchema, location="files")
    @blp.arguments(UploadQuerySchema, location="query")
    @blp.response(201, AttachmentSchema)
    def post(self, files, args, patient_id: uuid.UUID):
        """Upload a PDF or image (type sniffed from the content; size limited)."""
        patient = _patient(patient_id)
        upload = files["file"]
        att = attachment_svc.add_attachment(
            db.session,
            g.tenant,
            g.api_user,
            patient,
            filename=upload.filename or "upload",
            data=upload.read(attachment_svc.MAX_BYTES + 1),
            visit_id=args["visit_id"],
        )
        out = attachment_svc.attachment_dict(db.session, att)
        db.session.commit()
        return out


@blp.route("/attachments/<uuid:attachment_id>/content")
class AttachmentContent(MethodView):
    """An attachment's bytes."""

    @requires("clinical.read")
    @blp.response(200, description="The file, always as a download")
    def get(self, attachment_id: uuid.UUID):
        """Download the file (never rendered inline)."""
        att = _found(queries.access_attachment(db.session, g.tenant, attachment_id), "attachment")
        name, data = attachment_svc.read_attachment(db.session, g.tenant, g.api_user, att)
        db.session.commit()
        return attachment_svc.download_response(name, att.content_type, data)


# -- consents --------------------------------------------------------------------------------------
@blp.route("/patients/<uuid:patient_id>/consents")
class Consents(MethodView):
    """A patient's consents (current and history)."""

    @requires("patients.view")
    @blp.response(200, ConsentSchema(many=True))
    def get(self, patient_id: uuid.UUID):
        """Every consent given and withdrawn, newest first."""
        patient = _patient(patient_id)
        return consent_svc.list_consents(db.session, g.tenant, patient)

    @requires("patients.manage")
    @blp.arguments(ConsentRequestSchema)
    @blp.response(201, ConsentSchema)
    def post(self, data, patient_id: uuid.UUID):
        """Record a consent (purpose, text version, channel)."""
        patient = _patient(patient_id)
        consent = consent_svc.record_consent(
            db.session, g.tenant, patient, actor=g.api_user, **data
        )
        db.session.commit()
        return consent


@blp.route("/consents/<uuid:consent_id>/withdraw")
class ConsentWithdraw(MethodView):
    """Withdrawal."""

    @requires("patients.manage")
    @blp.arguments(WithdrawSchema)
    @blp.response(200, ConsentSchema)
    def post(self, data, consent_id: uuid.UUID):
        """Record that the patient withdrew this consent."""
        consent: Consent = _found(
            queries.access_consent(db.session, g.tenant, consent_id), "consent"
        )
        consent_svc.withdraw_consent(
            db.session, g.tenant, consent, channel=data["channel"], actor=g.api_user
        )
        db.session.commit()
        return consent


# -- export and erasure ----------------------------------------------------------------------------
@blp.route("/patients/<uuid:patient_id>/exports")
class Exports(MethodView):
    """Data export (GDPR right of access / portability)."""

    @requires("records.export")
    @blp.response(202, ExportSchema)
    def post(self, patient_id: uuid.UUID):
        """Request a machine-readable export; a worker assembles it."""
        patient = _patient(patient_id)
        return gdpr.request_export(db.session, g.tenant, g.api_user, patient)


@blp.route("/exports/<uuid:export_id>")
class ExportItem(MethodView):
    """One export."""

    @requires("records.export")
    @blp.response(200, ExportSchema)
    def get(self, export_id: uuid.UUID):
        """Status of an export (pending, ready, downloaded, expired, failed)."""
        return _found(gdpr.access_export(db.session, g.tenant, export_id), "export")


@blp.route("/exports/<uuid:export_id>/download")
class ExportDownload(MethodView):
    """The export bundle."""

    @requires("records.export")
    @blp.response(200, description="A zip: record.json plus attachments/")
    def get(self, export_id: uuid.UUID):
        """Download the bundle: once, before it expires (then it is destroyed)."""
        export = _found(gdpr.access_export(db.session, g.tenant, export_id), "export")
        data = gdpr.download_export(db.session, g.tenant, g.api_user, export)
        db.session.commit()
        return send_file(
            io.BytesIO(data),
            mimetype="application/zip",
            as_attachment=True,
            download_name=f"patient-{export.patient_id}.zip",
            max_age=0,
        )


@blp.route("/patients/<uuid:patient_id>/erasure")
class Erasure(MethodView):
    """Erasure (GDPR right to be forgotten)."""

    @requires("patients.erase")
    @blp.arguments(ErasureRequestSchema)
    @blp.response(200, ErasureSchema)
    def post(self, data, patient_id: uuid.UUID):
        """Destroy the patient's personal and clinical data; anonymised statistics stay."""
        patient = _patient(patient_id)
        if data["confirm_name"].strip() != patient.full_name:
            abort(
                422,
                message="Type the patient's full name to confirm.",
                errors={"json": {"confirm_name": ["Does not match the patient's name."]}},
            )
        removed = gdpr.erase_patient(
            db.session,
            g.tenant,
            g.api_user,
            patient,
            reason=data["reason"],
            reference=data["reference"],
        )
        db.session.commit()
        return {
            "patient_id": patient.id,
            "status": patient.status,
            "erased_at": patient.erased_at,
            "removed": removed,
        }


# -- settings --------------------------------------------------------------------------------------
@blp.route("/records/settings")
class Settings(MethodView):
    """Records settings of the clinic."""

    @requires("settings.manage")
    @blp.response(200, RecordsSettingsSchema)
    def get(self):
        """Clinical access of owners/admins, retention, follow-up invitation lead time."""
        return records_settings(g.tenant)

    @requires("settings.manage")
    @blp.arguments(RecordsSettingsSchema)
    @blp.response(200, RecordsSettingsSchema)
    def put(self, data):
        """Change settings; only an owner may change who reads clinical records."""
        out = gdpr.update_records_settings(db.session, g.tenant, g.api_user, data)
        db.session.commit()
        return out
