"""Codeframe assignment on banking77 validation data (the training split only): the figures its settings were chosen on.

    PYTHONPATH=. .venv/bin/python bench/codeframe_validation.py                  # the three variants below
    PYTHONPATH=. .venv/bin/python bench/codeframe_validation.py --weight 8 --vote 0.5
    PYTHONPATH=. .venv/bin/python bench/codeframe_validation.py --test           # also the test split, once

Per draw (seeds 0, 1, 2): 5 training messages per intent are the examples (draw 0: the first five,
as bench/topics_bench.py takes them for the test split; draws 1-2: five at random) and 3,000 other
training messages are scored. Printed per variant, averaged over the draws:

- names + 5 examples, all 77 intents: accuracy (unassigned counts as wrong), unassigned share;
- the same with 10 intents (drawn per seed) held out of the codeframe: accuracy on the kept intents'
  messages, their unassigned share, and the share of the held-out intents' messages left
  unassigned (they should go to discovery);
- names only, the same three.

Variants: `assign` with example_weight=1, example_vote=0 (before), weight 4 alone, and the defaults
(weight 4, vote 0.2). Embeddings as in topics_bench.py (all-MiniLM-L6-v2, ONNX int8, cached).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import _env  # noqa: F401  # isort: skip - first: offline models, sys.path

import numpy as np
import pandas as pd

DRAWS = (0, 1, 2)
VALIDATION_TEXTS = 3000
HELD_OUT = 10


def frame(cats, examples, with_examples):
    from refine.text.themes import Codeframe, CodeframeTheme

    return Codeframe(
        [
            CodeframeTheme(name=c, examples=examples[examples.category == c].text.tolist() if with_examples else [])
            for c in cats
        ]
    )


def draw(train, cats, seed):
    """Examples, validation messages and held-out intents of one draw."""
    rng = np.random.default_rng(seed)
    if seed == 0:
        examples = train.groupby("category", sort=True).head(5)
    else:
        examples = train.groupby("category", sort=True).sample(5, random_state=seed)
    rest = train.drop(examples.index)
    val = rest.iloc[np.sort(rng.choice(len(rest), VALIDATION_TEXTS, replace=False))]
    held = sorted(rng.choice(len(cats), HELD_OUT, replace=False).tolist())
    return examples, val, held


def score(x, y, cats, examples, held, groups, encode, settings):
    """One draw's figures for one variant."""
    from refine.text.themes.codeframe import assign, build_prototypes

    out: dict[str, float] = {}
    keep = [c for i, c in enumerate(cats) if i not in held]
    on = ~np.isin(y, held)
    y_keep = np.array([keep.index(cats[i]) if i not in held else -1 for i in y])
    for label, with_examples in (("examples", True), ("names", False)):
        placed = assign(x, build_prototypes(frame(cats, examples, with_examples), encode), groups=groups, **settings)
        out[f"{label} acc"] = float((placed.theme == y).mean())
        out[f"{label} unassigned"] = float((placed.theme == -1).mean())
        held_out = assign(x, build_prototypes(frame(keep, examples, with_examples), encode), groups=groups, **settings)
        out[f"{label} held-out: kept acc"] = float((held_out.theme[on] == y_keep[on]).mean())
        out[f"{label} held-out: kept unassigned"] = float((held_out.theme[on] == -1).mean())
        out[f"{label} held-out: off-codeframe unassigned"] = float((held_out.theme[~on] == -1).mean())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).resolve()
    default_data = next(
        (p / "shared" / "data" for p in here.parents if (p / "shared" / "data").is_dir()),
        here.parents[2] / "shared" / "data",
    )
    parser.add_argument("--data-dir", type=Path, default=default_data)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/refine-bench-cache"))
    parser.add_argument("--backend", default="onnx-int8")
    parser.add_argument("--weight", type=float, default=None, help="one variant: example_weight")
    parser.add_argument("--vote", type=float, default=None, help="one variant: example_vote")
    parser.add_argument("--test", action="store_true", help="also score the test split (choose on validation first)")
    args = parser.parse_args()
    d = args.data_dir / "banking77"
    if not (d / "train.csv").exists():
        print(f"data not found in {args.data_dir}: nothing to validate")
        return 0
    from refine.text.embed import build_embedder
    from refine.text.themes import codeframe as cf

    encode = build_embedder("default", device="cpu", batch_size=64, cache_dir=args.cache, backend=args.backend).encode
    train = pd.read_csv(d / "train.csv")
    cats = sorted(train["category"].unique())
    if args.weight is not None or args.vote is not None:
        variants = {
            f"weight {args.weight}, vote {args.vote}": {
                "example_weight": cf.EXAMPLE_WEIGHT if args.weight is None else args.weight,
                "example_vote": cf.EXAMPLE_VOTE if args.vote is None else args.vote,
            }
        }
    else:
        variants = {
            "before (weight 1, no vote)": {"example_weight": 1.0, "example_vote": 0.0},
            f"weight {cf.EXAMPLE_WEIGHT:g}, no vote": {"example_weight": cf.EXAMPLE_WEIGHT, "example_vote": 0.0},
            f"defaults (weight {cf.EXAMPLE_WEIGHT:g}, vote {cf.EXAMPLE_VOTE:g})": {},
        }
    draws = []
    for seed in DRAWS:
        examples, val, held = draw(train, cats, seed)
        x = cf._unit(encode(val["text"].astype(str).tolist()))
        y = np.array([cats.index(c) for c in val["category"]])
        draws.append((x, y, examples, held, cf._groups(x, 0)))
    for name, settings in variants.items():
        per_draw = [score(x, y, cats, ex, held, g, encode, settings) for x, y, ex, held, g in draws]
        print(f"\n{name}")
        for key in per_draw[0]:
            values = [p[key] for p in per_draw]
            print(f"  {key:<44} {np.mean(values):.4f}   per draw " + " ".join(f"{v:.4f}" for v in values))
        if args.test:
            test = pd.read_csv(d / "test.csv")
            x = cf._unit(encode(test["text"].astype(str).tolist()))
            y = np.array([cats.index(c) for c in test["category"]])
            examples = train.groupby("category", sort=True).head(5)
            for label, with_examples in (("names + 5 examples", True), ("names only", False)):
                placed = cf.assign(x, cf.build_prototypes(frame(cats, examples, with_examples), encode), **settings)
                print(
                    f"  test, {label}: {(placed.theme == y).mean():.4f} right, "
                    f"{(placed.theme == -1).mean():.1%} unassigned"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
