"""Redaction of personal data in free text, and spreadsheet-safe CSV cells.

Emails, phone numbers and payment-card numbers are replaced before any text is cached, stored,
logged or shown. A card is a 13-19 digit number with a card network's issuer prefix and the length that
network issues (_IIN), grouped as cards are printed; a mistyped one (failing the Luhn check) is still a card.
Numbers that only look like a phone or a card (order, invoice and tracking numbers, dates, versions,
quantities with a unit) are kept: see _KEEP_PARTS, docs/privacy.md and bench/redaction_bench.py. A bare
number is kept when a word just before names it (_REF_BEFORE) and it is not shaped like a phone
(_phone_shaped), or when an identifier word (_ID_WORD: order, invoice, tracking, ...) is within eight words
either side and it carries no phone's marks or grouping (_named); in both cases only while no phone cue is
near (_PHONE_CUE): "my order is late, call me on 07700900123" loses the number.
"""

from __future__ import annotations

import math
import re

import numpy as np
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
# the spaces people and word processors put inside numbers: plain, tab, no-break, the typographic ones
# (thin U+2009, narrow no-break U+202F as French typography writes "06 12 34 56 78", figure U+2007) and
# the ideographic one
_SPACES = r" \t\u00a0\u2000-\u200a\u202f\u205f\u3000"


def _separator(marks: str) -> str:
    # a line break too, once, with a space either side or none: a number wrapped over two lines
    return rf"(?:[{_SPACES}]{{1,2}}|[{_SPACES}]?(?:[{marks}]|\r?\n)[{_SPACES}]?)"


_SEP = _separator(_MARKS + "/")
# 13-19 digits, optionally grouped (4111 1111 1111 1111, 4111-1111-1111-1111, 4111–1111–1111–1111)
_CARD = rf"(?<!\d)(?:\d{_SEP}?){{12,18}}\d(?!\d)"
CARD = re.compile(_CARD)
# +1 415-555-0132, (415) 555 0199, +33 1 23 45 67 89, 415.555.0132, 4155550132, 555-123-4567 ext. 89;
# needs 7+ digits (checked in _phone). Letters may touch it ("at555-444-1212"), digits may not. Groups
# have 2-4 digits (one digit only right after a country code) and no slashes, so body measurements in
# reviews ("32-24.5-32", "38-27-35/135") stay readable.
_PHONE_SEP = _separator(_MARKS)
_EXT = r"(?:\s*(?i:ext\.?|x|\#)\s*\d{1,6})?"
_PHONE = (
    rf"(?<!\d)(?:\+\d{{1,3}}{_PHONE_SEP}?(?:\d{_PHONE_SEP})?)?(?:0[ \u00a0])?(?:\(\d{{1,4}}\){_PHONE_SEP}?)?"
    rf"\d{{2,4}}(?:{_PHONE_SEP}?\d{{2,4}}){{1,5}}{_EXT}(?!\d)"
)
PHONE = re.compile(_PHONE)
_EXT_TAIL = re.compile(r"\s*(?i:ext\.?|x|\#)\s*\d{1,6}$")


def _short(text: str) -> bool:
    """Whether a number has under 7 digits before its extension (555-1234 ext 12 has 7)."""
    return sum(map(str.isdigit, _EXT_TAIL.sub("", text))) < 7


# characters nobody sees, which would split a number or an address for the patterns above
_DIGIT = re.compile(r"\d")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")

REDACTION_TOKENS = ("[EMAIL]", "[CARD]", "[PHONE]")
# dates are not phone numbers: 2026-11-02, 02/11/2026, 2.11.26
_DATE = re.compile(
    r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}"
    r"|(?:19|20)\d\d ?[-\u2013\u2014] ?(?:19|20)\d\d"
)  # and year ranges: 2019 - 2024

