"""Portal: sign-in links and the intake questionnaire.

Sign-in links: a patient can ask for a one-time sign-in link by email instead of typing a
password; the link's token is stored hashed in ``patient_tokens`` like the others, with
purpose ``signin`` (single use, 15 minutes).

Intake questionnaire: ``intake_responses`` holds a patient's answers to the clinic's intake
questions before a first visit, sealed with the clinic's key (``answers_enc``: the questions
as asked and the answers, one JSON document), linked to the appointment they were given for.
RLS like every tenant table; the runtime role may update only the ciphertext (re-encryption)
and delete (erasure).

Revision ID: 0011_portal
Revises: 0009_console_setup
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import OWNER_ROLE, protect_tenant_table

revision = "0011_portal"
down_revision = "0009_console_setup"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Allow ``signin`` tokens; create ``intake_responses``."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute("ALTER TABLE patient_tokens DROP CONSTRAINT patient_tokens_purpose_check")
    op.execute(
        "ALTER TABLE patient_tokens ADD CONSTRAINT patient_tokens_purpose_check "
        "CHECK (purpose IN ('session', 'verify', 'signin'))"
    )
    op.execute(
        """
        CREATE TABLE intake_responses (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          patient_id uuid NOT NULL,
          appointment_id uuid,
          answers_enc bytea NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id),
          FOREIGN KEY (tenant_id, appointment_id) REFERENCES appointments (tenant_id, id)
        );
        CREATE INDEX ix_intake_responses_patient ON intake_responses (tenant_id, patient_id);
        """
    )
    protect_tenant_table("intake_responses", grants="SELECT, INSERT, UPDATE (answers_enc), DELETE")
    op.execute("RESET ROLE")


def downgrade() -> None:
    """Back to session and verify tokens only (sign-in links are dropped); no intake table."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute("DROP TABLE intake_responses")
    op.execute("DELETE FROM patient_tokens WHERE purpose = 'signin'")
    op.execute("ALTER TABLE patient_tokens DROP CONSTRAINT patient_tokens_purpose_check")
    op.execute(
        "ALTER TABLE patient_tokens ADD CONSTRAINT patient_tokens_purpose_check "
        "CHECK (purpose IN ('session', 'verify'))"
    )
    op.execute("RESET ROLE")
