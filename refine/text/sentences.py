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

from refine.text.sentiment.scorers import split_sentences

FEEDBACK_ROW = "feedback_row"  # position of the comment in the feedback frame (0-based)
SENTENCE_INDEX = "sentence_index"  # position of the sentence in its comment (0-based)
TEXT = "text"
MIN_CHARS = 12  # shorter fragments ("Thanks!") are not a sentence of their own


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
    dim = doc_embeddings.shape[1] if doc_embeddings.ndim == 2 else 0
    vectors = np.zeros((len(frame), dim), dtype=np.float32)
    whole = frame["whole"].to_numpy()
    if whole.any():
        vectors[whole] = doc_embeddings[frame.loc[whole, FEEDBACK_ROW].to_numpy()]
    cut = np.flatnonzero(~whole)
    if len(cut):
        vectors[cut] = embedder.encode(frame[TEXT].to_numpy()[cut].tolist())
    return SentenceTable(frame=frame.drop(columns="whole"), embeddings=vectors, whole=whole)
