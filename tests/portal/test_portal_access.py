"""Who may see and do what on the portal: clinics, patients and staff kept apart.

Every portal page is tried with another clinic's ids, with another patient's ids and with a
staff session; a staff cookie never authorises a portal action, a patient cookie never
opens the console; forms need their CSRF token; registration does not tell who has an
account; sign-in and registration are rate limited.
"""

from __future__ import annotations

import pyotp
import pytest

from tests.client import new_client
from tests.factories import PASSWORD, AppointmentFactory, PatientFactory, PracticeFactory
from tests.factories.base import clinic_session
from tests.helpers import csrf_from, post_form
from tests.portal.conftest import COOKIE, get, portal_client

SIGNED_IN_PAGES = ("/appointments", "/profile", "/waitlist")


def _appointment_pages(appt_id) -> list[str]:
    return [
        f"/appointments/{appt_id}",
        f"/appointments/{appt_id}/calendar.ics",
        f"/appointments/{appt_id}/cancel",
        f"/appointments/{appt_id}/reschedule",
    ]


def _staff_client(app, clinic):
    """A client signed in to the console (password + TOTP) on ``clinic``'s host."""
    from tests.factories import add_staff

    email, secret = add_staff(app, clinic, "owner")
    c = new_client(app)
    post_form(c, "/login", clinic.host, {"email": email, "password": PASSWORD})
    post_form(c, "/login/mfa", clinic.host, {"code": pyotp.TOTP(secret).now()})
    assert get(c, clinic, "/console/").status_code == 200
    return c


def _status(app, clinic, appt_id) -> str:
    from saas.scheduling.models import Appointment

    with clinic_session(app, clinic.id) as sess:
        return sess.get(Appointment, (clinic.id, appt_id)).status


def test_staff_session_never_authorises_a_portal_page(app):
    """A signed-in owner is anonymous on the portal: every patient page asks to sign in."""
    practice = PracticeFactory()
    booking = AppointmentFactory(practice=practice)
    staff = _staff_client(app, practice.clinic)
    for path in (*SIGNED_IN_PAGES, *_appointment_pages(booking.id)):
        resp = get(staff, practice.clinic, path)
        assert resp.status_code == 302 and resp.location.startswith("/sign-in"), path
    # and a portal POST with the staff session's valid CSRF token changes nothing
    page = get(staff, practice.clinic, "/console/")
    resp = staff.post(
        f"/appointments/{booking.id}/cancel",
        data={"csrf_token": csrf_from(page.data)},
        base_url=f"http://{practice.clinic.host}",
    )
    assert resp.status_code == 302 and resp.location.startswith("/sign-in")
    assert _status(app, practice.clinic, booking.id) == "confirmed"


def test_patient_cookie_never_opens_the_console(app, practice, signed_in):
    """The portal cookie is not a staff session."""
    for path in ("/console/", "/console/day/", "/console/staff"):
        resp = get(signed_in, practice.clinic, path)
        assert resp.status_code == 302 and "/login" in resp.location, path


def test_another_clinics_cookie_is_anonymous_here(app):
    """A portal cookie of clinic B sent to clinic A's host signs nobody in."""
    a, b = PracticeFactory(), PracticeFactory()
    theirs = PatientFactory(clinic=b.clinic, portal_token=True)
    c = new_client(app)
    c.set_cookie(COOKIE, theirs.token, domain=a.clinic.host)
    for path in SIGNED_IN_PAGES:
        resp = get(c, a.clinic, path)
        assert resp.status_code == 302 and resp.location.startswith("/sign-in"), path


@pytest.mark.parametrize("whose", ["other clinic", "other patient"])
def test_someone_elses_visit_is_not_found(app, whose):
    """Another clinic's or another patient's appointment id is a 404 on every visit page."""
    a = PracticeFactory()
    booking = AppointmentFactory(practice=a)
    if whose == "other clinic":
        b = PracticeFactory()
        me, clinic = PatientFactory(clinic=b.clinic, portal_token=True), b.clinic
    else:
        me, clinic = PatientFactory(clinic=a.clinic, portal_token=True), a.clinic
    c = portal_client(app, clinic, me.token)
    for path in _appointment_pages(booking.id):
        resp = get(c, clinic, path)
        assert resp.status_code == 404, path
        assert b"BEGIN:VCALENDAR" not in resp.data
    page = get(c, clinic, "/appointments")
    cancel = c.post(
        f"/appointments/{booking.id}/cancel",
        data={"csrf_token": csrf_from(page.data)},
        base_url=f"http://{clinic.host}",
    )
    assert cancel.status_code == 404
    assert _status(app, a.clinic, booking.id) == "confirmed"
    offer = get(c, clinic, "/book/offer/00000000-0000-0000-0000-000000000000")
    assert offer.status_code == 404


