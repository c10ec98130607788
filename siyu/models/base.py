"""Declarative base, naming convention and column helpers shared by every table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from siyu.kit.timeutil import utcnow
from siyu.kit.types import BigIntPK, JSONType, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def pk() -> Mapped[int]:
    return mapped_column(BigIntPK, primary_key=True, autoincrement=True)


def fk(
    target: str, *, nullable: bool = False, ondelete: str | None = "CASCADE", index: bool = True
) -> Mapped[int]:
    return mapped_column(BigIntPK, ForeignKey(target, ondelete=ondelete), nullable=nullable, index=index)


def workspace_fk(*, index: bool = True) -> Mapped[int]:
    """Every business row carries the workspace (one brand) it belongs to.

    ``index=False`` where a composite index or unique constraint of the table already
    leads with ``workspace_id``: a second, single-column index would serve no query and
    cost every insert (``tests/test_migrations.py`` checks that each table has one).
    """
    return mapped_column(
        BigIntPK, ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=index
    )


def created_at() -> Mapped[datetime]:
    return mapped_column(UTCDateTime, nullable=False, default=utcnow, server_default=func.now())


def updated_at() -> Mapped[datetime]:
    return mapped_column(
        UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow, server_default=func.now()
    )


__all__ = [
    "Base",
    "BigIntPK",
    "JSONType",
    "UTCDateTime",
    "created_at",
    "fk",
    "pk",
    "updated_at",
    "workspace_fk",
]
