"""The owner's export of the whole clinic, offered above all during the closing grace period.

Through the console pages: asked with password and a fresh code (owners only), assembled by a
real worker, sealed at rest, downloaded once by the owner who asked (the zip holds every
patient's record with the case-note text, the appointments and the set-up), audited, and
invisible to another clinic.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time
import zipfile

import psycopg
import pyotp

from saas.devmail import read_messages
from tests.admin.clinic.console import Console
from tests.factories import PASSWORD, StaffFactory
from tests.helpers import drain
from tests.records.conftest import new_patient, new_visit


def _sql(owner_dsn, query, params=()):
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute("SET row_security = off")
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else None


def _ask(owner: Console, password: str = PASSWORD, code: str | None = None):
    return owner.post(
        "/console/clinic-export",
        {
            "password": password,
            # the sign-in used this time step's code; a code works once: take the next step's
            "code": code or pyotp.TOTP(owner.secret).at(time.time() + 30),
        },
        form_page="/console/clinic-export",
    )


def test_owner_exports_the_whole_clinic_while_closing_and_downloads_it_once(
    app, make_clinic, owner_dsn, worker, mail_dir
):
    clinic, other = make_clinic(), make_clinic()
    api = StaffFactory(clinic=clinic, role="practitioner").signed_in().api()
    patients = [new_patient(api, full_name=name) for name in ("Ada Byron", "Bea Lind")]
    new_visit(api, patients[0]["id"])
    theirs = new_patient(StaffFactory(clinic=other, role="practitioner").signed_in().api())
    _sql(
        owner_dsn,
        "UPDATE tenants SET status = 'closing', delete_after = now() + interval '30 days' "
        "WHERE id = %s",
        (clinic.id,),
    )
    owner = Console(app, clinic, "owner")
    dash = owner.text("/console/")
    assert 'href="/console/clinic-export"' in dash  # the closing banner links to it

    # only owners; a wrong password or code changes nothing
    assert Console(app, clinic, "admin").get("/console/clinic-export").status_code == 403
    r = _ask(owner, password="wrong-password-123", code="000000")
    assert r.status_code == 422 and "That password is not right." in r.get_data(as_text=True)
    assert _sql(
        owner_dsn, "SELECT count(*) FROM clinic_exports WHERE tenant_id = %s", (clinic.id,)
    ) == [(0,)]

    r = _ask(owner)
    assert r.status_code == 302, r.get_data(as_text=True)
    page = owner.text("/console/clinic-export")
    assert 'data-export-state="pending"' in page
    again = _ask(owner)  # one at a time
    assert again.status_code == 409 or 'data-export-state="pending"' in owner.text(
        "/console/clinic-export"
    )

    drain(worker, "records")
    page = owner.text("/console/clinic-export")
    assert 'data-export-state="ready"' in page
    link = re.search(r'href="(/console/clinic-export/[0-9a-f-]+/download)"', page).group(1)
    ((sealed,),) = _sql(
        owner_dsn, "SELECT bundle_enc FROM clinic_exports WHERE tenant_id = %s", (clinic.id,)
    )
    assert b"record.json" not in bytes(sealed) and b"Migraine" not in bytes(sealed)

    # another clinic's owner, on either host, never reaches it
    stranger = Console(app, other, "owner")
    assert stranger.get(link).status_code == 404
    # another owner of the same clinic did not ask for it
    co_owner = Console(app, clinic, "owner")
    assert co_owner.get(link).status_code == 404

    got = owner.get(link)
    assert got.status_code == 200 and got.headers["Content-Type"] == "application/zip"
    zf = zipfile.ZipFile(io.BytesIO(got.data))
    names = zf.namelist()
    assert {"README.txt", "appointments.csv", "clinic.json"} <= set(names)
    records = {
        json.loads(zf.read(n))["patient"]["full_name"]: json.loads(zf.read(n))
        for n in names
        if n.endswith("/record.json")
    }
    assert set(records) == {"Ada Byron", "Bea Lind"}
    note = records["Ada Byron"]["visits"][0]["note_versions"][0]["sections"]
    assert note["presenting_complaints"][0]["complaint"].startswith("Migraine")
    assert theirs["id"] not in " ".join(names)
    doc = json.loads(zf.read("clinic.json"))
    assert doc["clinic"]["slug"] == clinic.slug and doc["patients"] == 2
    header = next(csv.reader(io.StringIO(zf.read("appointments.csv").decode())))
    assert header[:3] == ["id", "patient_id", "status"]

    # once: the bundle is destroyed
    second = owner.get(link)
    assert second.status_code == 302
    assert "already downloaded" in owner.text("/console/clinic-export")
    assert _sql(
        owner_dsn,
        "SELECT status, bundle_enc IS NULL FROM clinic_exports WHERE tenant_id = %s",
        (clinic.id,),
    ) == [("downloaded", True)]
    actions = {
        a
        for (a,) in _sql(
            owner_dsn, "SELECT action FROM audit_log WHERE tenant_id = %s", (clinic.id,)
        )
    }
    assert {
        "clinic.export_requested",
        "clinic.export_ready",
        "clinic.export_downloaded",
    } <= actions
    deadline = time.monotonic() + 20
    while True:
        mails = [m for m in read_messages(mail_dir) if m["To"] == owner.email]
        if mails or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(mails) == 1 and "export" in mails[0]["Subject"]
    body = mails[0].get_body(preferencelist=("plain",)).get_content()
    assert f"http://{clinic.host}" in body and "/console/clinic-export" in body
