"""The audience index's data: one workspace's live customers as numpy columns.

A customer is a *slot*. Slots of the customers present at build time are in id order;
customers that appear later are appended. Scalar attributes are arrays indexed by slot;
multi-valued ones (tags, staff accounts, groups, categories, products, and those a
term declares with a ``PostingSource``, such as channels) are :class:`Postings`: for
each key the sorted slots that have it, plus a small overlay for customers reloaded
since the build. Strings are coded through one vocabulary.

The rows read are exactly those the SQL compiler reads (``compiler.py``): live
customers (not merged, not anonymised); stats and scores of the workspace; tags, active
follows and active group memberships of its customers; the rows each declared
``PostingSource`` selects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from siyu.segments.audience import registry

IntArray = np.ndarray[Any, np.dtype[np.int64]]
Mask = np.ndarray[Any, np.dtype[np.bool_]]
NULL_TIME = np.iinfo(np.int64).min  # what NaT reads as
SCORE_COLUMNS = ("layer_age", "layer_tier", "layer_value", "lifecycle", "rfm_segment", "rfm8")
CHUNK = 500  # ids per IN list when reloading customers


class Postings:
    """For each key, the slots that have it: CSR arrays from the build, and an overlay.

    A reloaded slot is marked *dirty*: its build-time entries no longer count and its
    current keys live in the overlay (small Python sets, rebuilt into the base on the
    next full build).
    """

    def __init__(self, keys: IntArray, slots: IntArray) -> None:
        order = np.lexsort((slots, keys))
        keys, slots = keys[order], slots[order]
        self.keys, starts = np.unique(keys, return_index=True)
        self.starts = np.append(starts, len(keys)).astype(np.int64)
        self.slots = slots.astype(np.int32)
        self.dirty: Mask | None = None
        self.overlay: dict[int, set[int]] = {}
        self.slot_keys: dict[int, list[int]] = {}

    def nbytes(self) -> int:
        dirty = 0 if self.dirty is None else self.dirty.nbytes
        return int(self.keys.nbytes + self.starts.nbytes + self.slots.nbytes + dirty)

    def mark(self, mask: Mask, keys: Iterable[int]) -> None:
        """Set ``mask[slot]`` for every slot that has one of ``keys``."""
        keys = list(keys)
        for key in keys:
            i = int(np.searchsorted(self.keys, key))
            if i < len(self.keys) and self.keys[i] == key:
                mask[self.slots[self.starts[i] : self.starts[i + 1]]] = True
        if self.dirty is not None:
            m = min(len(mask), len(self.dirty))
            mask[:m] &= ~self.dirty[:m]
            for key in keys:
                extra = self.overlay.get(key)
                if extra:
                    mask[np.fromiter(extra, dtype=np.int64, count=len(extra))] = True

    def replace(self, by_slot: dict[int, list[int]], capacity: int) -> None:
        """The keys of each slot are now ``by_slot[slot]`` (build-time entries ignored)."""
        if self.dirty is None or len(self.dirty) < capacity:
            grown = np.zeros(max(capacity, 1024), dtype=bool)
            if self.dirty is not None:
                grown[: len(self.dirty)] = self.dirty
            self.dirty = grown
        self.dirty[np.fromiter(by_slot, dtype=np.int64, count=len(by_slot))] = True
        for slot, keys in by_slot.items():
            for key in self.slot_keys.pop(slot, ()):
                self.overlay[key].discard(slot)
            if keys:
                new = sorted(set(keys))
                self.slot_keys[slot] = new
                for key in new:
                    self.overlay.setdefault(key, set()).add(slot)


class Columns:
    """One workspace's index data (see the module docstring)."""

    def __init__(self, ids: IntArray) -> None:
        n = len(ids)
        self.ids = ids.astype(np.int64)  # slot -> customer id; sorted for the first n_base
        self.n_base = n
        self.extra: dict[int, int] = {}  # customer id -> slot, for slots appended later
        self.live = np.ones(n, dtype=bool)
        self.vocab: dict[str, int] = {}
        self.province = np.full(n, -1, dtype=np.int32)
        self.city = np.full(n, -1, dtype=np.int32)
        self.net_fen = np.zeros(n, dtype=np.int64)
        self.orders = np.zeros(n, dtype=np.int64)
        self.first_paid = np.full(n, NULL_TIME, dtype=np.int64)
        self.last_paid = np.full(n, NULL_TIME, dtype=np.int64)
        self.scores = {c: np.full(n, -1, dtype=np.int32) for c in SCORE_COLUMNS}
        self.p_alive = np.full(n, np.nan, dtype=np.float64)
        empty = np.zeros(0, dtype=np.int64)
        self.postings = {name: Postings(empty, empty) for name in postings_names()}
        self.reloaded = 0  # customers reloaded since the build

    @property
    def n(self) -> int:
        return len(self.ids)

    def code(self, value: str | None) -> int:
        if value is None:
            return -1
        found = self.vocab.get(value)
        if found is None:
            found = self.vocab[value] = len(self.vocab)
        return found

    def codes(self, values: Sequence[str | None]) -> np.ndarray[Any, np.dtype[np.int32]]:
        # Few distinct values (places, labels): code those, then map in C.
        lookup: dict[str | None, int] = {v: self.code(v) for v in set(values)}
        return np.fromiter(map(lookup.__getitem__, values), dtype=np.int32, count=len(values))

    def none(self) -> Mask:
        """A mask matching nobody."""
        return np.zeros(self.n, dtype=bool)

    def having(self, postings: str, keys: list[int]) -> Mask:
        """The slots that have any of ``keys`` in the postings named ``postings``."""
        mask = self.none()
        self.postings[postings].mark(mask, keys)
        return mask

    def known(self, values: Sequence[str]) -> list[int]:
        """The vocabulary codes of those ``values`` the index has seen (others match nobody)."""
        return [self.vocab[s] for s in values if s in self.vocab]

    def slots_of(self, customer_ids: IntArray) -> IntArray:
        """The slot of each customer id, -1 when it has none."""
        base = self.ids[: self.n_base]
        pos = np.searchsorted(base, customer_ids)
        pos_c = np.minimum(pos, max(self.n_base - 1, 0))
        found = (
            (pos < self.n_base) & (base[pos_c] == customer_ids)
            if self.n_base
            else np.zeros(len(customer_ids), dtype=bool)
        )
        out = np.where(found, pos_c, -1).astype(np.int64)
        if self.extra:
            for i in np.flatnonzero(~found):
                out[i] = self.extra.get(int(customer_ids[i]), -1)
        return out

    def nbytes(self) -> int:
        arrays = [self.ids, self.live, self.province, self.city, self.net_fen, self.orders,
                  self.first_paid, self.last_paid, self.p_alive, *self.scores.values()]  # fmt: skip
        return int(sum(a.nbytes for a in arrays) + sum(p.nbytes() for p in self.postings.values()))

    def _append(self, customer_id: int) -> int:
        slot = self.n
        self.extra[customer_id] = slot

        def grow(a: Any, fill: Any) -> Any:
            return np.append(a, np.array([fill], dtype=a.dtype))

        self.ids = grow(self.ids, customer_id)
        self.live = grow(self.live, False)
        self.province, self.city = grow(self.province, -1), grow(self.city, -1)
        self.net_fen, self.orders = grow(self.net_fen, 0), grow(self.orders, 0)
        self.first_paid, self.last_paid = grow(self.first_paid, NULL_TIME), grow(self.last_paid, NULL_TIME)
        self.scores = {c: grow(a, -1) for c, a in self.scores.items()}
        self.p_alive = grow(self.p_alive, np.nan)
        return slot


