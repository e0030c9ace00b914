"""Topic quality on real data: refine's fit_topics against BERTopic defaults on the same embeddings.

    .venv/bin/python bench/topics_bench.py                 # all clothing reviews + all TweetEval tweets
    .venv/bin/python bench/topics_bench.py --limit 5000    # first 5000 of each

Data: ../shared/data/womens_clothing_reviews.csv (rows with a non-empty Review Text) and
../shared/data/sentiment/tweeteval_{test,val}_text.txt. Embeddings: the packaged all-MiniLM-L6-v2
behind a content-hash cache in /tmp/refine-bench-cache (the first run embeds ~37k texts: minutes).

Reported per method: topics, unassigned share (texts in no topic), seconds for the topic step alone
(embeddings excluded), and for the reviews the NMI (sklearn normalized_mutual_info_score, arithmetic
mean) of the topic assignment against Department Name and against Class Name. Unassigned texts count
as one class of their own (-1), so leaving texts out is not free. TweetEval has no topic labels.

BERTopic (if importable) runs with its defaults (UMAP 5-d cosine, HDBSCAN min_cluster_size=10 eom,
CountVectorizer) on the same embeddings; only UMAP's random_state is fixed to --seed, so the
comparison is reproducible. Without bertopic that row says "skipped".
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def load_reviews(data_dir: Path, limit: int | None):
    import pandas as pd

    df = pd.read_csv(data_dir / "womens_clothing_reviews.csv")
    df = df[df["Review Text"].notna() & (df["Review Text"].astype(str).str.strip() != "")]
    if limit:
        df = df.head(limit)
    labels = {col: df[col].fillna("(none)").astype(str).to_numpy() for col in ("Department Name", "Class Name")}
    return df["Review Text"].astype(str).tolist(), labels


def load_tweets(data_dir: Path, limit: int | None) -> list[str]:
    texts: list[str] = []
    for part in ("test", "val"):
        with open(data_dir / "sentiment" / f"tweeteval_{part}_text.txt", encoding="utf-8") as fh:
            texts += [line.rstrip("\n") for line in fh]
    texts = [t for t in texts if t.strip()]
    return texts[:limit] if limit else texts


def run_refine(texts, embeddings, seed: int, **overrides):
    from refine.config import TopicSettings
    from refine.topics import fit_topics

    start = time.perf_counter()
    model = fit_topics(texts, embeddings, TopicSettings(**overrides), seed=seed)
    return model.doc_topics, len(model.topics), time.perf_counter() - start, model


def run_bertopic(texts, embeddings, seed: int):
    try:
        from bertopic import BERTopic
        from umap import UMAP
    except ImportError:
        return None
    start = time.perf_counter()
    umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed)
    model = BERTopic(embedding_model=None, umap_model=umap_model)
    topics, _ = model.fit_transform(texts, embeddings)
    topics = np.asarray(topics)
    return topics, len(set(topics.tolist()) - {-1}), time.perf_counter() - start, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/refine-bench-cache"))
    parser.add_argument("--limit", type=int, default=None, help="first N texts of each data set (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-bertopic", action="store_true", help="skip the BERTopic comparison")
    parser.add_argument("--umap", action="store_true", help="also run refine with reducer = umap (needs umap-learn)")
    parser.add_argument("--show", type=int, default=12, help="print the N largest refine topics per data set")
    args = parser.parse_args()

    if not (args.data_dir / "womens_clothing_reviews.csv").exists():
        print(f"data not found in {args.data_dir} (womens_clothing_reviews.csv): nothing to benchmark")
        return 0
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from refine.embed import CachedEmbedder, SentenceTransformerEmbedder

    embedder = CachedEmbedder(SentenceTransformerEmbedder("default", show_progress=True), args.cache)
    sets = []
    reviews, labels = load_reviews(args.data_dir, args.limit)
    sets.append(("clothing reviews", reviews, labels))
    if (args.data_dir / "sentiment" / "tweeteval_test_text.txt").exists():
        sets.append(("TweetEval", load_tweets(args.data_dir, args.limit), None))
    else:
        print("TweetEval files not found: skipped")

    rows = []
    for name, texts, truth in sets:
        start = time.perf_counter()
        embeddings = embedder.encode(texts)
        print(
            f"{name}: {len(texts)} texts embedded in {time.perf_counter() - start:.0f}s "
            f"({embedder.last_hits} cached, {embedder.last_computed} computed)",
            flush=True,
        )
        methods = [
            ("refine (defaults)", lambda texts=texts, embeddings=embeddings: run_refine(texts, embeddings, args.seed))
        ]
        if args.umap:
            methods.append(
                (
                    "refine (reducer=umap)",
                    lambda texts=texts, embeddings=embeddings: run_refine(texts, embeddings, args.seed, reducer="umap"),
                )
            )
        if not args.no_bertopic:
            methods.append(
                (
                    "BERTopic defaults",
                    lambda texts=texts, embeddings=embeddings: run_bertopic(texts, embeddings, args.seed),
                )
            )
        for label, fn in methods:
            result = fn()
            if result is None:
                rows.append((name, label, None, None, None, None, None))
                print(f"{name} / {label}: skipped (bertopic / umap-learn not importable)", flush=True)
                continue
            topics, k, seconds, model = result
            unassigned = float((topics == -1).mean())
            dept = nmi(truth["Department Name"], topics) if truth else None
            cls = nmi(truth["Class Name"], topics) if truth else None
            rows.append((name, label, k, unassigned, dept, cls, seconds))
            print(
                f"{name} / {label}: {k} topics, {unassigned:.1%} unassigned, {seconds:.0f}s"
                + (f"  {model.method}" if model is not None else ""),
                flush=True,
            )
            if model is not None and args.show:
                for t in model.topics[: args.show]:
                    quote = t.quotes[0][:90] if t.quotes else ""
                    print(f"  {t.id:>3} {t.size:>6}  {t.label:<32} {', '.join(t.keywords[:5])}  | {quote}")

    print()
    print("NMI counts unassigned texts (-1) as one class of their own; seconds = topic step only.")
    print(
        f"{'data':<17} {'method':<23} {'topics':>6} {'unassigned':>10} {'NMI dept':>9} {'NMI class':>9} {'seconds':>8}"
    )
    for name, label, k, un, dept, cls, sec in rows:
        if k is None:
            print(f"{name:<17} {label:<23} {'skipped (not importable)':>46}")
            continue
        f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
        print(f"{name:<17} {label:<23} {k:>6} {un:>10.1%} {f(dept, '.3f'):>9} {f(cls, '.3f'):>9} {sec:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
