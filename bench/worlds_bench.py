"""Proposal recall and precision on randomized worlds (refine.demo.worlds): planted merge / split / new
structures on tables of random shape, with real feedback text drawn by topic from ../shared/data.

    PYTHONPATH=. .venv/bin/python bench/worlds_bench.py --worlds 50 --null 50          # the full set
    PYTHONPATH=. .venv/bin/python bench/worlds_bench.py --worlds 6 --null 4            # a smoke run
    PYTHONPATH=. .venv/bin/python bench/worlds_bench.py --report worlds.jsonl --chart docs/worlds_recall.svg

Per world: the tables are written as CSV and read back by refine.io.ingest (as a CRM export would be
read), the texts take their vectors and sentiment from the pool (embedded once, with the default
model through the project's cached embedder, onnx-int8 backend by default), the topic step runs
(refine.text.themes.topics.fit_topics) and its topics are grouped into parent themes by the themes stage's
own hierarchy builder (so every comment carries `topic_parent_id` / `topic_parent_label` as in a cycle),
then refine.segments.propose. A planted structure counts as found when a
confirmed proposal of its kind selects customers with Jaccard >= 0.6 against the planted ones
(merge: a confirmed merge whose segments include both planted segments, so a merge of three or more
segments covering the planted pair counts, as refine states overlapping merges as one; split: either of the two segments it makes, the rule's customers or
the rest of the segment, since `segment == "S4" and app_user == False` splits S4 exactly as
`... == True` does). Precision: confirmed proposals matching a planted structure over
all confirmed proposals in the worlds with structure. Null worlds: share confirming anything.

Printed besides (issue 31): recall over every planted structure at or above `min_effect` (medium, large,
equal-merge), recall for medium+ effects on 150-299 customers, and the power curve by planted customers
(<150, 150-299, <300, 300-999, 1000+) and by planted respondents (customers of the group who wrote). Every
world has a category of 30+ levels; three in ten planted splits are an interaction of two attributes inside
one segment (attribute type `interaction`). Develop on seeds 0-49; score on `--seed-start 1000`.

Null outcomes (issue 29): `--null-outcome constant` sets churned to 0 and revenue to one value for every
customer; `--null-outcome independent` redraws churn (at its overall rate) and shuffles revenue across
customers, so neither depends on the segment while feedback and scores still differ. A confirmed merge of
two segments whose scores (stars, or sentiment where a pool has none) differ (Welch p < 0.05 over all
their comments) is counted as `merges_scores_differ`: the target is 0 over 20 seeds.

    PYTHONPATH=. .venv/bin/python bench/worlds_bench.py --worlds 20 --null 0 --null-outcome independent

Targets (issue 14): recall >= 0.9 for medium or large effects on >= 300 customers for each kind and
attribute type; precision >= 0.95; at most 5% of null worlds confirm anything. Not a test: it prints.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _env import ROOT  # isort: skip - first: offline models, sys.path

import numpy as np
import pandas as pd

from refine import schemas as S
from refine.demo.worlds import draw_world, find_shared_data, load_pools, world_pool
from refine.io.config import config_from_dict

SIZE_BUCKETS = ((0, 300, "<300"), (300, 1000, "300-999"), (1000, 10**9, "1000+"))
# the power curve: planted customers (with 150-299 beside <300) and planted respondents (customers who wrote)
CUSTOMER_CURVE = (
    (0, 150, "<150"),
    (150, 300, "150-299"),
    (0, 300, "<300"),
    (300, 1000, "300-999"),
    (1000, 10**9, "1000+"),
)
RESPONDENT_CURVE = ((0, 25, "<25"), (25, 50, "25-49"), (50, 100, "50-99"), (100, 200, "100-199"), (200, 10**9, "200+"))
AT_LEAST_MIN_EFFECT = ("medium", "large", "equal")  # planted effects at or above [proposals] min_effect (0.3 SD)


def size_bucket(n: int) -> str:
    return next(label for low, high, label in SIZE_BUCKETS if low <= n < high)


def power_curve(planted: list[dict], key: str, buckets) -> list[tuple[str, list[int], list[int]]]:
    """Per bucket of `key` (customers or respondents): [found, planted] for medium+ effects and for small ones."""
    rows = []
    for low, high, label in buckets:
        inside = [p for p in planted if low <= p.get(key, -1) < high]
        strong = [p["found"] for p in inside if p["effect"] in AT_LEAST_MIN_EFFECT]
        small = [p["found"] for p in inside if p["effect"] == "small"]
        rows.append((label, [sum(strong), len(strong)], [sum(small), len(small)]))
    return rows


def embed_pools(pools, cache: Path, backend: str):
    from refine.text.embed import build_embedder
    from refine.text.sentiment.scorers import load_scorer

    embedder = build_embedder("default", device="cpu", batch_size=64, cache_dir=cache, backend=backend)
    scorer = load_scorer("default")
    out = []
    for pool in pools:
        start = time.perf_counter()
        vectors = embedder.encode(pool.texts)
        sentiment = scorer.score(pool.texts, vectors)
        print(
            f"pool {pool.source}: {len(pool.texts)} texts, {embedder.last_computed} embedded, "
            f"{embedder.last_hits} from cache ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )
        out.append((vectors, sentiment))
    return out, embedder.model_id


def null_outcomes(world, how: str, seed: int) -> None:
    """Make the world's outcomes carry no segment difference (issue 29): constant, or independent of segment."""
    rng = np.random.default_rng(10_000 + seed)
    c = world.customers
    if how == "constant":
        c["churned"] = 0
        c["revenue"] = 100.0
    else:
        c["churned"] = (rng.random(len(c)) < float(c["churned"].mean())).astype(int)
        c["revenue"] = rng.permutation(c["revenue"].to_numpy())


