"""Small helpers shared by tests (page forms, hosts)."""

from __future__ import annotations

import re

import psycopg

from saas import db

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: bytes | str) -> str:
    """The CSRF token embedded in a rendered form."""
    text = html.decode() if isinstance(html, bytes) else html
    match = CSRF_RE.search(text)
    assert match, "no CSRF token on the page"
    return match.group(1)


def post_form(client, path: str, host: str, data: dict, *, follow: bool = False):
    """GET the page for its CSRF token, then POST the form like a browser would."""
    page = client.get(path, base_url=f"http://{host}")
    return client.post(
        path,
        data={**data, "csrf_token": csrf_from(page.data)},
        base_url=f"http://{host}",
        follow_redirects=follow,
    )


def bearer(token: str) -> dict:
    """Authorization header."""
    return {"Authorization": f"Bearer {token}"}


def drain(worker, *queues: str, timeout: int = 60_000) -> None:
    """Wait until the outbox relay and then ``queues`` have no message left.

    Jobs reach their queue through the outbox (the relay hands them over after commit),
    so the outbox is drained first, then each queue, then the outbox again for messages
    the jobs wrote.
    """
    for queue in ("outbox", *queues, "outbox"):
        worker.broker.join(queue, timeout=timeout)


def statements_during(app, fn) -> list[str]:
    """The SQL statements the app's engine executes while ``fn()`` runs (an engine event)."""
    from sqlalchemy import event

    engine = app.extensions["similia.engine"]
    seen: list[str] = []

    def before(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return seen


def text_of(msg) -> str:
    """The plain-text body of an email (the ``text/plain`` part of a multipart one)."""
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None, "the message has no text/plain part"
    return part.get_content()


def html_of(msg) -> str:
    """The HTML body of an email."""
    part = msg.get_body(preferencelist=("html",))
    assert part is not None, "the message has no text/html part"
    return part.get_content()


def owner_sql(owner_dsn: str):
    """``run(query, *params)`` as the database owner (RLS off): inspect rows, move time.

    A change made here comes from outside the app's processes, which public reads see
    within :data:`saas.db.LEASE_SECONDS`; a statement other than a ``SELECT`` stands for
    that second having passed (the app forgets the versions it saw), so the next request
    reads them afresh. ``tests/scheduling/test_recent_reads.py`` checks the second itself.
    """

    def run(query: str, *params):
        with psycopg.connect(owner_dsn, autocommit=True) as conn:
            conn.execute("SET row_security = off")
            cur = conn.execute(query, params)
            result = cur.fetchall() if cur.description else cur.rowcount
        if not query.lstrip().upper().startswith("SELECT"):
            db.forget_recent()
        return result

    return run
