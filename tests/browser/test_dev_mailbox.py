"""The development mailbox in a browser: a confirmation's link is clickable, axe passes."""

from __future__ import annotations

import uuid

from saas.devmail import store_message
from saas.mail import build_message

from .test_console_a11y import NARROW, _violations


def test_a_newcomer_clicks_the_link_in_a_received_email(live_server, new_page, mail_dir):
    tag = uuid.uuid4().hex[:8]
    target = live_server.url(None, "/healthz")
    msg = build_message(
        "Similia <no-reply@similia.localhost>",
        f"new-{tag}@example.org",
        f"Your sign-in link {tag}",
        f"Hello,\n\nSign in here:\n{target}\n",
        html="<p>Hello</p>",
    )
    store_message(mail_dir, msg.as_bytes(), "no-reply@similia.localhost", [msg["To"]])
    pg = new_page(NARROW)
    pg.goto(live_server.url(None, "/dev/mailbox"))
    assert pg.get_by_role("heading", name="Development mailbox").is_visible()
    assert pg.get_by_role("heading", name=f"Your sign-in link {tag}").is_visible()
    assert not _violations(pg)
    wide = pg.evaluate(
        "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right"
        " > window.innerWidth + 1).slice(0, 5).map(e => e.tagName + '.' + e.className + ':'"
        " + (e.textContent || '').slice(0, 60))"
    )
    assert not wide, wide
    pg.get_by_role("link", name=target).first.click()
    pg.wait_for_url(target)
    assert '"status"' in pg.content()
