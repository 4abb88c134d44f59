"""CSV cells that are safe to open in a spreadsheet."""

from __future__ import annotations

#: What spreadsheets read as the start of a formula (OWASP's CSV injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    # Codes and ids come from workers: a leading quote keeps a spreadsheet from running
    # "=HYPERLINK(...)" typed into a HIT when the plan is opened.
    return "'" + text if text.startswith(FORMULA_STARTS) else text
