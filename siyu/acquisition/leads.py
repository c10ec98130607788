"""Lead pool (客户公海): buyers whose phones siyu holds but who are no one's friend yet.

:func:`pool` counts them (from imports, and from phone lists an operator uploads with
:func:`upload_phones`); :func:`assign` turns them into ``lead_add`` tasks ("add this
customer as a WeCom friend") for staff, by a rule: ``least_loaded`` over a pool of
accounts (fewest friends and open leads for their limit), or ``shop`` (the buyer's most
ordered shop mapped to accounts, least-loaded among them, the pool otherwise). A lead
counts as added when a new friend is joined to that buyer (the staff member typed the
phone into ``remark_mobiles``, or the friend bound an order): :func:`detect_added`
completes the task as ``detected``. Overdue leads are reminded daily (:func:`remind`);
:func:`conversion` gives each account's figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, select, true
from sqlalchemy.orm import Session

from siyu.customers.schemas import IdentityInput
from siyu.customers.service import resolve_customer
from siyu.execution.service import NewTask, complete_task, create_tasks
from siyu.kit.errors import Invalid
from siyu.kit.events import record_event
from siyu.kit.pii import PIIError, normalise_phone
from siyu.kit.timeutil import utcnow
from siyu.models import Customer, CustomerIdentity, CustomerStats, Follow, Staff, StaffTask

KIND = "lead_add"
RULES = ("least_loaded", "shop")
DUE = timedelta(days=1)
MAX_UPLOAD = 50_000
MAX_ASSIGN = 10_000


def _candidates(workspace_id: int) -> Any:
    """Customers with a phone, no follow (active, pending) and no open lead task."""
    c = Customer
    return select(c.id).where(
        c.workspace_id == workspace_id,
        c.merged_into_id.is_(None),
        c.anonymised_at.is_(None),
        c.opt_out.is_(False),
        exists().where(
            CustomerIdentity.customer_id == c.id,
            CustomerIdentity.kind == "phone",
            CustomerIdentity.workspace_id == workspace_id,
        ),
        ~exists().where(Follow.customer_id == c.id, Follow.state.in_(("active", "pending"))),
        ~exists().where(
            StaffTask.workspace_id == workspace_id,
            StaffTask.customer_id == c.id,
            StaffTask.kind == KIND,
            StaffTask.status == "open",
        ),
    )


def pool(session: Session, *, workspace_id: int) -> int:
    """How many leads wait for an account."""
    return int(session.scalar(select(func.count()).select_from(_candidates(workspace_id).subquery())) or 0)


@dataclass(frozen=True)
class Uploaded:
    rows: int
    leads: int
    already_friends: int
    errors: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "leads": self.leads,
            "already_friends": self.already_friends,
            "errors": self.errors,
        }


def upload_phones(session: Session, *, workspace_id: int, text: str, actor: str = "cli") -> Uploaded:
    """A phone list (one a line; ``phone`` or ``phone,name``; a header is skipped) into OneID.

    Every line is checked first: any bad phone and nothing is written (the errors name the
    lines). Phones are stored as OneID identities (hashed and encrypted, never plain).
    """
    rows: list[tuple[str, str | None]] = []
    errors: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), start=1):
        cells = [c.strip().strip('"').strip() for c in line.split(",")]
        if not "".join(cells).strip():
            continue
        raw = cells[0].strip()
        if n == 1 and not any(ch.isdigit() for ch in raw):
            continue  # a header
        try:
            phone = normalise_phone(raw)
        except PIIError:
            phone = None
        if phone is None:
            errors.append({"line": n, "field": "phone", "message": "not a mainland mobile number"})
            continue
        name = cells[1].strip()[:100] if len(cells) > 1 and cells[1].strip() else None
        rows.append((phone, name))
    if len(rows) > MAX_UPLOAD:
        raise Invalid(f"at most {MAX_UPLOAD:,} phones a list; split it", field="file")
    if errors:
        shown = ", ".join(str(e["line"]) for e in errors[:10])
        raise Invalid(
            f"{len(errors)} line(s) are not mobile numbers (lines {shown}); nothing was added", field="file"
        )
    if not rows:
        raise Invalid("the list holds no phone", field="file")
    friends = 0
    ids: set[int] = set()
    for phone, name in rows:
        c = resolve_customer(
            session,
            workspace_id=workspace_id,
            identities=[IdentityInput("phone", phone)],
            source="lead_upload",
            actor=actor,
            name=name,
        )
        ids.add(c.id)
    if ids:
        friends = int(
            session.scalar(
                select(func.count(func.distinct(Follow.customer_id))).where(
                    Follow.customer_id.in_(ids), Follow.state == "active"
                )
            )
            or 0
        )
    return Uploaded(len(rows), len(ids) - friends, friends, [])


def _load(session: Session, workspace_id: int, staff_ids: Sequence[int]) -> dict[int, int]:
    load = dict.fromkeys(staff_ids, 0)
    for sid, n in session.execute(
        select(Follow.staff_id, func.count())
        .where(Follow.workspace_id == workspace_id, Follow.state == "active", Follow.staff_id.in_(staff_ids))
        .group_by(Follow.staff_id)
    ):
        load[int(sid)] += int(n)
    for tsid, n in session.execute(
        select(StaffTask.staff_id, func.count())
        .where(
            StaffTask.workspace_id == workspace_id,
            StaffTask.kind == KIND,
            StaffTask.status == "open",
            StaffTask.staff_id.in_(staff_ids),
        )
        .group_by(StaffTask.staff_id)
    ):
        if tsid is not None:
            load[int(tsid)] += int(n)
    return load


@dataclass
class Assigned:
    tasks: int
    by_staff: dict[str, int]
    left: int

    def as_dict(self) -> dict[str, Any]:
        return {"tasks": self.tasks, "by_staff": self.by_staff, "left_in_pool": self.left}


def assign(
    session: Session,
    *,
    workspace_id: int,
    rule: str = "least_loaded",
    staff: Sequence[str] | None = None,
    shops: Mapping[str, Sequence[str]] | None = None,
    limit: int = 500,
) -> Assigned:
    """Turn up to ``limit`` leads (most valuable buyers first) into ``lead_add`` tasks."""
    if rule not in RULES:
        raise Invalid(f"rule must be one of {', '.join(RULES)}, not {rule!r}", field="rule")
    if not 1 <= limit <= MAX_ASSIGN:
        raise Invalid(f"limit must be between 1 and {MAX_ASSIGN:,}", field="limit")
    if rule == "shop" and not shops:
        raise Invalid("the shop rule needs a shop → accounts map (shop=userid,userid)", field="shops")
    accounts = {
        s.userid: s
        for s in session.scalars(
            select(Staff).where(
                Staff.workspace_id == workspace_id,
                Staff.status == "active",
                Staff.has_contact_permission.is_(True),
            )
        )
    }
    wanted = list(staff) if staff else list(accounts)
    for userid in [*wanted, *(u for us in (shops or {}).values() for u in us)]:
        if userid not in accounts:
            raise Invalid(
                f"{userid!r} is not an active account with the customer-contact permission", field="staff"
            )
    if not wanted:
        raise Invalid("no active account can take leads", field="staff")
    pool_ids = [accounts[u].id for u in wanted]
    shop_pools = {shop: [accounts[u].id for u in users] for shop, users in (shops or {}).items()}
    everyone = sorted({*pool_ids, *(i for ids in shop_pools.values() for i in ids)})
    load = _load(session, workspace_id, everyone)
    limits = {s.id: max(s.customer_limit, 1) for s in accounts.values()}
    leads = list(
        session.execute(
            select(Customer.id, CustomerStats.shops)
            .outerjoin(CustomerStats, CustomerStats.customer_id == Customer.id)
            .where(Customer.id.in_(_candidates(workspace_id)))
            .order_by(func.coalesce(CustomerStats.net_fen, 0).desc(), Customer.id)
            .limit(limit)
        )
    )
    masked: dict[int, str | None] = {}
    for cid, m in session.execute(
        select(CustomerIdentity.customer_id, CustomerIdentity.value_masked).where(
            CustomerIdentity.workspace_id == workspace_id,
            CustomerIdentity.kind == "phone",
            CustomerIdentity.customer_id.in_([lead.id for lead in leads]),
        )
    ):
        masked[cid] = m
    now = utcnow()
    names = {s.id: s.userid for s in accounts.values()}
    tasks: list[NewTask] = []
    by_staff: dict[str, int] = defaultdict(int)
    for lead in leads:
        choices = pool_ids
        if rule == "shop" and lead.shops:
            top = max(lead.shops.items(), key=lambda kv: (kv[1], kv[0]))[0]
            choices = shop_pools.get(top) or pool_ids
        room = [s for s in choices if load[s] < limits[s]]
        if not room:
            continue
        to = min(room, key=lambda s: (load[s] / limits[s], load[s], s))
        load[to] += 1
        by_staff[names[to]] += 1
        phone = masked.get(lead.id) or "—"
        tasks.append(
            NewTask(
                staff_id=to,
                kind=KIND,
                title=f"添加客户为企业微信好友（手机号 {phone}）",
                body="在企业微信中搜索客户手机号添加，并把手机号填入备注手机号，以便系统识别。",
                due_at=now + DUE,
                customer_id=lead.id,
                source="lead_pool",
                source_ref=rule,
                dedup_key=f"{KIND}:{lead.id}:{now.date().isoformat()}",
                extra={"rule": rule, "phone_masked": phone, "reminders": 0},
            )
        )
    created = create_tasks(session, workspace_id=workspace_id, tasks=tasks)
    return Assigned(len(created), dict(by_staff), pool(session, workspace_id=workspace_id))


_CHUNK = 500  # ids per IN list (well under SQLite's and PostgreSQL's bind limits)


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def _current(session: Session, customer_ids: Iterable[int]) -> dict[int, int]:
    """Each customer id → the profile it lives in now (following merges, up to 10 hops);
    one query per hop and 500 ids, not one per customer."""
    out = {cid: cid for cid in set(customer_ids)}
    for _hop in range(10):
        heads = sorted(set(out.values()))
        moved: dict[int, int] = {}
        for part in _chunks(heads):
            moved.update(
                (int(cid), int(into))
                for cid, into in session.execute(
                    select(Customer.id, Customer.merged_into_id).where(
                        Customer.id.in_(part), Customer.merged_into_id.is_not(None)
                    )
                )
                if into is not None
            )
        if not moved:
            break
        out = {cid: moved.get(cur, cur) for cid, cur in out.items()}
    return out


def _added(session: Session, tasks: Sequence[StaffTask]) -> dict[int, tuple[int, Any]]:
    """Of these open lead tasks, those whose buyer is now a friend (added after the task):
    task id → (the staff id that added them, when). Reads only: the active friendships of
    all the tasks' customers at once, then the first one added after each task."""
    now_of = _current(session, [t.customer_id for t in tasks if t.customer_id is not None])
    follows: dict[int, list[tuple[Any, int]]] = {}
    for part in _chunks(sorted(set(now_of.values()))):
        for fcid, staff_id, added_at in session.execute(
            select(Follow.customer_id, Follow.staff_id, Follow.added_at).where(
                Follow.customer_id.in_(part), Follow.state == "active", Follow.added_at.is_not(None)
            )
        ):
            follows.setdefault(int(fcid), []).append((added_at, int(staff_id)))
    found: dict[int, tuple[int, Any]] = {}
    for t in tasks:
        cid = now_of.get(t.customer_id or 0)
        if cid is None:
            continue
        after = [(a, sid) for a, sid in follows.get(cid, []) if a >= t.created_at]
        if after:
            first_at, first_by = min(after, key=lambda f: f[0])
            found[t.id] = (first_by, first_at)
    return found


