"""Entity-like tokens: who or where a comment is about (handles, brands, places, people), not what happened.

Left in, they pull comments together by the company or city they name ("united / ua", "southwest /
companion") instead of by the complaint. They are masked before the sentences are embedded for
clustering: @handles, URLs and e-mail addresses always; a capitalised word when, across the month's
texts, it is capitalised in the middle of sentences at least `PROPER_RATIO` of the times it occurs
there, at least `PROPER_MIN` times ("United", "JetBlue", "Denver"), wherever it appears. Acronyms of
2-5 capitals (ATM, PIN, SMS) are kept: in feedback they are far more often things than companies.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

PROPER_RATIO = 0.9
PROPER_MIN = 3
_HANDLE = re.compile(r"(?<![\w@])@\w+")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.-]+\b")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’&-]*[A-Za-z]|[A-Za-z]")
_SPACE = re.compile(r"\s+")
# capitalised mid-sentence in ordinary writing, yet no one's name
_COMMON_CAPS = {
    "i", "i'm", "i've", "i'd", "i'll", "ok", "okay", "tv", "monday", "tuesday", "wednesday", "thursday",
    "friday", "saturday", "sunday", "january", "february", "march", "april", "may", "june", "july", "august",
    "september", "october", "november", "december", "english", "christmas", "xmas", "mr", "mrs", "ms", "dr",
}  # fmt: skip


def _is_acronym(word: str) -> bool:
    return 2 <= len(word) <= 5 and word.isupper()


def entity_words(texts: Sequence[str]) -> set[str]:
    """Lower-cased words that the texts write as proper names (see the module docstring)."""
    capital: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for text in texts:
        text = _HANDLE.sub(" ", _URL.sub(" ", _EMAIL.sub(" ", str(text or ""))))
        for m in _WORD.finditer(text):
            word = m.group(0)
            key = word.lower()
            if key in _COMMON_CAPS or _is_acronym(word):
                continue
            before = text[max(0, m.start() - 4) : m.start()].rstrip()
            if not before or before[-1] in '.!?:;"“(\n-':
                continue  # sentence-initial: capitalised anyway
            if word[0].isupper() or any(c.isupper() for c in word[1:]):
                capital[key] += 1
            else:
                lower[key] += 1
    return {
        w for w, c in capital.items() if c >= PROPER_MIN and c / (c + lower.get(w, 0)) >= PROPER_RATIO and len(w) > 1
    }


def mask_entities(text: str, entities: set[str]) -> str:
    """The text without handles, URLs, e-mail addresses and the given entity words."""
    text = _URL.sub(" ", str(text or ""))
    text = _EMAIL.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    if entities:
        text = _WORD.sub(lambda m: " " if m.group(0).lower() in entities else m.group(0), text)
    return _SPACE.sub(" ", text).strip(" ,")
