"""Sentences: each comment split into the sentences that carry its aspects, with their embeddings.

A review that praises the fit and complains about shipping says two things; the sentence is the
unit that themes and aspect sentiment read. A comment of one sentence (or whose other fragments
are too short to stand alone: "Thanks!") is one row holding the whole text and reusing the
comment's embedding, so only multi-sentence comments cost extra embeddings (and those are cached).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from refine.io.config import COMMENT_VECTORS as _COMMENT_VECTORS
from refine.text.sentiment.scorers import split_sentences

FEEDBACK_ROW = "feedback_row"  # position of the comment in the feedback frame (0-based)
SENTENCE_INDEX = "sentence_index"  # position of the sentence in its comment (0-based)
TEXT = "text"
MIN_CHARS = 12  # shorter fragments ("Thanks!") are not a sentence of their own
# how a multi-sentence comment's vector is made ([model] comment_vectors): "whole" embeds the comment and
# each sentence (two passes over its words); "mean" / "length" embed only the sentences and pool them
# (plain mean / mean weighted by word count), one pass (issue 32)
COMMENT_VECTORS = _COMMENT_VECTORS
# only comments of this many words are pooled (the sentiment stage aggregates the same ones from their sentences,
# MIN_AGGREGATE_WORDS): a short multi-sentence comment costs little to embed whole, and short texts (tweets) read
# through a pooled vector lost 0.010 TweetEval macro-F1 (docs/benchmarks.md, issue 32)
POOL_MIN_WORDS = 25


@dataclass
class SentenceTable:
    """One row per sentence, aligned with its embedding.

    Attributes:
        frame: columns feedback_row, sentence_index, text (stages add columns such as
            sentiment_score, sentiment_label, topic_id), index 0..n-1.
        embeddings: (n, d) float32 L2-normalised vectors, row i for frame row i.
        whole: per sentence, True when it is the whole comment (one-sentence comments).
    """

    frame: pd.DataFrame
    embeddings: np.ndarray
    whole: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def split_rows(self) -> np.ndarray:
        """Positions of the sentences cut out of multi-sentence comments."""
        return np.flatnonzero(~self.whole)


def split_texts(texts: Sequence[str], min_chars: int = MIN_CHARS) -> pd.DataFrame:
    """Sentences of each text: columns feedback_row, sentence_index, text, whole (see SentenceTable)."""
    rows, indices, parts, whole = [], [], [], []
    for position, text in enumerate(texts):
        pieces = [p for p in split_sentences(text) if len(p) >= min_chars]
        if len(pieces) <= 1:
            pieces, is_whole = [text], True
        else:
            is_whole = False
        for index, piece in enumerate(pieces):
            rows.append(position)
            indices.append(index)
            parts.append(piece)
            whole.append(is_whole)
    return pd.DataFrame(
        {
            FEEDBACK_ROW: np.asarray(rows, dtype=np.int64),
            SENTENCE_INDEX: np.asarray(indices, dtype=np.int64),
            TEXT: pd.Series(parts, dtype=object),
            "whole": np.asarray(whole, dtype=bool),
        }
    )


def pool_sentences(
    sentence_vectors: np.ndarray, rows: np.ndarray, n: int, weights: np.ndarray | None = None
) -> np.ndarray:
    """Per comment, the L2-normalised (weighted) mean of its sentences' vectors; (n, d) float32.

    Args:
        sentence_vectors: (m, d) vectors of the sentences.
        rows: (m,) comment position of each sentence (0..n-1).
        n: number of comments; a comment with no sentence gets a zero row.
        weights: (m,) weight of each sentence (word counts for "length"), or None for a plain mean.
    """
    x = np.asarray(sentence_vectors, dtype=np.float64)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    out = np.zeros((n, x.shape[1] if x.ndim == 2 else 0))
    np.add.at(out, np.asarray(rows, dtype=np.int64), x * w[:, None])
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.where(norm > 0, norm, 1.0)).astype(np.float32)


def sentence_weights(texts: Sequence[str], how: str) -> np.ndarray | None:
    """The pooling weights of `how` ("length": word counts, at least 1; "mean": None)."""
    if how == "length":
        return np.array([max(len(str(t).split()), 1) for t in texts], dtype=np.float64)
    return None


def pooled_rows(texts: Sequence[str], frame: pd.DataFrame, how: str, min_words: int = POOL_MIN_WORDS) -> np.ndarray:
    """Mask of the comments whose vector is pooled from their sentences: none with `how` "whole", else those of
    two or more sentences and `min_words`+ words (a shorter one is embedded whole too: it costs little)."""
    pooled = np.zeros(len(texts), dtype=bool)
    if how == "whole":
        return pooled
    if how not in COMMENT_VECTORS:
        raise ValueError(f"comment vectors are one of {COMMENT_VECTORS}, not {how!r}")
    pooled[frame.loc[~frame["whole"].to_numpy(), FEEDBACK_ROW].to_numpy()] = True
    words = np.array([len(str(t).split()) for t in texts], dtype=np.int64)
    return pooled & (words >= min_words)


def whole_texts(texts: Sequence[str], frame: pd.DataFrame, how: str) -> list[int]:
    """Positions of the comments embedded whole: all but the `pooled_rows` ones."""
    return np.flatnonzero(~pooled_rows(texts, frame, how)).tolist()


def pooled_comments(doc_embeddings: np.ndarray, texts: Sequence[str], table: SentenceTable, how: str) -> np.ndarray:
    """The comment vectors with each `pooled_rows` comment's row its sentences' pooled mean (`how` mean / length).

    With `how` "whole" the vectors are returned as they are. Otherwise a new array: the comments embedded whole
    keep their row, the pooled ones get `pool_sentences` of their sentences.
    """
    if how == "whole":
        return doc_embeddings
    out = np.array(doc_embeddings, dtype=np.float32)  # a copy: the caller's array is left as it was
    if out.ndim != 2 or out.shape[1] != table.embeddings.shape[1]:  # every comment pooled: no row was embedded
        out = np.zeros((len(out), table.embeddings.shape[1]), dtype=np.float32)
    rows = table.frame[FEEDBACK_ROW].to_numpy()
    frame = table.frame.assign(whole=table.whole)
    multi = np.flatnonzero(pooled_rows(texts, frame, how))
    cut = np.flatnonzero(np.isin(rows, multi) & ~table.whole)
    if len(cut):
        parts = table.frame[TEXT].to_numpy()[cut]
        pooled = pool_sentences(table.embeddings[cut], rows[cut], len(out), sentence_weights(parts, how))
        out[multi] = pooled[multi]
    return out


def build_sentences(
    texts: Sequence[str],
    doc_embeddings: np.ndarray,
    embedder,
    *,
    min_chars: int = MIN_CHARS,
    frame: pd.DataFrame | None = None,
) -> SentenceTable:
    """Split the comments and embed the sentences of multi-sentence comments (whole comments reuse theirs).

    Args:
        texts: the accepted (redacted) feedback texts.
        doc_embeddings: their embeddings, row i for text i.
        embedder: anything with ``encode(texts)``; the pipeline's cached embedder.
        min_chars: shorter fragments join no sentence of their own.
        frame: ``split_texts(texts, min_chars)`` when the caller has it already (the run's estimate split them).

    Returns:
        SentenceTable in comment order, sentences in text order within a comment.
    """
    frame = split_texts(texts, min_chars) if frame is None else frame
    doc_embeddings = np.asarray(doc_embeddings, dtype=np.float32)
    whole = frame["whole"].to_numpy()
    cut = np.flatnonzero(~whole)
    encoded = np.asarray(embedder.encode(frame[TEXT].to_numpy()[cut].tolist()), dtype=np.float32) if len(cut) else None
    dim = doc_embeddings.shape[1] if doc_embeddings.ndim == 2 and doc_embeddings.shape[1] else 0
    dim = dim or (encoded.shape[1] if encoded is not None else 0)
    vectors = np.zeros((len(frame), dim), dtype=np.float32)
    if whole.any():
        vectors[whole] = doc_embeddings[frame.loc[whole, FEEDBACK_ROW].to_numpy()]
    if encoded is not None:
        vectors[cut] = encoded
    return SentenceTable(frame=frame.drop(columns="whole"), embeddings=vectors, whole=whole)
