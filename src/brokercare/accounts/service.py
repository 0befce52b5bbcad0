"""Account read services: a customer's accounts, valued positions and margin status.

Positions are valued at the market's valuation price (``market.service.valuations``: the latest
quote, else the last close, else the reference price; a holding without any is valued at cost and
flagged), each with its as-of time and whether it is stale. The maintenance
collateral ratio (维持担保比例, :func:`maintenance_ratio`) is the margin account's total assets ÷
its total liabilities, compared with the contract's warning, liquidation and withdrawal lines.
Securities-lending (融券) debt is the shares owed (``margin_shorts``) at that same price, so the
workbench, the assistant and the monitoring evaluator (which re-prices them on every snapshot) read
one ratio.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Connection, Float, cast, func, select
from sqlalchemy.orm import Session

from brokercare.accounts import fund_settlement, loading, margin_loading
from brokercare.accounts.activity_sources import bank_flows as bank_flows
from brokercare.accounts.activity_sources import last_trades as last_trades
from brokercare.accounts.banks import CARD_TYPES as CARD_TYPES
from brokercare.accounts.banks import CardCheck as CardCheck
from brokercare.accounts.banks import check_card as check_card
from brokercare.accounts.daily_sources import holdings_frame as holdings_frame
from brokercare.accounts.daily_sources import trades_frame as trades_frame
from brokercare.accounts.fund_settlement import in_transit as in_transit
from brokercare.accounts.funds import SuitabilityGate as SuitabilityGate
from brokercare.accounts.funds import confirm_subscription_proposal as confirm_subscription_proposal
from brokercare.accounts.funds import fund_orders_of as fund_orders_of
from brokercare.accounts.funds import propose_subscription as propose_subscription
from brokercare.accounts.margin import RATIO_STEP, lending_debt
from brokercare.accounts.margin import ShortPosition as ShortPosition
from brokercare.accounts.margin import lending_debt_sql as lending_debt_sql
from brokercare.accounts.margin import maintenance_ratio as maintenance_ratio
from brokercare.accounts.margin import margin_by_customer as margin_by_customer
from brokercare.accounts.models import (
    Account,
    CashMovement,
    MarginContract,
    MarginShort,
    Order,
    Position,
    Trade,
)
from brokercare.accounts.opening import HolderNumbers as HolderNumbers
from brokercare.accounts.opening import open_cash_account as open_cash_account
from brokercare.accounts.profile_sources import cash_by_customer as cash_by_customer
from brokercare.accounts.profile_sources import (
    cash_movements_by_customer as cash_movements_by_customer,
)
from brokercare.accounts.profile_sources import holdings_by_customer as holdings_by_customer
from brokercare.accounts.profile_sources import orders_by_customer as orders_by_customer
from brokercare.accounts.profile_sources import trades_by_customer as trades_by_customer
from brokercare.accounts.transfers import confirm_transfer_proposal as confirm_transfer_proposal
from brokercare.accounts.transfers import propose_transfer as propose_transfer
from brokercare.accounts.transfers import send_transfer as send_transfer
from brokercare.accounts.transfers import transfers_of as transfers_of
from brokercare.core import bulkload
from brokercare.core.bulkimport import ImportSpec
from brokercare.core.bulkread import driver_rows
from brokercare.core.database import money
from brokercare.core.errors import Conflict, NotFound, ValidationFailed
from brokercare.market.service import instruments_by_symbol, instruments_sql, valuations
from brokercare.security.service import get_cipher

_RATIO = RATIO_STEP


def get_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"资金账户不存在（id={account_id}）", extra={"account_id": account_id})
    return account


def customer_of_account(session: Session, account_id: int) -> int | None:
    """The customer an account belongs to (None for an unknown account)."""
    return session.scalar(select(Account.customer_id).where(Account.id == account_id))


def customer_of_account_no(session: Session, account_no: str) -> int | None:
    """The owner of the account numbered ``account_no`` (``None``: no such account)."""
    return session.scalar(select(Account.customer_id).where(Account.account_no == account_no.strip()))


def accounts_of(session: Session, customer_id: int) -> list[Account]:
    """The customer's accounts, cash account first (none for a customer id accounts never saw:
    whether the customer exists is the customers domain's question)."""
    return accounts_of_customers(session, [customer_id])[customer_id]


