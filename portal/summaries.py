"""From my clinic: the visit summaries and prescriptions the clinic chose to share.

The page reads through :func:`saas.records.queries.shared_visits_for_patient` and
:func:`~saas.records.queries.shared_prescriptions_for_patient`, the same queries as the
patient API (``/api/v1/patients/me/visits`` and ``/prescriptions``): only signed visits
marked ``shared_with_patient`` with their patient summary (never the case notes), only
shared prescriptions that are not void, opened with the clinic's key, and every read
audited as the patient's. Staff share and unshare in the console (``share_visit``,
``share_prescription``, both audited).
"""

from __future__ import annotations

from flask import g, render_template
from flask_babel import lazy_gettext as _l

from saas import db
from saas.records import queries

from .blueprint import bp
from .session import current_patient, patient_required

VISIT_KINDS = {
    "initial": _l("Initial consultation"),
    "follow_up": _l("Follow-up"),
    "acute": _l("Acute visit"),
}


@bp.route("/appointments/shared")
@patient_required
def shared():
    """Summaries and prescriptions shared with the signed-in patient, newest first."""
    patient = current_patient()
    return render_template(
        "portal/shared.html",
        visits=queries.shared_visits_for_patient(db.session, g.tenant, patient),
        prescriptions=queries.shared_prescriptions_for_patient(db.session, g.tenant, patient),
        kinds=VISIT_KINDS,
    )
