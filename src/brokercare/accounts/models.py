"""Cash and margin accounts, margin contracts, positions, orders, trades, cash movements, the
bank–securities transfers with their reconciliation against the banks' statements, and the OTC
fund orders with their lots and the fund companies' NAVs."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from brokercare.core.database import Base, Money, Price, Ratio, UTCDateTime, utcnow


class Account(Base):
    """A capital account (资金账号): ``kind`` is ``cash`` (普通账户) or ``margin`` (信用账户)."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_no: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default="active")  # active, frozen, closed
    opened_on: Mapped[date] = mapped_column(Date)
    branch_code: Mapped[str] = mapped_column(String(8))
    commission_rate: Mapped[Decimal] = mapped_column(Ratio())  # e.g. 0.000250 = 万2.5
    cash_balance: Mapped[Decimal] = mapped_column(Money())
    frozen_cash: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    bank_name: Mapped[str | None] = mapped_column(String(32))
    bank_card_enc: Mapped[str | None] = mapped_column(Text)
    bank_card_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # Shareholder (stock) accounts per exchange, e.g. A123456789 (SH) / 0123456789 (SZ).
    sh_holder_no: Mapped[str | None] = mapped_column(String(12))
    sz_holder_no: Mapped[str | None] = mapped_column(String(12))
    one_code_no: Mapped[str | None] = mapped_column(String(12))  # 中国结算 一码通账户号码


class MarginContract(Base):
    """A 融资融券 contract on a margin account, with its lines and current liabilities."""

    __tablename__ = "margin_contracts"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_no: Mapped[str] = mapped_column(String(24), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    credit_limit: Mapped[Decimal] = mapped_column(Money())
    financing_rate: Mapped[Decimal] = mapped_column(Ratio())  # annual, e.g. 0.0600
    lending_rate: Mapped[Decimal] = mapped_column(Ratio())
    warning_line: Mapped[Decimal] = mapped_column(Ratio())  # e.g. 1.40 (140 %)
    liquidation_line: Mapped[Decimal] = mapped_column(Ratio())  # e.g. 1.30
    withdrawal_line: Mapped[Decimal] = mapped_column(Ratio())  # e.g. 3.00
    topup_days: Mapped[int] = mapped_column(Integer, default=2)  # trading days to top up
    financing_debt: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))  # 融资负债
    lending_debt: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))  # 融券负债 (market value)
    interest_due: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    start_on: Mapped[date] = mapped_column(Date)
    end_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="active")


