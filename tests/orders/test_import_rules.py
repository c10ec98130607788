"""Auto-tag rules follow new orders: an import tags the buyers a rule now matches."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.models import CustomerIdentity, CustomerTag, Tag
from tests.conftest import CliRun

CSV = """order_id,paid_at,amount,buyer_id,platform,status,items
r-1,2024-03-01 10:00,2000,big,shop,completed,面霜*1
r-2,2024-03-02 10:00,50,small,shop,completed,面膜*1
"""
LATER = """order_id,paid_at,amount,buyer_id,platform,status,items
r-3,2024-04-01 10:00,1500,big,shop,completed,面霜*1
"""


def _rule_tagged(session: Session) -> dict[str, str]:
    session.expire_all()
    rows = session.execute(
        select(CustomerIdentity.value, Tag.name, CustomerTag.source)
        .join(CustomerTag, CustomerTag.customer_id == CustomerIdentity.customer_id)
        .join(Tag, Tag.id == CustomerTag.tag_id)
        .where(CustomerIdentity.kind == "buyer_id")
    ).all()
    return {buyer: f"{tag}/{source}" for buyer, tag, source in rows}


def test_import_applies_auto_tag_rules_to_touched_buyers(
    cli: CliRun, session: Session, workspace_id: int, tmp_path: Path
) -> None:
    cli("segments", "rules", "add", "三千会员", "spent>=3000", "--add", "VIP")
    first = tmp_path / "orders.csv"
    first.write_text(CSV, encoding="utf-8")
    cli("import", "orders", first, "--format", "generic", "--no-progress")
    assert _rule_tagged(session) == {}  # nobody has spent 3,000 yet
    later = tmp_path / "later.csv"
    later.write_text(LATER, encoding="utf-8")
    cli("import", "orders", later, "--format", "generic", "--no-progress")
    assert _rule_tagged(session) == {"big": "VIP/rule"}
