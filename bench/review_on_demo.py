"""The review model outside its training domain: the synthetic demo company, review model on and off.

Usage:
    PYTHONPATH=. python bench/review_on_demo.py [--review default] [--customers 20000] [--seed 0]
        [--response-rate 0.1]

The review model is trained on apparel reviews; the demo company's comments are of another kind
(`refine demo`'s generator, with its defaults). Each comment's NPS rating gives a weak truth: 0-6 negative, 7-8 neutral,
9-10 positive. For each setting of `[model] review` (off, then the one given) the demo cycle runs
with one shared cache folder (comments are embedded once) and this prints macro-F1 of the comment
labels against the NPS groups, the Spearman correlation of the sentiment score with the rating, how
many comments the review model read, and the confirmed proposals, so a change of model that moves
the proposals shows here.
The second run's time includes the review model's one-off export into the fresh cache and reads the
first run's embeddings: the times are not a speed comparison (bench/scale_bench.py is).
"""

from __future__ import annotations

import _env  # noqa: F401  # isort: skip - first: offline models, sys.path

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def nps_groups(rating: np.ndarray) -> np.ndarray:
    """0-6 negative, 7-8 neutral, 9-10 positive (NaN ratings: None)."""
    out = np.full(len(rating), None, dtype=object)
    out[rating <= 6] = "negative"
    out[(rating >= 7) & (rating <= 8)] = "neutral"
    out[rating >= 9] = "positive"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--review", default="default", help="[model] review spec to compare with off")
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--response-rate", type=float, default=0.1, help="as `refine demo` (0.1)")
    args = parser.parse_args(argv)

    from scipy.stats import spearmanr

    from refine.demo.company import generate_company, write_demo_data
    from refine.io.config import load_config
    from refine.run.cycle import run_cycle
    from refine.text.sentiment.scorers import evaluate

    with tempfile.TemporaryDirectory(prefix="refine-review-demo-") as tmp:
        work = Path(tmp)
        paths = write_demo_data(
            work / "data", generate_company(args.seed, n_customers=args.customers, response_rate=args.response_rate)
        )
        print(f"demo company seed {args.seed}, {args.customers:,} customers; NPS groups as the truth")
        for run, spec in enumerate(("off", args.review)):
            config = load_config(paths["config"])
            config.model.review = spec
            config.run.cache_dir = str(work / "cache")
            started = time.time()
            result = run_cycle(paths["feedback"], paths["customers"], config, work / f"run-{run}", quiet=True)
            feedback = result.feedback
            rating = feedback["score"].to_numpy(dtype=float)
            rated = ~np.isnan(rating)
            truth = nps_groups(rating[rated])
            labels = feedback["sentiment_label"].to_numpy(dtype=object)[rated]
            f1 = evaluate(truth, labels)["macro_f1"]
            rho = spearmanr(feedback["sentiment_score"].to_numpy()[rated], rating[rated]).statistic
            read = int((result.sentiment.documents["route"] == "review").sum())
            confirmed = [f"{p['kind']}: {p['rule']}" for p in result.proposals if p.get("confirmed")]
            print(
                f"review {spec}: {int(rated.sum())} rated comments, macro-F1 vs NPS groups {f1:.3f}, "
                f"Spearman with the rating {rho:.3f}, read by the review model {read} "
                f"({result.manifest.models.get('sentiment_review') or 'none'}); {time.time() - started:.0f}s"
            )
            for line in confirmed:
                print(f"  confirmed {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
