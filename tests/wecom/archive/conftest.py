"""A small corp for archive tests: two staff accounts, three customers, one group."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from siyu.community.groups import ensure_group
from siyu.customers.follows import follow_added
from siyu.customers.service import IdentityInput, resolve_customer
from siyu.kit.db import session_scope
from siyu.staff.service import ensure_staff

T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


@dataclass
class Corp:
    workspace_id: int
    staff: dict[str, int]
    customers: dict[str, int]
    group_id: int


@pytest.fixture
def corp(workspace_id: int) -> Corp:
    with session_scope() as s:
        staff = {u: ensure_staff(s, workspace_id=workspace_id, userid=u, name=u).id for u in ("lin", "zhou")}
        customers = {}
        for ext in ("wmA", "wmB", "wmC"):
            c = resolve_customer(
                s,
                workspace_id=workspace_id,
                identities=[IdentityInput("external_userid", ext)],
                source="test",
                name=f"客户{ext}",
            )
            customers[ext] = c.id
            follow_added(
                s,
                workspace_id=workspace_id,
                staff_id=staff["lin"],
                customer_id=c.id,
                at=datetime(2026, 10, 1, tzinfo=UTC),
                external_userid=ext,
            )
        g = ensure_group(
            s, workspace_id=workspace_id, chat_id="wrROOM1", name="福利群", owner_staff_id=staff["lin"]
        )
        return Corp(workspace_id, staff, customers, g.id)


def msg(
    msgid: str, sender: str, to: list[str], at: datetime, text: str | None = "你好", **kw: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "msgid": msgid,
        "action": "send",
        "from": sender,
        "tolist": to,
        "roomid": kw.pop("roomid", ""),
        "msgtime": int(at.timestamp() * 1000),
        "msgtype": kw.pop("msgtype", "text"),
    }
    if text is not None:
        body["text"] = {"content": text}
    body.update(kw)
    return body


def write(path: Path, lines: list[dict[str, Any] | str]) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n"
    )
    return path
