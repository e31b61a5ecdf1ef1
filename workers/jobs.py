"""Job names -> dramatiq actors: the one table the outbox relay dispatches ``job.*`` rows by.

The core writes ``saas.jobs.enqueue(sess, tenant_id, "assemble_export", export_id=...)``
in its transaction; after commit the relay calls ``JOBS[name].send(tenant_id, **kwargs)``.
Add a job here when you add an actor that the core starts.
"""

from __future__ import annotations

from . import billing, records

JOBS = {
    "assemble_export": records.assemble_export,
    "assemble_clinic_export": records.assemble_clinic_export,
    "reencrypt_tenant": records.reencrypt_tenant,
    "send_refund": billing.send_refund,
    "sync_trial": billing.sync_trial,
}


def dispatch(tenant_id: str, name: str, kwargs: dict) -> None:
    """Hand one job to its actor (raises KeyError for an unknown name: the row stays)."""
    JOBS[name].send(tenant_id, **kwargs)
