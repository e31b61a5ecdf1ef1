"""Scheduling: practice configuration, booking rules, appointments, waitlist, calendar feeds.

Revision ID: 0003_scheduling
Revises: 0002_patients

Double booking is impossible at the database level: ``appointments.occupied`` is the visit
widened by its buffers, and an exclusion constraint forbids two *active* appointments
(held, confirmed, checked_in) of one practitioner whose occupied ranges overlap. A second
constraint forbids one patient holding two overlapping visits. Weekly availability windows
of a practitioner cannot overlap either (same weekday, overlapping times and validity).
"""

from __future__ import annotations

from alembic import op

from migrations.helpers import OWNER_ROLE, protect_tenant_table

revision = "0003_scheduling"
down_revision = "0002_patients"
branch_labels = None
depends_on = None

ACTIVE = "('held', 'confirmed', 'checked_in')"

TENANT_TABLES = {
    "locations": "SELECT, INSERT, UPDATE, DELETE",
    "practitioners": "SELECT, INSERT, UPDATE, DELETE",
    "services": "SELECT, INSERT, UPDATE, DELETE",
    "service_practitioners": "SELECT, INSERT, UPDATE, DELETE",
    "service_locations": "SELECT, INSERT, UPDATE, DELETE",
    "availability_rules": "SELECT, INSERT, UPDATE, DELETE",
    "availability_exceptions": "SELECT, INSERT, UPDATE, DELETE",
    "closures": "SELECT, INSERT, UPDATE, DELETE",
    "booking_rules": "SELECT, INSERT, UPDATE, DELETE",
    # appointments are never deleted: cancellations and expiries are states
    "appointments": "SELECT, INSERT, UPDATE",
    # history is append-only
    "appointment_events": "SELECT, INSERT",
    "waitlist_entries": "SELECT, INSERT, UPDATE",
    "waitlist_offers": "SELECT, INSERT",
    "calendar_feeds": "SELECT, INSERT, UPDATE",
}


