"""The report's two charts as inline SVG, drawn on the server (no JavaScript on the page or in the PDF).

Written by hand rather than with matplotlib (already a dependency): two bar charts are a few
rectangles and labels, and matplotlib's figure machinery costs tens of milliseconds a chart, which
the nightly PDFs (≥ 20 a second per core) cannot afford. Colours follow the A-share convention:
red for a gain, green for a loss.
"""

from __future__ import annotations

from html import escape

from brokercare.core.amounts import format_amount

UP, DOWN, BAR = "#d9363e", "#1a9c5b", "#3b6fd6"
WIDTH = 340


def _svg(height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" '
            f'role="img" aria-label="{escape(title)}" font-size="11" '
            f'font-family="WenQuanYi Micro Hei, Noto Sans CJK SC, sans-serif">{"".join(body)}</svg>')


def contributors_chart(contributors: list[dict]) -> str:
    """Horizontal bars of the day's P&L by holding, gains right of the axis, losses left."""
    rows = contributors[:6]
    if not rows:
        return ""
    top = max(abs(c["day_pnl"]) for c in rows) or 1.0
    mid, half, row_h = 200, 70, 22
    body = [f'<line x1="{mid}" y1="0" x2="{mid}" y2="{row_h * len(rows)}" stroke="#999" stroke-width="0.5"/>']
    for i, c in enumerate(rows):
        y = i * row_h + 4
        w = abs(c["day_pnl"]) / top * half
        x = mid if c["day_pnl"] >= 0 else mid - w
        colour = UP if c["day_pnl"] >= 0 else DOWN
        body.append(f'<text x="4" y="{y + 11}">{escape(c["name"])}</text>')
        body.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="14" fill="{colour}"/>')
        label = format_amount(c["day_pnl"], signed=True, yuan_digits=0)
        lx = mid + w + 3 if c["day_pnl"] >= 0 else mid - w - 3
        anchor = "start" if c["day_pnl"] >= 0 else "end"
        body.append(f'<text x="{lx:.1f}" y="{y + 11}" text-anchor="{anchor}" fill="{colour}">{escape(label)}</text>')
    return _svg(row_h * len(rows) + 4, body, "今日盈亏贡献")


def weights_chart(holdings: list[dict]) -> str:
    """Each holding's share of the portfolio's market value, largest first."""
    rows = [h for h in holdings if h["weight"]][:8]
    if not rows:
        return ""
    row_h, x0, span = 20, 110, 180
    body = []
    for i, h in enumerate(rows):
        y = i * row_h + 3
        w = h["weight"] * span
        colour = UP if h["weight"] > 0.3 else BAR
        body.append(f'<text x="4" y="{y + 11}">{escape(h["name"])}</text>')
        body.append(f'<rect x="{x0}" y="{y}" width="{span}" height="13" fill="#eef1f6"/>')
        body.append(f'<rect x="{x0}" y="{y}" width="{max(w, 1):.1f}" height="13" fill="{colour}"/>')
        body.append(f'<text x="{x0 + span + 4}" y="{y + 11}">{h["weight"] * 100:.1f}%</text>')
    return _svg(row_h * len(rows) + 4, body, "持仓占比")
