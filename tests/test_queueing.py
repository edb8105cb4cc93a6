"""Tests of simkit.queueing against published values, a Markov chain and a simulation."""

from __future__ import annotations

import heapq

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

from simkit import queueing as qm


def _erlang_b_recursion(c: int, a: np.ndarray | float) -> np.ndarray:
    """Classic stable recursion B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1))."""
    a = np.asarray(a, dtype=np.float64)
    b = np.ones_like(a)
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def _erlang_c_from_b(c: int, a: float, b: float) -> float:
    rho = a / c
    return b / (1.0 - rho + rho * b)


def _sig4(x: float) -> float:
    """Round to 4 significant digits, as printed in tables."""
    return float(f"{float(x):.4g}")


# --------------------------------------------------------------------------- published values


def test_erlang_b_published_table_values():
    # Erlang B (blocked calls cleared) table values as printed in standard teletraffic
    # tables, e.g. the Erlang B table in V. B. Iversen, "Teletraffic Engineering and
    # Network Planning" (DTU / ITU-D handbook): 5 circuits at 2 Erl -> 0.03670 and
    # 10 circuits at 5 Erl -> 0.01838.
    # Hand check of the first one with the recursion B(k) = a B(k-1) / (k + a B(k-1)), a=2:
    # B1 = 2/3, B2 = (4/3)/(2 + 4/3) = 2/5, B3 = (4/5)/(3 + 4/5) = 4/19,
    # B4 = (8/19)/(4 + 8/19) = 2/21, B5 = (4/21)/(5 + 4/21) = 4/109 = 0.0366972...
    assert _sig4(qm.erlang_b(5, 2.0)) == 0.03670
    assert qm.erlang_b(5, 2.0) == pytest.approx(4 / 109, rel=1e-13)
    # 10 circuits, 5 Erl: recursion gives 0.0183846 (checked below by the same recursion).
    assert _sig4(qm.erlang_b(10, 5.0)) == 0.01838
    assert _sig4(_erlang_b_recursion(10, 5.0)) == 0.01838


def test_erlang_c_published_values():
    # (1) Wolfram Language documentation for ErlangC, basic example: ErlangC[3, 2] = 4/9
    #     (3 servers, offered load 2 Erl). By hand: B(3, 2) = 4/19 (see above), rho = 2/3,
    #     C = B / (1 - rho + rho B) = (4/19) / (1/3 + 8/57) = (4/19) / (27/57) = 4/9.
    assert _sig4(qm.erlang_c(3, 2.0, 1.0)) == 0.4444
    assert qm.erlang_c(3, 2.0, 1.0) == pytest.approx(4 / 9, rel=1e-13)
    # (2) Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example":
    #     100 calls per 30 min, average handling time 180 s -> A = 10 Erl, N = 14 agents,
    #     probability a call waits P_w = 0.1741 (the article's average speed of answer is
    #     P_w * AHT / (N - A) = 7.8 s). Cross-checked with the recursion: C = 0.174132.
    lam = 100 / 1800.0  # [1/s]
    mu = 1 / 180.0  # [1/s]
    assert _sig4(qm.erlang_c(14, lam, mu)) == 0.1741
    b = _erlang_b_recursion(14, 10.0)
    assert _sig4(_erlang_c_from_b(14, 10.0, float(b))) == 0.1741
    assert qm.mean_wait(14, lam, mu) == pytest.approx(0.174132 * 180 / 4, rel=1e-5)
    # (3) Closed forms derived in every queueing text (e.g. Gross & Harris, "Fundamentals of
    #     Queueing Theory", sec. 2.2-2.3 / Kleinrock Vol. 1 sec. 3.2, 3.5): M/M/1 has
    #     C = rho and E[T] = 1/(mu - lambda); M/M/2 has C = 2 rho^2 / (1 + rho).
    rho = np.array([0.1, 0.3, 0.5, 0.8, 0.95])
    np.testing.assert_allclose(qm.erlang_c(1, rho, 1.0), rho, rtol=1e-13)
    np.testing.assert_allclose(qm.mean_response_time(1, rho, 1.0), 1 / (1 - rho), rtol=1e-13)
    np.testing.assert_allclose(qm.erlang_c(2, 2 * rho, 1.0), 2 * rho**2 / (1 + rho), rtol=1e-13)
    # M/M/1 response time is Exp(mu - lambda): the q-quantile is -ln(1 - q)/(mu - lambda).
    q = np.array([0.5, 0.95, 0.99])
    np.testing.assert_allclose(
        qm.response_time_quantile(q, 1, 0.5, 1.0), -np.log1p(-q) / 0.5, rtol=1e-10
    )


