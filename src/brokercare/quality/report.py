"""The monthly service-quality report: the month's KPIs (the same definitions as the workbench
page), their daily trend, the slices by channel, tier and team, where SLAs were breached and what
customers complained about — as an HTML page with inline SVG charts, with the funnels' break points, and as a PDF drawn with
ReportLab in the shared CJK font (:mod:`brokercare.core.pdf`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC
from html import escape
from pathlib import Path

import polars as pl
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from sqlalchemy.orm import Session

from brokercare.core.journeys import JOURNEY_LABELS
from brokercare.core.pdf import FONT, base_styles, font_path, register_font
from brokercare.quality import kpis as compute
from brokercare.quality import scorecards, service
from brokercare.quality.definitions import METRICS
from brokercare.quality.journeys import Funnel
from brokercare.quality.service import KpiReport, display
from brokercare.quality.themes import Theme, themes
from brokercare.service import service as hub

HEADLINE = ("conversations", "ai_containment_rate", "first_response_median_s", "first_response_p90_s",
            "resolution_median_h", "resolution_p90_h", "sla_breaches", "sla_near_breaches",
            "repeat_contact_rate", "csat_average", "csat_response_rate", "complaints_per_10k",
            "alerts_delivery_rate")
COLUMNS = ("conversations", "ai_containment_rate", "first_response_median_s", "resolution_median_h",
           "sla_breaches", "csat_average", "complaints")
SLICES = (("channel", "按渠道"), ("tier", "按客户层级"), ("team", "按团队"))
BAR = "#3b6fd6"
WARN = "#d9363e"


POLICY_LABELS = {"emergency": "紧急（VIP/潜力客户）", "urgent": "加急", "general": "一般", "feedback": "意见反馈"}
CLOCK_LABELS = {"first_response": "首次响应", "resolution": "解决", "answer": "答复"}
SUGGESTION_LABELS = {"accepted": "已采纳", "shipped": "已上线"}


@dataclass(frozen=True)
class Extras:
    """What the report shows beyond the KPI slices."""

    funnels: list[Funnel] = field(default_factory=list)
    themes: list[Theme] = field(default_factory=list)
    breach_causes: list[list[str]] = field(default_factory=list)  # policy, clock, breaches
    suggestions: list[list[str]] = field(default_factory=list)  # text, outcome, release
    scorecards: list[list[str]] = field(default_factory=list)  # one row per agent
    lead_conversion: list[list[str]] = field(default_factory=list)  # one row per need


def gather(session: Session, kpis: KpiReport) -> Extras:
    """The month's funnels, complaint themes, SLA breaches by policy and clock, and the suggestions
    accepted or shipped (through the hub's reads, with the KPI definitions)."""
    conn = session.connection()
    clocks = compute.sla_rows(hub.sla_clock_facts(conn, kpis.start, kpis.end), kpis.as_of.astimezone(UTC))
    causes = (clocks.filter(pl.col("breached")).group_by("policy", "metric").agg(pl.len().alias("n"))
              .sort("n", "policy", "metric", descending=[True, False, False]))
    ideas = hub.suggestion_outcomes(conn, kpis.start, kpis.end)
    return Extras(
        scorecards=scorecard_rows(kpis, scorecards.review_scores(session, kpis.start, kpis.end)),
        lead_conversion=[[r["label"], *(display(k, r[k]) for k in LEAD_COLUMNS)]
                         for r in service.lead_conversion(session, kpis.start, kpis.end)["need"]],
        funnels=service.funnels(session, kpis.start, kpis.end),
        themes=themes(hub.complaint_texts(conn, kpis.start, kpis.end)["text"].to_list()),
        breach_causes=[[POLICY_LABELS.get(p, "其他"), CLOCK_LABELS.get(m, "其他"), f"{n:,}"]
                       for p, m, n in causes.iter_rows()],
        suggestions=[[text[:60], SUGGESTION_LABELS[status], release or "—"]
                     for text, status, release in ideas.select("text", "status", "shipped_in").iter_rows()])


LEAD_COLUMNS = ("leads_raised", "leads_contacted", "leads_won", "lead_conversion_rate", "lead_win_rate")
SCORECARD_COLUMNS = ("conversations", "first_response_median_s", "resolution_median_h", "reopen_rate",
                     "csat_average")


def scorecard_rows(kpis: KpiReport, reviews: dict[int, tuple[int, float]], top: int = 20) -> list[list[str]]:
    """The agents who handled the most conversations, with their scorecard figures and reviews."""
    agents = (kpis.slices["agent"]
              .filter(pl.col("key").is_not_null() & ((pl.col("conversations") > 0) | (pl.col("tickets_resolved") > 0)))
              .sort("conversations", "tickets_resolved", descending=True).head(top))
    rows = []
    for row in agents.iter_rows(named=True):
        n, score = reviews.get(int(row["key"]), (0, None))
        rows.append([row["label"], *(display(k, row[k]) for k in SCORECARD_COLUMNS),
                     "—" if score is None else f"{score:.0f}（{n} 次抽检）"])
    return rows


def month_title(report: KpiReport) -> str:
    return f"{report.start.year}年{report.start.month}月服务质量月报"


def ranked(report: KpiReport, dim: str, metric: str, top: int = 6) -> list[tuple[str, int]]:
    """The slice keys with the most of ``metric`` (none with zero), largest first."""
    frame = report.slices[dim].filter(report.slices[dim][metric] > 0).sort(metric, descending=True).head(top)
    return list(zip(frame["label"], frame[metric], strict=True))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def break_points(funnels: list[Funnel]) -> list[list[str]]:
    """Per journey with customers this month: how many began and finished, the step with the lowest
    conversion (where most drop out), and that step's conversion last month."""
    rows = []
    for f in funnels:
        if not f.started:
            continue
        worst = f.steps.filter(pl.col("step_no") > 1).sort("conversion", nulls_last=True).row(0, named=True)
        change = (None if worst["previous_conversion"] is None or worst["conversion"] is None
                  else (worst["conversion"] - worst["previous_conversion"]) * 100)
        rows.append([JOURNEY_LABELS[f.journey], f"{f.started:,}", _pct(f.completed / f.started), worst["label"],
                     _pct(worst["conversion"]), _pct(worst["previous_conversion"]),
                     "—" if change is None else f"{change:+.1f} 个百分点"])
    return rows


def document(report: KpiReport, extras: Extras | None = None) -> dict:
    """Everything the report shows, as plain data (both renderers draw from it)."""
    o, extras = report.overall, extras or Extras()
    return {
        "funnel_header": ["旅程", "本月发起", "完成率", "流失最多的环节", "该环节转化率", "上月转化率", "变化"],
        "funnels": break_points(extras.funnels),
        "tables": [(title, header, rows) for title, header, rows in (
            ("SLA 超时原因", ["时限类别", "时钟", "超时次数"], extras.breach_causes),
            ("投诉主题（按文本聚类）", ["主题", "投诉数", "典型投诉"],
             [[t.label, f"{t.complaints:,}", t.example] for t in extras.themes]),
            ("根据客户意见的改进", ["建议", "结果", "上线版本"], extras.suggestions),
            ("坐席计分卡", ["坐席", *(METRICS[k].label for k in SCORECARD_COLUMNS), "质检得分"],
             extras.scorecards),
            ("主动服务线索转化（按需求）", ["需求", *(METRICS[k].label for k in LEAD_COLUMNS)],
             extras.lead_conversion)) if rows],
        "title": month_title(report),
        "period": f"{report.days[0]} 至 {report.days[-1]}",
        "headline": [(METRICS[k].label, display(k, o[k])) for k in HEADLINE],
        "daily": list(zip(report.days, report.series("conversations"), strict=True)),
        "slices": [(title, [METRICS[k].label for k in COLUMNS],
                    [(row["label"], [display(k, row[k]) for k in COLUMNS])
                     for row in report.slices[dim].iter_rows(named=True)]) for dim, title in SLICES],
        "breaches": ranked(report, "intent", "sla_breaches"),
        "complaints": ranked(report, "intent", "complaints"),
        "summary": summary_text(report),
    }


def summary_text(report: KpiReport) -> str:
    o = report.overall
    return (f"本月共受理会话 {o['conversations']:,} 个，AI 独立解决率 {display('ai_containment_rate', o['ai_containment_rate'])}，"
            f"人工首次响应中位数 {display('first_response_median_s', o['first_response_median_s'])}；"
            f"SLA 超时 {o['sla_breaches']} 次、临界达标 {o['sla_near_breaches']} 次；"
            f"客户满意度 {display('csat_average', o['csat_average'])}（回复率 "
            f"{display('csat_response_rate', o['csat_response_rate'])}）；"
            f"每万名客户投诉 {display('complaints_per_10k', o['complaints_per_10k'])} 件。")


# --- HTML -----------------------------------------------------------------------------------------

def svg_bars(rows: list[tuple[str, float]], colour: str = BAR) -> Markup:
    """Horizontal bars with their labels and values (no JavaScript: the page prints and mails)."""
    if not rows:
        return Markup("")
    top = max(v for _, v in rows) or 1
    body = []
    for i, (label, value) in enumerate(rows):
        y, w = i * 22 + 4, max(value / top * 200, 1)
        body.append(f'<text x="4" y="{y + 11}">{escape(label)}</text>'
                    f'<rect x="120" y="{y}" width="{w:.1f}" height="14" fill="{colour}"/>'
                    f'<text x="{124 + w:.1f}" y="{y + 11}">{value:,}</text>')
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 380 {len(rows) * 22 + 6}" width="100%" '
                  f'font-size="11" role="img">{"".join(body)}</svg>')


