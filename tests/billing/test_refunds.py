"""Refunds of visit payments: by the clinic's policy and by staff, once each, reconciled.

Paid visits go through the portal and the local Stripe test server as in
``test_visit_payments``; refunds are decided in the request or the cancelling verb, sent to
Stripe by the ``send_refund`` job (run here directly, as the worker does) with the refund's
id as idempotency key, and reconciled from ``refund.*`` and ``charge.refunded`` webhooks.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import urlsplit

import psycopg
from sqlalchemy import select

from billing.gateway import PaymentsUnavailable
from saas.actors import Actor
from saas.db import tenant_session
from saas.models import Patient, Tenant, User
from saas.scheduling.queries import get_appointment_in_tenant
from saas.scheduling.services import cancel_appointment, mark_no_show
from tests.admin.clinic.console import Console
from tests.client import Api, check, new_client
from tests.factories import ClinicFactory, PatientFactory, StaffFactory
from tests.helpers import csrf_from
from tests.portal.conftest import get, portal_client

from .conftest import apply_events
from .test_visit_payments import _book, _practice


def run_refund(tenant_id: str, refund_id: str):
    """The send_refund job's body (workers need REDIS_URL, set once the session started)."""
    from workers.billing import run_refund as run

    return run(tenant_id, refund_id)


def _rows(owner_dsn, sql, *params):
    with psycopg.connect(owner_dsn) as conn:
        return conn.execute(sql, params).fetchall()


def _paid_visit(app, stripe_server, owner_dsn, *, fee_minor=0):
    """A prepaid 60.00 visit, booked and paid; (practice, appointment id, payment id, pi id)."""
    practice, acct = _practice(app, stripe_server, owner_dsn)
    if fee_minor:
        check(
            practice.owner.send(
                "PUT", "/api/v1/practice/booking-rules", {"late_cancellation_fee_minor": fee_minor}
            ),
            200,
        )
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    _, r = _book(app, practice, patient)
    cs_id = urlsplit(r.location).path.rsplit("/", 1)[1]
    apply_events(app, new_client(app), stripe_server.complete(cs_id))
    ((appt_id, pay_id, pi_id, status),) = _rows(
        owner_dsn,
        "SELECT appointment_id, id, payment_intent_id, status FROM visit_payments"
        " WHERE tenant_id = %s",
        practice.clinic.id,
    )
    assert status == "paid"
    practice.patient = patient  # the payer, for their portal pages
    return practice, appt_id, pay_id, pi_id


def _refunds(owner_dsn, clinic):
    return _rows(
        owner_dsn,
        "SELECT id, amount_minor, kind, status, stripe_refund_id, reason FROM refunds"
        " WHERE tenant_id = %s ORDER BY created_at, id",
        clinic.id,
    )


def _payment(owner_dsn, pay_id):
    return _rows(
        owner_dsn,
        "SELECT status, amount_refunded_minor FROM visit_payments WHERE id = %s",
        pay_id,
    )[0]


def _send_all(app, owner_dsn, clinic):
    """Run the send_refund job for every refund of the clinic (as the worker would)."""
    with app.app_context():
        for refund_id, *_ in _refunds(owner_dsn, clinic):
            run_refund(str(clinic.id), str(refund_id))


def _stripe_refunds(stripe_server, pi_id):
    """Refunds the test server made for a payment intent (one refund.created each)."""
    return [
        json.loads(ev["payload"])["data"]["object"]
        for ev in stripe_server.events("refund.created")
        if json.loads(ev["payload"])["data"]["object"]["payment_intent"] == pi_id
    ]


def _act(app, clinic, appt_id, verb, **kw):
    with app.app_context(), tenant_session(clinic.id) as sess:
        tenant = sess.get(Tenant, clinic.id)
        appt = get_appointment_in_tenant(sess, clinic.id, appt_id, for_update=True)
        patient = sess.get(Patient, (clinic.id, appt.patient_id))
        actor = Actor.for_patient(patient)
        if verb == "cancel":
            cancel_appointment(sess, tenant, actor, appt, **kw)
        else:
            owner = sess.scalars(
                select(User).where(User.tenant_id == clinic.id, User.role == "owner")
            ).first()
            mark_no_show(sess, tenant, Actor.for_staff(owner), appt, **kw)
        return appt.start_at


