"""Scheduling: practice configuration, the slot engine, booking and its lifecycle.

Layout: ``models/`` (tables), ``rules.py`` (booking rules and their defaults), ``slots.py``
(the pure slot engine: no database), ``queries.py`` (read helpers scoped to a clinic),
``practice.py`` (configuration verbs), ``services.py`` (booking verbs), ``waitlist.py``,
``feeds.py`` (iCalendar), ``access.py`` (who is calling: patient or staff).
"""
