"""WSGI entry point for gunicorn: ``gunicorn saas.wsgi:app``."""

from .app import create_app

app = create_app()
