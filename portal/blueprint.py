"""The portal's page blueprint: the clinic's host, its shell values, its cookie, no caching.

Every portal page module (:mod:`.views`, :mod:`.account`, :mod:`.booking`, :mod:`.visits`,
:mod:`.profile`) adds its routes to :data:`bp`.

Embedding (issue #11, item 6): any portal page opened with ``?embed=1`` is drawn in a
cut-down shell (no header, no footer, a script that tells the embedding page its height),
and every link, form action and redirect the page builds with ``url_for`` keeps
``embed=1`` (:func:`_keep_embed`), so the whole booking path stays inside the frame. Portal
pages answer ``Content-Security-Policy: ... frame-ancestors 'self' <origins>`` with the
clinic's own ``embed_origins`` (:func:`tenants.branding.frame_ancestors`) and no
``X-Frame-Options`` (``SAMEORIGIN`` when nothing is listed), so one clinic's list never
lets a site frame another clinic's pages.

Signing in inside the frame needs the portal's cookie, which browsers send to a frame only
when the portal and the embedding page are the same *site*: a clinic embedding the booking
path should serve its portal on a custom domain of its own site (``book.clinic.example``
inside ``www.clinic.example``). On a different site the steps up to the review page work.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, g, request

from saas.web import CLINIC, serve_on
from tenants.branding import frame_ancestors

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
#: Endpoints whose URLs never carry ``embed=1`` (shared, cacheable assets).
NOT_EMBEDDED = frozenset({"portal.static", "portal.favicon"})
EMBED_ARG = "embed"


def _is_portal_request() -> bool:
    return request.blueprint == "portal" or request.endpoint == "front_page"


def embedded() -> bool:
    """Whether this portal page is drawn inside another site's frame (``?embed=1``)."""
    return request.args.get(EMBED_ARG) == "1"


@bp.url_defaults
def _keep_embed(endpoint, values):
    """Links and redirects built on an embedded page stay embedded."""
    if endpoint not in NOT_EMBEDDED and EMBED_ARG not in values and g.get("portal_embed"):
        values[EMBED_ARG] = "1"


@bp.before_app_request
def _note_embed():
    if _is_portal_request():
        g.portal_embed = embedded()


def _lang_url(code: str) -> str:
    """The current page in another language (the patient's choice is remembered)."""
    if request.method != "GET":  # a form's answer cannot be reloaded: start from the front page
        return f"/?{urlencode({'lang': code})}"
    args = {**request.args.to_dict(), "lang": code}
    return f"{request.path}?{urlencode(args)}"


@bp.app_context_processor
def _portal_context():
    """The clinic's shell values and the signed-in patient, for portal templates only."""
    if not _is_portal_request():
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
        "embed": g.get("portal_embed", False),
    }


@bp.after_app_request
def _portal_response(response):
    """Write the portal cookie when a view asked; never cache a page a patient may see."""
    if not _is_portal_request():
        return response
    if g.get("tenant") is None:
        return response
    response = apply_cookie(response)
    if not request.path.startswith(PUBLIC_ASSETS):
        response.headers["Cache-Control"] = "private, no-store"
    _frame_policy(response)
    return response


def _frame_policy(response) -> None:
    """Let the clinic's own site (and only it) frame its portal pages."""
    csp = response.headers.get("Content-Security-Policy")
    if not csp or "frame-ancestors" not in csp:
        return
    ancestors = frame_ancestors(g.tenant)
    directives = [d.strip() for d in csp.split(";") if d.strip()]
    response.headers["Content-Security-Policy"] = "; ".join(
        f"frame-ancestors {ancestors}" if d.startswith("frame-ancestors") else d for d in directives
    )
    if ancestors == "'self'":
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
    else:  # X-Frame-Options cannot name another origin; frame-ancestors decides
        response.headers.pop("X-Frame-Options", None)
