"""The request-level reference (tests/des_reference.py) against hand-built cases and closed
forms: FCFS order and preempted requests resuming first, sample-path invariants of the model
(Ciw engine), and for both the Ciw and the vectorized numpy engine the stationary M/M/c
formulas, an infinite-server transient and the Kolmogorov equations of a small
M(t)/M/c(t)/K queue with a server drop and an overload burst.

Statistical checks compare a closed form with the simulation's confidence interval over
seeds (seeds are the independent units). Where one test compares several numbers, the
intervals are Bonferroni-widened so that the whole test has a 95 % level. Seeds are fixed;
they were not chosen to make the tests pass.
"""

from __future__ import annotations

import functools
import itertools
import math

import ciw
import numpy as np
import pytest
from scipy import linalg, stats

from simkit import queueing
from tests.des_reference import (
    run_ciw,
    run_queue,
    simulate_queue,
    simulate_queues_numpy,
    stationary_mmc_counts,
    window_means,
    window_quantiles,
)

ENGINES = ["ciw", "numpy"]


def _simulate(engine, breaks, rates, servers, mu, capacity, horizon_s, seeds):
    """Per seed (arrival times, response times, number lost) from either engine."""
    if engine == "numpy":
        return simulate_queues_numpy(breaks, rates, servers, mu, capacity, horizon_s, seeds)
    runs = [run_queue(breaks, rates, servers, mu, capacity, horizon_s, s) for s in seeds]
    return [(r.arrival_s, r.response_s, r.lost_s.size) for r in runs]


# --------------------------------------------------------------------------- hand-built cases


class _ArrivalsAt(ciw.dists.Distribution):
    """Arrivals at the given absolute times [s], then none."""

    def __init__(self, times_s: list[float]) -> None:
        self.times_s = list(times_s)
        self.index = 0

    def sample(self, t: float | None = None, ind: object = None) -> float:
        if self.index == len(self.times_s):
            return math.inf
        gap = self.times_s[self.index] - (0.0 if t is None else t)
        self.index += 1
        return gap


class _ServiceById(ciw.dists.Distribution):
    """Service time [s] of the request with Ciw id ``i`` (ids count every arrival)."""

    def __init__(self, by_id: dict[int, float]) -> None:
        self.by_id = dict(by_id)

    def sample(self, t: float | None = None, ind: ciw.Individual | None = None) -> float:
        return self.by_id[ind.id_number]


def _hand_run(breaks, servers, capacity, arrivals, services, fast):
    return run_ciw(
        breaks,
        servers,
        capacity,
        10.0,
        _ArrivalsAt(arrivals),
        _ServiceById(services),
        fast=fast,
    )


@pytest.mark.parametrize("fast", [True, False], ids=["fifo-node", "stock-ciw"])
def test_preempted_request_resumes_before_waiting_ones_at_a_shift_change(fast):
    # A, B, C arrive at 0.1, 0.2, 0.3 and need 10, 4 and 1 s. Two servers until t = 3, one
    # until t = 6, then two. A and B start at once; at t = 3 B (the later one in service)
    # goes back to the head of the queue with 4 - 2.8 = 1.2 s left, ahead of C. At t = 6 the
    # second server returns: B resumes (leaves at 7.2), then C (7.2 -> 8.2); A leaves at
    # 10.1. Had B gone behind C, C would leave at 7.0 and B at 8.2.
    run = _hand_run([0, 3, 6], [2, 1, 2], None, [0.1, 0.2, 0.3], {1: 10, 2: 4, 3: 1}, fast)
    np.testing.assert_allclose(run.arrival_s, [0.1, 0.2, 0.3])
    np.testing.assert_allclose(run.arrival_s + run.response_s, [10.1, 7.2, 8.2])
    assert run.lost_s.size == 0


@pytest.mark.parametrize("fast", [True, False], ids=["fifo-node", "stock-ciw"])
def test_preempted_request_resumes_before_waiting_ones_at_a_departure(fast):
    # As above with A needing 4 s and one server from t = 3 on: B is preempted at t = 3 with
    # 1.2 s left; when A leaves at 4.1 B resumes (leaves at 5.3), then C (5.3 -> 6.3).
    run = _hand_run([0, 3], [2, 1], None, [0.1, 0.2, 0.3], {1: 4, 2: 4, 3: 1}, fast)
    np.testing.assert_allclose(run.arrival_s + run.response_s, [4.1, 5.3, 6.3])


