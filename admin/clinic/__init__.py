"""The staff console and staff API, served on the clinic's host, grouped by area.

Templates of every area live in ``admin/clinic/templates/admin/`` (one console base).
"""

from pathlib import Path

#: The console's template folder, shared by the areas' blueprints.
TEMPLATES = str(Path(__file__).parent / "templates")
