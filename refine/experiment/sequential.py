"""Always-valid (sequential) confidence intervals: look at the test every day without inflating false positives.

The asymptotic confidence sequence of Waudby-Smith et al. (2023, arXiv 2103.06476, eq. 9 with the mixing
parameter of eq. 161), exactly as GrowthBook's gbstats ``SequentialTwoSidedTTest`` computes it: with N units in
the two arms together, an estimate with standard error ``se`` and a tuning parameter ``tuning`` (the total sample
size at which the interval is tightest),

    rho   = sqrt((-2 ln alpha + ln(-2 ln alpha + 1)) / tuning)
    half  = se sqrt(N) sqrt(2 (N rho^2 + 1) ln(sqrt(N rho^2 + 1) / alpha) / (N rho)^2)
    p     = min(1, sqrt(N rho^2 + 1) exp(-rho^2 N z^2 / (2 (N rho^2 + 1)))),   z = estimate / se

The interval holds at every look simultaneously with probability 1 - alpha (asymptotically), so a team may
stop the first day it excludes zero. The price: it is wider than the fixed-horizon interval at any one look
(about 1.55x at N = tuning for alpha = 0.05), so a sequential plan needs more units (``design``).
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_TUNING = 5000.0  # gbstats' default sequential_tuning_parameter


def rho(alpha: float, tuning: float) -> float:
    """The mixing parameter that makes the sequence tightest at N = tuning (eq. 161)."""
    return math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)


def multiplier(n_total, alpha: float, tuning: float) -> np.ndarray:
    """Half-width of the confidence sequence in standard errors at N = n_total units (vectorised)."""
    n = np.asarray(n_total, dtype=float)
    r2 = rho(alpha, tuning) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(n) * np.sqrt(2 * (n * r2 + 1) * np.log(np.sqrt(n * r2 + 1) / alpha) / (n**2 * r2))


def interval(estimate, se, n_total, alpha: float, tuning: float) -> tuple[np.ndarray, np.ndarray]:
    """The always-valid interval (lo, hi) around ``estimate``."""
    estimate, se = np.asarray(estimate, dtype=float), np.asarray(se, dtype=float)
    half = se * multiplier(n_total, alpha, tuning)
    return estimate - half, estimate + half


def p_value(estimate, se, n_total, alpha: float, tuning: float) -> np.ndarray:
    """The always-valid p-value (1 / the mixture e-value, capped at 1), as gbstats (eq. 155)."""
    estimate, se = np.asarray(estimate, dtype=float), np.asarray(se, dtype=float)
    n = np.asarray(n_total, dtype=float)
    r2 = rho(alpha, tuning) ** 2
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z2 = np.where(se > 0, (estimate / np.where(se > 0, se, 1)) ** 2, np.where(estimate == 0, 0.0, np.inf))
        log_e = r2 * z2 * n / (2 * (n * r2 + 1)) - 0.5 * np.log(n * r2 + 1)
        return np.minimum(np.exp(-log_e), 1.0)


def planned_multiplier(alpha: float) -> float:
    """Half-width in standard errors at N = tuning (what a sequential plan sizes for): depends on alpha only."""
    k = -2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)  # N rho^2 at N = tuning
    return math.sqrt(2 * (k + 1) * math.log(math.sqrt(k + 1) / alpha) / k)