def accounts_of_customers(session: Session, customer_ids: list[int]) -> dict[int, list[Account]]:
    """:func:`accounts_of` for many customers in one read (a batch of messages); every id given
    is a key, with no accounts an empty list."""
    out: dict[int, list[Account]] = {cid: [] for cid in customer_ids}
    for account in session.scalars(select(Account).where(Account.customer_id.in_(list(out)))
                                   .order_by(Account.kind, Account.id)):
        out[account.customer_id].append(account)
    return out


#: The tables a bulk load of column frames writes (the demo brokerage), parents first.
FRAME_TABLES = (Account.__tablename__, MarginContract.__tablename__, Position.__tablename__,
                Order.__tablename__, Trade.__tablename__, CashMovement.__tablename__)


def load_frames(conn: Connection, frames: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Write column frames (``{table: {column: values}}``, ids included) into the accounts'
    tables; bank cards arrive encrypted, with their blind indexes. Rows written per table."""
    return bulkload.load_frames(conn, FRAME_TABLES, frames)


_SPECS = {"positions": loading.positions_spec, "trades": loading.trades_spec, "orders": loading.orders_spec,
          "cash_movements": loading.cash_movements_spec,
          "margin_contracts": margin_loading.margin_contracts_spec, "margin_shorts": margin_loading.margin_shorts_spec}
IMPORT_KINDS = ("accounts", *_SPECS)


def import_spec(kind: str, *, customer_ids: loading.CustomerIds | None = None) -> ImportSpec:
    """How ``brokercare import KIND FILE`` reads, checks and writes one of ``IMPORT_KINDS``; accounts
    name customers by number, resolved by ``customer_ids`` (``customers.service.ids_by_customer_no``)."""
    if kind == "accounts":
        if customer_ids is None:
            raise ValueError("importing accounts needs customer_ids to resolve customer numbers")
        return loading.accounts_spec(customer_ids)
    if kind not in _SPECS:
        raise ValidationFailed(f"{kind!r}: expected one of {', '.join(IMPORT_KINDS)}")
    return _SPECS[kind]()


def active_cash_accounts(conn: Connection, *, lo: int, hi: int) -> list[tuple]:
    """Active cash accounts of customers ``lo..hi`` as driver rows (account id, customer id, cash,
    frozen cash, commission rate): the advisory batch reads a million customers this way."""
    return driver_rows(conn, select(Account.id, Account.customer_id, Account.cash_balance, Account.frozen_cash,
                                    Account.commission_rate).where(*_active_cash(lo, hi)))


def active_cash_positions(conn: Connection, *, lo: int, hi: int) -> list[tuple]:
    """Positions in those accounts as driver rows (account id, symbol, quantity, available)."""
    return driver_rows(conn, select(Position.account_id, Position.symbol, Position.quantity,
                                    Position.available_quantity)
                       .join(Account, Account.id == Position.account_id).where(*_active_cash(lo, hi)))


def _active_cash(lo: int, hi: int) -> tuple:
    return Account.customer_id.between(lo, hi), Account.kind == "cash", Account.status == "active"


@dataclass(frozen=True)
class BankCard:
    """The bank card linked to an account (三方存管), in clear: the caller masks and audits it."""

    account_id: int
    account_no: str
    bank_name: str | None
    card: str | None


def bank_cards_of_customers(session: Session, customer_ids: list[int]) -> dict[int, list[BankCard]]:
    """Every account's bank card for many customers in one read, accounts in id order; every id
    given is a key (no accounts: an empty list). Decrypted here, the column's owner."""
    out: dict[int, list[BankCard]] = {cid: [] for cid in customer_ids}
    rows = session.execute(
        select(Account.customer_id, Account.id, Account.account_no, Account.bank_name, Account.bank_card_enc)
        .where(Account.customer_id.in_(list(out))).order_by(Account.id)
    ).all()
    cipher = get_cipher(session) if any(r.bank_card_enc for r in rows) else None
    for r in rows:
        card = cipher.decrypt(r.bank_card_enc) if r.bank_card_enc else None
        out[r.customer_id].append(BankCard(r.id, r.account_no, r.bank_name, card))
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
    price_at: datetime | None
    price_stale: bool
    market_value: Decimal
    cost_value: Decimal
    pnl: Decimal
    pnl_pct: Decimal | None
    opened_on: date | None


def _valued(session: Session, where: ColumnElement[bool]) -> list[ValuedPosition]:
    held = list(session.scalars(
        select(Position).where(where, Position.quantity > 0).order_by(Position.account_id, Position.symbol)
    ))
    instruments = instruments_by_symbol(session, (p.symbol for p in held))
    prices = valuations(session, instruments)
    out = []
    for pos in held:
        inst = instruments[pos.symbol]
        value = prices.get(pos.symbol)
        priced_at_cost = value is None
        price = pos.cost_price if priced_at_cost else value.price
        mv = money(pos.quantity * price)
        cost = money(pos.quantity * pos.cost_price)
        pnl = mv - cost
        out.append(ValuedPosition(
            account_id=pos.account_id, symbol=pos.symbol, name=inst.name, kind=inst.kind,
            board=inst.board, risk_rating=inst.risk_rating, quantity=pos.quantity,
            available_quantity=pos.available_quantity, cost_price=pos.cost_price, last_price=price,
            priced_at_cost=priced_at_cost, price_at=value.as_of if value else None,
            price_stale=value.stale if value else True, market_value=mv, cost_value=cost, pnl=pnl,
            pnl_pct=(pnl / cost).quantize(_RATIO, ROUND_HALF_UP) if cost else None,
            opened_on=pos.opened_on,
        ))
    return out


def positions_of(session: Session, customer_id: int) -> list[ValuedPosition]:
    """Every holding of the customer across accounts, with market value and P&L vs cost."""
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
    financing debt + interest + shares owed × reference price (see :func:`brokercare.accounts.margin.lending_debt`).
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
    lending, shorts, repriced = lending_debt(session, contract)
    liabilities = money(contract.financing_debt + lending + contract.interest_due)
    ratio = maintenance_ratio(assets, liabilities)

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
    assets: Decimal  # cash of open accounts + holdings at the reference price (cost without one) + in transit
    liabilities: Decimal  # active margin contracts: financing + interest + 融券 at the reference price
    holdings: int
    has_margin: bool

    @property
    def net_assets(self) -> Decimal:
        return self.assets - self.liabilities


def net_assets_by_customer(session: Session) -> list[NetAssets]:
    """Every customer with an account: assets (redemption proceeds in transit included),
    liabilities and net assets, in four grouped queries."""
    cash = dict(session.execute(
        select(Account.customer_id, func.sum(Account.cash_balance))
        .where(Account.status != "closed").group_by(Account.customer_id)
    ).all())
    inst = instruments_sql()
    held = {cid: (mv, n) for cid, mv, n in session.execute(
        select(Account.customer_id,
               func.sum(Position.quantity * func.coalesce(inst.c.last_price, Position.cost_price)),
               func.count(Position.id))
        .join(Position, Position.account_id == Account.id)
        .join(inst, inst.c.symbol == Position.symbol)
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
    transit = fund_settlement.in_transit_by_customer(session)  # redeemed, still the customer's money
    customers = sorted(set(cash) | set(held))
    return [
        NetAssets(
            customer_id=cid,
            assets=money((cash.get(cid) or 0) + (held.get(cid, (0, 0))[0] or 0) + transit.get(cid, 0)),
            liabilities=money(debt.get(cid) or 0),
            holdings=held.get(cid, (0, 0))[1],
            has_margin=cid in margin,
        )
        for cid in customers
    ]


# -- bulk reads for the monitoring domain --------------------------------------------------------
@dataclass(frozen=True)
class BookColumns:
    """Every open account, its holdings and its active margin contracts as parallel columns: what a
    vectorised evaluator prices a whole book with. Accounts are in id order; positions and
    contracts point at their account's row, shorts at their contract's row. Amounts are float64
    (ratios are compared with lines); exact amounts stay with :func:`margin_status`."""

    account_ids: np.ndarray  # int64, ascending
    customer_ids: np.ndarray  # int64
    cash: np.ndarray  # float64 cash balance
    position_rows: np.ndarray  # int64, the account row of each position (quantity > 0)
    position_symbols: np.ndarray  # object
    quantities: np.ndarray  # float64
    cost_prices: np.ndarray  # float64
    contract_ids: np.ndarray  # int64, ascending: active contracts of open accounts
    contract_rows: np.ndarray  # int64, the account row of each contract
    debt_before_shorts: np.ndarray  # float64: 融资负债 + interest, which no price moves
    debt_as_marked: np.ndarray  # float64: the same + 融券负债 as last marked (shares not re-priced)
    warning_line: np.ndarray  # float64
    liquidation_line: np.ndarray  # float64
    withdrawal_line: np.ndarray  # float64
    topup_days: np.ndarray  # int16
    short_contracts: np.ndarray  # int64, the contract row of each short (quantity > 0)
    short_symbols: np.ndarray  # object
    short_quantities: np.ndarray  # float64


def _float(column: ColumnElement) -> ColumnElement[float]:
    """A numeric column read as a float by the database (no Decimal per value on a hot path)."""
    return cast(column, Float)


def _columns(rows: list, width: int) -> list[tuple]:
    return list(zip(*rows, strict=True)) if rows else [()] * width


def _rows_of(ids: np.ndarray, owners: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Row in ``ids`` (ascending) of each owner id, and which owners are there at all."""
    wanted = np.array(owners, np.int64)
    rows = np.searchsorted(ids, wanted)
    found = rows < len(ids)
    found[found] = ids[rows[found]] == wanted[found]
    return rows[found], found


def book_columns(session: Session) -> BookColumns:
    """The whole book in four bulk reads: accounts, positions, contracts, shares owed."""
    acc_id, cust_id, cash = _columns(session.execute(
        select(Account.id, Account.customer_id, _float(Account.cash_balance))
        .where(Account.status != "closed").order_by(Account.id)
    ).all(), 3)
    account_ids = np.array(acc_id, np.int64)
    owner, symbol, qty, cost = _columns(session.execute(
        select(Position.account_id, Position.symbol, _float(Position.quantity), _float(Position.cost_price))
        .where(Position.quantity > 0)
    ).all(), 4)
    position_rows, held = _rows_of(account_ids, owner)
    # a few per cent of the accounts: their sums stay exact decimals until the last step
    contracts = session.execute(
        select(MarginContract.id, MarginContract.account_id, MarginContract.financing_debt,
               MarginContract.interest_due, MarginContract.lending_debt, MarginContract.warning_line,
               MarginContract.liquidation_line, MarginContract.withdrawal_line, MarginContract.topup_days)
        .where(MarginContract.status == "active").order_by(MarginContract.id)
    ).all()
    contract_rows, open_ = _rows_of(account_ids, tuple(c[1] for c in contracts))
    contracts = [c for c, ok in zip(contracts, open_.tolist(), strict=True) if ok]
    contract_ids = np.array([c[0] for c in contracts], np.int64)
    lender, owed, owed_qty = _columns(session.execute(
        select(MarginShort.contract_id, MarginShort.symbol, _float(MarginShort.quantity))
        .where(MarginShort.quantity > 0)
    ).all(), 3)
    short_contracts, owing = _rows_of(contract_ids, lender)
    return BookColumns(
        account_ids=account_ids, customer_ids=np.array(cust_id, np.int64), cash=np.array(cash, np.float64),
        position_rows=position_rows, position_symbols=np.array(symbol, dtype=object)[held],
        quantities=np.array(qty, np.float64)[held], cost_prices=np.array(cost, np.float64)[held],
        contract_ids=contract_ids, contract_rows=contract_rows,
        debt_before_shorts=np.array([float(c[2] + c[3]) for c in contracts], np.float64),
        debt_as_marked=np.array([float(c[2] + c[3] + c[4]) for c in contracts], np.float64),
        warning_line=np.array([float(c[5]) for c in contracts], np.float64),
        liquidation_line=np.array([float(c[6]) for c in contracts], np.float64),
        withdrawal_line=np.array([float(c[7]) for c in contracts], np.float64),
        topup_days=np.array([c[8] for c in contracts], np.int16),
        short_contracts=short_contracts, short_symbols=np.array(owed, dtype=object)[owing],
        short_quantities=np.array(owed_qty, np.float64)[owing],
    )


def contract_numbers(session: Session, contract_ids: Iterable[int]) -> dict[int, str]:
    """Contract id → contract number (合同编号), as alerts and margin calls quote it."""
    ids = sorted(set(contract_ids))
    return dict(session.execute(
        select(MarginContract.id, MarginContract.contract_no).where(MarginContract.id.in_(ids))
    ).all()) if ids else {}


def available_cash(session: Session, customer_ids: Iterable[int]) -> dict[int, Decimal]:
    """Cash a customer may pay with now: balance less frozen funds of their active cash accounts
    (an IPO win is paid from these); every id given is a key, 0 without such an account."""
    ids = sorted(set(customer_ids))
    out = {cid: Decimal(0) for cid in ids}
    for start in range(0, len(ids), 900):
        out.update((cid, Decimal(cash)) for cid, cash in session.execute(
            select(Account.customer_id, func.sum(Account.cash_balance - Account.frozen_cash))
            .where(Account.customer_id.in_(ids[start:start + 900]), Account.kind == "cash",
                   Account.status == "active")
            .group_by(Account.customer_id)
        ) if cash is not None)
    return out


def stock_value_by_exchange(session: Session, exchanges: Iterable[str] = ("SH", "SZ")) -> list[tuple[int, str, Decimal]]:
    """Each customer's stock holdings at the reference price per exchange (open accounts; the SH
    figure includes STAR shares): ``(customer_id, exchange, value)``, what IPO quotas count."""
    inst = instruments_sql()
    rows = session.execute(
        select(Account.customer_id, inst.c.exchange, func.sum(Position.quantity * inst.c.last_price))
        .join(Position, Position.account_id == Account.id)
        .join(inst, inst.c.symbol == Position.symbol)
        .where(inst.c.kind == "stock", inst.c.exchange.in_(list(exchanges)), Account.status != "closed")
        .group_by(Account.customer_id, inst.c.exchange)
    ).all()
    return [(cid, exchange, value) for cid, exchange, value in rows if value is not None]


def holders_of(session: Session, symbols: Iterable[str]) -> list[tuple[int, str]]:
    """``(customer_id, symbol)`` of every open account's holding of one of ``symbols`` (quantity >
    0), by customer and symbol: who is hit when a share moves (engagement's limit-down tasks)."""
    wanted = sorted(set(symbols))
    out: set[tuple[int, str]] = set()
    for start in range(0, len(wanted), 900):
        out.update((cid, symbol) for cid, symbol in session.execute(
            select(Account.customer_id, Position.symbol).join(Account, Account.id == Position.account_id)
            .where(Position.symbol.in_(wanted[start:start + 900]), Position.quantity > 0,
                   Account.status != "closed")).all())
    return sorted(out)
