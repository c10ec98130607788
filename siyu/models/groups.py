"""WeCom customer groups (客户群) and their members."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.models.base import Base, UTCDateTime, created_at, fk, pk, updated_at, workspace_fk


class Group(Base):
    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("workspace_id", "chat_id"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk(index=False)
    chat_id: Mapped[str] = mapped_column(String(128), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    owner_staff_id: Mapped[int | None] = fk("staff.id", nullable=True, ondelete="SET NULL")
    notice: Mapped[str | None] = mapped_column(Text)
    # active | dismissed
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active")
    # exposure | repurchase | referral | koc | other (wave 2 community)
    group_type: Mapped[str | None] = mapped_column(String(16))
    member_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    wecom_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class GroupMember(Base):
    """A member (staff or external) of a group; left members are kept with quit data."""

    __tablename__ = "group_members"
    __table_args__ = (UniqueConstraint("group_id", "userid"),)

    id: Mapped[int] = pk()
    workspace_id: Mapped[int] = workspace_fk()
    group_id: Mapped[int] = fk("groups.id")
    # WeCom userid of a staff member or external_userid of a customer
    userid: Mapped[str] = mapped_column(String(128), nullable=False)
    # 1 staff, 2 external (WeCom's coding)
    member_type: Mapped[int] = mapped_column(Integer, nullable=False, default=2)
    customer_id: Mapped[int | None] = fk("customers.id", nullable=True, ondelete="SET NULL")
    staff_id: Mapped[int | None] = fk("staff.id", nullable=True, ondelete="SET NULL", index=False)
    name: Mapped[str | None] = mapped_column(String(100))
    # active | left
    state: Mapped[str] = mapped_column(String(8), nullable=False, default="active")
    join_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 1 invited directly, 2 invited via link, 3 via QR code (WeCom's coding)
    join_scene: Mapped[int | None] = mapped_column(Integer)
    invitor_userid: Mapped[str | None] = mapped_column(String(128))
    quit_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 0 left by self, 1 removed by owner/admin
    quit_scene: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
