"""The project's own format: CSV (UTF-8) or JSON lines any system can produce (docs/imports.md)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar

from siyu.customers.schemas import IdentityInput
from siyu.orders.importers.base import (
    Columns,
    Format,
    ItemRecord,
    OrderRecord,
    RowProblem,
    map_status,
    over_limit,
    settle_money,
)
from siyu.orders.importers.cells import (
    CellError,
    clean,
    normalise_city,
    normalise_province,
    parse_fen,
    parse_int,
    parse_phone,
)

STATUS = {
    "pending": "pending",
    "unpaid": "pending",
    "paid": "paid",
    "shipped": "shipped",
    "completed": "completed",
    "complete": "completed",
    "done": "completed",
    "closed": "closed",
    "cancelled": "closed",
    "canceled": "closed",
    "refunded": "refunded",
}


class GenericOrders(Format):
    name = "generic"
    platform = "generic"
    aliases: ClassVar[dict[str, tuple[str, ...]]] = {
        "order_id": ("order_id", "order id", "orderid"),
        "paid_at": ("paid_at", "paid at", "date", "order_date"),
        "amount": ("amount", "amount_yuan", "total"),
        "buyer_id": ("buyer_id", "customer_id", "user_id"),
        "phone": ("phone", "mobile"),
        "unionid": ("unionid",),
        "external_userid": ("external_userid",),
        "name": ("name", "buyer_name"),
        "platform": ("platform",),
        "status": ("status",),
        "created_at": ("created_at",),
        "refund_amount": ("refund_amount", "refund"),
        "cost": ("cost",),
        "discount": ("discount",),
        "items": ("items",),
        "province": ("province",),
        "city": ("city",),
        "shop": ("shop",),
        "title": ("title",),
        "guide": ("guide",),
    }
    signature = ("order_id", "paid_at", "amount")
    required = ("order_id", "paid_at", "amount")

    def parse_row(self, cols: Columns, row: list[str], line: int, tz: str) -> OrderRecord:
        external_id = cols.order_id(row)
        platform = (cols.text(row, "platform", 32) or self.platform).lower()
        paid_at = cols.when(row, "paid_at", tz)
        raw_status = cols.text(row, "status", 64)
        status = map_status(raw_status.lower() if raw_status else None, STATUS, paid_at)
        if paid_at is None and status not in ("pending", "closed"):
            raise RowProblem(cols.where("paid_at"), "", f"paid_at is empty but the status is {status}")
        if not clean(cols.raw(row, "amount")):
            raise RowProblem(cols.where("amount"), "", "amount is empty")
        province = normalise_province(cols.raw(row, "province")) or cols.text(row, "province", 32)
        f: dict[str, Any] = {
            "raw_status": raw_status,
            "status": status,
            "ordered_at": cols.when(row, "created_at", tz) or paid_at,
            "paid_at": paid_at,
            "shop": cols.text(row, "shop", 100),
            "discount_fen": cols.fen(row, "discount"),
            "cost_fen": cols.fen_or_none(row, "cost"),
            "province": province,
            "city": normalise_city(province, cols.raw(row, "city"))
            if province
            else cols.text(row, "city", 32),
            "buyer_name": cols.text(row, "name", 100),
            "guide": cols.text(row, "guide", 64),
        }
        amount = cols.fen(row, "amount")
        f["goods_fen"] = amount
        settle_money(f, amount_fen=amount, refund_fen=cols.fen(row, "refund_amount"))
        buyer = cols.text(row, "buyer_id", 128)
        f["buyer_id"] = buyer
        ids = []
        raw_phone = clean(cols.raw(row, "phone"))
        phone, masked = parse_phone(raw_phone)
        if raw_phone and phone is None and masked is None:
            raise RowProblem(cols.where("phone"), raw_phone[:40], "not a valid phone number")
        f["phone_masked"] = masked
        if phone:
            ids.append(IdentityInput("phone", phone))
        if buyer:
            ids.append(IdentityInput("buyer_id", buyer, platform))
        for kind in ("unionid", "external_userid"):
            if value := cols.text(row, kind, 128):
                ids.append(IdentityInput(kind, value))
        if not ids and masked is None:
            raise RowProblem(
                cols.where("buyer_id"), "", "no buyer: give one of buyer_id, phone, unionid, external_userid"
            )
        items = _items(cols, row, external_id)
        f["title"] = cols.text(row, "title") or (", ".join(i.title for i in items)[:500] if items else None)
        if items:
            f["item_count"] = sum(i.quantity for i in items)
        return OrderRecord(line, platform, external_id, f, items, ids)


def _items(cols: Columns, row: list[str], order_id: str) -> list[ItemRecord]:
    """``items``: a JSON array of objects, or "title*qty; title*qty" text."""
    text = clean(cols.raw(row, "items"))
    if not text:
        return []
    where = cols.where("items")
    out: list[ItemRecord] = []
    if text.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RowProblem(where, text[:200], f"items is not a valid JSON array ({exc.msg})") from exc
        if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
            raise RowProblem(where, text[:200], "items must be a JSON array of objects")
        for n, obj in enumerate(data, start=1):
            out.append(_item_from_obj(obj, n, where, cols.max_fen))
    else:
        for n, part in enumerate((p.strip() for p in text.replace("；", ";").split(";")), start=1):
            if not part:
                continue
            title, _, qty_text = part.rpartition("*") if "*" in part else (part, "", "1")
            try:
                qty = parse_int(qty_text, default=1)
            except CellError as exc:
                raise RowProblem(where, part[:200], f"item {n}: {exc}") from exc
            out.append(ItemRecord(line_key=_key(title, n), title=title.strip()[:300], quantity=max(qty, 1)))
    return out


def _item_from_obj(obj: dict[str, Any], n: int, where: str, max_fen: int) -> ItemRecord:
    title = str(obj.get("title") or obj.get("name") or "").strip()
    if not title:
        raise RowProblem(where, json.dumps(obj, ensure_ascii=False)[:200], f"item {n} has no title")
    try:
        qty = parse_int(str(obj.get("quantity", 1)), default=1)
        price = parse_fen(str(obj.get("price", "") or ""))
        amount = parse_fen(str(obj["amount"])) if obj.get("amount") not in (None, "") else price * qty
        cost = obj.get("cost")
        cost_fen = parse_fen(str(cost)) if cost not in (None, "") else None
    except CellError as exc:
        raise RowProblem(where, json.dumps(obj, ensure_ascii=False)[:200], f"item {n}: {exc}") from exc
    top = max(price, amount, cost_fen or 0)
    if top > max_fen:
        raise RowProblem(
            where, json.dumps(obj, ensure_ascii=False)[:200], f"item {n}: {over_limit(top, max_fen)}"
        )
    sku = str(obj["sku"])[:64] if obj.get("sku") else None
    return ItemRecord(
        line_key=str(obj.get("line_id") or _key(f"{sku}|{title}", n))[:64],
        title=title[:300],
        quantity=max(qty, 1),
        unit_price_fen=price,
        amount_fen=amount,
        cost_fen=cost_fen,
        sku=sku,
        category=str(obj["category"])[:64] if obj.get("category") else None,
        spec=str(obj["spec"])[:200] if obj.get("spec") else None,
    )


def _key(text: str, n: int) -> str:
    return f"{n}:" + hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]
