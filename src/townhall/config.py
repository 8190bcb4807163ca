"""Settings: one pydantic-settings object read from TOWNHALL_* variables and an optional .env."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "development-only-secret-change-me"


class Settings(BaseSettings):
    """Everything an operator can configure; names map to TOWNHALL_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="TOWNHALL_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///townhall.db"
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    host: str = "127.0.0.1"
    port: int = 8000
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_minutes: int = Field(default=15, ge=1)
    org_slug: str = "demo"
    # The embedded default understands and routes new messages in a thread of the web process;
    # deployments with separate workers turn it off.
    embedded_worker: bool = True
    embedded_worker_interval_seconds: float = Field(default=2.0, gt=0)

    @model_validator(mode="after")
    def refuse_insecure_secrets(self) -> Settings:
        # A well-known secret outside development would let anyone forge what it signs.
        if self.env != "development":
            secret = self.secret_key.get_secret_value()
            if secret == DEVELOPMENT_SECRET or len(secret) < 32:
                raise ValueError(
                    "TOWNHALL_SECRET_KEY must be set to a random value of at least 32 characters "
                    "outside development (e.g. `python -c 'import secrets; "
                    "print(secrets.token_urlsafe(48))'`)"
                )
        return self

    @property
    def secure_cookies(self) -> bool:
        return self.env == "production"


@lru_cache
def get_settings() -> Settings:
    return Settings()
