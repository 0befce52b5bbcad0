"""Account read services: a customer's accounts, valued positions and margin status.

Positions are valued at ``Instrument.last_price`` (the reference price until a live quote feed
updates it; a holding without one is valued at cost and flagged). The maintenance collateral ratio
(维持担保比例) is the margin account's total assets ÷ its total liabilities, compared with the
contract's warning, liquidation and withdrawal lines. Securities-lending (融券) debt is the shares
owed (``margin_shorts``) at that same price, so the workbench, the assistant and the monitoring
evaluator (which re-prices them on every snapshot) read one ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from brokercare.accounts.models import (
    Account,
    CashMovement,
    MarginContract,
    MarginShort,
    Position,
    Trade,
)
from brokercare.core.database import money
from brokercare.core.errors import Conflict, NotFound
from brokercare.customers.service import get_customer
from brokercare.market.models import Instrument

_RATIO = Decimal("0.0001")


def get_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"资金账户不存在（id={account_id}）", extra={"account_id": account_id})
    return account


def accounts_of(session: Session, customer_id: int) -> list[Account]:
    """The customer's accounts, cash account first."""
    get_customer(session, customer_id)
    return accounts_of_customers(session, [customer_id])[customer_id]


def accounts_of_customers(session: Session, customer_ids: list[int]) -> dict[int, list[Account]]:
    """:func:`accounts_of` for many customers in one read (a batch of messages); every id given
    is a key, with no accounts an empty list."""
    out: dict[int, list[Account]] = {cid: [] for cid in customer_ids}
    for account in session.scalars(select(Account).where(Account.customer_id.in_(list(out)))
                                   .order_by(Account.kind, Account.id)):
        out[account.customer_id].append(account)
    return out


@dataclass(frozen=True)
class ValuedPosition:
    account_id: int
    symbol: str
    name: str
    kind: str
    board: str
    risk_rating: str | None
    quantity: Decimal
    available_quantity: Decimal
    cost_price: Decimal
    last_price: Decimal
    priced_at_cost: bool
    market_value: Decimal
    cost_value: Decimal
    pnl: Decimal
    pnl_pct: Decimal | None
    opened_on: date | None


def _valued(session: Session, where) -> list[ValuedPosition]:  # noqa: ANN001
    rows = session.execute(
        select(Position, Instrument)
        .join(Instrument, Instrument.symbol == Position.symbol)
        .where(where, Position.quantity > 0)
        .order_by(Position.account_id, Position.symbol)
    ).all()
    out = []
    for pos, inst in rows:
        priced_at_cost = inst.last_price is None
        price = pos.cost_price if priced_at_cost else inst.last_price
        mv = money(pos.quantity * price)
        cost = money(pos.quantity * pos.cost_price)
        pnl = mv - cost
        out.append(ValuedPosition(
            account_id=pos.account_id, symbol=pos.symbol, name=inst.name, kind=inst.kind,
            board=inst.board, risk_rating=inst.risk_rating, quantity=pos.quantity,
            available_quantity=pos.available_quantity, cost_price=pos.cost_price, last_price=price,
            priced_at_cost=priced_at_cost, market_value=mv, cost_value=cost, pnl=pnl,
            pnl_pct=(pnl / cost).quantize(_RATIO, ROUND_HALF_UP) if cost else None,
            opened_on=pos.opened_on,
        ))
    return out


def positions_of(session: Session, customer_id: int) -> list[ValuedPosition]:
    """Every holding of the customer across accounts, with market value and P&L vs cost."""
    get_customer(session, customer_id)
    ids = select(Account.id).where(Account.customer_id == customer_id)
    return _valued(session, Position.account_id.in_(ids))


def account_positions(session: Session, account_id: int) -> list[ValuedPosition]:
    get_account(session, account_id)
    return _valued(session, Position.account_id == account_id)


def trades_between(session: Session, account_ids: list[int], start: datetime, end: datetime) -> list[Trade]:
    """The trades of these accounts executed in ``[start, end)`` (a customer's trading day)."""
    if not account_ids:
        return []
    return list(session.scalars(select(Trade).where(Trade.account_id.in_(account_ids), Trade.traded_at >= start,
                                                    Trade.traded_at < end)))


