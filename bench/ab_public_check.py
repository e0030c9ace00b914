"""Check `refine ab analyze` on a real experiment: the Udacity landing-page A/B test.

    python bench/ab_public_check.py [--data ../shared/data/ab_data.csv] [--out DIR]

The file (294,478 rows: user_id, timestamp, group, landing_page, converted) has known defects:
rows whose group and landing_page disagree, and users who appear twice. The script runs the library's
analysis with the consistency check group:landing_page=control:old_page,treatment:new_page, prints the
data-quality counts, conversion rates, lift, CI and p-value, and cross-checks them with statsmodels.
With --out it also writes the three report files. A missing file is reported, and the script exits 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT = ROOT.parent / "shared" / "data" / "ab_data.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT, help="ab_data.csv (default: ../shared/data/ab_data.csv)")
    parser.add_argument("--out", type=Path, default=None, help="also write ab_report.{json,md,html} here")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"ab_data.csv not found at {args.data}; nothing to check (see ../shared/data/README.md).")
        return 0

    import numpy as np
    from statsmodels.stats.proportion import proportions_ztest

    from refine.experiment import analyze_experiment, load_experiment_data, write_ab_report

    frame = load_experiment_data(args.data, None, "user_id")
    report = analyze_experiment(
        frame,
        unit="user_id",
        arm="group",
        control="control",
        metrics=["converted"],
        consistency=["group:landing_page=control:old_page,treatment:new_page"],
    )
    q, srm = report["data_quality"], report["srm"]
    cell = next(r for r in report["results"] if r["segment"] is None)
    print(f"data: {args.data}")
    print(f"input rows: {q['input_rows']}")
    for c in q["consistency"]:
        print(f"group/page mismatches ({c['check']}): {c['contradicting_rows']} rows excluded")
        for k, v in c["by_value"].items():
            print(f"    {k}: {v}")
    print(f"users with more than one row (raw): {q['units_with_several_rows_in_input']}")
    print(f"users in both arms (raw, before removing mismatches): {q['units_in_both_arms_before_consistency']}")
    print(
        f"users in both arms (after removing mismatches): {q['units_in_both_arms']} "
        f"({q['excluded_rows']['unit_in_both_arms']} rows excluded)"
    )
    print(
        f"duplicate users (same arm): {q['duplicate_units']} ({q['excluded_rows']['duplicate_rows']} rows excluded, "
        "first row kept)"
    )
    print(f"rows without user or group: {q['excluded_rows']['missing_unit_or_arm']}")
    print(f"accepted users: {q['accepted_units']}; accepted + excluded = input: {q['accounted']}")
    print(
        f"SRM: control {srm['observed'][0]} / treatment {srm['observed'][1]}, chi2 = {srm['chi2']:.3f}, "
        f"p = {srm['p_value']:.4f} ({'MISMATCH' if srm['mismatch'] else 'no mismatch'})"
    )
    print(
        f"conversion: control {cell['mean_control']:.4%} (n={cell['n_control']}), "
        f"treatment {cell['mean_treatment']:.4%} (n={cell['n_treatment']})"
    )
    print(
        f"absolute lift: {cell['abs_lift'] * 100:+.4f} pp, 95% CI [{cell['abs_ci'][0] * 100:+.4f}, "
        f"{cell['abs_ci'][1] * 100:+.4f}] pp"
    )
    print(f"relative lift: {cell['rel_lift']:+.4%}, 95% CI [{cell['rel_ci'][0]:+.4%}, {cell['rel_ci'][1]:+.4%}]")
    print(f"two-proportion z = {cell['statistic']:.4f}, p = {cell['p_value']:.4f}")
    print(f"decision: {report['decision']['decision']} -- {'; '.join(report['decision']['reasons'])}")

    # independent cross-check on the same cleaned users (pandas + statsmodels, no refine code)
    import pandas as pd

    raw = pd.read_csv(args.data, dtype={"user_id": str})
    ok = raw[(raw["group"] == "treatment") == (raw["landing_page"] == "new_page")]
    ok = ok.drop_duplicates("user_id", keep="first")
    x = ok.groupby("group")["converted"].agg(["sum", "count"])
    z, p = proportions_ztest(
        [x.loc["treatment", "sum"], x.loc["control", "sum"]], [x.loc["treatment", "count"], x.loc["control", "count"]]
    )
    same = (
        int(x["count"].sum()) == q["accepted_units"]
        and np.isclose(p, cell["p_value"], rtol=1e-9, atol=0)
        and np.isclose(z, cell["statistic"], rtol=1e-9)
    )
    print(
        f"cross-check (pandas + statsmodels proportions_ztest): users {int(x['count'].sum())}, z = {z:.4f}, "
        f"p = {p:.4f} -> {'agrees' if same else 'DISAGREES'}"
    )
    # the same test read day by day (its timestamps), with always-valid intervals and the Bayesian read-out
    daily = analyze_experiment(
        frame,
        unit="user_id",
        arm="group",
        control="control",
        metrics=["converted"],
        consistency=["group:landing_page=control:old_page,treatment:new_page"],
        timestamp="timestamp",
        interval="sequential",
    )
    seq_cell = next(r for r in daily["results"] if r["segment"] is None)
    series = daily["daily"][0]
    ever_fixed = [d for d, p in zip(series["days"], series["p_value"]) if p is not None and p < 0.05]
    ever_seq = [
        d for d, (lo, hi) in zip(series["days"], series["sequential_ci"]) if lo is not None and (lo > 0 or hi < 0)
    ]
    bayes = seq_cell["bayesian"]
    print(
        f"over {len(series['days'])} days ({series['days'][0]} to {series['days'][-1]}): days the fixed-horizon test "
        f"read p < 0.05: {len(ever_fixed)}; days the always-valid interval excluded 0: {len(ever_seq)}"
    )
    lo, hi = seq_cell["sequential"]["abs_ci"]
    print(
        f"always-valid 95% CI [{lo * 100:+.4f}, {hi * 100:+.4f}] pp (tuning {daily['settings']['sequential_tuning']:g}); "
        f"chance to beat control {bayes['chance_to_win']:.1%}, expected loss if shipped {bayes['risk_ship']:.4%} "
        f"(relative, flat prior); novelty: {daily['novelty'][0]['verdict']}"
    )
    if args.out:
        for path in write_ab_report(daily, args.out).values():
            print(path)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