def scores_differ(feedback: pd.DataFrame, segments: list[str]) -> dict | None:
    """The two segments' score gap (stars, else sentiment) over all their comments when it is significant
    (Welch p < 0.05): the difference, Cohen's d and p; None when they do not differ. A merge of three or more
    segments: the first pair (in order) that differs."""
    from scipy import stats

    if len(segments) > 2:
        gaps = (scores_differ(feedback, list(pair)) for pair in itertools.combinations(segments, 2))
        return next((dict(g, pair=list(pair)) for g, pair in zip(gaps, itertools.combinations(segments, 2)) if g), None)

    column = S.SCORE if feedback[S.SCORE].notna().any() else S.SENTIMENT_SCORE
    a, b = (feedback.loc[feedback[S.SEGMENT] == s, column].dropna().to_numpy(dtype=float) for s in segments)
    if len(a) < 2 or len(b) < 2:
        return None
    p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    pooled = float(np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)))
    diff = float(a.mean() - b.mean())
    return {"diff": diff, "d": diff / pooled if pooled else 0.0, "p": p} if p < 0.05 else None


def parent_themes(model) -> tuple[dict[int, int], dict[int, str]]:
    """Parent themes over the topics as the cycle's themes stage builds them (refine.text.themes.stage step 5,
    `_group_children`: average-linkage groups of the child centroids, Ward to about sqrt(k) groups): the parent
    id of each topic id and a label per parent (its largest child's, the bench needs no better name). Parent
    ids run by size, largest first, as the stage numbers them in a first cycle."""
    from refine.text.themes.stage import PARENT_SIMILARITY, _group_children

    if not model.topics:
        return {}, {}
    centroids = np.stack([np.asarray(t.centroid, dtype=np.float32) for t in model.topics])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    groups = _group_children(centroids, PARENT_SIMILARITY)
    sizes = defaultdict(int)
    for t, g in zip(model.topics, groups):
        sizes[int(g)] += t.size
    order = sorted(sizes, key=lambda g: (-sizes[g], g))
    number = {g: i for i, g in enumerate(order)}
    parent_of = {t.id: number[int(g)] for t, g in zip(model.topics, groups)}
    largest = {}
    for t in sorted(model.topics, key=lambda t: -t.size):
        largest.setdefault(parent_of[t.id], t.label)
    return parent_of, {p: f"{label} (parent)" for p, label in largest.items()}