@pytest.mark.parametrize("c", [1, 2, 7, 50, 333, 1000, 3000])
def test_erlang_b_matches_recursion(c):
    a = np.array([1e-3, 0.1, 0.5 * c, 0.9 * c, c, 1.3 * c, 3.0 * c + 50, 50.0 * c])
    b_ref = _erlang_b_recursion(c, a)
    b = qm.erlang_b(c, a)
    np.testing.assert_allclose(b, b_ref, rtol=1e-9, atol=1e-300)
    stable = a < c
    c_ref = b_ref / (1 - a / c + a / c * b_ref)
    np.testing.assert_allclose(qm.erlang_c(c, a[stable], 1.0), c_ref[stable], rtol=1e-9)
    np.testing.assert_array_equal(qm.erlang_c(c, a[~stable], 1.0), 1.0)


def test_erlang_b_heavy_overload_and_zero_load():
    # gammaincc underflows here; the finite series must take over (B ~ 1 - c/a).
    a = np.array([1e3, 1e6, 4e5])
    c = np.array([1, 7, 100_000])
    ref = np.array([_erlang_b_recursion(int(k), x) for k, x in zip(c, a, strict=True)])
    np.testing.assert_allclose(qm.erlang_b(c, a), ref, rtol=1e-12)
    assert qm.erlang_b(5, 0.0) == 0.0
    assert qm.erlang_c(5, 0.0, 1.0) == 0.0
    assert qm.mean_wait(5, 0.0, 2.0) == 0.0
    assert qm.response_time_quantile(0.5, 5, 0.0, 2.0) == pytest.approx(np.log(2) / 2, rel=1e-12)


# --------------------------------------------------------------------------- Markov chain


def _birth_death_stationary(c: int, lam: float, mu: float, n_max: int) -> np.ndarray:
    """Stationary law of the M/M/c chain truncated at n_max, from its generator."""
    n = np.arange(n_max + 1)
    death = mu * np.minimum(n, c)
    gen = np.zeros((n_max + 1, n_max + 1))
    gen[n[:-1], n[:-1] + 1] = lam
    gen[n[1:], n[1:] - 1] = death[1:]
    gen[n, n] = -gen.sum(axis=1)
    # pi Q = 0 with sum(pi) = 1: replace one balance equation by the normalization.
    a_mat = gen.T.copy()
    a_mat[-1, :] = 1.0
    rhs = np.zeros(n_max + 1)
    rhs[-1] = 1.0
    return np.linalg.solve(a_mat, rhs)


CHAIN_CASES = [(1, 0.3), (1, 0.95), (3, 0.5), (3, 0.9), (20, 0.3), (20, 0.8), (20, 0.95)]


