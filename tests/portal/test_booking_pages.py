"""The portal's booking path and my visits, as a patient's browser would use them (no JS).

Register → the emailed link → choose a password (signed in) → pick visit type, practitioner,
day and time → review with the cancellation policy → confirmed; then reschedule and cancel.
Every step goes through the same services as the API, so the database is checked too.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit

from saas.devmail import read_messages
from tests.client import new_client
from tests.factories import AppointmentFactory, PatientFactory, PracticeFactory
from tests.factories.base import clinic_session
from tests.helpers import csrf_from, drain, text_of
from tests.portal.conftest import get, portal_client

LINK_RE = re.compile(r"https?://[^\s<>\"]+")


def mail_to(mail_dir, to: str, count: int = 1, timeout: float = 20.0):
    """The messages the sink received for ``to`` (waits for ``count``)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in read_messages(mail_dir) if m["To"] == to]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"expected {count} emails to {to}")


def body_of(msg) -> str:
    """The text of an email (its text/plain part)."""
    return text_of(msg)


def form_post(c, clinic, path: str, data: dict, *, page_path: str | None = None):
    """GET the page (for its CSRF token), then POST the form to ``path``."""
    page = get(c, clinic, page_path or path)
    assert page.status_code == 200, (page.status_code, page.data[:500])
    return c.post(
        path, data={**data, "csrf_token": csrf_from(page.data)}, base_url=f"http://{clinic.host}"
    )


def appointment_status(app, clinic, appointment_id) -> tuple[str, object]:
    """(status, start_at) of an appointment as stored."""
    from saas.scheduling.models import Appointment

    with clinic_session(app, clinic.id) as sess:
        appt = sess.get(Appointment, (clinic.id, uuid.UUID(str(appointment_id))))
        return appt.status, appt.start_at


def review_path(practice, start) -> str:
    """The review step for ``start`` of the practice's visit type."""
    from urllib.parse import urlencode

    return "/book/review?" + urlencode(
        {
            "service_id": practice.service_id,
            "practitioner_id": practice.practitioner_id,
            "location_id": practice.location_id,
            "start": start.isoformat(),
        }
    )


