"""Bulk writes for imports: Core executemany, and a raw fast path on SQLite.

The ORM's bulk insert handles a mapped table row by row, and even Core spends most of
an import's time converting each value through its column type. On SQLite the values
an import writes (ints, text, UTC datetimes, JSON) are converted here once, in the
exact storage format SQLAlchemy itself uses, and handed to ``executemany`` directly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Table, bindparam, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from siyu.kit.types import UTCDateTime


def allocate_ids(session: Session, model: Any, n: int) -> list[int]:
    """Reserve ``n`` primary keys for a bulk insert.

    RETURNING with ordered rows falls back to one statement per row on SQLite, so ids
    are handed out up front. PostgreSQL draws them from the column's sequence; SQLite
    has one writer at a time and the import takes the write lock first (see
    ``siyu.orders.service``), so max(id) + 1… is free. A clash still fails loudly on the
    primary key, never silently.
    """
    if n <= 0:
        return []
    table: Table = model.__table__
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        rows = conn.execute(
            text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
            {"t": table.name, "n": n},
        )
        return [int(r[0]) for r in rows]
    start = int(conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1
    return list(range(start, start + n))


def bulk_insert(
    session: Session,
    model: Any,
    rows: list[dict[str, Any]],
    *,
    with_ids: bool = False,
    skip_conflicts_on: tuple[str, ...] | None = None,
) -> list[int]:
    """Insert many rows in one executemany; ``with_ids`` assigns and returns their ids.

    ``skip_conflicts_on`` names a unique constraint's columns: rows that would break it
    are left out (``ON CONFLICT (…) DO NOTHING``) instead of failing the statement.
    """
    if not rows:
        return []
    if skip_conflicts_on is not None and with_ids:
        raise ValueError("ids of skipped rows would be wrong: skip_conflicts_on excludes with_ids")
    table: Table = model.__table__
    conn = session.connection()
    ids: list[int] = []
    if with_ids and len(rows) <= 8:
        # A few rows (a WeCom callback, a small batch): let the database number them.
        stmt = insert(table).returning(table.c.id)
        return [int(conn.execute(stmt, row).scalar_one()) for row in rows]
    if with_ids:
        ids = allocate_ids(session, model, len(rows))
        for row, new_id in zip(rows, ids, strict=True):
            row["id"] = new_id
    if conn.dialect.name == "sqlite":
        _sqlite_insert(session, table, rows, skip_conflicts_on)
    elif skip_conflicts_on is not None and conn.dialect.name == "postgresql":
        conn.execute(pg_insert(table).on_conflict_do_nothing(index_elements=list(skip_conflicts_on)), rows)
    else:
        # Through the connection, not the session: the ORM would route a mapped table's
        # insert through its per-row bulk machinery.
        conn.execute(insert(table), rows)
    return ids


def bulk_update(session: Session, model: Any, rows: list[dict[str, Any]], *, pk: str = "id") -> None:
    """Update many rows by primary key; rows with the same keys share one executemany."""
    table: Table = model.__table__
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(k for k in row if k != pk)), []).append(row)
    conn = session.connection()
    for keys, group in groups.items():
        if not keys:
            continue
        if conn.dialect.name == "sqlite":
            _sqlite_update(session, table, pk, list(keys), group)
            continue
        stmt = (
            update(table)
            .where(table.c[pk] == bindparam("k_" + pk))
            .values({k: bindparam("v_" + k) for k in keys})
        )
        conn.execute(stmt, [{"k_" + pk: r[pk], **{"v_" + k: r[k] for k in keys}} for r in group])


def _sqlite_datetime(value: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME storage format (UTC, always with microseconds)."""
    tz = value.tzinfo
    if tz is UTC:
        # The common case (importers produce UTC): drop the "+00:00" suffix instead of
        # building a naive copy first; the text is the same.
        return value.isoformat(" ", "microseconds")[:-6]
    if tz is None:
        raise ValueError("naive datetime given to a UTC column; attach a timezone")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


# json.dumps(value) with its defaults, minus what it redoes on every call (argument
# checks, building a C encoder): one C encoder, made once, gives the same text.
_json_chunks = (
    json.encoder.c_make_encoder(  # type: ignore[attr-defined]
        # No circular-reference markers: a shared table would keep stale entries after
        # an error; a cyclic value (never written by siyu) fails with RecursionError.
        None, json.JSONEncoder().default, json.encoder.encode_basestring_ascii, None,
        ": ", ", ", False, False, True,
    )
    if getattr(json.encoder, "c_make_encoder", None) is not None
    else None
)  # fmt: skip


def _sqlite_json(value: Any) -> str:
    """JSON text as SQLAlchemy's JSON type stores it; empty objects skip the encoder."""
    if type(value) is dict:
        if not value:
            return "{}"
        if _json_chunks is not None:
            return "".join(_json_chunks(value, 0))
    return json.dumps(value)


def _converters(table: Table, keys: list[str]) -> list[tuple[int, Any]]:
    """(position, converter) for the values SQLite cannot take as they are."""
    convert: list[tuple[int, Any]] = []
    for i, key in enumerate(keys):
        col_type = table.c[key].type
        if isinstance(col_type, UTCDateTime):
            convert.append((i, _sqlite_datetime))
        elif isinstance(col_type, JSON) or isinstance(getattr(col_type, "impl", None), JSON):
            convert.append((i, _sqlite_json))
    return convert


