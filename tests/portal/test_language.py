"""Language: English and German portal pages, the clinic's default and the patient's switch."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from tests.client import new_client
from tests.factories import PracticeFactory
from tests.portal.conftest import get

TRANSLATIONS = Path(__file__).resolve().parents[2] / "portal" / "translations"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")


def test_german_catalogue_is_complete_and_keeps_placeholders():
    """Every message of the template has a German translation with the same placeholders."""
    with open(TRANSLATIONS / "messages.pot", "rb") as f:
        template = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(f) if m.id}
    with open(TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po", "rb") as f:
        german = {m.id if isinstance(m.id, str) else m.id[0]: m for m in read_po(f) if m.id}
    assert template and template <= set(german), sorted(template - set(german))[:5]
    for key in template:
        m = german[key]
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strs = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(strs), key
        want = set(PLACEHOLDER.findall(ids[-1]))
        assert all(set(PLACEHOLDER.findall(s)) == want for s in strs), key


def test_patient_switches_language_and_it_sticks(app):
    """``?lang=de`` turns the portal German (dates, prices too) and is remembered."""
    practice = PracticeFactory()
    c = new_client(app)
    de = get(c, practice.clinic, "/?lang=de").data.decode()
    assert '<html lang="de">' in de and "Willkommen bei" in de and "60,00\xa0€" in de
    assert re.search(r"(Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag), \d+\. ", de)
    again = get(c, practice.clinic, "/book").data.decode()
    assert "Welchen Termin möchten Sie buchen?" in again
    en = get(c, practice.clinic, "/book?lang=en").data.decode()
    assert "Which visit would you like to book?" in en and '<html lang="en">' in en


def test_clinic_default_language_and_other_surfaces(app):
    """A clinic that picks German greets new visitors in German; the console stays English."""
    practice = PracticeFactory()
    assert practice.owner.patch("/api/v1/settings/branding", {"language": "de"}).status_code == 200
    bad = practice.owner.patch("/api/v1/settings/branding", {"language": "xx"})
    assert bad.status_code == 422
    c = new_client(app)
    assert "Willkommen bei" in get(c, practice.clinic, "/").data.decode()
    assert "Welcome to" in get(c, practice.clinic, "/?lang=en").data.decode()
    login = get(new_client(app), practice.clinic, "/login").data.decode()
    assert "Staff sign in" in login and '<html lang="en">' in login
