"""All queries of the customers domain (OneID identities, merges, stats, profile reads)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.orm import Session

from siyu.customers.bulk import bulk_insert
from siyu.kit.timeutil import utcnow
from siyu.models import (
    Customer,
    CustomerIdentity,
    CustomerScore,
    CustomerStats,
    CustomerTag,
    ErasedIdentity,
    Event,
    Follow,
    GroupMember,
    Order,
    Reward,
    Staff,
    Tag,
)

# Keep IN (...) lists well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 900
T = TypeVar("T")


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def identity_owners(
    session: Session, *, workspace_id: int, kind: str, platform: str, hashes: Sequence[str]
) -> dict[str, int]:
    """value_hash → customer id for the known identities among ``hashes``."""
    return _key_owners(session, CustomerIdentity, workspace_id, kind, platform, hashes)


def erased_owners(
    session: Session, *, workspace_id: int, kind: str, platform: str, hashes: Sequence[str]
) -> dict[str, int]:
    """value_hash → anonymised customer id for the erased keys among ``hashes``."""
    return _key_owners(session, ErasedIdentity, workspace_id, kind, platform, hashes)


def _key_owners(
    session: Session,
    model: type[CustomerIdentity] | type[ErasedIdentity],
    workspace_id: int,
    kind: str,
    platform: str,
    hashes: Sequence[str],
) -> dict[str, int]:
    fast = sqlite_in_rows(
        session,
        f"SELECT value_hash, customer_id FROM {model.__tablename__}",  # noqa: S608 (a model's name)
        "value_hash",
        hashes,
        "workspace_id = ? AND kind = ? AND platform = ?",
        (workspace_id, kind, platform),
    )
    if fast is not None:
        return dict(fast)
    found: dict[str, int] = {}
    for part in chunks(hashes):
        rows = session.execute(
            select(model.value_hash, model.customer_id).where(
                model.workspace_id == workspace_id,
                model.kind == kind,
                model.platform == platform,
                model.value_hash.in_(part),
            )
        )
        found.update((h, c) for h, c in rows)
    return found


def has_erased_identities(session: Session, *, workspace_id: int) -> bool:
    """Whether any PIPL erasure left suppression keys in this workspace (one index probe)."""
    probe = select(ErasedIdentity.id).where(ErasedIdentity.workspace_id == workspace_id).limit(1)
    return session.scalar(probe) is not None


def insert_erased_identities(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, ErasedIdentity, rows)


def erase_identities(
    session: Session, *, workspace_id: int, customer_ids: Sequence[int], owner_id: int
) -> int:
    """Turn these customers' identities into suppression keys of ``owner_id``; returns how many.

    The identity rows (values, ciphertexts, masks) are deleted; only their keyed hashes
    stay, in ``erased_identities``.
    """
    where = (CustomerIdentity.workspace_id == workspace_id, CustomerIdentity.customer_id.in_(customer_ids))
    now = utcnow()
    keys = session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.platform, CustomerIdentity.value_hash).where(*where)
    ).all()
    insert_erased_identities(
        session,
        [
            {
                "workspace_id": workspace_id,
                "customer_id": owner_id,
                "kind": kind,
                "platform": platform,
                "value_hash": digest,
                "erased_at": now,
            }
            for kind, platform, digest in keys
        ],
    )
    session.execute(delete(CustomerIdentity).where(*where))
    return len(keys)


def insert_customers(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Bulk insert customers; their ids in the order given."""
    return bulk_insert(session, Customer, rows, with_ids=True)


def insert_identities(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, CustomerIdentity, rows)


def live_customer_id(session: Session, *, workspace_id: int, customer_id: int) -> int | None:
    """Follow ``merged_into_id`` to the surviving profile (None if it does not exist)."""
    seen: set[int] = set()
    current: int | None = customer_id
    while current is not None and current not in seen:
        seen.add(current)
        row = session.execute(
            select(Customer.id, Customer.merged_into_id).where(
                Customer.workspace_id == workspace_id, Customer.id == current
            )
        ).first()
        if row is None:
            return None
        if row[1] is None:
            return int(row[0])
        current = row[1]
    return current


