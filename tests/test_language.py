"""Language detection: real packaged detector, defined answers for bad input, no network."""

from __future__ import annotations

import socket

import pytest

from refine.language import UNKNOWN, detect_languages, detect_one, language_mix

# hand-written comments, one complaint or remark per language
SAMPLES = {
    "en": "My parcel arrived two weeks late and nobody answered my emails.",
    "es": "Mi pedido llegó con dos semanas de retraso y nadie respondió a mis correos.",
    "de": "Meine Bestellung kam zwei Wochen zu spät und niemand hat auf meine E-Mails geantwortet.",
    "fr": "Ma commande est arrivée avec deux semaines de retard et personne n'a répondu à mes mails.",
    "pt": "A minha encomenda chegou com duas semanas de atraso e ninguém respondeu aos meus e-mails.",
}


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test: the detector's model must ship in the wheel."""

    def refuse(*args, **kwargs):
        raise AssertionError("language detection tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_detects_five_languages_offline(no_network):
    guesses = detect_languages(list(SAMPLES.values()))
    assert [g.language for g in guesses] == list(SAMPLES)
    assert all(g.confidence > 0.5 for g in guesses)


@pytest.mark.parametrize(
    "text",
    ["", "   ", None, "12345 !!! ???", "😡", "👍👍👍", "3/10 -- 42%", "\u200b\u200b"],
    ids=["empty", "blank", "none", "digits-punct", "one-emoji", "emojis", "numbers", "zero-width"],
)
def test_no_letters_is_unknown_with_zero_confidence(text, no_network):
    guess = detect_one(text)
    assert guess.language == UNKNOWN
    assert guess.confidence == 0.0


def test_undetectable_text_is_unknown():
    # a low-confidence guess is not trusted: the threshold turns it into "unknown"
    guess = detect_one("qzx vbk", min_confidence=0.99)
    assert guess.language == UNKNOWN
    assert 0.0 <= guess.confidence < 0.99


def test_mixed_scripts_get_a_defined_answer():
    for text in ["Great product 很好 отлично", "ok ок", "Лучший service ever!!! 最高"]:
        guess = detect_one(text)
        assert isinstance(guess.language, str) and guess.language
        assert 0.0 <= guess.confidence <= 1.0


def test_each_distinct_text_detected_once_and_order_kept():
    texts = [SAMPLES["es"], SAMPLES["en"], SAMPLES["es"], "😡"]
    codes = [g.language for g in detect_languages(texts)]
    assert codes == ["es", "en", "es", UNKNOWN]
    assert language_mix(codes) == {"es": 2, "en": 1, UNKNOWN: 1}
