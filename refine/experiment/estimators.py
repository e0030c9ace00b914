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
    return {
        "mean_t": p_t,
        "mean_c": p_c,
        "diff": diff,
        "se": se,
        "lo": diff - z * se,
        "hi": diff + z * se,
        "stat": stat,
        "p": p,
        "rel": rel,
        "rel_se": rel_se,
        "rel_lo": rel - z * rel_se,
        "rel_hi": rel + z * rel_se,
        "df": np.full_like(diff, np.nan),
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
    z = _z(level)
    return {
        "mean_t": mean_t,
        "mean_c": mean_c,
        "diff": diff,
        "se": se,
        "lo": diff - crit * se,
        "hi": diff + crit * se,
        "stat": stat,
        "p": p,
        "rel": rel,
        "rel_se": rel_se,
        "rel_lo": rel - z * rel_se,
        "rel_hi": rel + z * rel_se,
        "df": df,
    }


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
