"""``saas`` commands in a second terminal reach the services ``make run`` started."""

from __future__ import annotations

import os
import stat

from saas.dev import load_dev_env, write_dev_env


def test_commands_take_the_running_dev_services_unless_told_otherwise(tmp_path, monkeypatch):
    write_dev_env(
        tmp_path,
        {
            "DATABASE_URL": "postgresql+psycopg://dev@127.0.0.1:5999/x",
            "REDIS_URL": "redis://127.0.0.1:6999/0",
        },
    )
    path = tmp_path / "dev.env"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds development secrets
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert load_dev_env(tmp_path) is True
    assert os.environ["DATABASE_URL"].endswith(":5999/x")
    assert os.environ["REDIS_URL"] == "redis://127.0.0.1:6999/0"
    # a configured environment wins: nothing is read
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://prod/db")
    monkeypatch.delenv("REDIS_URL")
    assert load_dev_env(tmp_path) is False
    assert "REDIS_URL" not in os.environ
    assert load_dev_env(tmp_path / "nowhere") is False
