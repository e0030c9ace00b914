"""More attempts at the clothing-review target (issue 16): a second frozen encoder, more aggregator data, ordinal stars.

Usage:
    PYTHONPATH=. python bench/sentiment_clothing_use.py [DATA_DIR]

Same split as bench/train_aggregator.py and bench/sentiment_clothing_attempts.py: the clothing
reviews held out from the English head, a fit part (498 reviews; every choice, band and weight is
made on it) and the test part (1,200 reviews, only scored). New here:

* the *rest* of the held-out reviews (the 2,831 that are in neither the fit nor the test part: the
  first half's reviews beyond the fit part and the test half's beyond its first 1,200) train
  aggregators; the fit part then only chooses (band, options), out of sample;
* USE multilingual v3 (refine.text.embed_multilingual, the packaged numpy encoder) as a second frozen
  feature set beside all-MiniLM-L6-v2: in-domain review heads on the clothing *training* part
  (the rows bench/train_default_head.py load_sources trains the default head on; no held-out text
  among them, checked and printed) read [MiniLM, USE] embeddings plus hashed words, whole text or
  sentence by sentence;
* ordinal stars: a 5-class head on the star rating, its expected rating as the score;
* a non-linear head (MLP) on [MiniLM, USE];
* the default head's own recipe (TweetEval + SST-2 + clothing training rows, bench/train_default_head.py
  source weights) on [MiniLM, USE] + hashed words: the head long English comments would take if wired;
* choices made on every held-out review outside the test part (rest + fit: 5-fold out-of-fold
  probabilities choose the band of a stack fitted on them), against the fit part alone.

Two test figures per row: "all" labels every test review with the row's method (as in
sentiment_clothing_attempts.py); "pipe" does what the pipeline does, the method only for the long
multi-sentence reviews (>= 25 words, 2+ sentences) and the default head's whole-text label (its
own band) for the others. The packaged path's "pipe" figure is printed first for reference. Bands
keep the CX floor (>= 75% of 1-2 star fit reviews called negative), chosen on the long fit reviews.

Embeddings go through the bench cache (/tmp/refine-bench-cache): a first run embeds ~40k texts
with all-MiniLM-L6-v2 (slow on a small CPU) and the same with USE (fast). Nothing is saved.

Seen when it was written (fit / test all / test pipe macro-F1; every row and figure is in the README,
"A second encoder, more aggregator data, ordinal stars"): packaged path 0.620 / 0.598 / 0.596;
best test figures 0.618 / 0.611 / 0.608 (USE + words review head, learned over both heads on the fit
part) and 0.611 / 0.611 / 0.608 ([MiniLM, USE] + words); the fit part's favourite 0.644 / 0.608 /
0.606 (59% of 1-2 star test reviews negative); everything stacked on rest + fit 0.604 / 0.610 /
0.605. None reaches 0.62 or beats the packaged path clearly: nothing is wired.
"""

import sys
import time
from pathlib import Path

import _env  # noqa: F401  # isort: skip - first: offline models, sys.path

import numpy as np
from sklearn.linear_model import LogisticRegression
from train_aggregator import clothing_parts
from train_default_head import CACHE_DIR, DEFAULT_DATA, bench_embedder, embed_in_chunks, load_sources

from refine.text.embed_multilingual import build_multilingual_embedder
from refine.text.sentiment.scorers import LABELS, band_labels, calibrate_band, evaluate, fit_head, load_scorer
from refine.text.sentiment.stage import (
    MIN_AGGREGATE_WORDS,
    SentenceAggregator,
    _words,
    default_aggregator,
    sentence_rows,
)

D = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA
SEED = 0
mini = bench_embedder()
use = build_multilingual_embedder(CACHE_DIR, threads=1)

data = load_sources(D, SEED)
ctr = data[(data.source == "clothing") & (data.split == "train")].reset_index(drop=True)
reviews, fit, test = clothing_parts(D, SEED)
rest = ~(fit | test)
texts = reviews.text.tolist()
true = reviews.label.to_numpy(dtype=object)
ratings = reviews.rating.to_numpy()
print(
    f"held-out reviews {len(reviews)}: fit {fit.sum()}, test {test.sum()}, rest {rest.sum()} | clothing train {len(ctr)}"
    f" | held-out texts among train texts: {int(reviews.text.isin(set(ctr.text)).sum())}",
    flush=True,
)

