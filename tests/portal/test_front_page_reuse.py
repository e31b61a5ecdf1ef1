"""The clinic's front page is reused between changes, and no change is ever missed.

Anonymous visitors of one clinic see the same page, so it is rendered once per change to
the clinic (its row, configuration or bookings) and language. These tests check that a copy
ends with each kind of change, and that nothing personal is ever served from it.
"""

from __future__ import annotations

import datetime as dt
import io
import re

from PIL import Image

from portal import views
from saas.actors import SYSTEM
from saas.db import tenant_session
from saas.models import Tenant
from tenants.branding import set_logo
from tests.client import new_client
from tests.factories import AppointmentFactory, PatientFactory, PracticeFactory
from tests.helpers import statements_during
from tests.portal.conftest import get, portal_client


def _home(app, clinic, **kw) -> str:
    resp = get(new_client(app), clinic, "/", **kw)
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def _first_time(page: str) -> dt.datetime:
    return dt.datetime.fromisoformat(re.search(r'<time datetime="([^"]+)"', page).group(1))


def test_a_second_visitor_gets_the_page_without_reading_the_catalogue(app):
    """The second anonymous view reads no visit types; both visitors see the same page."""
    practice = PracticeFactory()
    first = _home(app, practice.clinic)
    holder: dict = {}
    seen = statements_during(app, lambda: holder.update(page=_home(app, practice.clinic)))
    assert not [s for s in seen if "visit_types" in s or "clinic_logos" in s], seen
    assert holder["page"] == first
    assert "Follow-up consultation" in first


def test_settings_logo_and_bookings_each_end_the_copy(app):
    """A new tagline, a logo and a booking of the first free time all show at once."""
    practice = PracticeFactory()
    before = _home(app, practice.clinic)
    resp = practice.owner.patch("/api/v1/settings/branding", {"tagline": "Gentle and thorough"})
    assert resp.status_code == 200, resp.get_json()
    assert "Gentle and thorough" in _home(app, practice.clinic)

    out = io.BytesIO()
    Image.new("RGB", (120, 40), (47, 111, 94)).save(out, format="PNG")
    with app.app_context(), tenant_session(practice.clinic.id) as sess:
        set_logo(sess, sess.get(Tenant, practice.clinic.id), SYSTEM, out.getvalue())
    assert 'class="logo"' in _home(app, practice.clinic) and 'class="logo"' not in before

    first = _first_time(before)
    AppointmentFactory(practice=practice, start=first)
    assert _first_time(_home(app, practice.clinic)) != first


def test_a_signed_in_patient_and_another_language_get_their_own_page(app):
    """The patient's own page names them; German is never served to an English visitor."""
    practice = PracticeFactory()
    patient = PatientFactory(clinic=practice.clinic, portal_token=True)
    anonymous = _home(app, practice.clinic)
    mine = get(portal_client(app, practice.clinic, patient.token), practice.clinic, "/")
    mine = mine.get_data(as_text=True)
    assert mine != anonymous and 'name="csrf_token"' in mine
    assert 'name="csrf_token"' not in _home(app, practice.clinic)
    german = _home(app, practice.clinic, query_string={"lang": "de"})
    assert 'lang="de"' in german
    assert 'lang="en"' in _home(app, practice.clinic)
    # the copies are per clinic: another clinic's page never shows this one's name
    other = PracticeFactory()
    assert practice.clinic.name not in _home(app, other.clinic)


def test_a_copy_never_outlives_its_first_free_time(app):
    """The copy ends when the earliest time it shows begins (the clock moved past it)."""
    views.clear_pages()
    builds = []
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.2)

    def render():
        builds.append(1)
        return "page", soon

    views._reused(("k",), render)
    views._reused(("k",), render)
    assert len(builds) == 1
    import time

    time.sleep(0.3)
    views._reused(("k",), render)
    assert len(builds) == 2
