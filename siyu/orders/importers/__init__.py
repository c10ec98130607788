"""Order export formats: detection from the header row, one parser per platform."""

from __future__ import annotations

from siyu.orders.importers.base import Columns, Format
from siyu.orders.importers.douyin import DouyinOrders
from siyu.orders.importers.generic import GenericOrders
from siyu.orders.importers.jd import JdOrders
from siyu.orders.importers.taobao import TaobaoItems, TaobaoOrders
from siyu.orders.importers.youzan import YouzanOrders

FORMATS: dict[str, Format] = {
    f.name: f
    for f in (TaobaoOrders(), TaobaoItems(), YouzanOrders(), DouyinOrders(), JdOrders(), GenericOrders())
}
# What users type after --format: "taobao" covers both Taobao files.
FORMAT_CHOICES = ("auto", "taobao", "youzan", "douyin", "jd", "generic")


def detect(header: list[str], wanted: str = "auto") -> tuple[Format, Columns] | None:
    """The best format for this header (restricted to ``wanted``), or None."""
    best: tuple[int, Format, Columns] | None = None
    for fmt in FORMATS.values():
        if wanted != "auto" and fmt.platform != wanted:
            continue
        cols = Columns(header, fmt.aliases)
        score = fmt.score(cols)
        if score >= 0 and (best is None or score > best[0]):
            best = (score, fmt, cols)
    return None if best is None else (best[1], best[2])


__all__ = ["FORMATS", "FORMAT_CHOICES", "Columns", "Format", "GenericOrders", "detect"]
