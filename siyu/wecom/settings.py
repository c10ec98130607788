"""Per-workspace WeCom app configuration.

The default workspace may be configured from ``SIYU_WECOM_*`` settings; any workspace
may have a ``WeComApp`` row (secrets encrypted with the PII vault), which wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.config import DEFAULT_WECOM_API_BASE, Settings, get_settings
from siyu.kit.errors import Invalid, NotFound
from siyu.kit.pii import get_vault
from siyu.models import WeComApp, Workspace
from siyu.wecom.crypto import CallbackCrypto, decode_aes_key

DEFAULT_APP = "contact"


@dataclass(frozen=True, slots=True)
class AppConfig:
    """Everything needed to talk to WeCom for one workspace (plain secrets: keep in memory)."""

    workspace_id: int
    workspace_slug: str
    corp_id: str
    token: str
    aes_key: str
    secret: str
    agent_id: str
    api_base: str
    timestamp_tolerance: int

    @property
    def has_callback(self) -> bool:
        """True when Token and EncodingAESKey are set (callbacks can be verified)."""
        return bool(self.corp_id and self.token and self.aes_key)

    def crypto(self) -> CallbackCrypto:
        """The callback crypto for this app; ConfigError-style Invalid when incomplete."""
        if not self.has_callback:
            raise Invalid(
                f"workspace {self.workspace_slug!r} has no WeCom callback Token, "
                "EncodingAESKey and corp id configured",
                field="wecom",
            )
        return CallbackCrypto(
            self.token, self.aes_key, self.corp_id, timestamp_tolerance=self.timestamp_tolerance
        )


def _decrypt(value: str | None) -> str:
    return get_vault().decrypt(value) if value else ""


def resolve_app(
    session: Session,
    workspace: Workspace,
    *,
    settings: Settings | None = None,
    name: str = DEFAULT_APP,
) -> AppConfig:
    """The WeCom config of a workspace: its ``WeComApp`` row, else the env (default workspace)."""
    settings = settings or get_settings()
    app = session.scalar(select(WeComApp).where(WeComApp.workspace_id == workspace.id, WeComApp.name == name))
    if app is not None:
        return AppConfig(
            workspace_id=workspace.id,
            workspace_slug=workspace.slug,
            corp_id=app.corp_id,
            token=_decrypt(app.token_enc),
            aes_key=_decrypt(app.aes_key_enc),
            secret=_decrypt(app.secret_enc),
            agent_id=app.agent_id or "",
            api_base=app.api_base or settings.wecom_api_base,
            timestamp_tolerance=settings.wecom_timestamp_tolerance,
        )
    if workspace.slug == settings.default_workspace:
        return AppConfig(
            workspace_id=workspace.id,
            workspace_slug=workspace.slug,
            corp_id=settings.wecom_corp_id,
            token=settings.wecom_token,
            aes_key=settings.wecom_aes_key,
            secret=settings.wecom_secret,
            agent_id=settings.wecom_agent_id,
            api_base=settings.wecom_api_base,
            timestamp_tolerance=settings.wecom_timestamp_tolerance,
        )
    raise NotFound(f"workspace {workspace.slug!r} has no WeCom app configured", field="wecom")


def save_app(
    session: Session,
    *,
    workspace_id: int,
    corp_id: str | None = None,
    token: str | None = None,
    aes_key: str | None = None,
    secret: str | None = None,
    agent_id: str | None = None,
    api_base: str | None = None,
    name: str = DEFAULT_APP,
) -> WeComApp:
    """Create or update a workspace's WeCom app; None leaves a field as it is, "" clears it.

    Token, EncodingAESKey and secret are stored encrypted with the PII vault.
    """
    if aes_key:
        decode_aes_key(aes_key)  # refuses a key of the wrong length or alphabet
    if api_base and not api_base.startswith(("https://", "http://")):
        raise Invalid(f"API base {api_base!r} is not an http(s) URL", field="api_base")
    vault = get_vault()
    app = session.scalar(select(WeComApp).where(WeComApp.workspace_id == workspace_id, WeComApp.name == name))
    if app is None:
        if not (corp_id or "").strip():
            raise Invalid("a new WeCom app needs a corp id", field="corp_id")
        app = WeComApp(workspace_id=workspace_id, name=name, corp_id=(corp_id or "").strip())
        session.add(app)
    if corp_id is not None:
        if not corp_id.strip():
            raise Invalid("corp id is empty", field="corp_id")
        app.corp_id = corp_id.strip()
    if agent_id is not None:
        app.agent_id = agent_id.strip() or None
    if token is not None:
        app.token_enc = vault.encrypt(token) if token else None
    if aes_key is not None:
        app.aes_key_enc = vault.encrypt(aes_key) if aes_key else None
    if secret is not None:
        app.secret_enc = vault.encrypt(secret) if secret else None
    if api_base is not None:
        app.api_base = api_base.rstrip("/") if api_base and api_base != DEFAULT_WECOM_API_BASE else None
    session.flush()
    return app