def recent_bank_transfers(session: Session, account_ids: list[int], *, limit: int = 5) -> list[CashMovement]:
    """The latest bank↔securities transfers (银证转账, ``bank_in``/``bank_out``) of these accounts,
    newest first."""
    if not account_ids:
        return []
    return list(session.scalars(
        select(CashMovement).where(CashMovement.account_id.in_(account_ids),
                                   CashMovement.kind.in_(("bank_in", "bank_out")))
        .order_by(CashMovement.occurred_at.desc()).limit(limit)))


@dataclass(frozen=True)
class ShortPosition:
    """Shares a margin contract owes (融券), valued at the reference price (None without one)."""

    symbol: str
    name: str
    quantity: Decimal
    last_price: Decimal | None
    market_value: Decimal | None


def _lending_debt(session: Session, contract: MarginContract) -> tuple[Decimal, tuple[ShortPosition, ...], bool]:
    """融券负债 at the reference price, the shares behind it, and whether it was re-priced.

    A contract without shares on record, or owing a share that has no reference price, keeps its
    marked ``lending_debt``: valuing an unpriced short at zero would flatter the ratio.
    """
    rows = session.execute(
        select(MarginShort, Instrument)
        .join(Instrument, Instrument.symbol == MarginShort.symbol)
        .where(MarginShort.contract_id == contract.id, MarginShort.quantity > 0)
        .order_by(MarginShort.symbol)
    ).all()
    shorts = tuple(
        ShortPosition(symbol=s.symbol, name=inst.name, quantity=s.quantity, last_price=inst.last_price,
                      market_value=None if inst.last_price is None else money(s.quantity * inst.last_price))
        for s, inst in rows
    )
    if not shorts or any(s.market_value is None for s in shorts):
        return money(contract.lending_debt), shorts, False
    return sum((s.market_value for s in shorts), Decimal("0.00")), shorts, True


def lending_debt_sql():  # noqa: ANN201 - a SQL column expression
    """融券负债 of ``MarginContract`` rows in SQL, by the rule of :func:`_lending_debt` (for bulk reads).

    Shares owed × reference price when every short is priced, else the marked ``lending_debt``.
    """
    owed = (
        select(case((func.count() == func.count(Instrument.last_price),
                     func.sum(MarginShort.quantity * Instrument.last_price))))
        .select_from(MarginShort)
        .join(Instrument, Instrument.symbol == MarginShort.symbol)
        .where(MarginShort.contract_id == MarginContract.id, MarginShort.quantity > 0)
        .correlate(MarginContract)
        .scalar_subquery()
    )
    return func.coalesce(owed, MarginContract.lending_debt)


@dataclass(frozen=True)
class MarginStatus:
    account_id: int
    contract_no: str
    cash: Decimal
    market_value: Decimal
    total_assets: Decimal
    financing_debt: Decimal
    lending_debt: Decimal  # shares owed at the reference price when ``lending_repriced``
    lending_repriced: bool
    shorts: tuple[ShortPosition, ...]
    interest_due: Decimal
    total_liabilities: Decimal
    maintenance_ratio: Decimal | None
    warning_line: Decimal
    liquidation_line: Decimal
    withdrawal_line: Decimal
    to_warning: Decimal | None
    to_liquidation: Decimal | None
    to_withdrawal: Decimal | None
    state: str  # no_debt, above_withdrawal, normal, below_warning, below_liquidation
    top_up_to_warning: Decimal
    withdrawable: Decimal
    topup_days: int
    credit_limit: Decimal
    credit_available: Decimal

    @property
    def ratio(self) -> Decimal | None:
        """Short name of :attr:`maintenance_ratio` (the assistant's margin tool reads it)."""
        return self.maintenance_ratio


