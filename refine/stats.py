"""Small, tested statistics used by segment profiles and proposals.

Every comparison returns an effect size, a confidence interval and a raw p-value; corrections
across comparisons are applied by the caller, who knows how many comparisons were made.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from refine.errors import RefineError

Z95 = 1.959963984540054


@dataclass
class Comparison:
    """One group-vs-rest (or A-vs-B) difference on one measure."""

    measure: str
    kind: str  # "mean" (Welch) or "proportion" (two-proportion z)
    n_group: int
    n_rest: int
    group_value: float
    rest_value: float
    diff: float
    ci_low: float
    ci_high: float
    effect: float  # Cohen's d for means, Cohen's h for proportions
    p_value: float
    p_adjusted: float = float("nan")

    def to_dict(self) -> dict:
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else (round(v, 6) if isinstance(v, float) else v))
            for k, v in asdict(self).items()
        }


def mean_ci(values: np.ndarray) -> tuple[float, float, float]:
    """Mean with a 95% t interval; (nan, nan, nan) for no data."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(values.mean())
    if n == 1:
        return (mean, math.nan, math.nan)
    half = float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return (mean, mean - half, mean + half)


def proportion_ci(successes: float, n: int) -> tuple[float, float, float]:
    """Share with a 95% Wilson interval."""
    if n == 0:
        return (math.nan, math.nan, math.nan)
    p = successes / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return (p, max(0.0, centre - half), min(1.0, centre + half))


def nps(scores: np.ndarray) -> tuple[float, float, float]:
    """NPS (-100..100) with a 95% interval from the multinomial variance (p + d - (p - d)^2) / n."""
    scores = np.asarray(scores, dtype=float)
    scores = scores[np.isfinite(scores)]
    n = len(scores)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    p = float(np.mean(scores >= 9))
    d = float(np.mean(scores <= 6))
    value = p - d
    se = math.sqrt(max(p + d - value**2, 0.0) / n)
    return (100 * value, 100 * (value - Z95 * se), 100 * (value + Z95 * se))


def is_binary(values) -> bool:
    """True when every non-missing value is 0 or 1 (booleans count); takes an array, a list or a pandas Series."""
    if hasattr(values, "to_numpy"):
        values = values.to_numpy(dtype=float, na_value=np.nan)
    values = np.asarray(values, dtype=float)
    finite = np.isfinite(values)
    return bool(finite.any()) and bool(((values == 0.0) | (values == 1.0) | ~finite).all())


def compare(measure: str, group: np.ndarray, rest: np.ndarray, *, binary: bool | None = None) -> Comparison | None:
    """Group minus rest: Welch's t-test for means, two-proportion z-test for 0/1 measures."""
    group = np.asarray(group, dtype=float)
    rest = np.asarray(rest, dtype=float)
    group = group[np.isfinite(group)]
    rest = rest[np.isfinite(rest)]
    n1, n2 = len(group), len(rest)
    if n1 < 2 or n2 < 2:
        return None
    if binary is None:
        binary = is_binary(np.concatenate([group, rest]))
    m1, m2 = float(group.mean()), float(rest.mean())
    diff = m1 - m2
    if binary:
        se = math.sqrt(m1 * (1 - m1) / n1 + m2 * (1 - m2) / n2)
        pooled = (group.sum() + rest.sum()) / (n1 + n2)
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        p = 2 * stats.norm.sf(abs(diff) / se0) if se0 > 0 else 1.0
        effect = 2 * math.asin(math.sqrt(m1)) - 2 * math.asin(math.sqrt(m2))
        half = Z95 * se
        return Comparison(measure, "proportion", n1, n2, m1, m2, diff, diff - half, diff + half, effect, float(p))
    v1, v2 = float(group.var(ddof=1)), float(rest.var(ddof=1))
    se = math.sqrt(v1 / n1 + v2 / n2)
    pooled_sd = math.sqrt(((n1 - 1) * v1 + (n2 - 1) * v2) / (n1 + n2 - 2))
    if se == 0 or pooled_sd == 0:
        return Comparison(measure, "mean", n1, n2, m1, m2, diff, diff, diff, 0.0, 1.0)
    df = (v1 / n1 + v2 / n2) ** 2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
    t = diff / se
    p = 2 * stats.t.sf(abs(t), df)
    half = float(stats.t.ppf(0.975, df)) * se
    return Comparison(measure, "mean", n1, n2, m1, m2, diff, diff - half, diff + half, diff / pooled_sd, float(p))


