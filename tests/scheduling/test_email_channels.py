"""Email as the patient receives it.

Text and HTML in the clinic's branding, the visit as an ``.ics`` on confirmations and
reschedules, a Message-ID derived from the delivery key.
"""

from __future__ import annotations

import icalendar
import psycopg

from saas.mail import message_id_for
from tests.helpers import html_of, text_of
from tests.scheduling.conftest import check
from tests.scheduling.test_notifications import _mail, _patient_with_email


def _ics(msg):
    parts = [p for p in msg.walk() if p.get_content_type() == "text/calendar"]
    return [icalendar.Calendar.from_ical(p.get_payload(decode=True)) for p in parts]


def test_confirmation_is_multipart_branded_and_carries_the_visit(
    app, make_practice, worker, mail_dir, owner_dsn
):
    p = make_practice("Europe/Berlin")
    with psycopg.connect(owner_dsn) as conn:
        conn.execute(
            "UPDATE tenants SET settings = jsonb_set(coalesce(settings, '{}'),"
            " '{branding}', '{\"brand_color\": \"#7a1f5c\"}') WHERE id = %s",
            (p.clinic.id,),
        )
    email = f"ics-{p.clinic.slug}@example.org"
    token = _patient_with_email(app, p.clinic, email)
    day = p.day(3)
    appt = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(day, "10:00")), token=token), 201
    )
    check(
        p.owner.post(
            f"/api/v1/appointments/{appt['id']}/reschedule",
            {"start": p.at(day, "12:00").isoformat()},
            token=token,
        ),
        200,
    )
    check(p.owner.post(f"/api/v1/appointments/{appt['id']}/cancel", {}, token=token), 200)
    booked, moved, cancelled = _mail(mail_dir, email, 3)

    assert booked.get_content_type() == "multipart/mixed"
    text, html = text_of(booked), html_of(booked)
    assert "Hello Meera Nair" in text and "<" not in text.split("\n")[0]
    assert "#7a1f5c" in html and "Your visit is booked" in html
    assert "Hello Meera Nair" in html and "Dr. Anna Weber" in html
    link = f"/appointments/{appt['id']}"
    assert link in text and 'href="http' in html and link in html

    (cal,) = _ics(booked)
    (ev,) = cal.walk("VEVENT")
    assert str(ev["uid"]) == f"{appt['id']}@{app.config['SIMILIA'].base_domain}"
    assert ev.decoded("dtstart") == p.at(day, "10:00")
    (cal2,) = _ics(moved)
    (ev2,) = cal2.walk("VEVENT")
    assert str(ev2["uid"]) == str(ev["uid"]) and ev2.decoded("dtstart") == p.at(day, "12:00")
    assert int(ev2["sequence"]) >= int(ev["sequence"])
    assert _ics(cancelled) == []  # no calendar for a cancellation
    assert "Your visit is cancelled" in html_of(cancelled)

    # Message-ID: derived from each row's delivery key, unique per message, stored as sent
    ids = {m["Message-ID"] for m in (booked, moved, cancelled)}
    assert len(ids) == 3
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        rows = conn.execute(
            "SELECT id, provider_id FROM outbox WHERE tenant_id = %s"
            " AND topic LIKE 'appointment.%%' AND topic <> 'appointment.reminder'",
            (p.clinic.id,),
        ).fetchall()
    host = app.config["SIMILIA"].mail_from.rpartition("@")[2].strip(">")
    expected = {message_id_for(f"{p.clinic.id}:outbox:{rid}", host) for rid, _ in rows}
    assert ids <= expected and {pid for _, pid in rows} >= ids


def test_html_escapes_what_the_clinic_and_patient_wrote(app):
    from saas.models import Tenant
    from workers.notifications import render_html

    tenant = Tenant(name="<b>Clinic</b>", slug="x", settings={"branding": {"brand_color": "red;"}})
    html = render_html(
        tenant,
        "appointment.confirmed",
        "S",
        "Line <script>\nhttps://x.example/a?b=1&c=2",
        site="http://x",
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "&lt;b&gt;Clinic" in html
    assert "red;" not in html and "#2f6f5e" in html  # an unsafe colour falls back
    assert '<a href="https://x.example/a?b=1&amp;c=2">' in html
