"""Can a multi-sentence comment's vector be built from its sentences' vectors instead of embedding it whole?

Usage:
    PYTHONPATH=. .venv/bin/python bench/comment_from_sentences.py [N]     # N clothing test reviews (default 600)
    PYTHONPATH=. .venv/bin/python bench/comment_from_sentences.py --cost N [PAIRS] [BACKEND]
        # embedding cost, cold, of the N longest clothing reviews: whole route vs mean route in PAIRS
        # interleaved pairs (default 3, backend onnx-int8), each from an empty embedding cache

Issue 32 asked that each piece of text be embedded once. A run embeds every comment and, for a comment
of two or more sentences, each sentence too (a one-sentence comment's sentence vector is its comment
vector already). Building the comment vector as the normalised mean of its sentences' vectors would
save the comment embedding, the larger part of a cold run with long reviews, but the sentiment head and
the sentence aggregator were trained on whole-comment vectors. This script measures what that costs on
the first N reviews of the clothing test half (training/_common.clothing_parts, the half the shipped
aggregator was not chosen on), with the packaged torch model: the cosine between the two vectors, and the
pipeline's sentiment (refine.text.sentiment.stage, no review model) macro-F1 and accuracy against the
stars (1-2 negative, 3 neutral, 4-5 positive) with each.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from refine.text.embed import build_embedder  # noqa: E402
from refine.text.sentences import build_sentences  # noqa: E402
from refine.text.sentiment.scorers import load_scorer  # noqa: E402
from refine.text.sentiment.stage import FeedbackSentiment  # noqa: E402
from training._common import clothing_parts  # noqa: E402


def _embed_route(texts: list[str], how: str, backend: str) -> dict:
    """The sentences and embed stages of `refine run` with `[model] comment_vectors = how`, from an empty cache."""
    import os
    import time

    from refine.text.embed import CachedEmbedder, SentenceTransformerEmbedder
    from refine.text.embed_onnx import OnnxEmbedder
    from refine.text.sentences import pooled_comments, split_texts, whole_texts
    from training._common import CACHE_DIR

    if backend == "torch":
        base = SentenceTransformerEmbedder("default", device="cpu", batch_size=64)
    else:  # the ONNX export is read from the bench cache; the embeddings go to an empty cache
        base = OnnxEmbedder("default", backend=backend, cache_dir=CACHE_DIR, batch_size=64)
    base.encode(["warm the model up"])  # loading the model is not part of either route
    embedder = CachedEmbedder(base, Path(tempfile.mkdtemp()))
    cpu, wall = time.process_time(), time.perf_counter()
    frame = split_texts(texts)
    rows = whole_texts(texts, frame, how)
    docs = np.zeros((len(texts), 384), dtype=np.float32)
    docs[rows] = embedder.encode([texts[i] for i in rows])
    computed = embedder.last_computed
    table = build_sentences(texts, docs, embedder, frame=frame)
    computed += embedder.last_computed
    pooled_comments(docs, texts, table, how)
    return {
        "cpu": time.process_time() - cpu,
        "wall": time.perf_counter() - wall,
        "embedded": computed,
        "load": os.getloadavg()[0],
    }


def cost(n: int, pairs: int, backend: str) -> None:
    import pandas as pd

    reviews = pd.read_csv(ROOT.parent / "shared" / "data" / "womens_clothing_reviews.csv")
    texts = reviews["Review Text"].dropna().astype(str)
    texts = texts[texts.str.strip() != ""]
    texts = texts.loc[texts.str.len().sort_values(ascending=False, kind="stable").index[:n]].tolist()
    print(f"{n} longest clothing reviews (median {int(np.median([len(t) for t in texts]))} characters), {backend}")
    totals: dict[str, list[float]] = {"whole": [], "mean": []}
    for pair in range(pairs):
        for how in ("whole", "mean") if pair % 2 == 0 else ("mean", "whole"):
            r = _embed_route(texts, how, backend)
            totals[how].append(r["cpu"])
            print(
                f"  pair {pair + 1} {how:<5}: {r['embedded']:>5} texts embedded, {r['cpu']:6.1f} CPU s, "
                f"{r['wall']:6.1f} s wall, load average {r['load']:.2f}"
            )
    w, m = np.median(totals["whole"]), np.median(totals["mean"])
    print(f"median CPU s: whole {w:.1f}, mean {m:.1f} ({m / w:.2f}x)")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--cost":
        n = int(sys.argv[2]) if len(sys.argv) > 2 else 1200
        cost(n, int(sys.argv[3]) if len(sys.argv) > 3 else 3, sys.argv[4] if len(sys.argv) > 4 else "onnx-int8")
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 600
    reviews, _, test = clothing_parts(ROOT.parent / "shared" / "data", 0)
    part = reviews[test].head(n).reset_index(drop=True)
    texts = part["text"].astype(str).tolist()
    stars = part["rating"].to_numpy()
    truth = np.where(stars <= 2, "negative", np.where(stars == 3, "neutral", "positive"))
    embedder = build_embedder("default", device="cpu", batch_size=64, cache_dir=Path(tempfile.mkdtemp()))
    whole = embedder.encode(texts)
    table = build_sentences(texts, whole, embedder)
    rows = table.frame["feedback_row"].to_numpy()
    multi = np.bincount(rows, minlength=len(texts)) > 1
    mean = np.zeros_like(whole)
    np.add.at(mean, rows, table.embeddings)
    mean /= np.linalg.norm(mean, axis=1, keepdims=True)
    built = np.where(multi[:, None], mean, whole).astype(np.float32)
    cosine = (whole[multi] * mean[multi]).sum(axis=1)
    print(
        f"{len(texts)} reviews, {int(multi.sum())} of two or more sentences, {len(table)} sentence rows; cosine "
        f"whole vs mean of sentences: median {np.median(cosine):.3f}, 10th percentile {np.quantile(cosine, 0.1):.3f}"
    )
    labels = {}
    for name, vectors in (("whole-comment vectors", whole), ("built from sentences", built)):
        stage = FeedbackSentiment(load_scorer("default"), review_model=None)
        result = stage.score(texts, vectors, sentences=build_sentences(texts, vectors, embedder))
        labels[name] = result.documents["sentiment_label"].to_numpy()
        f1 = f1_score(truth, labels[name], average="macro")
        print(f"  {name}: macro-F1 {f1:.4f}, accuracy {np.mean(labels[name] == truth):.4f}")
    a, b = labels.values()
    print(f"  labels agree on {np.mean(a == b):.4f} of reviews")


if __name__ == "__main__":
    main()
