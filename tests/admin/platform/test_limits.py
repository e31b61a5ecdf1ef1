"""An operator admin adjusts one clinic's plan limits; the clinic's adds follow them."""

from __future__ import annotations

import psycopg

from tests.admin.platform.conftest import Ops
from tests.client import check
from tests.factories import PracticeFactory


def _overrides(owner_dsn, clinic):
    with psycopg.connect(owner_dsn) as conn:
        return conn.execute(
            "SELECT limit_overrides FROM tenants WHERE id = %s", (clinic.id,)
        ).fetchone()[0]


def test_operator_raises_a_limit_and_the_clinic_can_add_more(app, ops, operator, owner_dsn):
    """Locations 2 → 3 by override; bad values and support operators change nothing."""
    p = PracticeFactory()
    clinic = p.clinic
    check(p.owner.post("/api/v1/practice/locations", {"name": "Video", "kind": "online"}), 201)
    body = {"name": "Annex", "address": "2 Lane"}
    assert check(p.owner.post("/api/v1/practice/locations", body), 409)["reason"] == "plan_limit"
    page = f"/ops/tenants/{clinic.id}"
    assert "Plan limits" in ops.text(page)
    bad = ops.post(
        f"{page}/limits",
        {"limits-max_locations": "-1", "limits-reason": "Conference deal"},
        form_page=page,
    )
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "error-summary" in html and "0 to 100000" in html
    no_reason = ops.post(f"{page}/limits", {"limits-max_locations": "3"}, form_page=page)
    assert no_reason.status_code == 422 and "Enter the reason." in no_reason.get_data(as_text=True)
    support = Ops(app, operator("support"))
    assert "Plan limits" not in support.text(page)
    refused = support.post(
        f"{page}/limits",
        {"limits-max_locations": "3", "limits-reason": "x"},
        form_page=page,
    )
    assert refused.status_code == 403
    assert _overrides(owner_dsn, clinic) == {}

    r = ops.post(
        f"{page}/limits",
        {"limits-max_locations": "3", "limits-reason": "Conference deal"},
        form_page=page,
    )
    assert r.status_code == 302
    assert _overrides(owner_dsn, clinic) == {"max_locations": 3}
    check(p.owner.post("/api/v1/practice/locations", body), 201)
    with psycopg.connect(owner_dsn) as conn:
        logged = conn.execute(
            "SELECT data FROM audit_log WHERE tenant_id = %s AND action = 'tenant.limits_changed'",
            (clinic.id,),
        ).fetchall()
    assert [d["to"] for (d,) in logged] == [{"max_locations": 3}]
    # an empty field returns the limit to the plan's
    ops.post(
        f"{page}/limits", {"limits-max_locations": "", "limits-reason": "Ended"}, form_page=page
    )
    assert _overrides(owner_dsn, clinic) == {}
