"""Recompute orchestration: RFM, layers and CLV predictions for every customer; CLV fits.

``recompute`` reads the maintained ``customer_stats`` in chunks (never one ORM object
per customer), scores everyone with numpy, and writes ``customer_scores`` in bulk. RFM
quintiles and the 8-class centres are workspace-relative and recency ages every day, so
every customer is scored on every run; what is incremental is the writing: by default
only rows whose values changed are written (``full=True`` rewrites them all).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from siyu.kit.errors import NotFound
from siyu.kit.timeutil import day_start_utc, local_day, utcnow
from siyu.models import Workspace
from siyu.segments import layers
from siyu.segments import scores_repository as repo
from siyu.segments.clv import ClvModel, HistoryCounter, fit_histories, local_days, summarise
from siyu.segments.clv.model import TimeUnit
from siyu.segments.knobs import knobs_from_settings
from siyu.segments.rfm import Center
from siyu.segments.scoring import CustomerColumns, compute

CLV_SETTINGS_KEY = "clv"
STATE_SETTINGS_KEY = "recompute"
EPOCH_DAY = date(1970, 1, 1)

# progress(stage, done, total): the CLI draws a bar with it, jobs pass None.
Progress = Callable[[str, int, int], None]

# orders read per query by the CLV fit (whole customers; memory stays near one chunk)
FIT_CHUNK = 500_000


@dataclass
class RecomputeResult:
    """What a recompute did, for the CLI table, the job log and the API."""

    workspace_id: int
    as_of: date
    customers: int = 0
    buyers: int = 0
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    pareto_top20_share: float | None = None
    rfm_segments: dict[str, int] = field(default_factory=dict)
    rfm8: dict[str, int] = field(default_factory=dict)
    layers: dict[str, dict[str, int]] = field(default_factory=dict)
    clv_model_fitted_at: str | None = None
    expected_value_90d_fen: int | None = None
    # what each auto-tag rule did (None: rules were not run)
    rules: list[dict[str, Any]] | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO strings)."""
        data = dict(self.__dict__)
        data["as_of"] = self.as_of.isoformat()
        return data


def _workspace(session: Session, workspace_id: int) -> Workspace:
    ws = session.get(Workspace, workspace_id)
    if ws is None:
        raise NotFound(f"workspace {workspace_id} does not exist", field="workspace")
    return ws


def stored_model(ws: Workspace) -> ClvModel | None:
    """The CLV model last fitted for this workspace, if any."""
    data = (ws.settings or {}).get(CLV_SETTINGS_KEY)
    if not isinstance(data, dict):
        return None
    try:
        return ClvModel.from_json(data)
    except (KeyError, TypeError):
        return None


def _store_setting(ws: Workspace, key: str, value: Any) -> None:
    # a new dict, so that the JSON column sees the change
    ws.settings = {**(ws.settings or {}), key: value}


def today(ws: Workspace) -> date:
    """The current business day in the workspace's time zone."""
    return local_day(utcnow(), ws.timezone)


def _load_columns(session: Session, workspace_id: int, progress: Progress | None) -> CustomerColumns:
    total = repo.count_customers(session, workspace_id)
    parts: list[repo.CustomerChunk] = []
    cats: list[np.ndarray[Any, np.dtype[np.object_]]] = []
    done = 0
    for chunk in repo.iter_customers(session, workspace_id):
        parts.append(chunk)
        cats.append(layers.preferred_categories(chunk.categories))
        chunk.categories = []  # the JSON dicts are not needed any more
        done += chunk.ids.size
        if progress:
            progress("reading customers", done, total)

    def cat(name: str) -> np.ndarray[Any, np.dtype[np.int64]]:
        if not parts:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([getattr(p, name) for p in parts])

    ids = cat("ids")
    return CustomerColumns(
        ids=ids,
        effective_orders=cat("effective_orders"),
        net_fen=cat("net_fen"),
        purchase_days=cat("purchase_days"),
        first_paid_s=cat("first_paid_s"),
        last_paid_s=cat("last_paid_s"),
        last_interaction_s=cat("last_interaction_s"),
        preferred_category=np.concatenate(cats) if cats else np.zeros(0, dtype=object),
        has_active_follow=np.isin(ids, repo.active_follow_customer_ids(session, workspace_id)),
        referred_someone=np.isin(ids, repo.referrer_ids(session, workspace_id)),
    )


def _apply_rules(session: Session, workspace_id: int) -> list[dict[str, Any]] | None:
    """Run the enabled auto-tag rules on every customer, after the scores they may use."""
    try:
        from siyu.segments import rules
    except ImportError:  # the rules module is optional at this layer
        return None
    apply = getattr(rules, "apply_rules", None)
    if apply is None:
        return None
    # all customers, not only re-scored ones: rules may test ages (last_order_days)
    results = apply(session, workspace_id=workspace_id, customer_ids=None)
    return [r.model_dump() if hasattr(r, "model_dump") else dict(r) for r in results or []]


