"""The audit history a person can read: names, labels, links, the clinic's time.

:func:`audit_page` runs one filtered, keyset-paged query over ``audit_log`` and resolves the
page's actors and targets to names with one query per kind (staff, patients, practice
records); :func:`label_for` turns an event code into words. The chain's integrity is
:func:`saas.audit.verify_chain`, as the API checks it.

Patients are shown by name to staff who may read the audit log (owners and admins), as the
patient list would; the log itself keeps only ids (``patient:<id>``), so an erased
patient's entries read "Erased patient".
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from flask import url_for
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from saas.models import AuditEntry, Patient, User
from saas.scheduling.models import Location, Practitioner, VisitType

#: Event codes in words. Codes not listed read as their area and verb (:func:`label_for`).
LABELS = {
    "auth.sign_in": "Signed in",
    "auth.failure": "Sign-in refused (wrong password)",
    "auth.mfa_failure": "Sign-in refused (wrong code)",
    "auth.locked": "Account locked after failed sign-ins",
    "auth.password_changed": "Changed their password",
    "auth.password_reset": "Reset their password",
    "auth.reset_requested": "Asked for a password reset",
    "auth.token_issued": "API token issued",
    "auth.token_revoked": "API token revoked",
    "mfa.enrolled": "Set up two-step sign-in",
    "mfa.recovery_codes_regenerated": "Made new recovery codes",
    "staff.invited": "Invited a staff member",
    "staff.invitation_resent": "Resent an invitation",
    "staff.invitation_revoked": "Withdrew an invitation",
    "staff.joined": "Joined the clinic",
    "staff.role_changed": "Changed a staff member's role",
    "staff.deactivated": "Deactivated a staff member",
    "staff.reactivated": "Reactivated a staff member",
    "tenant.created": "Clinic created",
    "tenant.deleted": "Clinic deleted",
    "tenant.status_changed": "Clinic status changed",
    "tenant.demo_seeded": "Demo data added",
    "patient.created": "Patient added",
    "patient.updated": "Patient details changed",
    "patient.read": "Opened a patient's details",
    "patient.searched": "Searched patients",
    "patient.erased": "Patient erased",
    "patient.records_purged": "Kept records of an erased patient erased",
    "patient.legal_hold_placed": "Legal hold placed on a patient",
    "patient.legal_hold_released": "Legal hold released",
    "patient.email_verified": "Patient verified their email",
    "patient.sign_in": "Patient signed in",
    "patient.sign_in_failed": "Patient sign-in refused",
    "patient.sign_in_locked": "Patient locked out after failed sign-ins",
    "patient.sign_in_link_sent": "Sign-in link sent to a patient",
    "patient.sign_out": "Patient signed out",
    "patient.registration_link_sent": "Registration link sent to a patient",
    "appointment.held": "Appointment held (awaiting payment)",
    "appointment.confirmed": "Appointment confirmed",
    "appointment.cancelled": "Appointment cancelled",
    "appointment.rescheduled": "Appointment moved",
    "appointment.completed": "Appointment completed",
    "clinical.read": "Opened a patient's chart",
    "clinical.visit_created": "Clinical visit recorded",
    "clinical.visit_signed": "Case note signed",
    "clinical.visit_shared": "Visit shared with the patient",
    "clinical.note_amended": "Case note amended",
    "clinical.prescription_added": "Prescription written",
    "clinical.prescription_voided": "Prescription voided",
    "clinical.prescription_shared": "Prescription shared with the patient",
    "clinical.fact_recorded": "Allergy or medication recorded",
    "clinical.fact_ended": "Allergy or medication ended",
    "clinical.attachment_added": "Attachment added",
    "clinical.intake_submitted": "Intake form submitted",
    "consent.granted": "Consent given",
    "consent.withdrawn": "Consent withdrawn",
    "records.export_requested": "Records export requested",
    "records.export_ready": "Records export ready",
    "records.export_downloaded": "Records export downloaded",
    "records.settings_changed": "Records settings changed",
    "recall.invited": "Follow-up invitation sent",
    "recall.closed": "Taken off the recall list",
    "recall.viewed": "Opened the recall list",
    "settings.clinic_changed": "Clinic settings changed",
    "settings.branding_changed": "Branding changed",
    "settings.logo_changed": "Logo changed",
    "settings.logo_removed": "Logo removed",
    "settings.intake_changed": "Intake form changed",
    "keys.data_key_rotated": "Encryption key rotated",
    "keys.rewrapped": "Encryption key re-wrapped",
    "keys.reencrypted": "Records re-encrypted",
    "calendar_feed.issued": "Calendar feed link issued",
    "calendar_feed.revoked": "Calendar feed link revoked",
    "waitlist.joined": "Joined the waiting list",
    "waitlist.left": "Left the waiting list",
    "waitlist.offered": "Waiting-list slot offered",
}

AREAS = {
    "auth": "Sign-in",
    "mfa": "Two-step sign-in",
    "staff": "Staff",
    "tenant": "Clinic",
    "patient": "Patient",
    "appointment": "Appointment",
    "clinical": "Clinical record",
    "consent": "Consent",
    "records": "Records",
    "recall": "Recall list",
    "settings": "Settings",
    "keys": "Encryption keys",
    "practice": "Practice",
    "calendar_feed": "Calendar feed",
    "waitlist": "Waiting list",
}

PAGE = 50
#: The CSV holds at most this many entries (narrow the filters for more).
CSV_LIMIT = 20000


def label_for(code: str) -> str:
    """Words for an event code; an unknown code reads "Area: verb words"."""
    if code in LABELS:
        return LABELS[code]
    area, _, verb = code.partition(".")
    area_words = AREAS.get(area, area.replace("_", " ").capitalize())
    return f"{area_words}: {verb.replace('_', ' ')}" if verb else area_words


@dataclass
class Filters:
    """What the log is narrowed to (all optional)."""

    actor: uuid.UUID | None = None
    #: Entries about (or by) any of these patients; an empty list matches nothing.
    patients: list[uuid.UUID] | None = None
    action: str | None = None
    first: dt.date | None = None
    last: dt.date | None = None
    before: int | None = None


@dataclass
class Row:
    """One entry as the page shows it."""

    seq: int
    when: dt.datetime
    actor: str
    action: str
    code: str
    target: str
    target_url: str | None
    details: list[tuple[str, str]] = field(default_factory=list)
    ip: str = ""


def _query(tenant, f: Filters, zone: ZoneInfo):
    q = select(AuditEntry).where(AuditEntry.tenant_id == tenant.id)
    if f.actor:
        q = q.where(AuditEntry.actor_id == f.actor)
    if f.patients is not None:
        q = q.where(
            or_(
                AuditEntry.target.in_([f"patient:{p}" for p in f.patients]),
                (AuditEntry.actor_kind == "patient") & AuditEntry.actor_id.in_(f.patients),
            )
        )
    if f.action:
        if f.action.endswith("."):
            q = q.where(AuditEntry.action.startswith(f.action, autoescape=True))
        else:
            q = q.where(AuditEntry.action == f.action)
    if f.first:
        q = q.where(AuditEntry.created_at >= dt.datetime.combine(f.first, dt.time(), zone))
    if f.last:
        end = dt.datetime.combine(f.last + dt.timedelta(days=1), dt.time(), zone)
        q = q.where(AuditEntry.created_at < end)
    return q


def audit_rows(sess: Session, tenant, f: Filters, limit: int = PAGE) -> list[Row]:
    """A page of entries (newest first, before ``f.before``), readable."""
    zone = ZoneInfo(tenant.timezone)
    q = _query(tenant, f, zone)
    if f.before:
        q = q.where(AuditEntry.seq < f.before)
    entries = list(sess.scalars(q.order_by(AuditEntry.seq.desc()).limit(limit)))
    names = _names(sess, tenant, entries)
    return [_row(e, names, zone) for e in entries]


def _ids(values) -> set[uuid.UUID]:
    out = set()
    for v in values:
        try:
            out.add(uuid.UUID(str(v)))
        except ValueError:
            pass
    return out


def _names(sess: Session, tenant, entries) -> dict[tuple[str, str], str]:
    """``(kind, id) -> name`` for the page's actors and targets, one query per kind."""
    wanted: dict[str, set] = {}
    for e in entries:
        if e.actor_id and e.actor_kind in ("staff", "patient"):
            wanted.setdefault("user" if e.actor_kind == "staff" else "patient", set()).add(
                e.actor_id
            )
        if e.target and ":" in e.target:
            kind, _, ident = e.target.partition(":")
            wanted.setdefault(kind, set()).add(ident)
    models = {
        "user": (User, User.name),
        "patient": (Patient, Patient.full_name),
        "practitioner": (Practitioner, Practitioner.display_name),
        "location": (Location, Location.name),
        "service": (VisitType, VisitType.name),
    }
    names = {}
    for kind, (model, col) in models.items():
        ids = _ids(wanted.get(kind, ()))
        if not ids:
            continue
        rows = sess.execute(
            select(model.id, col).where(model.tenant_id == tenant.id, model.id.in_(ids))
        )
        names.update({(kind, str(i)): n for i, n in rows})
    return names


