"""Benchmark the packaged sentiment head against VADER on held-out public data.

Usage:
    HF_HUB_OFFLINE=1 python bench/sentiment_bench.py [--data ../shared/data] [--head default]

Held-out sets (the same seeded split bench/train_default_head.py trained with; the seed is read
from the head's card):
  * TweetEval, held-out part, 3 classes: macro-F1 and accuracy.
  * SST-2 dev (never trained on) and SST-2 held-out, binary: the head says positive when
    p_positive > p_negative (argmax over those two, neutral ignored); VADER when compound >= 0.
  * Clothing reviews, held-out part, 3 classes (1-2 stars negative, 3 neutral, 4-5 positive).
  * Clothing 1-2 star held-out reviews: share labelled negative (recall of negative), the
    complaint-style number that matters for CX text.
Three-class VADER labels: compound >= 0.05 positive, <= -0.05 negative, else neutral.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from train_default_head import DEFAULT_DATA, bench_embedder, embed_in_chunks, load_sources  # noqa: E402


def vader_predictions(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """VADER's 3-class labels (compound +-0.05) and binary labels (compound >= 0 positive)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    compound = np.array([analyzer.polarity_scores(t)["compound"] for t in texts])
    three = np.where(compound >= 0.05, "positive", np.where(compound <= -0.05, "negative", "neutral"))
    binary = np.where(compound >= 0, "positive", "negative")
    return three.astype(object), binary.astype(object)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--head", default="default", help="[model] sentiment spec of the head to benchmark")
    args = parser.parse_args(argv)
    if not (args.data / "sentiment").is_dir() or not (args.data / "womens_clothing_reviews.csv").is_file():
        print(
            f"no benchmark data at {args.data} (needs sentiment/ and womens_clothing_reviews.csv); nothing to benchmark"
        )
        return 0
    try:
        import vaderSentiment  # noqa: F401
    except ImportError:
        print("vaderSentiment is not installed (pip install 'refine[bench]'); nothing to benchmark")
        return 0

    from refine.sentiment import evaluate, load_scorer

    head = load_scorer(args.head)
    split = getattr(head, "card", {}).get("split", {})
    seed = int(split.get("seed", 0))
    data = load_sources(args.data, seed)
    data = data[data["split"] != "train"].reset_index(drop=True)
    started = time.time()
    x = embed_in_chunks(bench_embedder(), data["text"].tolist())
    frame = head.score(data["text"].tolist(), x)
    probs = frame[["p_negative", "p_neutral", "p_positive"]].to_numpy()
    head_three = frame["sentiment_label"].to_numpy(dtype=object)
    head_binary = np.where(probs[:, 2] > probs[:, 0], "positive", "negative").astype(object)
    vader_three, vader_binary = vader_predictions(data["text"].tolist())

    rows = [
        ("TweetEval held-out (3-class)", (data["source"] == "tweeteval") & (data["split"] == "holdout"), "three"),
        ("SST-2 dev (binary)", data["source"] == "sst2_dev", "binary"),
        ("SST-2 held-out (binary)", (data["source"] == "sst2") & (data["split"] == "holdout"), "binary"),
        ("Clothing held-out (3-class)", (data["source"] == "clothing") & (data["split"] == "holdout"), "three"),
    ]
    print(f"sentiment benchmark: head {head.model_id} vs VADER; split seed {seed}; data {args.data}")
    print(f"{'set':<30} {'n':>6} | {'head F1':>7} {'head acc':>8} | {'VADER F1':>8} {'VADER acc':>9} | {'F1 gain':>7}")
    print("-" * 88)
    truth = data["label"].to_numpy(dtype=object)
    for name, mask, kind in rows:
        m = mask.to_numpy()
        h = evaluate(truth[m], (head_three if kind == "three" else head_binary)[m])
        v = evaluate(truth[m], (vader_three if kind == "three" else vader_binary)[m])
        print(
            f"{name:<30} {h['n']:>6} | {h['macro_f1']:>7.3f} {h['accuracy']:>8.3f} | "
            f"{v['macro_f1']:>8.3f} {v['accuracy']:>9.3f} | {h['macro_f1'] - v['macro_f1']:>+7.3f}"
        )
    low = ((data["source"] == "clothing") & (data["split"] == "holdout") & (data["rating"] <= 2)).to_numpy()
    print("-" * 88)
    print(
        f"{'Clothing 1-2 star held-out':<30} {int(low.sum()):>6} | negative recall: head "
        f"{np.mean(head_three[low] == 'negative'):.3f}, VADER {np.mean(vader_three[low] == 'negative'):.3f}"
        f" | called positive: head {np.mean(head_three[low] == 'positive'):.3f}, "
        f"VADER {np.mean(vader_three[low] == 'positive'):.3f}"
    )
    print(f"({len(data)} held-out texts, {time.time() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
