"""Appointments, booked through the booking verb (``book_appointment``)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import factory

from .base import ServiceFactory, clinic_session


@dataclass
class Booking:
    """A booked appointment as the test knows it."""

    id: uuid.UUID
    practice: object
    patient: object
    status: str
    start: dt.datetime
    end: dt.datetime


def _default_start(o) -> dt.datetime:
    return o.practice.at(o.practice.day(3), "10:00")


class AppointmentFactory(ServiceFactory):
    """``AppointmentFactory(practice=p, start=p.at(p.day(2), "11:00"))``: a booking.

    Booked by the patient (portal rules apply: notice, advance window) unless
    ``by_staff=True``, which books as the clinic's owner would from the front desk. With no
    ``practice`` a new one is set up; with no ``patient`` a new patient of its clinic is made.
    """

    class Meta:
        model = Booking

    practice = factory.SubFactory("tests.factories.practice.PracticeFactory")
    patient = factory.SubFactory(
        "tests.factories.patient.PatientFactory",
        clinic=factory.SelfAttribute("..practice.clinic"),
        portal_token=True,
    )
    start = factory.LazyAttribute(_default_start)
    by_staff = False

    @classmethod
    def _make(cls, app, *, practice, patient, start, by_staff):
        from saas.actors import Actor
        from saas.models import Tenant, User
        from saas.patients import get_patient_in_tenant
        from saas.scheduling.services import book_appointment

        clinic = practice.clinic
        with clinic_session(app, clinic.id) as sess:
            tenant = sess.get(Tenant, clinic.id)
            record = get_patient_in_tenant(sess, tenant, patient.id)
            if by_staff:
                owner = sess.get(User, (clinic.id, clinic.owner_id))
                actor = Actor.for_staff(owner)
            else:
                actor = Actor.for_patient(record)
            appt = book_appointment(
                sess,
                tenant,
                actor,
                patient=record,
                service_id=uuid.UUID(str(practice.service_id)),
                practitioner_id=uuid.UUID(str(practice.practitioner_id)),
                location_id=uuid.UUID(str(practice.location_id)),
                start=start,
            )
            booking = Booking(appt.id, practice, patient, appt.status, appt.start_at, appt.end_at)
        return booking
