"""Daily reconciliation of the fund orders against each fund company's confirmation file (基金对账).

A fund company's transfer agent (TA) confirms the orders the broker sold on its behalf and sends a
confirmation file per business day: ``<data dir>/inbox/fund-confirmations/<ta>_<YYYYMMDD>.csv``
(UTF-8 or GBK), one row per order of that NAV day, columns ``order_no,symbol,kind,nav,units,fee,
status`` (``kind``: ``subscribe`` or ``redeem``; ``status``: ``confirmed`` or ``failed``;
``order_no`` is the number the platform sent). The platform confirmed the same orders itself from
the NAV file (:mod:`brokercare.accounts.fund_confirmation`); the TA's file is the record, so every
difference becomes an open item for operations, on the same list as the banks' (``missing_at_ta``,
``missing_here``, ``units_mismatch``, ``fee_mismatch``, ``state_mismatch``).

The whole file is checked before anything is written; a bad row fails the run with its row number.
Reconciling the same file again adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.accounts.inbox import read_checked
from brokercare.accounts.models import FundOrder, ReconciliationItem
from brokercare.accounts.reconciliation import store_items
from brokercare.core.settings import get_settings
from brokercare.ledger.service import append as ledger_append

COLUMNS = ("order_no", "symbol", "kind", "nav", "units", "fee", "status")
KIND_ZH = {"subscribe": "申购", "redeem": "赎回"}


@dataclass(frozen=True)
class ConfirmationRow:
    order_no: str
    symbol: str
    kind: str
    nav: Decimal
    units: Decimal
    fee: Decimal
    confirmed: bool


@dataclass(frozen=True)
class FundReconciliation:
    ta: str
    nav_day: date
    rows: int
    matched: int
    differences: list[ReconciliationItem]


def confirmation_inbox() -> Path:
    return get_settings().data_dir / "inbox" / "fund-confirmations"


def _decimal(rec: dict, column: str, line: int) -> Decimal:
    try:
        return Decimal(rec[column].strip())
    except InvalidOperation:
        raise ValueError(f"row {line}: {column} {rec[column]!r} is not a number") from None


def _row(rec: dict, line: int) -> ConfirmationRow:
    kind, status = rec["kind"].strip(), rec["status"].strip()
    if kind not in KIND_ZH:
        raise ValueError(f"row {line}: kind {kind!r} is not subscribe or redeem")
    if status not in ("confirmed", "failed"):
        raise ValueError(f"row {line}: status {status!r} is not confirmed or failed")
    return ConfirmationRow(rec["order_no"].strip(), rec["symbol"].strip(), kind, _decimal(rec, "nav", line),
                           _decimal(rec, "units", line), _decimal(rec, "fee", line), status == "confirmed")


def read_confirmations(path: Path) -> list[ConfirmationRow]:
    return read_checked(path, COLUMNS, _row, refused="nothing reconciled")


def confirmation_files(day: date) -> list[tuple[str, Path]]:
    """The TAs' files for NAV day ``day``: ``(ta, path)`` from ``<ta>_<YYYYMMDD>.csv``."""
    folder = confirmation_inbox()
    suffix = f"_{day:%Y%m%d}.csv"
    return sorted((p.name[: -len(suffix)], p) for p in folder.glob(f"*{suffix}")) if folder.exists() else []


def reconcile(session: Session, *, ta: str, nav_day: date, rows: list[ConfirmationRow]) -> FundReconciliation:
    """Match one TA's confirmations of ``nav_day`` against the platform's orders of the funds the
    file covers (caller commits)."""
    symbols = {r.symbol for r in rows}
    ours = {o.order_no: o for o in session.scalars(select(FundOrder).where(
        FundOrder.nav_day == nav_day, FundOrder.symbol.in_(symbols),
        FundOrder.state.in_(("placed", "confirmed", "failed"))))} if symbols else {}
    items, matched = [], 0
    for row in rows:
        found = _difference(ta, nav_day, row, ours.pop(row.order_no, None))
        if found is None:
            matched += 1
        else:
            items.append(found)
    for o in ours.values():  # ours, of a fund the TA covers, not in its file
        items.append(_item(ta, nav_day, "missing_at_ta", o.order_no, o.units, None,
                           f"平台的{KIND_ZH[o.kind]}订单（{o.fund_name}）不在基金公司确认文件中"))
    new = store_items(session, items)
    ledger_append(session, "fund_order.reconciled", f"ta:{ta}:{nav_day.isoformat()}", {
        "rows": len(rows), "matched": matched, "differences": len(items)})
    session.flush()
    return FundReconciliation(ta, nav_day, len(rows), matched, new)


def _difference(ta: str, day: date, row: ConfirmationRow, o: FundOrder | None) -> ReconciliationItem | None:
    """The difference between the TA's row and the platform's order, or ``None`` when they agree."""
    if o is None:
        return _item(ta, day, "missing_here", row.order_no, None, row.units,
                     f"基金公司确认了一笔{KIND_ZH[row.kind]}（{row.symbol}），平台没有对应的订单")
    if (o.state == "confirmed") != row.confirmed:
        theirs, mine = ("确认成功" if row.confirmed else "确认失败"), {"placed": "待确认", "failed": "确认失败"}.get(
            o.state, "已确认")
        return _item(ta, day, "state_mismatch", o.order_no, o.units, row.units,
                     f"状态不一致：平台为「{mine}」，基金公司为「{theirs}」")
    if o.state == "confirmed" and o.units != row.units:
        return _item(ta, day, "units_mismatch", o.order_no, o.units, row.units,
                     f"确认份额不一致：平台 {o.units} 份，基金公司 {row.units} 份（净值 {row.nav}）")
    if o.state == "confirmed" and o.fee != row.fee:
        return _item(ta, day, "fee_mismatch", o.order_no, o.fee, row.fee,
                     f"手续费不一致：平台 {o.fee} 元，基金公司 {row.fee} 元")
    return None


def _item(ta: str, day: date, kind: str, ref: str, ours: Decimal | None, theirs: Decimal | None,
          detail: str) -> ReconciliationItem:
    return ReconciliationItem(bank_name=f"TA:{ta}"[:32], business_day=day, kind=kind, reference=ref,
                              transfer_id=None, ours=ours, bank=theirs, detail=detail)
