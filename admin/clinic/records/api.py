"""Staff API for patients and their records.

Demographics, clinical records, prescriptions, recall list, attachments, consents, data export and
erasure.

Views are thin: they resolve the object *in the clinic* (``queries.access_*``: the same 404
for missing and for another clinic's), call a service verb or reader (which checks the role
again and audits) and serialise. They never commit: the request owns the transaction, so
reads are audited in the same commit, and a refusal (a :mod:`saas.exceptions` error, answered
app-wide) rolls everything back. Receptionists get demographics, consents and the recall
list without clinical fields; every clinical route refuses them (RBAC here, the policy in
the service).
"""

from __future__ import annotations

import io
import uuid

from flask import g, send_file
from flask.views import MethodView
from flask_smorest import Blueprint

from saas import db
from saas.records import attachments as attachment_svc
from saas.records import consents as consent_svc
from saas.records import followups, gdpr, queries, retention, services
from saas.records.policy import can_read_clinical, records_settings
from saas.records.schemas import ConsentSchema, PrescriptionSchema
from saas.security.rbac import requires
from saas.web import CLINIC, serve_on

from .schemas import (
    AttachmentSchema,
    ConsentRequestSchema,
    ErasureRequestSchema,
    ErasureSchema,
    ExportSchema,
    FactRequestSchema,
    FactSchema,
    LegalHoldRequestSchema,
    LegalHoldSchema,
    NoteSchema,
    NoteVersionRequestSchema,
    PatientCreateSchema,
    PatientQuerySchema,
    PatientSchema,
    PatientUpdateSchema,
    PrescriptionRequestSchema,
    ReasonSchema,
    RecallItemSchema,
    RecallQuerySchema,
    RecordSchema,
    RecordsSettingsSchema,
    SharePrescriptionSchema,
    ShareVisitSchema,
    UploadQuerySchema,
    UploadSchema,
    VisitCreateSchema,
    VisitSchema,
    WithdrawSchema,
)

blp = Blueprint(
    "records_api", __name__, url_prefix="/api/v1", description="Patients and clinical records"
)
serve_on(blp, CLINIC)


def _patient(patient_id):
    return queries.access_patient(db.session, g.tenant, patient_id)


def _visit(visit_id):
    return queries.access_visit(db.session, g.tenant, visit_id)


def _prescription(rx_id):
    return queries.access_prescription(db.session, g.tenant, rx_id)


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
        total, out = queries.patients_page(
            db.session,
            g.tenant,
            g.api_user,
            q=args.get("q"),
            email=args.get("email"),
            offset=pagination_parameters.first_item,
            limit=pagination_parameters.page_size,
        )
        pagination_parameters.item_count = total
        return out

    @requires("patients.manage")
    @blp.arguments(PatientCreateSchema)
    @blp.response(201, PatientSchema)
    def post(self, data):
        """Create a patient (receptionists too)."""
        patient = services.create_patient_by_staff(db.session, g.tenant, g.api_user, data)
        return queries.demographics(db.session, patient)


@blp.route("/patients/<uuid:patient_id>")
class PatientItem(MethodView):
    """One patient's demographics."""

    @requires("patients.view")
    @blp.response(200, PatientSchema)
    def get(self, patient_id: uuid.UUID):
        """Read a patient's demographics."""
        return queries.read_demographics(db.session, g.tenant, g.api_user, _patient(patient_id))

    @requires("patients.manage")
    @blp.arguments(PatientUpdateSchema)
    @blp.response(200, PatientSchema)
    def patch(self, data, patient_id: uuid.UUID):
        """Change demographics (only the fields sent; null clears)."""
        patient = _patient(patient_id)
        services.update_demographics(db.session, g.tenant, patient, data, actor=g.api_user)
        return queries.demographics(db.session, patient)


# -- the clinical record ---------------------------------------------------------------------------
@blp.route("/patients/<uuid:patient_id>/record")
class PatientRecord(MethodView):
    """A patient's clinical record."""

    @requires("clinical.read")
    @blp.response(200, RecordSchema)
    def get(self, patient_id: uuid.UUID):
        """Allergies, medication, visits with current notes, prescriptions."""
        patient = _patient(patient_id)
        return queries.read_patient_record(db.session, g.tenant, g.api_user, patient)


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
            visit_date=data["visit_date"],
            sections=data["note"],
            practitioner_id=data["practitioner_id"],
            appointment_id=data["appointment_id"],
        )
        return queries.read_visit(db.session, g.tenant, g.api_user, visit)


@blp.route("/visits/<uuid:visit_id>")
class VisitItem(MethodView):
    """One visit record."""

    @requires("clinical.read")
    @blp.response(200, VisitSchema)
    def get(self, visit_id: uuid.UUID):
        """The visit with its current notes, version history and prescriptions."""
        visit = _visit(visit_id)
        return queries.read_visit(db.session, g.tenant, g.api_user, visit)


