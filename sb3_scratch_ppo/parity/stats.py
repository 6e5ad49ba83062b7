"""The statistics of reward parity: is ScratchPPO *equivalent* to SB3's PPO, not merely "not shown different"?

Equivalence test (two one-sided tests in interval form): the 90% bootstrap confidence interval
of mean(ours) - mean(reference) must lie inside [-margin, +margin], with margin a fraction
(default 10%) of |mean(reference)|. A test that cannot tell learners apart also fails this,
which is why the suite runs a negative control that must come out NOT equivalent.

Also reported: Welch's t-test (a difference test, for reference) and the interquartile mean
(IQM, robust to outlier seeds) with its bootstrap interval.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

LEVEL = 0.90  # two one-sided 5% tests
N_BOOT = 10_000


def iqm(x: np.ndarray) -> float | np.ndarray:
    """Interquartile mean over the last axis: the mean of the middle 50% of the values (scipy's trim_mean(x, 0.25))."""
    from scipy.stats import trim_mean

    return trim_mean(np.asarray(x, dtype=float), 0.25, axis=-1)


def bootstrap_ci(stat, samples: list[np.ndarray], level: float = LEVEL, n_boot: int = N_BOOT, seed: int = 0):
    """Percentile bootstrap interval of stat(*samples), each sample resampled independently with replacement.

    All resamples at once: ``stat`` gets, per sample, an array (n_boot, len(sample), ...) and reduces axis 1.
    Returns (lo, hi): floats for a scalar statistic, arrays for one that keeps more axes (a learning curve)."""
    rng = np.random.default_rng(seed)
    samples = [np.asarray(s, dtype=float) for s in samples]
    draws = stat(*(s[rng.integers(0, len(s), (n_boot, len(s)))] for s in samples))
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2], axis=0)
    return (float(lo), float(hi)) if np.ndim(lo) == 0 else (lo, hi)


def mean_difference(a, b):
    """A bootstrap statistic: mean(a) - mean(b) of each resample."""
    return a.mean(axis=1) - b.mean(axis=1)


def mean_over_seeds(a):
    """A bootstrap statistic: the mean of each resample (of scalars, or of learning curves)."""
    return a.mean(axis=1)


@dataclass
class Comparison:
    """One metric, ours against the reference."""

    metric: str
    mean_ours: float
    mean_ref: float
    ci: tuple[float, float]  # interval of mean(ours) - mean(ref)
    margin: float
    welch_t: float
    welch_p: float
    iqm_ours: float
    iqm_ours_ci: tuple[float, float]
    iqm_ref: float
    iqm_ref_ci: tuple[float, float]
    n_ours: int
    n_ref: int

    @property
    def verdict(self) -> str:
        """ "equivalent" (interval inside the margin), "different" (interval entirely outside it), else "inconclusive"."""
        lo, hi = self.ci
        if -self.margin <= lo and hi <= self.margin:
            return "equivalent"
        if hi < -self.margin or lo > self.margin:
            return "different"
        return "inconclusive"


def compare(
    metric: str, ours: np.ndarray, ref: np.ndarray, rel_margin: float = 0.1, level: float = LEVEL, seed: int = 0
) -> Comparison:
    from scipy.stats import ttest_ind

    ours, ref = np.asarray(ours, dtype=float), np.asarray(ref, dtype=float)
    if len(ours) < 2 or len(ref) < 2:
        raise ValueError(f"{metric}: need at least 2 runs of each learner, got {len(ours)} and {len(ref)}")
    if np.ptp(ours) == 0 and np.ptp(ref) == 0:  # Welch's t is undefined without spread
        t, p = (0.0, 1.0) if ours[0] == ref[0] else (math.copysign(math.inf, ours[0] - ref[0]), 0.0)
    else:
        with warnings.catch_warnings():  # one constant group (e.g. all runs at the maximum return) is fine here
            warnings.simplefilter("ignore", RuntimeWarning)
            result = ttest_ind(ours, ref, equal_var=False)
        t, p = float(result.statistic), float(result.pvalue)
    return Comparison(
        metric=metric,
        mean_ours=float(ours.mean()),
        mean_ref=float(ref.mean()),
        ci=bootstrap_ci(mean_difference, [ours, ref], level, seed=seed),
        margin=rel_margin * abs(float(ref.mean())),
        welch_t=t,
        welch_p=p,
        iqm_ours=float(iqm(ours)),
        iqm_ours_ci=bootstrap_ci(iqm, [ours], level, n_boot=2000, seed=seed),
        iqm_ref=float(iqm(ref)),
        iqm_ref_ci=bootstrap_ci(iqm, [ref], level, n_boot=2000, seed=seed),
        n_ours=len(ours),
        n_ref=len(ref),
    )


def seeds_needed(std_ours: float, std_ref: float, margin: float, level: float = LEVEL, slack: float = 0.5) -> int:
    """Seeds per learner so that two equivalent learners pass reliably.

    With n seeds each, the interval of the difference has half-width about
    z * sqrt((s_ours^2 + s_ref^2) / n). Asking it to use at most ``slack`` of the margin leaves the
    rest for a true difference and for the bootstrap's own noise:
        n >= (z * sqrt(s_ours^2 + s_ref^2) / (slack * margin))^2
    """
    from scipy.stats import norm

    if margin <= 0:
        return 0
    z = float(norm.ppf((1 + level) / 2))
    return max(2, math.ceil((z * math.hypot(std_ours, std_ref) / (slack * margin)) ** 2))