def run_world(
    seed: int, null: bool, pools, embedded, customers: int, workdir: Path, null_outcome: str | None = None
) -> dict:
    from refine.io.ingest import ingest, rule_columns
    from refine.segments.profiles import join_segments, respondents_table
    from refine.segments.propose import propose
    from refine.segments.rules import apply_rule
    from refine.text.themes.topics import fit_topics

    start = time.perf_counter()
    index = seed % len(pools) if pools else 0
    world = draw_world(seed, world_pool(seed, pools), null=null, n_customers=customers)
    if null_outcome:
        null_outcomes(world, null_outcome, seed)
    vectors, sentiment = embedded[index]
    folder = workdir / f"{seed}-{'null' if null else 'planted'}"
    paths = world.write(folder)
    config = config_from_dict(world.config_dict())
    data = ingest(paths["feedback"], paths["customers"], config)
    row_of = dict(zip(world.feedback["feedback_id"], world.pool_rows))
    rows = data.feedback[S.FEEDBACK_ID].map(row_of).to_numpy(dtype=np.int64)
    feedback = data.feedback.reset_index(drop=True)
    feedback = pd.concat([feedback, sentiment.iloc[rows].reset_index(drop=True)], axis=1)
    model = fit_topics(feedback[S.TEXT].tolist(), vectors[rows], config.topics, seed=seed)
    feedback[S.TOPIC_ID] = model.doc_topics.astype(int)
    labels = {t.id: t.label for t in model.topics}
    feedback[S.TOPIC_LABEL] = feedback[S.TOPIC_ID].map(labels).fillna("no topic")
    # parent themes on every comment, as the cycle's themes stage puts them (topic_parent_id / _label)
    parent_of, parent_labels = parent_themes(model)
    feedback[S.TOPIC_PARENT_ID] = feedback[S.TOPIC_ID].map(parent_of).fillna(-1).astype(int)
    feedback[S.TOPIC_PARENT_LABEL] = feedback[S.TOPIC_PARENT_ID].map(parent_labels).fillna("no topic")
    feedback = join_segments(feedback, data.customers, config)
    respondents = respondents_table(feedback, sorted(labels))
    t_propose = time.perf_counter()
    result = propose(
        data.customers,
        feedback,
        respondents,
        config,
        rule_columns=rule_columns(data.attributes, config),
        topic_labels=labels,
        seed=seed,
    )
    t_propose = time.perf_counter() - t_propose
    # planted masks follow the world's rows; line them up with the ingested table by customer id
    position = pd.Index(world.customers["customer_id"]).get_indexer(data.customers["customer_id"])
    document = result.to_json()
    confirmed = [p for p in document["proposals"] if p["confirmed"]]
    unconfirmed = [p for p in document["proposals"] if not p["confirmed"] and p["kind"] != "merge"]
    masks = {p["id"]: apply_rule(data.customers, p["rule"]).to_numpy() for p in confirmed + unconfirmed}

    def matches(p, planted) -> bool:
        if p["kind"] != planted.kind:
            return False
        if planted.kind == "merge":
            return set(planted.segments) <= set(p["segments"])  # an n-way merge covering the pair counts
        truth = planted.mask[position]
        sides = [masks[p["id"]]]
        if p["kind"] == "split":  # a split makes two segments: the rule's customers and the rest of the segment
            sides.append((data.customers["segment"] == p["segments"][0]).to_numpy() & ~masks[p["id"]])
        return any(
            int((side | truth).sum()) > 0 and int((side & truth).sum()) / int((side | truth).sum()) >= 0.6
            for side in sides
        )

    wrote = data.customers["customer_id"].isin(feedback[S.CUSTOMER_ID]).to_numpy()
    planted_rows = []
    for planted in world.planted:
        row = planted.to_json()
        row["respondents"] = int((planted.mask[position] & wrote).sum())
        row["found"] = any(matches(p, planted) for p in confirmed)
        # a miss found on discovery that the holdout did not confirm (where power is lost)
        row["unconfirmed"] = not row["found"] and any(matches(p, planted) for p in unconfirmed)
        planted_rows.append(row)
    correct = [p for p in confirmed if any(matches(p, planted) for planted in world.planted)]
    wrong = [f"{p['kind']}: {p['rule']}" for p in confirmed if p not in correct]
    skipped = [s["column"] for s in document["method"].get("skipped_columns", [])]
    return {
        "seed": seed,
        "null": null,
        "text_source": world.text_source,
        "customers": len(data.customers),
        "feedback": len(feedback),
        "segments": int(world.customers["segment"].nunique()),
        "attributes": len(world.attribute_types),
        "topics": len(labels),
        "parents": len(parent_labels),
        "planted": planted_rows,
        "confirmed": len(confirmed),
        "correct": len(correct),
        "wrong": wrong,
        "rules": [f"{p['kind']}: {p['rule']}" for p in confirmed],
        "skipped": skipped,
        "decoys_used": [
            p["rule"]
            for p in confirmed
            if any(world.attribute_types.get(c) == "decoy" for c in world.attribute_types if c in p["rule"])
        ],
        "merges_scores_differ": [
            dict(gap, rule=p["rule"])
            for p in confirmed
            if p["kind"] == "merge" and (gap := scores_differ(feedback, p["segments"])) is not None
        ],
        "null_outcome": null_outcome,
        "propose_s": round(t_propose, 2),
        "seconds": round(time.perf_counter() - start, 1),
    }


