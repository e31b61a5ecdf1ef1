"""Patients, created through ``saas.patients.create_patient`` (sealed fields, blind index)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import factory

from .base import ServiceFactory, clinic_session


@dataclass
class PatientRecord:
    """A patient as the test knows it; ``token`` is a portal session token when asked for."""

    id: uuid.UUID
    clinic: object
    full_name: str
    email: str | None
    token: str | None = None


class PatientDataFactory(factory.DictFactory):
    """The fields of a patient as the staff API takes them (``POST /api/v1/patients``)."""

    full_name = "Maya Krishnan"
    email = factory.LazyFunction(lambda: f"maya-{uuid.uuid4().hex[:6]}@example.org")
    phone = "+44 20 7946 0958"
    date_of_birth = "1984-03-09"
    address = "12 Orchard Lane, Bristol"
    emergency_contact = "Ravi Krishnan +44 7700 900123"
    preferred_language = "en"


class PatientFactory(ServiceFactory):
    """``PatientFactory(clinic=clinic)``: a patient with sealed contact details.

    ``bare=True`` gives a name only (no email: nothing can be sent to them);
    ``portal_token=True`` also issues a portal session token (as a portal sign-in would,
    without hashing a password), for calling the API as the patient.
    """

    class Meta:
        model = PatientRecord

    class Params:
        bare = factory.Trait(
            email=None, phone=None, date_of_birth=None, address=None, emergency_contact=None
        )

    clinic = factory.SubFactory("tests.factories.clinic.ClinicFactory")
    full_name = "Maria Schmidt"
    email = factory.LazyFunction(lambda: f"maria-{uuid.uuid4().hex[:6]}@example.org")
    phone = "+49 30 901820"
    date_of_birth = "1979-11-02"
    address = "Lindenstraße 5, 10969 Berlin"
    emergency_contact = "Jonas Schmidt +49 151 2345678"
    portal_token = False
    actor = None

    @classmethod
    def _make(cls, app, *, clinic, full_name, email, portal_token, actor, **sealed):
        from saas.models import PatientToken, Tenant, utcnow
        from saas.patients import TOKEN_PREFIX, create_patient
        from saas.security.secrets import digest, new_token

        sealed = {k: v for k, v in sealed.items() if v is not None}
        with clinic_session(app, clinic.id) as sess:
            tenant = sess.get(Tenant, clinic.id)
            patient = create_patient(
                sess, tenant, full_name=full_name, email=email, actor=actor, **sealed
            )
            token = None
            if portal_token:
                token = TOKEN_PREFIX + new_token()
                sess.add(
                    PatientToken(
                        id=uuid.uuid4(),
                        tenant_id=clinic.id,
                        patient_id=patient.id,
                        purpose="session",
                        token_hash=digest(token),
                        expires_at=utcnow() + dt.timedelta(days=1),
                    )
                )
            patient_id = patient.id
        return PatientRecord(patient_id, clinic, full_name, email, token)
