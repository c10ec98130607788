"""Order binding (包裹卡 "enter your order number for your gift"): a WeCom friend claims an
imported order, and OneID joins the friend to that order's buyer.

It is how brands attribute buyers whose exports carry no buyer key (Douyin's encrypted
phones): the friend opens ``/bind/{token}`` (a link siyu makes per friend, signed, so
nobody can claim for someone else), types the platform's order number and, where the
export shows the phone's last four digits, those too. On success the order goes to the
friend's OneID profile (an order without a buyer is attached; an order with another
profile has the friend merged into it, audited), the binding is recorded and an
``order.binding`` event keeps the channel funnel current. Five failed tries within 30
minutes pause the friend for 30 minutes; a claimed order cannot be claimed by another.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.config import get_settings
from siyu.customers.service import merge_customers
from siyu.customers.stats import refresh_stats
from siyu.kit.errors import Conflict, Invalid, NotFound, SiyuError
from siyu.kit.events import record_event
from siyu.kit.timeutil import utcnow
from siyu.models import BindingAttempt, Follow, Order, OrderBinding, Staff

MAX_FAILURES = 5
WINDOW = timedelta(minutes=30)
_LAST4 = re.compile(r"(\d{4})\s*$")
_ORDER_NO = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class TooManyTries(SiyuError):
    code = "too_many_tries"
    status_code = 429

    def __init__(self, minutes: int) -> None:
        super().__init__(f"too many wrong tries; try again in {minutes} minutes", field="order_no")
        self.minutes = minutes


def _sig(workspace_id: int, follow_id: int) -> str:
    key = hashlib.sha256(b"siyu-bind:" + get_settings().secret_key.encode()).digest()
    return hmac.new(key, f"{workspace_id}.{follow_id}".encode(), hashlib.sha256).hexdigest()[:20]


def make_token(*, workspace_id: int, follow_id: int) -> str:
    """The friend's binding token (the path of ``/bind/{token}``)."""
    return f"{workspace_id}.{follow_id}.{_sig(workspace_id, follow_id)}"


def read_token(token: str) -> tuple[int, int]:
    """(workspace id, follow id) of a token; NotFound when it was not made by siyu."""
    parts = token.split(".")
    if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit():
        ws, follow = int(parts[0]), int(parts[1])
        if hmac.compare_digest(parts[2], _sig(ws, follow)):
            return ws, follow
    raise NotFound("this binding link is not valid", field="token")


def link_for(
    session: Session, *, workspace_id: int, userid: str, external_userid: str, base_url: str = ""
) -> dict[str, Any]:
    """The binding link of the friend (staff ``userid`` × customer ``external_userid``)."""
    follow = session.scalar(
        select(Follow)
        .join(Staff, Staff.id == Follow.staff_id)
        .where(
            Follow.workspace_id == workspace_id,
            Staff.userid == userid,
            Follow.external_userid == external_userid,
        )
    )
    if follow is None:
        raise NotFound(f"{external_userid} is not a friend of {userid}", field="external_userid")
    token = make_token(workspace_id=workspace_id, follow_id=follow.id)
    return {"follow_id": follow.id, "token": token, "url": f"{base_url.rstrip('/')}/bind/{token}"}


@dataclass(frozen=True)
class Bound:
    binding_id: int
    order_id: int
    customer_id: int
    platform: str
    external_id: str
    already: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "binding_id": self.binding_id,
            "order_id": self.order_id,
            "customer_id": self.customer_id,
            "platform": self.platform,
            "order_no": self.external_id,
            "already_bound": self.already,
        }


def needs_last4(order: Order) -> str | None:
    """The last four digits the export shows for the order's phone, if any."""
    found = _LAST4.search(order.phone_masked or "")
    return found.group(1) if found else None


def paused_until(session: Session, *, workspace_id: int, follow_id: int) -> Any:
    """When the friend may try again (None: now), after too many failures in a row."""
    since = utcnow() - WINDOW
    rows = list(
        session.execute(
            select(BindingAttempt.ok, BindingAttempt.at)
            .where(
                BindingAttempt.workspace_id == workspace_id,
                BindingAttempt.follow_id == follow_id,
                BindingAttempt.at >= since,
            )
            .order_by(BindingAttempt.at.desc(), BindingAttempt.id.desc())
        )
    )
    failures = []
    for ok, at in rows:
        if ok:
            break
        failures.append(at)
    if len(failures) >= MAX_FAILURES:
        return failures[0] + WINDOW
    return None


def _fail(session: Session, workspace_id: int, follow_id: int, reason: str, exc: SiyuError) -> SiyuError:
    session.add(
        BindingAttempt(workspace_id=workspace_id, follow_id=follow_id, ok=False, reason=reason, at=utcnow())
    )
    session.flush()
    return exc


