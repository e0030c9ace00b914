"""Attempts at the clothing-review target (issue 16: held-out test half macro-F1 >= 0.62), each scored honestly.

Usage:
    PYTHONPATH=. python bench/sentiment_clothing_attempts.py [DATA_DIR]

Same split as bench/train_aggregator.py: the clothing reviews held out from the English head, a fit
part (498 reviews; every choice, band and weight is made on it, with 5-fold out-of-fold scores for
the learned aggregators) and the test half (1,200 reviews, only scored). The clothing *training*
part (the rows the default head was trained on, bench/train_default_head.py load_sources) trains the
in-domain "review heads" here; no held-out text is among them (checked and printed). Bands keep the
CX floor (>= 75% of 1-2 star fit reviews called negative) unless a row says WITHOUT.

Needs the all-MiniLM-L6-v2 vectors of the fit/test reviews and their sentences in the bench cache
(/tmp/refine-bench-cache, filled by bench/train_aggregator.py); the emb+words review head uses the
training reviews whose vectors are cached (it prints how many). Nothing is saved: the packaged
aggregator stays (no attempt beat it on the fit part by enough to matter, none reached 0.62).
"""

import re
import sys
import time
from pathlib import Path

import _env  # noqa: F401  # isort: skip - first: offline models, sys.path

import numpy as np
from sklearn.linear_model import LogisticRegression
from train_aggregator import clothing_parts
from train_default_head import DEFAULT_DATA, bench_embedder, load_sources

from refine.text.embed import text_key
from refine.text.sentiment.scorers import (
    LABELS,
    band_labels,
    calibrate_band,
    evaluate,
    fit_head,
    lexical_matrix,
    load_scorer,
)
from refine.text.sentiment.stage import SentenceAggregator, _words, sentence_rows

D = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DATA  # the shared data folder
emb = bench_embedder()
idx = emb.cache._load_index()
data = load_sources(D, 0)
cl = data[data.source == "clothing"].reset_index(drop=True)
tr = (cl.split == "train").to_numpy()
ctr = cl[tr].reset_index(drop=True)
reviews, fit, test = clothing_parts(D, 0)
sel = fit | test
rv = reviews[sel].reset_index(drop=True)
fit, test = fit[sel], test[sel]
texts = rv.text.tolist()
print(
    "held-out fit/test texts found among clothing train texts:",
    int(rv.text.isin(set(ctr.text)).sum()),
    "| duplicate texts in train:",
    int(ctr.text.duplicated().sum()),
    flush=True,
)
frame = sentence_rows(texts)
counts = frame.groupby("feedback_row").size().reindex(range(len(texts)), fill_value=0).to_numpy()
multi = frame[counts[frame.feedback_row.to_numpy()] > 1].reset_index(drop=True)
s_texts = multi.text.tolist()
s_rows = multi.feedback_row.to_numpy()
rx = emb.encode(texts)
sx = emb.encode(s_texts)
print("computed", emb.last_computed, flush=True)
true = rv.label.to_numpy(dtype=object)
ratings = rv.rating.to_numpy()


def band_of(p, rows):
    return calibrate_band(true[rows], p[rows, 2] - p[rows, 0], floor_rows=ratings[rows] <= 2, negative_floor=0.75)


def show(name, lab, fitf):
    s = evaluate(true[test], lab[test])
    neg = np.mean(lab[test & (ratings <= 2)] == "negative")
    print(
        f"{name:<58} fit {fitf:.3f} | test F1 {s['macro_f1']:.3f} acc {s['accuracy']:.3f} neu {s['recall']['neutral']:.3f} 1-2neg {neg:.3f}",
        flush=True,
    )


def report(name, p):
    b = band_of(p, fit)
    lab = band_labels(p[:, 2] - p[:, 0], b)
    show(name, lab, evaluate(true[fit], lab[fit])["macro_f1"])


CONTRAST = re.compile(r"\b(but|however|although|though|unfortunately|except|sadly|wish)\b", re.I)


def design(doc, sp, rich):
    f = SentenceAggregator.features(doc, sp, s_rows, _words(s_texts))
    cols = [f["doc"], f["weighted"], f["low"][:, None], f["high"][:, None]]
    if rich:
        n = len(doc)
        sc = sp[:, 2] - sp[:, 0]
        cnt = np.maximum(f["count"], 1)
        negshare = np.bincount(s_rows, (sc < -0.2).astype(float), minlength=n) / cnt
        last = doc[:, 2] - doc[:, 0]
        last = last.copy()
        for r, v in zip(s_rows, sc):
            last[r] = v
        contrast = np.array([len(CONTRAST.findall(t)) for t in texts], float)
        cols += [f["mean"], negshare[:, None], last[:, None], contrast[:, None], np.log1p(_words(texts))[:, None]]
    return np.column_stack(cols)


