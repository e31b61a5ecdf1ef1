"""Encrypted patient records.

Clinical visits, versioned notes, prescriptions, consents, attachments, GDPR export/erasure,
retention and data-key rotation.

``services`` holds the verbs, ``queries`` the audited readers, ``policy`` who may see
clinical content, ``followups`` the recall list and invitations, ``schemas`` what the staff
and patient APIs share, ``keys`` rotation/rewrap/status. Every clinical value is sealed with
the clinic's data key (``saas.fields``) and every read and write is audited. Refusals are
:mod:`saas.exceptions` errors; callers (the request, or a worker's ``tenant_session``) own
the transaction.
"""
