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
    "sop.create": "新建 SOP 计划",
    "sop.update": "修改 SOP 计划",
    "sop.activate": "启动 SOP 计划",
    "sop.resume": "恢复 SOP 计划",
    "sop.pause": "暂停 SOP 计划",
    "sop.archive": "归档 SOP 计划",
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
    "keyword_rule.create": "新建关键词规则",
    "keyword_rule.update": "修改关键词规则",
    "keyword_rule.delete": "删除关键词规则",
    "sensitive_word.add": "添加敏感词",
    "sensitive_word.remove": "删除敏感词",
    "alert.ack": "处理预警",
    "profile_field.define": "定义客户资料字段",
    "customer.note": "写跟进记录",
    "customer.fields": "修改客户资料",
    "order.bind": "绑定订单号",
    "sidebar.verify_file": "上传企业微信域名校验文件",
    "job.retry": "重试后台任务",
    "job.cancel": "取消后台任务",
    "moment.plan": "计划朋友圈",
    "moment.cancel": "取消朋友圈计划",
    "moment.settings": "修改朋友圈节奏设置",
    # conversation archive (siyu.wecom.archive)
    "archive.import": "导入会话存档",
    "archive.settings": "修改会话存档设置",
    "archive.purge": "清除过期消息内容",
    "archive.view": "查看会话存档",
    "friend.accept_recorded": "登记好友通过时间",
    "archive.key_add": "添加会话存档密钥",
    "archive.relink": "补全会话存档关联",
    "channel.create": "新建渠道",
    "channel.update": "修改渠道",
    "channel.delete": "删除渠道",
    "channel.retry": "重试渠道同步",
    "staff.transfer": "转接客户（在职 / 离职继承）",
    "channel.dedup_policy": "修改渠道去重策略",
    "store.create": "新建门店",
    "store.update": "修改门店",
    "store.delete": "删除门店",
    "reward.create": "记录奖励",
    "reward.import": "导入奖励",
}
TARGET_TYPE = {
    "reward": "奖励",
    "sop_plan": "SOP 计划",
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
    "moment": "朋友圈",
    "messages": "聊天消息",
    "follow": "好友关系",
    "staff": "员工",
    "channel": "渠道",
    "keyword_rule": "关键词规则",
    "sensitive_word": "敏感词",
    "alert": "预警",
    "profile_field": "客户资料字段",
    "order_binding": "订单绑定",
    "store": "门店",
}
# audit_log.detail keys
DETAIL_KEY = {
    "match": "匹配方式",
    "keywords": "关键词",
    "event_id": "事件编号",
    "words": "命中词",
    "direction": "方向",
    "source": "来源",
    "key": "字段",
    "fields": "资料字段",
    "batch": "批次",
    "groups": "群",
    "rule": "规则",
    "version": "版本",
    "content_id": "素材",
    "enroll_existing": "已符合的客户也加入",
    "matching": "已符合的客户数",
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
    "planned_at": "计划时间",
    "staff": "员工账号",
    "attachments": "附件数",
    "visible_tags": "可见标签",
    # conversation archive
    "changes": "修改内容",
    "texts_erased": "清除的消息内容",
    "retention_days": "保留天数",
    "criteria": "查询条件",
    "shown": "显示条数",
    "minutes": "分钟",
    "customers_linked": "补上的客户",
    "staff_linked": "补上的员工",
    "groups_linked": "补上的群",
    "lines": "行数",
    "stored": "已保存",
    "duplicates": "重复",
    "broken": "无法解析",
    "unknown_msgtype": "未知消息类型",
    "switches": "切换设备记录",
    "unknown_staff": "未知员工",
    "unknown_customer": "未知客户",
    "unknown_group": "未知群",
    "revoked": "已撤回",
    "consents": "存档同意记录",
    "mentions": "群内@员工的客户消息",
    "interactions_moved": "更新互动时间",
    "problems_left_out": "未列出的问题行",
    "state": "渠道参数（state）",
    "previous_error": "上次错误",
    "group_name": "分组",
    "pool": "员工池与分流",
    "welcome": "欢迎语",
    "skip_verify": "免验证添加",
    "cost_fen": "渠道成本（分）",
    "chat_ids": "群聊",
    "city": "城市",
    "lat": "纬度",
    "lng": "经度",
    "address": "地址",
    "staff_ids": "员工",
    "store_ids": "门店",
    "campaign": "老带新活动",
    "amount_fen": "金额（分）",
    "group_id": "客户群",
    "moment_id": "朋友圈",
    "send_id": "群发",
    "written": "写入条数",
}
# channels.sync_status, channels.kind, routing strategies and account states, welcome outcomes
CHANNEL_SYNC = {"pending": "同步中", "ok": "已生效", "error": "企业微信拒绝", "deleted": "已删除"}
CHANNEL_KIND = {"contact_way": "渠道活码", "join_way": "群活码", "link": "获客助手链接", "store": "门店导流"}
ROUTING_STRATEGY = {
    "wecom": "企业微信随机分配",
    "weighted": "按权重",
    "least_loaded": "客户最少优先",
    "capacity_first": "容量优先（跳过将满账号）",
}
ROUTING_STATE = {
    "on": "接待中",
    "off_schedule": "不在排班",
    "full": "已满（已移出）",
    "near_full": "将满",
    "capped": "已达今日上限",
    "inactive": "不可用",
    "backup": "备用",
}
WELCOME_STATUS = {"sending": "发送中", "sent": "已发送", "skipped": "已跳过", "error": "失败"}
WELCOME_REASON = {
    "no_welcome_code": "无 WelcomeCode（企业微信后台已配置欢迎语，或已被其他应用使用）",
    "expired": "超过 20 秒有效期",
    "greeted_today": "客户今天已收到过欢迎语",
    "no_welcome": "未配置欢迎语",
    "code_used": "WelcomeCode 已被使用",
    "batch": "批次",
    "groups": "客户群",
    "rule": "分配规则",
    "match": "匹配方式",
    "keywords": "关键词数",
    "fields": "字段",
    "order_no": "订单号",
    "key": "字段键",
    "direction": "方向",
    "source": "来源",
    "words": "敏感词",
    "event_id": "动态",
    "userid": "企微账号",
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

ALERT_KIND = {"sensitive_word": "敏感词", "staff_deleted_customer": "员工删除客户"}
KEYWORD_MATCH = {"exact": "完全匹配", "contains": "包含", "regex": "正则表达式"}
KEYWORD_SOURCE = {"kf": "微信客服", "archive": "单聊存档", "group": "群聊存档"}
KINDS: dict[str, dict[str, str]] = {
    "alert_kind": ALERT_KIND,
    "keyword_match": KEYWORD_MATCH,
    "keyword_source": KEYWORD_SOURCE,
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
    "channel_sync": CHANNEL_SYNC,
    "channel_kind": CHANNEL_KIND,
    "routing_strategy": ROUTING_STRATEGY,
    "routing_state": ROUTING_STATE,
    "welcome_status": WELCOME_STATUS,
    "welcome_reason": WELCOME_REASON,
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
    "channel_sync": "其他状态",
    "channel_kind": "其他渠道",
    "routing_strategy": "其他方式",
    "routing_state": "其他状态",
    "welcome_status": "其他状态",
    "welcome_reason": "其他原因",
    "alert_kind": "其他预警",
    "keyword_match": "其他方式",
    "keyword_source": "其他来源",
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