def test_register_verify_book_reschedule_cancel(app, worker, mail_dir):
    """The whole path with plain forms; each step changes what the database holds."""
    practice = PracticeFactory(
        rules={"cancellation_cutoff_minutes": 1440, "late_cancellation_fee_minor": 2500}
    )
    clinic = practice.clinic
    c = new_client(app)
    day = practice.day(3)
    start = practice.at(day, "10:00")
    # the review step sends an anonymous visitor to sign in, and back afterwards
    first = get(c, clinic, review_path(practice, start))
    assert first.status_code == 302 and first.location.startswith("/sign-in?next=")
    email = f"lena-{uuid.uuid4().hex[:6]}@example.org"
    reg = form_post(
        c,
        clinic,
        "/register?next=" + re.sub(r".*next=", "", first.location),
        {"full_name": "Lena Vogel", "email": email},
    )
    assert reg.status_code == 302 and reg.location.endswith("/check-email")
    drain(worker)
    (msg,) = mail_to(mail_dir, email)
    (link,) = [u for u in LINK_RE.findall(body_of(msg)) if "/verify-email" in u]
    parts = urlsplit(link)
    verify_path = f"{parts.path}?{parts.query}"
    weak = form_post(
        c,
        clinic,
        "/verify-email",
        {"token": parts.query.split("=", 1)[1], "password": "short"},
        page_path=verify_path,
    )
    assert weak.status_code == 422 and b"There is a problem" in weak.data
    done = form_post(
        c,
        clinic,
        "/verify-email",
        {"token": parts.query.split("=", 1)[1], "password": "lavender-otter-canyon-42"},
        page_path=verify_path,
    )
    assert done.status_code == 302 and done.location.startswith("/book/review"), done.location
    # the review shows the policy before anything is booked
    page = get(c, clinic, done.location)
    text = page.data.decode()
    assert page.status_code == 200 and "24 hours before it starts" in text and "€25" in text
    missing_tick = c.post(
        done.location,
        data={
            "csrf_token": csrf_from(page.data),
            "service_id": practice.service_id,
            "practitioner_id": practice.practitioner_id,
            "location_id": practice.location_id,
            "start": start.isoformat(),
        },
        base_url=f"http://{clinic.host}",
    )
    assert missing_tick.status_code == 422 and b"cancellation policy" in missing_tick.data
    booked = c.post(
        "/book/review",
        data={
            "csrf_token": csrf_from(page.data),
            "service_id": practice.service_id,
            "practitioner_id": practice.practitioner_id,
            "location_id": practice.location_id,
            "start": start.isoformat(),
            "accept": "y",
        },
        base_url=f"http://{clinic.host}",
    )
    assert booked.status_code == 302, booked.data[:800]
    appt_id = booked.location.split("/appointments/")[1].split("?")[0]
    assert appointment_status(app, clinic, appt_id) == ("confirmed", start)
    confirmed = get(c, clinic, booked.location).data.decode()
    assert (
        "Your visit is booked" in confirmed
        and "calendar.google.com" in confirmed
        and "outlook.live.com" in confirmed
    )
    ics = get(c, clinic, f"/appointments/{appt_id}/calendar.ics")
    assert ics.status_code == 200 and b"BEGIN:VEVENT" in ics.data
    # reschedule to 14:00 the same day
    new_start = practice.at(day, "14:00")
    resched_page = f"/appointments/{appt_id}/reschedule?date={day.isoformat()}"
    assert new_start.isoformat() in get(c, clinic, resched_page).data.decode()
    moved = form_post(
        c,
        clinic,
        f"/appointments/{appt_id}/reschedule",
        {
            "start": new_start.isoformat(),
            "practitioner_id": practice.practitioner_id,
            "location_id": practice.location_id,
        },
        page_path=resched_page,
    )
    assert moved.status_code == 302
    assert appointment_status(app, clinic, appt_id) == ("confirmed", new_start)
    # cancel (outside the cutoff: free)
    cancel_page = get(c, clinic, f"/appointments/{appt_id}/cancel").data.decode()
    assert "free of charge" in cancel_page
    gone = form_post(c, clinic, f"/appointments/{appt_id}/cancel", {"reason": ""})
    assert gone.status_code == 302
    assert appointment_status(app, clinic, appt_id)[0] == "cancelled"
    visits = get(c, clinic, "/appointments").data.decode()
    assert "Cancelled" in visits and "You have no upcoming visits" in visits


def test_lost_race_shows_three_nearest_times_and_books_nothing(app, practice, signed_in, patient):
    """Someone else books the time between review and confirm: a kind page, 3 alternatives."""
    clinic = practice.clinic
    start = practice.at(practice.day(3), "12:00")
    page = get(signed_in, clinic, review_path(practice, start))
    assert page.status_code == 200
    AppointmentFactory(practice=practice, start=start)  # another patient is faster
    lost = signed_in.post(
        "/book/review",
        data={
            "csrf_token": csrf_from(page.data),
            "service_id": practice.service_id,
            "practitioner_id": practice.practitioner_id,
            "location_id": practice.location_id,
            "start": start.isoformat(),
            "accept": "y",
        },
        base_url=f"http://{clinic.host}",
    )
    text = lost.data.decode()
    assert lost.status_code == 409 and "nearest free times" in text
    alternatives = re.findall(r'href="/book/review\?[^"]+"', text)
    assert len(alternatives) == 3
    assert all(start.isoformat().replace("+", "%2B") not in a for a in alternatives)
    from sqlalchemy import func, select

    from saas.scheduling.models import Appointment

    with clinic_session(app, clinic.id) as sess:
        mine = sess.scalar(
            select(func.count())
            .select_from(Appointment)
            .where(Appointment.patient_id == patient.id)
        )
    assert mine == 0