#: Where a target's page is: (endpoint, its id argument).
PAGES = {
    "practitioner": ("practice.practitioner_edit", "practitioner_id"),
    "location": ("practice.location_edit", "location_id"),
    "service": ("practice.visit_type_edit", "visit_type_id"),
    "user": ("console.staff", None),
    "invitation": ("console.staff", None),
    "closure": ("practice.closures_page", None),
    "availability": ("practice.availability", None),
}
#: Set by the patients pages when they exist: ("endpoint", "id argument").
PATIENT_PAGE: tuple[str, str] | None = None
KIND_WORDS = {
    "user": "Staff member",
    "patient": "Patient",
    "practitioner": "Practitioner",
    "location": "Location",
    "service": "Visit type",
    "invitation": "Invitation",
    "closure": "Closure",
    "availability": "Weekly hours",
    "exception": "Time off",
    "waitlist": "Waiting-list entry",
    "tenant": "Clinic",
    "appointment": "Appointment",
}


def _target(e: AuditEntry, names) -> tuple[str, str | None]:
    if not e.target:
        return "", None
    if ":" not in e.target:
        return e.target.replace("_", " ").capitalize(), None
    kind, _, ident = e.target.partition(":")
    words = KIND_WORDS.get(kind, kind.replace("_", " ").capitalize())
    if kind == "tenant":
        return "This clinic", None
    name = names.get((kind, ident))
    if name is None and kind == "patient":
        return "Erased patient", None
    text = f"{words}: {name}" if name else words
    endpoint = PATIENT_PAGE if kind == "patient" else PAGES.get(kind)
    url = None
    if endpoint and (name or endpoint[1] is None):
        url = url_for(endpoint[0], **({endpoint[1]: ident} if endpoint[1] else {}))
    return text, url


