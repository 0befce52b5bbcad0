"""The risk rules as data: signals with weights and parameters, decision thresholds per event
type, and the population's baselines — read from ``rules.yaml`` (or a broker's own file)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from brokercare.core.errors import ValidationFailed

RULES_FILE = Path(__file__).with_name("rules.yaml")
EVENT_TYPES = ("login", "login_failed", "password_change", "device_change", "transfer_out",
               "transfer_in", "order")
ACTIONS = ("allow", "step_up", "hold", "freeze")
SIGNALS = ("new_device", "new_city", "new_province", "foreign_ip", "impossible_travel",
           "unusual_hour", "credential_stuffing", "password_guessing", "amount_high",
           "amount_extreme", "new_card", "recent_credential_change", "risky_session", "order_burst",
           "exchange_high_frequency")


@dataclass(frozen=True)
class EventRule:
    signals: tuple[str, ...]
    thresholds: dict[str, int]  # action → minimum score


@dataclass(frozen=True)
class Rules:
    version: str
    params: dict[str, dict[str, Any]]
    events: dict[str, EventRule]
    login_hour_share: np.ndarray
    transfer_log_median: float
    transfer_log_mad: float
    transfer_log_spread: float

    def weight(self, signal: str) -> int:
        return int(self.params[signal]["weight"])

    def param(self, signal: str, name: str) -> Any:
        return self.params[signal][name]

    def weight_matrix(self) -> np.ndarray:
        """Weights by (event type, signal): zero where the type does not use the signal."""
        out = np.zeros((len(EVENT_TYPES), len(SIGNALS)), dtype=np.int32)
        for t, name in enumerate(EVENT_TYPES):
            rule = self.events.get(name)
            for s in rule.signals if rule else ():
                out[t, SIGNALS.index(s)] = self.weight(s)
        return out

    def threshold_matrix(self) -> np.ndarray:
        """Minimum score of each action by event type (a huge number where the type never takes it)."""
        never = np.iinfo(np.int32).max
        out = np.full((len(EVENT_TYPES), len(ACTIONS)), never, dtype=np.int64)
        out[:, 0] = np.iinfo(np.int32).min
        for t, name in enumerate(EVENT_TYPES):
            rule = self.events.get(name)
            for a, action in enumerate(ACTIONS[1:], start=1):
                if rule and action in rule.thresholds:
                    out[t, a] = rule.thresholds[action]
        return out


def parse_rules(data: dict) -> Rules:
    """Validate a rules document; a mistake is named, never silently ignored."""
    try:
        params = {name: dict(spec) for name, spec in data["signals"].items()}
        unknown = set(params) - set(SIGNALS)
        missing = set(SIGNALS) - set(params)
        if unknown or missing:
            raise ValidationFailed(f"rules: unknown signals {sorted(unknown)}, missing {sorted(missing)}")
        events = {}
        for name, spec in data["events"].items():
            if name not in EVENT_TYPES:
                raise ValidationFailed(f"rules: unknown event type {name!r}")
            signals = tuple(spec.get("signals", ()))
            bad = set(signals) - set(SIGNALS)
            if bad:
                raise ValidationFailed(f"rules: event {name!r} lists unknown signals {sorted(bad)}")
            thresholds = {a: int(spec[a]) for a in ACTIONS[1:] if a in spec}
            events[name] = EventRule(signals, thresholds)
        population = data["population"]
        share = np.asarray(population["login_hour_share"], dtype=float)
        if share.shape != (24,) or (share < 0).any():
            raise ValidationFailed("rules: population.login_hour_share needs 24 non-negative shares")
        return Rules(
            version=str(data.get("version", "")), params=params, events=events,
            login_hour_share=share / share.sum(),
            transfer_log_median=float(population["transfer_log_median"]),
            transfer_log_mad=float(population["transfer_log_mad"]),
            transfer_log_spread=float(population["transfer_log_spread"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed(f"rules: malformed document ({exc!r})") from exc


def load_rules(path: Path | None = None) -> Rules:
    with (path or RULES_FILE).open(encoding="utf-8") as f:
        return parse_rules(yaml.safe_load(f))


@lru_cache(maxsize=1)
def default_rules() -> Rules:
    return load_rules()
