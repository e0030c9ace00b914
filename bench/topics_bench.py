"""Theme quality on real labelled data: refine's themes against BERTopic defaults on the same embeddings.

    PYTHONPATH=. .venv/bin/python bench/topics_bench.py                    # everything below
    PYTHONPATH=. .venv/bin/python bench/topics_bench.py --only banking     # banking77 parts only

Data (../shared/data, read-only): banking77/{train,test}.csv (13,083 customer messages, 77 intents)
and womens_clothing_reviews.csv (rows with a Review Text). Embeddings: the packaged all-MiniLM-L6-v2
through ONNX Runtime int8 (`[model] backend = "onnx-int8"`, --backend to change) behind a
content-hash cache in /tmp/refine-bench-cache.

Printed, in one run:

1. banking77, all 13,083 messages: refine themes (fit_themes: sentence-level, the pipeline's path:
   messages split into sentences, sentences embedded, primary theme per message) against BERTopic
   defaults (UMAP 5-d cosine with random_state=--seed, HDBSCAN min_cluster_size=10) on the message
   embeddings: NMI (sklearn, arithmetic) of the message's theme against its intent, unassigned share
   (messages with no theme count as one class of their own, -1, so leaving texts out is not free),
   themes, parents, seconds of the theme step (embedding excluded).
2. banking77 codeframe: the 77 intent names as a codeframe (names only), and names plus 5 training
   messages per intent as examples; accuracy on the 3,080 test messages (unassigned counts as
   wrong) and unassigned share, with the naive baselines (nearest intent name; nearest centroid of
   the 5 examples) on the same vectors.
3. Entities as people write them on social media (issue 30; the rules are in bench/theme_checks.py):
   half of the banking77 test messages (seeded) get a bank or brand, a city, an airport code, an
   @handle or a hashtag from the held-out part of bench/data/injected_entities.tsv, lower case as
   often as as written, anywhere in the message; NMI against the intent beside the clean run's, the
   themes named after an injected entity, and the name audit of the clean run. `--split train`
   does the same on the training messages with the list's build part (for choosing settings).
   Then the old easy case: "Hi <bank>, ... I'm in <city>" in every message.
4. Clothing reviews: NMI of the primary theme against Department Name and Class Name, refine vs
   BERTopic. Each review is one row with its document embedding here (sentences of 22k reviews
   would be ~100k more embeddings); the pipeline splits them.
5. TweetEval (12,284 test tweets, sentence level): the share of themes named for a proper noun,
   @handle or hashtag (bench/theme_checks.proper_noun_names), and the theme list.

Every refine row also prints the largest child theme's share of the themed texts, the pairs of
themes with the same name up to case and plural, and the share of theme names the proper-noun
detector flags; the 13,083-message banking row prints the name audit (majority intent's name among
the 3 intent names nearest the theme's name, with a shuffled-names baseline).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _env  # noqa: F401  # isort: skip - first: offline models, sys.path

import numpy as np
import pandas as pd
import theme_checks as checks

BANKS = ["@Monzo", "@Revolut", "Chase", "Barclays", "@HSBC_UK", "Santander"]
CITIES = ["London", "Berlin", "Madrid", "Chicago", "Toronto", "Sydney"]


def unit(x):
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def run_themes(texts, doc_vectors, encode, seed, *, split=True, codeframe=None, mask=True):
    from refine.io.config import TopicSettings
    from refine.text.themes import SimpleSentences, fit_themes, split_comments

    if split:
        sentences = split_comments(texts, doc_vectors, encode)
    else:
        frame = pd.DataFrame({"feedback_row": np.arange(len(texts)), "sentence_index": 0, "text": list(texts)})
        sentences = SimpleSentences(frame=frame, embeddings=doc_vectors)
    start = time.perf_counter()
    result = fit_themes(
        sentences, doc_vectors, texts, TopicSettings(), encode=encode, codeframe=codeframe, seed=seed, mask=mask
    )
    return result, time.perf_counter() - start


def run_bertopic(texts, embeddings, seed):
    try:
        from bertopic import BERTopic
        from umap import UMAP
    except ImportError:
        return None
    start = time.perf_counter()
    umap_model = UMAP(n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed)
    model = BERTopic(embedding_model=None, umap_model=umap_model)
    topics, _ = model.fit_transform(list(texts), embeddings)
    return np.asarray(topics), time.perf_counter() - start


def show(result, limit=12):
    for p in result.parents[:limit]:
        kids = [t for t in result.themes if t.parent_id == p.id]
        print(f"  [{p.id}] {p.label} ({p.size}): " + "; ".join(f"{t.label} ({t.size})" for t in kids[:6]))


def name_checks(result, texts) -> tuple[float, int, float]:
    """(largest child share, same-name pairs among children and among parents, proper-noun name share)."""
    labels = [t.label for t in result.themes]
    pairs = checks.same_name_pairs(labels) + checks.same_name_pairs([p.label for p in result.parents])
    flagged = checks.proper_noun_names(labels, checks.proper_noun_words(list(texts)))
    if pairs or flagged:
        print(f"  same-name pairs: {pairs}; named for a proper noun / handle / hashtag: {flagged}")
    return checks.largest_child_share(result.primary), len(pairs), len(flagged) / max(len(labels), 1)


def add_rows(args, nmi, rows, name, texts, vectors, result, seconds, truth, second_truth=None):
    """One data set's rows: refine themes, then BERTopic defaults on the same vectors (unless --no-bertopic);
    NMI against the truth and, where there is one, a second truth."""

    def scores(ids):
        return float((ids == -1).mean()), nmi(truth, ids), None if second_truth is None else nmi(second_truth, ids)

    ids = result.primary
    extra = name_checks(result, texts)
    rows.append((name, "refine themes", len(result.themes), len(result.parents), *scores(ids), seconds, *extra))
    print(f"{name.split(' (')[0]} / refine themes: {result.method}", flush=True)
    show(result)
    if not args.no_bertopic:
        out = run_bertopic(texts, vectors, args.seed)
        if out is not None:
            topics, seconds = out
            k = len(set(topics.tolist()) - {-1})
            share = checks.largest_child_share(topics)
            rows.append((name, "BERTopic defaults", k, None, *scores(topics), seconds, share, None, None))
            print(f"{name.split(' (')[0]} / BERTopic: {rows[-1]}", flush=True)


def banking(args, encode, nmi, rows):
    d = args.data_dir / "banking77"
    train, test = pd.read_csv(d / "train.csv"), pd.read_csv(d / "test.csv")
    every = pd.concat([train, test], ignore_index=True)
    texts = every["text"].astype(str).tolist()
    truth = every["category"].to_numpy()
    vectors = unit(encode(texts))
    if args.only in (None, "banking"):
        banking_themes(args, encode, nmi, rows, texts, truth, vectors)
    if args.only in (None, "banking", "codeframe"):
        banking_codeframe(args, encode, train, test)
    if args.only in (None, "banking", "entities"):
        if args.split == "train":
            banking_entities(args, encode, nmi, train, "build")
        else:
            banking_entities(args, encode, nmi, test, "heldout")
            banking_easy_entities(args, encode, nmi, test)


def banking_themes(args, encode, nmi, rows, texts, truth, vectors):
    result, seconds = run_themes(texts, vectors, encode, args.seed)
    add_rows(args, nmi, rows, "banking77 (13,083)", texts, vectors, result, seconds, truth)
    print_audit("banking77 (13,083)", result, truth, encode)


def print_audit(name, result, truth, encode):
    matched, shuffled, top1, k = checks.name_audit(result, truth, encode)
    print(
        f"name audit, {name}: {matched:.1%} of {k} theme names match their majority intent's name "
        f"(shuffled names {shuffled:.1%}; nearest intent name alone {top1:.1%})",
        flush=True,
    )


def banking_codeframe(args, encode, train, test):
    """Codeframe from the intent names, then names + 5 examples each."""
    from refine.text.themes import Codeframe, CodeframeTheme
    from refine.text.themes.codeframe import assign, build_prototypes, name_words

    cats = sorted(train["category"].unique())
    x = unit(encode(test["text"].astype(str).tolist()))
    y = np.array([cats.index(c) for c in test["category"]])
    examples = train.groupby("category", sort=True).head(5)
    bare = unit(encode([name_words(c) for c in cats]))
    print(f"codeframe baseline, nearest intent name: {((x @ bare.T).argmax(1) == y).mean():.3f}")
    cent = unit(np.stack([unit(encode(examples[examples.category == c].text.tolist())).mean(0) for c in cats]))
    print(f"codeframe baseline, nearest centroid of 5 examples: {((x @ cent.T).argmax(1) == y).mean():.3f}")
    for label, with_examples in (("names only", False), ("names + 5 examples", True)):
        frame = Codeframe(
            [
                CodeframeTheme(name=c, examples=examples[examples.category == c].text.tolist() if with_examples else [])
                for c in cats
            ]
        )
        start = time.perf_counter()
        placed = assign(x, build_prototypes(frame, encode))
        seconds = time.perf_counter() - start
        acc = float((placed.theme == y).mean())
        acc_assigned = float((placed.theme[placed.theme >= 0] == y[placed.theme >= 0]).mean())
        print(
            f"codeframe {label}: {acc:.3f} of test messages right ({(placed.theme == -1).mean():.1%} unassigned, "
            f"{acc_assigned:.3f} of the assigned right), {seconds:.0f}s  {placed.method}",
            flush=True,
        )


def banking_entities(args, encode, nmi, messages, part):
    """Entities injected as people write them on social media, into half the messages (theme_checks)."""
    found = checks.check_unseen(Path(__file__).resolve().parents[1])
    if found:
        print(f"WARNING: injected entity words found in refine's code: {found}")
    entities = checks.load_entities(part)
    texts = messages["text"].astype(str).tolist()
    truth = messages["category"].to_numpy()
    injected, planted = checks.inject(texts, entities, args.seed)
    clean, _ = run_themes(texts, unit(encode(texts)), encode, args.seed)
    dirty, seconds = run_themes(injected, unit(encode(injected)), encode, args.seed)
    label = f"banking77 {'test' if part == 'heldout' else 'train'} ({len(texts):,}, {part} entities)"
    a, b = nmi(truth, clean.primary), nmi(truth, dirty.primary)
    named = checks.entity_named(
        [t.label for t in dirty.themes] + [p.label for p in dirty.parents], sum(entities.values(), [])
    )
    print(
        f"entities injected, {label}: NMI intent clean {a:.3f}, injected {b:.3f} ({b - a:+.3f}); unassigned "
        f"{(clean.primary == -1).mean():.1%} / {(dirty.primary == -1).mean():.1%}; largest child "
        f"{checks.largest_child_share(dirty.primary):.1%}; {len(dirty.themes)} themes, {len(named)} named after "
        f"an injected entity {named}; {seconds:.0f}s",
        flush=True,
    )
    show(dirty, 6)
    print_audit(f"clean {label}", clean, truth, encode)


def banking_easy_entities(args, encode, nmi, test):
    """The easy case: "Hi <bank>, ... I'm in <city>." in every test message (masking on)."""
    x = unit(encode(test["text"].astype(str).tolist()))
    rng = np.random.default_rng(args.seed)
    bank = rng.integers(0, len(BANKS), len(test))
    city = rng.integers(0, len(CITIES), len(test))
    planted = [
        f"Hi {BANKS[b]}, {t.rstrip()} I'm in {CITIES[c]} at the moment."
        for t, b, c in zip(test["text"].astype(str), bank, city)
    ]
    pv = unit(encode(planted))
    truth_test = test["category"].to_numpy()
    del x
    for mask in (True,):
        result, seconds = run_themes(planted, pv, encode, args.seed, mask=mask)
        print(
            f"entities, easy case, mask={mask}: NMI intent {nmi(truth_test, result.primary):.3f}, NMI bank "
            f"{nmi(bank, result.primary):.3f}, NMI city {nmi(city, result.primary):.3f}, unassigned "
            f"{(result.primary == -1).mean():.1%}, {len(result.themes)} themes, {seconds:.0f}s",
            flush=True,
        )
        show(result, 5)


def clothing(args, encode, nmi, rows):
    df = pd.read_csv(args.data_dir / "womens_clothing_reviews.csv")
    df = df[df["Review Text"].notna() & (df["Review Text"].astype(str).str.strip() != "")]
    texts = df["Review Text"].astype(str).tolist()
    dept = df["Department Name"].fillna("(none)").astype(str).to_numpy()
    cls = df["Class Name"].fillna("(none)").astype(str).to_numpy()
    vectors = unit(encode(texts))
    result, seconds = run_themes(texts, vectors, encode, args.seed, split=False)
    add_rows(args, nmi, rows, f"clothing ({len(texts):,})", texts, vectors, result, seconds, dept, cls)


def tweeteval(args, encode, rows):
    """Real tweets full of names: the share of themes named for a proper noun, handle or hashtag."""
    path = args.data_dir / "sentiment" / "tweeteval_test_text.txt"
    if not path.exists():
        print(f"{path} not found: TweetEval skipped")
        return
    texts = [line.rstrip("\n") for line in path.open(encoding="utf-8")]
    vectors = unit(encode(texts))
    result, seconds = run_themes(texts, vectors, encode, args.seed)
    extra = name_checks(result, texts)
    un = float((result.primary == -1).mean())
    rows.append(
        (
            f"tweeteval ({len(texts):,})",
            "refine themes",
            len(result.themes),
            len(result.parents),
            un,
            None,
            None,
            seconds,
            *extra,
        )
    )
    print("tweeteval / refine themes:", flush=True)
    show(result, 20)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve()
    default_data = next(
        (p / "shared" / "data" for p in here.parents if (p / "shared" / "data").is_dir()),
        here.parents[2] / "shared" / "data",
    )
    parser.add_argument("--data-dir", type=Path, default=default_data)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/refine-bench-cache"))
    parser.add_argument("--backend", default="onnx-int8", help="torch | onnx | onnx-int8")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["banking", "codeframe", "entities", "clothing", "tweeteval"], default=None)
    parser.add_argument("--split", choices=["test", "train"], default="test", help="entities: train = build list")
    parser.add_argument("--no-bertopic", action="store_true", help="skip the BERTopic comparison")
    parser.add_argument(
        "--proper-ratio", type=float, default=None, help="entities.PROPER_RATIO (to choose it on train)"
    )
    args = parser.parse_args()
    if args.proper_ratio is not None:
        import refine.text.themes.entities as entities

        entities.PROPER_RATIO = args.proper_ratio
    if not (args.data_dir / "banking77" / "test.csv").exists():
        print(f"data not found in {args.data_dir}: nothing to benchmark")
        return 0
    from sklearn.metrics import normalized_mutual_info_score as nmi

    from refine.text.embed import build_embedder

    embedder = build_embedder("default", device="cpu", batch_size=64, cache_dir=args.cache, backend=args.backend)
    print(f"embeddings: {embedder.model_id}", flush=True)
    rows: list[tuple] = []
    if args.only in (None, "banking", "codeframe", "entities"):
        banking(args, embedder.encode, nmi, rows)
    if args.only in (None, "clothing"):
        clothing(args, embedder.encode, nmi, rows)
    if args.only in (None, "tweeteval"):
        tweeteval(args, embedder.encode, rows)
    print()
    print("NMI counts unassigned texts (-1) as one class of their own; seconds = theme step only.")
    print(
        f"{'data':<19} {'method':<18} {'themes':>6} {'parents':>7} {'unassigned':>10} {'NMI 1':>7} {'NMI 2':>7} "
        f"{'s':>6} {'largest':>8} {'same':>5} {'proper':>7}"
    )
    for name, label, k, parents, un, a, b, sec, big, same, proper in rows:
        f = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
        print(
            f"{name:<19} {label:<18} {k:>6} {f(parents, 'd'):>7} {un:>10.1%} {f(a, '.3f'):>7} {f(b, '.3f'):>7} "
            f"{sec:>6.0f} {big:>8.1%} {f(same, 'd'):>5} {f(proper, '.1%'):>7}"
        )
    print("NMI 1 = against the intent (banking77) / Department Name (clothing); NMI 2 = Class Name.")
    print("largest = largest child theme's share of the themed texts; same = same-name pairs (case, plural);")
    print("proper = share of theme names the proper-noun / @handle / #hashtag detector flags (theme_checks).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
