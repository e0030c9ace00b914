"""Comments whose language cannot be named: neutral with confidence 0 (before) or read by the multilingual head (now)?

Usage:
    PYTHONPATH=. python bench/unknown_language_bench.py [--data ../shared/data]

Data (read from ../shared/data, see its README; the script says so and stops when it is missing):
  * XLM-T test parts (en, fr, de, es, pt; 4,350 tweets, labels negative / neutral / positive), held out
    from the multilingual head (fitted on train + val);
  * TweetEval tweets in the English head's held-out part (training/_common.load_sources), less any tweet
    that is also in XLM-T's train or val parts (the multilingual head saw those).
Every text's language is detected as the pipeline does (refine.text.language.detect_languages); the texts
it calls "unknown" are split as the sentiment stage splits them: fewer than MIN_LETTERS letters ("no text",
neutral by design) or letters in a language it cannot name ("unknown language"). On the latter it prints
macro-F1 and accuracy of
  * neutral: every comment neutral with confidence 0 (what refine did before);
  * multilingual head: the sentiment stage's route now (USE multilingual v3 + the packaged head);
  * English head: the packaged English head on all-MiniLM-L6-v2 (the route when `[model] multilingual = off`);
with a 95% bootstrap interval (1,000 resamples, seed 0) on the macro-F1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

import _env  # noqa: F401  # isort: skip - first: offline models, sys.path

from refine.text.language import MIN_LETTERS, UNKNOWN, detect_languages, letters
from refine.text.sentiment.scorers import load_scorer
from refine.text.sentiment.stage import UNNAMED, FeedbackSentiment, default_multilingual_head
from training._common import DEFAULT_DATA, bench_embedder, load_sources, load_xlmt, multilingual_bench_embedder

LABELS = ["negative", "neutral", "positive"]
SEED = 0
RESAMPLES = 1000


def macro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean F1 over the three classes (a class never predicted and present scores 0)."""
    scores = []
    for label in LABELS:
        tp = float(((predicted == label) & (truth == label)).sum())
        fp = float(((predicted == label) & (truth != label)).sum())
        fn = float(((predicted != label) & (truth == label)).sum())
        scores.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def interval(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    rng = np.random.default_rng(SEED)
    draws = [macro_f1(truth[i], predicted[i]) for i in rng.integers(0, len(truth), (RESAMPLES, len(truth)))]
    return float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))


def unknown_texts(data_dir: Path) -> pd.DataFrame:
    """The test texts the detector cannot name: text, label, source, has_letters."""
    xlmt = load_xlmt(data_dir)
    seen_by_multilingual = set(xlmt.loc[xlmt["split"] != "test", "text"])
    test = xlmt[xlmt["split"] == "test"].assign(source="xlmt_test_" + xlmt["language"])
    tweets = load_sources(data_dir)
    tweets = tweets[(tweets["source"] == "tweeteval") & (tweets["split"] == "holdout")]
    overlap = int(tweets["text"].isin(seen_by_multilingual).sum())
    tweets = tweets[~tweets["text"].isin(seen_by_multilingual)].assign(source="tweeteval_heldout")
    print(f"TweetEval held-out tweets: {len(tweets) + overlap}, {overlap} left out (in XLM-T train/val)")
    frame = pd.concat([test[["text", "label", "source"]], tweets[["text", "label", "source"]]], ignore_index=True)
    guesses = detect_languages(frame["text"].tolist())
    frame["language"] = [g.language for g in guesses]
    for source, part in frame.groupby("source"):
        share = (part["language"] == UNKNOWN).mean()
        print(f"  {source:<22} {len(part):>6} texts, {share:6.1%} unknown")
    out = frame[frame["language"] == UNKNOWN].reset_index(drop=True)
    out["has_letters"] = [letters(t) >= MIN_LETTERS for t in out["text"]]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if not (args.data / "multilingual_sentiment").is_dir():
        raise SystemExit(f"no XLM-T data under {args.data} (see ../shared/data/README.md)")
    frame = unknown_texts(args.data)
    print(f"unknown: {len(frame)} texts, {int((~frame['has_letters']).sum())} with no letters (stay neutral)")
    read = frame[frame["has_letters"]].reset_index(drop=True)
    texts = read["text"].tolist()
    truth = read["label"].to_numpy(dtype=object)

    english_head = load_scorer("default")
    multilingual = FeedbackSentiment(
        english_head,
        multilingual_head=default_multilingual_head(),
        multilingual_embedder=multilingual_bench_embedder(),
    ).score(texts, None)
    assert (multilingual.documents["route"] == UNNAMED).all()
    embedder = bench_embedder()
    english = FeedbackSentiment(english_head, multilingual_head=None).score(
        texts, embedder.encode(texts), embedder=embedder
    )
    rows = {
        "neutral (before)": np.array(["neutral"] * len(texts), dtype=object),
        "multilingual head (now)": multilingual.documents["sentiment_label"].to_numpy(dtype=object),
        "English head (multilingual off)": english.documents["sentiment_label"].to_numpy(dtype=object),
    }
    print(f"\nunknown language, with letters: {len(read)} texts; labels {read['label'].value_counts().to_dict()}")
    print(f"  by source: {read['source'].value_counts().sort_index().to_dict()}")
    print(f"  {'reading':<32} {'macro-F1':>8}  {'95% CI':<13} {'accuracy':>8}")
    for name, predicted in rows.items():
        low, high = interval(truth, predicted)
        accuracy = float((predicted == truth).mean())
        print(f"  {name:<32} {macro_f1(truth, predicted):8.3f}  [{low:.3f}, {high:.3f}] {accuracy:8.3f}")
    confidence = multilingual.documents["sentiment_confidence"]
    print(f"  multilingual head's confidence: median {confidence.median():.3f}, mean {confidence.mean():.3f}")
    for source, part in read.groupby("source"):
        idx = part.index.to_numpy()
        f1 = {name: round(macro_f1(truth[idx], p[idx]), 3) for name, p in rows.items()}
        print(f"  {source:<22} n={len(idx):>4}  {f1}")


if __name__ == "__main__":
    main()