# Numbers that look like a phone or a card but are not (issue 29.7, measured by bench/redaction_bench.py).
# They are matched at the same scan as the personal patterns and left as they are; a match that starts
# further left wins, so each of these must end where its number ends (never reach into a following one).
_END = r"(?![\w]|[-/.:,]?\d)"  # the number stops here: no digit, letter or separator-and-digit follows
# a reference: digits and capitals, grouped by - / or . (each group with a digit), or groups of four digits
# spaced as carriers print them (9400 1000 0000 0000 0000 00), or UPS's 1Z 999 AA1 01 2345 6784
_UPS = r"1Z(?: ?[0-9A-Z]){16}"
_REF = (
    rf"(?:{_UPS}|\d{{4}}(?: \d{{4}}){{2,4}}(?: \d{{1,4}})?"
    r"|[A-Z0-9]*\d[A-Z0-9]*(?:[-/.][A-Z0-9]*\d[A-Z0-9]*)*)" + _END
)
_REF_WORD = (  # in lower case: _REF_BEFORE reads a lower-cased window
    r"(?:order|orders|invoice|inv|tracking|track|trace|parcel|package|shipment|consignment|waybill|awb"
    r"|ref|reference|receipt|ticket|case|booking|confirmation|transaction|sku|serial|version|build|release"
    r"|firmware|ios|android|windows|size|sizes|qty|quantity|item|model|po)"
)
_UNIT = (
    r"(?i:(?:working|business|calendar|school)\s)?(?i:days?|hours?|hrs?|minutes?|mins?|seconds?|secs?|weeks?|months?|years?|yrs?|km|kms|miles?|kg|lbs?"
    r"|ml|points?|pts|steps|views|likes|followers|items?|pcs|pieces|people|users|customers|times|units"
    r"|euros?|dollars?|pounds?|usd|eur|gbp|calories|kcal|words|pages|messages|emails|orders)\b"
)
_QUANTITY = r"(?>\d{1,3}(?:[ ,.\u00a0]\d{3})++(?![ ,.\u00a0]?\d)|\d++)(?:[.,]\d++)?"
_KEEP_PARTS = [
    # 20-22 digits: a USPS label (9400 1000 0000 0000 0000 00), longer than any phone or card number
    # (they start with 9 or 0, which no card number does: two cards in a row stay cards)
    r"(?<!\d)[09](?:\d{19,21}|\d{3}(?: \d{4}){4}(?: \d{1,4})?)(?! ?\d)" + _END,
    rf"#\s?{_REF}",  # #4455667, # 112-3456789-1234567
    _UPS + _END,
    # codes led by capitals (INV-2026-0153, F2025/00123, JD014600006101234567, AB123456789GB, UP1A.235842.025),
    # unless the capitals say phone (TEL555-444-1212)
    r"(?<![\w])(?!(?i:tel|fax|mob|cell|ph|call|sms)[^A-Za-z])[A-Z][A-Z0-9]{0,5}[-/.]?\d[A-Z0-9]*"
    r"(?:[-/.][A-Z0-9]*\d[A-Z0-9]*)*" + _END,
    # dates and times: 2026-11-02 14:30:05, 2026-11-02T14:30:00Z, 2026/11/02, 02.11.2026 14:30, 11/2/26
    r"(?<![\d.])(?:19|20)\d\d[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
    r"(?:[T ](?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?:Z|[+-]\d\d:?\d\d)?)?" + _END,
    r"(?<![\d.])(?:[0-2]?\d|3[01])[./-](?:[0-2]?\d|3[01])[./-](?:(?:19|20)\d\d|\d\d)"
    r"(?:,? (?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d)?)?" + _END,
    # a compact date, 20261102 (unless a phone word comes just before it: checked in _keep)
    r"(?P<compact>(?<!\d)20[0-3]\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?!\d))",
    # versions: v2.13.0, 10.0.19045.3803, 126.0.6478.127 (a one-digit second part)
    r"(?<![\w.])(?:[vV]\d+(?:\.\d+)+|\d{1,3}\.\d\.\d+(?:\.\d+)*)(?:-[0-9A-Za-z.]+)?" + _END,
    # a quantity or a range with its unit: 12 000 steps, 805-1033 days, 4928 to 4939 points
    rf"(?<![\d.,]){_QUANTITY}(?:(?:\s?[-\u2013\u2014]\s?|\s+to\s+){_QUANTITY})?\s?{_UNIT}",
]
_KEEP = "|".join(_KEEP_PARTS)
# international numbers come before cards: after a + the digits are a phone (+49 800 1234567890)
_INTL = rf"\+\d{{1,3}}(?:{_PHONE_SEP}?\(0\))?(?:{_PHONE_SEP}?\(?\d{{1,10}}\)?){{1,6}}{_EXT}(?!\d)"
_SCAN = re.compile(rf"(?=[\d#+(A-Zv])(?:(?P<keep>{_KEEP})|(?P<intl>{_INTL})|(?P<card>{_CARD})|(?P<phone>{_PHONE}))")
# a word that names the number just before it: order 6453038, invoice number 46943268, tracking: 1234567890,
# or names it and a pronoun points back at it: "Where is my order? It's 6453038." Searched in the lower-cased
# 40 characters before the number (a case-insensitive alternation tried at every character is slower)
_REF_BEFORE = re.compile(
    rf"\b(?=[a-z]){_REF_WORD}(?:(?:\s+(?:no\.?|nr\.?|number|num|id|code|ref))?(?:\s+is)?\s*[:#]?\s*#?\s?"
    r"|[?.!,;:]?\s+(?:it'?s|it\s+is|that'?s|that\s+is|which\s+is)\s*:?\s*)$"
)
_SIZE_BEFORE = re.compile(r"(?i:\b(?:sizes?|qty|quantity)\W*)$")
# a phone word just before a compact date makes it a phone number (call me on 20120412); the word starts at
# a word boundary, so "cancelled" is no "cell"
_PHONE_WORD = re.compile(
    r"\b(?i:call|ring|phone|tel|mobile|cell|number|reach|text|whatsapp|fax|contact)\w*\W*(?:\w+\W+){0,2}$"
)
# a phone cue near a number (either side): then no label makes it a reference ("order 4155550132, call me")
# (searched in lower case, as _REF_BEFORE)
_PHONE_CUE = re.compile(
    r"\b(?:call|ring\b|rang\b|ringing|phone|tel\b|telephone|mobile|cell|text\s+me|txt|texting|sms"
    r"|whatsapp|wa\.me|viber|signal\s+me|reach\s+me|reach\s+us|contact|my\s+number|fax|dial|hmu"
    r"|landline|(?:personal|direct|my|private)\s+line|(?:my|his|her|our|their|\w+'s)\s+(?:no\b|number)"
    r"|mob\b|ph\b|tlf|tfno|telf|t\u00e9l|handy|telefon|rufnummer|anruf|ruf\s+mich|r\u00fcckruf|bel\s+me"
    r"|portable|appel|rappel|t\u00e9l\u00e9phone|m\u00f3vil|movil|celular|cel\b|tel\u00e9fono|llam|chiama"
    r"|zadzwo|numer\s+tel|reachable|texted|available\s+(?:on|at)|(?:\bi'm|\bim|\bi am)\s+(?:on|at)\s*[+(\d])"
    r"|mobil\b|joignable|whats\s*app|(?<![\w ])number\s*:"  # "Number: 0770...", a line's own label
)
# lower case for A-Z only: str.lower would turn "İ" into two characters, one of them no letter
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_NEAR = 60  # characters either side of a number that a phone cue is looked for in
# digits that fit a phone plan: a North American number (area code and exchange start with 2-9), a national
# number after a trunk 0 (9-11 digits), a Spanish or French mobile without it (6/7 and 8 more), or a common
# country code without its + (44 7700 900123, 33 6 12 34 56 78, 49 151 23456789, 34, 39, 31, 61, 91, 86)
_PHONE_DIGITS = re.compile(
    r"1?[2-9]\d\d[2-9]\d{6}|0[1-9]\d{7,10}|[67]\d{8}"
    r"|44[1-37]\d{8,9}|33[1-9]\d{8}|491[5-7]\d{8,9}|34[6-9]\d{8}|393\d{8,9}|316\d{8}|614\d{8}|91[6-9]\d{9}"
    r"|861\d{10}"
)
# the cues' stems, for a plain substring test first: most windows hold none, and then no pattern runs
_CUE_STEMS = (
    "call ring phone tel t\u00e9l mobile cell cel text txt sms whatsapp wa.me viber signal reach contact number"
    " no fax dial hmu line mob ph rang tlf tfno handy rufnummer anruf ruf mich r\u00fcckruf bel portable appel"
    " m\u00f3vil movil llam chiama zadzwo numer available i'm im joignable whats"
).split() + ["i am"]


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