def move_customer_rows(
    session: Session, *, workspace_id: int, survivor_id: int, merged_id: int
) -> dict[str, int]:
    """Re-point everything of ``merged_id`` at ``survivor_id``; returns rows moved per table."""
    moved: dict[str, int] = {}

    def run(name: str, stmt: Any) -> None:
        moved[name] = int(getattr(session.execute(stmt), "rowcount", 0) or 0)

    where_ws = (CustomerIdentity.workspace_id == workspace_id, CustomerIdentity.customer_id == merged_id)
    run("identities", update(CustomerIdentity).where(*where_ws).values(customer_id=survivor_id))
    run(
        "orders",
        update(Order)
        .where(Order.workspace_id == workspace_id, Order.customer_id == merged_id)
        .values(customer_id=survivor_id),
    )
    run(
        "events",
        update(Event)
        .where(Event.workspace_id == workspace_id, Event.customer_id == merged_id)
        .values(customer_id=survivor_id),
    )
    run(
        "rewards",
        update(Reward)
        .where(Reward.workspace_id == workspace_id, Reward.customer_id == merged_id)
        .values(customer_id=survivor_id),
    )
    run(
        "rewards_referred",
        update(Reward)
        .where(Reward.workspace_id == workspace_id, Reward.referred_customer_id == merged_id)
        .values(referred_customer_id=survivor_id),
    )
    run(
        "group_members",
        update(GroupMember)
        .where(GroupMember.workspace_id == workspace_id, GroupMember.customer_id == merged_id)
        .values(customer_id=survivor_id),
    )
    # Follows and tags are unique per customer: the survivor keeps its own row where both
    # have one (the earlier friendship is kept), the rest move over.
    survivor_follows = {
        staff_id: (fid, added)
        for fid, staff_id, added in session.execute(
            select(Follow.id, Follow.staff_id, Follow.added_at).where(Follow.customer_id == survivor_id)
        )
    }
    moved_follows = 0
    for fid, staff_id, added in session.execute(
        select(Follow.id, Follow.staff_id, Follow.added_at).where(Follow.customer_id == merged_id)
    ):
        mine = survivor_follows.get(staff_id)
        if mine is None:
            session.execute(update(Follow).where(Follow.id == fid).values(customer_id=survivor_id))
            moved_follows += 1
            continue
        if added is not None and (mine[1] is None or added < mine[1]):
            session.execute(update(Follow).where(Follow.id == mine[0]).values(added_at=added))
        session.execute(delete(Follow).where(Follow.id == fid))
    moved["follows"] = moved_follows
    survivor_tags = set(
        session.scalars(select(CustomerTag.tag_id).where(CustomerTag.customer_id == survivor_id))
    )
    dup = CustomerTag.customer_id == merged_id
    if survivor_tags:
        session.execute(delete(CustomerTag).where(dup, CustomerTag.tag_id.in_(sorted(survivor_tags))))
    run("tags", update(CustomerTag).where(dup).values(customer_id=survivor_id))
    run(
        "referrals",
        update(Customer)
        .where(Customer.workspace_id == workspace_id, Customer.referred_by_id == merged_id)
        .values(referred_by_id=survivor_id),
    )
    # Earlier tombstones that pointed at the merged profile now point at the survivor.
    session.execute(
        update(Customer)
        .where(Customer.workspace_id == workspace_id, Customer.merged_into_id == merged_id)
        .values(merged_into_id=survivor_id)
    )
    session.execute(delete(CustomerStats).where(CustomerStats.customer_id == merged_id))
    session.execute(delete(CustomerScore).where(CustomerScore.customer_id == merged_id))
    return moved


