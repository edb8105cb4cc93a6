"""Window latency quantiles and means against independent references.

References: the stationary M/M/c formulas (steady load), a brute-force inversion of
the window's mixture CDF built here from the result's arrays (any load), and the exact
transient solver :mod:`simkit.transient` (an instance loss).
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from scipy import optimize

import simkit
from simkit import queueing, windows
from simkit.transient import PiecewiseQueue, response_time_quantiles
from simkit.windows import QUANTILES, window_latency_means, window_latency_quantiles
from tests.conftest import constant_load_scenario, per_second_trace, queue_scenario

MU = 10.0


@pytest.fixture(scope="module")
def surge() -> simkit.SimResult:
    """c = 8, 56/s with a 3-minute surge to 104/s: queued, draining and steady steps."""
    t = np.arange(900) + 0.5
    rate = np.where((t >= 240) & (t < 420), 104.0, 56.0)
    return simkit.simulate(
        queue_scenario(8),
        duration="15min",
        step="1s",
        replications=6,
        seed=3,
        trace=per_second_trace(rate),
    )


def _step_components(
    result: simkit.SimResult, rep: int, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weight, servers, arrival rate [1/s] and shift [s] of each step ``lo..hi-1``.

    Built independently of :mod:`simkit.windows`, from the step arrays and the
    overlay: a queued step's requests are its wait plus one service time.
    """
    k = result.steps_per_period
    servers = result.ready_instances[rep] * result.scenario.servers_per_instance
    rho = result.rate_rps[rep] / np.maximum(result.capacity_rps[rep], 1e-300)
    wait = np.zeros(result.n_steps)
    queued = np.zeros(result.n_steps, dtype=bool)
    ov = result.overlay
    for i in np.flatnonzero(ov.replication == rep):
        p = ov.period[i]
        wait[p * k : (p + 1) * k] = ov.wait_s[i]
        queued[p * k : (p + 1) * k] = ov.queued[i]
    steps = np.arange(lo, hi)
    period = steps // k
    weight = result.arrivals[rep, steps].astype(np.float64) - result.errors[rep, steps]
    c = np.where(queued[steps], 1, servers[period]).astype(np.float64)
    lam = np.where(queued[steps], 0.0, rho[period] * servers[period] * MU)
    shift = result.backend_s[rep, period].astype(np.float64) + wait[steps]
    return weight, c, lam, shift


def _mixture_quantiles(result: simkit.SimResult, rep: int, lo: int, hi: int) -> np.ndarray:
    """Quantiles of the requests arriving in steps ``lo..hi-1`` of one replication.

    One component per step (:func:`_step_components`), weighted by its served
    requests; the CDF is inverted with Brent's method.
    """
    weight, c, lam, shift = _step_components(result, rep, lo, hi)

    def cdf(x: float) -> float:
        f = queueing.response_time_cdf(np.maximum(x - shift, 0.0), c, lam, MU)
        return float(np.sum(weight * np.where(x > shift, f, 0.0)) / weight.sum())

    top = float(shift.max()) + 100.0 / MU
    return np.array(
        [optimize.brentq(lambda x, q=q: cdf(x) - q, 0.0, top, xtol=1e-12) for q in QUANTILES]
    )


def test_steady_load_window_quantiles_and_means_are_the_stationary_mmc_values() -> None:
    servers, rate = 8, 76.0
    r = simkit.simulate(
        constant_load_scenario(rate, servers, service_time_ms=1e3 / MU, service__timeout_s=3600.0),
        duration="30min",
        step="1s",
        replications=4,
        seed=1,
    )
    exact = queueing.response_time_quantile(np.array(QUANTILES), servers, rate, MU)
    edges = np.arange(0, r.n_steps, 600)
    got = window_latency_quantiles(r, edges, pooled=True)[0]
    # the arrivals are Poisson around the rate: each period's utilization varies a little
    np.testing.assert_allclose(got, np.broadcast_to(exact, got.shape), rtol=5e-3)
    mean = window_latency_means(r, edges, pooled=True)[0]
    np.testing.assert_allclose(mean, queueing.mean_response_time(servers, rate, MU), rtol=5e-3)


