"""The audit history page: names, words, links, the clinic's time, filters, paging, CSV.

Also the chain's integrity, roles and another clinic's entries.
"""

from __future__ import annotations

import csv
import io
import re

import psycopg
import pytest

from admin.clinic.reports.history import label_for
from saas import audit
from tests.factories import PatientFactory, PracticeFactory
from tests.factories.base import clinic_session

from .console import Console


def _csv(console, query="") -> list[dict]:
    r = console.get(f"/console/audit.csv?{query}")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))


def _user_name(dsn, email):
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT id, name FROM users WHERE email = %s", (email,)).fetchone()


def test_entries_read_as_words_with_names_links_and_local_times(app, owner_dsn):
    practice = PracticeFactory(tz="Asia/Kolkata")
    owner = Console(app, practice.clinic)
    page = owner.text("/console/audit")
    _, owner_name = _user_name(owner_dsn, owner.email)
    assert "Integrity verified." in page
    assert "time zone (Asia/Kolkata)" in page
    assert re.search(r"\d{2}:\d{2}:\d{2} IST</time>", page)
    assert "Practice: practitioner created" in page  # the readable fallback
    assert "Dr. Anna Weber" in page  # the target by name...
    assert f'href="/console/practice/practitioners/{practice.practitioner_id}"' in page  # ...linked
    assert f"<td>{owner_name}</td>" in page  # the actor by name, not an id or email
    assert "Signed in" in page
    assert "None" not in page
    assert "practitioner:" not in page and "user:" not in page


def test_filters_by_actor_action_patient_and_period_with_paging_and_csv(app, owner_dsn):
    practice = PracticeFactory()
    owner = Console(app, practice.clinic)
    colleague = Console(app, practice.clinic, "admin")
    colleague_id, colleague_name = _user_name(owner_dsn, colleague.email)
    rows = _csv(owner, f"actor={colleague_id}")
    assert rows and {r["Who"] for r in rows} == {colleague_name}
    rows = _csv(owner, "action=auth.sign_in")
    assert len(rows) >= 2 and {r["What"] for r in rows} == {"Signed in"}
    assert {r["Event code"] for r in rows} == {"auth.sign_in"}
    assert list(rows[0])[1] == "Time (Europe/Berlin)"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T", rows[0]["Time (Europe/Berlin)"])
    assert _csv(owner, "action=practice.") and all(
        r["Event code"].startswith("practice.") for r in _csv(owner, "action=practice.")
    )
    assert _csv(owner, "date_from=2001-01-01&date_to=2001-12-31") == []
    # a patient's entries, found by part of the name
    patient = PatientFactory(clinic=practice.clinic, full_name="Zelda Quince")
    with clinic_session(app, practice.clinic.id) as sess:
        audit.record(sess, practice.clinic.id, "patient.updated", target=f"patient:{patient.id}")
    rows = _csv(owner, "patient=quince")
    assert [(r["What"], r["Target"]) for r in rows] == [
        ("Patient details changed", "Patient: Zelda Quince"),
        ("Patient added", "Patient: Zelda Quince"),
    ]
    page = owner.text("/console/audit?patient=Nobody+Named+So")
    assert "No entries match these filters." in page
    bad = owner.get("/console/audit?date_from=2026-05-01&date_to=2026-04-01")
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "There is a problem" in text and 'value="2026-05-01"' in text
    assert owner.get("/console/audit?actor=not-a-member").status_code == 422


def test_paging_keeps_the_filters(app, owner_dsn):
    practice = PracticeFactory()
    owner = Console(app, practice.clinic)
    with clinic_session(app, practice.clinic.id) as sess:  # two pages of one action
        for _ in range(60):
            audit.record(sess, practice.clinic.id, "recall.viewed")
    first = owner.text("/console/audit?action=recall.viewed")
    older = re.search(r'href="([^"]*before=\d+[^"]*)"', first).group(1).replace("&amp;", "&")
    assert "action=recall.viewed" in older
    second = owner.text(older)
    assert "Newest entries" in second and "Opened the recall list" in second
    assert "Older entries" not in second
    firsts = set(re.findall(r"<tr><td>(\d+)</td>", first))
    seconds = set(re.findall(r"<tr><td>(\d+)</td>", second))
    assert len(firsts) == 50 and len(seconds) == 10 and not firsts & seconds


def test_a_tampered_entry_shows_the_first_broken_link(app, owner_dsn):
    practice = PracticeFactory()
    owner = Console(app, practice.clinic)
    with psycopg.connect(owner_dsn) as conn:
        conn.execute(
            "UPDATE audit_log SET actor_label = 'mallory' WHERE tenant_id = %s AND seq = 3",
            (practice.clinic.id,),
        )
    page = owner.text("/console/audit")
    assert "integrity check failed at entry #3" in page and "Integrity verified." not in page


def test_another_clinics_entries_never_appear(app, owner_dsn):
    mine = PracticeFactory()
    theirs = PracticeFactory(practitioner={"display_name": "Dr. Elsewhere"})
    owner = Console(app, mine.clinic)
    Console(app, theirs.clinic)
    their_user = _user_name(owner_dsn, Console(app, theirs.clinic, "admin").email)[0]
    page = owner.text("/console/audit")
    assert "Dr. Elsewhere" not in page
    assert owner.get(f"/console/audit.csv?actor={their_user}").status_code == 422
    assert owner.get(f"/console/audit?actor={their_user}").status_code == 422
    assert all("Elsewhere" not in r["Target"] for r in _csv(owner))


@pytest.mark.parametrize("role", ["practitioner", "receptionist"])
def test_only_owners_and_admins_read_the_log(app, role):
    practice = PracticeFactory()
    console = Console(app, practice.clinic, role)
    assert console.get("/console/audit").status_code == 403
    assert console.get("/console/audit.csv").status_code == 403
    assert Console(app, practice.clinic, "admin").get("/console/audit").status_code == 200


def test_labels_have_a_readable_fallback():
    assert label_for("auth.sign_in") == "Signed in"
    assert label_for("practice.closure_deleted") == "Practice: closure deleted"
    assert label_for("billing.invoice_paid") == "Billing: invoice paid"
    assert label_for("odd") == "Odd"
