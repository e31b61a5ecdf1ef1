"""Operators for the operator console tests: ``operator(role)`` and a signed-in ``Ops`` client.

Operators are created as ``saas operators create`` does (:func:`admin.platform.auth.
create_operator`, on the operator role's connection); ``Ops`` signs in through the pages
(password, then TOTP code) on the platform host, as a person would.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import pyotp
import pytest

from tests.client import new_client
from tests.helpers import csrf_from

PASSWORD = "Operator-Pass-2026!"
PLATFORM = "http://localhost"


@dataclass
class OperatorAccount:
    """An operator's credentials."""

    id: object
    email: str
    role: str
    secret: str

    def code(self) -> str:
        """The current TOTP code."""
        return pyotp.TOTP(self.secret).now()


def create_operator_account(app, role: str = "admin") -> OperatorAccount:
    """A new operator (own session on the operator role's connection, committed)."""
    from admin.platform.auth import create_operator
    from saas.db import _factory

    with app.app_context():
        sess = _factory(bind=app.extensions["similia.ops_engine"])
        try:
            email = f"op-{secrets.token_hex(4)}@similia.example"
            op, secret = create_operator(sess, email, "Olga Operator", role, PASSWORD)
            sess.commit()
            return OperatorAccount(op.id, email, role, secret)
        finally:
            sess.close()


class Ops:
    """A browser-like client signed in to /ops."""

    def __init__(self, app, account: OperatorAccount):
        self.app, self.account = app, account
        self.client = new_client(app)
        page = self.get("/ops/login")
        r = self.client.post(
            "/ops/login",
            data={"email": account.email, "password": PASSWORD, "csrf_token": csrf_from(page.data)},
            base_url=PLATFORM,
        )
        assert r.status_code == 302 and r.location.endswith("/ops/login/code"), r.status_code
        page = self.get("/ops/login/code")
        r = self.client.post(
            "/ops/login/code",
            data={"code": account.code(), "csrf_token": csrf_from(page.data)},
            base_url=PLATFORM,
        )
        if r.status_code == 401:  # the code of this time step was used already: next step
            time.sleep(30 - time.time() % 30 + 0.5)
            r = self.client.post(
                "/ops/login/code",
                data={"code": account.code(), "csrf_token": csrf_from(page.data)},
                base_url=PLATFORM,
            )
        assert r.status_code == 302 and r.location.endswith("/ops/tenants"), r.status_code

    def get(self, path: str, **kw):
        """GET on the platform host."""
        return self.client.get(path, base_url=PLATFORM, **kw)

    def text(self, path: str) -> str:
        """A page that must answer 200."""
        r = self.get(path)
        assert r.status_code == 200, (path, r.status_code)
        return r.get_data(as_text=True)

    def post(self, path: str, data: dict, *, form_page: str, **kw):
        """POST a form with the CSRF token of ``form_page``."""
        token = csrf_from(self.get(form_page).data)
        return self.client.post(path, data={**data, "csrf_token": token}, base_url=PLATFORM, **kw)


@pytest.fixture
def operator(app):
    """Make an operator: ``operator("admin")`` or ``operator("support")``."""
    return lambda role="admin": create_operator_account(app, role)


@pytest.fixture
def ops(app, operator):
    """An admin operator signed in to /ops."""
    return Ops(app, operator("admin"))
