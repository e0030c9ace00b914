import csv
import re
from pathlib import Path

import pandas as pd

from refine.io.privacy import redact, spreadsheet_safe


def test_redacts_emails_phones_and_cards():
    text = (
        "mail jane.doe+x@mail.example.co.uk, call +1 415-555-0132 or (415) 555 0199, "
        "card 4111 1111 1111 1111 and 5500-0000-0000-0004"
    )
    out = redact(text)
    for secret in ("jane.doe", "555-0132", "555 0199", "4111", "5500"):
        assert secret not in out
    assert out.count("[EMAIL]") == 1 and out.count("[PHONE]") == 2 and out.count("[CARD]") == 2


def test_redacts_what_people_actually_type():
    """Separators, extensions, scripts and at signs seen in real comments (found by an adversarial pass)."""
    cards = [
        "4111\u20131111\u20131111\u20131111",
        "4111/1111/1111/1111",
        "5105_1051_0510_5100",
        "4111  1111  1111  1111",
        "4111.1111.1111.1111",
        "4111 - 1111 - 1111 - 1111",
        "4111\u22121111\u22121111\u22121111",
        "4111\u200b1111\u200b1111\u200b1111",
    ]
    phones = [
        "555-123-4567ext89",
        "555\u2013123\u20134567",
        "+33 1 23 45 67 89",
        "call me at555-444-1212",
        "555 0199 ext. 12",
        "+44 20 7946 0958",
        "555 - 123 - 4567",
        "555\uff0d123\uff0d4567",
        "555\u00b7123\u00b74567",
    ]
    emails = [
        "j\u00fcrgen@m\u00fcller.de",
        "john.doe\uff20mail.com",
        "john@mail\uff0ecom",
        "o'brien@x.com",
        "a" * 70 + "@example.com",
    ]
    for secret, token in [
        *((c, "[CARD]") for c in cards),
        *((p, "[PHONE]") for p in phones),
        *((e, "[EMAIL]") for e in emails),
    ]:
        out = redact(f"write to {secret} today")
        rest = out.replace(token, " ")
        assert token in out and not any(ch.isdigit() for ch in rest), (secret, out)
        assert not any(part in rest for part in re.findall(r"\w{3,}", secret) if part not in ("call", "ext")), (
            secret,
            out,
        )


def test_keeps_ordinary_numbers():
    for text in (
        "order arrived on 2026-11-02 after 2 weeks, size 10, paid $129.99 in 2025",
        "a customer from 2019 - 2024, sizes 8 - 10 - 12",
        "delivered 12.03.2024 at 10:30, 3 weeks late",
        "paid 1,299.99 for two",
        "rated it 4.5 out of 5",
    ):
        assert redact(text) == text


def test_spreadsheet_formulas_are_neutralised():
    frame = pd.DataFrame({"a": ["=HYPERLINK(1)", "+1", "-2", "@x", "ok"], "b": [1, 2, 3, 4, 5]})
    safe = spreadsheet_safe(frame)
    assert safe["a"].tolist() == ["'=HYPERLINK(1)", "'+1", "'-2", "'@x", "ok"]
    assert safe["b"].tolist() == [1, 2, 3, 4, 5]
    assert frame["a"][0] == "=HYPERLINK(1)"  # the original is untouched


def test_a_megabyte_of_near_misses_is_left_as_it_is():
    """Long runs that almost match (a quadratic pattern would take hours on these; they take well under a second)."""
    for text in ("a" * 1_000_000, "x@" * 300_000, "ab." * 300_000):
        assert redact(text) == text


REDACTION_SET = Path(__file__).parent / "data" / "redaction_set.csv"  # bench/make_redaction_set.py


def _labelled_rows() -> list[dict[str, str]]:
    with REDACTION_SET.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_personal_item_of_the_labelled_set_is_redacted_with_its_token():
    """Recall 1.0 on both parts: phonenumbers' examples for 20 plans, Luhn-valid cards, varied e-mails."""
    missed = []
    for row in _labelled_rows():
        if row["personal"] != "1":
            continue
        out = redact(row["text"])
        rest = out
        for token in ("[EMAIL]", "[CARD]", "[PHONE]"):
            rest = rest.replace(token, " ")
        local, _, domain = row["item"].partition("@")
        left = (
            any(re.search(rf"(?<!\w){re.escape(part)}(?!\w)", rest) for part in (local, domain))
            if row["category"] == "email"
            else any(ch.isdigit() for ch in rest)
        )
        if row["token"] not in out or left:
            missed.append((row["item"], out))
    assert not missed, missed[:10]


# the share of each look-alike category that redaction changes, as measured on the whole set (dev and
# test parts together, bench/redaction_bench.py --part all); the goal is 1% for each
LOOK_ALIKE_BOUNDS = {
    "price": 0.0, "date": 0.0, "version": 0.0, "range": 0.0, "quantity": 0.035,
    "order": 0.005, "tracking": 0.02, "invoice": 0.0,
}  # fmt: skip
# (order, tracking, invoice down from 0.084 / 0.172 / 0.206 when an identifier word within eight words names
# a bare number and a card needs its network's prefix and length; tracking 0.015 -> 0.019 when a Luhn-valid
# card-length number of any prefix became a card beside any word: four 15-digit FedEx numbers pass Luhn)


def test_look_alike_numbers_of_the_labelled_set_are_mostly_kept():
    changed: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for row in _labelled_rows():
        if row["personal"] == "1":
            continue
        counts[row["category"]] = counts.get(row["category"], 0) + 1
        if redact(row["text"]) != row["text"]:
            changed.setdefault(row["category"], []).append(row["item"])
    assert set(counts) == set(LOOK_ALIKE_BOUNDS)
    for category, bound in LOOK_ALIKE_BOUNDS.items():
        share = len(changed.get(category, [])) / counts[category]
        assert share <= bound, (category, share, changed.get(category, [])[:5])


def test_order_invoice_tracking_numbers_and_price_ranges_are_not_phones():
    """The cases of issue 29: each of these became [PHONE] or [CARD]."""
    for text in (
        "My order 6453038 never arrived",
        "Order #6453038 came broken",
        "order no. 40012345678, please refund",
        "Where is #112-3456789-1234567?",
        "I cancelled 112-3456789-1234567 yesterday",
        "Invoice INV-2026-0042 has the wrong VAT",
        "invoice number 2026-000123 is wrong",
        "Tracking 1Z999AA10123456784 has not moved",
        "Parcel 9400 1118 9922 3397 4875 72 is stuck",
        "tracking #794612345678 says delivered",
        "Royal Mail AB123456789GB was returned",
        "It was €20-€30 last week, now 10-15 USD more; I paid $1,299.99",
        "Delivery took 805-1033 days",
        "Since 2026-11-02 14:30:05 the app crashes on v2.13.0 and 10.0.19045.3803",
        "I have 12 000 000 points",
    ):
        assert redact(text) == text, (text, redact(text))


def test_look_alike_rules_never_let_a_phone_or_card_through():
    for text, token in (
        ("call me on 20120412", "[PHONE]"),
        ("order 4111 1111 1111 1111", "[CARD]"),
        ("My order 12345 4155550132", None),
        ("cards 4111 1111 1111 1111 5500 0000 0000 0004", "[CARD]"),
        ("TEL555-444-1212", "[PHONE]"),
        ("+49 800 1234567890", "[PHONE]"),
        ("0800-1234567890", "[PHONE]"),
        ("0 801 23 49 73", "[PHONE]"),
    ):
        out = redact(text)
        assert not re.search(r"\d{3}", out), (text, out)
        assert token is None or token in out, (text, out)