class MarginShort(Base):
    """Shares a margin contract owes from securities lending (融券卖出): the liability is the shares
    owed at the current price, so it moves with the market (``MarginContract.lending_debt`` is its
    value when last marked)."""

    __tablename__ = "margin_shorts"
    __table_args__ = (UniqueConstraint("contract_id", "symbol"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(
        ForeignKey("margin_contracts.id", ondelete="CASCADE"), index=True
    )
    symbol: Mapped[str] = mapped_column(ForeignKey("instruments.symbol"))
    quantity: Mapped[Decimal] = mapped_column(Money(18, 2))  # shares owed
    opened_on: Mapped[date | None] = mapped_column(Date)


class Position(Base):
    __tablename__ = "positions"
    __table_args__ = (UniqueConstraint("account_id", "symbol"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(ForeignKey("instruments.symbol"), index=True)
    quantity: Mapped[Decimal] = mapped_column(Money(18, 2))  # shares, or fund units (2 decimals)
    available_quantity: Mapped[Decimal] = mapped_column(Money(18, 2))  # sellable today (T+1)
    cost_price: Mapped[Decimal] = mapped_column(Price())
    opened_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (Index("ix_orders_account_time", "account_id", "placed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(String(24), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(ForeignKey("instruments.symbol"))
    side: Mapped[str] = mapped_column(String(4))  # buy, sell
    price: Mapped[Decimal] = mapped_column(Price())
    quantity: Mapped[Decimal] = mapped_column(Money(18, 2))
    filled_quantity: Mapped[Decimal] = mapped_column(Money(18, 2), default=Decimal("0"))
    status: Mapped[str] = mapped_column(String(12))  # filled, partial, cancelled, rejected
    channel: Mapped[str] = mapped_column(String(12), default="app")
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Trade(Base):
    __tablename__ = "trades"
    __table_args__ = (Index("ix_trades_account_time", "account_id", "traded_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trade_no: Mapped[str] = mapped_column(String(24), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(ForeignKey("instruments.symbol"), index=True)
    side: Mapped[str] = mapped_column(String(4))
    price: Mapped[Decimal] = mapped_column(Price())
    quantity: Mapped[Decimal] = mapped_column(Money(18, 2))
    amount: Mapped[Decimal] = mapped_column(Money())
    commission: Mapped[Decimal] = mapped_column(Money())
    stamp_duty: Mapped[Decimal] = mapped_column(Money())
    transfer_fee: Mapped[Decimal] = mapped_column(Money())
    traded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CashMovement(Base):
    """Money in and out of an account: 银证转账, dividends, fees, interest."""

    __tablename__ = "cash_movements"
    __table_args__ = (Index("ix_cash_movements_account_time", "account_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    movement_no: Mapped[str] = mapped_column(String(24), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # bank_in, bank_out, dividend, interest, fee, margin_interest
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[Decimal] = mapped_column(Money())  # positive in, negative out
    status: Mapped[str] = mapped_column(String(12), default="done")  # pending, done, failed
    bank_name: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BankTransfer(Base):
    """A 银证转账 between an account and its linked bank card, through its state machine:
    requested → sent (the bank has it) → confirmed | failed; held (waiting for the risk desk) →
    requested | rejected; proposed (offered in a chat) → requested on the customer's confirmation,
    else expired.

    An outgoing transfer's amount is frozen on the account from request to outcome, so it cannot
    be spent twice; the balance moves only on ``confirmed``.
    """

    __tablename__ = "bank_transfers"
    __table_args__ = (Index("ix_bank_transfers_state", "state", "requested_at"),
                      Index("ix_bank_transfers_account_day", "account_id", "business_day"))

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_no: Mapped[str] = mapped_column(String(24), unique=True)
    # The caller's key, scoped to the customer: a retried request finds the first one.
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(4))  # in, out
    amount: Mapped[Decimal] = mapped_column(Money())
    bank_name: Mapped[str | None] = mapped_column(String(32))
    card_tail: Mapped[str | None] = mapped_column(String(4))
    state: Mapped[str] = mapped_column(String(12), default="requested")
    business_day: Mapped[date] = mapped_column(Date)
    channel: Mapped[str] = mapped_column(String(12), default="app")
    risk_measure_id: Mapped[int | None] = mapped_column(Integer)
    bank_ref: Mapped[str | None] = mapped_column(String(40))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)  # why it failed or waits, in Chinese
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ReconciliationItem(Base):
    """One difference between the transfers and a bank's statement of a day, as a task for
    operations: ``missing_at_bank``, ``missing_here``, ``amount_mismatch``, ``state_mismatch``,
    ``reversed_at_bank`` (a confirmed transfer the bank reversed, 冲正); ``settled`` notes the
    statement confirming or failing a transfer whose answer never came (a bank timeout)."""

    __tablename__ = "reconciliation_items"
    __table_args__ = (UniqueConstraint("bank_name", "business_day", "reference", "kind",
                                       name="uq_reconciliation_items_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bank_name: Mapped[str] = mapped_column(String(32))
    business_day: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(40))  # our transfer_no, else the bank's ref
    transfer_id: Mapped[int | None] = mapped_column(ForeignKey("bank_transfers.id", ondelete="SET NULL"))
    ours: Mapped[Decimal | None] = mapped_column(Money())
    bank: Mapped[Decimal | None] = mapped_column(Money())
    detail: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default="open")  # open, done
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_by: Mapped[int | None] = mapped_column(Integer)
    resolution: Mapped[str | None] = mapped_column(Text)


class FundOrder(Base):
    """An OTC fund order (场外基金申购/赎回): ``subscribe`` by amount, ``redeem`` by units, through
    proposed (offered in a chat) → placed → confirmed | cancelled; proposed → expired. A confirmed
    redemption's proceeds are in transit until ``settle_day`` (``settled_at`` once credited).

    ``nav_day`` is the trading day whose NAV prices it (the 15:00 cut-off); a subscription's amount
    is frozen on the account and a redemption's units on the position from placing to outcome.
    """

    __tablename__ = "fund_orders"
    __table_args__ = (Index("ix_fund_orders_state_day", "state", "nav_day"),
                      Index("ix_fund_orders_settle_day", "settle_day"))

    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(String(24), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(160), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(ForeignKey("instruments.symbol"))
    fund_name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))  # subscribe, redeem
    amount: Mapped[Decimal | None] = mapped_column(Money())  # subscribe: 元 asked
    units: Mapped[Decimal | None] = mapped_column(Money(18, 2))  # redeem: units asked; subscribe: confirmed
    state: Mapped[str] = mapped_column(String(12))
    channel: Mapped[str] = mapped_column(String(12), default="app")
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    nav_day: Mapped[date] = mapped_column(Date)
    suitability: Mapped[str | None] = mapped_column(String(16))  # allow, warn_confirm
    suitability_confirmation_id: Mapped[int | None] = mapped_column(Integer)
    fee_schedule: Mapped[str] = mapped_column(String(16))
    nav: Mapped[Decimal | None] = mapped_column(Price())
    fee: Mapped[Decimal | None] = mapped_column(Money())
    proceeds: Mapped[Decimal | None] = mapped_column(Money())  # redeem: units × NAV − fee
    fee_detail: Mapped[str | None] = mapped_column(Text)  # JSON: the FIFO lots and their rates
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(Text)
    # redeem: the trading day the proceeds reach the account (fund type's T+n from the NAV day),
    # and when they did; between confirmation and then they are 在途资金 (accounts/fund_settlement.py)
    settle_day: Mapped[date | None] = mapped_column(Date)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FundLot(Base):
    """Units of a fund bought by one confirmed subscription, held since its NAV day: redemptions
    take from the oldest lot first and pay the fee of each lot's holding period."""

    __tablename__ = "fund_lots"
    __table_args__ = (Index("ix_fund_lots_holding", "account_id", "symbol", "start_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    symbol: Mapped[str] = mapped_column(ForeignKey("instruments.symbol"))
    order_id: Mapped[int] = mapped_column(ForeignKey("fund_orders.id", ondelete="CASCADE"), unique=True)
    start_day: Mapped[date] = mapped_column(Date)
    units: Mapped[Decimal] = mapped_column(Money(18, 2))
    remaining: Mapped[Decimal] = mapped_column(Money(18, 2))


class FundNav(Base):
    """A fund's published unit NAV (单位净值) of a day, from the fund companies' NAV file."""

    __tablename__ = "fund_navs"
    __table_args__ = (UniqueConstraint("symbol", "nav_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    symbol: Mapped[str] = mapped_column(String(16))
    nav_date: Mapped[date] = mapped_column(Date)
    nav: Mapped[Decimal] = mapped_column(Price())
    source: Mapped[str] = mapped_column(String(80))
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
