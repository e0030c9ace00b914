"""Redaction of personal data in free text, and spreadsheet-safe CSV cells.

Emails, phone numbers and payment-card numbers are replaced before any text is cached, stored,
logged or shown. Redaction errs on the side of removing: a 13-19 digit run is treated as a card
whether or not it passes the Luhn check, because a mistyped card number is still a card number.
"""

from __future__ import annotations

import re

import pandas as pd

EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
# 13-19 digits, optionally grouped by spaces or dashes (4111 1111 1111 1111, 4111-1111-1111-1111)
CARD = re.compile(r"(?<![\d])(?:\d[ \-]?){12,18}\d(?![\d])")
# +1 415-555-0132, (415) 555 0199, 0044 20 7946 0958, 415.555.0132, 4155550132; needs 7+ digits
PHONE = re.compile(
    r"(?<![\w])(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{1,4}\)[\s.\-]?)?\d{2,4}(?:[\s.\-]?\d{2,4}){1,3}(?![\w])")

REDACTION_TOKENS = ("[EMAIL]", "[CARD]", "[PHONE]")


def _phone(match: re.Match) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    text = match.group(0)
    # dates (2026-11-02), years and small counts are not phone numbers
    if digits < 7 or re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) or re.fullmatch(r"\d{1,2}[./]\d{1,2}[./]\d{2,4}", text):
        return text
    return "[PHONE]"


def redact(text: str) -> str:
    """Replace emails, card numbers and phone numbers with placeholders."""
    if not text:
        return text
    text = EMAIL.sub("[EMAIL]", text)
    text = CARD.sub("[CARD]", text)
    return PHONE.sub(_phone, text)


def redact_series(texts: pd.Series) -> pd.Series:
    return texts.map(redact)


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Neutralise cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR)."""
    safe = frame.copy()
    for column in safe.columns:
        if safe[column].dtype == object or pd.api.types.is_string_dtype(safe[column]):
            safe[column] = safe[column].map(
                lambda v: "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v)
    return safe