def svg_columns(points: list[tuple[str, int | None]]) -> Markup:
    """The daily trend as columns, with the first, middle and last day named."""
    if not points:
        return Markup("")
    top = max((v or 0) for _, v in points) or 1
    step = 560 / len(points)
    body = []
    for i, (day, value) in enumerate(points):
        h = (value or 0) / top * 110
        body.append(f'<rect x="{i * step + 1:.1f}" y="{120 - h:.1f}" width="{max(step - 2, 1):.1f}" '
                    f'height="{h:.1f}" fill="{BAR}"><title>{day}：{value or 0}</title></rect>')
        if i in (0, len(points) // 2, len(points) - 1):
            body.append(f'<text x="{i * step:.1f}" y="134">{day[5:]}</text>')
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 580 140" width="100%" font-size="10" '
                  f'role="img" aria-label="每日会话量">{"".join(body)}</svg>')


def html(report: KpiReport, extras: Extras | None = None) -> str:
    doc = document(report, extras)
    env = Environment(loader=PackageLoader("brokercare.quality", "templates"), autoescape=select_autoescape(["html"]))
    charts = {"daily": svg_columns(doc["daily"]), "breaches": svg_bars(doc["breaches"], WARN),
              "complaints": svg_bars(doc["complaints"], WARN)}
    return env.get_template("monthly_report.html").render(d=doc, charts=charts)


