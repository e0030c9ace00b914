"""Calibration of the A/B analysis by simulation (a script, not a timed test).

    python bench/ab_calibration.py [--sims 4000] [--pipeline-sims 2000] [--seed 0]

Two kinds of checks, each for binary and continuous metrics, with and without CUPED:

* A/A tests (no effect): the share of tests with p < 0.05 (false-positive rate) must lie in [0.03, 0.07];
* tests with a known effect: the share of 95% CIs that cover the true absolute lift (and the true
  relative lift) must lie in [0.93, 0.97].

The vectorised rows call the library's own core functions (refine.experiment.two_proportion, welch,
cuped_adjust) on thousands of simulated tests at once; the "pipeline" rows run the whole
analyze_experiment on generated tables (data-quality pass, SRM, CUPED, correction) to show the
end-to-end path is calibrated too. Exit status 1 when any figure is out of its band.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from refine.experiment import analyze_experiment, cuped_adjust, two_proportion, welch

FPR_BAND, COVER_BAND = (0.03, 0.07), (0.93, 0.97)


def _welch_rows(y_t: np.ndarray, y_c: np.ndarray) -> dict:
    return welch(y_t.mean(1), y_t.var(1, ddof=1), y_t.shape[1], y_c.mean(1), y_c.var(1, ddof=1), y_c.shape[1])


def _cuped_rows(y_t, y_c, x_t, x_c) -> dict:
    n_t = y_t.shape[1]
    adj, _ = cuped_adjust(np.hstack([y_t, y_c]), np.hstack([x_t, x_c]), axis=1)
    return _welch_rows(adj[:, :n_t], adj[:, n_t:])


def binary_plain(rng, sims, n, effect):
    p_c = 0.10
    x_t, x_c = rng.binomial(n, p_c + effect, sims), rng.binomial(n, p_c, sims)
    return two_proportion(x_t, n, x_c, n), effect, effect / p_c


def binary_cuped(rng, sims, n, effect):
    # each unit has a propensity q (mean 0.18, at most 0.9); the pre-period covariate counts its conversions in
    # 5 earlier periods; treatment adds `effect` to q, so the true lifts are known exactly
    q_t, q_c = 0.9 * rng.beta(2, 8, (sims, n)), 0.9 * rng.beta(2, 8, (sims, n))
    x_t, x_c = rng.binomial(5, q_t), rng.binomial(5, q_c)
    y_t = (rng.random((sims, n)) < q_t + effect).astype(float)
    y_c = (rng.random((sims, n)) < q_c).astype(float)
    return _cuped_rows(y_t, y_c, x_t, x_c), effect, effect / (0.9 * 0.2)


def continuous_plain(rng, sims, n, effect):
    # skewed, revenue-like (gamma, mean 20) with unequal variances in the effect case: what Welch is for
    y_t = rng.gamma(2.0, 10.0, (sims, n)) * (1.3 if effect else 1.0) + effect - (6.0 if effect else 0.0)
    y_c = rng.gamma(2.0, 10.0, (sims, n))
    return _welch_rows(y_t, y_c), effect, effect / 20.0


def continuous_cuped(rng, sims, n, effect):
    x_t, x_c = rng.gamma(2.0, 10.0, (sims, n)), rng.gamma(2.0, 10.0, (sims, n))
    y_t = 0.8 * x_t + rng.normal(4.0, 6.0, (sims, n)) + effect
    y_c = 0.8 * x_c + rng.normal(4.0, 6.0, (sims, n))
    return _cuped_rows(y_t, y_c, x_t, x_c), effect, effect / 20.0


SCENARIOS = [  # name, function, n per arm, known effect
    ("binary, two-proportion", binary_plain, 2000, 0.02),
    ("binary, CUPED", binary_cuped, 1000, 0.03),
    ("continuous, Welch", continuous_plain, 500, 1.0),
    ("continuous, CUPED", continuous_cuped, 500, 1.0),
]


def pipeline(rng, sims, n, effect_conv, effect_rev):
    """analyze_experiment end to end on generated tables: random arms, one binary and one CUPED metric."""
    p_conv, cover_conv, p_rev, cover_rev, srm = [], [], [], [], []
    for _ in range(sims):
        arm = np.where(rng.random(2 * n) < 0.5, "treatment", "control")
        t = arm == "treatment"
        pre = rng.gamma(2.0, 10.0, 2 * n)
        frame = pd.DataFrame(
            {
                "unit": np.arange(2 * n),
                "arm": arm,
                "conv": (rng.random(2 * n) < 0.1 + effect_conv * t).astype(int),
                "pre": pre,
                "rev": 0.8 * pre + rng.normal(4.0, 6.0, 2 * n) + effect_rev * t,
            }
        )
        rep = analyze_experiment(
            frame, unit="unit", arm="arm", control="control", metrics=["conv", "rev"], covariates={"rev": "pre"}
        )
        conv, rev = rep["results"][0], rep["results"][1]
        p_conv.append(conv["p_value"])
        p_rev.append(rev["p_value"])
        cover_conv.append(conv["abs_ci"][0] <= effect_conv <= conv["abs_ci"][1])
        cover_rev.append(rev["abs_ci"][0] <= effect_rev <= rev["abs_ci"][1])
        srm.append(rep["srm"]["mismatch"])
    return np.array(p_conv), np.array(cover_conv), np.array(p_rev), np.array(cover_rev), np.array(srm)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=4000, help="simulated tests per vectorised row (>= 2000)")
    parser.add_argument("--pipeline-sims", type=int, default=2000, help="full analyze_experiment runs per pipeline row")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    rows, ok = [], True

    def band(value, lo_hi):
        return lo_hi[0] <= value <= lo_hi[1]

    for name, fn, n, effect in SCENARIOS:
        aa, _, _ = fn(rng, args.sims, n, 0.0)
        fpr = float(np.mean(aa["p"] < 0.05))
        ab, true_abs, true_rel = fn(rng, args.sims, n, effect)
        cover_abs = float(np.mean((ab["lo"] <= true_abs) & (true_abs <= ab["hi"])))
        cover_rel = float(np.mean((ab["rel_lo"] <= true_rel) & (true_rel <= ab["rel_hi"])))
        good = band(fpr, FPR_BAND) and band(cover_abs, COVER_BAND) and band(cover_rel, COVER_BAND)
        ok &= good
        rows.append(
            (
                name,
                f"{args.sims}",
                f"{n}",
                f"{fpr:.4f}",
                f"{cover_abs:.4f}",
                f"{cover_rel:.4f}",
                "ok" if good else "OUT OF BAND",
            )
        )

    n_pipe = 500
    p_conv, c_conv, p_rev, c_rev, srm_aa = pipeline(rng, args.pipeline_sims, n_pipe, 0.0, 0.0)
    _, k_conv, _, k_rev, _ = pipeline(rng, args.pipeline_sims, n_pipe, 0.03, 1.0)
    for name, p, cover in (("pipeline: binary", p_conv, k_conv), ("pipeline: continuous, CUPED", p_rev, k_rev)):
        fpr, cov = float(np.mean(p < 0.05)), float(np.mean(cover))
        good = band(fpr, FPR_BAND) and band(cov, COVER_BAND)
        ok &= good
        rows.append(
            (
                name,
                f"{args.pipeline_sims}",
                f"~{n_pipe}",
                f"{fpr:.4f}",
                f"{cov:.4f}",
                "-",
                "ok" if good else "OUT OF BAND",
            )
        )

    header = ("scenario", "tests", "n/arm", "A/A FPR", "abs CI cover", "rel CI cover", "check")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    print(f"alpha = 0.05; FPR band {FPR_BAND}, 95% CI coverage band {COVER_BAND}")
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    print(f"SRM false alarms in {args.pipeline_sims} pipeline A/A tests (p < 0.001): {int(srm_aa.sum())}")
    print(f"{'all within bands' if ok else 'SOME FIGURES OUT OF BAND'}; {time.perf_counter() - start:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
