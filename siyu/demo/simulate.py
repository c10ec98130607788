"""Simulate the customers and orders of the demo brand, deterministically from a seed.

The purchase process is the one BG/NBD assumes, so that CLV fits on the demo data
make sense: while alive a customer buys as a Poisson process whose rate differs from
person to person (gamma), and after each purchase she drops out for good with a
probability that also differs (beta). Festival seasonality thins the process
(purchases cluster on 双11 and 618), acquisition grows over the two years, and order
values differ by person (a lognormal spend level). Refunds, abandoned orders, gift
sets in festivals and replenishment of what was bought before make it look like a
real skincare shop.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from siyu.demo import catalog
from siyu.demo.catalog import PRODUCTS, SHOPS, Product, Shop
from siyu.demo.seasonality import MAX_INTENSITY, festival, hour_weights, intensity

WINDOW_DAYS = 730

# BG/NBD population parameters (per day): purchase rate ~ Gamma(R, 1/ALPHA) while
# alive, dropout after each purchase ~ Beta(A, B). Mean gap about 2.5 months, about a
# third of buyers never come back.
R, ALPHA = 0.8, 70.0
A, B = 1.1, 2.4

# Where a customer first buys, and how often a second channel is linked (by phone).
PRIMARY_CHANNELS: tuple[tuple[str, float], ...] = (
    ("tmall", 0.42),
    ("douyin", 0.28),
    ("youzan", 0.15),
    ("offline", 0.15),
)
STORE_KEYS = ("store_hz", "store_sh", "store_cd")


@dataclass
class Person:
    """One real buyer; the same person may appear on several platforms."""

    idx: int
    name: str
    gender: int
    phone: str  # 11 digits, plain: only the writers decide whether a platform masks it
    province: str
    city: str
    district: str
    street: str
    postcode: str
    taobao_nick: str
    youzan_nick: str
    rate: float
    dropout: float
    spend: float
    channels: dict[str, float] = field(default_factory=dict)
    # A second channel the person is guaranteed to buy on (member mall ↔ store).
    crossover: str | None = None
    # Store membership card (POS buyer id) and whether the phone was bound to it late:
    # only when the person signed up in the member mall (until then the POS knows the
    # card alone, so OneID first sees two people and merges them later).
    card: str | None = None
    late_binding: bool = False

    @property
    def platforms(self) -> set[str]:
        """The platforms this person may buy on."""
        return {SHOPS[k].platform for k in self.channels}


@dataclass
class Line:
    """One line item of an order."""

    product: Product
    quantity: int
    amount_fen: int  # list price × quantity
    paid_fen: int = 0  # the buyer's payment allocated to this line (shipping excluded)
    refunded_fen: int = 0


@dataclass
class DemoOrder:
    """One order as the platform knows it; times are naive Asia/Shanghai wall clock."""

    shop: Shop
    order_id: str
    person: Person
    created_at: datetime
    paid_at: datetime | None
    completed_at: datetime | None
    # unpaid_closed | pending | paid | shipped | completed | refunded
    state: str
    lines: list[Line]
    goods_fen: int
    shipping_fen: int
    discount_fen: int  # borne by the brand (店铺优惠, 满减, member price)
    platform_discount_fen: int  # borne by the platform
    talent_discount_fen: int  # borne by the live-stream host (达人, Douyin)
    paid_fen: int
    refunded_fen: int
    festival: str | None
    close_reason: str | None = None
    note: str | None = None
    guide: str | None = None
    sub_ids: list[str] = field(default_factory=list)
    # Offline only: whether the POS had the buyer's phone for this sale.
    phone_known: bool = True

    @property
    def platform(self) -> str:
        return self.shop.platform

    @property
    def net_fen(self) -> int:
        return self.paid_fen - self.refunded_fen


@dataclass
class DemoData:
    """Everything the writers need, plus the truth the tests compare against."""

    seed: int
    as_of: date
    cutoff: datetime
    persons: list[Person]
    orders: list[DemoOrder]


class _Ids:
    """Unique, realistic order ids per platform."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[str] = set()
        self.store_seq: dict[tuple[str, date], int] = {}

    def _unique(self, make: str) -> str:
        while True:
            value = self._draw(make)
            if value not in self.seen:
                self.seen.add(value)
                return value

    def _draw(self, make: str) -> str:
        if make == "taobao":
            return str(self.rng.randrange(2 * 10**18, 4 * 10**18))
        if make == "douyin":
            return "69" + str(self.rng.randrange(10**16, 10**17))
        raise ValueError(make)

    def order_id(self, shop: Shop, created: datetime) -> str:
        if shop.platform == "taobao":
            return self._unique("taobao")
        if shop.platform == "douyin":
            return self._unique("douyin")
        if shop.platform == "youzan":
            while True:
                value = f"E{created:%Y%m%d%H%M%S}{self.rng.randrange(10**9):09d}"
                if value not in self.seen:
                    self.seen.add(value)
                    return value
        key = (shop.shop_id, created.date())
        self.store_seq[key] = self.store_seq.get(key, 0) + 1
        return f"{shop.shop_id}{created:%Y%m%d}{self.store_seq[key]:04d}"

    def sub_id(self) -> str:
        return self._unique("douyin")


