"""Language detection: real packaged detector, defined answers for bad input, no network."""

from __future__ import annotations

import socket

import pytest

from refine.text.language import UNKNOWN, detect_languages, detect_one, language_mix

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


def test_language_cache_reads_back_what_was_detected_and_stores_no_text(tmp_path, monkeypatch):
    from refine.text import language
    from refine.text.language import LanguageCache

    texts = [*SAMPLES.values(), "write to ana.perez@example.com", "!!!", list(SAMPLES.values())[0]]
    first = detect_languages(texts, cache=LanguageCache(tmp_path))
    assert first == detect_languages(texts)  # the cache changes nothing

    def no_detection(*args, **kwargs):
        raise AssertionError("a cached text was detected again")

    monkeypatch.setattr(language, "detect_one", no_detection)
    again = LanguageCache(tmp_path)
    assert detect_languages(texts, cache=again) == first
    assert again.hits == len(set(texts)) and again.computed == 0
    stored = b"".join(path.read_bytes() for path in tmp_path.rglob("*") if path.is_file())
    assert b"ana.perez" not in stored and b"example" not in stored and b"retraso" not in stored


def test_language_codes_round_trip_through_numbers():
    from refine.text.language import _code_number, _number_code

    for code in ("en", "es", "zh", "ceb", "pt", "a", "zzz"):
        assert _number_code(_code_number(code)) == code
    assert _number_code(_code_number(UNKNOWN)) == UNKNOWN
    assert _number_code(_code_number("x-1")) == UNKNOWN


def test_second_look_only_when_the_lower_cased_answer_is_unsure(monkeypatch):
    from refine.text import language

    asked: list[str] = []

    class Detector:
        def detect(self, text, model, k):
            asked.append(text)
            return [{"lang": "en", "score": 0.95 if text == text.lower() else 0.99}]

    monkeypatch.setattr(language, "_detector", lambda: Detector())
    assert detect_one("The Parcel Came Late") == language.LanguageGuess("en", 0.95)
    assert asked == ["the parcel came late"]
    monkeypatch.setattr(language, "SECOND_LOOK", 0.97)
    asked.clear()
    assert detect_one("The Parcel Came Late") == language.LanguageGuess("en", 0.99)
    assert asked == ["the parcel came late", "The Parcel Came Late"]
