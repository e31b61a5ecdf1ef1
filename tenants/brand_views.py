"""The clinic's branding as served to browsers: ``/brand.css`` and ``/brand/logo``.

Both are public on the clinic's host (the portal and the console link them) and answer from
our own origin. The stylesheet carries only validated custom properties
(:func:`tenants.branding.branding_css`); the logo is the re-encoded image with its exact
content type, ``nosniff`` (set for every response) and ``Content-Disposition: inline`` with a
fixed file name.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, request

from saas import db
from saas.exceptions import not_found
from saas.web import CLINIC, serve_on

from .branding import branding_css, get_logo_in_tenant

bp = Blueprint("brand", __name__)
serve_on(bp, CLINIC)


@bp.route("/brand.css")
def stylesheet():
    """The clinic's colours as CSS custom properties."""
    resp = Response(branding_css(g.tenant), mimetype="text/css")
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.route("/brand/logo")
def logo():
    """The clinic's logo (PNG or JPEG, re-encoded at upload)."""
    found = get_logo_in_tenant(db.session, g.tenant.id)
    if found is None:
        raise not_found("logo")
    resp = Response(found.data, mimetype=found.content_type)
    resp.headers["Content-Disposition"] = "inline; filename=logo." + (
        "png" if found.content_type == "image/png" else "jpg"
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "public, max-age=300"
    resp.set_etag(found.sha256)
    return resp.make_conditional(request)