@pytest.mark.parametrize("fast", [True, False], ids=["fifo-node", "stock-ciw"])
def test_fcfs_order_and_capacity_on_a_hand_built_case(fast):
    # One server, at most K = 2 in the system, 1 s each: A (0.1) leaves at 1.1, B (0.2)
    # waits and leaves at 2.1, C (0.3) finds 2 in the system and is lost, D (5.0) leaves at
    # 6.0. A server rise at t = 1.5 (to 2) does not reorder anything.
    run = _hand_run([0, 1.5], [1, 2], 2, [0.1, 0.2, 0.3, 5.0], {1: 1, 2: 1, 3: 99, 4: 1}, fast)
    np.testing.assert_allclose(run.arrival_s, [0.1, 0.2, 5.0])
    np.testing.assert_allclose(run.arrival_s + run.response_s, [1.1, 2.1, 6.0])
    np.testing.assert_allclose(run.lost_s, [0.3])


# --------------------------------------------------------------------------- small transient
# c = 2, mu = 1/s; one server from t = 6 to 10 s; an overload burst (3/s) from 4 to 8 s; at
# most K = 6 requests in the system; arrivals stop at 16 s.

BREAKS_S = np.array([0.0, 4.0, 6.0, 8.0, 10.0])
RATE_RPS = np.array([1.0, 3.0, 3.0, 1.0, 1.0])
SERVERS = np.array([2, 2, 1, 1, 2])
MU = 1.0
K = 6
HORIZON_S = 16.0


def test_fifo_node_gives_the_same_runs_as_stock_ciw():
    for seed in range(5):
        fast = run_queue(BREAKS_S, RATE_RPS, SERVERS, MU, K, HORIZON_S, seed)
        stock = run_queue(BREAKS_S, RATE_RPS, SERVERS, MU, K, HORIZON_S, seed, fast=False)
        np.testing.assert_array_equal(fast.arrival_s, stock.arrival_s)
        np.testing.assert_array_equal(fast.response_s, stock.response_s)
        np.testing.assert_array_equal(fast.lost_s, stock.lost_s)


def _servers_at(t: float) -> int:
    return int(SERVERS[np.searchsorted(BREAKS_S, t, side="right") - 1])


def test_sample_paths_serve_the_first_min_n_c_in_line_and_resume_service():
    """Along whole sample paths: who is in service, service resumed, nobody over K."""
    preempted = 0
    for seed in range(40):
        run = run_queue(BREAKS_S, RATE_RPS, SERVERS, MU, K, HORIZON_S, seed, trace=True)
        segments: dict[int, list[tuple[float, float]]] = {}
        first_draw: dict[int, float] = {}
        arrival: dict[int, float] = {}
        departure: dict[int, float] = {}
        for r in run.records:
            if r.record_type == "rejection":
                continue
            arrival[r.id_number] = r.arrival_date
            segments.setdefault(r.id_number, []).append((r.service_start_date, r.exit_date))
            if r.record_type == "interrupted service":
                first_draw.setdefault(r.id_number, r.service_time)
            else:
                departure[r.id_number] = r.exit_date
        assert set(departure) == set(arrival)
        # preemptive resume: the service segments add up to the first drawn service time
        for ident, drawn in first_draw.items():
            total = sum(end - start for start, end in segments[ident])
            assert total == pytest.approx(drawn, rel=1e-12, abs=1e-12)
            # Ciw interrupts everyone in service at each shift change; a request sent back
            # to the queue has a gap between two of its service segments
            segs = sorted(segments[ident])
            preempted += any(b[0] > a[1] for a, b in itertools.pairwise(segs))

        events = sorted(
            {0.0, *BREAKS_S, *arrival.values(), *departure.values()}
            | {t for segs in segments.values() for seg in segs for t in seg}
        )
        ids = sorted(arrival, key=arrival.get)
        for t0, t1 in itertools.pairwise(events):
            t = 0.5 * (t0 + t1)
            present = [i for i in ids if arrival[i] <= t < departure[i]]
            serving = {i for i in present for s, e in segments[i] if s <= t < e}
            assert len(present) <= K
            assert serving == set(present[: min(len(present), _servers_at(t))])
        for lost in run.lost_s:  # a lost arrival found K requests in the system
            present = [i for i in ids if arrival[i] < lost < departure[i]]
            assert len(present) == K
    assert preempted >= 10  # the server drop did send requests back to the queue


