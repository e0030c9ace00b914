"""What the scripts that build refine's packaged models share: preamble, data, splits, embedding cache.

A training script imports it first, as its sibling (`from _common import ...`; run a script from the
repository root, `python training/<script>.py`, and its folder is on sys.path). Importing it makes models
load offline and puts the repository root on sys.path, so `refine` imports without an install.
Benchmarks and tests import it as `training._common` to rebuild the same splits.

The data is public and read from the shared data folder (../shared/data), never copied into the project.
Every split is seeded; the English head's card records the seed (`split_seed`), and the other models'
scripts and the benchmarks draw their parts from the same seed.
"""

from __future__ import annotations

import csv
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data"
CACHE_DIR = Path("/tmp/refine-bench-cache")
MODEL_DIR = ROOT / "refine" / "models"
ENGLISH_HEAD_CARD = MODEL_DIR / "sentiment_head.json"

# ---- the English sources and their train / held-out split (the default head's data)
SEED = 0
HOLDOUT = 0.2
SST2_SAMPLE = 12_000  # SST-2 is movie-review phrases: useful for polarity, but not what CX text looks like
CLOTHING_POSITIVE_TRAIN = 5_000  # 4-5 star reviews kept for training; the rest are 70% of the file and say little new
CLOTHING_RATING_LABELS = {1: "negative", 2: "negative", 3: "neutral", 4: "positive", 5: "positive"}
TWEET_LABELS = {"0": "negative", "1": "neutral", "2": "positive"}
# CX requirement: complaint-style text reads as negative. A neutral band must call at least this share
# of the 1-2 star reviews negative; macro-F1 decides among the bands that do.
NEGATIVE_FLOOR = 0.75

# ---- the held-out clothing reviews' fit and test parts (the aggregator's and the review model's choices)
# share of each star rating's held-out reviews in the fit part (the test half is the other 50%); the
# rest is unused: on this project's shared 2-core machine (load 17 while six engineers worked)
# embedding every sentence of the whole held-out part (45k) did not fit in the session
FIT_FRACTION = 0.11
TEST_REVIEWS = 1200  # the first this many test-half reviews in file order

# ---- XLM-T (the multilingual head's data)
LANGUAGES = {"english": "en", "french": "fr", "german": "de", "spanish": "es", "portuguese": "pt"}
# a first dry run on the val parts: embedding only C=1 0.6035, C=4 0.5965 (mean macro-F1); the hashed-word
# candidates with C=4 were not finished on the shared machine, so C=1 only
MULTILINGUAL_CANDIDATES = [
    {"name": "embedding only, C=1", "lexical": False, "C": 1.0},
    {"name": "embedding + hashed words, C=1", "lexical": True, "C": 1.0},
]


def split_seed(card: dict) -> int:
    """The seed of the train / held-out split a head's card records (0 when it records none)."""
    return int(card.get("split", {}).get("seed", 0))


