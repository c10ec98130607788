"""Running an audience: count and masked preview.

Both are answered by the in-process audience index when it is fresh (``index.py``),
else by one SQL query (``compiler.py``); the two agree exactly (property-tested).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from siyu.models import Customer, CustomerIdentity, CustomerStats, CustomerTag, Tag
from siyu.segments.audience import index
from siyu.segments.audience.ast import Expr
from siyu.segments.audience.columns import Columns
from siyu.segments.audience.compiler import compile_expr
from siyu.segments.audience.parser import parse
from siyu.segments.schemas import Preview, PreviewRow


def count(session: Session, *, workspace_id: int, expr: Expr | str, now: datetime | None = None) -> int:
    """How many live customers of the workspace match ``expr``."""
    return count_with_warnings(session, workspace_id=workspace_id, expr=expr, now=now)[0]


def count_with_warnings(
    session: Session,
    *,
    workspace_id: int,
    expr: Expr | str,
    now: datetime | None = None,
    saving_as: str | None = None,
) -> tuple[int, list[str]]:
    """The count and the unknown-name warnings, from one evaluation."""
    tree = parse(expr) if isinstance(expr, str) else expr

    def on_index(cols: Columns) -> tuple[int, list[str]]:
        got = index.evaluate(
            session, cols, workspace_id=workspace_id, tree=tree, now=now, saving_as=saving_as
        )
        return int(np.count_nonzero(got.mask)), got.warnings

    fast = index.with_index(session, workspace_id, on_index)
    if fast is not None:
        return fast
    compiled = compile_expr(session, workspace_id=workspace_id, expr=tree, now=now, saving_as=saving_as)
    total = session.scalar(select(func.count()).select_from(compiled.query.subquery())) or 0
    return total, compiled.warnings


def preview(
    session: Session,
    *,
    workspace_id: int,
    expr: Expr | str,
    limit: int = 20,
    now: datetime | None = None,
) -> Preview:
    """The count and the first ``limit`` matching customers (newest first), phones masked."""
    tree = parse(expr) if isinstance(expr, str) else expr
    limit = max(0, limit)

    def on_index(cols: Columns) -> tuple[int, list[str], list[int]]:
        got = index.evaluate(session, cols, workspace_id=workspace_id, tree=tree, now=now)
        ids = cols.ids[got.mask]
        top = ids if len(ids) <= limit else np.partition(ids, len(ids) - limit)[len(ids) - limit :]
        return len(ids), got.warnings, sorted((int(i) for i in top), reverse=True)[:limit]

    fast = index.with_index(session, workspace_id, on_index)
    if fast is not None:
        total, warnings_, top_ids = fast
        ids_query: Select[int] = select(Customer.id).where(Customer.id.in_(top_ids))
    else:
        compiled = compile_expr(session, workspace_id=workspace_id, expr=tree, now=now)
        total = session.scalar(select(func.count()).select_from(compiled.query.subquery())) or 0
        warnings_ = compiled.warnings
        ids_query = compiled.query.order_by(Customer.id.desc()).limit(limit)
    ids_sub = ids_query.subquery()
    rows = session.execute(
        select(
            Customer.id,
            Customer.name,
            Customer.province,
            Customer.city,
            CustomerStats.net_fen,
            CustomerStats.effective_orders_count,
        )
        .join(ids_sub, ids_sub.c.id == Customer.id)
        .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
        .order_by(Customer.id.desc())
    ).all()
    ids = [r.id for r in rows]
    tags: dict[int, list[str]] = {}
    phones: dict[int, str] = {}
    if ids:
        for cid, name in session.execute(
            select(CustomerTag.customer_id, Tag.name)
            .join(Tag, Tag.id == CustomerTag.tag_id)
            .where(CustomerTag.customer_id.in_(ids), Tag.deleted_at.is_(None))
            .order_by(Tag.group_id, Tag.sort_order, Tag.id)
        ):
            tags.setdefault(cid, []).append(name)
        for cid, masked in session.execute(
            select(CustomerIdentity.customer_id, CustomerIdentity.value_masked)
            .where(CustomerIdentity.customer_id.in_(ids), CustomerIdentity.kind == "phone")
            .order_by(CustomerIdentity.id)
        ):
            if masked:
                phones.setdefault(cid, masked)
    return Preview(
        count=total,
        warnings=warnings_,
        rows=[
            PreviewRow(
                id=r.id,
                name=r.name,
                phone_masked=phones.get(r.id),
                province=r.province,
                city=r.city,
                net_fen=r.net_fen or 0,
                orders=r.effective_orders_count or 0,
                tags=tags.get(r.id, []),
            )
            for r in rows
        ],
    )


def warnings(session: Session, *, workspace_id: int, expr: Expr | str) -> list[str]:
    """Unknown tag, staff, group or channel names in ``expr`` (each matches nobody)."""
    return compile_expr(session, workspace_id=workspace_id, expr=expr).warnings