# Built-in postings; terms declared with a ``PostingSource`` add their own (registry.py).
POSTINGS = ("tags", "staff", "groups", "category", "product")


def postings_names() -> tuple[str, ...]:
    return POSTINGS + tuple(src.name for src in registry.posting_sources())


# --- reading the database ---------------------------------------------------------------


class _Reader:
    """Plain driver queries on the session's connection (same transaction): at a
    million rows SQLAlchemy's per-row processing costs more than the reads."""

    def __init__(self, session: Session, workspace_id: int) -> None:
        conn = session.connection()
        self.dialect = conn.dialect.name
        self.mark = "?" if self.dialect == "sqlite" else "%s"
        self.conn = conn
        self.ws = workspace_id

    def rows(self, sql: str, ids: Sequence[int] | None, column: str) -> list[Any]:
        """``sql`` (with one ``{ws}`` mark) for the workspace, or only for ``ids``."""
        base = sql.replace("{ws}", self.mark)
        cur = self.conn.connection.cursor()
        try:
            if ids is None:
                cur.execute(base, (self.ws,))
                return list(cur.fetchall())
            out: list[Any] = []
            for i in range(0, len(ids), CHUNK):
                part = list(ids[i : i + CHUNK])
                marks = ", ".join([self.mark] * len(part))
                cur.execute(f"{base} AND {column} IN ({marks})", (self.ws, *part))
                out.extend(cur.fetchall())
            return out
        finally:
            cur.close()

    def times(self, values: Sequence[Any]) -> IntArray:
        """UTC timestamps as microseconds since the epoch (NULL_TIME for NULL)."""
        if self.dialect == "sqlite":
            return np.array(values, dtype="datetime64[us]").astype(np.int64)
        naive = [None if v is None else v.astimezone(UTC).replace(tzinfo=None) for v in values]
        return np.array(naive, dtype="datetime64[us]").astype(np.int64)

    def json_keys(self, column: str) -> str:
        if self.dialect == "sqlite":
            return (
                f"SELECT s.customer_id, j.key FROM customer_stats s, json_each(s.{column}) j "  # noqa: S608
                "WHERE s.workspace_id = {ws}"
            )
        return (
            f"SELECT s.customer_id, jsonb_object_keys(s.{column}) FROM customer_stats s "  # noqa: S608
            f"WHERE s.workspace_id = {{ws}} AND jsonb_typeof(s.{column}) = 'object'"
        )