def test_another_clinics_catalogue_ids_are_not_offered(app, signed_in, practice):
    """Clinic B's visit type id on clinic A's booking pages shows A's own choices only."""
    other = PracticeFactory()
    resp = get(signed_in, practice.clinic, f"/book?service_id={other.service_id}")
    page = resp.data.decode().split('id="footer-lang"')[0]  # (the language links echo the URL)
    assert resp.status_code == 200 and other.service_id not in page
    assert practice.service_id in page
    review = get(
        signed_in,
        practice.clinic,
        f"/book/review?service_id={other.service_id}&practitioner_id={other.practitioner_id}"
        f"&location_id={other.location_id}&start=2030-01-01T10:00:00%2B01:00",
    )
    assert review.status_code == 404


def test_forms_need_their_csrf_token(app, practice, signed_in):
    """A POST without the token is refused (400) and changes nothing."""
    booking = AppointmentFactory(
        practice=practice, patient=PatientFactory(clinic=practice.clinic, portal_token=True)
    )
    c = portal_client(app, practice.clinic, booking.patient.token)
    for path in (
        f"/appointments/{booking.id}/cancel",
        "/book/review",
        "/waitlist",
        "/profile",
        "/sign-out",
    ):
        resp = c.post(path, data={}, base_url=f"http://{practice.clinic.host}")
        assert resp.status_code == 400, path
    assert _status(app, practice.clinic, booking.id) == "confirmed"
    anon = new_client(app)
    for path in ("/register", "/sign-in", "/forgot-password", "/verify-email"):
        resp = anon.post(
            path, data={"email": "x@example.org"}, base_url=f"http://{practice.clinic.host}"
        )
        assert resp.status_code == 400, path


def test_registration_and_reset_do_not_tell_who_has_an_account(app, practice, patient):
    """Known and unknown emails get the same answer."""
    answers = []
    for email in (patient.email, "nobody-here@example.org"):
        c = new_client(app)
        reg = post_form(c, "/register", practice.clinic.host, {"full_name": "X Y", "email": email})
        forgot = post_form(c, "/forgot-password", practice.clinic.host, {"email": email})
        answers.append((reg.status_code, reg.location, forgot.status_code, forgot.location))
    assert answers[0] == answers[1] == (302, "/check-email", 302, "/check-email")
    c = new_client(app)
    wrong = [
        post_form(c, "/sign-in", practice.clinic.host, {"email": e, "password": "wrong-password-1"})
        for e in (patient.email, "nobody-here@example.org")
    ]
    assert {w.status_code for w in wrong} == {401}
    assert (
        b"Email or password is incorrect." in wrong[0].data
        and b"Email or password is incorrect." in wrong[1].data
    )


def test_registration_is_rate_limited_per_address(app, practice):
    """The 11th registration from one address within the hour is refused (429)."""
    c = new_client(app)
    host = practice.clinic.host
    page = get(c, practice.clinic, "/register")
    token = csrf_from(page.data)
    codes = [
        c.post(
            "/register",
            data={"csrf_token": token, "full_name": "A B", "email": f"r{i}@example.org"},
            base_url=f"http://{host}",
        ).status_code
        for i in range(11)
    ]
    assert codes[:10] == [302] * 10 and codes[10] == 429


def test_sign_out_revokes_the_portal_session(app, practice, signed_in, patient):
    """After signing out, the old cookie value no longer signs anyone in."""
    page = get(signed_in, practice.clinic, "/appointments")
    out = signed_in.post(
        "/sign-out",
        data={"csrf_token": csrf_from(page.data)},
        base_url=f"http://{practice.clinic.host}",
    )
    assert out.status_code == 302
    replay = portal_client(app, practice.clinic, patient.token)
    assert get(replay, practice.clinic, "/appointments").status_code == 302
