"""Map the request's Host to a clinic (``g.tenant``) or to the platform (``g.tenant = None``).

``<slug>.<SAAS_BASE_DOMAIN>`` is a clinic, the bare base domain is the platform, a verified
custom domain is its clinic; anything else is a 404. Host values are validated first (400).
Which host serves an endpoint is declared by its blueprint or view (:mod:`saas.web`):
clinic (default), platform, any, or unresolved (health checks, so load balancers can probe
by IP).

Decisions:

- **A small per-process cache of clinics by host** (:class:`TenantCache`): a hit costs no
  query of its own. The statement that binds the clinic to the transaction (which every
  request on a clinic's host makes anyway, :mod:`saas.db`) also returns the clinic row's
  version (``xmin``, which every UPDATE of the row changes); a different version reloads
  the row before the request goes on. So a change to a clinic (suspension, settings,
  branding, zone) is seen by the very next request in every process, and a request never
  runs on a stale clinic. (Views marked :func:`saas.web.reads_recent`, the public front page
  and slot search, accept the versions this process saw within the last second instead:
  see :func:`saas.db.lease`.) A host that maps to no clinic is never cached (a new clinic's
  host works at once). A changed slug or custom domain leaves the old host pointing at
  its clinic only until its row version differs, which it does after that very change.
- The request gets its own copy of the cached row, attached to its session without a
  query (``merge(load=False)``), with its own copy of ``settings``: a view that changes the
  clinic changes the row, never the cache.
"""

from __future__ import annotations

import copy
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass

import structlog
from flask import Response, abort, current_app, g, render_template, request
from flask_smorest import abort as api_abort
from sqlalchemy import literal_column, select
from sqlalchemy.orm.attributes import set_committed_value

from saas import db
from saas.models import Tenant
from saas.web import ANY, PLATFORM, UNRESOLVED, host_of, reading_recent
from tenants.status import (
    CLOSING_ALLOWED,
    REACHABLE,
    READ_ONLY_ALLOWED,
    READ_ONLY_ALLOWED_PATHS,
    is_read_only,
    staff_only,
)

HOST_RE = re.compile(r"^(?=.{1,253}(?::|$))[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?$")


def parse_host(raw: str) -> str | None:
    """The lower-case host name without port, or None when the header is malformed."""
    host = (raw or "").strip().lower()
    if not HOST_RE.match(host) or ".." in host:
        return None
    return host.rsplit(":", 1)[0] if ":" in host else host


@dataclass(frozen=True)
class _Cached:
    tenant: Tenant  # detached, never handed out: each request gets its own copy
    row_version: str


class TenantCache:
    """Clinics by host name, least recently used out first (see the module's decisions)."""

    def __init__(self, size: int = 4096):
        self.size = size
        self._entries: OrderedDict[str, _Cached] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, host: str) -> _Cached | None:
        """The cached clinic of ``host``, if any."""
        with self._lock:
            entry = self._entries.get(host)
            if entry is not None:
                self._entries.move_to_end(host)
            return entry

    def put(self, host: str, entry: _Cached) -> None:
        """Remember ``host``'s clinic."""
        with self._lock:
            self._entries[host] = entry
            self._entries.move_to_end(host)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every clinic."""
        with self._lock:
            self._entries.clear()


def _cache() -> TenantCache:
    return current_app.extensions.setdefault("similia.tenant_cache", TenantCache())


def _load(condition) -> _Cached | None:
    row = db.session.execute(
        select(Tenant, literal_column("tenants.xmin::text")).where(condition)
    ).first()
    if row is None:
        return None
    tenant, version = row
    db.session.expunge(tenant)
    return _Cached(tenant, version)


def _tenant_for(host: str, base: str, recent: bool = False) -> Tenant | None:
    """The clinic of a clinic host (bound to the session), or None when there is none.

    ``recent``: the view reads only public data and accepts the versions this process saw
    within the last second (:func:`saas.db.lease`): a cached clinic whose row version
    matches them is used without opening a transaction.
    """
    cache = _cache()
    entry = cache.get(host)
    if entry is None:  # the statement is built on a miss only (building it costs a hit's time)
        if host.endswith("." + base) and host.count(".") == base.count(".") + 1:
            condition = Tenant.slug == host[: -len(base) - 1]
        else:
            condition = Tenant.custom_domain == host
        entry = _load(condition)
        if entry is None:
            return None
        cache.put(host, entry)
    db.bind_tenant(db.session, entry.tenant.id)
    leased = db.lease(db.session) if recent else None
    seen = leased if leased is not None else db.versions(db.session)
    if seen is None or seen.tenant_row != entry.row_version:
        fresh = _load(Tenant.id == entry.tenant.id)
        if fresh is None:
            return None
        entry = fresh
        cache.put(host, entry)
    tenant = db.session.merge(entry.tenant, load=False)
    set_committed_value(tenant, "settings", copy.deepcopy(entry.tenant.settings))
    g.tenant_row = entry.row_version  # caches check it against the versions they key on
    return tenant


def _staff_request(is_api: bool) -> bool:
    """A staff request: what stays open while the clinic is closing.

    The console, staff sign-in and password reset, and the brand's stylesheet and logo the
    console shows.
    """
    if is_api:
        return False
    endpoint = request.endpoint or ""
    return request.path.startswith("/console") or endpoint.startswith(("auth.", "brand."))


def _closing_page(tenant) -> str:
    """The closing notice in the patient's portal language (else the clinic's default)."""
    from flask import session

    from saas import languages

    lang = languages.supported(session.get("portal_lang")) or languages.clinic_language(tenant)
    with languages.force_locale(lang):
        return render_template("closing.html", tenant=tenant, lang=lang)


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
    else:
        tenant = _tenant_for(host, base, reading_recent())
        if tenant is None:
            db.bind_tenant(db.session, None)
            abort(404)
    is_api = request.path.startswith("/api/")
    if tenant is None:
        if where not in (PLATFORM, ANY):
            abort(404)
        return
    if where == PLATFORM:
        db.bind_tenant(db.session, None)
        abort(404)
    if staff_only(tenant) and not _staff_request(is_api):
        db.bind_tenant(db.session, None)  # closing: the portal is offline, data intact
        if is_api:
            api_abort(403, message="This clinic is unavailable.")
        abort(current_app.make_response((_closing_page(tenant), 403)))
    if tenant.status not in REACHABLE and not staff_only(tenant):
        db.bind_tenant(db.session, None)
        if is_api:
            api_abort(403, message="This clinic is unavailable.")
        abort(current_app.make_response((render_template("unavailable.html", tenant=tenant), 403)))
    g.tenant = tenant
    writes = request.method not in ("GET", "HEAD", "OPTIONS")
    allowed = CLOSING_ALLOWED if staff_only(tenant) else READ_ONLY_ALLOWED
    if is_read_only(tenant) and writes and request.endpoint not in allowed:
        if request.path not in READ_ONLY_ALLOWED_PATHS:
            # suspended: everything can be read, nothing changed; no data is lost
            if is_api:
                api_abort(403, message="This clinic is paused: read-only for now.")
            abort(current_app.make_response((render_template("paused.html", tenant=tenant), 403)))
    structlog.contextvars.bind_contextvars(tenant_id=str(tenant.id))
