"""Beyond one machine: embedding and sentiment as a map stage on a Dask cluster (`[run] engine = "dask"`).

The embedding cache stays on the driver: `CachedEmbedder` looks texts up there and hands only the
missing ones to `DistributedEmbedder`, which splits them into partitions, maps them over the
workers and gathers the vectors back in input order (whichever worker finishes first). Each worker
process loads a model once and keeps it for every later partition. Workers never download: they
call `offline_env()` before loading, so the model package must be installed on every worker.

The embedding sentiment head is a matrix product on vectors the driver already has, so it runs on
the driver; a `transformers:` scorer reads texts and is mapped over partitions like the embedder, and
so are the two other models that read texts: USE multilingual (comments and sentences not in English,
and the theme space of a mixed month) and the review model (long unsure English comments). Their
results do not depend on the partitioning: the review model scores each text on its own, and USE's
partitions are whole multiples of its batch, cut at the same places as the local encoder's batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from refine.errors import RefineError
from refine.io.config import RunSettings, offline_env
from refine.optional import check_extra, require
from refine.progress import Progress
from refine.text import embed as embed_module
from refine.text.embed import CHUNK_SIZE, CachedEmbedder, SentenceTransformerEmbedder
from refine.text.embed_multilingual import MultilingualEncoder
from refine.text.embed_onnx import OnnxEmbedder
from refine.text.sentiment import scorers as scorers_module
from refine.text.sentiment.review import ReviewModel, load_review_model

WHERE = "[run] scheduler"
PARTITION_SIZE = 256  # texts per task: large enough to batch well, small enough to spread over workers
CONNECT_TIMEOUT_S = 10

# Per worker process: models loaded once, keyed by what builds them; counters the tests read.
_WORKER_MODELS: dict[tuple, Any] = {}
_WORKER_STATS = {"loads": 0, "texts": 0, "partitions": 0, "multilingual": 0, "review": 0}


# ---------------------------------------------------------------------------------------- on workers


def _worker_model(key: tuple, build):
    model = _WORKER_MODELS.get(key)
    if model is None:
        offline_env()
        model = _WORKER_MODELS[key] = build()
        _WORKER_STATS["loads"] += 1
    return model


def _embed_partition(
    texts: list[str], model: str, backend: str, texts_per_batch: int, device: str, cache_dir: str | None
) -> np.ndarray:
    """Embed one partition with this worker's copy of the model (built on its first partition).

    `texts_per_batch` is `[model] batch_size` (not so named: `client.map` takes `batch_size` itself).
    """
    batch_size = texts_per_batch

    def build():
        if backend == "torch":
            return SentenceTransformerEmbedder(model, device=device, batch_size=batch_size)
        return OnnxEmbedder(
            model, backend=backend, batch_size=batch_size, cache_dir=Path(cache_dir) if cache_dir else None
        )

    embedder = _worker_model(("embed", model, backend, batch_size, device, cache_dir), build)
    vectors = embedder.encode(texts)
    _WORKER_STATS["texts"] += len(texts)
    _WORKER_STATS["partitions"] += 1
    return np.asarray(vectors, dtype=np.float32)


def _score_partition(texts: list[str], spec: str, device: str) -> pd.DataFrame:
    """Score one partition with this worker's copy of a transformers sentiment model."""
    scorer = _worker_model(("sentiment", spec, device), lambda: scorers_module.load_scorer(spec, device=device))
    _WORKER_STATS["partitions"] += 1
    return scorer.score(texts, None)


def _multilingual_partition(texts: list[str], texts_per_batch: int) -> np.ndarray:
    """USE multilingual vectors of one partition, in batches cut where the local encoder cuts them."""
    encoder = _worker_model(("multilingual", texts_per_batch), lambda: MultilingualEncoder(1, texts_per_batch))
    _WORKER_STATS["multilingual"] += len(texts)
    _WORKER_STATS["partitions"] += 1
    return encoder.encode(texts)


def _review_partition(texts: list[str], folder: str, cache_dir: str | None) -> np.ndarray:
    """Review-model probabilities of one partition (each text scored on its own)."""
    model = _worker_model(
        ("review", folder, cache_dir),
        lambda: ReviewModel(folder, cache_dir=Path(cache_dir) if cache_dir else None, threads=1),
    )
    _WORKER_STATS["review"] += len(texts)
    _WORKER_STATS["partitions"] += 1
    return model.predict_proba(texts)


def _read_worker_stats() -> dict[str, int]:
    return dict(_WORKER_STATS)


def worker_stats(client) -> dict[str, dict[str, int]]:
    """Models loaded, texts embedded and partitions run, per worker address (for tests and debugging)."""
    # a module-level function travels by reference, so it reads the worker's counters (a lambda
    # would carry a copy of the driver's)
    return client.run(_read_worker_stats)


# ---------------------------------------------------------------------------------------- on the driver