# The SQLite text of datetimes whose text was made elsewhere already (the order import's
# parser process sends it): instant → exactly what :func:`_sqlite_datetime` gives.
# Cleared by whoever fills it past ``SQLITE_TEXT_KEPT`` entries.
SQLITE_TEXT: dict[datetime, str] = {}
SQLITE_TEXT_KEPT = 100_000


def _sqlite_datetimes(values: Sequence[datetime | None]) -> list[str | None]:
    """:func:`_sqlite_datetime` of a column; a value repeated (created_at/updated_at of a
    whole batch: the same object row after row) is converted once, and a value whose
    text is known (``SQLITE_TEXT``) is not converted at all."""
    out: list[str | None] = []
    append = out.append
    known = SQLITE_TEXT.get
    prev: datetime | None = None
    text_of_prev: str | None = None
    for v in values:
        if v is None:
            append(None)
        elif v is prev:
            append(text_of_prev)
        else:
            prev = v
            text_of_prev = known(v)
            if text_of_prev is None:
                # The common case inline (importers produce UTC); anything else as before.
                text_of_prev = (
                    v.isoformat(" ", "microseconds")[:-6] if v.tzinfo is UTC else _sqlite_datetime(v)
                )
            append(text_of_prev)
    return out


def _sqlite_params(
    keys: list[str],
    convert: list[tuple[int, Any]],
    rows: list[dict[str, Any]],
    tail: tuple[Any, ...],
    last: str | None = None,
) -> list[tuple[Any, ...]]:
    """Driver parameters: ``keys`` (converted), the constant ``tail``, then ``last``.

    Each row's values are picked by one ``itemgetter`` call (C), and only the columns
    that need converting (datetimes, JSON) are walked in Python: far fewer Python-level
    steps per row than converting row by row or copying every column.
    """
    if not rows:
        return []
    if len(keys) <= 1:
        picked: list[Any] = [tuple(row[k] for k in keys) for row in rows]
    else:
        # One C-level itemgetter call per row, then the columns that need converting.
        picked = list(map(itemgetter(*keys), rows))
    if not convert and not tail and last is None:
        return picked
    columns: list[Any] = list(zip(*picked, strict=True))
    for i, f in convert:
        if f is _sqlite_datetime:
            columns[i] = _sqlite_datetimes(columns[i])
        else:
            columns[i] = [None if v is None else f(v) for v in columns[i]]
    n = len(rows)
    columns.extend([value] * n for value in tail)
    if last is not None:
        columns.append([row[last] for row in rows])
    return list(zip(*columns, strict=True))


def _sqlite_update(
    session: Session, table: Table, pk: str, keys: list[str], rows: list[dict[str, Any]]
) -> None:
    names = list(keys)
    extra: list[Any] = []
    for col in table.columns:
        # Columns with an onupdate (updated_at) get it, as Core would set them.
        if col.onupdate is not None and col.name not in keys and col.name != pk:
            value = col.onupdate.arg(None) if col.onupdate.is_callable else col.onupdate.arg  # type: ignore[attr-defined]
            names.append(col.name)
            extra.append(_sqlite_datetime(value) if isinstance(value, datetime) else value)
    quote = session.connection().dialect.identifier_preparer.quote
    # Identifiers come from the table definition and every value is bound: no injection.
    sql = (
        f"UPDATE {quote(table.name)} SET {', '.join(f'{quote(n)} = ?' for n in names)} "  # noqa: S608
        f"WHERE {quote(pk)} = ?"
    )
    params = _sqlite_params(keys, _converters(table, keys), rows, tuple(extra), last=pk)
    session.connection().exec_driver_sql(sql, params)


def _sqlite_insert(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    skip_conflicts_on: tuple[str, ...] | None = None,
) -> None:
    keys = list(rows[0])
    convert = _converters(table, keys)
    # Columns the rows leave out get their Python-side default, as Core would give them.
    names = list(keys)
    tail: list[Any] = []
    for col in table.columns:
        if col.name in rows[0] or col.default is None:
            continue
        default: Any = col.default
        if default.is_clause_element:
            continue  # a SQL default (events.txid): NULL on SQLite, which is what omitting gives
        value = default.arg(None) if default.is_callable else default.arg
        if isinstance(value, datetime):
            value = _sqlite_datetime(value)
        elif isinstance(value, (dict, list)):
            value = json.dumps(value)
        names.append(col.name)
        tail.append(value)
    fixed = tuple(tail)
    quote = session.connection().dialect.identifier_preparer.quote
    # Identifiers come from the table definition and every value is bound: no injection.
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "  # noqa: S608
        f"VALUES ({', '.join('?' * len(names))})"
    )
    if skip_conflicts_on is not None:
        sql += f" ON CONFLICT ({', '.join(quote(c) for c in skip_conflicts_on)}) DO NOTHING"
    params = _sqlite_params(keys, convert, rows, fixed)
    session.connection().exec_driver_sql(sql, params)
