"""How a number or a text becomes what people read: one formatter per kind of value.

Every surface (the CLI table, the pages, the CSV, the workbook, the HTML and the PDF)
formats through these functions, so the same figure reads the same everywhere.
"""

from __future__ import annotations

# A spreadsheet reads a cell starting with one of these as a formula (tab and carriage
# return too: some programs strip them and then see the "=" behind).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(text: str) -> str:
    """Text for a CSV or workbook cell that no spreadsheet runs as a formula.

    As OWASP recommends for CSV injection, a text starting with ``= + - @``, tab or carriage
    return gets a leading single quote: ``=1+2`` is written ``'=1+2``. Only text is touched:
    numbers are written as numbers (a negative budget stays ``-12.5``), so this must never
    be applied to a number turned into a string.
    """
    return "'" + text if text.startswith(_FORMULA_STARTS) else text
