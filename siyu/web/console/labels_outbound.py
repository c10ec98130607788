"""zh-CN words for the codes of mass sends and the content library (merged into ``labels.KINDS``)."""

from __future__ import annotations

SEND_STATUS = {
    "draft": "草稿",
    "pending_approval": "待审批",
    "scheduled": "已排期",
    "planned": "已锁定名单",
    "delivering": "创建群发中",
    "waiting": "等待员工确认",
    "settled": "已完成",
    "cancelled": "已取消",
    "failed": "失败",
}
SEND_KIND = {"customer": "客户群发", "group": "客户群群发"}
BATCH_STATE = {
    "planned": "待创建",
    "calling": "创建中",
    "created": "待员工确认",
    "sent": "已发送",
    "cancelled": "已取消",
    "failed": "失败",
}
RECIPIENT_STATUS = {
    "pending": "待发送",
    "sent": "已送达",
    "not_friend": "非好友",
    "quota": "超出企微额度",
    "unconfirmed": "员工未确认",
    "cancelled": "已取消",
    "failed": "失败",
}
REMOVAL_REASON = {
    "opt_out": "已退订",
    "no_friend": "不是好友",
    "freq_cap": "超出品牌频次上限",
    "wecom_quota": "超出企微群发额度",
}
CONTENT_KIND = {
    "text": "文本",
    "image": "图片",
    "link": "链接",
    "miniprogram": "小程序",
    "video": "视频",
    "file": "文件",
    "script": "话术",
}
KINDS = {
    "send_status": SEND_STATUS,
    "send_kind": SEND_KIND,
    "batch_state": BATCH_STATE,
    "recipient_status": RECIPIENT_STATUS,
    "removal_reason": REMOVAL_REASON,
    "content_kind": CONTENT_KIND,
}
UNKNOWN = dict.fromkeys(KINDS, "其他")
AUDIT_ACTION = {"send.create": "新建群发", "send.approve": "审批群发", "send.cancel": "取消群发"}
TARGET_TYPE = {"send": "群发"}
DETAIL_KEY = {"title": "标题", "live_count": "当前人数", "status": "状态"}