# the card networks' issuer prefixes (IIN ranges) and the lengths each issues: a number is a card only with a
# prefix of its length (Visa, Mastercard 51-55 and 2221-2720, Amex, Discover, JCB, Diners, UnionPay, Maestro,
# and Mir, RuPay, Troy, UATP, which a privacy rule should not forget)
_ANY = tuple(range(12, 20))
_IIN = (
    ("4", "4", (13, 16, 19)),  # Visa
    ("51", "55", (16,)),  # Mastercard
    ("2221", "2720", (16,)),
    ("34", "34", (15,)),  # American Express
    ("37", "37", (15,)),
    ("6011", "6011", _ANY[4:]),  # Discover
    ("644", "649", _ANY[4:]),
    ("65", "65", _ANY[4:]),
    ("3528", "3589", _ANY[4:]),  # JCB
    ("300", "305", _ANY[2:]),  # Diners Club
    ("3095", "3095", _ANY[2:]),
    ("36", "36", _ANY[2:]),
    ("38", "39", _ANY[2:]),
    ("62", "62", _ANY[4:]),  # UnionPay (and Discover's 622126-622925)
    ("81", "82", _ANY[4:]),  # UnionPay, RuPay
    ("5018", "5018", _ANY),  # Maestro
    ("5020", "5020", _ANY),
    ("5038", "5038", _ANY),
    ("5893", "5893", _ANY),
    ("6304", "6304", _ANY),
    ("6759", "6759", _ANY),
    ("6761", "6763", _ANY),
    ("6767", "6767", _ANY),
    ("5019", "5019", (16,)),  # Dankort
    ("5061", "5061", _ANY[4:]),  # Verve
    ("6500", "6500", _ANY[4:]),
    ("60", "60", (16,)),  # RuPay
    ("508", "508", (16,)),
    ("2200", "2204", _ANY[4:]),  # Mir
    ("353", "353", (16,)),  # RuPay's JCB co-brands
    ("356", "356", (16,)),
    ("9792", "9792", (16,)),  # Troy
    ("1", "1", (15,)),  # UATP (airline cards)
)