def _partitions(count: int, size: int) -> list[slice]:
    size = max(1, int(size))
    return [slice(start, start + size) for start in range(0, count, size)]


def embed_distributed(
    texts: Sequence[str],
    model: str,
    backend: str,
    batch_size: int,
    client,
    partition_size: int = PARTITION_SIZE,
    *,
    device: str = "cpu",
    cache_dir: str | None = None,
) -> np.ndarray:
    """Embed `texts` on the cluster behind `client`; float32 unit vectors in input order.

    Args:
        texts: the texts to embed (the cache lookup happens before, on the driver).
        model: `[model] embedding`.
        backend: `[model] backend` (torch | onnx | onnx-int8).
        batch_size: `[model] batch_size`, per forward pass on a worker.
        client: a `distributed.Client`.
        partition_size: texts per task.
        device: `[model] device` on the workers.
        cache_dir: where an onnx backend keeps its export on the workers (a path they can write).

    Returns:
        (len(texts), d) float32 array, row i the vector of texts[i].

    Example:
        >>> with Client(LocalCluster(n_workers=2)) as client:
        ...     vectors = embed_distributed(texts, "default", "torch", 64, client)
    """
    texts = [str(t) for t in texts]
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    parts = [texts[s] for s in _partitions(len(texts), partition_size)]
    futures = client.map(
        _embed_partition,
        parts,
        model=model,
        backend=backend,
        texts_per_batch=batch_size,
        device=device,
        cache_dir=cache_dir,
    )
    # gather returns results in the order of `futures`, i.e. of the partitions: input order
    return np.concatenate(client.gather(futures)).astype(np.float32)


def _client_of(source):
    """A distributed.Client, or an Engine whose client starts only when some text actually needs a worker."""
    return source.client if isinstance(source, Engine) else source


class DistributedEmbedder:
    """The Embedder protocol over a Dask cluster; same model id as the local embedder, so the cache is shared.

    `client` is a distributed.Client or an Engine (which then starts its cluster on the first miss).
    """

    def __init__(
        self,
        model: str,
        *,
        backend: str,
        batch_size: int,
        device: str,
        client,
        cache_dir: str | None = None,
        partition_size: int = PARTITION_SIZE,
    ):
        self.model_name = model
        self.backend = backend
        self.batch_size = batch_size
        self.device = device
        self.client = client
        self.cache_dir = cache_dir
        self.partition_size = partition_size
        self.show_progress = False
        base = SentenceTransformerEmbedder(model).model_id  # no model load: the id only
        self.model_id = base if backend == "torch" else f"{base}+{backend}"  # as OnnxEmbedder names it

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, 384), dtype=np.float32)
        return embed_distributed(
            texts,
            self.model_name,
            self.backend,
            self.batch_size,
            _client_of(self.client),
            self.partition_size,
            device=self.device,
            cache_dir=self.cache_dir,
        )


class DistributedScorer:
    """A `transformers:` sentiment model mapped over partitions; rows come back in input order."""

    def __init__(self, spec: str, *, device: str, client, partition_size: int = PARTITION_SIZE):
        self.spec = spec
        self.model_id = f"transformers:{spec.split(':', 1)[1].strip()}"
        self.device = device
        self.client = client
        self.partition_size = partition_size

    def score(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        texts = [str(t) if t is not None else "" for t in texts]
        if not texts:
            return scorers_module._frame(np.zeros((0, 3)), [])
        parts = [texts[s] for s in _partitions(len(texts), self.partition_size)]
        client = _client_of(self.client)
        futures = client.map(_score_partition, parts, spec=self.spec, device=self.device)
        return pd.concat(client.gather(futures), ignore_index=True)


class DistributedMultilingual(MultilingualEncoder):
    """USE multilingual v3 over the cluster: the same model id and vectors as the local encoder (each
    partition a whole number of its batches, so every batch holds the texts it holds locally)."""

    def __init__(self, *, client, partition_size: int = PARTITION_SIZE, batch_size: int = 64):
        super().__init__(batch_size=batch_size)
        self.client = client
        self.partition_size = max(1, partition_size // self.batch_size) * self.batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        client = _client_of(self.client)
        parts = [texts[s] for s in _partitions(len(texts), self.partition_size)]
        futures = client.map(_multilingual_partition, parts, texts_per_batch=self.batch_size)
        return np.concatenate(client.gather(futures)).astype(np.float32)


class DistributedReviewModel(ReviewModel):
    """The review model over the cluster: card, ids and cache key as the local one, probabilities from the
    workers (each text on its own: the same figures whatever the partitions)."""

    def __init__(self, folder, *, cache_dir: Path | None, client, partition_size: int = PARTITION_SIZE):
        super().__init__(folder, cache_dir=cache_dir)
        self.client = client
        self.partition_size = partition_size

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, 3))
        texts = [str(t) for t in texts]
        client = _client_of(self.client)
        parts = [texts[s] for s in _partitions(len(texts), self.partition_size)]
        futures = client.map(_review_partition, parts, folder=str(self.folder), cache_dir=str(self.cache_dir))
        return np.concatenate(client.gather(futures)).astype(np.float64)