@pytest.mark.parametrize("window", [(0, 60), (240, 300), (420, 480), (480, 540), (0, 900)])
def test_window_quantiles_invert_the_window_mixture(surge, window) -> None:
    lo, hi = window
    edges = np.array([0, lo, hi]) if lo else np.array([0, hi])
    row = 1 if lo else 0
    got = window_latency_quantiles(surge, edges, rtol=0.0)[:, row]
    for rep in range(surge.replications):
        # steady components come from the latency table (interpolated to ~3e-4)
        np.testing.assert_allclose(got[rep], _mixture_quantiles(surge, rep, lo, hi), rtol=5e-4)


def test_merged_windows_agree_with_the_unmerged_solve(surge, monkeypatch) -> None:
    edges = np.array([0, 240, 420, 600])
    fine = window_latency_quantiles(surge, edges, rtol=0.0, pooled=True)
    surge._cache.clear()
    monkeypatch.setattr(windows, "MERGE_ABOVE", 8)
    merged = window_latency_quantiles(surge, edges, rtol=0.0, pooled=True)
    surge._cache.clear()
    np.testing.assert_allclose(merged, fine, rtol=5e-4)


def test_merge_error_near_saturation_is_below_1e4(monkeypatch) -> None:
    """M/M/1 at utilizations 0.80..0.985, the merge's utilization grid at its worst."""
    rng = np.random.default_rng(0)
    rate = np.repeat(rng.uniform(0.80, 0.985, 240), 15) * MU
    hot = simkit.simulate(
        queue_scenario(1),
        duration="1h",
        step="1s",
        replications=4,
        seed=2,
        trace=per_second_trace(rate),
    )
    edges = np.arange(0, 3600, 600)
    fine = window_latency_quantiles(hot, edges, rtol=0.0, pooled=True)
    hot._cache.clear()
    monkeypatch.setattr(windows, "MERGE_ABOVE", 8)
    merged = window_latency_quantiles(hot, edges, rtol=0.0, pooled=True)
    hot._cache.clear()
    assert np.max(np.abs(merged / fine - 1.0)) < 1e-4


def test_window_means_are_the_mixture_means(surge) -> None:
    """Mean of the mixture = integral of its survival function, computed here by quad."""
    from scipy import integrate

    rep, lo, hi = 2, 240, 540
    got = window_latency_means(surge, np.array([0, lo, hi]), replications=[rep])[0, 1]
    weight, c, lam, shift = _step_components(surge, rep, lo, hi)

    def survival(x: float) -> float:
        f = queueing.response_time_cdf(np.maximum(x - shift, 0.0), c, lam, MU)
        return float(np.sum(weight * (1.0 - np.where(x > shift, f, 0.0))) / weight.sum())

    # smooth between consecutive shifts: integrate piece by piece, then the tail
    knots = np.r_[0.0, np.unique(shift), float(shift.max()) + 60.0 / MU]
    mean = sum(integrate.quad(survival, a, b, epsabs=1e-12)[0] for a, b in pairwise(knots))
    assert got == pytest.approx(mean, rel=1e-4)


def test_run_latency_is_the_whole_run_window(surge) -> None:
    whole = window_latency_quantiles(surge, np.array([0]))[:, 0]
    np.testing.assert_array_equal(surge.run_latency_s, whole)
    kpis = simkit.kpis(surge)
    np.testing.assert_array_equal(kpis["latency_p99_s"], whole[:, 2])