def recompute(
    session_or_factory: Session | Callable[[], Session],
    *,
    workspace_id: int,
    full: bool = False,
    as_of: date | None = None,
    center: Center | None = None,
    apply_rules: bool = True,
    chunk: int = repo.CHUNK,
    progress: Progress | None = None,
) -> RecomputeResult:
    """Score every live customer of a workspace and store the changed rows.

    Given a session, the caller's boundary commits; given a session factory, one
    session is opened and committed here (what a job does).
    """
    if not isinstance(session_or_factory, Session):
        session = session_or_factory()
        try:
            result = recompute(
                session,
                workspace_id=workspace_id,
                full=full,
                as_of=as_of,
                center=center,
                apply_rules=apply_rules,
                chunk=chunk,
                progress=progress,
            )
            session.commit()
            return result
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
    return _recompute(session_or_factory, workspace_id, full, as_of, center, apply_rules, chunk, progress)


def _recompute(
    session: Session,
    workspace_id: int,
    full: bool,
    as_of: date | None,
    center: Center | None,
    apply_rules: bool,
    chunk: int,
    progress: Progress | None,
) -> RecomputeResult:
    started = time.perf_counter()
    ws = _workspace(session, workspace_id)
    knobs = knobs_from_settings(ws.settings)
    as_of = as_of or today(ws)
    model = stored_model(ws)
    result = RecomputeResult(workspace_id=workspace_id, as_of=as_of)
    result.clv_model_fitted_at = model.fitted_at if model else None

    # merged profiles first, so that a full rewrite below still reports them
    result.removed = repo.delete_orphan_scores(session, workspace_id)
    with repo.bulk_cache(session):
        cols = _load_columns(session, workspace_id, progress)
        scores = compute(
            cols,
            as_of_day=(as_of - EPOCH_DAY).days,
            tz=ws.timezone,
            knobs=knobs,
            model=model,
            center=center,
        )
        _summarise(result, cols, scores)
        _write(session, workspace_id, cols.ids, scores, full, chunk, result, progress)
    session.flush()
    if apply_rules:
        result.rules = _apply_rules(session, workspace_id)
    result.seconds = round(time.perf_counter() - started, 3)
    _store_setting(
        ws,
        STATE_SETTINGS_KEY,
        {
            "at": utcnow().isoformat(),
            "as_of": as_of.isoformat(),
            "customers": result.customers,
            "written": result.written,
            "full": full,
        },
    )
    session.flush()
    return result


def _summarise(result: RecomputeResult, cols: CustomerColumns, scores: dict[str, Any]) -> None:
    result.customers = int(cols.ids.size)
    buyer = scores["r_score"] != None  # noqa: E711 (elementwise on an object array)
    result.buyers = int(buyer.sum())
    result.pareto_top20_share = layers.pareto_share(cols.net_fen[buyer])

    def counts(name: str) -> dict[str, int]:
        c = Counter(scores[name].tolist())
        c.pop(None, None)
        return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))

    result.rfm_segments = counts("rfm_segment")
    result.rfm8 = counts("rfm8")
    result.layers = {k: counts(k) for k in ("layer_age", "layer_tier", "layer_value", "lifecycle")}
    values = [v for v in scores["expected_value_fen"].tolist() if v is not None]
    result.expected_value_90d_fen = int(sum(values)) if values else None


def _write(
    session: Session,
    workspace_id: int,
    ids: np.ndarray[Any, np.dtype[np.int64]],
    scores: dict[str, Any],
    full: bool,
    chunk: int,
    result: RecomputeResult,
    progress: Progress | None,
) -> None:
    now = utcnow()
    columns = [scores[name] for name in repo.SCORE_COLUMNS]
    total = int(ids.size)
    if full:
        # Rewriting every row: dropping the workspace's rows and inserting afresh is
        # cheaper than a million in-place updates (each touching three indexes).
        repo.delete_scores(session, workspace_id)
    for start in range(0, total, chunk):
        stop = min(start + chunk, total)
        chunk_ids = ids[start:stop].tolist()
        rows = list(zip(chunk_ids, *(c[start:stop].tolist() for c in columns), strict=True))
        if not full:
            stored = repo.existing_scores(session, workspace_id, chunk_ids[0], chunk_ids[-1])
            changed = [row for row in rows if stored.get(row[0]) != row[1:]]
            result.unchanged += len(rows) - len(changed)
            rows = changed
        if full:
            repo.insert_scores(session, workspace_id, rows, now)
        else:
            repo.upsert_scores(session, workspace_id, rows, now)
        result.written += len(rows)
        if progress:
            progress("writing scores", stop, total)


def fit_clv_models(
    session: Session,
    *,
    workspace_id: int,
    calibration_end: date | None = None,
    time_unit: TimeUnit = "day",
) -> ClvModel:
    """Fit BG/NBD + Gamma-Gamma on effective orders up to the calibration end day; store it.

    The calibration end is a business day in the workspace time zone, included; the
    default is today. Raises ClvFitError (plain words) when the data cannot support a fit.
    """
    ws = _workspace(session, workspace_id)
    end = calibration_end or today(ws)
    until = day_start_utc(end + timedelta(days=1), ws.timezone)
    end_day = (end - EPOCH_DAY).days
    counter = HistoryCounter(end_day)
    for part in repo.iter_effective_orders_by_customer(session, workspace_id, until, chunk=FIT_CHUNK):
        counter.add(summarise(part[:, 0], local_days(part[:, 1], ws.timezone), part[:, 2], end_day=end_day))
    model = fit_histories(
        counter.result(), time_unit=time_unit, calibration_end=end.isoformat(), fitted_at=utcnow().isoformat()
    )
    _store_setting(ws, CLV_SETTINGS_KEY, model.to_json())
    session.flush()
    return model