# ---------------------------------------------------------------------------------------- the engine


class Engine:
    """Where embedding and sentiment run: "local" (this process) or "dask" (a cluster, started lazily).

    With `scheduler = ""` a LocalCluster of `workers` processes is started on first use and closed
    by `close()`; with an address, refine connects to that scheduler and leaves the cluster running.
    """

    def __init__(self, settings: RunSettings):
        self.name = getattr(settings, "engine", "local")
        self.scheduler = getattr(settings, "scheduler", "")
        self.workers = int(getattr(settings, "workers", 1)) if self.name == "dask" else 1
        self._client = None
        self._cluster = None
        self._started = False
        self.connect_timeout_s = CONNECT_TIMEOUT_S
        if self.distributed:  # at the start of a run, not after ingest and the cache lookup
            check_extra("dask", 'engine "dask"', where="[run] engine")

    @property
    def distributed(self) -> bool:
        return self.name == "dask"

    @property
    def client(self):
        if not self.distributed:
            raise RuntimeError("the local engine has no client")  # a bug in the caller, not user input
        if self._client is None:
            self._client = self._connect()
            self._started = True
        return self._client

    def _connect(self):
        dask_distributed = require("dask", "distributed", 'engine "dask"', where="[run] engine")
        Client, LocalCluster = dask_distributed.Client, dask_distributed.LocalCluster
        if not self.scheduler:
            self._cluster = LocalCluster(
                n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=":0"
            )
            return Client(self._cluster)
        try:
            client = Client(self.scheduler, timeout=self.connect_timeout_s)
        except Exception as exc:  # unreachable host, refused port, bad address: all a config problem
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise RefineError(
                f"cannot connect to the Dask scheduler {self.scheduler!r} ({type(exc).__name__}: {first})", where=WHERE
            ) from None
        self.workers = len(client.nthreads())
        if self.workers == 0:
            client.close()
            self._client = None
            raise RefineError(
                f"the Dask scheduler {self.scheduler!r} has no workers "
                f"(start some with `dask worker {self.scheduler}`)",
                where=WHERE,
            )
        return client

    def describe(self) -> dict[str, Any]:
        """What run.json records."""
        if not self.distributed:
            return {"name": "local", "workers": 1}
        # started: False when every text came from the cache and no worker was needed
        return {
            "name": "dask",
            "workers": self.workers,
            "scheduler": self.scheduler or "local cluster",
            "started": self._client is not None or self._started,
        }

    def embedder(self, config, *, show_progress: bool = False, progress=None):
        """The pipeline's cached embedder: the cache on this machine, the missing texts embedded where the engine runs.

        Progress of the embedding goes to `progress` (a refine.progress.Progress) when given, else to
        stderr when `show_progress`.
        """
        model = config.model
        if not self.distributed:
            return embed_module.build_embedder(
                model.embedding,
                device=model.device,
                batch_size=model.batch_size,
                cache_dir=config.cache_dir,
                show_progress=show_progress,
                backend=model.backend,
                progress=progress,
            )
        remote = DistributedEmbedder(
            model.embedding,
            backend=model.backend,
            batch_size=model.batch_size,
            device=model.device,
            client=self,
            cache_dir=str(config.cache_dir),
        )
        if progress is None and show_progress:
            progress = Progress()
        cached = CachedEmbedder(remote, config.cache_dir, progress=progress)
        # a chunk is cached as soon as it comes back; big enough to keep every worker busy
        cached.chunk_size = max(CHUNK_SIZE, 4 * self.workers * remote.partition_size)
        return cached

    def scorer(self, spec: str, *, device: str):
        """The sentiment scorer: a `transformers:` model on the cluster, the embedding head here."""
        if self.distributed and (spec or "").strip().startswith("transformers:"):
            if not spec.split(":", 1)[1].strip():
                return scorers_module.load_scorer(spec, device=device)  # raises the usual one-line error
            return DistributedScorer(spec.strip(), device=device, client=self)
        return scorers_module.load_scorer(spec, device=device)

    def multilingual_encoder(self) -> MultilingualEncoder:
        """USE multilingual: in this process, or on the cluster (the cache in front of it stays here)."""
        return DistributedMultilingual(client=self) if self.distributed else MultilingualEncoder()

    def review_model(self, spec: str, *, cache_dir: Path | None) -> ReviewModel | None:
        """`[model] review`'s model (None for "off"): in this process, or on the cluster."""
        if not self.distributed:
            return load_review_model(spec, cache_dir=cache_dir)
        local = load_review_model(spec, cache_dir=cache_dir)  # the checks and the card, without a session
        if local is None:
            return None
        return DistributedReviewModel(local.folder, cache_dir=local.cache_dir, client=self)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
