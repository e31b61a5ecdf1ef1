"""The notification log: what was sent to whom, when, on which channel, and its state.

Everything is read by :func:`notification_log` from the outbox (``outbox``: one row per
message, written with the change and relayed by the workers). Notification tracking is being
reworked (delivery receipts, SMS); when it lands only this function changes.

Decisions:

- jobs share the outbox (topics ``job.*``) and are not notifications: left out;
- the recipient is the patient's name when the message names a patient, else the email
  address masked (``m•••@example.com``); subjects, bodies and links are never shown (a
  sign-in link in a body is a credential);
- the state is the outbox's delivery state (``workers.outbox``): waiting, sending, sent
  (handed to the mail server, ``dispatched_at``), retrying (attempts, last error, next
  try), failed for good (dead) or not sent with its reason (skipped). A row whose
  ``dispatched_at`` is set counts as sent unless it was skipped or given up. Bounces are not
  tracked yet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

PAGE = 50

#: Topics in words; unknown topics read as their words.
TOPICS = {
    "appointment.confirmed": "Booking confirmed",
    "appointment.held": "Booking held, awaiting payment",
    "appointment.rescheduled": "Appointment moved",
    "appointment.cancelled": "Appointment cancelled",
    "appointment.hold_expired": "Held booking lapsed",
    "appointment.no_show": "Missed appointment",
    "appointment.completed": "Visit completed",
    "waitlist.offer": "Waiting-list slot offered",
    "payment.receipt": "Payment receipt",
    "email.invitation": "Staff invitation",
    "email.verify_patient": "Patient account confirmation",
    "email.follow_up_invitation": "Follow-up invitation",
    "email.sign_in_link": "Sign-in link",
    "email.password_reset": "Password reset link",
    "email.export_ready": "Data export ready",
}

STATES = {
    "waiting": "Waiting to send",
    "sending": "Sending",
    "retrying": "Retrying",
    "sent": "Sent to the mail server",
    "dead": "Failed, not retried",
    "skipped": "Not sent",
}

#: The state shown, from the outbox columns (one expression for the filter and the column).
SHOWN_STATE = """CASE
    WHEN o.state IN ('skipped', 'dead') THEN o.state
    WHEN o.dispatched_at IS NOT NULL THEN 'sent'
    WHEN o.state = 'sending' THEN 'sending'
    WHEN o.attempts > 0 THEN 'retrying'
    ELSE 'waiting' END"""


@dataclass
class Filters:
    state: str | None = None  #: one of :data:`STATES`
    page: int = 1


@dataclass
class Entry:
    when: dt.datetime
    what: str
    to: str
    channel: str
    state: str


def mask(address: str | None) -> str:
    """``maria@example.com`` → ``m•••@example.com``."""
    if not address or "@" not in address:
        return "—"
    local, _, domain = address.partition("@")
    return f"{local[:1]}•••@{domain}"


def topic_label(topic: str) -> str:
    return TOPICS.get(topic) or topic.replace("email.", "").replace(".", " ").replace("_", " ")


def notification_log(sess: Session, tenant, filters: Filters) -> tuple[list[Entry], bool]:
    """One page of the clinic's notifications, newest first, and whether there are more."""
    where = f"AND {SHOWN_STATE} = :state" if filters.state else ""
    rows = sess.execute(
        text(
            f"""
            SELECT o.created_at, o.topic, o.payload->>'to', p.full_name,
                   o.dispatched_at, o.attempts, {SHOWN_STATE}, o.skip_reason, o.last_error,
                   o.next_attempt_at
            FROM outbox o
            LEFT JOIN patients p ON p.tenant_id = o.tenant_id AND p.id = CASE
                WHEN o.payload->>'patient_id' ~ '^[0-9a-fA-F-]{{36}}$'
                THEN (o.payload->>'patient_id')::uuid END
            WHERE o.tenant_id = :tid AND o.topic NOT LIKE 'job.%' {where}
            ORDER BY o.created_at DESC, o.id DESC
            LIMIT :limit OFFSET :offset
            """  # noqa: S608 - ``where`` and SHOWN_STATE are fixed strings
        ),
        {
            "tid": tenant.id,
            "state": filters.state,
            "limit": PAGE + 1,
            "offset": (max(filters.page, 1) - 1) * PAGE,
        },
    ).all()
    zone = ZoneInfo(tenant.timezone)
    out = []
    for row in rows[:PAGE]:
        created, topic, to, patient, dispatched, attempts, shown, reason, error, due = row
        state = _state_text(shown, dispatched, attempts, reason, error, due, zone)
        out.append(
            Entry(
                when=created.astimezone(zone),
                what=topic_label(topic),
                to=f"Patient {patient}" if patient else mask(to),
                channel="Email",
                state=state,
            )
        )
    return out, len(rows) > PAGE


def _state_text(shown, dispatched, attempts, reason, error, due, zone) -> str:
    """The state in words, with what the clinic needs to know about it."""
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    if shown == "sent":
        return f"{STATES['sent']} {dispatched.astimezone(zone):%-d %b %Y, %H:%M %Z}"
    if shown == "skipped":
        return f"{STATES['skipped']}: {reason or 'no reason recorded'}"
    if shown == "dead":
        return f"{STATES['dead']} ({tries}; last error: {error or 'unknown'})"
    if shown == "retrying":
        detail = f"; last error: {error}" if error else ""
        nxt = f"; next try {due.astimezone(zone):%-d %b %Y, %H:%M %Z}" if error and due else ""
        return f"{STATES['retrying']} ({tries}{detail}{nxt})"
    return STATES[shown]
