"""A patient asks for a copy of their data on the profile page and downloads it once."""

from __future__ import annotations

import io
import json
import re
import zipfile

import psycopg

from saas.devmail import read_messages
from tests.client import new_client
from tests.factories import PatientFactory, PracticeFactory
from tests.helpers import csrf_from, drain, text_of
from tests.portal.conftest import get, portal_client

DOWNLOAD_RE = re.compile(r'action="(/profile/data/export/[0-9a-f-]+)"')


def _post(c, clinic, path):
    page = get(c, clinic, "/profile")
    return c.post(path, data={"csrf_token": csrf_from(page.data)}, base_url=f"http://{clinic.host}")


def _ready(app, worker, c, clinic) -> str:
    """Ask for a copy, let the worker build it; returns the download path shown."""
    assert _post(c, clinic, "/profile/data/export").status_code == 302
    page = get(c, clinic, "/profile").get_data(as_text=True)
    assert "Your copy is being prepared" in page and "Request a copy of my data" not in page
    drain(worker, "records")
    page = get(c, clinic, "/profile").get_data(as_text=True)
    assert "Your copy is ready" in page, page
    return DOWNLOAD_RE.search(page).group(1)


def test_request_prepare_download_once(app, worker, owner_dsn, mail_dir):
    """The zip holds the patient's own record; a second download is refused; all audited."""
    practice = PracticeFactory()
    pat = PatientFactory(clinic=practice.clinic, portal_token=True)
    c = portal_client(app, practice.clinic, pat.token)
    path = _ready(app, worker, c, practice.clinic)
    with psycopg.connect(owner_dsn) as conn:
        (sealed,) = conn.execute(
            "SELECT bundle_enc FROM record_exports WHERE tenant_id = %s", (practice.clinic.id,)
        ).fetchone()
    assert b"record.json" not in bytes(sealed)  # sealed with the clinic's key
    mail = [m for m in read_messages(mail_dir) if m["To"] == pat.email]
    assert [m["Subject"] for m in mail] == [
        f"Your copy of your data at {practice.clinic.name} is ready"
    ]
    assert f"/{practice.clinic.host}" in text_of(mail[0])
    got = _post(c, practice.clinic, path)
    assert got.status_code == 200 and got.headers["Content-Type"] == "application/zip"
    assert "attachment" in got.headers["Content-Disposition"]
    record = json.loads(zipfile.ZipFile(io.BytesIO(got.data)).read("record.json"))
    assert record["patient"]["email"] == pat.email
    again = _post(c, practice.clinic, path)
    assert again.status_code == 302
    page = get(c, practice.clinic, "/profile").get_data(as_text=True)
    assert "already downloaded" in page
    assert "Request a copy of my data" in page  # a new copy may be asked for
    with psycopg.connect(owner_dsn) as conn:
        rows = conn.execute(
            "SELECT action, actor_label FROM audit_log WHERE tenant_id = %s "
            "AND action LIKE 'records.export_%%'",
            (practice.clinic.id,),
        ).fetchall()
        left = conn.execute(
            "SELECT bundle_enc IS NULL, status FROM record_exports WHERE tenant_id = %s",
            (practice.clinic.id,),
        ).fetchone()
    assert ("records.export_requested", f"patient:{pat.id}") in rows
    assert ("records.export_downloaded", f"patient:{pat.id}") in rows
    assert "records.export_ready" in {a for a, _ in rows}
    assert left == (True, "downloaded")


def test_asking_twice_keeps_one_open_request(app, practice, signed_in, owner_dsn):
    """A second request while one is open changes nothing."""
    for _ in range(2):
        assert _post(signed_in, practice.clinic, "/profile/data/export").status_code == 302
    with psycopg.connect(owner_dsn) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM record_exports WHERE tenant_id = %s", (practice.clinic.id,)
        ).fetchone()
    assert count == 1


def test_only_the_patient_who_asked_downloads_it(app, worker):
    """Another patient, another clinic's patient, staff and anonymous visitors get nothing."""
    a, b = PracticeFactory(), PracticeFactory()
    owner = PatientFactory(clinic=a.clinic, portal_token=True)
    c = portal_client(app, a.clinic, owner.token)
    path = _ready(app, worker, c, a.clinic)
    export_id = path.rsplit("/", 1)[1]
    # another patient of the same clinic
    other = portal_client(app, a.clinic, PatientFactory(clinic=a.clinic, portal_token=True).token)
    assert _post(other, a.clinic, path).status_code == 404
    # a patient of clinic B, on B's host, with A's export id
    on_b = portal_client(app, b.clinic, PatientFactory(clinic=b.clinic, portal_token=True).token)
    assert _post(on_b, b.clinic, path).status_code == 404
    # not signed in: sent to sign in (no download)
    anon = new_client(app)
    resp = anon.post(path, base_url=f"http://{a.clinic.host}")
    assert resp.status_code in (302, 400) and not resp.headers.get("Content-Type", "").startswith(
        "application/zip"
    )
    # staff never see or download a patient's own export through the staff API
    assert a.owner.get(f"/api/v1/exports/{export_id}").status_code == 404
    assert a.owner.get(f"/api/v1/exports/{export_id}/download").status_code == 404
    # a malformed id is the same 404
    assert _post(c, a.clinic, "/profile/data/export/not-an-id").status_code == 404
    # the patient who asked still gets it, once
    assert _post(c, a.clinic, path).headers["Content-Type"] == "application/zip"


def test_download_needs_csrf(app, worker):
    """The download is a form post with the CSRF token."""
    practice = PracticeFactory()
    pat = PatientFactory(clinic=practice.clinic, portal_token=True)
    c = portal_client(app, practice.clinic, pat.token)
    path = _ready(app, worker, c, practice.clinic)
    resp = c.post(path, base_url=f"http://{practice.clinic.host}")
    assert resp.status_code == 400
    assert _post(c, practice.clinic, path).status_code == 200
