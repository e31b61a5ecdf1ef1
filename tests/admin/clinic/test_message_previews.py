"""The console's message previews (``/console/practice/messages``).

Each message is rendered for a sample visit from the clinic's own practice, with the
functions the workers send with; its HTML is served apart, under a sandboxing policy.
"""

from __future__ import annotations

import html
import re

import psycopg
import pytest

from admin.clinic.practice import previews
from tests.factories import ClinicFactory, PracticeFactory
from tests.scheduling.conftest import check

from .console import Console

BASE = "/console/practice/messages"


def _practice(*, colour: str, **kw):
    p = PracticeFactory(
        rules={"cancellation_cutoff_minutes": 1440, "late_cancellation_fee_minor": 2500},
        **kw,
    )
    check(p.owner.send("PATCH", "/api/v1/settings/branding", {"brand_color": colour}), 200)
    return p


def _outbox_and_audit(dsn, clinic) -> tuple:
    with psycopg.connect(dsn) as conn:
        conn.execute("SET row_security = off")
        return tuple(
            conn.execute(f"SELECT count(*) FROM {t} WHERE tenant_id = %s", (clinic.id,)).fetchone()[
                0
            ]
            for t in ("outbox", "audit_log")
        )


def test_every_message_is_listed_and_previews_with_the_clinics_branding_and_policy(app, owner_dsn):
    """Each kind opens; the reminder carries the clinic's colour, name and real policy."""
    p = _practice(colour="#7a1f5c")
    console = Console(app, p.clinic)
    listing = console.text(BASE + "/")
    for kind in previews.KINDS:
        assert f'href="{BASE}/{kind.key}"' in listing, kind.key
    before = _outbox_and_audit(owner_dsn, p.clinic)
    for kind in previews.KINDS:
        page = console.text(f"{BASE}/{kind.key}?lang=en")
        assert 'aria-label="Breadcrumb"' in page and "<iframe" in page, kind.key
        assert console.get(f"{BASE}/{kind.key}/email.html").status_code == 200, kind.key
    page = html.unescape(console.text(f"{BASE}/appointment.reminder?lang=en"))
    assert "Reminder: Follow-up consultation on " in page
    policy = "Please cancel or move this visit at least 24 hours before it starts."
    assert policy in page and "Later cancellations cost" in page
    assert "Dr. Anna Weber" in page and "Main practice, 1 Remedy Lane" in page
    # the SMS and its segments, counted by the same function the sender counts with
    sms = re.search(r"<pre[^>]*data-sms>(.*?)</pre>", page, re.S).group(1)
    assert sms.startswith(f"{p.clinic.name}: reminder of Follow-up consultation") and policy in sms
    from saas.sms import segments

    seg = segments(sms)
    assert f"{seg.units} characters, {seg.encoding}: {seg.count} segment" in page
    email = console.get(f"{BASE}/appointment.reminder/email.html?lang=en").get_data(as_text=True)
    assert "background:#7a1f5c" in email and p.clinic.name in email and policy in email
    # a late cancellation shows the real fee; the no-show the same fee
    cancelled = html.unescape(console.text(f"{BASE}/appointment.cancelled"))
    assert "A late-cancellation fee of €25 applies." in cancelled
    # nothing written, nothing sent
    assert _outbox_and_audit(owner_dsn, p.clinic) == before


def test_german_preview_is_german_and_staff_messages_stay_english(app):
    p = _practice(colour="#7a1f5c")
    console = Console(app, p.clinic)
    page = html.unescape(console.text(f"{BASE}/appointment.confirmed?lang=de"))
    assert "Bestätigt: Follow-up consultation am Dienstag, " in page
    assert "Termin ansehen, verlegen oder stornieren" in page
    assert "Hallo Alex Example," in page and "Hello Alex Example," not in page
    assert '<option value="de" selected>' in page
    email = console.get(f"{BASE}/appointment.confirmed/email.html?lang=de").get_data(as_text=True)
    assert "Hallo Alex Example," in email and "Ihr Termin ist gebucht</h1>" in email
    assert "Your visit is booked" not in email
    english = html.unescape(console.text(f"{BASE}/appointment.confirmed?lang=en"))
    assert "Hello Alex Example," in english and "Hallo" not in english
    alert = html.unescape(console.text(f"{BASE}/practitioner.alert?lang=de"))
    assert "Alex Example booked Follow-up consultation." in alert
    assert "Messages to staff are written in English." in alert


def test_html_is_served_sandboxed_and_cannot_run_script(app):
    """The frame and its answer both forbid script; clinic text is escaped."""
    p = PracticeFactory(service={"name": "<script>alert(1)</script>Intake"})
    console = Console(app, p.clinic)
    page = console.text(f"{BASE}/appointment.confirmed")
    frame = re.search(r"<iframe[^>]*>", page).group(0)
    assert " sandbox " in frame and "allow-scripts" not in frame
    r = console.get(f"{BASE}/appointment.confirmed/email.html")
    csp = r.headers["Content-Security-Policy"]
    directives = [d.strip() for d in csp.split(";")]
    assert "sandbox" in directives and "default-src 'none'" in directives
    assert "script-src" not in csp and "frame-ancestors 'self'" in directives
    assert r.headers["X-Frame-Options"] == "SAMEORIGIN"
    body = r.get_data(as_text=True)
    assert "<script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;Intake" in body
    assert "<script>alert" not in page


@pytest.mark.parametrize("role", ["practitioner", "receptionist"])
def test_staff_without_settings_permission_are_refused(app, role):
    p = PracticeFactory()
    console = Console(app, p.clinic, role)
    for path in (
        BASE + "/",
        f"{BASE}/appointment.reminder",
        f"{BASE}/appointment.reminder/email.html",
    ):
        assert console.get(path).status_code == 403, path


def test_unknown_message_is_404(app):
    console = Console(app, ClinicFactory())
    assert console.get(f"{BASE}/email.sign_in_link").status_code == 404
    assert console.get(f"{BASE}/nothing/email.html").status_code == 404


def test_each_clinic_sees_only_its_own_branding_and_practice(app):
    """Clinic B's preview shows B's colour and names, never A's; A's session is not B's."""
    a = _practice(colour="#7a1f5c", practitioner={"display_name": "Dr. Alpha Only"})
    b = _practice(colour="#1d4e89", practitioner={"display_name": "Dr. Beta Only"})
    console_b = Console(app, b.clinic)
    page = html.unescape(console_b.text(f"{BASE}/appointment.confirmed"))
    email = console_b.get(f"{BASE}/appointment.confirmed/email.html").get_data(as_text=True)
    assert "Dr. Beta Only" in page and "background:#1d4e89" in email and b.clinic.name in email
    assert "Dr. Alpha Only" not in page + email and "#7a1f5c" not in email
    assert a.clinic.name not in page + email
    # A's signed-in session does not open B's previews
    console_a = Console(app, a.clinic)
    console_a.host = b.clinic.host
    r = console_a.get(f"{BASE}/appointment.confirmed/email.html")
    assert r.status_code == 302 and r.location.startswith("/login")


def test_empty_practice_shows_placeholders(app):
    console = Console(app, ClinicFactory())
    listing = console.text(BASE + "/")
    assert "no active practitioner, visit type, location yet" in listing
    page = html.unescape(console.text(f"{BASE}/appointment.reminder?lang=en"))
    assert "[Visit type] with [Practitioner]" in page and "[Location]" in page
