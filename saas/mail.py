"""Send email over SMTP (``SMTP_URL``: smtp://[user:pass@]host:port, or smtps://...)."""

from __future__ import annotations

import smtplib
from email import policy
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit


def send_email(
    smtp_url: str, sender: str, to: str, subject: str, body: str, *, message_id: str | None = None
) -> str | None:
    """Deliver one plain-text message; raises on SMTP failure (the caller retries).

    ``message_id`` (``<key@host>``) becomes the Message-ID header, so a retried message
    carries the same id as the first try; it is returned as the provider's id.
    """
    url = urlsplit(smtp_url)
    # headers up to RFC 5322's 998 characters stay on one line: the standard library folds a
    # subject longer than 78 characters before its first word, and a reader then sees it
    # start with a space ("Subject:\n Confirmed: ..." unfolds to " Confirmed: ...")
    msg = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
    # a header is one line: any control character left in a subject (a clinic name written
    # before names were checked) becomes a space instead of failing every send
    subject = " ".join("".join(c if c.isprintable() else " " for c in subject).split())
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if message_id:
        msg["Message-ID"] = message_id
    # accented text goes quoted-printable (7-bit safe for any server), as before
    msg.set_content(body, cte=None if body.isascii() else "quoted-printable")
    cls = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with cls(url.hostname, url.port or (465 if url.scheme == "smtps" else 25), timeout=10) as smtp:
        if url.scheme == "smtp+starttls":
            smtp.starttls()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
        smtp.send_message(msg)
    return message_id
