"""The app factory: a flat list of config, extensions and blueprints. No I/O at import."""

from __future__ import annotations

import time
import uuid

import structlog
from flask import Flask, g, request, send_from_directory
from sqlalchemy import inspect as sa_inspect
from swagger_ui_bundle import swagger_ui_path
from werkzeug.middleware.proxy_fix import ProxyFix

from . import apispec_names, db, errors, inputs, reqstats
from .apispec_names import marshmallow_plugin
from .config import Config
from .edge import REQUEST_ID_RE, Edge
from .extensions import csrf, limiter, login_manager
from .inputs import GuardedJSONProvider
from .runtime import build_runtime
from .sessions import SurfaceSessionInterface
from .web import ANY, reads_recent, serve_on

#: Responses that may carry secrets (TOTP enrolment, recovery codes, tokens) are never cached.
NO_STORE_PREFIXES = (
    "/api/",
    "/login",
    "/mfa",
    "/password",
    "/invite",
    "/auth",
    "/signup",
    "/console",
    "/ops",
    "/dev/",
)
access_log = structlog.get_logger("similia.access")


class WebApp(Flask):
    """Flask whose requests own their database transaction (see :mod:`saas.db`).

    The view's answer decides: a success commits once, an error status rolls back; an
    exception never reaches here (its handler rolls back). A failed commit is raised inside
    the dispatch, so the error handlers answer it like any other error.
    """

    def dispatch_request(self):
        """Run the view, then end its transaction before the response leaves."""
        response = self.make_response(super().dispatch_request())
        db.finish_request(response.status_code)
        return response


