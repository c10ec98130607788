"""Shared pieces of the REST API: the page envelope, page parameters, error bodies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Path, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
MAX_PAGE_SIZE = 200


class Page(BaseModel, Generic[T]):
    """Every list answers with this envelope."""

    items: list[T]
    total: int
    page: int
    page_size: int


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """Every 4xx answers with this body."""

    error: ErrorDetail


def _err(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Documented on every router so that clients (and schemathesis) know the error shape.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: _err("Not logged in, or the token is unknown or revoked"),
    403: _err("The role may not do this, or the CSRF check failed"),
    404: _err("Not found (or not visible to this user)"),
    422: _err("Invalid input: the message says what and `field` says where"),
}


@dataclass(frozen=True)
class PageParams:
    """``?page=&page_size=`` (1-based pages)."""

    page: int
    page_size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


def _page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Page number, from 1.")] = 1,
    page_size: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Items per page (at most {MAX_PAGE_SIZE}).")
    ] = 20,
) -> PageParams:
    return PageParams(page=page, page_size=page_size)


Paging = Annotated[PageParams, Depends(_page_params)]


def count_of(session: Session, stmt: Select[*tuple[Any, ...]]) -> int:
    """The number of rows ``stmt`` would return (ordering dropped)."""
    return int(session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)


def paginate(session: Session, stmt: Select[Any], paging: PageParams) -> tuple[list[Any], int]:
    """One page of ``stmt``'s single-entity rows and the total count."""
    total = count_of(session, stmt)
    rows = list(session.scalars(stmt.limit(paging.page_size).offset(paging.offset)))
    return rows, total


# Ids are 64-bit in the database: larger numbers are a client mistake, not a server error.
MAX_ID = 2**63 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
