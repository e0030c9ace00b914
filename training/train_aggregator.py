"""Choose how a long review's sentiment comes from its sentences, and ship it (refine/models/sentence_aggregator.*).

Usage:
    python training/train_aggregator.py [--data ../shared/data] [--dry-run]

Data: the clothing reviews held out by training/train_default_head.py (seed from the English head's
card; the head never trained on them). They are split once more, seeded and stratified by star
rating, into halves: the second half is the *test* half (scores every method; nothing is chosen on
it; its first 1,200 reviews in file order), and 11% of the reviews, drawn from the first half, are the *fit* part (chooses each method's
neutral band, the blend weight, the learned aggregator's weights). Training rows of the head are not
used: the head's probabilities on them are in-sample and would make the whole-text score look
better than it is.

Every method labels through a neutral band chosen like the head's: best macro-F1 among the bands
that call at least 75% of the 1-2 star reviews negative (the CX floor of the English head). The
parts are training/_common.py `clothing_parts`.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np

from _common import (  # isort: skip - first: offline models, sys.path
    DEFAULT_DATA,
    MODEL_DIR,
    NEGATIVE_FLOOR,
    add_comment_vectors_option,
    bench_embedder,
    clothing_parts,
    embed_in_chunks,
    split_seed,
)


def review_features(reviews, head, embedder, comment_vectors: str = "whole"):
    """The aggregator features of every review (whole-text + sentence probabilities from the English head).

    With `comment_vectors` "mean" or "length", a review of two or more sentences and 25+ words is not embedded whole:
    its vector is the pooled mean of its sentences' (refine.text.sentences.pool_sentences), as the
    pipeline builds it under that `[model] comment_vectors`.
    """
    from refine.text.sentences import POOL_MIN_WORDS, pool_sentences, sentence_weights
    from refine.text.sentiment.stage import PROBS, SentenceAggregator, _words, sentence_rows

    texts = reviews["text"].tolist()
    x = embed_in_chunks(embedder, texts)
    frame = sentence_rows(texts)
    counts = frame.groupby("feedback_row").size().reindex(range(len(texts)), fill_value=0).to_numpy()
    multi = frame[counts[frame["feedback_row"].to_numpy()] > 1].reset_index(drop=True)
    s_texts = multi["text"].tolist()
    sx = embed_in_chunks(embedder, s_texts, chunk=2000)
    if comment_vectors != "whole":
        pooled = pool_sentences(
            sx, multi["feedback_row"].to_numpy(), len(texts), sentence_weights(s_texts, comment_vectors)
        )
        long = (counts > 1) & (_words(texts) >= POOL_MIN_WORDS)  # as the pipeline pools (pooled_rows)
        x = np.where(long[:, None], pooled, x).astype(np.float32)
    doc = head.score(texts, x)[PROBS].to_numpy()
    s_probs = head.score(s_texts, sx)[PROBS].to_numpy()
    f = SentenceAggregator.features(doc, s_probs, multi["feedback_row"].to_numpy(), _words(s_texts))
    return f, counts


def subset(f: dict, rows: np.ndarray) -> dict:
    return {k: v[rows] for k, v in f.items()}


def choose_band(true, score, ratings):
    from refine.text.sentiment.scorers import calibrate_band

    return calibrate_band(true, score, floor_rows=np.asarray(ratings) <= 2, negative_floor=NEGATIVE_FLOOR)


def fit_learned(f: dict, true: np.ndarray, seed: int):
    """Multinomial LR on SentenceAggregator.design; its band from 5-fold out-of-fold scores on the same rows."""
    from sklearn.linear_model import LogisticRegression

    from refine.text.sentiment.scorers import LABELS
    from refine.text.sentiment.stage import SentenceAggregator

    x = SentenceAggregator.design(f)

    def fit(rows):
        model = LogisticRegression(C=1.0, max_iter=5000, class_weight="balanced")
        model.fit(x[rows], true[rows])
        order = [list(model.classes_).index(c) for c in LABELS]
        return model.coef_[order].T.copy(), model.intercept_[order].copy()

    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(true)) % 5
    oof = np.zeros((len(true), 3))
    for k in range(5):
        w, b = fit(fold != k)
        agg = SentenceAggregator("learned", weight=w, bias=b)
        oof[fold == k] = agg.probabilities(subset(f, fold == k))
    w, b = fit(np.ones(len(true), dtype=bool))
    return w, b, oof


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--dry-run", action="store_true")
    add_comment_vectors_option(
        parser,
        "how a multi-sentence review's vector is made ([model] comment_vectors); not whole: saved to "
        "refine/models/pooled_<how>/",
    )
    args = parser.parse_args(argv)
    if not (args.data / "womens_clothing_reviews.csv").is_file():
        print(f"no clothing reviews at {args.data}; nothing to do")
        return 0
    from refine.text.sentiment.scorers import evaluate, load_scorer
    from refine.text.sentiment.stage import SentenceAggregator

    head = load_scorer("default")
    seed = split_seed(head.card)
    reviews, fit, test = clothing_parts(args.data, seed)
    reviews = reviews[fit | test].reset_index(drop=True)
    fit, test = fit[fit | test], test[fit | test]
    f, counts = review_features(reviews, head, bench_embedder(), args.comment_vectors)
    true = reviews["label"].to_numpy(dtype=object)
    ratings = reviews["rating"].to_numpy()
    print(
        f"clothing held-out reviews used: {len(reviews)} ({int(fit.sum())} fit, {int(test.sum())} test); "
        f"{int((counts > 1).sum())} have 2+ sentences"
    )
    ff, ft = subset(f, fit), subset(f, test)

    candidates: list[SentenceAggregator] = []
    candidates.append(SentenceAggregator("document", band=head.band, card={"name": "whole text, head's band (today)"}))
    for method in ("document", "sentence_mean", "length_weighted"):
        probe = SentenceAggregator(method)
        p = probe.probabilities(ff)
        band = choose_band(true[fit], p[:, 2] - p[:, 0], ratings[fit])
        candidates.append(SentenceAggregator(method, band=band, card={"name": f"{method}, band fitted"}))
    best_blend = None
    for w in (0.25, 0.5, 0.75):
        probe = SentenceAggregator("blend", doc_weight=w)
        p = probe.probabilities(ff)
        band = choose_band(true[fit], p[:, 2] - p[:, 0], ratings[fit])
        agg = SentenceAggregator("blend", band=band, doc_weight=w, card={"name": f"blend doc_weight={w}"})
        pf = agg.aggregate(ff)[1]
        score = evaluate(true[fit], pf)["macro_f1"]
        if best_blend is None or score > best_blend[0]:
            best_blend = (score, agg)
    candidates.append(best_blend[1])
    w, b, oof = fit_learned(ff, true[fit], seed)
    band = choose_band(true[fit], oof[:, 2] - oof[:, 0], ratings[fit])
    candidates.append(SentenceAggregator("learned", band=band, weight=w, bias=b, card={"name": "learned (LR)"}))

    low = ratings[test] <= 2
    rows = []
    print(f"{'method':<36} {'band':>16} | {'fit F1':>6} | {'test F1':>7} {'acc':>6} | 1-2 star neg recall")
    for agg in candidates:
        fit_f1 = evaluate(true[fit], agg.aggregate(ff)[1])["macro_f1"]
        labels = agg.aggregate(ft)[1]
        s = evaluate(true[test], labels)
        recall = float(np.mean(labels[low] == "negative"))
        rows.append({"name": agg.card["name"], "fit_macro_f1": fit_f1, "test": s, "negative_recall_1_2": recall})
        print(
            f"{agg.card['name']:<36} {str(tuple(round(x, 3) for x in agg.band)):>16} | {fit_f1:>6.3f} | "
            f"{s['macro_f1']:>7.3f} {s['accuracy']:>6.3f} | {recall:.3f}"
        )
    # chosen on the fit part only
    chosen = max(candidates[1:], key=lambda a: evaluate(true[fit], a.aggregate(ff)[1])["macro_f1"])
    print(f"chosen on the fit part: {chosen.card['name']}")
    if args.dry_run:
        return 0
    chosen.card = {
        "description": "How refine aggregates a multi-sentence comment's sentiment from its sentences "
        "(single-sentence comments keep their whole-text score).",
        "trained": dt.date.today().isoformat(),
        "trained_by": "training/train_aggregator.py",
        "chosen": chosen.card["name"],
        "data": "clothing reviews held out from the English head (seed "
        f"{seed}), split by star rating into a fit part ({int(fit.sum())}) and a test half ({int(test.sum())})",
        "band_rule": f"best macro-F1 on the fit part among bands calling >= {NEGATIVE_FLOOR} of 1-2 star reviews "
        "negative",
        "candidates": rows,
        "sentences": "refine.text.sentiment.scorers.split_sentences, fragments under 12 characters dropped; weights = word counts",
    }
    if args.comment_vectors != "whole":
        chosen.card["comment_vectors"] = (
            f"{args.comment_vectors}: a review of two or more sentences and 25+ words read through its "
            "sentences' pooled vector (refine.text.sentences.pool_sentences), never embedded whole; for [model] comment_vectors = "
            f'"{args.comment_vectors}"'
        )
    path = chosen.save(MODEL_DIR if args.comment_vectors == "whole" else MODEL_DIR / f"pooled_{args.comment_vectors}")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
