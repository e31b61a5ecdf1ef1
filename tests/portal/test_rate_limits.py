"""Rate limits per account as well as per address: emails with a link, the sign-in page.

Registration, "forgot password" and sign-in links each send an email to the address typed
in. Per client address they were limited already; these tests prove the per-recipient limit
(5 an hour across the three, pages and API alike) holds against many client addresses, is
the same for known and unknown addresses, and is kept apart per clinic.
"""

from __future__ import annotations

from sqlalchemy import func, select

from tests.client import new_client
from tests.factories import PatientFactory, PracticeFactory
from tests.factories.base import clinic_session
from tests.helpers import post_form
from tests.portal.conftest import get


def _emails_to(app, clinic) -> int:
    from saas.models import OutboxMessage

    with clinic_session(app, clinic.id) as sess:
        return sess.scalar(
            select(func.count()).where(
                OutboxMessage.topic.in_(("email.sign_in_link", "email.verify_patient"))
            )
        )


def test_sign_in_links_to_one_address_are_limited_from_any_client(app, practice, patient):
    """The 6th link email to one address within the hour is refused, whoever asks."""
    host = practice.clinic.host
    answers = [
        post_form(new_client(app), "/sign-in/email", host, {"email": patient.email})
        for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [302] * 5 + [429]
    assert _emails_to(app, practice.clinic) == 5
    # the refusal says when to try again: within the limit's hour
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 3600


def test_the_limit_is_shared_by_registration_reset_and_links_and_says_nothing(app, practice):
    """Known and unknown addresses meet the same limit across the three forms and the API."""
    known = PatientFactory(clinic=practice.clinic)
    host = practice.clinic.host
    for email in (known.email, "nobody-at-all@example.org"):
        codes = [
            post_form(new_client(app), "/register", host, {"full_name": "A B", "email": email}),
            post_form(new_client(app), "/forgot-password", host, {"email": email}),
            post_form(new_client(app), "/sign-in/email", host, {"email": email}),
            new_client(app).post(
                "/api/v1/patients/register",
                json={"full_name": "A B", "email": email},
                base_url=f"http://{host}",
            ),
            post_form(new_client(app), "/sign-in/email", host, {"email": email}),
            post_form(new_client(app), "/forgot-password", host, {"email": email}),
        ]
        assert [c.status_code for c in codes] == [302, 302, 302, 202, 302, 429], email


def test_the_limit_is_per_clinic_and_ignores_empty_forms(app, practice, patient):
    """Another clinic's counts do not touch this one; an empty form is a 422, not counted."""
    other = PracticeFactory()
    for _ in range(5):
        post_form(new_client(app), "/sign-in/email", other.clinic.host, {"email": patient.email})
    c = new_client(app)
    assert all(
        post_form(c, "/sign-in/email", practice.clinic.host, {"email": ""}).status_code == 422
        for _ in range(3)
    )
    ok = post_form(
        new_client(app), "/sign-in/email", practice.clinic.host, {"email": patient.email}
    )
    assert ok.status_code == 302
    assert get(new_client(app), practice.clinic, "/sign-in/email").status_code == 200