def _actor(e: AuditEntry, names) -> str:
    if e.actor_kind == "staff" and e.actor_id:
        return names.get(("user", str(e.actor_id))) or f"Former staff member ({e.actor_label})"
    if e.actor_kind == "patient" and e.actor_id:
        name = names.get(("patient", str(e.actor_id)))
        return f"Patient {name}" if name else "Erased patient"
    if e.actor_kind == "anonymous":
        return f"Someone signing in as {e.actor_label}"
    if e.actor_kind == "operator":
        return "Similia support"
    if e.actor_kind == "payment_provider":
        return f"Payment provider ({e.actor_label})"
    return "Similia (automatic)"


def _value(v) -> str:
    if isinstance(v, list | tuple):
        return " → ".join("none" if x is None else str(x) for x in v)
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def _row(e: AuditEntry, names, zone: ZoneInfo) -> Row:
    target, url = _target(e, names)
    details = [
        (k.replace("_", " ").capitalize(), _value(v))
        for k, v in (e.data or {}).items()
        if v is not None and v != ""
    ]
    return Row(
        seq=e.seq,
        when=e.created_at.astimezone(zone),
        actor=_actor(e, names),
        action=label_for(e.action),
        code=e.action,
        target=target,
        target_url=url,
        details=details,
        ip=str(e.ip) if e.ip else "",
    )


def patients_named(sess: Session, tenant, words: str, limit: int = 200) -> list[uuid.UUID]:
    """Ids of the clinic's patients whose name contains ``words`` (case-insensitive)."""
    pattern = "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return list(
        sess.scalars(
            select(Patient.id)
            .where(Patient.tenant_id == tenant.id, Patient.full_name.ilike(pattern))
            .limit(limit)
        )
    )


def action_choices(sess: Session, tenant) -> list[tuple[str, str]]:
    """The codes this clinic's log holds, in words, for the filter (areas first)."""
    codes = sess.scalars(
        select(AuditEntry.action).where(AuditEntry.tenant_id == tenant.id).distinct()
    ).all()
    areas = sorted({c.partition(".")[0] for c in codes})
    out = [(f"{a}.", f"{AREAS.get(a, a.capitalize())}: everything") for a in areas]
    out += sorted(((c, label_for(c)) for c in codes), key=lambda p: p[1])
    return out


def actor_choices(sess: Session, tenant) -> list[tuple[str, str]]:
    """The clinic's staff, by name."""
    rows = sess.execute(
        select(User.id, User.name).where(User.tenant_id == tenant.id).order_by(User.name)
    )
    return [(str(i), n) for i, n in rows]
