"""Optional two-step sign-in for patients (issue #11, item 5).

A patient turns it on in the profile (QR code, a first code confirms it, recovery codes
shown once and stored hashed); then a password, a one-time sign-in link and the emailed
password link all ask for a code before the session opens; a wrong code keeps the form,
is audited and counts toward a lockout; turning it off asks for a current code. Another
clinic's patient and a staff session can touch none of it.
"""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from sqlalchemy import select

from tests.client import new_client
from tests.factories import PASSWORD, PatientFactory, PracticeFactory
from tests.factories.base import clinic_session
from tests.helpers import csrf_from, post_form
from tests.portal.conftest import COOKIE, get, portal_client

SECRET_RE = re.compile(r'id="totp-secret">([A-Z2-7 ]+)<')
CODES_RE = re.compile(r"<li>([0-9a-f]{8}-[0-9a-f]{8})</li>")


def _code(secret: str, steps_ahead: int = 0) -> str:
    """The app's code ``steps_ahead`` 30-second steps from now (one ahead is still accepted).

    A code is accepted once per time step, so a test that already used "now" uses the next.
    """
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _with_password(app, clinic, patient_id) -> None:
    """The patient chose :data:`PASSWORD` through the emailed link (so the email is verified)."""
    from saas.models import Patient, utcnow
    from saas.security.passwords import hash_password

    with clinic_session(app, clinic.id) as sess:
        row = sess.get(Patient, (clinic.id, patient_id))
        row.password_hash = hash_password(PASSWORD)
        row.email_verified_at = row.email_verified_at or utcnow()


def _turn_on(app, clinic, patient_id) -> tuple[str, list[str]]:
    """Two-step sign-in on for the patient, as the profile pages leave it: secret, codes."""
    from saas.models import Patient, Tenant
    from saas.security import patient_totp

    with clinic_session(app, clinic.id) as sess:
        tenant = sess.get(Tenant, clinic.id)
        row = sess.get(Patient, (clinic.id, patient_id))
        secret = patient_totp.start_setup(sess, tenant, row)
        codes = patient_totp.confirm_setup(sess, tenant, row, _code(secret, -1))
    return secret, codes


def _state(app, clinic, patient_id):
    from saas.models import Patient, PatientRecoveryCode

    with clinic_session(app, clinic.id) as sess:
        row = sess.get(Patient, (clinic.id, patient_id))
        hashes = sess.scalars(
            select(PatientRecoveryCode.code_hash).where(
                PatientRecoveryCode.patient_id == patient_id,
                PatientRecoveryCode.used_at.is_(None),
            )
        ).all()
        return row.totp_enabled_at, row.totp_secret, set(hashes)


def _audit(app, clinic, action: str) -> list:
    from saas.models import AuditEntry

    with clinic_session(app, clinic.id) as sess:
        return sess.execute(
            select(AuditEntry.actor_label, AuditEntry.target, AuditEntry.data).where(
                AuditEntry.action == action
            )
        ).all()


def _signed_in_cookie(resp) -> bool:
    return any(
        h.startswith(f"{COOKIE}=simp_") for h in resp.headers.getlist("Set-Cookie")
    )


def _post(c, clinic, path: str, data: dict | None = None, *, page: str | None = None):
    """POST like the browser does from ``page`` (default: the same path)."""
    form = get(c, clinic, page or path)
    return c.post(
        path,
        data={**(data or {}), "csrf_token": csrf_from(form.data)},
        base_url=f"http://{clinic.host}",
    )


@pytest.fixture
def password_patient(app, practice):
    """A verified patient of ``practice`` who signs in with :data:`PASSWORD`."""
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    _with_password(app, practice.clinic, patient.id)
    return patient


def _password_sign_in(app, clinic, patient, *, next_path: str | None = None):
    c = new_client(app)
    path = f"/sign-in?next={next_path}" if next_path else "/sign-in"
    resp = post_form(c, path, clinic.host, {"email": patient.email, "password": PASSWORD})
    return c, resp


