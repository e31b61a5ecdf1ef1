"""Clinics in the operator console: list, usage, suspend, reactivate, extend a trial.

The clinic's portal, console and API show the effect.
"""

from __future__ import annotations

import datetime as dt

import psycopg

from tests.admin.clinic.console import Console
from tests.admin.platform.conftest import Ops
from tests.factories import AppointmentFactory, PatientFactory, PracticeFactory
from tests.helpers import bearer, csrf_from


def _status(owner_dsn, clinic) -> str:
    with psycopg.connect(owner_dsn) as conn:
        return conn.execute("SELECT status FROM tenants WHERE id = %s", (clinic.id,)).fetchone()[0]


def _sql(owner_dsn, query, params=()):
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        return conn.execute(query, params).fetchall()


def _row(clinic) -> str:
    return f'<span class="hint">{clinic.slug}</span>'


def test_list_shows_usage_from_counts(app, ops):
    """The list finds a clinic and shows the figures the usage job counted."""
    practice = PracticeFactory()
    clinic = practice.clinic
    PatientFactory(clinic=clinic)
    booking = AppointmentFactory(practice=practice)  # a second patient, one visit
    now = dt.datetime.now(dt.UTC)
    this_month = int((booking.start.year, booking.start.month) == (now.year, now.month))
    assert "Not counted yet" in ops.text(f"/ops/tenants/{clinic.id}")
    from admin.platform.usage import refresh_usage

    with app.app_context():  # the worker's job, on the runtime role
        assert refresh_usage([clinic.id]) == 1
    html = ops.text(f"/ops/tenants?q={clinic.slug}")
    assert "1 clinic found." in html and clinic.slug in html
    row = html.split(_row(clinic), 1)[1].split("</tr>", 1)[0]
    cells = [c.split("</td>")[0] for c in row.split('<td class="num">')[1:]]
    assert cells[:3] == ["1", "2", str(this_month)]
    page = ops.text(f"/ops/tenants/{clinic.id}")
    assert clinic.owner_email in page and "No subscription" in page


def test_filters_and_paging(app, ops, make_clinic, owner_dsn):
    """Status and country filters narrow the list; pages hold 25 clinics."""
    a, b = make_clinic(), make_clinic()
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("UPDATE tenants SET status = 'past_due' WHERE id = %s", (a.id,))
    past_due = ops.text("/ops/tenants?status=past_due")
    assert _row(a) in past_due and _row(b) not in past_due
    with psycopg.connect(owner_dsn) as conn:
        (country,) = conn.execute("SELECT country FROM tenants WHERE id = %s", (b.id,)).fetchone()
    assert _row(b) in ops.text(f"/ops/tenants?country={country}&q={b.slug}")
    assert _row(b) not in ops.text(f"/ops/tenants?country=ZZ&q={b.slug}")
    (total,) = _sql(owner_dsn, "SELECT count(*) FROM tenants")[0]
    first = ops.text("/ops/tenants")
    assert first.count('<th scope="row">') == min(total, 25)
    if total > 25:
        assert "Next page" in first and "Page 1 of" in first
        second = ops.text("/ops/tenants?page=2")
        assert "Previous page" in second
    assert ops.text("/ops/tenants?page=nonsense&status=bogus")  # bad input: first page, any


def test_suspend_and_reactivate_show_on_portal_console_and_api(
    app, ops, make_clinic, token_for, owner_dsn
):
    """Suspension is seen on the clinic's portal, console and API; reactivation undoes it.

    The portal says bookings are paused, the console is read-only, the API refuses writes,
    nothing is lost, the owners are emailed; both audit logs record it. The other clinic
    is untouched.
    """
    clinic, other = make_clinic(), make_clinic()
    PatientFactory(clinic=clinic)
    token = token_for(clinic)
    staff = Console(app, clinic, "owner")
    page = f"/ops/tenants/{clinic.id}"
    r = ops.post(f"{page}/suspend", {"reason": ""}, form_page=page)
    assert r.status_code == 422 and "Enter the reason." in r.get_data(as_text=True)
    assert _status(owner_dsn, clinic) == "trialing"  # signup starts the free trial

    r = ops.post(f"{page}/suspend", {"reason": "Unpaid invoice 1042"}, form_page=page)
    assert r.status_code == 302
    assert _status(owner_dsn, clinic) == "suspended" and _status(owner_dsn, other) == "trialing"
    html = ops.text(page)
    assert "Unpaid invoice 1042" in html and "tenant.suspended" in html

    # the portal answers and says bookings are paused; writing there is refused
    portal = ops.client.get("/", base_url=f"http://{clinic.host}")
    assert portal.status_code == 200 and b"data-paused" in portal.data
    form = ops.client.get("/register", base_url=f"http://{clinic.host}")
    refused = ops.client.post(
        "/register", base_url=f"http://{clinic.host}", data={"csrf_token": csrf_from(form.data)}
    )
    assert refused.status_code == 403 and b"paused" in refused.data
    other_portal = ops.client.get("/", base_url=f"http://{other.host}")
    assert other_portal.status_code == 200 and b"data-paused" not in other_portal.data
    # the console reads, with the banner; a change is refused
    dash = staff.get("/console/")
    assert dash.status_code == 200 and b"the console is read-only" in dash.data
    assert staff.post("/logout", {}).status_code in (302, 303)  # signing out still works
    # the API reads (data intact) and refuses writes
    host = f"http://{clinic.host}"
    listed = ops.client.get("/api/v1/patients", headers=bearer(token), base_url=host)
    assert listed.status_code == 200 and len(listed.get_json()) == 1
    write = ops.client.post(
        "/api/v1/patients", json={"full_name": "New"}, headers=bearer(token), base_url=host
    )
    assert write.status_code == 403 and "paused" in write.get_json()["message"]

    # audit: the clinic's own log and the platform log, and the owner's email in the outbox
    clinic_log = _sql(
        owner_dsn,
        "SELECT actor_kind, actor_label, data FROM audit_log WHERE tenant_id = %s "
        "AND action = 'tenant.status_changed' ORDER BY seq",
        (clinic.id,),
    )
    assert clinic_log[-1][0] == "operator" and clinic_log[-1][1] == ops.account.email
    assert clinic_log[-1][2]["reason"] == "Unpaid invoice 1042"
    mails = _sql(
        owner_dsn,
        "SELECT payload FROM outbox WHERE tenant_id = %s AND topic = 'email.platform_notice'",
        (clinic.id,),
    )
    assert len(mails) == 2  # both owners (the signup's and the console's)
    assert all(m["to"] in (clinic.owner_email, staff.email, "[delivered]") for (m,) in mails)
    assert all("Unpaid invoice 1042" in m["body"] or m["body"] == "[delivered]" for (m,) in mails)

    r = ops.post(f"{page}/reactivate", {"reason": "Paid"}, form_page=page)
    # back to its trial, which still has time left
    assert r.status_code == 302 and _status(owner_dsn, clinic) == "trialing"
    portal = ops.client.get("/", base_url=f"http://{clinic.host}")
    assert portal.status_code == 200 and b"data-paused" not in portal.data
    write = ops.client.post(
        "/api/v1/patients", json={"full_name": "New"}, headers=bearer(token), base_url=host
    )
    assert write.status_code != 403
    actions = [
        a
        for (a,) in _sql(
            owner_dsn,
            "SELECT action FROM platform_audit_log WHERE clinic_id = %s ORDER BY seq",
            (clinic.id,),
        )
    ]
    assert actions == ["tenant.suspended", "tenant.reactivated"]


