"""ONNX Runtime embedding backends (`[model] backend = "onnx"` or `"onnx-int8"`).

The sentence-transformers model's transformer is exported to ONNX once, on this machine, from the
local model files (nothing is downloaded), and kept in the refine cache folder; "onnx-int8" then
quantizes its weights to int8 (dynamic quantization, per output channel). Encoding runs the ONNX
graph and does what the sentence-transformers model does after it in numpy: mean pooling over real
tokens and L2 normalisation. At run time neither torch nor transformers is imported.

Vectors from these backends carry their own model id ("...+onnx-int8", "...+onnx"), so the
embedding cache never mixes them with torch vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from refine.errors import RefineError
from refine.io.config import DEFAULT_MODEL, EMBEDDING_BACKENDS, RefineConfig, default_model_path, offline_env
from refine.optional import check_extra
from refine.progress import Progress
from refine.versions import package_versions

WHERE = "[model] backend"
ONNX_BACKENDS = tuple(b for b in EMBEDDING_BACKENDS if b != "torch")
OPSET = 17
# Bump when the export recipe changes, so older exports in users' caches are not reused.
RECIPE = 1
MODEL_FILE = "model.onnx"
CARD_FILE = "refine_onnx.json"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_VERSIONED = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime", "tokenizers")


def check_backend(backend: str) -> str:
    """The backend name, or a one-line RefineError naming `[model] backend`."""
    if backend not in EMBEDDING_BACKENDS:
        raise RefineError(f"must be one of {', '.join(EMBEDDING_BACKENDS)}, got {backend!r}", where=WHERE)
    return backend


def _model_source(model: str) -> tuple[str, str]:
    """(path or id to load, fingerprint of the files it names) for `[model] embedding`."""
    if model == DEFAULT_MODEL:
        path = default_model_path()
    else:
        path = Path(model).expanduser()
        if not path.is_dir():
            return model, model  # a hub id: resolved from the local Hugging Face cache, offline
    # name, size and mtime of each file: an upgraded model package gets a fresh export
    files = sorted(
        (p.relative_to(path).as_posix(), p.stat().st_size, int(p.stat().st_mtime))
        for p in path.rglob("*")
        if p.is_file()
    )
    return str(path.resolve()), json.dumps([str(path.resolve()), files])


def export_folder(cache_dir: Path, model: str, backend: str) -> Path:
    """Where the export of `model` for `backend` lives: keyed by model files, backend and library versions."""
    _, fingerprint = _model_source(model)
    key = json.dumps(
        {
            "model": fingerprint,
            "backend": backend,
            "recipe": RECIPE,
            "opset": OPSET,
            "versions": package_versions(_VERSIONED),
        },
        sort_keys=True,
    )
    return Path(cache_dir) / "onnx" / f"{backend}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def ensure_export(cache_dir: Path, model: str, backend: str) -> Path:
    """The export folder, exporting first if it is not there yet (atomically: `build_once`)."""
    check_backend(backend)
    return build_once(export_folder(cache_dir, model, backend), CARD_FILE, lambda tmp: _export(model, backend, tmp))


def build_once(final: Path, marker: str, build: Callable[[Path], object]) -> Path:
    """`final`, built by `build(folder)` first unless `final/marker` is there (the marker is written last).

    The build writes into a temporary folder beside the final one, renamed into place, so a killed
    build never leaves half a model where a later run would load it.
    """
    if (final / marker).is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(final)
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        build(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / marker).is_file():  # not another process finishing first: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


def _remove_stale_temps(final: Path, older_than_s: float = 3600) -> None:
    """Leftovers of exports killed long ago; a recent one may still be another process at work."""
    for stale in final.parent.glob(f".{final.name}.tmp-*"):
        try:
            if time.time() - stale.stat().st_mtime > older_than_s:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


def _load_sentence_transformer(model: str):
    offline_env()
    from sentence_transformers import SentenceTransformer

    source, _ = _model_source(model)
    try:
        return SentenceTransformer(source, device="cpu")
    except Exception as exc:  # any loader failure is a config problem for the user
        raise RefineError(
            f"cannot load embedding model {model!r} offline ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
            where="[model] embedding",
        ) from None


def _pipeline_parts(st_model, model: str):
    """(transformer module, max_seq_length), refusing models whose pooling this backend does not redo."""
    kinds = [type(m).__name__ for m in st_model]
    pooling = st_model[1] if len(kinds) > 1 else None
    mode = getattr(pooling, "pooling_mode", None) or (
        "mean" if getattr(pooling, "pooling_mode_mean_tokens", False) else None
    )
    if (
        kinds[:2] != ["Transformer", "Pooling"]
        or set(kinds[2:]) - {"Normalize"}
        or mode != "mean"
        or getattr(pooling, "include_prompt", True) is not True
    ):
        raise RefineError(
            f"the onnx backends handle Transformer + mean Pooling (+ Normalize) models; "
            f'{model!r} is {" + ".join(kinds)} (pooling {mode}): use backend = "torch"',
            where=WHERE,
        )
    transformer = st_model[0]
    hf_model = transformer.auto_model
    if not (hasattr(hf_model, "embeddings") and hasattr(hf_model, "encoder")):
        raise RefineError(
            f"the onnx backends export BERT-style encoders; {model!r} is "
            f'{type(hf_model).__name__}: use backend = "torch"',
            where=WHERE,
        )
    tokenizer = transformer.tokenizer
    if not getattr(tokenizer, "is_fast", False):
        raise RefineError(
            f'the onnx backends need a fast tokenizer (tokenizer.json); {model!r} has none: use backend = "torch"',
            where=WHERE,
        )
    return transformer, int(st_model.max_seq_length)


def _export(model: str, backend: str, folder: Path) -> None:
    """Export (and for onnx-int8 quantize) into `folder`; the card goes last."""
    import torch

    st_model = _load_sentence_transformer(model)
    transformer, max_seq_length = _pipeline_parts(st_model, model)
    hf_model = transformer.auto_model.eval()
    # Eager attention with a plain additive mask: the library's own mask builders bake the
    # example's shapes into a traced graph, which then breaks for other batch and sequence sizes.
    hf_model.config._attn_implementation = "eager"

    class Encoder(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.inner.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
            additive = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
            return self.inner.encoder(hidden, attention_mask=additive).last_hidden_state

    example = transformer.tokenizer(
        ["a short example", "a somewhat longer example sentence for the export"], padding=True, return_tensors="pt"
    )
    fp32_path = folder / ("model-fp32.onnx" if backend == "onnx-int8" else MODEL_FILE)
    axes = {name: {0: "batch", 1: "sequence"} for name in (*INPUTS, "token_embeddings")}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Encoder(hf_model),
            tuple(example[name] for name in INPUTS),
            str(fp32_path),
            input_names=list(INPUTS),
            output_names=["token_embeddings"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    if backend == "onnx-int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # Per-channel int8 weights on the MatMuls only: per-tensor scales (or quantizing the
        # embedding tables) cost MiniLM ~0.05 cosine to fp32; per-channel keeps it above 0.99.
        # its advice to pre-process first does not apply: symbolic shape inference fails on this graph
        root = logging.getLogger()

        def hush(record: logging.LogRecord) -> bool:
            return "pre-processing before quantization" not in record.getMessage()

        root.addFilter(hush)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                quantize_dynamic(
                    str(fp32_path),
                    str(folder / MODEL_FILE),
                    op_types_to_quantize=["MatMul"],
                    per_channel=True,
                    weight_type=QuantType.QInt8,
                )
        finally:
            root.removeFilter(hush)
        fp32_path.unlink()
    transformer.tokenizer.save_pretrained(str(folder / "tokenizer"))
    card = {
        "model": model,
        "backend": backend,
        "max_seq_length": max_seq_length,
        "dimension": int(hf_model.config.hidden_size),
        "pooling": "mean",
        "normalize": True,
        "opset": OPSET,
        "recipe": RECIPE,
        "versions": package_versions(_VERSIONED),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2), encoding="utf-8")


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _shrink():
    """Run options that hand the CPU arena's free memory back when the run ends: set on the last batch of an
    `encode`, so the arena grown for the longest batch is not held through the stages after (about 0.5 GB
    at 100k comments; issue 32), and kept between the batches of one call."""
    import onnxruntime as ort

    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def cpu_session(path: Path, threads: int | None = None):
    """An onnxruntime CPU session: `threads` intra-op threads (default: the CPUs this process may use),
    sequential and deterministic, quiet."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or _available_cpus()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.use_deterministic_compute = True
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxEmbedder:
    """The sentence-transformers model run by ONNX Runtime on the CPU; exported on first use.

    Args:
        model: `[model] embedding` ("default" or a local sentence-transformers folder / cached hub id).
        backend: "onnx" (fp32, same vectors as torch to ~1e-6) or "onnx-int8" (int8 weights).
        cache_dir: the refine cache folder; the export lives under its onnx/ folder.
        batch_size: texts per ONNX Runtime call, after sorting all texts by length.
        threads: ONNX Runtime intra-op threads; default every CPU this process may use.

    Example:
        >>> embedder = OnnxEmbedder("default", backend="onnx-int8", cache_dir=Path("~/.cache/refine"))
        >>> vectors = embedder.encode(["the parcel came late", "great fit"])  # (2, 384), unit length

    With int8, activations are quantized per batch, so a text's vector moves slightly (~1e-3) with
    the other texts in its batch; the same texts in the same order always give the same vectors.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        backend: str = "onnx-int8",
        cache_dir: Path | None,
        batch_size: int = 64,
        threads: int | None = None,
        show_progress: bool = False,
    ):
        self.model_name = model
        self.backend = check_backend(backend)
        if backend not in ONNX_BACKENDS:
            raise RefineError(f"OnnxEmbedder runs {', '.join(ONNX_BACKENDS)}, not {backend!r}", where=WHERE)
        check_extra("onnx", f"backend {backend!r}", where=WHERE)  # before any text is read, not at first batch
        if cache_dir is None:
            cache_dir = RefineConfig().cache_dir
        self.cache_dir = Path(cache_dir)
        self.batch_size = max(1, int(batch_size))
        self.threads = threads
        self.show_progress = show_progress
        self.on_batch: Callable[[int], object] | None = None  # told the texts each batch finished (CachedEmbedder)
        base = "sentence-transformers/all-MiniLM-L6-v2" if model == DEFAULT_MODEL else model
        self.model_id = f"{base}+{backend}"
        self.loads = 0
        self.folder: Path | None = None
        self._session = None
        self._tokenizer: Any = None  # a tokenizers.Tokenizer once loaded
        self._input_names: list[str] = []
        self.dimension = 384

    def _load(self):
        if self._session is None:
            from tokenizers import Tokenizer

            self.folder = ensure_export(self.cache_dir, self.model_name, self.backend)
            card = json.loads((self.folder / CARD_FILE).read_text(encoding="utf-8"))
            self.dimension = int(card["dimension"])
            tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer" / "tokenizer.json"))
            tokenizer.no_padding()  # padding is per batch, after sorting by length
            tokenizer.enable_truncation(max_length=int(card["max_seq_length"]))
            self._session = cpu_session(self.folder / MODEL_FILE, self.threads)
            self._input_names = [i.name for i in self._session.get_inputs()]
            self._tokenizer = tokenizer
            self.loads += 1
        return self._session

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text, in input order."""
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        session = self._load()
        encodings = self._tokenizer.encode_batch([str(t) for t in texts])
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")  # longest first: a memory problem shows at once
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        task = Progress(quiet=not self.show_progress).task("embedding", len(texts), "texts")
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = int(lengths[rows].max())
            feed = {name: np.zeros((len(rows), width), dtype=np.int64) for name in INPUTS}
            for r, i in enumerate(rows):
                e = encodings[i]
                n = len(e.ids)
                feed["input_ids"][r, :n] = e.ids
                feed["attention_mask"][r, :n] = e.attention_mask
                feed["token_type_ids"][r, :n] = e.type_ids
            last = start + self.batch_size >= len(order)
            tokens = session.run(None, {name: feed[name] for name in self._input_names}, _shrink() if last else None)[0]
            mask = feed["attention_mask"][:, :, None].astype(np.float32)
            pooled = (tokens * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[rows] = pooled
            task.advance(len(rows))
            if self.on_batch is not None:
                self.on_batch(len(rows))
        task.done()
        return out
