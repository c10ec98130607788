"""The reward ledger: red packets, brand-paid coupons and gifts paid to customers.

A reward is money the brand paid a customer outside an order's price. Each one is
subtracted from gross profit in the P&L (``siyu.insights.profit``) of the month it was
paid, on the line of the staff account, channel and send it belongs to. Recorded one at
a time (API, CLI) or from a CSV file checked row by row: any wrong row refuses the whole
file, each named by line and column; a row whose ``ref`` is already stored is counted
as a duplicate and left alone, so a re-imported file records nothing twice.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.repository import identity_owners
from siyu.insights.profit import RowError
from siyu.kit.errors import Invalid, NotFound
from siyu.kit.money import MoneyError, yuan_to_fen
from siyu.kit.pii import get_vault
from siyu.kit.timeutil import local_to_utc
from siyu.models import Channel, Customer, Reward, Send, Staff, Workspace

KINDS = ("red_packet", "coupon", "gift")
KIND_ALIASES = {"红包": "red_packet", "优惠券": "coupon", "券": "coupon", "礼品": "gift", "赠品": "gift"}
MAX_AMOUNT_FEN = 10**10  # 100 million yuan: beyond it a typo, not a reward
COLUMNS = (
    "customer_id", "external_userid", "amount", "kind", "paid_at", "send_id", "channel", "staff",
    "referred_customer_id", "ref", "note",
)  # fmt: skip
_CHUNK = 500


@dataclass
class RewardImport:
    rows: int = 0
    written: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "written": self.written,
            "duplicates": self.duplicates,
            "errors": [vars(e) for e in self.errors],
        }


MAX_LISTED = 100  # wrong rows named in one error message


def error_field(e: RowError) -> str:
    return f"line {e.line}: {e.field}"


def errors_message(errors: Sequence[RowError]) -> str:
    """Every wrong row (up to :data:`MAX_LISTED`) in one sentence: nothing was imported."""
    listed = "; ".join(f"line {e.line}, {e.field} {e.value!r}: {e.message}" for e in errors[:MAX_LISTED])
    more = f"; and {len(errors) - MAX_LISTED} more" if len(errors) > MAX_LISTED else ""
    return f"{len(errors)} wrong row(s), nothing imported: {listed}{more}"


def _kind(value: str) -> str | None:
    v = value.strip()
    v = KIND_ALIASES.get(v, v.lower())
    return v if v in KINDS else None


def _when(value: str, tz: str) -> datetime:
    """ISO date-time; without an offset it is the workspace's local time."""
    at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return local_to_utc(at, tz) if at.tzinfo is None else at


@dataclass
class _Refs:
    """Look-ups of one workspace: ids that exist, channels by state, staff by userid."""

    session: Session
    workspace_id: int
    tz: str
    customers: set[int] = field(default_factory=set)
    sends: set[int] = field(default_factory=set)
    channels: dict[str, int] = field(default_factory=dict)
    staff: dict[str, int] = field(default_factory=dict)
    by_external: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, workspace_id: int) -> _Refs:
        ws = session.get(Workspace, workspace_id)
        if ws is None:
            raise NotFound(f"no workspace {workspace_id}")
        refs = cls(session, workspace_id, ws.timezone or "Asia/Shanghai")
        refs.channels = {
            str(state): int(cid)
            for cid, state in session.execute(
                select(Channel.id, Channel.state).where(
                    Channel.workspace_id == workspace_id, Channel.deleted_at.is_(None)
                )
            )
            if state
        }
        refs.staff = dict(
            session.execute(select(Staff.userid, Staff.id).where(Staff.workspace_id == workspace_id)).all()
        )
        return refs

    def check_ids(self, customers: set[int], sends: set[int]) -> None:
        wanted = sorted(customers)
        for part in (wanted[i : i + _CHUNK] for i in range(0, len(wanted), _CHUNK)):
            self.customers.update(
                self.session.scalars(
                    select(Customer.id).where(
                        Customer.workspace_id == self.workspace_id,
                        Customer.id.in_(part),
                        Customer.merged_into_id.is_(None),
                    )
                )
            )
        wanted = sorted(sends)
        for part in (wanted[i : i + _CHUNK] for i in range(0, len(wanted), _CHUNK)):
            self.sends.update(
                self.session.scalars(
                    select(Send.id).where(Send.workspace_id == self.workspace_id, Send.id.in_(part))
                )
            )

    def load_external(self, external_ids: set[str]) -> None:
        vault = get_vault()
        by_hash = {vault.identity_hash("external_userid", e): e for e in external_ids}
        owners = identity_owners(
            self.session, workspace_id=self.workspace_id, kind="external_userid", platform="",
            hashes=list(by_hash),
        )  # fmt: skip
        for h, ext in by_hash.items():
            if h in owners:
                self.by_external[ext] = owners[h]


