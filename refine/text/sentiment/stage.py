"""The sentiment stage: each comment's language, its sentences' sentiment, and its sentiment from them.

One embedding for a long review washes out what each sentence says, and English-only embeddings
read a Spanish complaint as noise. So, per comment:

1. its language is detected offline (refine.text.language); "unknown" when it has no letters or the
   detector cannot name it (romanized Hindi, code-mixed text, a very short comment);
2. English comments are scored by the `[model] sentiment` scorer on the pipeline's embeddings, as
   before; comments in another language by the multilingual head on USE multilingual embeddings
   (refine.text.embed_multilingual), when one is available;
3. a comment of two or more sentences has each sentence scored the same way, and its document
   sentiment is aggregated from them and the whole-text score (SentenceAggregator, chosen by
   measurement, see its card); a comment of one sentence keeps its whole-text score, as before;
4. a comment with letters whose language cannot be named is read by the multilingual head (route
   "unknown language"; the English scorer when no multilingual head is configured), with that head's
   confidence: no comment is neutral only because its language is unknown. On the 115 held-out
   tweets (XLM-T test, TweetEval) the detector cannot name, macro-F1 rises from 0.21 (all neutral)
   to 0.63 (95% CI 0.53-0.71; the English head there: 0.52), bench/unknown_language_bench.py;
5. a comment with no letters (numbers, punctuation, a lone emoji: fewer than MIN_LETTERS) gets a
   neutral score with confidence 0 (route "no text"): a defined answer, never a crash or a dropped row.

The result is a SentimentResult: one row per comment and one per sentence, typed, with the
feedback.parquet columns produced from it in one place (`feedback_columns`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from refine.errors import RefineError
from refine.text.embed_multilingual import MultilingualEncoder
from refine.text.language import (
    DETECTOR_ID,
    MIN_LETTERS,
    UNKNOWN,
    LanguageGuess,
    detect_languages,
    language_mix,
    letters,
)
from refine.text.sentences import SentenceTable, split_texts
from refine.text.sentences import build_sentences as build_sentence_table
from refine.text.sentiment.scorers import COLUMNS, HEAD_FILE, LABELS, EmbeddingHeadScorer, band_labels

PROBS = ["p_negative", "p_neutral", "p_positive"]
CONFIDENCE = "sentiment_confidence"
LANGUAGE = "language"
ENGLISH = frozenset({"en"})
MIN_SENTENCE_CHARS = 12  # shorter fragments ("Thanks!") are not sentences of their own
# a comment shorter than this keeps its whole-text score (tweets, one-liners: "a short comment behaves as
# today"); the sentences of longer multi-sentence comments decide (one embedding washes a long review out)
MIN_AGGREGATE_WORDS = 25
AGGREGATOR_FILE = "sentence_aggregator.npz"
AGGREGATOR_CARD = "sentence_aggregator.json"
WHERE = "[model] sentiment"
NO_TEXT = "no text"  # route of a comment with no letters: neutral, confidence 0
UNNAMED = "unknown language"  # route of a comment with letters in a language the detector cannot name


def confidence_of(probs: np.ndarray) -> np.ndarray:
    """How sure a score is, in [0, 1]: 0 for uniform probabilities, 1 for a certain class."""
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, 3)
    return np.clip((probs.max(axis=1) - 1 / 3) * 1.5, 0.0, 1.0)


# ---- the result ------------------------------------------------------------------------------


@dataclass
class SentimentResult:
    """Sentiment of every comment and of each sentence of the multi-sentence ones.

    Attributes:
        documents: one row per comment, index 0..n-1 aligned with the feedback frame: sentiment_score
            in [-1, 1], sentiment_label, p_negative, p_neutral, p_positive (the aggregated document
            sentiment), sentiment_confidence in [0, 1], language (ISO 639-1 or "unknown"),
            language_confidence, sentences (how many sentences it was aggregated from; 1 = the
            whole text), route ("english", "multilingual", "review" (a long English comment the review
            model read), "unknown language" (letters, but no language named: read by the multilingual
            head) or "no text" (no letters: neutral)).
        sentences: one row per sentence of a multi-sentence comment: feedback_row, sentence_index,
            text, sentiment_score, sentiment_label, p_* (single-sentence comments have none).
        models: {"english": id, "multilingual": id or None, "aggregator": id, "language": detector id}.
    """

    documents: pd.DataFrame
    sentences: pd.DataFrame
    models: dict[str, str | None] = field(default_factory=dict)

    FEEDBACK_COLUMNS = [*COLUMNS, CONFIDENCE, LANGUAGE]

    def feedback_columns(self) -> pd.DataFrame:
        """The columns the feedback frame (and feedback.parquet) carries, index 0..n-1."""
        return self.documents[self.FEEDBACK_COLUMNS].reset_index(drop=True)

    def language_mix(self) -> dict[str, int]:
        """Comments per language, most common first."""
        return language_mix(self.documents[LANGUAGE].tolist())

    def by_language(self) -> list[dict]:
        """Per language: comments, share, mean sentiment and label shares (for the report)."""
        docs = self.documents
        total = max(len(docs), 1)
        out = []
        for code, n in self.language_mix().items():
            part = docs[docs[LANGUAGE] == code]
            out.append(
                {
                    "language": code,
                    "comments": int(n),
                    "share": round(n / total, 4),
                    "mean_sentiment": round(float(part["sentiment_score"].mean()), 4) if len(part) else None,
                    "negative_share": round(float((part["sentiment_label"] == "negative").mean()), 4),
                    "positive_share": round(float((part["sentiment_label"] == "positive").mean()), 4),
                }
            )
        return out

    def to_json(self) -> dict:
        """The summary written into run.json (per-comment values live in feedback.parquet)."""
        docs = self.documents
        return {
            "comments": int(len(docs)),
            "multi_sentence_comments": int((docs["sentences"] > 1).sum()) if len(docs) else 0,
            "sentences": int(len(self.sentences)),
            "routes": {k: int(v) for k, v in docs["route"].value_counts().sort_index().items()},
            "unknown_language_read": int((docs["route"] == UNNAMED).sum()) if len(docs) else 0,
            "languages": self.by_language(),
            "models": dict(self.models),
        }

    @classmethod
    def from_json(cls, payload: dict, feedback: pd.DataFrame | None = None) -> SentimentResult:
        """Rebuild from run.json's summary and, when given, feedback.parquet's columns.

        A run written before languages existed has no `language` column: its comments read as
        English ("en") with their stored scores; no sentence rows are stored on disk. An "unknown"
        comment with confidence 0 reads as route "no text" (what runs before "unknown language"
        existed did with every unknown comment), one with a confidence as "unknown language".
        """
        feedback = feedback if feedback is not None else pd.DataFrame(columns=COLUMNS)
        docs = feedback.reindex(columns=[c for c in feedback.columns if c in cls.FEEDBACK_COLUMNS]).copy()
        if LANGUAGE not in docs:
            docs[LANGUAGE] = "en"
        if CONFIDENCE not in docs:
            docs[CONFIDENCE] = confidence_of(docs[PROBS].to_numpy(dtype=float)) if set(PROBS) <= set(docs) else np.nan
        docs["language_confidence"] = np.nan
        docs["sentences"] = 1
        unknown = (docs[LANGUAGE] == UNKNOWN).to_numpy(dtype=bool)
        read = pd.to_numeric(docs[CONFIDENCE], errors="coerce").fillna(0).to_numpy() > 0
        docs["route"] = np.where(unknown, np.where(read, UNNAMED, NO_TEXT), "english")
        return cls(docs.reset_index(drop=True), _empty_sentences(), dict((payload or {}).get("models", {})))


def _empty_sentences() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feedback_row": pd.Series([], dtype=int),
            "sentence_index": pd.Series([], dtype=int),
            "text": pd.Series([], dtype=object),
            **{c: pd.Series([], dtype=float) for c in ["sentiment_score", *PROBS]},
            "sentiment_label": pd.Series([], dtype=object),
        }
    )


# ---- sentences (refine.text.sentences builds them; these helpers serve callers without a pipeline) ----


def sentence_rows(texts: Sequence[str], min_chars: int = MIN_SENTENCE_CHARS) -> pd.DataFrame:
    """One row per sentence (feedback_row, sentence_index, text); a comment of <= 1 sentence is its whole text."""
    return split_texts(["" if t is None else str(t) for t in texts], min_chars).drop(columns="whole")


def build_sentences(texts: Sequence[str], doc_embeddings: np.ndarray, embedder, *, min_words: int = 0):
    """The SentenceTable of the comments (refine.text.sentences.build_sentences).

    With `min_words`, comments shorter than that stay whole (their sentences are not embedded):
    all the aggregation reads, for callers that need no per-sentence aspects (the benches).
    """
    texts = ["" if t is None else str(t) for t in texts]
    if not min_words:
        return build_sentence_table(texts, doc_embeddings, embedder)
    long = _words(texts) >= min_words
    frame = split_texts([t if long[i] else "" for i, t in enumerate(texts)])
    frame["text"] = [texts[r] if w else t for r, t, w in zip(frame["feedback_row"], frame["text"], frame["whole"])]
    whole = frame["whole"].to_numpy()
    x = np.asarray(doc_embeddings, dtype=np.float32)
    vectors = x[frame["feedback_row"].to_numpy()]  # fancy indexing copies once; no second copy
    cut = np.flatnonzero(~whole)
    if len(cut):
        vectors[cut] = embedder.encode(frame["text"].to_numpy()[cut].tolist())
    return SentenceTable(frame=frame.drop(columns="whole"), embeddings=vectors, whole=whole)


# ---- the aggregator -------------------------------------------------------------------------

AGGREGATION_METHODS = ("document", "sentence_mean", "length_weighted", "blend", "learned")


@dataclass
class SentenceAggregator:
    """How a multi-sentence comment's sentiment comes from its sentences' (and its whole text's).

    Methods (all on the probability rows, so score = p_positive - p_negative stays consistent):
      document: the whole-text probabilities (what refine did before);
      sentence_mean: the plain mean over sentences;
      length_weighted: the mean over sentences weighted by their word counts;
      blend: doc_weight x whole text + (1 - doc_weight) x length_weighted;
      learned: a multinomial logistic regression over [whole-text probabilities, length-weighted
        sentence probabilities, lowest and highest sentence score] (weight (8, 3), bias (3,)).
    The label comes from `band` on the aggregated score (a separate neutral band: averaged scores
    spread less than single ones).
    """

    method: str = "length_weighted"
    band: tuple[float, float] = (-0.175, 0.375)
    doc_weight: float = 0.0
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    card: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.method not in AGGREGATION_METHODS:
            raise ValueError(f"unknown aggregation {self.method!r}; one of {AGGREGATION_METHODS}")
        self.band = (float(self.band[0]), float(self.band[1]))

    @property
    def model_id(self) -> str:
        digest = hashlib.sha256(
            json.dumps([self.method, self.band, self.doc_weight]).encode()
            + (b"" if self.weight is None else np.ascontiguousarray(self.weight, dtype=np.float64).tobytes())
            + (b"" if self.bias is None else np.ascontiguousarray(self.bias, dtype=np.float64).tobytes())
        ).hexdigest()[:12]
        return f"sentence-aggregator:{self.method}@{digest}"

    @staticmethod
    def features(doc_probs: np.ndarray, sentence_probs: np.ndarray, rows: np.ndarray, words: np.ndarray) -> dict:
        """Per comment: the whole text's probabilities and its sentences' summaries.

        Args:
            doc_probs: (n, 3) whole-text probabilities.
            sentence_probs: (m, 3) sentence probabilities.
            rows: (m,) comment position of each sentence (0..n-1).
            words: (m,) word count of each sentence (the length weight; at least 1).

        Returns:
            {"doc", "mean", "weighted": (n, 3); "low", "high": (n,) lowest / highest sentence score;
            "count": (n,) sentences per comment}.
        """
        n = len(doc_probs)
        rows = np.asarray(rows, dtype=int)
        w = np.maximum(np.asarray(words, dtype=np.float64), 1.0)
        count = np.bincount(rows, minlength=n).astype(float)
        mean = np.zeros((n, 3))
        weighted = np.zeros((n, 3))
        for j in range(3):
            mean[:, j] = np.bincount(rows, sentence_probs[:, j], minlength=n)
            weighted[:, j] = np.bincount(rows, sentence_probs[:, j] * w, minlength=n)
        mean /= np.maximum(count, 1)[:, None]
        weighted /= np.maximum(np.bincount(rows, w, minlength=n), 1e-12)[:, None]
        score = sentence_probs[:, 2] - sentence_probs[:, 0]
        low = np.full(n, np.inf)
        high = np.full(n, -np.inf)
        np.minimum.at(low, rows, score)
        np.maximum.at(high, rows, score)
        doc_score = doc_probs[:, 2] - doc_probs[:, 0]
        none = count == 0
        mean[none] = weighted[none] = doc_probs[none]
        low[none] = high[none] = doc_score[none]
        return {"doc": doc_probs, "mean": mean, "weighted": weighted, "low": low, "high": high, "count": count}

    @staticmethod
    def design(f: dict) -> np.ndarray:
        """The learned aggregator's inputs, (n, 8)."""
        return np.column_stack([f["doc"], f["weighted"], f["low"], f["high"]])

    def probabilities(self, f: dict) -> np.ndarray:
        """Aggregated (n, 3) probabilities from `features`."""
        if self.method == "document":
            return f["doc"]
        if self.method == "sentence_mean":
            return f["mean"]
        if self.method == "length_weighted":
            return f["weighted"]
        if self.method == "blend":
            return self.doc_weight * f["doc"] + (1 - self.doc_weight) * f["weighted"]
        logits = self.design(f) @ self.weight + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def aggregate(self, f: dict) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, labels) for every comment; comments of one sentence are left as they are (caller's job)."""
        probs = self.probabilities(f)
        return probs, band_labels(probs[:, 2] - probs[:, 0], self.band)

    # -- files: .npz of plain arrays (no pickle) + a JSON card --

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {
            "format": np.asarray(1),
            "method": np.asarray(self.method, dtype="U32"),
            "band": np.asarray(self.band, dtype=np.float64),
            "doc_weight": np.asarray(self.doc_weight, dtype=np.float64),
        }
        if self.weight is not None:
            arrays["weight"] = np.asarray(self.weight, dtype=np.float64)
            arrays["bias"] = np.asarray(self.bias, dtype=np.float64)
        path = directory / AGGREGATOR_FILE
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
        card = {**self.card, "method": self.method, "band": list(self.band), "doc_weight": self.doc_weight}
        card["model_id"] = self.model_id
        (directory / AGGREGATOR_CARD).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path_or_dir: str | Path) -> SentenceAggregator:
        path = Path(path_or_dir)
        if path.is_dir():
            path = path / AGGREGATOR_FILE
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            card_path = path.with_suffix(".json")
            card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
            return cls(
                method=str(arrays["method"]),
                band=tuple(arrays["band"].tolist()),
                doc_weight=float(arrays["doc_weight"]),
                weight=arrays.get("weight"),
                bias=arrays.get("bias"),
                card=card,
            )
        except Exception as exc:  # a damaged file is a config problem, said in one line
            raise RefineError(f"cannot read sentence aggregator {path} ({type(exc).__name__})", where=WHERE) from None


