"""Map the request's Host to a clinic (``g.tenant``) or to the platform (``g.tenant = None``).

``<slug>.<SAAS_BASE_DOMAIN>`` is a clinic, the bare base domain is the platform, a verified
custom domain is its clinic; anything else is a 404. Host values are validated first (400).
Which host serves an endpoint is declared by its blueprint or view (:mod:`saas.web`):
clinic (default), platform, any, or unresolved (health checks, so load balancers can probe
by IP).
"""

from __future__ import annotations

import re

import structlog
from flask import Response, abort, current_app, g, render_template, request
from flask_smorest import abort as api_abort
from sqlalchemy import select

from saas import db
from saas.models import Tenant
from saas.web import ANY, PLATFORM, UNRESOLVED, host_of

HOST_RE = re.compile(r"^(?=.{1,253}(?::|$))[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?$")


def parse_host(raw: str) -> str | None:
    """The lower-case host name without port, or None when the header is malformed."""
    host = (raw or "").strip().lower()
    if not HOST_RE.match(host) or ".." in host:
        return None
    return host.rsplit(":", 1)[0] if ":" in host else host


def resolve_tenant() -> None:
    """``before_request``: set ``g.tenant`` and bind it to the database session."""
    g.tenant = None
    where = host_of()
    if where == UNRESOLVED or request.endpoint == "static":
        return
    host = parse_host(request.headers.get("Host", ""))
    if host is None:  # no page template: URLs cannot be built for a malformed host
        abort(Response("Malformed Host header.\n", 400, mimetype="text/plain"))
    base = current_app.config["SIMILIA"].base_domain
    if host == base:
        tenant = None
    elif host.endswith("." + base) and host.count(".") == base.count(".") + 1:
        slug = host[: -len(base) - 1]
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            abort(404)
    else:
        tenant = db.session.scalar(select(Tenant).where(Tenant.custom_domain == host))
        if tenant is None:
            abort(404)
    is_api = request.path.startswith("/api/")
    if tenant is None:
        if where not in (PLATFORM, ANY):
            abort(404)
        return
    if where == PLATFORM:
        abort(404)
    if tenant.status != "active":
        if is_api:
            api_abort(403, message="This clinic is unavailable.")
        abort(current_app.make_response((render_template("unavailable.html", tenant=tenant), 403)))
    g.tenant = tenant
    db.bind_tenant(db.session, tenant.id)
    structlog.contextvars.bind_contextvars(tenant_id=str(tenant.id))
