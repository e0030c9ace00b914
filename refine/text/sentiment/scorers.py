"""Sentiment: the SentimentScorer protocol, the embedding-head scorer (default) and a transformers scorer.

The default scorer is a small classifier head on the sentence embeddings the pipeline has already
computed, so sentiment costs no second transformer pass. Its weights are a plain `.npz` (no pickle)
with a JSON card beside it that says what it was trained on and how well it did on held-out data.

Every scorer returns, per text: `sentiment_score` = p_positive - p_negative in [-1, 1],
`sentiment_label` (negative / neutral / positive) and the three probabilities.

A head labels a text by where its score falls against the *neutral band* [low, high]: below low is
negative, above high is positive, in between neutral. The band is calibrated on held-out
predictions, which is what makes a factual complaint ("the zip broke after two washes") come out
negative rather than neutral, and it keeps labels and scores consistent: a negative text never has
a higher score than a neutral one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import sys
import zlib
from collections.abc import Callable, Iterable, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score

from refine.errors import RefineError
from refine.io.config import offline_env
from refine.memo import code_digest
from refine.text.embed import EmbeddingCache, text_key

LABELS = ("negative", "neutral", "positive")
COLUMNS = ["sentiment_score", "sentiment_label", "p_negative", "p_neutral", "p_positive"]
HEAD_FILE = "sentiment_head.npz"
CARD_FILE = "sentiment_head.json"
EMBEDDING_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WHERE = "[model] sentiment"
_LABEL_ALIASES = {
    "neg": "negative",
    "negative": "negative",
    "neu": "neutral",
    "neutral": "neutral",
    "pos": "positive",
    "positive": "positive",
}


class SentimentScorer(Protocol):
    """Anything that scores texts for sentiment.

    Attributes:
        model_id: names the model and version, for the run manifest.
    """

    model_id: str

    def score(self, texts: Sequence[str], embeddings: np.ndarray | None) -> pd.DataFrame:
        """Score texts.

        Args:
            texts: the feedback texts.
            embeddings: their L2-normalised sentence embeddings, one row per text, or None for
                scorers that read the text themselves.

        Returns:
            Index 0..n-1; columns sentiment_score, sentiment_label, p_negative, p_neutral, p_positive.
        """
        ...


def _frame(probs: np.ndarray, labels: Sequence[str] | np.ndarray) -> pd.DataFrame:
    """The scorer output frame from an (n, 3) array of [p_negative, p_neutral, p_positive]."""
    probs = np.asarray(probs, dtype=np.float64).reshape(-1, 3)
    score = np.clip(probs[:, 2] - probs[:, 0], -1.0, 1.0)
    return pd.DataFrame(
        {
            "sentiment_score": score,
            "sentiment_label": pd.Series(list(labels), dtype=object),
            "p_negative": probs[:, 0],
            "p_neutral": probs[:, 1],
            "p_positive": probs[:, 2],
        },
        index=pd.RangeIndex(len(probs)),
    )


def band_labels(score: np.ndarray, band: Sequence[float]) -> np.ndarray:
    """Labels from scores and the neutral band [low, high]: < low negative, > high positive, else neutral.

    Args:
        score: sentiment scores in [-1, 1].
        band: (low, high) with low <= high.

    Returns:
        An array of "negative" / "neutral" / "positive".
    """
    score = np.asarray(score, dtype=np.float64)
    low, high = float(band[0]), float(band[1])
    out = np.full(score.shape, "neutral", dtype=object)
    out[score < low] = "negative"
    out[score > high] = "positive"
    return out


# ---- the embedding head ----------------------------------------------------------------------

_TOKEN = re.compile(r"[\w']+|[!?\u2600-\u27bf\U0001F300-\U0001FAFF]")


def lexical_buckets(text: str, buckets: int) -> np.ndarray:
    """The hashed word features of a text: sorted distinct bucket ids of its words and word pairs.

    Lower-cased words (letters, digits, apostrophes), "!", "?" and emoji, as unigrams and bigrams,
    each hashed with crc32 (stable across runs and machines, unlike Python's hash) into `buckets`.

    Args:
        text: one text.
        buckets: number of hash buckets.

    Returns:
        int64 array of distinct bucket ids (empty for a text with no words).
    """
    tokens = _TOKEN.findall(str(text).lower())
    grams = set(tokens)
    grams.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:]))
    return np.unique(
        np.fromiter((zlib.crc32(g.encode("utf-8")) % buckets for g in grams), dtype=np.int64, count=len(grams))
    )


def lexical_matrix(texts: Sequence[str], buckets: int, scale: float):
    """Sparse (n, buckets) matrix of hashed word features, each row L2-normalised then times `scale`."""
    rows, cols, vals = [], [], []
    for i, text in enumerate(texts):
        ids = lexical_buckets(text, buckets)
        if len(ids):
            rows.append(np.full(len(ids), i))
            cols.append(ids)
            vals.append(np.full(len(ids), scale / np.sqrt(len(ids))))
    if not rows:
        return sparse.csr_matrix((len(texts), buckets))
    return sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(len(texts), buckets)
    )


class EmbeddingHeadScorer:
    """Multinomial logistic regression on sentence embeddings (plus, optionally, hashed word features), in numpy.

    logits = normalise(embedding) @ weight + bias [+ scale * mean-normalised sum of lexical_weight
    over the text's hashed words and word pairs]; probabilities by softmax; the label from the
    neutral band on p_positive - p_negative. It needs the embeddings the pipeline computed (it does
    not embed), from the model named in `embedding_model`. The word features read the texts, which
    is cheap; they catch sentiment words ("flawless", "refund") that the embedding blurs.

    Attributes:
        weight: (dimension, k) float64; bias: (k,) float64.
        lexical_weight: (buckets, k) float32, or None for an embeddings-only head.
        lexical_scale: weight of the word features relative to the embedding.
        classes: the class of each of the k outputs, a subset of negative / neutral / positive in that order.
        band: the neutral band (low, high) on the score.
        card: the data card (training data, held-out scores, ...), saved as JSON beside the weights.
        model_id: "sentiment-head:<name>@<12 hex of the weights' hash>".
    """

    def __init__(
        self,
        weight: np.ndarray,
        bias: np.ndarray,
        classes: Sequence[str],
        band: Sequence[float] = (-0.2, 0.2),
        card: dict | None = None,
        name: str = "custom",
        lexical_weight: np.ndarray | None = None,
        lexical_scale: float = 0.0,
    ):
        self.weight = np.asarray(weight, dtype=np.float64)
        self.bias = np.asarray(bias, dtype=np.float64).reshape(-1)
        self.classes = [str(c) for c in classes]
        # float32 halves the file; kept float32 in memory too so a saved head scores exactly as it did
        self.lexical_weight = None if lexical_weight is None else np.asarray(lexical_weight, dtype=np.float32)
        self.lexical_scale = float(lexical_scale)
        k = len(self.classes)
        if (
            self.weight.ndim != 2
            or self.weight.shape[1] != k
            or self.bias.shape != (k,)
            or (self.lexical_weight is not None and self.lexical_weight.shape[1:] != (k,))
        ):
            raise ValueError(f"weights of shape {self.weight.shape} do not fit {k} classes")
        if not set(self.classes) <= set(LABELS) or len(set(self.classes)) != k or k < 2:
            raise ValueError(f"classes {self.classes} are not two or three of {LABELS}")
        self.band = (float(band[0]), float(band[1]))
        self.card = dict(card or {})
        self.name = name
        self.embedding_model = self.card.get("embedding_model", EMBEDDING_MODEL)
        digest = hashlib.sha256()
        for array in (
            self.weight,
            self.bias,
            np.asarray(self.band),
            np.asarray(self.lexical_scale),
            self.lexical_weight if self.lexical_weight is not None else np.zeros(0),
        ):
            digest.update(np.ascontiguousarray(array).tobytes())
        self.model_id = f"sentiment-head:{name}@{digest.hexdigest()[:12]}"

    @property
    def dimension(self) -> int:
        """Length of the embeddings this head reads."""
        return int(self.weight.shape[0])

    def predict_proba(self, embeddings: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities as an (n, 3) array in the order negative, neutral, positive.

        Args:
            embeddings: (n, dimension) sentence embeddings; re-normalised here, since the head was
                trained on unit vectors.
            texts: the texts, needed when the head has word features.

        Returns:
            float64 array; a class the head was not trained on gets probability 0.
        """
        x = np.asarray(embeddings, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"embeddings must be a 2-d array, got shape {x.shape}")
        if x.shape[1] != self.dimension:
            raise RefineError(
                f"the sentiment head reads {self.dimension}-d embeddings from {self.embedding_model}, "
                f"got {x.shape[1]}-d ones: use that embedding model or retrain the head "
                f"(refine sentiment train --model ...)",
                where=WHERE,
            )
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        logits = (x / np.where(norms > 0, norms, 1.0)) @ self.weight + self.bias
        if self.lexical_weight is not None:
            if texts is None or len(texts) != len(x):
                raise ValueError("this head has word features: pass the texts with the embeddings")
            buckets = len(self.lexical_weight)
            for i, text in enumerate(texts):
                ids = lexical_buckets(text, buckets)
                if len(ids):
                    logits[i] += self.lexical_weight[ids].astype(np.float64).sum(axis=0) * (
                        self.lexical_scale / np.sqrt(len(ids))
                    )
        logits -= logits.max(axis=1, keepdims=True)  # stable softmax
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        out = np.zeros((len(p), 3))
        for j, cls in enumerate(self.classes):
            out[:, LABELS.index(cls)] = p[:, j]
        return out

    def score(self, texts: Sequence[str], embeddings: np.ndarray | None) -> pd.DataFrame:
        """Score texts from their embeddings (see SentimentScorer.score).

        Args:
            texts: the texts (read for the word features, if any).
            embeddings: their embeddings from `embedding_model`, one row per text.

        Returns:
            The sentiment frame, index 0..n-1.
        """
        if embeddings is None:
            raise RefineError(
                "the sentiment head scores sentence embeddings; none were given (compute them with refine.text.embed first)",
                where=WHERE,
            )
        if len(texts) != len(embeddings):
            raise ValueError(f"{len(texts)} texts but {len(embeddings)} embeddings")
        if len(texts) == 0:
            return _frame(np.zeros((0, 3)), [])
        texts = ["" if t is None else str(t) for t in texts]
        probs = self.predict_proba(embeddings, texts)
        return _frame(probs, band_labels(probs[:, 2] - probs[:, 0], self.band))

    # -- files --

    def save(self, directory: str | Path) -> Path:
        """Write sentiment_head.npz (plain arrays, no pickle) and sentiment_head.json (the card) into a folder.

        Args:
            directory: created if missing; existing head files in it are replaced.

        Returns:
            The path of the .npz file.
        """
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "format": np.asarray(1),
            "classes": np.asarray(self.classes, dtype="U16"),
            "band": np.asarray(self.band, dtype=np.float64),
            "weight": self.weight,
            "bias": self.bias,
            "lexical_scale": np.asarray(self.lexical_scale),
        }
        if self.lexical_weight is not None:
            arrays["lexical_weight"] = self.lexical_weight
        path = directory / HEAD_FILE
        tmp = directory / (HEAD_FILE + ".tmp.npz")
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)
        card = {
            **self.card,
            "name": self.name,
            "model_id": self.model_id,
            "classes": self.classes,
            "neutral_band": {
                "low": self.band[0],
                "high": self.band[1],
                "rule": "score < low: negative; score > high: positive; else neutral",
            },
            "embedding_model": self.embedding_model,
            "weights_file": HEAD_FILE,
            "word_features": None
            if self.lexical_weight is None
            else {
                "buckets": int(len(self.lexical_weight)),
                "scale": self.lexical_scale,
                "what": "crc32-hashed lower-cased words and word pairs, L2-normalised",
            },
        }
        (directory / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path_or_dir: str | Path, *, name: str | None = None, where: str = WHERE) -> EmbeddingHeadScorer:
        """Read a head saved by `save`: a folder holding sentiment_head.npz, or the .npz itself.

        Args:
            path_or_dir: the folder or file; the card is the .json with the same stem, if present.
            name: the name in model_id; defaults to the card's name or the folder name.
            where: the setting its errors name (`[model] multilingual` for the multilingual head).

        Returns:
            The scorer.
        """
        path = Path(path_or_dir).expanduser()
        if path.is_dir():
            path = path / HEAD_FILE
        if not path.is_file():
            raise RefineError(f"no sentiment head at {path}", where=where)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
            if int(arrays["format"]) != 1:
                raise ValueError(f"format {int(arrays['format'])} is newer than this refine reads")
        except Exception as exc:  # a damaged or foreign file is a config problem, said in one line
            detail = str(exc).strip().splitlines()[0][:150] if str(exc).strip() else ""
            raise RefineError(
                f"cannot read sentiment head {path} ({type(exc).__name__}: {detail})", where=where
            ) from None
        card: dict = {}
        card_path = path.with_suffix(".json")
        if card_path.is_file():
            try:
                card = json.loads(card_path.read_text(encoding="utf-8"))
            except ValueError:
                raise RefineError(f"sentiment head card {card_path} is not valid JSON", where=where) from None
        try:
            return cls(
                arrays["weight"],
                arrays["bias"],
                [str(c) for c in arrays["classes"]],
                arrays["band"].tolist(),
                card,
                name=name or card.get("name") or path.parent.name or "custom",
                lexical_weight=arrays.get("lexical_weight"),
                lexical_scale=float(arrays["lexical_scale"]),
            )
        except (ValueError, KeyError) as exc:
            raise RefineError(f"sentiment head {path} is inconsistent ({exc})", where=where) from None


