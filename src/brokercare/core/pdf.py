"""What every PDF report shares: the installed CJK font, registered once with ReportLab, and the
base paragraph styles (the engagement domain's daily reports, the quality domain's monthly one).

ReportLab embeds a subset of the TrueType font (the glyphs a report uses), so a PDF reads the same
on a phone without Chinese fonts. Nothing is fetched at run time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from brokercare.core.errors import ValidationFailed
from brokercare.core.settings import get_settings

#: The name reports draw their text with once :func:`register_font` has run.
FONT = "ReportCJK"
#: Where Debian's and other distributions' CJK fonts live (the first present is used).
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)


def font_path() -> Path:
    """The CJK font file: ``BROKERCARE_REPORT_FONT``, else the first installed candidate."""
    configured = get_settings().report_font
    if configured is not None:
        if not configured.is_file():
            raise ValidationFailed(f"BROKERCARE_REPORT_FONT={configured} is not a font file")
        return configured
    for candidate in map(Path, FONT_CANDIDATES):
        if candidate.is_file():
            return candidate
    raise ValidationFailed("no CJK font installed for PDF reports: install fonts-wqy-microhei "
                           "(`make browser-deps`) or set BROKERCARE_REPORT_FONT to a .ttf/.ttc file")


@lru_cache
def register_font(path: str) -> None:
    """Make :data:`FONT` the font at ``path`` for ReportLab (once per process and path)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    pdfmetrics.registerFont(TTFont(FONT, path, subfontIndex=0) if path.endswith(".ttc") else TTFont(FONT, path))


@lru_cache
def base_styles() -> dict:
    """Body, title, section heading and small print in :data:`FONT`, wrapping Chinese text."""
    from reportlab.lib import colors
    from reportlab.lib.styles import ParagraphStyle

    body = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=15, wordWrap="CJK")
    return {"body": body,
            "title": ParagraphStyle("title", parent=body, fontSize=15, leading=21, spaceAfter=4),
            "h3": ParagraphStyle("h3", parent=body, fontSize=11.5, leading=17, spaceBefore=8, spaceAfter=3,
                                 textColor=colors.HexColor("#3b6fd6")),
            "small": ParagraphStyle("small", parent=body, fontSize=8, leading=11, textColor=colors.grey)}
