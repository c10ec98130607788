"""Stream a large Taobao ExportOrderList (GBK) for the import benchmark.

    python bench/gen_taobao.py OUT.csv [--orders 1000000] [--customers 200000] [--seed 7]

Three years of a Tmall shop (2019-2021), written row by row so memory stays flat.
Ids, phones, addresses and money look like the real export (FORMATS.md): ``="…"``
order ids, ``'`` phones, headers with trailing spaces, "元" amounts, GBK. Phones are
plain before July 2021 and masked after (as Taobao did), so the import exercises both
the phone HMAC path and the masked-phone path. Buyers repeat with a skewed frequency
(a few heavy buyers, many one-off ones), about five orders per buyer on average.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time as clock
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from siyu.demo import catalog
from siyu.demo.seasonality import intensity
from siyu.demo.writers import TAOBAO_HEADER, TAOBAO_STATUS, yuan

START = date(2019, 1, 1)
END = date(2022, 1, 1)
# Export files carry naive Asia/Shanghai wall-clock times, so these stay naive too.
MASKING_FROM = datetime.combine(date(2021, 7, 1), time())
LAST_DAYS = datetime.combine(date(2021, 12, 29), time())


@dataclass(frozen=True)
class Generated:
    """What was written: the totals an import must reproduce."""

    path: Path
    orders: int
    customers: int
    paid_fen: int
    refunded_fen: int
    seconds: float


def _buyers(rng: random.Random, n: int) -> list[tuple[str, str, str, str]]:
    """(member name, phone, address prefix, receiver surname) per buyer."""
    prefixes = [p for p, _ in catalog.PHONE_PREFIXES]
    surnames = [s for s, _ in catalog.SURNAMES]
    s_weights = [w for _, w in catalog.SURNAMES]
    cities = catalog.CITIES
    c_weights = [c[2] for c in cities]
    out = []
    phones: set[str] = set()
    for i in range(n):
        while True:
            phone = rng.choice(prefixes) + f"{rng.randrange(10**8):08d}"
            if phone not in phones:
                phones.add(phone)
                break
        prov, city, _w, districts = rng.choices(cities, c_weights)[0]
        prov_text = prov.removesuffix("市") if prov in ("北京市", "上海市", "天津市", "重庆市") else prov
        street = f"{rng.choice(catalog.STREETS)}{rng.randrange(1, 400)}号{rng.choice(catalog.ESTATES)}"
        postcode = catalog.POSTCODES.get(city, "000000")
        address = f"{prov_text} {city} {rng.choice(districts)} {street}({postcode})"
        nick = f"{rng.choice(catalog.NICK_WORDS)}{i:06d}" if rng.random() < 0.6 else f"tb{8800000000 + i}"
        out.append((nick, phone, address, rng.choices(surnames, s_weights)[0]))
    return out


def generate(path: Path, *, orders: int, customers: int, seed: int = 7) -> Generated:
    """Write ``orders`` orders of ``customers`` buyers to ``path``; returns the totals."""
    started = clock.perf_counter()
    rng = random.Random(seed)
    buyers = _buyers(rng, customers)
    days = [START + timedelta(days=i) for i in range((END - START).days)]
    day_weights = [intensity(d) for d in days]
    products = catalog.PRODUCTS
    p_weights = [p.weight for p in products]
    # Order times in chronological order, the way a long history is exported.
    order_days = sorted(rng.choices(days, day_weights, k=orders))
    paid_total = refunded_total = 0
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")
    with open(tmp, "w", encoding="gbk", newline="", buffering=1 << 20) as fh:
        fh.write(",".join(TAOBAO_HEADER) + "\r\n")
        empty12 = ",".join(["", "", "否", "否", "否", "", "", "", "", "", "", "否"])
        for i, day in enumerate(order_days):
            # Skewed repeat: low indices are heavy buyers (about 1 in 5 buy 60% of orders).
            nick, phone, address, surname = buyers[int(customers * rng.random() ** 2.2)]
            created = datetime.combine(day, time(rng.randrange(24), rng.randrange(60), rng.randrange(60)))
            lines = rng.choices(products, p_weights, k=1 + (rng.random() < 0.3) + (rng.random() < 0.1))
            qty = [1 if rng.random() < 0.85 else 2 for _ in lines]
            goods = sum(p.price_fen * q for p, q in zip(lines, qty, strict=True))
            discount = goods // 30000 * 5000 if intensity(day) > 1.4 else 0
            shipping = 0 if goods - discount >= 9900 else 800
            roll = rng.random()
            state = "unpaid_closed" if roll < 0.03 else "refunded" if roll < 0.06 else "completed"
            if created >= LAST_DAYS:
                state = "shipped" if state == "completed" else state
            paid = 0 if state == "unpaid_closed" else goods - discount + shipping
            refunded = paid if state == "refunded" else (paid // 3 if rng.random() < 0.02 else 0)
            paid_total += paid
            refunded_total += refunded
            paid_at = created + timedelta(seconds=rng.randrange(10, 900)) if paid else None
            done = None
            if paid_at and state == "completed":
                done = paid_at + timedelta(days=rng.randrange(3, 10))
            shown = phone if created < MASKING_FROM else phone[:3] + "****" + phone[-4:]
            order_id = 2_000_000_000_000_000_000 + i * 7919 + rng.randrange(7919)
            row = [
                f'="{order_id}"',
                nick,
                phone[:3] + "****" + phone[-4:],
                "",
                "",
                yuan(goods),
                yuan(shipping),
                "0",
                yuan(goods + shipping),
                "0",
                yuan(paid),
                "0",
                TAOBAO_STATUS[state],
                "",
                surname + "**" if created >= MASKING_FROM else surname + "女士",
                address,
                "快递",
                "",
                "'" + shown,
                created.strftime("%Y-%m-%d %H:%M:%S"),
                paid_at.strftime("%Y-%m-%d %H:%M:%S") if paid_at else "",
                "，".join(p.full_title for p in lines),
                str(len(lines)),
                "",
                "",
                "",
                str(sum(qty)),
                "178392011",
                "青禾官方旗舰店",
                "买家未付款" if state == "unpaid_closed" else "退款" if state == "refunded" else "订单未关闭",
                "0元",
                "0元",
                "",
                "手机订单",
                empty12,
                yuan(refunded),
                "",
                done.strftime("%Y-%m-%d %H:%M:%S") if done else "",
                yuan(paid - refunded if done else 0) + "元",
            ]
            fh.write(",".join(row) + "\r\n")
    tmp.replace(path)
    return Generated(path, orders, customers, paid_total, refunded_total, clock.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    g = generate(args.out, orders=args.orders, customers=args.customers, seed=args.seed)
    size = g.path.stat().st_size / 2**20
    print(f"{g.path}: {g.orders:,} orders, {g.customers:,} buyers, {size:.0f} MiB in {g.seconds:.1f} s")
    print(f"paid {yuan(g.paid_fen)} yuan, refunded {yuan(g.refunded_fen)} yuan")


if __name__ == "__main__":
    main()
