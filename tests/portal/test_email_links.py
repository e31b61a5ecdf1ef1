"""Every link in every email the platform sends leads to a working page.

One clinic goes through everything that sends an email — registration (verification),
"forgot password" (patient), a sign-in link, booking confirmation, a paid-in-advance hold,
a visit paid online (its receipt), a new time, a cancellation, a waitlist offer, the
follow-up recall, a staff invitation, a staff password reset, the export-ready notices (the
patient's own copy, and a staff export) — the real worker delivers them to the
embedded SMTP sink, and every link found is followed (redirects too) with the test client
as its recipient would open it. Any 404 or error fails the test, and so does an email
type that should carry a link but has none.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from urllib.parse import urlsplit

from saas.devmail import read_messages
from tests.client import new_client
from tests.factories import (
    AppointmentFactory,
    PatientDataFactory,
    PatientFactory,
    PracticeFactory,
    add_staff,
)
from tests.factories.base import clinic_session
from tests.helpers import csrf_from, drain, post_form
from tests.portal.conftest import portal_client
from tests.portal.test_booking_pages import body_of
from tests.records.conftest import CASE

from ..billing import conftest as billing_fixtures

#: the local Stripe test server (a fixture of the billing tests)
stripe_server = billing_fixtures.stripe_server

LINK_RE = re.compile(r"https?://[^\s<>\"')]+")
#: Subject starts of the emails that must carry a portal or console link.
MUST_LINK = (
    "Choose your password",
    "Your sign-in link",
    "Confirmed",
    "Please complete your booking",
    "Moved",
    "Cancelled",
    "A time is free",
    "Time to book your follow-up",
    "You are invited",
    "Reset",
    "Your copy of your data",
    "Receipt",
)


def _unique(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:8]}@example.org"


def _pay_online(app, clinic, prepaid, stripe_server, tokens) -> None:
    """Connect the clinic to Stripe, book the prepaid visit on the portal and pay it."""
    from tests.admin.clinic.console import Console
    from tests.billing.conftest import apply_events
    from tests.billing.test_visit_payments import _book

    owner = Console(app, clinic)
    r = owner.post("/console/billing/connect", form_page="/console/billing/")
    apply_events(app, new_client(app), stripe_server.onboard(r.location.rsplit("/", 1)[1]))
    payer = PatientFactory(clinic=clinic, email=_unique("paid"), portal_token=True)
    tokens[payer.email] = payer.token
    _, booked = _book(app, prepaid, payer, days=7, hhmm="09:00")
    assert booked.status_code == 303, booked.status_code
    session_id = urlsplit(booked.location).path.rsplit("/", 1)[1]
    apply_events(app, new_client(app), stripe_server.complete(session_id))
    tokens["_paid"] = payer.email


def test_every_link_in_every_email_opens_a_working_page(app, worker, mail_dir, stripe_server):
    """Trigger every email type, then follow every link in them."""
    practice = PracticeFactory(service={"name": "Follow-up"})
    clinic, owner = practice.clinic, practice.owner
    host = clinic.host
    tokens: dict[str, str] = {}

    # registration, patient password reset and a sign-in link
    c = new_client(app)
    new_email = _unique("new")
    post_form(c, "/register", host, {"full_name": "Nia Brandt", "email": new_email})
    known = PatientFactory(clinic=clinic, email=_unique("known"), portal_token=True)
    tokens[known.email] = known.token
    post_form(new_client(app), "/forgot-password", host, {"email": known.email})
    post_form(new_client(app), "/sign-in/email", host, {"email": known.email})

    # confirmation, new time, cancellation (which offers the freed time to the waitlist)
    day = practice.day(4)
    booking = AppointmentFactory(practice=practice, patient=known, start=practice.at(day, "10:00"))
    waiting = PatientFactory(clinic=clinic, email=_unique("waiting"), portal_token=True)
    tokens[waiting.email] = waiting.token
    assert (
        owner.post(
            "/api/v1/waitlist",
            {
                "service_id": practice.service_id,
                "earliest_date": day.isoformat(),
                "latest_date": day.isoformat(),
            },
            token=waiting.token,
        ).status_code
        == 201
    )
    for hhmm in ("09:00", "11:00", "12:00", "13:00", "14:00", "15:00", "16:00"):
        AppointmentFactory(practice=practice, start=practice.at(day, hhmm))  # a full day
    moved = owner.post(
        f"/api/v1/appointments/{booking.id}/reschedule",
        {"start": practice.at(day + dt.timedelta(days=1), "10:00").isoformat()},
        token=known.token,
    )
    assert moved.status_code == 200, moved.get_json()
    other = AppointmentFactory(
        practice=practice, patient=known, start=practice.at(day + dt.timedelta(days=2), "10:00")
    )
    assert (
        owner.post(f"/api/v1/appointments/{other.id}/cancel", {}, token=known.token).status_code
        == 200
    )
    # the freed 10:00 on ``day`` came from the reschedule: the waiting patient got an offer

    # a visit type paid in advance ends in a hold
    prepaid = PracticeFactory(
        clinic=clinic,
        owner=owner,
        location={"name": "Second room"},
        practitioner={"display_name": "Dr. Jonas Berg"},
        service={
            "name": "Initial consultation",
            "requires_prepayment": True,
            "duration_minutes": 90,
        },
    )
    held_patient = PatientFactory(clinic=clinic, email=_unique("held"), portal_token=True)
    tokens[held_patient.email] = held_patient.token
    AppointmentFactory(
        practice=prepaid, patient=held_patient, start=prepaid.at(prepaid.day(6), "09:00")
    )

    # a visit paid online (the clinic connected to Stripe): its emailed receipt
    _pay_online(app, clinic, prepaid, stripe_server, tokens)

    # follow-up recall: consent, a visit and a prescription with a follow-up window
    recall_email = _unique("recall")
    pat = owner.post(
        "/api/v1/patients", PatientDataFactory(full_name="Rita Recall", email=recall_email)
    ).get_json()
    consent = {"purpose": "reminders_email", "text_version": "2026-01", "channel": "in_person"}
    assert owner.post(f"/api/v1/patients/{pat['id']}/consents", consent).status_code == 201
    visit = owner.post(
        f"/api/v1/patients/{pat['id']}/visits",
        {
            "kind": "initial",
            "visit_date": (dt.date.today() - dt.timedelta(days=25)).isoformat(),
            "note": CASE,
        },
    )
    assert visit.status_code == 201, visit.get_json()
    rx = owner.post(
        f"/api/v1/visits/{visit.get_json()['id']}/prescriptions",
        {
            "remedy": "Pulsatilla",
            "potency": "30c",
            "form": "pills",
            "dose": "3 pills",
            "frequency": "single dose",
            "follow_up_from_days": 28,
            "follow_up_to_days": 42,
            "follow_up_service_id": practice.service_id,
        },
    )
    assert rx.status_code == 201, rx.get_json()
    from saas.models import Tenant
    from saas.records.followups import invite_due_follow_ups

    with clinic_session(app, clinic.id) as sess:
        assert invite_due_follow_ups(sess, sess.get(Tenant, clinic.id)) == 1

    # staff: an invitation, a password reset, an export-ready notice
    invitee = _unique("invitee")
    assert (
        owner.post(
            "/api/v1/staff/invitations", {"email": invitee, "name": "Ivo", "role": "receptionist"}
        ).status_code
        == 201
    )
    staff_email, _ = add_staff(app, clinic, "admin")
    post_form(new_client(app), "/password/forgot", host, {"email": staff_email})
    assert owner.post(f"/api/v1/patients/{pat['id']}/exports").status_code in (201, 202)
    # the patient's own copy, asked for on the profile page
    mine = portal_client(app, clinic, known.token)
    page = mine.get("/profile", base_url=f"http://{host}")
    asked = mine.post(
        "/profile/data/export",
        data={"csrf_token": csrf_from(page.data)},
        base_url=f"http://{host}",
    )
    assert asked.status_code == 302

    drain(worker, "records", "scheduling")
    drain(worker, "records")
    ours = {
        new_email,
        known.email,
        waiting.email,
        held_patient.email,
        tokens["_paid"],
        recall_email,
        invitee,
        staff_email,
        clinic.owner_email,
    }
    messages = [m for m in read_messages(mail_dir) if m["To"] in ours]
    subjects = [m["Subject"] for m in messages]
    for start in (*MUST_LINK, "A patient data export is ready"):
        assert any(s.startswith(start) for s in subjects), (start, subjects)
    # the patient's "forgot password" link is its own email (same words as registration's)
    to_known = [m["Subject"] for m in messages if m["To"] == known.email]
    assert any(s.startswith("Choose your password") for s in to_known), to_known

    followed, broken = 0, []
    for msg in messages:
        links = [u for u in LINK_RE.findall(body_of(msg)) if urlsplit(u).hostname == host]
        if msg["Subject"].startswith(MUST_LINK):
            deep = [u for u in links if urlsplit(u).path not in ("", "/")]
            assert deep, f"no deep link in {msg['Subject']!r}"
        token = tokens.get(msg["To"])
        for url in links:
            parts = urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            client = portal_client(app, clinic, token) if token else new_client(app)
            resp = client.get(path, base_url=f"http://{host}", follow_redirects=True)
            followed += 1
            if resp.status_code >= 400:
                broken.append(f"{msg['Subject']!r}: {path} -> {resp.status_code}")
    assert not broken, "\n".join(broken)
    assert followed >= len(MUST_LINK)
