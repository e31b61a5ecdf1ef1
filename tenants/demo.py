"""The demo clinic that ``make run`` seeds: owner, practitioner and receptionist.

All demo accounts share one published TOTP secret so a newcomer can sign in; print a
current code with ``saas demo code``. Never seed this on a production deployment.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pyotp
from flask import current_app

from saas import audit, db
from saas.actors import Actor
from saas.fields import seal_field
from saas.models import User, utcnow
from saas.security.passwords import hash_password

from .services import commit_signup, get_tenant_by_slug, signup_clinic

SLUG = "demo"
PASSWORD = "similia-demo-2026"
TOTP_SECRET = "SIMILIADEMOTOTPSECRETKEYFORDEMOS"
ACCOUNTS = [
    ("owner@demo.similia.test", "Dr. Hannah Weber", "owner"),
    ("practitioner@demo.similia.test", "Dr. Arjun Mehta", "practitioner"),
    ("reception@demo.similia.test", "Sofia Lang", "receptionist"),
]


def current_code() -> str:
    """The demo accounts' current TOTP code."""
    return pyotp.TOTP(TOTP_SECRET).now()


def seed_demo() -> bool:
    """Create the demo clinic if missing; returns True when it was created now."""
    sess = db.session
    if get_tenant_by_slug(sess, SLUG) is not None:
        return False
    keys = current_app.extensions["similia.keys"]
    owner_email, owner_name, _ = ACCOUNTS[0]
    result = signup_clinic(
        sess,
        keys,
        {
            "name": "Demo Homeopathy Clinic",
            "slug": SLUG,
            "timezone": "Europe/Berlin",
            "country": "DE",
            "owner_name": owner_name,
            "owner_email": owner_email,
            "password": PASSWORD,
        },
    )
    tenant = result.tenant
    users = [result.owner]
    for email, name, role in ACCOUNTS[1:]:
        user = User(
            id=uuid.uuid4(),
            tenant_id=tenant.id,
            email=email,
            name=name,
            role=role,
            password_hash=hash_password(PASSWORD),
        )
        sess.add(user)
        users.append(user)
    sess.flush()
    for user in users:
        user.totp_secret = seal_field(sess, tenant, "users", "totp_secret", user.id, TOTP_SECRET)
        user.mfa_enrolled_at = utcnow()
    seed_practice(sess, tenant, users)
    from billing.demo import seed_payments

    seed_payments(sess, tenant, result.owner)
    audit.record(sess, tenant.id, "tenant.demo_seeded", actor=Actor.system("demo"))
    commit_signup(sess, keys, tenant.id)
    return True


def seed_practice(sess, tenant, users) -> None:
    """Locations, practitioners, visit types, weekly hours, patients and a few bookings."""
    from saas.actors import SYSTEM
    from saas.exceptions import DomainError
    from saas.patients import create_patient
    from saas.scheduling.practice import availability, locations, practitioners, visit_types
    from saas.scheduling.services import book_appointment

    owner, doctor = users[0], users[1]
    mitte = locations.create_location(
        sess,
        tenant,
        owner,
        {"name": "Praxis Mitte", "kind": "in_person", "address": "Torstraße 12, 10119 Berlin"},
    )
    video = locations.create_location(
        sess, tenant, owner, {"name": "Video consultation", "kind": "online"}
    )
    weber = practitioners.create_practitioner(
        sess,
        tenant,
        owner,
        {
            "display_name": owner.name,
            "title": "Homeopath (classical)",
            "user_id": owner.id,
            "bio": "Classical homeopathy for chronic complaints, 20 years in practice.",
        },
    )
    mehta = practitioners.create_practitioner(
        sess,
        tenant,
        owner,
        {
            "display_name": doctor.name,
            "title": "Physician and homeopath",
            "user_id": doctor.id,
            "bio": "Acute and paediatric care; consultations in English, German and Hindi.",
        },
    )
    both = [weber.id, mehta.id]
    initial = visit_types.create_visit_type(
        sess,
        tenant,
        owner,
        {
            "name": "Initial consultation (case-taking)",
            "duration_minutes": 90,
            "price_minor": 14000,
            "buffer_after_minutes": 15,
            "new_patients_only": True,
            "description": "The full case: complaints, modalities, mentals and generals.",
            "practitioner_ids": both,
            "location_ids": [mitte.id],
        },
    )
    follow_up = visit_types.create_visit_type(
        sess,
        tenant,
        owner,
        {
            "name": "Follow-up consultation",
            "duration_minutes": 30,
            "price_minor": 6000,
            "buffer_after_minutes": 10,
            "returning_patients_only": True,
            "mode": "either",
            "description": "Review of the response to the remedy, 4–6 weeks after a prescription.",
            "practitioner_ids": both,
            "location_ids": [mitte.id, video.id],
        },
    )
    visit_types.create_visit_type(
        sess,
        tenant,
        owner,
        {
            "name": "Acute visit",
            "duration_minutes": 20,
            "price_minor": 4500,
            # paid online when booked (Checkout on the clinic's connected account)
            "payment_mode": "full",
            "description": "A new acute complaint of an existing patient.",
            "mode": "online",
            "practitioner_ids": [mehta.id],
            "location_ids": [video.id],
        },
    )
    hours = [(weber.id, mitte.id, d, "09:00", "13:00") for d in range(1, 6)]
    hours += [(weber.id, video.id, d, "14:00", "18:00") for d in (2, 4)]
    hours += [(mehta.id, mitte.id, d, "10:00", "16:00") for d in range(1, 7)]
    hours += [(mehta.id, video.id, d, "17:00", "19:00") for d in (1, 3)]
    for prac, loc, day, start, end in hours:
        availability.create_availability_rule(
            sess,
            tenant,
            owner,
            {
                "practitioner_id": prac,
                "location_id": loc,
                "weekday": day,
                "start_time": dt.time.fromisoformat(start),
                "end_time": dt.time.fromisoformat(end),
            },
        )
    zone = ZoneInfo(tenant.timezone)
    names = ["Clara Hoffmann", "Jonas Becker", "Priya Sharma", "Lukas Wagner"]
    patients = [create_patient(sess, tenant, full_name=n, actor=owner) for n in names]
    day = dt.datetime.now(zone).date() + dt.timedelta(days=1)
    while day.isoweekday() > 5:
        day += dt.timedelta(days=1)
    for patient, (svc, prac, hhmm) in zip(
        patients,
        [
            (initial, weber, "09:00"),
            (follow_up, weber, "11:00"),
            (initial, mehta, "10:00"),
            (follow_up, mehta, "14:00"),
        ],
        strict=True,
    ):
        start = dt.datetime.combine(day, dt.time.fromisoformat(hhmm), zone)
        try:
            book_appointment(
                sess,
                tenant,
                SYSTEM,
                patient=patient,
                service_id=svc.id,
                practitioner_id=prac.id,
                location_id=mitte.id,
                start=start,
            )
        except DomainError:  # e.g. a rule the demo did not foresee: skip that booking
            continue
