"""Arrivals: exact Poisson counts per period, split over the steps multinomially.

References: scipy.stats' binomial and Poisson distributions (chi-square goodness of
fit), and the multinomial's moments (mean n / k, variance n (1 - 1/k) / k,
covariance -n / k^2 between two steps).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import simkit
from simkit import workload
from simkit.split_kernel import LOG_FACTORIAL_MAX
from tests.conftest import constant_load_scenario

KEYS = np.array([0x0123456789ABCDEF, 42, 7], dtype=np.uint64)


def _split(n: int, k: int, periods: int, rep: int = 0) -> np.ndarray:
    return workload.step_arrivals(
        KEYS, np.full(periods, rep), np.arange(periods), np.full(periods, n), k
    )


def _chi2_p(observed: np.ndarray, pmf: np.ndarray) -> float:
    """p-value of a chi-square fit, cells with an expected count below 5 pooled."""
    expected = pmf * observed.sum()
    keep = expected >= 5
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], expected[~keep].sum())
    if exp[-1] < 5:
        obs, exp = obs[:-1], exp[:-1]
    exp *= obs.sum() / exp.sum()
    return float(stats.chisquare(obs, exp).pvalue)


@pytest.mark.parametrize(("n", "k"), [(0, 15), (1, 15), (40, 15), (915, 15), (5000, 4)])
def test_split_keeps_the_count_and_is_binomial_per_step(n: int, k: int) -> None:
    out = _split(n, k, 40_000)
    assert (out.sum(axis=1) == n).all() and (out >= 0).all()
    assert np.array_equal(out, np.rint(out))
    if n == 0:
        return
    support = np.arange(n + 1)
    pmf = stats.binom.pmf(support, n, 1.0 / k)
    for step in (0, k // 2, k - 1):  # first, middle and last (the remainder)
        observed = np.bincount(out[:, step].astype(np.int64), minlength=n + 1)
        assert _chi2_p(observed, pmf) > 1e-4, (n, k, step)


def test_split_has_the_multinomial_covariance() -> None:
    n, k, m = 600, 6, 60_000
    out = _split(n, k, m)
    cov = np.cov(out.T)
    var, covar = n * (1 - 1 / k) / k, -n / k**2
    se_var = var * np.sqrt(2 / m)
    assert np.abs(np.diag(cov) - var).max() < 5 * se_var
    off = cov[~np.eye(k, dtype=bool)]
    assert np.abs(off - covar).max() < 5 * np.sqrt((var * var + covar**2) / m)


def test_large_counts_beyond_the_table_are_split_exactly() -> None:
    n = LOG_FACTORIAL_MAX * 3
    out = _split(n, 4, 4000)
    assert (out.sum(axis=1) == n).all()
    sd = np.sqrt(n * 0.25 * 0.75)
    assert abs(out[:, 0].mean() - n / 4) < 5 * sd / np.sqrt(4000)
    assert abs(out[:, 0].std() / sd - 1.0) < 0.1


def test_split_depends_on_key_and_period_only() -> None:
    """The same period gives the same split in any batch and order; others differ."""
    counts = np.array([50, 900, 3, 50])
    rep = np.array([0, 1, 2, 0])
    period = np.array([10, 11, 12, 99])
    together = workload.step_arrivals(KEYS, rep, period, counts, 15)
    order = np.array([3, 1, 0, 2])
    shuffled = workload.step_arrivals(KEYS, rep[order], period[order], counts[order], 15)
    assert np.array_equal(shuffled, together[order])
    alone = workload.step_arrivals(KEYS, rep[:1], period[:1], counts[:1], 15)
    assert np.array_equal(alone[0], together[0])
    assert not np.array_equal(together[0], together[3])  # same count, another period
    other_key = workload.step_arrivals(KEYS, np.array([1]), period[:1], counts[:1], 15)
    assert not np.array_equal(other_key[0], together[0])


def test_period_counts_and_steps_are_poisson() -> None:
    """A constant rate: period counts Poisson(rate x period), steps Poisson(rate x step),
    neighbouring steps uncorrelated."""
    rate = 6.0
    s = constant_load_scenario(rate, instances=10, service_time_ms=1.0)
    r = simkit.simulate(s, duration="12h", replications=2, seed=11)
    period_mean = rate * r.period_s
    counts = r.arrivals_period.ravel().astype(np.int64)
    support = np.arange(counts.max() + 1)
    observed = np.bincount(counts, minlength=support.size)
    assert _chi2_p(observed, stats.poisson.pmf(support, period_mean)) > 1e-4
    steps = r.arrivals.ravel().astype(np.int64)
    support = np.arange(steps.max() + 1)
    observed = np.bincount(steps, minlength=support.size)
    assert _chi2_p(observed, stats.poisson.pmf(support, rate * r.step_s)) > 1e-4
    corr = np.corrcoef(steps[:-1], steps[1:])[0, 1]
    assert abs(corr) < 5 / np.sqrt(steps.size)


def test_step_arrivals_are_the_overlay_split() -> None:
    """Step arrays built on demand use the split the engine resolved periods with."""
    s = simkit.load_scenario("development")
    r = simkit.simulate(s, duration="1D", replications=2, seed=5)
    ov = r.overlay
    assert ov.replication.size > 0
    k = r.steps_per_period
    steps = r.arrivals.reshape(r.replications, -1, k)[ov.replication, ov.period]
    assert np.array_equal(steps, ov.arrivals)
    assert np.array_equal(r.arrivals.reshape(2, -1, k).sum(axis=2), r.arrivals_period)
    assert np.array_equal(r._step_rows("arrivals", np.array([1, 1])), r.arrivals[[1, 1]])


def test_too_many_arrivals_per_period_is_one_clear_error() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(simkit.SimkitError, match="arrivals expected in one control period"):
        workload.period_arrivals(rng, np.array([1.0, 2e9]))
