"""Consents (staff and portal) and attachments (sniffed, limited, never inline)."""

from __future__ import annotations

import io

from .conftest import new_patient

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_consent_lifecycle_with_versions_and_withdrawal(team):
    """Grant, re-grant a new text version (old row closed), withdraw; history kept."""
    desk = team.api("receptionist")
    p = new_patient(desk)
    path = f"/api/v1/patients/{p['id']}/consents"
    c1 = desk.post(
        path, json={"purpose": "marketing_email", "text_version": "v1", "channel": "paper"}
    )
    assert c1.status_code == 201 and c1.get_json()["active"] is True
    dup = desk.post(
        path, json={"purpose": "marketing_email", "text_version": "v1", "channel": "paper"}
    )
    assert dup.status_code == 409
    c2 = desk.post(
        path, json={"purpose": "marketing_email", "text_version": "v2", "channel": "email"}
    )
    assert c2.status_code == 201
    bad = desk.post(path, json={"purpose": "spam", "text_version": "", "channel": "pigeon"})
    assert bad.status_code == 422 and {"purpose", "text_version", "channel"} <= set(
        bad.get_json()["errors"]["json"]
    )
    w = desk.post(f"/api/v1/consents/{c2.get_json()['id']}/withdraw", json={"channel": "phone"})
    assert w.status_code == 200 and w.get_json()["active"] is False
    history = desk.get(path).get_json()
    assert [(h["text_version"], h["active"]) for h in history] == [("v2", False), ("v1", False)]
    other = team.api("other")
    assert other.get(path).status_code == 404
    assert (
        other.post(
            path, json={"purpose": "treatment", "text_version": "v1", "channel": "paper"}
        ).status_code
        == 404
    )
    assert (
        other.post(
            f"/api/v1/consents/{c1.get_json()['id']}/withdraw", json={"channel": "phone"}
        ).status_code
        == 404
    )


def test_has_consent_reflects_withdrawal(app, team):
    """The public check other features use for reminders and marketing."""
    import uuid

    from saas.db import tenant_session
    from saas.records.consents import has_consent

    desk = team.api("receptionist")
    p = new_patient(desk)
    c = desk.post(
        f"/api/v1/patients/{p['id']}/consents",
        json={"purpose": "reminders_sms", "text_version": "v1", "channel": "in_person"},
    ).get_json()
    with app.app_context(), tenant_session(team.clinic.id) as sess:
        assert has_consent(sess, team.clinic.id, uuid.UUID(p["id"]), "reminders_sms")
        assert not has_consent(sess, team.clinic.id, uuid.UUID(p["id"]), "marketing_sms")
    desk.post(f"/api/v1/consents/{c['id']}/withdraw", json={"channel": "phone"})
    with app.app_context(), tenant_session(team.clinic.id) as sess:
        assert not has_consent(sess, team.clinic.id, uuid.UUID(p["id"]), "reminders_sms")


def _upload(api, patient_id, data, name):
    return api.post(
        f"/api/v1/patients/{patient_id}/attachments",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_attachments_are_sniffed_sealed_and_downloaded_not_inline(team, raw):
    """Type from content, not name; HTML/SVG refused; size limit; download is an attachment."""
    from saas.records.attachments import MAX_BYTES

    doc = team.api()
    p = new_patient(doc)
    html = _upload(doc, p["id"], b"<html><script>alert(1)</script></html>", "scan.pdf")
    assert html.status_code == 415 and "file" in html.get_json()["errors"]["json"]
    svg = _upload(doc, p["id"], b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.png")
    assert svg.status_code == 415
    big = _upload(doc, p["id"], b"%PDF-" + b"0" * MAX_BYTES, "big.pdf")
    assert big.status_code == 413
    ok = _upload(doc, p["id"], PNG, "../../x-ray <left>.html")
    assert ok.status_code == 201, ok.get_json()
    att = ok.get_json()
    assert att["content_type"] == "image/png" and att["filename"] == "x-ray left.html"
    got = doc.get(f"/api/v1/attachments/{att['id']}/content")
    assert got.status_code == 200 and got.data == PNG
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert got.headers["Content-Type"] == "image/png"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got.headers["Content-Security-Policy"]
    (row,) = raw(
        "SELECT content_enc, filename_enc FROM patient_attachments WHERE id = %s", (att["id"],)
    )
    assert PNG not in bytes(row[0]) and b"x-ray" not in bytes(row[1])
    assert [a["id"] for a in doc.get(f"/api/v1/patients/{p['id']}/attachments").get_json()] == [
        att["id"]
    ]
    assert (
        team.api("other")
        .post(
            f"/api/v1/patients/{p['id']}/attachments",
            data={"file": (io.BytesIO(PNG), "a.png")},
            content_type="multipart/form-data",
        )
        .status_code
        == 404
    )
    assert _upload(team.api("receptionist"), p["id"], PNG, "a.png").status_code == 403
