"""Deprecated URL aliases: an old path keeps answering with the same handler while clients move.

Decisions: an alias is the very same view registered at the old rule under its own
endpoint, so it cannot drift from the new path; the OpenAPI document marks each of its
operations ``deprecated`` and names the path to use instead and until when the alias stays.
"""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint


def add_deprecated_alias(
    blp: Blueprint, rule: str, view: type[MethodView], *, of: str, until: str
) -> None:
    """Serve ``view`` also at ``rule``, documented as a deprecated alias of ``of``."""
    endpoint = f"{view.__name__}_alias_{len(blp._endpoints)}"
    blp.add_url_rule(rule, endpoint, view)
    note = f"Deprecated alias of `{of}`, until {until}."
    # flask-smorest keeps each endpoint's operation docs here until the blueprint is
    # registered; the alias's copies are its own, so marking them leaves ``of`` untouched.
    for method, doc in blp._docs[endpoint].items():
        if method == "parameters":
            continue
        docstring = doc.setdefault("docstring", {})
        docstring["summary"] = f"{docstring.get('summary') or ''} (deprecated alias)".strip()
        docstring["description"] = note
        doc.setdefault("manual_doc", {})["deprecated"] = True