def test_reschedule_and_cancel_refused_inside_the_cutoff_with_the_reason(app):
    """Inside the reschedule cutoff the page says why; cancelling is late, with the fee."""
    practice = PracticeFactory(
        rules={
            "min_notice_minutes": 60,
            "reschedule_cutoff_minutes": 2880,
            "cancellation_cutoff_minutes": 2880,
            "late_cancellation_fee_minor": 4000,
        }
    )
    booking = AppointmentFactory(practice=practice, start=practice.at(practice.day(1), "15:00"))
    c = portal_client(app, practice.clinic, booking.patient.token)
    page = get(c, practice.clinic, f"/appointments/{booking.id}").data.decode()
    assert "too late to reschedule online" in page
    assert f'href="/appointments/{booking.id}/reschedule"' not in page
    refused = get(c, practice.clinic, f"/appointments/{booking.id}/reschedule").data.decode()
    assert "You cannot change the time online" in refused and 'name="start"' not in refused
    cancel = get(c, practice.clinic, f"/appointments/{booking.id}/cancel").data.decode()
    assert "late-cancellation fee of €40" in cancel
    done = form_post(c, practice.clinic, f"/appointments/{booking.id}/cancel", {"reason": "ill"})
    assert done.status_code == 302
    from saas.scheduling.models import Appointment

    with clinic_session(app, practice.clinic.id) as sess:
        appt = sess.get(Appointment, (practice.clinic.id, booking.id))
        assert (appt.status, appt.late_cancellation, appt.fee_minor) == ("cancelled", True, 4000)


def test_prepayment_visit_ends_held_until_paid(app):
    """A visit type that needs prepayment is held, and the page says so."""
    practice = PracticeFactory(service={"requires_prepayment": True})
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    c = portal_client(app, practice.clinic, patient.token)
    start = practice.at(practice.day(4), "09:00")
    page = get(c, practice.clinic, review_path(practice, start))
    assert b"Hold this time" in page.data
    resp = c.post(
        "/book/review",
        data={
            "csrf_token": csrf_from(page.data),
            "service_id": practice.service_id,
            "practitioner_id": practice.practitioner_id,
            "location_id": practice.location_id,
            "start": start.isoformat(),
            "accept": "y",
        },
        base_url=f"http://{practice.clinic.host}",
    )
    assert resp.status_code == 302
    assert (
        appointment_status(app, practice.clinic, resp.location.split("/")[2].split("?")[0])[0]
        == "held"
    )
    assert b"Held until paid" in get(c, practice.clinic, resp.location).data


def test_month_and_day_views_come_from_the_slot_engine(app, practice, signed_in):
    """Days with free times are links; a booked time disappears from the day's list."""
    clinic = practice.clinic
    day = practice.day(5)
    month = get(
        signed_in,
        clinic,
        f"/book?service_id={practice.service_id}&practitioner_id={practice.practitioner_id}&month={day:%Y-%m}",
    ).data.decode()
    assert f"date={day.isoformat()}" in month
    AppointmentFactory(practice=practice, start=practice.at(day, "10:00"))
    times = get(
        signed_in, clinic, f"/book?service_id={practice.service_id}&any=1&date={day.isoformat()}"
    ).data.decode()
    assert ">09:00<" in times and ">10:00<" not in times and ">11:00<" in times
    # the recall link: visit type, practitioner and a date window land on that month
    recall = get(
        signed_in,
        clinic,
        f"/book?service_id={practice.service_id}&practitioner_id={practice.practitioner_id}&from={day.isoformat()}&to={day.isoformat()}",
    )
    assert recall.status_code == 200 and "Choose a day" in recall.data.decode()


def test_waitlist_join_and_leave(app, practice, signed_in, patient):
    """Joining lists the entry under my visits; leaving removes it."""
    from sqlalchemy import select

    from saas.scheduling.models import WaitlistEntry

    joined = form_post(
        signed_in,
        practice.clinic,
        "/waitlist",
        {"service_id": practice.service_id, "practitioner_id": ""},
    )
    assert joined.status_code == 302
    with clinic_session(app, practice.clinic.id) as sess:
        entry = sess.scalar(select(WaitlistEntry).where(WaitlistEntry.patient_id == patient.id))
        assert entry.status == "waiting"
    page = get(signed_in, practice.clinic, "/appointments")
    assert b"On the waitlist" in page.data
    left = signed_in.post(
        f"/waitlist/{entry.id}/leave",
        data={"csrf_token": csrf_from(page.data)},
        base_url=f"http://{practice.clinic.host}",
    )
    assert left.status_code == 302
    with clinic_session(app, practice.clinic.id) as sess:
        assert sess.get(WaitlistEntry, (practice.clinic.id, entry.id)).status == "cancelled"