def margin_status(session: Session, account_id: int) -> MarginStatus:
    """维持担保比例 of a margin account and its distance to each contract line.

    Distances are in ratio points (0.12 = 12 个百分点 above the line; negative below it).
    ``top_up_to_warning`` is the collateral needed to get back to the warning line;
    ``withdrawable`` is what may leave while staying at the withdrawal line. Liabilities are
    financing debt + interest + shares owed × reference price (see :func:`_lending_debt`).
    """
    account = get_account(session, account_id)
    if account.kind != "margin":
        raise Conflict(f"账户 {account.account_no} 不是信用账户，没有维持担保比例",
                       extra={"account_id": account_id})
    contract = session.scalar(
        select(MarginContract).where(MarginContract.account_id == account_id)
        .order_by((MarginContract.status == "active").desc(), MarginContract.id.desc())
    )
    if contract is None:
        raise NotFound(f"信用账户 {account.account_no} 没有融资融券合同", extra={"account_id": account_id})
    mv = sum((p.market_value for p in account_positions(session, account_id)), Decimal("0"))
    assets = money(account.cash_balance + mv)
    lending, shorts, repriced = _lending_debt(session, contract)
    liabilities = money(contract.financing_debt + lending + contract.interest_due)
    ratio = (assets / liabilities).quantize(_RATIO, ROUND_HALF_UP) if liabilities > 0 else None

    def dist(line: Decimal) -> Decimal | None:
        return None if ratio is None else (ratio - line).quantize(_RATIO)

    if ratio is None:
        state = "no_debt"
    elif ratio < contract.liquidation_line:
        state = "below_liquidation"
    elif ratio < contract.warning_line:
        state = "below_warning"
    elif ratio >= contract.withdrawal_line:
        state = "above_withdrawal"
    else:
        state = "normal"
    top_up = max(Decimal("0.00"), money(liabilities * contract.warning_line - assets))
    excess = assets if liabilities == 0 else money(assets - liabilities * contract.withdrawal_line)
    free_cash = money(account.cash_balance - account.frozen_cash)
    withdrawable = max(Decimal("0.00"), min(excess, free_cash))
    used = contract.financing_debt + lending
    return MarginStatus(
        account_id=account_id, contract_no=contract.contract_no, cash=money(account.cash_balance),
        market_value=money(mv), total_assets=assets, financing_debt=money(contract.financing_debt),
        lending_debt=lending, lending_repriced=repriced, shorts=shorts,
        interest_due=money(contract.interest_due),
        total_liabilities=liabilities, maintenance_ratio=ratio, warning_line=contract.warning_line,
        liquidation_line=contract.liquidation_line, withdrawal_line=contract.withdrawal_line,
        to_warning=dist(contract.warning_line), to_liquidation=dist(contract.liquidation_line),
        to_withdrawal=dist(contract.withdrawal_line), state=state, top_up_to_warning=top_up,
        withdrawable=withdrawable, topup_days=contract.topup_days,
        credit_limit=money(contract.credit_limit),
        credit_available=max(Decimal("0.00"), money(contract.credit_limit - used)),
    )


@dataclass(frozen=True)
class NetAssets:
    """A customer's assets and margin liabilities, as the CDP's tiers (net assets, AUM) count them."""

    customer_id: int
    assets: Decimal  # cash of open accounts + holdings at the reference price (cost without one)
    liabilities: Decimal  # active margin contracts: financing + interest + 融券 at the reference price
    holdings: int
    has_margin: bool

    @property
    def net_assets(self) -> Decimal:
        return self.assets - self.liabilities


def net_assets_by_customer(session: Session) -> list[NetAssets]:
    """Every customer with an account: assets, liabilities and net assets, in three grouped queries."""
    cash = dict(session.execute(
        select(Account.customer_id, func.sum(Account.cash_balance))
        .where(Account.status != "closed").group_by(Account.customer_id)
    ).all())
    held = {cid: (mv, n) for cid, mv, n in session.execute(
        select(Account.customer_id,
               func.sum(Position.quantity * func.coalesce(Instrument.last_price, Position.cost_price)),
               func.count(Position.id))
        .join(Position, Position.account_id == Account.id)
        .join(Instrument, Instrument.symbol == Position.symbol)
        .where(Position.quantity > 0)
        .group_by(Account.customer_id)
    )}
    debt = dict(session.execute(
        select(Account.customer_id,
               func.sum(MarginContract.financing_debt + MarginContract.interest_due + lending_debt_sql()))
        .join(MarginContract, MarginContract.account_id == Account.id)
        .where(MarginContract.status == "active")
        .group_by(Account.customer_id)
    ).all())
    margin = set(session.scalars(select(Account.customer_id).where(Account.kind == "margin").distinct()))
    customers = sorted(set(cash) | set(held))
    return [
        NetAssets(
            customer_id=cid,
            assets=money((cash.get(cid) or 0) + (held.get(cid, (0, 0))[0] or 0)),
            liabilities=money(debt.get(cid) or 0),
            holdings=held.get(cid, (0, 0))[1],
            has_margin=cid in margin,
        )
        for cid in customers
    ]
