"""Operations figures on /ops: health (outbox, webhooks, clinics in trouble) and usage.

Health: outbox lag, failed and dead messages, the Stripe webhook backlog, clinics with
failing messages. Clinic list and page: storage, plan status and Connect state.

Figures are written as they would be (rows of the clinic, counted by the usage job on the
runtime role) and read through the pages.
"""

from __future__ import annotations

import re
import uuid

import psycopg

from admin.platform.usage import refresh_usage
from tests.factories import PatientFactory


def _exec(owner_dsn, query, params=()):
    with psycopg.connect(owner_dsn) as conn:
        conn.execute("SET row_security = off")
        conn.execute(query, params)


def _figure(html: str, attr: str) -> str:
    return re.search(rf"{attr}>([^<]*)<", html).group(1)


def test_health_shows_outbox_lag_failures_webhook_backlog_and_clinics_in_trouble(
    app, ops, make_clinic, owner_dsn
):
    """A failed and a dead message, an overdue clinic and an unprocessed Stripe event show."""
    clinic, calm = make_clinic(), make_clinic()
    before = ops.text("/ops/health")
    backlog = int(_figure(before, 'data-webhooks="backlog"'))
    for state in ("failed", "dead", "dead"):
        _exec(
            owner_dsn,
            "INSERT INTO outbox (tenant_id, id, topic, payload, state) "
            "VALUES (%s, %s, 'email.test', '{}', %s)",
            (clinic.id, uuid.uuid4(), state),
        )
    _exec(
        owner_dsn,
        "UPDATE tenants SET outbox_due_at = now() - interval '10 minutes' WHERE id = %s",
        (clinic.id,),
    )
    _exec(
        owner_dsn,
        "INSERT INTO stripe_events (id, type, created, payload) "
        "VALUES (%s, 'invoice.paid', 0, '{}')",
        (f"evt_{uuid.uuid4().hex}",),
    )
    with app.app_context():
        refresh_usage([clinic.id, calm.id])

    html = ops.text("/ops/health")
    row = re.search(rf'data-trouble="{clinic.slug}">.*?</tr>', html, re.S).group(0)
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["1", "2"]
    assert f'data-trouble="{calm.slug}"' not in html
    assert int(_figure(html, 'data-outbox="failed"')) >= 1
    assert int(_figure(html, 'data-outbox="dead"')) >= 2
    assert int(_figure(html, 'data-outbox="due"')) >= 1
    assert int(_figure(html, 'data-outbox="lag"').split()[0]) >= 600
    assert int(_figure(html, 'data-webhooks="backlog"')) == backlog + 1


def test_list_and_page_show_storage_plan_and_connect_state(app, ops, make_clinic, owner_dsn):
    """Attachment bytes, the subscription's status and the Connect state, per clinic."""
    clinic, other = make_clinic(), make_clinic()
    patient = PatientFactory(clinic=clinic)
    _exec(
        owner_dsn,
        "INSERT INTO patient_attachments (tenant_id, id, patient_id, content_type, size_bytes, "
        "filename_enc, content_enc) VALUES (%s, %s, %s, 'application/pdf', 2048, "
        "'\\x00', '\\x00')",
        (clinic.id, uuid.uuid4(), patient.id),
    )
    _exec(
        owner_dsn,
        "INSERT INTO connect_accounts (tenant_id, account_id, details_submitted, "
        "charges_enabled, payouts_enabled) VALUES (%s, 'acct_test1', true, true, true) "
        "ON CONFLICT (tenant_id) DO UPDATE SET charges_enabled = true, payouts_enabled = true",
        (clinic.id,),
    )
    _exec(
        owner_dsn,
        "INSERT INTO clinic_subscriptions (tenant_id, plan_code, status) "
        "VALUES (%s, 'clinic', 'active') ON CONFLICT (tenant_id) DO UPDATE SET status = 'active'",
        (clinic.id,),
    )
    with app.app_context():
        refresh_usage([clinic.id, other.id])
    html = ops.text(f"/ops/tenants?q={clinic.slug}")
    row = html.split(f'<span class="hint">{clinic.slug}</span>', 1)[1].split("</tr>", 1)[0]
    assert "2.0 kB" in row and "enabled" in row and ">active<" in row
    page = ops.text(f"/ops/tenants/{clinic.id}")
    assert "2.0 kB" in page and "data-connect>enabled<" in page
    other_page = ops.text(f"/ops/tenants/{other.id}")
    assert "0 Bytes" in other_page and "Not connected" in other_page


