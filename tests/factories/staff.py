"""Staff members with an enrolled TOTP second factor, and their bearer tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import factory
import pyotp

from tests.client import Api, bearer_token

from .base import ServiceFactory, clinic_session

#: Password of every factory-made account (owners and staff alike).
PASSWORD = "correct horse 42"


@dataclass
class StaffMember:
    """A staff account: credentials, and its bearer token once :meth:`sign_in` ran.

    A TOTP code is accepted once per 30-second step, so sign in (token or console) once
    per member and step; :meth:`sign_in` keeps the token for reuse.
    """

    id: uuid.UUID
    clinic: object
    email: str
    name: str
    role: str
    password: str
    totp_secret: str
    token: str | None = None
    app: object = field(default=None, repr=False)

    def code(self) -> str:
        """The current TOTP code."""
        return pyotp.TOTP(self.totp_secret).now()

    def sign_in(self) -> str:
        """A bearer token through ``POST /api/v1/auth/token`` (kept on :attr:`token`)."""
        if self.token is None:
            self.token = bearer_token(
                self.app,
                self.clinic.host,
                email=self.email,
                password=self.password,
                totp_secret=self.totp_secret,
            )
        return self.token

    def signed_in(self) -> StaffMember:
        """Sign in (:meth:`sign_in`) and return the member, for chaining."""
        self.sign_in()
        return self

    def api(self) -> Api:
        """An API client on the clinic's host with this member's token."""
        return Api(self.app, self.clinic, self.sign_in())


class StaffFactory(ServiceFactory):
    """``StaffFactory(clinic=clinic, role="receptionist")``: a staff account, MFA enrolled.

    Inserted as an accepted invitation leaves it (as ``tenants/demo.py`` seeds its team),
    with the TOTP secret sealed by the real ``saas.security.auth.new_totp_secret``.
    ``enrolled=False`` leaves MFA to be set up at first sign-in.
    """

    class Meta:
        model = StaffMember

    clinic = factory.SubFactory("tests.factories.clinic.ClinicFactory")
    role = "practitioner"
    name = factory.LazyAttribute(lambda o: f"{o.role.title()} {o.clinic.slug}")
    email = factory.LazyAttribute(
        lambda o: f"{o.role}-{uuid.uuid4().hex[:6]}@{o.clinic.slug}.example.org"
    )
    password = PASSWORD
    enrolled = True

    @classmethod
    def _make(cls, app, *, clinic, role, name, email, password, enrolled):
        from saas.models import Tenant, User, utcnow
        from saas.security.auth import new_totp_secret
        from saas.security.passwords import hash_password

        with clinic_session(app, clinic.id) as sess:
            tenant = sess.get(Tenant, clinic.id)
            user = User(
                id=uuid.uuid4(),
                tenant_id=clinic.id,
                email=email,
                name=name,
                role=role,
                password_hash=hash_password(password),
            )
            sess.add(user)
            sess.flush()
            secret = new_totp_secret(sess, tenant, user)
            user.mfa_enrolled_at = utcnow() if enrolled else None
            user_id = user.id
        return StaffMember(user_id, clinic, email, name, role, password, secret, app=app)


def add_staff(app, clinic, role: str, *, enrolled: bool = True) -> tuple[str, str]:
    """Shortcut for page tests: a member of ``clinic``; returns (email, TOTP secret).

    The password is :data:`PASSWORD`.
    """
    member = StaffFactory(clinic=clinic, role=role, enrolled=enrolled, app=app)
    return member.email, member.totp_secret
