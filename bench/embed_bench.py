"""Embedding backends side by side: texts per second and agreement with torch fp32, in one process.

Usage:
    .venv/bin/python bench/embed_bench.py                         # 5000 clothing reviews
    .venv/bin/python bench/embed_bench.py --n 2000 --texts tweeteval
    .venv/bin/python bench/embed_bench.py --backends torch,onnx-int8 --repeats 3

Every backend (`[model] backend`: torch = sentence-transformers fp32, onnx-int8, onnx) embeds the
same N texts in this process with the same batch size and thread count, after a warm-up batch that
is not timed (the one-off ONNX export is timed apart and reported). With --repeats R each backend
runs R times, interleaved, and the median is reported. Printed per backend: texts/s, the ratio to
torch fp32, and cosine similarity of each text's vector to its torch fp32 vector (mean, 1st
percentile, min). The timed runs never touch the embedding cache.

Quality checks, on the clothing reviews when the data is there:
  * topics: refine's fit_topics (default settings) on the timed texts' vectors from each backend;
    NMI of the topic assignment against Department Name and Class Name (as bench/topics_bench.py),
    and NMI between the fp32 and the other backend's assignment.
  * sentiment: the packaged head (refine/models/sentiment_head.npz) scores --sentiment-n held-out
    clothing reviews (the split of training/train_default_head.py) from each backend's vectors;
    3-class macro-F1 per backend. Until the packaged head exists, a stand-in logistic-regression
    head trained on fp32 vectors of train-split clothing reviews takes its place (and says so).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _env import HERE  # isort: skip - first: offline models, sys.path


import numpy as np

DEFAULT_DATA = HERE.parents[1] / "shared" / "data"


def load_texts(kind: str, data_dir: Path, n: int):
    """(texts, topic labels or None): the first n non-empty clothing reviews or TweetEval test tweets."""
    if kind == "clothing":
        from topics_bench import load_reviews

        return load_reviews(data_dir, n)
    path = data_dir / "sentiment" / "tweeteval_test_text.txt"
    lines = [line.strip() for line in path.read_text(encoding="utf-8").split("\n")]
    return [t for t in lines if t][:n], None


def make_embedder(backend: str, batch_size: int, export_dir: Path):
    from refine.text.embed import SentenceTransformerEmbedder
    from refine.text.embed_onnx import OnnxEmbedder

    if backend == "torch":
        return SentenceTransformerEmbedder("default", batch_size=batch_size)
    return OnnxEmbedder("default", backend=backend, cache_dir=export_dir, batch_size=batch_size)


def topic_rows(texts, labels, vectors: dict[str, np.ndarray], seed: int) -> None:
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from refine.io.config import TopicSettings
    from refine.text.themes.topics import fit_topics

    assignments = {}
    print(f"\ntopics (fit_topics defaults) on the same {len(texts)} texts; NMI as bench/topics_bench.py")
    print(
        f"{'backend':<10} {'topics':>6} {'unassigned':>10} {'NMI dept':>9} {'NMI class':>9} "
        f"{'d dept':>7} {'d class':>7} {'NMI vs torch':>12}"
    )
    for backend, v in vectors.items():
        model = fit_topics(texts, v, TopicSettings(), seed=seed)
        topics = np.asarray(model.doc_topics)
        assignments[backend] = topics
        dept, cls = nmi(labels["Department Name"], topics), nmi(labels["Class Name"], topics)
        if backend == "torch":
            base = (dept, cls)
        print(
            f"{backend:<10} {len(model.topics):>6} {float((topics == -1).mean()):>10.1%} {dept:>9.3f} {cls:>9.3f} "
            f"{dept - base[0]:>+7.3f} {cls - base[1]:>+7.3f} {nmi(assignments['torch'], topics):>12.3f}"
        )


def sentiment_rows(data_dir: Path, n: int, embedders: dict, cache_dir: Path, seed: int) -> None:
    from refine.text.embed import CachedEmbedder
    from refine.text.sentiment.scorers import default_head_path, evaluate, load_scorer
    from training._common import load_sources

    head = load_scorer("default") if default_head_path().is_file() else None
    split_seed = int(getattr(head, "card", {}).get("split", {}).get("seed", 0)) if head else 0
    data = load_sources(data_dir, split_seed)
    clothing = data[data["source"] == "clothing"]
    held = clothing[clothing["split"] == "holdout"]
    held = held.sample(n=n, random_state=seed) if n < len(held) else held
    texts, truth = held["text"].tolist(), held["label"].to_numpy(dtype=object)
    # torch vectors through the bench cache (training/train_default_head.py fills it): same vectors, no wait
    torch_cached = CachedEmbedder(embedders["torch"], cache_dir)

    def vectors(backend: str, some: list[str]) -> np.ndarray:
        return torch_cached.encode(some) if backend == "torch" else embedders[backend].encode(some)

    if head is not None:
        name = f"packaged head {head.model_id}"

        def predict(x):
            return head.score(texts, x)["sentiment_label"].to_numpy(dtype=object)
    else:
        # the packaged head is not trained yet: a stand-in linear head trained on fp32 vectors shows
        # how much int8 vectors move a head's decisions
        from sklearn.linear_model import LogisticRegression

        train = clothing[clothing["split"] == "train"]
        train = train.sample(n=min(4000, len(train)), random_state=seed)
        stand_in = LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced")
        stand_in.fit(vectors("torch", train["text"].tolist()), train["label"].to_numpy())
        name = (
            f"STAND-IN head (no packaged head at {default_head_path()} yet): logistic regression "
            f"on fp32 vectors of {len(train)} train-split clothing reviews"
        )

        def predict(x):
            return stand_in.predict(x).astype(object)

    print(f"\nsentiment: {name}; {len(texts)} held-out clothing reviews, 3-class")
    print(f"{'backend':<10} {'macro-F1':>8} {'accuracy':>8} {'d F1':>7} {'labels = torch':>14}")
    base = None
    for backend in embedders:
        labels = predict(vectors(backend, texts))
        scores = evaluate(truth, labels)
        if base is None:
            base, base_labels = scores, labels
        print(
            f"{backend:<10} {scores['macro_f1']:>8.4f} {scores['accuracy']:>8.4f} "
            f"{scores['macro_f1'] - base['macro_f1']:>+7.4f} {np.mean(labels == base_labels):>14.1%}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="texts to embed with every backend")
    parser.add_argument("--texts", choices=("clothing", "tweeteval"), default="clothing")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--backends", default="torch,onnx-int8,onnx", help="comma-separated; torch always runs")
    parser.add_argument("--batch-size", type=int, default=64, help="the same for every backend ([model] default)")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per backend (interleaved); median")
    parser.add_argument(
        "--export-dir",
        type=Path,
        default=Path("/tmp/refine-bench-cache"),
        help="ONNX exports (its onnx/ folder) and the torch vectors the sentiment check reuses",
    )
    parser.add_argument("--sentiment-n", type=int, default=2000, help="held-out clothing reviews; 0 = skip")
    parser.add_argument("--no-topics", action="store_true", help="skip the topic NMI check")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    source = args.data_dir / (
        "womens_clothing_reviews.csv" if args.texts == "clothing" else "sentiment/tweeteval_test_text.txt"
    )
    if not source.is_file():
        print(f"no benchmark data at {source}; nothing to benchmark")
        return 0
    import torch

    texts, labels = load_texts(args.texts, args.data_dir, args.n)
    backends = ["torch"] + [b for b in args.backends.split(",") if b and b != "torch"]
    embedders, setup = {}, {}
    for backend in backends:
        started = time.perf_counter()
        embedders[backend] = make_embedder(backend, args.batch_size, args.export_dir)
        embedders[backend].encode(texts[: args.batch_size])  # warm-up (and export, first time): not timed
        setup[backend] = time.perf_counter() - started
    threads = torch.get_num_threads()
    onnx_threads = {
        b: e._session.get_session_options().intra_op_num_threads for b, e in embedders.items() if b != "torch"
    }
    print(
        f"embedding bench: {len(texts)} {args.texts} texts, batch {args.batch_size}, torch threads {threads}, "
        f"onnxruntime threads {onnx_threads or '-'}, {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.1f}"
    )
    chars = np.array([len(t) for t in texts])
    print(f"text length: mean {chars.mean():.0f} chars, median {np.median(chars):.0f}, max {chars.max()}")

    rates: dict[str, list[float]] = {b: [] for b in backends}
    vectors: dict[str, np.ndarray] = {}
    for _ in range(max(1, args.repeats)):
        for backend in backends:
            started = time.perf_counter()
            vectors[backend] = embedders[backend].encode(texts)
            rates[backend].append(len(texts) / (time.perf_counter() - started))

    base = float(np.median(rates["torch"]))
    print(
        f"\n{'backend':<10} {'texts/s':>8} {'x torch':>8} {'cos mean':>9} {'cos p1':>8} {'cos min':>8} "
        f"{'setup s':>8}  model id"
    )
    for backend in backends:
        rate = float(np.median(rates[backend]))
        cosine = (vectors[backend] * vectors["torch"]).sum(axis=1)
        runs = "" if len(rates[backend]) == 1 else "  runs " + " ".join(f"{r:.1f}" for r in rates[backend])
        print(
            f"{backend:<10} {rate:>8.1f} {rate / base:>8.2f} {cosine.mean():>9.4f} "
            f"{np.percentile(cosine, 1):>8.4f} {cosine.min():>8.4f} {setup[backend]:>8.1f}  "
            f"{embedders[backend].model_id}{runs}"
        )
    print(f"load avg after timing: {os.getloadavg()[0]:.1f} (other work on the machine slows every backend)")

    if labels is not None and not args.no_topics:
        topic_rows(texts, labels, vectors, args.seed)
    if args.sentiment_n > 0 and (args.data_dir / "sentiment").is_dir():
        sentiment_rows(args.data_dir, args.sentiment_n, embedders, args.export_dir, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
