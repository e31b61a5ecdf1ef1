"""Clinics, signed up through the real signup service (Vault key, data key, owner)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import factory
import pyotp

from .base import ServiceFactory
from .staff import PASSWORD, StaffMember


@dataclass
class Clinic:
    """A clinic signed up through ``tenants.services.signup_clinic``, with its owner."""

    id: uuid.UUID
    slug: str
    name: str
    timezone: str
    host: str
    owner: StaffMember

    @property
    def owner_id(self) -> uuid.UUID:
        """The owner's user id."""
        return self.owner.id

    @property
    def owner_email(self) -> str:
        """The owner's email."""
        return self.owner.email

    @property
    def password(self) -> str:
        """The owner's password."""
        return self.owner.password

    @property
    def totp_secret(self) -> str:
        """The owner's TOTP secret (enrolled at signup)."""
        return self.owner.totp_secret

    def code(self) -> str:
        """The owner's current TOTP code."""
        return pyotp.TOTP(self.totp_secret).now()


class ClinicFactory(ServiceFactory):
    """``ClinicFactory(timezone="Asia/Kolkata", country="IN")``: a new clinic and owner.

    Every field of the signup form can be given; the slug (hence host and owner email) is
    unique per call, so mail sent to one clinic's addresses is never confused with another's.
    """

    class Meta:
        model = Clinic

    slug = factory.LazyFunction(lambda: f"c-{uuid.uuid4().hex[:12]}")
    name = factory.LazyAttribute(lambda o: f"Clinic {o.slug}")
    timezone = "Europe/London"
    country = "GB"
    owner_name = "Olive Owner"
    owner_email = factory.LazyAttribute(lambda o: f"owner@{o.slug}.example.org")
    password = PASSWORD

    @classmethod
    def _make(cls, app, **fields):
        from saas.db import tenant_session
        from tenants.services import commit_signup, signup_clinic

        keys = app.extensions["similia.keys"]
        with app.app_context(), tenant_session(None) as sess:
            result = signup_clinic(sess, keys, fields)
            commit_signup(sess, keys, result.tenant.id)
            tenant, owner = result.tenant, result.owner
            clinic = Clinic(
                id=tenant.id,
                slug=tenant.slug,
                name=tenant.name,
                timezone=tenant.timezone,
                host=f"{tenant.slug}.localhost",
                owner=None,  # set below, once the clinic exists
            )
            clinic.owner = StaffMember(
                id=owner.id,
                clinic=clinic,
                email=owner.email,
                name=owner.name,
                role=owner.role,
                password=fields["password"],
                totp_secret=result.totp_secret,
                app=app,
            )
        return clinic