class _Simulator:
    def __init__(self, customers: int, seed: int, as_of: date) -> None:
        self.rng = random.Random(seed)
        self.n = customers
        self.seed = seed
        self.as_of = as_of
        self.cutoff = datetime.combine(as_of, time.min)  # the export ran this morning
        self.start = as_of - timedelta(days=WINDOW_DAYS)
        self.ids = _Ids(self.rng)
        self.phones: set[str] = set()
        self.nicks: set[str] = set()
        self.entry = [p for p in PRODUCTS if p.entry]
        self.regular = [p for p in PRODUCTS if not p.gift_set]
        self.gift = [p for p in PRODUCTS if p.gift_set]
        self.prefixes = [p for p, _ in catalog.PHONE_PREFIXES]
        self.prefix_weights = [w for _, w in catalog.PHONE_PREFIXES]
        self.surnames = [s for s, _ in catalog.SURNAMES]
        self.surname_weights = [w for _, w in catalog.SURNAMES]

    # -- people ---------------------------------------------------------------------

    def _phone(self) -> str:
        while True:
            prefix: str = self.rng.choices(self.prefixes, self.prefix_weights)[0]
            phone = prefix + f"{self.rng.randrange(10**8):08d}"
            if phone not in self.phones:
                self.phones.add(phone)
                return phone

    def _nick(self) -> str:
        while True:
            word = self.rng.choice(catalog.NICK_WORDS)
            style = self.rng.random()
            if style < 0.3:
                nick = f"tb{self.rng.randrange(10**8, 10**10)}"
            elif style < 0.7:
                nick = f"{word}{self.rng.randrange(1970, 2010)}"
            else:
                nick = f"{word}_{self.rng.randrange(100, 99999)}"
            if nick not in self.nicks:
                self.nicks.add(nick)
                return nick

    def _name(self, gender: int) -> str:
        chars = catalog.FEMALE_CHARS if gender == 2 else catalog.MALE_CHARS
        given = "".join(self.rng.choice(chars) for _ in range(self.rng.choice((1, 2, 2))))
        surname: str = self.rng.choices(self.surnames, self.surname_weights)[0]
        return surname + given

    def _place(self, store: Shop | None) -> tuple[str, str, str]:
        # Store customers are mostly locals; online buyers follow national spend.
        if store is not None and store.city and self.rng.random() < 0.85:
            for prov, city, _w, districts in catalog.CITIES:
                if city == store.city:
                    return prov, city, self.rng.choice(districts)
        rows = catalog.CITIES
        prov, city, _w, districts = self.rng.choices(rows, [r[2] for r in rows])[0]
        return prov, city, self.rng.choice(districts)

    def person(self, idx: int) -> Person:
        rng = self.rng
        primary = rng.choices([c for c, _ in PRIMARY_CHANNELS], [w for _, w in PRIMARY_CHANNELS])[0]
        if primary == "offline":
            primary = rng.choice(STORE_KEYS)
        store = SHOPS[primary] if primary.startswith("store_") else None
        gender = 2 if rng.random() < 0.86 else 1
        prov, city, district = self._place(store)
        street = (
            f"{rng.choice(catalog.STREETS)}{rng.randrange(1, 400)}号{rng.choice(catalog.ESTATES)}"
            f"{rng.randrange(1, 30)}幢{rng.randrange(1, 4)}单元{rng.randrange(2, 33)}0{rng.randrange(1, 5)}室"
        )
        p = Person(
            idx=idx,
            name=self._name(gender),
            gender=gender,
            phone=self._phone(),
            province=prov,
            city=city,
            district=district,
            street=street,
            postcode=catalog.POSTCODES.get(city, "000000"),
            taobao_nick=self._nick(),
            youzan_nick=rng.choice(catalog.NICK_WORDS) + rng.choice(("", "呀", "~", "酱", "🌸")),
            rate=rng.gammavariate(R, 1.0 / ALPHA),
            dropout=rng.betavariate(A, B),
            spend=rng.lognormvariate(0.0, 0.4),
            channels={primary: 1.0},
        )
        # Linked channels: stores invite members into the Youzan mall (and mall members
        # visit stores) with the same phone, so OneID can merge them; Tmall and Douyin
        # overlap too, but masked phones leave nothing to merge on.
        roll = rng.random()
        p.late_binding = store is not None and rng.random() < 0.4
        if store is not None and roll < (0.8 if p.late_binding else 0.35):
            p.crossover = "youzan"
        elif primary == "youzan" and roll < 0.25:
            p.crossover = rng.choice(STORE_KEYS)
        elif primary == "tmall" and roll < 0.08:
            p.channels["douyin"] = 0.3
        elif primary == "douyin" and roll < 0.10:
            p.channels["tmall"] = 0.3
        if p.crossover:
            p.channels[p.crossover] = 0.4
        if any(k.startswith("store_") for k in p.channels):
            p.card = f"QH{20000000 + idx}"
        return p

    # -- purchase process -----------------------------------------------------------

    def _at(self, day: date) -> datetime:
        hour = self.rng.choices(range(24), hour_weights(day))[0]
        return datetime.combine(day, time(hour, self.rng.randrange(60), self.rng.randrange(60)))

    def purchase_times(self, p: Person, first_day: date) -> list[datetime]:
        rng = self.rng
        times = [self._at(first_day)]
        t = times[0]
        alive = True
        while alive:
            if rng.random() < p.dropout:
                break
            while True:  # thinning: a Poisson process modulated by the festival calendar
                gap = rng.expovariate(p.rate * MAX_INTENSITY)
                if gap >= (self.cutoff - t) / timedelta(days=1):
                    alive = False
                    break
                t += timedelta(days=gap)
                if rng.random() * MAX_INTENSITY < intensity(t.date()):
                    times.append(self._at(t.date()))
                    break
        if p.crossover and len(times) == 1:
            # The onboarding coupon brings a second purchase on the linked channel.
            t2 = times[0] + timedelta(days=rng.expovariate(1 / 25.0) + 1)
            if t2 < self.cutoff:
                times.append(self._at(t2.date()))
        if p.late_binding and p.crossover and len(times) == 2:
            # ... and a member-mall coupon redeemed in the store (线上领券, 到店核销).
            t3 = max(times) + timedelta(days=rng.expovariate(1 / 60.0) + 1)
            if t3 < self.cutoff:
                times.append(self._at(t3.date()))
        return sorted(t for t in times if t < self.cutoff)

    def basket(self, p: Person, history: list[Product], first: bool, fest: str | None) -> list[Line]:
        rng = self.rng
        n = 1 + (rng.random() < 0.35 * p.spend) + (rng.random() < 0.12 * p.spend)
        chosen: list[Product] = []
        if fest in ("双11", "618") and rng.random() < 0.3:
            chosen.append(self.gift[0])
        while len(chosen) < n:
            if first:
                prod = rng.choices(self.entry, [x.weight for x in self.entry])[0]
            elif history and rng.random() < 0.45:
                prod = rng.choice(history)  # replenishing what ran out
            else:
                weights = [x.weight * (1.5 if x.category in ("精华", "面霜") else 1.0) for x in self.regular]
                prod = rng.choices(self.regular, weights)[0]
            if prod not in chosen:
                chosen.append(prod)
            elif rng.random() < 0.5:
                break
        lines = []
        for prod in chosen:
            roll = rng.random()
            qty = 1 if roll < (0.75 if fest == "双11" else 0.82) else (2 if roll < 0.96 else 3)
            lines.append(Line(prod, qty, prod.price_fen * qty))
        return lines

    def order(self, p: Person, at: datetime, shop_key: str, history: list[Product], first: bool) -> DemoOrder:
        rng = self.rng
        shop = SHOPS[shop_key]
        fest = festival(at.date())
        lines = self.basket(p, history, first, fest)
        goods = sum(x.amount_fen for x in lines)
        discount = platform_disc = talent_disc = 0
        if shop.platform == "offline":
            if rng.random() < 0.4:
                discount = goods * 5 // 100  # member price, 95折
        elif fest in ("双11", "618"):
            discount = goods // 30000 * 5000  # 每满300减50
        elif fest:
            discount = goods // 20000 * 2000  # 每满200减20
        elif goods >= 19900 and rng.random() < 0.2:
            discount = 2000  # shop coupon
        if shop.platform == "douyin":
            if rng.random() < 0.4:
                platform_disc = min(rng.randrange(5, 21) * 100, goods // 10)
            if rng.random() < 0.15:
                talent_disc = min(1000, goods // 10)
        due = goods - discount - platform_disc - talent_disc
        shipping = 0 if shop.platform == "offline" or due >= 9900 else 800
        paid = due + shipping
        # Allocate the buyer's payment (without shipping) to lines, remainder to the last.
        left = due
        for i, line in enumerate(lines):
            share = left if i == len(lines) - 1 else due * line.amount_fen // goods
            line.paid_fen = share
            left -= share
        created = at - timedelta(seconds=rng.randrange(5, 900)) if shop.platform != "offline" else at
        o = DemoOrder(
            shop=shop,
            order_id=self.ids.order_id(shop, created),
            person=p,
            created_at=created,
            paid_at=at,
            completed_at=None,
            state="completed",
            lines=lines,
            goods_fen=goods,
            shipping_fen=shipping,
            discount_fen=discount,
            platform_discount_fen=platform_disc,
            talent_discount_fen=talent_disc,
            paid_fen=paid,
            refunded_fen=0,
            festival=fest,
        )
        if shop.platform == "douyin":
            o.sub_ids = [self.ids.sub_id() for _ in lines]
        if shop.platform != "offline" and rng.random() < 0.08:
            o.note = rng.choice(catalog.BUYER_NOTES)
        if (shop.platform == "youzan" and rng.random() < 0.6) or shop.platform == "offline":
            o.guide = rng.choice(catalog.GUIDES)
        self._settle(o)
        return o

    def _settle(self, o: DemoOrder) -> None:
        """Refunds and fulfilment state, as seen at the cutoff."""
        rng = self.rng
        assert o.paid_at is not None
        offline = o.platform == "offline"
        roll = rng.random()
        if roll < (0.01 if offline else 0.045):
            o.state = "refunded"
            o.refunded_fen = o.paid_fen
            for line in o.lines:
                line.refunded_fen = line.paid_fen
            o.close_reason = rng.choice(catalog.CLOSE_REASONS_REFUND)
            return
        if not offline and len(o.lines) > 1 and roll < 0.10:
            # One item returned (allergy, wrong shade...). Shipping is never refunded
            # with a single item, and Douyin books it on the first row, so skip that one.
            line = rng.choice(o.lines[1:] if o.shipping_fen else o.lines)
            line.refunded_fen = line.paid_fen
            o.refunded_fen = line.paid_fen
        if offline:
            o.completed_at = o.paid_at
            return
        age = self.cutoff - o.paid_at
        done = o.paid_at + timedelta(days=rng.randrange(3, 10), hours=rng.randrange(24))
        if age < timedelta(days=1, hours=12) and rng.random() < 0.7:
            o.state = "paid"
        elif done >= self.cutoff:
            o.state = "shipped"
        else:
            o.completed_at = done

    def abandoned(self, p: Person, before: DemoOrder) -> DemoOrder:
        """An order placed and never paid (the buyer re-ordered or gave up)."""
        rng = self.rng
        created = before.created_at - timedelta(minutes=rng.randrange(3, 60 * 48))
        lines = [Line(x.product, x.quantity, x.amount_fen) for x in before.lines]
        goods = sum(x.amount_fen for x in lines)
        o = DemoOrder(
            shop=before.shop,
            order_id=self.ids.order_id(before.shop, created),
            person=p,
            created_at=created,
            paid_at=None,
            completed_at=None,
            state="unpaid_closed",
            lines=lines,
            goods_fen=goods,
            shipping_fen=before.shipping_fen,
            discount_fen=0,
            platform_discount_fen=0,
            talent_discount_fen=0,
            paid_fen=0,
            refunded_fen=0,
            festival=festival(created.date()),
            close_reason=rng.choice(catalog.CLOSE_REASONS_UNPAID),
        )
        if o.platform == "douyin":
            o.sub_ids = [self.ids.sub_id() for _ in lines]
        return o

    def pending(self, p: Person) -> DemoOrder:
        """An order placed in the hours before the export and not paid yet."""
        shop_key = next(iter(p.channels))
        if SHOPS[shop_key].platform == "offline":
            shop_key = "tmall"
        at = self.cutoff - timedelta(minutes=self.rng.randrange(5, 600))
        o = self.order(p, at, shop_key, [], first=False)
        o.state, o.paid_at, o.completed_at, o.close_reason = "pending", None, None, None
        o.paid_fen = o.refunded_fen = 0
        for line in o.lines:
            line.paid_fen = line.refunded_fen = 0
        return o

    def run(self) -> DemoData:
        rng = self.rng
        days = [self.start + timedelta(days=i) for i in range(WINDOW_DAYS)]
        # Acquisition follows the festival calendar and a growing brand (×0.6 → ×1.4).
        weights = [intensity(d) * (0.6 + 0.8 * i / WINDOW_DAYS) for i, d in enumerate(days)]
        first_days = rng.choices(days, weights, k=self.n)
        persons: list[Person] = []
        orders: list[DemoOrder] = []
        for idx, first_day in enumerate(first_days):
            p = self.person(idx)
            persons.append(p)
            history: list[Product] = []
            keys, ws = list(p.channels), list(p.channels.values())
            primary = keys[0]
            mine: list[DemoOrder] = []
            for n, at in enumerate(self.purchase_times(p, first_day)):
                if n == 0:
                    key = primary
                elif n == 1 and p.crossover:
                    key = p.crossover
                elif n == 2 and p.late_binding and p.crossover:
                    key = primary
                else:
                    key = rng.choices(keys, ws)[0]
                o = self.order(p, at, key, history, first=n == 0)
                history.extend(x.product for x in o.lines if x.product not in history)
                if o.platform != "offline" and rng.random() < 0.05:
                    orders.append(self.abandoned(p, o))
                orders.append(o)
                mine.append(o)
            if p.late_binding:
                signup = min((o.created_at for o in mine if o.platform == "youzan"), default=None)
                for o in mine:
                    if o.platform == "offline":
                        o.phone_known = signup is not None and o.created_at > signup
        # A handful of orders placed this morning, not paid yet.
        for p in rng.sample(persons, k=max(1, self.n // 400)):
            orders.append(self.pending(p))
        orders.sort(key=lambda o: (o.created_at, o.order_id))
        return DemoData(self.seed, self.as_of, self.cutoff, persons, orders)


def simulate(customers: int, seed: int, as_of: date) -> DemoData:
    """Persons and their orders over the two years before ``as_of``."""
    if customers < 1:
        raise ValueError("customers must be at least 1")
    return _Simulator(customers, seed, as_of).run()
