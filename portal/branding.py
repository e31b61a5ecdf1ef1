"""The clinic's look on its portal: branding settings turned into safe page values.

Branding comes from the settings registry (``settings.read(tenant, "branding")``) and the
clinic's public profile. Colours reach pages only as CSS custom properties in the clinic's
stylesheet (``/brand.css``, :mod:`tenants.branding`, which re-validates them); the portal's
own use of a colour (the favicon) goes through :func:`safe_hex`. Nothing from the settings
is ever written into a ``style`` attribute (the CSP refuses inline styles anyway).

Decisions:

- A colour that is not ``#rgb``/``#rrggbb`` falls back to the platform default.
- The text colour on the brand colour (header, buttons) is white or near-black, whichever
  contrasts more; links on white use the brand colour only when it reaches 4.5:1 (WCAG AA),
  else the default ink, so a pale brand colour cannot make the portal unreadable.
- The logo is shown only when the clinic uploaded one (a path on this host).
"""

from __future__ import annotations

import hashlib
import re

from saas import db, settings

DEFAULT_BRAND = "#2f6f5e"
INK = "#1b1b1b"
WHITE = "#ffffff"
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")


def safe_hex(value) -> str | None:
    """``value`` as a lower-case ``#rrggbb`` colour, or None when it is not a hex colour."""
    if not isinstance(value, str) or not _HEX.match(value.strip()):
        return None
    value = value.strip().lower()
    if len(value) == 4:
        value = "#" + "".join(c * 2 for c in value[1:])
    return value


def _luminance(color: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def css_variables(values: dict) -> dict[str, str]:
    """The custom properties of the clinic's stylesheet, every value a validated colour."""
    brand = safe_hex(values.get("brand_color")) or DEFAULT_BRAND
    ink_on_brand = WHITE if contrast(brand, WHITE) >= contrast(brand, INK) else INK
    link = brand if contrast(brand, WHITE) >= 4.5 else INK
    return {"--brand": brand, "--brand-ink": ink_on_brand, "--link": link}


def _logo(url) -> str | None:
    if isinstance(url, str) and (
        (url.startswith("/") and not url.startswith("//")) or url.startswith("https://")
    ):
        return url
    return None


def brand_of(tenant) -> dict:
    """Everything the portal's shell shows about the clinic (escaped by Jinja when shown).

    Texts, contact details and the logo come from the clinic's public profile
    (:func:`tenants.branding.public_profile`: the ``branding`` and ``clinic`` sections and
    the uploaded logo); the colours reach pages through ``/brand.css``.
    """
    from tenants.branding import public_profile

    profile = public_profile(db.session, tenant)
    values = settings.read(tenant, "branding")
    brand = safe_hex(values.get("brand_color")) or DEFAULT_BRAND
    return {
        "name": tenant.name,
        "tagline": profile.get("tagline") or "",
        "welcome": profile.get("welcome_text") or "",
        "address": profile.get("address") or "",
        "phone": profile.get("phone") or "",
        "email": profile.get("email") or "",
        "hours": profile.get("opening_hours") or "",
        "privacy": values.get("privacy_notice") or "",
        "imprint": values.get("imprint") or "",
        "logo": _logo(profile.get("logo_url")),
        "brand": brand,
        #: Changes whenever the icon would, so the icon can be cached for long.
        "version": hashlib.sha256(f"{brand}|{tenant.name}".encode()).hexdigest()[:12],
    }


def favicon_svg(brand: dict) -> str:
    """A small SVG icon: the clinic's initial on its brand colour."""
    initial = next((c for c in brand["name"] if c.isalnum()), "S").upper()
    initial = initial.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    ink = css_variables({"brand_color": brand["brand"]})["--brand-ink"]
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
        f'<rect width="32" height="32" rx="6" fill="{brand["brand"]}"/>'
        f'<text x="16" y="22" font-family="sans-serif" font-size="18" font-weight="700" '
        f'text-anchor="middle" fill="{ink}">{initial}</text></svg>'
    )
