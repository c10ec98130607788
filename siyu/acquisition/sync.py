"""Keeping a channel's WeCom code in step with its row (the ``acquisition.channel_sync`` job).

A live code (``contact_way``) is made with ``add_contact_way`` (type 1 when the pool
can only ever hold one account, else type 2, since a code's type cannot change), its
members then kept current with ``update_contact_way`` from the routing plan, and it is
removed with ``del_contact_way``. A channel whose dedup policy is ``route_back``
carries WeCom's ``is_exclusive`` (a customer already served by one of the brand's
accounts is routed to that account); changing the policy re-syncs the code. A group
code (``join_way``) goes through ``groupchat/add_join_way`` / ``update_join_way`` /
``del_join_way`` (up to 5 groups; WeCom moves joiners to the next group when one
fills) and its QR URL comes from ``get_join_way``. With ``pool.landing`` each pool account also gets its own
single-person code, shown by the ``/c/{slug}`` page. Every ``config_id`` is stored on
the row: WeCom cannot list codes made through the API.

A WeCom refusal is recorded on the channel in plain words (``sync_status`` ``error``,
``sync_error``) and the job ends; the operator fixes the cause and retries
(``siyu channels retry``). A network failure is recorded too and raised, so the job
queue retries it.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy.orm import Session

from siyu.acquisition import routing
from siyu.acquisition.channels import link_url, pool_staff_ids
from siyu.acquisition.dedup import exclusive
from siyu.kit.errors import NotFound
from siyu.kit.timeutil import utcnow
from siyu.models import Channel
from siyu.wecom.errors import WeComAPIError, WeComError, WeComNetworkError
from siyu.wecom.schemas import ContactWayRequest, JoinWayRequest, Response, UpdateContactWayRequest

EC = "externalcontact"

# errcode → what an operator reads on the channel (zh-CN, the console's language)
PLAIN: dict[int, str] = {
    41062: "企业的「联系我」与加群二维码已达 50 万个上限（两者共用），请先删除不用的渠道码",
    41054: "员工的客户数已达上限，无法再添加客户；请扩容或从池中移除该员工",
    48002: (
        "应用没有客户联系接口权限：请使用在「客户联系 → 可调用接口的应用」中列出的自建应用 Secret"
        "（2023 年 12 月后创建的企业不能使用「客户联系」Secret）"
    ),
    48001: "应用没有调用该接口的权限：请在企业微信管理后台为应用开通客户联系权限",
    60011: "员工不在应用可见范围或没有客户联系权限：请在「客户联系 → 权限配置」中添加",
    60020: "调用 IP 不在应用的企业可信 IP 中：请在应用详情页「企业可信IP」添加服务器 IP",
    60111: "员工账号在企业微信中不存在（可能已离职）",
    40058: "企业微信拒绝了参数",
    41044: "企业微信中找不到这个渠道码（可能已在别处删除）；重试会重新创建",
    90207: "群聊不存在或已解散",
}


# errcodes with which WeCom says a link is not there (deleted in its admin console)
LINK_GONE = (40058, 41044)


class JoinWayResponse(Response):
    join_way: dict[str, Any] = Field(default_factory=dict)


class ConfigIdResponse(Response):
    config_id: str


def plain_error(exc: WeComError) -> str:
    """A WeCom failure in words an operator can act on, with WeCom's own message."""
    if isinstance(exc, WeComNetworkError):
        return f"无法连接企业微信，稍后自动重试（{exc.message}）"[:500]
    words = PLAIN.get(exc.errcode or 0, "企业微信拒绝了请求")
    return f"{words}（errcode {exc.errcode}: {exc.message}）"[:500]


def _settings(channel: Channel, **changes: Any) -> None:
    channel.settings = {**(channel.settings or {}), **changes}


def sync_channel(session: Session, channel: Channel, gateway: Any) -> dict[str, Any]:
    """Bring the channel's WeCom code(s) in step with the row; what was done."""
    try:
        if channel.deleted_at is not None:
            done = _delete(channel, gateway)
        elif channel.kind == "join_way":
            done = _join_way(channel, gateway)
        elif channel.kind == "link":
            done = _link(session, channel, gateway)
        elif channel.kind == "store":
            from siyu.acquisition.stores import sync_store_codes

            done = sync_store_codes(session, channel, gateway)
        else:
            done = _contact_way(session, channel, gateway)
    except WeComAPIError as exc:
        channel.sync_status = "error"
        channel.sync_error = plain_error(exc)
        return {"channel_id": channel.id, "error": channel.sync_error}
    except WeComNetworkError as exc:
        channel.sync_status = "error"
        channel.sync_error = plain_error(exc)
        raise
    if done.get("no_staff"):
        channel.sync_status = "error"
        channel.sync_error = (
            "池中没有可用账号（均已满员、达到日上限、不在排班或已停用）；请扩容或添加备用员工"
        )
    else:
        channel.sync_status = "deleted" if channel.deleted_at is not None else "ok"
        channel.sync_error = None
    _settings(channel, synced_at=utcnow().isoformat())
    return {"channel_id": channel.id, **done}