def create_app(config: Config | None = None) -> Flask:
    """Build the Similia web app from ``config`` (default: the environment)."""
    config = config or Config.from_env()
    app = WebApp(__name__, static_folder="static", static_url_path="/static")
    app.json = GuardedJSONProvider(app)
    inputs.install()
    runtime = build_runtime(config)
    app.config.update(runtime.config)
    app.extensions.update(runtime.extensions)
    app.config.update(
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        SESSION_COOKIE_NAME="similia_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.public_scheme == "https",
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=config.public_scheme == "https",
        RATELIMIT_STORAGE_URI=config.redis_url,
        RATELIMIT_ENABLED=not config.extra.get("disable_rate_limits", False),
        API_TITLE="Similia API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        # served from the swagger-ui-bundle package, so the docs work offline too
        OPENAPI_SWAGGER_UI_URL="/api/docs-assets/",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        },
    )
    if config.proxy_hops:
        hops = config.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0)
    app.session_interface = SurfaceSessionInterface(app.extensions["similia.redis"])

    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    api = apispec_names.SimiliaApi(
        app,
        spec_kwargs={
            "marshmallow_plugin": marshmallow_plugin(),
            "extra_plugins": [apispec_names.SecurityPlugin()],
        },
    )
    apispec_names.install(api)
    serve_on(app.blueprints["api-docs"], ANY)  # the OpenAPI document and its UI
    errors.register(app)

    from admin.clinic.appointments import pages as calendar_pages
    from admin.clinic.appointments import views as day
    from admin.clinic.auth import views as auth_views
    from admin.clinic.patients import views as patient_views
    from admin.clinic.practice import api as practice_api
    from admin.clinic.practice import message_views
    from admin.clinic.practice import views as practice_views
    from admin.clinic.records import api as records_api
    from admin.clinic.reports import views as report_views
    from admin.clinic.staff import api as admin_api
    from admin.clinic.staff import views as console_views
    from admin.platform import views as operator_views
    from billing import api as payments_api
    from billing import views as billing_views
    from billing import webhooks as stripe_webhooks
    from portal import api as portal_api
    from portal import booking_api, calendar_feed
    from portal import records_api as portal_records_api
    from portal import views as portal_views
    from tenants import api as tenants_api
    from tenants import brand_views
    from tenants import settings as tenant_settings
    from tenants import views as tenant_views
    from tenants.resolve import resolve_tenant
    from tenants.status import is_read_only

    from . import dev_mailbox, ops
    from .scheduling import api as appointments_api
    from .security.login import load_user

    app.jinja_env.globals["clinic_read_only"] = is_read_only
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."

    def front_page():
        """``/`` is the platform's page on the base domain and the clinic's page on its host."""
        return portal_views.home() if g.get("tenant") else tenant_views.home()

    app.add_url_rule("/", "front_page", serve_on(reads_recent(front_page), ANY))

    def swagger_assets(filename: str):
        """Swagger UI's files (JS/CSS) for ``/api/docs``."""
        return send_from_directory(swagger_ui_path, filename, max_age=86400)

    app.add_url_rule(
        "/api/docs-assets/<path:filename>", "swagger_assets", serve_on(swagger_assets, ANY)
    )
    app.register_blueprint(ops.bp)
    app.register_blueprint(dev_mailbox.bp)
    app.register_blueprint(tenant_views.bp)
    app.register_blueprint(portal_views.bp)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(console_views.bp)
    app.register_blueprint(day.bp)
    app.register_blueprint(calendar_pages.bp)
    app.register_blueprint(practice_views.bp)
    app.register_blueprint(message_views.bp)
    app.register_blueprint(patient_views.bp)
    app.register_blueprint(brand_views.bp)
    app.register_blueprint(calendar_feed.bp)
    app.register_blueprint(report_views.bp)
    app.register_blueprint(report_views.log_bp)
    app.register_blueprint(operator_views.bp)
    app.register_blueprint(billing_views.bp)
    app.register_blueprint(billing_views.payments_bp)
    app.register_blueprint(stripe_webhooks.bp)
    csrf.exempt(stripe_webhooks.bp)  # Stripe signs these; no cookie session
    for blp in (
        tenants_api.blp,
        tenant_settings.blp,
        admin_api.blp,
        portal_api.blp,
        practice_api.blp,
        payments_api.blp,
        appointments_api.blp,
        booking_api.blp,
        records_api.blp,
        portal_records_api.blp,
    ):
        csrf.exempt(blp)  # bearer tokens, never cookies
        api.register_blueprint(blp)

    stats = reqstats.Recorder(app.extensions["similia.redis"])
    app.extensions["similia.reqstats"] = stats

    @app.before_request
    def _request_context():
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        g.started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id, path=request.path)
        resolve_tenant()
        inputs.check_params()

    clinic_origins = config.public_url("*").rstrip("/")
    # forms that continue on Stripe (Checkout, customer portal, Connect onboarding)
    from urllib.parse import urlsplit

    stripe_base = urlsplit(config.stripe_api_base or "")
    payment_origins = (
        f"{stripe_base.scheme}://{stripe_base.netloc}"
        if config.stripe_api_base
        else "https://checkout.stripe.com https://billing.stripe.com https://connect.stripe.com"
    )

    @app.after_request
    def _headers(response):
        response.headers["X-Request-Id"] = g.get("request_id", "")
        if request.path.startswith(NO_STORE_PREFIXES):
            response.headers["Cache-Control"] = "no-store"
        if config.public_scheme == "https":
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.path.startswith("/api/docs"):
            # signup on the platform host continues on the clinic's own host
            form_action = (
                f"'self' {payment_origins}" if g.get("tenant") else f"'self' {clinic_origins}"
            )
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                f"frame-ancestors 'none'; form-action {form_action}",
            )
        if "started" in g and request.blueprint != "ops":
            ms = (time.perf_counter() - g.started) * 1000
            access_log.info(
                "request", method=request.method, status=response.status_code, ms=round(ms, 1)
            )
            # health checks (blueprint "ops") are not counted; the clinic's id is read from
            # its identity, never from an attribute a rollback may have expired (no query)
            tenant = g.get("tenant")
            stats.record(
                str(sa_inspect(tenant).identity[0]) if tenant is not None else "platform",
                f"{request.method} {request.endpoint or '(no route)'}",
                response.status_code,
                ms,
            )
        return response

    @app.teardown_appcontext
    def _remove_session(exc):
        db.session.remove()

    portal_static = app.blueprints["portal"].static_folder
    static = {"static/": app.static_folder, "portal/static/": portal_static}
    app.wsgi_app = Edge(
        app.wsgi_app, static, debug=app.debug, https=config.public_scheme == "https"
    )
    return app
