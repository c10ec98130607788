"""``siyu wecom doctor``: check what silently breaks an SCRM, and name the admin page that fixes it.

Each check answers ``ok``, ``warn``, ``fail`` or ``skip`` (not configured, so not
checked) with the details and, when it is not ok, the WeCom admin console page
(管理后台) that fixes it:

- ``config``: the corp id and secret are set;
- ``token``: ``gettoken`` accepts them (40001 wrong secret, 40013 wrong corp id);
- ``contact_api``: the customer-contact API family answers with this secret
  (48002: the app is not listed under 客户联系「可调用接口的应用」— corps created since
  December 2023 cannot use the 客户联系 system secret at all; 60020: the server's IP is
  not on the app's trusted IPs);
- ``directory_api``: ``user/get`` answers for a staff account (60011: the app's visible
  range does not include them);
- ``pool_members``: every active staff account (and every userid in a channel's pool)
  is in ``get_follow_user_list`` (the customer-contact permission);
- ``callback``: Token and EncodingAESKey are set and round-trip through the URL check
  WeCom makes, and callbacks have arrived lately;
- ``welcome_code``: recent adds through a live code carried a ``WelcomeCode`` (WeCom
  withholds it when a welcome is set in its admin console for that member);
- ``sidebar`` and ``archive``: the sidebar's trusted domain (with its verification
  file) and the conversation archive's secret and private keys, from their settings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.kit.timeutil import utcnow
from siyu.models import Channel, Event, Staff, WeComCallback, Workspace

STATUSES = ("ok", "warn", "fail", "skip")
PAGES = {
    "secret": "管理后台 → 应用管理 → 自建应用 → （你的应用）→ Secret「查看」",
    "corp_id": "管理后台 → 我的企业 → 企业信息 → 企业ID",
    "contact_apps": "管理后台 → 客户与上下游 → 客户联系 → API →「可调用接口的应用」（把自建应用加进来）",
    "trusted_ip": "管理后台 → 应用管理 → 自建应用 → （你的应用）→ 企业可信IP",
    "visible_range": "管理后台 → 应用管理 → 自建应用 → （你的应用）→ 可见范围",
    "contact_permission": "管理后台 → 客户与上下游 → 客户联系 → 权限配置 →「使用范围」（加入这些成员）",
    "callback": "管理后台 → 客户与上下游 → 客户联系 → API →「接收事件服务器」（URL、Token、EncodingAESKey）",
    "welcome": "管理后台 → 客户与上下游 → 客户联系 → 欢迎语（删除这些成员的后台欢迎语，改由 siyu 发送）",
    "sidebar": (
        "管理后台 → 应用管理 → 自建应用 → （你的应用）→ 网页授权及JS-SDK → 可信域名（上传 WW_verify_*.txt）"
    ),
    "archive": "管理后台 → 管理工具 → 会话内容存档 → Secret 与消息加密公钥",
}
SIDEBAR_DOMAIN = "SIYU_SIDEBAR_DOMAIN"
SIDEBAR_VERIFY = "SIYU_SIDEBAR_VERIFY_FILE"
ARCHIVE_SECRET = "SIYU_ARCHIVE_SECRET"  # noqa: S105  (the name of a variable, not a secret)
ARCHIVE_KEYS = "SIYU_ARCHIVE_PRIVATE_KEYS"
QUIET_DAYS = 7


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str
    fix: str | None = None
    items: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "fix": self.fix,
            "items": list(self.items),
        }


def _api_failure(exc: Exception, family: str) -> Check:
    from siyu.wecom.errors import InvalidCorpId, InvalidCredential, IPNotTrusted, NoPermission, WeComError

    code = getattr(exc, "errcode", None)
    if isinstance(exc, InvalidCredential):
        return Check(family, "fail", f"WeCom refused the secret (errcode {code})", PAGES["secret"])
    if isinstance(exc, InvalidCorpId):
        return Check(family, "fail", f"WeCom does not know the corp id (errcode {code})", PAGES["corp_id"])
    if isinstance(exc, IPNotTrusted):
        return Check(
            family,
            "fail",
            f"this server's IP is not a trusted IP of the app (errcode {code})",
            PAGES["trusted_ip"],
        )
    if isinstance(exc, NoPermission):
        if family == "directory_api":
            return Check(
                family, "fail", f"the app may not read this member (errcode {code})", PAGES["visible_range"]
            )
        return Check(
            family,
            "fail",
            f"this secret may not call the customer-contact API (errcode {code}): use a self-built app's "
            "secret and list the app under 客户联系「可调用接口的应用」(corps created since December 2023 "
            "cannot use the 客户联系 system secret)",
            PAGES["contact_apps"],
        )
    if isinstance(exc, WeComError):
        return Check(family, "fail", str(exc))
    return Check(family, "fail", f"{type(exc).__name__}: {exc}")


def _pool_userids(session: Session, workspace_id: int) -> set[str]:
    """Userids of every account in live channels' pools (members, schedules, backups)."""
    from siyu.acquisition.channels import pool_staff_ids

    ids: set[int] = set()
    for channel in session.scalars(
        select(Channel).where(Channel.workspace_id == workspace_id, Channel.deleted_at.is_(None))
    ):
        ids.update(int(i) for i in pool_staff_ids(channel))
    if not ids:
        return set()
    return set(
        session.scalars(select(Staff.userid).where(Staff.workspace_id == workspace_id, Staff.id.in_(ids)))
    )


