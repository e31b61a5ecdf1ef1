"""The operator console on the platform host (tenants, plans, health); never clinical data.

Operators sign in at ``/ops`` with a password and a TOTP code, in sessions of their own
(:class:`saas.sessions.SurfaceSessionInterface`). Every request of the console runs on its
own database connection as ``similia_ops`` (no SELECT on clinical tables or sealed columns)
and with its own Vault token (policy ``similia-operator``: no clinic key), so what an
operator can reach is limited by Postgres and Vault, not only by the pages' code.
"""

from pathlib import Path

TEMPLATES = str(Path(__file__).parent / "templates")
