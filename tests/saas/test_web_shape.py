"""Guards for the shape of the web layer: each fails when someone reintroduces the old way.

- views never commit (the request owns the transaction);
- the core never imports ``workers``, and workers boot without any blueprint;
- one domain error family; no HTTP ``abort`` inside the core;
- the names the core kicks workers by match the actors' queues.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SURFACES = ("admin", "portal", "tenants", "billing")
#: Explicit, documented exception: signup deletes the new Vault key when its commit fails.
COMMIT_ALLOWED = {"tenants/services.py"}
#: API modules that live in the core (the one appointments blueprint) are views too.
CORE_VIEWS = ("saas/scheduling/api.py", "saas/scheduling/aliases.py")
#: Exceptions that are not refusals of a request (configuration, infrastructure, crypto).
NON_DOMAIN_EXCEPTIONS = {
    "ConfigError",
    "KeyServiceUnavailable",
    "DecryptionError",
    "PortInUseError",
    "StripeError",  # billing.stripe_server: Stripe's own error objects, in the test server
    "SmsError",  # saas.sms: the text provider refused or was unreachable (retried by the relay)
}


def _modules(*packages: str):
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), str(path))


def _calls(tree, attr: str):
    return [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == attr
    ]


def _imports(tree):
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            yield from ((a.name, None) for a in n.names)
        elif isinstance(n, ast.ImportFrom) and n.level == 0:
            yield from ((n.module or "", a.name) for a in n.names)


def test_no_surface_module_commits_or_rolls_back():
    """Pages and API views leave the transaction to the request (saas.db.finish_request)."""
    trees = list(_modules(*[p for p in SURFACES if (ROOT / p).exists()]))
    trees += [(name, ast.parse((ROOT / name).read_text())) for name in CORE_VIEWS]
    found = {
        f"{name}:{line} {verb}()"
        for name, tree in trees
        if name not in COMMIT_ALLOWED
        for verb in ("commit", "rollback")
        for line in _calls(tree, verb)
    }
    assert not found, sorted(found)


def test_guard_sees_a_commit():
    """The commit guard itself works on a probe."""
    assert _calls(ast.parse("def v():\n    db.session.commit()\n"), "commit") == [2]


def test_core_never_imports_workers():
    """``saas/`` enqueues work by name (saas.jobs / saas.queue), never by importing actors."""
    found = [
        f"{name}: {module}"
        for name, tree in _modules("saas")
        for module, _ in _imports(tree)
        if module == "workers" or module.startswith("workers.")
    ]
    assert not found, found


def test_no_http_abort_in_the_core():
    """The core raises domain errors; only saas/errors.py speaks HTTP."""
    found = [
        f"{name}: {module}.{member}"
        for name, tree in _modules("saas")
        for module, member in _imports(tree)
        if module in ("flask_smorest", "flask", "werkzeug.exceptions") and member == "abort"
    ]
    assert not found, found


def test_one_domain_error_family():
    """Every refusal class descends from saas.exceptions.DomainError."""
    from saas.exceptions import DomainError

    direct = [
        f"{name}: {node.name}"
        for name, tree in _modules("saas", *SURFACES)
        if (ROOT / name).exists()
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(
            isinstance(b, ast.Name) and b.id in ("Exception", "RuntimeError", "ValueError")
            for b in node.bases
        )
        and node.name not in NON_DOMAIN_EXCEPTIONS | {"DomainError"}
    ]
    assert not direct, direct
    from saas.security.auth import AuthError

    assert issubclass(AuthError, DomainError)


def test_workers_boot_without_the_web_app(service_env):
    """Importing every actor pulls in no blueprint, no page and not the app factory."""
    probe = (
        "import sys, workers.tasks, workers.jobs\n"
        "from workers.runtime import get_app\n"
        "app = get_app()\n"
        "assert not app.blueprints, app.blueprints\n"
        "web = [m for m in sys.modules if m.split('.')[0] in ('admin', 'portal', 'tenants',"
        " 'billing', 'flask_smorest', 'flask_wtf', 'flask_login') or m == 'saas.app']\n"
        "print(web)\n"
        "sys.exit(1 if web else 0)\n"
    )
    env = {**os.environ, **service_env}
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.usefixtures("app")
def test_kick_names_match_the_actors():
    """saas.queue sends to actors by name: each name and queue must exist in workers."""
    import workers.tasks  # noqa: F401 - declares the actors
    from saas.queue import QUEUES
    from workers import broker
    from workers.jobs import JOBS

    for name, queue in QUEUES.items():
        assert broker.get_actor(name).queue_name == queue
    for name, actor in JOBS.items():
        assert broker.get_actor(actor.actor_name) is actor, name


def test_every_blueprint_declares_its_host(app):
    """Each surface says where it is served; resolve_tenant reads only that."""
    from saas.web import HOSTS

    undeclared = [
        name
        for name, bp in app.blueprints.items()
        if getattr(bp, "similia_host", None) not in HOSTS
    ]
    assert not undeclared, undeclared
    hosts = {name: bp.similia_host for name, bp in app.blueprints.items()}
    assert hosts["signup_api"] == hosts["platform"] == "platform"
    assert hosts["ops"] == "unresolved" and hosts["api-docs"] == "any"
    assert hosts["appointments_api"] == hosts["console"] == "clinic"


def test_host_declarations_are_enforced(make_clinic, client):
    """A clinic surface is a 404 on the platform host, and the reverse."""
    clinic = make_clinic()
    assert client.get("/console/", base_url="http://localhost").status_code == 404
    assert client.get("/api/v1/visit-types", base_url="http://localhost").status_code == 404
    assert client.get("/signup", base_url=f"http://{clinic.host}").status_code == 404
    assert client.get("/healthz", base_url="http://10.0.0.7").status_code == 200