_CUSTOMERS = (
    "SELECT c.id, c.province, c.city FROM customers c WHERE c.workspace_id = {ws} "
    "AND c.merged_into_id IS NULL AND c.anonymised_at IS NULL"
)
_STATS = (
    "SELECT s.customer_id, s.net_fen, s.effective_orders_count, s.first_paid_at, s.last_paid_at "
    "FROM customer_stats s WHERE s.workspace_id = {ws}"
)
_SCORES = (
    f"SELECT s.customer_id, {', '.join('s.' + c for c in SCORE_COLUMNS)}, s.p_alive "  # noqa: S608
    "FROM customer_scores s WHERE s.workspace_id = {ws}"
)
_OF_CUSTOMERS = " JOIN customers c ON c.id = x.customer_id WHERE c.workspace_id = {ws}"
# Fixed text only; every value is bound.
_TAGS = "SELECT x.customer_id, x.tag_id FROM customer_tags x" + _OF_CUSTOMERS  # noqa: S608
_FOLLOWS = "SELECT x.customer_id, x.staff_id FROM follows x" + _OF_CUSTOMERS + " AND x.state = 'active'"  # noqa: S608
_MEMBERS = (
    "SELECT x.customer_id, x.group_id FROM group_members x" + _OF_CUSTOMERS + " AND x.state = 'active'"  # noqa: S608
)


class _Loaded:
    """Rows of some customers (all, or a reloaded few), as columns."""

    def __init__(self, r: _Reader, ids: Sequence[int] | None) -> None:
        # The build needs customers in id order (slots are positions); a reload does not.
        self.customers = (
            r.rows(_CUSTOMERS, ids, "c.id")
            if ids is not None
            else r.rows(_CUSTOMERS + " ORDER BY c.id", None, "c.id")
        )
        self.stats = r.rows(_STATS, ids, "s.customer_id")
        self.scores = r.rows(_SCORES, ids, "s.customer_id")
        self.tags = r.rows(_TAGS, ids, "x.customer_id")
        self.follows = r.rows(_FOLLOWS, ids, "x.customer_id")
        self.members = r.rows(_MEMBERS, ids, "x.customer_id")
        self.categories = r.rows(r.json_keys("categories"), ids, "s.customer_id")
        self.products = r.rows(r.json_keys("products"), ids, "s.customer_id")
        self.extra = {
            src.name: (src, r.rows(src.sql, ids, src.customer_column)) for src in registry.posting_sources()
        }


def _ints(values: Iterable[Any]) -> IntArray:
    return np.fromiter(values, dtype=np.int64)


