"""The audience change journal's writer: every committed write to audience data leaves a note.

Engine-wide SQLAlchemy hooks watch the tables an audience reads (customers, stats,
scores, tags on customers, follows, group members) and collect, per connection and
transaction, which customers a statement touched: from the inserted rows, from the
``WHERE customer_id = / IN`` of an update or delete, or else by selecting the affected
rows' customer ids first. Just before the transaction commits they are written to
``audience_changes`` on the same connection, so the note commits (or rolls back) with
the change. Updates that set none of the watched columns are ignored.

What is caught: ORM flushes, ORM DML (``session.execute(update(...))``), Core
statements on a connection, and ``exec_driver_sql`` in the shapes ``siyu.customers.bulk``
emits. Anything on a watched table that cannot be read (an ``INSERT ... SELECT``, a
``text()`` DML, an unknown driver statement) is noted as "everything changed", which
costs the reader a rebuild, never a wrong count. Writes through a bare DB-API cursor
are invisible to SQLAlchemy: such code calls :func:`note` (see
``siyu.segments.scores_repository``). ADR 0005 has the reasoning.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool
from sqlalchemy.sql import operators
from sqlalchemy.sql.dml import Delete, Insert, Update, UpdateBase
from sqlalchemy.sql.elements import BinaryExpression, BindParameter, BooleanClauseList, TextClause

TABLE = "audience_changes"
# table -> (its customer id column, the columns an audience reads)
WATCHED: dict[str, tuple[str, frozenset[str]]] = {
    "customers": (
        "id",
        frozenset({"id", "workspace_id", "province", "city", "merged_into_id", "anonymised_at"}),
    ),
    "customer_stats": (
        "customer_id",
        frozenset(
            {
                "customer_id",
                "workspace_id",
                "net_fen",
                "effective_orders_count",
                "last_paid_at",
                "first_paid_at",
                "categories",
                "products",
            }
        ),
    ),
    "customer_scores": (
        "customer_id",
        frozenset(
            {
                "customer_id",
                "workspace_id",
                "layer_age",
                "layer_tier",
                "layer_value",
                "lifecycle",
                "rfm_segment",
                "rfm8",
                "p_alive",
            }
        ),
    ),
    "customer_tags": ("customer_id", frozenset({"customer_id", "tag_id", "workspace_id"})),
    # follows, group members and orders: also what the P&L reads (siyu.insights.pnl_cache)
    "follows": (
        "customer_id",
        frozenset(
            {"customer_id", "staff_id", "state", "live_code_state", "workspace_id", "added_at", "deleted_at"}
        ),
    ),
    "group_members": (
        "customer_id",
        frozenset({"customer_id", "group_id", "state", "workspace_id", "join_time", "quit_time"}),
    ),
    "orders": (
        "customer_id",
        frozenset(
            {
                "customer_id",
                "workspace_id",
                "status",
                "platform",
                "paid_at",
                "paid_fen",
                "refunded_fen",
                "discount_fen",
                "cost_fen",
                # an import that changes an order's lines marks the order with its run
                "import_id",
            }
        ),
    ),
}
# Per workspace and transaction: above this many customers one "everything" note is kept.
MAX_IDS = 20_000
_KEY = "siyu_audience_changes"
_BUSY = "siyu_audience_changes_busy"
_EVERYTHING = None  # buffer value: everything in the workspace changed

Buffer = dict[int | None, set[int] | None]


def note(target: Session | Connection, workspace_id: int | None, customer_ids: Iterable[int] | None) -> None:
    """Note a change made outside SQLAlchemy's sight (a bare DB-API cursor).

    ``customer_ids`` None: everything in the workspace (``workspace_id`` None: in every
    workspace). Written when the transaction commits, dropped if it rolls back.
    """
    conn = target.connection() if isinstance(target, Session) else target
    _add(conn.info, workspace_id, None if customer_ids is None else list(customer_ids))


def pending(session: Session) -> bool:
    """Whether the session's open transaction has changed audience data not yet committed."""
    if not session.in_transaction():
        return False
    return bool(session.connection().info.get(_KEY))