def summarize(rows: list[dict]) -> dict:
    planted = [p for r in rows if not r["null"] for p in r["planted"]]
    worlds = [r for r in rows if not r["null"]]
    nulls = [r for r in rows if r["null"]]
    cells = defaultdict(lambda: [0, 0])
    for p in planted:
        key = (p["kind"], p["attribute_type"], p["effect"], size_bucket(p["customers"]))
        cells[key][0] += p["found"]
        cells[key][1] += 1
    targets = defaultdict(lambda: [0, 0])
    for p in planted:
        if p["customers"] >= 300 and p["effect"] in ("medium", "large", "equal"):
            targets[(p["kind"], p["attribute_type"])][0] += p["found"]
            targets[(p["kind"], p["attribute_type"])][1] += 1
    confirmed = sum(r["confirmed"] for r in worlds)
    strong = [p for p in planted if p["effect"] in AT_LEAST_MIN_EFFECT]
    strong_150 = [p["found"] for p in strong if 150 <= p["customers"] < 300]
    return {
        "missed_unconfirmed": [
            sum(p.get("unconfirmed", False) for p in strong),
            len(strong) - sum(p["found"] for p in strong),
        ],
        "recall_min_effect": _share([p["found"] for p in strong]),
        "found_min_effect": [sum(p["found"] for p in strong), len(strong)],
        "recall_150_299": _share(strong_150),
        "found_150_299": [sum(strong_150), len(strong_150)],
        "curve_customers": power_curve(planted, "customers", CUSTOMER_CURVE),
        "curve_respondents": power_curve(planted, "respondents", RESPONDENT_CURVE),
        "worlds": len(worlds),
        "null_worlds": len(nulls),
        "planted": len(planted),
        "recall_all": sum(p["found"] for p in planted) / max(len(planted), 1),
        "precision": sum(r["correct"] for r in worlds) / confirmed if confirmed else float("nan"),
        "confirmed": confirmed,
        "null_false_alarm": sum(r["confirmed"] > 0 for r in nulls) / len(nulls) if nulls else float("nan"),
        "merge_recall": _share([p["found"] for p in planted if p["kind"] == "merge"]),
        "merges_scores_differ": sum(len(r.get("merges_scores_differ", [])) for r in rows),
        "merges_scores_differ_past_margin": sum(
            abs(m["d"]) >= 0.3 for r in rows for m in r.get("merges_scores_differ", []) if isinstance(m, dict)
        ),
        "cells": {" | ".join(k): v for k, v in sorted(cells.items())},
        "targets": {" | ".join(k): v for k, v in sorted(targets.items())},
    }


def _share(flags: list) -> float:
    return sum(flags) / len(flags) if flags else float("nan")


def _fmt(found: int, total: int) -> str:
    return f"{found / total:.2f}" if total else "-"