def test_instance_loss_minutes_match_the_exact_transient_solver() -> None:
    """c = 16 at 112/s, 8 instances killed at minute 3 for 4 minutes (S3, shortened)."""
    kill = {"kind": "kill_instances", "at_s": 180.0, "duration_s": 240.0, "instances": 8}
    scenario = queue_scenario(16, chaos={"enabled": True, "experiments": [kill]})
    r = simkit.simulate(
        scenario,
        duration="12min",
        step="1s",
        replications=400,
        seed=1,
        trace=per_second_trace(np.full(720, 112.0)),
    )
    servers = r.ready_instances[0].astype(np.int64) * r.scenario.servers_per_instance
    breaks = np.arange(servers.size) * r.period_s
    queue = PiecewiseQueue(breaks, r.rate_rps[0], servers, MU, 200_000, 720.0)
    starts = np.arange(0.0, 720.0, 60.0)
    exact = response_time_quantiles(
        queue, np.vstack([np.column_stack([starts, starts + 60.0]), [[0.0, 720.0]]]), QUANTILES
    )
    per_minute = window_latency_quantiles(r, np.arange(0, 720, 60), pooled=True)[0]
    whole = window_latency_quantiles(r, np.array([0]), pooled=True)[0, 0]
    rel = per_minute[:, 2] / exact[:-1, 2] - 1.0
    assert np.max(np.abs(rel)) < 0.10, rel
    assert np.mean(np.abs(rel[3:10])) < 0.03, rel
    np.testing.assert_allclose(whole, exact[-1], rtol=0.02)


def _random_windows(queued_only: bool = False) -> tuple:
    """Three windows of random M/M/c components (the first ones queued requests)."""
    rng = np.random.default_rng(7)
    n = 200
    c = rng.integers(1, 12, n).astype(np.float64)
    rho = rng.uniform(0.0, 0.98, n)
    queued = np.arange(n) < 30 if not queued_only else np.ones(n, dtype=bool)
    c[queued], rho[queued] = 1.0, 0.0
    shift = rng.uniform(0.0, 0.5, n) + 2.0 * queued
    weight = rng.uniform(0.1, 5.0, n)
    stable, erl_c, theta_mu = queueing._stable_and_theta(c, rho * c * MU, MU)
    start, count = np.array([0, 50, 120]), np.array([50, 70, 80])
    return start, count, (weight, erl_c, theta_mu, stable, shift), (c, rho * c * MU)


def test_compiled_mixture_is_the_numpy_formula() -> None:
    """The compiled loops evaluate queueing's M/M/c formula, compiled from the same
    function; numba's cache does not see edits to queueing.py, so a stale kernel
    fails here."""
    from simkit import window_kernel

    start, count, comp, (c, lam) = _random_windows()
    weight, shift = comp[0], comp[4]
    x0 = np.random.default_rng(1).uniform(0.05, 3.0, (3, 3))
    levels = np.asarray(QUANTILES)
    got = window_kernel.newton_step(x0, start, count, comp, MU, levels)
    for i, (s, n) in enumerate(zip(start, count, strict=True)):
        part = slice(s, s + n)
        w = weight[part] / weight[part].sum()
        t = x0[i][:, None] - shift[part]
        cdf, pdf = queueing.response_time_cdf_pdf(t, c[part], lam[part], MU)
        step = (levels - (w * cdf).sum(axis=1)) / (w * pdf).sum(axis=1)
        np.testing.assert_allclose(got[i], x0[i] + step, rtol=1e-12)


def test_compiled_solves_agree_with_mixture_quantile() -> None:
    from simkit import window_kernel

    levels = np.asarray(QUANTILES)
    for queued_only in (False, True):
        start, count, comp, (c, lam) = _random_windows(queued_only)
        weight, shift = comp[0], comp[4]
        expected = np.array(
            [
                queueing.mixture_quantile(levels, weight[s : s + n], c[s : s + n],
                                          lam[s : s + n], MU, shift[s : s + n])
                for s, n in zip(start, count, strict=True)
            ]
        )  # fmt: skip
        lo, hi = np.zeros((3, 3)), np.full((3, 3), 100.0)
        got = window_kernel.solve(start, count, comp, MU, levels, (lo, hi, lo), 1e-12)
        np.testing.assert_allclose(got, expected, rtol=1e-10)
        if queued_only:
            closed = window_kernel.solve_queued(start, count, weight, shift, MU, levels)
            np.testing.assert_allclose(closed, expected, rtol=1e-10)
