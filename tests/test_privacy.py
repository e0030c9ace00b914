import re

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
