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


def _msgid(m) -> str:
    return m.id if isinstance(m.id, str) else m.id[0]


def _msgstr(m) -> tuple:
    return (m.string,) if isinstance(m.string, str) else tuple(m.string)


def test_template_holds_every_string_of_the_source_and_the_compiled_catalogue_is_current():
    """Extracting the portal's code and templates now finds nothing missing from the template.

    With the test above this proves every portal string has German: a string added without
    running ``pybabel extract``/``update`` (README) fails here. The compiled ``.mo`` must
    carry every German translation of the ``.po`` (``pybabel compile -f``).
    """
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg
    from babel.messages.mofile import read_mo

    root = TRANSLATIONS.parents[1]
    with open(root / "portal" / "babel.cfg") as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    found = {
        msg if isinstance(msg, str) else msg[0]
        for _file, _line, msg, _comments, _context in extract_from_dir(
            str(root), method_map, options_map, keywords=keywords
        )
    }
    with open(TRANSLATIONS / "messages.pot", "rb") as f:
        template = {_msgid(m) for m in read_po(f) if m.id}
    assert len(found) > 200  # the extraction really read the portal
    assert found <= template, sorted(found - template)[:5]
    with open(TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.po", "rb") as f:
        po = {_msgid(m): _msgstr(m) for m in read_po(f) if m.id}
    with open(TRANSLATIONS / "de" / "LC_MESSAGES" / "messages.mo", "rb") as f:
        mo = {_msgid(m): _msgstr(m) for m in read_mo(f) if m.id}
    stale = sorted(k for k in po if mo.get(k) != po[k])
    assert not stale, stale[:5]


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
