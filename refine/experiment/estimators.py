"""Estimators on summary statistics, vectorised (scalars or arrays of many simulated tests)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from refine.experiment._common import _z
from refine.stats import adjust_pvalues  # noqa: F401  (the one BH / Holm; re-exported for old imports)


def two_proportion(x_t, n_t, x_c, n_c, level: float = 0.95) -> dict[str, np.ndarray]:
    """Two-proportion comparison: unpooled normal CI for the difference, pooled z-test p-value,
    delta-method CI for the relative lift p_t / p_c - 1."""
    x_t, n_t, x_c, n_c = (np.asarray(v, dtype=float) for v in (x_t, n_t, x_c, n_c))
    z = _z(level)
    p_t, p_c = x_t / n_t, x_c / n_c
    diff = p_t - p_c
    var_t, var_c = p_t * (1 - p_t) / n_t, p_c * (1 - p_c) / n_c
    se = np.sqrt(var_t + var_c)
    pooled = (x_t + x_c) / (n_t + n_c)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / n_t + 1 / n_c))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = np.where(se0 > 0, diff / np.where(se0 > 0, se0, 1), 0.0)
        p = np.where(se0 > 0, 2 * stats.norm.sf(np.abs(stat)), 1.0)
        rel, rel_se = _relative(p_t, var_t, p_c, var_c)
    return _result(p_t, p_c, diff, se, z * se, stat, p, rel, rel_se, z, np.full_like(diff, np.nan))


def _result(mean_t, mean_c, diff, se, half, stat, p, rel, rel_se, z, df) -> dict[str, np.ndarray]:
    """The one shape every two-arm estimator returns: difference with its interval, relative lift by the delta method."""
    return {
        "mean_t": mean_t,
        "mean_c": mean_c,
        "diff": diff,
        "se": se,
        "lo": diff - half,
        "hi": diff + half,
        "stat": stat,
        "p": p,
        "rel": rel,
        "rel_se": rel_se,
        "rel_lo": rel - z * rel_se,
        "rel_hi": rel + z * rel_se,
        "df": df,
    }


def welch(mean_t, var_t, n_t, mean_c, var_c, n_c, level: float = 0.95) -> dict[str, np.ndarray]:
    """Welch's t-test from summary statistics (variances with ddof=1); CI on the Welch-Satterthwaite
    degrees of freedom; delta-method normal CI for the relative lift mean_t / mean_c - 1."""
    mean_t, var_t, n_t, mean_c, var_c, n_c = (
        np.asarray(v, dtype=float) for v in (mean_t, var_t, n_t, mean_c, var_c, n_c)
    )
    a, b = var_t / n_t, var_c / n_c
    se = np.sqrt(a + b)
    diff = mean_t - mean_c
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (a + b) ** 2 / (a**2 / (n_t - 1) + b**2 / (n_c - 1))
        stat = diff / se
        p = 2 * stats.t.sf(np.abs(stat), df)
        # no variance in either arm: identical means differ by nothing, different ones are certain
        p = np.where(se > 0, p, np.where(diff == 0, 1.0, 0.0))
        stat = np.where(se > 0, stat, 0.0)
        crit = np.where(se > 0, stats.t.ppf(1 - (1 - level) / 2, df), 0.0)
        rel, rel_se = _relative(mean_t, a, mean_c, b)
    return _result(mean_t, mean_c, diff, se, crit * se, stat, p, rel, rel_se, _z(level), df)


def _relative(m_t, v_t, m_c, v_c):
    """Delta method for m_t / m_c - 1 with independent arms; v_* are variances of the means."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = m_c != 0
        rel = np.where(ok, m_t / np.where(ok, m_c, 1) - 1, np.nan)
        rel_se = np.where(
            ok, np.sqrt(v_t / np.where(ok, m_c, 1) ** 2 + m_t**2 * v_c / np.where(ok, m_c, 1) ** 4), np.nan
        )
    return rel, rel_se