# ---- a transformers text-classification model ------------------------------------------------

_STARS = re.compile(r"^\s*([1-5])\s*stars?\s*$", re.IGNORECASE)
_GENERIC = re.compile(r"^\s*label[_ ]?(\d+)\s*$", re.IGNORECASE)


def map_model_labels(labels: Sequence[str]) -> dict[str, str]:
    """Map a classifier's own labels onto negative / neutral / positive.

    Handles named labels ("negative", "NEG", "Neutral", "positive"), generic LABEL_0..LABEL_2
    (2 labels: negative, positive; 3 labels: negative, neutral, positive) and star ratings
    ("1 star" .. "5 stars": 1-2 negative, 3 neutral, 4-5 positive).

    Args:
        labels: the model's labels (config.id2label values, in id order).

    Returns:
        {model label: our label}.

    Raises:
        RefineError: when some label cannot be mapped.
    """
    labels = [str(x) for x in labels]
    mapping: dict[str, str] = {}
    generic = [_GENERIC.match(x) for x in labels]
    matches = [m for m in generic if m is not None]
    if len(matches) == len(labels):
        ids = sorted(int(m.group(1)) for m in matches)
        order = {2: ["negative", "positive"], 3: list(LABELS)}.get(len(labels))
        if order is None or ids != list(range(len(labels))):
            raise RefineError(f"cannot tell which of the model's labels {labels} is negative / positive", where=WHERE)
        return {x: order[int(m.group(1))] for x, m in zip(labels, matches)}
    for x in labels:
        stars = _STARS.match(x)
        low = x.strip().lower()
        if stars:
            n = int(stars.group(1))
            mapping[x] = "negative" if n <= 2 else "neutral" if n == 3 else "positive"
        elif low.startswith("neg"):
            mapping[x] = "negative"
        elif low.startswith("neu"):
            mapping[x] = "neutral"
        elif low.startswith("pos"):
            mapping[x] = "positive"
        else:
            raise RefineError(
                f"cannot map the model's label {x!r} to negative / neutral / positive (labels: {labels})", where=WHERE
            )
    if "negative" not in mapping.values() or "positive" not in mapping.values():
        raise RefineError(f"the model's labels {labels} lack a negative or a positive class", where=WHERE)
    return mapping


