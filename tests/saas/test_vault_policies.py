"""The Vault tokens the app uses can do only their part (real OpenBao)."""

from __future__ import annotations

import uuid

import hvac
import pytest


def _client(env, name):
    return hvac.Client(url=env["VAULT_ADDR"], token=env[name])


def test_key_admin_cannot_shred_but_the_shredder_can(service_env):
    """The web app's key-admin token creates and rotates keys but can never delete one."""
    admin = _client(service_env, "VAULT_ADMIN_TOKEN")
    shredder = _client(service_env, "VAULT_SHREDDER_TOKEN")
    runtime = _client(service_env, "VAULT_TOKEN")
    name = f"tenant-{uuid.uuid4()}"
    admin.secrets.transit.create_key(name=name, key_type="aes256-gcm96")
    admin.secrets.transit.rotate_key(name=name)
    admin.secrets.transit.update_key_configuration(name=name, min_decryption_version=1)
    with pytest.raises(hvac.exceptions.Forbidden):
        admin.secrets.transit.update_key_configuration(name=name, deletion_allowed=True)
    with pytest.raises(hvac.exceptions.Forbidden):
        admin.secrets.transit.delete_key(name=name)
    with pytest.raises(hvac.exceptions.Forbidden):
        runtime.secrets.transit.create_key(name=f"tenant-{uuid.uuid4()}")
    with pytest.raises(hvac.exceptions.Forbidden):  # data keys only ever leave Vault wrapped
        runtime.secrets.transit.generate_data_key(name=name, key_type="plaintext")
    assert runtime.secrets.transit.generate_data_key(name=name, key_type="wrapped")["data"][
        "ciphertext"
    ]
    with pytest.raises(hvac.exceptions.Forbidden):
        shredder.secrets.transit.update_key_configuration(name=name, min_decryption_version=2)
    with pytest.raises(hvac.exceptions.Forbidden):
        shredder.secrets.transit.generate_data_key(name=name, key_type="wrapped")
    shredder.secrets.transit.update_key_configuration(name=name, deletion_allowed=True)
    shredder.secrets.transit.delete_key(name=name)
    with pytest.raises(hvac.exceptions.InvalidPath):
        admin.secrets.transit.read_key(name=name)


def test_without_the_shredder_token_keys_cannot_be_deleted(app, service_env):
    """A key service configured without the shredding token refuses to delete (503 path)."""
    from saas.crypto import KeyService, KeyServiceUnavailable

    keys = KeyService(
        service_env["VAULT_ADDR"], service_env["VAULT_TOKEN"], service_env["VAULT_ADMIN_TOKEN"]
    )
    tenant_id = uuid.uuid4()
    keys.create_tenant_key(tenant_id)
    with pytest.raises(KeyServiceUnavailable, match="VAULT_SHREDDER_TOKEN"):
        keys.delete_tenant_key(tenant_id)
    assert _client(service_env, "VAULT_ADMIN_TOKEN").secrets.transit.read_key(
        name=f"tenant-{tenant_id}"
    )


def test_embedded_postgres_asks_for_a_password_over_tcp(service_env):
    """The embedded server trusts no local user on 127.0.0.1 (only its private socket)."""
    import psycopg
    import pytest
    from sqlalchemy.engine import make_url

    url = make_url(service_env["DATABASE_URL"])
    if not url.password:
        pytest.skip("DATABASE_URL names an external server without a password")
    for user in ("postgres", "similia_app"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(
                host=url.host, port=url.port, user=user, dbname=url.database, connect_timeout=3
            ).close()
    with psycopg.connect(
        host=url.host,
        port=url.port,
        user="similia_app",
        dbname=url.database,
        password=service_env["APP_DATABASE_PASSWORD"],
        connect_timeout=3,
    ) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("similia_app",)