def _issued(digits: str) -> bool:
    """Whether a card network issues numbers of this length with this prefix."""
    return any(lo <= digits[: len(lo)] <= hi and len(digits) in lengths for lo, hi, lengths in _IIN)


def _card_like(text: str, luhn: bool = True, issuer: bool = True) -> bool:
    """A number grouped as cards are printed, with an issuer prefix of its length (see _IIN; unless issuer is
    False) and Luhn-valid (unless luhn is False: a mistyped card)."""
    digits = "".join(re.findall(r"\d", text))
    if not 13 <= len(digits) <= 19 or re.search("[A-Za-z]", text):
        return False
    groups = [len(g) for g in re.findall(r"\d+", text)]
    grouped = len(groups) == 1 or groups[:3] in ([4, 6, 5], [4, 6, 4]) or all(g == 4 for g in groups[:-1])
    return grouped and (not issuer or _issued(digits)) and (not luhn or _luhn(digits))


def _any_card(text: str) -> bool:
    """A card of a network _IIN knows (mistyped or not), or a Luhn-valid card-grouped number of any prefix (a
    network the table lacks): never kept as a reference, whatever word names it."""
    return _card_like(text, luhn=False) or _card_like(text, issuer=False)


def _reference(text: str) -> bool:
    """Whether a number after a word like "order" reads as that reference: not a card, and spaced only as
    carriers print theirs (groups of four, the last of at most four), so "order 12345 4155550132" and
    "order 1234 4155550132" still lose the phone number."""
    groups = re.findall(r"\d+", text)
    spaced = bool(re.search(r"\d\s+\d", text))
    carrier = all(len(g) == 4 for g in groups[:-1]) and len(groups[-1]) <= 4
    return not _any_card(text) and (not spaced or carrier)


