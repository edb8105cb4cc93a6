"""simkit.transient against closed forms and a brute-force dense chain.

Every reference here is computed independently of the module: closed-form M/M/c/K
stationary distributions, simkit.queueing's M/M/c formulas, a Taylor expansion, Erlang
integrals, and dense matrix exponentials (scipy.linalg.expm, or a Taylor
scaling-and-squaring checked against it) of the birth-death chain and of the
tagged-request chain, integrated over arrival instants by Gauss-Legendre.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import integrate, linalg, special

from simkit import queueing
from simkit.errors import SimkitError
from simkit.transient import (
    PiecewiseQueue,
    queue_length_pmf,
    response_time_cdf,
    response_time_means,
    response_time_quantiles,
)

Q3 = np.array([0.5, 0.95, 0.99])


def stationary_mmck(c: int, lam: float, mu: float, cap: int) -> np.ndarray:
    """Closed-form stationary pmf of M/M/c/K (computed in logs)."""
    n = np.arange(cap + 1)
    a = lam / mu
    log_p = np.where(
        n <= c,
        n * math.log(a) - special.gammaln(n + 1),
        c * math.log(a) - special.gammaln(c + 1) + (n - c) * math.log(a / c),
    )
    p = np.exp(log_p - log_p.max())
    return p / p.sum()


# --------------------------------------------------------------------------- stationary


def test_long_horizon_pmf_converges_to_stationary_mmck():
    c, lam, mu, cap = 8, 60.0, 10.0, 120
    q = PiecewiseQueue([0.0], [lam], [c], mu, cap, 120.0)
    p = queue_length_pmf(q, [120.0, 0.0])
    assert p.shape == (2, cap + 1)
    assert p[1, 0] == 1.0  # starts empty
    np.testing.assert_allclose(p[0], stationary_mmck(c, lam, mu, cap), rtol=0, atol=1e-13)


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95, 0.995])
def test_stationary_start_gives_mmc_response_quantiles(rho):
    c, mu = 8, 10.0
    lam = rho * c * mu
    cap = c + math.ceil(math.log(1e-16) / math.log(rho))  # P(n = K) < 1e-16
    init = stationary_mmck(c, lam, mu, cap)
    q = PiecewiseQueue([0.0, 0.7], [lam, lam], [c, c], mu, cap, 1.5, initial_pmf=init)
    got, info = response_time_quantiles(q, [[0.0, 1.5], [0.2, 0.9]], Q3, full_output=True)
    want = queueing.response_time_quantile(Q3, c, lam, mu)
    np.testing.assert_allclose(got, np.vstack([want, want]), rtol=1e-6)
    assert info.blocking.max() < 1e-15
    assert info.truncated_mass < 1e-15
    # The distribution stays stationary under the transient solver.
    p = queue_length_pmf(q, [0.7, 1.5])
    assert np.abs(p - init).sum(axis=1).max() < 1e-12


@pytest.mark.parametrize("rho", [0.5, 0.995])
def test_stationary_start_gives_the_mmc_mean(rho):
    c, mu = 8, 10.0
    lam = rho * c * mu
    cap = c + math.ceil(math.log(1e-16) / math.log(rho))
    init = stationary_mmck(c, lam, mu, cap)
    q = PiecewiseQueue([0.0, 0.7], [lam, lam], [c, c], mu, cap, 1.5, initial_pmf=init)
    got = response_time_means(q, [[0.0, 1.5], [0.2, 0.9]])
    np.testing.assert_allclose(got, queueing.mean_response_time(c, lam, mu), rtol=1e-7)


def test_small_chain_mean_integrates_the_brute_force_survival():
    """Capacity drops and rises during stays: the mean is the survival's integral
    (Gauss-Legendre, 24 nodes on each of six panels up to 40 s, where the
    survival is below 1e-12)."""
    got = response_time_means(SMALL.queue(), [[0.5, 2.5]])[0]
    x, w = np.polynomial.legendre.leggauss(24)
    want = 0.0
    for a, b in itertools.pairwise([0.0, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0]):
        nodes = 0.5 * (b - a) * x + 0.5 * (a + b)
        survival = [1.0 - _brute_cdf(SMALL, 0.5, 2.5, v) for v in nodes]
        want += 0.5 * (b - a) * float(np.dot(w, survival))
    assert got == pytest.approx(want, rel=1e-5)


# --------------------------------------------------------------------------- brute force


@dataclass(frozen=True)
class Spec:
    """The queue as plain data for the brute force (the last c holds after the end)."""

    breaks: np.ndarray
    rates: np.ndarray
    servers: np.ndarray
    mu: float
    cap: int
    horizon: float

    def queue(self) -> PiecewiseQueue:
        return PiecewiseQueue(
            self.breaks, self.rates, self.servers, self.mu, self.cap, self.horizon
        )

    def piece(self, t: float) -> int:
        return int(np.searchsorted(self.breaks, t, side="right") - 1)


#: c <= 3, K <= 12: a rise, a drop, a drop to an outage and a rise, all within stays.
SMALL = Spec(
    breaks=np.array([0.0, 1.0, 2.0, 3.0, 3.5]),
    rates=np.array([4.0, 9.0, 0.0, 6.0, 5.0]),
    servers=np.array([2, 3, 1, 0, 2]),
    mu=2.0,
    cap=11,
    horizon=4.0,
)
#: Stays of many seconds: a backlog builds while 1 of 3 servers is left, then drains.
LONG = Spec(
    breaks=np.array([0.0, 10.0, 20.0]),
    rates=np.array([4.0, 4.0, 4.0]),
    servers=np.array([3, 1, 3]),
    mu=2.0,
    cap=70,
    horizon=30.0,
)


def _bd_generator(spec: Spec, lam: float, c: int) -> np.ndarray:
    k = spec.cap
    g = np.zeros((k + 1, k + 1))
    for n in range(k + 1):
        if n < k:
            g[n, n + 1] = lam
        if n > 0:
            g[n, n - 1] = min(n, c) * spec.mu
        g[n, n] = -g[n].sum()
    return g


def _tagged_generator(spec: Spec, c: int) -> np.ndarray:
    """States j = 0..K-1 (number ahead) and K (done)."""
    k = spec.cap
    g = np.zeros((k + 1, k + 1))
    for j in range(k):
        if j > 0:
            g[j, j - 1] = min(j, c) * spec.mu
        if j < c:
            g[j, k] += spec.mu
        g[j, j] = -g[j].sum()
    return g


def _expm(a: np.ndarray) -> np.ndarray:
    """exp of a stack of small matrices: Taylor (degree 18) with scaling and squaring.

    Matrix products only (no LAPACK solve), so it stays fast when BLAS threads compete
    for cores; checked against scipy.linalg.expm below.
    """
    a = np.asarray(a, dtype=np.float64)
    norm = np.abs(a).sum(axis=-1).max(axis=-1)
    squarings = np.maximum(0, np.ceil(np.log2(np.maximum(norm, 1e-300) / 0.25))).astype(int)
    b = a / (2.0**squarings)[..., None, None]
    term = np.broadcast_to(np.eye(a.shape[-1]), a.shape).copy()
    out = term.copy()
    for k in range(1, 19):
        term = term @ b / k
        out += term
    for r in range(int(squarings.max(initial=0))):
        more = squarings > r
        out[more] = out[more] @ out[more]
    return out


def test_reference_expm_matches_scipy():
    gens = np.array([_bd_generator(SMALL, 9.0, 3) * 1.7, _tagged_generator(SMALL, 2) * 3.1])
    np.testing.assert_allclose(_expm(gens), [linalg.expm(g) for g in gens], rtol=0, atol=1e-13)


def _brute_pmf(spec: Spec, t: float) -> np.ndarray:
    p = np.zeros(spec.cap + 1)
    p[0] = 1.0
    ends = [*spec.breaks[1:], spec.horizon]
    for i, (a, b) in enumerate(zip(spec.breaks, ends, strict=True)):
        if t <= a:
            break
        p = p @ _expm(_bd_generator(spec, spec.rates[i], spec.servers[i]) * (min(t, b) - a))
    return p


def _segments(spec: Spec, t: float, x: float) -> list[tuple[int, float]]:
    """(servers, duration) of the stretches of [t, t + x]."""
    out = []
    s = t
    while s < t + x - 1e-15:
        i = spec.piece(s)
        nxt = spec.breaks[i + 1] if i + 1 < spec.breaks.size else np.inf
        end = min(nxt, t + x)
        out.append((int(spec.servers[i]), end - s))
        s = end
    return out


def _brute_cdf(spec: Spec, a: float, b: float, x: float) -> float:
    """Window CDF: arrival instants by 30-point Gauss-Legendre between all kinks.

    p(t) and P(done by t + x | m ahead at t) from dense matrix exponentials (one batched
    call for all arrival instants).
    """
    cuts = {a, b}
    for tb in spec.breaks[1:]:
        cuts.update(v for v in (tb, tb - x) if a < v < b)
    nodes, weights = np.polynomial.legendre.leggauss(30)
    times, ws = [], []
    for lo, hi in itertools.pairwise(sorted(cuts)):
        times.extend(0.5 * (lo + hi) + 0.5 * (hi - lo) * nodes)
        ws.extend(0.5 * (hi - lo) * weights)
    starts = [_brute_pmf(spec, tb) for tb in spec.breaks]
    mats, plan = [], []
    for t in times:
        i = spec.piece(t)
        segs = _segments(spec, t, x)
        plan.append((i, len(mats), len(segs)))
        mats.append(_bd_generator(spec, spec.rates[i], spec.servers[i]) * (t - spec.breaks[i]))
        mats.extend(_tagged_generator(spec, c) * d for c, d in segs)
    expms = _expm(np.array(mats))
    k = spec.cap
    num = den = 0.0
    for w, (i, first, n_segs) in zip(ws, plan, strict=True):
        p = starts[i] @ expms[first]
        done = np.eye(k + 1)
        for j in range(n_segs):
            done = done @ expms[first + 1 + j]
        num += w * spec.rates[i] * (p[:k] @ done[:k, k])
        den += w * spec.rates[i] * (1.0 - p[k])
    return num / den


def test_small_chain_pmf_matches_dense_expm():
    times = np.array([0.3, 1.0, 1.7, 2.9, 3.25, 4.0])
    got = queue_length_pmf(SMALL.queue(), times)
    want = np.array([_brute_pmf(SMALL, t) for t in times])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)


@pytest.mark.parametrize("window", [(0.5, 2.5), (1.6, 3.2), (0.0, 4.0)])
def test_small_chain_response_cdf_matches_brute_force(window):
    """Drops (3 -> 1 -> 0 servers) and rises (2 -> 3, 0 -> 2) during stays."""
    x = np.array([0.05, 0.3, 0.6, 1.0, 1.6, 2.5])
    got = response_time_cdf(SMALL.queue(), window, x)
    want = np.array([_brute_cdf(SMALL, *window, v) for v in x])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)


def test_small_chain_quantiles_invert_the_brute_force_cdf():
    qs = response_time_quantiles(SMALL.queue(), [[0.5, 2.5]], [0.5, 0.9])[0]
    for level, x in zip([0.5, 0.9], qs, strict=True):
        assert _brute_cdf(SMALL, 0.5, 2.5, x) == pytest.approx(level, abs=1e-8)


@pytest.mark.parametrize("window", [(5.0, 20.0), (9.0, 10.0)])
def test_long_stays_across_a_drop_and_a_rise_match_brute_force(window):
    """Arrivals before the drop, queued through the outage stretch, served after the rise."""
    x = np.array([0.5, 2.0, 6.0, 12.0])
    got = response_time_cdf(LONG.queue(), window, x)
    want = np.array([_brute_cdf(LONG, *window, v) for v in x])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-8)


def test_servers_zero_for_ever_gives_infinite_quantiles():
    q = PiecewiseQueue([0.0, 1.0, 2.0], [3.0, 3.0, 3.0], [2, 1, 0], 2.0, 8, 3.0)
    out = response_time_quantiles(q, [[0.0, 1.0], [2.0, 3.0]], [0.1, 0.99])
    assert np.isfinite(out[0, 0]) and out[0, 0] > 0
    assert np.isinf(out[0, 1]) and np.isinf(out[1]).all()


# --------------------------------------------------------------------------- hand checks


def test_mm1_from_empty_at_small_t():
    lam, mu, t = 5.0, 10.0, 1e-4
    q = PiecewiseQueue([0.0], [lam], [1], mu, 50, 1.0)
    p0 = queue_length_pmf(q, [t])[0, 0]
    # p0 = e_0 exp(Q t) e_0: derivatives -lam, lam^2 + lam mu, -lam (lam^2 + 3 lam mu + mu^2)
    taylor = (
        1.0
        - lam * t
        + (lam**2 + lam * mu) * t**2 / 2.0
        - lam * (lam**2 + 3 * lam * mu + mu**2) * t**3 / 6.0
    )
    assert abs(p0 - taylor) < 1e-12  # the fourth-order term is ~1e-13
    assert abs(p0 - (1.0 - lam * t)) < 1e-6


def test_erlang_waiting_time_for_constant_servers():
    """Arrivals that find n0 >= c wait Erlang(n0 - c + 1, c mu), then take Exp(mu)."""
    c, mu, n0, cap = 3, 2.0, 7, 40
    init = np.zeros(cap + 1)
    init[n0] = 1.0
    q = PiecewiseQueue([0.0], [1.0], [c], mu, cap, 1.0, initial_pmf=init)
    x = np.array([0.5, 1.0, 2.0, 3.5])
    got = response_time_cdf(q, (0.0, 1e-9), x)
    k, rate = n0 - c + 1, c * mu

    def closed(v: float) -> float:
        dens = lambda w: special.gammainc(k, rate * (v - w)) * mu * math.exp(-mu * w)  # noqa: E731
        return integrate.quad(dens, 0.0, v, epsabs=1e-14, epsrel=1e-12)[0]

    np.testing.assert_allclose(got, [closed(v) for v in x], rtol=0, atol=1e-7)


def test_overload_growth_matches_dense_expm():
    """A large backlog far above c (the free-walk convolution path) against expm."""
    lam, c, mu, cap = 50.0, 2, 5.0, 700
    q = PiecewiseQueue([0.0], [lam], [c], mu, cap, 9.0)
    gen = np.zeros((cap + 1, cap + 1))
    n = np.arange(cap + 1)
    gen[n[:-1], n[:-1] + 1] = lam
    gen[n[1:], n[1:] - 1] = np.minimum(n[1:], c) * mu
    gen[n, n] = -gen.sum(axis=1)
    want = np.zeros(cap + 1)
    want[0] = 1.0
    want = want @ linalg.expm(gen * 9.0)
    got = queue_length_pmf(q, [9.0])[0]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- validation

GOOD = dict(
    breaks_s=[0.0, 1.0],
    rate_rps=[1.0, 2.0],
    servers=[1, 2],
    service_rate_rps=1.0,
    capacity=5,
    horizon_s=2.0,
)


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"breaks_s": [0.5, 1.0]}, "breaks_s[0]"),
        ({"breaks_s": [0.0, 0.0]}, "breaks_s[1]"),
        ({"rate_rps": [1.0, -2.0]}, "rate_rps"),
        ({"rate_rps": [1.0]}, "rate_rps"),
        ({"servers": [1, 1.5]}, "servers"),
        ({"servers": [1, -1]}, "servers"),
        ({"service_rate_rps": 0.0}, "service_rate_rps"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": 2.5}, "capacity"),
        ({"horizon_s": 1.0}, "horizon_s"),
        ({"initial_pmf": [1.0, 0.0]}, "initial_pmf"),
        ({"initial_pmf": [0.5] * 6}, "sum(initial_pmf)"),
        ({"rate_rps": [1.0, float("nan")]}, "rate_rps"),
    ],
)
def test_bad_queue_raises_one_line_naming_the_argument(change, name):
    with pytest.raises(SimkitError) as err:
        PiecewiseQueue(**{**GOOD, **change})
    msg = str(err.value)
    assert msg.startswith(name) and "\n" not in msg


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda q: queue_length_pmf(q, [-1.0]), "times_s"),
        (lambda q: queue_length_pmf(q, [3.0]), "times_s"),
        (lambda q: response_time_quantiles(q, [[1.0, 0.5]], [0.5]), "windows_s"),
        (lambda q: response_time_quantiles(q, [[0.0, 3.0]], [0.5]), "windows_s"),
        (lambda q: response_time_quantiles(q, [0.0, 1.0, 2.0], [0.5]), "windows_s"),
        (lambda q: response_time_quantiles(q, [[0.0, 1.0]], [1.5]), "q"),
        (lambda q: response_time_quantiles(q, [[0.0, 1.0]], [0.5], tol=0.1), "tol"),
        (lambda q: response_time_cdf(q, (0.0, 1.0), [-0.1]), "x_s"),
        (lambda q: response_time_cdf("queue", (0.0, 1.0), [0.1]), "queue"),
    ],
)
def test_bad_call_raises_one_line_naming_the_argument(call, name):
    with pytest.raises(SimkitError) as err:
        call(PiecewiseQueue(**GOOD))
    msg = str(err.value)
    assert msg.startswith(name) and "\n" not in msg
