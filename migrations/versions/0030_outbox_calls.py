"""Outbox relay in one round trip per step: ``outbox_claim``, ``outbox_record``, ``outbox_settle``.

The relay's claim (lock the oldest due rows, mark them ``sending`` under a lease, move the
clinic's due time) and its record (write the result while the row is still ours, count a
sent text) were each a transaction of four round trips: BEGIN, binding the clinic,
the statement, COMMIT. As functions that bind the clinic themselves (``app.tenant_id``,
local to the statement's own transaction) they run as one autocommitted statement each,
still under row-level security as the runtime role (``SECURITY INVOKER``).
``outbox_settle`` ends a relay run: it records when the clinic's next message falls due
(``tenants.outbox_due_at``, the clinic's row locked first, as :func:`saas.outbox.mark_due`)
and answers whether one is due now, instead of two transactions.

Revision ID: 0030_outbox_calls
Revises: 0027_notify_more
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import OWNER_ROLE, RUNTIME_ROLE

revision = "0030_outbox_calls"
down_revision = "0027_notify_more"
branch_labels = None
depends_on = None

CLAIM_ARGS = "uuid, integer, interval, interval, text[]"
RECORD_ARGS = "uuid, uuid, timestamptz, text, text, text, text, interval, text[], integer, boolean"
SETTLE_ARGS = "uuid, text[], interval"


def upgrade() -> None:
    """Create the two functions and let the runtime role call them."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        CREATE FUNCTION outbox_claim(tid uuid, n integer, lease interval, slack interval,
                                     pending text[])
        RETURNS TABLE (id uuid, tenant_id uuid, topic text, payload jsonb, attempts bigint,
                       claimed_at timestamptz, delivery_key text)
        LANGUAGE plpgsql AS $$
        #variable_conflict use_column
        BEGIN
          PERFORM set_config('app.tenant_id', tid::text, true);
          RETURN QUERY
          WITH next AS (
            SELECT o.tenant_id, o.id FROM outbox o
            WHERE o.tenant_id = tid AND o.state = ANY(pending)
              AND o.next_attempt_at <= now() + slack
            ORDER BY o.created_at, o.id
            LIMIT n
            FOR UPDATE SKIP LOCKED
          ), claimed AS (
            UPDATE outbox AS o
            SET state = 'sending', claimed_at = now(), next_attempt_at = now() + lease,
                attempts = o.attempts + 1
            FROM next
            WHERE o.tenant_id = next.tenant_id AND o.id = next.id
            RETURNING o.id, o.tenant_id, o.topic, o.payload, o.attempts, o.claimed_at,
                      o.delivery_key, o.next_attempt_at, o.created_at
          ), due AS (
            UPDATE tenants AS t SET outbox_due_at = c.lease_end
            FROM (SELECT min(next_attempt_at) AS lease_end FROM claimed) AS c
            WHERE t.id = tid AND c.lease_end IS NOT NULL
              AND (t.outbox_due_at IS NULL OR t.outbox_due_at > c.lease_end)
          )
          SELECT c.id, c.tenant_id, c.topic::text, c.payload, c.attempts::bigint,
                 c.claimed_at, c.delivery_key::text
          FROM claimed c ORDER BY c.created_at, c.id;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION outbox_record(tid uuid, mid uuid, claim timestamptz, outcome text,
                                      provider text, error text, reason text,
                                      retry_in interval, scrubbed text[],
                                      sms_segments integer, keep_error boolean)
        RETURNS boolean
        LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM set_config('app.tenant_id', tid::text, true);
          UPDATE outbox SET
            state = outcome,
            provider_id = coalesce(provider, provider_id),
            last_error = CASE WHEN keep_error THEN last_error ELSE error END,
            skip_reason = coalesce(reason, skip_reason),
            dispatched_at = CASE WHEN outcome IN ('sent', 'skipped') THEN now()
                                 ELSE dispatched_at END,
            next_attempt_at = CASE WHEN outcome = 'failed' THEN now() + retry_in
                                   ELSE next_attempt_at END,
            payload = CASE WHEN outcome IN ('sent', 'skipped', 'dead')
                           THEN payload || coalesce((SELECT jsonb_object_agg(k, '[delivered]')
                                                     FROM jsonb_object_keys(payload) AS k
                                                     WHERE k = ANY(scrubbed)), '{}'::jsonb)
                           ELSE payload END
          WHERE tenant_id = tid AND id = mid AND state = 'sending' AND claimed_at = claim;
          IF NOT FOUND THEN
            RETURN false;
          END IF;
          IF outcome = 'sent' AND sms_segments IS NOT NULL THEN
            INSERT INTO sms_usage (tenant_id, month, messages, segments)
            VALUES (tid, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 1, sms_segments)
            ON CONFLICT (tenant_id, month) DO UPDATE
              SET messages = sms_usage.messages + 1,
                  segments = sms_usage.segments + EXCLUDED.segments;
          END IF;
          RETURN true;
        END $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION outbox_settle(tid uuid, pending text[], slack interval)
        RETURNS boolean
        LANGUAGE plpgsql AS $$
        DECLARE next_due timestamptz;
        BEGIN
          PERFORM set_config('app.tenant_id', tid::text, true);
          PERFORM 1 FROM tenants WHERE id = tid FOR UPDATE;
          SELECT min(next_attempt_at) INTO next_due FROM outbox
          WHERE tenant_id = tid AND state = ANY(pending);
          UPDATE tenants SET outbox_due_at = next_due
          WHERE id = tid AND outbox_due_at IS DISTINCT FROM next_due;
          RETURN next_due IS NOT NULL AND next_due <= now() + slack;
        END $$
        """
    )
    op.execute(f"GRANT EXECUTE ON FUNCTION outbox_claim({CLAIM_ARGS}) TO {RUNTIME_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION outbox_settle({SETTLE_ARGS}) TO {RUNTIME_ROLE}")
    op.execute(f"GRANT EXECUTE ON FUNCTION outbox_record({RECORD_ARGS}) TO {RUNTIME_ROLE}")
    op.execute("RESET ROLE")


def downgrade() -> None:
    """Drop the functions (the relay then needs its earlier statements)."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(f"DROP FUNCTION outbox_settle({SETTLE_ARGS})")
    op.execute(f"DROP FUNCTION outbox_record({RECORD_ARGS})")
    op.execute(f"DROP FUNCTION outbox_claim({CLAIM_ARGS})")
    op.execute("RESET ROLE")
