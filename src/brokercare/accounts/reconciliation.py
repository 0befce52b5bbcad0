"""Daily reconciliation of the transfers against each custody bank's statement file (对账).

Statement files: ``<data dir>/inbox/bank-statements/<bank>_<YYYYMMDD>.csv`` (UTF-8 or GBK), one
row per transfer the bank processed that business day, columns ``transfer_no,bank_ref,direction,
amount,status`` (``status``: ``success``, ``failed`` or ``reversed`` — 冲正, the bank undid its
booking; ``transfer_no`` is the number the platform sent, which the bank echoes). Each row is
matched by transfer number:

- a transfer whose answer never came (still ``sent``) is settled as the statement says — once: a
  bank timeout followed by a late success is confirmed, not doubled; one the bank reversed becomes
  ``reversed`` with no money moved (an outgoing amount is released);
- a transfer confirmed here that the bank reversed is not undone automatically (the customer may
  have spent the money): it is a ``reversed_at_bank`` item for operations;
- every difference becomes an open item for operations: ``missing_at_bank`` (ours, not on the
  statement), ``missing_here`` (on the statement, not ours), ``amount_mismatch``,
  ``state_mismatch`` (the bank and the platform disagree on success).

The whole file is checked before anything is written; a bad row fails the run with its row number
and nothing changes. Reconciling the same file again adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from brokercare.accounts.banks import BankAnswer
from brokercare.accounts.inbox import read_checked
from brokercare.accounts.models import BankTransfer, ReconciliationItem
from brokercare.accounts.schemas import ReconciliationItemOut, ReconciliationOut
from brokercare.accounts.transfers import apply_answer, fail
from brokercare.core.errors import NotFound, ValidationFailed
from brokercare.core.settings import get_settings
from brokercare.ledger.service import append as ledger_append

COLUMNS = ("transfer_no", "bank_ref", "direction", "amount", "status")


@dataclass(frozen=True)
class StatementRow:
    transfer_no: str
    bank_ref: str
    direction: str
    amount: Decimal
    success: bool
    reversed: bool = False  # 冲正: the bank booked it, then undid it


def statement_inbox() -> Path:
    return get_settings().data_dir / "inbox" / "bank-statements"


def _statement_row(rec: dict, line: int) -> StatementRow:
    try:
        amount = Decimal(rec["amount"].strip())
    except InvalidOperation:
        raise ValueError(f"row {line}: amount {rec['amount']!r} is not a number") from None
    if rec["direction"].strip() not in ("in", "out"):
        raise ValueError(f"row {line}: direction {rec['direction']!r} is not in or out")
    if rec["status"].strip() not in ("success", "failed", "reversed"):
        raise ValueError(f"row {line}: status {rec['status']!r} is not success, failed or reversed")
    if not rec["transfer_no"].strip() and not rec["bank_ref"].strip():
        raise ValueError(f"row {line}: neither transfer_no nor bank_ref is given")
    return StatementRow(rec["transfer_no"].strip(), rec["bank_ref"].strip(),
                        rec["direction"].strip(), amount, rec["status"].strip() == "success",
                        rec["status"].strip() == "reversed")


def read_statement(path: Path) -> list[StatementRow]:
    return read_checked(path, COLUMNS, _statement_row, refused="nothing reconciled")


def reconcile(session: Session, *, bank_name: str, day: date, rows: list[StatementRow]) -> ReconciliationOut:
    """Match one bank's statement of ``day`` against the transfers (caller commits)."""
    ours = {t.transfer_no: t for t in session.scalars(select(BankTransfer).where(
        BankTransfer.bank_name == bank_name, BankTransfer.business_day == day,
        BankTransfer.state.in_(("sent", "confirmed", "failed", "reversed"))))}
    matched = settled = 0
    items: list[ReconciliationItem] = []
    seen: set[str] = set()
    for row in rows:
        t = ours.get(row.transfer_no)
        if t is None:
            items.append(_item(bank_name, day, "missing_here", row.bank_ref or row.transfer_no, None,
                               None, row.amount, f"银行对账单有一笔{_dir(row.direction)} {row.amount} 元"
                               f"（银行流水 {row.bank_ref or '无'}），平台没有对应的转账"))
            continue
        seen.add(t.transfer_no)
        if row.amount != t.amount:
            items.append(_item(bank_name, day, "amount_mismatch", t.transfer_no, t.id, t.amount,
                               row.amount, f"金额不一致：平台 {t.amount} 元，银行 {row.amount} 元"))
            continue
        if t.state == "sent":
            _settle(session, t, row)
            settled += 1
        elif row.reversed and t.state == "confirmed":
            items.append(_item(bank_name, day, "reversed_at_bank", t.transfer_no, t.id, t.amount, row.amount,
                               f"银行已冲正平台已确认的{_dir(t.direction)} {t.amount} 元（银行流水 "
                               f"{row.bank_ref or '无'}），客户资金需人工核实调整"))
        elif (t.state == "confirmed") != row.success:
            items.append(_item(bank_name, day, "state_mismatch", t.transfer_no, t.id, t.amount,
                               row.amount, f"状态不一致：平台为「{t.state}」，银行为"
                               f"「{'成功' if row.success else '失败'}」"))
        else:
            matched += 1
    for no, t in ours.items():
        if no not in seen and t.state in ("confirmed", "sent"):
            items.append(_item(bank_name, day, "missing_at_bank", no, t.id, t.amount, None,
                               f"平台{'已确认' if t.state == 'confirmed' else '已发送'}的{_dir(t.direction)} "
                               f"{t.amount} 元不在银行对账单上"))
    new = store_items(session, items)
    ledger_append(session, "transfer.reconciled", f"bank:{bank_name}:{day.isoformat()}", {
        "rows": len(rows), "matched": matched, "settled": settled, "differences": len(items)})
    session.flush()
    return ReconciliationOut(bank_name=bank_name, business_day=day, statement_rows=len(rows),
                             matched=matched, settled=settled,
                             differences=[ReconciliationItemOut.model_validate(i) for i in new])


