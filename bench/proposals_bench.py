"""Proposal quality on planted data: precision and recall of confirmed proposals against truth.json,
and the number of confirmed proposals on null data, over several seeds of `refine demo` data.

    .venv/bin/python bench/proposals_bench.py --seeds 5

Null outcomes (issue 29): `--null-outcome constant` sets churn and revenue to one value for every customer,
`--null-outcome independent` redraws churn at its overall rate and shuffles revenue across customers (seeds
0..N-1, planted data); a confirmed merge then rests on the feedback measures alone and must not join
segments whose scores differ.

    .venv/bin/python bench/proposals_bench.py --seeds 20 --null-outcome independent

Null companies (issue 31): `--null-companies N` runs only the `--null` companies of seeds
`--seed-start`..+N-1 (no planted structure) and prints the share that confirm anything against the issue's
target (at most 5%, with a 95% Clopper-Pearson interval); `--log FILE` appends one JSON line per company as it
finishes (a long run that stops keeps what it did).

    .venv/bin/python bench/proposals_bench.py --null-companies 50 --log /tmp/null50.jsonl

A confirmed proposal matches a planted one when it is of the same kind and selects nearly the same
customers (Jaccard >= 0.7 of the customers the two rules select; merges: a confirmed merge whose segments
include both planted segments, so that a merge of three or more segments covering the planted pair counts, as
refine states overlapping merges as one merge of the group).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import _env  # noqa: F401  # isort: skip - first: offline models, sys.path

import numpy as np
import pandas as pd

from refine.demo.company import generate_company, write_demo_data
from refine.io.config import load_config
from refine.run.cycle import run_cycle
from refine.segments.model import Proposal
from refine.segments.rules import apply_rule


def jaccard(a: pd.Series, b: pd.Series) -> float:
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else 0.0


def matches(proposal: Proposal, planted: dict, kind: str, customers: pd.DataFrame) -> bool:
    if proposal.kind != kind:
        return False
    if kind == "merge":
        return set(planted["segments"]) <= set(proposal.segments)  # an n-way merge covering the pair counts
    return jaccard(apply_rule(customers, proposal.rule), apply_rule(customers, planted["rule"])) >= 0.7


def score_run(proposals: list[Proposal], truth: dict, customers: pd.DataFrame) -> dict:
    confirmed = [p for p in proposals if p.confirmed]
    planted = [(kind, item) for kind in ("merge", "split", "new") for item in truth[kind]]
    found = sum(any(matches(p, item, kind, customers) for p in confirmed) for kind, item in planted)
    correct = sum(any(matches(p, item, kind, customers) for kind, item in planted) for p in confirmed)
    return {
        "planted": len(planted),
        "confirmed": len(confirmed),
        "found": found,
        "correct": correct,
        "rules": [f"{p.kind}: {p.rule}" for p in confirmed],
    }


def null_outcomes(customers: pd.DataFrame, how: str, seed: int) -> None:
    """Outcomes with no segment difference: constant, or independent of the segment."""
    rng = np.random.default_rng(10_000 + seed)
    if how == "constant":
        customers["churned_90d"] = 0
        customers["revenue_12m"] = 100.0
    else:
        customers["churned_90d"] = (rng.random(len(customers)) < float(customers["churned_90d"].mean())).astype(int)
        customers["revenue_12m"] = rng.permutation(customers["revenue_12m"].to_numpy())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--response-rate", type=float, default=0.1)
    parser.add_argument("--sentiment", default="default", help="[model] sentiment to use (default: the packaged head)")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "refine-bench-cache"))
    parser.add_argument("--null-outcome", choices=["constant", "independent"], default=None)
    parser.add_argument("--null-companies", type=int, default=0, help="run only N null companies (no planted)")
    parser.add_argument("--seed-start", type=int, default=0)
    parser.add_argument("--log", default=None, help="append one JSON line per company to this file")
    args = parser.parse_args()
    os.environ["REFINE_CACHE_DIR"] = args.cache
    if args.null_companies:
        runs = [(seed, True) for seed in range(args.seed_start, args.seed_start + args.null_companies)]
    else:
        nulls = (False,) if args.null_outcome else (False, True)
        runs = [(seed, null) for seed in range(args.seed_start, args.seed_start + args.seeds) for null in nulls]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed, null in runs:
            start = time.perf_counter()
            company = generate_company(seed, n_customers=args.customers, response_rate=args.response_rate, null=null)
            if args.null_outcome:
                null_outcomes(company.customers, args.null_outcome, seed)
            folder = Path(tmp) / f"{seed}-{null}"
            paths = write_demo_data(folder / "data", company)
            config = load_config(paths["config"], overrides={"model": {"sentiment": args.sentiment}})
            result = run_cycle(paths["feedback"], paths["customers"], config, folder / "run", quiet=True)
            customers = pd.read_csv(paths["customers"], dtype={"Customer ID": str})
            row = score_run(result.proposals, company.truth, customers)
            row["merges"] = [
                f"{p.rule} ({p.evidence.status}; {p.evidence.why_not or 'shown'})"
                for p in result.proposals
                if p.kind == "merge"
            ]
            row.update(seed=seed, null=null, seconds=round(time.perf_counter() - start, 1))
            rows.append(row)
            if args.log:
                with open(args.log, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(row) + "\n")
            print(
                f"seed {seed} {'null   ' if null else 'planted'}: {row['confirmed']} confirmed, "
                f"{row['found']}/{row['planted']} planted found, {row['correct']} correct "
                f"({row['seconds']} s) {row['rules']} merges: {row['merges']}",
                flush=True,
            )
    if args.null_companies:
        return _null_summary(rows)
    planted = [r for r in rows if not r["null"]]
    null = [r for r in rows if r["null"]]
    recall = sum(r["found"] for r in planted) / max(sum(r["planted"] for r in planted), 1)
    precision = sum(r["correct"] for r in planted) / max(sum(r["confirmed"] for r in planted), 1)
    print()
    print("| seeds | recall (planted) | precision (planted) | confirmed on null data, per seed |")
    print("|---:|---:|---:|---|")
    print(f"| {args.seeds} | {recall:.2f} | {precision:.2f} | {', '.join(str(r['confirmed']) for r in null)} |")
    print(json.dumps({"recall": recall, "precision": precision, "null_confirmed": [r["confirmed"] for r in null]}))
    return 0


def _null_summary(rows: list[dict]) -> int:
    """The share of null companies that confirm anything, with its exact 95% interval, against the target."""
    from scipy.stats import beta

    n, k = len(rows), sum(1 for r in rows if r["confirmed"])
    low = float(beta.ppf(0.025, k, n - k + 1)) if k else 0.0
    high = float(beta.ppf(0.975, k + 1, n - k)) if k < n else 1.0
    verdict = "met" if k / max(n, 1) <= 0.05 else "MISSED"
    print()
    print(
        f"null companies confirming anything: {k}/{n} = {k / max(n, 1):.3f} (95% CI {low:.3f}-{high:.3f}); "
        f"target at most 0.05: {verdict}"
    )
    for r in rows:
        if r["confirmed"]:
            print(f"  seed {r['seed']}: {r['rules']}")
    print(json.dumps({"null_companies": n, "confirming": k, "share": k / max(n, 1), "ci95": [low, high]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