@pytest.mark.parametrize(("c", "rho"), CHAIN_CASES)
def test_against_truncated_markov_chain(c, rho):
    mu = 2.0
    lam = rho * c * mu
    n_max = c + 900  # rho^900 < 1e-20 for rho <= 0.95
    pi = _birth_death_stationary(c, lam, mu, n_max)
    n = np.arange(n_max + 1)
    # PASTA: an arrival sees the stationary law; it waits iff it sees >= c in system.
    p_wait = pi[n >= c].sum()
    lq = np.sum(np.maximum(n - c, 0) * pi)
    assert qm.erlang_c(c, lam, mu) == pytest.approx(p_wait, rel=1e-9)
    assert qm.mean_wait(c, lam, mu) == pytest.approx(lq / lam, rel=1e-9)  # Little's law
    assert qm.mean_response_time(c, lam, mu) == pytest.approx(np.sum(n * pi) / lam, rel=1e-9)

    # Waiting time given n >= c in system: n - c + 1 completions at rate c mu, i.e. an
    # Erlang(n - c + 1, c mu) time; P(Erlang(k, r) > t) = P(Poisson(r t) <= k - 1).
    waiting = n >= c
    k = (n[waiting] - c + 1).astype(float)

    def chain_wait_sf(x: float) -> float:
        return float(np.sum(pi[waiting] * special.gammaincc(k, c * mu * max(x, 0.0))))

    def chain_wait_cdf(x: float) -> float:
        return 0.0 if x < 0 else 1.0 - chain_wait_sf(x)

    # Waiting-time quantiles where the wait is positive: P_chain(W > w_p) must equal p.
    for frac in (0.9, 0.5, 0.1, 0.01):
        p = frac * p_wait
        w_p = qm.wait_time_quantile(1.0 - p, c, lam, mu)
        assert w_p > 0
        assert chain_wait_sf(w_p) == pytest.approx(p, rel=1e-8)

    # Response time = W + S with S ~ Exp(mu) independent: P(T <= t) = E[P(W <= t - S)].
    for t in (0.1, 0.5, 2.0, 5.0):
        resp_cdf, _ = integrate.quad(
            lambda s, t=t: mu * np.exp(-mu * s) * chain_wait_cdf(t - s),
            0.0,
            t,
            epsabs=1e-12,
            epsrel=1e-11,
            limit=200,
        )
        assert qm.response_time_cdf(t, c, lam, mu) == pytest.approx(resp_cdf, abs=1e-9)


# --------------------------------------------------------------------------- simulation


def _simulate_mmc_heapq(arrivals: np.ndarray, services: np.ndarray, c: int) -> np.ndarray:
    """Plain FCFS M/M/c event loop: each arrival, in order, takes the earliest-free server.

    The heap holds the absolute times at which the c servers become free.
    """
    free = [0.0] * c
    resp = []
    for t_a, s in zip(arrivals.tolist(), services.tolist(), strict=True):
        start = max(t_a, free[0])
        heapq.heapreplace(free, start + s)
        resp.append(start + s - t_a)
    return np.asarray(resp)


