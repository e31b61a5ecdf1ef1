"""A visit type's own booking rules on its page: empty fields follow the clinic's rules.

Saved through the same booking-rules service as the API
(``PUT /api/v1/practice/visit-types/<id>/booking-rules``), and read back through the
effective rules the booking verbs use.
"""

from __future__ import annotations

import psycopg

from tests.factories import ClinicFactory

from .console import Console
from .test_practice_pages import _set_up


def _rows(dsn: str, sql: str, *params) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def _visit_type(console: Console, owner_dsn) -> str:
    loc, prac = _set_up(console)
    r = console.post(
        "/console/practice/visit-types/new",
        {
            "name": "Acute visit",
            "duration_minutes": "30",
            "price": "60",
            "mode": "in_person",
            "patients": "any",
            "practitioner_ids": [prac],
            "location_ids": [loc],
        },
    )
    assert r.status_code == 302
    return str(
        _rows(
            owner_dsn,
            "SELECT id FROM visit_types WHERE tenant_id = %s",
            console.clinic.id,
        )[0][0]
    )


def _effective(app, clinic, vt_id):
    from saas.scheduling.rules import effective_rules
    from tests.factories.base import clinic_session

    with clinic_session(app, clinic.id) as sess:
        return effective_rules(sess, clinic.id, vt_id)


EMPTY = {
    "slot_step_minutes": "",
    "min_notice_hours": "",
    "max_advance_days": "",
    "cancellation_cutoff_hours": "",
    "reschedule_cutoff_hours": "",
    "late_fee": "",
    "hold_minutes": "",
}


def test_overrides_apply_to_the_visit_type_only_and_empty_inherits(app, owner_dsn):
    """Shorter notice and a fee for one visit type; the others keep the clinic's rules."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    vt = _visit_type(console, owner_dsn)
    path = f"/console/practice/visit-types/{vt}/booking-rules"
    page = console.text(path)
    clinic_rules = _effective(app, clinic, None)
    assert f"Empty: the clinic&#39;s {clinic_rules.max_advance_days}." in page
    r = console.post(
        path,
        {**EMPTY, "min_notice_hours": "1.5", "cancellation_cutoff_hours": "4", "late_fee": "25"},
    )
    assert r.status_code == 302
    own = _effective(app, clinic, vt)
    assert (own.min_notice_minutes, own.cancellation_cutoff_minutes) == (90, 240)
    assert own.late_cancellation_fee_minor == 2500
    assert own.max_advance_days == clinic_rules.max_advance_days  # inherited
    assert _effective(app, clinic, None) == clinic_rules  # the clinic's rules are unchanged
    page = console.text(path)
    assert 'value="1.5"' in page and 'value="25.00"' in page
    # emptying a field returns it to the clinic's rule
    assert console.post(path, {**EMPTY, "late_fee": "25"}).status_code == 302
    own = _effective(app, clinic, vt)
    assert own.min_notice_minutes == clinic_rules.min_notice_minutes
    (entry,) = _rows(
        owner_dsn,
        "SELECT target FROM audit_log WHERE tenant_id = %s AND "
        "action = 'practice.booking_rules_set' ORDER BY seq DESC LIMIT 1",
        clinic.id,
    )
    assert entry == (f"service:{vt}",)


def test_bad_values_are_shown_next_to_their_field_and_kept(app, owner_dsn):
    """Out of range or not a number: 422, error summary, inline error, the input kept."""
    clinic = ClinicFactory()
    console = Console(app, clinic)
    vt = _visit_type(console, owner_dsn)
    path = f"/console/practice/visit-types/{vt}/booking-rules"
    r = console.post(path, {**EMPTY, "slot_step_minutes": "2", "late_fee": "lots"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'href="#slot_step_minutes"' in html and 'href="#late_fee"' in html
    assert 'id="slot_step_minutes-error"' in html and 'value="2"' in html
    assert _rows(
        owner_dsn,
        "SELECT count(*) FROM booking_rules WHERE tenant_id = %s AND service_id IS NOT NULL "
        "AND (slot_step_minutes IS NOT NULL OR late_cancellation_fee_minor IS NOT NULL)",
        clinic.id,
    ) == [(0,)]


def test_only_practice_managers_and_only_this_clinics_visit_types(app, owner_dsn):
    """Receptionists and practitioners get 403; another clinic's visit type is 404."""
    clinic, other = ClinicFactory(), ClinicFactory()
    owner = Console(app, clinic)
    vt = _visit_type(owner, owner_dsn)
    path = f"/console/practice/visit-types/{vt}/booking-rules"
    for role in ("receptionist", "practitioner"):
        member = Console(app, clinic, role)
        assert member.get(path).status_code == 403
        assert member.post(path, {**EMPTY, "late_fee": "99"}).status_code == 403
    stranger = Console(app, other)
    assert stranger.get(path).status_code == 404
    assert stranger.post(path, {**EMPTY, "late_fee": "99"}).status_code == 404
    assert _rows(
        owner_dsn,
        "SELECT count(*) FROM booking_rules WHERE service_id = %s "
        "AND late_cancellation_fee_minor IS NOT NULL",
        vt,
    ) == [(0,)]