def _contact_way(session: Session, channel: Channel, gateway: Any) -> dict[str, Any]:
    p = routing.plan(session, channel)
    members = p.userids
    done: dict[str, Any] = {}
    if not members:
        done["no_staff"] = True
        return done
    current = list((channel.settings or {}).get("members") or [])
    if channel.config_id is None:
        single = len(pool_staff_ids(channel)) == 1
        resp = gateway.add_contact_way(
            ContactWayRequest(
                type=1 if single else 2,
                scene=2,
                remark=channel.name[:30],
                skip_verify=channel.skip_verify,
                state=channel.state,
                user=members,
                is_exclusive=exclusive(channel),
            )
        )
        channel.config_id = resp.config_id
        channel.qr_url = resp.qr_code
        done["created"] = resp.config_id
    else:
        try:
            gateway.update_contact_way(
                UpdateContactWayRequest(
                    config_id=channel.config_id,
                    remark=channel.name[:30],
                    skip_verify=channel.skip_verify,
                    state=channel.state,
                    user=members,
                    is_exclusive=exclusive(channel),
                )
            )
        except WeComAPIError as exc:
            if exc.errcode != 41044:
                raise
            channel.config_id = None  # gone from WeCom: make it again
            return _contact_way(session, channel, gateway)
        if members != current:
            done["members_changed"] = {"from": current, "to": members}
    _settings(channel, members=members, used_backup=p.used_backup)
    if (channel.pool or {}).get("landing"):
        done["landing_codes"] = _landing_codes(session, channel, gateway)
    return done


def _landing_codes(session: Session, channel: Channel, gateway: Any) -> int:
    """One single-person code per pool account (same state), for the landing page."""
    codes: dict[str, Any] = dict((channel.settings or {}).get("staff_codes") or {})
    staff = routing.staff_by_ids(session, channel.workspace_id, pool_staff_ids(channel))
    made = 0
    for gone in [k for k in codes if int(k) not in staff]:  # left the pool: its code goes
        try:
            gateway.del_contact_way(codes[gone]["config_id"])
        except WeComAPIError as exc:
            if exc.errcode != 41044:
                raise
        del codes[gone]
    for sid, s in staff.items():
        if str(sid) in codes or s.status != "active":
            continue
        resp = gateway.add_contact_way(
            ContactWayRequest(
                type=1,
                scene=2,
                remark=channel.name[:30],
                skip_verify=channel.skip_verify,
                state=channel.state,
                user=[s.userid],
                is_exclusive=exclusive(channel),
            )
        )
        codes[str(sid)] = {"config_id": resp.config_id, "qr_code": resp.qr_code, "userid": s.userid}
        made += 1
    _settings(channel, staff_codes=codes)
    return made


class LinkResponse(Response):
    link: dict[str, Any] = Field(default_factory=dict)


class QuotaResponse(Response):
    total: int = 0
    balance: int = 0
    quota_list: list[dict[str, Any]] = Field(default_factory=list)


def _link(session: Session, channel: Channel, gateway: Any) -> dict[str, Any]:
    """A 获客助手 link: ``create_link`` once, then ``update_link`` with the routed members."""
    p = routing.plan(session, channel)
    members = p.userids
    if not members:
        return {"no_staff": True}
    body: dict[str, Any] = {
        "link_name": channel.name[:30],
        "range": {"user_list": members, "department_list": []},
        "skip_verify": channel.skip_verify,
    }
    done: dict[str, Any] = {}
    current = list((channel.settings or {}).get("members") or [])
    if channel.config_id is None:
        resp = gateway.call(f"{EC}/customer_acquisition/create_link", LinkResponse, body=body)
        channel.config_id = str(resp.link.get("link_id") or "")
        _settings(channel, wecom_url=resp.link.get("url"))
        done["created"] = channel.config_id
    else:
        try:
            gateway.call(
                f"{EC}/customer_acquisition/update_link",
                Response,
                body={"link_id": channel.config_id, **body},
            )
        except WeComAPIError as exc:
            if exc.errcode not in LINK_GONE or _link_exists(channel.config_id, gateway):
                raise
            channel.config_id = None  # deleted in WeCom's admin console: make it again
            return _link(session, channel, gateway)
        if members != current:
            done["members_changed"] = {"from": current, "to": members}
    base = (channel.settings or {}).get("wecom_url")
    if base:
        channel.link_url = link_url(channel, str(base))
        channel.qr_url = channel.link_url  # a QR of the link, for print
    _settings(channel, members=members, used_backup=p.used_backup)
    return done