# words that name a number near them as an identifier (issue 29.7): a number with one of these within
# _ID_WORDS words, no phone cue near and no phone's marks or grouping is an order, invoice or tracking
# number, not a phone (lower case, whole words; "track", "item" and "case" are left out: "on track", "item 3 of
# 5", "just in case"; "case 1234" right before the number is a label, _REF_BEFORE)
_ID_WORD = re.compile(
    r"\b(?:orders?|invoices?|inv|tracking|parcels?|packages?|shipments?|consignments?|waybills?|awb|ref|reference"
    r"|tickets?|receipts?|confirmation|booking|transaction|po|sku)\b"
)
_ID_STEMS = (
    "order invoice inv tracking parcel package shipment consignment waybill awb ref ticket receipt"
    " confirmation booking transaction po sku"
).split()
# words either side of a number that an identifier word is looked for in, across a sentence end ("Can you
# resend 0624744004? The invoice PDF is blank."); a clause after the number names it too ("I cancelled
# 8413484 but was charged for the order anyway"). The phone cues are looked for at least as far.
_ID_WORDS = 8
_ID_SPAN = 12 * _ID_WORDS  # characters read for them


def _identifier_near(match: re.Match) -> bool:
    """Whether an identifier word (_ID_WORD) is within _ID_WORDS words either side of the number, on its line."""
    string, start, end = match.string, match.start(), match.end()
    before, cut = string[max(0, start - _ID_SPAN) : start], start > _ID_SPAN
    if "\n" in before:  # the number's own line only: "Order 1234.\n07700900123" names no second number
        before, cut = before.rsplit("\n", 1)[1], False
    words = before.split()[1 if cut else 0 :]  # none cut
    after = string[end : end + _ID_SPAN].split("\n", 1)[0].split()[:_ID_WORDS]
    window = _lower(" ".join(words[-_ID_WORDS:]) + " " + " ".join(after))
    return any(stem in window for stem in _ID_STEMS) and bool(_ID_WORD.search(window))


def _phone_grouped(text: str) -> bool:
    """Whether a number is grouped as phone numbers are written: a trunk 0 leading the first group (0121 234
    5678, 07700 900123), groups of 1-4 digits (415-555-0132), or a prefix and the rest (312 3456789, 98765
    43210). A year and a sequence (2026-051238), carriers' fours (8399 1957 3637), groups of five after a short
    first one (86-64938-68741) and more digits than a phone number has (15, E.164) are not."""
    groups = re.findall(r"\d+", text)
    digits = sum(len(g) for g in groups)
    if len(groups) < 2 or digits > 15 or re.search("[A-Za-z]", text):  # a code with letters: 1Z Y6P 1WX 01
        return False
    if len(groups) == 2 and re.fullmatch(r"(?:19|20)\d\d", groups[0]) and len(groups[1]) >= 4:
        return False
    if len(groups) >= 3 and digits >= 12 and all(len(g) == 4 for g in groups[:-1]) and len(groups[-1]) <= 4:
        return False
    if groups[0].startswith("0") or all(len(g) <= 4 for g in groups):
        return True
    return len(groups) == 2 and 2 <= len(groups[0]) <= 5 and 4 <= len(groups[1]) <= 8


def _named(match: re.Match, digits: int) -> bool:
    """Whether a number reads as an identifier: an identifier word near it (_identifier_near), none of a phone's
    marks (+, 00 and a country code, an area code in brackets), no phone grouping, no card, spaced only as
    carriers print, and no phone cue within _ID_SPAN characters either side (as far as the words read)."""
    text = match.group(0)
    return (
        _identifier_near(match)
        and not (text.startswith(("+", "(")) or (text.startswith("00") and digits >= 12))
        and _reference(text)
        and not _phone_grouped(text)
        and not _phone_cue(match, max(_NEAR, _ID_SPAN))
    )