def _int(value: str) -> int | None:
    try:
        n = int(value)
    except ValueError:
        return None
    return n if 0 < n < 2**63 else None


def _check_row(n: int, row: dict[str, str], refs: _Refs, errors: list[RowError]) -> dict[str, Any] | None:
    """One row's values, or ``None`` with its errors appended (all of them, not the first)."""
    before = len(errors)

    def err(col: str, message: str) -> None:
        errors.append(RowError(n, col, row.get(col, "")[:100], message))

    values: dict[str, Any] = {}
    cid_text, ext = row.get("customer_id", ""), row.get("external_userid", "")
    if cid_text:
        cid = _int(cid_text)
        if cid is None:
            err("customer_id", "customer_id is not a positive whole number")
        elif cid not in refs.customers:
            err("customer_id", f"no customer {cid} in this workspace")
        else:
            values["customer_id"] = cid
    elif ext:
        if ext not in refs.by_external:
            err("external_userid", "no customer with this external_userid (sync WeCom contacts first)")
        else:
            values["customer_id"] = refs.by_external[ext]
    else:
        err("customer_id", "customer_id or external_userid is needed")
    try:
        amount = yuan_to_fen(row.get("amount", ""), allow_negative=True)
        if amount <= 0:
            err("amount", "amount must be more than zero")
        elif amount > MAX_AMOUNT_FEN:
            err("amount", "amount is beyond 100,000,000 yuan")
        values["amount_fen"] = amount
    except MoneyError as exc:
        err("amount", f"amount is not an amount in yuan ({exc})")
    kind = _kind(row.get("kind", ""))
    if kind is None:
        err("kind", f"kind must be one of {', '.join(KINDS)} (or 红包, 优惠券, 礼品)")
    values["kind"] = kind
    try:
        values["paid_at"] = _when(row.get("paid_at", ""), refs.tz)
    except (ValueError, OverflowError):
        err(
            "paid_at",
            "paid_at is not a date-time YYYY-MM-DD HH:MM (workspace time unless an offset is given)",
        )
    if row.get("send_id"):
        sid = _int(row["send_id"])
        if sid is None or sid not in refs.sends:
            err("send_id", f"no send {row['send_id']} in this workspace")
        else:
            values["send_id"] = sid
    if row.get("channel"):
        ch = refs.channels.get(row["channel"])
        if ch is None:
            err("channel", "no channel with this state in this workspace")
        values["channel_id"] = ch
    if row.get("staff"):
        st = refs.staff.get(row["staff"])
        if st is None:
            err("staff", "no staff account with this userid")
        values["staff_id"] = st
    if row.get("referred_customer_id"):
        rid = _int(row["referred_customer_id"])
        if rid is None or rid not in refs.customers:
            err("referred_customer_id", f"no customer {row['referred_customer_id']} in this workspace")
        else:
            values["referred_customer_id"] = rid
    if len(row.get("ref", "")) > 64:
        err("ref", "ref is longer than 64 characters")
    values["ref"] = row.get("ref") or None
    if len(row.get("note", "")) > 200:
        err("note", "note is longer than 200 characters")
    values["note"] = row.get("note") or None
    return values if len(errors) == before else None