def upgrade() -> None:
    """Create the scheduling tables with RLS, composite keys and exclusion constraints."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    op.execute(
        """
        CREATE TABLE locations (
          tenant_id uuid NOT NULL REFERENCES tenants(id),
          id uuid NOT NULL,
          name varchar(120) NOT NULL,
          kind varchar(16) NOT NULL DEFAULT 'in_person' CHECK (kind IN ('in_person', 'online')),
          address text,
          timezone varchar(64) NOT NULL,
          is_active boolean NOT NULL DEFAULT true,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT uq_locations_tenant_name UNIQUE (tenant_id, name)
        );

        CREATE TABLE practitioners (
          tenant_id uuid NOT NULL REFERENCES tenants(id),
          id uuid NOT NULL,
          display_name varchar(120) NOT NULL,
          title varchar(160),
          bio text,
          photo_url varchar(500),
          is_active boolean NOT NULL DEFAULT true,
          user_id uuid,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT uq_practitioners_tenant_user UNIQUE (tenant_id, user_id),
          FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id)
            ON DELETE SET NULL (user_id)
        );

        CREATE TABLE services (
          tenant_id uuid NOT NULL REFERENCES tenants(id),
          id uuid NOT NULL,
          name varchar(120) NOT NULL,
          description text,
          duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 720),
          price_minor bigint NOT NULL DEFAULT 0 CHECK (price_minor >= 0),
          currency char(3) NOT NULL,
          buffer_before_minutes integer NOT NULL DEFAULT 0
            CHECK (buffer_before_minutes BETWEEN 0 AND 240),
          buffer_after_minutes integer NOT NULL DEFAULT 0
            CHECK (buffer_after_minutes BETWEEN 0 AND 240),
          mode varchar(16) NOT NULL DEFAULT 'in_person'
            CHECK (mode IN ('in_person', 'online', 'either')),
          new_patients_only boolean NOT NULL DEFAULT false,
          returning_patients_only boolean NOT NULL DEFAULT false,
          requires_prepayment boolean NOT NULL DEFAULT false,
          is_active boolean NOT NULL DEFAULT true,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT uq_services_tenant_name UNIQUE (tenant_id, name),
          CONSTRAINT ck_services_patient_kind
            CHECK (NOT (new_patients_only AND returning_patients_only))
        );

        CREATE TABLE service_practitioners (
          tenant_id uuid NOT NULL,
          service_id uuid NOT NULL,
          practitioner_id uuid NOT NULL,
          PRIMARY KEY (tenant_id, service_id, practitioner_id),
          FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id) ON DELETE CASCADE,
          FOREIGN KEY (tenant_id, practitioner_id) REFERENCES practitioners (tenant_id, id)
            ON DELETE CASCADE
        );
        CREATE INDEX ix_service_practitioners_practitioner
          ON service_practitioners (tenant_id, practitioner_id);

        CREATE TABLE service_locations (
          tenant_id uuid NOT NULL,
          service_id uuid NOT NULL,
          location_id uuid NOT NULL,
          PRIMARY KEY (tenant_id, service_id, location_id),
          FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id) ON DELETE CASCADE,
          FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id)
            ON DELETE CASCADE
        );
        CREATE INDEX ix_service_locations_location ON service_locations (tenant_id, location_id);

        CREATE TABLE availability_rules (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          practitioner_id uuid NOT NULL,
          location_id uuid NOT NULL,
          weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
          start_time time NOT NULL,
          end_time time NOT NULL,
          valid_from date,
          valid_until date,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, practitioner_id) REFERENCES practitioners (tenant_id, id)
            ON DELETE CASCADE,
          FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id)
            ON DELETE CASCADE,
          CONSTRAINT ck_availability_rules_times CHECK (end_time > start_time),
          CONSTRAINT ck_availability_rules_validity
            CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_until >= valid_from),
          CONSTRAINT ex_availability_rules_overlap EXCLUDE USING gist (
            tenant_id WITH =,
            practitioner_id WITH =,
            weekday WITH =,
            tsrange(DATE '2000-01-01' + start_time, DATE '2000-01-01' + end_time) WITH &&,
            daterange(coalesce(valid_from, '-infinity'::date),
                      coalesce(valid_until, 'infinity'::date), '[]') WITH &&
          )
        );

        CREATE TABLE availability_exceptions (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          practitioner_id uuid NOT NULL,
          location_id uuid,
          kind varchar(16) NOT NULL CHECK (kind IN ('time_off', 'extra_hours')),
          starts_at timestamptz NOT NULL,
          ends_at timestamptz NOT NULL,
          reason varchar(200),
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, practitioner_id) REFERENCES practitioners (tenant_id, id)
            ON DELETE CASCADE,
          FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id)
            ON DELETE CASCADE,
          CONSTRAINT ck_availability_exceptions_times CHECK (ends_at > starts_at),
          CONSTRAINT ck_availability_exceptions_location
            CHECK (kind = 'time_off' OR location_id IS NOT NULL)
        );
        CREATE INDEX ix_availability_exceptions_practitioner
          ON availability_exceptions (tenant_id, practitioner_id, starts_at);

        CREATE TABLE closures (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          location_id uuid,
          name varchar(120) NOT NULL,
          start_date date NOT NULL,
          end_date date NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id)
            ON DELETE CASCADE,
          CONSTRAINT ck_closures_dates CHECK (end_date >= start_date)
        );
        CREATE INDEX ix_closures_dates ON closures (tenant_id, end_date);

        CREATE TABLE booking_rules (
          tenant_id uuid NOT NULL REFERENCES tenants(id),
          id uuid NOT NULL,
          service_id uuid,
          slot_step_minutes integer CHECK (slot_step_minutes BETWEEN 5 AND 240),
          min_notice_minutes integer CHECK (min_notice_minutes BETWEEN 0 AND 525600),
          max_advance_days integer CHECK (max_advance_days BETWEEN 1 AND 730),
          cancellation_cutoff_minutes integer
            CHECK (cancellation_cutoff_minutes BETWEEN 0 AND 43200),
          late_cancellation_fee_minor bigint CHECK (late_cancellation_fee_minor >= 0),
          reschedule_cutoff_minutes integer CHECK (reschedule_cutoff_minutes BETWEEN 0 AND 43200),
          hold_minutes integer CHECK (hold_minutes BETWEEN 1 AND 1440),
          follow_up_min_days integer CHECK (follow_up_min_days BETWEEN 1 AND 730),
          follow_up_max_days integer CHECK (follow_up_max_days BETWEEN 1 AND 730),
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT uq_booking_rules_tenant_service
            UNIQUE NULLS NOT DISTINCT (tenant_id, service_id),
          FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id) ON DELETE CASCADE,
          CONSTRAINT ck_booking_rules_follow_up
            CHECK (follow_up_max_days IS NULL OR follow_up_min_days IS NULL
                   OR follow_up_max_days >= follow_up_min_days)
        );
        """
    )
    op.execute(
        f"""
        CREATE TABLE appointments (
          tenant_id uuid NOT NULL REFERENCES tenants(id),
          id uuid NOT NULL,
          patient_id uuid NOT NULL,
          practitioner_id uuid NOT NULL,
          location_id uuid NOT NULL,
          service_id uuid NOT NULL,
          status varchar(16) NOT NULL CHECK (status IN
            ('held', 'confirmed', 'checked_in', 'completed', 'cancelled', 'no_show', 'expired')),
          start_at timestamptz NOT NULL,
          end_at timestamptz NOT NULL,
          buffer_before_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_before_minutes >= 0),
          buffer_after_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_after_minutes >= 0),
          occupied tstzrange NOT NULL,
          hold_expires_at timestamptz,
          price_minor bigint NOT NULL DEFAULT 0 CHECK (price_minor >= 0),
          currency char(3) NOT NULL,
          booked_by varchar(16) NOT NULL CHECK (booked_by IN ('patient', 'staff')),
          booked_by_user_id uuid,
          paid_at timestamptz,
          payment_ref varchar(120),
          checked_in_at timestamptz,
          completed_at timestamptz,
          cancelled_at timestamptz,
          cancelled_by varchar(16) CHECK (cancelled_by IN ('patient', 'staff', 'system')),
          cancel_reason varchar(500),
          late_cancellation boolean NOT NULL DEFAULT false,
          fee_minor bigint NOT NULL DEFAULT 0 CHECK (fee_minor >= 0),
          reschedule_count integer NOT NULL DEFAULT 0,
          updated_at timestamptz NOT NULL DEFAULT now(),
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id),
          FOREIGN KEY (tenant_id, practitioner_id) REFERENCES practitioners (tenant_id, id),
          FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id),
          FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id),
          FOREIGN KEY (tenant_id, booked_by_user_id) REFERENCES users (tenant_id, id)
            ON DELETE SET NULL (booked_by_user_id),
          CONSTRAINT ck_appointments_times CHECK (end_at > start_at),
          CONSTRAINT ck_appointments_occupied CHECK (
            NOT isempty(occupied) AND lower(occupied) <= start_at AND upper(occupied) >= end_at
          ),
          CONSTRAINT ck_appointments_hold CHECK (status <> 'held' OR hold_expires_at IS NOT NULL),
          CONSTRAINT ex_appointments_practitioner_overlap EXCLUDE USING gist (
            tenant_id WITH =, practitioner_id WITH =, occupied WITH &&
          ) WHERE (status IN {ACTIVE}),
          CONSTRAINT ex_appointments_patient_overlap EXCLUDE USING gist (
            tenant_id WITH =, patient_id WITH =, tstzrange(start_at, end_at, '[)') WITH &&
          ) WHERE (status IN {ACTIVE})
        );
        CREATE INDEX ix_appointments_start ON appointments (tenant_id, start_at);
        CREATE INDEX ix_appointments_practitioner_start
          ON appointments (tenant_id, practitioner_id, start_at);
        CREATE INDEX ix_appointments_patient ON appointments (tenant_id, patient_id, start_at);
        CREATE INDEX ix_appointments_held ON appointments (tenant_id, hold_expires_at)
          WHERE status = 'held';

        CREATE TABLE appointment_events (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          appointment_id uuid NOT NULL,
          action varchar(32) NOT NULL,
          from_status varchar(16),
          to_status varchar(16) NOT NULL,
          old_start_at timestamptz,
          new_start_at timestamptz,
          actor_kind varchar(16) NOT NULL CHECK (actor_kind IN ('patient', 'staff', 'system')),
          actor_id uuid,
          actor_label varchar(254) NOT NULL,
          reason varchar(500),
          data jsonb NOT NULL DEFAULT '{{}}',
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, appointment_id) REFERENCES appointments (tenant_id, id)
        );
        CREATE INDEX ix_appointment_events_appointment
          ON appointment_events (tenant_id, appointment_id, created_at);

        CREATE TABLE waitlist_entries (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          patient_id uuid NOT NULL,
          service_id uuid NOT NULL,
          practitioner_id uuid,
          location_id uuid,
          earliest_date date,
          latest_date date,
          status varchar(16) NOT NULL DEFAULT 'waiting'
            CHECK (status IN ('waiting', 'booked', 'cancelled')),
          last_offered_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, patient_id) REFERENCES patients (tenant_id, id),
          FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id),
          FOREIGN KEY (tenant_id, practitioner_id) REFERENCES practitioners (tenant_id, id),
          FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id),
          CONSTRAINT ck_waitlist_entries_dates
            CHECK (earliest_date IS NULL OR latest_date IS NULL OR latest_date >= earliest_date)
        );
        CREATE INDEX ix_waitlist_entries_waiting
          ON waitlist_entries (tenant_id, service_id, created_at)
          WHERE status = 'waiting';
        CREATE INDEX ix_waitlist_entries_patient ON waitlist_entries (tenant_id, patient_id);
        CREATE UNIQUE INDEX uq_waitlist_entries_waiting
          ON waitlist_entries (tenant_id, patient_id, service_id, practitioner_id, location_id)
          NULLS NOT DISTINCT WHERE status = 'waiting';

        CREATE TABLE waitlist_offers (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          entry_id uuid NOT NULL,
          practitioner_id uuid NOT NULL,
          location_id uuid NOT NULL,
          start_at timestamptz NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          FOREIGN KEY (tenant_id, entry_id) REFERENCES waitlist_entries (tenant_id, id),
          FOREIGN KEY (tenant_id, practitioner_id) REFERENCES practitioners (tenant_id, id),
          FOREIGN KEY (tenant_id, location_id) REFERENCES locations (tenant_id, id)
        );
        CREATE INDEX ix_waitlist_offers_entry ON waitlist_offers (tenant_id, entry_id);

        CREATE TABLE calendar_feeds (
          tenant_id uuid NOT NULL,
          id uuid NOT NULL,
          practitioner_id uuid NOT NULL,
          token_hash varchar(64) NOT NULL,
          created_by uuid,
          revoked_at timestamptz,
          last_used_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, id),
          CONSTRAINT uq_calendar_feeds_tenant_hash UNIQUE (tenant_id, token_hash),
          FOREIGN KEY (tenant_id, practitioner_id) REFERENCES practitioners (tenant_id, id)
            ON DELETE CASCADE
        );
        CREATE INDEX ix_calendar_feeds_practitioner ON calendar_feeds (tenant_id, practitioner_id);
        """
    )
    for table, grants in TENANT_TABLES.items():
        protect_tenant_table(table, grants=grants)
    op.execute("RESET ROLE")


def downgrade() -> None:
    """Drop the scheduling tables."""
    op.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
    for table in reversed(list(TENANT_TABLES)):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
    op.execute("RESET ROLE")
