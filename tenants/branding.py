"""A clinic's look: colours checked for contrast, safe CSS custom properties, the logo.

Decisions:

- **Colours** are ``#rrggbb`` only. Both are drawn under or as text on the pages: the
  primary colour is the background of the header and of buttons under white text, the
  accent colour is the colour of links and secondary buttons on the white page. Each must
  reach WCAG AA contrast (4.5:1) against white; a colour that does not is refused with the
  ratio it reached and the nearest darker shade that passes, which the page offers to use
  (adjusted only with the owner's consent, never silently).
- **CSS**: branding reaches pages only as CSS custom properties in a stylesheet served from
  our own origin (``/brand.css``), built by :func:`branding_css` from values re-checked at
  render time. Nothing the clinic types ever lands in a ``style`` attribute (and the
  Content-Security-Policy refuses inline styles anyway).
- **Logo**: PNG or JPEG only, at most :data:`MAX_LOGO_BYTES` and :data:`MAX_LOGO_PIXELS`;
  the upload is decoded by Pillow and re-encoded from its pixels (dropping EXIF, text
  chunks, ICC profiles and anything appended after the image), scaled down to fit
  :data:`LOGO_BOX`, stored in ``clinic_logos`` and served from the clinic's own host with
  its exact content type and ``nosniff``.
- **Embedding**: a clinic may put its booking pages in an ``<iframe>`` on its own site. It
  lists that site's origins (``embed_origins``); they are checked by :func:`origin_problem`
  (``https://host[:port]`` only, no path, no wildcard; plain ``http`` only for ``localhost``
  and ``*.localhost``, which browsers treat as secure for development) and reach the portal's
  ``Content-Security-Policy: frame-ancestors 'self' <origins>`` through :func:`embed_origins`,
  which re-checks every stored value. No origin listed: ``frame-ancestors 'self'``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import uuid
import warnings

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from saas import audit, settings
from saas.exceptions import Invalid, UnsupportedType
from saas.models import ClinicLogo, Tenant

COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_PRIMARY = "#2f6f5e"
DEFAULT_ACCENT = "#1f5c4d"
#: The colour drawn on the primary colour (header, buttons) and the page under links.
TEXT_ON_PRIMARY = "#ffffff"
PAGE = "#ffffff"
#: WCAG 2.x AA for normal text.
AA = 4.5
MAX_LOGO_BYTES = 2 * 1024 * 1024
MAX_LOGO_PIXELS = 4096 * 4096
#: Stored logos fit in this box (CSS shows them at most 48 px high; 4x for sharp screens).
LOGO_BOX = (800, 200)
LOGO_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}
#: At most this many embedding origins per clinic.
MAX_EMBED_ORIGINS = 10
_HOST_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
ORIGIN_RE = re.compile(
    rf"^(?P<scheme>https?)://(?P<host>{_HOST_LABEL}(?:\.{_HOST_LABEL})*)(?::(?P<port>[0-9]{{1,5}}))?$"
)


def _channel(c: int) -> float:
    s = c / 255
    return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4


def luminance(color: str) -> float:
    """Relative luminance of ``#rrggbb`` (WCAG 2.x)."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def darken_to_pass(color: str, against: str = TEXT_ON_PRIMARY) -> str:
    """The nearest darker shade of ``color`` with AA contrast against ``against``."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    for step in range(101):
        f = 1 - step / 100
        shade = f"#{round(r * f):02x}{round(g * f):02x}{round(b * f):02x}"
        if contrast(shade, against) >= AA:
            return shade
    return "#000000"


def color_problem(color: str | None, role: str) -> str | None:
    """Why ``color`` cannot be used as ``role`` ("primary" or "accent"), or None."""
    if not color or not COLOR_RE.match(color):
        return "Use a colour in the form #2f6f5e (a hash and six hexadecimal digits)."
    ratio = contrast(color.lower(), TEXT_ON_PRIMARY)
    if ratio < AA:
        where = "white text on it" if role == "primary" else "text in it on a white page"
        return (
            f"{color} is too light: {where} reaches a contrast of {ratio:.1f}:1, "
            f"below the 4.5:1 people with low vision need (WCAG AA). "
            f"A darker shade such as {darken_to_pass(color.lower())} passes."
        )
    return None


def branding_check(values: dict) -> dict[str, str]:
    """The branding section's check on merged values (both colours readable)."""
    errors = {}
    for key, role in (("brand_color", "primary"), ("accent_color", "accent")):
        if problem := color_problem(values.get(key), role):
            errors[key] = problem
    if problem := embed_origins_check(values.get("embed_origins") or []):
        errors["embed_origins"] = problem
    return errors


