"""The template preview (``/console/practice/messages``): every message, as it is sent.

Needs ``settings.manage``, the permission of the branding page (the messages carry the
clinic's branding). The list names every message type; a message's page shows its subject,
the HTML in a sandboxed frame, the plain text and, for reminders, the SMS and its segments,
in a language the page's form chooses (plain GET form: no JavaScript needed).

The HTML is clinic-controlled content (name, colours) rendered by the email templates, so
it is served on its own route, never inlined in the console: that answer carries
``Content-Security-Policy: sandbox; default-src 'none'; style-src 'unsafe-inline'`` (no
script, no requests, an opaque origin even when opened on its own) and may be framed only
by the console itself; the frame adds ``sandbox`` as well. Rendering is
:mod:`admin.clinic.practice.previews`; nothing is written or sent.
"""

from __future__ import annotations

from flask import Blueprint, abort, g, render_template, request

from admin.clinic import TEMPLATES
from admin.clinic.staff.views import note_session
from saas import db, languages
from saas.security.rbac import requires
from saas.web import CLINIC, serve_on

from . import previews

bp = Blueprint(
    "messages", __name__, url_prefix="/console/practice/messages", template_folder=TEMPLATES
)
serve_on(bp, CLINIC)
bp.before_request(note_session)

#: The policy of the framed HTML: inline styles only, no script, no fetch, opaque origin.
FRAME_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


def _lang() -> str:
    """The language asked for (``?lang=``), else the clinic's default."""
    return languages.supported(request.args.get("lang")) or languages.clinic_language(g.tenant)


def _kind_or_404(key: str) -> str:
    if key not in previews.BY_KEY:
        abort(404)
    return key


@bp.route("/")
@requires("settings.manage")
def message_list():
    """Every message patients and practitioners get, with a link to its preview."""
    sample = previews.sample_visit(db.session, g.tenant)
    return render_template(
        "admin/practice/messages.html", kinds=previews.KINDS, missing=sample.missing
    )


@bp.route("/<key>")
@requires("settings.manage")
def message_preview(key: str):
    """One message for a sample visit: subject, HTML, plain text (and the SMS)."""
    lang = _lang()
    preview = previews.render(db.session, g.tenant, _kind_or_404(key), lang)
    sample = previews.sample_visit(db.session, g.tenant)
    return render_template(
        "admin/practice/message_preview.html",
        preview=preview,
        lang=lang,
        languages=languages.LANGUAGES,
        english_only=key in previews.ENGLISH_ONLY,
        missing=sample.missing,
        sample_patient=previews.SAMPLE_PATIENT,
    )


@bp.route("/<key>/email.html")
@requires("settings.manage")
def message_html(key: str):
    """The message's HTML alone, under a policy that lets it style itself and nothing more."""
    preview = previews.render(db.session, g.tenant, _kind_or_404(key), _lang())
    return (
        preview.html,
        200,
        {
            "Content-Type": "text/html; charset=utf-8",
            "Content-Security-Policy": FRAME_CSP,
            "X-Frame-Options": "SAMEORIGIN",
        },
    )
