"""Text messages.

Segment counting, the Twilio-style adapter against a local server that speaks its API,
reminders by text only with consent and a phone number, the monthly count.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest

from saas.sms import FileSms, SmsError, TwilioSms, read_file_messages, segments
from tests.sms_server import TwilioTestServer


@pytest.fixture
def sms_server():
    srv = TwilioTestServer().start()
    yield srv
    srv.stop()


@pytest.mark.parametrize(
    ("text", "encoding", "count", "units"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 161),
        ("a" * 306, "GSM-7", 2, 306),
        ("a" * 307, "GSM-7", 3, 307),
        ("Grüße, Ñandù @ £5 à 10:00", "GSM-7", 1, 25),
        ("Ñandú", "UCS-2", 1, 5),
        ("€" * 80, "GSM-7", 1, 160),  # extension characters count two
        ("€" * 81, "GSM-7", 2, 162),  # 76 per part: an escape is never split
        ("a" * 152 + "€" + "a" * 152, "GSM-7", 3, 306),  # 306 units, yet 3 parts
        ("a" * 158 + "€", "GSM-7", 1, 160),
        ("a" * 159 + "€", "GSM-7", 2, 161),
        ("ł" * 70, "UCS-2", 1, 70),
        ("ł" * 71, "UCS-2", 2, 71),
        ("ł" * 134, "UCS-2", 2, 134),
        ("ł" * 135, "UCS-2", 3, 135),
        ("😀" * 35, "UCS-2", 1, 70),  # beyond the BMP: two units each
        ("😀" * 36, "UCS-2", 2, 72),
        ("a" * 159 + "ł", "UCS-2", 3, 160),  # one character makes the whole text UCS-2
    ],
)
def test_segments(text, encoding, count, units):
    assert segments(text) == (encoding, count, units)


def test_twilio_adapter_posts_form_with_basic_auth_and_returns_the_sid(sms_server):
    client = TwilioSms(
        sms_server.account_sid, sms_server.auth_token, "+15005550006", sms_server.url
    )
    sid = client.send("+447700900123", "Hello é")
    (got,) = sms_server.received
    assert got["sid"] == sid and sid.startswith("SM")
    assert (got["to"], got["from"], got["body"]) == ("+447700900123", "+15005550006", "Hello é")
    wrong = dataclasses.replace(client, auth_token="nope")
    with pytest.raises(SmsError) as refused:
        wrong.send("+447700900123", "x")
    assert (refused.value.status, refused.value.code) == (401, "20003")
    with pytest.raises(SmsError) as missing:
        client.send("", "x")
    assert (missing.value.status, missing.value.code) == (400, "21604")
    sms_server.fail_next = 1
    with pytest.raises(SmsError) as outage:
        client.send("+447700900123", "x")
    assert outage.value.status == 500
    assert len(sms_server.received) == 1


def test_file_adapter_appends_one_line_per_text(tmp_path):
    path = tmp_path / "sms" / "m.jsonl"
    dev = FileSms(str(path), "Clinic")
    a, b = dev.send("+4915100000001", "one"), dev.send("+4915100000002", "zwei ł")
    lines = read_file_messages(path)
    assert [(x["sid"], x["to"], x["body"], x["encoding"]) for x in lines] == [
        (a, "+4915100000001", "one", "GSM-7"),
        (b, "+4915100000002", "zwei ł", "UCS-2"),
    ]


# -- reminders by text, through the relay --------------------------------------------------


def _remind(app, sql, p, start: str, *, planned: int) -> None:
    """Plan reminders two days before ``start`` (``planned`` rows), make them due, relay."""
    from saas.db import tenant_session
    from saas.models import Tenant
    from saas.scheduling.reminders import plan_reminders
    from tests.scheduling.test_reminders import _fall_due, _relay

    now = dt.datetime.fromisoformat(start) - dt.timedelta(days=2)
    with app.app_context(), tenant_session(p.clinic.id) as sess:
        assert plan_reminders(sess, sess.get(Tenant, p.clinic.id), now) == planned
    _fall_due(sql, p.clinic.id)
    _relay(app, sql, p.clinic.id)


def _patient(app, clinic_id, *, phone, sms_consent, email_consent=True, language=None):
    from saas.actors import SYSTEM
    from saas.db import tenant_session
    from saas.models import Tenant
    from saas.patients import create_patient
    from saas.records.consents import record_consent

    with app.app_context(), tenant_session(clinic_id) as sess:
        tenant = sess.get(Tenant, clinic_id)
        extra = {"phone": phone} if phone else {}
        patient = create_patient(
            sess,
            tenant,
            full_name="Lena Kowalska",
            email=f"lena-{uuid.uuid4().hex[:8]}@example.org",
            **extra,
        )
        patient.preferred_language = language
        sess.flush()
        for purpose, wanted in (("reminders_email", email_consent), ("reminders_sms", sms_consent)):
            if wanted:
                record_consent(
                    sess,
                    tenant,
                    patient,
                    purpose=purpose,
                    text_version="v1",
                    channel="portal",
                    actor=SYSTEM,
                )
        return patient.id


def _book(p, patient_id, start):
    from tests.scheduling.conftest import check

    return check(
        p.owner.post("/api/v1/appointments", {**p.booking(start), "patient_id": str(patient_id)}),
        201,
    )


@pytest.fixture
def twilio_app(app, sms_server):
    """The app (and the running workers) send texts to the local Twilio-style server."""
    before = app.config["SIMILIA"]
    app.config["SIMILIA"] = dataclasses.replace(
        before,
        sms_provider="twilio",
        sms_account_sid=sms_server.account_sid,
        sms_auth_token=sms_server.auth_token,
        sms_from="+15005550006",
        sms_api_base=sms_server.url,
    )
    yield app
    app.config["SIMILIA"] = before


def test_reminders_go_by_text_only_with_consent_and_a_phone_and_are_counted(
    twilio_app, make_practice, sql, sms_server
):

    app = twilio_app
    p = make_practice("Europe/London")
    texted = _patient(app, p.clinic.id, phone="+44 7700 900123", sms_consent=True)
    no_phone = _patient(app, p.clinic.id, phone=None, sms_consent=True)
    no_consent = _patient(app, p.clinic.id, phone="+447700900999", sms_consent=False)
    day = p.day(3)
    visits = {
        who: _book(p, who, p.at(day, hhmm))
        for who, hhmm in ((texted, "10:00"), (no_phone, "11:00"), (no_consent, "12:00"))
    }
    # 3 visits x 2 offsets by email, and by text for the two with SMS consent
    _remind(app, sql, p, visits[texted]["start"], planned=10)
    rows = sql(
        "SELECT payload->>'appointment_id', payload->>'offset_minutes', state, skip_reason,"
        " provider_id, delivery_key FROM outbox WHERE tenant_id = %s"
        " AND topic = 'appointment.reminder' AND payload->>'channel' = 'sms'",
        p.clinic.id,
    )
    by_visit = {}
    for appt_id, _, state, reason, provider_id, key in rows:
        by_visit.setdefault(appt_id, []).append((state, reason))
        assert key.endswith(":sms")
        if state == "sent":
            assert provider_id.startswith("SM")
    assert by_visit == {
        visits[texted]["id"]: [("sent", None)] * 2,
        visits[no_phone]["id"]: [("skipped", "no phone")] * 2,
    }
    got = [m for m in sms_server.received if m["to"] == "+447700900123"]
    assert len(got) == 2 and {m["sid"] for m in got} == {r[4] for r in rows if r[2] == "sent"}
    body = got[0]["body"]
    assert body.startswith(f"{p.clinic.name}: reminder of ") and "10:00 (Europe/London)" in body
    assert f"/appointments/{visits[texted]['id']}" in body
    month = dt.datetime.now(dt.UTC).date().replace(day=1)
    expected_segments = sum(segments(m["body"]).count for m in got)
    assert sql(
        "SELECT month, messages, segments FROM sms_usage WHERE tenant_id = %s", p.clinic.id
    ) == [(month, 2, expected_segments)]


def test_texts_stop_at_the_plans_monthly_limit(twilio_app, make_practice, sql, sms_server):
    """With the month's texts used up, a text reminder is skipped with the reason; email goes."""
    import json


    app = twilio_app
    p = make_practice("Europe/London")
    sql(
        "UPDATE tenants SET limit_overrides = %s WHERE id = %s",
        json.dumps({"sms_per_month": 1}),
        p.clinic.id,
    )
    month = dt.datetime.now(dt.UTC).date().replace(day=1)
    sql(
        "INSERT INTO sms_usage (tenant_id, month, messages, segments) VALUES (%s, %s, 1, 1)",
        p.clinic.id,
        month,
    )
    who = _patient(app, p.clinic.id, phone="+44 7700 900555", sms_consent=True)
    visit = _book(p, who, p.at(p.day(3), "10:00"))
    _remind(app, sql, p, visit["start"], planned=4)
    rows = sql(
        "SELECT coalesce(payload->>'channel', 'email'), state, skip_reason FROM outbox"
        " WHERE tenant_id = %s AND topic = 'appointment.reminder'",
        p.clinic.id,
    )
    expected = [
        ("email", "sent", None),
        ("email", "sent", None),
        ("sms", "skipped", "text limit of the plan reached"),
        ("sms", "skipped", "text limit of the plan reached"),
    ]
    assert sorted(rows, key=repr) == sorted(expected, key=repr), rows
    assert not [m for m in sms_server.received if m["to"] == "+447700900555"]
    assert sql("SELECT messages FROM sms_usage WHERE tenant_id = %s", p.clinic.id) == [(1,)]