def _driver_rows(session: Session, sql: str, params: Sequence[Any]) -> list[Any]:
    """All rows of a query run on the session's own DB-API connection (same transaction).

    Flushes first, as an ORM query would (autoflush): the driver sees only what the
    database holds.
    """
    if session.autoflush:
        session.flush()
    dbapi = session.connection().connection.driver_connection
    assert dbapi is not None
    cursor = dbapi.cursor()
    try:
        return list(cursor.execute(sql, tuple(params)).fetchall())
    finally:
        cursor.close()


def sqlite_in_rows(
    session: Session,
    select_sql: str,
    column: str,
    values: Sequence[Any],
    where: str = "",
    params: tuple[Any, ...] = (),
) -> list[Any] | None:
    """Rows of ``select_sql WHERE [where AND] column IN (values)`` on SQLite, else None.

    On SQLite the hot lookups of an import go straight to the driver: SQLAlchemy's
    rendering of long ``IN`` lists costs more than the query. Other databases get
    None and use the ORM query. ``select_sql``, ``where`` and ``column`` are fixed
    text from the caller; every value is bound.
    """
    if session.connection().dialect.name != "sqlite":
        return None
    rows: list[Any] = []
    for part in chunks(values):
        marks = ", ".join("?" * len(part))
        cond = f"{where} AND " if where else ""
        rows.extend(
            _driver_rows(session, f"{select_sql} WHERE {cond}{column} IN ({marks})", (*params, *part))
        )
    return rows


def list_customers(session: Session, *, workspace_id: int, limit: int, offset: int) -> list[Any]:
    """Live (not merged) customers with their stats, newest first."""
    stmt = (
        select(Customer, CustomerStats)
        .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
        .where(Customer.workspace_id == workspace_id, Customer.merged_into_id.is_(None))
        .order_by(Customer.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.execute(stmt).all())


def masked_phones(session: Session, *, customer_ids: Iterable[int]) -> dict[int, str]:
    """customer id → the masked form of its first phone identity."""
    out: dict[int, str] = {}
    ids = sorted(set(customer_ids))
    for part in chunks(ids):
        for cid, masked in session.execute(
            select(CustomerIdentity.customer_id, CustomerIdentity.value_masked)
            .where(CustomerIdentity.customer_id.in_(part), CustomerIdentity.kind == "phone")
            .order_by(CustomerIdentity.id)
        ):
            if masked and cid not in out:
                out[cid] = masked
    return out


def tag_names(session: Session, *, customer_ids: Iterable[int]) -> dict[int, list[str]]:
    """customer id → names of its live tags (in tag group, then tag order)."""
    out: dict[int, list[str]] = {}
    ids = sorted(set(customer_ids))
    for part in chunks(ids):
        for cid, name in session.execute(
            select(CustomerTag.customer_id, Tag.name)
            .join(Tag, Tag.id == CustomerTag.tag_id)
            .where(CustomerTag.customer_id.in_(part), Tag.deleted_at.is_(None))
            .order_by(Tag.group_id, Tag.sort_order, Tag.id)
        ):
            out.setdefault(cid, []).append(name)
    return out


def stats_by_customer(session: Session, *, customer_ids: Iterable[int]) -> dict[int, CustomerStats]:
    """customer id → its stats row, for those of these customers that have one."""
    out: dict[int, CustomerStats] = {}
    ids = sorted(set(customer_ids))
    for part in chunks(ids):
        out.update(
            (s.customer_id, s)
            for s in session.scalars(select(CustomerStats).where(CustomerStats.customer_id.in_(part)))
        )
    return out


def scores_by_customer(session: Session, *, customer_ids: Iterable[int]) -> dict[int, CustomerScore]:
    """customer id → its scores row, for those of these customers that have one."""
    out: dict[int, CustomerScore] = {}
    ids = sorted(set(customer_ids))
    for part in chunks(ids):
        out.update(
            (s.customer_id, s)
            for s in session.scalars(select(CustomerScore).where(CustomerScore.customer_id.in_(part)))
        )
    return out


def customers_with_stats_and_scores(
    session: Session, *, customer_ids: Sequence[int]
) -> list[tuple[Customer, CustomerStats | None, CustomerScore | None]]:
    """(customer, stats, scores) for these customers, in the order of ``customer_ids``."""
    found: dict[int, tuple[Customer, CustomerStats | None, CustomerScore | None]] = {}
    for part in chunks(customer_ids):
        for c, st, sc in session.execute(
            select(Customer, CustomerStats, CustomerScore)
            .where(Customer.id.in_(part))
            .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
            .outerjoin(CustomerScore, CustomerScore.customer_id == Customer.id)
        ):
            found[c.id] = (c, st, sc)
    return [found[cid] for cid in customer_ids if cid in found]


def get_customer(session: Session, *, workspace_id: int, customer_id: int) -> Customer | None:
    return session.scalar(
        select(Customer).where(Customer.workspace_id == workspace_id, Customer.id == customer_id)
    )


def identities_of(session: Session, customer_id: int) -> list[CustomerIdentity]:
    return list(
        session.scalars(
            select(CustomerIdentity)
            .where(CustomerIdentity.customer_id == customer_id)
            .order_by(CustomerIdentity.id)
        )
    )


def follows_of(session: Session, *, workspace_id: int, customer_id: int) -> list[tuple[Follow, Staff]]:
    """The customer's follows with their staff, latest friendship first (then by id)."""
    rows = session.execute(
        select(Follow, Staff)
        .join(Staff, Staff.id == Follow.staff_id)
        .where(Follow.workspace_id == workspace_id, Follow.customer_id == customer_id)
        .order_by(Follow.added_at.desc().nulls_last(), Follow.id)
    )
    return [(f, s) for f, s in rows]


def merged_ids_of(session: Session, *, workspace_id: int, customer_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Customer.id)
            .where(Customer.workspace_id == workspace_id, Customer.merged_into_id == customer_id)
            .order_by(Customer.id)
        )
    )


