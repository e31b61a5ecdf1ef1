"""The appointment state table: ``allowed_actions`` offers exactly what the verbs accept.

For appointments in every state, at every time relative to now, and for every kind of
actor, each action ``allowed_actions`` lists succeeds through its verb and every other
action is refused with a domain error. Each attempt runs in a savepoint that is rolled
back, so every action is tried on the same appointment.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import Range

from tests.scheduling.conftest import check

#: effective state -> (row status, hold lapsed?)
STATES = {
    "held": ("held", False),
    "expired (lapsed hold)": ("held", True),
    "expired (swept)": ("expired", True),
    "confirmed": ("confirmed", None),
    "checked_in": ("checked_in", None),
    "completed": ("completed", None),
    "cancelled": ("cancelled", None),
    "no_show": ("no_show", None),
}
#: when the visit starts, relative to now
TIMES = {
    "next week": dt.timedelta(days=7),
    "in 30 minutes": dt.timedelta(minutes=30),
    "started 10 minutes ago": dt.timedelta(minutes=-10),
    "three days ago": dt.timedelta(days=-3),
}


def _insert(sess, p, tenant_id, patient_id, status, lapsed, start, now):
    from saas.scheduling.models import Appointment

    end = start + dt.timedelta(hours=1)
    appt = Appointment(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        patient_id=patient_id,
        practitioner_id=uuid.UUID(p.practitioner_id),
        location_id=uuid.UUID(p.location_id),
        service_id=uuid.UUID(p.service_id),
        status=status,
        start_at=start,
        end_at=end,
        occupied=Range(start, end, bounds="[)"),
        hold_expires_at=(now + dt.timedelta(minutes=-1 if lapsed else 10))
        if lapsed is not None
        else None,
        price_minor=6000,
        currency="EUR",
        booked_by="patient",
        updated_at=now,
    )
    sess.add(appt)
    sess.flush()
    return appt.id


def test_allowed_actions_agree_with_the_verbs(app, make_practice, make_patient, make_staff):
    """Every allowed action succeeds; every other one is refused — for every actor kind."""
    from saas.actors import Actor
    from saas.db import tenant_session
    from saas.exceptions import DomainError
    from saas.models import Patient, Tenant, User, utcnow
    from saas.scheduling.models import Appointment
    from saas.scheduling.services import VERBS
    from saas.scheduling.states import ACTIONS, allowed_actions

    p = make_practice()
    own, other = make_patient(p.clinic, "Maria Schmidt"), make_patient(p.clinic, "Otto Other")
    desk_id, _ = make_staff(p.clinic, "receptionist")
    target = dt.datetime.combine(p.day(10), dt.time(10, 0), ZoneInfo(p.tz))
    arguments = {
        "confirm": {"payment_ref": "desk-1"},
        "cancel": {"reason": "Feeling better"},
        "reschedule": {"start": target},
    }
    mismatches, offered = [], set()
    with app.app_context(), tenant_session(p.clinic.id) as sess:
        tenant = sess.get(Tenant, p.clinic.id)
        actors = {
            "own patient": Actor.for_patient(sess.get(Patient, (p.clinic.id, own.id))),
            "other patient": Actor.for_patient(sess.get(Patient, (p.clinic.id, other.id))),
            "owner": Actor.for_staff(sess.get(User, (p.clinic.id, p.clinic.owner_id))),
            "receptionist": Actor.for_staff(sess.get(User, (p.clinic.id, desk_id))),
            "system": Actor.system("test"),
            "payment provider": Actor.payment_provider(),
            "operator": Actor.for_operator(uuid.uuid4(), "operator@example.org"),
        }
        outer = sess.begin_nested()
        for state, (status, lapsed) in STATES.items():
            for when, offset in TIMES.items():
                now = utcnow()
                case = sess.begin_nested()
                appt_id = _insert(sess, p, p.clinic.id, own.id, status, lapsed, now + offset, now)

                def load(appt_id=appt_id):
                    return sess.scalar(
                        select(Appointment)
                        .where(Appointment.tenant_id == p.clinic.id, Appointment.id == appt_id)
                        .execution_options(populate_existing=True)
                    )

                for who, actor in actors.items():
                    allowed = allowed_actions(load(), actor, now)
                    offered |= {(who, a) for a in allowed}
                    for action in ACTIONS:
                        attempt = sess.begin_nested()
                        try:
                            VERBS[action](
                                sess, tenant, actor, load(), now=now, **arguments.get(action, {})
                            )
                            done, why = True, None
                        except DomainError as exc:
                            done, why = False, f"{type(exc).__name__} {exc.reason}: {exc}"
                        attempt.rollback()
                        sess.expire_all()
                        if done != (action in allowed):
                            mismatches.append((state, when, who, action, sorted(allowed), why))
                case.rollback()
        outer.rollback()
    assert mismatches == []
    # the table is not vacuous: each kind of actor gets what the rules give it somewhere
    assert {a for who, a in offered if who == "own patient"} == {"cancel", "reschedule"}
    assert {a for who, a in offered if who == "receptionist"} == set(ACTIONS)
    assert {a for who, a in offered if who == "system"} == {"confirm"}
    assert not {a for who, a in offered if who in ("other patient", "payment provider", "operator")}


def test_appointments_list_the_callers_allowed_actions(make_practice, make_patient, sql):
    """The API tells each caller what it may do now: no check-in a week ahead, no cancel after."""
    p = make_practice()
    pat = make_patient(p.clinic)
    booked = check(
        p.owner.post("/api/v1/appointments", p.booking(p.at(p.day(7), "10:00")), token=pat.token),
        201,
    )
    assert booked["allowed_actions"] == ["cancel", "reschedule"]
    staff = check(p.owner.get(f"/api/v1/appointments/{booked['id']}"), 200)
    assert staff["allowed_actions"] == ["cancel", "reschedule"]
    sql(
        "UPDATE appointments SET start_at = now() - interval '5 minutes', "
        "end_at = now() + interval '55 minutes', "
        "occupied = tstzrange(now() - interval '5 minutes', now() + interval '55 minutes') "
        "WHERE id = %s",
        uuid.UUID(booked["id"]),
    )
    started = check(p.owner.get(f"/api/v1/appointments/{booked['id']}"), 200)
    assert started["allowed_actions"] == ["check_in", "complete", "no_show"]
    mine = check(p.owner.get(f"/api/v1/appointments/{booked['id']}", token=pat.token), 200)
    assert mine["allowed_actions"] == []
    refused = check(
        p.owner.post(f"/api/v1/appointments/{booked['id']}/cancel", {}, token=pat.token), 422
    )
    assert refused["reason"] == "already_started"
