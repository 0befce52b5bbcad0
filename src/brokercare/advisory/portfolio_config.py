"""Loads ``data/portfolio_config.yaml`` (asset classes, optimiser, level bounds, regime rule)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

PATH = Path(__file__).parent / "data" / "portfolio_config.yaml"


@lru_cache
def config() -> dict:
    with open(PATH, encoding="utf-8") as fh:
        return yaml.safe_load(fh)
