"""WSGI entry point for gunicorn: ``gunicorn saas.wsgi:app``.

After the app is built, ``gc.freeze()`` moves everything allocated so far out of the
garbage collector's view, so collections stay short (smaller tail latency) and forked
workers share those pages copy-on-write.
"""

import gc

from .app import create_app

app = create_app()
gc.freeze()
