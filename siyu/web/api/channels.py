"""``/api/v1/channels``: channels (渠道活码), their QR codes, routing and welcome outcomes.

Owners, admins and operators create, edit, delete and retry; a staff user reads the
channels whose pool holds their own account. Writes are audited by the service; the
WeCom code follows through the ``acquisition.channel_sync`` job.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from siyu.acquisition import channels as svc
from siyu.acquisition import qr, routing, scope, stores, welcome
from siyu.kit.errors import NotFound
from siyu.models import Channel
from siyu.web.api.common import ERRORS, MAX_ID, Id
from siyu.web.auth import CurrentUser, DbSession, OperatorUser, Principal

router = APIRouter(prefix="/api/v1/channels", tags=["channels"], responses=ERRORS)


class ChannelIn(BaseModel):
    """A channel to create, or the fields to change (absent fields stay as they are)."""

    name: str | None = Field(None, max_length=64)
    group_name: str | None = Field(None, max_length=64)
    kind: Literal["contact_way", "join_way", "link", "store"] | None = Field(
        None,
        description="contact_way (live code), join_way (group code), link (获客助手 link: where a QR "
        "cannot go; uses the paid quota), store (landing that routes to the nearest store)",
    )
    state: str | None = Field(None, description="≤ 30 characters; generated when absent.")
    cost_fen: int | None = Field(None, le=MAX_ID, description="What the channel costs, in fen (≥ 0).")
    skip_verify: bool | None = None
    tag_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = None
    welcome: dict[str, Any] | None = Field(
        None,
        description="text (≤ 4,000 bytes), attachments (raw WeCom attachments), content_ids (content-library "
        "items: image, link, miniprogram, video, file; uploaded to WeCom when sent), ≤ 9 attachments in "
        "all, variants day/night/weekend (each text, attachments, content_ids), join_channel_id",
    )
    pool: dict[str, Any] | None = Field(
        None,
        description="staff_ids, strategy (wecom|weighted|least_loaded|capacity_first), threshold, weights, "
        "daily_caps, schedules, backup_staff_ids, landing",
    )
    chat_ids: list[str] | None = Field(None, description="Group code: up to 5 group chat ids.")
    store_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = Field(
        None, description="Store channel: the stores it routes among (empty: every store)."
    )
    campaign: dict[str, Any] | None = Field(
        None,
        description="Referral campaign (老带新): name, welcome, starts_on, ends_on (YYYY-MM-DD); its "
        "welcome comes before the channel's while it runs. {} clears it.",
    )


class ChannelOut(BaseModel):
    id: int
    name: str
    group_name: str
    kind: str
    state: str
    slug: str
    cost_fen: int | None
    skip_verify: bool
    tag_ids: list[int]
    welcome: dict[str, Any]
    pool: dict[str, Any]
    chat_ids: list[str]
    members: list[str] = Field(description="The accounts the live code holds now.")
    store_ids: list[int] = Field(default_factory=list)
    campaign: dict[str, Any] | None = None
    config_id: str | None
    qr_url: str | None
    link_url: str | None = Field(None, description="A 获客助手 link with its customer_channel (the state).")
    sync_status: str = Field(description="pending | ok | error | deleted")
    sync_error: str | None = Field(description="WeCom's refusal in plain words; retry after fixing it.")
    created_at: str | None
    deleted_at: str | None


class RoutingOut(BaseModel):
    channel_id: int
    strategy: str
    members_now: list[str]
    members_on_code: list[str]
    used_backup: bool
    accounts: list[dict[str, Any]]


def _input(body: ChannelIn) -> svc.ChannelInput:
    return svc.ChannelInput(
        name=body.name,
        group_name=body.group_name,
        kind=body.kind,
        state=body.state,
        cost_fen=body.cost_fen,
        clear_cost="cost_fen" in body.model_fields_set and body.cost_fen is None,
        skip_verify=body.skip_verify,
        tag_ids=body.tag_ids,
        welcome=body.welcome,
        pool=body.pool,
        chat_ids=body.chat_ids,
        store_ids=body.store_ids,
        campaign=body.campaign,
    )


def _visible(db: DbSession, user: Principal, channel_id: int) -> Channel:
    ch = svc.get_channel(db, workspace_id=user.workspace_id, channel_id=channel_id)
    if not scope.sees_channel(db, ch, scope.own(user.role, user.staff_id)):
        raise NotFound(f"channel {channel_id} does not exist", field="channel_id")
    return ch


@router.get("", response_model=list[ChannelOut], summary="Channels")
def list_channels(user: CurrentUser, db: DbSession, group_name: str | None = None) -> list[ChannelOut]:
    """Live channels by group and name (a staff user: those that may route to their account,
    through the pool or a store's staff)."""
    mine = scope.own(user.role, user.staff_id)
    if mine is not None:
        rows = scope.channels_of(db, workspace_id=user.workspace_id, staff_id=mine, group_name=group_name)
    else:
        rows = svc.list_channels(db, workspace_id=user.workspace_id, group_name=group_name)
    return [ChannelOut(**svc.channel_dict(c)) for c in rows]


@router.post("", response_model=ChannelOut, status_code=201, summary="Create a channel")
def create_channel(body: ChannelIn, user: OperatorUser, db: DbSession) -> ChannelOut:
    """Store the channel; its WeCom code is created by the worker (``add_contact_way``)."""
    ch = svc.create_channel(db, workspace_id=user.workspace_id, data=_input(body), actor=user.actor)
    return ChannelOut(**svc.channel_dict(ch))


@router.get("/{channel_id}", response_model=ChannelOut, summary="One channel")
def get_channel(channel_id: Id, user: CurrentUser, db: DbSession) -> ChannelOut:
    return ChannelOut(**svc.channel_dict(_visible(db, user, channel_id)))


@router.patch("/{channel_id}", response_model=ChannelOut, summary="Change a channel")
def update_channel(channel_id: Id, body: ChannelIn, user: OperatorUser, db: DbSession) -> ChannelOut:
    """Change fields (every one checked first); the WeCom code follows (``update_contact_way``)."""
    ch = svc.update_channel(
        db, workspace_id=user.workspace_id, channel_id=channel_id, data=_input(body), actor=user.actor
    )
    return ChannelOut(**svc.channel_dict(ch))


@router.delete("/{channel_id}", status_code=204, summary="Delete a channel")
def delete_channel(channel_id: Id, user: OperatorUser, db: DbSession) -> None:
    """Mark it deleted and remove its code from WeCom (``del_contact_way``); history stays."""
    svc.delete_channel(db, workspace_id=user.workspace_id, channel_id=channel_id, actor=user.actor)


@router.post("/{channel_id}/retry", response_model=ChannelOut, summary="Retry the WeCom sync")
def retry_channel(channel_id: Id, user: OperatorUser, db: DbSession) -> ChannelOut:
    """Queue the channel's WeCom sync again (after fixing what WeCom refused)."""
    ch = svc.retry_sync(db, workspace_id=user.workspace_id, channel_id=channel_id, actor=user.actor)
    return ChannelOut(**svc.channel_dict(ch))


@router.get(
    "/{channel_id}/qr.{fmt}",
    summary="The channel's QR code (PNG or SVG)",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
)
def channel_qr(channel_id: Id, fmt: Literal["png", "svg"], user: CurrentUser, db: DbSession) -> Response:
    """Made locally from the code's URL (segno); 404 until WeCom has made the code."""
    ch = _visible(db, user, channel_id)
    if not ch.qr_url:
        raise NotFound(
            f"channel {channel_id} has no WeCom code yet (sync status {ch.sync_status})", field="channel_id"
        )
    body, media = (qr.png(ch.qr_url), "image/png") if fmt == "png" else (qr.svg(ch.qr_url), "image/svg+xml")
    headers = {"Content-Disposition": f'attachment; filename="channel-{ch.id}.{fmt}"'}
    return Response(body, media_type=media, headers=headers)


@router.get("/{channel_id}/routing", response_model=RoutingOut, summary="Routing now")
def channel_routing(channel_id: Id, user: CurrentUser, db: DbSession) -> RoutingOut:
    """Who the live code routes to now, and each pool account's state and capacity."""
    ch = _visible(db, user, channel_id)
    p = routing.plan(db, ch)
    return RoutingOut(
        channel_id=ch.id,
        strategy=(ch.pool or {}).get("strategy", "wecom"),
        members_now=p.userids,
        members_on_code=(ch.settings or {}).get("members", []),
        used_backup=p.used_backup,
        accounts=[a.as_dict() for a in p.accounts],
    )


@router.get("/-/welcomes", summary="Welcome outcomes", response_model=dict[str, int])
def welcome_outcomes(user: OperatorUser, db: DbSession) -> dict[str, int]:
    """Welcomes sent, skipped (by reason) and failed."""
    return welcome.welcome_stats(db, workspace_id=user.workspace_id)


class QuotaAlert(BaseModel):
    level: Literal["low", "exhausted"]
    change_type: str = Field(description="WeCom's ChangeType: balance_low or balance_exhausted.")
    at: str = Field(description="When WeCom sent it (ISO 8601, UTC).")
    message: str = Field(description="What it means, in Chinese (the console's words).")
    message_en: str
    link_channels: list[str] = Field(description="Live link channels (they stop getting new customers).")


class QuotaOut(BaseModel):
    total: int | None = None
    balance: int | None = None
    quota_list: list[dict[str, Any]] = Field(default_factory=list)
    error: str | None = Field(None, description="WeCom's refusal in plain words.")
    alert: QuotaAlert | None = Field(
        None, description="The latest low / exhausted quota callback from WeCom (None: none or bought since)."
    )


@router.get("/-/acquisition-quota", response_model=QuotaOut, summary="获客助手 quota")
def acquisition_quota(user: OperatorUser, db: DbSession) -> QuotaOut:
    """The corp's paid 获客助手 quota (total, balance) from WeCom; each new customer added
    through a link uses one. ``alert``: WeCom's balance_low / balance_exhausted callback,
    with the link channels that stop getting new customers when it is exhausted."""
    from siyu.acquisition.sync import workspace_quota

    return QuotaOut(**workspace_quota(db, user.workspace_id))


class StoreIn(BaseModel):
    """A store, or the fields to change."""

    name: str | None = Field(None, max_length=64)
    city: str | None = Field(None, max_length=32)
    address: str | None = Field(None, max_length=200)
    lat: float | None = Field(None, description="Latitude, -90…90 degrees.")
    lng: float | None = Field(None, description="Longitude, -180…180 degrees.")
    staff_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = None


class StoreOut(BaseModel):
    id: int
    name: str
    city: str
    address: str | None
    lat: float
    lng: float
    staff_ids: list[int]


def _store_input(body: StoreIn) -> stores.StoreInput:
    return stores.StoreInput(**body.model_dump())


@router.get("/-/stores", response_model=list[StoreOut], summary="Stores")
def list_stores(user: CurrentUser, db: DbSession, city: str | None = None) -> list[StoreOut]:
    return [
        StoreOut(**stores.store_dict(s))
        for s in stores.list_stores(db, workspace_id=user.workspace_id, city=city)
    ]


@router.post("/-/stores", response_model=StoreOut, status_code=201, summary="Create a store")
def create_store(body: StoreIn, user: OperatorUser, db: DbSession) -> StoreOut:
    st = stores.create_store(db, workspace_id=user.workspace_id, data=_store_input(body), actor=user.actor)
    return StoreOut(**stores.store_dict(st))


@router.patch("/-/stores/{store_id}", response_model=StoreOut, summary="Change a store")
def update_store(store_id: Id, body: StoreIn, user: OperatorUser, db: DbSession) -> StoreOut:
    st = stores.update_store(
        db, workspace_id=user.workspace_id, store_id=store_id, data=_store_input(body), actor=user.actor
    )
    return StoreOut(**stores.store_dict(st))


@router.delete("/-/stores/{store_id}", status_code=204, summary="Delete a store")
def delete_store(store_id: Id, user: OperatorUser, db: DbSession) -> None:
    stores.delete_store(db, workspace_id=user.workspace_id, store_id=store_id, actor=user.actor)


class WelcomeDefaultIn(BaseModel):
    """A default welcome: the workspace's (neither staff_id nor department), a department's
    (a path like 华东/上海) or a staff member's."""

    staff_id: int | None = Field(None, ge=1, le=MAX_ID)
    department: str | None = Field(None, max_length=200)
    welcome: dict[str, Any] = Field(
        description="text, attachments, content_ids (content-library items), variants day/night/weekend"
    )


class WelcomeDefaultOut(BaseModel):
    level: str = Field(description="workspace | department | staff")
    staff_id: int | None
    department: str | None
    welcome: dict[str, Any]


@router.get("/-/welcome-defaults", response_model=list[WelcomeDefaultOut], summary="Default welcomes")
def welcome_defaults(user: OperatorUser, db: DbSession) -> list[WelcomeDefaultOut]:
    """Defaults used when the add's channel has none: staff > nearest department > workspace."""
    return [WelcomeDefaultOut(**d) for d in welcome.list_defaults(db, workspace_id=user.workspace_id)]


@router.put("/-/welcome-defaults", response_model=WelcomeDefaultOut, summary="Set a default welcome")
def set_welcome_default(body: WelcomeDefaultIn, user: OperatorUser, db: DbSession) -> WelcomeDefaultOut:
    row = welcome.set_default(
        db,
        workspace_id=user.workspace_id,
        staff_id=body.staff_id,
        department=body.department,
        welcome=body.welcome,
    )
    level = "staff" if row.staff_id is not None else "department" if row.department else "workspace"
    return WelcomeDefaultOut(
        level=level, staff_id=row.staff_id, department=row.department, welcome=row.welcome
    )
