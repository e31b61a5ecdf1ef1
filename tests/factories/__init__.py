"""Test factories (factory_boy): clinics, staff, patients, a practice, appointments.

Every factory goes through the real code path, never raw rows, so what it makes is what
production makes: a clinic has its Vault transit key, data key and owner (the signup
service); a patient's contact fields are sealed and the email blind-indexed (the patient
service); a practice is configured through the staff API; an appointment is booked by the
booking verb (with its history, audit entry and outbox message).

Use them from any test that requests the ``app`` fixture (it binds itself here); a test
running a second app passes ``app=`` to the factory::

    from tests.factories import (
        AppointmentFactory, ClinicFactory, PatientFactory, PracticeFactory, StaffFactory,
    )

    clinic = ClinicFactory()                         # + owner: clinic.owner (a StaffMember)
    other = ClinicFactory(timezone="Asia/Kolkata", country="IN")
    desk = StaffFactory(clinic=clinic, role="receptionist")
    desk.email, desk.password, desk.totp_secret, desk.code()
    api = desk.api()                                 # tests.client.Api with desk's token
    token = clinic.owner.sign_in()                   # POST /api/v1/auth/token, kept
    pat = PatientFactory(clinic=clinic)              # full contact details, sealed
    walk_in = PatientFactory(clinic=clinic, bare=True, portal_token=True)   # name + token
    p = PracticeFactory(tz="America/New_York")       # new clinic, location, practitioner,
    p.owner.post(...); p.slots(); p.booking(start)   # visit type, weekly hours, rules
    appt = AppointmentFactory(practice=p, start=p.at(p.day(2), "11:00"))

``PatientDataFactory()`` is the body of ``POST /api/v1/patients`` for tests that create
patients through the API. Pass any field to override it; related objects are made on
demand (``AppointmentFactory()`` alone sets up a clinic, practice and patient).

A TOTP code is accepted once per 30-second step: sign each member in once (the token is
kept on ``member.token``) rather than asking for a second token in the same step.

Fixtures in ``tests/conftest.py``, ``tests/records/conftest.py`` and
``tests/scheduling/conftest.py`` (``make_clinic``, ``token_for``, ``team``, ``add_staff``,
``make_practice``, ``make_patient``, ``make_staff``) are thin wrappers over these.
"""

from .appointment import AppointmentFactory, Booking
from .base import bind
from .clinic import Clinic, ClinicFactory
from .patient import PatientDataFactory, PatientFactory, PatientRecord
from .practice import COUNTRY, Practice, PracticeFactory
from .staff import PASSWORD, StaffFactory, StaffMember, add_staff

__all__ = [
    "COUNTRY",
    "PASSWORD",
    "AppointmentFactory",
    "Booking",
    "Clinic",
    "ClinicFactory",
    "PatientDataFactory",
    "PatientFactory",
    "PatientRecord",
    "Practice",
    "PracticeFactory",
    "StaffFactory",
    "StaffMember",
    "add_staff",
    "bind",
]
