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
    # The embedded default understands and routes new messages in a thread of the web process.
    # Unset, it runs unless Redis is configured (then `townhall worker` processes do the work).
    embedded_worker: bool | None = None
    embedded_worker_interval_seconds: float = Field(default=2.0, gt=0)
    # Redis for the job queue (Dramatiq), e.g. redis://127.0.0.1:6379/0. The database stays the
    # source of truth; Redis only carries wake-ups, so losing it delays work but loses none.
    redis_url: str | None = None
    redis_namespace: str = Field(default="townhall", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    # Deliveries within this window share one wake-up job per organisation.
    wake_debounce_ms: int = Field(default=200, ge=1, le=60_000)
    # A worker silent this long is dead; its unacknowledged jobs go back to the queue.
    worker_heartbeat_timeout_ms: int = Field(default=60_000, ge=1_000)
    # Every worker looks for pending work in the database this often, wake-up or not.
    sweep_interval_seconds: float = Field(default=2.0, gt=0)
    webhook_max_bytes: int = Field(default=1_048_576, ge=1024)
    # Where the outside world reaches this deployment (printed in webhook URLs).
    public_url: str | None = None
    # When set, /metrics requires `Authorization: Bearer <token>`.
    metrics_token: SecretStr | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

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

    @property
    def runs_embedded_worker(self) -> bool:
        return self.embedded_worker if self.embedded_worker is not None else not self.redis_url

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


@lru_cache
def get_settings() -> Settings:
    return Settings()
