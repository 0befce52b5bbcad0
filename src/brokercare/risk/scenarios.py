"""Labelled scenarios for judging the detector: normal behaviour by customer segment, with attacks
of each kind injected into the last weeks, every event labelled.

Segments (share of customers):
- ``commuter`` (45 %): logs in on the way to work, at lunch and in the evening; one phone; a
  business trip now and then; transfers a few times a month.
- ``retiree`` (25 %): logs in during trading hours on weekdays; one device; rarely travels;
  occasional larger transfers.
- ``active_trader`` (15 %): several logins and many orders every trading day, phone and PC, quick
  runs of orders; weekly transfers.
- ``traveller`` (15 %): a third of the days in other cities, at any hour, flights between them
  (never faster than a plane); one or two devices.
Normal life includes new phones (a ``device_change`` then logins from it), password changes,
bank-card changes, trips and odd hours: the false positives a real broker sees.

Attacks (``kind``), each injected for a share of customers in the evaluation window:
- ``account_takeover``: a login from a new device in another city (mostly another province),
  often followed by a password change and a large transfer-out;
- ``impossible_travel``: a login far away minutes after the customer's own (a stolen session or
  a cloned device);
- ``credential_stuffing``: one IP (and one or many devices) trying 20-60 accounts in minutes, most
  with a wrong password, some unknown usernames; the successes are takeovers;
- ``abnormal_transfer``: from the customer's own device and city, 10-40x their usual amount
  (scam-induced or a hijacked session);
- ``new_card_transfer``: money out to a card never used before, at an ordinary amount;
- ``high_frequency``: a burst of 60-300 orders in a few minutes (a bot on the account).

IP addresses are drawn from the ip2region segments of each city, so a login's city is what the
IP database says, as in production. Columns: see ``docs/risk.md``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import polars as pl

from brokercare.risk.places import IpRegions, distance_km, ip_regions

#: (province, city, weight): where customers live, roughly by the number of investors.
CITIES = (
    ("上海", "上海市", 9), ("北京", "北京市", 9), ("广东", "深圳市", 7), ("广东", "广州市", 6),
    ("浙江", "杭州市", 5), ("江苏", "南京市", 4), ("江苏", "苏州市", 4), ("四川", "成都市", 4),
    ("湖北", "武汉市", 4), ("重庆", "重庆市", 3), ("天津", "天津市", 3), ("陕西", "西安市", 3),
    ("湖南", "长沙市", 3), ("山东", "济南市", 2), ("山东", "青岛市", 2), ("福建", "厦门市", 2),
    ("福建", "福州市", 2), ("河南", "郑州市", 2), ("辽宁", "沈阳市", 2), ("辽宁", "大连市", 2),
    ("安徽", "合肥市", 2), ("浙江", "宁波市", 2), ("云南", "昆明市", 1), ("黑龙江", "哈尔滨市", 1),
    ("吉林", "长春市", 1), ("广西", "南宁市", 1), ("贵州", "贵阳市", 1), ("江西", "南昌市", 1),
    ("山西", "太原市", 1), ("河北", "石家庄市", 1), ("新疆", "乌鲁木齐市", 1), ("海南", "海口市", 1),
    ("甘肃", "兰州市", 1), ("内蒙古", "呼和浩特市", 1), ("广东", "东莞市", 2), ("江苏", "无锡市", 2),
)
SEGMENTS = (("commuter", 0.45), ("retiree", 0.25), ("active_trader", 0.15), ("traveller", 0.15))
KINDS = ("account_takeover", "impossible_travel", "credential_stuffing", "abnormal_transfer",
         "new_card_transfer", "high_frequency")
#: The kinds whose events are logins by someone other than the customer.
TAKEOVER_KINDS = ("account_takeover", "impossible_travel", "credential_stuffing")
SYMBOLS = ("600519", "000001", "300750", "601318", "510300", "000858", "002594", "688981")
DEVICE_MODELS = ("iPhone15", "iPhone14", "HUAWEI-Mate60", "Xiaomi-14", "OPPO-Reno11", "vivo-X100", "PC-Win11")
BEIJING = 8 * 3600
# Hour-of-day profiles (Beijing time), weights over 24 hours.
_HOURS = {
    "commuter": np.array([1, 0, 0, 0, 0, 0, 2, 14, 16, 4, 2, 2, 9, 6, 2, 2, 2, 3, 5, 8, 9, 9, 6, 3], float),
    "retiree": np.array([0, 0, 0, 0, 0, 0, 1, 3, 8, 16, 16, 12, 4, 8, 12, 10, 4, 2, 2, 2, 2, 1, 0, 0], float),
    "active_trader": np.array([0, 0, 0, 0, 0, 0, 1, 3, 10, 18, 14, 10, 4, 10, 14, 10, 3, 2, 3, 4, 5, 5, 3, 1], float),
    "traveller": np.array([2, 1, 0, 0, 0, 1, 4, 8, 8, 7, 6, 6, 6, 6, 6, 6, 6, 5, 5, 6, 7, 7, 6, 4], float),
}


@dataclass
class _Columns:
    rows: dict[str, list] = field(default_factory=lambda: {c: [] for c in _COLUMNS})

    def add(self, n: int, **values) -> None:  # columns by name
        for name in _COLUMNS:
            v = values.get(name)
            if isinstance(v, np.ndarray | list):
                self.rows[name].extend(list(v))
            else:
                self.rows[name].extend([v] * n)


_COLUMNS = ("type", "t", "customer_id", "ip", "device_id", "amount", "card", "symbol", "side",
            "quantity", "price", "label", "kind", "segment")


class _Places:
    """IP pools per city from the IP database, for drawing addresses that resolve to that city."""

    def __init__(self, regions: IpRegions) -> None:
        self.regions = regions
        self.cities = [(p, c) for p, c, _ in CITIES]
        weights = np.array([w for *_, w in CITIES], float)
        self.weights = weights / weights.sum()
        self.segments = [regions.segments_of(p, c) for p, c in self.cities]
        missing = [c for (_, c), s in zip(self.cities, self.segments, strict=True) if not len(s)]
        if missing:
            raise RuntimeError(f"the IP database has no addresses for {missing}")
        self.points = [(regions.latitude[regions.region_of_segment[s[0]]],
                        regions.longitude[regions.region_of_segment[s[0]]]) for s in self.segments]
        lat, lon = np.array(self.points).T
        self.distances = distance_km(lat[:, None], lon[:, None], lat[None, :], lon[None, :])

    def ips(self, rng: np.random.Generator, city: int, n: int, pool: np.ndarray | None = None) -> list[str]:
        segs = pool if pool is not None else self.segments[city]
        pick = segs[rng.integers(0, len(segs), n)]
        lo, hi = self.regions.starts[pick], self.regions.ends[pick]
        v = lo + (rng.random(n) * (hi - lo + 1)).astype(np.int64)
        return [f"{a}.{b}.{c}.{d}" for a, b, c, d in zip(
            (v >> 24).tolist(), (v >> 16 & 255).tolist(), (v >> 8 & 255).tolist(), (v & 255).tolist(), strict=True)]

    def km(self, a, b):  # city indexes, scalars or arrays
        return self.distances[a, b]


def _token(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def _device(rng: np.random.Generator, customer: int, k: int) -> str:
    return f"{DEVICE_MODELS[rng.integers(0, len(DEVICE_MODELS))]}-{_token('dev', customer, k)[:10]}"


@dataclass(frozen=True)
class _Habits:
    logins_weekday: float
    logins_weekend: float
    trips_per_30d: float
    trip_days: tuple[int, int]
    second_device: float  # share of logins from a second device
    transfers_per_30d: float
    transfer_median: float  # yuan, the segment's typical transfer
    order_days: float  # share of trading days with orders
    orders_per_day: float


HABITS = {
    "commuter": _Habits(2.0, 1.2, 0.8, (2, 4), 0.05, 3.0, 20_000, 0.3, 2.0),
    "retiree": _Habits(1.5, 0.4, 0.3, (3, 10), 0.0, 1.5, 50_000, 0.4, 1.5),
    "active_trader": _Habits(4.0, 1.0, 0.6, (2, 4), 0.4, 4.0, 100_000, 0.95, 15.0),
    "traveller": _Habits(2.5, 2.0, 4.0, (2, 6), 0.2, 2.0, 50_000, 0.2, 2.0),
}


@dataclass
class _Customer:
    id: int
    segment: str
    home: int
    home_pool: np.ndarray
    devices: list[str]
    card: str
    median: float


class _Generator:
    def __init__(self, customers: int, seed: int, days: int, eval_days: int, attack_share: float,
                 start: datetime, regions: IpRegions | None = None) -> None:
        self.rng = np.random.default_rng(seed)
        self.places = _Places(regions or ip_regions())
        self.n, self.days, self.eval_days = customers, days, eval_days
        self.attack_share = attack_share
        self.t0 = int(start.timestamp())
        self.eval_start = self.t0 + (days - eval_days) * 86400
        self.out = _Columns()
        self.customers: list[_Customer] = []

    # -- normal behaviour ------------------------------------------------------------------------
    def customer(self, cid: int) -> _Customer:
        rng = self.rng
        segment = SEGMENTS[rng.choice(len(SEGMENTS), p=[s for _, s in SEGMENTS])][0]
        home = int(rng.choice(len(CITIES), p=self.places.weights))
        segs = self.places.segments[home]
        pool = segs[rng.integers(0, len(segs), 3)]
        devices = [_device(rng, cid, 0), _device(rng, cid, 1)]
        median = float(HABITS[segment].transfer_median * rng.lognormal(0, 0.8))
        return _Customer(cid, segment, home, pool, devices, _token("card", cid, 0), median)

    def itinerary(self, c: _Customer) -> np.ndarray:
        """The city of each day: home, or a trip."""
        h, rng = HABITS[c.segment], self.rng
        city = np.full(self.days, c.home)
        d = 0
        while d < self.days:
            if rng.random() < h.trips_per_30d / 30:
                length = int(rng.integers(h.trip_days[0], h.trip_days[1] + 1))
                away = int(rng.choice(len(CITIES), p=self.places.weights))
                city[d : d + length] = away
                d += length
            d += 1
        return city

    def normal(self, c: _Customer) -> None:
        """The customer's own days: logins (with trips, a new phone, a password change), money
        in and out, and orders. Vectorised over the days; a journey drops the logins that would
        come before the plane could land."""
        h, rng, out = HABITS[c.segment], self.rng, self.out
        days = np.arange(self.days)
        weekday = (datetime.fromtimestamp(self.t0, UTC).weekday() + days) % 7
        trading = weekday < 5
        cities = self.itinerary(c)
        per_day = rng.poisson(np.where(trading, h.logins_weekday, h.logins_weekend))
        day = np.repeat(days, per_day)
        p = _HOURS[c.segment] / _HOURS[c.segment].sum()
        local = rng.choice(24, size=len(day), p=p) * 3600 + rng.integers(0, 3600, len(day))
        t = self.t0 + day * 86400 + local - BEIJING
        order = np.argsort(t, kind="stable")
        t, day = t[order], day[order]
        city = cities[day]
        prev_t, prev_city = np.r_[-(10**12), t[:-1]], np.r_[c.home, city[:-1]]
        need = self.places.km(city, prev_city) / 700 + 2
        keep = (city == prev_city) | (t - prev_t >= need * 3600)
        t, day, city = t[keep], day[keep], city[keep]
        new_phone = int(rng.integers(5, self.days)) if rng.random() < 0.06 else self.days
        phone = np.where(day >= new_phone, _device(rng, c.id, 2), c.devices[0])
        device = np.where(rng.random(len(t)) < h.second_device, c.devices[1], phone)
        ips = self.ips_by_city(c, city)
        out.add(len(t), type="login", t=t.tolist(), customer_id=c.id, ip=ips, device_id=device.tolist(),
                label=0, kind="normal", segment=c.segment)
        after = np.nonzero(day >= new_phone)[0]
        if len(after):
            i = after[0]
            out.add(1, type="device_change", t=int(t[i]) - 60, customer_id=c.id, ip=ips[i],
                    device_id=str(phone[i]), label=0, kind="normal", segment=c.segment)
            c.devices[0] = str(phone[i])
        if rng.random() < 0.02 and len(t):
            i = int(rng.integers(0, len(t)))
            out.add(1, type="password_change", t=int(t[i]) + 120, customer_id=c.id, ip=ips[i],
                    device_id=str(device[i]), label=0, kind="normal", segment=c.segment)
        self.money(c, days[trading], cities)
        order_days = days[trading & (rng.random(self.days) < h.order_days)]
        self.orders(c, self.t0 + order_days * 86400 - BEIJING, rng.poisson(h.orders_per_day, len(order_days)) + 1)

    def ips_by_city(self, c: _Customer, city: np.ndarray) -> list[str]:
        ips = np.empty(len(city), dtype=object)
        for k in np.unique(city):
            where = np.nonzero(city == k)[0]
            ips[where] = self.places.ips(self.rng, int(k), len(where), c.home_pool if k == c.home else None)
        return ips.tolist()

    def money(self, c: _Customer, trading_days: np.ndarray, cities: np.ndarray) -> None:
        """Transfers in bank hours, each after a login; a few customers change bank card."""
        h, rng, out = HABITS[c.segment], self.rng, self.out
        days = trading_days[rng.random(len(trading_days)) < h.transfers_per_30d / 21]
        switch = int(rng.integers(5, self.days)) if rng.random() < 0.01 else self.days
        for d in days.tolist():
            if d >= switch:
                c.card = _token("card", c.id, 1)
            t = self.t0 + d * 86400 - BEIJING + int(rng.integers(9 * 3600 + 1800, 15 * 3600 + 1800))
            city = int(cities[d])
            ip = self.places.ips(rng, city, 1, c.home_pool if city == c.home else None)[0]
            out.add(1, type="login", t=t - int(rng.integers(60, 600)), customer_id=c.id, ip=ip,
                    device_id=c.devices[0], label=0, kind="normal", segment=c.segment)
            kind = "transfer_in" if rng.random() < 0.4 else "transfer_out"
            amount = round(float(c.median * rng.lognormal(0, 0.5)), 2)
            out.add(1, type=kind, t=t, customer_id=c.id, ip=ip, device_id=c.devices[0],
                    amount=amount, card=c.card, label=0, kind="normal", segment=c.segment)

    def orders(self, c: _Customer, day_starts: np.ndarray, counts: np.ndarray) -> None:
        """A day's orders in trading hours, in runs of up to six within a minute and a half."""
        rng = self.rng
        runs = np.maximum(1, counts // 3)
        size = np.minimum(6, np.maximum(1, counts // runs))
        base = np.repeat(day_starts, runs)
        minute = rng.integers(0, 240, len(base))  # of the four trading hours
        starts = base + np.where(minute < 120, 9 * 3600 + 1800 + minute * 60, 13 * 3600 + (minute - 120) * 60)
        t = np.sort(np.repeat(starts, np.repeat(size, runs)) + rng.integers(0, 90, int((runs * size).sum())))
        self.add_orders(c, t, 0, "normal")

    def add_orders(self, c: _Customer, t: np.ndarray, label: int, kind: str) -> None:
        rng, n = self.rng, len(t)
        self.out.add(n, type="order", t=t.astype(np.int64).tolist(), customer_id=c.id,
                     device_id=c.devices[0], ip=self.places.ips(rng, c.home, 1, c.home_pool)[0],
                     symbol=rng.choice(SYMBOLS, size=n).tolist(),
                     side=np.where(np.arange(n) % 2 == 0, "buy", "sell").tolist(),
                     quantity=(rng.integers(1, 20, n) * 100).tolist(),
                     price=np.round(rng.uniform(5, 200, n), 2).tolist(),
                     label=label, kind=kind, segment=c.segment)

    # -- attacks ---------------------------------------------------------------------------------
    def when(self, night: float = 0.3) -> int:
        """A moment in the evaluation window; attackers favour the night."""
        day = int(self.rng.integers(self.days - self.eval_days, self.days))
        hour = int(self.rng.integers(0, 6)) if self.rng.random() < night else int(self.rng.integers(7, 24))
        return self.t0 + day * 86400 + hour * 3600 + int(self.rng.integers(0, 3600)) - BEIJING

    def elsewhere(self, c: _Customer, other_province: float = 0.8, min_km: float = 0.0) -> int:
        province = CITIES[c.home][0]
        while True:
            city = int(self.rng.integers(0, len(CITIES)))
            far = self.places.km(city, c.home) >= min_km
            if city != c.home and far and ((CITIES[city][0] != province) == (self.rng.random() < other_province)):
                return city

    def takeover(self, c: _Customer) -> None:
        rng, out, kind = self.rng, self.out, "account_takeover"
        t, city = self.when(), self.elsewhere(c)
        ip, device = self.places.ips(rng, city, 1)[0], _device(rng, 10_000_000 + c.id, 9)
        out.add(1, type="login", t=t, customer_id=c.id, ip=ip, device_id=device, label=1, kind=kind, segment=c.segment)
        if rng.random() < 0.6:
            t += int(rng.integers(300, 1200))
            out.add(1, type="password_change", t=t, customer_id=c.id, ip=ip, device_id=device,
                    label=1, kind=kind, segment=c.segment)
        if rng.random() < 0.7:
            card = _token("mule", c.id) if rng.random() < 0.5 else c.card
            out.add(1, type="transfer_out", t=t + int(rng.integers(120, 900)), customer_id=c.id, ip=ip,
                    device_id=device, amount=round(c.median * float(rng.uniform(5, 30)), 2), card=card,
                    label=1, kind=kind, segment=c.segment)

    def travel(self, c: _Customer) -> None:
        rng, out = self.rng, self.out
        t = self.when(night=0.0)
        home_ip = self.places.ips(rng, c.home, 1, c.home_pool)[0]
        out.add(1, type="login", t=t, customer_id=c.id, ip=home_ip, device_id=c.devices[0],
                label=0, kind="normal", segment=c.segment)
        city = self.elsewhere(c, other_province=1.0, min_km=1000)
        device = c.devices[0] if rng.random() < 0.5 else _device(rng, 20_000_000 + c.id, 9)
        out.add(1, type="login", t=t + int(rng.integers(600, 5400)), customer_id=c.id,
                ip=self.places.ips(rng, city, 1)[0], device_id=device, label=1,
                kind="impossible_travel", segment=c.segment)

    def stuffing(self, victims: list[_Customer]) -> None:
        rng, out = self.rng, self.out
        t = self.when()
        city = int(rng.integers(0, len(CITIES)))
        ip = self.places.ips(rng, city, 1)[0]
        one_device = rng.random() < 0.5
        device = _device(rng, 30_000_000 + victims[0].id, 9)
        for v in victims:
            t += int(rng.integers(3, 30))
            dev = device if one_device else _device(rng, 40_000_000 + t, 9)
            unknown = rng.random() < 0.3
            success = not unknown and rng.random() < 0.15
            out.add(1, type="login" if success else "login_failed", t=t,
                    customer_id=None if unknown else v.id, ip=ip, device_id=dev, label=1,
                    kind="credential_stuffing", segment=None if unknown else v.segment)

    def big_transfer(self, c: _Customer) -> None:
        t = self.when(night=0.0)
        out = self.out
        ip = self.places.ips(self.rng, c.home, 1, c.home_pool)[0]
        out.add(1, type="transfer_out", t=t, customer_id=c.id, ip=ip, device_id=c.devices[0],
                amount=round(c.median * float(self.rng.uniform(10, 40)), 2), card=c.card, label=1,
                kind="abnormal_transfer", segment=c.segment)

    def new_card(self, c: _Customer) -> None:
        t = self.when(night=0.0)
        ip = self.places.ips(self.rng, c.home, 1, c.home_pool)[0]
        self.out.add(1, type="transfer_out", t=t, customer_id=c.id, ip=ip, device_id=c.devices[0],
                     amount=round(c.median * float(self.rng.uniform(0.8, 3)), 2),
                     card=_token("fraud-card", c.id), label=1, kind="new_card_transfer", segment=c.segment)

    def burst(self, c: _Customer) -> None:
        t = self.when(night=0.0)
        day_start = t - (t + BEIJING) % 86400 - BEIJING
        start = day_start + 9 * 3600 + 1800 + int(self.rng.integers(0, 5 * 3600))
        count, seconds = int(self.rng.integers(60, 300)), int(self.rng.integers(120, 600))
        self.add_orders(c, np.sort(start + self.rng.integers(0, seconds, count)), 1, "high_frequency")

    def attacks(self) -> None:
        rng = self.rng
        per_kind = max(3, round(self.n * self.attack_share))
        pick = rng.permutation(len(self.customers))
        chunks = [pick[i * per_kind : (i + 1) * per_kind] for i in range(5)]
        for i in chunks[0]:
            self.takeover(self.customers[i])
        for i in chunks[1]:
            self.travel(self.customers[i])
        for i in chunks[2]:
            self.big_transfer(self.customers[i])
        for i in chunks[3]:
            self.new_card(self.customers[i])
        for i in chunks[4]:
            self.burst(self.customers[i])
        for _ in range(max(2, per_kind // 10)):
            victims = rng.choice(len(self.customers), int(rng.integers(20, 61)), replace=False)
            self.stuffing([self.customers[i] for i in victims])

    def run(self) -> pl.DataFrame:
        for cid in range(1, self.n + 1):
            c = self.customer(cid)
            self.customers.append(c)
            self.normal(c)
        self.attacks()
        return self.frame()

    def frame(self) -> pl.DataFrame:
        rows = self.out.rows
        df = pl.DataFrame({
            "type": pl.Series(rows["type"], dtype=pl.String),
            "t": pl.Series(rows["t"], dtype=pl.Int64),
            "customer_id": pl.Series(rows["customer_id"], dtype=pl.Int64),
            "ip": pl.Series(rows["ip"], dtype=pl.String),
            "device_id": pl.Series(rows["device_id"], dtype=pl.String),
            "city": pl.Series([None] * len(rows["t"]), dtype=pl.String),
            "amount": pl.Series(rows["amount"], dtype=pl.Float64),
            "card": pl.Series(rows["card"], dtype=pl.String),
            "symbol": pl.Series(rows["symbol"], dtype=pl.String),
            "side": pl.Series(rows["side"], dtype=pl.String),
            "quantity": pl.Series(rows["quantity"], dtype=pl.Int64),
            "price": pl.Series(rows["price"], dtype=pl.Float64),
            "channel": pl.Series(["app"] * len(rows["t"]), dtype=pl.String),
            "label": pl.Series(rows["label"], dtype=pl.Int8),
            "kind": pl.Series(rows["kind"], dtype=pl.String),
            "segment": pl.Series(rows["segment"], dtype=pl.String),
        }).sort("t", maintain_order=True)
        return df.with_columns(
            pl.format("ev-{}", pl.int_range(1, len(df) + 1).cast(pl.String).str.zfill(9)).alias("event_id"),
            pl.from_epoch("t", time_unit="s").dt.replace_time_zone("UTC").alias("occurred_at"),
            pl.when(pl.col("t") >= self.eval_start).then(pl.lit("eval")).otherwise(pl.lit("history")).alias("phase"),
        ).select(EVENT_FILE_COLUMNS + LABEL_COLUMNS)


#: The columns of an event, as a trading system posts them (see docs/risk.md).
EVENT_FILE_COLUMNS = ["event_id", "type", "occurred_at", "customer_id", "ip", "device_id", "city",
                      "channel", "amount", "card", "symbol", "side", "quantity", "price"]
COLUMN_TYPES = {
    "event_id": pl.String, "type": pl.String, "occurred_at": pl.String, "customer_id": pl.Int64,
    "ip": pl.String, "device_id": pl.String, "city": pl.String, "channel": pl.String,
    "amount": pl.Float64, "card": pl.String, "symbol": pl.String, "side": pl.String,
    "quantity": pl.Int64, "price": pl.Float64, "label": pl.Int8, "kind": pl.String,
    "segment": pl.String, "phase": pl.String,
}
#: Added by the generator only: the truth the evaluation compares against.
LABEL_COLUMNS = ["label", "kind", "segment", "phase"]


def generate(customers: int, seed: int, *, days: int = 90, eval_days: int = 30,
             attack_share: float = 0.02, start: datetime | None = None,
             regions: IpRegions | None = None) -> pl.DataFrame:
    """A labelled event history of ``customers`` customers over ``days`` days; attacks only in the
    last ``eval_days`` (the earlier days are history that builds each customer's baseline)."""
    if customers < 10 or days <= eval_days or eval_days < 1:
        raise ValueError("need at least 10 customers and a history longer than the evaluation window")
    start = start or datetime(2026, 9, 1, tzinfo=UTC)
    return _Generator(customers, seed, days, eval_days, attack_share, start, regions).run()


def write(frame: pl.DataFrame, path: str) -> None:
    """CSV (times in ISO 8601 UTC) or Parquet, by the file's extension."""
    if path.endswith(".parquet"):
        frame.write_parquet(path)
    else:
        frame.with_columns(pl.col("occurred_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")).write_csv(path)


def read(path: str) -> pl.DataFrame:
    if path.endswith(".parquet"):
        return pl.read_parquet(path)
    frame = pl.read_csv(path, schema_overrides={
        name: dtype for name, dtype in COLUMN_TYPES.items() if name != "occurred_at"})
    return frame.with_columns(pl.col("occurred_at").str.to_datetime(time_zone="UTC"))
