"""The test factories make what production makes (keys, sealed fields, tokens, bookings)."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.client import Api, check
from tests.factories import (
    AppointmentFactory,
    ClinicFactory,
    PatientFactory,
    PracticeFactory,
    StaffFactory,
)


@pytest.fixture
def raw_sql(owner_dsn):
    """Rows as stored (owner, row security off)."""

    def run(query, params=()):
        with psycopg.connect(owner_dsn) as conn:
            conn.execute("SET row_security = off")
            return conn.execute(query, params).fetchall()

    return run


def test_clinic_has_its_vault_key_data_key_and_enrolled_owner(app, keys, owner_dsn):
    """A factory clinic is a signed-up clinic: transit key, wrapped data key v1, owner."""
    clinic = ClinicFactory(timezone="Asia/Kolkata", country="IN")
    assert keys.key_info(clinic.id)["latest_version"] == 1
    with psycopg.connect(owner_dsn) as conn:
        (wrapped,) = conn.execute(
            "SELECT wrapped FROM tenant_data_keys WHERE tenant_id = %s AND version = 1",
            (clinic.id,),
        ).fetchone()
        owner = conn.execute(
            "SELECT role, email FROM users WHERE tenant_id = %s AND id = %s",
            (clinic.id, clinic.owner_id),
        ).fetchone()
        currency = conn.execute(
            "SELECT currency FROM tenants WHERE id = %s", (clinic.id,)
        ).fetchone()[0]
    assert wrapped.startswith("vault:v1:")
    assert owner == ("owner", clinic.owner_email) and currency == "INR"
    me = Api(app, clinic, clinic.owner.sign_in()).get("/api/v1/me")
    assert check(me, 200)["mfa_enrolled"] is True


def test_staff_member_signs_in_with_totp_only_on_its_own_clinic(app):
    """A staff member gets a token on its clinic's host; the token is refused elsewhere."""
    clinic, other = ClinicFactory(), ClinicFactory()
    desk = StaffFactory(clinic=clinic, role="receptionist")
    api = desk.api()
    me = check(api.get("/api/v1/me"), 200)
    assert me["email"] == desk.email and me["role"] == "receptionist"
    assert desk.sign_in() == api.token  # kept, not a second sign-in in the same step
    assert api.on(other).get("/api/v1/me").status_code == 401


def test_patient_fields_are_sealed_and_found_by_blind_index(app, raw_sql):
    """Contact fields are stored sealed, the email as a blind index that finds the patient."""
    clinic = ClinicFactory()
    pat = PatientFactory(clinic=clinic, email="Maria.S@Example.org")
    (row,) = raw_sql(
        "SELECT email_enc, phone_enc, email_index FROM patients WHERE id = %s", (pat.id,)
    )
    assert b"maria" not in bytes(row[0]) and b"+49" not in bytes(row[1]) and row[2]
    found = check(
        Api(app, clinic, clinic.owner.sign_in()).get(
            "/api/v1/patients", email="maria.s@example.org"
        ),
        200,
    )
    assert [p["id"] for p in found] == [str(pat.id)]
    assert found[0]["phone"] == "+49 30 901820"
    bare = PatientFactory(clinic=clinic, bare=True)
    assert raw_sql("SELECT email_enc, email_index FROM patients WHERE id = %s", (bare.id,)) == [
        (None, None)
    ]


def test_appointment_is_booked_through_the_booking_verb(app, raw_sql):
    """A factory booking has its history row and shows in the patient's own list."""
    p = PracticeFactory(tz="America/New_York")
    appt = AppointmentFactory(practice=p, start=p.at(p.day(2), "11:00"))
    assert appt.status == "confirmed" and appt.patient.token
    mine = check(p.owner.get("/api/v1/appointments", token=appt.patient.token), 200)
    assert [a["id"] for a in mine] == [str(appt.id)]
    assert raw_sql(
        "SELECT action, actor_kind FROM appointment_events WHERE appointment_id = %s", (appt.id,)
    ) == [("booked", "patient")]
    assert p.at(p.day(2), "11:00").isoformat() not in p.slots(
        **{"from": p.day(2).isoformat(), "to": p.day(2).isoformat()}
    )
    desk = AppointmentFactory(practice=p, by_staff=True)
    assert desk.patient.clinic is p.clinic and isinstance(desk.id, uuid.UUID)
    assert raw_sql("SELECT booked_by FROM appointments WHERE id = %s", (desk.id,)) == [("staff",)]


def test_practice_for_an_existing_clinic_with_a_linked_practitioner_and_a_colleague(app):
    """``clinic=``/``owner=`` reuse a signed-in owner; colleagues offer the same visit type."""
    clinic = ClinicFactory(timezone="Europe/Berlin", country="DE")
    doc = StaffFactory(clinic=clinic, role="practitioner")
    owner = Api(app, clinic, clinic.owner.sign_in())
    p = PracticeFactory(
        clinic=clinic,
        owner=owner,
        practitioner={"display_name": "Dr. Asha Rao", "user_id": str(doc.id)},
        colleagues=[{"display_name": "Dr. Ben Colleague", "title": "Homeopath"}],
    )
    assert p.owner is owner and p.tz == "Europe/Berlin"
    (colleague,) = p.extra["colleague_ids"]
    pracs = {x["id"]: x for x in check(owner.get("/api/v1/practitioners"), 200)}
    assert pracs[p.practitioner_id]["display_name"] == "Dr. Asha Rao"
    day = p.day(3).isoformat()
    for prac in (p.practitioner_id, colleague):
        assert p.slots(practitioner_id=prac, **{"from": day, "to": day})
