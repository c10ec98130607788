"""Read models for the customer list and the customer profile pages.

Phones are shown only in their masked form (138****5678); other identity values are
shortened, because a unionid or buyer id is a key into someone's accounts elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from siyu.customers.profile import profile_records
from siyu.customers.views import find_customers
from siyu.kit.errors import NotFound
from siyu.models import (
    Customer,
    CustomerScore,
    CustomerStats,
    Event,
    Order,
)
from siyu.web.auth import Principal, visible_customer
from siyu.web.console import labels

PAGE_SIZE = 20

IDENTITY_LABELS = {
    "phone": "手机号",
    "unionid": "UnionID",
    "external_userid": "企微外部联系人",
    "buyer_id": "平台买家账号",
    "openid": "OpenID",
}
# The console's labels live in siyu.web.console.labels; these names stay for the pages.
PLATFORM_LABELS = labels.PLATFORM
STATUS_LABELS = labels.ORDER_STATUS
FOLLOW_LABELS = labels.FOLLOW_STATE


def shorten(value: str | None) -> str:
    """First 4 and last 4 characters of a long identifier; enough to tell ids apart."""
    if not value:
        return "—"
    return value if len(value) <= 10 else f"{value[:4]}…{value[-4:]}"


@dataclass
class CustomerRow:
    id: int
    name: str | None
    phone: str | None
    city: str | None
    province: str | None
    orders: int
    net_fen: int
    last_paid_at: Any
    layer: str | None
    rfm: str | None
    tags: list[str] = field(default_factory=list)


# Orderings of the customer list: key → label, and the read model's name for each.
SORTS = {"new": "最新", "spent": "净消费最高", "recent": "最近付款"}
_DOMAIN_SORTS = {"new": "newest", "spent": "net_desc", "recent": "last_paid_desc"}


@dataclass
class CustomerPage:
    rows: list[CustomerRow]
    total: int
    warnings: list[str]
    count_source: str


def list_page(db: Session, user: Principal, *, q: str, page: int, sort: str = "new") -> CustomerPage:
    """One page of live customers the user may see, from the shared read model
    (``find_customers``): ``q`` is the search box (an audience expression, four digits
    of a phone, or a name). Raises on a bad expression."""
    found = find_customers(
        db,
        user,
        box_text=q,
        sort=_DOMAIN_SORTS.get(sort, "newest"),
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    rows = [
        CustomerRow(
            id=r.id,
            name=r.name,
            phone=r.phone_masked,
            city=r.city,
            province=r.province,
            orders=r.effective_orders_count,
            net_fen=r.net_fen,
            last_paid_at=r.last_paid_at,
            layer=r.layer_value,
            rfm=r.rfm_segment,
            tags=list(r.tags),
        )
        for r in found.rows
    ]
    return CustomerPage(rows, found.total, found.warnings, found.count_source)


@dataclass
class Profile:
    customer: Customer
    identities: list[dict[str, str]]
    tags: list[dict[str, Any]]
    all_tags: list[dict[str, Any]]
    stats: CustomerStats | None
    score: CustomerScore | None
    orders: list[Order]
    orders_total: int
    follows: list[dict[str, Any]]
    events: list[Event]

    @property
    def has_phone(self) -> bool:
        """True when a phone identity is on file (the reveal button needs one)."""
        return any(i["kind"] == IDENTITY_LABELS["phone"] for i in self.identities)


def profile(db: Session, user: Principal, customer_id: int) -> Profile:
    """Everything the profile page shows about one customer the user may see."""
    customer = visible_customer(db, user, customer_id)
    if customer.merged_into_id is not None:
        # A tombstone: the page of the survivor is the one to read.
        raise NotFound(f"customer {customer_id} was merged into {customer.merged_into_id}")
    rec = profile_records(db, customer)
    return Profile(
        customer=customer,
        identities=[
            {
                "kind": IDENTITY_LABELS.get(i.kind, i.kind),
                "platform": labels.text("platform", i.platform) if i.platform else "",
                "value": (i.value_masked or "***") if i.kind == "phone" else shorten(i.value),
                "source": i.source,
            }
            for i in rec.identities
        ],
        tags=[{"id": t.id, "name": t.name, "group": g.name, "source": ct.source} for t, g, ct in rec.tags],
        all_tags=[{"id": t.id, "name": t.name, "group": g.name} for t, g in rec.other_tags],
        stats=rec.stats,
        score=rec.score,
        orders=rec.orders,
        orders_total=rec.orders_total,
        follows=[
            {
                "staff": s.name or s.userid,
                "state": labels.text("follow_state", f.state),
                "added_at": f.added_at,
                "channel": f.live_code_state,
                "remark": f.remark,
            }
            for f, s in rec.follows
        ],
        events=rec.events,
    )


EVENT_LABELS = {
    "message.in": "客户发来消息",
    "message.out": "员工回复",
    "friend.request": "申请添加好友",
    "friend.add": "添加为好友",
    "archive.consent": "回复会话存档同意/拒绝",
    "archive.stalled": "会话存档拉取停滞",
    "friend.delete_by_customer": "客户删除了员工",
    "friend.delete_by_staff": "员工删除了客户",
    "friend.transfer": "转接给其他员工",
    "group.join": "加入客户群",
    "group.quit": "退出客户群",
    "tag.add": "打上标签",
    "tag.remove": "移除标签",
    "moment.like": "朋友圈点赞",
    "moment.comment": "朋友圈评论",
    "order.paid": "下单付款",
    "order.refunded": "退款",
    "order.completed": "订单完成",
    "task.done": "完成任务",
    "task.escalated": "任务逾期上报",
}