def _add(info: dict[Any, Any], ws: int | None, cids: Sequence[Any] | None) -> None:
    buf: Buffer = info.setdefault(_KEY, {})
    if cids is None:
        buf[ws] = _EVERYTHING
        return
    if ws in buf and buf[ws] is _EVERYTHING:
        return
    ids = buf.setdefault(ws, set())
    assert ids is not None
    ids.update(int(c) for c in cids if c is not None)
    if len(ids) > MAX_IDS:
        buf[ws] = _EVERYTHING


def _everything(conn: Connection, ws: Any = None) -> None:
    _add(conn.info, ws if isinstance(ws, int) else None, None)


# --- compiled statements (ORM flush, ORM DML, Core) ---------------------------------


def _param_sets(multiparams: Any, params: Any) -> list[dict[str, Any]]:
    sets: list[dict[str, Any]] = [p for p in (multiparams or []) if isinstance(p, dict)]
    if params and isinstance(params, dict):
        sets = [{**s, **params} for s in sets] if sets else [params]
    return sets or [{}]


def _conds(where: Any) -> list[Any]:
    if where is None:
        return []
    if isinstance(where, BooleanClauseList) and where.operator is operators.and_:
        return [c for clause in where.clauses for c in _conds(clause)]
    return [where]


def _bound(bind: BindParameter[Any], p: dict[str, Any]) -> list[Any]:
    value = p.get(bind.key, bind.effective_value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


def _where_values(where: Any, column: str, plist: list[dict[str, Any]]) -> list[Any] | None:
    """Values of ``column = :x`` / ``column IN (:xs)`` at the top level of a WHERE, else None."""
    for cond in _conds(where):
        if not isinstance(cond, BinaryExpression) or not isinstance(cond.right, BindParameter):
            continue
        if getattr(cond.left, "name", None) != column:
            continue
        if cond.operator in (operators.eq, operators.in_op):
            return [v for p in plist for v in _bound(cond.right, p)]
    return None


def _set_values(stmt: UpdateBase, column: str, plist: list[dict[str, Any]]) -> list[Any] | None:
    """New values an UPDATE gives ``column`` (rows moving to another customer); None: unknown."""
    out: list[Any] = []
    for key, value in (getattr(stmt, "_values", None) or {}).items():
        if getattr(key, "name", key) == column:
            if not isinstance(value, BindParameter):
                return None  # set from an expression
            out.extend(v for p in plist for v in _bound(value, p))
    out.extend(p[column] for p in plist if column in p)
    return out


def _before_execute(
    conn: Connection, clause: Any, multiparams: Any, params: Any, execution_options: Any
) -> None:
    if conn.info.get(_BUSY):
        return
    if isinstance(clause, TextClause):
        _driver_sql(conn, clause.text, None, named=True)
        return
    if not isinstance(clause, (Update, Delete)):
        return
    table = getattr(clause, "table", None)
    name = getattr(table, "name", None)
    if name not in WATCHED or table is None:
        return
    cust, watched = WATCHED[name]
    plist = _param_sets(multiparams, params)
    if isinstance(clause, Update):
        set_cols = {str(getattr(k, "name", k)) for k in (clause._values or {})}
        set_cols.update(k for p in plist for k in p)
        if not set_cols & watched:
            return
    where = clause.whereclause
    ws_values = _where_values(where, "workspace_id", plist)
    ws = ws_values[0] if ws_values and len(set(ws_values)) == 1 else None
    ids = _where_values(where, cust, plist)
    if ids is None:
        ids = _select_affected(conn, table, cust, where, plist)
    if ids is None:
        _everything(conn, ws)
        return
    if isinstance(clause, Update):
        moved = _set_values(clause, cust, plist)
        if moved is None:
            _everything(conn, ws)
            return
        ids.extend(moved)
    _add(conn.info, ws, ids)


def _select_affected(
    conn: Connection, table: Any, cust: str, where: Any, plist: list[dict[str, Any]]
) -> list[Any] | None:
    """The customer ids of the rows a WHERE selects, read before the statement runs."""
    if where is None:
        return None
    stmt: Any = select(table.c[cust]).where(where)
    if len(plist) > 1:
        # executemany by primary key (an ORM flush of many rows): one IN query.
        conds = _conds(where)
        if len(conds) != 1 or not isinstance(conds[0], BinaryExpression):
            return None
        keys = _where_values(where, str(getattr(conds[0].left, "name", "")), plist)
        if keys is None:
            return None
        stmt = select(table.c[cust]).where(conds[0].left.in_(keys))
        plist = [{}]
    conn.info[_BUSY] = True
    try:
        rows = conn.execute(stmt.limit(MAX_IDS + 1), plist[0]).all()
    finally:
        conn.info.pop(_BUSY, None)
    if len(rows) > MAX_IDS:
        return None
    return [r[0] for r in rows]


def _after_execute(
    conn: Connection, clause: Any, multiparams: Any, params: Any, execution_options: Any, result: Any
) -> None:
    if conn.info.get(_BUSY) or not isinstance(clause, Insert):
        return
    name = getattr(clause.table, "name", None)
    if name not in WATCHED:
        return
    cust = WATCHED[name][0]
    if clause.select is not None or clause._multi_values:
        _everything(conn)
        return
    cps: list[dict[str, Any]] = list(getattr(result.context, "compiled_parameters", None) or [])
    by_ws: dict[Any, list[Any]] = {}
    missing = False
    for i, p in enumerate(cps):
        cid = p.get(cust)
        if cid is None and cust != "id":
            continue  # a row of no customer (a staff member of a group): nobody changed
        if cid is None:
            try:
                cid = result.inserted_primary_key_rows[i][0]
            except Exception:  # the driver did not return the keys: be safe
                cid = None
        if cid is None:
            missing = True
            _everything(conn, p.get("workspace_id"))
            continue
        by_ws.setdefault(p.get("workspace_id"), []).append(cid)
    if not cps and not missing:
        _everything(conn)
    for ws, ids in by_ws.items():
        _add(conn.info, ws, ids)


# --- driver SQL (exec_driver_sql, text()) ----------------------------------------------

_DML = re.compile(
    r"^\s*(insert(?:\s+or\s+\w+)?\s+into|replace\s+into|update(?:\s+or\s+\w+)?|delete\s+from)\s+[\"`]?(\w+)[\"`]?",
    re.IGNORECASE,
)
_INSERT = re.compile(
    r"^[^(]*\(([^)]*)\)\s*values\s*\(\s*(?:(?:\?|%s)\s*,\s*)*(?:\?|%s)\s*\)\s*$", re.IGNORECASE
)
_UPDATE = re.compile(
    r"^\s*update\s+[\"`]?\w+[\"`]?\s+set\s+(.*?)\s+where\s+[\"`]?(\w+)[\"`]?\s*=\s*(?:\?|%s)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_SET_ITEM = re.compile(r"[\"`]?(\w+)[\"`]?\s*=\s*(\?|%s)")


def _rows(parameters: Any, executemany: bool) -> list[Sequence[Any]] | None:
    rows = list(parameters or []) if executemany else [parameters] if parameters is not None else []
    if not all(isinstance(r, (tuple, list)) for r in rows):
        return None
    return rows


def _driver_sql(conn: Connection, sql: str, parameters: Any, named: bool, executemany: bool = False) -> None:
    m = _DML.match(sql)
    if not m or m.group(2).lower() not in WATCHED:
        return
    name = m.group(2).lower()
    cust, watched = WATCHED[name]
    verb = m.group(1).split()[0].lower()
    rows = None if named else _rows(parameters, executemany)
    if rows is None:
        _everything(conn)
        return
    if verb in ("insert", "replace"):
        ins = _INSERT.match(sql)
        cols = [c.strip().strip('"`').lower() for c in ins.group(1).split(",")] if ins else []
        if cust not in cols:
            _everything(conn)
            return
        at = cols.index(cust)
        ws_at = cols.index("workspace_id") if "workspace_id" in cols else None
        if ws_at is None:
            _add(conn.info, None, [r[at] for r in rows])
            return
        # One note per workspace, not per row (a bulk insert names thousands of rows):
        # the buffer ends the same either way.
        by_ws: dict[Any, list[Any]] = {}
        for r in rows:
            ws = r[ws_at]
            ids = by_ws.get(ws)
            if ids is None:
                ids = by_ws[ws] = []
            ids.append(r[at])
        for ws, ids in by_ws.items():
            _add(conn.info, ws, ids)
        return
    upd = _UPDATE.match(sql) if verb == "update" else None
    if upd is None:
        _everything(conn)
        return
    items = _SET_ITEM.findall(upd.group(1))
    set_cols = [c.lower() for c, _ in items]
    if not set(set_cols) & watched:
        return
    key = upd.group(2).lower()
    keys = [r[-1] for r in rows]
    ids = keys if key == cust else _driver_select(conn, name, cust, key, keys)
    if ids is None:
        _everything(conn)
        return
    if cust in set_cols and len(items) == len(set_cols):
        ids.extend(r[set_cols.index(cust)] for r in rows)
    _add(conn.info, None, ids)


def _driver_select(conn: Connection, table: str, cust: str, key: str, keys: list[Any]) -> list[Any] | None:
    if len(keys) > MAX_IDS:
        return None
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    cur = conn.connection.cursor()
    out: list[Any] = []
    try:
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            # Names come from WATCHED and the statement's own key column (\w+); values are bound.
            cur.execute(
                f"SELECT {cust} FROM {table} WHERE {key} IN ({', '.join([mark] * len(part))})",  # noqa: S608
                tuple(part),
            )
            out.extend(r[0] for r in cur.fetchall())
    finally:
        cur.close()
    return out


def _before_cursor_execute(
    conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    if context is None or context.compiled is not None or conn.info.get(_BUSY):
        return
    _driver_sql(conn, statement, parameters, named=isinstance(parameters, dict), executemany=executemany)


# --- the transaction boundary ---------------------------------------------------------


def _on_commit(conn: Connection) -> None:
    buf: Buffer | None = conn.info.pop(_KEY, None)
    if not buf:
        return
    rows = [(ws, cid) for ws, ids in buf.items() for cid in (sorted(ids) if ids is not None else [None])]
    cur = conn.connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            cur.executemany(
                f"INSERT INTO {TABLE} (workspace_id, customer_id, txid, created_at) "  # noqa: S608
                "VALUES (%s, %s, txid_current(), clock_timestamp())",
                rows,
            )
        else:
            stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
            cur.executemany(
                f"INSERT INTO {TABLE} (workspace_id, customer_id, created_at) VALUES (?, ?, ?)",  # noqa: S608
                [(ws, cid, stamp) for ws, cid in rows],
            )
    finally:
        cur.close()


def _on_rollback(conn: Connection) -> None:
    conn.info.pop(_KEY, None)


def _on_reset(dbapi_connection: Any, record: Any, reset_state: Any) -> None:
    if record is not None:
        record.info.pop(_KEY, None)


_installed = False


def install() -> None:
    """Register the hooks on every engine (idempotent; done when ``siyu.models`` loads)."""
    global _installed
    if _installed:
        return
    event.listen(Engine, "before_execute", _before_execute)
    event.listen(Engine, "after_execute", _after_execute)
    event.listen(Engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(Engine, "commit", _on_commit)
    event.listen(Engine, "rollback", _on_rollback)
    event.listen(Pool, "reset", _on_reset)
    _installed = True
