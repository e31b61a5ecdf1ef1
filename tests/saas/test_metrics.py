"""``/metrics`` (Prometheus), the outbox figures in ``/readyz``, and ``/dev/mailbox``."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from saas import outbox
from tests.factories import ClinicFactory
from tests.factories.base import clinic_session


def _samples(text: str) -> dict:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def configured(app):
    """Change the app's configuration for one test."""
    before = app.config["SIMILIA"]

    def set_(**changes):
        app.config["SIMILIA"] = dataclasses.replace(before, **changes)

    yield set_
    app.config["SIMILIA"] = before


def test_metrics_count_relay_outcomes_and_show_the_outbox(app, client, owner_dsn):
    from workers import outbox as relay_mod

    key = ("similia_outbox_messages_total", (("channel", "email"), ("outcome", "sent")))
    before = _samples(client.get("/metrics").get_data(as_text=True)).get(key, 0)
    clinic = ClinicFactory()
    with clinic_session(app, clinic.id) as sess:
        outbox.emit(
            sess,
            clinic.id,
            "email.sign_in_link",
            {"to": f"m-{uuid.uuid4().hex[:6]}@example.org", "subject": "s", "body": "b"},
        )
        outbox.emit(sess, clinic.id, "job.no_such_job", {})
    with app.app_context():
        relay_mod.relay(str(clinic.id))
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.mimetype == "text/plain"
    got = _samples(resp.get_data(as_text=True))
    assert got[key] >= before + 1
    assert got[("similia_outbox_messages_total", (("channel", "job"), ("outcome", "failed")))] >= 1
    assert ("similia_outbox_clinics_due", ()) in got and ("similia_outbox_lag_seconds", ()) in got
    assert got[("similia_queue_depth", (("queue", "outbox"),))] >= 0
    # a clinic whose message is overdue: counted, with its lag
    import psycopg

    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE tenants SET outbox_due_at = now() - interval '90 seconds' WHERE id = %s",
            (clinic.id,),
        )
    got = _samples(client.get("/metrics").get_data(as_text=True))
    assert got[("similia_outbox_clinics_due", ())] >= 1
    assert got[("similia_outbox_lag_seconds", ())] >= 90
    ready = client.get("/readyz").get_json()
    assert ready["details"]["outbox"]["clinics_due"] >= 1
    assert ready["details"]["outbox"]["lag_seconds"] >= 90
    assert set(ready["details"]["outbox"]["queues"]) >= {"outbox", "scheduling"}
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute("UPDATE tenants SET outbox_due_at = NULL WHERE id = %s", (clinic.id,))


def test_metrics_need_the_token_in_production(client, configured):
    configured(environment="production", metrics_token=None)
    assert client.get("/metrics").status_code == 404  # never open in production
    configured(environment="production", metrics_token="s3cret-token")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert (
        client.get("/metrics", headers={"Authorization": "Basic s3cret-token"}).status_code == 401
    )
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200 and b"similia_outbox_lag_seconds" in ok.data
    configured(environment="development", metrics_token=None)
    assert client.get("/metrics").status_code == 200


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    """Two processes count under PROMETHEUS_MULTIPROC_DIR; one scrape shows their sum."""
    from saas import metrics

    code = "from saas import metrics\nfor _ in range(3): metrics.count_message('sent', 'sms')\n"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=os.getcwd())
    text = metrics.render(
        {"clinics_due": 0, "lag_seconds": 0.0, "queues": {}}, multiproc_dir=str(tmp_path)
    ).decode()
    got = _samples(text)
    assert got[("similia_outbox_messages_total", (("channel", "sms"), ("outcome", "sent")))] == 6


# -- /dev/mailbox ------------------------------------------------------------------------------


def test_dev_mailbox_lists_emails_and_texts_newest_first_with_links(
    app, client, mail_dir, configured, tmp_path
):
    from saas.devmail import store_message
    from saas.mail import build_message
    from saas.sms import FileSms

    tag = uuid.uuid4().hex[:8]
    first = build_message(
        "a@x",
        f"first-{tag}@example.org",
        f"First {tag}",
        "Open https://c.localhost:8000/a?x=1&y=2 <b>",
        html="<p>x</p>",
    )
    store_message(mail_dir, first.as_bytes(), "a@x", [f"first-{tag}@example.org"])
    second = build_message("a@x", f"second-{tag}@example.org", f"Second {tag}", "Later")
    store_message(mail_dir, second.as_bytes(), "a@x", [f"second-{tag}@example.org"])
    sms_file = tmp_path / "sms.jsonl"
    FileSms(str(sms_file)).send(
        "+447700900123", f"Reminder {tag}: http://c.localhost:8000/appointments/1"
    )
    configured(sms_provider="file", sms_file=str(sms_file))
    page = client.get("/dev/mailbox", base_url="http://localhost")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.index(f"Second {tag}") < html.index(f"First {tag}")  # newest first
    assert '<a href="https://c.localhost:8000/a?x=1&amp;y=2">' in html
    assert "&lt;b&gt;" in html and "<b>" not in html.split(f"First {tag}")[1].split("</article>")[0]
    assert f"Reminder {tag}" in html and '<a href="http://c.localhost:8000/appointments/1">' in html
    assert "GSM-7, 1 segment" in html


def test_dev_mailbox_is_only_on_the_platform_host_and_never_in_production(
    client, configured, make_clinic
):
    clinic = make_clinic()
    assert client.get("/dev/mailbox", base_url=f"http://{clinic.host}").status_code == 404
    configured(environment="production")
    assert client.get("/dev/mailbox", base_url="http://localhost").status_code == 404
