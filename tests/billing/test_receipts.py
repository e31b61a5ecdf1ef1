"""The emailed receipt of a visit paid online: written with the payment, once, linking to its page."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg

from saas.db import tenant_session
from saas.models import OutboxMessage
from tests.client import new_client
from tests.factories import PatientFactory
from tests.portal.conftest import get

from .conftest import apply_events
from .test_visit_payments import _book, _practice


def test_paid_visit_gets_one_emailed_receipt_linking_to_the_receipt_page(
    app, stripe_server, owner_dsn
):
    """checkout.session.completed → confirmed + receipt message; replays add no second one."""
    practice, _ = _practice(app, stripe_server, owner_dsn)
    clinic = practice.clinic
    patient = PatientFactory(clinic=clinic, portal_token=True)
    c, r = _book(app, practice, patient)
    cs_id = urlsplit(r.location).path.rsplit("/", 1)[1]
    events = stripe_server.complete(cs_id)
    client = new_client(app)
    apply_events(app, client, events)
    apply_events(app, client, events)  # replayed: no second receipt
    with psycopg.connect(owner_dsn) as conn:
        rows = conn.execute(
            "SELECT id, topic, payload FROM outbox WHERE tenant_id = %s"
            " AND topic IN ('payment.receipt', 'appointment.confirmed') ORDER BY created_at",
            (clinic.id,),
        ).fetchall()
    topics = sorted(t for _, t, _ in rows)
    assert topics == ["appointment.confirmed", "payment.receipt"]
    receipt_id, _, payload = next(r for r in rows if r[1] == "payment.receipt")
    assert (payload["amount_minor"], payload["currency"], payload["kind"]) == (6000, "EUR", "full")
    assert "email" not in payload and "to" not in payload  # no contact data in the outbox
    from workers.notifications import Email, prepare

    with app.app_context(), tenant_session(clinic.id) as sess:
        email = prepare(sess, sess.get(OutboxMessage, (clinic.id, receipt_id)))
    assert isinstance(email, Email)
    assert email.subject.startswith("Receipt: €60 for Follow-up consultation")
    link = next(line for line in email.body.splitlines() if line.endswith("/receipt"))
    page = get(c, clinic, urlsplit(link).path)
    assert page.status_code == 200 and "€60" in page.get_data(as_text=True)