# -- turning it on -------------------------------------------------------------------------
def test_patient_turns_it_on_with_a_first_code_and_gets_recovery_codes_once(
    app, practice, signed_in, patient
):
    """QR code and key shown; a wrong code keeps it off; the right one turns it on."""
    from saas.fields import open_field
    from saas.models import Patient
    from saas.security.secrets import digest

    clinic = practice.clinic
    profile = get(signed_in, clinic, "/profile").data.decode()
    assert "Set up two-step sign-in" in profile and "Turn off two-step sign-in" not in profile
    # the setup page without a started setup goes back to the profile
    assert get(signed_in, clinic, "/profile/two-step").status_code == 302
    start = _post(signed_in, clinic, "/profile/two-step/start", page="/profile")
    assert start.status_code == 302 and start.location.endswith("/profile/two-step")
    page = get(signed_in, clinic, "/profile/two-step").data.decode()
    assert '<div class="qr" role="img"' in page and "<svg" in page and "<path" in page
    secret = SECRET_RE.search(page).group(1).replace(" ", "")
    enabled_at, sealed, _ = _state(app, clinic, patient.id)
    # sealed with the clinic's key and bound to this patient's row; nothing in force yet
    assert enabled_at is None and secret.encode() not in bytes(sealed)
    with clinic_session(app, clinic.id) as sess:
        row = sess.get(Patient, (clinic.id, patient.id))
        assert open_field(sess, clinic.id, "patients", "totp_secret", row.id, sealed) == secret

    wrong = _post(signed_in, clinic, "/profile/two-step", {"code": "000000"})
    assert wrong.status_code == 422
    assert "That code did not match." in wrong.data.decode()
    assert 'name="code"' in wrong.data.decode() and "<svg" in wrong.data.decode()
    assert _state(app, clinic, patient.id)[0] is None

    done = _post(signed_in, clinic, "/profile/two-step", {"code": _code(secret)})
    assert done.status_code == 200, done.data
    codes = CODES_RE.findall(done.data.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    assert done.headers["Cache-Control"] == "private, no-store"
    enabled_at, _, hashes = _state(app, clinic, patient.id)
    assert enabled_at is not None
    assert hashes == {digest(code) for code in codes}  # only digests are stored
    entries = _audit(app, clinic, "patient.totp_enabled")
    assert [(label, target) for label, target, _ in entries] == [
        (f"patient:{patient.id}", f"patient:{patient.id}")
    ]
    # the codes are never shown again: the setup page now leads back to the profile
    assert get(signed_in, clinic, "/profile/two-step").status_code == 302
    again = get(signed_in, clinic, "/profile").data.decode()
    assert "On since" in again and "Turn off two-step sign-in" in again
    assert not any(code in again for code in codes)


def test_a_second_setup_replaces_an_unconfirmed_secret(app, practice, signed_in, patient):
    """Starting again gives a new secret; the first one's codes no longer confirm it."""
    clinic = practice.clinic
    _post(signed_in, clinic, "/profile/two-step/start", page="/profile")
    first = SECRET_RE.search(get(signed_in, clinic, "/profile/two-step").data.decode()).group(1)
    _post(signed_in, clinic, "/profile/two-step/start", page="/profile")
    second = SECRET_RE.search(get(signed_in, clinic, "/profile/two-step").data.decode()).group(1)
    assert first != second
    stale = _post(signed_in, clinic, "/profile/two-step", {"code": _code(first.replace(" ", ""))})
    assert stale.status_code == 422 and _state(app, clinic, patient.id)[0] is None


# -- signing in ----------------------------------------------------------------------------
def test_password_sign_in_asks_for_the_code_and_keeps_the_form(app, practice, password_patient):
    """No session after the password alone; a wrong code is refused with the form kept."""
    clinic = practice.clinic
    secret, _ = _turn_on(app, clinic, password_patient.id)
    c, resp = _password_sign_in(app, clinic, password_patient, next_path="/profile")
    assert resp.status_code == 302 and resp.location.endswith("/sign-in/code")
    assert not _signed_in_cookie(resp)
    assert get(c, clinic, "/appointments").location.startswith("/sign-in")  # not signed in yet

    page = get(c, clinic, "/sign-in/code").data.decode()
    assert "Enter your sign-in code" in page and 'autocomplete="one-time-code"' in page
    wrong = _post(c, clinic, "/sign-in/code", {"code": "123456"})
    body = wrong.data.decode()
    assert wrong.status_code == 401 and not _signed_in_cookie(wrong)
    assert "There is a problem" in body and "That code did not work." in body
    assert 'name="code"' in body and 'aria-invalid="true"' in body
    assert [label for label, _, _ in _audit(app, clinic, "patient.totp_failed")] == [
        f"patient:{password_patient.id}"
    ]
    empty = _post(c, clinic, "/sign-in/code", {"code": ""})
    assert empty.status_code == 422 and "Enter the code from your authenticator app." in (
        empty.data.decode()
    )

    ok = _post(c, clinic, "/sign-in/code", {"code": _code(secret)})
    assert ok.status_code == 302 and ok.location == "/profile" and _signed_in_cookie(ok)
    assert get(c, clinic, "/appointments").status_code == 200
    sign_ins = _audit(app, clinic, "patient.sign_in")
    assert sign_ins[-1][2] == {"method": "password", "second_factor": "totp"}
    # the pending step is gone: the code page now sends back to sign in
    assert get(c, clinic, "/sign-in/code").location.startswith("/sign-in")


def test_a_code_works_once(app, practice, password_patient):
    """The same code cannot open a second session (the time step is claimed)."""
    clinic = practice.clinic
    secret, _ = _turn_on(app, clinic, password_patient.id)
    code = _code(secret)
    first, _ = _password_sign_in(app, clinic, password_patient)
    assert _post(first, clinic, "/sign-in/code", {"code": code}).status_code == 302
    second, _ = _password_sign_in(app, clinic, password_patient)
    replay = _post(second, clinic, "/sign-in/code", {"code": code})
    assert replay.status_code == 401 and not _signed_in_cookie(replay)


def test_a_recovery_code_signs_in_once(app, practice, password_patient):
    """A recovery code is accepted instead of the app's code, and only once."""
    clinic = practice.clinic
    _, codes = _turn_on(app, clinic, password_patient.id)
    c, _ = _password_sign_in(app, clinic, password_patient)
    ok = _post(c, clinic, "/sign-in/code", {"code": codes[3].upper()})
    assert ok.status_code == 302 and _signed_in_cookie(ok)
    assert len(_state(app, clinic, password_patient.id)[2]) == 9
    c2, _ = _password_sign_in(app, clinic, password_patient)
    again = _post(c2, clinic, "/sign-in/code", {"code": codes[3]})
    assert again.status_code == 401 and not _signed_in_cookie(again)


def test_sign_in_link_asks_for_the_code(app, practice, password_patient):
    """A one-time sign-in link proves the address but the code is still asked for."""
    from saas.models import OutboxMessage

    clinic = practice.clinic
    secret, _ = _turn_on(app, clinic, password_patient.id)
    c = new_client(app)
    post_form(c, "/sign-in/email", clinic.host, {"email": password_patient.email})
    with clinic_session(app, clinic.id) as sess:
        body = sess.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "email.sign_in_link")
        ).all()[-1]["body"]
    token = re.search(r"token=(\S+)", body).group(1)
    page = get(c, clinic, f"/sign-in/link?token={token}")
    resp = c.post(
        "/sign-in/link",
        data={"token": token, "csrf_token": csrf_from(page.data)},
        base_url=f"http://{clinic.host}",
    )
    assert resp.status_code == 302 and resp.location.endswith("/sign-in/code")
    assert not _signed_in_cookie(resp)
    ok = _post(c, clinic, "/sign-in/code", {"code": _code(secret)})
    assert ok.status_code == 302 and _signed_in_cookie(ok)
    assert _audit(app, clinic, "patient.sign_in")[-1][2] == {
        "method": "link",
        "second_factor": "totp",
    }


