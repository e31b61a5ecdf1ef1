"""Staff patient API: create, search, read, update demographics; receptionists allowed."""

from __future__ import annotations

from .conftest import new_patient


def test_receptionist_creates_searches_reads_and_updates(team):
    """Front desk keeps demographics: create, search by name and exact email, read, update."""
    desk = team.api("receptionist")
    p = new_patient(desk, full_name="Maya Krishnan", email="Maya.K@Example.org")
    assert p["email"] == "maya.k@example.org"
    assert p["date_of_birth"] == "1984-03-09"
    new_patient(desk, full_name="Tom Berger")

    by_name = desk.get("/api/v1/patients?q=krish").get_json()
    assert [x["full_name"] for x in by_name] == ["Maya Krishnan"]
    by_email = desk.get("/api/v1/patients?email=MAYA.K@example.org").get_json()
    assert [x["id"] for x in by_email] == [p["id"]]
    assert desk.get("/api/v1/patients?email=nobody@example.org").get_json() == []
    listing = desk.get("/api/v1/patients")
    assert len(listing.get_json()) == 2
    assert '"total": 2' in listing.headers["X-Pagination"]

    changed = desk.patch(
        f"/api/v1/patients/{p['id']}", json={"phone": "+49 30 1234567", "address": None}
    )
    assert changed.status_code == 200, changed.get_json()
    got = desk.get(f"/api/v1/patients/{p['id']}").get_json()
    assert got["phone"] == "+49 30 1234567" and got["address"] is None
    assert got["emergency_contact"] == "Ravi Krishnan +44 7700 900123"


def test_validation_errors_are_per_field(team):
    """Bad input answers 422 naming each field."""
    resp = team.api().post(
        "/api/v1/patients",
        json={
            "full_name": "",
            "email": "not-an-email",
            "phone": "call me",
            "date_of_birth": "2999-01-01",
            "preferred_language": "English",
        },
    )
    assert resp.status_code == 422
    errors = resp.get_json()["errors"]["json"]
    assert {"full_name", "email", "phone", "date_of_birth", "preferred_language"} <= set(errors)


def test_duplicate_email_is_409_and_other_clinic_is_independent(team):
    """Exact email is unique per clinic (blind index), not across clinics."""
    new_patient(team.api(), email="same@example.org")
    dup = team.api().post("/api/v1/patients", json={"full_name": "X", "email": "same@example.org"})
    assert dup.status_code == 409
    assert "email" in dup.get_json()["errors"]["json"]
    new_patient(team.api("other"), email="same@example.org")


def test_other_clinic_gets_404_and_sees_nothing(team):
    """Clinic B's owner cannot list, read or change clinic A's patients; A's token fails on B."""
    p = new_patient(team.api())
    other = team.api("other")
    assert other.get(f"/api/v1/patients/{p['id']}").status_code == 404
    assert (
        other.patch(f"/api/v1/patients/{p['id']}", json={"phone": "+1 555 0100"}).status_code == 404
    )
    assert other.get("/api/v1/patients").get_json() == []
    assert other.get(f"/api/v1/patients?email={p['email']}").get_json() == []
    assert team.api("other_on_a").get(f"/api/v1/patients/{p['id']}").status_code == 401
    assert team.api("anonymous").get("/api/v1/patients").status_code == 401


def test_demographics_are_sealed_in_the_raw_row(team, raw):
    """Email, phone, date of birth, address and emergency contact are never stored in clear."""
    p = new_patient(team.api())
    (row,) = raw(
        "SELECT email_enc, phone_enc, date_of_birth_enc, address_enc, emergency_contact_enc, email_index "
        "FROM patients WHERE id = %s",
        (p["id"],),
    )
    blob = b"".join(bytes(c) for c in row[:5])
    for clear in (p["email"], "7946 0958", "1984-03-09", "Orchard Lane", "Ravi Krishnan"):
        assert clear.encode() not in blob
    assert all(bytes(c)[0] == 1 for c in row[:5])  # format byte
    assert p["email"] not in row[5]


def test_records_routes_without_a_token_are_401_before_body_parsing(team):
    """Authentication comes before validation: an empty body without a token is a 401."""
    anon = team.api("anonymous")
    some = "00000000-0000-0000-0000-000000000001"
    for method, path in (
        ("post", "/api/v1/patients"), ("patch", f"/api/v1/patients/{some}"),
        ("post", f"/api/v1/patients/{some}/visits"), ("put", f"/api/v1/visits/{some}/note"),
        ("post", f"/api/v1/visits/{some}/prescriptions"), ("post", f"/api/v1/patients/{some}/consents"),
        ("post", f"/api/v1/patients/{some}/erasure"), ("put", "/api/v1/records/settings"),
        ("get", "/api/v1/recalls?within_days=-5"),
    ):  # fmt: skip
        resp = getattr(anon, method)(path, json={})
        assert resp.status_code == 401, (method, path, resp.get_json())


def test_preferred_language_longer_than_its_column_is_422(team):
    """A 17-character language tag is refused naming the field (it used to be a 500)."""
    doc = team.api()
    p = new_patient(doc)
    resp = doc.patch(
        f"/api/v1/patients/{p['id']}", json={"preferred_language": "en-" + "a" * 8 + "-bbbbbb"}
    )
    assert resp.status_code == 422
    assert "preferred_language" in resp.get_json()["errors"]["json"]
    assert (
        doc.get(f"/api/v1/patients/{p['id']}").get_json()["preferred_language"]
        != "en-aaaaaaaa-bbbbbb"
    )
