"""Score a file of historical events at once: every feature of every event from the events before
it, with sorts, binary searches and cumulative sums over NumPy arrays (no Python loop per event).

"Before it" means earlier in time order: an event is judged on exactly what the login-time path
would have known at that moment (its baseline is built from earlier events only), so scoring a
history in batch gives the same decisions as replaying it event by event through
:func:`brokercare.risk.service.assess`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from brokercare.core.errors import ValidationFailed
from brokercare.risk import scoring
from brokercare.risk.places import IpRegions, distance_km, ip_numbers, ip_regions
from brokercare.risk.rules import EVENT_TYPES, SIGNALS, Rules, default_rules

MS_HOUR = 3_600_000
MS_DAY = 86_400_000
BEIJING_MS = 8 * MS_HOUR  # China keeps one zone and no daylight saving


@dataclass(frozen=True)
class Columns:
    """The event file as arrays, in time order."""

    order: np.ndarray  # positions in the input frame, in time order
    type_code: np.ndarray
    t: np.ndarray  # epoch milliseconds
    customer: np.ndarray  # -1 when absent
    ip_code: np.ndarray  # dense code of the IP address, -1 when absent
    region: np.ndarray  # index into IpRegions.places, -1 when unknown
    device: np.ndarray  # dense code, -1 when absent
    card: np.ndarray  # dense code, -1 when absent
    amount: np.ndarray  # NaN when absent


def _codes(series: pl.Series) -> np.ndarray:
    """Dense integer codes of a string column; -1 for nulls and empty strings."""
    s = series.cast(pl.String)
    s = pl.Series(s.name, s).set(s == "", None) if len(s) else s
    codes = s.cast(pl.Categorical).to_physical().cast(pl.Int64).fill_null(-1).to_numpy()
    return codes.astype(np.int64)


def columns_of(frame: pl.DataFrame, regions: IpRegions) -> Columns:
    missing = {"type", "occurred_at", "customer_id"} - set(frame.columns)
    if missing:
        raise ValidationFailed(f"event file lacks columns {sorted(missing)}")
    unknown = set(frame["type"].unique().to_list()) - set(EVENT_TYPES)
    if unknown:
        raise ValidationFailed(f"unknown event types {sorted(map(str, unknown))}; types: {', '.join(EVENT_TYPES)}")
    at = frame["occurred_at"]
    if at.dtype == pl.String:
        at = at.str.to_datetime(time_zone="UTC")
    t = at.dt.replace_time_zone("UTC") if getattr(at.dtype, "time_zone", None) is None else at
    t = t.dt.epoch("ms").to_numpy().astype(np.int64)
    order = np.argsort(t, kind="stable")
    frame = frame[order]

    def optional(name: str, dtype: pl.DataType) -> pl.Series:
        return frame[name] if name in frame.columns else pl.Series(name, [None] * len(frame), dtype=dtype)

    ips = optional("ip", pl.String)
    ip_num = ip_numbers(ips)
    _, ip_code = np.unique(ip_num, return_inverse=True)
    return Columns(
        order=order,
        type_code=scoring.type_codes(frame["type"].to_numpy()),
        t=t[order],
        customer=frame["customer_id"].cast(pl.Int64, strict=False).fill_null(-1).to_numpy(),
        ip_code=np.where(ip_num >= 0, ip_code, -1),
        region=regions.region_index(ip_num),
        device=_codes(optional("device_id", pl.String)),
        card=_codes(optional("card", pl.String)),
        amount=optional("amount", pl.Float64).cast(pl.Float64, strict=False).fill_null(np.nan).to_numpy(),
    )


def _is(c: Columns, *names: str) -> np.ndarray:
    return np.isin(c.type_code, [EVENT_TYPES.index(n) for n in names])


# Every history question ("how many before", "the last one before", "how many in the last ten
# minutes") is asked in (group, time) order, where a group's events are contiguous: the answers
# are then cumulative sums and running maxima, and the few binary searches run on sorted queries.


def _runs(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions (time order) sorted by ``keys`` then time, and each one's run start."""
    n = len(keys[0])
    perm = np.lexsort((np.arange(n), *reversed(keys)))
    same = np.ones(max(n - 1, 0), dtype=bool)
    for k in keys:
        sk = k[perm]
        same &= sk[1:] == sk[:-1]
    first = np.r_[True, ~same] if n else np.zeros(0, dtype=bool)
    return perm, np.maximum.accumulate(np.where(first, np.arange(n), 0))


def _before(flag: np.ndarray, start: np.ndarray) -> np.ndarray:
    """How many ``flag`` events precede each event in its run (``flag`` in run order)."""
    excl = np.cumsum(flag) - flag
    return excl - excl[start]