def test_password_link_does_not_go_round_the_code(app, practice, password_patient):
    """Choosing a new password through the emailed link still asks for the code."""
    from saas.models import OutboxMessage

    clinic = practice.clinic
    secret, _ = _turn_on(app, clinic, password_patient.id)
    c = new_client(app)
    post_form(c, "/forgot-password", clinic.host, {"email": password_patient.email})
    with clinic_session(app, clinic.id) as sess:
        body = sess.scalars(
            select(OutboxMessage.payload).where(OutboxMessage.topic == "email.verify_patient")
        ).all()[-1]["body"]
    token = re.search(r"token=(\S+)", body).group(1)
    resp = post_form(
        c, f"/verify-email?token={token}", clinic.host, {"token": token, "password": PASSWORD}
    )
    assert resp.status_code == 302 and resp.location.endswith("/sign-in/code")
    assert not _signed_in_cookie(resp)
    assert _post(c, clinic, "/sign-in/code", {"code": _code(secret)}).status_code == 302


def test_without_two_step_sign_in_is_one_step(app, practice, password_patient):
    """A patient who never turned it on is signed in by the password alone."""
    c, resp = _password_sign_in(app, practice.clinic, password_patient)
    assert resp.status_code == 302 and resp.location == "/appointments"
    assert _signed_in_cookie(resp)
    assert get(c, practice.clinic, "/sign-in/code").location.startswith("/sign-in")