def stats_of(session: Session, customer_id: int) -> CustomerStats | None:
    return session.get(CustomerStats, customer_id)


def orders_of(session: Session, customer_id: int, limit: int) -> tuple[list[Order], int]:
    """The customer's most recent orders, and how many there are in all."""
    total = session.scalar(select(func.count()).select_from(Order).where(Order.customer_id == customer_id))
    rows = session.scalars(
        select(Order)
        .where(Order.customer_id == customer_id)
        .order_by(func.coalesce(Order.paid_at, Order.ordered_at).desc(), Order.id.desc())
        .limit(limit)
    )
    return list(rows), int(total or 0)


def escape_like(text: str) -> str:
    """``text`` with LIKE wildcards escaped (use with ``escape="\\"``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def orders_query(*, workspace_id: int, customer_id: int) -> Select[Order]:
    """The customer's orders, most recently paid (or placed) first."""
    return (
        select(Order)
        .where(Order.workspace_id == workspace_id, Order.customer_id == customer_id)
        .order_by(func.coalesce(Order.paid_at, Order.ordered_at).desc(), Order.id.desc())
    )


def timeline_query(*, workspace_id: int, customer_id: int, kind_prefix: str | None = None) -> Select[Event]:
    """The customer's events, newest first; only kinds starting with ``kind_prefix`` if given."""
    stmt = select(Event).where(Event.workspace_id == workspace_id, Event.customer_id == customer_id)
    if kind_prefix:
        stmt = stmt.where(Event.kind.like(escape_like(kind_prefix) + "%", escape="\\"))
    return stmt.order_by(Event.occurred_at.desc(), Event.id.desc())


def anonymised_ids(session: Session, customer_ids: Sequence[int]) -> set[int]:
    """The customers among these that were anonymised (PIPL erasure)."""
    fast = sqlite_in_rows(
        session, "SELECT id FROM customers", "id", customer_ids, "anonymised_at IS NOT NULL"
    )
    if fast is not None:
        return {r[0] for r in fast}
    found: set[int] = set()
    for part in chunks(customer_ids):
        found.update(
            session.scalars(
                select(Customer.id).where(Customer.id.in_(part), Customer.anonymised_at.is_not(None))
            )
        )
    return found