def run_checks(session: Session, workspace: Workspace, client: Any | None = None) -> list[Check]:
    """Every check, in order; ``client`` (a ``WeComClient``) defaults to the workspace's app."""
    from siyu.wecom.client import WeComClient
    from siyu.wecom.settings import resolve_app

    app = resolve_app(session, workspace)
    checks: list[Check] = []
    if not (app.corp_id and app.secret):
        checks.append(
            Check(
                "config",
                "fail",
                "no corp id or secret: run `siyu wecom setup` or set SIYU_WECOM_*",
                PAGES["secret"],
            )
        )
        return [*checks, *_local_checks(session, workspace, app)]
    checks.append(Check("config", "ok", f"corp {app.corp_id}, API {app.api_base}"))
    own = client is None
    api = client or WeComClient(corp_id=app.corp_id, secret=app.secret, api_base=app.api_base)
    try:
        try:
            api.access_token()
            checks.append(Check("token", "ok", "gettoken accepts the corp id and secret"))
        except Exception as exc:  # every failure is reported, never raised
            checks.append(_api_failure(exc, "token"))
            return [*checks, *_local_checks(session, workspace, app)]
        members: list[str] | None = None
        try:
            members = api.get_follow_user_list()
            checks.append(
                Check(
                    "contact_api", "ok", f"get_follow_user_list: {len(members)} members may serve customers"
                )
            )
        except Exception as exc:
            checks.append(_api_failure(exc, "contact_api"))
        staff = list(
            session.scalars(
                select(Staff)
                .where(Staff.workspace_id == workspace.id, Staff.status == "active")
                .order_by(Staff.id)
            )
        )
        if staff:
            try:
                api.get_user(staff[0].userid)
                checks.append(Check("directory_api", "ok", f"user/get answers for {staff[0].userid}"))
            except Exception as exc:
                checks.append(_api_failure(exc, "directory_api"))
        else:
            checks.append(Check("directory_api", "skip", "no staff account yet (run `siyu wecom sync`)"))
        if members is not None:
            wanted = {s.userid for s in staff} | _pool_userids(session, workspace.id)
            missing = sorted(wanted - set(members))
            if missing:
                checks.append(
                    Check(
                        "pool_members",
                        "warn",
                        f"{len(missing)} account(s) lack the customer-contact permission: customers "
                        "cannot add them through live codes",
                        PAGES["contact_permission"],
                        tuple(missing),
                    )
                )
            else:
                checks.append(Check("pool_members", "ok", f"all {len(wanted)} accounts have the permission"))
        else:
            checks.append(Check("pool_members", "skip", "the customer-contact API did not answer"))
    finally:
        if own:
            api.close()
    return [*checks, *_local_checks(session, workspace, app)]