def _insert_sorted(cols: list[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    """Insert x into the ascending columns ``cols`` (min/max network, whole-array)."""
    out = []
    for col in reversed(cols):
        out.append(np.maximum(col, x))
        x = np.minimum(col, x)
    out.append(x)
    return out[::-1]


def _kiefer_wolfowitz(work: list[np.ndarray], inter: np.ndarray, serv: np.ndarray) -> np.ndarray:
    """Multi-server Lindley (Kiefer-Wolfowitz) recursion, vectorized over replications.

    ``work`` holds, per replication, the residual work of each of the c servers seen by the
    next arrival, ascending. FCFS: the arrival starts on the least-loaded server after
    ``work[0]``, leaves after ``work[0] + S``; the workloads then drain by the next
    interarrival time. ``inter`` and ``serv`` have shape (customers, replications).
    """
    resp = np.empty_like(serv)
    for k in range(serv.shape[0]):
        done = work[0] + serv[k]
        resp[k] = done
        work = [np.maximum(w - inter[k], 0.0) for w in _insert_sorted(work[1:], done)]
    return resp


def _simulate_mmc_stationary(c: int, rho: float, reps: int, steps: int, seed: int) -> np.ndarray:
    """Response times (mu = 1) of ``reps`` independent M/M/c replications of ``steps``
    customers each, every replication started in steady state.

    The initial number in system is drawn from the truncated birth-death chain solved by
    numpy.linalg (independent of simkit); busy servers get Exp(1) residual work
    (memoryless) and queued customers are dealt FCFS onto the earliest-free server. Many
    short stationary replications avoid the warm-up bias and the very long correlation
    time of a single path at rho = 0.95.
    """
    rng = np.random.default_rng(seed)
    pi = np.clip(_birth_death_stationary(c, rho * c, 1.0, c + 1500), 0.0, None)
    n0 = rng.choice(pi.size, size=reps, p=pi / pi.sum())
    busy = np.minimum(n0, c)
    residual = rng.exponential(1.0, (c, reps))
    work = list(np.sort(np.where(np.arange(c)[:, None] < busy, residual, 0.0), axis=0))
    queued = n0 - busy
    for j in range(int(queued.max())):
        extra = np.where(j < queued, rng.exponential(1.0, reps), 0.0)
        work = _insert_sorted(work[1:], work[0] + extra)
    inter = rng.exponential(1.0 / (rho * c), (steps, reps))
    serv = rng.exponential(1.0, (steps, reps))
    return _kiefer_wolfowitz(work, inter, serv).ravel()


def test_vectorized_recursion_matches_event_loop():
    rng = np.random.default_rng(3)
    c, n, reps = 4, 2000, 3
    inter = rng.exponential(1 / 3.6, (n, reps))
    serv = rng.exponential(1.0, (n, reps))
    vec = _kiefer_wolfowitz([np.zeros(reps)] * c, inter, serv)
    for r in range(reps):
        arrivals = np.concatenate([[0.0], np.cumsum(inter[:-1, r])])
        loop = _simulate_mmc_heapq(arrivals, serv[:, r], c)
        np.testing.assert_allclose(vec[:, r], loop, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95])
def test_discrete_event_simulation_quantiles(rho):
    # 50,000 stationary replications x 40 customers = 2e6 response times per rho. Measured
    # over 20 seeds: largest relative error of p50/p95/p99/mean 1.5 %, standard deviation
    # <= 0.63 % (at rho = 0.95), so the 2 % tolerance is > 3 sigma and no seed was picked.
    # A single 200k-customer path from an empty system is far noisier: its p99 was off by
    # up to 33 % at rho = 0.95 (and 6.6 % at rho = 0.8) over 6 seeds.
    c = 4
    resp = _simulate_mmc_stationary(c, rho, reps=50_000, steps=40, seed=20240611)
    q = np.array([0.5, 0.95, 0.99])
    exact = qm.response_time_quantile(q, c, rho * c, 1.0)
    np.testing.assert_allclose(np.quantile(resp, q), exact, rtol=0.02)
    assert resp.mean() == pytest.approx(qm.mean_response_time(c, rho * c, 1.0), rel=0.02)


# --------------------------------------------------------------------------- large c


@pytest.mark.parametrize("rho", [0.99, 0.999])
def test_large_server_count_halfin_whitt(rho):
    c = 100_000
    lam = rho * c
    erl_c = qm.erlang_c(c, lam, 1.0)
    assert np.isfinite(erl_c) and 0.0 < erl_c < 1.0
    # Halfin & Whitt (1981): C -> [1 + beta Phi(beta) / phi(beta)]^-1, beta = (1-rho) sqrt(c).
    beta = (1 - rho) * np.sqrt(c)
    hw = 1.0 / (1.0 + beta * stats.norm.cdf(beta) / stats.norm.pdf(beta))
    assert erl_c == pytest.approx(hw, rel=0.05)
    # Exact check by the recursion (100k steps, stable in double precision).
    b = float(_erlang_b_recursion(c, lam))
    assert erl_c == pytest.approx(_erlang_c_from_b(c, lam, b), rel=1e-8)
    for value in (
        qm.mean_wait(c, lam, 1.0),
        qm.response_time_quantile([0.5, 0.99, 0.999], c, lam, 1.0),
        qm.wait_time_quantile([0.5, 0.999], c, lam, 1.0),
    ):
        assert np.all(np.isfinite(value)) and np.all(np.asarray(value) >= 0)


# --------------------------------------------------------------------------- distribution


def test_response_cdf_equal_and_near_equal_rates():
    # c = 2, lambda = 1, mu = 1 gives c mu - lambda == mu exactly: Erlang-2 limit,
    # P(T > t) = (1 - C) e^{-t} + C e^{-t} (1 + t) with C = 2 rho^2/(1 + rho) = 1/3.
    t = np.array([0.0, 0.1, 1.0, 3.0, 10.0, 50.0])
    c_w = 1.0 / 3.0
    expected = 1.0 - ((1 - c_w) * np.exp(-t) + c_w * np.exp(-t) * (1 + t))
    np.testing.assert_allclose(qm.response_time_cdf(t, 2, 1.0, 1.0), expected, rtol=1e-13, atol=0)
    for eps in (1e-15, 1e-12, 1e-9, -1e-9, -1e-12):
        np.testing.assert_allclose(
            qm.response_time_cdf(t, 2, 1.0 + eps, 1.0), expected, rtol=1e-7, atol=1e-12
        )
    # Well-separated rates against the textbook hypoexponential form.
    c, lam, mu = 4, 3.2, 1.0
    erl_c = float(qm.erlang_c(c, lam, mu))
    theta = c * mu - lam
    sf = (1 - erl_c) * np.exp(-mu * t) + erl_c * (
        mu * np.exp(-theta * t) - theta * np.exp(-mu * t)
    ) / (mu - theta)
    np.testing.assert_allclose(qm.response_time_cdf(t, c, lam, mu), 1 - sf, rtol=1e-12, atol=1e-15)


@settings(max_examples=60, deadline=None, database=None)
@given(
    c=st.integers(1, 5000),
    rho=st.floats(0.0, 0.999),
    mu=st.floats(1e-3, 1e3),
    q=st.floats(1e-6, 1 - 1e-9),
)
def test_quantiles_invert_the_cdfs(c, rho, mu, q):
    lam = rho * c * mu
    t = qm.response_time_quantile(q, c, lam, mu)
    assert np.isfinite(t) and t > 0
    assert qm.response_time_cdf(t, c, lam, mu) == pytest.approx(q, rel=1e-10, abs=1e-13)
    w = qm.wait_time_quantile(q, c, lam, mu)
    erl_c = qm.erlang_c(c, lam, mu)
    if q <= 1 - erl_c:
        assert w == 0.0
    else:
        assert erl_c * np.exp(-(c * mu - lam) * w) == pytest.approx(1 - q, rel=1e-9)


def test_broadcasting_and_scalars():
    c = np.array([1, 4, 16])[:, None]
    rho = np.array([0.1, 0.5, 0.9, 0.99])
    q = np.array([0.5, 0.99])[:, None, None]
    out = qm.response_time_quantile(q, c, rho * c, 2.0)
    assert out.shape == (2, 3, 4)
    assert np.all(np.diff(out, axis=-1) > 0)  # increasing in load
    assert np.all(out[1] > out[0])  # increasing in q
    scalar = qm.erlang_c(4, 2.0, 1.0)
    assert isinstance(scalar, np.floating) and np.ndim(scalar) == 0
    assert qm.response_time_quantile(0.0, 4, 2.0, 1.0) == 0.0
    assert qm.response_time_quantile(1.0, 4, 2.0, 1.0) == np.inf
    assert qm.response_time_cdf(-1.0, 4, 2.0, 1.0) == 0.0
    assert qm.response_time_cdf(np.inf, 4, 2.0, 1.0) == 1.0
    assert qm.wait_time_quantile(0.1, 4, 2.0, 1.0) == 0.0


# --------------------------------------------------------------------------- errors


def test_unstable_queue_gives_inf():
    c = np.array([1, 4, 4, 100_000])
    lam = np.array([1.0, 4.0, 9.0, 1e5])
    assert np.all(qm.erlang_c(c, lam, 1.0) == 1.0)
    for fn in (qm.mean_wait, qm.mean_response_time):
        assert np.all(fn(c, lam, 1.0) == np.inf)
    for fn in (qm.response_time_quantile, qm.wait_time_quantile):
        assert np.all(fn(0.5, c, lam, 1.0) == np.inf)
    assert np.all(qm.response_time_cdf(5.0, c, lam, 1.0) == 0.0)
    # Extreme but finite inputs must not overflow into warnings or NaN.
    assert qm.erlang_c(3, 1e300, 1e-300) == 1.0
    assert qm.erlang_b(3, 1e300) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"servers": 0}, "servers"),
        ({"servers": 2.5}, "servers"),
        ({"servers": np.array([3, -1])}, "servers"),
        ({"servers": float("nan")}, "servers"),
        ({"servers": "four"}, "servers"),
        ({"servers": True}, "servers"),
        ({"arrival_rate": -1.0}, "arrival_rate"),
        ({"arrival_rate": np.inf}, "arrival_rate"),
        ({"service_rate": 0.0}, "service_rate"),
        ({"service_rate": [1.0, np.nan]}, "service_rate"),
        ({"q": 1.5}, "q"),
        ({"q": -0.1}, "q"),
    ],
)
def test_bad_inputs_raise_value_error_naming_argument(kwargs, name):
    args = {"q": 0.5, "servers": 4, "arrival_rate": 2.0, "service_rate": 1.0, **kwargs}
    with pytest.raises(ValueError, match=rf"^{name} = ") as info:
        qm.response_time_quantile(**args)
    assert "\n" not in str(info.value)
    if name != "q":
        args.pop("q")
        with pytest.raises(ValueError, match=rf"^{name} = "):
            qm.erlang_c(**args)