def normalise_origin(value: str) -> str:
    """``value`` trimmed, lower-cased and without a trailing slash (not yet checked)."""
    value = (value or "").strip().lower()
    return value[:-1] if value.endswith("/") else value


def origin_problem(value: str) -> str | None:
    """Why ``value`` (normalised) cannot be an embedding origin, or None."""
    m = ORIGIN_RE.match(value or "")
    if m is None:
        return (
            f"{value!r} is not a web site's origin: use the address of your site without a "
            "path, like https://www.your-clinic.example."
        )
    host = m.group("host")
    local = host == "localhost" or host.endswith(".localhost")
    if m.group("scheme") != "https" and not local:
        return f"{value} is not secure: use https:// (your site must be served over HTTPS)."
    if m.group("port") and not 0 < int(m.group("port")) < 65536:
        return f"{value} has no valid port."
    if "." not in host and not local:
        return f"{value} is not a public web address."
    return None


def embed_origins_check(origins) -> str | None:
    """Why a list of embedding origins cannot be saved, or None."""
    if len(origins) > MAX_EMBED_ORIGINS:
        return f"List at most {MAX_EMBED_ORIGINS} addresses."
    for origin in origins:
        if problem := origin_problem(origin):
            return problem
    return None


def embed_origins(tenant: Tenant) -> list[str]:
    """The clinic's embedding origins as stored, each re-checked (bad ones dropped)."""
    values = settings.read(tenant, "branding").get("embed_origins") or []
    return [o for o in values[:MAX_EMBED_ORIGINS] if isinstance(o, str) and not origin_problem(o)]


def frame_ancestors(tenant: Tenant | None) -> str:
    """The CSP ``frame-ancestors`` source list of the clinic's portal pages."""
    origins = embed_origins(tenant) if tenant is not None else []
    return " ".join(["'self'", *origins])


def _safe(color, default: str) -> str:
    return color.lower() if isinstance(color, str) and COLOR_RE.match(color) else default


def css_properties(tenant: Tenant) -> dict[str, str]:
    """The clinic's branding as CSS custom properties, every value re-validated."""
    values = settings.read(tenant, "branding")
    primary = _safe(values.get("brand_color"), DEFAULT_PRIMARY)
    accent = _safe(values.get("accent_color"), DEFAULT_ACCENT)
    if contrast(primary, TEXT_ON_PRIMARY) < AA:
        primary = DEFAULT_PRIMARY
    if contrast(accent, PAGE) < AA:
        accent = DEFAULT_ACCENT
    return {
        "--brand": primary,
        "--brand-ink": TEXT_ON_PRIMARY,
        "--brand-hover": darken(primary, 0.8),
        "--accent": accent,
    }


def darken(color: str, factor: float) -> str:
    """``color`` with each channel scaled by ``factor`` (0..1)."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"#{round(r * factor):02x}{round(g * factor):02x}{round(b * factor):02x}"


def branding_css(tenant: Tenant) -> str:
    """A stylesheet setting the clinic's custom properties on ``:root``."""
    props = css_properties(tenant)
    body = "".join(f"{k}:{v};" for k, v in props.items() if re.fullmatch(r"--[a-z-]+", k))
    return f":root{{{body}}}\n"


def public_profile(sess: Session, tenant: Tenant) -> dict:
    """What the public page shows of the clinic: texts, contact details, the logo's URL.

    Plain text values (escape them when rendering); ``logo_url`` is None without a logo.
    """
    brand, clinic = settings.read(tenant, "branding"), settings.read(tenant, "clinic")
    logo = sess.scalar(select(ClinicLogo.sha256).where(ClinicLogo.tenant_id == tenant.id))
    return {
        "tagline": brand["tagline"],
        "welcome_text": brand["welcome_text"],
        "opening_hours": brand["opening_hours"],
        "address": clinic["address"],
        "phone": clinic["phone"],
        "email": clinic["email"],
        "logo_url": f"/brand/logo?v={logo[:12]}" if logo else None,
    }


