"""Clinical records.

Visits, versioned case notes, prescriptions, facts, attachments, consents, exports and key-rotation
jobs; demographics columns on patients.

Every clinical value lives in a ``*_enc`` bytea sealed with the clinic's data key (see
``saas/crypto.py``); only what must be queried without decrypting (dates, kinds, states,
follow-up windows) is in clear. Rows are never updated in place for clinical content: a
note edit is a new ``case_notes`` row; a prescription correction voids and re-issues. The
runtime role may not DELETE from clinical tables except where the erasure flow needs it.

Revision ID: 0004_records
Revises: 0002_patients
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import OWNER_ROLE, protect_tenant_table

revision = "0004_records"
down_revision = "0002_patients"
branch_labels = None
depends_on = None

#: table -> runtime grants. DELETE only where erasure or expiry removes rows.
TABLES = {
    "clinical_visits": "SELECT, INSERT, UPDATE",
    # versions are never rewritten: only re-encryption may update the ciphertext columns
    "case_notes": "SELECT, INSERT, DELETE, UPDATE (body_enc, reason_enc)",
    "prescriptions": "SELECT, INSERT, UPDATE, DELETE",
    "clinical_facts": "SELECT, INSERT, UPDATE, DELETE",
    "patient_attachments": "SELECT, INSERT, UPDATE, DELETE",
    "patient_consents": "SELECT, INSERT, UPDATE, DELETE",
    "record_exports": "SELECT, INSERT, UPDATE, DELETE",
    "key_rotations": "SELECT, INSERT, UPDATE",
}


def upgrade() -> None:
    """Create the clinical tables with RLS and extend patients."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        ALTER TABLE patients
          ADD COLUMN updated_at timestamptz,
          ADD COLUMN erased_at timestamptz,
          ADD COLUMN created_by uuid;

        CREATE TABLE clinical_visits (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          patient_id uuid NOT NULL,
          practitioner_id uuid,
          appointment_id uuid,
          kind varchar(16) NOT NULL CHECK (kind IN ('initial', 'follow_up', 'acute')),
          visit_date date NOT NULL,
          status varchar(16) NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'signed')),
          signed_at timestamptz,
          signed_by uuid,
          shared_with_patient boolean NOT NULL DEFAULT false,
          patient_summary_enc bytea,
          created_by uuid,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id),
          FOREIGN KEY (tenant_id, practitioner_id) REFERENCES users (tenant_id, id),
          FOREIGN KEY (tenant_id, signed_by) REFERENCES users (tenant_id, id),
          CHECK ((status = 'signed') = (signed_at IS NOT NULL))
        );
        CREATE INDEX ix_clinical_visits_patient
          ON clinical_visits (tenant_id, patient_id, visit_date);

        CREATE TABLE case_notes (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          visit_id uuid NOT NULL,
          version integer NOT NULL CHECK (version >= 1),
          is_amendment boolean NOT NULL DEFAULT false,
          body_enc bytea NOT NULL,
          reason_enc bytea,
          author_id uuid,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT uq_case_notes_visit_version UNIQUE (tenant_id, visit_id, version),
          FOREIGN KEY (tenant_id, visit_id) REFERENCES clinical_visits (tenant_id, id),
          FOREIGN KEY (tenant_id, author_id) REFERENCES users (tenant_id, id),
          CHECK (NOT is_amendment OR reason_enc IS NOT NULL)
        );

        CREATE TABLE prescriptions (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          visit_id uuid NOT NULL,
          patient_id uuid NOT NULL,
          practitioner_id uuid,
          details_enc bytea NOT NULL,
          follow_up_from date,
          follow_up_to date,
          follow_up_service_id uuid,
          shared_with_patient boolean NOT NULL DEFAULT false,
          is_amendment boolean NOT NULL DEFAULT false,
          amendment_reason_enc bytea,
          voided_at timestamptz,
          voided_by uuid,
          void_reason_enc bytea,
          invited_at timestamptz,
          recall_closed_at timestamptz,
          created_by uuid,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, visit_id) REFERENCES clinical_visits (tenant_id, id),
          FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id),
          FOREIGN KEY (tenant_id, practitioner_id) REFERENCES users (tenant_id, id),
          CHECK ((follow_up_from IS NULL) = (follow_up_to IS NULL)),
          CHECK (follow_up_to IS NULL OR follow_up_to >= follow_up_from)
        );
        CREATE INDEX ix_prescriptions_patient ON prescriptions (tenant_id, patient_id, created_at);
        CREATE INDEX ix_prescriptions_recall ON prescriptions (tenant_id, follow_up_from)
          WHERE follow_up_from IS NOT NULL AND voided_at IS NULL AND recall_closed_at IS NULL;

        CREATE TABLE clinical_facts (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          patient_id uuid NOT NULL,
          kind varchar(16) NOT NULL CHECK (kind IN ('allergy', 'medication')),
          details_enc bytea NOT NULL,
          recorded_by uuid,
          ended_at timestamptz,
          ended_by uuid,
          end_reason_enc bytea,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id)
        );
        CREATE INDEX ix_clinical_facts_patient ON clinical_facts (tenant_id, patient_id);

        CREATE TABLE patient_attachments (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          patient_id uuid NOT NULL,
          visit_id uuid,
          content_type varchar(64) NOT NULL,
          size_bytes integer NOT NULL CHECK (size_bytes > 0),
          filename_enc bytea NOT NULL,
          content_enc bytea NOT NULL,
          uploaded_by uuid,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id),
          FOREIGN KEY (tenant_id, visit_id) REFERENCES clinical_visits (tenant_id, id)
        );
        CREATE INDEX ix_patient_attachments_patient ON patient_attachments (tenant_id, patient_id);

        CREATE TABLE patient_consents (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          patient_id uuid NOT NULL,
          purpose varchar(32) NOT NULL CHECK (purpose IN
            ('treatment', 'reminders_email', 'reminders_sms', 'marketing_email', 'marketing_sms')),
          text_version varchar(32) NOT NULL,
          channel varchar(16) NOT NULL CHECK (channel IN
            ('portal', 'in_person', 'paper', 'email', 'phone')),
          granted_at timestamptz NOT NULL,
          recorded_by uuid,
          withdrawn_at timestamptz,
          withdrawn_channel varchar(16),
          withdrawn_recorded_by uuid,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id)
        );
        CREATE INDEX ix_patient_consents_patient
          ON patient_consents (tenant_id, patient_id, purpose);
        -- at most one standing (not withdrawn) consent per patient and purpose
        CREATE UNIQUE INDEX uq_patient_consents_active
          ON patient_consents (tenant_id, patient_id, purpose)
          WHERE withdrawn_at IS NULL;

        CREATE TABLE record_exports (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          patient_id uuid NOT NULL,
          requested_by uuid NOT NULL,
          status varchar(16) NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'ready', 'downloaded', 'expired', 'failed')),
          bundle_enc bytea,
          size_bytes integer,
          ready_at timestamptz,
          expires_at timestamptz,
          downloaded_at timestamptz,
          downloaded_by uuid,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id),
          FOREIGN KEY (tenant_id, requested_by) REFERENCES users (tenant_id, id)
        );

        CREATE TABLE key_rotations (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          kind varchar(16) NOT NULL CHECK (kind IN ('data_key', 'rewrap')),
          from_version integer NOT NULL,
          to_version integer NOT NULL,
          status varchar(16) NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done')),
          rows_done bigint NOT NULL DEFAULT 0,
          finished_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id)
        );
        """
    )
    for table, grants in TABLES.items():
        protect_tenant_table(table, grants=grants)
    op.execute("RESET ROLE")


def downgrade() -> None:
    """Drop the clinical tables and the added patient columns."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    for table in reversed(list(TABLES)):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute(
        "ALTER TABLE patients DROP COLUMN IF EXISTS updated_at, "
        "DROP COLUMN IF EXISTS erased_at, DROP COLUMN IF EXISTS created_by"
    )
    op.execute("RESET ROLE")