def test_other_bad_inputs():
    with pytest.raises(ValueError, match=r"^offered_load_erlangs = "):
        qm.erlang_b(3, -2.0)
    with pytest.raises(ValueError, match=r"^t_s = "):
        qm.response_time_cdf(np.nan, 3, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"^weights"):
        qm.mixture_quantile(0.5, [0.0, 0.0], 4, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"^shift_s = "):
        qm.mixture_quantile(0.5, [1.0], 4, 1.0, 1.0, shift_s=-1.0)
    with pytest.raises(ValueError, match=r"^max_servers = "):
        qm.build_latency_table(0)
    with pytest.raises(ValueError, match=r"^rho_max = "):
        qm.build_latency_table(10, rho_max=1.0)
    table = qm.build_latency_table(4, n_rho=8)
    with pytest.raises(ValueError, match=r"^rho = "):
        qm.table_lookup(table, 2, np.nan)


# --------------------------------------------------------------------------- lookup table


@pytest.fixture(scope="module")
def table200() -> qm.LatencyTable:
    return qm.build_latency_table(200)


def test_latency_table_layout(table200):
    t = table200
    n_rho = t.rho_grid.size
    assert t.rho_grid[0] == 0.0 and t.rho_grid[-1] == 0.99
    assert np.all(np.diff(t.rho_grid) > 0)
    assert np.all(np.diff(np.diff(t.rho_grid)) < 0)  # denser towards rho_max
    assert t.quantile_mu.shape == (201, n_rho, 3) and t.erlang_c.shape == (201, n_rho)
    assert np.all(np.isfinite(t.quantile_mu[1:])) and np.all(np.isfinite(t.erlang_c[1:]))
    assert not t.quantile_mu.flags.writeable
    # rho = 0: no queueing, pure Exp(mu) service.
    service_only = -np.log1p(-np.array(t.quantiles))
    np.testing.assert_allclose(t.quantile_mu[1:, 0, :], np.tile(service_only, (200, 1)))