def _stored_refs(session: Session, workspace_id: int, refs: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for part in (refs[i : i + _CHUNK] for i in range(0, len(refs), _CHUNK)):
        out.update(
            r
            for r in session.scalars(
                select(Reward.ref).where(Reward.workspace_id == workspace_id, Reward.ref.in_(part))
            )
            if r is not None
        )
    return out


def import_rewards(
    session: Session, *, workspace_id: int, text: str, actor: str = "cli", source: str = "csv"
) -> RewardImport:
    """Check every row of a rewards CSV; write the new rows only when no row is wrong.

    Columns: ``customer_id`` or ``external_userid``, ``amount`` (yuan), ``kind``
    (red_packet / coupon / gift, or 红包 / 优惠券 / 礼品), ``paid_at`` (ISO date-time,
    workspace time unless it has an offset); optional ``send_id``, ``channel`` (the
    channel's state), ``staff`` (userid), ``referred_customer_id``, ``ref``, ``note``.
    """
    result = RewardImport()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise Invalid(f"rewards CSV is not readable: {exc}", field="csv") from exc
    missing = [c for c in ("amount", "kind", "paid_at") if c not in header]
    if "customer_id" not in header and "external_userid" not in header:
        missing.insert(0, "customer_id or external_userid")
    if missing:
        raise Invalid(
            "rewards CSV needs the columns customer_id (or external_userid), amount, kind, paid_at; "
            f"missing: {', '.join(missing)}",
            field="header",
        )
    unknown = [h for h in header if h and h not in COLUMNS]
    if unknown:
        raise Invalid(f"rewards CSV: unknown column(s) {', '.join(unknown)}", field="header")
    rows: list[tuple[int, dict[str, str]]] = []
    try:
        for n, raw in enumerate(reader, start=2):
            rows.append(
                (
                    n,
                    {
                        k.strip().lower(): (v if isinstance(v, str) else "").strip()
                        for k, v in raw.items()
                        if k
                    },
                )
            )
    except csv.Error as exc:
        raise Invalid(f"rewards CSV is not readable: {exc}", field="csv") from exc
    result.rows = len(rows)
    refs = _Refs.load(session, workspace_id)
    refs.check_ids(
        {i for _, r in rows for c in ("customer_id", "referred_customer_id") if (i := _int(r.get(c, "")))},
        {i for _, r in rows if (i := _int(r.get("send_id", "")))},
    )
    refs.load_external({r["external_userid"] for _, r in rows if r.get("external_userid")})
    good: list[tuple[int, dict[str, Any]]] = []
    seen_refs: dict[str, int] = {}
    for n, row in rows:
        values = _check_row(n, row, refs, result.errors)
        ref = row.get("ref")
        if ref and ref in seen_refs:
            result.errors.append(RowError(n, "ref", ref[:100], f"ref repeats line {seen_refs[ref]}"))
            continue
        if ref:
            seen_refs[ref] = n
        if values is not None:
            good.append((n, values))
    if result.errors:
        return result
    stored = _stored_refs(session, workspace_id, sorted(seen_refs))
    fresh = [v for _, v in good if v["ref"] is None or v["ref"] not in stored]
    result.duplicates = len(good) - len(fresh)
    session.add_all(Reward(workspace_id=workspace_id, source=source, created_by=actor, **v) for v in fresh)
    session.flush()
    result.written = len(fresh)
    return result


def import_rewards_file(
    session: Session, *, workspace_id: int, path: Path, actor: str = "cli"
) -> RewardImport:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise Invalid(f"cannot read rewards file {path}: {exc}", field="path") from exc
    return import_rewards(session, workspace_id=workspace_id, text=text, actor=actor)


def record_reward(
    session: Session,
    *,
    workspace_id: int,
    fields: dict[str, Any],
    actor: str = "api",
    source: str = "api",
) -> Reward:
    """Record one reward (the same checks as a CSV row, fields named like its columns)."""
    row = {k: "" if v is None else str(v).strip() for k, v in fields.items() if k in COLUMNS}
    refs = _Refs.load(session, workspace_id)
    refs.check_ids(
        {i for c in ("customer_id", "referred_customer_id") if (i := _int(row.get(c, "")))},
        {i for i in [_int(row.get("send_id", ""))] if i},
    )
    if row.get("external_userid"):
        refs.load_external({row["external_userid"]})
    errors: list[RowError] = []
    values = _check_row(1, row, refs, errors)
    if values is None:
        first = errors[0]
        raise Invalid("; ".join(e.message for e in errors), field=first.field)
    if values["ref"] and _stored_refs(session, workspace_id, [values["ref"]]):
        raise Invalid(f"a reward with ref {values['ref']!r} is already recorded", field="ref")
    reward = Reward(workspace_id=workspace_id, source=source, created_by=actor, **values)
    session.add(reward)
    session.flush()
    return reward


def reward_dict(r: Reward) -> dict[str, Any]:
    return {
        "id": r.id,
        "customer_id": r.customer_id,
        "amount_fen": r.amount_fen,
        "kind": r.kind,
        "paid_at": r.paid_at,
        "send_id": r.send_id,
        "channel_id": r.channel_id,
        "staff_id": r.staff_id,
        "referred_customer_id": r.referred_customer_id,
        "ref": r.ref,
        "note": r.note,
        "source": r.source,
    }


def list_rewards(
    session: Session,
    *,
    workspace_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    send_ids: Sequence[int] | None = None,
    limit: int | None = None,
) -> list[Reward]:
    """Rewards paid in ``[since, until)`` (and of some sends), oldest first."""
    stmt = select(Reward).where(Reward.workspace_id == workspace_id)
    if since is not None:
        stmt = stmt.where(Reward.paid_at >= since)
    if until is not None:
        stmt = stmt.where(Reward.paid_at < until)
    if send_ids is not None:
        stmt = stmt.where(Reward.send_id.in_(list(send_ids)))
    stmt = stmt.order_by(Reward.paid_at, Reward.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))