def _settle(session: Session, t: BankTransfer, row: StatementRow) -> None:
    """A transfer whose answer never came, settled by the statement: confirmed, failed, or reversed
    (冲正: no money moved, an outgoing amount released)."""
    if row.reversed:
        fail(session, t, "银行已冲正这笔转账，资金未划转", state="reversed")
        session.flush()
        return
    apply_answer(session, t, BankAnswer("confirmed" if row.success else "rejected",
                                        row.bank_ref or None, "银行对账单显示该笔转账未成功"))


def _dir(direction: str) -> str:
    return "转入" if direction == "in" else "转出"


def _item(bank: str, day: date, kind: str, ref: str, transfer_id: int | None, ours: Decimal | None,
          theirs: Decimal | None, detail: str) -> ReconciliationItem:
    return ReconciliationItem(bank_name=bank, business_day=day, kind=kind, reference=ref,
                              transfer_id=transfer_id, ours=ours, bank=theirs, detail=detail)


def store_items(session: Session, items: list[ReconciliationItem]) -> list[ReconciliationItem]:
    """Add the items not recorded by an earlier run of the same file; return all of them (the banks'
    statements and the fund companies' confirmations share the operations' list)."""
    out = []
    for item in items:
        existing = session.scalar(select(ReconciliationItem).where(
            ReconciliationItem.bank_name == item.bank_name,
            ReconciliationItem.business_day == item.business_day,
            ReconciliationItem.reference == item.reference, ReconciliationItem.kind == item.kind))
        if existing is None:
            session.add(item)
            existing = item
        out.append(existing)
    session.flush()
    return out


def open_items(session: Session, *, limit: int = 100) -> list[ReconciliationItemOut]:
    rows = session.scalars(select(ReconciliationItem).where(ReconciliationItem.status == "open")
                           .order_by(ReconciliationItem.business_day, ReconciliationItem.id)
                           .limit(max(1, min(limit, 1000))))
    return [ReconciliationItemOut.model_validate(r) for r in rows]


def resolve_item(session: Session, item_id: int, *, actor_id: int, resolution: str) -> ReconciliationItemOut:
    item = session.get(ReconciliationItem, item_id)
    if item is None:
        raise NotFound(f"no reconciliation item {item_id}")
    if not resolution.strip():
        raise ValidationFailed("say how the difference was resolved")
    item.status, item.resolved_by, item.resolution = "done", actor_id, resolution.strip()
    ledger_append(session, "transfer.difference_resolved", f"reconciliation:{item.id}", {
        "kind": item.kind, "reference": item.reference, "by_user_id": actor_id,
        "resolution": item.resolution})
    session.flush()
    return ReconciliationItemOut.model_validate(item)


def statement_files(day: date) -> list[tuple[str, Path]]:
    """The statements received for ``day``: ``(bank, path)`` from ``<bank>_<YYYYMMDD>.csv``."""
    folder = statement_inbox()
    suffix = f"_{day:%Y%m%d}.csv"
    return sorted((p.name[: -len(suffix)], p) for p in folder.glob(f"*{suffix}")) if folder.exists() else []