def test_support_operators_look_but_do_not_suspend(app, operator, make_clinic, owner_dsn):
    """Role support: sees clinics, extends trials, is refused suspension (403)."""
    clinic = make_clinic()
    support = Ops(app, operator("support"))
    page = f"/ops/tenants/{clinic.id}"
    html = support.text(page)
    assert "Suspend clinic" not in html
    r = support.post(f"{page}/suspend", {"reason": "no"}, form_page=page)
    assert r.status_code == 403 and _status(owner_dsn, clinic) == "trialing"


def test_extend_trial(app, ops, make_clinic, owner_dsn):
    """A trialing clinic's trial is extended by days; others have no trial to extend."""
    clinic = make_clinic()
    with psycopg.connect(owner_dsn) as conn:  # a paying clinic has no trial left
        conn.execute("UPDATE tenants SET status = 'active' WHERE id = %s", (clinic.id,))
    page = f"/ops/tenants/{clinic.id}"
    r = ops.post(f"{page}/trial", {"trial-days": "14", "trial-reason": "Conference lead"}, form_page=page)
    assert r.status_code == 409 and "Only a clinic in its free trial" in r.get_data(as_text=True)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    with psycopg.connect(owner_dsn) as conn:
        conn.execute(
            "UPDATE tenants SET status = 'trialing', trial_ends_at = %s WHERE id = %s",
            (end, clinic.id),
        )
    r = ops.post(f"{page}/trial", {"trial-days": "0", "trial-reason": "x"}, form_page=page)
    assert r.status_code == 422 and "from 1 to 90" in r.get_data(as_text=True)
    r = ops.post(f"{page}/trial", {"trial-days": "14", "trial-reason": "Conference lead"}, form_page=page)
    assert r.status_code == 302
    (new_end,) = _sql(owner_dsn, "SELECT trial_ends_at FROM tenants WHERE id = %s", (clinic.id,))[0]
    assert abs((new_end - end) - dt.timedelta(days=14)) < dt.timedelta(seconds=1)
    (action,) = _sql(
        owner_dsn,
        "SELECT action FROM audit_log WHERE tenant_id = %s ORDER BY seq DESC LIMIT 1",
        (clinic.id,),
    )[0]
    assert action == "tenant.trial_extended"


def test_unknown_clinic_and_signed_out_operator(app, ops, client):
    """An unknown clinic id is 404; signed-out visitors go to the sign-in page."""
    import uuid

    assert ops.get(f"/ops/tenants/{uuid.uuid4()}").status_code == 404
    r = client.post(f"/ops/tenants/{uuid.uuid4()}/suspend", base_url="http://localhost")
    assert r.status_code in (302, 400)


def test_usage_job_counts_each_clinic_apart(app, make_clinic, worker, owner_dsn):
    """The recurring job (a real worker) counts every clinic apart; a recount replaces.

    One clinic's rows never count for another.
    """
    from tests.helpers import drain
    from workers.platform import refresh_clinic_usage

    a, b = make_clinic(), make_clinic()
    PatientFactory(clinic=a)
    PatientFactory(clinic=a)
    refresh_clinic_usage.send()
    drain(worker, "records")
    figures = dict(
        _sql(
            owner_dsn,
            "SELECT clinic_id, patients FROM clinic_usage WHERE clinic_id IN (%s, %s)",
            (a.id, b.id),
        )
    )
    assert figures == {a.id: 2, b.id: 0}
    PatientFactory(clinic=b)
    from admin.platform.usage import refresh_usage

    with app.app_context():
        refresh_usage([b.id])
    (n,) = _sql(owner_dsn, "SELECT patients FROM clinic_usage WHERE clinic_id = %s", (b.id,))[0]
    assert n == 1
