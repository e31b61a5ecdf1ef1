"""Validation rules for clinic signup: slug, time zone, country and currency."""

from __future__ import annotations

import re

from saas.inputs import timezone_problem  # noqa: F401 - the one IANA check, re-exported

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38})[a-z0-9]$")
#: Host labels we keep for the platform itself or that would confuse patients.
RESERVED_SLUGS = frozenset(
    """www api admin app static assets cdn mail email smtp imap pop ftp ns ns1 ns2 dns
    status help support docs blog billing stripe webhooks auth login signup account accounts
    console dashboard operator operators platform portal similia root system test staging dev
    internal security abuse postmaster hostmaster webmaster localhost""".split()
)

#: Default currency by country (the markets DOMAIN.md names, and a few neighbours).
CURRENCY_BY_COUNTRY = {
    "IN": "INR", "GB": "GBP", "DE": "EUR", "FR": "EUR", "AT": "EUR", "IT": "EUR", "ES": "EUR",
    "NL": "EUR", "BE": "EUR", "IE": "EUR", "PT": "EUR", "CH": "CHF", "US": "USD", "BR": "BRL",
    "CA": "CAD", "AU": "AUD", "NZ": "NZD", "ZA": "ZAR", "MX": "MXN", "AR": "ARS",
}  # fmt: skip
CURRENCIES = frozenset(CURRENCY_BY_COUNTRY.values())


def slug_problem(slug: str) -> str | None:
    """Why ``slug`` cannot be used as a clinic address, or None."""
    if not slug:
        return "Choose an address for your clinic."
    if not 3 <= len(slug) <= 40:
        return "Use 3 to 40 characters."
    if not SLUG_RE.match(slug):
        return "Use lower-case letters, digits and hyphens, not starting or ending with a hyphen."
    if "--" in slug:
        return "Do not use two hyphens in a row."
    if slug in RESERVED_SLUGS:
        return "This address is reserved. Choose another."
    return None


def country_problem(code: str) -> str | None:
    """Why ``code`` is not a supported ISO 3166 country code, or None."""
    if code in CURRENCY_BY_COUNTRY:
        return None
    return "Choose a supported country (two-letter code such as GB, IN, DE, US)."
