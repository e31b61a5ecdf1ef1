"""The patient chart in headless Chromium, as a practitioner works in it.

Open a patient from the calendar, write and sign a case note, prescribe with potency and a
follow-up, amend with a reason and read the history, find the patient on the recall list and
follow "book now". axe-core on each page (no serious or critical violations); screenshots
under ``tests/artifacts/``.
"""

from __future__ import annotations

import pytest

from tests.factories import AppointmentFactory, PatientFactory, PracticeFactory

from .test_console_calendar import _violations, click, sign_in

pytestmark = pytest.mark.browser


def _checked(pg, screenshot, name: str, problems: list) -> None:
    screenshot(pg, f"chart-{name}")
    problems.extend(f"{name}: {v}" for v in _violations(pg))


def test_practitioner_charts_a_visit_and_books_the_follow_up(
    app, new_page, live_server, screenshot, owner_dsn
):
    """From the calendar to the recall list, in the browser only."""
    practice = PracticeFactory()
    patient = PatientFactory(clinic=practice.clinic, full_name="Anika Sharma")
    booking = AppointmentFactory(
        practice=practice, patient=patient, start=practice.at(practice.day(2), "10:00")
    )
    pg = sign_in(new_page, live_server, practice.clinic, role="practitioner")
    problems: list[str] = []

    pg.goto(live_server.url(practice.clinic.slug, f"/console/calendar/appointments/{booking.id}"))
    click(pg.get_by_role("link", name="Anika Sharma"))
    pg.wait_for_url(f"**/console/patients/{patient.id}")
    assert pg.locator("[data-chart]").count() == 1
    _checked(pg, screenshot, "patient", problems)

    click(pg.get_by_role("link", name="New case note"))
    pg.get_by_label("Presenting complaints").fill("Right-sided headache, throbbing, 3 years")
    pg.get_by_label("Better for (modalities)").fill("Cold applications, lying still")
    pg.get_by_label("Worse for (modalities)").fill("Sun, 10 am")
    pg.get_by_label("Mentals and emotionals").fill("Grief kept silent; averse to consolation")
    pg.get_by_label("Generals").fill("Craves salt; thirsty; warm-blooded")
    pg.get_by_label("Rubrics noted").fill("HEAD - PAIN - sun, from")
    pg.get_by_label("Assessment").fill("Chronic case")
    pg.get_by_label("Plan").fill("Review in 5 weeks")
    _checked(pg, screenshot, "new-note", problems)
    click(pg.get_by_role("button", name="Save note"))
    assert pg.get_by_text("Case note saved.").is_visible()
    # the session ends while writing: the text stays in the browser, the page says so
    cookies = pg.context.cookies()
    pg.context.clear_cookies()
    pg.get_by_label("Plan").fill("Review in 5 weeks; call if worse")
    status = pg.locator("[data-draft-status]")
    status.filter(has_text="sign in again; your text is kept").wait_for()
    pg.context.add_cookies(cookies)
    pg.reload()
    assert pg.get_by_label("Plan").input_value() == "Review in 5 weeks; call if worse"
    assert "restored from this browser" in status.inner_text()
    pg.get_by_label("Plan").fill("Review in 5 weeks")
    status.filter(has_text="No changes to save.").wait_for()  # autosave: same as version 1
    click(pg.get_by_role("button", name="Sign and lock"))
    assert pg.get_by_text("Signed. Later changes are amendments").is_visible()

    pg.get_by_label("Remedy").fill("Natrum muriaticum")
    pg.get_by_label("Potency").fill("200C")
    pg.get_by_label("Form").select_option("globules")
    pg.get_by_label("Dose").fill("3 pills")
    pg.get_by_label("Repetition").fill("single dose")
    pg.get_by_label("Follow-up from (days after the visit)").fill("1")
    pg.get_by_label("Follow-up until (days after the visit)").fill("42")
    pg.get_by_label("Follow-up visit type").select_option(practice.service_id)
    pg.get_by_label("Reason (the visit is signed)").fill("Chosen after repertorisation")
    click(pg.get_by_role("button", name="Prescribe"))
    assert pg.get_by_text("Prescribed Natrum muriaticum 200C.").is_visible()

    pg.get_by_label("Plan", exact=True).fill("Review in 4 weeks")
    pg.get_by_label("Reason for the amendment").fill("Patient asked for an earlier review")
    click(pg.get_by_role("button", name="Save amendment"))
    assert pg.get_by_text("Amendment saved.").is_visible()
    _checked(pg, screenshot, "visit", problems)

    click(pg.get_by_role("link", name="Version history (2)"))
    assert pg.get_by_text("Patient asked for an earlier review").is_visible()
    assert pg.locator("del", has_text="Review in 5 weeks").is_visible()
    assert pg.locator("ins", has_text="Review in 4 weeks").is_visible()
    _checked(pg, screenshot, "history", problems)

    click(pg.get_by_role("link", name="Patients").first)
    pg.get_by_label("Name, email or phone").fill("Anika")
    click(pg.get_by_role("button", name="Search"))
    assert pg.get_by_role("link", name="Anika Sharma", exact=True).is_visible()
    _checked(pg, screenshot, "list", problems)

    click(pg.get_by_role("link", name="Follow-ups").first)
    assert pg.get_by_role("link", name="Anika Sharma", exact=True).is_visible()
    assert pg.get_by_text("Natrum muriaticum 200C").is_visible()
    _checked(pg, screenshot, "follow-ups", problems)
    click(pg.get_by_role("link", name="Book now for Anika Sharma"))
    assert "/console/calendar/book" in pg.url and f"patient={patient.id}" in pg.url
    assert pg.get_by_text("Anika Sharma").first.is_visible()
    assert problems == []


def test_owner_erase_page_is_accessible(app, new_page, live_server, screenshot):
    """The erase page (with its inline error after a wrong name) passes axe."""
    practice = PracticeFactory()
    patient = PatientFactory(clinic=practice.clinic, full_name="Jonas Weber")
    pg = sign_in(new_page, live_server, practice.clinic, role="owner")
    problems: list[str] = []
    pg.goto(live_server.url(practice.clinic.slug, f"/console/patients/{patient.id}"))
    click(pg.get_by_role("link", name="Erase this patient"))
    pg.get_by_label("Type the patient's full name to confirm").fill("Jonas")
    click(pg.get_by_role("button", name="Erase the patient"))
    assert pg.get_by_text("Does not match the patient's name.").first.is_visible()
    _checked(pg, screenshot, "erase", problems)
    assert problems == []
