"""How the console's case-note form maps onto the sealed note's sections.

Decisions:

- one visit has one sealed note (``case_notes.body``, JSON); every save adds a version. The
  console's sections are stored as the note service's structured sections
  (:data:`saas.records.services.SECTIONS`), so the API and the pages read the same note:

  ======================  ==============================================================
  console section          stored as
  ======================  ==============================================================
  presenting complaints    ``presenting_complaints[0].complaint``
  better for / worse for   ``presenting_complaints[0].better_for`` / ``.worse_for``
  mentals and emotionals   ``mentals``
  generals                 ``generals``
  rubrics noted            ``analysis`` (rubrics and remedies considered)
  assessment               ``observations``
  plan                     ``plan``
  ======================  ==============================================================

- a note written through the API with several complaints is shown with the complaints one
  after the other; saving it from the console keeps them as one complaint (the text is kept);
- other sections written through the API (histories, follow-up response...) are carried over
  unchanged when the console saves a new version;
- the version history compares the versions as headed plain text (:func:`as_text`), so a
  person reads "which section changed and how" with :mod:`difflib`.
"""

from __future__ import annotations

import difflib

#: (form field, heading) in the order a case is taken.
FIELDS = (
    ("presenting", "Presenting complaints"),
    ("better", "Better for"),
    ("worse", "Worse for"),
    ("mentals", "Mentals and emotionals"),
    ("generals", "Generals"),
    ("rubrics", "Rubrics noted"),
    ("assessment", "Assessment"),
    ("plan", "Plan"),
)
_PLAIN = {
    "mentals": "mentals",
    "generals": "generals",
    "rubrics": "analysis",
    "assessment": "observations",
    "plan": "plan",
}


def _join(complaints, key: str) -> str:
    return "\n\n".join((c.get(key) or "").strip() for c in complaints if (c.get(key) or "").strip())


def to_form(sections: dict | None) -> dict:
    """The form's values from stored sections."""
    sections = sections or {}
    complaints = sections.get("presenting_complaints") or []
    if isinstance(complaints, str):
        complaints = [{"complaint": complaints}]
    out = {
        "presenting": _join(complaints, "complaint"),
        "better": _join(complaints, "better_for"),
        "worse": _join(complaints, "worse_for"),
    }
    for name, key in _PLAIN.items():
        value = sections.get(key)
        out[name] = value if isinstance(value, str) else ""
    return out


def from_form(values: dict, previous: dict | None = None) -> dict:
    """Stored sections from the form's values (sections the form has no field for are kept)."""
    sections = {
        k: v
        for k, v in (previous or {}).items()
        if k not in ("presenting_complaints", *_PLAIN.values())
    }
    complaint = {
        key: (values.get(name) or "").strip()
        for name, key in (
            ("presenting", "complaint"),
            ("better", "better_for"),
            ("worse", "worse_for"),
        )
        if (values.get(name) or "").strip()
    }
    if complaint:
        complaint.setdefault("complaint", "(see modalities)")
        sections["presenting_complaints"] = [complaint]
    for name, key in _PLAIN.items():
        text = (values.get(name) or "").strip()
        if text:
            sections[key] = text
    return sections


def as_text(sections: dict | None) -> str:
    """The note as headed plain text, for reading and for the diff."""
    values = to_form(sections)
    parts = []
    for name, heading in FIELDS:
        if values.get(name):
            parts.append(f"## {heading}\n{values[name]}")
    return "\n\n".join(parts)


def diff(old: dict | None, new: dict | None, old_label: str, new_label: str) -> list[str]:
    """A unified diff of two versions' text: lines, without the file header; hunks as "…"."""
    lines = list(
        difflib.unified_diff(
            as_text(old).splitlines(),
            as_text(new).splitlines(),
            old_label,
            new_label,
            lineterm="",
            n=2,
        )
    )
    return ["…" if line.startswith("@@") else line for line in lines[2:]]
