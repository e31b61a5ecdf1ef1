"""SMTP sink for development and tests: every received message becomes a ``.eml`` file.

Run it as ``python -m saas.devmail --host 127.0.0.1 --port 8025 --dir .var/mail``.
Each message is written atomically (temporary file, then rename) as
``DIR/<UTC timestamp>-<uuid>.eml``, with two headers added on top:
``X-Envelope-From`` and ``X-Envelope-To`` (the SMTP envelope, which shows Bcc recipients).

Tests read the messages back with :func:`read_messages` or :func:`wait_for_messages`;
these helpers do not import aiosmtpd.
"""

from __future__ import annotations

import argparse
import email.policy
import logging
import os
import signal
import threading
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MESSAGE_SUFFIX = ".eml"


def read_messages(mail_dir: str | os.PathLike[str]) -> list[EmailMessage]:
    """Return every message stored in ``mail_dir``, oldest first (empty if the dir is missing)."""
    directory = Path(mail_dir)
    if not directory.is_dir():
        return []
    parser = BytesParser(policy=email.policy.default)
    messages = []
    for path in sorted(directory.glob(f"*{MESSAGE_SUFFIX}")):
        with path.open("rb") as fh:
            message = parser.parse(fh)
        assert isinstance(message, EmailMessage)
        messages.append(message)
    return messages


def wait_for_messages(
    mail_dir: str | os.PathLike[str], count: int = 1, timeout: float = 10.0
) -> list[EmailMessage]:
    """Poll until ``mail_dir`` holds at least ``count`` messages and return them all.

    Raises TimeoutError if they do not arrive within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        messages = read_messages(mail_dir)
        if len(messages) >= count:
            return messages
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"expected {count} message(s) in {mail_dir}, found {len(messages)} after {timeout}s"
            )
        time.sleep(0.05)


def store_message(mail_dir: Path, content: bytes, mail_from: str, rcpt_tos: list[str]) -> Path:
    """Write one message atomically into ``mail_dir`` and return its path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    name = f"{stamp}-{uuid.uuid4().hex}{MESSAGE_SUFFIX}"
    envelope = (
        f"X-Envelope-From: <{mail_from}>\r\n"
        f"X-Envelope-To: {', '.join(f'<{rcpt}>' for rcpt in rcpt_tos)}\r\n"
    ).encode()
    tmp = mail_dir / f".{name}.tmp"
    tmp.write_bytes(envelope + content)
    final = mail_dir / name
    os.replace(tmp, final)
    return final


class MaildirHandler:
    """aiosmtpd handler that stores each message with :func:`store_message`."""

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Store the message; called by aiosmtpd after the DATA command."""
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        path = store_message(self.mail_dir, content, envelope.mail_from, list(envelope.rcpt_tos))
        logger.info(
            "stored message from %s to %s as %s",
            envelope.mail_from,
            ", ".join(envelope.rcpt_tos),
            path.name,
        )
        return "250 Message accepted for delivery"


def serve(host: str, port: int, mail_dir: Path) -> None:
    """Serve SMTP on ``host:port`` until SIGTERM or SIGINT."""
    from aiosmtpd.controller import Controller

    mail_dir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    controller = Controller(MaildirHandler(mail_dir), hostname=host, port=port)
    controller.start()
    logger.info("devmail listening on %s:%d, storing messages in %s", host, port, mail_dir)
    try:
        stop.wait()
    finally:
        controller.stop()
        logger.info("devmail stopped")


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m saas.devmail", description="SMTP sink that stores .eml files."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, required=True, help="where to store .eml files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    serve(args.host, args.port, args.dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