def test_health_shows_requests_and_server_errors_per_clinic_and_the_slowest_endpoints(
    app, ops, make_clinic
):
    """Real requests on two clinics' hosts are counted per clinic and per endpoint.

    The server errors come through the recorder the web app uses (no route of ours fails on
    purpose); requests, latency and the page are the real ones.
    """
    from tests.client import new_client

    busy, quiet = make_clinic(), make_clinic()
    client = new_client(app)
    for _ in range(3):
        assert client.get("/", headers={"Host": busy.host}).status_code == 200
    assert client.get("/no-such-page", headers={"Host": busy.host}).status_code == 404
    assert client.get("/", headers={"Host": quiet.host}).status_code == 200
    stats = app.extensions["similia.reqstats"]
    # an endpoint of its own, so it is among the slowest of the hour however many front
    # pages the rest of the suite served meanwhile (the window is shared)
    stats.record(str(busy.id), "GET slow_probe", 500, 6000.0)
    stats.flush()

    html = ops.text("/ops/health")
    row = re.search(rf'data-errors="{busy.slug}">.*?</tr>', html, re.S).group(0)
    requests, errors = (int(n) for n in re.findall(r'<td class="num">(\d+)</td>', row)[:2])
    assert (requests, errors) == (5, 1)
    assert "20.0 %" in row
    # clinics with server errors come first; a quiet one (no error) never before them
    if f'data-errors="{quiet.slug}"' in html:
        assert html.index(f'data-errors="{busy.slug}"') < html.index(f'data-errors="{quiet.slug}"')
    with app.app_context():
        from saas import reqstats

        counts = reqstats.window(app.extensions["similia.redis"])
    assert (counts[f"c|{quiet.id}|n"], counts.get(f"c|{quiet.id}|e", 0)) == (1, 0)
    assert counts["e|GET (no route)|n"] >= 1  # a 404 without a route is counted by name
    assert counts["e|GET front_page|n"] >= 4  # the real pages, counted by endpoint name
    endpoint = re.search(r'data-endpoint="GET slow_probe">.*?</tr>', html, re.S).group(0)
    requests, errors = (int(n) for n in re.findall(r'<td class="num">(\d+)</td>', endpoint)[:2])
    assert requests >= 1 and errors >= 1 and "over 5000 ms" in endpoint


def test_request_figures_p95_and_rates_from_latency_buckets(app):
    """p95 is the first bucket bound that holds 95 % of answers; over 5 s reads as None."""
    import time as _time

    import redis as _redis

    from saas import reqstats

    r = _redis.Redis.from_url(app.config["SIMILIA"].redis_url)
    rec = reqstats.Recorder(r, flush_seconds=3600)
    name = f"GET probe.{uuid.uuid4().hex}"
    for ms in [3.0] * 94 + [40.0] * 6:
        rec.record("platform", name, 200, ms)
    slow = f"GET slow.{uuid.uuid4().hex}"
    rec.record("platform", slow, 503, 9000.0)
    rec.flush()
    counts = reqstats.window(r, now=_time.time())
    rows = {e["endpoint"]: e for e in reqstats.slowest_endpoints(counts, limit=1000)}
    assert rows[name]["requests"] == 100 and rows[name]["p95_ms"] == 50
    assert rows[name]["errors"] == 0
    assert rows[slow]["p95_ms"] is None and rows[slow]["errors"] == 1
    # an hour later the buckets have left the window
    assert name not in {
        e["endpoint"]
        for e in reqstats.slowest_endpoints(reqstats.window(r, now=_time.time() + 3700), 1000)
    }