@blp.route("/visits/<uuid:visit_id>/note")
class VisitNote(MethodView):
    """The visit's case notes."""

    @requires("clinical.write")
    @blp.arguments(NoteVersionRequestSchema)
    @blp.response(201, NoteSchema)
    def put(self, data, visit_id: uuid.UUID):
        """Write a new version (an amendment with a reason once the visit is signed)."""
        visit = _visit(visit_id)
        note = services.amend_note(
            db.session,
            g.tenant,
            g.api_user,
            visit,
            data["sections"],
            reason=data["reason"],
            expected_version=data["expected_version"],
        )
        return queries.read_note_version(db.session, g.tenant, g.api_user, visit, note.version)


@blp.route("/visits/<uuid:visit_id>/notes/<int(max=2147483647):version>")
class VisitNoteVersion(MethodView):
    """One version of the visit's notes."""

    @requires("clinical.read")
    @blp.response(200, NoteSchema)
    def get(self, visit_id: uuid.UUID, version: int):
        """Read an earlier (or the current) version."""
        visit = _visit(visit_id)
        return queries.read_note_version(db.session, g.tenant, g.api_user, visit, version)


@blp.route("/visits/<uuid:visit_id>/sign")
class VisitSign(MethodView):
    """Signing."""

    @requires("clinical.write")
    @blp.response(200, VisitSchema)
    def post(self, visit_id: uuid.UUID):
        """Sign (lock) the visit; later changes are amendments."""
        visit = _visit(visit_id)
        services.sign_visit(db.session, g.tenant, g.api_user, visit)
        return queries.read_visit(db.session, g.tenant, g.api_user, visit)


@blp.route("/visits/<uuid:visit_id>/sharing")
class VisitSharing(MethodView):
    """What the patient sees of this visit."""

    @requires("clinical.write")
    @blp.arguments(ShareVisitSchema)
    @blp.response(200, VisitSchema)
    def put(self, data, visit_id: uuid.UUID):
        """Share the visit summary with the patient on the portal (or stop)."""
        visit = _visit(visit_id)
        services.share_visit(
            db.session,
            g.tenant,
            g.api_user,
            visit,
            shared=data["shared_with_patient"],
            summary=data["patient_summary"],
        )
        return queries.read_visit(db.session, g.tenant, g.api_user, visit)


# -- prescriptions ---------------------------------------------------------------------------------
@blp.route("/visits/<uuid:visit_id>/prescriptions")
class VisitPrescriptions(MethodView):
    """Prescriptions of a visit."""

    @requires("clinical.write")
    @blp.arguments(PrescriptionRequestSchema)
    @blp.response(201, PrescriptionSchema)
    def post(self, data, visit_id: uuid.UUID):
        """Prescribe a remedy (with an optional follow-up window)."""
        visit = _visit(visit_id)
        rx = services.add_prescription(db.session, g.tenant, g.api_user, visit, data)
        return queries.prescription_dict(db.session, rx)


@blp.route("/patients/<uuid:patient_id>/prescriptions")
class PatientPrescriptions(MethodView):
    """A patient's prescriptions."""

    @requires("clinical.read")
    @blp.response(200, PrescriptionSchema(many=True))
    def get(self, patient_id: uuid.UUID):
        """All prescriptions, newest first (void ones included, marked)."""
        patient = _patient(patient_id)
        return queries.list_prescriptions(db.session, g.tenant, g.api_user, patient)


@blp.route("/prescriptions/<uuid:rx_id>/void")
class PrescriptionVoid(MethodView):
    """Voiding."""

    @requires("clinical.write")
    @blp.arguments(ReasonSchema)
    @blp.response(200, PrescriptionSchema)
    def post(self, data, rx_id: uuid.UUID):
        """Void a prescription with a reason (kept in the record)."""
        rx = _prescription(rx_id)
        services.void_prescription(db.session, g.tenant, g.api_user, rx, data["reason"])
        return queries.prescription_dict(db.session, rx)


@blp.route("/prescriptions/<uuid:rx_id>/sharing")
class PrescriptionSharing(MethodView):
    """What the patient sees of this prescription."""

    @requires("clinical.write")
    @blp.arguments(SharePrescriptionSchema)
    @blp.response(200, PrescriptionSchema)
    def put(self, data, rx_id: uuid.UUID):
        """Share the prescription with the patient on the portal (or stop)."""
        rx = _prescription(rx_id)
        services.share_prescription(
            db.session, g.tenant, g.api_user, rx, shared=data["shared_with_patient"]
        )
        return queries.prescription_dict(db.session, rx)


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
        return followups.recall_list(
            db.session,
            g.tenant,
            g.api_user,
            within_days=args["within_days"],
            include_clinical=can_read_clinical(g.tenant, g.api_user),
        )


@blp.route("/recalls/<uuid:rx_id>/close")
class RecallClose(MethodView):
    """Taking an item off the recall list."""

    @requires("appointments.manage")
    @blp.response(204)
    def post(self, rx_id: uuid.UUID):
        """Close a recall by hand (booked by phone, patient declined, ...)."""
        rx = _prescription(rx_id)
        followups.close_recall(db.session, g.tenant, g.api_user, rx)


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
        return queries.fact_dict(db.session, fact)


