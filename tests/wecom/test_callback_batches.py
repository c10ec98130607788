"""Batch processing gives what one-by-one processing gives: state, failures, re-fetch jobs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from siyu.kit.db import session_factory, session_scope
from siyu.models import CustomerIdentity, Event, Follow, Job, Staff, WeComCallback
from siyu.wecom.callbacks.inbox import accept
from siyu.wecom.callbacks.processing import process_batch, process_pending
from siyu.wecom.callbacks.refetch import BATCH_TARGETS, REFETCH_KIND
from tests.wecom.fixtures.callbacks import DEFAULTS, at, payload

T0 = DEFAULTS["create_time"]


def _store(workspace_id: int, xmls: list[str]) -> list[int]:
    with session_scope() as s:
        for xml in xmls:
            accept(s, workspace_id=workspace_id, xml_text=xml)
    with session_scope() as s:
        q = select(WeComCallback.id).order_by(WeComCallback.create_time, WeComCallback.id)
        return list(s.scalars(q))


def _mixed(n: int) -> list[str]:
    """Contact adds and edits (repeats included), group changes and tag changes."""
    out = []
    for i in range(n):
        t = T0 + i
        if i % 7 == 3:
            out.append(payload("chat_update_detail", chat_id=f"wrCHAT{i % 4}", create_time=t))
        elif i % 11 == 5:
            out.append(payload("tag_change", tag_id=f"et{i % 3}", change_type="update", create_time=t))
        elif i % 5 == 2:
            out.append(payload("edit_external_contact", external_userid=f"wmC{i % 9:04d}", create_time=t))
        else:
            out.append(
                payload(
                    "add_external_contact", external_userid=f"wmC{i:04d}", userid=f"u{i % 3}", create_time=t
                )
            )
    return out


def _jobs(session: Session) -> list[dict[str, Any]]:
    """The re-fetch jobs, once the callbacks' events reached the wecom.refetch subscriber."""
    from siyu.worker.outbox import deliver

    assert not deliver(session_factory(), names=["wecom.refetch"]).errors
    session.expire_all()
    return [j.payload for j in session.scalars(select(Job).where(Job.kind == REFETCH_KIND).order_by(Job.id))]


def _open_job(workspace_id: int, targets: int) -> None:
    """A queued re-fetch job already holding ``targets`` contacts (some the callbacks repeat)."""
    with session_scope() as s:
        s.execute(delete(Job))
        contacts = [{"userid": "u0", "external_userid": f"wmC{i:04d}"} for i in range(0, 2 * targets, 2)]
        s.add(
            Job(workspace_id=workspace_id, kind=REFETCH_KIND, payload={"contacts": contacts}, status="queued")
        )


def test_refetch_jobs_are_the_same_whatever_the_batching(session: Session, workspace_id: int) -> None:
    """Callbacks in batches of 25, their events delivered 500 at a time, give the same
    re-fetch jobs as events delivered one by one (the subscriber merges in memory)."""
    from siyu.kit.ops import discover
    from siyu.models import EventSubscription
    from siyu.worker.outbox import deliver_once

    ids = _store(workspace_id, _mixed(3 * BATCH_TARGETS))
    _open_job(workspace_id, BATCH_TARGETS - 30)
    summary = process_pending(session_factory(), batch_size=25)
    assert (summary.processed, summary.failed) == (len(ids), 0)
    batched = _jobs(session)

    # Again, one event per delivery.
    _open_job(workspace_id, BATCH_TARGETS - 30)
    with session_scope() as s:
        s.execute(delete(EventSubscription))
    sub = discover().subscribers["wecom.refetch"]
    while deliver_once(session_factory(), sub, limit=1) != (0, 0):
        pass
    session.expire_all()
    one_by_one = [
        j.payload for j in session.scalars(select(Job).where(Job.kind == REFETCH_KIND).order_by(Job.id))
    ]

    assert batched == one_by_one
    assert len(batched) >= 3
    for job in batched:
        targets = (
            len(job.get("contacts", [])) + len(job.get("chat_ids", [])) + len(job.get("tag_changes", []))
        )
        assert targets <= BATCH_TARGETS
        contacts = [(c["userid"], c["external_userid"]) for c in job.get("contacts", [])]
        assert len(set(contacts)) == len(contacts)
        assert len(set(job.get("chat_ids", []))) == len(job.get("chat_ids", []))


def test_one_raising_callback_fails_alone_and_leaves_nothing_behind(
    session: Session, workspace_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siyu.wecom.callbacks import handlers

    real = handlers.follow_service.follow_added

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("external_userid") == "wmBAD":
            raise RuntimeError("database hiccup")
        return real(*args, **kwargs)

    monkeypatch.setattr(handlers.follow_service, "follow_added", flaky)
    xmls = [
        payload("add_external_contact", external_userid=ext, userid="newstaff", create_time=T0 + i)
        for i, ext in enumerate(["wmOK1", "wmBAD", "wmOK2", "wmOK3"])
    ]
    ids = _store(workspace_id, xmls)
    statuses = process_batch(session_factory(), ids)
    assert [statuses[i] for i in ids] == ["processed", "pending", "processed", "processed"]

    session.expire_all()
    bad = session.get(WeComCallback, ids[1])
    assert bad is not None
    assert (bad.attempts, bad.status) == (1, "pending")
    assert "database hiccup" in (bad.error or "")
    assert {f.external_userid for f in session.scalars(select(Follow))} == {"wmOK1", "wmOK2", "wmOK3"}
    assert len(session.scalars(select(Event)).all()) == 3
    assert [s.userid for s in session.scalars(select(Staff))] == ["newstaff"]
    # The failed callback's customer and re-fetch request were rolled back with it.
    idents = {i.value for i in session.scalars(select(CustomerIdentity))}
    assert idents == {"wmOK1", "wmOK2", "wmOK3"}
    contacts = [c["external_userid"] for job in _jobs(session) for c in job.get("contacts", [])]
    assert contacts == ["wmOK1", "wmOK2", "wmOK3"]

    monkeypatch.undo()  # the cause is fixed: the next pass applies it
    assert process_pending(session_factory()).processed == 1
    session.expire_all()
    assert len(session.scalars(select(Follow)).all()) == 4
    contacts = [c["external_userid"] for job in _jobs(session) for c in job.get("contacts", [])]
    assert contacts == ["wmOK1", "wmOK2", "wmOK3", "wmBAD"]


def test_batch_sets_first_seen_from_the_earliest_add(session: Session, workspace_id: int) -> None:
    from siyu.models import Customer

    xmls = [
        payload("del_follow_user", external_userid="wmDEL", create_time=T0),
        payload("add_external_contact", external_userid="wmTWICE", create_time=T0 + 5),
        payload("add_external_contact", external_userid="wmTWICE", userid="lisi", create_time=T0 + 2),
    ]
    process_batch(session_factory(), _store(workspace_id, xmls))
    session.expire_all()
    first_seen = {
        i.value: session.get(Customer, i.customer_id).first_seen_at  # type: ignore[union-attr]
        for i in session.scalars(select(CustomerIdentity))
    }
    assert first_seen["wmTWICE"] == at(2)
    assert first_seen["wmDEL"] > at(0)  # no add: first seen when processed, as before