class TransformersScorer:
    """Any transformers text-classification model (hub id or local path), loaded from local files only.

    It reads the texts itself and ignores the embeddings. Its label is the most probable of
    negative / neutral / positive after the model's labels are mapped (map_model_labels).
    """

    def __init__(self, model: str, *, device: str = "cpu", batch_size: int = 32, max_length: int = 512):
        """Load the model and tokenizer.

        Args:
            model: a hub id already in the local cache, or a local folder.
            device: "cpu", "cuda", "cuda:0", "mps".
            batch_size: texts per forward pass.
            max_length: longer texts are truncated to this many tokens.

        Raises:
            RefineError: the model cannot be loaded offline or its labels cannot be mapped.
        """
        offline_env()
        self.model_name = model
        self.model_id = f"transformers:{model}"
        self.batch_size = batch_size
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

            tokenizer = AutoTokenizer.from_pretrained(model, local_files_only=True)
            classifier = AutoModelForSequenceClassification.from_pretrained(model, local_files_only=True)
            self._pipe = pipeline(
                "text-classification", model=classifier, tokenizer=tokenizer, top_k=None, device=device
            )
        except Exception as exc:  # any loader failure is a config problem for the user
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise RefineError(
                f"cannot load sentiment model {model!r} offline ({type(exc).__name__}: {first})", where=WHERE
            ) from None
        id2label = classifier.config.id2label
        self.label_map = map_model_labels([id2label[i] for i in sorted(id2label)])
        # tokenizers saved without a limit report ~1e30; the position table is the real limit
        limits = [
            max_length,
            getattr(tokenizer, "model_max_length", None),
            getattr(classifier.config, "max_position_embeddings", None),
        ]
        self.max_length = int(min(x for x in limits if isinstance(x, int) and x > 0))

    def score(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        """Score texts with the model (see SentimentScorer.score); `embeddings` is ignored."""
        texts = [str(t) if t is not None else "" for t in texts]
        if not texts:
            return _frame(np.zeros((0, 3)), [])
        outputs = self._pipe(texts, batch_size=self.batch_size, truncation=True, max_length=self.max_length)
        probs = np.zeros((len(texts), 3))
        for row, result in enumerate(outputs):
            # a pipeline that returned only its top class gives a dict
            items: list[dict[str, Any]] = [result] if isinstance(result, dict) else list(result)
            for item in items:
                probs[row, LABELS.index(self.label_map[item["label"]])] += float(item["score"])
        probs /= np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
        return _frame(probs, [LABELS[i] for i in probs.argmax(axis=1)])


# ---- choosing a scorer from config -----------------------------------------------------------


def default_head_path() -> Path:
    """The head shipped inside the package (refine/models/sentiment_head.npz)."""
    try:
        return Path(str(files("refine") / "models" / HEAD_FILE))
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - a zipped or odd install
        return Path(__file__).resolve().parents[2] / "models" / HEAD_FILE


def load_scorer(spec: str, *, device: str = "cpu") -> SentimentScorer:
    """The scorer that `[model] sentiment` names.

    Args:
        spec: "default" (the packaged head), a folder or .npz file holding a head trained with
            `refine sentiment train`, or "transformers:<hub id or local path>".
        device: where a transformers model runs; the head always runs in numpy.

    Returns:
        A SentimentScorer.

    Raises:
        RefineError: naming `[model] sentiment` when the spec is empty, unknown or does not load.
    """
    spec = (spec or "").strip()
    if not spec:
        raise RefineError('is empty: use "default", a head folder, or "transformers:<id or path>"', where=WHERE)
    if spec == "default":
        path = default_head_path()
        if not path.is_file():  # pragma: no cover - a broken install, not user input
            raise RefineError(f"the packaged sentiment head is missing ({path}); reinstall refine", where=WHERE)
        return EmbeddingHeadScorer.load(path, name="default")
    if spec.startswith("transformers:"):
        model = spec.split(":", 1)[1].strip()
        if not model:
            raise RefineError('"transformers:" needs a model id or path after the colon', where=WHERE)
        return TransformersScorer(model, device=device)
    path = Path(spec).expanduser()
    if path.is_dir() and (path / HEAD_FILE).is_file():
        return EmbeddingHeadScorer.load(path)
    if path.is_file() and path.suffix == ".npz":
        return EmbeddingHeadScorer.load(path)
    if path.is_dir():
        raise RefineError(
            f"folder {spec!r} holds no {HEAD_FILE} (train one with `refine sentiment train`)", where=WHERE
        )
    raise RefineError(
        f'unknown sentiment model {spec!r}: use "default", a head folder or .npz file, or "transformers:<id or path>"',
        where=WHERE,
    )


# texts an embedding head scores at a time behind the cache: its float64 copies of every vector held 1.3 GB
# at 220k sentences (issue 32); the head scores each row alone, so the block size changes no score
SCORE_BLOCK = 16384


class CachedScorer:
    """Wraps a scorer: each distinct text is scored once per scorer and what it reads (an embedding head
    and its embedding model; the review model and its `cache_key`, passed as `embedding_model_id`).

    The probabilities and the label of every text are kept as float64 rows under
    ``<cache>/sentiment`` (keyed by a hash of the head's id, which hashes its weights, the embedding
    model, the source of this module (the word features and the scoring), the numpy version and the
    text; never the text itself), so a rerun reads them back bit for bit. The word
    features of the default head cost more than its matrix product: on 100k comments and their 220k
    sentences, about 15 s of a warm rerun (bench/scale_bench.py).

    A `transformers:` scorer is not wrapped: its id names a model, not its weights, and a model
    retrained in place would be read from a stale cache.
    """

    def __init__(self, scorer: SentimentScorer, cache_dir: Path, embedding_model_id: str):
        self.scorer = scorer
        self.model_id = scorer.model_id
        # the head's id hashes its weights; the word features and the scoring are this module's code
        self.namespace = "\x00".join(
            [scorer.model_id, embedding_model_id, code_digest(sys.modules[__name__]), f"numpy {np.__version__}"]
        )
        self.cache = EmbeddingCache(cache_dir, self.namespace, kind="sentiment", dtype=np.float64)
        self.last_hits = 0
        self.last_computed = 0

    def score(self, texts: Sequence[str], embeddings: np.ndarray | None) -> pd.DataFrame:
        keys = [text_key(self.namespace, str(t)) for t in texts]
        first: dict[str, int] = {}
        for i, key in enumerate(keys):
            first.setdefault(key, i)
        found = self.cache.get(list(first))
        missing = [k for k in first if k not in found]
        if missing:
            rows = [first[k] for k in missing]
            blocks = []
            for start in range(0, len(rows), SCORE_BLOCK):  # a block of vectors at a time: memory flat in n
                block = rows[start : start + SCORE_BLOCK]
                part = self.scorer.score([texts[i] for i in block], None if embeddings is None else embeddings[block])
                codes = part["sentiment_label"].map({label: i for i, label in enumerate(LABELS)}).to_numpy(dtype=float)
                blocks.append(
                    np.column_stack([part[["p_negative", "p_neutral", "p_positive"]].to_numpy(dtype=float), codes])
                )
            computed = np.concatenate(blocks)
            self.cache.put(missing, computed)
            found.update(zip(missing, computed))
        self.last_hits, self.last_computed = len(first) - len(missing), len(missing)
        if not keys:
            return _frame(np.zeros((0, 3)), [])
        table = np.stack([found[k] for k in keys])
        return _frame(table[:, :3], [LABELS[int(code)] for code in table[:, 3]])


def cached_scorer(scorer: SentimentScorer, cache_dir: Path | None, embedding_model_id: str) -> SentimentScorer:
    """`scorer` behind the per-text sentiment cache where that is safe (an embedding head), else as it is."""
    if cache_dir is None or not isinstance(scorer, EmbeddingHeadScorer):
        return scorer
    return CachedScorer(scorer, cache_dir, embedding_model_id)


# ---- training --------------------------------------------------------------------------------


def normalise_labels(labels: Iterable, *, where: str = "labels") -> list[str]:
    """Map label spellings (Negative, neg, NEUTRAL, pos, ...) to negative / neutral / positive.

    Args:
        labels: one label per text.
        where: names the labels' origin in the error message (e.g. the column).

    Returns:
        The canonical labels.

    Raises:
        RefineError: naming the first few labels that are none of the three.
    """
    out: list[str] = []
    unknown: list[str] = []
    for value in labels:
        key = str(value).strip().lower()
        label = _LABEL_ALIASES.get(key)
        if label is None:
            unknown.append(str(value))
        else:
            out.append(label)
    if unknown:
        shown = ", ".join(repr(u) for u in sorted(set(unknown))[:5])
        raise RefineError(
            f"unknown sentiment labels {shown} (use negative / neutral / positive, "
            f"or give --ratings to map numeric ratings)",
            where=where,
        )
    return out


_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:-\s*(-?\d+(?:\.\d+)?))?\s*:\s*([A-Za-z]+)\s*$")


