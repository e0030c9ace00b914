"""Text embeddings: an Embedder protocol, the sentence-transformers implementation, and a content-hash cache.

The cache stores vectors keyed by sha256(model id + text) and never the text itself. A cache hit
does not load the model: the model is built only when some text is missing from the cache.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from refine.errors import RefineError
from refine.files import atomic_write
from refine.io.config import DEFAULT_MODEL, default_model_path, offline_env
from refine.progress import SILENT, Progress
from refine.text.embed_cost import busy, record_embedding, work_units
from refine.text.embed_onnx import OnnxEmbedder, check_backend


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
            show_progress_bar=False,  # progress is reported per chunk by CachedEmbedder (refine.progress)
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

    def holds(self, keys: Sequence[str]) -> set[str]:
        """The keys the cache holds (from its index: no vector is read)."""
        index = self._load_index()
        return {key for key in keys if key in index}

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
        final = self.folder / f"shard-{uuid.uuid4().hex}.npz"
        atomic_write(final, lambda tmp: _save_shard(tmp, keys, vectors.astype(self.dtype)))
        index = self._load_index()
        for row, key in enumerate(keys):
            index[key] = (final, row)


def _save_shard(path: Path, keys: Sequence[str], vectors: np.ndarray) -> None:
    with open(path, "wb") as handle:  # a handle: np.savez would add ".npz" to a path without it
        np.savez(handle, keys=np.asarray(keys), vectors=vectors)


CHUNK_SIZE = 2048  # texts embedded (and cached) at a time


class CachedEmbedder:
    """Wraps an Embedder: embeds each distinct text once, ever, per model.

    Progress of the texts it computes goes to `progress` (refine.progress); without one, to stderr
    when the wrapped embedder has ``show_progress`` set, else nowhere.
    """

    def __init__(self, embedder: Embedder, cache_dir: Path | None, *, progress: Progress | None = None):
        self.embedder = embedder
        self.progress = progress
        self.model_id = embedder.model_id
        self.cache = EmbeddingCache(cache_dir, embedder.model_id) if cache_dir is not None else None
        self.cache_dir = cache_dir
        self.last_hits = 0
        self.last_computed = 0
        self.spent_s = 0.0  # seconds spent computing embeddings (model load included), over every call
        self.chunk_size = CHUNK_SIZE

    def missing(self, texts: Sequence[str]) -> tuple[list[str], int]:
        """(the distinct texts the cache lacks, in first-seen order; how many distinct texts it holds)."""
        first: dict[str, str] = {}
        for text in texts:
            first.setdefault(text_key(self.model_id, text), text)
        found = self.cache.holds(list(first)) if self.cache is not None else set()
        return [t for k, t in first.items() if k not in found], len(found)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        keys = [text_key(self.model_id, t) for t in texts]
        unique_keys = list(dict.fromkeys(keys))
        found = self.cache.get(unique_keys) if self.cache is not None else {}
        missing = [k for k in unique_keys if k not in found]
        if missing:
            first_text: dict[str, str] = {}
            for key, text in zip(keys, texts):
                first_text.setdefault(key, text)
            found.update(self._compute(missing, first_text))
        self.last_hits = len(unique_keys) - len(missing)
        self.last_computed = len(missing)
        if not keys:
            return np.zeros((0, 384), dtype=np.float32)
        out = np.empty((len(keys), len(found[keys[0]])), dtype=np.float32)  # one matrix, filled row by row
        for row, key in enumerate(keys):
            out[row] = found[key]
        return out

    def _compute(self, missing: list[str], first_text: dict[str, str]) -> dict[str, np.ndarray]:
        """Embed in chunks, caching each chunk as it completes: a run killed mid-way keeps what it did."""
        progress = self.progress
        if progress is None:
            progress = Progress() if getattr(self.embedder, "show_progress", False) else SILENT
        task = progress.task("embedding", len(missing), "texts")
        # the wrapped embedder reports each batch here (if it can), instead of drawing its own progress
        saved = {
            name: getattr(self.embedder, name) for name in ("show_progress", "on_batch") if hasattr(self.embedder, name)
        }
        if "show_progress" in saved:
            self.embedder.show_progress = False  # type: ignore[attr-defined]
        if "on_batch" in saved:
            self.embedder.on_batch = task.advance  # type: ignore[attr-defined]
        out: dict[str, np.ndarray] = {}
        started, shared = time.perf_counter(), busy()
        load_s = self._load_model()
        try:
            for start in range(0, len(missing), self.chunk_size):
                part = missing[start : start + self.chunk_size]
                vectors = self.embedder.encode([first_text[k] for k in part])
                if self.cache is not None:
                    self.cache.put(part, vectors)
                out.update(zip(part, vectors))
                task.update(start + len(part))
        finally:
            for name, value in saved.items():
                setattr(self.embedder, name, value)
        task.done()
        seconds = time.perf_counter() - started
        self.spent_s += seconds
        units = work_units([first_text[k] for k in missing])
        shared = (shared + busy()) / 2  # how shared the cores were, at the start and at the end
        record_embedding(self.cache_dir, self.model_id, len(missing), units, seconds - load_s, load_s, shared=shared)
        return out

    def _load_model(self) -> float:
        """Load the wrapped model now when it loads lazily (so its load is timed apart); the seconds it took."""
        load = getattr(self.embedder, "_load", None)
        loaded = getattr(self.embedder, "_model", getattr(self.embedder, "_session", True))  # torch / onnx
        if load is None or loaded is not None:
            return 0.0
        started = time.perf_counter()
        load()
        return time.perf_counter() - started


def build_embedder(
    model: str,
    *,
    device: str,
    batch_size: int,
    cache_dir: Path | None,
    show_progress: bool = False,
    backend: str = "torch",
    progress: Progress | None = None,
) -> CachedEmbedder:
    """The embedder the pipeline uses: `[model] backend` (torch or ONNX Runtime) behind the content-hash cache.

    Progress goes to `progress` when given, else to stderr when `show_progress`, else nowhere.
    """
    base: Embedder
    if check_backend(backend) == "torch":
        base = SentenceTransformerEmbedder(model, device=device, batch_size=batch_size, show_progress=show_progress)
    else:  # exported into the cache folder on first use; its own model id keeps its vectors apart
        base = OnnxEmbedder(
            model, backend=backend, cache_dir=cache_dir, batch_size=batch_size, show_progress=show_progress
        )
    return CachedEmbedder(base, cache_dir, progress=progress)
