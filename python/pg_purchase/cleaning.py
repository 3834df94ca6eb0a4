"""The cleaning rule for numbers that arrive as text, exactly as the database applies it.

README ("Cleaning rule") has the rule as a table; this module and the extension's
`clean_number` (Rust) implement that table, and the parity test checks them against each other.

    clean_number("($5,032.58)") == -5032.58     clean_number("36.29%") == 36.29
    clean_number("  ") is None                  clean_number("1,2,3")  -> ValueError
"""

from __future__ import annotations

import math
import re

# One optional sign (outside parentheses only), at most one "$" before the digits or one "%"
# after them, thousands separators only in groups of three before the decimal point, an exponent
# only on a plain number, no inner white space.
_MAGNITUDE = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d*)?|\d+(?:\.\d*)?|\.\d+)"
_PLAIN = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_DECORATED = re.compile(
    r"(?P<sign1>[+-]?)(?P<dollar>\$?)(?P<sign2>[+-]?)(?P<mag>" + _MAGNITUDE + r")(?P<pct>%?)", re.ASCII
)
_PARENS = re.compile(r"\$?(?P<mag>" + _MAGNITUDE + r")%?", re.ASCII)
# Blanks trimmed from both ends (and only these): space, tab, newline, CR, form feed, VT.
BLANKS = " \t\n\r\f\v"


def clean_number(value):
    """Text -> float, or None when blank. Raises ValueError naming the problem otherwise."""
    # None and NaN are how pandas spells a missing cell (the database's NULL).
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"invalid value {value!r}: not a finite number")
        return float(value)
    text = str(value).strip(BLANKS)
    if text == "":
        return None
    if _PLAIN.fullmatch(text):
        return _finite(text, float(text))
    if text.startswith("(") and text.endswith(")"):
        m = _PARENS.fullmatch(text[1:-1])
        if not m or (text[1] == "$" and text[-2] == "%"):
            raise ValueError(f"invalid value {value!r}: not a number")
        return _finite(text, -float(m.group("mag").replace(",", "")))
    m = _DECORATED.fullmatch(text)
    if not m or (m.group("sign1") and m.group("sign2")) or (m.group("dollar") and m.group("pct")):
        raise ValueError(f"invalid value {value!r}: not a number")
    if m.group("sign2") and not m.group("dollar"):
        raise ValueError(f"invalid value {value!r}: not a number")
    magnitude = float(m.group("mag").replace(",", ""))
    negative = "-" in (m.group("sign1") + m.group("sign2"))
    return _finite(text, -magnitude if negative else magnitude)


def _finite(text, v):
    if not math.isfinite(v):
        raise ValueError(f"invalid value {text!r}: out of range")
    return v


def is_missing_category(value) -> bool:
    """NULL, NaN and blank text (``''``, ``'  '``) are a missing category."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip(BLANKS) == ""


def category_text(value) -> str:
    """The text a category value is compared by: text as is; booleans as true/false; integers in
    decimal; a float by its shortest round-trip decimal without exponent (3.0 -> "3",
    0.1 -> "0.1"), which is what the database does with a JSON number or a float column."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        import numpy as np

        return np.format_float_positional(value, unique=True, trim="-")
    return str(value)