# -- the logo --------------------------------------------------------------------------------
def _refuse(message: str) -> Invalid:
    return Invalid({"logo": message}, reason="invalid_image")


def clean_logo(raw: bytes) -> tuple[bytes, str, int, int]:
    """Decode ``raw`` and re-encode its pixels; returns (bytes, content type, width, height).

    Raises ``Invalid`` (field ``logo``) for too big, undecodable or oversized images and
    ``UnsupportedType`` for anything but PNG or JPEG.
    """
    from PIL import Image

    if not raw:
        raise _refuse("Choose an image file to upload.")
    if len(raw) > MAX_LOGO_BYTES:
        raise _refuse(f"The file is {len(raw) // 1024} KB; upload at most 2 MB.")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(raw)) as probe:
                fmt = probe.format
                width, height = probe.size
                if fmt not in LOGO_TYPES:
                    raise UnsupportedType(
                        "Upload a PNG or JPEG image.",
                        errors={"logo": "Upload a PNG or JPEG image."},
                        reason="unsupported_image",
                    )
                if width * height > MAX_LOGO_PIXELS:
                    raise _refuse(f"The image is {width}×{height} pixels; use at most 4096×4096.")
                probe.load()
                image = probe.copy()
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise _refuse("The image is too large to open safely.") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise _refuse("This file is not a readable PNG or JPEG image.") from exc
    if fmt == "JPEG":
        image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA")
    image.thumbnail(LOGO_BOX)
    # a fresh image from the pixels alone: no EXIF, text chunks, ICC profile or trailer
    clean = Image.frombytes(image.mode, image.size, image.tobytes())
    out = io.BytesIO()
    if fmt == "JPEG":
        clean.save(out, format="JPEG", quality=90, optimize=True)
    else:
        clean.save(out, format="PNG", optimize=True)
    return out.getvalue(), LOGO_TYPES[fmt], clean.width, clean.height


def get_logo_in_tenant(sess: Session, tenant_id) -> ClinicLogo | None:
    """The clinic's logo, if it has one."""
    return sess.scalar(select(ClinicLogo).where(ClinicLogo.tenant_id == tenant_id))


def _touch(sess: Session, tenant: Tenant) -> None:
    """Give the clinic's row a new version in the logo's transaction.

    Caches keyed on the row's version (the resolved clinic, the reused front page) then let
    go of the old logo when the change commits.
    """
    sess.execute(update(Tenant).where(Tenant.id == tenant.id).values(settings=Tenant.settings))


def set_logo(sess: Session, tenant: Tenant, actor, raw: bytes) -> ClinicLogo:
    """Replace the clinic's logo with a cleaned copy of ``raw`` (audited)."""
    data, content_type, width, height = clean_logo(raw)
    sess.execute(delete(ClinicLogo).where(ClinicLogo.tenant_id == tenant.id))
    logo = ClinicLogo(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        content_type=content_type,
        data_b64=base64.b64encode(data).decode("ascii"),
        width=width,
        height=height,
        sha256=hashlib.sha256(data).hexdigest(),
    )
    sess.add(logo)
    sess.flush()
    _touch(sess, tenant)
    audit.record(
        sess,
        tenant.id,
        "settings.logo_changed",
        actor=actor,
        target=f"tenant:{tenant.slug}",
        data={"content_type": content_type, "width": width, "height": height},
    )
    return logo


def remove_logo(sess: Session, tenant: Tenant, actor) -> None:
    """Remove the clinic's logo (audited)."""
    sess.execute(delete(ClinicLogo).where(ClinicLogo.tenant_id == tenant.id))
    sess.flush()
    _touch(sess, tenant)
    audit.record(
        sess, tenant.id, "settings.logo_removed", actor=actor, target=f"tenant:{tenant.slug}"
    )