def test_latency_table_lookup_error_below_stated_tolerance(table200):
    rng = np.random.default_rng(7)
    servers = rng.integers(1, 201, 4000)
    rho = np.concatenate([rng.uniform(0, 0.99, 3000), 0.99 - rng.exponential(0.01, 1000)])
    rho = np.clip(rho, 0.0, 0.99)
    q_tab, c_tab = qm.table_lookup(table200, servers, rho)
    assert q_tab.shape == (4000, 3) and c_tab.shape == (4000,)
    exact = qm.response_time_quantile(
        np.array(table200.quantiles), servers[:, None], (servers * rho)[:, None], 1.0
    )
    assert np.max(np.abs(q_tab / exact - 1)) < 0.002  # stated in build_latency_table
    np.testing.assert_allclose(c_tab, qm.erlang_c(servers, servers * rho, 1.0), atol=2e-3)
    # On grid nodes the lookup returns the stored values exactly.
    g = table200.rho_grid
    q_nodes, c_nodes = qm.table_lookup(table200, 7, g)
    np.testing.assert_allclose(q_nodes, table200.quantile_mu[7], rtol=1e-12)
    np.testing.assert_allclose(c_nodes, table200.erlang_c[7], rtol=1e-12)


def test_latency_table_lookup_clips(table200):
    q_hi, c_hi = qm.table_lookup(table200, np.array([0, 500, 200]), np.array([-1.0, 2.0, 0.99]))
    np.testing.assert_allclose(q_hi[0], table200.quantile_mu[1, 0])
    np.testing.assert_allclose(q_hi[1], table200.quantile_mu[200, -1])
    np.testing.assert_allclose(q_hi[2], table200.quantile_mu[200, -1])
    q_f, _ = qm.table_lookup(table200, np.array([3.0, 4.0]), np.array([0.5, 0.5]))
    q_i, _ = qm.table_lookup(table200, np.array([3, 4]), np.array([0.5, 0.5]))
    np.testing.assert_array_equal(q_f, q_i)
    assert np.all(np.isfinite(c_hi))