def _finite_strata(strata, minimum: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each stratum's (group, rest) as float arrays without missing values, kept where both sides have at
    least `minimum` answers."""
    cells = []
    for group, rest in strata:
        g = np.asarray(group, dtype=float)
        r = np.asarray(rest, dtype=float)
        g, r = g[np.isfinite(g)], r[np.isfinite(r)]
        if len(g) >= minimum and len(r) >= minimum:
            cells.append((g, r))
    return cells


def stratified_compare(measure: str, strata: list[tuple[np.ndarray, np.ndarray]], *, binary: bool) -> Comparison | None:
    """Group minus rest within each stratum, pooled with Mantel-Haenszel weights (so a segment mix cannot fake it).

    Each stratum k (both sides with at least 2 values) weighs w_k = n1k n0k / (n1k + n0k): unlike
    inverse-variance weights, these never blow up for a small stratum whose observed variance
    happens to be 0 (two customers, both 0), the usual way sparse strata fake a finding.

    Proportions: the Mantel-Haenszel risk difference with Sato's (1989) variance, which stays
    valid with sparse strata. Means: the same weights on the within-stratum mean differences; the
    variance is sigma^2 / sum(w_k), with sigma^2 the residual variance within stratum x side cells
    (pooled over all strata).

    group_value and rest_value are standardised to the strata: rest_value is the weighted mean of
    the rest, group_value = rest_value + diff, so the two always agree with diff (raw overall
    means can point the other way when segments differ in size: Simpson's paradox).
    """
    cells = _finite_strata(strata, 2)
    if not cells:
        return None
    n1 = np.array([len(g) for g, _ in cells], dtype=float)
    n0 = np.array([len(r) for _, r in cells], dtype=float)
    m1 = np.array([g.mean() for g, _ in cells])
    m0 = np.array([r.mean() for _, r in cells])
    total = n1 + n0
    w = n1 * n0 / total
    diff = float(np.sum(w * (m1 - m0)) / w.sum())
    rest_value = float(np.sum(w * m0) / w.sum())
    group_value = rest_value + diff
    if binary:
        a, c = m1 * n1, m0 * n0  # successes in group, in rest
        p_k = (n1**2 * c - n0**2 * a + n1 * n0 * (n0 - n1) / 2) / total**2
        q_k = (a * (n0 - c) + c * (n1 - a)) / (2 * total)
        var = (diff * p_k.sum() + q_k.sum()) / w.sum() ** 2
        # the test uses the variance under no difference (each stratum's pooled share), as the
        # two-proportion z-test does: Sato's variance, right for the interval, collapses towards 0
        # when a small group happens to be all 0 (17 respondents, none on a topic: p = 1e-35)
        pooled = (a + c) / total
        null_var = float(np.sum(w * pooled * (1 - pooled))) / w.sum() ** 2
        p1 = min(max(group_value, 0.0), 1.0)
        p0 = min(max(rest_value, 0.0), 1.0)
        effect = 2 * math.asin(math.sqrt(p1)) - 2 * math.asin(math.sqrt(p0))
    else:
        residual = sum(float(((g - g.mean()) ** 2).sum() + ((r - r.mean()) ** 2).sum()) for g, r in cells)
        dof = float(total.sum() - 2 * len(cells))
        sigma2 = residual / dof if dof > 0 else 0.0
        var = sigma2 / w.sum()
        effect = diff / math.sqrt(sigma2) if sigma2 > 0 else 0.0
    if not var > 0:
        return None
    se = math.sqrt(var)
    if binary:
        p = float(2 * stats.norm.sf(abs(diff) / math.sqrt(null_var))) if null_var > 0 else 1.0
    else:
        p = float(2 * stats.norm.sf(abs(diff) / se))
    return Comparison(
        measure,
        "proportion" if binary else "mean",
        int(n1.sum()),
        int(n0.sum()),
        group_value,
        rest_value,
        diff,
        diff - Z95 * se,
        diff + Z95 * se,
        effect,
        p,
    )


def tost(measure: str, a: np.ndarray, b: np.ndarray, margin_sd: float) -> tuple[float, Comparison | None]:
    """Two one-sided tests: p-value for |mean(a) - mean(b)| < margin_sd pooled SDs (small p = equivalent)."""
    c = compare(measure, a, b)
    if c is None:
        return 1.0, None
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    pooled_sd = math.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    if pooled_sd == 0:
        return (0.0 if c.diff == 0 else 1.0), c
    margin = margin_sd * pooled_sd
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    if se == 0:
        return (0.0 if abs(c.diff) < margin else 1.0), c
    p_low = stats.norm.sf((c.diff + margin) / se)
    p_high = stats.norm.cdf((c.diff - margin) / se)
    return float(max(p_low, p_high)), c


def one_sided_p(comparison: Comparison, direction: float) -> float:
    """The one-sided p-value, in the direction of `direction`'s sign, of a two-sided test whose statistic is
    symmetric (Welch's t, the z-tests): p / 2 when the difference points that way, 1 - p / 2 when not."""
    p = comparison.p_value
    agrees = np.sign(comparison.diff) == np.sign(direction) and comparison.diff != 0
    return float(p / 2 if agrees else 1 - p / 2)


def fisher_one_sided(group: np.ndarray, rest: np.ndarray, direction: float) -> float:
    """Fisher's exact test of a 0/1 measure, one-sided: does the group say yes more (direction > 0) or less?

    Exact at any size, where the two-proportion z-test needs about 5 expected answers of each kind a side.
    """
    g = np.asarray(group, dtype=float)
    r = np.asarray(rest, dtype=float)
    g, r = g[np.isfinite(g)], r[np.isfinite(r)]
    if not len(g) or not len(r):
        return 1.0
    table = [[int(g.sum()), int(len(g) - g.sum())], [int(r.sum()), int(len(r) - r.sum())]]
    return float(stats.fisher_exact(table, alternative="greater" if direction > 0 else "less").pvalue)


def stratified_permutation(
    strata: list[tuple[np.ndarray, np.ndarray]], direction: float, rng: np.random.Generator, resamples: int = 999
) -> float:
    """One-sided permutation p-value of the Mantel-Haenszel weighted group-minus-rest difference of a 0/1 measure.

    Group labels are shuffled within each stratum (segment), so a segment mix cannot fake it; exact under
    no difference within strata at any size: (1 + resamples at least as extreme) / (1 + resamples). With
    0/1 answers a shuffle only moves the group's count of yes answers, a hypergeometric draw per stratum,
    so the cost does not grow with the respondents.
    """
    cells = [(int(g.sum()), len(g), int(g.sum() + r.sum()), len(g) + len(r)) for g, r in _finite_strata(strata, 1)]
    if not cells:
        return 1.0
    sign = 1.0 if direction > 0 else -1.0
    observed, null = 0.0, np.zeros(resamples)
    for yes_group, n1, yes, n in cells:
        w = n1 * (n - n1) / n
        observed += w * (yes_group / n1 - (yes - yes_group) / (n - n1))
        drawn = rng.hypergeometric(yes, n - yes, n1, size=resamples) if 0 < yes < n else np.full(resamples, yes_group)
        null += w * (drawn / n1 - (yes - drawn) / (n - n1))
    return float((1 + np.sum(sign * null >= sign * observed - 1e-12)) / (1 + resamples))


CORRECTIONS = {"bh": "Benjamini-Hochberg", "holm": "Holm"}


def adjust_pvalues(p_values, method: str = "bh") -> np.ndarray:
    """Adjusted p-values in the input order: Benjamini-Hochberg ("bh", false-discovery rate) or Holm
    ("holm", family-wise error); monotone in the ranks and capped at 1. The one implementation in refine."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if method not in CORRECTIONS:
        raise RefineError(f"unknown correction {method!r} (use bh or holm)")
    if m == 0:
        return p
    order = np.argsort(p, kind="mergesort")
    ranked = p[order]
    if method == "bh":
        adjusted = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    else:
        adjusted = np.maximum.accumulate(ranked * (m - np.arange(m)))
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """BH-adjusted p-values (monotone, capped at 1), in the input order."""
    return adjust_pvalues(p_values, "bh").tolist()


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits between two count or share vectors."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(x, y):
        mask = x > 0
        return float(np.sum(x[mask] * np.log2(x[mask] / y[mask])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)
