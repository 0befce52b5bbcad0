"""The intent taxonomy (``data/intents.yaml``): labels, Chinese descriptions, routing skills."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import yaml

from brokercare.assistant.lexicon import DATA


@dataclass(frozen=True)
class Intent:
    label: str
    zh: str
    skill: str | None
    invest: bool = False  # its answers talk about investing (and carry the risk reminder)


@lru_cache(maxsize=1)
def _raw() -> dict:
    return yaml.safe_load(DATA.joinpath("intents.yaml").read_text("utf-8"))


@lru_cache(maxsize=1)
def intents() -> dict[str, Intent]:
    return {label: Intent(label, v["zh"], v.get("skill"), bool(v.get("invest"))) for label, v in _raw()["intents"].items()}


@lru_cache(maxsize=1)
def emotions() -> dict[str, str]:
    return dict(_raw()["emotions"])


def skill_of(label: str) -> str | None:
    intent = intents().get(label)
    return intent.skill if intent else None


def about_investing(label: str) -> bool:
    intent = intents().get(label)
    return bool(intent and intent.invest)


def describe(label: str) -> str:
    intent = intents().get(label)
    return intent.zh.split("：")[0] if intent else label
