"""Who it helps: does the effect differ across the levels of a segment or attribute?

For each breakdown column, metric and treatment arm the per-level effects e_i (with standard errors s_i, the same
estimator as the overall effect) are tested for heterogeneity with Cochran's Q = sum w_i (e_i - e_w)^2,
w_i = 1 / s_i^2, e_w the inverse-variance mean, against chi-square with k - 1 degrees of freedom. The Q p-values
are corrected together over every (column x metric x arm) tested, with the analysis' correction. A level whose
interval excludes zero on the opposite side of the overall effect is flagged: the treatment hurts it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats

from refine.experiment._common import _finite
from refine.experiment.estimators import effect_from_moments, moments


@dataclass
class LevelEffect:
    level: str
    n_control: int
    n_treatment: int
    abs_lift: float | None
    ci: list[float | None]
    opposite: bool = False


@dataclass
class HeterogeneityTest:
    column: str
    metric: str
    arm: str
    levels: list[LevelEffect] = field(default_factory=list)
    levels_tested: int = 0
    q: float | None = None
    df: int | None = None
    p_value: float | None = None
    p_adjusted: float | None = None
    differs: bool = False
    skipped: str | None = None

    def to_json(self) -> dict:
        return _finite(asdict(self))


def cochran_q(effects: np.ndarray, ses: np.ndarray) -> tuple[float, int, float]:
    """Cochran's Q, its degrees of freedom and p-value for effects with standard errors (all finite, se > 0)."""
    w = 1 / ses**2
    mean = np.sum(w * effects) / w.sum()
    q = float(np.sum(w * (effects - mean) ** 2))
    df = len(effects) - 1
    return q, df, float(stats.chi2.sf(q, df))


def breakdown(
    *,
    column: str,
    metric: str,
    kind: str,
    y: np.ndarray,
    d: np.ndarray | None,
    arm_codes: np.ndarray,
    arms: list[str],
    level_codes: np.ndarray,
    levels: list[str],
    overall: dict[str, float],
    level: float,
    min_units: int = 10,
) -> list[HeterogeneityTest]:
    """One test per treatment arm; ``overall`` maps an arm to its overall effect (for the opposite-sign flag)."""
    n_levels, n_arms = len(levels), len(arms)
    m = moments(arm_codes * n_levels + level_codes, n_arms * n_levels, y, d)
    grid = {k: v.reshape(n_arms, n_levels) for k, v in m.items()}
    mc = {k: v[0] for k, v in grid.items()}
    out = []
    for a in range(1, n_arms):
        mt = {k: v[a] for k, v in grid.items()}
        with np.errstate(all="ignore"):
            r = effect_from_moments(mt, mc, kind, level)
        usable = (mt["n"] >= min_units) & (mc["n"] >= min_units) & np.isfinite(r["se"]) & (r["se"] > 0)
        test = HeterogeneityTest(column=column, metric=metric, arm=arms[a])
        sign = np.sign(overall.get(arms[a]) or 0.0)
        for i, name in enumerate(levels):
            ok = bool(usable[i])
            lo, hi = (float(r["lo"][i]), float(r["hi"][i])) if ok else (None, None)
            opposite = (
                lo is not None and hi is not None and sign != 0 and ((sign > 0 and hi < 0) or (sign < 0 and lo > 0))
            )
            test.levels.append(
                LevelEffect(
                    level=name,
                    n_control=int(mc["n"][i]),
                    n_treatment=int(mt["n"][i]),
                    abs_lift=float(r["diff"][i]) if ok else None,
                    ci=[lo, hi],
                    opposite=bool(opposite),
                )
            )
        test.levels_tested = int(usable.sum())
        if test.levels_tested < 2:
            test.skipped = f"fewer than 2 levels with at least {min_units} units in each arm"
        else:
            test.q, test.df, test.p_value = cochran_q(r["diff"][usable], r["se"][usable])
        out.append(test)
    return out
