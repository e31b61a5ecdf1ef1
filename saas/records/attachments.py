"""Attachments: scanned reports and images, sealed in Postgres, never served inline.

Decisions: the type is sniffed from the first bytes (magic numbers), not taken from the
client's Content-Type or file name; only PDF, PNG, JPEG, GIF, WebP, TIFF and HEIC are
accepted (SVG and HTML are refused: they can carry scripts). Limit 10 MB per file. The
content and the original file name are sealed with the clinic's key like any clinical field
(a clinic's attachments are small enough for Postgres; the sealed format is the same, so an
object store could hold the blobs later). Downloads are always ``attachment``, with
``nosniff`` and a sandboxing CSP, so a file can never run as a page of our origin.
"""

from __future__ import annotations

import io
import re
import unicodedata
import uuid

from flask import Response, send_file
from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import audit
from saas.exceptions import Invalid, TooLarge, UnsupportedType
from saas.fields import open_bytes_field, seal_bytes_field
from saas.models import Patient, Tenant, User, utcnow

from .models import Attachment, ClinicalVisit
from .policy import require_active, require_clinical
from .queries import audit_read
from .sealing import open_text, seal_text

MAX_BYTES = 10 * 1024 * 1024
#: (magic prefix, offset, content type)
_MAGIC = [
    (b"%PDF-", 0, "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"II*\x00", 0, "image/tiff"),
    (b"MM\x00*", 0, "image/tiff"),
]


def sniff(data: bytes) -> str | None:
    """The content type of ``data`` from its magic bytes, or None when not allowed."""
    for magic, offset, ctype in _MAGIC:
        if data[offset : offset + len(magic)] == magic:
            return ctype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"heim", b"heis"):
        return "image/heic"
    return None


def safe_filename(name: str) -> str:
    """A display/download name without paths or control characters."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = re.sub(r"[\x00-\x1f\x7f\"<>]", "", name).strip(" .") or "attachment"
    return name[:200]


def add_attachment(
    sess: Session,
    tenant: Tenant,
    actor: User,
    patient: Patient,
    *,
    filename: str,
    data: bytes,
    visit_id=None,
) -> Attachment:
    """Store a sniffed, size-checked file, sealed."""
    require_clinical(tenant, actor, write=True)
    require_active(patient)
    if not data:
        raise Invalid({"file": "The file is empty."})
    if len(data) > MAX_BYTES:
        raise TooLarge({"file": f"Files are limited to {MAX_BYTES // (1024 * 1024)} MB."})
    ctype = sniff(data)
    if ctype is None:
        raise UnsupportedType(
            {"file": "Upload a PDF or an image (PNG, JPEG, GIF, WebP, TIFF, HEIC)."}
        )
    if visit_id is not None:
        ok = sess.scalar(
            select(ClinicalVisit.id).where(
                ClinicalVisit.tenant_id == tenant.id,
                ClinicalVisit.id == visit_id,
                ClinicalVisit.patient_id == patient.id,
            )
        )
        if ok is None:
            raise Invalid({"visit_id": "No such visit for this patient."})
    att_id = uuid.uuid4()
    att = Attachment(
        id=att_id,
        tenant_id=tenant.id,
        patient_id=patient.id,
        visit_id=visit_id,
        content_type=ctype,
        size_bytes=len(data),
        filename=seal_text(
            sess, tenant, "patient_attachments", "filename", att_id, safe_filename(filename)
        ),
        content=seal_bytes_field(sess, tenant, "patient_attachments", "content", att_id, data),
        uploaded_by=actor.id,
        created_at=utcnow(),
    )
    sess.add(att)
    sess.flush()
    audit.record(
        sess,
        tenant.id,
        "clinical.attachment_added",
        actor=actor,
        target=f"patient:{patient.id}",
        data={"attachment_id": str(att.id), "content_type": ctype, "size": len(data)},
    )
    return att


def attachment_dict(sess: Session, att: Attachment) -> dict:
    """Metadata of an attachment (the file name opened)."""
    return {
        "id": att.id,
        "patient_id": att.patient_id,
        "visit_id": att.visit_id,
        "filename": open_text(
            sess, att.tenant_id, "patient_attachments", "filename", att.id, att.filename
        ),
        "content_type": att.content_type,
        "size_bytes": att.size_bytes,
        "created_at": att.created_at,
    }


def list_attachments(sess: Session, tenant: Tenant, actor: User, patient: Patient) -> list[dict]:
    """A patient's attachments (audited)."""
    require_clinical(tenant, actor)
    rows = list(
        sess.scalars(
            select(Attachment)
            .where(Attachment.tenant_id == tenant.id, Attachment.patient_id == patient.id)
            .order_by(Attachment.created_at.desc())
        )
    )
    audit_read(sess, tenant, actor, patient.id, "attachments", [a.id for a in rows])
    return [attachment_dict(sess, a) for a in rows]


def read_attachment(
    sess: Session, tenant: Tenant, actor: User, att: Attachment
) -> tuple[str, bytes]:
    """File name and content (audited)."""
    require_clinical(tenant, actor)
    data = open_bytes_field(sess, tenant.id, "patient_attachments", "content", att.id, att.content)
    name = open_text(sess, tenant.id, "patient_attachments", "filename", att.id, att.filename)
    audit_read(sess, tenant, actor, att.patient_id, "attachment", [att.id])
    return name, data


def download_response(name: str, content_type: str, data: bytes) -> Response:
    """A response that browsers save, never render."""
    resp = send_file(
        io.BytesIO(data),
        mimetype=content_type,
        as_attachment=True,
        download_name=safe_filename(name),
        max_age=0,
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "no-store, private"
    return resp
