"""PDF through WeasyPrint, from the same HTML the browser shows.

The fiscal-year PDF always comes this way; the monthly one only when the PDF writer
(``pdf_writer``, much faster) lacks its fonts.

WeasyPrint lays text out with Pango and fontconfig, so Japanese renders with whatever CJK
font the machine has; the stylesheet asks for IPAexGothic (Debian: fonts-ipaexfont-gothic)
and DejaVu Sans for symbols. IPAex is TrueType, which WeasyPrint subsets fast; Noto Sans
CJK (fonts-noto-cjk) also renders but is CFF in a 20 MB collection, and subsetting it took
about 4-14 s per face and per PDF here. With no CJK font at all, Japanese would come out as
empty boxes, so ``check_cjk_font`` lets a caller fail loudly instead.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import lru_cache

CJK_FONT_FAMILIES = ("IPAexGothic", "IPAGothic", "Noto Sans CJK JP", "Noto Sans JP")
# Kana, CJK punctuation and ideographs: text that needs a Japanese font to print at all.
_JAPANESE_TEXT = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


class PdfUnavailableError(RuntimeError):
    """The PDF renderer or a Japanese font is missing; the message says what to install."""


def html_to_pdf(html: str) -> bytes:
    try:
        # WeasyPrint ships no type information.
        from weasyprint import HTML  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:  # OSError: Pango missing at import time
        raise PdfUnavailableError(
            "PDF reports need WeasyPrint and Pango: pip install weasyprint; "
            "apt-get install libpango-1.0-0 libpangoft2-1.0-0 fonts-ipaexfont-gothic"
        ) from exc
    if _JAPANESE_TEXT.search(html):
        # Refuse rather than hand an auditor a PDF whose Japanese is empty boxes.
        check_cjk_font()
    pdf = HTML(string=html).write_pdf()
    assert pdf is not None
    return bytes(pdf)


@lru_cache(maxsize=1)
def installed_cjk_font() -> str | None:
    """The first Japanese-capable family fontconfig knows, or None (fc-list missing too)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return None
    families = subprocess.run(
        [fc_list, ":lang=ja", "family"], capture_output=True, text=True, check=False
    ).stdout
    known = {name.strip() for line in families.splitlines() for name in line.split(",")}
    return next((family for family in CJK_FONT_FAMILIES if family in known), None)


def check_cjk_font() -> str:
    family = installed_cjk_font()
    if family is None:
        raise PdfUnavailableError(
            "no Japanese font found for PDF reports: apt-get install fonts-ipaexfont-gothic"
        )
    return family