def _phone_cue(match: re.Match, near: int = _NEAR) -> bool:
    # str.lower here (no positions are read back): "TÉLÉPHONE" is a cue too
    window = match.string[max(0, match.start() - near) : match.end() + near].lower()
    return any(stem in window for stem in _CUE_STEMS) and bool(_PHONE_CUE.search(window))


def _phone_shaped(text: str, size: bool = False) -> bool:
    """Whether a number reads as a phone number by its shape alone, whatever word comes before it: grouped
    as phones are (415-555-0132, 06 12 34 56 78), or its digits fit a national or international plan."""
    groups = re.findall(r"\d+", text)
    if re.search("[A-Za-z]", text):
        return False  # a code with letters: #WEB2339103168, #PL057714891GB
    if len(groups) > 1 and re.fullmatch(r"(?:19|20)\d\d", groups[0]):
        return False  # a year and a sequence: invoice 2026-051238
    if len(groups) == 2 and int(groups[0]) < int(groups[1]) and not groups[1].startswith("0") and size:
        return False  # a range after a size or a quantity: Sizes 805-1033
    if len(groups) > 1 and all(2 <= len(g) <= 4 for g in groups) and not all(len(g) == 4 for g in groups[:-1]):
        return True
    return bool(_PHONE_DIGITS.fullmatch("".join(groups)))


def _lower(text: str) -> str:
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)  # the first is 20 times faster


def _label_before(match: re.Match) -> bool:
    start = match.start()
    # one character more than the 40 searched, so that a word cut at the window's edge ("dis|order") is no label
    window = _lower(match.string[max(0, start - 41) : start])
    return bool(_REF_BEFORE.search(window, 1 if start > 40 else 0))


def _labelled(match: re.Match, digits: int) -> bool:
    """Whether a word just before names the number as a reference, and nothing near says phone."""
    text = match.group(0)
    return (
        _label_before(match)
        # a country code (+44, or 0044 in a long number) or an area code in brackets: a phone, whatever the label
        and not (text.startswith(("+", "(")) or (text.startswith("00") and digits >= 12))
        and _reference(text)
        and not _phone_shaped(
            text, size=bool(_SIZE_BEFORE.search(match.string, max(0, match.start() - 12), match.start()))
        )
        and not _phone_cue(match)
    )


def _hash_phone(match: re.Match) -> bool:
    """Whether a number after "#" is a phone: a phone cue near, grouped as phones are, or shaped like one with no
    identifier word near ("order #2795345680" is an order; a lone "#4155550132" is not named)."""
    body = match.group(0)[1:].strip()
    if _phone_grouped(body) or (_phone_shaped(body) and not _identifier_near(match)):
        return True
    return _phone_cue(match, max(_NEAR, _ID_SPAN))


def _replace(match: re.Match) -> str:
    text = match.group(0)
    digits = sum(map(str.isdigit, text))
    if match.group("keep") is not None:
        if match.group("compact") and _PHONE_WORD.search(match.string, 0, match.start()):
            return "[PHONE]"
        if text.startswith("#") and digits >= 7 and _hash_phone(match):
            return "[PHONE]"  # "call me on #4155550132", "#415-555-0132"
        return "[CARD]" if digits >= 13 and (_card_like(text) or _card_like(text, issuer=False)) else text
    # under 7 digits: neither a phone nor a card (13+), whatever is around it (dates, years, small counts); an
    # extension aside too when no phone cue is near (body measurements: "I'm 38-27-35 #135")
    if digits < 7 or (
        digits < 13 and ("#" in text or "x" in text or "X" in text) and _short(text) and not _phone_cue(match)
    ):
        return text
    if "\n" in text and _label_before(match):  # a phone wrapped over two lines, else each line on its own
        return "[PHONE]" if _phone_shaped(text) else _by_line(match)
    if _labelled(match, digits):
        return text
    if match.group("intl") is not None:
        return "[PHONE]"
    if match.group("card") is not None:
        if _card_like(text, luhn=False):  # a card, or a mistyped one, whatever the words around it
            return "[CARD]"
        if re.fullmatch(r"\d{3}-\d{7}-\d{7}", text) or _named(match, digits):  # 112-3456789-1234567
            return text
        # no card number starts with 0; a national phone number does
        return "[PHONE]" if text.startswith("0") else "[CARD]"
    if _named(match, digits):
        return text
    return text if _DATE.fullmatch(text.strip()) else "[PHONE]"  # dates (2026-11-02) are not phone numbers


