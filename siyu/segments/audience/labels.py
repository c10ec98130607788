"""The labels the ``layer:``, ``rfm:`` and ``rfm8:`` terms accept, with the Chinese
names operators use (METRICS.md); ``builtin_terms.py`` declares the terms.
"""

from __future__ import annotations

# layer value -> (customer_scores column, stored value)
LAYERS: dict[str, tuple[str, str]] = {
    "new": ("layer_age", "new"),
    "old": ("layer_age", "old"),
    "svip": ("layer_tier", "svip"),
    "vip": ("layer_tier", "vip"),
    "regular": ("layer_tier", "regular"),
    "high_value": ("layer_value", "high_value"),
    "potential": ("layer_value", "potential"),
    "silent": ("layer_value", "silent"),
    "lead": ("lifecycle", "lead"),
    "friend": ("lifecycle", "friend"),
    "first_purchase": ("lifecycle", "first_purchase"),
    "repeat": ("lifecycle", "repeat"),
    "advocate": ("lifecycle", "advocate"),
}
LAYER_ALIASES: dict[str, str] = {
    "新客": "new",
    "新客户": "new",
    "老客": "old",
    "老客户": "old",
    "超级vip": "svip",
    "会员": "vip",
    "普通": "regular",
    "普通客户": "regular",
    "高价值": "high_value",
    "high-value": "high_value",
    "潜力": "potential",
    "潜力客户": "potential",
    "沉默": "silent",
    "沉默客户": "silent",
    "线索": "lead",
    "潜客": "lead",
    "好友": "friend",
    "首购": "first_purchase",
    "first-purchase": "first_purchase",
    "复购": "repeat",
    "推荐官": "advocate",
    "传播者": "advocate",
}

# R×F grid labels (METRICS.md), with the Chinese names operators use.
RFM_SEGMENTS = (
    "champions",
    "loyal",
    "potential_loyalists",
    "new",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose",
    "hibernating",
)
RFM_ALIASES: dict[str, str] = {
    "冠军": "champions",
    "忠诚": "loyal",
    "潜在忠诚": "potential_loyalists",
    "新客": "new",
    "有希望": "promising",
    "需关注": "need_attention",
    "即将沉睡": "about_to_sleep",
    "有风险": "at_risk",
    "不能失去": "cant_lose",
    "沉睡": "hibernating",
}
# Chinese 8 classes, keyed by their R F M digits (1 = high).
RFM8_CLASSES: dict[str, str] = {
    "111": "重要价值",
    "101": "重要发展",
    "011": "重要保持",
    "001": "重要挽留",
    "110": "一般价值",
    "100": "一般发展",
    "010": "一般保持",
    "000": "一般挽留",
}
