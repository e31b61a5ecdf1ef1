"""Flask extensions, created unbound; ``create_app`` calls ``init_app`` on each.

The flask-smorest ``Api`` is made per app in ``create_app`` (it holds the app's spec).

Rate limits answer a refusal with 429 and ``Retry-After`` (the limit's window: an upper
bound, set in :mod:`saas.errors`). Answers within the limit carry no ``X-RateLimit-*``
headers: computing them costs a second Redis round trip on every limited request (the
booking and the slot search among them), and no client of ours reads them.
"""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=False)