def models_dir() -> Path:
    """refine/models inside the installed package."""
    return Path(__file__).resolve().parents[2] / "models"


def default_aggregator() -> SentenceAggregator:
    """The packaged aggregator (refine/models/sentence_aggregator.*), or a length-weighted mean if missing."""
    path = models_dir() / AGGREGATOR_FILE
    if path.is_file():
        return SentenceAggregator.load(path)
    return SentenceAggregator("length_weighted")  # pragma: no cover - a broken install


def pooled_aggregator(how: str) -> SentenceAggregator:
    """The aggregator for `[model] comment_vectors` mean / length: the packaged one trained on such comment
    vectors (refine/models/pooled_<how>/) where it exists, else the default aggregator."""
    path = models_dir() / f"pooled_{how}" / AGGREGATOR_FILE
    return SentenceAggregator.load(path) if path.is_file() else default_aggregator()


def default_multilingual_head():
    """The packaged multilingual head (refine/models/multilingual/), or None if missing."""
    path = models_dir() / "multilingual" / HEAD_FILE
    if not path.is_file():  # pragma: no cover - a broken install
        return None
    return EmbeddingHeadScorer.load(path, name="multilingual")


# ---- the stage ------------------------------------------------------------------------------


def _words(texts: Sequence[str]) -> np.ndarray:
    return np.array([max(len(str(t).split()), 1) for t in texts], dtype=np.float64)


