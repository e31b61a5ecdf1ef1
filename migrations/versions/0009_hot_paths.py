"""Per-clinic schedule versions, bumped by triggers in the transaction that changes the schedule.

``schedule_versions`` holds two counters per clinic: ``config`` (the practice: visit types,
practitioners, locations, booking rules, weekly hours, time off, closures) and ``bookings``
(appointments). Triggers bump them in the same transaction as the change, so a cache keyed
by ``(clinic, config, bookings)`` (the practice catalogue, free times) can never serve what
a committed change made stale, and a rolled-back change never bumps anything.

``audit_head(tid)`` takes the clinic's audit-chain lock and returns the chain's last link in
one round trip (inside the function the read takes a fresh snapshot after the lock, so it
sees the link a transaction that held the lock before committed).

Decisions:

- A tenant table like any other (RLS forced). Every transaction binds its clinic and reads
  the counters and the clinic row's version in one round trip: ``bind_clinic(tid)`` sets
  ``app.tenant_id`` first and then reads, so RLS applies to the read.
- Bumped per changed row, for the row's own clinic, whoever changes it (the runtime role
  under RLS, or the owner in maintenance without a bound clinic: the bump binds the row's
  clinic for its own write and restores what was bound). ``appointments`` bumps only when
  something that decides free time changed.

Revision ID: 0009_hot_paths
Revises: 0008_sealed_cancel_reasons
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import RUNTIME_ROLE, protect_tenant_table

revision = "0009_hot_paths"
down_revision = "0008_sealed_cancel_reasons"
branch_labels = None
depends_on = None

PRACTICE_TABLES = (
    "visit_types",
    "visit_type_practitioners",
    "visit_type_locations",
    "practitioners",
    "locations",
    "booking_rules",
    "availability_rules",
    "availability_exceptions",
    "closures",
)


def upgrade() -> None:
    """Counters, their bump functions and the triggers."""
    op.execute(
        """
        CREATE TABLE schedule_versions (
          tenant_id uuid PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
          config bigint NOT NULL DEFAULT 0,
          bookings bigint NOT NULL DEFAULT 0
        )
        """
    )
    protect_tenant_table("schedule_versions", grants="SELECT, INSERT, UPDATE")
    op.execute(
        """
        CREATE FUNCTION bind_clinic(tid text)
        RETURNS TABLE (config bigint, bookings bigint, tenant_row text)
        LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM set_config('app.tenant_id', tid, true);
          RETURN QUERY
            SELECT v.config, v.bookings, t.xmin::text
            FROM (SELECT tid::uuid AS id) b
            LEFT JOIN tenants t ON t.id = b.id
            LEFT JOIN schedule_versions v ON v.tenant_id = b.id;
        END $$
        """
    )
    op.execute(f"GRANT EXECUTE ON FUNCTION bind_clinic(text) TO {RUNTIME_ROLE}")
    op.execute(
        """
        CREATE FUNCTION audit_head(tid uuid) RETURNS TABLE (seq bigint, hash text)
        LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_advisory_xact_lock(hashtextextended('audit:' || tid::text, 0));
          RETURN QUERY
            SELECT a.seq, a.hash::text FROM audit_log a
            WHERE a.tenant_id = tid ORDER BY a.seq DESC LIMIT 1;
        END $$
        """
    )
    op.execute(f"GRANT EXECUTE ON FUNCTION audit_head(uuid) TO {RUNTIME_ROLE}")
    op.execute(
        """
        CREATE FUNCTION bump_schedule_version(tid uuid, what text) RETURNS void
        LANGUAGE plpgsql AS $$
        DECLARE bound text := current_setting('app.tenant_id', true);
        BEGIN
          IF bound IS DISTINCT FROM tid::text THEN
            PERFORM set_config('app.tenant_id', tid::text, true);
          END IF;
          IF what = 'config' THEN
            INSERT INTO schedule_versions AS v (tenant_id, config) VALUES (tid, 1)
            ON CONFLICT (tenant_id) DO UPDATE SET config = v.config + 1;
          ELSE
            INSERT INTO schedule_versions AS v (tenant_id, bookings) VALUES (tid, 1)
            ON CONFLICT (tenant_id) DO UPDATE SET bookings = v.bookings + 1;
          END IF;
          IF bound IS DISTINCT FROM tid::text THEN
            PERFORM set_config('app.tenant_id', coalesce(bound, ''), true);
          END IF;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION bump_config_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM bump_schedule_version(
            CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END, 'config');
          RETURN NULL;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION bump_bookings_version() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status
             AND NEW.occupied IS NOT DISTINCT FROM OLD.occupied
             AND NEW.practitioner_id IS NOT DISTINCT FROM OLD.practitioner_id
             AND NEW.hold_expires_at IS NOT DISTINCT FROM OLD.hold_expires_at THEN
            RETURN NULL;
          END IF;
          PERFORM bump_schedule_version(
            CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END, 'bookings');
          RETURN NULL;
        END $$
        """
    )
    for table in PRACTICE_TABLES:
        op.execute(
            f"CREATE TRIGGER bump_config_version AFTER INSERT OR UPDATE OR DELETE "
            f"ON {table} FOR EACH ROW EXECUTE FUNCTION bump_config_version()"
        )
    op.execute(
        "CREATE TRIGGER bump_bookings_version AFTER INSERT OR UPDATE OR DELETE ON appointments "
        "FOR EACH ROW EXECUTE FUNCTION bump_bookings_version()"
    )


def downgrade() -> None:
    """Triggers, functions and the table out."""
    op.execute("DROP TRIGGER bump_bookings_version ON appointments")
    for table in PRACTICE_TABLES:
        op.execute(f"DROP TRIGGER bump_config_version ON {table}")
    op.execute("DROP FUNCTION bump_bookings_version()")
    op.execute("DROP FUNCTION bump_config_version()")
    op.execute("DROP FUNCTION bump_schedule_version(uuid, text)")
    op.execute("DROP FUNCTION bind_clinic(text)")
    op.execute("DROP FUNCTION audit_head(uuid)")
    op.execute("DROP TABLE schedule_versions")
