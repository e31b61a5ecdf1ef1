"""Records benchmark: the cost of sealing, against the same work on unencrypted columns.

Scenarios (one clinic, real Postgres and OpenBao, same run, same code path):

- read a page of 50 case notes (one sealed JSON body each, ~1.5 KB) — warm DEK cache,
  and cold (cache dropped before every read: one Vault unwrap);
- read a page of 50 patients (five sealed contact fields each);
- write throughput: one case note per transaction, sealed vs plain.

The unencrypted baseline lives in ``bench_plain_*`` tables created here with the same shape,
keys and RLS policy as the real ones (the bench database is throwaway). Each read is a
tenant-bound transaction (``set_config`` + SELECT + decode), exactly what a request does.
Vault calls are counted with ``KeyService.vault_calls``.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import env

READS = 300
COLD_READS = 30
WRITES = 300
PAGE = 50
NOTE = {
    "presenting_complaints": [
        {
            "complaint": "Recurrent migraine, right-sided, throbbing",
            "location": "right temple",
            "sensation": "hammering",
            "onset": "after grief two years ago",
            "duration": "6-8 hours",
            "better_for": "pressure, dark room, sleep",
            "worse_for": "sun, noise, 10 am",
        }
    ],
    "mentals": "Reserved; weeps when alone, averse to consolation; dwells on past grief. " * 3,
    "generals": "Craves salt; thirsty for large quantities of cold water; chilly but worse sun. "
    * 3,
    "observations": "Composed, answers briefly; lips dry and cracked in the middle. " * 3,
    "analysis": "Rubrics: Grief ailments from; Consolation aggravates; Salt desire. Nat-m. vs Ign.",
}

PLAIN_DDL = """
SET ROLE similia_owner;
CREATE TABLE IF NOT EXISTS bench_plain_notes (
  tenant_id uuid NOT NULL, id uuid NOT NULL, visit_id uuid NOT NULL, version integer NOT NULL,
  body text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, id), UNIQUE (tenant_id, visit_id, version));
CREATE TABLE IF NOT EXISTS bench_plain_patients (
  tenant_id uuid NOT NULL, id uuid NOT NULL, full_name varchar(160) NOT NULL,
  email text, phone text, date_of_birth text, address text, emergency_contact text,
  PRIMARY KEY (tenant_id, id));
