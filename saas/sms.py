r"""Text messages: a provider interface, a Twilio-style REST adapter and a development file.

Settings (README "Configuration"): ``SMS_PROVIDER`` is ``twilio`` (the REST adapter:
``SMS_ACCOUNT_SID``, ``SMS_AUTH_TOKEN``, ``SMS_FROM``, and ``SMS_API_BASE`` to point it at
a compatible server, default Twilio's), ``file`` (development: every text is a JSON line
in ``SMS_FILE``, default ``.var/sms/messages.jsonl``) or ``off``. Unset: ``file`` outside
production, ``off`` in production.

Length and encoding (:func:`segments`): a text that fits the GSM 03.38 alphabet is sent
as GSM-7, 160 characters in one message or 153 per part of a longer one, where the
extension characters (``^{}\[~]|€`` and form feed) take two; any other character makes
the whole text UCS-2, 70 units or 67 per part (a character beyond the Basic Multilingual
Plane, e.g. most emoji, takes two units). A part never splits an escape or a surrogate
pair. Providers bill per segment, and the clinic's monthly count (``sms_usage``) keeps both
messages and segments.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import json
import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "^{}\\[~]|€\f"
_BASIC = frozenset(GSM7_BASIC) - {"\x1b"}
_EXT = frozenset(GSM7_EXTENSION)


class Segments(NamedTuple):
    """How a text goes on the air: its encoding, its parts and its length in units."""

    encoding: str  #: "GSM-7" or "UCS-2"
    count: int
    units: int


def _parts(weights: list[int], single: int, multi: int) -> int:
    total = sum(weights)
    if total <= single:
        return 1 if weights else 0
    parts, used = 1, 0
    for w in weights:
        if used + w > multi:
            parts, used = parts + 1, 0
        used += w
    return parts


def segments(text: str) -> Segments:
    """The encoding and number of SMS segments of ``text``."""
    if all(c in _BASIC or c in _EXT for c in text):
        weights = [2 if c in _EXT else 1 for c in text]
        return Segments("GSM-7", _parts(weights, 160, 153), sum(weights))
    weights = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return Segments("UCS-2", _parts(weights, 70, 67), sum(weights))


class SmsError(Exception):
    """The provider refused or could not be reached (``status``: its HTTP status, if any)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.code = status, code


class SmsProvider(Protocol):
    """Sends one text; returns the provider's message id. Raises :class:`SmsError`."""

    def send(self, to: str, body: str) -> str: ...


@dataclass(frozen=True)
class TwilioSms:
    """Twilio's Messages API (or a server speaking it): form-encoded POST, basic auth."""

    account_sid: str
    auth_token: str
    sender: str
    api_base: str = "https://api.twilio.com"
    timeout: float = 10.0

    def send(self, to: str, body: str) -> str:
        url = f"{self.api_base.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        data = urllib.parse.urlencode({"To": to, "From": self.sender, "Body": body}).encode()
        auth = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        req = urllib.request.Request(
            url,
            data=data,
            method="POST",
            headers={
                "Authorization": f"Basic {auth}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                answer = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                code = str(json.loads(exc.read() or b"{}").get("code") or "")
            except ValueError:
                code = ""
            raise SmsError(f"HTTP {exc.code}", status=exc.code, code=code or None) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SmsError(type(exc).__name__) from None
        sid = answer.get("sid")
        if not sid:
            raise SmsError("no sid in the answer")
        return str(sid)


@dataclass(frozen=True)
class FileSms:
    """Development: each text becomes one JSON line of ``path`` (read by ``/dev/mailbox``)."""

    path: str
    sender: str = "Similia"

    def send(self, to: str, body: str) -> str:
        sid = f"DEV{uuid.uuid4().hex}"
        seg = segments(body)
        line = {
            "sid": sid,
            "to": to,
            "from": self.sender,
            "body": body,
            "encoding": seg.encoding,
            "segments": seg.count,
            "at": dt.datetime.now(dt.UTC).isoformat(),
        }
        target = Path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return sid


def read_file_messages(path: str | os.PathLike[str]) -> list[dict]:
    """The texts a :class:`FileSms` wrote, oldest first (empty if none)."""
    target = Path(path)
    if not target.exists():
        return []
    return [json.loads(x) for x in target.read_text(encoding="utf-8").splitlines() if x.strip()]


def provider(cfg) -> SmsProvider | None:
    """The configured provider, or None when texts are off."""
    kind = cfg.sms_provider
    if kind == "twilio":
        return TwilioSms(
            cfg.sms_account_sid or "",
            cfg.sms_auth_token or "",
            cfg.sms_from or "",
            cfg.sms_api_base or "https://api.twilio.com",
        )
    if kind == "file":
        return FileSms(cfg.sms_file, cfg.sms_from or "Similia")
    return None