def _local_checks(session: Session, workspace: Workspace, app: Any) -> list[Check]:
    out: list[Check] = []
    if not app.has_callback:
        out.append(
            Check(
                "callback",
                "fail",
                "no callback Token / EncodingAESKey: siyu hears of no add or delete",
                PAGES["callback"],
            )
        )
    else:
        try:
            crypto = app.crypto()
            echo = crypto.encrypt_message("siyu-doctor")
            from siyu.wecom.crypto import sign

            ts, nonce = str(int(utcnow().timestamp())), "doctor"
            plain = crypto.verify_url(sign(app.token, ts, nonce, echo), ts, nonce, echo)
            assert plain == "siyu-doctor"
            last = session.scalar(
                select(func.max(WeComCallback.received_at)).where(WeComCallback.workspace_id == workspace.id)
            )
            if last is None:
                out.append(
                    Check(
                        "callback",
                        "warn",
                        "Token and key are valid, but no callback has arrived yet: "
                        "is the URL saved and verified in WeCom?",
                        PAGES["callback"],
                    )
                )
            elif last < utcnow() - timedelta(days=QUIET_DAYS):
                out.append(
                    Check(
                        "callback",
                        "warn",
                        f"no callback for {QUIET_DAYS}+ days (last {last:%Y-%m-%d})",
                        PAGES["callback"],
                    )
                )
            else:
                out.append(
                    Check("callback", "ok", f"URL check round-trips; last callback {last:%Y-%m-%d %H:%M} UTC")
                )
        except Exception as exc:
            out.append(
                Check("callback", "fail", f"the Token / EncodingAESKey do not work: {exc}", PAGES["callback"])
            )
    since = utcnow() - timedelta(days=QUIET_DAYS)
    adds = list(
        session.scalars(
            select(Event.payload).where(
                Event.workspace_id == workspace.id, Event.kind == "friend.add", Event.occurred_at >= since
            )
        )
    )
    coded = [p for p in adds if (p or {}).get("state") and not (p or {}).get("half")]
    without = [p for p in coded if not p.get("welcome_code")]
    if not coded:
        out.append(Check("welcome_code", "skip", "no add through a live code in the last 7 days"))
    elif without:
        users = tuple(sorted({str(p.get("userid")) for p in without if p.get("userid")}))
        out.append(
            Check(
                "welcome_code",
                "warn",
                f"{len(without)} of {len(coded)} adds through a live code came "
                "without a WelcomeCode: a welcome set in the admin console (or another app) takes it",
                PAGES["welcome"],
                users,
            )
        )
    else:
        out.append(
            Check("welcome_code", "ok", f"all {len(coded)} adds through live codes carried a WelcomeCode")
        )
    domain, verify = os.environ.get(SIDEBAR_DOMAIN, ""), os.environ.get(SIDEBAR_VERIFY, "")
    if not domain:
        out.append(Check("sidebar", "skip", f"no sidebar domain set ({SIDEBAR_DOMAIN})", PAGES["sidebar"]))
    elif not verify or not os.path.isfile(verify) or not os.path.basename(verify).startswith("WW_verify_"):
        out.append(
            Check(
                "sidebar",
                "fail",
                f"the trusted domain {domain} needs WeCom's WW_verify_*.txt served "
                f"at its root ({SIDEBAR_VERIFY})",
                PAGES["sidebar"],
            )
        )
    else:
        out.append(Check("sidebar", "ok", f"{domain} with {os.path.basename(verify)}"))
    secret, keys = os.environ.get(ARCHIVE_SECRET, ""), os.environ.get(ARCHIVE_KEYS, "")
    if not secret and not keys:
        out.append(Check("archive", "skip", "conversation archive not set up", PAGES["archive"]))
    elif not secret or not keys:
        missing = ARCHIVE_SECRET if not secret else ARCHIVE_KEYS
        out.append(
            Check(
                "archive",
                "fail",
                f"the archive needs both its secret and private keys ({missing} missing)",
                PAGES["archive"],
            )
        )
    else:
        bad = [p for p in keys.split(",") if not os.path.isfile(p.split("=", 1)[-1])]
        if bad:
            out.append(
                Check("archive", "fail", f"private key file(s) not found: {', '.join(bad)}", PAGES["archive"])
            )
        else:
            out.append(Check("archive", "ok", f"secret and {len(keys.split(','))} private key(s) set"))
    return out


def summary(checks: list[Check]) -> str:
    worst = "ok"
    for c in checks:
        if c.status == "fail":
            return "fail"
        if c.status == "warn":
            worst = "warn"
    return worst
