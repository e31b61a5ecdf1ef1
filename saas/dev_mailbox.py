"""``/dev/mailbox`` (platform host, development only): what was sent, with clickable links.

What the embedded SMTP sink and the development SMS file received, newest first, with
each message's links clickable.

A newcomer running ``make run`` books a visit or asks for a sign-in link and follows the
link from here. In production (``SAAS_ENV=production``) the page does not exist (404);
it needs no login because it only exists on a developer's machine and in tests, where
every message is made up. Emails are read from ``MAIL_DIR`` (the sink's ``.eml`` files),
texts from ``SMS_FILE``; the HTML of an email is never rendered here (its text part is
shown, escaped, with web addresses as links).
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import Blueprint, current_app, render_template
from markupsafe import Markup, escape

from .exceptions import NotFound
from .web import PLATFORM, serve_on

bp = Blueprint("dev_mailbox", __name__)
serve_on(bp, PLATFORM)

#: at most this many of each kind, newest first
SHOWN = 50
_URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """Escaped text with its web addresses as links."""
    out, pos = Markup(""), 0
    for m in _URL.finditer(text or ""):
        out += escape(text[pos : m.start()]) + Markup('<a href="{0}">{0}</a>').format(m.group())
        pos = m.end()
    return out + escape((text or "")[pos:])


def _emails(mail_dir: str | None) -> list[dict]:
    import email.policy
    from email.parser import BytesParser

    if not mail_dir or not Path(mail_dir).is_dir():
        return []
    parser = BytesParser(policy=email.policy.default)
    paths = sorted(Path(mail_dir).glob("*.eml"), reverse=True)[:SHOWN]
    found = []
    for path in paths:
        with path.open("rb") as fh:
            msg = parser.parse(fh)
        part = msg.get_body(preferencelist=("plain", "html"))
        body = part.get_content() if part is not None else ""
        attachments = [a.get_filename() or a.get_content_type() for a in msg.iter_attachments()]
        found.append(
            {
                "id": path.stem,
                "received": path.name[:22],
                "to": str(msg["To"] or ""),
                "subject": " ".join(str(msg["Subject"] or "").split()),
                "body": body,
                "attachments": attachments,
            }
        )
    return found


def _texts(sms_file: str | None) -> list[dict]:
    from .sms import read_file_messages

    if not sms_file:
        return []
    try:
        return list(reversed(read_file_messages(sms_file)))[:SHOWN]
    except (OSError, ValueError):
        return []


@bp.get("/dev/mailbox")
def mailbox():
    """The development mailbox."""
    cfg = current_app.config["SIMILIA"]
    if cfg.production:
        raise NotFound()
    return render_template(
        "dev_mailbox.html",
        emails=_emails(cfg.mail_dir),
        texts=_texts(cfg.sms_file if cfg.sms_provider == "file" else None),
        linkify=linkify,
    )