def learned(X, name, C=1.0, mlp=False):
    from sklearn.preprocessing import StandardScaler

    Z = StandardScaler().fit(X[fit]).transform(X)
    rng = np.random.default_rng(0)
    fr = np.flatnonzero(fit)
    fold = np.full(len(true), -1)
    fold[fr] = rng.permutation(len(fr)) % 5

    def model():
        if mlp:
            from sklearn.neural_network import MLPClassifier

            return MLPClassifier(hidden_layer_sizes=(16,), alpha=1.0, max_iter=3000, random_state=0)
        return LogisticRegression(C=C, max_iter=5000, class_weight="balanced")

    def pp(m, Z):
        return m.predict_proba(Z)[:, [list(m.classes_).index(c) for c in LABELS]]

    oof = np.zeros((len(true), 3))
    for k in range(5):
        m = model().fit(Z[fit & (fold != k)], true[fit & (fold != k)])
        oof[fold == k] = pp(m, Z[fold == k])
    m = model().fit(Z[fit], true[fit])
    p = pp(m, Z)
    b = band_of(oof, fit)
    lab = band_labels(p[:, 2] - p[:, 0], b)
    labo = band_labels(oof[:, 2] - oof[:, 0], b)
    show(name, lab, evaluate(true[fit], labo[fit])["macro_f1"])


head = load_scorer("default")
doc0, sp0 = head.predict_proba(rx, texts), head.predict_proba(sx, s_texts)
report("A default head whole text, band fitted", doc0)
learned(design(doc0, sp0, False), "B learned, today's 8 features (oof=5-fold on fit)")
learned(design(doc0, sp0, True), "C learned, richer features")
learned(design(doc0, sp0, True), "D MLP(16), richer features", mlp=True)
# in-domain lexical review head on the clothing TRAIN part (words only: needs no embeddings)
for C in (0.5, 2.0):
    t = time.process_time()
    L = lexical_matrix(ctr.text.tolist(), 2**18, 1.0)
    w = {c: len(ctr) / (3 * (ctr.label == c).sum()) for c in LABELS}
    m = LogisticRegression(C=C, max_iter=5000).fit(L, ctr.label, sample_weight=ctr.label.map(w))

    def lp(ts, m=m):
        return m.predict_proba(lexical_matrix(ts, 2**18, 1.0))[:, [list(m.classes_).index(c) for c in LABELS]]

    doc1, sp1 = lp(texts), lp(s_texts)
    report(f"E words-only review head C={C} whole text ({time.process_time() - t:.0f} CPU s)", doc1)
    report("F mean(default head, words-only review head) whole text", (doc0 + doc1) / 2)
    learned(np.column_stack([design(doc0, sp0, True), design(doc1, sp1, True)]), "G learned rich, both heads")
    learned(np.column_stack([design(doc0, sp0, False), doc1]), "H learned today's 8 + review-head doc probs")
print("--- extra")


def report_nofloor(name, p):
    b = calibrate_band(true[fit], p[fit, 2] - p[fit, 0])
    lab = band_labels(p[:, 2] - p[:, 0], b)
    show(name + f" band {b}", lab, evaluate(true[fit], lab[fit])["macro_f1"])


report_nofloor("I default head whole text, band WITHOUT the 0.75 floor", doc0)
agg = __import__("refine.text.sentiment.stage", fromlist=["x"]).default_aggregator()
f = SentenceAggregator.features(doc0, sp0, s_rows, _words(s_texts))
pa = agg.probabilities(f)
lab = agg.aggregate(f)[1]
show("shipped aggregator (for reference)", lab, evaluate(true[fit], lab[fit])["macro_f1"])
report_nofloor("I2 shipped aggregator probs, band WITHOUT floor", pa)
cached = np.array([text_key(emb.model_id, t) in idx for t in ctr.text])
xt = emb.encode(ctr.text[cached].tolist())
print("train docs used", cached.sum(), "computed", emb.last_computed, flush=True)
sub = ctr[cached].reset_index(drop=True)
for C in (1.0, 4.0):
    h = fit_head(
        xt, sub.label.to_numpy(), texts=sub.text.tolist(), lexical=True, C=C, class_weight="balanced", name="reviews"
    )
    doc2, sp2 = h.predict_proba(rx, texts), h.predict_proba(sx, s_texts)
    report(f"K review head emb+words C={C} on {cached.sum()} train reviews, whole text", doc2)
    report("K2 mean(default, K) whole text", (doc0 + doc2) / 2)
    learned(design(doc2, sp2, False), "K3 learned 8 features on K")
    learned(
        np.column_stack([design(doc0, sp0, False), design(doc2, sp2, False)]), "K4 learned 16 features, default + K"
    )
