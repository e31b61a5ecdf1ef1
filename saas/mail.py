"""Send email over SMTP (``SMTP_URL``: smtp://[user:pass@]host:port, or smtps://...).

Messages are ``multipart/alternative`` (plain text first, then HTML) when an HTML body is
given, wrapped in ``multipart/mixed`` with attachments (a visit's ``.ics``). The plain
text part is always complete on its own: a reader without HTML misses nothing.
"""

from __future__ import annotations

import functools
import hashlib
import smtplib
from dataclasses import dataclass
from email import policy
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit


class _Headers(HeaderRegistry):
    """The standard header registry, building each header's class once.

    The standard library builds a new class for every header it sets (a dozen per
    message), which was half the cost of composing an email; the bytes are the same.
    """

    @functools.cache  # noqa: B019 - one registry for the process, never freed anyway
    def __getitem__(self, name: str):
        return super().__getitem__(name)


#: headers up to RFC 5322's 998 characters stay on one line: the standard library folds a
#: subject longer than 78 characters before its first word, and a reader then sees it
#: start with a space ("Subject:\n Confirmed: ..." unfolds to " Confirmed: ...")
WIRE = policy.SMTP.clone(max_line_length=998, header_factory=_Headers())


@dataclass(frozen=True)
class Attachment:
    """A file attached to an email: ``text/calendar`` for a visit's invitation."""

    filename: str
    content_type: str
    data: bytes
    #: extra Content-Type parameters (``method=REQUEST`` for calendars)
    params: tuple[tuple[str, str], ...] = ()


def message_id_for(key: str, host: str) -> str:
    """A Message-ID derived from a delivery key: the same key gives the same id, always.

    The key is hashed (it may name visits and offsets; the header stays opaque and short).
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"<{digest}@{host or 'similia'}>"


def build_message(
    sender: str,
    to: str,
    subject: str,
    body: str,
    *,
    html: str | None = None,
    attachments: tuple[Attachment, ...] = (),
    message_id: str | None = None,
) -> EmailMessage:
    """The message as it goes on the wire (tests and the dev mailbox parse the same)."""
    msg = EmailMessage(policy=WIRE)
    # a header is one line: any control character left in a subject (a clinic name written
    # before names were checked) becomes a space instead of failing every send
    subject = " ".join("".join(c if c.isprintable() else " " for c in subject).split())
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if message_id:
        msg["Message-ID"] = message_id
    # accented text goes quoted-printable (7-bit safe for any server), as before
    msg.set_content(body, cte=None if body.isascii() else "quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for att in attachments:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(att.data, maintype=maintype, subtype=subtype, filename=att.filename)
        part = msg.get_payload()[-1]
        for name, value in att.params:
            part.set_param(name, value)
    return msg


def send_email(
    smtp_url: str,
    sender: str,
    to: str,
    subject: str,
    body: str,
    *,
    html: str | None = None,
    attachments: tuple[Attachment, ...] = (),
    message_id: str | None = None,
    connection: Connection | None = None,
) -> str | None:
    """Deliver one message; raises on SMTP failure (the caller retries).

    ``connection`` reuses an open SMTP connection (a relay run's); without it, one
    connection is opened for this message.

    ``message_id`` (``<key@host>``) becomes the Message-ID header, so a retried message
    carries the same id as the first try; it is returned as the provider's id.
    """
    msg = build_message(
        sender, to, subject, body, html=html, attachments=attachments, message_id=message_id
    )
    if connection is not None:
        connection.send(msg)
    else:
        with _connect(smtp_url) as smtp:
            smtp.send_message(msg)
    return message_id


def _connect(smtp_url: str) -> smtplib.SMTP:
    url = urlsplit(smtp_url)
    cls = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    smtp = cls(url.hostname, url.port or (465 if url.scheme == "smtps" else 25), timeout=10)
    try:
        if url.scheme == "smtp+starttls":
            smtp.starttls()
        if url.username:
            smtp.login(unquote(url.username), unquote(url.password or ""))
    except BaseException:
        smtp.close()
        raise
    return smtp


class Connection:
    """One SMTP connection reused for the messages of a relay run (opened on first use).

    A connection the server closed while idle is opened again once, and only when the
    failure came before the message was handed over (``SMTPServerDisconnected`` on a
    reused connection): a refusal or any other error closes it and is raised, so the
    caller records and retries the message as before.
    """

    def __init__(self, smtp_url: str):
        self.url = smtp_url
        self.smtp: smtplib.SMTP | None = None

    def send(self, msg: EmailMessage) -> None:
        reused = self.smtp is not None
        if self.smtp is None:
            self.smtp = _connect(self.url)
        try:
            self.smtp.send_message(msg)
        except smtplib.SMTPServerDisconnected:
            self.close()
            if not reused:
                raise
            self.smtp = _connect(self.url)
            self.smtp.send_message(msg)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except Exception:  # noqa: BLE001 - closing anyway
                self.smtp.close()
            self.smtp = None