def parse_rating_mapping(mapping: str) -> list[tuple[float, float, str]]:
    """Parse "1-2:negative,3:neutral,4-5:positive" into [(1, 2, "negative"), (3, 3, "neutral"), ...].

    Args:
        mapping: comma-separated `low-high:label` or `value:label` parts; ranges are inclusive.

    Returns:
        (low, high, label) triples.

    Raises:
        RefineError: on a part that does not parse, an unknown label, or overlapping ranges.
    """
    parts = [p for p in str(mapping).split(",") if p.strip()]
    if not parts:
        raise RefineError('is empty (e.g. "1-2:negative,3:neutral,4-5:positive")', where="ratings mapping")
    ranges = []
    for part in parts:
        m = _RANGE.match(part)
        if not m:
            raise RefineError(
                f'cannot read {part.strip()!r} (want e.g. "1-2:negative" or "3:neutral")', where="ratings mapping"
            )
        low = float(m.group(1))
        high = float(m.group(2)) if m.group(2) is not None else low
        if high < low:
            raise RefineError(f"range {part.strip()!r} runs backwards", where="ratings mapping")
        label = normalise_labels([m.group(3)], where="ratings mapping")[0]
        ranges.append((low, high, label))
    ranges.sort()
    for (l1, h1, _), (l2, h2, _) in zip(ranges, ranges[1:]):
        if l2 <= h1:
            raise RefineError(f"ranges {l1:g}-{h1:g} and {l2:g}-{h2:g} overlap", where="ratings mapping")
    return ranges


