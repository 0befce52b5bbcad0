"""The daily report as HTML (the customer's page) and as PDF with its CJK font embedded.

Two maintained PDF renderers were measured on the same reports (bench/bench_daily_report.py,
bench/RESULTS.md): ReportLab drawing the report directly, and WeasyPrint printing the HTML page.
ReportLab is the default (``BROKERCARE_REPORT_PDF_RENDERER=weasyprint`` picks the other), because
it was several times faster per PDF. Both embed a subset of the installed CJK font
(``fonts-wqy-microhei``, or ``BROKERCARE_REPORT_FONT``); nothing is fetched at run time.
"""

from __future__ import annotations

import io
from datetime import date
from functools import lru_cache

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from brokercare.core.amounts import format_amount
from brokercare.core.errors import ValidationFailed
from brokercare.core.pdf import font_path
from brokercare.core.settings import get_settings
from brokercare.engagement import charts

RENDERERS = ("reportlab", "weasyprint")

REPORT_CSS = """
.daily-report h2 { font-size: 1.2em; margin: .2em 0 .4em; }
.daily-report h3 { font-size: 1.05em; margin: 1em 0 .4em; border-left: 3px solid #3b6fd6; padding-left: .4em; }
.daily-report .headline { font-size: 1.02em; }
.daily-report table { width: 100%; border-collapse: collapse; font-size: .92em; }
.daily-report th, .daily-report td { padding: .3em .25em; text-align: left; border-bottom: 1px solid #eee; }
.daily-report .up { color: #d9363e; } .daily-report .down { color: #1a9c5b; }
.daily-report tr.health td { color: #8a5a00; font-size: .88em; }
.daily-report .warn { background: #fff4f0; padding: .2em .6em; border-radius: 6px; }
.daily-report svg { max-width: 100%; height: auto; }
.daily-report ul { padding-left: 1.2em; }
"""


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:+.2f}%"


@lru_cache
def _env() -> Environment:
    env = Environment(loader=PackageLoader("brokercare.engagement", "templates"),
                      autoescape=select_autoescape(["html"]))
    env.filters["amount"] = lambda v, signed=False: format_amount(v, signed=signed, yuan_digits=2)
    env.filters["pct"] = _pct
    return env


def _day_text(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d.year}年{d.month}月{d.day}日"


def html_fragment(doc: dict) -> Markup:
    """The report's body (the customer page embeds it in its own layout)."""
    svg = {"contributors": charts.contributors_chart(doc["contributors"]),
           "weights": charts.weights_chart(doc["holdings"])}
    return Markup(_env().get_template("daily_report.html").render(
        d=doc, charts=svg, day_text=_day_text(doc["day"]), next_text=_day_text(doc["next_day"])))


def html_page(doc: dict, *, embed_font: bool = False) -> str:
    """A standalone, mobile-friendly page (what the CLI writes and WeasyPrint prints)."""
    face = (f'@font-face {{ font-family: "ReportCJK"; src: url("{font_path().as_uri()}"); }}'
            if embed_font else "")
    return _env().get_template("daily_report_page.html").render(
        d=doc, body=html_fragment(doc), css=REPORT_CSS, font_face=face)


def pdf(doc: dict, renderer: str | None = None) -> bytes:
    """The report as a PDF, by ``renderer`` (default: the setting, else ReportLab)."""
    renderer = renderer or get_settings().report_pdf_renderer
    if renderer == "weasyprint":
        import weasyprint

        return weasyprint.HTML(string=html_page(doc, embed_font=True)).write_pdf()
    if renderer != "reportlab":
        raise ValidationFailed(f"unknown PDF renderer {renderer!r}: expected one of {', '.join(RENDERERS)}")
    from brokercare.engagement.pdf_reportlab import build_pdf

    out = io.BytesIO()
    build_pdf(doc, out, font_path())
    return out.getvalue()
