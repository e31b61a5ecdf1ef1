"""Flask extensions, created unbound; ``create_app`` calls ``init_app`` on each.

The flask-smorest ``Api`` is made per app in ``create_app`` (it holds the app's spec).
"""

from __future__ import annotations

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

csrf = CSRFProtect()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)