def labels_from_ratings(ratings: Iterable, mapping: str) -> list[str | None]:
    """Turn numeric ratings into sentiment labels.

    Args:
        ratings: numbers (or numeric strings); blanks / NaN give None (no label).
        mapping: e.g. "1-2:negative,3:neutral,4-5:positive" (stars) or
            "0-6:negative,7-8:neutral,9-10:positive" (NPS); ranges are inclusive.

    Returns:
        One label (or None) per rating.

    Raises:
        RefineError: a rating that is not a number or falls in no range.
    """
    ranges = parse_rating_mapping(mapping)
    out: list[str | None] = []
    for value in ratings:
        if value is None or (isinstance(value, str) and not value.strip()):
            out.append(None)
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise RefineError(f"rating {value!r} is not a number", where="ratings") from None
        if np.isnan(number):
            out.append(None)
            continue
        label = next((lab for low, high, lab in ranges if low <= number <= high), None)
        if label is None:
            raise RefineError(f"rating {value!r} falls in no range of the mapping {mapping!r}", where="ratings")
        out.append(label)
    return out


def _sample_weights(
    labels: np.ndarray, classes: Sequence[str], class_weight: str | dict | None, extra: np.ndarray | None = None
) -> np.ndarray:
    """Per-text weights: class balance (each class weighs the same in total) times any extra weight."""
    base = np.ones(len(labels)) if extra is None else np.asarray(extra, dtype=np.float64)
    if class_weight is None:
        return base
    if class_weight == "balanced":
        # balanced over the weighted counts, so source weights and class balance compose
        totals = {c: base[labels == c].sum() for c in classes}
        per_class = {c: base.sum() / (len(classes) * totals[c]) for c in classes}
    elif isinstance(class_weight, dict):
        per_class = {c: float(class_weight.get(c, 1.0)) for c in classes}
    else:
        raise ValueError(f"class_weight must be 'balanced', a dict or None, got {class_weight!r}")
    return base * np.array([per_class[c] for c in labels])


LEXICAL_BUCKETS = 2**15
LEXICAL_SCALE = 0.5


