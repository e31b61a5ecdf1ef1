"""Is the clinic ready to take bookings? The onboarding checklist and the publication rule.

:func:`practice_readiness` is the one place that answers it: the console's home shows the
checklist from it, and the portal's front page asks it whether to show the catalogue or a
friendly "not yet taking bookings".

Decisions:

- **The minimum** to take bookings is one active location, one active visit type and one
  active practitioner who offers that visit type at that location and has weekly hours
  there (still valid today or later). With less, no time could ever be offered.
- **Publication is automatic**: the public page lists visit types and times as soon as the
  minimum holds, and goes back to "not yet taking bookings" if it stops holding (the last
  practitioner archived, say). No separate "publish" switch can be forgotten, and a page can
  never show a visit type that cannot be booked. ``Readiness.published`` is therefore equal
  to ``ready``; the field exists so callers do not encode that rule themselves.
- The other steps (profile, booking rules, branding, team) are recommendations: they show as
  done or not done on the checklist but do not hold publication back.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from saas.models import Invitation, Tenant, User
from saas.scheduling.models import (
    AvailabilityRule,
    BookingRules,
    Location,
    Practitioner,
    VisitType,
    VisitTypeLocation,
    VisitTypePractitioner,
)


@dataclass(frozen=True)
class Step:
    """One checklist step: ``key``, what it is, whether it is done, and the page's endpoint."""

    key: str
    title: str
    hint: str
    done: bool
    endpoint: str
    #: Part of the minimum for taking bookings.
    required: bool = False


@dataclass(frozen=True)
class Readiness:
    """The checklist and what it means for the public page."""

    steps: tuple[Step, ...]
    #: The minimum holds: bookable times can exist.
    ready: bool
    #: The public page takes bookings (equal to ``ready``: publication is automatic).
    published: bool

    @property
    def complete(self) -> bool:
        """Every step is done (the console home stops showing the checklist)."""
        return all(s.done for s in self.steps)

    @property
    def done_count(self) -> int:
        """How many steps are done."""
        return sum(1 for s in self.steps if s.done)


def _count(sess: Session, q) -> int:
    return sess.scalar(select(func.count()).select_from(q.subquery())) or 0


def bookable_offer_exists(sess: Session, tenant_id, today: dt.date) -> bool:
    """An active visit type offered by an active practitioner with hours at an active location."""
    vp, vl, ar = VisitTypePractitioner, VisitTypeLocation, AvailabilityRule
    q = (
        select(vp.service_id)
        .join(VisitType, and_(VisitType.tenant_id == vp.tenant_id, VisitType.id == vp.service_id))
        .join(vl, and_(vl.tenant_id == vp.tenant_id, vl.service_id == vp.service_id))
        .join(
            Practitioner,
            and_(Practitioner.tenant_id == vp.tenant_id, Practitioner.id == vp.practitioner_id),
        )
        .join(Location, and_(Location.tenant_id == vl.tenant_id, Location.id == vl.location_id))
        .join(
            ar,
            and_(
                ar.tenant_id == vp.tenant_id,
                ar.practitioner_id == vp.practitioner_id,
                ar.location_id == vl.location_id,
            ),
        )
        .where(
            vp.tenant_id == tenant_id,
            VisitType.is_active.is_(True),
            Practitioner.is_active.is_(True),
            Location.is_active.is_(True),
            or_(ar.valid_until.is_(None), ar.valid_until >= today),
        )
        .limit(1)
    )
    return sess.scalar(q) is not None


def practice_readiness(sess: Session, tenant: Tenant) -> Readiness:
    """The onboarding checklist of ``tenant`` and whether its public page takes bookings."""
    tid = tenant.id
    today = dt.datetime.now(ZoneInfo(tenant.timezone)).date()
    clinic = (tenant.settings or {}).get("clinic") or {}
    locations = _count(
        sess, select(Location.id).where(Location.tenant_id == tid, Location.is_active.is_(True))
    )
    practitioners = _count(
        sess,
        select(Practitioner.id).where(
            Practitioner.tenant_id == tid, Practitioner.is_active.is_(True)
        ),
    )
    visit_types = _count(
        sess, select(VisitType.id).where(VisitType.tenant_id == tid, VisitType.is_active.is_(True))
    )
    hours = sess.scalar(
        select(
            exists().where(
                AvailabilityRule.tenant_id == tid,
                or_(AvailabilityRule.valid_until.is_(None), AvailabilityRule.valid_until >= today),
            )
        )
    )
    rules = sess.scalar(
        select(exists().where(BookingRules.tenant_id == tid, BookingRules.service_id.is_(None)))
    )
    team = (
        _count(sess, select(User.id).where(User.tenant_id == tid)) > 1
        or _count(sess, select(Invitation.id).where(Invitation.tenant_id == tid)) > 0
    )
    branded = bool((tenant.settings or {}).get("branding"))
    ready = bookable_offer_exists(sess, tid, today)
    steps = (
        Step(
            "profile",
            "Clinic profile",
            "Name, address, phone, email, time zone and currency.",
            bool(clinic.get("address")) and bool(clinic.get("phone") or clinic.get("email")),
            "practice.profile",
        ),
        Step(
            "location",
            "First location",
            "Where you see patients: an address, or video consultations.",
            locations > 0,
            "practice.location_list",
            required=True,
        ),
        Step(
            "practitioners",
            "Practitioners",
            "Who patients can book: a staff member or a bookable-only person.",
            practitioners > 0,
            "practice.practitioner_list",
            required=True,
        ),
        Step(
            "visit_types",
            "Visit types",
            "Duration, price and who offers them where.",
            visit_types > 0,
            "practice.visit_type_list",
            required=True,
        ),
        Step(
            "hours",
            "Weekly hours",
            "When each practitioner sees patients, per location.",
            bool(hours),
            "practice.availability",
            required=True,
        ),
        Step(
            "rules",
            "Booking rules",
            "Notice, how far ahead, cancellation cutoff and fees.",
            bool(rules),
            "practice.booking_rules_page",
        ),
        Step(
            "branding",
            "Branding",
            "Logo, colours and welcome text of your public page.",
            branded,
            "practice.branding_page",
        ),
        Step(
            "team",
            "Invite your team",
            "Colleagues and front desk, each with their own sign-in.",
            team,
            "console.staff",
        ),
    )
    return Readiness(steps=steps, ready=ready, published=ready)
