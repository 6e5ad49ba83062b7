"""The parity statistics on cases whose answer is known: equivalent, different, and too noisy to tell."""

import numpy as np
import pytest

from sb3_scratch_ppo.parity import learning_curve, stats


def test_iqm_is_the_mean_of_the_middle_half():
    assert stats.iqm(np.array([1, 2, 3, 4, 5, 6, 7, 100])) == pytest.approx(4.5)


def test_same_learner_many_seeds_is_equivalent():
    rng = np.random.default_rng(0)
    c = stats.compare("auc", rng.normal(400, 40, 60), rng.normal(400, 40, 60))
    assert c.verdict == "equivalent" and c.ci[0] < 0 < c.ci[1] and c.welch_p > 0.05


def test_half_as_good_is_different():
    rng = np.random.default_rng(1)
    c = stats.compare("auc", rng.normal(200, 40, 10), rng.normal(400, 40, 10))
    assert c.verdict == "different" and c.ci[1] < -c.margin and c.welch_p < 1e-6


def test_too_few_noisy_seeds_is_inconclusive_not_equivalent():
    rng = np.random.default_rng(2)
    c = stats.compare("auc", rng.normal(400, 150, 3), rng.normal(400, 150, 3))
    assert c.verdict == "inconclusive"


def test_a_real_difference_inside_the_margin_is_still_equivalent():
    rng = np.random.default_rng(3)
    c = stats.compare("final", rng.normal(390, 10, 40), rng.normal(400, 10, 40))  # -2.5%, margin 10%
    assert c.verdict == "equivalent" and c.welch_p < 0.01  # different, yet equivalent within the margin


def test_constant_results_are_handled():
    c = stats.compare("final", np.full(5, 500.0), np.full(5, 500.0))
    assert (c.ci, c.welch_p, c.verdict) == ((0.0, 0.0), 1.0, "equivalent")
    d = stats.compare("final", np.full(5, 100.0), np.full(5, 500.0))
    assert d.verdict == "different" and d.welch_p == 0.0


def test_bootstrap_interval_covers_the_true_difference_about_90_percent_of_the_time():
    rng = np.random.default_rng(4)
    hits = 0
    for i in range(200):
        lo, hi = stats.bootstrap_ci(
            lambda a, b: a.mean(axis=1) - b.mean(axis=1), [rng.normal(1, 1, 30), rng.normal(0, 1, 30)], n_boot=500, seed=i
        )
        hits += lo <= 1.0 <= hi
    assert 0.82 <= hits / 200 <= 0.96


def test_bootstrap_of_learning_curves_gives_a_band_per_point():
    rng = np.random.default_rng(5)
    curves = rng.normal([0.0, 10.0, 20.0], 1.0, size=(40, 3))
    lo, hi = stats.bootstrap_ci(stats.mean_over_seeds, [curves], n_boot=2000)
    assert lo.shape == hi.shape == (3,)
    assert np.all(lo < curves.mean(axis=0)) and np.all(curves.mean(axis=0) < hi) and np.all(hi - lo < 1.0)


def test_seeds_needed_follows_the_formula():
    # z = 1.645, sqrt(45^2 + 45^2) = 63.6, half of a 41.3 margin: (1.645 * 63.6 / 20.65)^2 = 25.7 -> 26
    assert stats.seeds_needed(45, 45, 41.3) == 26
    assert stats.seeds_needed(0, 0, 50) == 2


def test_too_few_runs_is_an_error():
    with pytest.raises(ValueError, match="need at least 2 runs"):
        stats.compare("auc", np.array([1.0]), np.array([1.0, 2.0]))


def test_learning_curve_windows_and_carry_forward():
    ends = np.array([10, 20, 60, 95])
    returns = np.array([1.0, 3.0, 5.0, 7.0])
    timesteps, curve = learning_curve(ends, returns, n_timesteps=100, n_points=4)
    assert timesteps == [25, 50, 75, 100]
    assert curve == [2.0, 2.0, 5.0, 7.0]  # window 2 has no episode end: carries window 1
