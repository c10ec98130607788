"""Pydantic shapes of segments, audience previews and auto-tag rules (API and --json)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class PreviewRow(BaseModel):
    """One customer of an audience, as anyone may see it (masked phone only)."""

    id: int
    name: str | None
    phone_masked: str | None
    province: str | None
    city: str | None
    net_fen: int
    orders: int
    tags: list[str]


class Preview(BaseModel):
    count: int
    rows: list[PreviewRow]
    warnings: list[str]


class SegmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str | None
    expression: str
    expression_json: dict[str, Any]
    last_count: int | None
    last_counted_at: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime


class RuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    expression: str
    add_tags: list[str]
    remove_tags: list[str]
    enabled: bool
    last_applied_at: datetime | None


class RuleResult(BaseModel):
    """What one rule changed in one application."""

    rule_id: int
    name: str
    added: int
    removed: int
    matched: int
