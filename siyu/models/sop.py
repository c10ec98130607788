"""SOP plans: a trigger, an optional audience, timed steps and exits; who is enrolled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, JSONType, UTCDateTime, created_at, fk, pk, updated_at, workspace_fk


class SopPlan(Base):
    """One plan, stored whole in one row (its steps are JSON), so a save is atomic.

    ``status``: ``draft`` | ``active`` | ``paused`` | ``archived``. ``trigger``,
    ``steps`` and ``exits`` are checked by ``siyu.automation.sop.spec``; ``version``
    counts edits (enrollments keep their plan and never re-enter on an edit).
    """

    __tablename__ = "sop_plans"
    __table_args__ = (Index("ix_sop_plans_workspace_id_status", "workspace_id", "status"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="draft")
    # customer: one enrollment per customer and occurrence; group: one per group
    subject: Mapped[str] = mapped_column(String(16), nullable=False, default="customer")
    trigger: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    audience: Mapped[str | None] = mapped_column(Text)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False, default=list)
    exits: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False, default=list)
    template: Mapped[str | None] = mapped_column(String(32))
    enroll_existing: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(128), nullable=False, default="system")
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class SopEnrollment(Base):
    """One customer (or, in a group plan, one group) in one plan for one occurrence.

    A group plan's enrollment has no customer: ``group_id`` is its subject, and a
    partial unique index keeps one enrollment per (plan, group), ever.

    ``trigger_key`` names the occurrence (the event, the first order, the silent spell,
    the birthday's year), so a re-delivered event, a re-run scan or an edited plan
    never enrolls anyone twice. ``status``: ``active`` | ``completed`` | ``exited`` |
    ``skipped`` (already matching when the plan was activated without them).
    ``current_step`` is the index of the next step to run, due at ``next_due_at``.
    """

    __tablename__ = "sop_enrollments"
    __table_args__ = (
        UniqueConstraint("plan_id", "customer_id", "trigger_key"),
        Index(
            "uq_sop_enrollments_plan_id_group_id_groups",
            "plan_id",
            "group_id",
            unique=True,
            sqlite_where=text("customer_id IS NULL"),
            postgresql_where=text("customer_id IS NULL"),
        ),
        Index("ix_sop_enrollments_workspace_id_status_next_due_at", "workspace_id", "status", "next_due_at"),
        Index("ix_sop_enrollments_customer_id", "customer_id"),
        # what runs through a group: ended when it is dismissed
        Index("ix_sop_enrollments_group_id_status", "group_id", "status"),
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    plan_id: Mapped[int] = fk("sop_plans.id", index=False)
    customer_id: Mapped[int | None] = fk("customers.id", nullable=True, index=False)
    staff_id: Mapped[int | None] = fk("staff.id", nullable=True, ondelete="SET NULL", index=False)
    group_id: Mapped[int | None] = fk("groups.id", nullable=True, ondelete="SET NULL", index=False)
    trigger_key: Mapped[str] = mapped_column(String(120), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    current_step: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the planner queued the current step's job; cleared when the step ran.
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    exit_reason: Mapped[str | None] = mapped_column(String(32))
    # Re-entry plans (``trigger.reentry``): when a scan saw the customer outside the
    # trigger's layer or segment after this occurrence; a return then enrolls anew.
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class SopStepRun(Base):
    """A step that ran for one enrollment: the unique pair is the exactly-once guard."""

    __tablename__ = "sop_step_runs"
    __table_args__ = (UniqueConstraint("enrollment_id", "step_index"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk()
    enrollment_id: Mapped[int] = fk("sop_enrollments.id", index=False)
    step_index: Mapped[int] = mapped_column(Integer, nullable=False)
    action: Mapped[str] = mapped_column(String(16), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # done | skipped
    task_id: Mapped[int | None] = fk("staff_tasks.id", nullable=True, ondelete="SET NULL", index=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
