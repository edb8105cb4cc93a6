"""Exact transient solution of the M(t)/M/c(t)/K queue and its response-time quantiles.

Model
-----
* Time is split into pieces ``[breaks_s[i], breaks_s[i + 1])`` (the last piece ends at
  ``horizon_s``); on piece ``i`` requests arrive as a Poisson process of rate
  ``rate_rps[i]`` = lambda [1/s] and ``servers[i]`` = c servers (an integer >= 0; 0 is an
  outage) work, each at exponential rate ``service_rate_rps`` = mu [1/s].  After the
  horizon the last piece's ``servers`` stays in force (requests still in the system then
  finish under it).
* One FCFS line, at most ``capacity`` = K requests in the system: an arrival that finds K
  is lost (blocked) and is excluded from the response times.  The system starts empty at
  t = 0, or from a given distribution ``initial_pmf``.
* Servers always serve the first ``min(n, c(t))`` requests in line.  When c drops below
  the number in service, the excess requests go back to the head of the queue in FCFS
  order (preemptive resume, which for exponential service is the same as restart).  The
  number in system n(t) is therefore a birth-death chain with birth rate
  ``lambda(t) 1[n < K]`` and death rate ``min(n, c(t)) mu``.
* Response time of a tagged arrival at t that finds m < K requests (PASTA: m ~ p(t)):
  the number ahead of it, j, falls at rate ``min(j, c(s)) mu``; the tagged request is in
  service iff ``j < c(s)`` and then completes at rate mu.  Requests behind it never
  matter.  This absorbing chain depends on c(s) only, and covers capacity changes during
  a request's stay (a drop preempts it, a rise starts it at once).

Method (exact up to explicit tolerances; no sampling, no time stepping)
----------------------------------------------------------------------
* Queue-length distribution p(t): uniformization on every piece, in calls of at most
  ``_NU_MAX`` expected events.  A call works on the states that Bernstein bounds on the
  numbers of arrivals and departures say are reachable with probability above 1e-20,
  plus two sink states that collect what leaves them (the truncation loss); the Poisson
  series is cut where its tail is below 1e-20.  Three exact evaluations of the same
  series: (a) Horner form with a banded power of the uniformized matrix; (b) states so
  far above c that they cannot reach it within the call (and cannot reach K) move as a
  free random walk, i.e. a convolution with the walk's kernel, computed once per
  (lambda, c, h) by (a) (exact sums, no FFT); (c) a call that recurs many times (a long
  piece) uses a dense propagator built once by uniformization over a tiny step and
  doubling.  The same series gives the exact time integral of p over each piece, hence
  the arrival-weighted distribution ``A_w(m) = int_w lambda(t) p_m(t) dt`` seen by a
  window's arrivals.  After each call the outermost states holding less than 1e-20 in
  total are dropped; everything dropped or absorbed by the sinks is reported
  (``SolveInfo.truncated_mass``); totals are reset to their exact values after each
  call, so rounding does not drift.
* While c is constant, a request that finds m ahead has response time
  ``Erlang(m - c + 1, c mu) + Exp(mu)`` (just ``Exp(mu)`` when m < c).  Its CDF is
  ``G_n(y) = sum_{k >= n} pi_k(c mu y) (1 - r^(k - n))`` with ``n = max(m - c + 1, 0)``,
  ``r = 1 - 1/c`` and ``pi`` the Poisson pmf (density ``mu sum_{k >= n} pi_k r^(k-n)``):
  sums of positive, bounded terms, with a saddle-point Poisson pmf (relative error
  below ~1e-13 up to means of 1e5) and a backward recursion.  A window's response-time
  CDF is ``sum_m A_w(m) G_m(x)`` - no quadrature over arrival instants.
* Capacity changes: with ``tau_l`` the instants where c changes, the exact CDF is that
  constant-c term plus, for every later change l,
  ``int lambda(t) psi_l(t) . (G^{c_l} - G^{c_{l-1}})(t + x - tau_l) dt`` over the
  arrivals with ``t + x >= tau_l``, where ``psi_l(t)`` is the distribution (over the
  number ahead) at ``tau_l`` of an arrival at t that is still in the system
  (telescoping over the changes).  ``psi_l`` is propagated exactly (uniformization of
  the tagged chain at rate c mu: a Poisson shift of the waiting states plus a c-state
  service block), sampled on adaptive Chebyshev panels (33 points) of arrival time until
  the Chebyshev tail is below ``0.1 tol lambda``; arrivals of which fewer than 1e-13
  are still present at the change are dropped.  The arrival-time integral is adaptive
  Gauss-Kronrod (10/21 points) to ``0.1 tol lambda`` per second.
* Quantiles: safeguarded Newton (the density comes with the CDF) with bisection
  fallback on the mixture CDF, to 1e-10 relative.

Every public function is pure (arrays in, arrays out).  Bad input raises
:class:`simkit.errors.SimkitError` with one line naming the argument, the value and what
is allowed.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import fft, signal, sparse, special

from simkit.errors import SimkitError

__all__ = [
    "PiecewiseQueue",
    "SolveInfo",
    "queue_length_pmf",
    "response_time_cdf",
    "response_time_means",
    "response_time_quantiles",
]

FloatArray = NDArray[np.float64]

# Poisson tails below exp(-_LOG_EPS) ~ 1e-20 are cut (uniformization series, reachable
# states, Erlang sums).
_LOG_EPS = 46.0
# Mass dropped at each end of a distribution after each uniformization call.
_TRIM = 1e-20
# Largest number of expected Poisson events per uniformization call (checkpoint spacing).
_NU_MAX = 256.0
# Horner block: powers of the uniformized matrix applied at once.
_HORNER_BLOCK = 16
# Fewest states high enough to be moved by the free-walk kernel instead.
_SPLIT_MIN = 64
# Dense propagators for calls that recur at least this often, on at most this many
# states (window = reachable states plus a slack each side), rebuilt at most this often.
_DENSE_MIN_CALLS = 64
_DENSE_MAX = 1200
_DENSE_SLACK = 96
_DENSE_MAX_BUILDS = 4
# Chebyshev points per arrival-time panel, deepest panel bisection.
_CHEB_N = 33
_MAX_DEPTH = 40
# Arrivals still present with probability below this (relative to lambda) are dropped.
_PRUNE = 1e-13
_DEFAULT_TOL = 1e-10
_ROOT_RTOL = 1e-10
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)

# Gauss-Kronrod 10/21 nodes and weights on [-1, 1] (QUADPACK qk21), non-negative half.
_XGK = np.array(
    [
        0.995657163025808080735527280689003,
        0.973906528517171720077964012084452,
        0.930157491355708226001207180059508,
        0.865063366688984510732096688423493,
        0.780817726586416897063717578345042,
        0.679409568299024406234327365114874,
        0.562757134668604683339000099272694,
        0.433395394129247190799265943165784,
        0.294392862701460198131126603103866,
        0.148874338981631210884826001129720,
        0.0,
    ]
)
_WGK = np.array(
    [
        0.011694638867371874278064396062192,
        0.032558162307964727478818972459390,
        0.054755896574351996031381300244580,
        0.075039674810919952767043140916190,
        0.093125454583697605535065465083366,
        0.109387158802297641899210590325805,
        0.123491976262065851077208292233734,
        0.134709217311473325928054001771707,
        0.142775938577060080797094273138717,
        0.147739104901338491374841515972068,
        0.149445554002916905664936468389821,
    ]
)
_WG = np.array(
    [
        0.066671344308688137593568809893332,
        0.149451349150580593145776339657697,
        0.219086362515982043995534934228163,
        0.269266719309996355091226921569469,
        0.295524224714752870173892994651146,
    ]
)
# All 21 nodes in increasing order, their Kronrod weights and the 10-point Gauss weights.
_GK_X = np.concatenate([-_XGK[:-1], _XGK[::-1]])
_GK_WK = np.concatenate([_WGK[:-1], _WGK[::-1]])
_GK_WG = np.zeros(21)
_GK_WG[1:10:2] = _WG
_GK_WG[11:20:2] = _WG[::-1]


# --------------------------------------------------------------------------- the queue


def _fail(name: str, value: object, allowed: str) -> SimkitError:
    return SimkitError(f"{name} = {value!r} is invalid; must be {allowed}")


def _real_array(name: str, value: ArrayLike, allowed: str) -> FloatArray:
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):
        raise _fail(name, value, allowed) from None
    if raw.dtype == np.bool_ or raw.dtype.kind not in "iuf":
        shown = raw.flat[0].item() if raw.size else value
        raise SimkitError(f"{name} = {shown!r} is not a real number; must be {allowed}")
    arr = raw.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise _fail(name, arr[bad].flat[0].item(), allowed)
    return arr


def _first_bad(name: str, arr: np.ndarray, ok: np.ndarray, allowed: str) -> None:
    if not np.all(ok):
        raise _fail(name, arr[~ok].flat[0].item(), allowed)


def _int_scalar(name: str, value: object, low: int) -> int:
    allowed = f"an integer >= {low}"
    if isinstance(value, bool) or not isinstance(value, int | np.integer | float | np.floating):
        raise _fail(name, value, allowed)
    if not math.isfinite(float(value)) or float(value) != math.floor(float(value)):
        raise _fail(name, value, allowed)
    if int(value) < low:
        raise _fail(name, value, allowed)
    return int(value)


def _pos_scalar(name: str, value: object) -> float:
    allowed = "a finite number > 0"
    if isinstance(value, bool) or not isinstance(value, int | np.integer | float | np.floating):
        raise _fail(name, value, allowed)
    x = float(value)
    if not math.isfinite(x) or x <= 0:
        raise _fail(name, value, allowed)
    return x


@dataclass(frozen=True, eq=False)
class PiecewiseQueue:
    """An M(t)/M/c(t)/K queue with piecewise-constant arrival rate and server count.

    Attributes
    ----------
    breaks_s : numpy.ndarray
        Start time of every piece [s], shape ``(P,)``; ``breaks_s[0] == 0``, strictly
        increasing, all below ``horizon_s``.
    rate_rps : numpy.ndarray
        Poisson arrival rate on each piece [1/s], shape ``(P,)``, finite and >= 0.
    servers : numpy.ndarray
        Number of servers on each piece [-], shape ``(P,)``, integers >= 0 (0: outage).
        The last value also holds after the horizon.
    service_rate_rps : float
        Exponential service rate of one server, mu [1/s], > 0.
    capacity : int
        Most requests in the system, K [-], >= 1; arrivals finding K are blocked.
    horizon_s : float
        End of the last piece [s], > ``breaks_s[-1]``.
    initial_pmf : numpy.ndarray or None
        Distribution of the number in system at t = 0, shape ``(K + 1,)``, >= 0, sum 1;
        ``None`` (default) starts empty.

    All arrays are converted to read-only float64/int64 copies when the object is built.
    """

    breaks_s: FloatArray
    rate_rps: FloatArray
    servers: NDArray[np.int64]
    service_rate_rps: float
    capacity: int
    horizon_s: float
    initial_pmf: FloatArray | None = field(default=None)

    def __post_init__(self) -> None:
        breaks = _real_array("breaks_s", self.breaks_s, "finite times in seconds")
        if breaks.ndim != 1 or breaks.size == 0:
            raise SimkitError(
                f"breaks_s has shape {breaks.shape}; must be a non-empty 1-D array of times"
            )
        if breaks[0] != 0.0:
            raise _fail("breaks_s[0]", breaks[0].item(), "0 (the first piece starts at t = 0)")
        steps = np.diff(breaks)
        if breaks.size > 1 and not np.all(steps > 0):
            i = int(np.flatnonzero(steps <= 0)[0]) + 1
            raise _fail(f"breaks_s[{i}]", breaks[i].item(), f"> breaks_s[{i - 1}] (increasing)")
        shape = breaks.shape
        rate = _real_array("rate_rps", self.rate_rps, "finite and >= 0")
        if rate.shape != shape:
            raise SimkitError(f"rate_rps has shape {rate.shape}; must have the shape {shape}")
        _first_bad("rate_rps", rate, rate >= 0, "finite and >= 0")
        servers = _real_array("servers", self.servers, "integers >= 0")
        if servers.shape != shape:
            raise SimkitError(f"servers has shape {servers.shape}; must have the shape {shape}")
        _first_bad(
            "servers", servers, (servers >= 0) & (servers == np.floor(servers)), "integers >= 0"
        )
        mu = _pos_scalar("service_rate_rps", self.service_rate_rps)
        cap = _int_scalar("capacity", self.capacity, 1)
        horizon = _pos_scalar("horizon_s", self.horizon_s)
        if horizon <= breaks[-1]:
            raise _fail("horizon_s", self.horizon_s, f"> breaks_s[-1] = {breaks[-1].item()!r}")
        init = None
        if self.initial_pmf is not None:
            init = _real_array("initial_pmf", self.initial_pmf, "probabilities")
            if init.shape != (cap + 1,):
                raise SimkitError(
                    f"initial_pmf has shape {init.shape}; must have the shape ({cap + 1},)"
                )
            _first_bad("initial_pmf", init, init >= 0, "probabilities >= 0")
            total = float(init.sum())
            if abs(total - 1.0) > 1e-9:
                raise _fail("sum(initial_pmf)", total, "1 (within 1e-9)")
            init = init / total
            init.flags.writeable = False
        for arr in (breaks, rate):
            arr.flags.writeable = False
        servers_i = servers.astype(np.int64)
        servers_i.flags.writeable = False
        object.__setattr__(self, "breaks_s", breaks)
        object.__setattr__(self, "rate_rps", rate)
        object.__setattr__(self, "servers", servers_i)
        object.__setattr__(self, "service_rate_rps", mu)
        object.__setattr__(self, "capacity", cap)
        object.__setattr__(self, "horizon_s", horizon)
        object.__setattr__(self, "initial_pmf", init)


@dataclass(frozen=True)
class SolveInfo:
    """Diagnostics of one solve (see :func:`response_time_quantiles`).

    Attributes
    ----------
    accepted : numpy.ndarray
        Expected number of accepted arrivals in each window [-], shape ``(W,)``.
    blocking : numpy.ndarray
        Fraction of the window's arrivals that are blocked (find K) [-], shape ``(W,)``.
    max_full_probability : float
        Largest P(n = K) seen at any checkpoint of the forward solve [-].
    truncated_mass : float
        Total probability dropped by state-space truncation over the whole solve (an
        upper bound of the L1 error of p(t) from truncation) [-].
    mass_defect : float
        ``1 - sum(p(horizon))`` [-]: truncation plus floating-point rounding.
    panels : int
        Arrival-time panels used for the capacity-change corrections [-].
    unresolved_panels : int
        Panels accepted at the bisection depth limit without meeting the tolerance [-]
        (0 in every case tested).
    """

    accepted: FloatArray
    blocking: FloatArray
    max_full_probability: float
    truncated_mass: float
    mass_defect: float
    panels: int
    unresolved_panels: int


# --------------------------------------------------------------------------- Poisson


def _poisson_upper(nu: float) -> int:
    """k with P(Poisson(nu) > k) < exp(-_LOG_EPS) (Bernstein bound)."""
    if nu <= 0:
        return 0
    x = _LOG_EPS / 3.0 + math.sqrt(_LOG_EPS**2 / 9.0 + 2.0 * _LOG_EPS * nu)
    return math.ceil(nu + x) + 1


def _poisson_lower(nu: float) -> int:
    """k with P(Poisson(nu) < k) < exp(-_LOG_EPS)."""
    if nu <= 0:
        return 0
    return max(0, math.floor(nu - math.sqrt(2.0 * _LOG_EPS * nu)))


_STIRLERR_SMALL = np.array(
    [0.0]
    + [
        float(special.gammaln(k + 1.0) - (k + 0.5) * math.log(k) + k - _LOG_SQRT_2PI)
        for k in range(1, 16)
    ]
)


def _stirlerr(k: FloatArray) -> FloatArray:
    """``log(k!) - (k + 1/2) log k + k - log sqrt(2 pi)`` for integers k >= 1."""
    if k.size and k.min() >= 16:
        inv = 1.0 / k
        inv2 = inv * inv
        return inv * (
            1.0 / 12 - inv2 * (1.0 / 360 - inv2 * (1.0 / 1260 - inv2 * (1.0 / 1680 - inv2 / 1188)))
        )
    out = _STIRLERR_SMALL[np.minimum(k, 15).astype(np.intp)]
    big = k >= 16
    if big.any():
        out[big] = _stirlerr(k[big])
    return out


def _bd0(k: FloatArray, nu: FloatArray) -> FloatArray:
    """Deviance ``k log(k / nu) + nu - k`` (k >= 1, nu > 0) as ``k log1p(e) - nu e``.

    With ``e = (k - nu) / nu`` the absolute error is a few ulp of ``|k - nu|`` (no
    ``k * eps`` term from rounding ``k / nu``), i.e. < 1e-13 relative in the pmf within
    the 1e-20 Poisson range of any mean below 1e6.
    """
    e = (k - nu) / nu
    return k * np.log1p(e) - nu * e


def _poisson_pmf(k: ArrayLike, nu: ArrayLike) -> FloatArray:
    """Poisson pmf to ~1e-14 relative for any mean (saddle-point form, Loader 2000).

    ``k`` (integers >= 0) and ``nu`` (>= 0) broadcast; a row of k against a column of nu
    computes the k-only parts once.
    """
    kk = np.asarray(k, dtype=np.float64)
    nn = np.asarray(nu, dtype=np.float64)
    shape = np.broadcast_shapes(kk.shape, nn.shape)
    if kk.size and kk.min() >= 1 and nn.size and nn.min() > 0:
        log_norm = -_stirlerr(kk) - 0.5 * np.log(2.0 * math.pi * kk)
        return np.exp(log_norm - _bd0(kk, nn))
    kb, nb = np.broadcast_to(kk, shape), np.broadcast_to(nn, shape)
    out = np.zeros(shape)
    zero_nu = nb <= 0
    out[zero_nu & (kb == 0)] = 1.0
    first = (kb == 0) & ~zero_nu
    out[first] = np.exp(-nb[first])
    pos = (kb >= 1) & ~zero_nu
    if pos.any():
        kp, npos = kb[pos], nb[pos]
        out[pos] = np.exp(-_stirlerr(kp) - _bd0(kp, npos)) / np.sqrt(2.0 * math.pi * kp)
    return out


# --------------------------------------------------------------------------- p(t)


def _trim(lo: int, v: FloatArray, tol: float) -> tuple[int, FloatArray, float]:
    """Drop the outermost entries holding at most ``tol`` at each end."""
    if v.size == 0:
        return lo, v, 0.0
    cs = np.cumsum(v)
    i = int(np.searchsorted(cs, tol, side="right"))
    rc = np.cumsum(v[::-1])
    j = int(np.searchsorted(rc, tol, side="right"))
    if i + j >= v.size:  # everything is below tol: keep the largest entry
        m = int(np.argmax(v))
        return lo + m, v[m : m + 1].copy(), float(cs[-1] - v[m])
    dropped = (cs[i - 1] if i else 0.0) + (rc[j - 1] if j else 0.0)
    return lo + i, v[i : v.size - j].copy(), float(dropped)


def _add_into(acc: tuple[int, FloatArray] | None, lo: int, v: FloatArray) -> tuple[int, FloatArray]:
    if acc is None:
        return lo, v.copy()
    alo, av = acc
    nlo = min(alo, lo)
    nhi = max(alo + av.size, lo + v.size)
    out = np.zeros(nhi - nlo)
    out[alo - nlo : alo - nlo + av.size] += av
    out[lo - nlo : lo - nlo + v.size] += v
    return nlo, out


def _uniformized_matrix(
    a: int, b: int, lam: float, c: int, mu: float, cap: int
) -> sparse.csr_matrix:
    """Transpose of the uniformized birth-death matrix on states ``a..b`` plus two sinks.

    Column form (``p_next = P p``) on ``b - a + 3`` entries: entry 0 absorbs what leaves
    below ``a``, entry ``b - a + 2`` what leaves above ``b``; the states are in between.
    The matrix is exactly stochastic, so the mass in the sinks is the truncation loss and
    any other change of the total is rounding.
    """
    n = np.arange(a, b + 1, dtype=np.float64)
    rate = lam + c * mu
    served = np.minimum(n, c)
    up = np.where(n < cap, lam, 0.0) / rate
    down = served * mu / rate
    stay = ((c - served) * mu + np.where(n >= cap, lam, 0.0)) / rate
    diag = np.concatenate([[1.0], stay, [1.0]])
    sub = np.concatenate([[0.0], up])
    sup = np.concatenate([down, [0.0]])
    return sparse.diags([sub, diag, sup], [-1, 0, 1], format="csr")


def _advance_plain(
    lo: int, v: FloatArray, lam: float, c: int, mu: float, cap: int, h: float
) -> tuple[int, FloatArray, FloatArray, float]:
    """Propagate p by h seconds with constant rates; also return int_0^h p(s) ds.

    Uniformization in Horner form: ``sum_k w_k P^k v = sum_i (P^s)^i (V w_i)`` with
    ``V = [v, P v, ..., P^(s-1) v]``, on the states reachable with probability above
    1e-20 (Poisson bounds on the numbers of arrivals and of departures) plus two sinks.
    The totals (states plus sinks) are then rescaled to their exact values ``sum(v)``
    and ``h sum(v)``, which removes rounding drift.  Returns the first state, p(h), the
    integral (both on states ``lo'..``) and the mass lost to the sinks.
    """
    rate = lam + c * mu
    nu = rate * h
    kmax = _poisson_upper(nu)
    w = _poisson_pmf(np.arange(kmax + 1), nu)
    w /= w.sum()  # the cut tail is < 1e-20
    integ = (np.cumsum(w[::-1])[::-1] - w) / rate  # P(N > k) / rate
    hi = lo + v.size - 1
    a = max(0, lo - _poisson_upper(c * mu * h))
    b = min(cap, hi + _poisson_upper(lam * h))
    size = b - a + 3
    pt = _uniformized_matrix(a, b, lam, c, mu, cap)
    s = 1
    while s < _HORNER_BLOCK and s < kmax + 1:
        s *= 2
    basis = np.zeros((size, s))
    basis[lo - a + 1 : lo - a + 1 + v.size, 0] = v
    for r in range(1, s):
        basis[:, r] = pt @ basis[:, r - 1]
    ps = pt
    m = 1
    while m < s:
        ps = ps @ ps
        m *= 2
    nb = -(-(kmax + 1) // s)
    weights = np.zeros((nb * s, 2))
    weights[: kmax + 1, 0] = w
    weights[: kmax + 1, 1] = integ
    weights = weights.reshape(nb, s, 2)
    acc = basis @ weights[nb - 1]
    for i in range(nb - 2, -1, -1):
        acc = ps @ acc + basis @ weights[i]
    np.maximum(acc, 0.0, out=acc)
    total = float(v.sum())
    sums = acc.sum(axis=0)
    if total > 0.0 and sums[0] > 0.0 and sums[1] > 0.0:
        acc[:, 0] *= total / sums[0]
        acc[:, 1] *= h * total / sums[1]
    leak = float(acc[0, 0] + acc[-1, 0])
    return a, acc[1:-1, 0].copy(), acc[1:-1, 1].copy(), leak


@functools.lru_cache(maxsize=64)
def _free_walk_kernel(
    lam: float, c: int, mu: float, h: float
) -> tuple[int, FloatArray, FloatArray]:
    """Transition kernel of the walk with birth lam and death c mu over h seconds.

    Returns the offset of the first entry and the kernels of p(h) and of int_0^h p,
    computed by :func:`_advance_plain` from a state far enough above c (and below a
    capacity far enough away) that neither boundary is felt with probability > 1e-20.
    """
    n0 = c + _poisson_upper(c * mu * h) + 1
    cap = n0 + _poisson_upper(lam * h) + 2
    a, kp, ki, _ = _advance_plain(n0, np.ones(1), lam, c, mu, cap, h)
    for arr in (kp, ki):
        arr.flags.writeable = False
    return a - n0, kp, ki


_Step = tuple[int, FloatArray, FloatArray, float]


def _advance(
    lo: int,
    v: FloatArray,
    lam: float,
    c: int,
    mu: float,
    cap: int,
    h: float,
    low: Callable[[int, FloatArray], _Step] | None = None,
) -> _Step:
    """Propagate p by h seconds with constant rates; also return int_0^h p(s) ds.

    States from ``c + (departure bound) + 1`` up cannot feel the state-dependent death
    rates below c within h (probability < 1e-20), and if they also cannot reach K they
    move as a free random walk: that part is a convolution with the walk's kernel
    (cached; exact sums, no FFT).  The rest goes through ``low`` (default
    :func:`_advance_plain`).  Returns the first state, p(h), the integral (both on
    states ``lo'..``) and the truncated mass.
    """
    rate = lam + c * mu
    if h <= 0.0:
        return lo, v.copy(), np.zeros_like(v), 0.0
    if rate <= 0.0:
        return lo, v.copy(), v * h, 0.0
    hi = lo + v.size - 1
    split = max(lo, c + _poisson_upper(c * mu * h) + 1)
    if low is None:

        def low(a: int, x: FloatArray) -> _Step:
            return _advance_plain(a, x, lam, c, mu, cap, h)

    if hi - split + 1 < _SPLIT_MIN or hi + _poisson_upper(lam * h) >= cap:
        return low(lo, v)
    off, kp, ki = _free_walk_kernel(lam, c, mu, h)
    high = v[split - lo :]
    out_lo = split + off
    p_out = np.convolve(high, kp)
    i_out = np.convolve(high, ki)
    if split > lo:
        a, pl, il, leak = low(lo, v[: split - lo])
        new_lo = min(a, out_lo)
        size = max(a + pl.size, out_lo + p_out.size) - new_lo
        p_new = np.zeros(size)
        i_new = np.zeros(size)
        p_new[a - new_lo : a - new_lo + pl.size] += pl
        i_new[a - new_lo : a - new_lo + il.size] += il
        p_new[out_lo - new_lo : out_lo - new_lo + p_out.size] += p_out
        i_new[out_lo - new_lo : out_lo - new_lo + i_out.size] += i_out
        return new_lo, p_new, i_new, leak
    return out_lo, p_out, i_out, 0.0


class _DenseCache:
    """Dense one-call propagators for (lam, c, h) that recur many times in the march.

    For a recurring call the propagator ``M = exp(Q h)`` and its integral
    ``I = int_0^h exp(Q s) ds`` are built once on a fixed window of states plus the two
    sinks of :func:`_uniformized_matrix`: a tiny step ``h / 2^j`` (<= 1 expected event)
    by uniformization, then ``j`` doublings ``I <- I + M I``, ``M <- M M`` (products of
    non-negative matrices, no cancellation; column sums are reset to their exact values
    1 and h after each doubling, which removes rounding drift).  A call uses them when
    the states it can reach (the Poisson bounds of :func:`_advance_plain`) lie inside the
    window; otherwise it falls back to :func:`_advance`.
    """

    def __init__(self, mu: float, cap: int, keys: set[tuple[float, int, float]]) -> None:
        self.mu, self.cap, self.keys = mu, cap, keys
        self.store: dict[tuple[float, int, float], tuple[int, FloatArray, FloatArray]] = {}
        self.builds: dict[tuple[float, int, float], int] = {}

    def advance(self, lo: int, v: FloatArray, key: tuple[float, int, float]) -> _Step:
        lam, c, h = key
        mu, cap = self.mu, self.cap
        if key not in self.keys or lam + c * mu <= 0.0:
            return _advance(lo, v, lam, c, mu, cap, h)
        return _advance(lo, v, lam, c, mu, cap, h, low=lambda a, x: self._low(a, x, key))

    def _low(self, lo: int, v: FloatArray, key: tuple[float, int, float]) -> _Step:
        """The part of :func:`_advance` that is not a free walk, densely when it fits."""
        lam, c, h = key
        mu, cap = self.mu, self.cap
        hi = lo + v.size - 1
        a = max(0, lo - _poisson_upper(c * mu * h))
        b = min(cap, hi + _poisson_upper(lam * h))
        got = self.store.get(key)
        if got is None or a < got[0] or b > got[0] + got[1].shape[0] - 3:
            size = b - a + 1 + 2 * _DENSE_SLACK
            if size > _DENSE_MAX or self.builds.get(key, 0) >= _DENSE_MAX_BUILDS:
                return _advance_plain(lo, v, lam, c, mu, cap, h)
            wa = max(0, a - _DENSE_SLACK)
            wb = min(cap, b + _DENSE_SLACK)
            got = (wa, *_dense_propagator(wa, wb, lam, c, mu, cap, h))
            self.store[key] = got
            self.builds[key] = self.builds.get(key, 0) + 1
        wa, m, integ = got
        cols = slice(lo - wa + 1, lo - wa + 1 + v.size)
        p_new = m[:, cols] @ v
        i_new = integ[:, cols] @ v
        leak = float(p_new[0] + p_new[-1])
        return wa, p_new[1:-1], i_new[1:-1], leak


def _dense_propagator(
    a: int, b: int, lam: float, c: int, mu: float, cap: int, h: float
) -> tuple[FloatArray, FloatArray]:
    """``exp(Q h)`` and ``int_0^h exp(Q s) ds`` (column form) on states ``a..b`` + sinks."""
    rate = lam + c * mu
    nu = rate * h
    j = max(0, math.ceil(math.log2(nu))) if nu > 1.0 else 0
    step = h / 2**j
    nu_s = rate * step
    kmax = _poisson_upper(nu_s)
    w = _poisson_pmf(np.arange(kmax + 1), nu_s)
    w /= w.sum()
    integ_w = (np.cumsum(w[::-1])[::-1] - w) / rate
    pt = _uniformized_matrix(a, b, lam, c, mu, cap)
    size = b - a + 3
    power = np.eye(size)
    m = np.zeros((size, size))
    integ = np.zeros((size, size))
    for k in range(kmax + 1):
        m += w[k] * power
        integ += integ_w[k] * power
        if k < kmax:
            power = pt @ power
    span = step
    for _ in range(j + 1):
        np.maximum(m, 0.0, out=m)
        m /= m.sum(axis=0, keepdims=True)
        integ *= span / integ.sum(axis=0, keepdims=True)
        if span >= h * (1 - 1e-12):
            break
        integ += m @ integ
        m = m @ m
        span *= 2.0
    return m, integ


class _Forward:
    """Forward solve of p(t) with checkpoints and per-interval integrals of p."""

    def __init__(self, q: PiecewiseQueue, extra_edges: FloatArray) -> None:
        self.q = q
        horizon = q.horizon_s
        edges = np.unique(np.concatenate([q.breaks_s, [horizon], extra_edges]))
        self.edges = edges[(edges >= 0.0) & (edges <= horizon)]
        self.piece = np.searchsorted(q.breaks_s, self.edges[:-1], side="right") - 1
        mu, cap = q.service_rate_rps, q.capacity
        if q.initial_pmf is None:
            lo, v = 0, np.ones(1)
        else:
            lo, v, _ = _trim(0, np.array(q.initial_pmf, dtype=np.float64), _TRIM)
        ck_t: list[float] = []
        self.ck_state: list[tuple[int, FloatArray]] = []
        self.integrals: list[tuple[int, FloatArray]] = []
        truncated = 0.0
        max_full = float(v[-1]) if lo + v.size - 1 == cap else 0.0
        plan = []
        uses: dict[tuple[float, int, float], int] = {}
        for e in range(self.edges.size - 1):
            t0, t1 = float(self.edges[e]), float(self.edges[e + 1])
            i = int(self.piece[e])
            lam, c = float(q.rate_rps[i]), int(q.servers[i])
            n_calls = max(1, math.ceil((lam + c * mu) * (t1 - t0) / _NU_MAX))
            key = (lam, c, (t1 - t0) / n_calls)
            uses[key] = uses.get(key, 0) + n_calls
            plan.append((t0, key, n_calls))
        dense = _DenseCache(mu, cap, {k for k, n in uses.items() if n >= _DENSE_MIN_CALLS})
        for t0, key, n_calls in plan:
            lam, c, h = key
            acc: tuple[int, FloatArray] | None = None
            for j in range(n_calls):
                ck_t.append(t0 + j * h)
                self.ck_state.append((lo, v))
                lo, v, iv, leak = dense.advance(lo, v, key)
                ilo = lo
                lo, v, dropped = _trim(lo, v, _TRIM)
                truncated += dropped + leak
                ilo, iv, _ = _trim(ilo, iv, _TRIM * h)
                acc = _add_into(acc, ilo, iv)
                if lo + v.size - 1 == cap:
                    max_full = max(max_full, float(v[-1]))
            assert acc is not None
            self.integrals.append(acc)
        ck_t.append(horizon)
        self.ck_state.append((lo, v))
        self.ck_t = np.array(ck_t)
        self.truncated = truncated
        self.mass_defect = 1.0 - float(v.sum())
        self.max_full = max_full

    def rates_at(self, t: float) -> tuple[float, int]:
        i = int(np.searchsorted(self.q.breaks_s, t, side="right") - 1)
        return float(self.q.rate_rps[i]), int(self.q.servers[i])

    def pmf_path(self, times: FloatArray) -> list[tuple[int, FloatArray]]:
        """p at ascending ``times`` (each within [0, horizon]), chained between nodes."""
        out: list[tuple[int, FloatArray]] = []
        mu, cap = self.q.service_rate_rps, self.q.capacity
        cur_t = -1.0
        cur: tuple[int, FloatArray] | None = None
        idx = np.searchsorted(self.ck_t, times, side="right") - 1
        for t, ci in zip(times, idx, strict=True):
            ck = float(self.ck_t[ci])
            if cur is None or cur_t < ck:
                cur_t, cur = ck, self.ck_state[ci]
            lam, c = self.rates_at(float(t))
            lo, v, _, _ = _advance(cur[0], cur[1], lam, c, mu, cap, float(t) - cur_t)
            lo, v, _ = _trim(lo, v, _TRIM)
            cur_t, cur = float(t), (lo, v)
            out.append(cur)
        return out


def _stack(states: list[tuple[int, FloatArray]], top: int) -> tuple[int, FloatArray]:
    """Rows over a common state range, keeping states < ``top`` only."""
    lo = min(s[0] for s in states)
    hi = max(s[0] + s[1].size for s in states)
    hi = max(min(hi, top), lo + 1)
    out = np.zeros((len(states), hi - lo))
    for r, (slo, sv) in enumerate(states):
        n = max(0, min(sv.size, top - slo))
        out[r, slo - lo : slo - lo + n] = sv[:n]
    return lo, out


# --------------------------------------------------------------------------- tagged chain


def _erlang_exp_cdf(
    c: int, mu: float, n0: int, n1: int, y: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """CDF and density of ``Erlang(n, c mu) + Exp(mu)`` for ``n = n0..n1``, at times y.

    ``G_n(y) = S_n - T_n`` with ``S_n = sum_{k >= n} pi_k`` and
    ``T_n = sum_{k >= n} pi_k r^(k - n)``, ``pi_k`` the Poisson(c mu y) pmf and
    ``r = 1 - 1/c`` (``T_n = E[exp(-mu (y - W)); W <= y]``, W the Erlang part); the
    density is ``mu T_n``.  n = 0 is ``Exp(mu)`` alone (in service); ``c = 0`` gives 0.
    Outside the Poisson range (tails below 1e-20) G is 1 below and 0 above, with density
    0.  Returns two arrays of shape (Y, n1 - n0 + 1).
    """
    y = np.asarray(y, dtype=np.float64)
    width = n1 - n0 + 1
    cdf = np.zeros((y.size, width))
    dens = np.zeros((y.size, width))
    if c == 0 or width <= 0 or y.size == 0:
        return cdf, dens
    nu = c * mu * np.maximum(y, 0.0)
    r = (c - 1.0) / c
    reach = 1 if c == 1 else math.ceil(_LOG_EPS * c)  # r**reach < exp(-_LOG_EPS)
    klo = _poisson_lower(float(nu.min()))
    khi = _poisson_upper(float(nu.max()))
    k0 = max(n0, klo - reach)  # below k0: S = 1 and T = 0 (to 1e-20)
    if k0 > n0:
        cdf[:, : min(k0, n1 + 1) - n0] = 1.0
    p0 = max(n0, klo)  # pmf below klo is < 1e-20: S is flat and T geometric there
    if k0 > n1 or p0 > khi:
        return cdf, dens
    kp1 = min(khi, max(n1, p0) + reach)
    k = np.arange(p0, kp1 + 1, dtype=np.float64)
    pmf = _poisson_pmf(k[None, :], nu[:, None])
    s_sum = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1] + special.pdtrc(kp1, nu)[:, None]
    t_sum = pmf  # c == 1: r = 0
    if c > 1:
        t_sum = signal.lfilter([1.0], [1.0, -r], pmf[:, ::-1], axis=1)[:, ::-1]
    stop = min(kp1, n1) - p0 + 1
    if stop > 0:
        cdf[:, p0 - n0 : p0 - n0 + stop] = (s_sum - t_sum)[:, :stop]
        dens[:, p0 - n0 : p0 - n0 + stop] = mu * t_sum[:, :stop]
    if p0 > k0:  # n in [k0, p0): T_n = r^(p0 - n) T_p0, S_n = S_p0
        n_ext = np.arange(k0, min(p0, n1 + 1))
        geo = r ** (p0 - n_ext) if c > 1 else np.zeros(n_ext.size)
        t_ext = t_sum[:, :1] * geo[None, :]
        cdf[:, k0 - n0 : k0 - n0 + n_ext.size] = s_sum[:, :1] - t_ext
        dens[:, k0 - n0 : k0 - n0 + n_ext.size] = mu * t_ext
    zero = nu <= 0.0
    cdf[zero] = 0.0
    dens[zero] = 0.0
    if zero.any() and n0 == 0:
        dens[zero, 0] = mu
    return np.clip(cdf, 0.0, 1.0), dens


def _g_on_states(
    c: int, mu: float, j0: int, width: int, y: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """CDF and density of the remaining response time from j = j0.. ahead, constant c."""
    if c == 0:
        zero = np.zeros((np.size(y), width))
        return zero, zero
    j = np.arange(j0, j0 + width)
    n = np.maximum(j - c + 1, 0)
    n0, n1 = int(n[0]), int(n[-1])
    cdf, dens = _erlang_exp_cdf(c, mu, n0, n1, y)
    if n0 == int(j0 - c + 1) and width == n1 - n0 + 1:
        return cdf, dens
    return cdf[:, n - n0], dens[:, n - n0]


def _tagged_advance(
    lo: int, phi: FloatArray, c: int, mu: float, d: FloatArray
) -> tuple[int, FloatArray]:
    """Not-done distribution of the tagged chain after ``d[r]`` seconds at constant c.

    Row r of ``phi`` (states j = lo..) is propagated for ``d[r]`` seconds.  Uniformized
    at rate ``c mu`` the waiting states (j >= c) move down by one at every event, so they
    shift by a Poisson number of steps (a correlation); the flow into service (state
    c - 1) and the in-service states (each event: one ahead leaves w.p. j/c, the tagged
    one leaves w.p. 1/c) are summed in Horner form over the events after entry.
    """
    rows, width = phi.shape
    if c == 0 or rows == 0 or np.all(d <= 0.0):
        return lo, phi.copy()
    hi = lo + width - 1
    a = c * mu
    reach = 1 if c == 1 else math.ceil(_LOG_EPS * c)
    out = np.zeros((rows, hi + 1))
    in_service = np.zeros((rows, c))
    s_r = np.zeros((rows, reach + 1))
    w_r = np.zeros((rows, reach + 1))
    jw0 = max(lo, c)
    for row in range(rows):
        nu = a * float(d[row])
        prow = phi[row]
        if nu <= 0.0:
            out[row, lo:] = prow
            continue
        if lo < c:
            in_service[row, lo : min(c, hi + 1)] = prow[: min(c, hi + 1) - lo]
        k0, k1 = _poisson_lower(nu), _poisson_upper(nu)
        w = _poisson_pmf(np.arange(k0, k1 + 1), nu)
        m = min(k1, reach)
        if m >= k0:
            w_r[row, k0 : m + 1] = w[: m - k0 + 1]
        if jw0 <= hi:
            wait = prow[jw0 - lo :]
            conv = np.convolve(wait, w[::-1])  # conv[i] <-> j' = jw0 - k1 + i
            base = jw0 - k1
            j_top = base + conv.size - 1
            start = max(c, base)
            if start <= j_top:
                out[row, start : j_top + 1] = conv[start - base :]
            # S_r = waiting mass that entered service r events ago: j' = c - 1 - r.
            r_lo = max(0, c - 1 - j_top)
            r_hi = min(reach, c - 1 - base)
            if r_lo <= r_hi:
                idx = c - 1 - np.arange(r_lo, r_hi + 1) - base
                s_r[row, r_lo : r_hi + 1] = conv[idx]
    np.maximum(s_r, 0.0, out=s_r)
    active = (s_r > 0) | ((w_r > 0) & (in_service.sum(axis=1) > 0)[:, None])
    if active.any():
        top = int(np.flatnonzero(active.any(axis=0))[-1])
        stay = (c - 1.0 - np.arange(c)) / c
        move = np.arange(1, c) / c
        h = np.zeros((rows, c))
        for r in range(top, -1, -1):
            nh = h * stay
            nh[:, :-1] += h[:, 1:] * move
            nh[:, c - 1] += s_r[:, r]
            nh += w_r[:, r : r + 1] * in_service
            h = nh
        out[:, : min(c, hi + 1)] += h[:, : min(c, hi + 1)]
    np.maximum(out, 0.0, out=out)
    mass = out.sum(axis=0)
    nz = np.flatnonzero(mass > _TRIM * 1e-10 * max(1.0, float(mass.max(initial=0.0))))
    if nz.size == 0:
        return 0, np.zeros((rows, 1))
    return int(nz[0]), out[:, nz[0] : nz[-1] + 1].copy()


# --------------------------------------------------------------------------- panels


def _cheb_nodes(a: float, b: float) -> FloatArray:
    x = np.cos(np.pi * np.arange(_CHEB_N) / (_CHEB_N - 1))[::-1]
    return np.clip(0.5 * (a + b) + 0.5 * (b - a) * x, a, b)


_BARY_W = np.ones(_CHEB_N)
_BARY_W[1::2] = -1.0
_BARY_W[0] *= 0.5
_BARY_W[-1] *= 0.5


def _cheb_interp_matrix(a: float, b: float, t: FloatArray) -> FloatArray:
    """Barycentric interpolation matrix from the panel's Chebyshev nodes to t, (T, N)."""
    x = np.cos(np.pi * np.arange(_CHEB_N) / (_CHEB_N - 1))[::-1]
    s = (2.0 * t - (a + b)) / (b - a)
    diff = s[:, None] - x[None, :]
    exact = diff == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        m = _BARY_W[None, :] / diff
        m = m / m.sum(axis=1, keepdims=True)
    hit = exact.any(axis=1)
    if hit.any():
        m[hit] = exact[hit].astype(np.float64)
    return m


def _cheb_tail(values: FloatArray) -> float:
    """L1 (over states) size of the two highest Chebyshev coefficients of node values."""
    coef = fft.dct(values, type=1, axis=0) / (_CHEB_N - 1)
    return float(np.abs(coef[-2:]).sum())


@dataclass
class _Panel:
    """Arrival-time panel [a, b] for one capacity change: psi at the Chebyshev nodes."""

    a: float
    b: float
    tau: float
    c_new: int
    c_old: int
    lo: int
    psi: FloatArray
    density_tol: float


class _Model:
    """Forward solution plus everything the response-time CDF of windows needs."""

    def __init__(self, q: PiecewiseQueue, windows: FloatArray, tol: float) -> None:
        self.q = q
        self.tol = tol
        cap = q.capacity
        self.fw = _Forward(q, windows.ravel())
        fw = self.fw
        # Capacity segments: seg_start[k] <= t < seg_start[k + 1] has seg_c[k] servers.
        change = np.flatnonzero(np.diff(q.servers) != 0) + 1
        self.seg_start = np.concatenate([[0.0], q.breaks_s[change]])
        self.seg_c = np.concatenate([[q.servers[0]], q.servers[change]]).astype(np.int64)
        n_seg = self.seg_c.size
        starts = fw.edges[:-1]
        ends = fw.edges[1:]
        seg_of = np.searchsorted(self.seg_start, starts, side="right") - 1
        lam_e = q.rate_rps[fw.piece]
        n_w = windows.shape[0]
        self.accepted = np.zeros(n_w)
        blocked = np.zeros(n_w)
        # Arrival-weighted distribution per (window, segment), collapsed later.
        seen: list[dict[int, tuple[int, FloatArray]]] = [{} for _ in range(n_w)]
        inside = [np.flatnonzero((starts >= wa) & (ends <= wb)) for wa, wb in windows]
        for w_i, es in enumerate(inside):
            for e in es:
                lo, iv = fw.integrals[e]
                lam = float(lam_e[e])
                if lam == 0.0:
                    continue
                k = int(seg_of[e])
                n_ok = max(0, min(iv.size, cap - lo))
                if lo + iv.size - 1 == cap:
                    blocked[w_i] += lam * float(iv[-1])
                if n_ok == 0:
                    continue
                part = lam * iv[:n_ok]
                self.accepted[w_i] += float(part.sum())
                seen[w_i][k] = _add_into(seen[w_i].get(k), lo, part)
        total = self.accepted + blocked
        with np.errstate(invalid="ignore", divide="ignore"):
            self.blocking = np.where(total > 0, blocked / np.where(total > 0, total, 1.0), 0.0)
        self.seen = seen
        # Corrections for capacity changes after the arrival.
        self.panels_of_e: dict[int, list[_Panel]] = {}
        self.unresolved = 0
        needed = set()
        for es in inside:
            needed.update(int(e) for e in es)
        for e in sorted(needed):
            k = int(seg_of[e])
            lam = float(lam_e[e])
            if k + 1 >= n_seg or lam == 0.0:
                continue
            if self._negligible(e, k, lam):
                continue
            self.panels_of_e[e] = self._build_panels(float(starts[e]), float(ends[e]), k, lam)
        self.inside = inside
        self.n_panels = sum(len(p) for p in self.panels_of_e.values())

    # -- pruning and panels

    def _negligible(self, e: int, k: int, lam: float) -> bool:
        """Whether arrivals in interval e are all gone at the next change (checkpoints)."""
        fw = self.fw
        t0, t1 = fw.edges[e], fw.edges[e + 1]
        sel = np.flatnonzero((fw.ck_t >= t0) & (fw.ck_t <= t1))
        tau = float(self.seg_start[k + 1])
        c = int(self.seg_c[k])
        cap = self.q.capacity
        for i in sel:
            lo, v = fw.ck_state[i]
            n_ok = max(0, min(v.size, cap - lo))
            if n_ok == 0:
                continue
            g, _ = _g_on_states(c, self.q.service_rate_rps, lo, n_ok, np.array([tau - fw.ck_t[i]]))
            present = float(v[:n_ok] @ (1.0 - g[0]))
            if present > _PRUNE:
                return False
        return True

    def _panel_samples(
        self, a: float, b: float, k: int, lam: float
    ) -> list[tuple[int, int, FloatArray]]:
        """psi_l at the panel's Chebyshev nodes for every later change l with mass."""
        q = self.q
        mu = q.service_rate_rps
        t = _cheb_nodes(a, b)
        lo, phi = _stack(self.fw.pmf_path(t), q.capacity)
        phi *= lam
        tau = float(self.seg_start[k + 1])
        lo, psi = _tagged_advance(lo, phi, int(self.seg_c[k]), mu, tau - t)
        out = []
        n_seg = self.seg_c.size
        for ell in range(k + 1, n_seg):
            if psi.sum(axis=1).max() <= _PRUNE * lam:
                break
            out.append((ell, lo, psi))
            if ell + 1 < n_seg:
                span = float(self.seg_start[ell + 1] - self.seg_start[ell])
                lo, psi = _tagged_advance(
                    lo, psi, int(self.seg_c[ell]), mu, np.full(psi.shape[0], span)
                )
        return out

    def _build_panels(self, t0: float, t1: float, k: int, lam: float) -> list[_Panel]:
        out: list[_Panel] = []
        stack = [(t0, t1, 0)]
        cheb_tol = 0.1 * self.tol * lam
        while stack:
            a, b, depth = stack.pop()
            samples = self._panel_samples(a, b, k, lam)
            if not samples:
                continue
            ok = all(_cheb_tail(psi) <= cheb_tol for _, _, psi in samples)
            if not ok and depth < _MAX_DEPTH:
                mid = 0.5 * (a + b)
                stack.append((a, mid, depth + 1))
                stack.append((mid, b, depth + 1))
                continue
            if not ok:
                self.unresolved += 1
            for ell, lo, psi in samples:
                out.append(
                    _Panel(
                        a=a,
                        b=b,
                        tau=float(self.seg_start[ell]),
                        c_new=int(self.seg_c[ell]),
                        c_old=int(self.seg_c[ell - 1]),
                        lo=lo,
                        psi=psi,
                        density_tol=cheb_tol,
                    )
                )
        return out

    # -- the mixture CDF

    def main_term(self, w_i: int, x: float) -> tuple[float, float]:
        """Constant-capacity part of the window's CDF and density at x (unnormalized)."""
        mu = self.q.service_rate_rps
        value = slope = 0.0
        for k, (lo, a_m) in self.seen[w_i].items():
            g, dg = _g_on_states(int(self.seg_c[k]), mu, lo, a_m.size, np.array([x]))
            value += float(g[0] @ a_m)
            slope += float(dg[0] @ a_m)
        return value, slope

    def correction(self, w_i: int, x: float) -> tuple[float, float]:
        """Capacity-change part of the window's CDF and density at x (unnormalized)."""
        mu = self.q.service_rate_rps
        value = slope = 0.0
        for e in self.inside[w_i]:
            for p in self.panels_of_e.get(int(e), ()):
                a = max(p.a, p.tau - x)
                if a >= p.b:
                    continue

                def integrand(t: FloatArray, p: _Panel = p) -> FloatArray:
                    psi = _cheb_interp_matrix(p.a, p.b, t) @ p.psi
                    y = t + x - p.tau
                    width = p.psi.shape[1]
                    g_new, d_new = _g_on_states(p.c_new, mu, p.lo, width, y)
                    g_old, d_old = _g_on_states(p.c_old, mu, p.lo, width, y)
                    return np.stack(
                        [
                            np.einsum("ij,ij->i", psi, g_new - g_old),
                            np.einsum("ij,ij->i", psi, d_new - d_old),
                        ],
                        axis=1,
                    )

                v, d = _gauss_kronrod(integrand, a, p.b, p.density_tol)
                value += v
                slope += d
        return value, slope

    def cdf(self, w_i: int, x: float, corrected: bool = True) -> tuple[float, float]:
        """Mixture CDF of the window's accepted arrivals and its density at x.

        ``corrected=False`` leaves out the capacity-change corrections (used only as a
        starting point for the quantile search).
        """
        z = self.accepted[w_i]
        if z <= 0.0:
            return math.nan, math.nan
        if x <= 0.0:
            return 0.0, math.nan
        v0, d0 = self.main_term(w_i, x)
        if not corrected:
            return v0 / z, d0 / z
        v1, d1 = self.correction(w_i, x)
        return (v0 + v1) / z, (d0 + d1) / z

    def quantile(self, w_i: int, q: float, start: float) -> float:
        """q-quantile of the window's response time, searched from ``start`` [s]."""
        if self.accepted[w_i] <= 0.0:
            return math.nan
        if q <= 0.0:
            return 0.0
        if q >= 1.0:
            return math.inf
        if any(self.panels_of_e.get(int(e)) for e in self.inside[w_i]):
            guess = self._solve(lambda x: self.cdf(w_i, x, corrected=False), q, start)
            if math.isfinite(guess) and guess > 0.0:
                start = guess
        return self._solve(lambda x: self.cdf(w_i, x), q, start)

    def _solve(self, fun: Callable[[float], tuple[float, float]], q: float, start: float) -> float:
        """Safeguarded Newton on ``fun(x)[0] = q`` (bracketed, bisection fallback).

        ``fun`` returns the CDF and its density; the bracket grows by at most 8x per step
        until the CDF exceeds q, or gives ``inf`` beyond 1000 times the longest plausible
        stay.
        """
        limit = 1e3 * (self.q.horizon_s + (self.q.capacity + 1) / self.q.service_rate_rps)
        lo, hi = 0.0, math.inf
        x = start
        for _ in range(200):
            h, dh = fun(x)
            f = h - q
            if f < 0.0:
                lo = x
            else:
                hi = x
            step = -f / dh if dh > 0.0 and math.isfinite(dh) else math.nan
            new = x + step
            if math.isfinite(hi):
                if not (lo < new < hi):
                    new = 0.5 * (lo + hi)
            elif not (math.isfinite(new) and new > x):
                new = 2.0 * x
            else:
                new = min(new, 8.0 * x)
            if math.isfinite(hi) and (
                abs(new - x) <= _ROOT_RTOL * new or hi - lo <= _ROOT_RTOL * hi
            ):
                return float(new)
            if not math.isfinite(hi) and new > limit:
                return math.inf
            x = new
        return float(x)  # pragma: no cover - Newton with bisection fallback converges first


def _gauss_kronrod(
    f: Callable[[FloatArray], FloatArray], a: float, b: float, density_tol: float
) -> tuple[float, float]:
    """Adaptive Gauss-Kronrod 10/21 quadrature of a 2-vector integrand.

    All open intervals are evaluated at once; an interval is accepted when the first
    component satisfies ``|K21 - G10| <= density_tol * length``.
    """
    lo = np.array([a])
    hi = np.array([b])
    total = np.zeros(2)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        half = 0.5 * (hi - lo)
        pts = mid[:, None] + half[:, None] * _GK_X[None, :]
        vals = f(pts.ravel()).reshape(*pts.shape, 2)
        kron = half[:, None] * np.einsum("ijk,j->ik", vals, _GK_WK)
        gauss = half[:, None] * np.einsum("ijk,j->ik", vals, _GK_WG)
        err = np.abs(kron[:, 0] - gauss[:, 0])
        ok = (err <= density_tol * 2.0 * half) | (half < 1e-12 * (b - a))
        total += kron[ok].sum(axis=0)
        if ok.all():
            break
        lo_n, hi_n, mid_n = lo[~ok], hi[~ok], mid[~ok]
        lo = np.concatenate([lo_n, mid_n])
        hi = np.concatenate([mid_n, hi_n])
    return float(total[0]), float(total[1])


# --------------------------------------------------------------------------- public API


def _check_queue(queue: object) -> PiecewiseQueue:
    if not isinstance(queue, PiecewiseQueue):
        raise SimkitError(f"queue = {type(queue).__name__} is invalid; must be a PiecewiseQueue")
    return queue


def _check_tol(tol: object) -> float:
    if isinstance(tol, bool) or not isinstance(tol, int | float | np.floating):
        raise _fail("tol", tol, "a number in [1e-14, 1e-4]")
    if not 1e-14 <= float(tol) <= 1e-4:
        raise _fail("tol", tol, "a number in [1e-14, 1e-4]")
    return float(tol)


def _check_windows(name: str, windows: ArrayLike, horizon: float) -> FloatArray:
    allowed = f"finite times with 0 <= start < end <= horizon_s = {horizon!r}"
    w = _real_array(name, windows, allowed)
    if w.ndim == 1 and w.shape == (2,):
        w = w[None, :]
    if w.ndim != 2 or w.shape[1] != 2 or w.shape[0] == 0:
        raise SimkitError(f"{name} has shape {w.shape}; must have shape (W, 2) with W >= 1")
    _first_bad(name, w, (w >= 0) & (w <= horizon), allowed)
    bad = w[:, 0] >= w[:, 1]
    if bad.any():
        row = w[np.flatnonzero(bad)[0]]
        raise _fail(name, (row[0].item(), row[1].item()), allowed)
    return w


def queue_length_pmf(queue: PiecewiseQueue, times_s: ArrayLike) -> FloatArray:
    """Distribution of the number in system at the given times.

    Parameters
    ----------
    queue : PiecewiseQueue
        The queue.
    times_s : array_like of float
        Times [s] in ``[0, horizon_s]``, any order, shape ``(T,)`` (a scalar is one time).

    Returns
    -------
    numpy.ndarray
        ``P(n(t) = n)`` [-], shape ``(T, K + 1)``; rows sum to 1 minus at most
        ``SolveInfo.truncated_mass``.
    """
    q = _check_queue(queue)
    allowed = f"times in [0, horizon_s = {q.horizon_s!r}]"
    t = _real_array("times_s", times_s, allowed).ravel()
    _first_bad("times_s", t, (t >= 0) & (t <= q.horizon_s), allowed)
    fw = _Forward(q, t)
    out = np.zeros((t.size, q.capacity + 1))
    order = np.argsort(t, kind="stable")
    for row, (lo, v) in zip(order, fw.pmf_path(t[order]), strict=True):
        out[row, lo : lo + v.size] = v
    return out


def response_time_cdf(
    queue: PiecewiseQueue,
    window_s: ArrayLike,
    x_s: ArrayLike,
    *,
    tol: float = _DEFAULT_TOL,
) -> FloatArray:
    """CDF of the response time of the accepted arrivals in one window.

    Arrivals are weighted by ``lambda(t) P(n(t) < K)`` over the window (PASTA), so this is
    the fraction of the window's served requests whose response time is at most x.

    Parameters
    ----------
    queue : PiecewiseQueue
        The queue.
    window_s : array_like of float
        ``(start, end)`` of the arrival window [s], ``0 <= start < end <= horizon_s``.
    x_s : array_like of float
        Response times [s], finite and >= 0.
    tol : float, optional
        Absolute tolerance of the CDF [-] for the capacity-change corrections.

    Returns
    -------
    numpy.ndarray
        ``P(T <= x)`` [-], the shape of ``x_s``; NaN if the window has no accepted arrival.
    """
    q = _check_queue(queue)
    tol_f = _check_tol(tol)
    w = _check_windows("window_s", window_s, q.horizon_s)
    if w.shape[0] != 1:
        raise SimkitError(f"window_s has shape {w.shape}; must be one (start, end) pair")
    x = _real_array("x_s", x_s, "finite response times >= 0")
    _first_bad("x_s", x, x >= 0, "finite response times >= 0")
    model = _Model(q, w, tol_f)
    flat = np.array([model.cdf(0, float(v))[0] for v in x.ravel()])
    return np.clip(flat, 0.0, 1.0).reshape(x.shape)


def response_time_quantiles(
    queue: PiecewiseQueue,
    windows_s: ArrayLike,
    q: ArrayLike,
    *,
    tol: float = _DEFAULT_TOL,
    full_output: bool = False,
) -> FloatArray | tuple[FloatArray, SolveInfo]:
    """Response-time quantiles of the accepted arrivals in each window.

    Parameters
    ----------
    queue : PiecewiseQueue
        The queue.
    windows_s : array_like of float
        Arrival windows [s], shape ``(W, 2)`` of ``(start, end)`` with
        ``0 <= start < end <= horizon_s``; windows may overlap (e.g. minutes plus the
        whole run) and share one forward solve.
    q : array_like of float
        Probability levels in [0, 1] [-], shape ``(Q,)``.
    tol : float, optional
        Absolute tolerance of the mixture CDF [-] (capacity-change corrections).
    full_output : bool, optional
        Also return a :class:`SolveInfo` with blocking and truncation diagnostics.

    Returns
    -------
    numpy.ndarray
        Quantiles [s], shape ``(W, Q)``, to 1e-10 relative; ``inf`` where a share of
        requests above ``1 - q`` never finishes (servers 0 for ever), NaN for a window
        without accepted arrivals.
    SolveInfo
        Only with ``full_output=True``.
    """
    queue_ = _check_queue(queue)
    tol_f = _check_tol(tol)
    w = _check_windows("windows_s", windows_s, queue_.horizon_s)
    qq = _real_array("q", q, "probabilities in [0, 1]").ravel()
    _first_bad("q", qq, (qq >= 0) & (qq <= 1), "probabilities in [0, 1]")
    model = _Model(queue_, w, tol_f)
    out = np.full((w.shape[0], qq.size), np.nan)
    order = np.argsort(qq, kind="stable")
    first_guess = 1.0 / queue_.service_rate_rps
    for i in range(w.shape[0]):
        start = first_guess
        for j in order:
            out[i, j] = model.quantile(i, float(qq[j]), start)
            if math.isfinite(out[i, j]) and out[i, j] > 0.0:
                start = float(out[i, j])
    if not full_output:
        return out
    info = SolveInfo(
        accepted=model.accepted.copy(),
        blocking=model.blocking.copy(),
        max_full_probability=model.fw.max_full,
        truncated_mass=model.fw.truncated,
        mass_defect=model.fw.mass_defect,
        panels=model.n_panels,
        unresolved_panels=model.unresolved,
    )
    return out, info


#: Probability levels whose quantiles split the mean's integral into smooth panels.
_MEAN_KNOTS = (0.1, 0.25, 0.5, 0.75, 0.9, 0.97, 0.99, 0.997, 0.999, 1e-4, 1e-6, 1e-9, 1e-12)
#: Gauss-Legendre nodes per panel of the mean's integral.
_MEAN_NODES = 24


def response_time_means(
    queue: PiecewiseQueue, windows_s: ArrayLike, *, tol: float = _DEFAULT_TOL
) -> FloatArray:
    """Mean response time of the accepted arrivals in each window.

    ``E[T] = int_0^inf P(T > x) dx``, by Gauss-Legendre quadrature
    (:data:`_MEAN_NODES` nodes) on panels between the window's quantiles at
    :data:`_MEAN_KNOTS` (levels below 0.01 mean ``1 - level``); the survival beyond
    the last knot (1e-12) is ignored.

    Parameters
    ----------
    queue : PiecewiseQueue
        The queue.
    windows_s : array_like of float
        Arrival windows [s], shape ``(W, 2)`` as in :func:`response_time_quantiles`.
    tol : float, optional
        Absolute tolerance of the mixture CDF [-].

    Returns
    -------
    numpy.ndarray
        Means [s], shape ``(W,)``; ``inf`` where some requests never finish, NaN for a
        window without accepted arrivals.
    """
    queue_ = _check_queue(queue)
    w = _check_windows("windows_s", windows_s, queue_.horizon_s)
    model = _Model(queue_, w, _check_tol(tol))
    nodes, weights = np.polynomial.legendre.leggauss(_MEAN_NODES)
    levels = [q if q >= 0.01 else 1.0 - q for q in _MEAN_KNOTS]
    out = np.full(w.shape[0], np.nan)
    for i in range(w.shape[0]):
        if model.accepted[i] <= 0.0:
            continue
        knots = [0.0]
        start = 1.0 / queue_.service_rate_rps
        for level in levels:
            x = model.quantile(i, level, start)
            if not math.isfinite(x):
                break
            knots.append(max(x, knots[-1]))
            start = max(x, start)
        else:
            total = 0.0
            for a, b in itertools.pairwise(knots):
                if b > a:
                    xs = 0.5 * (b - a) * nodes + 0.5 * (a + b)
                    sf = np.array([1.0 - model.cdf(i, float(v))[0] for v in xs])
                    total += 0.5 * (b - a) * float(weights @ sf)
            out[i] = total
            continue
        out[i] = math.inf
    return out
