"""The demo clinic of ``make run``: a newcomer books and pays the prepaid visit, end to end.

The seed (:mod:`tenants.demo`, :mod:`billing.demo`) leaves the demo clinic with a ready
Connect account on the local Stripe test server and an "Acute visit" paid in full online.
A new patient books it on the portal, pays on the test server's hosted checkout page, the
webhook confirms it, "My visits" shows it paid with its receipt, and the owner's revenue
report counts it. The visit is then cancelled by staff (refunded in full), so the demo's
seeded bookings stay as seeded. (Here, after ``test_demo.py``, which seeds the demo first.)
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlsplit

import psycopg
import requests

from tests.admin.clinic.console import Console
from tests.client import new_client
from tests.factories import PatientFactory
from tests.factories.clinic import Clinic
from tests.helpers import csrf_from
from tests.portal.conftest import get, portal_client

from ..billing import conftest as billing_fixtures
from ..billing.conftest import apply_events

#: the local Stripe test server (a fixture of the billing tests)
stripe_server = billing_fixtures.stripe_server


def _demo(app, owner_dsn) -> Clinic:
    from tenants import demo

    with app.test_request_context("/", base_url="http://localhost"):
        demo.seed_demo()
    with psycopg.connect(owner_dsn) as conn:
        tid, name, tz = conn.execute(
            "SELECT id, name, timezone FROM tenants WHERE slug = 'demo'"
        ).fetchone()
    return Clinic(id=tid, slug="demo", name=name, timezone=tz, host="demo.localhost", owner=None)


def test_newcomer_books_and_pays_the_demo_prepaid_visit(app, stripe_server, owner_dsn):
    """Seeded demo → portal booking → hosted checkout → confirmed, receipt, revenue report."""
    clinic = _demo(app, owner_dsn)
    with psycopg.connect(owner_dsn) as conn:
        ready, acute = conn.execute(
            "SELECT c.charges_enabled AND c.details_submitted, v.id FROM connect_accounts c"
            " JOIN visit_types v ON v.tenant_id = c.tenant_id AND v.name = 'Acute visit'"
            " WHERE c.tenant_id = %s AND v.payment_mode = 'full'",
            (clinic.id,),
        ).fetchone()
    assert ready
    newcomer = PatientFactory(clinic=clinic, portal_token=True)
    c = portal_client(app, clinic, newcomer.token)
    today = dt.date.today()
    slots = get(
        c,
        clinic,
        "/api/v1/slots",
        query_string={
            "service_id": str(acute),
            "from": (today + dt.timedelta(days=2)).isoformat(),
            "to": (today + dt.timedelta(days=15)).isoformat(),
        },
    ).get_json()
    group = next(g for g in slots["groups"] if g["starts"])
    start = group["starts"][0]
    fields = {
        "service_id": str(acute),
        "practitioner_id": group["practitioner"]["id"],
        "location_id": group["location"]["id"],
        "start": start,
    }
    review = get(c, clinic, "/book/review", query_string=fields)
    assert review.status_code == 200
    r = c.post(
        "/book/review",
        data={**fields, "csrf_token": csrf_from(review.data), "accept": "y"},
        base_url=f"http://{clinic.host}",
    )
    assert r.status_code == 303 and r.location.startswith(stripe_server.base + "/checkout/")
    cs_id = urlsplit(r.location).path.rsplit("/", 1)[1]
    # the newcomer pays on the test server's hosted checkout page
    page = requests.get(r.location, timeout=10)
    assert page.status_code == 200 and "Pay 45.00 EUR" in page.text
    paid = requests.post(r.location, data={"outcome": "paid"}, allow_redirects=False, timeout=10)
    assert paid.status_code == 303 and "demo.localhost" in paid.headers["Location"]
    outcomes = apply_events(app, new_client(app), stripe_server.events(about=cs_id))
    assert "applied (paid)" in outcomes
    with psycopg.connect(owner_dsn) as conn:
        appt_id, status, pay_status = conn.execute(
            "SELECT a.id, a.status, p.status FROM appointments a JOIN visit_payments p"
            " ON p.tenant_id = a.tenant_id AND p.appointment_id = a.id"
            " WHERE a.tenant_id = %s AND p.checkout_session_id = %s",
            (clinic.id, cs_id),
        ).fetchone()
    assert (status, pay_status) == ("confirmed", "paid")
    visit = get(c, clinic, f"/appointments/{appt_id}").get_data(as_text=True)
    assert "Paid" in visit and "Receipt" in visit
    assert get(c, clinic, f"/appointments/{appt_id}/receipt").status_code == 200
    owner = Console(app, clinic)
    report = owner.text(
        f"/console/reports/revenue?from={(today - dt.timedelta(days=1)).isoformat()}"
        f"&to={(today + dt.timedelta(days=1)).isoformat()}"
    )
    assert "Acute visit" in report and "45.00" in report
    # leave the demo as seeded: staff cancel it (refunded in full by the clinic's rules)
    cancel = owner.post(
        f"/console/calendar/appointments/{appt_id}/cancel",
        {"reason": "Demo test clean-up"},
        form_page=f"/console/calendar/appointments/{appt_id}/cancel",
    )
    assert cancel.status_code in (302, 303), cancel.status_code
    with psycopg.connect(owner_dsn) as conn:
        refunded = conn.execute(
            "SELECT sum(r.amount_minor) FROM refunds r JOIN visit_payments p"
            " ON p.tenant_id = r.tenant_id AND p.id = r.payment_id"
            " WHERE p.checkout_session_id = %s",
            (cs_id,),
        ).fetchone()[0]
    assert refunded == 4500
