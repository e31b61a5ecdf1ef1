"""Setting up a practice in the browser: signup to a published page, hours, closures, branding.

Headless Chromium against the live server, using only console pages (no API calls for what
the test proves). Every page added for practice setup, branding and staff security is also
checked with axe-core at 360 px and 1280 px (no serious or critical violation) and
screenshotted into ``tests/artifacts/``.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid
from zoneinfo import ZoneInfo

import psycopg
import pyotp
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.factories import AppointmentFactory, PatientFactory, PracticeFactory, StaffFactory

from .conftest import DESKTOP

pytestmark = pytest.mark.browser

NARROW = {"width": 360, "height": 800}
PASSWORD = "nux vomica 200C, twice!"


def _violations(pg) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(pg)
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes'][:3]]}"
        for v in result.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _sign_in(pg, live_server, member) -> None:
    pg.goto(live_server.url(member.clinic.slug, "/login"))
    pg.get_by_label("Email").fill(member.email)
    pg.get_by_label("Password").fill(member.password)
    pg.get_by_role("button", name="Continue").click()
    pg.get_by_label("Code from your authenticator app").fill(member.code())
    pg.get_by_role("button", name="Verify").click()
    pg.wait_for_url("**/console/")


def _rows(dsn, sql, *params):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def _step(pg, name: str):
    """The checklist link of step ``name`` on the console home."""
    return pg.locator(".checklist").get_by_role("link", name=name, exact=True)


def test_signup_to_a_published_practice_with_console_pages_only(
    new_page, live_server, owner_dsn, screenshot
):
    """Signup → checklist → location, practitioner, visit type, hours → the page publishes."""
    slug = f"s-{uuid.uuid4().hex[:10]}"
    pg = new_page()
    pg.goto(live_server.url(path="/signup"))
    pg.get_by_label("Clinic name").fill("Calendula Homeopathy")
    pg.get_by_label("Clinic address").fill(slug)
    pg.get_by_label("Country").select_option(label="United Kingdom")
    pg.get_by_label("Time zone").select_option("Europe/London")
    pg.get_by_label("Your name").fill("Dr. Clara Hahn")
    pg.get_by_label("Your email").fill(f"clara@{slug}.example.org")
    pg.get_by_label("Password").fill(PASSWORD)
    pg.get_by_role("button", name="Create clinic").click()
    expect(pg.get_by_role("heading", level=1)).to_have_text("Set up two-step sign-in")
    secret = pg.locator("#totp-secret").get_attribute("data-secret")
    pg.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    pg.get_by_role("button", name="Turn on two-step sign-in").click()
    pg.get_by_role("link", name=re.compile("open the console")).click()

    # -- right after signup: the checklist, and a public page not yet taking bookings ------
    expect(pg.get_by_role("heading", name="Set up your practice")).to_be_visible()
    expect(pg.locator(".callout")).to_contain_text("not yet taking bookings")
    expect(pg.locator(".checklist .status-done")).to_have_count(0)
    screenshot(pg, "setup-01-checklist")
    public = new_page()
    public.goto(live_server.url(slug))
    expect(public.get_by_role("heading", name="Not yet taking bookings")).to_be_visible()
    screenshot(public, "setup-02-public-not-yet")
    assert _violations(public) == []

    # -- first location -------------------------------------------------------------------
    _step(pg, "First location").click()
    expect(pg.get_by_role("heading", level=1)).to_have_text("Locations")
    pg.get_by_label("Name", exact=True).fill("Town practice")
    pg.get_by_label("In person, at an address").check()
    pg.get_by_role("button", name="Add location").click()  # no address: refused
    expect(pg.locator(".error-summary")).to_contain_text("Enter the address patients come to.")
    expect(pg.get_by_label("Name", exact=True)).to_have_value("Town practice")
    screenshot(pg, "setup-03-location-error")
    pg.get_by_label("Address", exact=True).fill("1 Remedy Lane, Leeds LS1 4AP")
    pg.get_by_role("button", name="Add location").click()
    expect(
        pg.get_by_role("status").filter(has_text="Location “Town practice” added.")
    ).to_be_visible()

    # -- practitioner: the owner makes herself bookable -------------------------------------
    pg.goto(live_server.url(slug, "/console/"))
    _step(pg, "Practitioners").click()
    pg.get_by_label("Name shown to patients").fill("Dr. Clara Hahn")
    pg.get_by_label("Title").fill("Classical homeopath")
    pg.get_by_label("Staff account").select_option(label="Dr. Clara Hahn (owner)")
    pg.get_by_role("button", name="Add practitioner").click()
    expect(pg.get_by_role("status")).to_contain_text("Dr. Clara Hahn can now be booked")

    # -- visit type -------------------------------------------------------------------------
    pg.goto(live_server.url(slug, "/console/"))
    _step(pg, "Visit types").click()
    pg.get_by_role("link", name="Add a visit type").click()
    pg.get_by_label("Name", exact=True).fill("Initial consultation")
    pg.get_by_label("Duration in minutes").fill("90")
    pg.get_by_label("Price", exact=True).fill("120")
    pg.get_by_label("Time for notes after, in minutes").fill("15")
    pg.get_by_label("New patients only (e.g. initial case-taking)").check()
    expect(pg.get_by_label("Dr. Clara Hahn")).to_be_checked()
    expect(pg.get_by_label("Town practice (in person)")).to_be_checked()
    screenshot(pg, "setup-04-visit-type")
    pg.get_by_role("button", name="Add visit type").click()
    expect(pg.get_by_role("cell", name="£120")).to_be_visible()

    # still not published: no weekly hours yet
    public.reload()
    expect(public.get_by_role("heading", name="Not yet taking bookings")).to_be_visible()

    # -- weekly hours on the grid -------------------------------------------------------------
    pg.goto(live_server.url(slug, "/console/"))
    _step(pg, "Weekly hours").click()
    for day in ("Monday", "Saturday", "Sunday"):
        pg.get_by_label(f"{day} window 1 from").fill("09:00")
        pg.get_by_label(f"{day} window 1 until").fill("13:00")
        pg.get_by_label(f"{day} window 2 from").fill("14:00")
        pg.get_by_label(f"{day} window 2 until").fill("18:00")
    pg.get_by_role("button", name="Copy Monday to Tuesday–Friday").click()  # the ES module
    expect(pg.get_by_label("Thursday window 2 until")).to_have_value("18:00")
    expect(pg.get_by_role("status")).to_contain_text("Save to keep them")
    screenshot(pg, "setup-05-hours-grid")
    pg.get_by_role("button", name="Save weekly hours").click()
    expect(pg.locator(".flash.success")).to_contain_text("(14 windows)")
    expect(pg.get_by_label("Wednesday window 2 from")).to_have_value("14:00")

    # -- published by itself ------------------------------------------------------------------
    pg.goto(live_server.url(slug, "/console/"))
    expect(pg.locator(".callout")).to_contain_text("Your public page is taking bookings")
    screenshot(pg, "setup-06-checklist-published")
    public.reload()
    expect(public.get_by_role("heading", name="Initial consultation")).to_be_visible()
    expect(public.locator("ul.times time").first).to_be_visible()
    expect(public.get_by_text("Not yet taking bookings")).to_have_count(0)
    screenshot(public, "setup-07-public-published")
    tenant = _rows(owner_dsn, "SELECT id FROM tenants WHERE slug = %s", slug)[0][0]
    assert _rows(
        owner_dsn, "SELECT count(*) FROM availability_rules WHERE tenant_id = %s", tenant
    ) == [(14,)]

    # -- the first caller: a new patient booked by phone, then seen on the calendar -----------
    tomorrow = (dt.datetime.now(ZoneInfo("Europe/London")) + dt.timedelta(days=1)).date()
    pg.goto(live_server.url(slug, "/console/"))
    pg.get_by_role("link", name="Calendar").first.click()
    pg.get_by_role("link", name="Book by phone").click()
    pg.get_by_label("Full name").fill("Ravi Menon")
    pg.get_by_label("Phone (optional)").fill("+44 7700 900123")
    pg.get_by_role("button", name="Add patient and continue").click()
    pg.get_by_label("Visit type").select_option(index=1)  # the clinic's one visit type
    pg.get_by_label("Day", exact=True).fill(tomorrow.isoformat())
    pg.get_by_role("button", name="Show free times").click()
    screenshot(pg, "setup-08-phone-times")
    expect(pg.locator("input[name=slot]").first).to_be_checked()
    pg.get_by_role("button", name="Continue").click()
    pg.get_by_role("button", name="Book appointment").click()
    expect(pg.locator(".flash")).to_contain_text("Booked: Ravi Menon")
    pg.goto(live_server.url(slug, f"/console/calendar/day?date={tomorrow.isoformat()}"))
    expect(pg.locator("a.appt", has_text="Ravi Menon")).to_contain_text("Confirmed")
    screenshot(pg, "setup-08-first-phone-booking")
    assert _rows(
        owner_dsn,
        "SELECT count(*) FROM appointments WHERE tenant_id = %s AND status = 'confirmed'"
        " AND booked_by = 'staff'",
        tenant,
    ) == [(1,)]


def test_availability_grid_refuses_an_overlap_and_keeps_the_input(
    app, new_page, live_server, screenshot
):
    """An overlapping window is refused next to its cell; nothing typed is lost."""
    p = PracticeFactory(tz="Europe/Berlin", windows=[(1, "09:00", "12:00")])
    admin = StaffFactory(clinic=p.clinic, role="admin")
    pg = new_page()
    _sign_in(pg, live_server, admin)
    pg.goto(live_server.url(p.clinic.slug, "/console/practice/availability"))
    expect(pg.get_by_label("Monday window 1 from")).to_have_value("09:00")
    pg.get_by_label("Monday window 2 from").fill("11:00")
    pg.get_by_label("Monday window 2 until").fill("15:00")
    pg.get_by_role("button", name="Save weekly hours").click()
    expect(pg.locator(".error-summary")).to_contain_text("Nothing was changed")
    cell = pg.get_by_label("Monday window 2 from")
    expect(cell).to_have_value("11:00")
    expect(cell).to_have_attribute("aria-invalid", "true")
    expect(cell).to_have_accessible_description(re.compile("Overlaps"))
    screenshot(pg, "setup-08-hours-overlap")


def test_closure_over_booked_visits_is_confirmed_per_booking(
    app, new_page, live_server, owner_dsn, screenshot
):
    """The covered bookings are listed before saving; one is cancelled, one moved."""
    p = PracticeFactory(tz="Europe/London")
    day = p.day(6)
    maria = PatientFactory(clinic=p.clinic, full_name="Maria Schmidt", bare=True)
    jonas = PatientFactory(clinic=p.clinic, full_name="Jonas Keller", bare=True)
    a = AppointmentFactory(practice=p, patient=maria, start=p.at(day, "10:00"), by_staff=True)
    b = AppointmentFactory(practice=p, patient=jonas, start=p.at(day, "15:00"), by_staff=True)
    admin = StaffFactory(clinic=p.clinic, role="admin")
    pg = new_page()
    _sign_in(pg, live_server, admin)
    pg.goto(live_server.url(p.clinic.slug, "/console/practice/closures"))
    pg.get_by_label("Name", exact=True).fill("Bank holiday")
    pg.get_by_label("First day").fill(day.isoformat())
    pg.get_by_role("button", name="Add closure").click()
    confirm = pg.locator("[data-confirm-covered]")
    expect(confirm.get_by_role("heading")).to_have_text("2 booked visits would be affected")
    expect(confirm).to_contain_text("Maria Schmidt")
    expect(confirm).to_contain_text("(Europe/London)")
    screenshot(pg, "setup-09-closure-confirm")
    assert _rows(owner_dsn, "SELECT count(*) FROM closures WHERE tenant_id = %s", p.clinic.id) == [
        (0,)
    ]
    confirm.get_by_label(re.compile("^Maria Schmidt")).select_option("cancel")
    jonas_select = confirm.get_by_label(re.compile("^Jonas Keller"))
    move = jonas_select.locator("option").nth(2).get_attribute("value")
    jonas_select.select_option(move)
    pg.get_by_role("button", name="Save and apply to these bookings").click()
    expect(pg.get_by_role("status")).to_contain_text("1 booking(s) cancelled and 1 moved")
    expect(pg.get_by_text("Bank holiday", exact=True)).to_be_visible()
    screenshot(pg, "setup-10-closure-saved")
    states = dict(
        _rows(owner_dsn, "SELECT id, status FROM appointments WHERE id IN (%s, %s)", a.id, b.id)
    )
    assert states == {a.id: "cancelled", b.id: "confirmed"}


def test_branding_preview_follows_the_colour_before_saving(
    app, new_page, live_server, owner_dsn, screenshot, tmp_path
):
    """The ES module previews a colour as typed; a light one is refused; a logo is shown."""
    p = PracticeFactory()
    admin = StaffFactory(clinic=p.clinic, role="admin")
    pg = new_page()
    _sign_in(pg, live_server, admin)
    pg.goto(live_server.url(p.clinic.slug, "/console/practice/branding"))
    bar = pg.locator(".brand-preview-bar")
    expect(bar).to_have_css("background-color", "rgb(47, 111, 94)")
    pg.get_by_label("Primary colour", exact=True).fill("#7a1f5c")
    expect(bar).to_have_css("background-color", "rgb(122, 31, 92)")  # before saving
    pg.get_by_label("Tagline").fill("Gentle care since 1998")
    expect(pg.locator("[data-brand-preview-text=tagline]")).to_have_text("Gentle care since 1998")
    screenshot(pg, "setup-11-branding-preview")
    pg.get_by_label("Accent colour", exact=True).fill("#ffcc00")
    pg.get_by_role("button", name="Save branding").click()
    expect(pg.locator(".error-summary")).to_contain_text("too light")
    expect(pg.get_by_label("Accent colour", exact=True)).to_have_value("#ffcc00")
    screenshot(pg, "setup-12-branding-refused")
    pg.get_by_label("Accent colour", exact=True).fill("#1f5c4d")
    pg.get_by_role("button", name="Save branding").click()
    expect(pg.get_by_role("status")).to_contain_text("Branding saved")
    expect(pg.locator("header.top")).to_have_css("background-color", "rgb(122, 31, 92)")
    logo = tmp_path / "logo.png"
    out = io.BytesIO()
    Image.new("RGB", (300, 100), (122, 31, 92)).save(out, format="PNG")
    logo.write_bytes(out.getvalue())
    pg.get_by_label("Logo").set_input_files(str(logo))
    pg.get_by_role("button", name="Upload logo").click()
    expect(pg.get_by_role("status")).to_contain_text("Logo saved")
    expect(pg.get_by_role("img", name=re.compile("Current logo"))).to_be_visible()
    screenshot(pg, "setup-13-branding-saved")
    public = new_page()
    public.goto(live_server.url(p.clinic.slug))
    expect(public.locator("header.top")).to_have_css("background-color", "rgb(122, 31, 92)")
    expect(public.get_by_text("Gentle care since 1998")).to_be_visible()
    screenshot(public, "setup-14-public-branded")


def test_setup_pages_pass_axe_at_both_widths(app, new_page, live_server, screenshot):
    """Every practice, branding, staff and security page: no serious or critical violation."""
    p = PracticeFactory(tz="Asia/Kolkata")
    day = p.day(4)
    AppointmentFactory(practice=p, start=p.at(day, "11:00"), by_staff=True)
    admin = StaffFactory(clinic=p.clinic, role="admin")
    StaffFactory(clinic=p.clinic, role="practitioner", name="Dr. Ines Braun")
    pg = new_page(NARROW)
    _sign_in(pg, live_server, admin)
    slug = p.clinic.slug
    pages = {
        "dashboard": "/console/",
        "practice": "/console/practice/",
        "profile": "/console/practice/profile",
        "locations": "/console/practice/locations",
        "location": f"/console/practice/locations/{p.location_id}",
        "practitioners": "/console/practice/practitioners",
        "practitioner": f"/console/practice/practitioners/{p.practitioner_id}",
        "visit-types": "/console/practice/visit-types",
        "visit-type": f"/console/practice/visit-types/{p.service_id}",
        "visit-type-new": "/console/practice/visit-types/new",
        "hours": "/console/practice/availability",
        "closures": "/console/practice/closures",
        "rules": "/console/practice/booking-rules",
        "visit-type-rules": f"/console/practice/visit-types/{p.service_id}/booking-rules",
        "branding": "/console/practice/branding",
        "staff": "/console/staff",
        "security": "/console/account/security",
    }
    found = {}
    for width, viewport in (("360", NARROW), ("1280", DESKTOP)):
        pg.set_viewport_size(viewport)
        for name, path in pages.items():
            pg.goto(live_server.url(slug, path))
            assert "/login" not in pg.url, pg.url
            screenshot(pg, f"setup-axe-{name}-{width}")
            if problems := _violations(pg):
                found[f"{name} at {width}"] = problems
        # pages in their error and confirmation states
        pg.goto(live_server.url(slug, "/console/practice/locations"))
        pg.get_by_role("button", name="Add location").click()
        if problems := _violations(pg):
            found[f"location errors at {width}"] = problems
        pg.goto(live_server.url(slug, "/console/practice/availability"))
        pg.get_by_role("button", name="Add these hours").click()
        expect(pg.locator("#start_time-error")).to_be_visible()
        screenshot(pg, f"setup-axe-dated-hours-errors-{width}")
        if problems := _violations(pg):
            found[f"dated hours errors at {width}"] = problems
        pg.goto(live_server.url(slug, "/console/practice/closures"))
        pg.get_by_label("Name", exact=True).fill("Holi")
        pg.get_by_label("First day").fill(day.isoformat())
        pg.get_by_role("button", name="Add closure").click()
        expect(pg.locator("[data-confirm-covered]")).to_be_visible()
        screenshot(pg, f"setup-axe-closure-confirm-{width}")
        if problems := _violations(pg):
            found[f"closure confirm at {width}"] = problems
        pg.goto(live_server.url(slug, "/"))
        if problems := _violations(pg):
            found[f"public page at {width}"] = problems
    assert not found, found
