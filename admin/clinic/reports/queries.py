"""The reports' SQL: each function returns a :class:`Table` of figures for one period.

A period is ``[start, end)`` in UTC, made from whole days in the clinic's zone
(:func:`period_bounds`); months are cut in the clinic's zone too (``AT TIME ZONE``).
Nothing here loads appointments into Python: every figure is an aggregate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

#: Appointments that took (or take) a practitioner's time.
BOOKED = ("confirmed", "checked_in", "completed", "no_show")
#: Visits whose outcome is known: the patient came, or did not.
DECIDED = ("checked_in", "completed", "no_show")

STATE_LABELS = {
    "held": "Held (awaiting payment)",
    "confirmed": "Confirmed",
    "checked_in": "Checked in",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "no_show": "No-show",
    "expired": "Expired hold",
}


@dataclass
class Table:
    """A report's figures: column headings and rows, plus what the chart draws."""

    columns: list[str]
    rows: list[list] = field(default_factory=list)
    #: (label, value) pairs for the chart, and how to print a value.
    chart: list[tuple[str, float]] = field(default_factory=list)
    unit: str = ""


def period_bounds(zone: str, first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """``[first 00:00, the day after last 00:00)`` in ``zone``, as aware datetimes."""
    tz = ZoneInfo(zone)
    start = dt.datetime.combine(first, dt.time(), tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tz)
    return start, end


def _params(tenant, start, end, **more) -> dict:
    return {"tid": tenant.id, "start": start, "end": end, "tz": tenant.timezone, **more}


def appointments_by_state(sess: Session, tenant, start, end) -> Table:
    """How many appointments starting in the period are in each state."""
    rows = sess.execute(
        text(
            """
            SELECT status, count(*) FROM appointments
            WHERE tenant_id = :tid AND start_at >= :start AND start_at < :end
            GROUP BY status
            """
        ),
        _params(tenant, start, end),
    ).all()
    counts = dict(rows)
    table = Table(["State", "Appointments"])
    for code, label in STATE_LABELS.items():
        n = counts.get(code, 0)
        table.rows.append([label, n])
        table.chart.append((label, n))
    table.rows.append(["Total", sum(counts.values())])
    return table


def no_show_rate(sess: Session, tenant, start, end) -> Table:
    """No-shows among visits whose outcome is known, per month (clinic's zone) and overall."""
    rows = sess.execute(
        text(
            """
            SELECT to_char(date_trunc('month', start_at AT TIME ZONE :tz), 'YYYY-MM') AS month,
                   count(*) FILTER (WHERE status = 'no_show') AS missed,
                   count(*) AS decided
            FROM appointments
            WHERE tenant_id = :tid AND start_at >= :start AND start_at < :end
              AND status IN :decided
            GROUP BY 1 ORDER BY 1
            """
        ).bindparams(_expanding("decided")),
        _params(tenant, start, end, decided=DECIDED),
    ).all()
    table = Table(["Month", "No-shows", "Visits with an outcome", "No-show rate"], unit="%")
    missed_total = decided_total = 0
    for month, missed, decided in rows:
        rate = _pct(missed, decided)
        table.rows.append([month, missed, decided, f"{rate:.1f}%"])
        table.chart.append((month, rate))
        missed_total += missed
        decided_total += decided
    table.rows.append(
        ["All", missed_total, decided_total, f"{_pct(missed_total, decided_total):.1f}%"]
    )
    return table


#: Notice buckets for cancellations: (label, lower hours inclusive, upper hours exclusive).
NOTICE_BUCKETS = (
    ("Less than 24 hours", 0, 24),
    ("1 to 3 days", 24, 72),
    ("More than 3 days", 72, None),
)


def cancellations_by_notice(sess: Session, tenant, start, end) -> Table:
    """Cancelled appointments (starting in the period) by the notice given."""
    rows = sess.execute(
        text(
            """
            SELECT CASE
                     WHEN start_at - cancelled_at < interval '24 hours' THEN 0
                     WHEN start_at - cancelled_at < interval '72 hours' THEN 1
                     ELSE 2 END AS bucket,
                   count(*)
            FROM appointments
            WHERE tenant_id = :tid AND start_at >= :start AND start_at < :end
              AND status = 'cancelled' AND cancelled_at IS NOT NULL
            GROUP BY 1
            """
        ),
        _params(tenant, start, end),
    ).all()
    counts = dict(rows)
    table = Table(["Notice given", "Cancellations"])
    for i, (label, _, _) in enumerate(NOTICE_BUCKETS):
        table.rows.append([label, counts.get(i, 0)])
        table.chart.append((label, counts.get(i, 0)))
    return table


def new_vs_returning(sess: Session, tenant, start, end) -> Table:
    """Patients seen in the period: first visit ever in it (new) or seen before (returning)."""
    row = sess.execute(
        text(
            """
            WITH seen AS (
              SELECT patient_id,
                     min(start_at) AS first_ever,
                     bool_or(start_at >= :start AND start_at < :end) AS in_period
              FROM appointments
              WHERE tenant_id = :tid AND status IN :booked AND start_at < :end
              GROUP BY patient_id
            )
            SELECT count(*) FILTER (WHERE in_period AND first_ever >= :start),
                   count(*) FILTER (WHERE in_period AND first_ever < :start)
            FROM seen
            """
        ).bindparams(_expanding("booked")),
        _params(tenant, start, end, booked=BOOKED),
    ).one()
    new, returning = row
    table = Table(["Patients", "Count"])
    table.rows = [["New", new], ["Returning", returning]]
    table.chart = [("New", new), ("Returning", returning)]
    return table


def utilisation(sess: Session, tenant, start, end) -> Table:
    """Booked minutes / available minutes per practitioner.

    Available time is the scheduling engine's weekly hours (``availability_rules``, wall
    clock in the location's zone, within ``valid_from``/``valid_until``) on every day of the
    period that is not a closure of that location (or of every location). One-off time off
    and extra hours are not counted. Booked time is every booked, kept or missed visit.
    """
    first = start.astimezone(ZoneInfo(tenant.timezone)).date()
    last = (end.astimezone(ZoneInfo(tenant.timezone)) - dt.timedelta(seconds=1)).date()
    rows = sess.execute(
        text(
            """
            WITH days AS (
              SELECT d::date AS day FROM generate_series(:first, :last, interval '1 day') AS d
            ),
            available AS (
              SELECT r.practitioner_id,
                     sum(extract(epoch FROM (r.end_time - r.start_time)) / 60) AS minutes
              FROM availability_rules r
              JOIN days ON extract(isodow FROM days.day) = r.weekday
                AND (r.valid_from IS NULL OR days.day >= r.valid_from)
                AND (r.valid_until IS NULL OR days.day <= r.valid_until)
              WHERE r.tenant_id = :tid
                AND NOT EXISTS (
                  SELECT 1 FROM closures c
                  WHERE c.tenant_id = :tid
                    AND (c.location_id IS NULL OR c.location_id = r.location_id)
                    AND days.day BETWEEN c.start_date AND c.end_date)
              GROUP BY r.practitioner_id
            ),
            booked AS (
              SELECT practitioner_id, sum(extract(epoch FROM (end_at - start_at)) / 60) AS minutes
              FROM appointments
              WHERE tenant_id = :tid AND start_at >= :start AND start_at < :end
                AND status IN :booked
              GROUP BY practitioner_id
            )
            SELECT p.display_name, coalesce(b.minutes, 0), coalesce(a.minutes, 0)
            FROM practitioners p
            LEFT JOIN available a ON a.practitioner_id = p.id
            LEFT JOIN booked b ON b.practitioner_id = p.id
            WHERE p.tenant_id = :tid AND (p.is_active OR b.minutes IS NOT NULL)
            ORDER BY p.display_name
            """
        ).bindparams(_expanding("booked")),
        _params(tenant, start, end, booked=BOOKED, first=first, last=last),
    ).all()
    table = Table(["Practitioner", "Booked minutes", "Available minutes", "Utilisation"], unit="%")
    for name, booked, available in rows:
        booked, available = int(booked), int(available)
        rate = _pct(booked, available)
        table.rows.append([name, booked, available, f"{rate:.1f}%" if available else "no hours"])
        table.chart.append((name, rate))
    return table


def follow_up_adherence(sess: Session, tenant, start, end) -> Table:
    """Prescriptions whose follow-up window opens in the period, booked within it or not.

    A follow-up counts as booked when the same patient has a booked, kept or missed visit
    starting within the window (dates in the clinic's zone, ``follow_up_to`` inclusive).
    Voided prescriptions are left out. Only counts leave the database: no clinical content.
    """
    first = start.astimezone(ZoneInfo(tenant.timezone)).date()
    last = (end.astimezone(ZoneInfo(tenant.timezone)) - dt.timedelta(seconds=1)).date()
    row = sess.execute(
        text(
            """
            SELECT count(*) FILTER (WHERE booked), count(*) FILTER (WHERE NOT booked)
            FROM (
              SELECT EXISTS (
                       SELECT 1 FROM appointments a
                       WHERE a.tenant_id = :tid AND a.patient_id = rx.patient_id
                         AND a.status IN :booked
                         AND (a.start_at AT TIME ZONE :tz)::date
                             BETWEEN rx.follow_up_from
                                 AND coalesce(rx.follow_up_to, rx.follow_up_from)
                     ) AS booked
              FROM prescriptions rx
              WHERE rx.tenant_id = :tid AND rx.voided_at IS NULL
                AND rx.follow_up_from BETWEEN :first AND :last
            ) AS windows
            """
        ).bindparams(_expanding("booked")),
        _params(tenant, start, end, booked=BOOKED, first=first, last=last),
    ).one()
    booked, missed = row
    table = Table(["Follow-up", "Prescriptions"])
    table.rows = [
        ["Booked within the window", booked],
        ["Not booked within the window", missed],
        ["Adherence", f"{_pct(booked, booked + missed):.1f}%"],
    ]
    table.chart = [("Booked within the window", booked), ("Not booked", missed)]
    return table


def revenue_by_visit_type(sess: Session, tenant, start, end) -> Table:
    """Revenue per visit type in the period: online payments received, less refunds.

    A payment counts on the day it was received (``visit_payments.paid_at``), in its own
    currency; every active visit type is listed, with zero when nothing was paid.
    """
    rows = sess.execute(
        text(
            """
            SELECT vt.name, vt.currency,
                   coalesce(sum(vp.amount_minor - vp.amount_refunded_minor), 0)
            FROM visit_types vt
            LEFT JOIN appointments a
              ON a.tenant_id = vt.tenant_id AND a.service_id = vt.id
            LEFT JOIN visit_payments vp
              ON vp.tenant_id = a.tenant_id AND vp.appointment_id = a.id
             AND vp.paid_at >= :start AND vp.paid_at < :end
             AND vp.status IN ('paid', 'refunded')
            WHERE vt.tenant_id = :tid AND vt.is_active
            GROUP BY vt.id, vt.name, vt.currency ORDER BY vt.name
            """
        ),
        _params(tenant, start, end),
    ).all()
    table = Table(["Visit type", "Revenue", "Currency"])
    for name, currency, minor in rows:
        table.rows.append([name, f"{minor / 100:.2f}", currency])
        table.chart.append((name, minor / 100))
    return table


def _pct(part, whole) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _expanding(name: str):
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)
