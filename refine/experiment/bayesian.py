"""Bayesian read-out next to the frequentist one: chance to beat control, expected loss, credible interval.

As GrowthBook's gbstats ``EffectBayesianABTest``: the data give a normal likelihood for the effect (estimate and
standard error from the same delta-method / Welch computation as the frequentist result); the prior is a normal
on the *relative* effect (treatment / control - 1), flat (improper) by default. With a proper prior N(m, s^2)
the posterior is the precision-weighted mix: mean = (est / se^2 + m / s^2) / (1 / se^2 + 1 / s^2), variance =
1 / (1 / se^2 + 1 / s^2); flat: mean = est, variance = se^2. On the absolute scale the prior is rescaled by the
control mean (m |mean_c|, s |mean_c|), as gbstats does.

* chance to beat control = P(effect > 0) (P(effect < 0) when lower is better);
* expected loss (risk) of shipping the treatment = E[max(0, -effect)] (sign flipped when lower is better): what
  is lost on average if it is shipped and is in fact worse; the risk of keeping control is E[max(0, effect)];
* credible interval: the central 1 - alpha posterior interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Prior:
    """A normal prior on the relative effect; ``sd`` None = flat (improper), GrowthBook's default."""

    mean: float = 0.0
    sd: float | None = None

    @property
    def proper(self) -> bool:
        return self.sd is not None

    def text(self) -> str:
        if not self.proper:
            return "flat (improper) prior on the effect: the posterior follows the data alone"
        return f"normal prior on the relative effect, mean {self.mean:+.2%}, sd {self.sd:.2%}"

    def to_json(self) -> dict:
        return {"kind": "normal" if self.proper else "flat", "mean": self.mean if self.proper else None, "sd": self.sd}


def posterior(estimate, se, prior: Prior, scale=1.0) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and sd of the effect; ``scale`` converts the relative prior to this effect's units."""
    estimate, se = np.asarray(estimate, dtype=float), np.asarray(se, dtype=float)
    if not prior.proper:
        return estimate, se
    scale = np.abs(np.asarray(scale, dtype=float))
    m, v = prior.mean * scale, (prior.sd * scale) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = 1 / se**2 + 1 / v
        return (estimate / se**2 + m / v) / precision, np.sqrt(1 / precision)


def chance_to_win(mean, sd, lower_is_better: bool = False) -> np.ndarray:
    win = stats.norm.sf(0, mean, sd)
    return 1 - win if lower_is_better else win


def risks(mean, sd, lower_is_better: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(risk of keeping control, risk of shipping treatment): expected loss of each choice (closed form of gbstats'
    truncated-normal means: E[max(0, X)] = mu Phi(mu / s) + s phi(mu / s))."""
    mean, sd = np.asarray(mean, dtype=float), np.asarray(sd, dtype=float)
    z = mean / sd
    gain = mean * stats.norm.cdf(z) + sd * stats.norm.pdf(z)  # E[max(0, X)]
    loss = sd * stats.norm.pdf(z) - mean * stats.norm.cdf(-z)  # E[max(0, -X)]
    return (loss, gain) if lower_is_better else (gain, loss)


def credible_interval(mean, sd, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    return stats.norm.ppf(alpha / 2, mean, sd), stats.norm.ppf(1 - alpha / 2, mean, sd)
