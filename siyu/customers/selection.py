"""Bulk actions on a selection of customers: tag, untag, export (CSV / XLSX).

A selection is either customer ids (the ticked rows of a list) or *every* customer an
audience expression finds. The console, the API (``/api/v1/customers/bulk/...``) and
the CLI (``siyu customers tag / untag / export``) all call the functions here, so they
share one notion of who may touch whom:

* a :class:`Caller` carries the workspace, the audit name and the data scope — the
  whole workspace, or only the customers one staff account follows as a friend;
* ids outside the scope are refused (NotFound, as if they did not exist), and an
  expression only ever reaches customers inside it;
* full phone numbers go into an export only for callers that may see them, and every
  export is written to the audit log with its selection and whether phones were masked.

Large selections are walked in keyset batches of customer ids (``WHERE id > last ORDER
BY id LIMIT n``): 100,000 customers are 100,000 ints, a batch at a time, never 100,000
ORM objects. Each batch is tagged through ``siyu.customers.tags.add_tags`` /
``remove_tags``, so the audience change journal sees every change.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from sqlalchemy import ColumnElement, Select, and_, false, func, select
from sqlalchemy.orm import Session

from siyu.customers import repository as repo
from siyu.customers import search
from siyu.customers.tags import add_tags, remove_tags
from siyu.kit import audit
from siyu.kit.errors import Forbidden, Invalid, NotFound
from siyu.kit.pii import PIIError, get_vault
from siyu.kit.timeutil import zone
from siyu.models import Customer, CustomerIdentity, CustomerScore, CustomerStats, Follow, Tag, Workspace
from siyu.segments import audience
from siyu.segments.labels import LAYER_NAMES, RFM_NAMES

BATCH = 2000  # customer ids per statement
MAX_IDS = 10_000  # ids one request may name (a whole result goes by expression instead)
MAX_EXPRESSION = 2000
ExportFormat = Literal["csv", "xlsx"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "xlsx")
EXPORT_COLUMNS = (
    "客户ID",
    "姓名",
    "手机号",
    "省份",
    "城市",
    "有效订单",
    "净消费（元）",
    "最近付款",
    "价值分层",
    "RFM 分群",
    "标签",
)


@dataclass(frozen=True)
class Caller:
    """Who acts: workspace, audit name, data scope and whether full phones are theirs to see.

    ``scope_staff_id`` is None for the whole workspace, else the staff account whose
    active friends are the only customers in reach (-1: nobody).
    """

    workspace_id: int
    actor: str
    scope_staff_id: int | None = None
    staff_id: int | None = None
    may_see_phones: bool = False
    via: str = "console"


@dataclass(frozen=True)
class Selection:
    """Ticked customer ids, every customer of an audience expression, or everyone in scope."""

    customer_ids: tuple[int, ...] = ()
    expression: str | None = None
    everyone: bool = False  # every customer in the caller's scope
    # What the customer list's search box holds: a name, phone digits or an expression
    # (``siyu.customers.search``); every customer it finds.
    box: str | None = None

    def describe(self) -> dict[str, Any]:
        """The selection as the audit log keeps it."""
        if self.everyone:
            return {"scope": "all"}
        if self.box is not None:
            return {"search": self.box}
        if self.expression is not None:
            return {"expression": self.expression}
        return {"selected": len(self.customer_ids)}


@dataclass
class BulkResult:
    customers: int = 0  # customers in the selection
    changed: int = 0  # tag links added or removed
    tags: list[str] = field(default_factory=list)


@dataclass
class ExportResult:
    rows: int
    masked: bool
    warnings: list[str] = field(default_factory=list)


def _scope(caller: Caller) -> ColumnElement[bool]:
    base = and_(
        Customer.workspace_id == caller.workspace_id,
        Customer.merged_into_id.is_(None),
        Customer.anonymised_at.is_(None),
    )
    if caller.scope_staff_id is None:
        return base
    if caller.scope_staff_id < 0:
        return false()
    followed = select(Follow.customer_id).where(
        Follow.workspace_id == caller.workspace_id,
        Follow.staff_id == caller.scope_staff_id,
        Follow.state == "active",
    )
    return and_(base, Customer.id.in_(followed))


def selection_query(session: Session, caller: Caller, selection: Selection) -> tuple[Select[Any], list[str]]:
    """``SELECT customers.id`` of the selection inside the caller's scope, and any warnings.

    Ids outside the scope (or of no live customer) are refused, naming the first one.
    """
    stmt = select(Customer.id).where(_scope(caller))
    warnings: list[str] = []
    if selection.everyone:
        return stmt, warnings
    if selection.box is not None:
        found = search.read(selection.box)
        if found.kind != "audience":
            return stmt.where(search.clause(caller.workspace_id, found)), warnings
        selection = Selection(expression=found.value)
    if selection.expression is not None:
        text = selection.expression.strip()
        if not text:
            raise Invalid("请输入人群表达式", field="expression")
        if len(text) > MAX_EXPRESSION:
            raise Invalid(f"表达式过长（最多 {MAX_EXPRESSION} 个字符）", field="expression")
        compiled = audience.compile_expr(session, workspace_id=caller.workspace_id, expr=text)
        warnings = list(compiled.warnings)
        return stmt.where(Customer.id.in_(compiled.query)), warnings
    ids = sorted(set(selection.customer_ids))
    if not ids:
        raise Invalid("没有选中任何客户", field="customer_ids")
    if len(ids) > MAX_IDS:
        raise Invalid(f"一次最多选择 {MAX_IDS:,} 位客户；更多客户请按筛选表达式操作", field="customer_ids")
    seen: set[int] = set()
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        seen.update(session.scalars(stmt.where(Customer.id.in_(chunk))))
    missing = [c for c in ids if c not in seen]
    if missing:
        raise NotFound(f"客户 {missing[0]} 不存在或不在你的可见范围内", field="customer_ids")
    return stmt.where(Customer.id.in_(ids)), warnings


def id_batches(session: Session, ids_query: Select[Any], batch: int | None = None) -> Iterator[list[int]]:
    """The ids of ``ids_query`` in ascending batches (keyset: each batch a fresh, short query).

    Rows the caller changes in a batch have ids at or below its last one, so a query
    that reads what the batch changed (``NOT tag:X`` while adding X) stays exact.
    """
    size = batch or BATCH
    last = 0
    while True:
        ids = list(session.scalars(ids_query.where(Customer.id > last).order_by(Customer.id).limit(size)))
        if not ids:
            return
        yield ids
        last = ids[-1]


def count(session: Session, caller: Caller, selection: Selection) -> int:
    """How many customers the selection holds (inside the caller's scope)."""
    stmt, _ = selection_query(session, caller, selection)
    return int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def _tags(session: Session, workspace_id: int, tag_ids: Sequence[int]) -> list[Tag]:
    wanted = sorted(set(tag_ids))
    if not wanted:
        raise Invalid("请选择标签", field="tag_ids")
    found = list(
        session.scalars(
            select(Tag).where(Tag.workspace_id == workspace_id, Tag.id.in_(wanted), Tag.deleted_at.is_(None))
        )
    )
    if len(found) != len(wanted):
        bad = sorted(set(wanted) - {t.id for t in found})[0]
        raise NotFound(f"标签 {bad} 不存在或已删除", field="tag_ids")
    return found


def bulk_tag(
    session: Session,
    caller: Caller,
    selection: Selection,
    *,
    tag_ids: Sequence[int],
    remove: bool = False,
) -> BulkResult:
    """Tag (or untag, ``remove=True``) every customer of the selection; audited.

    Untagging takes the tag off whatever put it there (manual, a rule, WeCom), as the
    one-customer remove does; a rule puts its tags back on its next run if it still
    matches.
    """
    tags = _tags(session, caller.workspace_id, tag_ids)
    ids_query, _ = selection_query(session, caller, selection)
    result = BulkResult(tags=[t.name for t in tags])
    tids = [t.id for t in tags]
    for ids in id_batches(session, ids_query):
        result.customers += len(ids)
        if remove:
            result.changed += remove_tags(
                session, workspace_id=caller.workspace_id, customer_ids=ids, tag_ids=tids
            )
        else:
            result.changed += add_tags(
                session,
                workspace_id=caller.workspace_id,
                customer_ids=ids,
                tag_ids=tids,
                source="manual",
                source_ref=caller.actor[:64],
                staff_id=caller.staff_id,
            )
    audit.record(
        session,
        workspace_id=caller.workspace_id,
        actor=caller.actor,
        action="customers.bulk_untag" if remove else "customers.bulk_tag",
        target_type="tag",
        target_id=",".join(str(t) for t in tids)[:64],
        detail={
            **selection.describe(),
            "tags": result.tags,
            "customers": result.customers,
            "changed": result.changed,
            "via": caller.via,
        },
    )
    return result


# -- export -----------------------------------------------------------------------------


def _full_phones(session: Session, ids: list[int]) -> dict[int, str]:
    vault = get_vault()
    out: dict[int, str] = {}
    for cid, enc in session.execute(
        select(CustomerIdentity.customer_id, CustomerIdentity.value_enc)
        .where(CustomerIdentity.customer_id.in_(ids), CustomerIdentity.kind == "phone")
        .order_by(CustomerIdentity.customer_id, CustomerIdentity.id)
    ):
        if cid in out or not enc:
            continue
        try:
            out[int(cid)] = vault.decrypt(enc)
        except (PIIError, ValueError):
            continue
    return out


def export_rows(
    session: Session, caller: Caller, ids_query: Select[Any], *, full_phones: bool, tz: str
) -> Iterator[list[Any]]:
    """The export's rows, a batch of customers at a time (plain values, no ORM objects)."""
    for ids in id_batches(session, ids_query):
        rows = session.execute(
            select(
                Customer.id,
                Customer.name,
                Customer.province,
                Customer.city,
                CustomerStats.effective_orders_count,
                CustomerStats.net_fen,
                CustomerStats.last_paid_at,
                CustomerScore.layer_value,
                CustomerScore.rfm_segment,
            )
            .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
            .outerjoin(CustomerScore, CustomerScore.customer_id == Customer.id)
            .where(Customer.id.in_(ids))
            .order_by(Customer.id)
        ).all()
        phones = _full_phones(session, ids) if full_phones else repo.masked_phones(session, customer_ids=ids)
        tags = repo.tag_names(session, customer_ids=ids)
        for cid, name, province, city, orders, net, last_paid, layer, rfm in rows:
            yield [
                int(cid),
                name or "",
                phones.get(int(cid), ""),
                province or "",
                city or "",
                int(orders or 0),
                f"{int(net or 0) / 100:.2f}",
                last_paid.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M") if last_paid else "",
                LAYER_NAMES.get(layer, layer) if layer else "",
                RFM_NAMES.get(rfm, rfm) if rfm else "",
                "、".join(tags.get(int(cid), [])),
            ]


def _write_csv(rows: Iterator[list[Any]], out: IO[bytes]) -> int:
    # UTF-8 with a BOM: Excel on Windows (the brands' tool of choice) then reads Chinese right.
    text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow(EXPORT_COLUMNS)
    n = 0
    for row in rows:
        writer.writerow([_safe_cell(v) for v in row])
        n += 1
    text.flush()
    text.detach()
    return n


def _safe_cell(value: Any) -> Any:
    """Keep a spreadsheet from running a cell as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _write_xlsx(rows: Iterator[list[Any]], out: IO[bytes]) -> int:
    import xlsxwriter

    # constant_memory: each row goes to disk as it is written, whatever the export's size.
    book = xlsxwriter.Workbook(out, {"constant_memory": True, "strings_to_formulas": False,
                                     "strings_to_urls": False, "strings_to_numbers": False})  # fmt: skip
    sheet = book.add_worksheet("客户")
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, EXPORT_COLUMNS, bold)
    n = 0
    for n, row in enumerate(rows, start=1):
        values = list(row)
        sheet.write_number(n, 0, values[0])
        sheet.write_row(n, 1, values[1:5])
        sheet.write_number(n, 5, values[5])
        sheet.write_number(n, 6, float(values[6]))
        sheet.write_row(n, 7, values[7:])
    book.close()
    return n


def export(
    session: Session,
    caller: Caller,
    selection: Selection,
    *,
    fmt: str,
    out: IO[bytes],
    full_phones: bool = False,
) -> ExportResult:
    """Write the selection as CSV or XLSX to ``out``; phones masked unless allowed; audited."""
    if fmt not in EXPORT_FORMATS:
        raise Invalid(f"导出格式只能是 {' 或 '.join(EXPORT_FORMATS)}，不是 {fmt!r}", field="format")
    if full_phones and not caller.may_see_phones:
        raise Forbidden("你的角色不能导出完整手机号（仅所有者和管理员可以）", field="phones")
    ids_query, warnings = selection_query(session, caller, selection)
    ws = session.get(Workspace, caller.workspace_id)
    tz = ws.timezone if ws is not None else "Asia/Shanghai"
    rows = export_rows(session, caller, ids_query, full_phones=full_phones, tz=tz)
    n = _write_csv(rows, out) if fmt == "csv" else _write_xlsx(rows, out)
    audit.record(
        session,
        workspace_id=caller.workspace_id,
        actor=caller.actor,
        action="customers.export",
        target_type="customers",
        detail={
            **selection.describe(),
            "format": fmt,
            "rows": n,
            "masked": not full_phones,
            "via": caller.via,
        },
    )
    return ExportResult(rows=n, masked=not full_phones, warnings=warnings)