frame = sentence_rows(texts)
counts = frame.groupby("feedback_row").size().reindex(range(len(texts)), fill_value=0).to_numpy()
multi = frame[counts[frame.feedback_row.to_numpy()] > 1].reset_index(drop=True)
s_texts = multi.text.tolist()
s_rows = multi.feedback_row.to_numpy()
s_words = _words(s_texts)
long = (counts > 1) & (_words(texts) >= MIN_AGGREGATE_WORDS)
print(f"long multi-sentence reviews: fit {long[fit].sum()}, test {long[test].sum()}, rest {long[rest].sum()}")


def timed_use(ts, what):
    t, c = time.time(), time.process_time()
    x = use.encode(ts)
    if use.last_computed:
        print(
            f"  USE {what}: {use.last_computed} computed in {time.time() - t:.1f} s wall, "
            f"{time.process_time() - c:.1f} CPU s ({use.last_computed / max(time.time() - t, 1e-9):.0f} texts/s)",
            flush=True,
        )
    return x


rx, sx = embed_in_chunks(mini, texts), embed_in_chunks(mini, s_texts, chunk=2000)
tx = embed_in_chunks(mini, ctr.text.tolist())
ru, su, tu = timed_use(texts, "reviews"), timed_use(s_texts, "sentences"), timed_use(ctr.text.tolist(), "train")

head = load_scorer("default")
doc0, sp0 = head.predict_proba(rx, texts), head.predict_proba(sx, s_texts)
base_labels = band_labels(doc0[:, 2] - doc0[:, 0], head.band)  # the short reviews' labels in the pipeline
low12 = ratings <= 2


def band_on_fit(p):
    rows = fit & long
    return calibrate_band(true[rows], p[rows, 2] - p[rows, 0], floor_rows=low12[rows], negative_floor=0.75)


last: dict = {}  # the latest row's pipeline labels (for the bootstrap at the end)


def show(name, p, band=None, oof=None):
    """Band on the fit part's long reviews (from oof probabilities when given); fit, test all, test pipe."""
    band = band_on_fit(p if oof is None else oof) if band is None else band
    lab = band_labels(p[:, 2] - p[:, 0], band)
    pipe = np.where(long, lab, base_labels)
    fitlab = pipe if oof is None else np.where(long, band_labels(oof[:, 2] - oof[:, 0], band), base_labels)
    f = evaluate(true[fit], fitlab[fit])["macro_f1"]
    a = evaluate(true[test], lab[test])
    s = evaluate(true[test], pipe[test])
    last["pipe"] = pipe
    print(
        f"{name:<62} fit {f:.3f} | test all {a['macro_f1']:.3f} pipe {s['macro_f1']:.3f} acc {s['accuracy']:.3f} "
        f"neu {s['recall']['neutral']:.3f} 1-2neg {np.mean(pipe[test & low12] == 'negative'):.3f}",
        flush=True,
    )
    return f, s["macro_f1"]


def agg_features(doc, sp):
    return SentenceAggregator.features(doc, sp, s_rows, s_words)


def lr_probs(m, X):
    return m.predict_proba(X)[:, [list(m.classes_).index(c) for c in LABELS]]


def learned(name, X, C=1.0, train_rows=None):
    """A 3-class LR over aggregator features: on the fit part (5-fold oof band) or on train_rows (band on fit)."""
    model = lambda: LogisticRegression(C=C, max_iter=5000, class_weight="balanced")  # noqa: E731
    if train_rows is None:
        rows = np.flatnonzero(fit & long)
        fold = np.full(len(true), -1)
        fold[rows] = np.random.default_rng(SEED).permutation(len(rows)) % 5
        oof = np.zeros((len(true), 3))
        for k in range(5):
            m = model().fit(X[(fold >= 0) & (fold != k)], true[(fold >= 0) & (fold != k)])
            oof[fold == k] = lr_probs(m, X[fold == k])
        m = model().fit(X[rows], true[rows])
        return show(name, lr_probs(m, X), oof=oof)
    m = model().fit(X[train_rows], true[train_rows])
    return show(name, lr_probs(m, X))


p_ship = default_aggregator().probabilities(agg_features(doc0, sp0))
show("0 packaged path (shipped aggregator, its band)", p_ship, band=default_aggregator().band)
packaged_pipe = last["pipe"].copy()
show("0b default head whole text, band fitted", doc0)
f0 = agg_features(doc0, sp0)
X0 = SentenceAggregator.design(f0)
learned("1 learned aggregator (8 features) fitted on fit (oof band)", X0)
learned("2 learned aggregator (8 features) fitted on REST, band on fit", X0, train_rows=rest & long)
learned("2b same, C=0.1", X0, C=0.1, train_rows=rest & long)