def _revenue(app, clinic) -> str:
    today = dt.date.today()
    return Console(app, clinic).text(
        f"/console/reports/revenue?from={(today - dt.timedelta(days=1)).isoformat()}"
        f"&to={(today + dt.timedelta(days=1)).isoformat()}"
    )


def test_cancel_inside_the_rules_refunds_in_full_once(app, stripe_server, owner_dsn):
    """Cancelled 4 days ahead (cutoff 24 h): all 60.00 back, one Stripe refund, reconciled."""
    practice, appt_id, pay_id, pi_id = _paid_visit(app, stripe_server, owner_dsn, fee_minor=1500)
    clinic = practice.clinic
    _act(app, clinic, appt_id, "cancel")
    ((refund_id, amount, kind, status, stripe_id, reason),) = _refunds(owner_dsn, clinic)
    assert (amount, kind, status, stripe_id) == (6000, "policy", "pending", None)
    assert "in full" in reason
    assert _payment(owner_dsn, pay_id) == ("refunded", 6000)
    _send_all(app, owner_dsn, clinic)
    _send_all(app, owner_dsn, clinic)  # a second run of the job sends nothing
    made = _stripe_refunds(stripe_server, pi_id)
    assert [r["amount"] for r in made] == [6000]
    assert made[0]["metadata"]["refund_id"] == str(refund_id)
    keys = {r["idempotency_key"] for r in stripe_server.requests() if r["path"] == "/v1/refunds"}
    assert f"similia:refund:{refund_id}" in keys
    assert _refunds(owner_dsn, clinic)[0][3:5] == ("succeeded", made[0]["id"])
    # the webhooks agree; charge.refunded reports the whole amount
    events = stripe_server.events("refund.created", made[0]["id"]) + [
        ev
        for ev in stripe_server.events("charge.refunded")
        if json.loads(ev["payload"])["data"]["object"]["payment_intent"] == pi_id
    ]
    outcomes = apply_events(app, new_client(app), events)
    assert outcomes == ["applied (refund succeeded)", "applied (matches)"]
    assert _payment(owner_dsn, pay_id) == ("refunded", 6000)
    actions = [
        a
        for (a,) in _rows(
            owner_dsn,
            "SELECT action FROM audit_log WHERE tenant_id = %s AND action LIKE 'payment.refund%%'"
            " ORDER BY seq",
            clinic.id,
        )
    ]
    assert actions == ["payment.refund_requested", "payment.refund_succeeded"]
    assert "Follow-up consultation" in (page := _revenue(app, clinic)) and "60.00" not in page


