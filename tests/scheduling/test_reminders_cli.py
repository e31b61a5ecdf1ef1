"""``saas reminders send-due --at``: a newcomer moves the clock forward and sees the reminders.

Through the real command, relay and SMTP sink: a visit in 6 days; at "5 days ahead, 10:30"
only the day-before reminder is due and arrives; the 2-hour one waits for its own time.
"""

from __future__ import annotations

import datetime as dt
import uuid

from saas.cli import main
from tests.helpers import text_of
from tests.scheduling.conftest import check
from tests.scheduling.test_notifications import _mail, _patient_with_email
from tests.scheduling.test_reminders import _consent, _relay, _reminders


def test_send_due_at_a_later_moment_sends_what_is_due_then(
    app, make_practice, worker, mail_dir, sql
):
    p = make_practice("Europe/London")
    email = f"later-{uuid.uuid4().hex[:6]}@example.org"
    token = _patient_with_email(app, p.clinic, email)
    _consent(app, p.clinic.id)
    day = p.day(6)
    check(p.owner.post("/api/v1/appointments", p.booking(p.at(day, "10:00")), token=token), 201)

    bad = app.test_cli_runner().invoke(main, ["reminders", "send-due", "--at", "Friday"])
    assert bad.exit_code != 0 and "not an ISO 8601 time" in bad.output
    at = (day - dt.timedelta(days=1)).isoformat() + "T10:30"
    result = app.test_cli_runner().invoke(
        main, ["reminders", "send-due", "--at", at, "--clinic", p.clinic.slug]
    )
    assert result.exit_code == 0, result.output
    assert f"{p.clinic.slug}: 2 reminder(s) planned, 1 due now" in result.output
    _relay(app, sql, p.clinic.id)
    mails = _mail(mail_dir, email, 2)  # the confirmation, then the reminder
    [reminder] = [m for m in mails if "Reminder" in m["Subject"]]
    assert "10:00" in text_of(reminder)
    states = {row[0]: row[2] for row in _reminders(sql, p.clinic.id)}
    assert states == {"1440": "sent", "120": "queued"}
    # run again: nothing is planned or sent twice
    again = app.test_cli_runner().invoke(
        main, ["reminders", "send-due", "--at", at, "--clinic", p.clinic.slug]
    )
    assert f"{p.clinic.slug}: 0 reminder(s) planned, 0 due now" in again.output