# --------------------------------------------------------------------------- mixtures


def test_mixture_single_component_equals_component_quantile():
    q = np.array([0.5, 0.9, 0.99, 0.999])
    for c, lam, mu in [(1, 0.5, 1.0), (4, 3.8, 1.0), (64, 50.0, 0.9)]:
        mix = qm.mixture_quantile(q, [3.0], c, lam, mu)
        np.testing.assert_allclose(mix, qm.response_time_quantile(q, c, lam, mu), rtol=1e-10)
        shifted = qm.mixture_quantile(q, 1.0, c, lam, mu, shift_s=0.25)
        np.testing.assert_allclose(
            shifted, 0.25 + qm.response_time_quantile(q, c, lam, mu), rtol=1e-10
        )


def test_mixture_of_two_lies_between_and_hits_q():
    q = np.array([0.5, 0.95, 0.99])[:, None]
    weights = np.array([700.0, 300.0])
    servers = np.array([4, 8])
    lam = np.array([2.0, 7.5])
    mu = np.array([1.0, 1.0])
    shift = np.array([0.0, 0.1])
    mix = qm.mixture_quantile(q[:, 0], weights, servers, lam, mu, shift)
    comp = shift + qm.response_time_quantile(q, servers, lam, mu)
    assert np.all(comp.min(axis=1) <= mix) and np.all(mix <= comp.max(axis=1))
    # The mixture CDF, evaluated independently, equals q at the answer.
    cdf = (weights * qm.response_time_cdf(mix[:, None] - shift, servers, lam, mu)).sum(1)
    np.testing.assert_allclose(cdf / weights.sum(), q[:, 0], rtol=1e-9)
    # Batched: leading axes are separate mixtures.
    batch = qm.mixture_quantile(0.99, np.stack([weights, weights[::-1]]), servers, lam, mu)
    assert batch.shape == (2,) and batch[0] != batch[1]


def test_mixture_with_unstable_component():
    # 10 % of requests go to an overloaded queue: the p50 is finite, the p95 is infinite.
    weights = [0.9, 0.1]
    out = qm.mixture_quantile([0.5, 0.95], weights, [4, 1], [2.0, 2.0], [1.0, 1.0])
    assert np.isfinite(out[0]) and out[1] == np.inf
    stable_only = qm.response_time_quantile(0.5 / 0.9, 4, 2.0, 1.0)
    assert out[0] == pytest.approx(stable_only, rel=1e-9)
    # A zero-weight unstable component is ignored.
    ignored = qm.mixture_quantile(0.95, [1.0, 0.0], [4, 1], [2.0, 2.0], 1.0)
    assert ignored == pytest.approx(qm.response_time_quantile(0.95, 4, 2.0, 1.0), rel=1e-10)