def test_a_refused_text_is_retried_and_its_error_kept(twilio_app, make_practice, sql, sms_server):

    app = twilio_app
    p = make_practice("Europe/London")
    who = _patient(app, p.clinic.id, phone="+447700900555", sms_consent=True, email_consent=False)
    visit = _book(p, who, p.at(p.day(3), "10:00"))
    sms_server.fail_next = 100
    _remind(app, sql, p, visit["start"], planned=4)
    rows = sql(
        "SELECT state, last_error, attempts FROM outbox WHERE tenant_id = %s"
        " AND payload->>'channel' = 'sms'",
        p.clinic.id,
    )
    assert rows == [("failed", "SmsError HTTP 500 20500", 1)] * 2
    assert sql("SELECT count(*) FROM sms_usage WHERE tenant_id = %s", p.clinic.id) == [(0,)]


def test_sms_usage_is_per_clinic(app, runtime_dsn, two_clinics):
    """A clinic's text count is its own (RLS), written as the runtime role."""
    import psycopg

    (a, _), (b, _) = two_clinics
    with psycopg.connect(runtime_dsn) as conn:
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(a.id),))
        conn.execute(
            "INSERT INTO sms_usage (tenant_id, month, messages, segments)"
            " VALUES (%s, date_trunc('month', now())::date, 1, 2)",
            (a.id,),
        )
        conn.commit()
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(b.id),))
        assert conn.execute("SELECT count(*) FROM sms_usage").fetchone() == (0,)
        conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(a.id),))
        assert conn.execute("SELECT messages, segments FROM sms_usage").fetchone() == (1, 2)


def test_a_text_reminder_is_in_the_patients_language(twilio_app, make_practice, sql, sms_server):
    """A patient who chose German gets the text in German, as their emails."""
    app = twilio_app
    p = make_practice("Europe/Berlin")
    who = _patient(
        app, p.clinic.id, phone="+4915100000777", sms_consent=True, email_consent=False,
        language="de",
    )  # fmt: skip
    visit = _book(p, who, p.at(p.day(3), "10:00"))
    _remind(app, sql, p, visit["start"], planned=4)
    got = [m["body"] for m in sms_server.received if m["to"] == "+4915100000777"]
    assert len(got) == 2
    assert got[0].startswith(f"{p.clinic.name}: Erinnerung an ")
    assert "Verlegen oder stornieren:" in got[0] and "reminder of" not in got[0]
    assert f"/appointments/{visit['id']}" in got[0]
