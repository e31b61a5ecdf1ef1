"""A relay run reuses one SMTP connection; a connection the server dropped is reopened once."""

from __future__ import annotations

import smtplib
import socket
import uuid

import pytest

from saas.mail import Connection, build_message


def _wait(mail_dir, to, count):
    import time

    from saas.devmail import read_messages

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = [m for m in read_messages(mail_dir) if m["To"] == to]
        if len(found) >= count:
            return found
        time.sleep(0.05)
    raise AssertionError(f"expected {count} to {to}")


def test_one_connection_for_many_messages_and_a_dropped_one_is_reopened(service_env, mail_dir):
    to = f"conn-{uuid.uuid4().hex[:8]}@example.org"
    conn = Connection(service_env["SMTP_URL"])
    conn.send(build_message("a@x", to, "one", "1"))
    first = conn.smtp
    conn.send(build_message("a@x", to, "two", "2"))
    assert conn.smtp is first  # reused
    first.sock.shutdown(socket.SHUT_RDWR)  # the server (or the network) dropped it
    conn.send(build_message("a@x", to, "three", "3"))
    assert conn.smtp is not first
    conn.close()
    assert conn.smtp is None
    assert sorted(m["Subject"] for m in _wait(mail_dir, to, 3)) == ["one", "three", "two"]


def test_a_fresh_connection_that_fails_raises(service_env):
    conn = Connection("smtp://127.0.0.1:9")  # nothing listens on the discard port
    with pytest.raises((OSError, smtplib.SMTPException)):
        conn.send(build_message("a@x", "b@example.org", "s", "b"))
    assert conn.smtp is None
