"""The layer in front of the app: liveness and static files, answered without the app."""

from __future__ import annotations

from tests.helpers import statements_during


def test_liveness_answers_without_the_app_and_keeps_request_id_rules(app, client):
    """``/healthz``: the JSON answer, no caching, a valid request id echoed, others replaced."""
    answers = []
    seen = statements_during(
        app, lambda: answers.append(client.get("/healthz", headers={"X-Request-Id": "lb-probe.42"}))
    )
    (resp,) = answers
    assert seen == [] and resp.status_code == 200 and resp.get_json() == {"status": "ok"}
    assert resp.headers["X-Request-Id"] == "lb-probe.42"
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    spoofed = client.get("/healthz", headers={"X-Request-Id": "<script>x</script>"})
    assert len(spoofed.headers["X-Request-Id"]) == 32 and "<" not in spoofed.headers["X-Request-Id"]
    head = client.head("/healthz")
    assert head.status_code == 200 and head.data == b""


def test_static_files_are_served_with_validators_and_nosniff(client, make_clinic):
    """On a clinic's host and the platform's: ETag, 304 on a match, nosniff, 5 minutes cache."""
    clinic = make_clinic()
    for base in (f"http://{clinic.host}", "http://localhost"):
        css = client.get("/static/similia.css", base_url=base)
        assert css.status_code == 200 and css.mimetype == "text/css"
        assert b"--" in css.data or b"{" in css.data
        assert css.headers["X-Content-Type-Options"] == "nosniff"
        assert "max-age=300" in css.headers["Cache-Control"]
        again = client.get(
            "/static/similia.css", base_url=base, headers={"If-None-Match": css.headers["ETag"]}
        )
        assert again.status_code == 304 and again.data == b""
    js = client.get("/portal/static/embed.js", base_url=f"http://{clinic.host}")
    assert js.status_code == 200 and "javascript" in js.mimetype and b"similia" in js.data.lower()


def test_paths_outside_the_static_folders_are_not_served(client, make_clinic):
    """No file outside the folders, however the path is spelled; unknown files are a 404."""
    clinic = make_clinic()
    base = f"http://{clinic.host}"
    for path in (
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/portal/static/../views.py",
        "/static/nothing-here.css",
    ):
        resp = client.get(path, base_url=base)
        assert resp.status_code == 404, path
        assert b"create_app" not in resp.data and b"def home" not in resp.data
