"""What the console shows for stored codes: every status, key and message in zh-CN.

Codes stay codes in the database and the API; only the console translates them. A code
this module does not know is never shown raw: it reads as a generic Chinese word, with
the code itself kept in a tooltip for whoever needs to report it
(:func:`label` returns both). ``tests/web/test_console_labels.py`` fails when a new
audit action, sync count or status appears in the code without a label here.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

# Order platforms (orders.platform, identities.platform).
PLATFORM = {
    "taobao": "淘宝/天猫",
    "tmall": "天猫",
    "douyin": "抖音",
    "youzan": "有赞",
    "jd": "京东",
    "wecom": "企业微信",
    "offline": "线下门店",
    "pdd": "拼多多",
    "xhs": "小红书",
    "weidian": "微店",
    "generic": "通用",
    "": "",
}
ORDER_STATUS = {
    "pending": "待付款",
    "paid": "已付款",
    "shipped": "已发货",
    "completed": "已完成",
    "closed": "已关闭",
    "refunded": "已退款",
}
# import_runs.format
IMPORT_FORMAT = {
    "auto": "自动识别",
    "taobao": "淘宝/天猫",
    "taobao-items": "淘宝/天猫宝贝报表",
    "youzan": "有赞",
    "douyin": "抖店",
    "jd": "京东",
    "generic": "通用格式",
}
# import_runs.status, sync_runs.status, jobs
RUN_STATUS = {
    "running": "进行中",
    "completed": "完成",
    "failed": "失败",
    "queued": "排队中",
    "pending": "待处理",
    "cancelled": "已取消",
    "interrupted": "已中断",
}
SYNC_KIND = {"full": "全量同步", "reconcile": "对账", "behavior": "行为数据"}
# Counts a WeCom sync run reports.
SYNC_COUNT = {
    "staff": "员工",
    "staff_created": "新员工",
    "staff_named": "补全员工姓名",
    "customers_created": "新客户",
    "customers_merged": "合并客户",
    "follows_created": "新好友关系",
    "follows_updated": "更新好友关系",
    "follows_ended": "结束好友关系",
    "tags_added": "打标签",
    "tags_removed": "移除标签",
    "tags_created": "新标签",
    "tags_renamed": "标签改名",
    "tags_deleted": "删除标签",
    "groups_created": "新客户群",
    "groups_updated": "更新客户群",
    "groups_dismissed": "解散客户群",
    "members_joined": "入群",
    "members_left": "退群",
    "days_created": "新增天数",
    "days_updated": "更新天数",
}
STAFF_STATUS = {"active": "在职", "resigned": "已离职", "disabled": "已禁用"}
FOLLOW_STATE = {
    "active": "好友",
    "deleted_by_customer": "客户已删除",
    "deleted_by_staff": "员工已删除",
    "transferred": "已转接",
    "pending": "待通过",
}
# customer_tags.source
TAG_SOURCE = {
    "manual": "手动",
    "rule": "自动标签规则",
    "keyword": "关键词",
    "channel": "渠道活码",
    "sync": "企业微信",
    "import": "导入",
}
# Live-code states (follows.live_code_state): brands name their own; these are the common ones.
CHANNEL = {
    "douyin_live": "抖音直播",
    "xhs_note": "小红书笔记",
    "package_card": "包裹卡",
    "store_qr": "门店二维码",
    "moments_ad": "朋友圈广告",
    "official_account": "公众号",
    "mini_program": "小程序",
    "sms": "短信",
}
CHANNEL_PREFIX = {"store_qr_": "门店二维码", "douyin_": "抖音", "xhs_": "小红书"}
AUDIT_ACTION = {
    "auth.login": "登录",
    "auth.login_failed": "登录失败",
    "auth.logout": "退出登录",
    "auth.session_revoke": "注销会话",
    "auto_tag_rule.add": "新建自动标签规则",
    "auto_tag_rule.update": "修改自动标签规则",
    "auto_tag_rule.delete": "删除自动标签规则",
    "auto_tag_rule.enable": "启用自动标签规则",
    "auto_tag_rule.disable": "停用自动标签规则",
    "customer.merge": "合并客户",
    "customers.bulk_tag": "批量打标签",
    "customers.bulk_untag": "批量移除标签",
    "customers.export": "导出客户",
    "phone.reveal": "查看完整手机号",
    "privacy.anonymise": "匿名化（删除个人信息）",
    "privacy.export": "导出个人信息",
    "privacy.opt_out": "营销退订",
    "segment.delete": "删除人群",
    "segment.save": "保存人群",
    "tag.create": "新建标签",
    "tag.delete": "删除标签",
    "tag.update": "修改标签",
    "tag_group.delete": "删除标签组",
    "token.create": "创建 API 令牌",
    "token.revoke": "吊销 API 令牌",
    "token.rotate": "轮换 API 令牌",
    "session.end": "结束登录会话",
    "user.create": "新建用户",
    "user.password": "修改密码",
    "user.update": "修改用户",
    "import.start": "开始导入",
    "job.retry": "重试后台任务",
    "job.cancel": "取消后台任务",
}
TARGET_TYPE = {
    "auto_tag_rule": "自动标签规则",
    "customer": "客户",
    "customers": "客户",
    "login": "登录",
    "segment": "人群",
    "tag": "标签",
    "tag_group": "标签组",
    "token": "API 令牌",
    "user": "用户",
    "wecom_tag": "企微标签",
    "session": "会话",
    "import": "导入",
    "job": "后台任务",
}
# audit_log.detail keys
DETAIL_KEY = {
    "add": "添加标签",
    "at": "时间",
    "created": "新建",
    "customers": "客户数",
    "count": "数量",
    "disabled": "已停用",
    "events": "动态",
    "expression": "表达式",
    "format": "格式",
    "from": "原值",
    "group": "标签组",
    "identities": "身份",
    "ip": "IP 地址",
    "known_user": "已知用户",
    "masked": "手机号脱敏",
    "merged_id": "被合并客户",
    "merged_ids": "被合并客户",
    "moved": "转移",
    "name": "名称",
    "orders": "订单",
    "prefix": "前缀",
    "reason": "原因",
    "remove": "移除标签",
    "role": "角色",
    "rows": "行数",
    "scope": "范围",
    "selected": "选中客户",
    "staff_id": "员工账号",
    "tag": "标签",
    "tag_ids": "标签",
    "tags": "标签",
    "tags_removed": "移除的标签数",
    "to": "新值",
    "user_id": "用户",
    "via": "方式",
    "changed": "变更",
    "enabled": "启用",
    "kind": "类型",
    "ended": "已结束",
    "expires_at": "过期时间",
    "new_prefix": "新令牌前缀",
    "new_token_id": "新令牌",
    "session_id": "会话",
}
ROLE = {"owner": "所有者", "admin": "管理员", "operator": "运营", "staff": "员工"}
ACTOR = {
    "cli": "命令行",
    "system": "系统",
    "demo": "演示数据",
    "anonymous": "未登录访客",
    "wecom": "企业微信",
    "sync": "企业微信同步",
    "worker": "后台任务",
}
# Import columns (the generic format's names; platform files name theirs in Chinese).
IMPORT_FIELD = {
    "order_id": "订单号",
    "paid_at": "付款时间",
    "created_at": "下单时间",
    "amount": "金额",
    "paid": "实付金额",
    "payable": "应付金额",
    "refund_amount": "退款金额",
    "phone": "手机号",
    "buyer_id": "买家账号",
    "unionid": "UnionID",
    "external_userid": "企微外部联系人",
    "openid": "OpenID",
    "name": "姓名",
    "city": "城市",
    "province": "省份",
    "status": "订单状态",
    "items": "商品明细",
    "title": "商品",
    "shop": "店铺",
    "platform": "平台",
    "file": "文件",
    "format": "格式",
    "quantity": "数量",
    "price": "单价",
}

KINDS: dict[str, dict[str, str]] = {
    "platform": PLATFORM,
    "order_status": ORDER_STATUS,
    "import_format": IMPORT_FORMAT,
    "run_status": RUN_STATUS,
    "sync_kind": SYNC_KIND,
    "sync_count": SYNC_COUNT,
    "staff_status": STAFF_STATUS,
    "follow_state": FOLLOW_STATE,
    "tag_source": TAG_SOURCE,
    "audit_action": AUDIT_ACTION,
    "target_type": TARGET_TYPE,
    "detail_key": DETAIL_KEY,
    "role": ROLE,
    "import_field": IMPORT_FIELD,
}
# What an unknown code reads as, per kind.
UNKNOWN = {
    "platform": "其他平台",
    "order_status": "其他状态",
    "import_format": "其他格式",
    "run_status": "其他状态",
    "sync_kind": "其他同步",
    "sync_count": "其他",
    "staff_status": "其他状态",
    "follow_state": "其他状态",
    "tag_source": "其他来源",
    "audit_action": "其他操作",
    "target_type": "其他对象",
    "detail_key": "其他",
    "role": "其他角色",
    "import_field": "",
}
_HAN = re.compile(r"[\u4e00-\u9fff]")


def text(kind: str, code: str | None) -> str:
    """The zh-CN word for ``code`` (an unknown code gets the kind's generic word)."""
    if code is None:
        return "—"
    table = KINDS[kind]
    if code in table:
        return table[code]
    if _HAN.search(code):  # already Chinese (a column as a Chinese export names it)
        return code
    return UNKNOWN[kind] or code


def label(kind: str, code: str | None) -> Markup:
    """``text`` as HTML; an unknown code keeps itself in the tooltip (``title``)."""
    word = text(kind, code)
    if code is None or code in KINDS[kind] or word == code:
        return escape(word)
    return Markup('<span title="{}">{}</span>').format(code, word)


def channel(state: str | None) -> str:
    """A live-code state (渠道) as people call it."""
    if not state:
        return "—"
    if state in CHANNEL:
        return CHANNEL[state]
    for prefix, word in CHANNEL_PREFIX.items():
        if state.startswith(prefix):
            return f"{word}（{state[len(prefix) :]}）"
    return state if _HAN.search(state) else f"渠道活码（{state}）"


def actor(value: str | None, users: dict[int, str] | None = None) -> str:
    """Who did it: a user's name for ``user:<id>``, a Chinese word for the rest."""
    if not value:
        return "—"
    if value.startswith("user:"):
        raw = value.removeprefix("user:")
        if raw.isdigit() and users and int(raw) in users:
            return users[int(raw)]
        return f"用户 #{raw}"
    if value.startswith("token:"):
        return f"API 令牌 #{value.removeprefix('token:')}"
    head = value.split(":", 1)[0]
    return ACTOR.get(value) or ACTOR.get(head) or "系统"


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    template: str


# Row-error messages of the importers (siyu/orders/importers) → Chinese. {v} is the value.
_ROW_ERRORS = [
    _Pattern(
        re.compile(r"^not a date or time: '?(?P<v>.*?)'? \(expected"),
        "不是日期时间：{v}（应如 2016-05-23 22:02:11）",
    ),
    _Pattern(re.compile(r"^not a real date: '?(?P<v>.*?)'? \("), "不是有效日期：{v}"),
    _Pattern(re.compile(r"^not an amount in yuan: '?(?P<v>.*?)'?$"), "不是以元为单位的金额：{v}"),
    _Pattern(re.compile(r"^not an amount: '?(?P<v>.*?)'?$"), "不是金额：{v}"),
    _Pattern(re.compile(r"^negative amount: '?(?P<v>.*?)'?$"), "金额不能为负：{v}"),
    _Pattern(re.compile(r"^amount is empty$"), "金额为空"),
    _Pattern(re.compile(r"^not a whole number: '?(?P<v>.*?)'?$"), "不是整数：{v}"),
    _Pattern(re.compile(r"^not a valid phone number$"), "不是有效的手机号"),
    _Pattern(re.compile(r"^order id is longer than 64 characters$"), "订单号超过 64 个字符"),
    _Pattern(
        re.compile(r"^paid_at is empty but the status is (?P<v>\w+)$"), "付款时间为空，但订单状态是「{v}」"
    ),
    _Pattern(re.compile(r"^(?P<v>.+) is empty$"), "「{v}」为空"),
    _Pattern(re.compile(r"^items is not a valid JSON array"), "商品明细不是有效的 JSON 数组"),
    _Pattern(re.compile(r"^items must be a JSON array of objects$"), "商品明细必须是对象组成的 JSON 数组"),
    _Pattern(re.compile(r"^item (?P<v>\d+) has no title$"), "第 {v} 个商品没有名称"),
    _Pattern(re.compile(r"^item (?P<v>\d+): "), "第 {v} 个商品有误"),
    _Pattern(re.compile(r"^quantity must be at least 1$"), "数量至少为 1"),
    _Pattern(re.compile(r"^order id$"), "缺少订单号"),
    _Pattern(re.compile(r"^neither 应付金额 nor 订单金额 is given$"), "应付金额和订单金额都为空"),
    _Pattern(
        re.compile(r"no buyer|no identity|needs one of", re.I),
        "缺少买家身份（买家账号、手机号、UnionID 或企微外部联系人之一）",
    ),
    _Pattern(re.compile(r"duplicate", re.I), "同一文件中订单重复"),
    _Pattern(re.compile(r"column count|columns? than the header", re.I), "列数与表头不一致"),
]


def row_error(message: str) -> tuple[str, bool]:
    """An importer's row error in Chinese; ``(text, known)``: unknown ones read generically."""
    if _HAN.search(message) and not re.search(r"[A-Za-z]{4,}", message):
        return message, True
    for p in _ROW_ERRORS:
        m = p.regex.search(message)
        if m:
            value = m.groupdict().get("v") or ""
            if value in IMPORT_FIELD:
                value = IMPORT_FIELD[value]
            return p.template.format(v=value), True
    return "这一行无法导入（原因见原文）", False


def translated_error(message: str) -> Markup:
    """HTML for a row error: Chinese, with the importer's own words folded away when unknown."""
    zh, known = row_error(message)
    if known:
        return escape(zh)
    # A constant template; the values are escaped by format().
    html = Markup(
        '{} <details class="raw"><summary>原文</summary><span class="mono small">{}</span></details>'
    )
    return html.format(zh, message)


# Audience-expression problems (siyu/segments/audience) → Chinese; {v} is the quoted part.
_EXPRESSION_PROBLEMS = [
    (r"^the expression is empty$", "表达式为空"),
    (r"^the expression is longer than (?P<v>\d+) characters$", "表达式超过 {v} 个字符"),
    (r"^unexpected '\)' with no matching '\('$", "多了一个右括号「)」"),
    (r"^unexpected (?P<v>.+)$", "无法识别的字符 {v}"),
    (r"^expected ':' or a comparison after (?P<v>.+)$", "{v} 后面应是「:」或比较符号"),
    (r"^expected a value after (?P<v>.+)$", "{v} 后面缺少取值"),
    (r"^the quote (?P<v>.+) is never closed$", "引号 {v} 没有闭合"),
    (r"^expected AND or OR between terms", "条件之间要用 AND（且）或 OR（或）连接"),
    (r"^expected AND, OR or '\)'", "这里应是 AND、OR 或「)」"),
    (r"^expected a term after (?P<v>\w+)$", "{v} 后面缺少条件"),
    (r"^expected a term after NOT$", "NOT 后面缺少条件"),
    (r"^expected a term at the end$", "表达式结尾缺少条件"),
    (r"^expected a term inside", "括号里缺少条件"),
    (r"^expected a term before (?P<v>\w+)$", "{v} 前面缺少条件"),
    (r"^nested deeper than (?P<v>\d+) levels$", "括号嵌套超过 {v} 层"),
    (r"^the '\(' at column (?P<v>\d+) is never closed$", "第 {v} 列的「(」没有闭合"),
    (r"^unknown field (?P<v>'[^']*')", "没有字段 {v}"),
    (r"^unknown layer (?P<v>.+)$", "没有分层 {v}"),
    (r"^unknown RFM segment (?P<v>.+)$", "没有 RFM 分群 {v}"),
    (r"^unknown RFM class (?P<v>.+)$", "没有 RFM 八类 {v}"),
    (r"^(?P<v>\w+) compares a number", "{v} 是数值，请用 >=、>、<=、< 或 ="),
    (r"^(?P<v>\w+) needs a whole number, got (?P<w>.+)$", "{v} 需要整数，这里是 {w}"),
    (r"^(?P<v>\w+) needs a (?:whole )?number, got (?P<w>.+)$", "{v} 需要数字，这里是 {w}"),
    (
        r"^(?P<v>\w+) must be from (?P<a>[\d,.]+) to (?P<b>[\d,.]+)(?: (?P<u>\w+))?, got (?P<w>.+)$",
        "{v} 必须在 {a} 到 {b}{u} 之间，这里是 {w}",
    ),
    (
        r"^(?P<v>\w+) is(?: in (?P<u>\w+))? with at most (?P<a>\d+) decimals, got (?P<w>.+)$",
        "{v} 最多 {a} 位小数，这里是 {w}",
    ),
    (r"^(?P<v>\w+) takes a name after ':'", "{v} 后面用「:」接名称"),
    (r"^(?P<v>\w+): the name is empty$", "{v} 后面缺少名称"),
    (
        r"^p_alive is a probability between 0 and 1, got (?P<v>.+)$",
        "p_alive 是 0 到 1 之间的概率，这里是 {v}",
    ),
    (r"^segment (?P<v>.+) refers to itself", "人群 {v} 引用了它自己"),
    (
        r"^no (?P<w>.+?) named (?P<v>'[^']*') in this workspace.*matches nobody$",
        "没有名为 {v} 的{w}，这个条件不匹配任何人",
    ),
]
_EXPECTED = {
    "a term such as tag:VIP or spent>=3000": "一个条件，如 tag:VIP 或 spent>=3000",
    "a term such as tag:VIP": "一个条件，如 tag:VIP",
    "a term": "一个条件",
    "a term, NOT or '('": "条件、NOT 或「(」",
    "a term or '('": "条件或「(」",
    "a name or a number": "名称或数字",
    "AND, OR or the end": "AND、OR 或结束",
    "AND or OR": "AND 或 OR",
    "')'": "「)」",
    "a flatter expression": "更少的括号嵌套",
    "an amount in yuan": "以元为单位的金额",
    "a number from 0 to 1": "0 到 1 之间的数",
}
_UNITS = {"yuan": "元", "days": "天"}
_EXPECTED_PREFIXES = (
    ("a field: ", "字段："),
    ("a layer: ", "分层："),
    ("an RFM segment: ", "RFM 分群："),
    ("an RFM class: ", "RFM 八类："),
    ("a closing ", "闭合的 "),
)
_WHAT = {"saved segment": "人群", "channel": "渠道", "tag": "标签", "staff": "员工", "city": "城市"}


def expression_problem(message: str) -> str:
    """An audience expression's error or warning in Chinese (unknown ones generically)."""
    # The parser's message is "第 N 列: <problem>" and two lines pointing at the column,
    # which the page shows its own way.
    message = re.sub(r"^第 \d+ 列[:：]\s*", "", message.split("\n", 1)[0]).strip()
    if _HAN.search(message) and not re.search(r"[A-Za-z]{5,}", message):
        return message
    for pattern, template in _EXPRESSION_PROBLEMS:
        m = re.search(pattern, message)
        if m:
            found = {k: v or "" for k, v in m.groupdict().items()}
            for key in ("v", "w", "a", "b", "u"):
                found.setdefault(key, "")
            if found["u"]:
                found["u"] = " " + _UNITS.get(found["u"], found["u"])
            found["w"] = _WHAT.get(found["w"], found["w"])
            return template.format(**found)
    return "表达式无法理解"


def expression_expected(expected: str | None) -> str | None:
    """What would fit at the error's column, in Chinese where the console knows the words."""
    if not expected:
        return expected
    if expected in _EXPECTED:
        return _EXPECTED[expected]
    ranged = re.match(r"^a (whole )?number from ([\d,.]+) to ([\d,.]+)(?: (\w+))?$", expected)
    if ranged:
        whole, low, high, unit = ranged.groups()
        unit = " " + _UNITS.get(unit, unit) if unit else ""
        return f"{low} 到 {high}{unit} 之间的{'整数' if whole else '数'}"
    for prefix, word in _EXPECTED_PREFIXES:
        if expected.startswith(prefix):
            return word + expected[len(prefix) :]
    if expected.endswith(" name") and expected.startswith("a "):
        return "名称"
    return expected


def _value(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if value is None:
        return "—"
    if isinstance(value, list | tuple):
        return "、".join(_value(key, v) for v in value) or "—"
    if isinstance(value, dict):
        return "；".join(f"{text('detail_key', str(k))}：{_value(str(k), v)}" for k, v in value.items())
    if key == "role":
        return text("role", str(value))
    if key == "format":
        return text("import_format", str(value))
    return str(value)


def audit_detail(detail: dict[str, object] | None) -> list[tuple[str, str]]:
    """An audit entry's detail as (Chinese key, value) pairs; unknown keys read as 其他."""
    return [(text("detail_key", str(k)), _value(str(k), v)) for k, v in (detail or {}).items()]


def has_han(value: object) -> bool:
    """True when ``value`` is (at least partly) written in Chinese."""
    return bool(_HAN.search(str(value or "")))


def register(
    env_filters: MutableMapping[str, Any],
    env_globals: MutableMapping[str, Any],
    env_tests: MutableMapping[str, Any],
) -> None:
    """Make the labels available to every console template."""
    env_filters.update(
        label=lambda code, kind: label(kind, code), channel=channel, row_error=translated_error
    )
    env_globals.update(label_text=text, actor_name=actor, audit_detail=audit_detail)
    env_tests.update(han=has_han)


def _merge_outbound() -> None:
    from siyu.web.console import labels_outbound as o

    KINDS.update(o.KINDS)
    UNKNOWN.update(o.UNKNOWN)
    AUDIT_ACTION.update(o.AUDIT_ACTION)
    TARGET_TYPE.update(o.TARGET_TYPE)
    DETAIL_KEY.update(o.DETAIL_KEY)


_merge_outbound()
