"""后台任务: the job queue, event subscribers and periodic tasks, for admins (ADR 0006).

Failed jobs show their error and can be retried or cancelled here, as with
``siyu jobs retry/cancel``; the page calls the same commands (``siyu.kit.jobs``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from siyu.kit import audit
from siyu.kit.errors import SiyuError
from siyu.kit.jobs import cancel, counts, list_jobs, retry
from siyu.web.auth import DbSession
from siyu.web.console.deps import AdminPage
from siyu.web.console.render import redirect_with_flash, render

router = APIRouter()

STATUS_LABELS = {
    "queued": "排队中",
    "running": "执行中",
    "done": "已完成",
    "failed": "失败",
    "cancelled": "已取消",
}
KIND_LABELS = {
    "imports.upload": "订单文件导入",
    "segments.recompute": "重算 RFM / 分层 / CLV",
    "wecom.refetch": "企业微信补拉（客户、群、标签）",
    "events.redeliver": "事件重新投递",
    "moments.create": "在企业微信创建朋友圈任务",
    "moments.result": "查询朋友圈任务结果",
    "archive.kf_sync": "拉取微信客服消息",
    "archive.pull": "拉取会话存档",
    "acquisition.channel_sync": "渠道活码同步到企业微信",
    "acquisition.welcome": "补发欢迎语",
    "acquisition.tag_push": "标签推送到企业微信客户",
    "acquisition.corp_tag_push": "企业标签推送到企业微信",
    "staff.transfer": "转接客户与客户群（企业微信）",
    "staff.transfer_result": "查询客户转接结果",
    "automation.sop_steps": "执行到期的 SOP 步骤",
    "keywords.kf_reply": "关键词自动回复（微信客服）",
    "sends.plan": "群发：锁定名单",
    "sends.deliver": "群发：创建企业微信群发",
}
SUBSCRIBER_LABELS = {
    "segments.auto_tag": "自动打标签规则（订单导入后）",
    "wecom.refetch": "企业微信回调后补拉详情",
    "archive.friend_add": "加好友记为互动",
    "acquisition.welcome": "欢迎语补发（回调未发出时）",
    "acquisition.entry": "渠道进客标签（本地与企业微信）",
    "acquisition.tag_push": "客户标签变更推送到企业微信",
    "acquisition.routing": "渠道分流重新计算",
    "acquisition.funnel": "渠道漏斗（加好友、删除与订单后更新）",
    "acquisition.dedup": "矩阵去重（重复添加时提醒员工）",
    "acquisition.leads": "客户公海（加为好友后完成任务）",
    "staff.transfer_fail": "客户转接失败回调（客户拒绝 / 接替成员已满）",
    "automation.sop_enroll": "SOP 计划：按事件加入客户",
    "execution.churn": "流失提醒（客户删除好友）",
    "execution.detect_events": "任务完成识别（朋友圈评论、确认发送）",
    "keywords.staff_deleted": "员工删除客户预警",
}
PERIODIC_LABELS = {
    "wecom.callbacks": "处理待处理的企业微信回调",
    "wecom.reconcile": "企业微信全量对账",
    "wecom.behavior": "同步企业微信联系客户统计",
    "segments.recompute": "每晚重算 RFM、分层与 CLV",
    "moments.track": "朋友圈发表情况与提醒",
    "moments.fetch": "拉取朋友圈点赞和评论",
    "archive.recent_adds": "近两天加好友记为互动",
    "archive.purge": "清除过期的消息内容",
    "archive.kf_poll": "定时拉取微信客服消息",
    "archive.pull_all": "定时拉取会话存档",
    "acquisition.routing": "渠道活码排班与容量分流",
    "acquisition.funnel": "每晚重建渠道漏斗",
    "acquisition.leads": "检查公海客户是否已加为好友",
    "acquisition.lead_reminders": "提醒员工逾期的加好友任务",
    "insights.refresh": "更新经营指标（回复、互动）汇总",
    "insights.pnl_snapshots": "保存利润表月度快照（新进程首次查询更快）",
    "automation.sop_scan": "SOP 计划：按状态加入客户",
    "automation.sop_plan": "SOP 计划：排期到期步骤",
    "execution.morning": "生成每日任务清单",
    "execution.slas": "待回复与新好友问候任务",
    "execution.detect": "识别已完成的任务",
    "execution.escalate": "逾期任务上报组长",
    "keywords.scan": "关键词规则与敏感词扫描新消息",
    "sends.follow": "跟进群发的员工确认与结果",
    "sends.receipts": "拉取员工自建群发（额度计数）",
}


def _schedule_label(schedule: str) -> str:
    if schedule.startswith("every "):
        seconds = int(schedule.removeprefix("every ").removesuffix("s"))
        if seconds >= 3600 and seconds % 3600 == 0:
            return f"每 {seconds // 3600} 小时"
        return f"每 {seconds // 60} 分钟" if seconds >= 60 and seconds % 60 == 0 else f"每 {seconds} 秒"
    return "每天 " + schedule.removeprefix("daily at ")


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(
    request: Request,
    user: AdminPage,
    db: DbSession,
    status: Annotated[str, Query(max_length=16)] = "",
) -> HTMLResponse:
    """Jobs of this workspace (and global ones), newest first; subscribers and periodic tasks."""
    from siyu.worker.outbox import status as subscriber_status
    from siyu.worker.service import periodic_status

    chosen = status if status in STATUS_LABELS else ""
    rows = list_jobs(db, workspace_id=user.workspace_id, status=chosen or None, limit=100)
    context: dict[str, Any] = {
        "rows": rows,
        "status": chosen,
        "counts": counts(db, workspace_id=user.workspace_id),
        "status_labels": STATUS_LABELS,
        "kind_labels": KIND_LABELS,
        "subscribers": [
            {**s, "label": SUBSCRIBER_LABELS.get(s["name"], s["description"] or s["name"])}
            for s in subscriber_status(db)
        ],
        "periodic": [
            {
                **t,
                "label": PERIODIC_LABELS.get(t["name"], t["description"]),
                "when": _schedule_label(t["schedule"]),
            }
            for t in periodic_status(db)
        ],
    }
    return render(request, "jobs.html", context)


def _act(request: Request, user: AdminPage, db: DbSession, job_id: int, action: str) -> Response:
    try:
        job = (retry if action == "retry" else cancel)(db, job_id, workspace_id=user.workspace_id)
    except SiyuError as exc:
        return redirect_with_flash(
            "/jobs", f"任务 #{job_id} 无法{'重试' if action == 'retry' else '取消'}：{exc.message}", "error"
        )
    audit.record(
        db,
        workspace_id=user.workspace_id,
        actor=user.actor,
        action=f"job.{action}",
        target_type="job",
        target_id=str(job_id),
        detail={"kind": job.kind},
    )
    done = "已重新排队" if action == "retry" else "已取消"
    return redirect_with_flash("/jobs", f"任务 #{job_id} {done}。")


@router.post("/jobs/{job_id}/retry")
def jobs_retry(
    request: Request,
    job_id: int,
    user: AdminPage,
    db: DbSession,
) -> Response:
    """Queue a failed or cancelled job again."""
    return _act(request, user, db, job_id, "retry")


@router.post("/jobs/{job_id}/cancel")
def jobs_cancel(
    request: Request,
    job_id: int,
    user: AdminPage,
    db: DbSession,
) -> Response:
    """Cancel a queued or failed job."""
    return _act(request, user, db, job_id, "cancel")
