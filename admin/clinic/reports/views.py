"""Report pages: ``/console/reports`` and one page and one CSV per report.

The period is whole days in the clinic's zone (``from``/``to`` in the query string, both
inclusive), with presets; a bad period answers 422 with the error summary and keeps the input.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass

from flask import Blueprint, Response, abort, g, render_template, request, url_for
from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms.validators import Optional

from admin.clinic import TEMPLATES
from admin.clinic.appointments.views import clinic_today
from saas import db
from saas.security.rbac import requires
from saas.web import CLINIC, serve_on

from . import notifications as notification_log
from . import queries
from .svg import bar_chart

bp = Blueprint("reports", __name__, url_prefix="/console/reports", template_folder=TEMPLATES)
serve_on(bp, CLINIC)

#: The longest period a report covers at once.
MAX_DAYS = 731


@dataclass(frozen=True)
class Report:
    slug: str
    title: str
    desc: str
    compute: Callable


REPORTS = {
    r.slug: r
    for r in (
        Report(
            "appointments",
            "Appointments by state",
            "Appointments starting in the period, by their state now.",
            queries.appointments_by_state,
        ),
        Report(
            "no-shows",
            "No-show rate by month",
            "No-shows among visits whose outcome is known (checked in, completed or no-show)."
            " Per month.",
            queries.no_show_rate,
        ),
        Report(
            "utilisation",
            "Utilisation per practitioner",
            "Booked minutes as a share of the weekly hours, less closure days.",
            queries.utilisation,
        ),
        Report(
            "patients",
            "New and returning patients",
            "Patients with a visit in the period:"
            " first visit ever (new) or seen before (returning).",
            queries.new_vs_returning,
        ),
        Report(
            "cancellations",
            "Cancellations by notice given",
            "Cancelled appointments starting in the period,"
            " by how long before the visit they were cancelled.",
            queries.cancellations_by_notice,
        ),
        Report(
            "follow-ups",
            "Follow-up adherence",
            "Prescriptions whose follow-up window opens in the period,"
            " and whether a visit was booked within it.",
            queries.follow_up_adherence,
        ),
        Report(
            "revenue",
            "Revenue by visit type",
            "Revenue per visit type. Zero until billing is switched on.",
            queries.revenue_by_visit_type,
        ),
    )
}


class PeriodForm(FlaskForm):
    """From and to dates (clinic's zone, both inclusive); a GET form, so no CSRF token."""

    class Meta:
        csrf = False

    date_from = DateField("From", validators=[Optional()])
    date_to = DateField("To", validators=[Optional()])


def presets(today: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """Last 30 days, this quarter, last 12 months (all ending today)."""
    quarter_start = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    year_ago = (
        dt.date(today.year - 1, today.month, 1) if today.month != 12 else dt.date(today.year, 1, 1)
    )
    return [
        ("Last 30 days", today - dt.timedelta(days=29), today),
        ("This quarter", quarter_start, today),
        ("Last 12 months", year_ago, today),
    ]


def _period(today: dt.date):
    """The period asked for (default: last 30 days) and the form, with errors if any."""
    form = PeriodForm(formdata=request.args)
    first, last = presets(today)[0][1:]
    ok = form.validate()
    if ok:
        first = form.date_from.data or first
        last = form.date_to.data or last
        if first > last:
            form.date_to.errors.append("The end date must be on or after the start date.")
            ok = False
        elif (last - first).days >= MAX_DAYS:
            form.date_to.errors.append("A report covers at most two years at once.")
            ok = False
    else:
        for f in (form.date_from, form.date_to):
            if f.errors:
                f.errors[:] = ["Enter a real date, like 2026-03-31."]
    if not ok:
        first, last = presets(today)[0][1:]
    elif not request.args.get("date_from") and not request.args.get("date_to"):
        form.date_from.data, form.date_to.data = first, last
    return form, first, last, ok


@bp.route("/")
@requires("reports.view")
def index():
    """The list of reports."""
    return render_template(
        "admin/reports/index.html", reports=REPORTS.values(), query=request.query_string.decode()
    )


@bp.route("/<slug>")
@requires("reports.view")
def report(slug: str):
    """One report for the period: its chart, its figures as a table, a CSV link."""
    rep = REPORTS.get(slug) or abort(404)
    today = clinic_today(g.tenant)
    form, first, last, ok = _period(today)
    start, end = queries.period_bounds(g.tenant.timezone, first, last)
    table = rep.compute(db.session, g.tenant, start, end)
    period = f"{first:%-d %b %Y} to {last:%-d %b %Y}"
    chart = bar_chart(f"chart-{slug}", f"{rep.title}, {period}", rep.desc, table.chart, table.unit)
    page = render_template(
        "admin/reports/report.html",
        rep=rep,
        reports=REPORTS.values(),
        form=form,
        table=table,
        chart=chart,
        period=period,
        presets=presets(today),
        first=first,
        last=last,
        csv_url=url_for(
            "reports.report_csv", slug=slug, date_from=first.isoformat(), date_to=last.isoformat()
        ),
    )
    return page, 200 if ok else 422


@bp.route("/<slug>.csv")
@requires("reports.view")
def report_csv(slug: str):
    """The report's table as CSV (same figures as the page)."""
    rep = REPORTS.get(slug) or abort(404)
    form, first, last, ok = _period(clinic_today(g.tenant))
    if not ok:
        abort(422)
    start, end = queries.period_bounds(g.tenant.timezone, first, last)
    table = rep.compute(db.session, g.tenant, start, end)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    name = f"{slug}-{first.isoformat()}-to-{last.isoformat()}.csv"
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


#: The notification log lives beside the audit log: ``/console/notifications``.
log_bp = Blueprint(
    "notification_log", __name__, url_prefix="/console/notifications", template_folder=TEMPLATES
)
serve_on(log_bp, CLINIC)


@log_bp.route("/")
@requires("audit.view")
def notifications():
    """What the clinic sent to whom, when, on which channel, and its delivery state."""
    state = request.args.get("state") or None
    if state is not None and state not in notification_log.STATES:
        abort(404)
    try:
        page = max(int(request.args.get("page", 1)), 1)
    except ValueError:
        abort(404)
    filters = notification_log.Filters(state=state, page=page)
    entries, more = notification_log.notification_log(db.session, g.tenant, filters)
    return render_template(
        "admin/notifications.html",
        entries=entries,
        more=more,
        page=page,
        state=state,
        states=notification_log.STATES,
        zone=g.tenant.timezone,
    )
