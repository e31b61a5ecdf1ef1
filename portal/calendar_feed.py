"""The practitioners' calendar subscription feeds: ``GET /calendar/<token>.ics`` (no login).

The secret token in the URL is the credential (stored hashed, revocable); it is only valid
on its own clinic's host. Unknown, revoked or other clinics' tokens are a plain 404. The
feed's last use is recorded in the request's transaction, which commits with the answer.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, g

from saas import db
from saas.extensions import limiter
from saas.scheduling.feeds import feed_by_token, practitioner_calendar, touch_feed
from saas.scheduling.queries import get_practitioner_in_tenant
from saas.web import CLINIC, serve_on

bp = Blueprint("calendar_feed", __name__)
serve_on(bp, CLINIC)


@bp.get("/calendar/<string:token>.ics")
@limiter.limit("60/minute")
def practitioner_feed(token: str):
    """The practitioner's appointments as an iCalendar feed."""
    if g.get("tenant") is None:
        abort(404)
    feed = feed_by_token(db.session, g.tenant.id, token)
    practitioner = feed and get_practitioner_in_tenant(
        db.session, g.tenant.id, feed.practitioner_id
    )
    if feed is None or practitioner is None:
        abort(404)
    body = practitioner_calendar(db.session, g.tenant, practitioner)
    touch_feed(db.session, feed)  # committed with the request
    return Response(
        body,
        mimetype="text/calendar",
        headers={
            "Cache-Control": "private, max-age=300",
            "Content-Disposition": 'inline; filename="calendar.ics"',
            "X-Robots-Tag": "noindex",
        },
    )
