"""The clinic's front page shows its visit types, prices and bookable next times."""

from __future__ import annotations

import datetime as dt

from saas.money import format_price
from tests.conftest import new_client
from tests.scheduling.conftest import check


def test_front_page_lists_services_prices_and_free_times(app, make_practice, make_patient):
    """A free time on the page is really free; a booked one disappears from it."""
    p = make_practice(
        "Europe/London", service={"name": "Initial <case-taking>", "price_minor": 9550}
    )
    client = new_client(app)
    page = client.get("/", base_url=f"http://{p.clinic.host}").get_data(as_text=True)
    assert "Initial &lt;case-taking&gt;" in page and "£95.50" in page and "Dr. Anna Weber" in page
    first = dt.datetime.fromisoformat(
        p.slots(
            **{
                "from": dt.date.today().isoformat(),
                "to": (dt.date.today() + dt.timedelta(days=14)).isoformat(),
            }
        )[0]
    )
    assert f'datetime="{first.isoformat()}"' in page
    pat = make_patient(p.clinic)
    check(p.owner.as_(pat.token).post("/api/v1/appointments", p.booking(first)), 201)
    after = client.get("/", base_url=f"http://{p.clinic.host}").get_data(as_text=True)
    assert f'datetime="{first.isoformat()}"' not in after


def test_front_page_without_practice_setup_has_a_helpful_empty_state(make_clinic, client):
    """A new clinic shows how to reach it instead of an empty list."""
    clinic = make_clinic()
    page = client.get("/", base_url=f"http://{clinic.host}").get_data(as_text=True)
    assert "has not published its visit types yet" in page


def test_format_price():
    """Prices look natural in each market's currency."""
    assert format_price(6000, "EUR") == "€60"
    assert format_price(4550, "GBP") == "£45.50"
    assert format_price(150000, "INR") == "₹1,500"
    assert format_price(12000, "CHF") == "CHF 120"
    assert format_price(100, "XYZ") == "1 XYZ"
