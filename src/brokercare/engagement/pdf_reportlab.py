"""The daily report drawn with ReportLab: the same sections, figures and charts as the HTML page.

ReportLab embeds a subset of the TrueType font (the glyphs the report uses), so the PDF reads the
same on a phone without Chinese fonts.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from brokercare.core.amounts import format_amount
from brokercare.core.pdf import FONT, base_styles, register_font

UP, DOWN, BAR = colors.HexColor("#d9363e"), colors.HexColor("#1a9c5b"), colors.HexColor("#3b6fd6")


@lru_cache
def _styles() -> dict[str, ParagraphStyle]:
    return {**base_styles(), "health": ParagraphStyle("health", parent=base_styles()["body"], fontSize=8.5,
                                                      leading=12, textColor=colors.HexColor("#8a5a00"))}


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain text (ReportLab reads its paragraphs as markup: 「A&B」 must not break it)."""
    return Paragraph(escape(text), style)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:+.2f}%"


def _bars(rows: list[tuple[str, float, str, colors.Color]], *, centred: bool) -> Drawing:
    """Horizontal bars: label, value, value label, colour (centred: gains right, losses left)."""
    row_h, width = 16, 170 * mm
    drawing = Drawing(width, row_h * len(rows) + 4)
    top = max(abs(v) for _, v, _, _ in rows) or 1.0
    x0, span = (95 * mm, 40 * mm) if centred else (40 * mm, 90 * mm)
    if centred:
        drawing.add(Line(x0, 0, x0, row_h * len(rows), strokeColor=colors.grey, strokeWidth=0.4))
    for i, (label, value, text, colour) in enumerate(rows):
        y = (len(rows) - 1 - i) * row_h + 3
        w = max(abs(value) / top * span, 1)
        x = x0 if value >= 0 or not centred else x0 - w
        drawing.add(String(2, y + 2, label, fontName=FONT, fontSize=8.5))
        drawing.add(Rect(x, y, w, 10, fillColor=colour, strokeColor=None))
        tx = x + w + 3 if value >= 0 or not centred else x - 3
        drawing.add(String(tx, y + 2, text, fontName=FONT, fontSize=8, fillColor=colour,
                           textAnchor="start" if value >= 0 or not centred else "end"))
    return drawing


def _holdings_table(doc: dict, st: dict) -> list:
    rows = [["名称", "收盘价", "涨跌", "市值", "较成本"]]
    health = []
    for h in doc["holdings"]:
        rows.append([f"{h['name']} {h['symbol']}", f"{h['close']:.2f}", _pct(h["day_change"]),
                     format_amount(h["market_value"], yuan_digits=2), _pct(h["drawdown"])])
        if h["health"]:
            health.append(_p(f"{h['name']}：{''.join(h['health'])}", st["health"]))
    table = Table(rows, colWidths=[60 * mm, 25 * mm, 25 * mm, 35 * mm, 25 * mm], repeatRows=1)
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), FONT, 9),
                               ("LINEBELOW", (0, 0), (-1, -1), 0.3, colors.lightgrey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eef1f6"))]))
    return [table, Spacer(1, 3), *health]


def _story(doc: dict) -> list:
    st = _styles()
    d = date.fromisoformat(doc["day"])
    nxt = date.fromisoformat(doc["next_day"])
    s = doc["summary"]
    out = [_p(f"{doc['name']}的收盘报告 · {d.year}年{d.month}月{d.day}日", st["title"]),
           _p(doc["headline"], st["body"]),
           _p(f"今日盈亏 {format_amount(s['day_pnl'], signed=True, yuan_digits=2)}，收益率 "
                     f"{_pct(s['day_return'])}；总资产 {format_amount(s['total_assets'], yuan_digits=2)}。",
                     st["body"])]
    if doc["drivers"]:
        out.append(_p("今日盈亏来源", st["h3"]))
        out.append(_bars([(c["name"], c["day_pnl"], format_amount(c["day_pnl"], signed=True),
                           UP if c["day_pnl"] >= 0 else DOWN) for c in doc["contributors"][:6]], centred=True))
        out.extend(_p(f"· {t}", st["body"]) for t in doc["drivers"])
    if doc["holdings"]:
        out.append(_p("持仓健康度", st["h3"]))
        out.append(_bars([(h["name"], h["weight"], f"{h['weight'] * 100:.1f}%",
                           UP if h["weight"] > 0.3 else BAR) for h in doc["holdings"][:8]], centred=False))
        out.extend(_holdings_table(doc, st))
    if doc["high_risk"]:
        out.append(_p("高风险持仓提示", st["h3"]))
        out.extend(_p(f"· {t}", st["body"]) for t in doc["high_risk"])
    if doc["margin"]:
        out += [_p("两融账户", st["h3"]), _p(doc["margin"]["sentence"], st["body"])]
    out.append(_p(f"明日提示（{nxt.year}年{nxt.month}月{nxt.day}日）", st["h3"]))
    notes = doc["notes"] or ["明日暂无需要您特别留意的新股申购或缴款事项。"]
    out.extend(_p(f"· {t}", st["body"]) for t in notes)
    out += [Spacer(1, 8), _p("本报告根据收盘价计算，仅供参考，不构成投资建议。市场有风险，投资需谨慎。", st["small"])]
    return out


def build_pdf(doc: dict, out: BinaryIO, font: Path) -> None:
    register_font(str(font))
    pdf = SimpleDocTemplate(out, pagesize=A4, leftMargin=14 * mm, rightMargin=14 * mm, topMargin=14 * mm,
                            bottomMargin=14 * mm, title=f"{doc['name']}的收盘报告 {doc['day']}",
                            author="BrokerCare")
    pdf.build(_story(doc))