def cuped_adjust(y: np.ndarray, x: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """CUPED: theta = cov(Y, X) / var(X) over the units given (all arms pooled),
    Y_adj = Y - theta (X - mean X). Returns (Y_adj, theta); works along ``axis`` for simulations."""
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    xc = x - x.mean(axis=axis, keepdims=True)
    yc = y - y.mean(axis=axis, keepdims=True)
    var_x = (xc**2).sum(axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(var_x > 0, (xc * yc).sum(axis=axis, keepdims=True) / np.where(var_x > 0, var_x, 1), 0.0)
    return y - theta * xc, np.squeeze(theta, axis=axis)


def srm_check(counts: Sequence[int], shares: Sequence[float], threshold: float = 0.001) -> dict:
    """Sample-ratio mismatch: chi-square goodness of fit of the arm counts to the expected shares."""
    observed = np.asarray(counts, dtype=float)
    shares = np.asarray(shares, dtype=float) / np.sum(shares)
    expected = shares * observed.sum()
    chi2, p = stats.chisquare(observed, expected)
    return {
        "chi2": float(chi2),
        "p_value": float(p),
        "mismatch": bool(p < threshold),
        "threshold": threshold,
        "expected": [float(e) for e in expected],
    }


# ---- sufficient statistics: every effect from per-group sums, so daily looks never loop over rows ----------------


def moments(
    codes: np.ndarray, n_codes: int, y: np.ndarray, d: np.ndarray | None = None, *, binary: bool = False
) -> dict[str, np.ndarray]:
    """Per-group sums by bincount: n, sum y, sum y^2 and, with a second column d (a ratio's denominator or a
    CUPED covariate), sum d, sum d^2, sum y d. Arrays of length ``n_codes``. For a 0/1 ``y``, y^2 = y."""
    codes = np.asarray(codes, dtype=np.int64)
    sy = np.bincount(codes, weights=y, minlength=n_codes)
    out = {
        "n": np.bincount(codes, minlength=n_codes).astype(float),
        "sy": sy,
        "syy": sy if binary else np.bincount(codes, weights=y * y, minlength=n_codes),
    }
    if d is not None:
        out["sd"] = np.bincount(codes, weights=d, minlength=n_codes)
        out["sdd"] = np.bincount(codes, weights=d * d, minlength=n_codes)
        out["syd"] = np.bincount(codes, weights=y * d, minlength=n_codes)
    return out


def cumulate(m: dict[str, np.ndarray], axis: int = -1) -> dict[str, np.ndarray]:
    return {k: np.cumsum(v, axis=axis) for k, v in m.items()}


def _var(n, s, ss):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum(ss - s * s / n, 0.0) / (n - 1)


def _cov(n, sa, sb, sab):
    with np.errstate(divide="ignore", invalid="ignore"):
        return (sab - sa * sb / n) / (n - 1)


def ratio_stat(m: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Ratio of sums R = sum y / sum d and the per-unit delta-method variance (gbstats RatioStatistic):
    var(y) / mu_d^2 - 2 cov(y, d) mu_y / mu_d^3 + mu_y^2 var(d) / mu_d^4 (so var(R) = that / n)."""
    n = m["n"]
    with np.errstate(divide="ignore", invalid="ignore"):
        mu_y, mu_d = m["sy"] / n, m["sd"] / n
        ratio = m["sy"] / m["sd"]
        var = (
            _var(n, m["sy"], m["syy"]) / mu_d**2
            - 2 * _cov(n, m["sy"], m["sd"], m["syd"]) * mu_y / mu_d**3
            + mu_y**2 * _var(n, m["sd"], m["sdd"]) / mu_d**4
        )
    return ratio, np.maximum(var, 0.0)


def effect_from_moments(
    mt: dict[str, np.ndarray], mc: dict[str, np.ndarray], kind: str, level: float = 0.95
) -> dict[str, np.ndarray]:
    """Treatment vs control from sums (vectorised over any leading shape): kind "binary" (two proportions),
    "continuous" (Welch), "ratio" (delta method, Welch degrees of freedom) or "cuped" (theta from the pooled sums,
    y - theta (d - pooled mean of d), Welch)."""
    if kind == "binary":
        return two_proportion(mt["sy"], mt["n"], mc["sy"], mc["n"], level)
    if kind == "ratio":
        (rt, vt), (rc, vc) = ratio_stat(mt), ratio_stat(mc)
        return welch(rt, vt, mt["n"], rc, vc, mc["n"], level)
    if kind == "cuped":
        pooled = {k: mt[k] + mc[k] for k in mt}
        var_d = _var(pooled["n"], pooled["sd"], pooled["sdd"])
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = np.where(var_d > 0, _cov(pooled["n"], pooled["sy"], pooled["sd"], pooled["syd"]) / var_d, 0.0)
            d_bar = pooled["sd"] / pooled["n"]

            def adjusted(m):
                mean = m["sy"] / m["n"] - theta * (m["sd"] / m["n"] - d_bar)
                var = (
                    _var(m["n"], m["sy"], m["syy"])
                    + theta**2 * _var(m["n"], m["sd"], m["sdd"])
                    - 2 * theta * _cov(m["n"], m["sy"], m["sd"], m["syd"])
                )
                return mean, np.maximum(var, 0.0)

            (at, vt), (ac, vc) = adjusted(mt), adjusted(mc)
        return welch(at, vt, mt["n"], ac, vc, mc["n"], level)
    with np.errstate(divide="ignore", invalid="ignore"):
        return welch(
            mt["sy"] / mt["n"],
            _var(mt["n"], mt["sy"], mt["syy"]),
            mt["n"],
            mc["sy"] / mc["n"],
            _var(mc["n"], mc["sy"], mc["syy"]),
            mc["n"],
            level,
        )


def winsorize(y: np.ndarray, percentile: float) -> tuple[np.ndarray, float, int]:
    """Cap values above the given percentile of y (pooled over every arm, computed once): (capped, cap, count)."""
    cap = float(np.quantile(y, percentile))
    capped = y > cap
    return np.where(capped, cap, y), cap, int(capped.sum())