# in-domain review heads on the clothing training part
ytr = ctr.label.to_numpy()
heads = {}
for feats in ("use", "mini+use"):
    for C in (1.0, 4.0):
        t = time.process_time()
        xtr = tu if feats == "use" else np.hstack([tx, tu])
        h = fit_head(xtr, ytr, texts=ctr.text.tolist(), lexical=True, C=C, class_weight="balanced", name="reviews")
        xr = ru if feats == "use" else np.hstack([rx, ru])
        xs = su if feats == "use" else np.hstack([sx, su])
        doc, sp = h.predict_proba(xr, texts), h.predict_proba(xs, s_texts)
        heads[(feats, C)] = (doc, sp)
        show(f"3 review head {feats}+words C={C} whole text ({time.process_time() - t:.0f} CPU s)", doc)
        show("  3a mean(default head, review head) whole text", (doc0 + doc) / 2)
        f1 = agg_features(doc, sp)
        X1 = SentenceAggregator.design(f1)
        learned("  3b learned 8 features of the review head, on REST", X1, train_rows=rest & long)
        learned("  3c learned 16 (default + review head), on fit (oof)", np.hstack([X0, X1]))
        if (feats, C) == ("use", 1.0):
            best_pipe = last["pipe"].copy()
        learned("  3d learned 16 (default + review head), on REST", np.hstack([X0, X1]), train_rows=rest & long)
        learned("  3e learned 11 (default 8 + review-head doc), on REST", np.hstack([X0, doc]), train_rows=rest & long)

# ordinal stars: 5-class LR on the star rating, expected rating (rescaled to [-1, 1]) as the score
from scipy import sparse  # noqa: E402

from refine.text.sentiment.scorers import lexical_matrix  # noqa: E402


def unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def design_ord(x, ts):
    return sparse.hstack([sparse.csr_matrix(unit(x)), lexical_matrix(ts, 2**15, 0.5)]).tocsr()


stars = ctr.rating.to_numpy().astype(int)
w = {r: len(stars) / (5 * np.sum(stars == r)) for r in range(1, 6)}
for C in (1.0, 4.0):
    m = LogisticRegression(C=C, max_iter=5000).fit(
        design_ord(np.hstack([tx, tu]), ctr.text.tolist()), stars, sample_weight=[w[r] for r in stars]
    )

    def expected(x, ts, m=m):
        p = m.predict_proba(design_ord(x, ts))
        e = (p @ m.classes_.astype(float) - 3) / 2  # -1 (one star) .. 1 (five stars)
        return np.column_stack([np.clip(-e, 0, 1), 1 - np.abs(e), np.clip(e, 0, 1)]), p

    od, op = expected(np.hstack([rx, ru]), texts)
    osd, _ = expected(np.hstack([sx, su]), s_texts)
    heads[("ordinal", C)] = (od, osd)
    show(f"4 ordinal 5-star head mini+use+words C={C}, expected stars", od)
    fo = agg_features(od, osd)
    learned(
        "  4b learned 16 (default + ordinal), on REST",
        np.hstack([X0, SentenceAggregator.design(fo)]),
        train_rows=rest & long,
    )
    learned("  4c learned 8 default + 5 star probs, on REST", np.hstack([X0, op]), train_rows=rest & long)

# a non-linear head: MLP on [MiniLM, USE] (no words), clothing training part, classes balanced by weight
from sklearn.neural_network import MLPClassifier  # noqa: E402

t = time.process_time()
cw = {c: len(ytr) / (3 * np.sum(ytr == c)) for c in LABELS}
mlp = MLPClassifier(hidden_layer_sizes=(256,), alpha=1e-2, early_stopping=True, random_state=0, max_iter=200)
mlp.fit(unit(np.hstack([tx, tu])), ytr, sample_weight=np.array([cw[c] for c in ytr]))
md = lr_probs(mlp, unit(np.hstack([rx, ru])))
msd = lr_probs(mlp, unit(np.hstack([sx, su])))
heads[("mlp", 0)] = (md, msd)
show(f"6 MLP(256) head on mini+use, whole text ({time.process_time() - t:.0f} CPU s)", md)

# more data for the choices: stacks fitted on every held-out review outside the test part (rest + fit),
# their band from 5-fold out-of-fold probabilities over those rows (CX floor); the test part only scored
pool = (rest | fit) & long


