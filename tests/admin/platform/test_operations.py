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
    return re.search(rf'{attr}>([^<]*)<', html).group(1)


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
    assert "2.0 kB" in page and 'data-connect>enabled<' in page
    other_page = ops.text(f"/ops/tenants/{other.id}")
    assert "0 Bytes" in other_page and "Not connected" in other_page
