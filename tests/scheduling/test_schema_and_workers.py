"""The scheduling schema's guarantees, and the hold-expiry worker."""

from __future__ import annotations

import uuid

from tests.scheduling.conftest import check

TABLES = (
    "locations",
    "practitioners",
    "visit_types",
    "visit_type_practitioners",
    "visit_type_locations",
    "availability_rules",
    "availability_exceptions",
    "closures",
    "booking_rules",
    "appointments",
    "appointment_events",
    "waitlist_entries",
    "waitlist_offers",
    "calendar_feeds",
)


def test_every_scheduling_table_is_tenant_protected(sql):
    """RLS enabled and forced with a policy; keys and every index lead with tenant_id."""
    for table in TABLES:
        [(enabled, forced)] = sql(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = %s", table
        )
        assert enabled and forced, table
        assert sql("SELECT count(*) FROM pg_policies WHERE tablename = %s", table) == [(1,)], table
        for name, definition in sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", table
        ):
            columns = definition.split("(", 1)[1]
            assert columns.startswith("tenant_id"), (table, name, definition)
    fks = sql(
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid::regclass::text = ANY(%s)",
        list(TABLES),
    )
    for table, definition in fks:
        assert definition.startswith("FOREIGN KEY (tenant_id"), (table, definition)


def test_runtime_role_cannot_delete_history(runtime_dsn, make_practice, make_patient):
    """The app's role may not delete appointments or rewrite their history."""
    import psycopg
    import pytest

    p = make_practice()
    pat = make_patient(p.clinic)
    check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=pat.token),
        201,
    )
    with psycopg.connect(runtime_dsn) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(p.clinic.id),))
        assert conn.execute("SELECT count(*) FROM appointments").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM appointments")
    with psycopg.connect(runtime_dsn) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE appointment_events SET action = 'edited'")
    with psycopg.connect(runtime_dsn) as conn:  # no clinic bound: nothing visible
        assert conn.execute("SELECT count(*) FROM appointments").fetchone() == (0,)


def test_hold_sweeper_actor(worker, make_practice, make_patient, sql):
    """The dramatiq actor expires lapsed holds of one clinic, leaving live ones alone."""
    from workers.scheduling import expire_holds_for_tenant, sweep_holds

    p = make_practice(service={"requires_prepayment": True})
    other = make_practice(service={"requires_prepayment": True})
    a, b = make_patient(p.clinic, "Ann"), make_patient(p.clinic, "Ben")
    c = make_patient(other.clinic, "Cid")
    lapsed = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "10:00")), token=a.token), 201
    )
    live = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(3), "12:00")), token=b.token), 201
    )
    theirs = check(
        other.owner.post(
            "/api/v1/appointments", other.booking(other.at(other.day(3), "10:00")), token=c.token
        ),
        201,
    )
    sql(
        "UPDATE appointments SET hold_expires_at = now() - interval '1 minute' WHERE id = ANY(%s)",
        [uuid.UUID(lapsed["id"]), uuid.UUID(theirs["id"])],
    )
    expire_holds_for_tenant.send(str(p.clinic.id))
    worker.broker.join("scheduling", timeout=20_000)
    statuses = dict(
        sql(
            "SELECT id::text, status FROM appointments WHERE id = ANY(%s)",
            [uuid.UUID(x["id"]) for x in (lapsed, live, theirs)],
        )
    )
    assert statuses == {lapsed["id"]: "expired", live["id"]: "held", theirs["id"]: "held"}
    assert sql(
        "SELECT actor_label FROM audit_log WHERE tenant_id = %s AND action = "
        "'appointment.hold_expired'",
        p.clinic.id,
    ) == [("system",)]
    # the sweep covers every clinic with data, not only "active" ones (a trial, a suspension)
    sql("UPDATE tenants SET status = 'trialing' WHERE id = %s", other.clinic.id)
    sweep_holds.send()
    worker.broker.join("scheduling", timeout=20_000)
    assert sql("SELECT status FROM appointments WHERE id = %s", uuid.UUID(theirs["id"])) == [
        ("expired",)
    ]
