import pandas as pd

from refine.privacy import redact, spreadsheet_safe


def test_redacts_emails_phones_and_cards():
    text = ("mail jane.doe+x@mail.example.co.uk, call +1 415-555-0132 or (415) 555 0199, "
            "card 4111 1111 1111 1111 and 5500-0000-0000-0004")
    out = redact(text)
    for secret in ("jane.doe", "555-0132", "555 0199", "4111", "5500"):
        assert secret not in out
    assert out.count("[EMAIL]") == 1 and out.count("[PHONE]") == 2 and out.count("[CARD]") == 2


def test_keeps_ordinary_numbers():
    text = "order arrived on 2026-11-02 after 2 weeks, size 10, paid $129.99 in 2025"
    assert redact(text) == text


def test_spreadsheet_formulas_are_neutralised():
    frame = pd.DataFrame({"a": ["=HYPERLINK(1)", "+1", "-2", "@x", "ok"], "b": [1, 2, 3, 4, 5]})
    safe = spreadsheet_safe(frame)
    assert safe["a"].tolist() == ["'=HYPERLINK(1)", "'+1", "'-2", "'@x", "ok"]
    assert safe["b"].tolist() == [1, 2, 3, 4, 5]
    assert frame["a"][0] == "=HYPERLINK(1)"  # the original is untouched