def learned_pool(name, X, C=1.0):
    model = lambda: LogisticRegression(C=C, max_iter=5000, class_weight="balanced")  # noqa: E731
    rows = np.flatnonzero(pool)
    fold = np.full(len(true), -1)
    fold[rows] = np.random.default_rng(SEED).permutation(len(rows)) % 5
    oof = np.zeros((len(true), 3))
    for k in range(5):
        m = model().fit(X[(fold >= 0) & (fold != k)], true[(fold >= 0) & (fold != k)])
        oof[fold == k] = lr_probs(m, X[fold == k])
    band = calibrate_band(true[pool], oof[pool, 2] - oof[pool, 0], floor_rows=low12[pool], negative_floor=0.75)
    m = model().fit(X[rows], true[rows])
    return show(name + f" band {band}", lr_probs(m, X), band=band, oof=oof)


def pooled_band(name, p):
    band = calibrate_band(true[pool], p[pool, 2] - p[pool, 0], floor_rows=low12[pool], negative_floor=0.75)
    return show(name + f" band {band}", p, band=band)


print("--- choices on rest + fit (5-fold oof), test only scored")
pooled_band("7 default head whole text, band on rest+fit", doc0)
pooled_band("7 packaged aggregator probs, band on rest+fit", p_ship)
for key in (("use", 4.0), ("mini+use", 1.0), ("ordinal", 4.0), ("mlp", 0)):
    pooled_band(f"7 review head {key} whole text, band on rest+fit", heads[key][0])
learned_pool("8 learned 8 (default), rest+fit", X0)
for key in (("use", 4.0), ("mini+use", 1.0), ("mini+use", 4.0), ("ordinal", 4.0), ("mlp", 0)):
    X1 = SentenceAggregator.design(agg_features(*heads[key]))
    learned_pool(f"8 learned 16 (default + {key}), rest+fit", np.hstack([X0, X1]))
    pooled_band(f"8 mean(default, {key}) whole text", (doc0 + heads[key][0]) / 2)
Xall = np.hstack(
    [X0] + [SentenceAggregator.design(agg_features(*heads[k])) for k in (("use", 4.0), ("ordinal", 4.0), ("mlp", 0))]
)
learned_pool("8 learned 32 (default + use + ordinal + mlp), rest+fit", Xall)
learned_pool("8 same, C=0.1", Xall, C=0.1)

# the default head's own recipe (bench/train_default_head.py: TweetEval + SST-2 + clothing training rows,
# its source weights, C=4, hashed words) on [MiniLM, USE] instead of MiniLM alone: a second English head
# the long comments could take
from train_default_head import SOURCE_WEIGHTS, row_weights  # noqa: E402

print("--- the default head's recipe on [MiniLM, USE] + words")
dtr = data[data.split == "train"].reset_index(drop=True)
t = time.process_time()
dx = np.hstack([embed_in_chunks(mini, dtr.text.tolist()), timed_use(dtr.text.tolist(), "default-head training texts")])
h2 = fit_head(
    dx,
    dtr.label.to_numpy(),
    texts=dtr.text.tolist(),
    lexical=True,
    C=4.0,
    sample_weight=row_weights(dtr, SOURCE_WEIGHTS),
    class_weight=None,
    name="default-use",
)
d2, s2 = h2.predict_proba(np.hstack([rx, ru]), texts), h2.predict_proba(np.hstack([sx, su]), s_texts)
show(f"9 default recipe on mini+use+words, whole text, band on fit ({time.process_time() - t:.0f} CPU s)", d2)
pooled_band("9 same, band on rest+fit", d2)
X2 = SentenceAggregator.design(agg_features(d2, s2))
learned("9 learned 8 on it, on fit (oof band)", X2)
learned_pool("9 learned 8 on it, rest+fit", X2)
learned("9 learned 16 (default + it), on fit (oof band)", np.hstack([X0, X2]))
learned_pool("9 learned 16 (default + it), rest+fit", np.hstack([X0, X2]))

# is the best test row (USE + words C=1, learned 16 on the fit part) clearly better? paired bootstrap of the test part
from sklearn.metrics import f1_score  # noqa: E402

trow = np.flatnonzero(test)
rng = np.random.default_rng(1)
diff, base = [], []
for _ in range(2000):
    b = rng.choice(trow, len(trow))
    base.append(f1_score(true[b], packaged_pipe[b], labels=LABELS, average="macro"))
    diff.append(f1_score(true[b], best_pipe[b], labels=LABELS, average="macro") - base[-1])
print(
    f"bootstrap, 2,000 resamples of the test part: packaged path SE {np.std(base):.3f}; 3c (USE C=1) - packaged "
    f"{np.mean(diff):+.3f}, 95% interval {np.percentile(diff, 2.5):+.3f} .. {np.percentile(diff, 97.5):+.3f}"
)
