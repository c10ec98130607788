"""渠道活码: channels with their QR codes, routing status and capacity per account.

Operators and admins create, edit, delete and retry (the same services as
``siyu channels`` and ``/api/v1/channels``); a staff user sees the channels whose pool
holds their own account. The QR preview is the API's locally made SVG.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from siyu.acquisition import channels as svc
from siyu.acquisition import routing, scope, stores, welcome
from siyu.acquisition.quota import quota_alert
from siyu.customers.tags import ensure_tag
from siyu.customers.visibility import WholeWorkspace
from siyu.kit.errors import Invalid, NotFound, SiyuError
from siyu.kit.money import MoneyError, yuan_to_fen
from siyu.models import Channel, ContentItem, Staff, Tag, TagGroup
from siyu.staff.service import list_capacity
from siyu.web.auth import DbSession, Principal
from siyu.web.console.deps import ConsoleUser, OperatorPage
from siyu.web.console.render import redirect_with_flash, render

router = APIRouter()
EDIT_ROLES = ("owner", "admin", "operator")


def _visible(db: DbSession, user: Principal, channel_id: int) -> Channel:
    ch = svc.get_channel(db, workspace_id=user.workspace_id, channel_id=channel_id)
    if not scope.sees_channel(db, ch, scope.own(user.role, user.staff_id)):
        raise NotFound(f"channel {channel_id} does not exist", field="channel_id")
    return ch


def _staff(db: DbSession, workspace_id: int) -> list[Staff]:
    """Active accounts by name (the pool pickers)."""
    rows, _ = list_capacity(db, WholeWorkspace(workspace_id), status="active", sort="name")
    return [c.staff for c in rows]


@router.get("/channels", response_class=HTMLResponse)
def channels_page(request: Request, user: ConsoleUser, db: DbSession) -> HTMLResponse:
    """Channels by group, each with its sync status, members and cost; capacity alerts on top."""
    mine = scope.own(user.role, user.staff_id)
    rows = (
        svc.list_channels(db, workspace_id=user.workspace_id)
        if mine is None
        else scope.channels_of(db, workspace_id=user.workspace_id, staff_id=mine)
    )
    names = {s.userid: s.name for s in _staff(db, user.workspace_id)}
    alerts = routing.capacity_alerts(db, workspace_id=user.workspace_id, staff_id=mine)
    return render(
        request,
        "channels.html",
        {
            "rows": [svc.channel_dict(c) for c in rows],
            "names": names,
            "alerts": alerts,
            "quota_alert": quota_alert(db, workspace_id=user.workspace_id),
            "can_edit": user.role in EDIT_ROLES,
            "welcomes": _welcome_counts(db, user.workspace_id),
        },
    )


def _welcome_counts(db: DbSession, workspace_id: int) -> dict[str, int]:
    stats = welcome.welcome_stats(db, workspace_id=workspace_id)
    skipped = sum(v for k, v in stats.items() if k.startswith("skipped"))
    return {"sent": stats.get("sent", 0), "skipped": skipped, "error": stats.get("error", 0)}


LIBRARY_KINDS = {"image": "图片", "link": "链接", "miniprogram": "小程序", "video": "视频", "file": "文件"}


def _library(db: DbSession, workspace_id: int) -> list[Any]:
    """Library items a welcome can attach (the form's picker)."""
    from siyu.automation.library import list_items

    out: list[Any] = []
    for kind in LIBRARY_KINDS:
        out += list_items(db, workspace_id=workspace_id, kind=kind, limit=100)
    return out


def _tag_names(db: DbSession, workspace_id: int, tag_ids: list[int]) -> list[str]:
    """The channel's live entry tags as the form writes them: 「标签组/标签」, in its order."""
    rows = db.execute(
        select(Tag.id, TagGroup.name, Tag.name)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(Tag.workspace_id == workspace_id, Tag.id.in_(tag_ids), Tag.deleted_at.is_(None))
    ).all()
    named = {int(i): f"{g}/{n}" for i, g, n in rows}
    return [named[t] for t in tag_ids if t in named]


def _welcome_items(db: DbSession, workspace_id: int, welcome: dict[str, Any]) -> list[dict[str, Any]]:
    """The library items the welcome attaches (its own and its variants'), as the page lists them."""
    wanted: dict[int, str] = {}
    parts = [("", welcome)] + [(k, v) for k, v in (welcome.get("variants") or {}).items()]
    for key, part in parts:
        for cid in (part or {}).get("content_ids") or []:
            wanted.setdefault(int(cid), key)
    if not wanted:
        return []
    rows = {
        i.id: i
        for i in db.scalars(
            select(ContentItem).where(ContentItem.workspace_id == workspace_id, ContentItem.id.in_(wanted))
        )
    }
    out = []
    for cid, key in wanted.items():
        item = rows.get(cid)
        out.append({
            "id": cid,
            "variant": key,
            "title": item.title if item is not None else f"#{cid}",
            "kind": LIBRARY_KINDS.get(item.kind, item.kind) if item is not None else "",
            "deleted": item is None or item.deleted_at is not None,
        })  # fmt: skip
    return out


def _form_context(db: DbSession, user: Principal, ch: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "ch": ch,
        "tags_text": "，".join(_tag_names(db, user.workspace_id, ch["tag_ids"])) if ch else "",
        "staff": _staff(db, user.workspace_id),
        "strategies": svc.STRATEGIES,
        "stores": stores.list_stores(db, workspace_id=user.workspace_id),
        "library": _library(db, user.workspace_id),
        "kind_labels": LIBRARY_KINDS,
    }


@router.get("/channels/new", response_class=HTMLResponse)
def channel_new(request: Request, user: OperatorPage, db: DbSession) -> HTMLResponse:
    return render(request, "channel_form.html", _form_context(db, user, None))


def _input(
    db: DbSession,
    user: Principal,
    *,
    name: str,
    group_name: str,
    kind: str | None,
    state: str,
    cost: str,
    staff_ids: list[int],
    strategy: str,
    threshold: str,
    backup_ids: list[int],
    tags: str | None,
    welcome_text: str,
    night: str,
    weekend: str,
    chat_ids: str,
    skip_verify: bool,
    landing: bool,
    store_ids: list[int] | None = None,
    campaign: dict[str, str] | None = None,
    content_ids: list[int] | None = None,
    current_welcome: dict[str, Any] | None = None,
) -> svc.ChannelInput:
    data = svc.ChannelInput(name=name, group_name=group_name or "默认", kind=kind, skip_verify=skip_verify)
    if state.strip():
        data.state = state
    if cost.strip():
        try:
            data.cost_fen = yuan_to_fen(cost, allow_negative=True)
        except MoneyError as exc:
            raise Invalid(f"cost {cost!r}: {exc}", field="cost_fen") from exc
    else:
        data.clear_cost = True
    if kind == "store":
        data.store_ids = list(store_ids or [])
    elif kind is None or kind in svc.POOL_KINDS:
        try:
            share = float(threshold) / 100 if threshold.strip() else 0.9
        except ValueError as exc:
            raise Invalid("容量阈值必须是数字（百分比）", field="pool") from exc
        data.pool = {"staff_ids": staff_ids, "strategy": strategy or "wecom", "threshold": share,
                     "backup_staff_ids": backup_ids, "landing": landing and kind != "link"}  # fmt: skip
    else:
        data.chat_ids = [c for c in chat_ids.replace("，", ",").split(",") if c.strip()]
    if tags is not None:  # no tags field at all: an edit keeps the channel's entry tags
        names = [t.strip() for t in tags.replace("，", ",").split(",") if t.strip()]
        tag_ids = []
        for n in names:
            group, _, tag = n.rpartition("/")
            tag_ids.append(
                ensure_tag(db, workspace_id=user.workspace_id, name=tag, group_name=group or "默认").id
            )
        data.tag_ids = tag_ids
    # The form edits the texts and the library items; what only the API or CLI set (raw
    # attachments, a variant's attachments, the group join code) stays as it was.
    kept = dict(current_welcome or {})
    old_variants = kept.get("variants") or {}
    variants = {}
    for key, text in (("night", night), ("weekend", weekend)):
        part = {k: v for k, v in (old_variants.get(key) or {}).items() if k != "text"}
        if text.strip():
            part["text"] = text
        if part.get("text") or part.get("attachments") or part.get("content_ids"):
            variants[key] = part
    if old_variants.get("day"):
        variants["day"] = old_variants["day"]
    data.welcome = {**kept, "text": welcome_text, "variants": variants}
    data.welcome["content_ids"] = list(content_ids or [])
    if campaign is not None:
        c = {k: v.strip() for k, v in campaign.items()}
        data.campaign = (
            {
                "name": c["name"],
                "welcome": {"text": c["welcome"]},
                "starts_on": c["starts_on"] or None,
                "ends_on": c["ends_on"] or None,
            }
            if c["name"] or c["welcome"]
            else {}
        )
    return data


FormStr = Annotated[str, Form()]
FormIds = Annotated[list[int], Form()]


def _campaign(name: str, text: str, starts: str, ends: str) -> dict[str, str]:
    return {"name": name, "welcome": text, "starts_on": starts, "ends_on": ends}


@router.post("/channels")
def channel_create(
    user: OperatorPage,
    db: DbSession,
    name: FormStr = "",
    group_name: FormStr = "",
    kind: FormStr = "contact_way",
    state: FormStr = "",
    cost: FormStr = "",
    staff_ids: FormIds = [],  # noqa: B006 (FastAPI form default)
    strategy: FormStr = "wecom",
    threshold: FormStr = "90",
    backup_ids: FormIds = [],  # noqa: B006
    tags: FormStr = "",
    welcome_text: FormStr = "",
    night: FormStr = "",
    weekend: FormStr = "",
    chat_ids: FormStr = "",
    skip_verify: Annotated[bool, Form()] = False,
    landing: Annotated[bool, Form()] = False,
    store_ids: FormIds = [],  # noqa: B006
    campaign_name: FormStr = "",
    campaign_welcome: FormStr = "",
    campaign_from: FormStr = "",
    campaign_until: FormStr = "",
    welcome_content_ids: FormIds = [],  # noqa: B006
) -> Response:
    """Create a channel from the form; WeCom's code follows in the background."""
    try:
        data = _input(db, user, name=name, group_name=group_name, kind=kind, state=state, cost=cost,
                      staff_ids=staff_ids, strategy=strategy, threshold=threshold, backup_ids=backup_ids,
                      tags=tags, welcome_text=welcome_text, night=night, weekend=weekend, chat_ids=chat_ids,
                      skip_verify=skip_verify, landing=landing, store_ids=store_ids,
                      campaign=_campaign(campaign_name, campaign_welcome, campaign_from,
                                         campaign_until), content_ids=welcome_content_ids)  # fmt: skip
        ch = svc.create_channel(db, workspace_id=user.workspace_id, data=data, actor=user.actor)
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash("/channels/new", f"无法创建渠道：{exc.message}", "error")
    return redirect_with_flash(f"/channels/{ch.id}", f"已创建渠道「{ch.name}」，正在企业微信生成活码")


@router.get("/channels/stores", response_class=HTMLResponse)
def stores_page(request: Request, user: OperatorPage, db: DbSession) -> HTMLResponse:
    """Stores (门店) that store channels route to: list, add, delete."""
    rows = stores.list_stores(db, workspace_id=user.workspace_id)
    names = {s.id: s.name for s in _staff(db, user.workspace_id)}
    return render(request, "channel_stores.html", {"rows": rows, "names": names,
                                                   "staff": _staff(db, user.workspace_id)})  # fmt: skip


@router.post("/channels/stores")
def store_create(
    user: OperatorPage,
    db: DbSession,
    name: FormStr = "",
    city: FormStr = "",
    address: FormStr = "",
    lat: FormStr = "",
    lng: FormStr = "",
    staff_ids: FormIds = [],  # noqa: B006
) -> Response:
    try:
        coords: dict[str, float | None] = {}
        for key, value in (("lat", lat), ("lng", lng)):
            try:
                coords[key] = float(value) if value.strip() else None
            except ValueError as exc:
                raise Invalid(f"{key} {value!r} 不是数字", field=key) from exc
        st = stores.create_store(
            db,
            workspace_id=user.workspace_id,
            data=stores.StoreInput(
                name=name,
                city=city,
                address=address or None,
                lat=coords["lat"],
                lng=coords["lng"],
                staff_ids=staff_ids,
            ),
            actor=user.actor,
        )
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash("/channels/stores", f"无法添加门店：{exc.message}", "error")
    return redirect_with_flash("/channels/stores", f"已添加门店「{st.name}」")


@router.post("/channels/stores/{store_id}/delete")
def store_delete(store_id: int, user: OperatorPage, db: DbSession) -> Response:
    st = stores.delete_store(db, workspace_id=user.workspace_id, store_id=store_id, actor=user.actor)
    return redirect_with_flash("/channels/stores", f"已删除门店「{st.name}」")


@router.get("/channels/{channel_id}", response_class=HTMLResponse)
def channel_page(request: Request, channel_id: int, user: ConsoleUser, db: DbSession) -> HTMLResponse:
    """One channel: QR preview and downloads, routing now per account, welcome and tags."""
    ch = _visible(db, user, channel_id)
    plan = routing.plan(db, ch) if ch.kind in svc.POOL_KINDS else None
    quota = None
    if ch.kind == "link" and user.role in EDIT_ROLES:
        from siyu.acquisition.sync import workspace_quota

        quota = workspace_quota(db, user.workspace_id)  # paid: shown beside the link
    store_rows = []
    if ch.kind == "store":
        codes = (ch.settings or {}).get("store_codes") or {}
        store_rows = [
            {"store": st, "codes": len(codes.get(str(st.id)) or {})} for st in stores.channel_stores(db, ch)
        ]
    landing = (ch.pool or {}).get("landing") or ch.kind == "store"
    return render(
        request,
        "channel.html",
        {
            "ch": svc.channel_dict(ch),
            "plan": plan,
            "can_edit": user.role in EDIT_ROLES,
            "landing_url": f"/c/{ch.slug}" if landing else None,
            "quota": quota,
            "quota_alert": quota_alert(db, workspace_id=user.workspace_id) if ch.kind == "link" else None,
            "store_rows": store_rows,
            "tag_names": _tag_names(db, user.workspace_id, list(ch.tag_ids or [])),
            "welcome_items": _welcome_items(db, user.workspace_id, ch.welcome or {}),
        },
    )


@router.get("/channels/{channel_id}/edit", response_class=HTMLResponse)
def channel_edit(request: Request, channel_id: int, user: OperatorPage, db: DbSession) -> HTMLResponse:
    ch = svc.get_channel(db, workspace_id=user.workspace_id, channel_id=channel_id)
    return render(request, "channel_form.html", _form_context(db, user, svc.channel_dict(ch)))


@router.post("/channels/{channel_id}")
def channel_update(
    channel_id: int,
    user: OperatorPage,
    db: DbSession,
    name: FormStr = "",
    group_name: FormStr = "",
    state: FormStr = "",
    cost: FormStr = "",
    staff_ids: FormIds = [],  # noqa: B006
    strategy: FormStr = "wecom",
    threshold: FormStr = "90",
    backup_ids: FormIds = [],  # noqa: B006
    tags: Annotated[str | None, Form()] = None,
    tags_shown: Annotated[bool, Form()] = False,
    welcome_text: FormStr = "",
    night: FormStr = "",
    weekend: FormStr = "",
    chat_ids: FormStr = "",
    skip_verify: Annotated[bool, Form()] = False,
    landing: Annotated[bool, Form()] = False,
    store_ids: FormIds = [],  # noqa: B006
    campaign_name: FormStr = "",
    campaign_welcome: FormStr = "",
    campaign_from: FormStr = "",
    campaign_until: FormStr = "",
    welcome_content_ids: FormIds = [],  # noqa: B006
) -> Response:
    """Save the edit form; WeCom's code follows in the background."""
    try:
        current = svc.get_channel(db, workspace_id=user.workspace_id, channel_id=channel_id)
        # The form shows the current tags; a field sent empty (FastAPI reads "" as absent)
        # clears them, a post without the field keeps them.
        if tags is None and tags_shown:
            tags = ""
        data = _input(db, user, name=name, group_name=group_name, kind=None, state=state, cost=cost,
                      staff_ids=staff_ids, strategy=strategy, threshold=threshold, backup_ids=backup_ids,
                      tags=tags, welcome_text=welcome_text, night=night, weekend=weekend, chat_ids=chat_ids,
                      skip_verify=skip_verify, landing=landing,
                      campaign=_campaign(campaign_name, campaign_welcome, campaign_from,
                                         campaign_until), content_ids=welcome_content_ids,
                      current_welcome=current.welcome)  # fmt: skip
        if current.kind not in svc.POOL_KINDS:
            data.pool = None
        if current.kind == "store":
            data.store_ids = store_ids
        svc.update_channel(
            db, workspace_id=user.workspace_id, channel_id=channel_id, data=data, actor=user.actor
        )
    except SiyuError as exc:
        db.rollback()
        return redirect_with_flash(f"/channels/{channel_id}/edit", f"无法保存：{exc.message}", "error")
    return redirect_with_flash(f"/channels/{channel_id}", "已保存，企业微信活码随后更新")


@router.post("/channels/{channel_id}/retry")
def channel_retry(channel_id: int, user: OperatorPage, db: DbSession) -> Response:
    svc.retry_sync(db, workspace_id=user.workspace_id, channel_id=channel_id, actor=user.actor)
    return redirect_with_flash(f"/channels/{channel_id}", "已重新提交同步")


@router.post("/channels/{channel_id}/delete")
def channel_delete(channel_id: int, user: OperatorPage, db: DbSession) -> Response:
    ch = svc.delete_channel(db, workspace_id=user.workspace_id, channel_id=channel_id, actor=user.actor)
    return redirect_with_flash("/channels", f"已删除渠道「{ch.name}」，企业微信中的活码随后删除")
