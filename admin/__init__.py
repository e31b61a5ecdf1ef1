"""Staff and operator surfaces.

- :mod:`admin.clinic` — the staff console and staff API on a clinic's host, by area
  (``auth``, ``staff``, ``practice``, ``appointments``, ``records``).
- :mod:`admin.platform` — the operator console on the platform host.
"""
