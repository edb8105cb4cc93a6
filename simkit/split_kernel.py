"""A control period's arrivals split over its steps, compiled with numba.

The engine draws one Poisson count per control period (see
:func:`simkit.workload.period_arrivals`).  Where a period needs its arrivals per
step (a queue builds up, a failure window cuts through it, a plot asks), the
count ``n`` is split over the ``k`` equal steps by a multinomial draw, as
``k - 1`` conditional binomials: step ``j`` takes ``Binomial(rest, 1 / (k - j))``
of the ``rest`` not yet placed.  Given the period's count, the steps of a Poisson
process are exactly multinomial, so the per-step counts are exactly Poisson.

Each binomial is drawn by inversion from one uniform, the outcomes ordered from
the mode outwards (mode, mode + 1, mode - 1, mode + 2, ...): any fixed order of
the outcomes gives an exact draw, and this one needs about one standard deviation
of steps.  The uniform is a counter-based hash (the SplitMix64 finalizer, Steele,
Lea & Flood, OOPSLA 2014) of the replication's key and ``(period, step)``, so a
period's split is the same whenever it is needed, in whatever order, by either
engine: it depends on the seed, the replication and the period only.
"""

from __future__ import annotations

import math

import numpy as np

from simkit.jit import njit

__all__ = ["LOG_FACTORIAL_MAX", "log_factorials", "split_period", "split_steps"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2 ** -53
#: Largest count whose log-factorial is tabulated (8 MiB); above it ``lgamma``.
LOG_FACTORIAL_MAX = 1 << 20


@njit(inline=True)
def _uniform(key: np.uint64, counter: np.uint64) -> float:
    """A uniform in [0, 1) from the key and a counter (53 bits of the mixed word)."""
    z = key + counter * _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)) * _TO_UNIT


@njit
def _log_factorial_table(n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        out[i] = math.lgamma(i + 1.0)
    return out


_TABLE: list[np.ndarray] = []


def log_factorials(n_max: int) -> np.ndarray:
    """``log(i!)`` for ``i = 0..min(n_max, LOG_FACTORIAL_MAX)`` at least [-], float64.

    The split's table (kept and reused; a longer one holds the same values): beyond
    its end the kernels call ``lgamma``, which gives the table's values too.
    """
    n = min(max(int(n_max), 2), LOG_FACTORIAL_MAX) + 1
    if not _TABLE or _TABLE[0].size < n:
        _TABLE[:] = [_log_factorial_table(max(n, 4096))]
    return _TABLE[0]


@njit(inline=True)
def _log_factorial(n: int, table: np.ndarray) -> float:
    return table[n] if n < table.size else math.lgamma(n + 1.0)


@njit(inline=True)
def _binomial(n: int, k: int, u: float, table: np.ndarray) -> int:
    """``Binomial(n, 1 / k)`` by inversion of ``u``, outcomes ordered from the mode out."""
    if n <= 0:
        return 0
    if k == 1:
        return n
    mode = min((n + 1) // k, n)
    log_k = _log_factorial(k, table) - _log_factorial(k - 1, table)
    log_k1 = _log_factorial(k - 1, table) - _log_factorial(k - 2, table)
    pmf = math.exp(
        _log_factorial(n, table)
        - _log_factorial(mode, table)
        - _log_factorial(n - mode, table)
        - mode * log_k
        + (n - mode) * (log_k1 - log_k)
    )
    u -= pmf
    if u <= 0.0:
        return mode
    odds = 1.0 / (k - 1.0)  # q / (1 - q)
    hi, pmf_hi = mode, pmf
    lo, pmf_lo = mode, pmf
    while hi < n or lo > 0:
        if hi < n:
            pmf_hi *= (n - hi) / (hi + 1.0) * odds
            hi += 1
            u -= pmf_hi
            if u <= 0.0:
                return hi
        if lo > 0:
            pmf_lo *= lo * (k - 1.0) / (n - lo + 1.0)
            lo -= 1
            u -= pmf_lo
            if u <= 0.0:
                return lo
    return mode  # rounding left u above the whole mass (probability ~1e-13)


@njit(inline=True)
def split_period(
    key: np.uint64, period: int, n: int, k: int, table: np.ndarray, out: np.ndarray
) -> None:
    """Split ``n`` arrivals of period ``period`` over its ``k`` steps into ``out[:k]``.

    Parameters
    ----------
    key : numpy.uint64
        The replication's key (:func:`simkit.workload.split_keys`).
    period : int
        Index of the control period (part of the counter).
    n : int
        Arrivals in the period [count], >= 0.
    k : int
        Steps per period, >= 1.
    table : numpy.ndarray
        :func:`log_factorials`.
    out : numpy.ndarray
        float64, at least ``k`` long; receives the counts per step.
    """
    rest = n
    base = np.uint64(period) * np.uint64(k)
    for j in range(k - 1):
        x = _binomial(rest, k - j, _uniform(key, base + np.uint64(j)), table)
        out[j] = x
        rest -= x
    out[k - 1] = rest


@njit
def split_steps(
    keys: np.ndarray,
    rep: np.ndarray,
    period: np.ndarray,
    counts: np.ndarray,
    k: int,
    table: np.ndarray,
) -> np.ndarray:
    """:func:`split_period` for many periods: ``[n, k]`` float64 counts per step.

    ``keys`` [R] uint64 by replication; ``rep``, ``period``, ``counts`` [n] (int);
    ``table`` from :func:`log_factorials`.
    """
    out = np.empty((rep.size, k))
    for i in range(rep.size):
        split_period(keys[rep[i]], period[i], counts[i], k, table, out[i])
    return out
