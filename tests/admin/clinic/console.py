"""A signed-in console session for page tests: ``Console(app, clinic, role)``.

The member is made by :func:`tests.factories.add_staff` (TOTP enrolled) and signs in through
the pages (password, then code), as a person would. ``get``/``post`` act on the clinic's
host; ``post`` fetches the page first for its CSRF token (``form_page`` names another page
to take it from).
"""

from __future__ import annotations

import pyotp

from tests.client import new_client
from tests.factories import PASSWORD, add_staff
from tests.helpers import csrf_from


class Console:
    """A browser-like client signed in to a clinic's console with ``role``."""

    def __init__(self, app, clinic, role: str = "owner"):
        self.app, self.clinic, self.role = app, clinic, role
        self.email, self.secret = add_staff(app, clinic, role)
        self.client = new_client(app)
        self.host = clinic.host
        page = self.get("/login")
        r = self.client.post(
            "/login",
            data={"email": self.email, "password": PASSWORD, "csrf_token": csrf_from(page.data)},
            base_url=self.base,
        )
        assert r.status_code == 302, r.status_code
        page = self.get("/login/mfa")
        r = self.client.post(
            "/login/mfa",
            data={"code": pyotp.TOTP(self.secret).now(), "csrf_token": csrf_from(page.data)},
            base_url=self.base,
        )
        assert r.status_code == 302 and r.location.endswith("/console/"), r.status_code

    @property
    def base(self) -> str:
        """The clinic's base URL."""
        return f"http://{self.host}"

    def get(self, path: str, **kw):
        """GET on the clinic's host."""
        return self.client.get(path, base_url=self.base, **kw)

    def text(self, path: str) -> str:
        """GET a page that must answer 200; its HTML."""
        r = self.get(path)
        assert r.status_code == 200, (path, r.status_code)
        return r.get_data(as_text=True)

    def csrf(self, path: str = "/console/") -> str:
        """A CSRF token from ``path`` (any form page of this session)."""
        return csrf_from(self.get(path).data)

    def post(self, path: str, data: dict | None = None, *, form_page: str | None = None, **kw):
        """POST a form with a CSRF token taken from ``form_page`` (default: ``path``)."""
        token = self.csrf(form_page or "/console/")
        return self.client.post(
            path, data={**(data or {}), "csrf_token": token}, base_url=self.base, **kw
        )
