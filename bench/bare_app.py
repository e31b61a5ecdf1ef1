"""The yardstick: a bare Flask app answering a small JSON GET (served by the same gunicorn)."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/json")
def hello():
    """The cheapest useful answer a Flask app can give."""
    return jsonify(ok=True, service="bare")
