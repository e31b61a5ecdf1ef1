"""Clinical records: visits, versioned notes, signing and amendments, access and audit."""

from __future__ import annotations

import uuid

import pytest

from .conftest import CASE, new_patient, new_visit


def _audit(raw, clinic, action):
    return raw(
        "SELECT actor_label, target, data, ip FROM audit_log WHERE tenant_id = %s AND action = %s ORDER BY seq",
        (clinic.id, action),
    )


def test_visit_notes_versions_sign_and_amend(team, raw):
    """Edits add versions.

    After signing an edit needs a reason and is an amendment; all versions stay readable; nothing is
    overwritten.
    """
    doc = team.api()
    p = new_patient(team.api("receptionist"))
    v = new_visit(doc, p["id"])
    assert v["note"]["version"] == 1 and v["status"] == "open"
    assert v["note"]["sections"]["mentals"] == CASE["mentals"]

    revised = doc.put(
        f"/api/v1/visits/{v['id']}/note",
        json={"sections": {**CASE, "analysis": "Nat-m. vs Ign."}, "expected_version": 1},
    )
    assert revised.status_code == 201 and revised.get_json()["version"] == 2
    assert revised.get_json()["is_amendment"] is False
    stale = doc.put(
        f"/api/v1/visits/{v['id']}/note", json={"sections": CASE, "expected_version": 1}
    )
    assert stale.status_code == 409

    signed = doc.post(f"/api/v1/visits/{v['id']}/sign")
    assert signed.status_code == 200 and signed.get_json()["status"] == "signed"
    assert doc.post(f"/api/v1/visits/{v['id']}/sign").status_code == 409

    no_reason = doc.put(f"/api/v1/visits/{v['id']}/note", json={"sections": CASE})
    assert no_reason.status_code == 422 and "reason" in no_reason.get_json()["errors"]["json"]
    amended = doc.put(
        f"/api/v1/visits/{v['id']}/note",
        json={"sections": {**CASE, "outcome": "Better"}, "reason": "Added outcome after call"},
    )
    assert amended.status_code == 201
    assert amended.get_json()["is_amendment"] is True and amended.get_json()["version"] == 3

    visit = doc.get(f"/api/v1/visits/{v['id']}").get_json()
    assert [x["version"] for x in visit["versions"]] == [1, 2, 3]
    assert visit["versions"][2]["reason"] == "Added outcome after call"
    assert visit["note"]["sections"]["outcome"] == "Better"
    v1 = doc.get(f"/api/v1/visits/{v['id']}/notes/1").get_json()
    assert "analysis" not in v1["sections"]
    assert doc.get(f"/api/v1/visits/{v['id']}/notes/9").status_code == 404
    assert raw("SELECT count(*) FROM case_notes WHERE visit_id = %s", (v["id"],))[0][0] == 3


def test_only_the_visits_practitioner_or_owner_signs(team, add_staff):
    """Another practitioner cannot sign a colleague's visit; signing needs notes."""
    p = new_patient(team.api())
    empty = team.api().post(f"/api/v1/patients/{p['id']}/visits", json={"kind": "acute"}).get_json()
    assert team.api().post(f"/api/v1/visits/{empty['id']}/sign").status_code == 422
    v = new_visit(team.api(), p["id"])
    team.extra["colleague"] = add_staff(team.clinic, "practitioner")
    assert team.api("colleague").post(f"/api/v1/visits/{v['id']}/sign").status_code == 403
    assert team.api("owner").post(f"/api/v1/visits/{v['id']}/sign").status_code == 200


def test_every_read_and_write_is_audited(team, raw):
    """Who, which patient, which record, from where: one entry per clinical read and write."""
    doc = team.api()
    p = new_patient(doc)
    v = new_visit(doc, p["id"])
    doc.get(f"/api/v1/visits/{v['id']}")
    doc.get(f"/api/v1/patients/{p['id']}/record")
    created = _audit(raw, team.clinic, "clinical.visit_created")
    assert created[-1][0] == team.practitioner.email
    assert created[-1][1] == f"patient:{p['id']}" and created[-1][2]["visit_id"] == v["id"]
    reads = _audit(raw, team.clinic, "clinical.read")
    records = [r[2]["record"] for r in reads]
    assert records.count("visit") >= 2 and "record" in records  # create echoes the visit too
    assert all(r[1] == f"patient:{p['id']}" and r[3] is not None for r in reads)
    assert all(r[0] == team.practitioner.email for r in reads)


def _clinical_routes(p, v, rx, fact, att):
    return [
        ("get", f"/api/v1/patients/{p}/record", None),
        ("post", f"/api/v1/patients/{p}/visits", {"kind": "acute", "note": {"observations": "x"}}),
        ("get", f"/api/v1/visits/{v}", None),
        ("put", f"/api/v1/visits/{v}/note", {"sections": {"observations": "x"}, "reason": "r"}),
        ("get", f"/api/v1/visits/{v}/notes/1", None),
        ("post", f"/api/v1/visits/{v}/sign", None),
        ("put", f"/api/v1/visits/{v}/sharing", {"shared_with_patient": False}),
        (
            "post",
            f"/api/v1/visits/{v}/prescriptions",
            {"remedy": "Arnica montana", "potency": "30C"},
        ),
        ("get", f"/api/v1/patients/{p}/prescriptions", None),
        ("post", f"/api/v1/prescriptions/{rx}/void", {"reason": "wrong"}),
        ("put", f"/api/v1/prescriptions/{rx}/sharing", {"shared_with_patient": True}),
        ("post", f"/api/v1/patients/{p}/facts", {"kind": "allergy", "name": "Penicillin"}),
        ("post", f"/api/v1/facts/{fact}/end", {"reason": "resolved"}),
        ("get", f"/api/v1/patients/{p}/attachments", None),
        ("get", f"/api/v1/attachments/{att}/content", None),
    ]


