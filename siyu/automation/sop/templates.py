"""Plans from practice, ready to copy: a new draft from a template is checked like any plan."""

from __future__ import annotations

from typing import Any

TEMPLATES: dict[str, dict[str, Any]] = {
    "onboarding": {
        "name": "新好友承接",
        "description": "加好友后 7 天：欢迎、品牌故事、新人券提醒，下单或退订即退出。",
        "trigger": {"kind": "friend_added"},
        "steps": [
            {
                "day": 0,
                "delay_minutes": 10,
                "action": "task",
                "title": "发送欢迎语和新人礼",
                "due_hours": 2,
                "body": "您好呀，我是您的专属顾问～新人礼已经放到您的账户里啦，有任何问题随时找我。",
            },
            {
                "day": 1,
                "at": "20:00",
                "action": "task",
                "title": "介绍品牌故事和爆品",
                "body": "和您分享一下我们家的招牌产品，很多老顾客都在回购～",
            },
            {
                "day": 3,
                "at": "20:00",
                "action": "task",
                "title": "提醒新人券快到期",
                "body": "您的新人券还有 3 天到期，别错过哦～",
            },
            {"day": 7, "at": "10:00", "action": "tag", "title": "标记培育完成", "add_tags": ["新客培育完成"]},
        ],
        "exits": [{"kind": "bought"}, {"kind": "opted_out"}, {"kind": "left"}],
    },
    "post_purchase": {
        "name": "购后关怀",
        "description": "首单后：使用指导、回访感受、复购提醒。",
        "trigger": {"kind": "first_order"},
        "steps": [
            {
                "day": 1,
                "at": "20:00",
                "action": "task",
                "title": "发送使用指导",
                "body": "您的宝贝快到啦，这是使用小贴士，有问题随时问我～",
            },
            {
                "day": 7,
                "at": "20:00",
                "action": "task",
                "title": "回访使用感受",
                "body": "用了一周感觉怎么样呀？",
            },
            {
                "day": 30,
                "at": "20:00",
                "action": "task",
                "title": "复购提醒",
                "body": "差不多该补货啦，老客专享价给您留着～",
            },
        ],
        "exits": [{"kind": "opted_out"}, {"kind": "left"}],
    },
    "wakeup": {
        "name": "沉默唤醒",
        "description": "90 天没下单：回归券和提醒，下单或回复即退出。",
        "trigger": {"kind": "inactive", "what": "order", "days": 90},
        "steps": [
            {
                "day": 0,
                "at": "20:00",
                "action": "task",
                "title": "发送专属回归券",
                "body": "好久不见～给您准备了一张老客回归券，7 天内有效。",
            },
            {"day": 3, "at": "20:00", "action": "task", "title": "再提醒一次回归券"},
        ],
        "exits": [{"kind": "bought"}, {"kind": "replied"}, {"kind": "opted_out"}, {"kind": "left"}],
    },
    "svip": {
        "name": "SVIP 关怀",
        "description": "成为 SVIP：一对一问候、打标签、每月关怀。",
        "trigger": {"kind": "layer_changed", "field": "layer_tier", "to": "svip"},
        "steps": [
            {
                "day": 0,
                "at": "11:00",
                "action": "task",
                "title": "一对一专属问候",
                "priority": 1,
                "body": "恭喜您成为我们的 SVIP 会员，专属权益已开通，我是您的专属顾问～",
            },
            {"day": 0, "at": "11:00", "action": "tag", "title": "打上 SVIP 标签", "add_tags": ["SVIP"]},
            {"day": 30, "at": "11:00", "action": "task", "title": "月度关怀", "priority": 1},
        ],
        "exits": [{"kind": "opted_out"}, {"kind": "left"}],
    },
    "group_onboarding": {
        "name": "社群新人承接",
        "description": "入群后：群内欢迎、一天内加为好友。",
        "trigger": {"kind": "joined_group"},
        "steps": [
            {
                "day": 0,
                "delay_minutes": 5,
                "action": "group_message",
                "title": "群内 @ 新人欢迎",
                "body": "欢迎新朋友～群公告里有新人福利，记得领取哦！",
            },
            {"day": 1, "at": "10:00", "action": "task", "title": "加新人为好友"},
        ],
        "exits": [{"kind": "left"}, {"kind": "opted_out"}],
    },
    "group_launch": {
        "name": "新群承接",
        "subject": "group",
        "description": "新建客户群后：群规和欢迎、置顶公告和入群福利、第 3 天福利提醒，群解散即结束。",
        "trigger": {"kind": "group_created"},
        "steps": [
            {
                "day": 0,
                "delay_minutes": 10,
                "action": "group_message",
                "title": "发送群规和欢迎语",
                "body": "欢迎大家加入～本群每周分享新品和专属福利，请勿发广告，有问题随时 @ 群主。",
            },
            {"day": 1, "at": "10:00", "action": "task", "title": "置顶群公告、发布入群福利"},
            {
                "day": 3,
                "at": "20:00",
                "action": "group_message",
                "title": "提醒领取入群福利",
                "body": "入群福利还没领的朋友抓紧啦，本周日 24 点截止～",
            },
        ],
        "exits": [{"kind": "dismissed"}],
    },
}


def template(name: str) -> dict[str, Any]:
    from siyu.kit.errors import Invalid

    if name not in TEMPLATES:
        raise Invalid(f"template is one of {', '.join(TEMPLATES)}", field="template")
    return {**TEMPLATES[name], "template": name}
