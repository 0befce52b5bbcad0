"""The service-quality KPIs, defined once: names, Chinese labels, units and the windows they use.

Every page, report and test reads these definitions; docs/quality.md writes out each formula.
The figures themselves are computed in :mod:`brokercare.quality.kpis`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from brokercare.service import service as hub

#: A conversation closed by the AI alone is contained only if the customer does not come back
#: within this long (a new conversation of the same contact).
RECONTACT_WINDOW = timedelta(hours=24)
#: A conversation is a repeat contact when the same contact started another within this long before.
REPEAT_WINDOW = timedelta(days=7)
#: P90 and the median use linear interpolation between order statistics (PostgreSQL's
#: ``percentile_cont``, NumPy's default).
P90 = 0.9
COMPLAINT_INTENT = "complaint"
#: The outbox origin of holding and margin alerts (the monitoring domain's messages).
ALERT_ORIGIN = "monitoring"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str  # what staff read
    unit: str  # "", "%", "分钟", "小时", "分", "‰"


#: The team lead's review form: criterion, what the lead judges (each 1–5, the total on 100).
REVIEW_CRITERIA = {"greeting": "礼貌与规范用语", "understanding": "准确理解客户问题", "accuracy": "解答准确完整",
                   "compliance": "合规与风险提示", "efficiency": "解决效率"}

METRICS: dict[str, Metric] = {m.key: m for m in (
    Metric("conversations", "会话数", ""),
    Metric("handed_off", "转人工会话", ""),
    Metric("closed", "已结束会话", ""),
    Metric("ai_contained", "AI 独立解决会话", ""),
    Metric("ai_containment_rate", "AI 独立解决率", "%"),
    Metric("first_response_median_s", "人工首次响应（中位数）", "分钟"),
    Metric("first_response_p90_s", "人工首次响应（P90）", "分钟"),
    Metric("repeat_contacts", "7 天内重复来访", ""),
    Metric("repeat_contact_rate", "7 天重复来访率", "%"),
    Metric("tickets_resolved", "已解决工单", ""),
    Metric("resolution_median_h", "工单解决时长（中位数）", "小时"),
    Metric("resolution_p90_h", "工单解决时长（P90）", "小时"),
    Metric("tickets_reopened", "重开工单", ""),
    Metric("reopen_rate", "工单重开率", "%"),
    Metric("sla_clocks", "到期 SLA 时钟", ""),
    Metric("sla_breaches", "SLA 超时", ""),
    Metric("sla_near_breaches", "SLA 临界达标", ""),
    Metric("sla_breach_rate", "SLA 超时率", "%"),
    Metric("csat_sent", "满意度邀请", ""),
    Metric("csat_responses", "满意度评价", ""),
    Metric("csat_response_rate", "满意度回复率", "%"),
    Metric("csat_average", "客户满意度", "分"),
    Metric("csat_satisfied_rate", "满意（4–5 分）占比", "%"),
    Metric("complaints", "投诉数", ""),
    Metric("complaints_per_10k", "每万名客户投诉", ""),
    Metric("alerts_queued", "提醒发出", ""),
    Metric("alerts_delivered", "提醒送达", ""),
    Metric("alerts_failed", "提醒发送失败", ""),
    Metric("alerts_delivery_rate", "提醒送达率", "%"),
    Metric("leads_raised", "主动服务线索", ""),
    Metric("leads_contacted", "已联系线索", ""),
    Metric("leads_won", "成交线索", ""),
    Metric("lead_conversion_rate", "线索转化率（成交/已联系）", "%"),
    Metric("lead_win_rate", "线索成交率（成交/线索）", "%"),
)}

#: The slices every KPI is broken down by, where its data carries the dimension.
DIMENSIONS = {"channel": "渠道", "tier": "客户层级", "intent": "业务类型", "team": "团队",
              "agent": "坐席", "day": "日期"}

CHANNEL_LABELS = hub.CHANNEL_ZH  # the hub's own names of its channels
TIER_LABELS = {"vip": "VIP 客户", "potential": "潜力客户", "mass": "大众客户", "long_tail": "长尾客户"}
#: What a missing key of a slice means, per dimension.
MISSING_LABELS = {"channel": "未知渠道", "tier": "未识别客户", "intent": "未识别业务", "team": "未分组",
                  "agent": "未转人工", "day": "未知日期"}


def share(numerator: int | float | None, denominator: int | float | None) -> float | None:
    """A rate in 0..1, or None when nothing was counted."""
    return None if not denominator or numerator is None else numerator / denominator
