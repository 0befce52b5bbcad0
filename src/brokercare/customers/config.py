"""The CDP configuration brokers edit: tiers, high-net-worth line, life-stage and tag rules.

Read from ``BROKERCARE_CDP_CONFIG`` if set, else ``$BROKERCARE_DATA_DIR/cdp.yaml`` if present,
else the packaged default ``customers/config/cdp.yaml``. Rules are SQL expressions over feature
names; :func:`load_config` parses every one and checks the feature names it uses against the
registry, so a typo fails at load with the rule's name instead of silently tagging nobody.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import polars as pl
import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from brokercare.core.errors import ValidationFailed
from brokercare.core.settings import get_settings
from brokercare.customers.features import BY_NAME, FEATURES

PACKAGED = Path(__file__).with_name("config") / "cdp.yaml"
CITY_TIERS = Path(__file__).with_name("config") / "city_tiers.yaml"
TIER_KEYS = ("vip", "potential", "mass", "long_tail")


class TierRule(BaseModel):
    key: str
    label: str
    min_aum: Decimal = Field(ge=0)
    service: str = ""


class TagRule(BaseModel):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    label: str
    when: str
    description: str = ""


class StageRule(BaseModel):
    stage: str
    when: str


class CdpConfig(BaseModel):
    tiers: list[TierRule]
    high_net_worth_min_aum: Decimal = Field(ge=0)
    retirement_age: dict[str, int]
    interest_keywords: dict[str, list[str]]
    page_topics: dict[str, list[str]] = Field(default_factory=dict)
    life_stages: list[StageRule]
    default_life_stage: str | None = None
    tags: list[TagRule]

    @field_validator("tiers")
    @classmethod
    def _tiers_ordered(cls, tiers: list[TierRule]) -> list[TierRule]:
        if not tiers:
            raise ValueError("at least one tier is needed")
        bounds = [t.min_aum for t in tiers]
        if bounds != sorted(bounds, reverse=True) or len(set(bounds)) != len(bounds):
            raise ValueError("tiers must be listed from the highest min_aum down, without ties")
        if bounds[-1] != 0:
            raise ValueError("the last tier must start at min_aum 0 so every customer has a tier")
        return tiers

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, tags: list[TagRule]) -> list[TagRule]:
        keys = [t.key for t in tags]
        dupes = {k for k in keys if keys.count(k) > 1}
        if dupes:
            raise ValueError(f"duplicate tag keys: {sorted(dupes)}")
        return tags

    def tier_of(self, aum: Decimal) -> str:
        """The first tier whose ``min_aum`` the AUM (net assets) reaches."""
        return next(t.key for t in self.tiers if aum >= t.min_aum)

    def tier_label(self, key: str) -> str:
        return next((t.label for t in self.tiers if t.key == key), key)

    def tag_label(self, key: str) -> str:
        return next((t.label for t in self.tags if t.key == key), key)


@dataclass(frozen=True)
class Compiled:
    """A configuration with every rule parsed into a Polars expression."""

    config: CdpConfig
    tags: tuple[tuple[TagRule, pl.Expr], ...]
    stages: tuple[tuple[StageRule, pl.Expr], ...]
    source: str


def _check_expr(where: str, text: str) -> pl.Expr:
    try:
        expr = pl.sql_expr(text)
    except Exception as exc:  # polars raises several parser error types
        raise ValidationFailed(f"{where}: cannot parse rule {text!r}: {exc}") from exc
    unknown = [n for n in expr.meta.root_names() if n not in BY_NAME]
    if unknown:
        raise ValidationFailed(f"{where}: unknown feature(s) {unknown} in rule {text!r}")
    # Evaluate once on an all-null row so type errors (e.g. comparing a string with a number)
    # surface now rather than in the nightly batch.
    probe = pl.DataFrame({f.name: pl.Series([None], dtype=_POLARS[f.type]) for f in FEATURES})
    try:
        probe.select(expr.alias("r"))
    except Exception as exc:  # likewise for type errors at evaluation
        raise ValidationFailed(f"{where}: rule {text!r} does not evaluate: {exc}") from exc
    return expr


_POLARS = {"int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean, "str": pl.String}


def compile_config(raw: dict, source: str) -> Compiled:
    try:
        config = CdpConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ValidationFailed(f"{source}: {where}: {first['msg']}") from exc
    tags = tuple((t, _check_expr(f"{source}: tag {t.key}", t.when)) for t in config.tags)
    stages = tuple(
        (s, _check_expr(f"{source}: life stage {s.stage}", s.when)) for s in config.life_stages
    )
    return Compiled(config=config, tags=tags, stages=stages, source=source)


def config_path() -> Path:
    explicit = os.environ.get("BROKERCARE_CDP_CONFIG")
    if explicit:
        return Path(explicit)
    local = get_settings().data_dir / "cdp.yaml"
    return local if local.exists() else PACKAGED


def load_config(path: Path | None = None) -> Compiled:
    """Parse and check the configuration (cached per file and modification time)."""
    path = path or config_path()
    if not path.exists():
        raise ValidationFailed(f"CDP configuration file not found: {path}")
    return _load(str(path.resolve()), path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _load(path: str, _mtime: int) -> Compiled:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValidationFailed(f"{path}: expected a mapping at the top level")
    return compile_config(raw, path)


@lru_cache(maxsize=1)
def city_tiers() -> dict[str, int]:
    raw = yaml.safe_load(CITY_TIERS.read_text(encoding="utf-8"))
    return {city: int(tier) for tier, cities in raw.items() for city in cities}