def _open_tasks(session: Session, workspace_id: int, staff_id: int | None = None) -> list[StaffTask]:
    q = select(StaffTask).where(
        StaffTask.workspace_id == workspace_id, StaffTask.kind == KIND, StaffTask.status == "open"
    )
    if staff_id is not None:
        q = q.where(StaffTask.staff_id == staff_id)
    return list(session.scalars(q))


def detect_added(session: Session, *, workspace_id: int, customer_ids: Iterable[int] | None = None) -> int:
    """Complete the open lead tasks whose buyer is now a friend (added after the task); how many.

    Runs on ``friend.add`` / ``order.binding`` events and every 15 minutes (OneID merges),
    never on a page view (``siyu.acquisition.subscribers``)."""
    tasks = _open_tasks(session, workspace_id)
    if customer_ids is not None:
        wanted = set(customer_ids)
        now_of = _current(session, [t.customer_id for t in tasks if t.customer_id is not None])
        tasks = [t for t in tasks if t.customer_id in wanted or now_of.get(t.customer_id or 0) in wanted]
    if not tasks:
        return 0
    found = _added(session, tasks)
    for t in tasks:
        if t.id not in found:
            continue
        staff_id, at = found[t.id]
        complete_task(session, workspace_id=workspace_id, task_id=t.id, how="detected", at=at)
        t.extra = {**(t.extra or {}), "added_by_staff_id": staff_id}
    return len(found)


