"""Advisory services other domains call: "我该怎么调仓" for one customer, and the nightly batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from brokercare.advisory import batch, explanations, portfolios
from brokercare.advisory import proposals as engine
from brokercare.advisory.suitability import LEVELS, _customer


@dataclass
class RebalanceAdvice:
    customer_id: int
    status: str  # on_target, rebalance, reassess, no_assets, below_minimum
    level: str | None
    text: str  # Chinese, for the customer
    drift: float
    current: dict[str, float]
    target: dict[str, float]
    trades: list[dict] = field(default_factory=list)
    regime: str = "normal"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def rebalance_advice(session: Session, customer_id: int, *, today: date | None = None) -> RebalanceAdvice:
    """The proposal and its explanation for one customer, computed by the same engine as the batch."""
    _customer(session, customer_id)
    instruments = batch.instruments_from_db(session)
    models = portfolios.current_models()
    ctx = engine.build_context(instruments, portfolios.weight_matrix(models))
    part = batch.partition_from_db(session, ctx, [customer_id], today=today)
    result = engine.propose(part, ctx)
    high = next(iter(models.values())).regime.high
    text = explanations.explain(result, 0, part, ctx, explanations.names_of(ctx, instruments), high_volatility=high)
    names = explanations.names_of(ctx, instruments)
    trades = []
    for i in result.trades_of(customer_id):
        sym = str(ctx.symbols[result.t_inst[i]])
        trades.append({
            "symbol": sym, "name": names.get(sym, sym), "side": "buy" if result.t_side[i] > 0 else "sell",
            "quantity": float(result.t_qty[i]), "amount": float(result.t_amount[i]), "fees": float(result.t_fee[i]),
        })
    level = int(part.level[0])
    return RebalanceAdvice(
        customer_id=customer_id,
        status=engine.STATUS_NAMES[int(result.status[0])],
        level=LEVELS[level] if level >= 0 else None,
        text=text,
        drift=round(float(result.drift[0]), 4),
        current={c: round(float(result.current[0, j]), 4) for j, c in enumerate(ctx.classes)},
        target={c: round(float(result.target[0, j]), 4) for j, c in enumerate(ctx.classes)},
        trades=trades,
        regime="high_volatility" if high else "normal",
    )


def nightly(session: Session, out_dir: Path, *, run_date: date | None = None, client=None,
            partition_size: int = 50_000, progress=None) -> batch.BatchSummary:
    """Proposals for every customer, written to ``out_dir/proposals-<date>/`` as Parquet."""
    run_date = run_date or date.today()
    ctx = batch.context_from_db(session)
    parts = batch.partitions_from_db(session, ctx, size=partition_size, today=run_date)
    result = engine.run_batch(parts, ctx, client=client, progress=progress)
    path = batch.write_parquet(result, ctx, out_dir, run_date)
    return batch.summarise(result, path)
