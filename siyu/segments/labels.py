"""Chinese names of the stored layer and RFM codes (METRICS.md), for people-facing output."""

from __future__ import annotations

LAYER_NAMES = {
    "high_value": "高价值",
    "potential": "潜力",
    "silent": "沉默",
    "svip": "SVIP",
    "vip": "VIP",
    "regular": "普通",
    "new": "新客",
    "old": "老客",
    "lead": "线索",
    "friend": "好友",
    "first_purchase": "首购",
    "repeat": "复购",
    "advocate": "推荐官",
}
RFM_NAMES = {
    "champions": "冠军客户",
    "loyal": "忠诚客户",
    "potential_loyalists": "潜在忠诚",
    "new": "新客户",
    "promising": "有希望",
    "need_attention": "需关注",
    "about_to_sleep": "即将沉睡",
    "at_risk": "有流失风险",
    "cant_lose": "不能失去",
    "hibernating": "沉睡客户",
}