def fit_head(
    embeddings: np.ndarray,
    labels: Sequence[str],
    *,
    texts: Sequence[str] | None = None,
    lexical: bool = False,
    sample_weight: np.ndarray | None = None,
    class_weight: str | dict | None = "balanced",
    C: float = 1.0,
    band: Sequence[float] | None = None,
    card: dict | None = None,
    name: str = "custom",
    buckets: int = LEXICAL_BUCKETS,
    lexical_scale: float = LEXICAL_SCALE,
) -> EmbeddingHeadScorer:
    """Fit a head on embeddings (no held-out split, no band calibration: see train_head).

    Args:
        embeddings: (n, d) L2-normalised sentence embeddings.
        labels: negative / neutral / positive per row (at least two classes present).
        texts: the texts; needed when lexical is True.
        lexical: add hashed word features beside the embedding.
        sample_weight: optional per-row weights (e.g. per data source).
        class_weight: "balanced" (every class weighs the same in total), a {label: weight} dict, or None.
        C: inverse L2 regularisation strength.
        band: the neutral band; default (-0.2, 0.2) for three classes, (0, 0) for two.
        card: the data card to attach.
        name: the name in model_id.
        buckets, lexical_scale: size and weight of the word features.

    Returns:
        The fitted EmbeddingHeadScorer. lbfgs on fixed data is deterministic: same inputs, same weights.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)
    y = np.asarray(labels, dtype=object)
    classes = [c for c in LABELS if c in set(y)]
    if len(classes) < 2:
        raise RefineError(f"need at least two sentiment classes to train, got {classes}", where="labels")
    weight = _sample_weights(y, classes, class_weight, sample_weight)
    weight = weight * (len(weight) / weight.sum())  # mean 1, so C means the same whatever the weights
    features = x
    if lexical:
        if texts is None or len(texts) != len(x):
            raise ValueError("lexical=True needs the texts, one per embedding")
        features = sparse.hstack([sparse.csr_matrix(x), lexical_matrix(texts, buckets, lexical_scale)]).tocsr()
    model = LogisticRegression(C=C, max_iter=5000, tol=1e-6)
    model.fit(features, y, sample_weight=weight)
    order = [list(model.classes_).index(c) for c in classes]
    coef, intercept = model.coef_, model.intercept_
    if len(classes) == 2:  # sklearn keeps one row for two classes: spell it out as two softmax logits
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
        order = [0, 1]
    coef, intercept = coef[order], intercept[order]
    d = x.shape[1]
    if band is None:
        band = (-0.2, 0.2) if "neutral" in classes else (0.0, 0.0)
    return EmbeddingHeadScorer(
        coef[:, :d].T.copy(),
        intercept.copy(),
        classes,
        band,
        card,
        name=name,
        lexical_weight=coef[:, d:].T.copy() if lexical else None,
        lexical_scale=lexical_scale if lexical else 0.0,
    )


def evaluate(true: Sequence[str] | np.ndarray, predicted: Sequence[str] | np.ndarray) -> dict:
    """Accuracy, macro-F1 and per-class recall of predicted labels.

    Args:
        true: the labels given.
        predicted: the labels the scorer gave.

    Returns:
        {"n", "accuracy", "macro_f1", "recall": {label: share of that label predicted as it}};
        macro-F1 averages over the labels present in `true`.
    """
    true = np.asarray(true, dtype=object)
    predicted = np.asarray(predicted, dtype=object)
    present = [c for c in LABELS if c in set(true)]
    if len(true) == 0:
        return {"n": 0}
    return {
        "n": int(len(true)),
        "accuracy": round(float(accuracy_score(true, predicted)), 4),
        "macro_f1": round(float(f1_score(true, predicted, labels=present, average="macro", zero_division=0)), 4),
        "recall": {c: round(float(np.mean(predicted[true == c] == c)), 4) for c in present},
    }


def calibrate_band(
    true: Sequence[str] | np.ndarray,
    score: np.ndarray,
    *,
    groups: Sequence[str] | None = None,
    group_weights: dict[str, float] | None = None,
    grid: np.ndarray | None = None,
    floor_rows: np.ndarray | None = None,
    negative_floor: float = 0.0,
) -> tuple[float, float]:
    """Choose the neutral band [low, high] that maximises macro-F1 of out-of-sample predictions.

    With `floor_rows` and `negative_floor`, only bands that call at least that share of those rows
    negative are considered (e.g. complaint-style rows that must read as negative); if no band
    reaches it, the band calling most of them negative, at the best macro-F1, wins.

    Args:
        true: labels (three classes; without neutral texts the band is (0, 0)).
        score: out-of-sample scores (p_positive - p_negative) for the same texts.
        groups: optional source per text; macro-F1 is then averaged over groups with neutral texts,
            weighted by group_weights (default 1 each), so one large source does not decide alone.
        group_weights: {group: weight}.
        grid: candidate thresholds; default -0.9..0.9 in steps of 0.025.
        floor_rows: boolean mask of the rows the floor applies to.
        negative_floor: share of floor_rows that must be labelled negative.

    Returns:
        (low, high).
    """
    true = np.asarray(true, dtype=object)
    score = np.asarray(score, dtype=np.float64)
    if "neutral" not in set(true):
        return (0.0, 0.0)
    groups_arr = np.asarray(groups if groups is not None else ["all"] * len(true), dtype=object)
    names = [g for g in dict.fromkeys(groups_arr) if "neutral" in set(true[groups_arr == g])]
    weights = {g: float((group_weights or {}).get(g, 1.0)) for g in names}
    grid = np.round(np.arange(-0.9, 0.9001, 0.025), 4) if grid is None else np.asarray(grid)
    codes = {g: (np.array([LABELS.index(t) for t in true[groups_arr == g]]), score[groups_arr == g]) for g in names}
    floor_scores = score[np.asarray(floor_rows, dtype=bool)] if floor_rows is not None else np.zeros(0)
    best, best_key = (-0.2, 0.2), (-1.0, -1.0)
    for low in grid:
        # the floor depends on low only; below the floor, more recall beats macro-F1
        recall = float(np.mean(floor_scores < low)) if len(floor_scores) else 1.0
        reached = min(recall, negative_floor) if negative_floor > 0 else 0.0
        for high in grid[grid >= low]:
            value = 0.0
            for g, (t, s) in codes.items():
                predicted = np.where(s < low, 0, np.where(s > high, 2, 1))
                value += weights[g] * _macro_f1(t, predicted)
            key = (reached, value)
            # strict improvement only: among equal bands the first (lowest low, then narrowest) wins
            if key[0] > best_key[0] + 1e-12 or (abs(key[0] - best_key[0]) <= 1e-12 and value > best_key[1] + 1e-9):
                best, best_key = (float(low), float(high)), key
    return best


def _macro_f1(true: np.ndarray, predicted: np.ndarray) -> float:
    """Macro-F1 over the classes present in `true` (class codes 0..2); fast enough for a grid search."""
    f1s = []
    for c in np.unique(true):
        tp = np.sum((true == c) & (predicted == c))
        fp = np.sum((true != c) & (predicted == c))
        fn = np.sum((true == c) & (predicted != c))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(f1s))


def stratified_split(
    labels: Sequence[str] | np.ndarray,
    holdout: float,
    seed: int,
    strata: Sequence[str] | np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask of held-out rows: `holdout` of each stratum (label, or source + label), seeded.

    Args:
        labels: one label per row.
        holdout: share held out, 0 <= holdout < 1.
        seed: random seed.
        strata: optional group per row (e.g. source) crossed with the label.

    Returns:
        True where a row is held out. Each stratum keeps at least one training row.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels, dtype=object)
    key = (
        labels if strata is None else np.asarray([f"{s}\x00{label}" for s, label in zip(strata, labels)], dtype=object)
    )
    held = np.zeros(len(labels), dtype=bool)
    for value in sorted(set(key)):
        rows = rng.permutation(np.flatnonzero(key == value))
        take = min(int(round(holdout * len(rows))), len(rows) - 1)
        held[rows[:take]] = True
    return held


def out_of_fold_scores(
    embeddings: np.ndarray,
    labels: Sequence[str] | np.ndarray,
    *,
    texts: Sequence[str] | None = None,
    folds: int = 5,
    seed: int = 0,
    sample_weight: np.ndarray | None = None,
    **fit_options,
) -> np.ndarray:
    """Probabilities of every row from a head fitted without it (k-fold).

    Args:
        embeddings, labels, texts, sample_weight: as for fit_head.
        folds: number of folds (stratified by label, seeded).
        seed: seeds the fold assignment.
        **fit_options: passed to fit_head.

    Returns:
        (n, 3) out-of-fold probabilities.
    """
    labels = np.asarray(labels, dtype=object)
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(labels), dtype=int)
    for value in sorted(set(labels)):
        rows = rng.permutation(np.flatnonzero(labels == value))
        fold[rows] = np.arange(len(rows)) % folds
    probs = np.zeros((len(labels), 3))
    for f in range(folds):
        test = fold == f
        if not test.any() or len(set(labels[~test])) < 2:
            continue
        fold_texts = None if texts is None else [texts[int(i)] for i in np.flatnonzero(~test)]
        head = fit_head(
            embeddings[~test],
            labels[~test],
            texts=fold_texts,
            sample_weight=None if sample_weight is None else sample_weight[~test],
            **fit_options,
        )
        probs[test] = head.predict_proba(
            embeddings[test], None if texts is None else [texts[int(i)] for i in np.flatnonzero(test)]
        )
    return probs


MIN_PER_CLASS = 5


def train_head(
    texts: Sequence[str],
    labels: Sequence[str],
    embed: Callable[[list[str]], np.ndarray],
    *,
    sources: Sequence[str] | None = None,
    seed: int = 0,
    holdout: float = 0.2,
    class_weight: str | dict | None = "balanced",
    C: float = 1.0,
    lexical: bool = False,
    source_weights: dict[str, float] | None = None,
    card: dict | None = None,
    name: str = "custom",
    embedding_model: str | None = None,
) -> EmbeddingHeadScorer:
    """Train a head on rated feedback: split, fit, calibrate the neutral band, score the held-out part.

    The neutral band is calibrated on out-of-fold predictions of the training part (never on the
    held-out part), and the saved head is the one fitted on the training part, so the held-out
    scores in its card describe exactly the head you get.

    Args:
        texts: the feedback texts.
        labels: negative / neutral / positive per text (any spelling normalise_labels knows).
        embed: texts -> (n, d) L2-normalised embeddings (e.g. a refine.text.embed CachedEmbedder's encode).
        sources: optional source per text; the split is stratified by it and held-out scores are
            reported per source as well as overall.
        seed: seeds the split and the folds; same inputs + seed give the same weights.
        holdout: share held out for scoring (0 = none; every text trains the head).
        class_weight: "balanced", a {label: weight} dict, or None.
        C: inverse regularisation strength.
        lexical: add hashed word features beside the embedding (worth it with a few thousand texts).
        source_weights: optional {source: weight} multiplying each text's weight.
        card: extra card fields (e.g. where the data came from).
        name: the name in model_id.
        embedding_model: the embedding model's id, recorded in the card (default all-MiniLM-L6-v2).

    Returns:
        The head, with `.card["heldout"]` holding its held-out scores.

    Raises:
        RefineError: fewer than two classes, or fewer than 5 texts of some class.
    """
    texts = [str(t) for t in texts]
    y, counts = _training_labels(texts, labels, holdout)
    src = np.asarray([str(s) for s in sources], dtype=object) if sources is not None else None
    held = stratified_split(y, holdout, seed, src) if holdout > 0 else np.zeros(len(y), dtype=bool)
    x = np.asarray(embed(texts), dtype=np.float64)
    extra = None
    if source_weights and src is not None:
        extra = np.array([float(source_weights.get(s, 1.0)) for s in src])
    train = ~held
    options: dict[str, Any] = dict(class_weight=class_weight, C=C, lexical=lexical)
    train_texts = [texts[i] for i in np.flatnonzero(train)]
    band = _neutral_band(
        x[train],
        y[train],
        train_texts,
        seed=seed,
        sample_weight=None if extra is None else extra[train],
        groups=None if src is None else src[train],
        source_weights=source_weights,
        options=options,
    )
    record = {"seed": seed, "holdout": holdout, **options, "source_weights": source_weights or None}
    head = fit_head(
        x[train],
        y[train],
        texts=train_texts,
        sample_weight=None if extra is None else extra[train],
        band=band,
        card=_training_card(card, embedding_model, record, y, held, counts),
        name=name,
        **options,
    )
    head.card["heldout"] = _heldout_scores(head, texts, x, y, held, src)
    return head


def _training_labels(texts: list[str], labels: Sequence[str], holdout: float) -> tuple[np.ndarray, dict[str, int]]:
    """The normalised labels and the texts per class, or the error that says why they cannot train a head."""
    y = np.asarray(normalise_labels(labels), dtype=object)
    if len(texts) != len(y):
        raise ValueError(f"{len(texts)} texts but {len(y)} labels")
    if not 0 <= holdout < 1:
        raise RefineError(f"holdout must be in [0, 1), got {holdout}", where="holdout")
    counts = {c: int((y == c).sum()) for c in LABELS if (y == c).any()}
    if len(counts) < 2:
        raise RefineError(f"need texts of at least two sentiment classes, got {counts}", where="labels")
    few = {c: n for c, n in counts.items() if n < MIN_PER_CLASS}
    if few:
        raise RefineError(f"need at least {MIN_PER_CLASS} texts of each class, got {counts}", where="labels")
    return y, counts


def _neutral_band(
    x: np.ndarray,
    y: np.ndarray,
    texts: list[str],
    *,
    seed: int,
    sample_weight: np.ndarray | None,
    groups: Sequence[str] | None,
    source_weights: dict[str, float] | None,
    options: dict[str, Any],
) -> tuple[float, float]:
    """The neutral band calibrated on out-of-fold predictions of the training part; (0, 0) with no neutral text."""
    if "neutral" not in set(y):
        return (0.0, 0.0)
    folds = max(2, min(5, min(int((y == c).sum()) for c in set(y))))
    oof = out_of_fold_scores(x, y, texts=texts, folds=folds, seed=seed, sample_weight=sample_weight, **options)
    return calibrate_band(y, oof[:, 2] - oof[:, 0], groups=groups, group_weights=source_weights)


def _training_card(
    card: dict | None, embedding_model: str | None, options: dict, y: np.ndarray, held: np.ndarray, counts: dict
) -> dict:
    """The trained head's card: the caller's fields, the model, the options and the rows per class in each part."""
    train = ~held
    return {
        **(card or {}),
        "embedding_model": embedding_model or EMBEDDING_MODEL,
        "trained": dt.date.today().isoformat(),
        "head": "multinomial logistic regression on the embedding"
        + (" + hashed word features" if options["lexical"] else ""),
        "options": options,
        "training_rows": {c: int(((y == c) & train).sum()) for c in counts},
        "heldout_rows": {c: int(((y == c) & held).sum()) for c in counts},
        "neutral_band_calibration": "macro-F1 of out-of-fold predictions on the training part",
    }


def _heldout_scores(
    head: EmbeddingHeadScorer, texts: list[str], x: np.ndarray, y: np.ndarray, held: np.ndarray, src: np.ndarray | None
) -> dict | None:
    """The head's scores on the held-out part, overall and per source; None when nothing was held out."""
    if not held.any():
        return None
    predicted = head.score([texts[i] for i in np.flatnonzero(held)], x[held])["sentiment_label"].to_numpy()
    scores = {"all": evaluate(y[held], predicted)}
    if src is not None:
        for s in dict.fromkeys(src[held]):
            rows = src[held] == s
            scores[str(s)] = evaluate(y[held][rows], predicted[rows])
    return scores


# ---- sentences -------------------------------------------------------------------------------

_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sr",
    "jr",
    "st",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "eg",
    "ie",
    "approx",
    "no",
    "nr",
    "inc",
    "ltd",
    "co",
    "corp",
    "dept",
    "min",
    "max",
    "mins",
    "hrs",
    "hr",
    "sec",
    "ref",
    "fig",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "u.s",
    "u.k",
    "a.m",
    "p.m",
    "ca",
    "cf",
    "vol",
    "ave",
    "rd",
    "tel",
    "ext",
    "est",
}
# a candidate boundary: sentence punctuation, optional closing quotes / brackets, then whitespace
_BOUNDARY = re.compile(r"([.!?\u2026]+)([\"'\u201d\u2019)\]]*)(\s+)")
_LAST_WORD = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def split_sentences(text: str) -> list[str]:
    """Split feedback into sentences with a small, forgiving regex splitter.

    Splits at line breaks and after . ! ? or an ellipsis followed by whitespace, except after
    common abbreviations ("e.g.", "Dr.", "approx.") and single-letter initials. Lower-case starts
    are split too, since feedback is often typed without capitals.

    Args:
        text: one piece of feedback (None or blank gives []).

    Returns:
        The non-empty sentences, stripped, in order.
    """
    if text is None:
        return []
    text = str(text)
    sentences: list[str] = []
    for line in re.split(r"[\r\n\u2028\u2029]+", text):
        line = line.strip()
        if not line:
            continue
        start = 0
        for m in _BOUNDARY.finditer(line):
            if m.group(1) == ".":
                word = _LAST_WORD.search(line[start : m.start(1)])
                if word:
                    w = word.group(1).lower().rstrip(".")
                    if w in _ABBREVIATIONS or (len(w) == 1 and w.isalpha() and w not in {"i", "a"}):
                        continue
            piece = line[start : m.end(2)].strip()
            if piece:
                sentences.append(piece)
            start = m.end(3)
        tail = line[start:].strip()
        if tail:
            sentences.append(tail)
    return sentences