def build(session: Session, workspace_id: int) -> Columns:
    """Every live customer of the workspace, read in one pass per table."""
    r = _Reader(session, workspace_id)
    got = _Loaded(r, None)
    cols = Columns(_ints(c[0] for c in got.customers))
    cols.province = cols.codes([c[1] for c in got.customers])
    cols.city = cols.codes([c[2] for c in got.customers])
    _fill(cols, r, got, None)
    return cols


def reload(session: Session, workspace_id: int, cols: Columns, customer_ids: Sequence[int]) -> None:
    """Bring the given customers up to date (new, changed, merged away or gone)."""
    if not customer_ids:
        return
    r = _Reader(session, workspace_id)
    ids = sorted(set(customer_ids))
    got = _Loaded(r, ids)
    live = {int(c[0]): c for c in got.customers}
    slots = cols.slots_of(_ints(ids))
    touched: list[int] = []
    for cid, slot in zip(ids, slots.tolist(), strict=True):
        row = live.get(cid)
        if row is None and slot < 0:
            continue  # not ours, or gone before we ever saw it
        if slot < 0:
            slot = cols._append(cid)
        touched.append(slot)
        cols.live[slot] = row is not None
        cols.province[slot] = cols.code(row[1]) if row else -1
        cols.city[slot] = cols.code(row[2]) if row else -1
        cols.net_fen[slot] = cols.orders[slot] = 0
        cols.first_paid[slot] = cols.last_paid[slot] = NULL_TIME
        for a in cols.scores.values():
            a[slot] = -1
        cols.p_alive[slot] = np.nan
    cols.reloaded += len(touched)
    _fill(cols, r, got, touched)


def _fill(cols: Columns, r: _Reader, got: _Loaded, touched: list[int] | None) -> None:
    """Scalars and postings from loaded rows; ``touched``: the reloaded slots (None: build)."""
    if got.stats:
        slots = cols.slots_of(_ints(s[0] for s in got.stats))
        ok = slots >= 0
        s_ = slots[ok]
        cols.net_fen[s_] = _ints(s[1] for s in got.stats)[ok]
        cols.orders[s_] = _ints(s[2] for s in got.stats)[ok]
        cols.first_paid[s_] = r.times([s[3] for s in got.stats])[ok]
        cols.last_paid[s_] = r.times([s[4] for s in got.stats])[ok]
    if got.scores:
        slots = cols.slots_of(_ints(s[0] for s in got.scores))
        ok = slots >= 0
        for i, name in enumerate(SCORE_COLUMNS, start=1):
            cols.scores[name][slots[ok]] = cols.codes([s[i] for s in got.scores])[ok]
        p = np.array([np.nan if s[-1] is None else float(s[-1]) for s in got.scores], dtype=np.float64)
        cols.p_alive[slots[ok]] = p[ok]
    pairs: dict[str, tuple[list[Any], list[int]]] = {
        "tags": ([t[0] for t in got.tags], [t[1] for t in got.tags]),
        "staff": ([f[0] for f in got.follows], [f[1] for f in got.follows]),
        "groups": ([m[0] for m in got.members], [m[1] for m in got.members]),
        "category": ([k[0] for k in got.categories], list(cols.codes([str(k[1]) for k in got.categories]))),
        "product": ([k[0] for k in got.products], list(cols.codes([str(k[1]) for k in got.products]))),
    }
    for name, (src, rows) in got.extra.items():
        keys = [k[1] for k in rows]
        pairs[name] = (
            [k[0] for k in rows],
            list(cols.codes([str(k) for k in keys])) if src.text_keys else keys,
        )
    for name, (cids, keys) in pairs.items():
        slots = cols.slots_of(_ints(cids)) if cids else np.zeros(0, dtype=np.int64)
        key_arr = np.array(keys, dtype=np.int64)
        ok = slots >= 0
        if touched is None:
            cols.postings[name] = Postings(key_arr[ok], slots[ok])
            continue
        by_slot: dict[int, list[int]] = {s: [] for s in touched}
        for s, k in zip(slots[ok].tolist(), key_arr[ok].tolist(), strict=True):
            by_slot.setdefault(s, []).append(k)
        cols.postings[name].replace(by_slot, cols.n)


def epoch_us(at: datetime) -> int:
    """An aware datetime as microseconds since the Unix epoch (what the time columns hold)."""
    return (at - _EPOCH) // timedelta(microseconds=1)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
