"""Redaction of personal data in free text, and spreadsheet-safe CSV cells.

Emails, phone numbers and payment-card numbers are replaced before any text is cached, stored,
logged or shown. Redaction errs on the side of removing: a 13-19 digit run is treated as a card
whether or not it passes the Luhn check, because a mistyped card number is still a card number.
"""

from __future__ import annotations

import re

import pandas as pd

# any letters (jürgen@müller.de, o'brien@x.com), full-width or small at signs and dots; a match starts
# only where a run of address characters starts (the look-behind), which also keeps a megabyte of
# letters without an at sign linear
EMAIL = re.compile(
    r"(?<![\w.%+\-'])[\w.%+\-']{1,256}[@\uFF20\uFE6B][\w\-]{1,63}"
    r"(?:[.\uFF0E\u3002][\w\-]{1,63}){1,8}"
)
# a digit group separator as people type it: up to two spaces, or a hyphen, dash, minus sign, slash,
# underscore, dot or middle dot with a space either side or none (4111 - 1111, 555·123·4567)
_MARKS = r"\-\u2010-\u2015\u2212\uFF0D\uFE63_.\u00b7\u2022\u30fb"


def _separator(marks: str) -> str:
    return rf"(?:[ \t\u00a0]{{1,2}}|[ \u00a0]?[{marks}][ \u00a0]?)"


_SEP = _separator(_MARKS + "/")
# 13-19 digits, optionally grouped (4111 1111 1111 1111, 4111-1111-1111-1111, 4111–1111–1111–1111)
CARD = re.compile(rf"(?<!\d)(?:\d{_SEP}?){{12,18}}\d(?!\d)")
# +1 415-555-0132, (415) 555 0199, +33 1 23 45 67 89, 415.555.0132, 4155550132, 555-123-4567 ext. 89;
# needs 7+ digits (checked in _phone). Letters may touch it ("at555-444-1212"), digits may not. Groups
# have 2-4 digits (one digit only right after a country code) and no slashes, so body measurements in
# reviews ("32-24.5-32", "38-27-35/135") stay readable.
_PHONE_SEP = _separator(_MARKS)
PHONE = re.compile(
    rf"(?<!\d)(?:\+\d{{1,3}}{_PHONE_SEP}?(?:\d{_PHONE_SEP})?)?(?:\(\d{{1,4}}\){_PHONE_SEP}?)?"
    rf"\d{{2,4}}(?:{_PHONE_SEP}?\d{{2,4}}){{1,5}}"
    r"(?:\s*(?:ext\.?|x|#)\s*\d{1,6})?(?!\d)",
    re.IGNORECASE,
)
# characters nobody sees, which would split a number or an address for the patterns above
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")

REDACTION_TOKENS = ("[EMAIL]", "[CARD]", "[PHONE]")
# dates are not phone numbers: 2026-11-02, 02/11/2026, 2.11.26
_DATE = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}"
    r"|(?:19|20)\d\d ?[-\u2013\u2014] ?(?:19|20)\d\d"
)  # and year ranges: 2019 - 2024


def _phone(match: re.Match) -> str:
    digits = sum(ch.isdigit() for ch in match.group(0))
    text = match.group(0)
    # dates (2026-11-02), years and small counts are not phone numbers
    if digits < 7 or _DATE.fullmatch(text.strip()):
        return text
    return "[PHONE]"


def redact(text: str) -> str:
    """Replace emails, card numbers and phone numbers with placeholders."""
    if not text:
        return text
    text = _INVISIBLE.sub("", text)
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
                lambda v: "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v
            )
    return safe
