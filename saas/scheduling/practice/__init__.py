"""Practice configuration verbs, one module per kind of record.

``locations``, ``practitioners``, ``visit_types`` (with who offers them where),
``availability`` (weekly windows), ``availability_exceptions`` (time off, extra hours),
``closures``, ``booking_rules`` and ``settings`` (how feeds show patients). Import the
module you need (``from saas.scheduling.practice import locations``); nothing is
re-exported here, so each name has one home.

Decisions:

- Each verb validates the *resulting* state (so a PATCH is checked like a POST), raises a
  :mod:`saas.exceptions` error naming the fields at fault (reason ``invalid``; ``duplicate``
  for a taken name, ``overlapping_window`` for overlapping weekly hours), writes an audit
  entry and flushes; the request (or the worker) commits.
- Removing a location, practitioner or visit type archives it (``is_active = false``):
  appointments keep pointing at it and it stops being bookable.
- Audit actions keep their names from before the ``Service`` → ``VisitType`` rename
  (``practice.service_created``, target ``service:<id>``), so a clinic's audit history reads
  the same on both sides of it.
"""