def test_wrong_codes_lock_the_code_step(app, practice, password_patient):
    """After five wrong codes even the right one is refused (the lockout window)."""
    clinic = practice.clinic
    secret, _ = _turn_on(app, clinic, password_patient.id)
    c, _ = _password_sign_in(app, clinic, password_patient)
    for _ in range(5):
        assert _post(c, clinic, "/sign-in/code", {"code": "000000"}).status_code == 401
    locked = _post(c, clinic, "/sign-in/code", {"code": _code(secret)})
    assert locked.status_code == 401 and not _signed_in_cookie(locked)
    assert "Too many wrong codes." in locked.data.decode()
    assert _audit(app, clinic, "patient.totp_locked")


def test_code_step_is_rate_limited_per_address(app, practice, password_patient):
    """The 11th code within a minute from one address is refused (429)."""
    clinic = practice.clinic
    _turn_on(app, clinic, password_patient.id)
    c, _ = _password_sign_in(app, clinic, password_patient)
    token = csrf_from(get(c, clinic, "/sign-in/code").data)
    statuses = [
        c.post(
            "/sign-in/code",
            data={"code": "000000", "csrf_token": token},
            base_url=f"http://{clinic.host}",
        ).status_code
        for _ in range(11)
    ]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429


def test_api_sign_in_needs_the_code_too(app, practice, password_patient):
    """``POST /api/v1/patients/token`` answers 401 ``code_required`` without the code."""
    clinic = practice.clinic
    secret, _ = _turn_on(app, clinic, password_patient.id)
    c = new_client(app)
    login = {"email": password_patient.email, "password": PASSWORD}

    def token(**extra):
        return c.post(
            "/api/v1/patients/token", json={**login, **extra}, base_url=f"http://{clinic.host}"
        )

    missing = token()
    assert missing.status_code == 401 and missing.get_json()["reason"] == "code_required"
    assert "access_token" not in missing.get_json()
    wrong = token(code="999999")
    assert wrong.status_code == 401 and wrong.get_json()["reason"] == "bad_code"
    ok = token(code=_code(secret))
    assert ok.status_code == 201 and ok.get_json()["access_token"].startswith("simp_")


