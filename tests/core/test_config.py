"""Settings: environment variables, and refusing insecure secrets outside development."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from townhall.config import DEVELOPMENT_SECRET, Settings


def test_defaults_to_sqlite_in_the_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOWNHALL_DATABASE_URL", raising=False)
    monkeypatch.setenv("TOWNHALL_ENV", "development")
    monkeypatch.delenv("TOWNHALL_SECRET_KEY", raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "sqlite:///townhall.db"
    assert not settings.secure_cookies


@pytest.mark.parametrize("env", ["production", "test"])
@pytest.mark.parametrize("secret", [DEVELOPMENT_SECRET, "too-short"])
def test_insecure_secret_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch, env: str, secret: str
) -> None:
    monkeypatch.setenv("TOWNHALL_ENV", env)
    monkeypatch.setenv("TOWNHALL_SECRET_KEY", secret)
    with pytest.raises(ValidationError, match="TOWNHALL_SECRET_KEY"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_production_with_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWNHALL_ENV", "production")
    monkeypatch.setenv("TOWNHALL_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("TOWNHALL_DATABASE_URL", "postgresql://townhall@db/townhall")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.secure_cookies
    assert settings.database_url.startswith("postgresql://")