def _last_before(flag: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Run-order index of the latest ``flag`` event before each event in its run (-1: none)."""
    pos = np.where(flag, np.arange(len(flag)), -1)
    prev = np.r_[-1, np.maximum.accumulate(pos)[:-1]] if len(flag) else pos
    return np.where(prev >= start, prev, -1)


def _in_order(values_in_run_order: np.ndarray, perm: np.ndarray) -> np.ndarray:
    out = np.empty_like(values_in_run_order)
    out[perm] = values_in_run_order
    return out


def _window(t: np.ndarray, start: np.ndarray, width_ms: int) -> np.ndarray:
    """Run-order index of the first event of the run within ``width_ms`` before each event."""
    if not len(t):
        return start
    run = np.cumsum(np.r_[True, start[1:] != start[:-1]]) - 1
    span = int(t.max() - t.min()) + width_ms + 2
    keys = run.astype(np.int64) * span + (t - t.min())
    return np.searchsorted(keys, keys - width_ms, "left")


def _novel(c: Columns, by_customer: tuple[np.ndarray, np.ndarray], value: np.ndarray,
           registers: np.ndarray, applies: np.ndarray) -> np.ndarray:
    """True where the customer has history but never registered ``value`` before this event."""
    reg = registers & (value >= 0) & (c.customer >= 0)
    perm, start = _runs(c.customer, value)
    known = _in_order(_before(reg[perm], start) > 0, perm)
    cperm, cstart = by_customer
    history = _in_order(_before(reg[cperm], cstart) > 0, cperm)
    return applies & (value >= 0) & (c.customer >= 0) & history & ~known


def _previous(c: Columns, by_customer: tuple[np.ndarray, np.ndarray], source: np.ndarray) -> np.ndarray:
    """For each event, the position of the customer's latest ``source`` event before it (-1)."""
    perm, start = by_customer
    prev = _last_before(source[perm], start)
    found = np.where(prev >= 0, perm[np.clip(prev, 0, None)], -1)
    return np.where(c.customer >= 0, _in_order(found, perm), -1)


def _distinct_in_window(group: np.ndarray, c: Columns, mask: np.ndarray, width_ms: int,
                        failed: np.ndarray, least: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct customers (and distinct ones with a failed login) seen from the same IP or device in
    the window ending at each event. A window can hold ``least`` accounts only if the customer
    changes at least ``least - 1`` times along it; only those few windows are counted exactly."""
    n = len(c.t)
    accounts = np.zeros(n, dtype=np.int32)
    failed_accounts = np.zeros(n, dtype=np.int32)
    sel = np.nonzero(mask & (group >= 0))[0]
    if not len(sel):
        return accounts, failed_accounts
    perm, start = _runs(group[sel])
    order = sel[perm]
    lo = _window(c.t[order], start, width_ms)
    cust, fail = c.customer[order], failed[order]
    change = np.r_[0, np.cumsum(cust[1:] != cust[:-1])]
    bound = change - change[lo] + 1
    fails = np.cumsum(fail) - fail
    fail_bound = fails - fails[lo] + fail
    accounts[order] = np.minimum(bound, 1)
    failed_accounts[order] = np.minimum(fail_bound, 1)
    for i in np.nonzero((bound >= least) | (fail_bound >= least))[0]:  # bursts only
        window = slice(lo[i], i + 1)
        accounts[order[i]] = len(np.unique(cust[window]))
        failed_accounts[order[i]] = len(np.unique(cust[window][fail[window]]))
    return accounts, failed_accounts


def _places(c: Columns, regions: IpRegions, by_customer, f: dict[str, np.ndarray],
            login: np.ndarray) -> None:
    """Novel device, city and province, and travel since the last login (``login``: the logins
    that count, i.e. were not flagged)."""
    placed = _is(c, "login", "password_change", "device_change")
    known = c.region >= 0
    region = np.clip(c.region, 0, None)
    place = np.where(known, regions.place_code[region], -1)
    province = np.where(known, regions.province_code[region], -1)
    f["new_place"] = _novel(c, by_customer, place, login, placed)
    f["new_province"] = _novel(c, by_customer, province, login, placed)
    f["foreign"] = known & ~regions.domestic[region]
    f["new_device"] = _novel(c, by_customer, c.device, login | _is(c, "device_change"),
                             placed | _is(c, "transfer_out"))
    prev = _previous(c, by_customer, login & known)
    lat = np.where(known, regions.latitude[region], np.nan)
    lon = np.where(known, regions.longitude[region], np.nan)
    has_prev = placed & (prev >= 0)
    p = np.clip(prev, 0, None)
    f["travel_km"] = np.where(has_prev, distance_km(lat[p], lon[p], lat, lon), np.nan)
    f["travel_hours"] = np.where(has_prev, (c.t - c.t[p]) / MS_HOUR, np.nan)


def _hours(c: Columns, by_customer, f: dict[str, np.ndarray], login: np.ndarray) -> None:
    hour = ((c.t + BEIJING_MS) // MS_HOUR) % 24
    f["hour"] = hour.astype(np.int8)
    login = login & (c.customer >= 0)
    asks = _is(c, "login", "password_change", "device_change") & (c.customer >= 0)
    perm, start = by_customer
    keep = (login | asks)[perm]
    perm, start = perm[keep], start[keep]
    # Re-base the run starts on the kept events (a customer's first kept event starts its run).
    first = np.r_[True, c.customer[perm][1:] != c.customer[perm][:-1]] if len(perm) else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(first, np.arange(len(perm)), 0)) if len(perm) else start
    onehot = np.zeros((len(perm), 24), dtype=np.int32)
    onehot[np.arange(len(perm)), hour[perm]] = login[perm]
    counts = np.cumsum(onehot, axis=0) - onehot
    counts -= counts[start]
    prior = counts.sum(axis=1)
    share = scoring.own_hour_share(counts, hour[perm], prior)
    f["prior_logins"][perm] = prior
    f["hour_share_own"][perm] = share


def _logins_across_accounts(c: Columns, rules: Rules, by_customer, f: dict[str, np.ndarray]) -> None:
    p = rules.param
    attempts = _is(c, "login", "login_failed")
    failed = _is(c, "login_failed")
    minutes = p("credential_stuffing", "window_minutes") * 60_000
    least = min(p("credential_stuffing", "accounts_per_ip"), p("credential_stuffing", "failed_accounts_per_ip"))
    f["ip_accounts"], f["ip_failed_accounts"] = _distinct_in_window(c.ip_code, c, attempts, minutes, failed, least)
    device_minutes = p("credential_stuffing", "device_window_minutes") * 60_000
    f["device_accounts"], _ = _distinct_in_window(
        c.device, c, attempts, device_minutes, failed, p("credential_stuffing", "accounts_per_device"))
    perm, start = by_customer
    lo = _window(c.t[perm], start, p("password_guessing", "window_minutes") * 60_000)
    fails = failed[perm]
    cum = np.cumsum(fails) - fails
    recent = _in_order(cum - cum[lo] + fails, perm)
    f["recent_failures"] = np.where(attempts & (c.customer >= 0), recent, 0).astype(np.int32)


def _transfers(c: Columns, rules: Rules, by_customer, f: dict[str, np.ndarray]) -> None:
    p = rules.param
    out = _is(c, "transfer_out")
    f["amount"] = np.where(out, c.amount, np.nan)
    perm, _ = by_customer
    moves = _is(c, "transfer_out", "transfer_in") & (c.customer >= 0) & np.isfinite(c.amount) & (c.amount > 0)
    sel = perm[moves[perm]]
    k = int(p("amount_high", "history"))
    logs = np.log(c.amount[sel])
    cust = c.customer[sel]
    window = np.full((len(sel), k), np.nan)
    for d in range(1, k + 1):  # column d-1: the transfer d places back, if the same customer's
        back = np.arange(len(sel)) - d
        ok = back >= 0
        ok[ok] = cust[back[ok]] == cust[ok]
        window[ok, d - 1] = logs[back[ok]]
    z = robust_z(logs, window, rules)
    outgoing = out[sel]
    f["amount_z"][sel[outgoing]] = z[outgoing]
    f["new_card"] = _novel(c, by_customer, c.card, _is(c, "transfer_out", "transfer_in"), out)
    change = _previous(c, by_customer, _is(c, "password_change", "device_change"))
    f["hours_since_change"] = np.where(
        _is(c, "transfer_out", "device_change") & (change >= 0),
        (c.t - c.t[np.clip(change, 0, None)]) / MS_HOUR, np.nan)


def robust_z(logs: np.ndarray, window: np.ndarray, rules: Rules) -> np.ndarray:
    """Robust z of each log-amount against its window of earlier log-amounts (NaN = none).

    Median and MAD (scaled by 1.4826 to a normal's sigma) of the customer's own last transfers.
    With fewer than ``min_history`` of them, their median stands with the population's typical
    spread of one customer's amounts; with none, the population's median and spread across
    customers stand in.
    """
    p = rules.param
    count = np.isfinite(window).sum(axis=1)
    med = np.full(len(logs), rules.transfer_log_median)
    mad = np.full(len(logs), rules.transfer_log_mad)
    some = count > 0
    if some.any():
        w = window[some]
        m = np.nanmedian(w, axis=1)
        med[some] = m
        own = count[some] >= p("amount_high", "min_history")
        mad[some] = np.where(own, np.nanmedian(np.abs(w - m[:, None]), axis=1), rules.transfer_log_spread)
    scale = np.maximum(1.4826 * mad, p("amount_high", "min_scale"))
    return (logs - med) / scale


def _orders(c: Columns, rules: Rules, by_customer, f: dict[str, np.ndarray]) -> None:
    p = rules.param
    perm, _ = by_customer
    sel = perm[(_is(c, "order") & (c.customer >= 0))[perm]]
    if not len(sel):
        return
    cust, t = c.customer[sel], c.t[sel]
    first = np.r_[True, cust[1:] != cust[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(sel)), 0))
    here = np.arange(len(sel))
    per_window = here - _window(t, start, p("order_burst", "window_seconds") * 1000 - 1) + 1
    per_second = here - _window(t, start, 999) + 1
    day = (t + BEIJING_MS) // MS_DAY
    group_start = first | np.r_[False, day[1:] != day[:-1]]
    gid = np.cumsum(group_start) - 1
    starts = np.nonzero(group_start)[0]
    day_max = np.maximum.reduceat(per_window, starts)
    # The busiest minute before today: the running maximum over the customer's earlier days.
    first_day = first[starts]
    shifted = np.where(first_day, 0, np.r_[0, day_max[:-1]])
    offset = np.cumsum(first_day).astype(np.int64) * (int(per_window.max()) + 1)
    prior_max = np.maximum.accumulate(shifted + offset) - offset
    f["orders_window"][sel] = per_window
    f["orders_second"][sel] = per_second
    f["orders_day"][sel] = here - starts[gid] + 1
    f["orders_prior_max"][sel] = prior_max[gid]


def features(frame: pl.DataFrame, *, rules: Rules | None = None,
             regions: IpRegions | None = None) -> tuple[Columns, dict[str, np.ndarray]]:
    """Every event's features, in time order (``Columns.order`` maps back to the frame's rows)."""
    rules = rules or default_rules()
    regions = regions or ip_regions()
    c = columns_of(frame, regions)
    f = scoring.empty_features(len(c.t))
    f["type_code"] = c.type_code
    by_customer = _runs(c.customer)
    login = _is(c, "login")
    _places(c, regions, by_customer, f, login)
    _hours(c, by_customer, f, login)
    _logins_across_accounts(c, rules, by_customer, f)
    _transfers(c, rules, by_customer, f)
    _orders(c, rules, by_customer, f)
    # Online, a flagged login changes no baseline until the customer passes the second factor;
    # history does not say who passed, so a flagged login counts as unverified: it registers no
    # device or place, and what follows it in the same session carries its risk.
    flagged = login & (scoring.score(f, rules).action > 0)
    if flagged.any():
        _places(c, regions, by_customer, f, login & ~flagged)
        _hours(c, by_customer, f, login & ~flagged)
        _session(c, rules, by_customer, f, login, flagged)
    return c, f


def _session(c: Columns, rules: Rules, by_customer, f: dict[str, np.ndarray],
             login: np.ndarray, flagged: np.ndarray) -> None:
    last = _previous(c, by_customer, login)
    p = np.clip(last, 0, None)
    recent = (c.t - c.t[p]) <= rules.param("risky_session", "hours") * MS_HOUR
    f["session_flagged"] = (last >= 0) & flagged[p] & recent & (c.device == c.device[p]) & ~login


def score_frame(frame: pl.DataFrame, *, rules: Rules | None = None,
                regions: IpRegions | None = None) -> pl.DataFrame:
    """The frame with ``score``, ``action`` and ``signal_mask`` (bit i: :data:`SIGNALS` [i]) per
    event, in the frame's own row order."""
    rules = rules or default_rules()
    c, f = features(frame, rules=rules, regions=regions)
    scored = scoring.score(f, rules)
    back = np.empty_like(c.order)
    back[c.order] = np.arange(len(c.order))
    mask = scored.signals.astype(np.int64) @ (np.int64(1) << np.arange(len(SIGNALS), dtype=np.int64))
    return frame.with_columns(
        pl.Series("score", scored.score[back]),
        pl.Series("action", scoring.action_names(scored.action[back]).astype(str)),
        pl.Series("signal_mask", mask[back]),
    )


def signal_names(mask: int) -> list[str]:
    return [name for i, name in enumerate(SIGNALS) if mask >> i & 1]
