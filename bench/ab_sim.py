"""Simulation of refine's A/B analysis: peeking, coverage, power at the planned sample size, speed (a script, not a test).

    PYTHONPATH=. python bench/ab_sim.py [--sims 2000] [--looks 30] [--seed 0] [--speed-rows 10000000]

Every figure comes from the library's own functions (refine.experiment.estimators, .sequential, plan_experiment,
analyze_experiment) on generated data; sums per arm and day are built by bincount / cumsum, never a loop over rows.

1. A/A peeking: experiments with no effect, analysed after each of 30 daily looks. Share ever declared significant
   with the fixed-horizon test read daily (inflated) and with the sequential (always-valid) interval, side by side,
   with a 95% Wilson interval; target for sequential: <= 5% (upper bound <= 6%).
2. Coverage of the 95% intervals on effects of several sizes, binary and heavy-tailed (lognormal) metrics: fixed
   at the final look; sequential at the final look and at all 30 looks at once. Target >= 95%.
3. Power at the planned sample size: `plan_experiment` (fixed and sequential) promises 80%; the simulated share of
   experiments that find the planned effect must be within 3 points.
4. Speed: analyze_experiment on 10M rows x 3 arms x 5 metrics (2 binary, 2 continuous, 1 ratio) with a timestamp
   over 30 days (daily cumulative series, novelty check, sequential intervals, Bayesian read-out).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from refine.experiment import analyze_experiment, plan_experiment
from refine.experiment import sequential as seq
from refine.experiment.estimators import effect_from_moments

ALPHA = 0.05


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def share(flags: np.ndarray) -> str:
    k, n = int(flags.sum()), len(flags)
    lo, hi = wilson(k, n)
    return f"{k / n:6.2%} [{lo:.2%}, {hi:.2%}]"


def daily_sums(rng, sims: int, looks: int, per_day: int, kind: str, p: float = 0.1, lift: float = 0.0):
    """Cumulative sums per (sim, look) for one arm: n, sum y, sum y^2 (units drawn one by one for lognormal)."""
    n = np.full((sims, looks), float(per_day))
    if kind == "binary":
        sy = rng.binomial(per_day, p + lift, (sims, looks)).astype(float)
        syy = sy
    else:
        sy, syy = np.empty((sims, looks)), np.empty((sims, looks))
        for d in range(looks):  # one draw per unit; a loop over days, not rows
            y = rng.lognormal(1.0, 1.2, (sims, per_day)) * (1 + lift)
            sy[:, d], syy[:, d] = y.sum(1), (y * y).sum(1)
    return {"n": np.cumsum(n, 1), "sy": np.cumsum(sy, 1), "syy": np.cumsum(syy, 1)}


def true_diff(kind: str, p: float, lift: float) -> float:
    return lift if kind == "binary" else math.exp(1.0 + 1.2**2 / 2) * lift


def looks_analysis(rng, sims, looks, per_day, kind, lift, tuning):
    mt = daily_sums(rng, sims, looks, per_day, kind, lift=lift)
    mc = daily_sums(rng, sims, looks, per_day, kind)
    res = effect_from_moments(mt, mc, kind, 1 - ALPHA)
    n_total = mt["n"] + mc["n"]
    s_lo, s_hi = seq.interval(res["diff"], res["se"], n_total, ALPHA, tuning)
    return res, s_lo, s_hi


def peeking(rng, sims, looks, per_day):
    print(f"\n1. A/A peeking: {sims} experiments per metric x {looks} daily looks, {per_day} units per arm a day")
    print(f"   {'metric':<22} {'fixed, read daily':>30} {'sequential':>30} {'fixed, last look only':>30}")
    tuning = 2 * per_day * looks
    ok = True
    for kind in ("binary", "lognormal"):
        k = "binary" if kind == "binary" else "continuous"
        res, s_lo, s_hi = looks_analysis(rng, sims, looks, per_day, k, 0.0, tuning)
        fixed_ever = (res["p"] < ALPHA).any(1)
        seq_ever = ((s_lo > 0) | (s_hi < 0)).any(1)
        last = res["p"][:, -1] < ALPHA
        print(f"   {kind + ' (p=0.10)' if kind == 'binary' else kind + ' (sigma 1.2)':<22} "
              f"{share(fixed_ever):>30} {share(seq_ever):>30} {share(last):>30}")  # fmt: skip
        upper = wilson(int(seq_ever.sum()), sims)[1]
        ok &= seq_ever.mean() <= 0.05 and upper <= 0.06
    print(f"   sequential tuning = {tuning} units (the total at the last look, as a plan sets it)")
    print(f"   target sequential <= 5.00% with upper bound <= 6.00%: {'met' if ok else 'NOT met'}")
    return ok


def coverage(rng, sims, looks, per_day):
    print(f"\n2. Coverage of 95% intervals ({sims} experiments per row, {looks} looks, {per_day} units/arm/day)")
    print(f"   {'metric':<12} {'true effect':>12} {'fixed, last look':>28} {'sequential, last':>28} "
          f"{'sequential, all looks':>28}")  # fmt: skip
    tuning = 2 * per_day * looks
    worst = 1.0
    for kind, lifts in (("binary", (0.0, 0.01, 0.03)), ("lognormal", (0.0, 0.05, 0.10))):
        k = "binary" if kind == "binary" else "continuous"
        for lift in lifts:
            res, s_lo, s_hi = looks_analysis(rng, sims, looks, per_day, k, lift, tuning)
            truth = true_diff(k, 0.1, lift)
            fixed = (res["lo"][:, -1] <= truth) & (truth <= res["hi"][:, -1])
            last = (s_lo[:, -1] <= truth) & (truth <= s_hi[:, -1])
            always = ((s_lo <= truth) & (truth <= s_hi)).all(1)
            worst = min(worst, fixed.mean(), last.mean(), always.mean())
            label = f"{lift:+.2f} abs" if k == "binary" else f"{lift:+.0%} rel"
            print(f"   {kind:<12} {label:>12} {share(fixed):>28} {share(last):>28} {share(always):>28}")
    print(f"   lowest coverage: {worst:.2%} (target >= 95%)")
    return worst


def power(rng, sims):
    print(f"\n3. Power at the planned sample size ({sims} experiments per row, effect = the planned MDE)")
    rows = []
    g = np.random.default_rng(123)
    customers = pd.DataFrame({"cid": np.arange(200000), "tier": g.choice(["a", "b"], 200000)})
    customers["conv"] = (g.random(200000) < 0.10).astype(int)
    customers["spend"] = g.gamma(2.0, 10.0, 200000)
    for metric, mde in (("conv", 0.02), ("spend", 1.0)):
        for interval in ("fixed", "sequential"):
            _, plan = plan_experiment(
                customers, rule='tier != "z"', customer_id="cid", segment="tier", metric=metric, mde=mde,
                salt="sim", interval=interval,
            )  # fmt: skip
            n = plan["n_per_arm_required"]["treatment"]
            base = plan["baseline"]["mean"]
            if metric == "conv":
                xt = rng.binomial(n, base + mde, sims).astype(float)
                xc = rng.binomial(n, base, sims).astype(float)
                mt, mc = {"n": np.full(sims, float(n)), "sy": xt}, {"n": np.full(sims, float(n)), "sy": xc}
                kind = "binary"
            else:
                mt, mc = {"n": np.full(sims, float(n))}, {"n": np.full(sims, float(n))}
                for m, shift in ((mt, mde), (mc, 0.0)):
                    sy, syy = np.zeros(sims), np.zeros(sims)
                    for chunk in np.array_split(np.arange(sims), max(1, sims * n // 2_000_000)):
                        y = rng.gamma(2.0, 10.0, (len(chunk), n)) + shift
                        sy[chunk], syy[chunk] = y.sum(1), (y * y).sum(1)
                    m["sy"], m["syy"] = sy, syy
                kind = "continuous"
            res = effect_from_moments(mt, mc, kind, 1 - ALPHA)
            if interval == "fixed":
                found = (res["p"] < ALPHA) & (res["diff"] > 0)
            else:
                lo, _ = seq.interval(res["diff"], res["se"], 2 * n, ALPHA, plan["sequential"]["tuning"])
                found = lo > 0
            got = found.mean()
            rows.append(abs(got - plan["power"]))
            print(f"   {metric:<6} MDE {mde:<5g} {interval:<10} n/arm {n:>6}: promised {plan['power']:.0%}, "
                  f"simulated {share(found)}, gap {100 * (got - plan['power']):+.1f} points")  # fmt: skip
    print(f"   largest gap: {100 * max(rows):.1f} points (target <= 3)")
    return max(rows)


def speed(rows: int, seed: int):
    print(f"\n4. Speed: analyze_experiment on {rows:,} rows x 3 arms x 5 metrics, timestamps over 30 days")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    frame = pd.DataFrame(
        {
            "user": np.arange(rows, dtype=np.int64),
            "group": pd.Categorical.from_codes(rng.integers(0, 3, rows), ["control", "b", "c"]).astype(object),
            "ts": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 30 * 86400, rows), "s"),
        }
    )
    frame["conv"] = (rng.random(rows) < 0.1).astype(np.int8)
    frame["retained"] = (rng.random(rows) < 0.6).astype(np.int8)
    frame["revenue"] = rng.lognormal(1.0, 1.2, rows)
    frame["minutes"] = rng.gamma(2.0, 15.0, rows)
    frame["orders"] = rng.poisson(1.5, rows).astype(float)
    gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = analyze_experiment(
        frame, unit="user", arm="group", control="control", metrics=["conv", "retained", "revenue", "minutes"],
        ratios={"revenue_per_order": ("revenue", "orders")}, timestamp="ts", interval="sequential",
    )  # fmt: skip
    took = time.perf_counter() - t0
    points = sum(len(s["days"]) for s in report["daily"])
    print(f"   data generated in {gen:.1f} s; analysed in {took:.1f} s ({len(report['results'])} result cells, "
          f"{len(report['daily'])} daily series, {points} daily points) - target under 60 s: "
          f"{'met' if took < 60 else 'NOT met'}")  # fmt: skip
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2000, help="experiments per scenario")
    parser.add_argument("--looks", type=int, default=30, help="daily looks per experiment")
    parser.add_argument("--per-day", type=int, default=200, help="units per arm per day")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed-rows", type=int, default=10_000_000, help="rows for the speed check; 0 skips it")
    parser.add_argument("--parts", default="peeking,coverage,power,speed", help="which checks to run")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    if "peeking" in parts:
        peeking(rng, args.sims, args.looks, args.per_day)
    if "coverage" in parts:
        coverage(rng, args.sims, args.looks, args.per_day)
    if "power" in parts:
        power(rng, args.sims)
    if args.speed_rows and "speed" in parts:
        speed(args.speed_rows, args.seed)
    print(f"\nrun time: {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
