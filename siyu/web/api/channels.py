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
from siyu.acquisition import qr, routing, welcome
from siyu.kit.errors import NotFound
from siyu.models import Channel
from siyu.web.api.common import ERRORS, MAX_ID, Id
from siyu.web.auth import CurrentUser, DbSession, OperatorUser, Principal

router = APIRouter(prefix="/api/v1/channels", tags=["channels"], responses=ERRORS)


class ChannelIn(BaseModel):
    """A channel to create, or the fields to change (absent fields stay as they are)."""

    name: str | None = Field(None, max_length=64)
    group_name: str | None = Field(None, max_length=64)
    kind: Literal["contact_way", "join_way"] | None = None
    state: str | None = Field(None, description="≤ 30 characters; generated when absent.")
    cost_fen: int | None = Field(None, le=MAX_ID, description="What the channel costs, in fen (≥ 0).")
    skip_verify: bool | None = None
    tag_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = None
    welcome: dict[str, Any] | None = Field(
        None,
        description="text (≤ 4,000 bytes), attachments (≤ 9), variants day/night/weekend, join_channel_id",
    )
    pool: dict[str, Any] | None = Field(
        None,
        description="staff_ids, strategy (wecom|weighted|least_loaded|capacity_first), threshold, weights, "
        "daily_caps, schedules, backup_staff_ids, landing",
    )
    chat_ids: list[str] | None = Field(None, description="Group code: up to 5 group chat ids.")


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
    config_id: str | None
    qr_url: str | None
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
    )


def _visible(db: DbSession, user: Principal, channel_id: int) -> Channel:
    ch = svc.get_channel(db, workspace_id=user.workspace_id, channel_id=channel_id)
    if user.role == "staff" and (user.staff_id is None or user.staff_id not in svc.pool_staff_ids(ch)):
        raise NotFound(f"channel {channel_id} does not exist", field="channel_id")
    return ch


@router.get("", response_model=list[ChannelOut], summary="Channels")
def list_channels(user: CurrentUser, db: DbSession, group_name: str | None = None) -> list[ChannelOut]:
    """Live channels by group and name (a staff user: those whose pool holds their account)."""
    if user.role == "staff":
        rows = svc.list_channels(
            db, workspace_id=user.workspace_id, group_name=group_name, staff_id=user.staff_id or -1
        )
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