def print_tables(summary: dict) -> None:
    print()
    print(
        f"{summary['worlds']} worlds with structure ({summary['planted']} planted), {summary['null_worlds']} null worlds"
    )
    print(f"recall, all planted: {summary['recall_all']:.2f}")
    print(f"precision (confirmed proposals matching a planted structure): {summary['precision']:.3f} "
          f"of {summary['confirmed']}")  # fmt: skip
    print(f"null worlds confirming anything: {summary['null_false_alarm']:.2f}")
    print(f"merge recall: {summary['merge_recall']:.2f}")
    found, total = summary["found_min_effect"]
    print(f"recall, every planted structure at or above min_effect (medium, large, equal-merge): "
          f"{found}/{total} = {summary['recall_min_effect']:.2f}")  # fmt: skip
    unconfirmed, missed = summary["missed_unconfirmed"]
    print(f"of the {missed} missed at or above min_effect, found on discovery but not confirmed: {unconfirmed}")
    found, total = summary["found_150_299"]
    print(f"recall, medium+ effect, groups of 150-299 customers: {found}/{total} = {summary['recall_150_299']:.2f}")
    print(
        f"confirmed merges of segments whose scores differ (Welch p < 0.05 over all comments): "
        f"{summary['merges_scores_differ']}, of which by 0.3 SD or more: {summary['merges_scores_differ_past_margin']}"
    )
    for title, key in (
        ("planted customers", "curve_customers"),
        ("planted respondents (customers who wrote)", "curve_respondents"),
    ):
        print()
        print(f"Power curve by {title} (found / planted):")
        print()
        print("| bucket | medium+ effect | recall | small effect | recall |")
        print("|---|---:|---:|---:|---:|")
        for label, (f1, n1), (f2, n2) in summary[key]:
            print(f"| {label} | {f1} / {n1} | {_fmt(f1, n1)} | {f2} / {n2} | {_fmt(f2, n2)} |")
    print()
    print("Recall by kind x attribute type x effect x planted customers (found / planted):")
    print()
    print("| kind | attribute type | effect | customers | found / planted | recall |")
    print("|---|---|---|---|---:|---:|")
    for key, (found, total) in summary["cells"].items():
        kind, attribute_type, effect, size = key.split(" | ")
        print(f"| {kind} | {attribute_type} | {effect} | {size} | {found} / {total} | {found / total:.2f} |")
    print()
    print("Target: medium or large effect (merge: equal segments), 300+ customers, recall >= 0.9:")
    print()
    print("| kind | attribute type | found / planted | recall | target met |")
    print("|---|---|---:|---:|---|")
    for key, (found, total) in summary["targets"].items():
        kind, attribute_type = key.split(" | ")
        print(
            f"| {kind} | {attribute_type} | {found} / {total} | {found / total:.2f} | "
            f"{'yes' if found / total >= 0.9 else 'no'} |"
        )