@blp.route("/facts/<uuid:fact_id>/end")
class FactEnd(MethodView):
    """Ending an allergy/medication entry."""

    @requires("clinical.write")
    @blp.arguments(ReasonSchema)
    @blp.response(200, FactSchema)
    def post(self, data, fact_id: uuid.UUID):
        """Mark resolved/stopped, with a reason (kept in the history)."""
        fact = queries.access_fact(db.session, g.tenant, fact_id)
        services.end_fact(db.session, g.tenant, g.api_user, fact, data["reason"])
        return queries.fact_dict(db.session, fact)


# -- attachments -----------------------------------------------------------------------------------
@blp.route("/patients/<uuid:patient_id>/attachments")
class Attachments(MethodView):
    """Scanned reports and images."""

    @requires("clinical.read")
    @blp.response(200, AttachmentSchema(many=True))
    def get(self, patient_id: uuid.UUID):
        """List a patient's attachments (metadata only)."""
        patient = _patient(patient_id)
        return attachment_svc.list_attachments(db.session, g.tenant, g.api_user, patient)

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
        return attachment_svc.attachment_dict(db.session, att)


@blp.route("/attachments/<uuid:attachment_id>/content")
class AttachmentContent(MethodView):
    """An attachment's bytes."""

    @requires("clinical.read")
    @blp.response(200, description="The file, always as a download")
    def get(self, attachment_id: uuid.UUID):
        """Download the file (never rendered inline)."""
        att = queries.access_attachment(db.session, g.tenant, attachment_id)
        name, data = attachment_svc.read_attachment(db.session, g.tenant, g.api_user, att)
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
        return consent_svc.record_consent(db.session, g.tenant, patient, actor=g.api_user, **data)


@blp.route("/consents/<uuid:consent_id>/withdraw")
class ConsentWithdraw(MethodView):
    """Withdrawal."""

    @requires("patients.manage")
    @blp.arguments(WithdrawSchema)
    @blp.response(200, ConsentSchema)
    def post(self, data, consent_id: uuid.UUID):
        """Record that the patient withdrew this consent."""
        consent = queries.access_consent(db.session, g.tenant, consent_id)
        consent_svc.withdraw_consent(
            db.session, g.tenant, consent, channel=data["channel"], actor=g.api_user
        )
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
        return gdpr.access_export(db.session, g.tenant, export_id)


@blp.route("/exports/<uuid:export_id>/download")
class ExportDownload(MethodView):
    """The export bundle."""

    @requires("records.export")
    @blp.response(200, description="A zip: record.json plus attachments/")
    def get(self, export_id: uuid.UUID):
        """Download the bundle: once, before it expires (then it is destroyed)."""
        export = gdpr.access_export(db.session, g.tenant, export_id)
        data = gdpr.download_export(db.session, g.tenant, g.api_user, export)
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
        removed = gdpr.erase_patient(
            db.session,
            g.tenant,
            g.api_user,
            patient,
            reason=data["reason"],
            reference=data["reference"],
            confirm_name=data["confirm_name"],
        )
        return {
            "patient_id": patient.id,
            "status": patient.status,
            "erased_at": patient.erased_at,
            "removed": removed,
            "records_kept_until": patient.records_kept_until,
        }


def _hold(patient) -> dict:
    hold = retention.legal_hold(db.session, g.tenant, patient) or {}
    return {"patient_id": patient.id, "on_hold": bool(hold), **hold}


@blp.route("/patients/<uuid:patient_id>/legal-hold")
class LegalHold(MethodView):
    """Legal hold: while it stands the patient cannot be erased (owners only)."""

    @requires("patients.legal_hold")
    @blp.response(200, LegalHoldSchema)
    def get(self, patient_id: uuid.UUID):
        """Whether the patient is under a legal hold, since when, by whom and why."""
        return _hold(_patient(patient_id))

    @requires("patients.legal_hold")
    @blp.arguments(LegalHoldRequestSchema)
    @blp.response(200, LegalHoldSchema)
    def post(self, data, patient_id: uuid.UUID):
        """Place a legal hold with its reason (audited; the reason is sealed)."""
        patient = _patient(patient_id)
        retention.place_legal_hold(db.session, g.tenant, g.api_user, patient, reason=data["reason"])
        return _hold(patient)

    @requires("patients.legal_hold")
    @blp.response(200, LegalHoldSchema)
    def delete(self, patient_id: uuid.UUID):
        """Release the legal hold (audited); erasure is possible again."""
        patient = _patient(patient_id)
        retention.release_legal_hold(db.session, g.tenant, g.api_user, patient)
        return _hold(patient)


# -- settings --------------------------------------------------------------------------------------
@blp.route("/records/settings")
class Settings(MethodView):
    """Records settings (deprecated alias of ``/api/v1/settings/records``, same write path)."""

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
        return gdpr.update_records_settings(db.session, g.tenant, g.api_user, data)