def _probs(frame: pd.DataFrame) -> np.ndarray:
    return frame[PROBS].to_numpy(dtype=np.float64)


def _sentences_of(texts: list[str], embeddings: np.ndarray | None, sentences, embedder):
    """The comments' sentences and their vectors: as given, embedded with `embedder`, or without vectors."""
    if sentences is not None:
        return sentences.frame.reset_index(drop=True), sentences.embeddings
    if embeddings is not None and embedder is not None:
        table = build_sentences(texts, embeddings, embedder)
        return table.frame, table.embeddings
    return sentence_rows(texts), None  # a scorer that reads text: sentences need no vectors


@dataclass
class _SplitSentences:
    """The sentences of multi-sentence comments, aligned: their frame, comment rows, texts, routes, probabilities."""

    frame: pd.DataFrame
    rows: np.ndarray
    texts: list[str]
    routes: np.ndarray
    probs: np.ndarray


class FeedbackSentiment:
    """The sentiment stage (see the module docstring).

    Args:
        scorer: the `[model] sentiment` scorer for English (reads the pipeline's embeddings).
        multilingual_head: an EmbeddingHeadScorer on USE multilingual embeddings, or None (every
            comment then goes to `scorer`, as before languages existed).
        multilingual_embedder: the USE embedder (anything with encode); built on first use if None.
        aggregator: the SentenceAggregator; the packaged one if None.
        english: languages `scorer` reads (default {"en"}).
        min_words: comments with fewer words keep their whole-text score (MIN_AGGREGATE_WORDS).
        language_cache: a refine.text.language.LanguageCache (the run's cache folder), so a text detected
            in an earlier run is not detected again; None detects each distinct text once per call.
        review_model: a scorer for whole long English comments (refine.text.sentiment.review.ReviewModel,
            possibly behind the sentiment cache), or None. When given, an English comment of
            `min_words`+ words and 2+ sentences whose sentence aggregate is unsure (confidence below
            the card's `route_below_confidence`) takes its score from it, mixed with the aggregate by
            the card's `mix` weight (1 = the review model alone) and labelled by the card's
            `pipeline_band`; its route is then "review".
    """

    def __init__(
        self,
        scorer,
        *,
        multilingual_head=None,
        multilingual_embedder=None,
        aggregator: SentenceAggregator | None = None,
        english: frozenset[str] = ENGLISH,
        min_words: int = MIN_AGGREGATE_WORDS,
        language_cache=None,
        review_model=None,
    ):
        self.scorer = scorer
        self.review_model = review_model
        self.language_cache = language_cache
        self.min_words = int(min_words)
        self.multilingual_head = multilingual_head
        self._multilingual_embedder = multilingual_embedder
        self.aggregator = aggregator if aggregator is not None else default_aggregator()
        self.english = frozenset(english)
        self.use: dict[str, dict[str, int]] = {}  # cache hits / computed of the English scorer, for run.json

    @property
    def multilingual_embedder(self):
        if self._multilingual_embedder is None:
            self._multilingual_embedder = MultilingualEncoder()
        return self._multilingual_embedder

    def routes(self, languages: Sequence[str], texts: Sequence[str] | None = None) -> np.ndarray:
        """Per text: "english", "multilingual" (another language, when a multilingual head exists),
        "unknown language" (letters, no language named) or "no text" (fewer than MIN_LETTERS letters;
        without `texts` every "unknown" is "no text")."""
        out = np.empty(len(languages), dtype=object)
        for i, code in enumerate(languages):
            if code == UNKNOWN:
                has_letters = texts is not None and letters("" if texts[i] is None else str(texts[i])) >= MIN_LETTERS
                out[i] = UNNAMED if has_letters else NO_TEXT
            elif code in self.english or self.multilingual_head is None:
                out[i] = "english"
            else:
                out[i] = "multilingual"
        return out

    def _english_route(self, routes: np.ndarray) -> np.ndarray:
        """Mask of the texts the English scorer reads: "english", and "unknown language" with no multilingual head."""
        return (routes == "english") | ((routes == UNNAMED) & (self.multilingual_head is None))

    def _multilingual_route(self, routes: np.ndarray) -> np.ndarray:
        """Mask of the texts the multilingual head reads: "multilingual" and "unknown language" (when a head exists)."""
        if self.multilingual_head is None:
            return np.zeros(len(routes), dtype=bool)
        return (routes == "multilingual") | (routes == UNNAMED)

    def _score_texts(
        self,
        texts: list[str],
        embeddings: np.ndarray | None,
        routes: np.ndarray,
        embed_english,
        part: str,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """(n, 3) probabilities of texts by route; "no text" texts get uniform probabilities. The texts'
        vectors are `embeddings[rows]` (rows None: `embeddings` is aligned with the texts), taken once."""
        probs = np.full((len(texts), 3), 1 / 3)
        eng = np.flatnonzero(self._english_route(routes))
        if len(eng):
            if embeddings is not None:
                x = embeddings[eng if rows is None else rows[eng]]
            else:
                x = embed_english([texts[i] for i in eng])
            probs[eng] = _probs(self.scorer.score([texts[i] for i in eng], x))
            if hasattr(self.scorer, "last_hits"):
                self.use[part] = {"hits": self.scorer.last_hits, "computed": self.scorer.last_computed}
        multi = np.flatnonzero(self._multilingual_route(routes))
        if len(multi):
            chunk = [texts[i] for i in multi]
            x = self.multilingual_embedder.encode(chunk)
            probs[multi] = _probs(self.multilingual_head.score(chunk, x))
        return probs

    def score(
        self,
        texts: Sequence[str],
        embeddings: np.ndarray | None,
        *,
        sentences=None,
        embedder=None,
        languages: Sequence[LanguageGuess] | None = None,
    ) -> SentimentResult:
        """Score every comment (see the module docstring).

        Args:
            texts: the comments.
            embeddings: their embeddings from the pipeline's embedder (what `scorer` reads), or None
                for a scorer that reads text (a transformers model).
            sentences: the comments' sentences with the pipeline embedder's vectors
                (refine.text.sentences.SentenceTable); built here with `embedder` when None.
            embedder: the pipeline's embedder, to embed sentences when `sentences` is None.
            languages: precomputed language guesses (detected here when None).

        Returns:
            The SentimentResult, documents aligned with `texts`.
        """
        texts = ["" if t is None else str(t) for t in texts]
        n = len(texts)
        guesses = list(languages) if languages is not None else detect_languages(texts, cache=self.language_cache)
        codes = [g.language for g in guesses]
        routes = self.routes(codes, texts)

        def embed_english(part):
            if embedder is None:
                raise RefineError("sentences need embedding but no embedder was given", where=WHERE)
            return embedder.encode(part)

        self.use = {}
        doc = self._score_texts(texts, embeddings, routes, embed_english, "documents")
        frame, sentence_vectors = _sentences_of(texts, embeddings, sentences, embedder)
        count, split = self._score_sentences(frame, sentence_vectors, routes, n, embed_english)
        final, many, labels, routes = self._final_scores(texts, codes, routes, doc, count, split)
        confidence = confidence_of(final) if n else np.zeros(0)
        documents = pd.DataFrame(
            {
                "sentiment_score": np.clip(final[:, 2] - final[:, 0], -1, 1) if n else np.zeros(0),
                "sentiment_label": pd.Series(labels, dtype=object),
                "p_negative": final[:, 0],
                "p_neutral": final[:, 1],
                "p_positive": final[:, 2],
                CONFIDENCE: np.round(confidence, 6),
                LANGUAGE: pd.Series(codes, dtype=object),
                "language_confidence": [g.confidence for g in guesses],
                "sentences": np.where(many, count, 1),
                "route": pd.Series(routes, dtype=object),
            },
            index=pd.RangeIndex(n),
        )
        return SentimentResult(documents, self._sentence_results(split), self._models())

    def _score_sentences(
        self, frame: pd.DataFrame, sentence_vectors: np.ndarray | None, routes: np.ndarray, n: int, embed_english
    ) -> tuple[np.ndarray, _SplitSentences]:
        """The sentence count of each comment, and the sentences of multi-sentence comments scored by route."""
        sent_rows = frame["feedback_row"].to_numpy(dtype=int)
        count = np.bincount(sent_rows, minlength=n) if len(frame) else np.zeros(n, dtype=int)
        in_multi = count[sent_rows] > 1 if len(frame) else np.zeros(0, dtype=bool)
        multi_frame = frame[in_multi].reset_index(drop=True)
        s_rows = multi_frame["feedback_row"].to_numpy(dtype=int)
        s_texts = multi_frame["text"].astype(str).tolist()
        s_routes = routes[s_rows] if len(s_rows) else np.empty(0, dtype=object)
        # the multi-sentence comments' rows of the sentence vectors, read in place (not a copy of them all)
        s_embeddings = None if sentence_vectors is None else np.asarray(sentence_vectors)
        s_probs = (
            self._score_texts(s_texts, s_embeddings, s_routes, embed_english, "sentences", np.flatnonzero(in_multi))
            if len(s_texts)
            else np.zeros((0, 3))
        )
        return count, _SplitSentences(multi_frame, s_rows, s_texts, s_routes, s_probs)

    def _final_scores(
        self,
        texts: list[str],
        codes: list[str],
        routes: np.ndarray,
        doc: np.ndarray,
        count: np.ndarray,
        split: _SplitSentences,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each comment's probabilities, whether its sentences decided them, its label and its route (final)."""
        n = len(texts)
        final = doc.copy()
        many = np.zeros(n, dtype=bool)  # comments whose score is aggregated from their sentences
        labels = np.empty(n, dtype=object)
        labels[:] = [LABELS[i] for i in doc.argmax(axis=1)] if n else []
        # short and single-sentence comments keep their scorer's label (its own band); "no text" ones are neutral
        if n:
            known = routes != NO_TEXT
            eng = np.flatnonzero(self._english_route(routes))
            if len(eng):
                labels[eng] = self._labels_of(self.scorer, doc[eng])
            multi = np.flatnonzero(self._multilingual_route(routes))
            if len(multi):
                labels[multi] = self._labels_of(self.multilingual_head, doc[multi])
            if len(split.rows):
                f = SentenceAggregator.features(doc, split.probs, split.rows, _words(split.texts))
                agg_probs, agg_labels = self.aggregator.aggregate(f)
                many = (count > 1) & known & (_words(texts) >= self.min_words)
                final[many] = agg_probs[many]
                labels[many] = agg_labels[many]
                if self.review_model is not None:
                    # the detected language, not the route: with no multilingual head every language is routed "english"
                    english = np.array([code in self.english for code in codes], dtype=bool)
                    read = self._review(texts, many & english, final, labels)
                    routes = np.where(read, "review", routes)
            labels[~known] = "neutral"
        return final, many, labels, routes

    def _sentence_results(self, split: _SplitSentences) -> pd.DataFrame:
        """One row per sentence of a multi-sentence comment, labelled by its route's head (empty when none)."""
        if not len(split.rows):
            return _empty_sentences()
        s_labels = np.empty(len(split.rows), dtype=object)
        s_labels[:] = "neutral"  # "no text" sentences
        for m, head in (
            (self._english_route(split.routes), self.scorer),
            (self._multilingual_route(split.routes), self.multilingual_head),
        ):
            if m.any():
                s_labels[m] = self._labels_of(head, split.probs[m])
        return pd.DataFrame(
            {
                "feedback_row": split.rows,
                "sentence_index": split.frame["sentence_index"].to_numpy(dtype=int),
                "text": split.texts,
                "sentiment_score": split.probs[:, 2] - split.probs[:, 0],
                "sentiment_label": s_labels,
                "p_negative": split.probs[:, 0],
                "p_neutral": split.probs[:, 1],
                "p_positive": split.probs[:, 2],
            }
        )

    def _models(self) -> dict[str, Any]:
        """The id of every model the stage used, for run.json."""
        return {
            "english": self.scorer.model_id,
            "multilingual": None if self.multilingual_head is None else self.multilingual_head.model_id,
            "multilingual_embedding": None
            if self.multilingual_head is None
            else self.multilingual_head.embedding_model,
            "aggregator": self.aggregator.model_id,
            "review": None if self.review_model is None else self.review_model.model_id,
            "language": DETECTOR_ID,
        }

    def _review(self, texts: list[str], long: np.ndarray, final: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Rescore long English comments (mask `long`) with the review model, in place; the mask of those it read.

        The review model costs a transformer pass per comment, so it reads only the comments whose
        sentence aggregate is unsure: confidence below the card's `route_below_confidence` (chosen
        by measurement: reading the confident ones changed nothing, training/train_review_model.py).
        """
        model = self.review_model
        inner = getattr(model, "scorer", model)  # the ReviewModel, also behind the sentiment cache
        read = long & (confidence_of(final) < inner.route_below_confidence)
        index = np.flatnonzero(read)
        if not len(index):
            return read
        mix, band = inner.mix, inner.pipeline_band
        probs = _probs(model.score([texts[i] for i in index], None))
        if hasattr(model, "last_hits"):
            self.use["review"] = {"hits": model.last_hits, "computed": model.last_computed}
        mixed = mix * probs + (1 - mix) * final[index]
        final[index] = mixed
        labels[index] = band_labels(mixed[:, 2] - mixed[:, 0], band)
        return read

    @staticmethod
    def _labels_of(head, probs: np.ndarray) -> np.ndarray:
        """Labels as `head` gives them: its neutral band if it has one, else the most probable class."""
        band = getattr(head, "band", None)
        if band is None and hasattr(head, "scorer"):  # a CachedScorer around a head
            band = getattr(head.scorer, "band", None)
        if band is not None:
            return band_labels(probs[:, 2] - probs[:, 0], band)
        return np.array([LABELS[i] for i in probs.argmax(axis=1)], dtype=object)


def load_multilingual_head(spec: str):
    """The head `[model] multilingual` names: "default" (packaged), a head folder / .npz, or "off" (None)."""
    spec = (spec or "").strip()
    if spec.lower() in ("off", "none", ""):
        return None
    if spec == "default":
        return default_multilingual_head()
    return EmbeddingHeadScorer.load(Path(spec).expanduser(), where="[model] multilingual")


# ---- one space for themes when a month mixes languages -----------------------------------------


@dataclass
class ThemeSpace:
    """The vectors themes cluster: the pipeline's embeddings, or one multilingual space for every comment.

    Attributes:
        embeddings: (n, d) vectors, aligned with the comments.
        model_id: the embedding model they come from.
        multilingual: True when the multilingual encoder made them.
        non_english_share: share of comments in a known language other than English.
        embedder: what embeds further texts (sentences) into the same space.
    """

    embeddings: np.ndarray
    model_id: str
    multilingual: bool
    non_english_share: float
    embedder: Any = None

    def to_json(self) -> dict:
        return {
            "model": self.model_id,
            "multilingual": self.multilingual,
            "non_english_share": round(self.non_english_share, 4),
        }


def theme_space(
    texts: Sequence[str],
    languages: Sequence[str],
    embeddings: np.ndarray,
    embedder,
    *,
    threshold: float,
    multilingual_embedder=None,
    english: frozenset[str] = ENGLISH,
) -> ThemeSpace:
    """Choose the space themes are clustered in.

    In an English-only space a Spanish and an English complaint about the same late parcel do not
    meet (bench/crosslingual_themes.py: 0 of 48 translated pairs clustered together with
    all-MiniLM-L6-v2, 48 of 48 with USE multilingual v3). So when at least `threshold` of the
    comments are in a known language other than English, every comment is embedded with the
    multilingual encoder for themes; below it, the pipeline's embeddings are kept (a mostly English
    month clusters exactly as before).

    Args:
        texts: the comments; languages: their detected languages.
        embeddings: the pipeline's embeddings; embedder: the pipeline's embedder (for sentences).
        threshold: share of non-English comments from which the multilingual space is used;
            1 or more never switches.
        multilingual_embedder: the USE embedder (a cached one in the pipeline); built if None.
        english: the languages the pipeline's embedder reads.

    Returns:
        The ThemeSpace.
    """
    codes = np.asarray(list(languages), dtype=object)
    other = np.array([c != UNKNOWN and c not in english for c in codes], dtype=bool)
    share = float(other.mean()) if len(codes) else 0.0
    model_id = getattr(embedder, "model_id", "embeddings")
    if len(codes) == 0 or threshold >= 1 or share < threshold or share == 0.0:
        return ThemeSpace(np.asarray(embeddings), model_id, False, share, embedder)
    if multilingual_embedder is None:
        multilingual_embedder = MultilingualEncoder()
    vectors = multilingual_embedder.encode(["" if t is None else str(t) for t in texts])
    return ThemeSpace(np.asarray(vectors), multilingual_embedder.model_id, True, share, multilingual_embedder)