"""
POLICY = "tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid)"


def _owner_dsn() -> str:
    url = make_url(os.environ["DATABASE_URL"])
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _create_plain_tables() -> None:
    with psycopg.connect(_owner_dsn(), autocommit=True) as conn:
        conn.execute(PLAIN_DDL)
        for table in ("bench_plain_notes", "bench_plain_patients"):
            conn.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            conn.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            conn.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
            conn.execute(
                f"CREATE POLICY tenant_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})"
            )
            conn.execute(f"GRANT SELECT, INSERT ON {table} TO similia_app")


def _signup(app) -> uuid.UUID:
    client = app.test_client()
    resp = client.post(
        "/api/v1/signup",
        json={
            "name": "Bench Clinic",
            "slug": f"bench-{uuid.uuid4().hex[:8]}",
            "timezone": "Asia/Kolkata",
            "country": "IN",
            "owner_name": "Bench Owner",
            "owner_email": "owner@bench.example.org",
            "password": "correct horse 42",
        },
        base_url="http://localhost",
    )
    assert resp.status_code == 201, resp.get_json()
    return uuid.UUID(resp.get_json()["tenant"]["id"])


def _median_ms(fn, n: int, before=None) -> float:
    samples = []
    for _ in range(n):
        if before:
            before()
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    """Seed one clinic, measure, print the table."""
    from saas.db import tenant_session
    from saas.models import Patient, Tenant, User
    from saas.patients import set_sealed
    from saas.records.models import CaseNote
    from saas.records.sealing import open_json, seal_json
    from saas.records.services import record_visit_note

    app = env.make_app(extra={"disable_rate_limits": True})
    keys = app.extensions["similia.keys"]
    _create_plain_tables()
    tid = _signup(app)
    with app.app_context():
        with tenant_session(tid) as sess:
            tenant = sess.get(Tenant, tid)
            owner = sess.query(User).filter_by(tenant_id=tid).one()
            for i in range(PAGE):
                pid = uuid.uuid4()
                patient = Patient(id=pid, tenant_id=tid, full_name=f"Patient {i:02d}")
                sess.add(patient)
                contact = {
                    "email": f"p{i}@bench.example.org",
                    "phone": "+91 98765 43210",
                    "date_of_birth": "1984-03-09",
                    "address": "12 MG Road, Pune 411001",
                    "emergency_contact": "Ravi K. +91 98220 12345",
                }
                for field, value in contact.items():
                    set_sealed(sess, tenant, patient, field, value)
                sess.execute(
                    text(
                        "INSERT INTO bench_plain_patients VALUES (:t, :i, :n, :e, :p, :d, :a, :c)"
                    ),
                    {
                        "t": tid,
                        "i": pid,
                        "n": patient.full_name,
                        "e": contact["email"],
                        "p": contact["phone"],
                        "d": contact["date_of_birth"],
                        "a": contact["address"],
                        "c": contact["emergency_contact"],
                    },
                )
            sess.flush()
            import datetime as dt

            visit = record_visit_note(
                sess, tenant, owner, patient, kind="initial", visit_date=dt.date.today()
            )
            visit_id = visit.id
        note_json = json.dumps(NOTE)
        version = [0]

        def write_sealed():
            with tenant_session(tid) as sess:
                tenant = sess.get(Tenant, tid)
                version[0] += 1
                note_id = uuid.uuid4()
                sess.add(
                    CaseNote(
                        id=note_id,
                        tenant_id=tid,
                        visit_id=visit_id,
                        version=version[0],
                        body=seal_json(sess, tenant, "case_notes", "body", note_id, NOTE),
                    )
                )

        plain_version = [0]

        def write_plain():
            with tenant_session(tid) as sess:
                sess.get(Tenant, tid)
                plain_version[0] += 1
                sess.execute(
                    text(
                        "INSERT INTO bench_plain_notes (tenant_id, id, visit_id, version, body) "
                        "VALUES (:t, :i, :v, :n, :b)"
                    ),
                    {
                        "t": tid,
                        "i": uuid.uuid4(),
                        "v": visit_id,
                        "n": plain_version[0],
                        "b": note_json,
                    },
                )

        # warm-up, then write throughput (alternating blocks so drift hits both alike)
        write_sealed(), write_plain()
        t_sealed = t_plain = 0.0
        for _ in range(WRITES // 50):
            t0 = time.perf_counter()
            for _ in range(50):
                write_sealed()
            t_sealed += time.perf_counter() - t0
            t0 = time.perf_counter()
            for _ in range(50):
                write_plain()
            t_plain += time.perf_counter() - t0
        n_writes = (WRITES // 50) * 50

        def read_notes_sealed():
            with tenant_session(tid) as sess:
                rows = sess.execute(
                    text(
                        "SELECT id, body_enc FROM case_notes "
                        "WHERE tenant_id = :t AND visit_id = :v "
                        "ORDER BY version LIMIT :n"
                    ),
                    {"t": tid, "v": visit_id, "n": PAGE},
                ).all()
                out = [open_json(sess, tid, "case_notes", "body", r[0], r[1]) for r in rows]
            assert len(out) == PAGE and out[0]["mentals"]

        def read_notes_plain():
            with tenant_session(tid) as sess:
                rows = sess.execute(
                    text(
                        "SELECT id, body FROM bench_plain_notes "
                        "WHERE tenant_id = :t AND visit_id = :v "
                        "ORDER BY version LIMIT :n"
                    ),
                    {"t": tid, "v": visit_id, "n": PAGE},
                ).all()
                out = [json.loads(r[1]) for r in rows]
            assert len(out) == PAGE and out[0]["mentals"]

        fields = ("email", "phone", "date_of_birth", "address", "emergency_contact")

        def read_patients_sealed():
            from saas.fields import FieldOpener

            with tenant_session(tid) as sess:
                opener = FieldOpener(sess, tid)
                rows = sess.execute(
                    text(
                        "SELECT id, full_name, email_enc, phone_enc, date_of_birth_enc, "
                        "address_enc, "
                        "emergency_contact_enc FROM patients WHERE tenant_id = :t "
                        "ORDER BY lower(full_name) "
                        "LIMIT :n"
                    ),
                    {"t": tid, "n": PAGE},
                ).all()
                out = [
                    {f: opener.open("patients", f, r[0], r[2 + i]) for i, f in enumerate(fields)}
                    for r in rows
                ]
            assert len(out) == PAGE and out[0]["phone"]

        def read_patients_plain():
            with tenant_session(tid) as sess:
                rows = sess.execute(
                    text(
                        "SELECT id, full_name, email, phone, date_of_birth, address, "
                        "emergency_contact "
                        "FROM bench_plain_patients WHERE tenant_id = :t "
                        "ORDER BY lower(full_name) LIMIT :n"
                    ),
                    {"t": tid, "n": PAGE},
                ).all()
                out = [{f: r[2 + i] for i, f in enumerate(fields)} for r in rows]
            assert len(out) == PAGE and out[0]["phone"]

        rows = []
        for label, sealed, plain in (
            ("read page of 50 case notes", read_notes_sealed, read_notes_plain),
            (
                "read page of 50 patients (5 sealed fields)",
                read_patients_sealed,
                read_patients_plain,
            ),
        ):
            sealed(), plain()  # warm
            calls = keys.vault_calls
            warm = _median_ms(sealed, READS)
            warm_calls = (keys.vault_calls - calls) / READS
            base = _median_ms(plain, READS)
            calls = keys.vault_calls
            cold = _median_ms(sealed, COLD_READS, before=keys.forget)
            cold_calls = (keys.vault_calls - calls) / COLD_READS
            rows.append(
                [
                    f"{label}, warm",
                    f"{warm:.2f} ms",
                    f"{base:.2f} ms",
                    f"{warm / base:.2f}x",
                    f"{warm_calls:g}",
                ]
            )
            rows.append(
                [
                    f"{label}, cold cache",
                    f"{cold:.2f} ms",
                    f"{base:.2f} ms",
                    f"{cold / base:.2f}x",
                    f"{cold_calls:g}",
                ]
            )
        sealed_rate, plain_rate = n_writes / t_sealed, n_writes / t_plain
        rows.append(
            [
                "write case note (1 per transaction)",
                f"{sealed_rate:.0f}/s",
                f"{plain_rate:.0f}/s",
                f"{plain_rate / sealed_rate:.2f}x",
                "0",
            ]
        )
    env.print_table(
        f"Records: encrypted vs unencrypted (median of {READS} warm / {COLD_READS} cold reads, "
        f"{n_writes} writes)",
        ["operation", "encrypted", "unencrypted", "ratio", "Vault calls/op"],
        rows,
    )