def chart(summary: dict, path: Path) -> None:
    """A small SVG: recall by effect size and planted customers, one panel per kind."""
    kinds = ["new", "split", "merge"]
    effects = ["small", "medium", "large"]
    sizes = [label for _, _, label in SIZE_BUCKETS]
    colours = {"<300": "#c6dbef", "300-999": "#6baed6", "1000+": "#08519c"}
    agg = defaultdict(lambda: [0, 0])
    for key, (found, total) in summary["cells"].items():
        kind, _type, effect, size = key.split(" | ")
        agg[(kind, effect if kind != "merge" else "equal", size)][0] += found
        agg[(kind, effect if kind != "merge" else "equal", size)][1] += total
    width, height, panel = 720, 260, 240
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        'font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    for k, kind in enumerate(kinds):
        x0 = k * panel + 40
        parts.append(f'<text x="{x0 + 80}" y="16" font-weight="bold">{kind}</text>')
        parts.append(f'<line x1="{x0}" y1="200" x2="{x0 + 190}" y2="200" stroke="#444"/>')
        parts.append(f'<line x1="{x0}" y1="30" x2="{x0}" y2="200" stroke="#444"/>')
        for tick in (0, 0.5, 0.9, 1.0):
            y = 200 - 170 * tick
            parts.append(f'<text x="{x0 - 4}" y="{y + 4}" text-anchor="end">{tick:g}</text>')
            if tick == 0.9:
                parts.append(
                    f'<line x1="{x0}" y1="{y}" x2="{x0 + 190}" y2="{y}" stroke="#d62728" stroke-dasharray="3,3"/>'
                )
        groups = ["equal"] if kind == "merge" else effects
        for g, effect in enumerate(groups):
            gx = x0 + 8 + g * 60
            parts.append(f'<text x="{gx + 24}" y="214" text-anchor="middle">{effect}</text>')
            for s, size in enumerate(sizes):
                found, total = agg.get((kind, effect, size), [0, 0])
                bx = gx + s * 17
                if total:
                    h = 170 * found / total
                    parts.append(
                        f'<rect x="{bx}" y="{200 - h:.1f}" width="15" height="{h:.1f}" fill="{colours[size]}">'
                        f"<title>{kind} {effect} {size}: {found}/{total}</title></rect>"
                    )
                    parts.append(
                        f'<text x="{bx + 7}" y="{196 - h:.1f}" text-anchor="middle" font-size="8">{total}</text>'
                    )
    for s, size in enumerate(sizes):
        parts.append(f'<rect x="{40 + s * 110}" y="236" width="12" height="12" fill="{colours[size]}"/>')
        parts.append(f'<text x="{56 + s * 110}" y="246">{size} customers</text>')
    parts.append('<text x="400" y="246">bar: recall; number: planted; dashed: 0.9 target</text>')
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", type=int, default=50, help="worlds with planted structure (seeds start..)")
    parser.add_argument("--null", type=int, default=50, help="null worlds (nothing planted)")
    parser.add_argument(
        "--start", "--seed-start", type=int, default=0, help="first seed (develop on 0-49, score on 1000+)"
    )
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--backend", default="onnx-int8", choices=["torch", "onnx", "onnx-int8"])
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "refine-worlds-cache"))
    parser.add_argument(
        "--out",
        default=str(Path(tempfile.gettempdir()) / "refine-worlds.jsonl"),
        help="one JSON line per world (appended)",
    )
    parser.add_argument("--report", default=None, help="only summarize this JSONL file")
    parser.add_argument(
        "--null-outcome",
        choices=["constant", "independent"],
        default=None,
        help="outcomes with no segment difference (issue 29): constant, or independent of segment",
    )
    parser.add_argument("--chart", default=None, help="write the recall chart (SVG) here")
    args = parser.parse_args()

    if args.report:
        rows = [json.loads(line) for line in Path(args.report).read_text().splitlines() if line.strip()]
    else:
        data = find_shared_data(ROOT)
        pools = load_pools(data)
        if not pools:
            print(
                "../shared/data not found: worlds use refine.demo.company's generated sentences instead of real texts"
            )
        from refine.demo.worlds import synthetic_pool

        embedded, model_id = embed_pools(pools or [synthetic_pool(0)], Path(args.cache), args.backend)
        print(f"embedding model: {model_id}")
        rows = []
        order = [(s, False) for s in range(args.start, args.start + args.worlds)]
        order += [(s, True) for s in range(args.start, args.start + args.null)]
        # interleave, so a run cut short still has both kinds of world
        order.sort(key=lambda item: (item[0], item[1]))
        with tempfile.TemporaryDirectory() as tmp, open(args.out, "a", encoding="utf-8") as sink:
            for seed, null in order:
                row = run_world(seed, null, pools, embedded, args.customers, Path(tmp), args.null_outcome)
                rows.append(row)
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                found = sum(p["found"] for p in row["planted"])
                what = ", ".join(
                    f"{p['kind']} {p['attribute_type']} {p['effect']} {p['customers']}" for p in row["planted"]
                )
                print(
                    f"world {seed:3d} {'null   ' if null else 'planted'}: {row['segments']} segments, "
                    f"{row['attributes']} attributes, {row['feedback']} comments, {row['topics']} topics "
                    f"({row['parents']} parents); "
                    f"{found}/{len(row['planted'])} found, {row['confirmed']} confirmed, wrong {row['wrong']} "
                    f"merges of segments whose scores differ {row['merges_scores_differ']} "
                    f"[{what}] "
                    f"({row['seconds']} s, propose {row['propose_s']} s)",
                    flush=True,
                )
    summary = summarize(rows)
    print_tables(summary)
    if args.chart:
        chart(summary, Path(args.chart))
        print(f"\nchart: {args.chart}")
    print(json.dumps({k: v for k, v in summary.items() if k not in ("cells", "targets")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
