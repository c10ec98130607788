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

    # Web
    session_cookie_secure: bool = False

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
