"""Visit prepayments and deposits on the clinic's connected account, through the portal.

The patient books a visit that is paid in advance, is sent to Stripe Checkout on the clinic's
own account (with the platform's fee), and the webhooks confirm the visit, or release its time
when the checkout expires. A clinic's event never confirms another clinic's appointment.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import psycopg

from tests.admin.clinic.console import Console
from tests.client import new_client
from tests.factories import PatientFactory, PracticeFactory
from tests.helpers import csrf_from
from tests.portal.conftest import get, portal_client
from tests.portal.test_booking_pages import review_path

from .conftest import apply_events


def _connect(app, clinic, stripe_server, owner_dsn) -> str:
    owner = Console(app, clinic)
    r = owner.post("/console/billing/connect", form_page="/console/billing/")
    acct = r.location.rsplit("/", 1)[1]
    apply_events(app, new_client(app), stripe_server.onboard(acct))
    return acct


def _practice(app, stripe_server, owner_dsn, *, mode="full", **deposit):
    practice = PracticeFactory(service={"requires_prepayment": True}, rules={"hold_minutes": 60})
    with psycopg.connect(owner_dsn) as conn:
        conn.execute(
            "UPDATE visit_types SET payment_mode = %s, deposit_minor = %s, deposit_percent = %s"
            " WHERE tenant_id = %s",
            (mode, deposit.get("minor"), deposit.get("percent"), practice.clinic.id),
        )
    acct = _connect(app, practice.clinic, stripe_server, owner_dsn)
    return practice, acct


def _book(app, practice, patient, days=4, hhmm="10:00"):
    """Book through the portal's review step; the response (a redirect)."""
    clinic = practice.clinic
    c = portal_client(app, clinic, patient.token)
    start = practice.at(practice.day(days), hhmm)
    page = get(c, clinic, review_path(practice, start))
    assert page.status_code == 200
    r = c.post(
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
    return c, r


def _appt(owner_dsn, clinic):
    with psycopg.connect(owner_dsn) as conn:
        return conn.execute(
            "SELECT a.id, a.status, p.status, p.amount_minor, p.application_fee_minor, p.attempt"
            " FROM appointments a LEFT JOIN visit_payments p"
            "   ON p.tenant_id = a.tenant_id AND p.appointment_id = a.id"
            " WHERE a.tenant_id = %s ORDER BY p.attempt DESC NULLS LAST LIMIT 1",
            (clinic.id,),
        ).fetchone()


def test_prepaid_visit_paid_is_confirmed_with_a_receipt(app, stripe_server, sc, owner_dsn):
    """Book → Checkout on the clinic's account with our fee → paid → confirmed, receipt, report."""
    practice, acct = _practice(app, stripe_server, owner_dsn)
    clinic = practice.clinic
    patient = PatientFactory(clinic=clinic, portal_token=True)
    c, r = _book(app, practice, patient)
    assert r.status_code == 303 and r.location.startswith(stripe_server.base + "/checkout/")
    cs_id = urlsplit(r.location).path.rsplit("/", 1)[1]
    session = sc.v1.checkout.sessions.retrieve(cs_id, options={"stripe_account": acct})
    assert session.amount_total == 6000 and session.currency == "eur"
    appt_id, status, pay_status, amount, fee, attempt = _appt(owner_dsn, clinic)
    assert (status, pay_status, amount, fee, attempt) == ("held", "open", 6000, 120, 1)
    assert session.metadata["appointment_id"] == str(appt_id)
    outcomes = apply_events(app, new_client(app), stripe_server.complete(cs_id))
    assert outcomes[0] == "applied (paid)" and outcomes[1] == "already paid"
    assert _appt(owner_dsn, clinic)[1:3] == ("confirmed", "paid")
    pi = stripe_server.object(session.id)["payment_intent"]
    assert stripe_server.object(pi)["application_fee_amount"] == 120
    page = get(c, clinic, f"/appointments/{appt_id}").get_data(as_text=True)
    assert "Paid" in page and "Receipt" in page
    receipt = get(c, clinic, f"/appointments/{appt_id}/receipt")
    assert receipt.status_code == 200 and "€60" in receipt.get_data(as_text=True)
    # another patient of the clinic cannot see the receipt
    other = PatientFactory(clinic=clinic, portal_token=True)
    assert get(portal_client(app, clinic, other.token), clinic, f"/appointments/{appt_id}/receipt").status_code == 404
    # the console's revenue report adds it up
    owner = Console(app, clinic)
    today = dt.date.today()
    report = owner.text(
        f"/console/reports/revenue?from={(today - dt.timedelta(days=1)).isoformat()}&to={(today + dt.timedelta(days=1)).isoformat()}"
    )
    assert "60.00" in report


def test_deposit_by_percent(app, stripe_server, sc, owner_dsn):
    """A 30% deposit of a 60.00 visit asks 18.00."""
    practice, acct = _practice(app, stripe_server, owner_dsn, mode="deposit", percent=30)
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    _, r = _book(app, practice, patient)
    cs_id = urlsplit(r.location).path.rsplit("/", 1)[1]
    assert sc.v1.checkout.sessions.retrieve(cs_id, options={"stripe_account": acct}).amount_total == 1800


def test_declined_then_paid_on_a_second_attempt(app, stripe_server, owner_dsn):
    """A declined card leaves the time held; paying again uses a new attempt (a new key)."""
    practice, acct = _practice(app, stripe_server, owner_dsn)
    clinic = practice.clinic
    patient = PatientFactory(clinic=clinic, portal_token=True)
    c, r = _book(app, practice, patient)
    cs1 = urlsplit(r.location).path.rsplit("/", 1)[1]
    outcomes = apply_events(app, new_client(app), stripe_server.complete(cs1, "declined"))
    assert outcomes == ["applied (failed)"]
    appt_id, status, pay_status, *_ = _appt(owner_dsn, clinic)
    assert (status, pay_status) == ("held", "failed")
    page = get(c, clinic, f"/appointments/{appt_id}")
    assert "Pay now" in page.get_data(as_text=True)
    again = c.post(
        f"/appointments/{appt_id}/pay",
        data={"csrf_token": csrf_from(page.data)},
        base_url=f"http://{clinic.host}",
    )
    assert again.status_code == 303
    cs2 = urlsplit(again.location).path.rsplit("/", 1)[1]
    assert cs2 != cs1
    keys = {q["idempotency_key"] for q in stripe_server.requests() if q["path"] == "/v1/checkout/sessions" and str(appt_id) in (q["idempotency_key"] or "")}
    assert keys == {f"similia:visit:{appt_id}:1", f"similia:visit:{appt_id}:2"}
    apply_events(app, new_client(app), stripe_server.complete(cs2))
    assert _appt(owner_dsn, clinic)[1:3] == ("confirmed", "paid")


def test_expired_checkout_releases_the_time(app, stripe_server, owner_dsn):
    """The checkout expires unpaid: the hold ends and the time is free again."""
    practice, _ = _practice(app, stripe_server, owner_dsn)
    clinic = practice.clinic
    patient = PatientFactory(clinic=clinic, portal_token=True)
    _, r = _book(app, practice, patient)
    cs = urlsplit(r.location).path.rsplit("/", 1)[1]
    assert apply_events(app, new_client(app), stripe_server.expire(cs)) == ["applied (expired)"]
    assert _appt(owner_dsn, clinic)[1:3] == ("expired", "expired")
    # another patient can book the same time now
    other = PatientFactory(clinic=clinic, portal_token=True)
    _, r2 = _book(app, practice, other)
    assert r2.status_code == 303


def test_clinic_a_payment_event_cannot_confirm_clinic_b(app, stripe_server, owner_dsn):
    """An event from A's connected account carrying B's appointment is ignored."""
    from billing.stripe_server import sign

    a, _ = _practice(app, stripe_server, owner_dsn)
    b, _ = _practice(app, stripe_server, owner_dsn)
    _, ra = _book(app, a, PatientFactory(clinic=a.clinic, portal_token=True))
    _, rb = _book(app, b, PatientFactory(clinic=b.clinic, portal_token=True))
    cs_a = urlsplit(ra.location).path.rsplit("/", 1)[1]
    b_id = _appt(owner_dsn, b.clinic)[0]
    with psycopg.connect(owner_dsn) as conn:
        b_pay = conn.execute(
            "SELECT id FROM visit_payments WHERE tenant_id = %s", (b.clinic.id,)
        ).fetchone()[0]
    events = stripe_server.complete(cs_a)
    a_meta = stripe_server.object(cs_a)["metadata"]
    forged = []
    for ev in events:
        payload = (
            ev["payload"]
            .replace(a_meta["tenant_id"], str(b.clinic.id))
            .replace(a_meta["appointment_id"], str(b_id))
            .replace(a_meta["payment_id"], str(b_pay))
            .replace(ev["id"], ev["id"] + "x")
        )
        forged.append({**ev, "id": ev["id"] + "x", "payload": payload,
                       "signature": sign(payload, stripe_server.connect_secret)})
    outcomes = apply_events(app, new_client(app), forged)
    assert all(o.startswith("ignored") for o in outcomes), outcomes
    assert _appt(owner_dsn, b.clinic)[1:3] == ("held", "open")


def test_clinic_without_ready_account_keeps_pay_at_clinic(app, owner_dsn):
    """No connected account: the booking stays held with the clinic's own instructions."""
    practice = PracticeFactory(service={"requires_prepayment": True})
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    _, r = _book(app, practice, patient)
    assert r.status_code == 302 and "/appointments/" in r.location
    assert _appt(owner_dsn, practice.clinic)[1:3] == ("held", None)


def test_console_sets_the_payment_mode_per_visit_type(app, owner_dsn):
    """The visit type page sets a deposit; a deposit without amount or percent is refused."""
    practice = PracticeFactory()
    owner = Console(app, practice.clinic)
    path = f"/console/practice/visit-types/{practice.service_id}"
    page = owner.text(path)
    assert "Payment when booking" in page
    with psycopg.connect(owner_dsn) as conn:
        vt = conn.execute(
            "SELECT name, duration_minutes FROM visit_types WHERE id = %s", (practice.service_id,)
        ).fetchone()
    base = {"name": vt[0], "duration_minutes": vt[1], "price": "60", "mode": "in_person",
            "patients": "any", "practitioner_ids": practice.practitioner_id,
            "location_ids": practice.location_id}
    bad = owner.post(path, {**base, "payment_mode": "deposit"}, form_page=path)
    assert bad.status_code == 422 and "Enter the deposit" in bad.get_data(as_text=True)
    ok = owner.post(path, {**base, "payment_mode": "deposit", "deposit_percent": "25"}, form_page=path)
    assert ok.status_code == 302, ok.get_data(as_text=True)[:500]
    with psycopg.connect(owner_dsn) as conn:
        row = conn.execute(
            "SELECT payment_mode, deposit_percent, requires_prepayment FROM visit_types WHERE id = %s",
            (practice.service_id,),
        ).fetchone()
    assert row == ("deposit", 25, True)


def test_patient_page_shows_what_awaits_payment_and_what_was_paid(app, stripe_server, owner_dsn):
    """Held until paid → "awaiting €60"; paid → "paid online €60"; another clinic sees nothing."""
    practice, acct = _practice(app, stripe_server, owner_dsn)
    clinic = practice.clinic
    patient = PatientFactory(clinic=clinic, portal_token=True)
    desk = Console(app, clinic, "receptionist")
    path = f"/console/patients/{patient.id}"
    assert "No online payments." in desk.text(path)
    _c, r = _book(app, practice, patient)
    cs_id = urlsplit(r.location).path.rsplit("/", 1)[1]
    page = desk.text(path)
    assert "Awaiting the patient's payment</dt><dd>€60</dd>" in page
    assert "Paid online</dt><dd>€0</dd>" in page
    apply_events(app, new_client(app), stripe_server.complete(cs_id))
    page = desk.text(path)
    assert "Nothing outstanding" in page and "Paid online</dt><dd>€60</dd>" in page
    # another clinic's staff cannot open this patient at all
    other = PracticeFactory()
    assert Console(app, other.clinic, "owner").get(path).status_code == 404
