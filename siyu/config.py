"""One Settings class for the whole application (env prefix ``SIYU_``)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A known placeholder: refused outside development by the validator below.
DEFAULT_SECRET_KEY = "siyu-development-secret-key-change-me"  # noqa: S105
DEFAULT_WECOM_API_BASE = "https://qyapi.weixin.qq.com"


class Settings(BaseSettings):
    """Runtime configuration, read from ``SIYU_*`` environment variables or ``.env``."""

    model_config = SettingsConfigDict(env_prefix="SIYU_", env_file=".env", extra="ignore")

    env: str = Field("development", description="development | test | production")
    database_url: str = "sqlite:///./siyu.db"
    secret_key: str = DEFAULT_SECRET_KEY
    default_workspace: str = "default"
    timezone: str = "Asia/Shanghai"
    log_level: str = "INFO"

    # WeCom connection of the default workspace.
    wecom_corp_id: str = ""
    wecom_token: str = ""
    wecom_aes_key: str = ""
    wecom_secret: str = ""
    wecom_agent_id: str = ""
    wecom_api_base: str = DEFAULT_WECOM_API_BASE
    wecom_timestamp_tolerance: int = 600
    # Process callbacks in the web process after answering 200; false = ingest only,
    # leaving processing to `siyu wecom process-callbacks --follow` workers.
    wecom_process_after_accept: bool = True

    # Job runner: a long job's lease ends when its worker has not beaten for this many
    # seconds (the worker beats every sixth of it); then another worker resumes the job.
    worker_lease_seconds: int = Field(30, ge=3, le=3600)

    # Web
    # Secure flag of the console's cookies: unset = on unless served on localhost.
    session_cookie_secure: bool | None = None
    # Login limits (siyu.web.auth.login): failed tries per account (all addresses) and per
    # address (all accounts) in a window of this many minutes; a try takes its slot
    # before the password is hashed.
    login_max_failures_per_account: int = Field(5, ge=1)
    login_max_failures_per_address: int = Field(30, ge=1)
    login_window_minutes: int = Field(15, ge=1)
    # At most this many password hashes at once per process (0 = the CPU count).
    login_max_concurrent_hashes: int = Field(0, ge=0)
    # Lifetime of a new API token when none is chosen (days).
    api_token_default_days: int = Field(90, ge=1, le=3650)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env not in ("development", "test") and self.secret_key == DEFAULT_SECRET_KEY:
            raise ValueError(
                "SIYU_SECRET_KEY is the development default; set a long random secret "
                "before running with SIYU_ENV=" + self.env
            )
        if len(self.secret_key) < 16:
            raise ValueError("SIYU_SECRET_KEY must be at least 16 characters long")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
