"""Demo step: the brand's keyword rules, sensitive words, profile fields and scripts.

Idempotent (a second demo run changes nothing); messages already in the workspace are
run through the rules once, so the console's 关键词与预警 page has something to show.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from siyu.automation.content import create_content
from siyu.automation.keywords.alerts import add_words
from siyu.automation.keywords.engine import process_new
from siyu.automation.keywords.rules import RuleInput, create_rule, list_rules
from siyu.customers.fields import define_field
from siyu.kit.db import session_scope
from siyu.models import ContentItem

ACTOR = "demo"
RULES = [
    RuleInput(
        "问发货",
        "contains",
        ["发货", "快递", "物流"],
        reply="亲，下单后 48 小时内发货，发货后会短信通知您～",
        priority=5,
    ),
    RuleInput(
        "售后",
        "regex",
        ["退(款|货)", "订单号?\\s*\\d{10,}", "过敏"],
        tags=["售后"],
        task="处理售后",
        reply="非常抱歉给您带来不便，麻烦发一下订单号，我马上为您处理",
        priority=10,
        stop=True,
    ),
    RuleInput(
        "油皮",
        "contains",
        ["出油", "油皮", "毛孔"],
        tags=["油皮"],
        field_key="skin",
        field_value="油皮",
        cooldown_s=86400,
    ),
    RuleInput("问优惠", "contains", ["优惠", "活动", "便宜"], tags=["价格敏感"], cooldown_s=7 * 86400),
]
SCRIPTS = [
    ("发货说明", "亲，下单后 48 小时内发货，发货后会短信通知您～"),
    ("新客问候", "您好，我是青禾的专属顾问，有任何护肤问题都可以问我哦"),
    ("复购提醒", "您上次买的面霜差不多快用完啦，这周会员价 8 折，需要帮您留一份吗？"),
]


def seed(ctx: Any) -> None:
    assert ctx.workspace_id is not None
    ws = ctx.workspace_id
    with session_scope() as s:
        define_field(s, workspace_id=ws, key="birthday", label="生日", kind="date")
        define_field(
            s,
            workspace_id=ws,
            key="skin",
            label="肤质",
            kind="choice",
            options=["油皮", "干皮", "混合", "敏感"],
        )
        have = {r.name for r in list_rules(s, workspace_id=ws)}
        for rule in RULES:
            if rule.name not in have:
                create_rule(s, workspace_id=ws, data=rule, actor=ACTOR)
        add_words(s, workspace_id=ws, words=["投诉", "12315", "曝光", "差评"], actor=ACTOR)
        titles = set(s.scalars(select(ContentItem.title).where(ContentItem.workspace_id == ws)))
        for title, text in SCRIPTS:
            if title not in titles:
                create_content(
                    s, workspace_id=ws, kind="script", title=title, text=text, folder="话术", actor=ACTOR
                )
    total = 0
    while True:
        with session_scope() as s:
            got = process_new(s, workspace_id=ws)
        total += got["messages"]
        if not got["messages"]:
            break
    ctx.notes.append(f"keyword rules: {len(RULES)} rules, 4 sensitive words; {total:,} messages scanned")
