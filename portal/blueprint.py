"""The portal's page blueprint: the clinic's host, its shell values, its cookie, no caching.

Every portal page module (:mod:`.views`, :mod:`.account`, :mod:`.booking`, :mod:`.visits`,
:mod:`.profile`) adds its routes to :data:`bp`.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, g, request

from saas.web import CLINIC, serve_on

from . import fmt, i18n
from .branding import brand_of
from .session import apply_cookie, current_patient

bp = Blueprint(
    "portal",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/portal/static",
)
serve_on(bp, CLINIC)
bp.record_once(lambda state: i18n.init(state.app))
#: Paths whose answer is the same for every visitor of the clinic (cacheable).
PUBLIC_ASSETS = ("/portal/favicon.svg", "/portal/static/")


def _lang_url(code: str) -> str:
    """The current page in another language (the patient's choice is remembered)."""
    if request.method != "GET":  # a form's answer cannot be reloaded: start from the front page
        return f"/?{urlencode({'lang': code})}"
    args = {**request.args.to_dict(), "lang": code}
    return f"{request.path}?{urlencode(args)}"


@bp.app_context_processor
def _portal_context():
    """The clinic's shell values and the signed-in patient, for portal templates only."""
    if request.blueprint != "portal" and request.endpoint != "front_page":
        return {}
    if g.get("tenant") is None:
        return {}
    if "portal_brand" not in g:
        g.portal_brand = brand_of(g.tenant)
    return {
        "brand": g.portal_brand,
        "patient": current_patient(),
        "fmt": fmt,
        "languages": i18n.LANGUAGES,
        "lang_url": _lang_url,
    }


@bp.after_app_request
def _portal_response(response):
    """Write the portal cookie when a view asked; never cache a page a patient may see."""
    if request.blueprint != "portal" and request.endpoint != "front_page":
        return response
    if g.get("tenant") is None:
        return response
    response = apply_cookie(response)
    if not request.path.startswith(PUBLIC_ASSETS):
        response.headers["Cache-Control"] = "private, no-store"
    return response