def _link_exists(link_id: str, gateway: Any) -> bool:
    try:
        gateway.call(f"{EC}/customer_acquisition/get", LinkResponse, body={"link_id": link_id})
    except WeComAPIError as exc:
        if exc.errcode in LINK_GONE:
            return False
        raise
    return True


def acquisition_quota(gateway: Any) -> dict[str, Any]:
    """The corp's 获客助手 quota (a paid WeCom package): ``total``, ``balance``, expiring lots."""
    resp = gateway.call(f"{EC}/customer_acquisition_quota", QuotaResponse, method="GET")
    return {"total": resp.total, "balance": resp.balance, "quota_list": resp.quota_list}


def _join_way(channel: Channel, gateway: Any) -> dict[str, Any]:
    chats = list((channel.settings or {}).get("chat_ids") or [])
    done: dict[str, Any] = {}
    if channel.config_id is None:
        req = JoinWayRequest(scene=2, remark=channel.name[:30], chat_id_list=chats, state=channel.state)
        channel.config_id = gateway.add_join_way(req)
        done["created"] = channel.config_id
    else:
        body = {"config_id": channel.config_id, "scene": 2, "remark": channel.name[:30],
                "chat_id_list": chats, "state": channel.state}  # fmt: skip
        gateway.call(f"{EC}/groupchat/update_join_way", Response, body=body)
    got = gateway.call(f"{EC}/groupchat/get_join_way", JoinWayResponse, body={"config_id": channel.config_id})
    channel.qr_url = got.join_way.get("qr_code") or channel.qr_url
    return done


def _delete(channel: Channel, gateway: Any) -> dict[str, Any]:
    removed = 0
    if channel.config_id:
        try:
            if channel.kind == "link":
                try:
                    gateway.call(
                        f"{EC}/customer_acquisition/delete_link",
                        Response,
                        body={"link_id": channel.config_id},
                    )
                except WeComAPIError as exc:
                    if exc.errcode not in LINK_GONE:
                        raise
            elif channel.kind == "join_way":
                gateway.call(f"{EC}/groupchat/del_join_way", Response, body={"config_id": channel.config_id})
            else:
                gateway.del_contact_way(channel.config_id)
            removed += 1
        except WeComAPIError as exc:
            if exc.errcode != 41044:  # already gone: fine
                raise
    codes = list(((channel.settings or {}).get("staff_codes") or {}).values())
    for per_store in ((channel.settings or {}).get("store_codes") or {}).values():
        codes.extend(per_store.values())
    for code in codes:
        try:
            gateway.del_contact_way(code["config_id"])
            removed += 1
        except WeComAPIError as exc:
            if exc.errcode != 41044:
                raise
    _settings(channel, staff_codes={}, store_codes={}, members=[])
    return {"deleted_codes": removed}


def workspace_quota(session: Session, workspace_id: int) -> dict[str, Any]:
    """The 获客助手 quota of the workspace's corp, or ``error`` in plain words (never raises
    for WeCom's answers: the channel page shows it beside the link); ``alert``: the
    latest low / exhausted callback WeCom sent (``siyu.acquisition.quota``), or None."""
    from siyu.acquisition.quota import quota_alert

    out = _quota_now(session, workspace_id)
    out["alert"] = quota_alert(session, workspace_id=workspace_id)
    return out


def _quota_now(session: Session, workspace_id: int) -> dict[str, Any]:
    from siyu.models import Workspace
    from siyu.wecom.gateway import client_for

    ws = session.get(Workspace, workspace_id)
    if ws is None:
        return {"error": "工作区不存在"}
    try:
        client = client_for(session, ws)
    except (NotFound, WeComError):
        return {"error": "工作区尚未配置企业微信应用，无法读取获客助手使用量"}
    try:
        return acquisition_quota(client)
    except WeComError as exc:
        return {"error": plain_error(exc)}
    finally:
        client.close()
