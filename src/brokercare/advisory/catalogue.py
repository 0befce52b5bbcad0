"""The product shelf (``data/products.yaml``): real funds, ETFs, repos, permissions and services,
each with its R1–R5 rating, and the suitability view of it for a customer."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from brokercare.advisory.suitability import check, normalise_risk
from brokercare.core.errors import NotFound

PATH = Path(__file__).parent / "data" / "products.yaml"


@lru_cache
def products() -> tuple[dict, ...]:
    with open(PATH, encoding="utf-8") as fh:
        items = yaml.safe_load(fh)["products"]
    for item in items:
        normalise_risk(item["risk"])
        item.setdefault("exchange", item["symbol"].split(".")[-1] if "." in item["symbol"] else "")
    return tuple(items)


def get(symbol: str) -> dict:
    for item in products():
        if item["symbol"] == symbol or item["symbol"].split(".")[0] == symbol:
            return item
    raise NotFound(f"产品 {symbol} 不在产品目录中。")


def instrument_row(symbol: str) -> dict:
    """The catalogue entry in the shape of a market instrument (for the proposal engine)."""
    item = get(symbol)
    return {
        "symbol": item["symbol"], "name": item["name"], "kind": item["kind"], "board": item["board"],
        "exchange": item["exchange"], "lot_size": item.get("lot_size", 100),
        "last_price": item.get("last_price"), "risk_rating": item["risk"],
    }


def shelf_for(investor: str) -> list[dict]:
    """Every product with the suitability decision and message this investor would get."""
    out = []
    for item in products():
        decision = check(investor, item["risk"])
        out.append({**item, "decision": decision.decision, "message": decision.message})
    return out
