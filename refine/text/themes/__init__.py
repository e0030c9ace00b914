"""Themes: sentence-level, in two levels, named from the texts, against a codeframe the user owns.

Modules: `stage` (fit_themes, the stage the pipeline calls), `model` (result types and topics.json),
`codeframe` (reading, zero-shot assignment, drafts), `naming` (phrases and MMR), `entities`
(who/where tokens kept out of clustering). Clustering itself is refine.text.themes.topics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from refine.text.sentiment.scorers import split_sentences
from refine.text.themes.codeframe import Codeframe, CodeframeTheme, codeframe_toml, load_codeframe
from refine.text.themes.model import ParentTheme, PreviousThemes, Theme, ThemeResult
from refine.text.themes.stage import fit_themes

__all__ = [
    "Codeframe",
    "CodeframeTheme",
    "ParentTheme",
    "PreviousThemes",
    "SimpleSentences",
    "Theme",
    "ThemeResult",
    "codeframe_toml",
    "fit_themes",
    "load_codeframe",
    "split_comments",
]


@dataclass
class SimpleSentences:
    """The shape fit_themes reads (refine.text.sentences.SentenceTable has the same two fields)."""

    frame: pd.DataFrame  # feedback_row, sentence_index, text
    embeddings: np.ndarray


def split_comments(texts, doc_embeddings, encode, min_chars: int = 12) -> SimpleSentences:
    """Split comments into sentences and embed them; a one-sentence comment keeps its document vector."""
    rows, index, parts, vectors, todo = [], [], [], [], []
    doc_embeddings = np.asarray(doc_embeddings, dtype=np.float32)
    for position, text in enumerate(texts):
        pieces = [p for p in split_sentences(text) if len(p) >= min_chars]
        if len(pieces) <= 1:
            rows.append(position)
            index.append(0)
            parts.append(str(text))
            vectors.append(doc_embeddings[position])
            continue
        for i, piece in enumerate(pieces):
            rows.append(position)
            index.append(i)
            parts.append(piece)
            vectors.append(None)
            todo.append(len(parts) - 1)
    if todo:
        encoded = np.asarray(encode([parts[i] for i in todo]), dtype=np.float32)
        for i, v in zip(todo, encoded):
            vectors[i] = v
    frame = pd.DataFrame({"feedback_row": rows, "sentence_index": index, "text": parts})
    dim = doc_embeddings.shape[1] if doc_embeddings.ndim == 2 else 384
    emb = np.stack(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)
    return SimpleSentences(frame=frame, embeddings=emb)