# --- PDF ------------------------------------------------------------------------------------------

def _pdf_bars(rows: list[tuple[str, float]], colour):
    from reportlab.graphics.shapes import Drawing, Rect, String
    from reportlab.lib.units import mm

    drawing = Drawing(170 * mm, 16 * len(rows) + 4)
    top = max(v for _, v in rows) or 1
    for i, (label, value) in enumerate(rows):
        y, w = (len(rows) - 1 - i) * 16 + 3, max(value / top * 90 * mm, 1)
        drawing.add(String(2, y + 2, label, fontName=FONT, fontSize=8.5))
        drawing.add(Rect(40 * mm, y, w, 10, fillColor=colour, strokeColor=None))
        drawing.add(String(40 * mm + w + 3, y + 2, f"{value:,}", fontName=FONT, fontSize=8))
    return drawing


def _pdf_table(header: list[str], rows: list[list[str]]):
    from reportlab.lib import colors
    from reportlab.platypus import Table, TableStyle

    table = Table([header, *rows], repeatRows=1)
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), FONT, 7.5),
                               ("LINEBELOW", (0, 0), (-1, -1), 0.3, colors.lightgrey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f6"))]))
    return table


def _story(doc: dict) -> list:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Spacer

    st = base_styles()
    out = [Paragraph(escape(doc["title"]), st["title"]), Paragraph(escape(doc["period"]), st["small"]),
           Paragraph(escape(doc["summary"]), st["body"]), Paragraph("核心指标", st["h3"]),
           _pdf_table(["指标", "本月"], [[label, value] for label, value in doc["headline"]])]
    if any(v for _, v in doc["daily"]):
        out += [Paragraph("每日会话量", st["h3"]),
                _pdf_bars([(day[5:], v or 0) for day, v in doc["daily"] if v], colors.HexColor(BAR))]
    for title, header, rows in doc["slices"]:
        out += [Paragraph(title, st["h3"]), _pdf_table(["", *header], [[label, *values] for label, values in rows])]
    if doc["funnels"]:
        out += [Paragraph("客户旅程断点", st["h3"]), _pdf_table(doc["funnel_header"], doc["funnels"])]
    for title, header, rows in doc["tables"]:
        out += [Paragraph(title, st["h3"]), _pdf_table(header, rows)]
    for title, rows in (("SLA 超时集中的业务", doc["breaches"]), ("投诉业务类型", doc["complaints"])):
        if rows:
            out += [Paragraph(title, st["h3"]), _pdf_bars(rows, colors.HexColor(WARN))]
    out += [Spacer(1, 8), Paragraph("指标口径见 docs/quality.md；数据截至报告生成时。", st["small"])]
    return out


def pdf(report: KpiReport, extras: Extras | None = None) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    register_font(str(font_path()))
    doc = document(report, extras)
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm, topMargin=14 * mm,
                      bottomMargin=14 * mm, title=doc["title"], author="BrokerCare").build(_story(doc))
    return out.getvalue()


def write(report: KpiReport, out_dir: Path, extras: Extras | None = None) -> tuple[Path, Path]:
    """``quality-<YYYY-MM>.html`` and ``.pdf`` in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"quality-{report.start:%Y-%m}"
    html_path, pdf_path = out_dir / f"{stem}.html", out_dir / f"{stem}.pdf"
    html_path.write_text(html(report, extras), "utf-8")
    pdf_path.write_bytes(pdf(report, extras))
    return html_path, pdf_path