def bind_order(
    session: Session,
    *,
    workspace_id: int,
    follow_id: int,
    order_no: str,
    last4: str | None = None,
    source: str = "page",
    actor: str | None = None,
) -> Bound:
    """Claim order ``order_no`` for the friend of follow ``follow_id``.

    Failures are recorded (and count towards the pause) in the caller's transaction: the
    caller commits even when this raises, so a wrong guess is never forgotten.
    """
    follow = session.get(Follow, follow_id)
    if follow is None or follow.workspace_id != workspace_id:
        raise NotFound("this friend is not known", field="token")
    until = (
        paused_until(session, workspace_id=workspace_id, follow_id=follow_id) if source == "page" else None
    )
    if until is not None:
        minutes = max(1, int((until - utcnow()).total_seconds() // 60) + 1)
        raise TooManyTries(minutes)
    number = (order_no or "").strip().replace(" ", "")
    if not _ORDER_NO.match(number):
        raise _fail(
            session,
            workspace_id,
            follow_id,
            "order_no",
            Invalid("enter the order number as the shop shows it (letters and digits)", field="order_no"),
        )
    orders = list(
        session.scalars(select(Order).where(Order.workspace_id == workspace_id, Order.external_id == number))
    )
    if not orders:
        raise _fail(
            session,
            workspace_id,
            follow_id,
            "order_no",
            Invalid("no order with this number; check it and try again", field="order_no"),
        )
    given = re.sub(r"\D", "", last4 or "")
    # staff in the sidebar vouch for the friend in front of them: no phone digits asked
    matching = (
        orders
        if source == "sidebar"
        else [o for o in orders if needs_last4(o) is None or needs_last4(o) == given]
    )
    if not matching:
        missing = not given
        raise _fail(
            session,
            workspace_id,
            follow_id,
            "last4",
            Invalid(
                "enter the last four digits of the order's phone"
                if missing
                else "the last four digits do not match the order's phone",
                field="last4",
            ),
        )
    order = matching[0]
    friend = follow.customer_id
    existing = session.scalar(
        select(OrderBinding).where(
            OrderBinding.workspace_id == workspace_id, OrderBinding.order_id == order.id
        )
    )
    if existing is not None:
        if existing.customer_id == friend or order.customer_id == friend:
            return Bound(existing.id, order.id, friend, order.platform, order.external_id, True)
        raise _fail(
            session,
            workspace_id,
            follow_id,
            "claimed",
            Conflict("this order was already claimed by another friend", field="order_no"),
        )
    if order.customer_id is None:
        # No buyer key in the export (Douyin): the order goes to the friend's profile.
        order.customer_id = friend
        customer_id = friend
    elif order.customer_id != friend:
        survivor = merge_customers(
            session,
            workspace_id=workspace_id,
            survivor_id=order.customer_id,
            merged_id=friend,
            actor=actor or "binding",
            reason=f"order binding {order.platform}:{order.external_id}",
            refresh=False,
        )
        customer_id = survivor.id
    else:
        customer_id = friend
    binding = OrderBinding(
        workspace_id=workspace_id,
        order_id=order.id,
        customer_id=customer_id,
        follow_id=follow.id,
        state=follow.live_code_state,
        source=source,
        actor=(actor or source)[:64],
    )
    session.add(binding)
    session.add(BindingAttempt(workspace_id=workspace_id, follow_id=follow_id, ok=True, at=utcnow()))
    session.flush()
    refresh_stats(session, workspace_id=workspace_id, customer_ids=[customer_id])
    record_event(
        session,
        workspace_id=workspace_id,
        kind="order.binding",
        occurred_at=utcnow(),
        source=source,
        customer_id=customer_id,
        staff_id=follow.staff_id,
        order_id=order.id,
        dedup_key=f"order.binding:{order.id}",
        payload={"state": follow.live_code_state, "platform": order.platform, "customer_ids": [customer_id]},
    )
    return Bound(binding.id, order.id, customer_id, order.platform, order.external_id, False)


def list_bindings(
    session: Session, *, workspace_id: int, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Bindings, newest first, with the order and the channel they came through."""
    total = session.scalar(
        select(func.count()).select_from(OrderBinding).where(OrderBinding.workspace_id == workspace_id)
    )
    rows = session.execute(
        select(OrderBinding, Order.platform, Order.external_id, Order.paid_fen, Order.refunded_fen)
        .join(Order, Order.id == OrderBinding.order_id)
        .where(OrderBinding.workspace_id == workspace_id)
        .order_by(OrderBinding.created_at.desc(), OrderBinding.id.desc())
        .limit(limit)
        .offset(offset)
    )
    out = [
        {
            "id": b.id,
            "order_id": b.order_id,
            "platform": platform,
            "order_no": ext,
            "net_fen": int(paid) - int(refunded),
            "customer_id": b.customer_id,
            "state": b.state,
            "source": b.source,
            "created_at": b.created_at.isoformat(),
        }
        for b, platform, ext, paid, refunded in rows
    ]
    return out, int(total or 0)