def remind(session: Session, *, workspace_id: int) -> int:
    """Daily: overdue leads move to high priority, counted, and each account gets a reminder event."""
    now = utcnow()
    per_staff: dict[int, int] = defaultdict(int)
    for t in session.scalars(
        select(StaffTask).where(
            StaffTask.workspace_id == workspace_id,
            StaffTask.kind == KIND,
            StaffTask.status == "open",
            StaffTask.due_at < now,
        )
    ):
        t.priority = 1
        t.extra = {**(t.extra or {}), "reminders": int((t.extra or {}).get("reminders", 0)) + 1}
        if t.staff_id is not None:
            per_staff[t.staff_id] += 1
    for staff_id, n in per_staff.items():
        record_event(
            session,
            workspace_id=workspace_id,
            kind="lead.reminder",
            occurred_at=now,
            source="siyu",
            staff_id=staff_id,
            dedup_key=f"lead.reminder:{staff_id}:{now.date().isoformat()}",
            payload={"overdue": n},
        )
    return sum(per_staff.values())


def conversion(session: Session, *, workspace_id: int, staff_id: int | None = None) -> list[dict[str, Any]]:
    """Per account (or one, ``staff_id``): leads given, added (detected), open, overdue, share added."""
    now = utcnow()

    def share(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    rows = session.execute(
        select(
            StaffTask.staff_id,
            func.count(),
            share(StaffTask.status == "done"),
            share(StaffTask.status == "open"),
            share(and_(StaffTask.status == "open", StaffTask.due_at < now)),
        )
        .where(
            StaffTask.workspace_id == workspace_id,
            StaffTask.kind == KIND,
            StaffTask.staff_id == staff_id if staff_id is not None else true(),
        )
        .group_by(StaffTask.staff_id)
    )
    # A lead added since the last detection (a OneID merge waits for the 15-minute sweep)
    # counts as added already: the figures are right without this read writing anything.
    pending = _open_tasks(session, workspace_id, staff_id)
    found = _added(session, pending) if pending else {}
    late: dict[int | None, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for t in pending:
        if t.id in found:
            n, due = late[t.staff_id]
            late[t.staff_id] = (n + 1, due + int(t.due_at < now))
    staff = {s.id: s for s in session.scalars(select(Staff).where(Staff.workspace_id == workspace_id))}
    out = []
    for sid, total, added_, open__, overdue_ in rows:
        n, due = late.get(sid, (0, 0))
        added, open_, overdue = int(added_ or 0) + n, int(open__ or 0) - n, int(overdue_ or 0) - due
        s = staff.get(sid)
        out.append(
            {
                "userid": s.userid if s else None,
                "name": s.name if s else None,
                "leads": int(total),
                "added": int(added or 0),
                "open": int(open_ or 0),
                "overdue": int(overdue or 0),
                "conversion": round(int(added or 0) / int(total), 4) if total else None,
            }
        )
    return sorted(out, key=lambda r: (-(r["conversion"] or 0), -r["leads"], r["userid"] or ""))


def tasks_of(session: Session, *, workspace_id: int, staff_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """One account's add-a-friend tasks, open ones first (by due time), then the newest done."""
    now = utcnow()
    rows = session.scalars(
        select(StaffTask)
        .where(StaffTask.workspace_id == workspace_id, StaffTask.kind == KIND, StaffTask.staff_id == staff_id)
        .order_by(case((StaffTask.status == "open", 0), else_=1), StaffTask.due_at, StaffTask.id.desc())
        .limit(limit)
    ).all()
    # As conversion(): a lead added since the last detection shows as done, read-only.
    found = _added(session, [t for t in rows if t.status == "open"])
    out = []
    for t in rows:
        done_at = found[t.id][1] if t.id in found else t.done_at
        status = "done" if t.id in found else t.status
        out.append(
            {
                "task_id": t.id,
                "customer_id": t.customer_id,
                "phone_masked": (t.extra or {}).get("phone_masked"),
                "status": status,
                "overdue": status == "open" and t.due_at < now,
                "due_at": t.due_at.isoformat(),
                "done_at": done_at.isoformat() if done_at else None,
            }
        )
    return out
