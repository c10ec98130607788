"""The audience change journal: which customers' audience data changed, and when.

Written by ``siyu.kit.changes`` in the same transaction as the change (never by hand);
read by the in-process audience index (``siyu.segments.audience.index``) to stay exact.
See docs/decisions/0005-audience-index-and-change-journal.md.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index
from sqlalchemy.orm import Mapped, mapped_column

from siyu.kit import changes as _changes
from siyu.models.base import Base, created_at, pk


class AudienceChange(Base):
    """One customer (or, with ``customer_id`` NULL, everyone) whose audience data changed.

    ``workspace_id`` NULL: the workspace was not cheaply known (the reader checks).
    ``txid``: the writing transaction's id on PostgreSQL, whose ids are not commit-ordered.
    No foreign keys: entries outlive deleted customers and are pruned after a day.
    """

    __tablename__ = "audience_changes"
    __table_args__ = (
        Index("ix_audience_changes_txid", "txid"),
        Index("ix_audience_changes_created_at", "created_at"),
        # AUTOINCREMENT: SQLite must never hand out an id again after a prune.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = pk()
    workspace_id: Mapped[int | None] = mapped_column(BigInteger)
    customer_id: Mapped[int | None] = mapped_column(BigInteger)
    txid: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = created_at()


# Every process that touches the database loads the models: the journal's writer hooks
# are registered here, once, for every engine.
_changes.install()