# -- turning it off ------------------------------------------------------------------------
def test_turning_it_off_asks_for_a_current_code(app, practice, signed_in, patient):
    """A wrong code changes nothing; the right one clears the secret and recovery codes."""
    clinic = practice.clinic
    secret, _ = _turn_on(app, clinic, patient.id)
    page = get(signed_in, clinic, "/profile/two-step/off").data.decode()
    assert "Turn off two-step sign-in" in page
    wrong = _post(signed_in, clinic, "/profile/two-step/off", {"code": "111111"})
    assert wrong.status_code == 401 and "That code did not work." in wrong.data.decode()
    assert _state(app, clinic, patient.id)[0] is not None
    off = _post(signed_in, clinic, "/profile/two-step/off", {"code": _code(secret)})
    assert off.status_code == 302 and off.location.startswith("/profile")
    assert _state(app, clinic, patient.id) == (None, None, set())
    entries = _audit(app, clinic, "patient.totp_disabled")
    assert [(label, data) for label, _, data in entries] == [
        (f"patient:{patient.id}", {"confirmed_with": "totp"})
    ]
    assert "Set up two-step sign-in" in get(signed_in, clinic, "/profile").data.decode()
    # and the password alone signs in again
    _with_password(app, clinic, patient.id)
    _, resp = _password_sign_in(app, clinic, patient)
    assert resp.status_code == 302 and _signed_in_cookie(resp)


def test_erasure_forgets_the_secret_and_recovery_codes(app, practice, patient):
    """Erasing a patient removes their two-step secret and recovery codes."""
    from saas.models import Patient, Tenant
    from saas.records.gdpr import erase_patient

    clinic = practice.clinic
    _turn_on(app, clinic, patient.id)
    with clinic_session(app, clinic.id) as sess:
        removed = erase_patient(
            sess,
            sess.get(Tenant, clinic.id),
            None,
            sess.get(Patient, (clinic.id, patient.id)),
            reason="request",
            reference="t",
        )
    assert removed["two_step_recovery_codes"] == 10
    assert _state(app, clinic, patient.id) == (None, None, set())


# -- who may touch it ----------------------------------------------------------------------
TWO_STEP_PAGES = ("/profile/two-step", "/profile/two-step/off")


def test_staff_session_cannot_touch_a_patients_two_step(app, practice, patient):
    """An owner signed in to the console is anonymous on these pages and changes nothing."""
    from tests.portal.test_portal_access import _staff_client

    clinic = practice.clinic
    secret, _ = _turn_on(app, clinic, patient.id)
    staff = _staff_client(app, clinic)
    for path in (*TWO_STEP_PAGES, "/sign-in/code"):
        resp = get(staff, clinic, path)
        assert resp.status_code == 302 and resp.location.startswith("/sign-in"), path
    token = csrf_from(get(staff, clinic, "/console/").data)
    for path in ("/profile/two-step/off", "/profile/two-step/start", "/sign-in/code"):
        resp = staff.post(
            path,
            data={"csrf_token": token, "code": _code(secret)},
            base_url=f"http://{clinic.host}",
        )
        assert resp.status_code == 302 and resp.location.startswith("/sign-in"), path
        assert not _signed_in_cookie(resp)
    assert _state(app, clinic, patient.id)[0] is not None  # still on


def test_another_clinics_patient_cannot_touch_it(app, practice, patient):
    """Clinic B's patient cookie, or B's half-finished sign-in, does nothing on clinic A."""
    clinic = practice.clinic
    secret, _ = _turn_on(app, clinic, patient.id)
    other = PracticeFactory()
    theirs = PatientFactory(clinic=other.clinic, portal_token=True)
    _with_password(app, other.clinic, theirs.id)
    their_secret, _ = _turn_on(app, other.clinic, theirs.id)
    # B's session cookie on A's host: anonymous
    c = portal_client(app, clinic)
    c.set_cookie(COOKIE, theirs.token, domain=clinic.host)
    for path in TWO_STEP_PAGES:
        resp = get(c, clinic, path)
        assert resp.status_code == 302 and resp.location.startswith("/sign-in"), path
    # B's password step done, its session carried to A's host: the code step is refused
    b_client, resp = _password_sign_in(app, other.clinic, theirs)
    assert resp.location.endswith("/sign-in/code")
    sid = b_client.get_cookie("similia_session", domain=other.clinic.host).value
    b_client.set_cookie("similia_session", sid, domain=clinic.host)
    moved = get(b_client, clinic, "/sign-in/code")
    assert moved.status_code == 302 and moved.location.startswith("/sign-in")
    assert _state(app, clinic, patient.id)[0] is not None
    assert _state(app, other.clinic, theirs.id)[0] is not None
    assert secret != their_secret