def test_the_patient_is_told_what_goes_back_before_and_after_cancelling(
    app, stripe_server, owner_dsn
):
    """The cancel page states the refund; cancelling on it says so again and makes it."""
    from billing.refunds import policy_refund_preview

    practice, appt_id, _, _ = _paid_visit(app, stripe_server, owner_dsn, fee_minor=1500)
    clinic = practice.clinic

    def preview(fee):
        with app.app_context(), tenant_session(clinic.id) as sess:
            found = policy_refund_preview(sess, sess.get(Tenant, clinic.id), appt_id, fee)
            return found and (found[0], found[1].lower())

    # the same split as the refund itself: a fee is kept first, one larger than paid keeps all
    assert preview(0) == (6000, "eur") and preview(1500) == (4500, "eur")
    assert preview(9000) == (0, "eur")
    client = portal_client(app, clinic, practice.patient.token)
    page = get(client, clinic, f"/appointments/{appt_id}/cancel").get_data(as_text=True)
    told = re.search(r"<p data-refund-preview>(.*?)</p>", page, re.S)
    assert told is not None and "€60" in told.group(1)
    assert "goes back to your card" in told.group(1)
    done = client.post(
        f"/appointments/{appt_id}/cancel",
        base_url=f"http://{clinic.host}",
        data={"csrf_token": csrf_from(page), "reason": "Feeling better"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "is on its way back to your card" in done and "€60" in done
    ((_, amount, kind, _, _, _),) = _refunds(owner_dsn, clinic)
    assert (amount, kind) == (6000, "policy")  # what the page said is what was refunded
    assert preview(0) is None  # nothing paid is left to refund


def test_late_cancellation_keeps_the_fee_and_refunds_the_rest(app, stripe_server, owner_dsn):
    """Inside the cutoff the patient's cancellation keeps the 15.00 fee; 45.00 go back."""
    practice, appt_id, pay_id, pi_id = _paid_visit(app, stripe_server, owner_dsn, fee_minor=1500)
    clinic = practice.clinic
    start = _rows(owner_dsn, "SELECT start_at FROM appointments WHERE id = %s", appt_id)[0][0]
    _act(app, clinic, appt_id, "cancel", now=start - dt.timedelta(hours=2))
    ((_, amount, kind, _, _, reason),) = _refunds(owner_dsn, clinic)
    assert (amount, kind) == (4500, "policy") and "Late cancellation" in reason
    assert _payment(owner_dsn, pay_id) == ("paid", 4500)
    _send_all(app, owner_dsn, clinic)
    assert [r["amount"] for r in _stripe_refunds(stripe_server, pi_id)] == [4500]
    assert "15.00" in _revenue(app, clinic)  # the fee kept is the clinic's revenue
    # the patient's receipt lists the refund: amount, and where it stands
    page = get(portal_client(app, clinic, practice.patient.token), clinic,
               f"/appointments/{appt_id}/receipt").get_data(as_text=True)  # fmt: skip
    refund = re.search(r'<li data-refund="(\w+)">(.*?)</li>', page, re.S)
    assert refund is not None and refund.group(1) == "succeeded"
    assert "€45" in refund.group(2) and "refunded to your card" in refund.group(2)
    assert "€60" in page  # what was paid stays on the receipt


def test_no_show_keeps_the_fee_and_refunds_the_rest(app, stripe_server, owner_dsn):
    """A no-show keeps the configured fee (15.00) and refunds 45.00."""
    practice, appt_id, pay_id, pi_id = _paid_visit(app, stripe_server, owner_dsn, fee_minor=1500)
    clinic = practice.clinic
    start = _rows(owner_dsn, "SELECT start_at FROM appointments WHERE id = %s", appt_id)[0][0]
    _act(app, clinic, appt_id, "no_show", now=start + dt.timedelta(minutes=30))
    ((_, amount, kind, _, _, reason),) = _refunds(owner_dsn, clinic)
    assert (amount, kind) == (4500, "policy") and reason.startswith("No-show")
    _send_all(app, owner_dsn, clinic)
    assert [r["amount"] for r in _stripe_refunds(stripe_server, pi_id)] == [4500]


def test_no_refund_without_an_online_payment(app, stripe_server, owner_dsn):
    """A no-show fee at least as large as the payment keeps everything: no refund row."""
    practice, appt_id, pay_id, _ = _paid_visit(app, stripe_server, owner_dsn, fee_minor=9000)
    start = _rows(owner_dsn, "SELECT start_at FROM appointments WHERE id = %s", appt_id)[0][0]
    _act(app, practice.clinic, appt_id, "no_show", now=start + dt.timedelta(minutes=30))
    assert _refunds(owner_dsn, practice.clinic) == []
    assert _payment(owner_dsn, pay_id) == ("paid", 0)


def test_staff_refund_partly_on_the_console_and_the_rest_through_the_api(
    app, stripe_server, owner_dsn
):
    """Owner refunds 20.00 on the page, then 40.00 by API; over-refund and bad input refused."""
    practice, appt_id, pay_id, pi_id = _paid_visit(app, stripe_server, owner_dsn)
    clinic = practice.clinic
    owner = Console(app, clinic)
    appt_page = owner.text(f"/console/calendar/appointments/{appt_id}")
    assert f"/console/payments/{pay_id}/refund" in appt_page
    path = f"/console/payments/{pay_id}/refund"
    page = owner.text(path)
    assert "€60" in page and 'for="amount"' in page
    # too much: the error summary names the field, the input stays, nothing is written
    r = owner.client.post(
        path,
        data={"csrf_token": csrf_from(page.encode()), "amount": "70.00", "reason": "Goodwill"},
        base_url=owner.base,
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and "error-summary" in html and "At most 6000" in html
    assert 'value="70.00"' in html and "Goodwill" in html
    r = owner.client.post(
        path,
        data={"csrf_token": csrf_from(page.encode()), "amount": "20,5x", "reason": "Goodwill"},
        base_url=owner.base,
    )
    assert r.status_code == 422 and "Enter an amount like 25.00." in r.get_data(as_text=True)
    r = owner.client.post(path, data={"amount": "20.00", "reason": "x"}, base_url=owner.base)
    assert r.status_code == 400  # no CSRF token
    assert _refunds(owner_dsn, clinic) == []
    r = owner.client.post(
        path,
        data={"csrf_token": csrf_from(page.encode()), "amount": "20.00", "reason": "Goodwill"},
        base_url=owner.base,
    )
    assert r.status_code == 302 and r.location.endswith(f"/console/calendar/appointments/{appt_id}")
    ((_, amount, kind, status, _, reason),) = _refunds(owner_dsn, clinic)
    assert (amount, kind, status, reason) == (2000, "staff", "pending", "Goodwill")

    api = Api(app, clinic, clinic.owner.sign_in())
    url = f"/api/v1/payments/{pay_id}/refunds"
    over = check(api.post(url, {"amount_minor": 4001, "reason": "Rest"}), 422)
    assert "amount_minor" in over["errors"]["json"]
    assert (
        "amount_minor"
        in check(api.post(url, {"amount_minor": "40", "reason": "x"}), 422)["errors"]["json"]
    )
    assert "reason" in check(api.post(url, {"amount_minor": 100}), 422)["errors"]["json"]
    assert len(_refunds(owner_dsn, clinic)) == 1
    made = check(api.post(url, {"amount_minor": 4000, "reason": "Rest"}), 201)
    assert (made["amount_minor"], made["kind"], made["status"]) == (4000, "staff", "pending")
    assert [r["amount_minor"] for r in check(api.get(url), 200)] == [2000, 4000]
    assert _payment(owner_dsn, pay_id) == ("refunded", 6000)
    _send_all(app, owner_dsn, clinic)
    assert sorted(r["amount"] for r in _stripe_refunds(stripe_server, pi_id)) == [2000, 4000]
    assert "Nothing is left to refund." in owner.text(path)
    audit = _rows(
        owner_dsn,
        "SELECT actor_label, data->>'reason' FROM audit_log WHERE tenant_id = %s"
        " AND action = 'payment.refund_requested' ORDER BY seq",
        clinic.id,
    )
    assert [a[1] for a in audit] == ["Goodwill", "Rest"]


def test_refunds_rbac_and_another_clinics_payment(app, stripe_server, owner_dsn):
    """Receptionists may not refund (403); another clinic's payment id is 404 everywhere."""
    practice, appt_id, pay_id, _ = _paid_visit(app, stripe_server, owner_dsn)
    clinic = practice.clinic
    desk = StaffFactory(clinic=clinic, role="receptionist")
    url = f"/api/v1/payments/{pay_id}/refunds"
    check(desk.api().post(url, {"amount_minor": 100, "reason": "x"}), 403)
    assert (
        Console(app, clinic, "receptionist").get(f"/console/payments/{pay_id}/refund").status_code
        == 403
    )
    admin = StaffFactory(clinic=clinic, role="admin")
    check(admin.api().get(url), 200)
    b = ClinicFactory()
    b_api = Api(app, b, b.owner.sign_in())
    check(b_api.post(url, {"amount_minor": 100, "reason": "x"}), 404)
    check(b_api.get(url), 404)
    assert Console(app, b).get(f"/console/payments/{pay_id}/refund").status_code == 404
    check(Api(app, clinic, clinic.owner.sign_in()).get("/api/v1/payments/not-a-uuid/refunds"), 404)
    assert _refunds(owner_dsn, clinic) == []


def _send_until_done(app, clinic, owner_dsn, refund_id: str, tries: int = 4) -> int:
    """Run the job until Stripe took the refund (as its retries do); how many runs failed.

    A real worker may run the same job meanwhile: the refund's row lock and key make that
    harmless, which is what this test shows.
    """
    failed = 0
    for _ in range(tries):
        try:
            with app.app_context():
                run_refund(str(clinic.id), refund_id)
        except PaymentsUnavailable:
            failed += 1
        done = _rows(owner_dsn, "SELECT stripe_refund_id FROM refunds WHERE id = %s", refund_id)
        if done[0][0]:
            return failed
    raise AssertionError("the refund was never sent")


def test_retry_after_server_errors_uses_the_same_key_and_refunds_once(
    app, stripe_server, owner_dsn
):
    """Stripe answering 500 (before and after doing it): the same key, one refund."""
    practice, appt_id, pay_id, pi_id = _paid_visit(app, stripe_server, owner_dsn)
    clinic = practice.clinic
    api = Api(app, clinic, clinic.owner.sign_in())
    url = f"/api/v1/payments/{pay_id}/refunds"
    # three 500s before doing anything: the library's two retries fail too, the job fails
    # and its next run sends the same request again
    stripe_server.fault("/v1/refunds", "500_before", count=3)
    try:
        first = check(api.post(url, {"amount_minor": 1000, "reason": "One"}), 201)
        _send_until_done(app, clinic, owner_dsn, first["id"])
    finally:
        stripe_server.clear_faults()
    # a 500 after Stripe did it: the library retries with the same key and gets the replay
    stripe_server.fault("/v1/refunds", "500", count=1)
    try:
        second = check(api.post(url, {"amount_minor": 500, "reason": "Two"}), 201)
        _send_until_done(app, clinic, owner_dsn, second["id"])
    finally:
        stripe_server.clear_faults()
    assert sorted(r["amount"] for r in _stripe_refunds(stripe_server, pi_id)) == [500, 1000]
    for made, at_least, replayed in ((first, 4, False), (second, 2, True)):
        seen = [
            r
            for r in stripe_server.requests()
            if r["idempotency_key"] == f"similia:refund:{made['id']}"
        ]
        assert len(seen) >= at_least and {r["path"] for r in seen} == {"/v1/refunds"}
        assert any(r["replayed"] for r in seen) is replayed
    assert [r[3] for r in _refunds(owner_dsn, clinic)] == ["succeeded", "succeeded"]
    assert _payment(owner_dsn, pay_id) == ("paid", 1500)


def test_failed_refund_reported_by_webhook_gives_the_amount_back(app, stripe_server, owner_dsn):
    """refund.updated (failed): the refund fails, its amount can be refunded again; old events are stale."""
    practice, appt_id, pay_id, pi_id = _paid_visit(app, stripe_server, owner_dsn)
    clinic = practice.clinic
    api = Api(app, clinic, clinic.owner.sign_in())
    made = check(
        api.post(f"/api/v1/payments/{pay_id}/refunds", {"amount_minor": 6000, "reason": "All"}), 201
    )
    _send_all(app, owner_dsn, clinic)
    stripe_id = _refunds(owner_dsn, clinic)[0][4]
    created = stripe_server.events("refund.created", stripe_id)
    failed = stripe_server.refund_status(stripe_id, "failed")
    client = new_client(app)
    assert apply_events(app, client, failed) == ["applied (refund failed)"]
    assert apply_events(app, client, created) == ["stale"]
    assert _refunds(owner_dsn, clinic)[0][3] == "failed"
    assert _payment(owner_dsn, pay_id) == ("paid", 0)
    assert made["id"] == str(_refunds(owner_dsn, clinic)[0][0])
    check(
        api.post(f"/api/v1/payments/{pay_id}/refunds", {"amount_minor": 6000, "reason": "Again"}),
        201,
    )
