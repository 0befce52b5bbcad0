"""The feature registry: the one list of every profile feature the platform computes.

Each entry names the feature, its type, the table it comes from, how often it must be refreshed
(``realtime``: on the customer's own events; ``daily``: nightly batch; ``monthly``), its data class
under JR/T 0158-2018 (1 public … 4 most sensitive; the API shows a feature only to roles cleared for
its class) and what it means. The computation in :mod:`brokercare.customers.engine` produces
exactly these columns (a test holds the two together) and ``docs/customer-data-platform.md`` is
rendered from this table (``brokercare profiles features --markdown``).

Money is in 元, shares are fractions in [0, 1], windows end at the computation's as-of time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FeatureType = Literal["int", "float", "bool", "str"]
Cadence = Literal["realtime", "daily", "monthly"]


@dataclass(frozen=True)
class Feature:
    name: str
    type: FeatureType
    source: str
    cadence: Cadence
    data_class: int
    group: str
    label: str
    description: str


def _f(name: str, type_: FeatureType, source: str, cadence: Cadence, data_class: int, group: str, label: str,
       description: str) -> Feature:
    return Feature(name, type_, source, cadence, data_class, group, label, description)


C, FM, LE = "customers", "family_members", "life_events"
POS = "positions+instruments"
ACC = "accounts"
CM = "cash_movements"
TR = "trades"
ORD = "orders"
MC = "margin_contracts"
RA = "assessed_risks"
BE = "behaviour_events"

PAGE_TOPICS = ("market", "trading", "funds", "margin", "ipo", "wealth", "education", "retirement",
               "overseas")
_TOPIC_ZH = {"market": "行情", "trading": "交易", "funds": "基金", "margin": "两融", "ipo": "打新",
             "wealth": "理财", "education": "教育金", "retirement": "养老", "overseas": "海外"}
INTEREST_GROUPS = ("study_abroad", "overseas_property", "child_education", "retirement",
                   "foreign_currency")
_INTEREST_ZH = {"study_abroad": "留学", "overseas_property": "海外置业", "child_education": "子女教育",
                "retirement": "养老", "foreign_currency": "外币资产"}

FEATURES: tuple[Feature, ...] = (
    # identity and demographics
    _f("age", "int", C, "daily", 2, "identity", "年龄", "Age in whole years at the as-of date."),
    _f("gender", "str", C, "monthly", 2, "identity", "性别", "M or F."),
    _f("province", "str", C, "monthly", 3, "identity", "省份", "Province of residence."),
    _f("city", "str", C, "monthly", 2, "identity", "城市", "City of residence."),
    _f("city_tier", "int", C, "monthly", 2, "identity", "城市等级",
       "1 一线, 2 新一线, 3 二线, 4 other (table in customers/config/city_tiers.yaml)."),
    _f("occupation", "str", C, "monthly", 3, "identity", "职业", "Declared occupation."),
    _f("education", "str", C, "monthly", 3, "identity", "学历", "Declared education level."),
    _f("annual_income", "float", C, "monthly", 3, "identity", "年收入", "Declared annual income, 元."),
    _f("marital_status", "str", C, "monthly", 3, "identity", "婚姻状况",
       "single, married, divorced or widowed."),
    _f("is_married", "bool", C, "monthly", 3, "identity", "已婚", "marital_status is married."),
    _f("tenure_days", "int", C, "daily", 2, "identity", "开户天数", "Days since the account opening."),
    _f("tenure_years", "float", C, "daily", 2, "identity", "开户年限", "Years since the account opening."),
    _f("is_professional", "bool", C, "monthly", 2, "identity", "专业投资者",
       "Classified as a professional investor."),
    _f("account_status", "str", C, "daily", 2, "identity", "客户状态", "active, dormant or closed."),
    _f("wechat_bound", "bool", C, "daily", 2, "identity", "绑定微信", "A WeChat openid is bound."),
    _f("has_email", "bool", C, "monthly", 2, "identity", "留有邮箱", "An e-mail address is on file."),
    _f("phone_verified", "bool", C, "monthly", 2, "identity", "手机已验证", "The phone number is verified."),
    # family and life events
    _f("family_members_count", "int", FM, "monthly", 3, "family", "家庭成员数",
       "Family members on file."),
    _f("has_spouse", "bool", FM, "monthly", 3, "family", "有配偶信息", "A spouse is on file."),
    _f("children_count", "int", FM, "monthly", 3, "family", "子女数", "Children on file."),
    _f("youngest_child_age", "int", FM, "monthly", 3, "family", "最小子女年龄",
       "Age of the youngest child (null without children)."),
    _f("oldest_child_age", "int", FM, "monthly", 3, "family", "最大子女年龄",
       "Age of the oldest child (null without children)."),
    _f("preschool_children", "int", FM, "monthly", 3, "family", "学龄前子女数", "Children under 6."),
    _f("school_age_children", "int", FM, "monthly", 3, "family", "在读子女数",
       "Children aged 6 to 22 (school and university)."),
    _f("parents_count", "int", FM, "monthly", 3, "family", "赡养父母数", "Parents on file."),
    _f("life_events_count", "int", LE, "daily", 3, "family", "人生事件数", "Life events on file."),
    _f("last_life_event", "str", LE, "daily", 3, "family", "最近人生事件",
       "Kind of the latest life event (marriage, child_birth, house_purchase, ...)."),
    _f("days_since_last_life_event", "int", LE, "daily", 3, "family", "距最近人生事件天数",
       "Days since the latest life event."),
    _f("years_since_marriage", "float", LE, "daily", 3, "family", "婚龄",
       "Years since the latest marriage event (null without one)."),
    _f("years_since_child_birth", "float", LE, "daily", 3, "family", "距子女出生年数",
       "Years since the latest child_birth event (null without one)."),
    _f("house_purchase_within_2y", "bool", LE, "daily", 3, "family", "近两年购房",
       "A house_purchase event in the last 2 years."),
    _f("career_event_within_2y", "bool", LE, "daily", 3, "family", "近两年晋升或跳槽",
       "A promotion or job_change event in the last 2 years."),
    _f("relocation_within_1y", "bool", LE, "daily", 3, "family", "近一年迁居",
       "A relocation event in the last year."),
    _f("retired_event", "bool", LE, "daily", 3, "family", "已登记退休", "A retirement event is on file."),
    _f("years_to_retirement", "float", C, "daily", 2, "family", "距退休年数",
       "Years until the configured retirement age (negative once past it)."),
    # assets
    _f("aum", "float", POS, "realtime", 3, "assets", "管理资产规模",
       "Net assets: cash plus holdings at Instrument.last_price, less margin liabilities."),
    _f("total_assets", "float", POS, "realtime", 3, "assets", "总资产", "Cash plus holdings, all accounts."),
    _f("cash_balance", "float", ACC, "realtime", 3, "assets", "现金余额", "Cash across accounts."),
    _f("frozen_cash", "float", ACC, "realtime", 3, "assets", "冻结资金", "Cash frozen by open orders."),
    _f("market_value", "float", POS, "realtime", 3, "assets", "持仓市值", "Market value of all holdings."),
    _f("stock_value", "float", POS, "realtime", 3, "assets", "股票市值", "Market value of stocks."),
    _f("cash_share", "float", POS, "realtime", 2, "assets", "现金占比", "Cash ÷ total assets."),
    _f("stock_share", "float", POS, "realtime", 2, "assets", "股票占比", "Stocks ÷ total assets."),
    _f("equity_share", "float", POS, "realtime", 2, "assets", "权益类占比",
       "Stocks, ETFs and equity, index and mixed funds ÷ total assets."),
    _f("fund_share", "float", POS, "realtime", 2, "assets", "基金占比",
       "Funds and ETFs ÷ total assets."),
    _f("money_fund_share", "float", POS, "realtime", 2, "assets", "货币基金占比",
       "Money-market funds ÷ total assets."),
    _f("bond_share", "float", POS, "realtime", 2, "assets", "固收类占比",
       "Bonds, convertibles and bond funds ÷ total assets."),
    _f("repo_share", "float", POS, "realtime", 2, "assets", "逆回购占比", "Reverse repos ÷ total assets."),
    _f("usd_asset_share", "float", POS, "realtime", 2, "assets", "美元资产占比",
       "USD cash and USD-denominated holdings ÷ total assets (0 unless holdings say otherwise)."),
    _f("overseas_share", "float", POS, "realtime", 2, "assets", "境外资产占比",
       "Foreign-currency assets and QDII funds ÷ total assets."),
    _f("main_board_share", "float", POS, "realtime", 2, "assets", "主板占比",
       "Main-board stocks ÷ stock value."),
    _f("chinext_share", "float", POS, "realtime", 2, "assets", "创业板占比", "ChiNext stocks ÷ stock value."),
    _f("star_share", "float", POS, "realtime", 2, "assets", "科创板占比", "STAR stocks ÷ stock value."),
    _f("bse_share", "float", POS, "realtime", 2, "assets", "北交所占比", "BSE stocks ÷ stock value."),
    _f("st_share", "float", POS, "realtime", 2, "assets", "ST股占比", "Risk-warning stocks ÷ stock value."),
    _f("positions_count", "int", POS, "realtime", 2, "assets", "持仓数", "Holdings with a positive quantity."),
    _f("stocks_held", "int", POS, "realtime", 2, "assets", "持股只数", "Stocks held."),
    _f("funds_held", "int", POS, "realtime", 2, "assets", "持有基金数", "Funds and ETFs held."),
    _f("top1_weight", "float", POS, "realtime", 2, "assets", "第一大持仓占比",
       "Largest holding ÷ market value (concentration)."),
    _f("hhi", "float", POS, "realtime", 2, "assets", "持仓集中度HHI",
       "Herfindahl index of holding weights (1 = a single holding)."),
    _f("unrealised_pnl", "float", POS, "realtime", 3, "assets", "浮动盈亏",
       "Market value less cost of all holdings."),
    _f("unrealised_pnl_pct", "float", POS, "realtime", 2, "assets", "浮动盈亏比例",
       "Unrealised P&L ÷ cost."),
    _f("losing_positions", "int", POS, "realtime", 2, "assets", "浮亏持仓数", "Holdings below cost."),
    _f("holdings_above_risk_level_share", "float", POS, "realtime", 2, "assets", "超风险等级持仓占比",
       "Holdings rated above the customer's risk level (R > C) ÷ market value."),
    _f("high_risk_product_share", "float", POS, "realtime", 2, "assets", "高风险产品占比",
       "R4 and R5 holdings ÷ market value."),
    _f("oldest_position_days", "int", POS, "daily", 2, "assets", "最久持仓天数",
       "Days since the oldest current holding was opened."),
    _f("accounts_count", "int", ACC, "daily", 2, "assets", "资金账户数", "Open capital accounts."),
    _f("has_margin_account", "bool", ACC, "daily", 2, "assets", "开通两融", "Has a margin (credit) account."),
    # cash flows
    _f("net_inflow_30d", "float", CM, "realtime", 3, "cashflow", "近30天净转入",
       "Bank transfers in less out, last 30 days."),
    _f("net_inflow_90d", "float", CM, "daily", 3, "cashflow", "近90天净转入",
       "Bank transfers in less out, last 90 days."),
    _f("net_inflow_365d", "float", CM, "daily", 3, "cashflow", "近一年净转入",
       "Bank transfers in less out, last 365 days."),
    _f("bank_in_count_90d", "int", CM, "daily", 2, "cashflow", "近90天转入次数", "Transfers in, 90 days."),
    _f("bank_out_count_90d", "int", CM, "daily", 2, "cashflow", "近90天转出次数", "Transfers out, 90 days."),
    _f("largest_withdrawal_90d", "float", CM, "daily", 3, "cashflow", "近90天最大单笔转出",
       "Largest single transfer out, 90 days (positive 元)."),
    _f("dividend_income_365d", "float", CM, "daily", 3, "cashflow", "近一年分红", "Dividends received, 365 days."),
    _f("days_since_last_transfer", "int", CM, "realtime", 2, "cashflow", "距上次银证转账天数",
       "Days since the latest bank transfer (null without one)."),
    # trading
    _f("trade_count_30d", "int", TR, "realtime", 2, "trading", "近30天成交笔数", "Trades, 30 days."),
    _f("trade_count_90d", "int", TR, "realtime", 2, "trading", "近90天成交笔数", "Trades, 90 days."),
    _f("trade_count_365d", "int", TR, "daily", 2, "trading", "近一年成交笔数", "Trades, 365 days."),
    _f("buy_count_365d", "int", TR, "daily", 2, "trading", "近一年买入笔数", "Buy trades, 365 days."),
    _f("sell_count_365d", "int", TR, "daily", 2, "trading", "近一年卖出笔数", "Sell trades, 365 days."),
    _f("turnover_30d", "float", TR, "realtime", 3, "trading", "近30天成交额", "Traded amount, 30 days."),
    _f("turnover_90d", "float", TR, "daily", 3, "trading", "近90天成交额", "Traded amount, 90 days."),
    _f("turnover_365d", "float", TR, "daily", 3, "trading", "近一年成交额", "Traded amount, 365 days."),
    _f("turnover_rate_365d", "float", TR, "daily", 2, "trading", "近一年换手倍数",
       "Traded amount over 365 days ÷ AUM."),
    _f("avg_trade_amount_365d", "float", TR, "daily", 3, "trading", "平均单笔成交额",
       "Mean trade amount, 365 days."),
    _f("symbols_traded_365d", "int", TR, "daily", 2, "trading", "近一年交易品种数",
       "Distinct instruments traded, 365 days."),
    _f("active_trading_days_30d", "int", TR, "realtime", 2, "trading", "近30天交易天数",
       "Days with a trade, 30 days."),
    _f("active_trading_days_90d", "int", TR, "daily", 2, "trading", "近90天交易天数",
       "Days with a trade, 90 days."),
    _f("trades_per_week_90d", "float", TR, "daily", 2, "trading", "周均成交笔数",
       "Trades per week over the last 90 days (trading frequency)."),
    _f("days_since_last_trade", "int", TR, "realtime", 2, "trading", "距上次交易天数",
       "Days since the latest trade (null without one)."),
    _f("fees_paid_365d", "float", TR, "daily", 3, "trading", "近一年交易费用",
       "Commission, stamp duty and transfer fees, 365 days."),
    _f("win_rate_365d", "float", TR, "daily", 2, "trading", "近一年胜率",
       "Share of instruments sold in 365 days whose mean sell price beat the mean buy price "
       "(or the holding's cost when not bought in the window)."),
    _f("avg_holding_period_days", "float", TR, "daily", 2, "trading", "平均持有天数",
       "Mean days from the first buy to the first later sell, per instrument round trip."),
    _f("growth_board_trade_share_365d", "float", TR, "daily", 2, "trading", "创业板科创板成交占比",
       "ChiNext and STAR turnover ÷ turnover, 365 days."),
    _f("order_count_90d", "int", ORD, "daily", 2, "trading", "近90天委托笔数", "Orders placed, 90 days."),
    _f("cancel_rate_90d", "float", ORD, "daily", 2, "trading", "近90天撤单率",
       "Cancelled orders ÷ orders, 90 days."),
    # margin
    _f("margin_total_assets", "float", MC, "realtime", 3, "margin", "信用账户总资产",
       "Cash and holdings of the margin account."),
    _f("margin_liabilities", "float", MC, "realtime", 3, "margin", "两融负债",
       "Financing debt, lending debt and interest due."),
    _f("financing_debt", "float", MC, "realtime", 3, "margin", "融资负债", "Financing debt."),
    _f("lending_debt", "float", MC, "realtime", 3, "margin", "融券负债",
       "Securities lending debt: shares owed at the reference price (marked value without shares on record)."),
    _f("maintenance_ratio", "float", MC, "realtime", 3, "margin", "维持担保比例",
       "Margin total assets ÷ liabilities (null without liabilities)."),
    _f("credit_limit", "float", MC, "daily", 3, "margin", "授信额度", "Credit limit of active contracts."),
    _f("credit_utilisation", "float", MC, "realtime", 2, "margin", "授信使用率",
       "Financing and lending debt ÷ credit limit."),
    _f("margin_warning_distance", "float", MC, "realtime", 2, "margin", "距警戒线",
       "Maintenance ratio less the warning line (negative below it)."),
    _f("margin_liquidation_distance", "float", MC, "realtime", 2, "margin", "距平仓线",
       "Maintenance ratio less the liquidation line."),
    _f("margin_below_warning", "bool", MC, "realtime", 2, "margin", "低于警戒线",
       "Maintenance ratio under the warning line."),
    _f("margin_interest_365d", "float", CM, "daily", 3, "margin", "近一年融资利息",
       "Margin interest paid, 365 days (positive 元)."),
    _f("margin_contract_days_left", "int", MC, "daily", 2, "margin", "合约剩余天数",
       "Days until the margin contract ends."),
    # risk assessment
    _f("risk_level", "str", RA, "realtime", 2, "risk", "风险等级", "Latest assessment, C1 to C5."),
    _f("risk_level_num", "int", RA, "realtime", 2, "risk", "风险等级数值", "Latest assessment as 1 to 5."),
    _f("risk_score", "int", RA, "realtime", 3, "risk", "测评得分", "Score of the latest assessment."),
    _f("risk_assessed_days_ago", "int", RA, "daily", 2, "risk", "测评距今天数",
       "Days since the latest assessment."),
    _f("risk_days_to_expiry", "int", RA, "daily", 2, "risk", "测评剩余有效天数",
       "Days until the latest assessment expires (negative once expired)."),
    _f("risk_assessment_expired", "bool", RA, "daily", 2, "risk", "测评已过期",
       "No assessment, or the latest one has expired."),
    _f("risk_assessment_count", "int", RA, "daily", 2, "risk", "测评次数", "Assessments on file."),
    # behaviour
    _f("login_count_30d", "int", BE, "realtime", 2, "behaviour", "近30天登录次数", "Logins, 30 days."),
    _f("login_count_90d", "int", BE, "daily", 2, "behaviour", "近90天登录次数", "Logins, 90 days."),
    _f("login_days_30d", "int", BE, "realtime", 2, "behaviour", "近30天登录天数", "Days with a login, 30 days."),
    _f("days_since_last_login", "int", BE, "realtime", 2, "behaviour", "距上次登录天数",
       "Days since the latest login (null without one)."),
    _f("devices_90d", "int", BE, "daily", 3, "behaviour", "近90天登录设备数", "Distinct devices, 90 days."),
    _f("login_cities_90d", "int", BE, "daily", 3, "behaviour", "近90天登录城市数",
       "Distinct login cities, 90 days."),
    _f("new_city_logins_30d", "int", BE, "realtime", 3, "behaviour", "近30天新城市登录次数",
       "Logins in the last 30 days from a city never seen before that window and not the home city."),
    _f("new_device_logins_30d", "int", BE, "realtime", 3, "behaviour", "近30天新设备数",
       "Devices first seen in the last 30 days, for customers who logged in before."),
    _f("page_views_30d", "int", BE, "daily", 2, "behaviour", "近30天浏览次数", "Page views, 30 days."),
    _f("page_views_90d", "int", BE, "daily", 2, "behaviour", "近90天浏览次数", "Page views, 90 days."),
    *(
        _f(f"page_views_{t}_90d", "int", BE, "daily", 2, "behaviour", f"近90天{_TOPIC_ZH[t]}页面浏览",
           f"Page views and content reads on topic '{t}' (page_topics in cdp.yaml), 90 days.")
        for t in PAGE_TOPICS
    ),
    _f("searches_90d", "int", BE, "daily", 2, "behaviour", "近90天搜索次数", "Searches, 90 days."),
    _f("content_reads_90d", "int", BE, "daily", 2, "behaviour", "近90天阅读次数", "Content reads, 90 days."),
    _f("avg_session_seconds_90d", "float", BE, "daily", 2, "behaviour", "平均停留秒数",
       "Mean duration of page views and reads, 90 days."),
    _f("web_share_90d", "float", BE, "daily", 2, "behaviour", "网页渠道占比",
       "Share of behaviour events from the web channel, 90 days."),
    *(
        _f(f"search_{g}_365d", "int", BE, "daily", 2, "behaviour", f"近一年关注{_INTEREST_ZH[g]}次数",
           f"Searches and reads matching the '{g}' keywords of cdp.yaml, 365 days.")
        for g in INTEREST_GROUPS
    ),
)

BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}
assert len(BY_NAME) == len(FEATURES), "duplicate feature name"

#: Value a feature takes when the sparse profile encoding omitted it (0 / false / null).
def default_of(feature: Feature) -> int | float | bool | None:
    return {"int": 0, "float": 0.0, "bool": False, "str": None}[feature.type]


NULLABLE = frozenset(
    {
        "youngest_child_age", "oldest_child_age", "last_life_event", "days_since_last_life_event",
        "years_since_marriage", "years_since_child_birth", "days_since_last_transfer",
        "days_since_last_trade", "win_rate_365d", "avg_holding_period_days", "maintenance_ratio",
        "credit_utilisation", "margin_warning_distance", "margin_liquidation_distance",
        "margin_contract_days_left", "risk_level", "risk_level_num", "risk_score",
        "risk_assessed_days_ago", "risk_days_to_expiry", "days_since_last_login",
        "unrealised_pnl_pct", "avg_session_seconds_90d", "cancel_rate_90d", "top1_weight", "hhi",
        "annual_income", "education", "age", "years_to_retirement",
    }
)


def markdown_table() -> str:
    """The registry as a Markdown table (the docs are generated from this)."""
    lines = [
        "| # | feature | 中文 | type | source | cadence | class | description |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, f in enumerate(FEATURES, 1):
        lines.append(
            f"| {i} | `{f.name}` | {f.label} | {f.type} | {f.source} | {f.cadence} | {f.data_class} "
            f"| {f.description} |"
        )
    return "\n".join(lines)