def test_booking_from_a_waitlist_offer(app, practice, signed_in, patient):
    """A freed time is offered; the email's link opens the review of exactly that time."""
    from sqlalchemy import select

    from saas.scheduling.models import WaitlistOffer

    day = practice.day(3)
    taken = AppointmentFactory(practice=practice, start=practice.at(day, "10:00"))
    joined = practice.owner.post(
        "/api/v1/waitlist",
        {
            "service_id": practice.service_id,
            "earliest_date": day.isoformat(),
            "latest_date": day.isoformat(),
        },
        token=patient.token,
    )
    assert joined.status_code == 201, joined.get_json()
    cancelled = practice.owner.post(
        f"/api/v1/appointments/{taken.id}/cancel", {}, token=taken.patient.token
    )
    assert cancelled.status_code == 200
    with clinic_session(app, practice.clinic.id) as sess:
        offer_id = sess.scalar(select(WaitlistOffer.id))
    link = get(signed_in, practice.clinic, f"/book/offer/{offer_id}")
    assert link.status_code == 302 and link.location.startswith("/book/review?")
    page = get(signed_in, practice.clinic, link.location)
    assert page.status_code == 200
    start = practice.at(day, "10:00")
    booked = signed_in.post(
        "/book/review",
        data={
            "csrf_token": csrf_from(page.data),
            "service_id": practice.service_id,
            "practitioner_id": practice.practitioner_id,
            "location_id": practice.location_id,
            "start": start.isoformat(),
            "accept": "y",
        },
        base_url=f"http://{practice.clinic.host}",
    )
    assert booked.status_code == 302
    appt_id = booked.location.split("/appointments/")[1].split("?")[0]
    assert appointment_status(app, practice.clinic, appt_id) == ("confirmed", start)
    # another patient cannot use this offer
    other = PatientFactory(clinic=practice.clinic, portal_token=True)
    stranger = portal_client(app, practice.clinic, other.token)
    assert get(stranger, practice.clinic, f"/book/offer/{offer_id}").status_code == 404


def test_booking_attempts_are_limited_per_account(app, practice, patient):
    """21 booking attempts within the hour from ever-new addresses: the 21st is refused."""
    codes = []
    for _ in range(21):
        c = portal_client(app, practice.clinic, patient.token)  # a new client address each time
        page = get(c, practice.clinic, review_path(practice, practice.at(practice.day(3), "10:00")))
        resp = c.post(
            "/book/review",
            data={  # no tick: refused, books nothing
                "csrf_token": csrf_from(page.data),
                "service_id": practice.service_id,
                "practitioner_id": practice.practitioner_id,
                "location_id": practice.location_id,
                "start": practice.at(practice.day(3), "10:00").isoformat(),
            },
            base_url=f"http://{practice.clinic.host}",
        )
        codes.append(resp.status_code)
    assert codes[:20] == [422] * 20 and codes[20] == 429


def test_this_months_view_and_todays_times_are_served_from_the_cache(
    app, practice, signed_in, monkeypatch
):
    """Asked twice, the current month and today's times run the slot engine once each.

    Their search starts at the beginning of today (the engine leaves out what is past),
    not at "now", so the free-times cache can serve them until the schedule changes.
    """
    import datetime as dt

    from saas.scheduling import queries

    runs = []

    def counting(real):
        def run(*args, **kwargs):
            runs.append(1)
            return real(*args, **kwargs)

        return run

    # the day's times come from free_slots, the month's free days from free_starts_by_day
    for name in ("free_slots", "free_starts_by_day"):
        monkeypatch.setattr(queries.engine, name, counting(getattr(queries.engine, name)))
    clinic = practice.clinic
    today = practice.day(0)
    base = f"/book?service_id={practice.service_id}&any=1"
    for path in (f"{base}&month={today:%Y-%m}", f"{base}&date={today.isoformat()}"):
        before = len(runs)
        pages = [get(signed_in, clinic, path).data.decode() for _ in range(2)]
        assert len(runs) - before == 1, path
        # the same page, but for its CSRF tokens (signed with the second they were made in)
        same = [re.sub(r'name="csrf_token" value="[^"]*"', "", page) for page in pages]
        assert same[0] == same[1]
    # and nothing past is offered: no time of today before now
    now = dt.datetime.now(practice.zone)
    page = get(signed_in, clinic, f"{base}&date={today.isoformat()}").data.decode()
    shown = re.findall(r">(\d\d):(\d\d)<", page)
    assert all(dt.time(int(h), int(m)) > now.time() for h, m in shown), shown
