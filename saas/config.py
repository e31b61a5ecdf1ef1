"""Configuration from the environment.

Every setting has one source: an environment variable. Secrets have no default; the app
refuses to start without them (see ``Config.from_env``). ``README.md`` lists every variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

#: The role the web app and workers connect as (NOSUPERUSER, NOBYPASSRLS, DML only).
RUNTIME_ROLE = "similia_app"
#: The role the operator console connects as: no SELECT on clinical tables or sealed columns.
OPS_ROLE = "similia_ops"
#: The role that owns the schema; migrations run as (or SET ROLE to) it.
OWNER_ROLE = "similia_owner"


class ConfigError(RuntimeError):
    """A required setting is missing or malformed."""


def _runtime_url(database_url: str, password: str | None, role: str = RUNTIME_ROLE) -> str:
    """Derive the runtime role's URL from the migration URL (same host, port and database)."""
    parts = urlsplit(database_url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = role + (f":{password}" if password else "") + "@" + host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _require(env: dict[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


@dataclass(frozen=True)
class Config:
    """Settings the app factory needs. Build with :meth:`from_env`."""

    secret_key: str
    database_url: str  #: migration/owner connection
    app_database_url: str  #: runtime role connection (RLS applies)
    redis_url: str
    vault_addr: str
    vault_token: str  #: runtime token: encrypt/decrypt/datakey on tenant-* only
    vault_admin_token: str  #: key-admin token: create/rotate/rewrap tenant keys (cannot delete)
    #: crypto-shredding token (operator tooling only; None in the web app in production)
    vault_shredder_token: str | None
    smtp_url: str
    #: operator console connection (role similia_ops: blind to clinical data)
    ops_database_url: str | None = None
    #: operator console's Vault token: no use of clinic keys (vault_policies/operator.hcl)
    vault_operator_token: str | None = None
    base_domain: str = "localhost"
    public_port: int | None = 8000
    public_scheme: str = "http"
    mail_from: str = "Similia <no-reply@similia.localhost>"
    dek_cache_ttl: int = 300
    password_time_cost: int = 3
    token_ttl: int = 3600
    login_max_failures: int = 5
    login_ip_max_failures: int = 15
    login_lock_seconds: int = 900
    db_pool_size: int = 5
    #: Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0 = none).
    proxy_hops: int = 0
    #: Stripe: the secret key (``sk_test_local`` for the local test server), the API base URL
    #: (None: Stripe itself) and the signing secrets of the platform and Connect endpoints.
    stripe_secret_key: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_connect_webhook_secret: str | None = None
    #: ``SAAS_ENV``: development (default), test or production. Production hides the
    #: development pages (``/dev/mailbox``) and requires ``METRICS_TOKEN`` for ``/metrics``.
    environment: str = "development"
    #: bearer token for ``/metrics`` (required in production; open elsewhere when unset)
    metrics_token: str | None = None
    #: text messages (saas.sms): twilio, file or off; the Twilio-style account and sender
    sms_provider: str = "file"
    sms_from: str | None = None
    sms_account_sid: str | None = None
    sms_auth_token: str | None = None
    sms_api_base: str | None = None
    sms_file: str = ".var/sms/messages.jsonl"
    #: the embedded SMTP sink's directory (development and tests): ``/dev/mailbox`` reads it
    mail_dir: str | None = None
    testing: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def production(self) -> bool:
        """Whether this is the production deployment (``SAAS_ENV=production``)."""
        return self.environment == "production"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Config:
        """Read settings from ``env`` (default ``os.environ``); fail fast on missing secrets."""
        env = dict(os.environ if env is None else env)
        database_url = _require(env, "DATABASE_URL")
        port = env.get("SAAS_PUBLIC_PORT", "8000").strip()
        environment = (env.get("SAAS_ENV") or "development").strip().lower()
        if environment not in ("development", "test", "production"):
            raise ConfigError("SAAS_ENV must be development, test or production")
        values = dict(
            secret_key=_require(env, "SECRET_KEY"),
            database_url=database_url,
            app_database_url=env.get("APP_DATABASE_URL")
            or _runtime_url(database_url, env.get("APP_DATABASE_PASSWORD")),
            redis_url=_require(env, "REDIS_URL"),
            vault_addr=_require(env, "VAULT_ADDR"),
            vault_token=_require(env, "VAULT_TOKEN"),
            vault_admin_token=env.get("VAULT_ADMIN_TOKEN") or _require(env, "VAULT_TOKEN"),
            vault_shredder_token=env.get("VAULT_SHREDDER_TOKEN") or None,
            smtp_url=_require(env, "SMTP_URL"),
            ops_database_url=env.get("OPS_DATABASE_URL")
            or _runtime_url(database_url, env.get("OPS_DATABASE_PASSWORD"), OPS_ROLE),
            vault_operator_token=env.get("VAULT_OPERATOR_TOKEN") or None,
            base_domain=env.get("SAAS_BASE_DOMAIN", "localhost").strip().lower(),
            public_port=int(port) if port else None,
            public_scheme=env.get("SAAS_PUBLIC_SCHEME", "http"),
            mail_from=env.get("MAIL_FROM", cls.mail_from),
            proxy_hops=int(env.get("SAAS_PROXY_HOPS", "0") or 0),
            stripe_secret_key=env.get("STRIPE_SECRET_KEY") or None,
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
            stripe_connect_webhook_secret=env.get("STRIPE_CONNECT_WEBHOOK_SECRET") or None,
            environment=environment,
            metrics_token=env.get("METRICS_TOKEN") or None,
            sms_provider=(
                env.get("SMS_PROVIDER") or ("off" if environment == "production" else "file")
            )
            .strip()
            .lower(),
            sms_from=env.get("SMS_FROM") or None,
            sms_account_sid=env.get("SMS_ACCOUNT_SID") or None,
            sms_auth_token=env.get("SMS_AUTH_TOKEN") or None,
            sms_api_base=env.get("SMS_API_BASE") or None,
            sms_file=env.get("SMS_FILE") or cls.sms_file,
            mail_dir=env.get("MAIL_DIR") or None,
        )
        if values["sms_provider"] not in ("twilio", "file", "off"):
            raise ConfigError("SMS_PROVIDER must be twilio, file or off")
        if values["sms_provider"] == "twilio":
            for name in ("SMS_ACCOUNT_SID", "SMS_AUTH_TOKEN", "SMS_FROM"):
                _require(env, name)
        values.update(overrides)
        return cls(**values)

    def public_url(self, slug: str | None = None, path: str = "/") -> str:
        """Absolute URL of the platform (``slug=None``) or of a clinic's site."""
        host = f"{slug}.{self.base_domain}" if slug else self.base_domain
        default = {"http": 80, "https": 443}.get(self.public_scheme)
        port = f":{self.public_port}" if self.public_port and self.public_port != default else ""
        return f"{self.public_scheme}://{host}{port}{path}"
