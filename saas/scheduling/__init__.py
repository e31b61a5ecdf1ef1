"""Scheduling: practice configuration, the slot engine, booking and its lifecycle.

Layout: ``models/`` (tables), ``rules.py`` (booking rules and their defaults), ``slots.py``
(the pure slot engine: no database), ``queries.py`` (read helpers scoped to a clinic),
``practice/`` (configuration verbs, one module per kind of record), ``states.py`` (the
appointment's states, who may move them when, ``allowed_actions``), ``services.py`` (the
booking verbs), ``holds.py`` (prepaid holds and their expiry), ``history.py`` (an
appointment's events), ``messages.py`` (refusals and patient notifications),
``waitlist.py``, ``feeds.py`` (iCalendar), ``access.py`` (who is calling: patient or staff),
``api.py`` + ``schemas.py`` (the appointments API, for patients and staff alike),
``aliases.py`` (deprecated URL aliases).

Decisions: nothing here commits (the request or the worker owns the transaction);
refusals are :mod:`saas.exceptions` errors with a stable ``reason``.
"""