@pytest.fixture
def clinical_objects(team):
    """A patient with a visit, a prescription, an allergy and an attachment in clinic A."""
    doc = team.api()
    p = new_patient(doc)
    v = new_visit(doc, p["id"])
    rx = doc.post(
        f"/api/v1/visits/{v['id']}/prescriptions",
        json={"remedy": "Natrum muriaticum", "potency": "200C"},
    ).get_json()
    fact = doc.post(
        f"/api/v1/patients/{p['id']}/facts", json={"kind": "allergy", "name": "Latex"}
    ).get_json()
    import io

    att = doc.post(
        f"/api/v1/patients/{p['id']}/attachments",
        data={"file": (io.BytesIO(b"%PDF-1.4 lab report"), "labs.pdf")},
        content_type="multipart/form-data",
    ).get_json()
    return p["id"], v["id"], rx["id"], fact["id"], att["id"]


def test_receptionist_is_refused_every_clinical_route(team, clinical_objects, raw):
    """403 on every clinical route, and nothing is written."""
    desk = team.api("receptionist")
    before = raw("SELECT count(*) FROM case_notes WHERE tenant_id = %s", (team.clinic.id,))[0][0]
    for method, path, body in _clinical_routes(*clinical_objects):
        resp = (
            getattr(desk, method)(path, json=body)
            if body is not None
            else getattr(desk, method)(path)
        )
        assert resp.status_code == 403, (method, path, resp.status_code)
        assert "sections" not in resp.get_data(as_text=True)
    assert (
        raw("SELECT count(*) FROM case_notes WHERE tenant_id = %s", (team.clinic.id,))[0][0]
        == before
    )


def test_other_clinic_gets_404_on_every_clinical_route(team, clinical_objects):
    """Clinic B's owner, on B's host, cannot reach A's records by id: same 404 as missing."""
    other = team.api("other")
    for method, path, body in _clinical_routes(*clinical_objects):
        resp = (
            getattr(other, method)(path, json=body)
            if body is not None
            else getattr(other, method)(path)
        )
        assert resp.status_code == 404, (method, path, resp.status_code)
    missing = team.api().get(f"/api/v1/visits/{uuid.uuid4()}")
    assert missing.status_code == 404


def test_admin_clinical_access_is_configured_by_the_owner(team, add_staff, clinical_objects):
    """Admins get no clinical content by default; the owner can grant read; only owners may."""
    p, v, *_ = clinical_objects
    team.extra["admin"] = add_staff(team.clinic, "admin")
    admin = team.api("admin")
    assert admin.get(f"/api/v1/visits/{v}").status_code == 403
    assert (
        admin.put(
            "/api/v1/records/settings", json={"clinical_access": {"admin": "write"}}
        ).status_code
        == 403
    )
    granted = team.api("owner").put(
        "/api/v1/records/settings", json={"clinical_access": {"admin": "read"}}
    )
    assert granted.status_code == 200 and granted.get_json()["clinical_access"]["admin"] == "read"
    assert admin.get(f"/api/v1/visits/{v}").status_code == 200
    write = admin.put(f"/api/v1/visits/{v}/note", json={"sections": {"plan": "x"}})
    assert write.status_code == 403


def test_service_layer_refuses_receptionist_even_without_the_view(app, team):
    """The verbs themselves refuse a receptionist (not only the decorator)."""
    import datetime as dt

    from saas.db import tenant_session
    from saas.errors import status_of
    from saas.exceptions import Forbidden
    from saas.models import Patient, Tenant, User
    from saas.records import queries, services

    p = new_patient(team.api())
    with app.app_context(), tenant_session(team.clinic.id) as sess:
        tenant = sess.get(Tenant, team.clinic.id)
        desk = sess.get(User, (tenant.id, team.receptionist.id))
        patient = sess.get(Patient, (tenant.id, uuid.UUID(p["id"])))
        with pytest.raises(Forbidden) as exc:
            services.record_visit_note(
                sess,
                tenant,
                desk,
                patient,
                kind="acute",
                visit_date=dt.date.today(),
                sections={"observations": "x"},
            )
        assert status_of(exc.value) == 403
        assert exc.value.errors == {"role": "Your role may not change clinical records."}
        with pytest.raises(Forbidden):
            queries.read_patient_record(sess, tenant, desk, patient)


def test_visit_names_only_an_appointment_of_its_patient(team):
    """An unknown (or another clinic's) appointment id is refused by name, not a 500."""
    doc = team.api()
    p = new_patient(doc)
    resp = doc.post(
        f"/api/v1/patients/{p['id']}/visits",
        json={"kind": "initial", "appointment_id": str(uuid.uuid4()), "note": CASE},
    )
    assert resp.status_code == 422, resp.get_json()
    assert "appointment_id" in resp.get_json()["errors"]["json"]
    assert doc.get(f"/api/v1/patients/{p['id']}/record").get_json()["visits"] == []