def read_lines(path: Path) -> list[str]:
    """The lines of a text file, split on "\\n" only.

    str.splitlines also splits on \\u2028 etc. inside tweets and misaligns labels.
    """
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _stratified_holdout(labels: pd.Series, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean mask, True for the rows held out: `fraction` of each label, chosen by `rng`."""
    held = np.zeros(len(labels), dtype=bool)
    for value in sorted(labels.unique(), key=str):
        rows = np.flatnonzero(labels.to_numpy() == value)
        rows = rng.permutation(rows)
        held[rows[: int(round(fraction * len(rows)))]] = True
    return held


def load_sources(data_dir: Path, seed: int = SEED, holdout: float = HOLDOUT) -> pd.DataFrame:
    """Every text used for training or evaluation, with its source, label and split.

    Args:
        data_dir: the shared data folder (holds sentiment/ and womens_clothing_reviews.csv).
        seed: seeds the SST-2 subsample, the train / held-out split and the clothing subsample.
        holdout: share of each source (per label) held out for evaluation.

    Returns:
        Columns text, label (negative / neutral / positive), source (tweeteval / sst2 / clothing /
        sst2_dev), split (train / holdout / dev; train rows dropped by subsampling are not
        returned), rating (clothing stars, else NaN).
    """
    rng = np.random.default_rng(seed)
    sent = data_dir / "sentiment"
    frames = []

    texts, labels = [], []
    for part in ("val", "test"):
        t = read_lines(sent / f"tweeteval_{part}_text.txt")
        y = read_lines(sent / f"tweeteval_{part}_labels.txt")
        if len(t) != len(y):
            raise SystemExit(f"tweeteval {part}: {len(t)} texts but {len(y)} labels")
        texts += t
        labels += [TWEET_LABELS[v.strip()] for v in y]
    tweets = pd.DataFrame({"text": [t.strip() for t in texts], "label": labels, "source": "tweeteval"})
    tweets["split"] = np.where(_stratified_holdout(tweets["label"], holdout, rng), "holdout", "train")
    frames.append(tweets)

    sst = pd.read_csv(sent / "sst2_train.tsv", sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False)
    sst = sst.iloc[np.sort(rng.choice(len(sst), size=min(SST2_SAMPLE, len(sst)), replace=False))]
    sst = pd.DataFrame(
        {
            "text": sst["sentence"].astype(str).str.strip(),
            "label": np.where(sst["label"].astype(int) == 1, "positive", "negative"),
            "source": "sst2",
        }
    )
    sst["split"] = np.where(_stratified_holdout(sst["label"], holdout, rng), "holdout", "train")
    frames.append(sst)

    dev = pd.read_csv(sent / "sst2_dev.tsv", sep="\t", quoting=csv.QUOTE_NONE, keep_default_na=False)
    text_col = "sentence" if "sentence" in dev.columns else "content"  # the dev file's header says "content"
    frames.append(
        pd.DataFrame(
            {
                "text": dev[text_col].astype(str).str.strip(),
                "label": np.where(dev["label"].astype(int) == 1, "positive", "negative"),
                "source": "sst2_dev",
                "split": "dev",
            }
        )
    )

    reviews = pd.read_csv(data_dir / "womens_clothing_reviews.csv")
    reviews = reviews[reviews["Review Text"].notna()]
    reviews = reviews[reviews["Review Text"].astype(str).str.strip() != ""]
    clothing = pd.DataFrame(
        {
            "text": reviews["Review Text"].astype(str).str.strip().to_numpy(),
            "rating": reviews["Rating"].astype(int).to_numpy(),
            "source": "clothing",
            "title": reviews["Title"].fillna("").astype(str).str.strip().to_numpy(),
        }
    )
    clothing["label"] = clothing["rating"].map(CLOTHING_RATING_LABELS)
    # stratify by star rating (not only label) so the held-out part keeps the 1-2 star share exactly
    clothing["split"] = np.where(_stratified_holdout(clothing["rating"], holdout, rng), "holdout", "train")
    train_pos = np.flatnonzero((clothing["split"] == "train") & (clothing["label"] == "positive"))
    keep = rng.choice(train_pos, size=min(CLOTHING_POSITIVE_TRAIN, len(train_pos)), replace=False)
    drop = np.setdiff1d(train_pos, keep)
    clothing = clothing.drop(index=clothing.index[drop])
    frames.append(clothing)

    out = pd.concat(frames, ignore_index=True)
    out = out[out["text"] != ""].reset_index(drop=True)
    out["title"] = out["title"].fillna("") if "title" in out else ""
    return out[["text", "label", "source", "split", "rating", "title"]]


def clothing_parts(data_dir: Path, seed: int):
    """The held-out clothing reviews with fit and test flags (stratified by rating; test = the second half)."""
    data = load_sources(data_dir, seed)
    reviews = data[(data["source"] == "clothing") & (data["split"] == "holdout")].reset_index(drop=True)
    rng = np.random.default_rng(seed + 1)
    fit = np.zeros(len(reviews), dtype=bool)
    test = np.zeros(len(reviews), dtype=bool)
    for rating in sorted(reviews["rating"].unique()):
        rows = rng.permutation(np.flatnonzero(reviews["rating"].to_numpy() == rating))
        half = len(rows) // 2
        fit[rows[: min(half, int(round(FIT_FRACTION * len(rows))))]] = True
        test[rows[half:]] = True
    test[np.flatnonzero(test)[TEST_REVIEWS:]] = False
    return reviews, fit, test


def load_xlmt(data_dir: Path) -> pd.DataFrame:
    """Every XLM-T text: columns text, label, language (ISO code), split (train / val / test)."""
    frames = []
    for folder, code in LANGUAGES.items():
        for split in ("train", "val", "test"):
            texts = read_lines(data_dir / "multilingual_sentiment" / folder / f"{split}_text.txt")
            labels = read_lines(data_dir / "multilingual_sentiment" / folder / f"{split}_labels.txt")
            if len(texts) != len(labels):
                raise SystemExit(f"{folder} {split}: {len(texts)} texts but {len(labels)} labels")
            frames.append(
                pd.DataFrame(
                    {
                        "text": [t.strip() for t in texts],
                        "label": [TWEET_LABELS[v.strip()] for v in labels],
                        "language": code,
                        "split": split,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def add_comment_vectors_option(parser, help: str) -> None:
    """`--comment-vectors` ([model] comment_vectors: whole, mean, length), as the training scripts and benches take it."""
    from refine.io.config import COMMENT_VECTORS

    parser.add_argument("--comment-vectors", choices=COMMENT_VECTORS, default="whole", help=help)


def bench_embedder():
    """The packaged all-MiniLM-L6-v2 behind the bench's content-hash cache."""
    from refine.text.embed import CachedEmbedder, SentenceTransformerEmbedder

    return CachedEmbedder(SentenceTransformerEmbedder("default", batch_size=32), CACHE_DIR)


def multilingual_bench_embedder():
    """USE multilingual v3 behind the bench cache."""
    from refine.text.embed_multilingual import build_multilingual_embedder

    return build_multilingual_embedder(CACHE_DIR)


def embed_in_chunks(embedder, texts: list[str], chunk: int = 1000, log=print) -> np.ndarray:
    """Embed through the cache chunk by chunk, so an interrupted first run keeps what it did."""
    parts = []
    start = time.time()
    for i in range(0, len(texts), chunk):
        parts.append(embedder.encode(texts[i : i + chunk]))
        if embedder.last_computed:
            done = min(i + chunk, len(texts))
            log(f"  embedded {done}/{len(texts)} ({time.time() - start:.0f}s)")
    return np.concatenate(parts) if parts else np.zeros((0, 384), dtype=np.float32)


def fit_and_band(x, data, train, val, option, weights=None, refit=False):
    """A multilingual head: fit on `train`, choose the neutral band on `val` (mean macro-F1 over languages);
    `refit`: then refit on both."""
    from refine.text.sentiment.scorers import calibrate_band, fit_head

    texts = data["text"].tolist()
    head = fit_head(
        x[train],
        data["label"].to_numpy(dtype=object)[train],
        texts=[texts[i] for i in np.flatnonzero(train)],
        lexical=option["lexical"],
        C=option["C"],
        sample_weight=None if weights is None else weights[train],
    )
    probs = head.predict_proba(x[val], [texts[i] for i in np.flatnonzero(val)])
    band = calibrate_band(
        data["label"].to_numpy(dtype=object)[val],
        probs[:, 2] - probs[:, 0],
        groups=data["language"].to_numpy(dtype=object)[val],
    )
    head.band = band
    if refit:
        head = fit_head(
            x[train | val],
            data["label"].to_numpy(dtype=object)[train | val],
            texts=[texts[i] for i in np.flatnonzero(train | val)],
            lexical=option["lexical"],
            C=option["C"],
            band=band,
        )
    return head


def label_of(head, x, texts) -> np.ndarray:
    """The head's sentiment label of each text."""
    return head.score(texts, x)["sentiment_label"].to_numpy(dtype=object)
