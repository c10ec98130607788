"""``/api/v1/tags``: enterprise tags (create, rename, delete) and bulk tagging."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from siyu.acquisition import tagsync
from siyu.customers.tags import add_tags, delete_tags, ensure_tag_group, remove_tags, rename_tag
from siyu.kit import audit
from siyu.kit.errors import Conflict, NotFound
from siyu.models import Customer, CustomerTag, Tag, TagGroup
from siyu.web.api.common import ERRORS, MAX_ID, Id
from siyu.web.auth import (
    CurrentUser,
    DbSession,
    OperatorUser,
    Principal,
    customer_scope,
    visible_customer_ids,
)

router = APIRouter(prefix="/api/v1/tags", tags=["tags"], responses=ERRORS)


class TagOut(BaseModel):
    id: int
    name: str
    group_id: int
    group: str
    wecom_tag_id: str | None
    customers: int = Field(description="Customers with this tag (that the caller may see).")


class TagGroupOut(BaseModel):
    id: int
    name: str
    tags: list[TagOut]


class TagIn(BaseModel):
    name: str = Field(min_length=1, max_length=30)
    group: str = Field("默认", min_length=1, max_length=30)


class TagPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=30)
    group: str | None = Field(None, min_length=1, max_length=30)


class CustomerIdsIn(BaseModel):
    customer_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=10_000)


class BulkResult(BaseModel):
    tag_id: int
    customers: int
    changed: int


def _counts(db: DbSession, user: Principal) -> dict[int, int]:
    rows = db.execute(
        select(CustomerTag.tag_id, func.count())
        .join(Customer, Customer.id == CustomerTag.customer_id)
        .where(CustomerTag.workspace_id == user.workspace_id, customer_scope(user))
        .group_by(CustomerTag.tag_id)
    )
    return {tid: int(n) for tid, n in rows}


def _tag(db: DbSession, user: Principal, tag_id: int) -> tuple[Tag, TagGroup]:
    row = db.execute(
        select(Tag, TagGroup)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(Tag.workspace_id == user.workspace_id, Tag.id == tag_id, Tag.deleted_at.is_(None))
    ).first()
    if row is None:
        raise NotFound(f"tag {tag_id} does not exist", field="tag_id")
    tag, group = row
    return tag, group


def _out(tag: Tag, group: TagGroup, counts: dict[int, int]) -> TagOut:
    return TagOut(
        id=tag.id,
        name=tag.name,
        group_id=group.id,
        group=group.name,
        wecom_tag_id=tag.wecom_tag_id,
        customers=counts.get(tag.id, 0),
    )


@router.get("", response_model=list[TagGroupOut], summary="All tags, by group")
def list_tags(user: CurrentUser, db: DbSession) -> list[TagGroupOut]:
    """Every live tag group with its tags and how many customers carry each."""
    counts = _counts(db, user)
    groups: dict[int, TagGroupOut] = {}
    for tag, group in db.execute(
        select(Tag, TagGroup)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(Tag.workspace_id == user.workspace_id, Tag.deleted_at.is_(None), TagGroup.deleted_at.is_(None))
        .order_by(TagGroup.sort_order, TagGroup.id, Tag.sort_order, Tag.id)
    ):
        out = groups.setdefault(group.id, TagGroupOut(id=group.id, name=group.name, tags=[]))
        out.tags.append(_out(tag, group, counts))
    return list(groups.values())


def _existing(db: DbSession, workspace_id: int, group_id: int, name: str) -> Tag | None:
    return db.scalar(
        select(Tag).where(Tag.workspace_id == workspace_id, Tag.group_id == group_id, Tag.name == name)
    )


@router.post("", response_model=TagOut, status_code=201, summary="Create a tag")
def create_tag(body: TagIn, user: OperatorUser, db: DbSession) -> TagOut:
    """Create a tag (and its group if new); 409 if the group already has it."""
    group = ensure_tag_group(db, workspace_id=user.workspace_id, name=body.group)
    name = body.name.strip()
    tag = _existing(db, user.workspace_id, group.id, name)
    if tag is not None and tag.deleted_at is None:
        raise Conflict(f"tag {name!r} already exists in group {group.name!r}", field="name")
    if tag is None:
        tag = Tag(workspace_id=user.workspace_id, group_id=group.id, name=name)
        db.add(tag)
    tag.deleted_at = None
    db.flush()
    audit.record(
        db,
        workspace_id=user.workspace_id,
        actor=user.actor,
        action="tag.create",
        target_type="tag",
        target_id=tag.id,
        detail={"name": name, "group": group.name},
    )
    tagsync.push_corp_tag(db, user.workspace_id, tag.id, "create")  # shows in the WeCom client
    return _out(tag, group, {})


@router.patch("/{tag_id}", response_model=TagOut, summary="Rename a tag or move it to another group")
def patch_tag(tag_id: Id, body: TagPatch, user: OperatorUser, db: DbSession) -> TagOut:
    """Rename or regroup a tag; 409 if the target group already has that name."""
    tag, group = _tag(db, user, tag_id)
    new_group = ensure_tag_group(db, workspace_id=user.workspace_id, name=body.group) if body.group else group
    new_name = body.name.strip() if body.name else tag.name
    if (new_name, new_group.id) != (tag.name, group.id):
        old_name = tag.name
        if not rename_tag(db, tag=tag, name=new_name, group_id=new_group.id):
            raise Conflict(f"tag {new_name!r} already exists in group {new_group.name!r}", field="name")
        audit.record(
            db,
            workspace_id=user.workspace_id,
            actor=user.actor,
            action="tag.update",
            target_type="tag",
            target_id=tag.id,
            detail={"from": [group.name, old_name], "to": [new_group.name, new_name]},
        )
        if new_name != old_name:
            tagsync.push_corp_tag(db, user.workspace_id, tag.id, "rename")
    return _out(tag, new_group, _counts(db, user))


@router.delete("/{tag_id}", status_code=204, summary="Delete a tag")
def delete_tag(tag_id: Id, user: OperatorUser, db: DbSession) -> None:
    """Delete a tag and take it off every customer (audited with the count)."""
    tag, group = _tag(db, user, tag_id)
    removed = delete_tags(db, workspace_id=user.workspace_id, tag_ids=[tag.id])
    audit.record(
        db,
        workspace_id=user.workspace_id,
        actor=user.actor,
        action="tag.delete",
        target_type="tag",
        target_id=tag.id,
        detail={"name": tag.name, "group": group.name, "customers": int(removed or 0)},
    )
    tagsync.push_corp_tag(db, user.workspace_id, tag.id, "delete")


@router.post("/{tag_id}/customers", response_model=BulkResult, summary="Tag many customers")
def tag_customers(tag_id: Id, body: CustomerIdsIn, user: CurrentUser, db: DbSession) -> BulkResult:
    """Put the tag on every listed customer (all must be visible to the caller)."""
    tag, _ = _tag(db, user, tag_id)
    ids = visible_customer_ids(db, user, body.customer_ids)
    added = add_tags(
        db,
        workspace_id=user.workspace_id,
        customer_ids=ids,
        tag_ids=[tag.id],
        source="manual",
        source_ref=user.actor,
        staff_id=user.staff_id,
    )
    return BulkResult(tag_id=tag.id, customers=len(ids), changed=added)


@router.post("/{tag_id}/customers/remove", response_model=BulkResult, summary="Untag many customers")
def untag_customers(tag_id: Id, body: CustomerIdsIn, user: CurrentUser, db: DbSession) -> BulkResult:
    """Take the tag off every listed customer (all must be visible to the caller)."""
    tag, _ = _tag(db, user, tag_id)
    ids = visible_customer_ids(db, user, body.customer_ids)
    removed = remove_tags(db, workspace_id=user.workspace_id, customer_ids=ids, tag_ids=[tag.id])
    return BulkResult(tag_id=tag.id, customers=len(ids), changed=removed)
