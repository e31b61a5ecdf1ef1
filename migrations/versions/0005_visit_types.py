"""Visit types: ``services`` becomes ``visit_types``; records reference visits by foreign key.

The model ``Service`` collided with the ``services.py`` = verbs convention; it is now
``VisitType`` and its tables follow. Column names (``service_id``) and the API fields that
carry them are unchanged, so stored data and clients keep working. RLS policies and grants
move with a renamed table.

The audit log records the kind of each actor (``actor_kind``).

Clinical visits and prescriptions get composite foreign keys (tenant-first, like every
other reference) to the appointment and the follow-up visit type they name; a dangling id
is cleared first so the constraint can be added to an existing database.

Revision ID: 0005_visit_types
Revises: 0003_scheduling, 0004_records
"""

from __future__ import annotations

from alembic import op

revision = "0005_visit_types"
down_revision = ("0003_scheduling", "0004_records")
branch_labels = None
depends_on = None

RENAMES = {
    "services": "visit_types",
    "service_practitioners": "visit_type_practitioners",
    "service_locations": "visit_type_locations",
}


def upgrade() -> None:
    """Rename the tables; add the missing foreign keys."""
    for old, new in RENAMES.items():
        op.execute(f"ALTER TABLE {old} RENAME TO {new}")
    op.execute(
        "ALTER INDEX IF EXISTS ix_service_practitioners_practitioner "
        "RENAME TO ix_visit_type_practitioners_practitioner"
    )
    op.execute(
        "ALTER INDEX IF EXISTS ix_service_locations_location "
        "RENAME TO ix_visit_type_locations_location"
    )
    op.execute(
        """
        UPDATE clinical_visits v SET appointment_id = NULL
         WHERE appointment_id IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM appointments a WHERE a.tenant_id = v.tenant_id AND a.id = v.appointment_id)
        """
    )
    op.execute(
        """
        UPDATE prescriptions p SET follow_up_service_id = NULL
         WHERE follow_up_service_id IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM visit_types s
            WHERE s.tenant_id = p.tenant_id AND s.id = p.follow_up_service_id)
        """
    )
    op.execute(
        "ALTER TABLE clinical_visits ADD CONSTRAINT fk_clinical_visits_appointment "
        "FOREIGN KEY (tenant_id, appointment_id) REFERENCES appointments (tenant_id, id) "
        "ON DELETE SET NULL (appointment_id)"
    )
    op.execute(
        "ALTER TABLE prescriptions ADD CONSTRAINT fk_prescriptions_follow_up_visit_type "
        "FOREIGN KEY (tenant_id, follow_up_service_id) REFERENCES visit_types (tenant_id, id) "
        "ON DELETE SET NULL (follow_up_service_id)"
    )
    op.execute(
        "CREATE INDEX ix_clinical_visits_appointment ON clinical_visits (tenant_id, appointment_id)"
    )
    # every audit line says which kind of actor acted (staff, patient, operator, system...)
    op.execute("ALTER TABLE audit_log ADD COLUMN actor_kind varchar(24)")


def downgrade() -> None:
    """Undo the renames and drop the foreign keys."""
    op.execute("ALTER TABLE audit_log DROP COLUMN actor_kind")
    op.execute("DROP INDEX IF EXISTS ix_clinical_visits_appointment")
    op.execute("ALTER TABLE prescriptions DROP CONSTRAINT fk_prescriptions_follow_up_visit_type")
    op.execute("ALTER TABLE clinical_visits DROP CONSTRAINT fk_clinical_visits_appointment")
    for old, new in RENAMES.items():
        op.execute(f"ALTER TABLE {new} RENAME TO {old}")
