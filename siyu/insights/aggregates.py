"""Maintained aggregates behind the four metrics: conversations, staff days, interaction days.

:func:`refresh` reads ``messages`` and the ``moment.like`` / ``moment.comment`` events past
its stored position (by id) and brings three derived tables up to date:

- ``conversations``: for every (staff, customer) pair touched by a new 1:1 message, the
  customer-initiated conversations from ``REPLY_HORIZON`` before the pair's earliest new message on
  are re-derived from the pair's messages (late and out-of-order archive rows are fine);
  likewise for every (staff, customer, group) *mention thread* touched by a new customer
  group message that @-mentions the staff account, a new post of the account in that group
  or a new 1:1 message of the account to that customer (``group_id`` set), or a new recall
  (``revoke`` row) by the customer in that group;
- ``staff_metric_days``: the reply figures of every (staff, business day) whose
  conversations changed, rebuilt from ``conversations``;
- ``interaction_days``: per (staff, customer, day) counts of messages in, out, and moments
  interactions, incremented once per source row (the position makes it exact).

and, through :func:`siyu.insights.monthly.maintain`, the friend counts and the months
(``staff_friend_days``, ``interaction_months``, ``staff_metric_months``).

Everything is derived, so :func:`rebuild` may drop and recompute a workspace at any time.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    CTE,
    Date,
    Integer,
    Table,
    and_,
    bindparam,
    column,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from siyu.insights import monthly
from siyu.insights.knobs import InsightKnobs, knobs_from_settings
from siyu.kit.pii import get_vault
from siyu.kit.timeutil import local_day
from siyu.models import (
    Conversation,
    Event,
    InsightPosition,
    InteractionDay,
    Message,
    StaffMetricDay,
    Workspace,
)
from siyu.models.base import UTCDateTime
from siyu.wecom.archive.mentions import strip_mentions

# A staff message counts as the reply to a conversation only within this horizon.
REPLY_HORIZON = timedelta(hours=72)
# Upper bounds (working seconds) of the reply-time histogram buckets; the last is open.
BUCKETS = (60, 120, 180, 300, 420, 600, 900, 1200, 1800, 2700, 3600, 7200, 14400, 28800, 86400)
MOMENT_KINDS = ("moment.like", "moment.comment")
BATCH = 20_000
_CHUNK = 500


def knobs_for(session: Session, workspace_id: int) -> InsightKnobs:
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        return InsightKnobs()
    return knobs_from_settings(ws.settings, ws.timezone)


def bucket_of(seconds: int) -> int:
    return bisect.bisect_left(BUCKETS, seconds)


def hist_quantile(hist: list[int], q: float) -> int | None:
    """The upper bound (seconds) of the bucket holding the q-quantile; None when empty."""
    total = sum(hist)
    if total == 0:
        return None
    need = q * total
    run = 0
    for i, n in enumerate(hist):
        run += n
        if run >= need and n > 0:
            return BUCKETS[i] if i < len(BUCKETS) else BUCKETS[-1] * 2
    return BUCKETS[-1] * 2


@dataclass(frozen=True)
class _Msg:
    at: datetime
    inbound: bool
    text: str | None
    # whether the message ends a silence (every 1:1 message; in a mention thread only the
    # customer's @-mentions do, not the account's posts to the whole group)
    marks: bool = True


@dataclass(frozen=True)
class _Conv:
    started_at: datetime
    first_reply_at: datetime | None
    exempt: bool


def _text(token: str | None) -> str | None:
    if not token:
        return None
    try:
        return get_vault().decrypt(token)
    except Exception:
        return None


def derive_conversations(msgs: list[_Msg], knobs: InsightKnobs, since: datetime | None = None) -> list[_Conv]:
    """Customer-initiated conversations from a pair's messages (sorted by time).

    A conversation starts with a customer message sent ≥ ``silence_minutes`` after the
    pair's previous message that ``marks`` silence (or with the pair's first message); its
    first reply is the
    first staff message before the next conversation starts and within ``REPLY_HORIZON``.
    Only conversations starting at or after ``since`` are returned (earlier messages
    serve as context).
    """
    silence = timedelta(minutes=knobs.silence_minutes)
    starts: list[int] = []
    prev: datetime | None = None
    for i, m in enumerate(msgs):
        if m.inbound and (prev is None or m.at - prev >= silence):
            starts.append(i)
        if m.marks:
            prev = m.at
    out: list[_Conv] = []
    for k, i in enumerate(starts):
        start = msgs[i].at
        if since is not None and start < since:
            continue
        end = starts[k + 1] if k + 1 < len(starts) else len(msgs)
        reply: datetime | None = None
        only_closing = True
        for m in msgs[i:end]:
            if not m.inbound:
                if m.at - start <= REPLY_HORIZON:
                    reply = m.at
                break
            if only_closing and (m.text is None or m.text.strip().lower() not in knobs.exempt_words):
                only_closing = False
        out.append(_Conv(start, reply, only_closing))
    return out


def _position(session: Session, workspace_id: int, source: str) -> InsightPosition:
    pos = session.scalar(
        select(InsightPosition).where(
            InsightPosition.workspace_id == workspace_id, InsightPosition.source == source
        )
    )
    if pos is None:
        pos = InsightPosition(workspace_id=workspace_id, source=source, last_id=0, extra={})
        session.add(pos)
        session.flush()
    return pos


def _chunks(items: list[Any], n: int = _CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


_TYPES: dict[str, TypeEngine[Any]] = {"i": Integer(), "d": Date(), "t": UTCDateTime()}
# padding rows: match no id, no day, no time of interest
_PAD: dict[str, Any] = {"i": -1, "d": date(1970, 1, 1), "t": datetime(1970, 1, 1, tzinfo=UTC)}
_KEYS = 512  # keys per lookup statement
_KEY_CTES: dict[tuple[str, int], CTE] = {}


def _keys(spec: str, rows: list[tuple[Any, ...]]) -> tuple[CTE, dict[str, Any]]:
    """The rows as a CTE ``k`` (columns ``c0, c1, ...`` typed by ``spec``: ``i`` integer,
    ``d`` date, ``t`` UTC time) to join on an index, and its parameters.

    Lookups by several columns go through this join, not ``tuple_(...).in_(...)``: SQLite
    (3.40) searches an index with a row value ``IN`` of more than one row only by its
    leading equality (``workspace_id``), i.e. it read the whole workspace's conversations
    or interaction days for every chunk, and each batch cost grew with what was already
    aggregated. ``VALUES`` padded to a power of two (rows that match nothing): a few
    statement shapes, built and compiled once (``values()`` is compiled on every use).
    """
    n = 8
    while n < len(rows):
        n *= 2
    cte = _KEY_CTES.get((spec, n))
    if cte is None:
        width = range(len(spec))
        names = ", ".join(f"column{c + 1} AS c{c}" for c in width)
        rows_sql = ", ".join("(" + ", ".join(f":k{r}_{c}" for c in width) + ")" for r in range(n))
        sql = f"SELECT {names} FROM (VALUES {rows_sql}) AS v"  # noqa: S608 (placeholders only)
        binds = [bindparam(f"k{r}_{c}", type_=_TYPES[spec[c]]) for r in range(n) for c in width]
        cols = [column(f"c{c}", _TYPES[t]) for c, t in enumerate(spec)]
        cte = _KEY_CTES[(spec, n)] = sql_text(sql).bindparams(*binds).columns(*cols).cte("k")
    pad = tuple(_PAD[t] for t in spec)
    params = {f"k{r}_{c}": v for r in range(n) for c, v in enumerate(rows[r] if r < len(rows) else pad)}
    return cte, params


def _ids_where(session: Session, stmt: Any, params: dict[str, Any]) -> list[int]:
    return [int(i) for i in session.scalars(stmt, params)]


def _delete_ids(session: Session, model: Any, ids: list[int]) -> None:
    for part in _chunks(ids, 2000):
        session.execute(delete(model).where(model.id.in_(part)))


def _bump_interactions(
    session: Session, workspace_id: int, counts: dict[tuple[int, int, date], list[int]]
) -> None:
    keys = list(counts)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for chunk in _chunks(keys, _KEYS):
        k, kp = _keys("iid", chunk)
        existing = {
            (s, c, d): (rid, n_in, n_out, n_mom)
            for rid, s, c, d, n_in, n_out, n_mom in session.execute(
                select(
                    InteractionDay.id,
                    InteractionDay.staff_id,
                    InteractionDay.customer_id,
                    InteractionDay.day,
                    InteractionDay.msgs_in,
                    InteractionDay.msgs_out,
                    InteractionDay.moments,
                ).join(
                    k,
                    and_(
                        InteractionDay.workspace_id == workspace_id,
                        InteractionDay.staff_id == k.c.c0,
                        InteractionDay.customer_id == k.c.c1,
                        InteractionDay.day == k.c.c2,
                    ),
                ),
                kp,
            )
        }
        for key in chunk:
            n_in, n_out, n_mom = counts[key]
            row = existing.get(key)
            if row is None:
                inserts.append(
                    {
                        "workspace_id": workspace_id,
                        "staff_id": key[0],
                        "customer_id": key[1],
                        "day": key[2],
                        "msgs_in": n_in,
                        "msgs_out": n_out,
                        "moments": n_mom,
                    }
                )
            else:
                rid, o_in, o_out, o_mom = row
                updates.append(
                    {"rid": rid, "n_in": o_in + n_in, "n_out": o_out + n_out, "n_mom": o_mom + n_mom}
                )
    if inserts:
        for part in _chunks(inserts, 2000):
            session.execute(insert(InteractionDay), part)
    if updates:
        table = cast(Table, InteractionDay.__table__)
        session.connection().execute(
            update(table)
            .where(table.c.id == bindparam("rid"))
            .values(msgs_in=bindparam("n_in"), msgs_out=bindparam("n_out"), moments=bindparam("n_mom")),
            updates,
        )
    session.flush()


def _by_last(floors: dict[tuple[int, int], datetime], lead: timedelta) -> list[tuple[int, datetime]]:
    """(y, earliest floor − ``lead`` over its keys) for keys ``(x, y)``, sorted by y."""
    out: dict[int, datetime] = {}
    for (_, customer_id), at in floors.items():
        f = at - lead
        if customer_id not in out or f < out[customer_id]:
            out[customer_id] = f
    return sorted(out.items())


def _pair_messages(
    session: Session, workspace_id: int, pairs: dict[tuple[int, int], datetime], silence: timedelta
) -> dict[tuple[int, int], list[_Msg]]:
    """Messages of each pair from (its floor − horizon − silence) on, sorted by time.

    Read by customer (``ix_messages_customer_id_sent_at``, each customer from its own
    floor): the customer's messages with other staff accounts are dropped here. The
    workspace is checked here too: with ``workspace_id = ?`` in the statement SQLite
    walks ``ix_messages_workspace_id_sent_at`` from the floor instead (every message of
    the workspace since then); ids are global, so the customer alone finds the rows.
    """
    lead = REPLY_HORIZON + silence
    found: dict[tuple[int, int], list[tuple[datetime, int, _Msg]]] = defaultdict(list)
    for chunk in _chunks(_by_last(pairs, lead), _KEYS):
        k, kp = _keys("it", chunk)
        rows = session.execute(
            select(
                Message.id,
                Message.workspace_id,
                Message.staff_id,
                Message.customer_id,
                Message.sent_at,
                Message.direction,
                Message.text_enc,
            ).join(
                k,
                and_(
                    Message.customer_id == k.c.c0,
                    Message.sent_at >= k.c.c1,
                    Message.group_id.is_(None),
                    Message.direction.in_(("in", "out")),
                    Message.revoked_at.is_(None),
                ),
            ),
            kp,
        )
        for mid, ws, staff_id, customer_id, at, direction, text_enc in rows:
            key = (int(staff_id or 0), int(customer_id or 0))
            floor = pairs.get(key)
            if ws != workspace_id or floor is None or at < floor - lead:
                continue
            inbound = direction == "in"
            found[key].append((at, mid, _Msg(at, inbound, _text(text_enc) if inbound else None)))
    by_pair: dict[tuple[int, int], list[_Msg]] = {}
    for key, got in found.items():
        got.sort(key=lambda r: (r[0], r[1]))
        by_pair[key] = [m for _, _, m in got]
    return by_pair


def _stale_conversations(
    session: Session, workspace_id: int, keys: list[tuple[Any, ...]], spec: str, threads: bool
) -> list[tuple[int, int, date]]:
    """(id, staff, day) of the conversations of each key from its ``since`` on.

    ``keys``: (staff, customer, since) for 1:1 pairs, (staff, customer, group, since) for
    mention threads; searched on the unique (workspace, staff, customer, group, started_at)
    index.
    """
    out: list[tuple[int, int, date]] = []
    for chunk in _chunks(keys, _KEYS):
        k, kp = _keys(spec, chunk)
        cond = [
            Conversation.workspace_id == workspace_id,
            Conversation.staff_id == k.c.c0,
            Conversation.customer_id == k.c.c1,
        ]
        if threads:
            cond += [Conversation.group_id == k.c.c2, Conversation.started_at >= k.c.c3]
        else:
            cond += [Conversation.group_id.is_(None), Conversation.started_at >= k.c.c2]
        out.extend(
            (int(i), int(s), d)
            for i, s, d in session.execute(
                select(Conversation.id, Conversation.staff_id, Conversation.day).join(k, and_(*cond)),
                kp,
            )
        )
    return out


def _rederive(
    session: Session, workspace_id: int, pairs: dict[tuple[int, int], datetime], knobs: InsightKnobs
) -> set[tuple[int, date]]:
    """Re-derive the pairs' conversations from their floors; the (staff, day)s touched.

    Each pair's floor is its earliest new message − the reply horizon: every conversation
    of the pair from there on is deleted and derived again (a new message changes no
    conversation that started more than the horizon before it).
    """
    tz = knobs.hours.tz
    silence = timedelta(minutes=knobs.silence_minutes)
    msgs = _pair_messages(session, workspace_id, pairs, silence)
    keys = sorted(pairs)
    stale = _stale_conversations(
        session, workspace_id, [(s, c, pairs[(s, c)] - REPLY_HORIZON) for s, c in keys], "iit", False
    )
    touched: set[tuple[int, date]] = {(s, d) for _, s, d in stale}
    _delete_ids(session, Conversation, [i for i, _, _ in stale])
    rows = []
    for staff_id, customer_id in keys:
        since = pairs[(staff_id, customer_id)] - REPLY_HORIZON
        for conv in derive_conversations(msgs.get((staff_id, customer_id), []), knobs, since=since):
            rows.append(_conversation_row(conv, workspace_id, staff_id, customer_id, None, knobs, tz))
    return _insert_conversations(session, rows, touched)


def _conversation_row(
    conv: _Conv,
    workspace_id: int,
    staff_id: int,
    customer_id: int,
    group_id: int | None,
    knobs: InsightKnobs,
    tz: str,
) -> dict[str, Any]:
    """One ``conversations`` row (1:1 when ``group_id`` is None, else a group @-thread)."""
    return {
        "workspace_id": workspace_id,
        "staff_id": staff_id,
        "customer_id": customer_id,
        "group_id": group_id,
        "started_at": conv.started_at,
        "day": local_day(conv.started_at, tz),
        "first_reply_at": conv.first_reply_at,
        "reply_work_s": (
            knobs.hours.seconds_between(conv.started_at, conv.first_reply_at)
            if conv.first_reply_at is not None
            else None
        ),
        "exempt": conv.exempt,
    }


def _insert_conversations(
    session: Session, rows: list[dict[str, Any]], touched: set[tuple[int, date]]
) -> set[tuple[int, date]]:
    """Insert the rows (in chunks) and add their (staff, day) to ``touched``."""
    touched.update((r["staff_id"], r["day"]) for r in rows)
    for part in _chunks(rows, 2000):
        session.execute(insert(Conversation), part)
    session.flush()
    return touched


Thread = tuple[int, int, int]  # (staff, customer, group)


def _affected_threads(
    session: Session,
    workspace_id: int,
    posts: dict[tuple[int, int], datetime],
    outs: dict[tuple[int, int], datetime],
) -> dict[Thread, datetime]:
    """Mention threads a new reply may answer: a new post of the account in the group
    (``posts``, by (staff, group)) or a new 1:1 message to the customer (``outs``, by
    (staff, customer)), after a customer @-mention of the account within the horizon."""
    found: dict[Thread, datetime] = {}
    if not posts and not outs:
        return found
    # conservative: any @-mention since the group's / customer's earliest new reply − the
    # horizon (re-deriving more is harmless)
    for col, floors in ((Message.group_id, posts), (Message.customer_id, outs)):
        for chunk in _chunks(_by_last(floors, REPLY_HORIZON), _KEYS):
            k, kp = _keys("it", chunk)
            for ws, customer_id, group_id, _at, mentions in session.execute(
                select(
                    Message.workspace_id,
                    Message.customer_id,
                    Message.group_id,
                    Message.sent_at,
                    Message.mentions,
                ).join(
                    k,
                    and_(
                        col == k.c.c0,
                        Message.sent_at >= k.c.c1,
                        Message.group_id.is_not(None),
                        Message.customer_id.is_not(None),
                        Message.direction == "in",
                        Message.mentions.is_not(None),
                        Message.revoked_at.is_(None),
                    ),
                ),
                kp,
            ):
                if ws != workspace_id:
                    continue
                cid, gid = int(customer_id or 0), int(group_id or 0)
                for sid in mentions or ():
                    new = [t for t in (posts.get((sid, gid)), outs.get((sid, cid))) if t is not None]
                    if new:
                        key = (int(sid), cid, gid)
                        found[key] = min(found.get(key, new[0]), *new)
    return found


def _recalled_threads(
    session: Session, workspace_id: int, recalls: dict[tuple[int, int], datetime]
) -> dict[Thread, datetime]:
    """Mention threads of @-mentions recalled by new ``revoke`` rows (by (group, customer)).

    The recall row carries no mentions and the original is marked ``revoked_at`` in place
    (no new id): the customer's @-mentions in the group from the horizon before the recall
    on, recalled or not, name the threads to derive again from the mention on.
    """
    found: dict[Thread, datetime] = {}
    for chunk in _chunks(_by_last(recalls, REPLY_HORIZON), _KEYS):
        k, kp = _keys("it", chunk)
        for ws, cid, gid, at, mentions in session.execute(
            select(
                Message.workspace_id, Message.customer_id, Message.group_id, Message.sent_at, Message.mentions
            ).join(
                k,
                and_(
                    Message.customer_id == k.c.c0,
                    Message.sent_at >= k.c.c1,
                    Message.group_id.is_not(None),
                    Message.direction == "in",
                    Message.mentions.is_not(None),
                ),
            ),
            kp,
        ):
            key = (int(gid or 0), int(cid or 0))
            if ws != workspace_id or key not in recalls:
                continue
            for sid in mentions or ():
                tkey = (int(sid), key[1], key[0])
                found[tkey] = min(found.get(tkey, at), at)
    return found


def _rederive_mentions(
    session: Session, workspace_id: int, threads: dict[Thread, datetime], knobs: InsightKnobs
) -> set[tuple[int, date]]:
    """Re-derive the mention threads' conversations from their floors (as :func:`_rederive`).

    A thread's messages: the customer's group messages that @-mention the account (inbound;
    each ends a silence), the account's posts in that group and its 1:1 messages to the
    customer (replies; they do not end a silence).
    """
    tz = knobs.hours.tz
    silence = timedelta(minutes=knobs.silence_minutes)
    lead = REPLY_HORIZON + silence
    keys = sorted(threads)
    by_thread: dict[Thread, list[tuple[datetime, int, _Msg]]] = defaultdict(list)
    posts: dict[tuple[int, int], list[_Msg]] = defaultdict(list)
    outs: dict[tuple[int, int], list[_Msg]] = defaultdict(list)
    # each (customer, group), (staff, group), (staff, customer) from its threads' earliest floor
    cg: dict[tuple[int, int], datetime] = {}
    sg: dict[tuple[int, int], datetime] = {}
    sc: dict[tuple[int, int], datetime] = {}
    for (t_sid, t_cid, t_gid), t_at in threads.items():
        for floors, fkey in ((cg, (t_cid, t_gid)), (sg, (t_sid, t_gid)), (sc, (t_sid, t_cid))):
            floors[fkey] = min(floors.get(fkey, t_at), t_at)
    live = (Message.revoked_at.is_(None),)
    # the customers' @-mentions (by customer), the accounts' posts (by group), their 1:1
    # messages to the customers (by customer); other groups / staff are dropped here
    for chunk in _chunks(_by_last({(g, c): t for (c, g), t in cg.items()}, lead), _KEYS):
        k, kp = _keys("it", chunk)
        for mid, ws, cid, gid, at, mentions, text_enc in session.execute(
            select(
                Message.id,
                Message.workspace_id,
                Message.customer_id,
                Message.group_id,
                Message.sent_at,
                Message.mentions,
                Message.text_enc,
            ).join(
                k,
                and_(
                    Message.customer_id == k.c.c0,
                    Message.sent_at >= k.c.c1,
                    *live,
                    Message.group_id.is_not(None),
                    Message.direction == "in",
                    Message.mentions.is_not(None),
                ),
            ),
            kp,
        ):
            floor = cg.get((int(cid or 0), int(gid or 0)))
            if ws != workspace_id or floor is None or at < floor - lead:
                continue
            text = _text(text_enc)
            for mentioned in mentions or ():
                key = (int(mentioned), int(cid or 0), int(gid or 0))
                if key in threads:
                    by_thread[key].append(
                        (at, mid, _Msg(at, True, strip_mentions(text) if text is not None else None))
                    )
    for chunk in _chunks(_by_last(sg, lead), _KEYS):
        k, kp = _keys("it", chunk)
        for ws, sid, gid, at in session.execute(
            select(Message.workspace_id, Message.staff_id, Message.group_id, Message.sent_at).join(
                k,
                and_(
                    Message.group_id == k.c.c0, Message.sent_at >= k.c.c1, *live, Message.direction == "out"
                ),
            ),
            kp,
        ):
            floor = sg.get((int(sid or 0), int(gid or 0)))
            if ws == workspace_id and floor is not None and at >= floor - lead:
                posts[(int(sid or 0), int(gid or 0))].append(_Msg(at, False, None, marks=False))
    for chunk in _chunks(_by_last(sc, lead), _KEYS):
        k, kp = _keys("it", chunk)
        for ws, sid, cid, at in session.execute(
            select(Message.workspace_id, Message.staff_id, Message.customer_id, Message.sent_at).join(
                k,
                and_(
                    Message.customer_id == k.c.c0,
                    Message.sent_at >= k.c.c1,
                    *live,
                    Message.group_id.is_(None),
                    Message.direction == "out",
                ),
            ),
            kp,
        ):
            floor = sc.get((int(sid or 0), int(cid or 0)))
            if ws == workspace_id and floor is not None and at >= floor - lead:
                outs[(int(sid or 0), int(cid or 0))].append(_Msg(at, False, None, marks=False))
    stale = _stale_conversations(
        session,
        workspace_id,
        [(s, c, g, threads[(s, c, g)] - REPLY_HORIZON) for s, c, g in keys],
        "iiit",
        True,
    )
    touched: set[tuple[int, date]] = {(s, d) for _, s, d in stale}
    _delete_ids(session, Conversation, [i for i, _, _ in stale])
    rows = []
    for staff_id, customer_id, group_id in keys:
        got = by_thread.get((staff_id, customer_id, group_id), [])
        if not got:
            continue
        got.sort(key=lambda r: (r[0], r[1]))
        since = threads[(staff_id, customer_id, group_id)] - REPLY_HORIZON
        floor = since - silence
        # inbound first at equal times: a post in the same instant answers the @-mention
        msgs = sorted(
            [
                *(m for _, _, m in got if m.at >= floor),
                *(m for m in posts.get((staff_id, group_id), []) if m.at >= floor),
                *(m for m in outs.get((staff_id, customer_id), []) if m.at >= floor),
            ],
            key=lambda m: (m.at, not m.inbound),
        )
        for conv in derive_conversations(msgs, knobs, since=since):
            rows.append(_conversation_row(conv, workspace_id, staff_id, customer_id, group_id, knobs, tz))
    return _insert_conversations(session, rows, touched)


def rebuild_staff_days(
    session: Session, workspace_id: int, staff_days: set[tuple[int, date]], knobs: InsightKnobs
) -> None:
    """Recompute ``staff_metric_days`` rows of the given (staff, day)s from conversations."""
    target = knobs.reply_minutes * 60
    keys = sorted(staff_days)
    for chunk in _chunks(keys, _KEYS):
        k, kp = _keys("id", chunk)
        _delete_ids(
            session,
            StaffMetricDay,
            _ids_where(
                session,
                select(StaffMetricDay.id).join(
                    k,
                    and_(
                        StaffMetricDay.workspace_id == workspace_id,
                        StaffMetricDay.staff_id == k.c.c0,
                        StaffMetricDay.day == k.c.c1,
                    ),
                ),
                kp,
            ),
        )
        agg: dict[tuple[int, date], dict[str, Any]] = {}
        for staff_id, day, exempt, work in session.execute(
            select(
                Conversation.staff_id, Conversation.day, Conversation.exempt, Conversation.reply_work_s
            ).join(
                k,
                and_(
                    Conversation.workspace_id == workspace_id,
                    Conversation.staff_id == k.c.c0,
                    Conversation.day == k.c.c1,
                ),
            ),
            kp,
        ):
            a = agg.setdefault(
                (staff_id, day),
                {
                    "workspace_id": workspace_id,
                    "staff_id": staff_id,
                    "day": day,
                    "conversations": 0,
                    "exempt": 0,
                    "replied": 0,
                    "replied_10m": 0,
                    "unanswered": 0,
                    "reply_work_s_sum": 0,
                    "reply_hist": [0] * (len(BUCKETS) + 1),
                },
            )
            if exempt:
                a["exempt"] += 1
                continue
            a["conversations"] += 1
            if work is None:
                a["unanswered"] += 1
                continue
            a["replied"] += 1
            a["reply_work_s_sum"] += work
            a["replied_10m"] += 1 if work <= target else 0
            a["reply_hist"][bucket_of(work)] += 1
        if agg:
            session.execute(insert(StaffMetricDay), list(agg.values()))
    session.flush()


def refresh(session: Session, workspace_id: int, *, batch: int = BATCH) -> dict[str, int]:
    """Bring the aggregates up to date with new messages and moments events (one batch each).

    Returns counts; call again while ``messages`` or ``events`` equals ``batch``.
    """
    knobs = knobs_for(session, workspace_id)
    tz = knobs.hours.tz
    counts: dict[tuple[int, int, date], list[int]] = defaultdict(lambda: [0, 0, 0])
    pairs: dict[tuple[int, int], datetime] = {}

    mpos = _position(session, workspace_id, "messages")
    rows = session.execute(
        select(
            Message.id,
            Message.staff_id,
            Message.customer_id,
            Message.sent_at,
            Message.direction,
            Message.group_id,
            Message.mentions,
            Message.msgtype,
        )
        .where(
            Message.workspace_id == workspace_id,
            Message.id > mpos.last_id,
        )
        .order_by(Message.id)
        .limit(batch)
    ).all()
    threads: dict[Thread, datetime] = {}
    posts: dict[tuple[int, int], datetime] = {}
    outs: dict[tuple[int, int], datetime] = {}
    recalls: dict[tuple[int, int], datetime] = {}
    if rows:  # the rows come by id: the position moves once (an ORM attribute set per row cost ~4 %)
        mpos.last_id = max(mpos.last_id, max(r[0] for r in rows))
    for _mid, staff_id, customer_id, at, direction, group_id, mentions, msgtype in rows:
        if group_id is not None:
            # Group messages are no 1:1 touches; a customer's @-mention of an account starts
            # a mention thread, an account's post in the group may answer one.
            if direction == "in" and customer_id is not None and mentions:
                for s_id in mentions:
                    tkey = (int(s_id), customer_id, group_id)
                    threads[tkey] = min(threads.get(tkey, at), at)
            elif direction == "in" and customer_id is not None and msgtype == "revoke":
                # the customer recalled a message: if it @-mentioned accounts, their threads
                key = (group_id, customer_id)
                recalls[key] = min(recalls.get(key, at), at)
            elif direction == "out" and staff_id is not None:
                posts[(staff_id, group_id)] = min(posts.get((staff_id, group_id), at), at)
            continue
        if staff_id is None or customer_id is None or direction not in ("in", "out"):
            continue
        if direction == "out":
            outs[(staff_id, customer_id)] = min(outs.get((staff_id, customer_id), at), at)
        counts[(staff_id, customer_id, local_day(at, tz))][0 if direction == "in" else 1] += 1
        key = (staff_id, customer_id)
        pairs[key] = min(pairs.get(key, at), at)
    epos = _position(session, workspace_id, "events")
    events = session.execute(
        select(Event.id, Event.staff_id, Event.customer_id, Event.occurred_at)
        .where(Event.workspace_id == workspace_id, Event.kind.in_(MOMENT_KINDS), Event.id > epos.last_id)
        .order_by(Event.id)
        .limit(batch)
    ).all()
    if events:
        epos.last_id = max(epos.last_id, max(r[0] for r in events))
    for _eid, staff_id, customer_id, at in events:
        if staff_id is not None and customer_id is not None:
            counts[(staff_id, customer_id, local_day(at, tz))][2] += 1

    if counts:
        _bump_interactions(session, workspace_id, counts)
    monthly.maintain(session, workspace_id, counts, knobs)
    touched = _rederive(session, workspace_id, pairs, knobs) if pairs else set()
    for tkey, t in [
        *_affected_threads(session, workspace_id, posts, outs).items(),
        *_recalled_threads(session, workspace_id, recalls).items(),
    ]:
        threads[tkey] = min(threads.get(tkey, t), t)
    if threads:
        touched |= _rederive_mentions(session, workspace_id, threads, knobs)
    if touched:
        rebuild_staff_days(session, workspace_id, touched, knobs)
    session.flush()
    return {
        "messages": len(rows),
        "events": len(events),
        "pairs": len(pairs),
        "threads": len(threads),
        "staff_days": len(touched),
    }


def refresh_all(session: Session, workspace_id: int, *, batch: int = BATCH) -> dict[str, int]:
    """Refresh until caught up (for the CLI and tests; the worker runs one batch a tick)."""
    total = {"messages": 0, "events": 0, "pairs": 0, "threads": 0, "staff_days": 0}
    while True:
        got = refresh(session, workspace_id, batch=batch)
        for k, v in got.items():
            total[k] += v
        if got["messages"] < batch and got["events"] < batch:
            return total


def rebuild(session: Session, workspace_id: int) -> dict[str, int]:
    """Drop every derived row of a workspace and recompute from the start."""
    for model in (Conversation, StaffMetricDay, InteractionDay, InsightPosition):
        session.execute(delete(model).where(model.workspace_id == workspace_id))
    monthly.rebuild(session, workspace_id, knobs_for(session, workspace_id))
    session.flush()
    return refresh_all(session, workspace_id)
