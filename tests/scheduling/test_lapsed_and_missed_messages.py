"""The lapsed-hold and no-show messages, written with the change, are now emailed.

A completed visit tells the patient nothing: its row is skipped with the reason.
"""

from __future__ import annotations

import datetime as dt
import uuid

from saas.db import tenant_session
from saas.models import Tenant
from saas.scheduling.holds import expire_holds
from tests.helpers import text_of
from tests.scheduling.conftest import check
from tests.scheduling.test_lifecycle_api import _move
from tests.scheduling.test_notifications import _mail, _patient_with_email


def test_lapsed_hold_and_no_show_are_emailed(app, make_practice, worker, mail_dir, sql):
    p = make_practice(rules={"late_cancellation_fee_minor": 3000})
    email = f"lapsed-{uuid.uuid4().hex[:8]}@example.org"
    token = _patient_with_email(app, p.clinic, email)
    visit = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "12:00")), token=token),
        201,
    )
    _move(sql, visit["id"], dt.datetime.now(dt.UTC) - dt.timedelta(hours=3))
    check(p.owner.post(f"/api/v1/appointments/{visit['id']}/no-show"), 200)
    booked, missed = _mail(mail_dir, email, 2)
    assert missed["Subject"].strip().startswith("Missed: ")
    body = text_of(missed)
    assert "We missed you" in body and "fee of" in body and "/book" in body
    rows = sql(
        "SELECT state FROM outbox WHERE tenant_id = %s AND topic = 'appointment.no_show'",
        p.clinic.id,
    )
    assert rows == [("sent",)]


def test_lapsed_hold_is_emailed(app, make_practice, worker, mail_dir, sql):
    p = make_practice(service={"requires_prepayment": True})
    email = f"hold-{uuid.uuid4().hex[:8]}@example.org"
    token = _patient_with_email(app, p.clinic, email)
    check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=token), 201
    )
    sql(
        "UPDATE appointments SET hold_expires_at = now() - interval '1 second'"
        " WHERE tenant_id = %s",
        p.clinic.id,
    )
    with app.app_context(), tenant_session(p.clinic.id) as sess:
        assert expire_holds(sess, sess.get(Tenant, p.clinic.id))
    held, lapsed = _mail(mail_dir, email, 2)
    assert lapsed["Subject"].strip().startswith("Not booked: ")
    assert "was not paid in time" in text_of(lapsed)