_BREAK = re.compile(r"[ \u00a0]?\r?\n[ \u00a0]?")


def _by_line(match: re.Match) -> str:
    """A number after a label that runs on over a line break ("Order 1234\n4155550132"): the label names
    the part on its line only, and the part after the break is read on its own, with no label before it."""
    text = match.group(0)
    brk = _BREAK.search(text)
    if brk is None:  # the caller saw a line break, which this always finds
        return "[PHONE]"
    head, tail = text[: brk.start()], text[brk.end() :]
    end = match.start() + len(head)
    first = _SCAN.match(match.string[:end], match.start())
    kept = _replace(first) if first is not None and first.end() == end else redact(head)
    return kept + brk.group(0) + redact(tail)


def redact(text: str) -> str:
    """Replace emails, card numbers and phone numbers with placeholders."""
    if not text:
        return text
    text = _INVISIBLE.sub("", text)
    text = EMAIL.sub("[EMAIL]", text)
    if not _DIGIT.search(text):  # most comments: nothing left to look at
        return text
    return _SCAN.sub(_replace, text)


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


_HOLDS = {"[PHONE]": "phone numbers", "[CARD]": "card numbers", "[EMAIL]": "e-mail addresses"}
_SAMPLE = 500  # cells looked at per column, evenly spread: enough to tell "most" apart from "a few"


def personal_column(values: pd.Series) -> str | None:
    """What personal data most of a customer column holds ("phone numbers", "card numbers", "e-mail addresses"),
    or None: such a column is no attribute a rule may name (its value would reach proposals and the report).

    A number column counts its whole numbers of nine digits and more (4155550132, a phone held as int64; a
    national number loses its leading 0 there: 0612345678 -> 612345678), so amounts and counts never do; a text
    column counts every filled cell. Most means more than half of the filled cells, read redacted."""
    present = values.dropna()
    if pd.api.types.is_bool_dtype(values) or not len(present):
        return None
    if pd.api.types.is_numeric_dtype(values):
        numbers = pd.to_numeric(present, errors="coerce").dropna()
        numbers = numbers[np.isfinite(numbers.astype(float))]  # "inf" (a ratio over zero) is no digits
        whole = numbers[(numbers == numbers.round()) & (numbers.abs() >= 1e8)]
        cells = [str(int(v)) for v in whole.abs()]
        total = len(numbers)
    else:
        text = present.astype(str).str.strip()
        cells = text[text != ""].tolist()
        total = len(cells)
    if not cells or 2 * len(cells) <= total:
        return None
    step = max(1, len(cells) // _SAMPLE)
    sample = cells[::step]
    counts = {token: 0 for token in _HOLDS}
    for cell in sample:
        out = redact(cell)
        for token in _HOLDS:
            counts[token] += token in out
    token = max(counts, key=lambda t: counts[t])
    # the share of the column: cells not sampled are assumed like the sampled ones
    return _HOLDS[token] if 2 * counts[token] * len(cells) > len(sample) * total else None


def personal_value(value) -> bool:
    """Whether one cell as a rule or a record would print it is personal data: a text that redaction changes,
    or a whole number of nine digits and more that reads as a phone or card number (4155550132)."""
    if isinstance(value, str):
        return redact(value) != value
    if pd.api.types.is_bool(value) or not pd.api.types.is_number(value) or isinstance(value, complex):
        return False
    number = float(value)
    # infinite, not a number (nan), small or a fraction: no digits a phone or card could be
    if not math.isfinite(number) or abs(number) < 1e8 or number != round(number):
        return False
    digits = str(abs(int(value)))
    return redact(digits) != digits