def _generator_n(rate: float, c: int) -> np.ndarray:
    """Birth-death generator of the number in system 0..K."""
    q = np.zeros((K + 1, K + 1))
    for n in range(K + 1):
        if n < K:
            q[n, n + 1] = rate
        if n > 0:
            q[n, n - 1] = MU * min(n, c)
        q[n, n] = -q[n].sum()
    return q


def _generator_tagged(c: int) -> np.ndarray:
    """A tagged request's place in line k = 1..K (state 0: it has left).

    Only the k - 1 requests ahead matter under FCFS with preempted requests going back to
    the head: at k <= c it is in service (leaves at rate mu) and so are those ahead (k drops
    at rate (k - 1) mu); at k > c the c requests in service are all ahead (k drops at c mu).
    """
    q = np.zeros((K + 1, K + 1))
    for k in range(1, K + 1):
        if k <= c:
            q[k, 0] = MU
            if k > 1:
                q[k, k - 1] = MU * (k - 1)
        else:
            q[k, k - 1] = MU * c
        q[k, k] = -q[k].sum()
    return q


def _on_grid(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    return values[np.searchsorted(BREAKS_S, times, side="right") - 1]


@functools.cache
def _kolmogorov(dt: float, x_max_s: float):
    """Exact answers by the forward equations on a grid of step ``dt``.

    Returns the grid midpoints t (arrival times), P(n(t) = n) there, and ``done[i, j]``, the
    probability that the arrival at ``mids[i]`` is accepted and has left by ``mids[i] + x``
    for ``x = (j + 1/2) dt``, ``j < x_max_s / dt``.
    """
    steps = round((HORIZON_S + x_max_s) / dt)
    n_arrivals, n_x = round(HORIZON_S / dt), round(x_max_s / dt) + 1
    mids = (np.arange(steps) + 0.5) * dt
    servers, rates = _on_grid(SERVERS, mids), _on_grid(RATE_RPS, mids)
    pairs = set(zip(rates[:n_arrivals], servers[:n_arrivals], strict=True))
    n_steps = {(r, c): linalg.expm(_generator_n(r, c) * dt) for r, c in pairs}
    n_half = {(r, c): linalg.expm(_generator_n(r, c) * dt / 2) for r, c in pairs}
    t_steps = {c: linalg.expm(_generator_tagged(c) * dt) for c in set(servers)}
    t_half = {c: linalg.expm(_generator_tagged(c) * dt / 2) for c in set(servers)}
    p = np.zeros(K + 1)
    p[0] = 1.0
    p_mid = np.zeros((n_arrivals, K + 1))
    tagged = np.zeros((n_arrivals, K + 1))  # row r: the arrival at mids[r], at time t_{i+1}
    done = np.zeros((n_arrivals, n_x))
    for i in range(steps):
        first, started = max(0, i - n_x + 1), min(i, n_arrivals)  # rows still followed
        tagged[first:started] = tagged[first:started] @ t_steps[servers[i]]
        if i < n_arrivals:
            key = (rates[i], servers[i])
            p_mid[i] = p @ n_half[key]
            p = p @ n_steps[key]
            # the arrival at mids[i] takes place n + 1 behind the n it sees (PASTA), then
            # half a step to the grid
            tagged[i, 1:] = p_mid[i, :K]
            tagged[i] = tagged[i] @ t_half[servers[i]]
            started += 1
        rows = np.arange(first, started)
        done[rows, i - rows] = tagged[rows, 0]  # row r is now at x = (i - r + 1/2) dt
    return mids[:n_arrivals], p_mid, done


def _mean_number(times_s: np.ndarray) -> np.ndarray:
    out = []
    for t in times_s:
        p = np.zeros(K + 1)
        p[0] = 1.0
        edges = [*BREAKS_S[: np.searchsorted(BREAKS_S, t)], t]
        for start, end in itertools.pairwise(edges):
            i = np.searchsorted(BREAKS_S, start, side="right") - 1
            p = p @ linalg.expm(_generator_n(RATE_RPS[i], SERVERS[i]) * (end - start))
        out.append(p @ np.arange(K + 1))
    return np.array(out)


@pytest.fixture(scope="module", params=ENGINES)
def transient_runs(request):
    seeds = np.random.SeedSequence(20_261_127).spawn(400)
    return _simulate(request.param, BREAKS_S, RATE_RPS, SERVERS, MU, K, HORIZON_S, seeds)


def _z(level: float, comparisons: int) -> float:
    return float(stats.norm.ppf(1 - (1 - level) / (2 * comparisons)))


def test_number_in_system_and_losses_follow_the_forward_equations(transient_runs):
    times = np.array([2.0, 5.0, 7.0, 9.0, 11.0, 15.0])
    expected = _mean_number(times)
    counts = np.array(
        [[np.sum(a <= t) - np.sum(a + r <= t) for t in times] for a, r, _ in transient_runs]
    )
    z = _z(0.95, times.size + 1)
    half_width = z * counts.std(axis=0, ddof=1) / math.sqrt(len(transient_runs))
    assert np.all(np.abs(counts.mean(axis=0) - expected) <= half_width), (
        counts.mean(axis=0),
        expected,
        half_width,
    )
    # expected losses: int lambda(t) P(n(t) = K) dt (arrivals see time averages, PASTA)
    dt = 0.02
    mids, p_mid, _ = _kolmogorov(dt, 0.0)
    expected_lost = float(np.sum(_on_grid(RATE_RPS, mids) * p_mid[:, K]) * dt)
    lost = np.array([r[2] for r in transient_runs], dtype=np.float64)
    half_lost = z * lost.std(ddof=1) / math.sqrt(lost.size)
    assert expected_lost > 0.3  # the burst with one server does fill the line
    assert abs(lost.mean() - expected_lost) <= half_lost, (lost.mean(), expected_lost)


def test_response_times_per_window_follow_the_tagged_request_chain(transient_runs):
    """P(T <= 2 s) and p50/p90 of the responses of arrivals in each 4 s window."""
    dt, x_max = 0.02, 30.0
    mids, p_mid, done = _kolmogorov(dt, x_max)
    weight = _on_grid(RATE_RPS, mids) * (1.0 - p_mid[:, K])  # accepted arrivals
    edges = np.array([0.0, 4.0, 8.0, 12.0, 16.0])
    window = np.searchsorted(edges, mids, side="right") - 1
    xs = np.arange(done.shape[1]) * dt
    # done[:, j] is at x = (j + 1/2) dt
    cdf = np.array(
        [
            (_on_grid(RATE_RPS, mids[window == w]) * 1.0)
            @ done[window == w]
            / weight[window == w].sum()
            for w in range(edges.size - 1)
        ]
    )
    cdf_x = xs + 0.5 * dt
    assert np.all(cdf[:, -1] > 1 - 1e-6)

    arrivals = [r[0] for r in transient_runs]
    responses = [r[1] for r in transient_runs]
    levels = np.array([0.5, 0.9])
    comparisons = (edges.size - 1) * (levels.size + 1)
    level = 1 - 0.05 / comparisons
    got = window_quantiles(arrivals, responses, edges, levels, level=level, n_boot=2000)
    expected_q = np.array([[np.interp(q, row, cdf_x) for q in levels] for row in cdf])
    inside = (got.low <= expected_q) & (expected_q <= got.high)
    assert inside.all(), (got.estimate, got.low, got.high, expected_q)

    within_2s = [(r <= 2.0).astype(np.float64) for r in responses]
    frac = window_means(arrivals, within_2s, edges, level=level, n_boot=2000)
    expected_frac = np.array([np.interp(2.0, cdf_x, row) for row in cdf])
    assert np.all((frac.low <= expected_frac) & (expected_frac <= frac.high)), (
        frac.estimate,
        expected_frac,
    )


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("engine", ENGINES)
def test_stationary_mmc_mean_and_quantiles_fall_in_the_interval(engine):
    # M/M/2 at rho = 0.7 (lambda = 1.4/s, mu = 1/s): 200 runs of 700 s from empty, responses
    # of arrivals after a 100 s warm-up (relaxation time ~ 1 / (c mu (1 - sqrt(rho))^2) ~ 19 s)
    c, lam, mu, warm_s, horizon_s = 2, 1.4, 1.0, 100.0, 700.0
    seeds = np.random.SeedSequence(7).spawn(200)
    runs = _simulate(engine, [0.0], [lam], [c], mu, None, horizon_s, seeds)
    arrivals, responses, _ = zip(*runs, strict=True)
    edges = [warm_s, horizon_s]
    level = 1 - 0.05 / 3
    mean = window_means(arrivals, responses, edges, level=level)
    levels = [0.5, 0.99]
    quantiles = window_quantiles(arrivals, responses, edges, levels, level=level)
    expected_mean = float(queueing.mean_response_time(c, lam, mu))  # 1/(mu (1 - rho^2)) = 1.96
    expected_q = queueing.response_time_quantile(levels, c, lam, mu)
    assert expected_mean == pytest.approx(1.0 / (1.0 - 0.49))
    assert mean.low[0] <= expected_mean <= mean.high[0], (mean.estimate, expected_mean)
    assert np.all((quantiles.low[0] <= expected_q) & (expected_q <= quantiles.high[0])), (
        quantiles.estimate,
        quantiles.low,
        quantiles.high,
        expected_q,
    )


def test_numpy_engine_from_the_stationary_state_needs_no_warm_up():
    """M/M/8 at rho = 0.98 (relaxation ~ 2,000 s): 30 s runs from a stationary start give
    the stationary mean and p95 (from empty they would be far too low)."""
    c, lam, mu, horizon_s = 8, 78.4, 10.0, 30.0
    seeds = np.random.SeedSequence(5).spawn(200)
    start = stationary_mmc_counts(c, lam, mu, len(seeds), np.random.default_rng(9))
    runs = simulate_queues_numpy([0.0], [lam], [c], mu, None, horizon_s, seeds, start)
    arrivals, responses, _ = zip(*runs, strict=True)
    level = 1 - 0.05 / 2
    mean = window_means(arrivals, responses, [0.0, horizon_s], level=level, interval="normal")
    p95 = window_quantiles(arrivals, responses, [0.0, horizon_s], [0.95], level=level)
    assert mean.low[0] <= queueing.mean_response_time(c, lam, mu) <= mean.high[0]
    want = queueing.response_time_quantile(0.95, c, lam, mu)
    assert p95.low[0, 0] <= want <= p95.high[0, 0], (p95.estimate, want)
    empty = simulate_queues_numpy([0.0], [lam], [c], mu, None, horizon_s, seeds)
    e_arr, e_resp, _ = zip(*empty, strict=True)
    from_empty = window_means(e_arr, e_resp, [0.0, horizon_s], level=level)
    assert from_empty.high[0] < mean.low[0]


@pytest.mark.parametrize("engine", ENGINES)
def test_infinite_server_transient_from_empty(engine):
    # c = 40 >> load: M(t)/M/inf from empty. m' = lambda(t) - mu m, so on each piece
    # m(t) = m(b) e^{-mu (t - b)} + lambda/mu (1 - e^{-mu (t - b)}); responses are Exp(mu).
    breaks, rates, mu, horizon_s = [0.0, 3.0, 5.0], [4.0, 12.0, 4.0], 1.0, 10.0
    seeds = np.random.SeedSequence(11).spawn(400)
    runs = _simulate(engine, breaks, rates, [40, 40, 40], mu, None, horizon_s, seeds)

    def mean_number(t: float) -> float:
        m, ends = 0.0, [*breaks[1:], math.inf]
        for start, end, rate in zip(breaks, ends, rates, strict=True):
            span = min(t, end) - start
            if span <= 0:
                break
            m = m * math.exp(-mu * span) + rate / mu * (1 - math.exp(-mu * span))
        return m

    times = np.array([0.5, 1.0, 2.5, 4.0, 5.0, 7.0, 9.5])
    counts = np.array(
        [[np.sum(a <= t) - np.sum(a + r <= t) for t in times] for a, r, _ in runs],
        dtype=np.float64,
    )
    expected = np.array([mean_number(t) for t in times])
    z = _z(0.95, times.size + 2)
    half_width = z * counts.std(axis=0, ddof=1) / math.sqrt(len(runs))
    assert np.all(np.abs(counts.mean(axis=0) - expected) <= half_width), (
        counts.mean(axis=0),
        expected,
    )
    arrivals, responses, _ = zip(*runs, strict=True)
    level = 1 - 0.05 / (times.size + 2)
    mean = window_means(arrivals, responses, [0.0, horizon_s], level=level)
    p99 = window_quantiles(arrivals, responses, [0.0, horizon_s], 0.99, level=level)
    assert mean.low[0] <= 1.0 / mu <= mean.high[0], mean.estimate
    assert p99.low[0, 0] <= math.log(100) / mu <= p99.high[0, 0], p99.estimate


# --------------------------------------------------------------------------- helpers


def test_window_quantiles_match_numpy_and_a_brute_force_bootstrap():
    rng = np.random.default_rng(3)
    arrivals = [np.sort(rng.uniform(0, 10, size=n)) for n in rng.integers(20, 60, size=12)]
    responses = [rng.exponential(1.0 + s % 3, size=a.size) for s, a in enumerate(arrivals)]
    edges = np.array([0.0, 5.0, 10.0])
    got = window_quantiles(arrivals, responses, edges, [0.5, 0.9], n_boot=300, seed=5)
    weights = np.random.default_rng(5).multinomial(12, np.full(12, 1 / 12), size=300)
    for w in range(2):
        per_seed = [
            r[(a >= edges[w]) & (a < edges[w + 1])]
            for a, r in zip(arrivals, responses, strict=True)
        ]
        pooled = np.concatenate(per_seed)
        assert got.count[w] == pooled.size
        np.testing.assert_allclose(
            got.estimate[w], np.quantile(pooled, [0.5, 0.9], method="inverted_cdf")
        )
        boot = np.array(
            [
                np.quantile(
                    np.concatenate([np.repeat(v, k) for v, k in zip(per_seed, row, strict=True)]),
                    [0.5, 0.9],
                    method="inverted_cdf",
                )
                for row in weights
            ]
        )
        np.testing.assert_allclose(got.low[w], np.quantile(boot, 0.025, axis=0))
        np.testing.assert_allclose(got.high[w], np.quantile(boot, 0.975, axis=0))


def test_piecewise_poisson_counts_per_piece():
    # a zero-rate piece gets no arrival; the others get rate * length on average
    breaks, rates = [0.0, 2.0, 3.0, 7.0], [5.0, 0.0, 2.0, 10.0]
    seeds = np.random.SeedSequence(5).spawn(300)
    counts = np.array(
        [
            np.histogram(
                simulate_queue(breaks, rates, [30] * 4, 1.0, None, 9.0, s)[0], bins=[0, 2, 3, 7, 9]
            )[0]
            for s in seeds
        ]
    )
    assert counts[:, 1].sum() == 0
    expected = np.array([10.0, 0.0, 8.0, 20.0])
    # Poisson counts: the variance equals the mean
    z = _z(0.95, 3)
    for j in (0, 2, 3):
        assert abs(counts[:, j].mean() - expected[j]) <= z * math.sqrt(expected[j] / 300)


def test_seeds_are_reproducible_and_independent():
    a = simulate_queue([0.0], [3.0], [2], 1.0, None, 50.0, 1)
    b = simulate_queue([0.0], [3.0], [2], 1.0, None, 50.0, 1)
    c = simulate_queue([0.0], [3.0], [2], 1.0, None, 50.0, 2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[0].size != c[0].size or not np.array_equal(a[0], c[0])


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="breaks_s"):
        simulate_queue([1.0], [1.0], [1], 1.0, None, 5.0, 0)
    with pytest.raises(ValueError, match="last server count"):
        simulate_queue([0.0, 1.0], [1.0, 1.0], [1, 0], 1.0, None, 5.0, 0)
    with pytest.raises(ValueError, match="capacity"):
        simulate_queue([0.0], [1.0], [1], 1.0, 0, 5.0, 0)


def test_numpy_engine_seeds_do_not_depend_on_the_batch():
    seeds = np.random.SeedSequence(3).spawn(3)
    together = simulate_queues_numpy(BREAKS_S, RATE_RPS, SERVERS, MU, K, HORIZON_S, seeds)
    alone = simulate_queues_numpy(BREAKS_S, RATE_RPS, SERVERS, MU, K, HORIZON_S, seeds[2:])
    for got, expected in zip(alone[0], together[2], strict=True):
        np.testing.assert_array_equal(got, expected)


def test_numpy_engine_line_grows_and_stays_fcfs():
    # 100/s into one server at 50/s for 90 s: ~4500 waiting, past the first 4096-place ring
    # buffer. With one server FCFS, departures come in arrival order, 1/50 s apart on average
    # while busy.
    ((arrival, response, lost),) = simulate_queues_numpy(
        [0.0], [100.0], [1], 50.0, None, 90.0, [np.random.SeedSequence(9)]
    )
    departure = arrival + response
    assert lost == 0 and arrival.size > 8500
    assert np.all(np.diff(departure) > 0)
    busy_gaps = np.diff(departure)[arrival[1:] < departure[:-1]]
    assert busy_gaps.mean() == pytest.approx(1 / 50, rel=0.05)
