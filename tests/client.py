"""The one API client helper: calls a clinic's host as one caller, as a browser or app would.

``Api(app, clinic, token)`` sends every request to ``http://<clinic host>`` with the bearer
token (or none), from its own client address (per-address rate limits never collide):

    api = Api(app, clinic, token)
    api.get("/api/v1/slots", service_id=sid, **{"from": day, "to": day})  # query parameters
    api.post("/api/v1/patients", json=body)                               # JSON body
    api.post(path, data={"file": (io.BytesIO(b"..."), "a.pdf")}, content_type="multipart/form-data")
    api.as_(patient_token).get("/api/v1/appointments")                    # same host, other caller
    api.get("/api/v1/appointments", token=None)                           # one call anonymous
    check(api.get(...), 200)                                              # status + JSON body

Records and scheduling tests reach it through their conftest fixtures (``team.api(...)``,
``practice.owner``); new tests can build one directly.
"""

from __future__ import annotations

import random
from typing import Any

import pyotp

_SAME = ...  # "use this client's token"


def random_ip() -> str:
    """A distinct client address per test client, so per-IP limits do not collide."""
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def new_client(app):
    """A Flask test client with its own client address."""
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = random_ip()
    return c


def check(resp, status: int):
    """Assert the status, showing the body when it differs; returns the JSON body."""
    body = resp.get_json(silent=True)
    assert resp.status_code == status, (resp.status_code, body)
    return body


class Api:
    """Calls the API on one clinic's host with one bearer token (``None``: anonymous).

    ``clinic`` is anything with a ``host`` (a :class:`tests.factories.Clinic`) or a host
    name. Pass ``client`` to share a test client (and its cookies) between callers.
    """

    def __init__(self, app, clinic, token: str | None = None, *, client=None):
        self.app = app
        self.clinic = None if isinstance(clinic, str) else clinic
        self.host: str = clinic if isinstance(clinic, str) else clinic.host
        self.token = token
        self.client = client if client is not None else new_client(app)

    @property
    def base_url(self) -> str:
        """``http://<host>``: the Host header every request carries."""
        return f"http://{self.host}"

    def _headers(self, token, headers: dict | None) -> dict:
        token = self.token if token is _SAME else token
        out = dict(headers or {})
        if token:
            out.setdefault("Authorization", f"Bearer {token}")
        return out

    def open(self, method: str, path: str, *, token: Any = _SAME, headers=None, **kw):
        """Any request; ``kw`` goes to the Flask test client (``json``, ``data``, ...)."""
        return self.client.open(
            path,
            method=method,
            headers=self._headers(token, headers),
            base_url=self.base_url,
            **kw,
        )

    def get(
        self, path: str, *, token: Any = _SAME, headers=None, query_string=None, json=None, **params
    ):
        """GET; keyword arguments other than these are query parameters."""
        query = {**(query_string or {}), **params} or None
        kw = {} if json is None else {"json": json}
        return self.open("GET", path, token=token, headers=headers, query_string=query, **kw)

    def post(self, path: str, json=None, *, token: Any = _SAME, **kw):
        """POST a JSON body (or ``data=`` for forms and uploads)."""
        return self.open("POST", path, token=token, json=json, **kw)

    def put(self, path: str, json=None, *, token: Any = _SAME, **kw):
        """PUT a JSON body."""
        return self.open("PUT", path, token=token, json=json, **kw)

    def patch(self, path: str, json=None, *, token: Any = _SAME, **kw):
        """PATCH a JSON body."""
        return self.open("PATCH", path, token=token, json=json, **kw)

    def delete(self, path: str, *, token: Any = _SAME, **kw):
        """DELETE."""
        return self.open("DELETE", path, token=token, **kw)

    def send(self, method: str, path: str, json=None, *, token: Any = _SAME):
        """POST/PUT/PATCH/DELETE with a JSON body."""
        return self.open(method, path, token=token, json=json)

    def as_(self, token: str | None) -> Api:
        """The same host and test client with another token (``None``: anonymous)."""
        return Api(self.app, self.clinic or self.host, token, client=self.client)

    def on(self, clinic) -> Api:
        """The same token sent to another clinic's host (to prove it is refused there)."""
        return Api(self.app, clinic, self.token)


def bearer_token(app, host: str, *, email: str, password: str, totp_secret: str) -> str:
    """Sign in through ``POST /api/v1/auth/token`` (password + current TOTP code)."""
    resp = new_client(app).post(
        "/api/v1/auth/token",
        json={"email": email, "password": password, "otp": pyotp.TOTP(totp_secret).now()},
        base_url=f"http://{host}",
    )
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["access_token"]
