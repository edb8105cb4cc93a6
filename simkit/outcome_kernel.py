"""The step overlay of :func:`simkit.outcome.finish`, compiled with numba.

For each period resolved per step (overloaded, or touched by a failure window), in
one pass over its steps: the arrivals split over the steps (the compiled control
loop's split where it drew one already: the same numbers), the backlog path and
drops, the failure windows, the errors and their causes, the queued flags, queue
waits and latency quantiles.  Same operations in the same order as the NumPy
reference (:func:`simkit.outcome.overlay_reference`), so the arrays are
bit-identical; per-step values are written as float32 directly, with no
``[n, k, 3]`` float64 temporaries.

Conventions as in :mod:`simkit.control_kernel`: the kernel takes named tuples of
arrays and numbers; the helpers it calls once per row take arrays and numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from simkit.control_kernel import lindley, wait_in_period
from simkit.jit import njit
from simkit.split_kernel import split_period

__all__ = ["OverlayInputs", "OverlayOutputs", "OverlayParams", "empty_outputs", "overlay"]

#: Columns of ``OverlayOutputs.causes`` before the error fractions and windows.
UNAVAILABLE, OVERLOAD, FIRST_FRACTION = 0, 1, 2


class OverlayParams(NamedTuple):
    """Numbers of the overlay."""

    steps: int  # steps per period
    n_window_causes: int  # causes of the failure windows
    period_s: float  # control period [s]
    step_s: float  # simulation step [s]
    timeout_s: float  # request timeout [s]


class OverlayInputs(NamedTuple):
    """Inputs per overlay row ``i`` (period ``period[i]`` of ``rep[i]``), ``[n]`` unless noted."""

    rep: np.ndarray  # int64
    period: np.ndarray  # int64
    counts: np.ndarray  # int64: arrivals in the period [count]
    keys: np.ndarray  # uint64 [R]: split keys
    log_fact: np.ndarray  # float64: split_kernel.log_factorials
    split_at: np.ndarray  # int32 [R, P] (or [0, 0]): row of split holding the period's split
    split: np.ndarray  # float64 [m, k]: arrivals per step split already [count]
    overloaded: np.ndarray  # bool: load above capacity or a backlog
    backlog0: np.ndarray  # float64: queue at period start [requests]
    departures: np.ndarray  # float64: departures per step while queued [requests]
    limit: np.ndarray  # float64: most requests queued [requests]
    saturated: np.ndarray  # bool: utilization >= 1
    down: np.ndarray  # bool: no Ready server
    fractions: np.ndarray  # float64 [n, F]: steady error fractions by cause [-]
    w_ptr: np.ndarray  # int64 [n + 1]: window entries of row i
    w_cause: np.ndarray  # int64 [m]: window cause index
    w_step: np.ndarray  # int64 [m]: step within the period
    w_frac: np.ndarray  # float64 [m]: failing share of the step's requests [-]
    served: np.ndarray  # float64 [R, P + 1]: capacity served before each period [requests]
    cap_rps: np.ndarray  # float64 [R, P]: capacity [1/s]
    backend_s: np.ndarray  # float64: backend latency [s]
    q_period_s: np.ndarray  # float32 [n, Q]: the period's latency quantiles, capped [s]
    service_q_s: np.ndarray  # float64 [Q]: service-time quantiles [s]


class OverlayOutputs(NamedTuple):
    """Outputs per overlay row; ``[n, k]`` unless noted."""

    arrivals: np.ndarray  # float32 [count]
    errors: np.ndarray  # float32 [count]
    backlog: np.ndarray  # float32: queue at the end of the step [count]
    latency_s: np.ndarray  # float32 [n, k, Q] [s]
    wait_s: np.ndarray  # float32 [s]
    queued: np.ndarray  # bool
    errors_period: np.ndarray  # float64 [n]: failed requests of the period [count]
    causes: np.ndarray  # float64 [n, 2 + F + C]: errors by cause (see UNAVAILABLE) [count]


def empty_outputs(n: int, k: int, n_q: int, n_causes: int) -> OverlayOutputs:
    """Uninitialized :class:`OverlayOutputs` for ``n`` rows of ``k`` steps.

    Parameters
    ----------
    n, k : int
        Rows and steps per row.
    n_q : int
        Latency quantiles.
    n_causes : int
        Columns of ``causes``: 2 + error fractions + window causes.

    Returns
    -------
    OverlayOutputs
    """
    f32 = np.float32
    return OverlayOutputs(
        np.empty((n, k), f32),
        np.empty((n, k), f32),
        np.empty((n, k), f32),
        np.empty((n, k, n_q), f32),
        np.empty((n, k), f32),
        np.empty((n, k), np.bool_),
        np.empty(n),
        np.empty((n, n_causes)),
    )


@njit(inline=True)
def _backlog(
    b: float, arr: np.ndarray, dep: float, limit: float, level: np.ndarray, drop: np.ndarray
) -> None:
    """Queue at the end of each step and share of arrivals dropped (``backlog_path``)."""
    for j in range(arr.size):
        x = lindley(b, arr[j], dep)
        dropped = max(x - limit, 0.0)
        b = min(x, limit)
        level[j] = b
        d = dropped / arr[j] if arr[j] > 0 else 0.0
        drop[j] = min(max(d, 0.0), 1.0)


@njit(inline=True)
def _windows(
    lo: int, hi: int, cause: np.ndarray, step: np.ndarray, frac: np.ndarray, window: np.ndarray
) -> None:
    """Failing share per (cause, step) of one row: its window entries ``lo..hi-1`` added."""
    window[:, :] = 0.0
    for e in range(lo, hi):
        window[cause[e], step[e]] += frac[e]


@njit(inline=True)
def _cause_sum(arr: np.ndarray, share: np.ndarray, sc: np.ndarray) -> float:
    """Errors of one cause over the steps: ``arr x share x sc`` summed from 0 [count]."""
    s = 0.0
    for j in range(arr.size):
        s += arr[j] * share[j] * sc[j]
    return s


@njit(inline=True)
def _errors(
    i: int,
    arr: np.ndarray,
    drop: np.ndarray,
    window: np.ndarray,
    fractions: np.ndarray,
    down: bool,
    errors: np.ndarray,
    sc: np.ndarray,
    share: np.ndarray,
    causes: np.ndarray,
) -> float:
    """Errors per step of row ``i`` (into ``errors``, ``[k]``) and by cause (``causes[i]``),
    the causes scaled down together (by ``sc``) where they add up to more than every
    request.  ``sc`` and ``share`` are ``[k]`` work buffers.

    Sums over steps and causes run from 0 left to right.  Returns the row's errors
    [count].
    """
    n_f, n_c = fractions.shape[1], window.shape[0]
    fsum = 0.0
    for f in range(n_f):
        fsum += fractions[i, f]
    row_errors = 0.0
    for j in range(arr.size):
        wsum = 0.0
        for c in range(n_c):
            wsum += window[c, j]
        total = drop[j] + wsum + fsum
        sc[j] = 1.0 / max(total, 1.0)
        errors[j] = arr[j] * min(total, 1.0)
        row_errors += errors[j]
    causes[i, :] = 0.0
    causes[i, UNAVAILABLE if down else OVERLOAD] = _cause_sum(arr, drop, sc)
    for f in range(n_f):
        share[:] = fractions[i, f]
        causes[i, FIRST_FRACTION + f] = _cause_sum(arr, share, sc)
    for c in range(n_c):
        causes[i, FIRST_FRACTION + n_f + c] = _cause_sum(arr, window[c], sc)
    return row_errors


@njit(inline=True)
def _queue_latency(
    i: int,
    p: int,
    first_step: int,
    start: float,
    saturated: bool,
    level: np.ndarray,
    served: np.ndarray,
    cap_rps: np.ndarray,
    r: int,
    period_s: float,
    step_s: float,
    timeout_s: float,
    backend_s: float,
    service_q_s: np.ndarray,
    queued: np.ndarray,
    wait_s: np.ndarray,
    latency_s: np.ndarray,
) -> None:
    """Queued flags, waits and latency of the queued steps of overloaded row ``i``.

    Period ``p`` starts at step ``first_step`` with ``start`` requests queued; requests
    queue while a backlog is there at either end of the step, or always when
    ``saturated``.  Steps not queued keep their latency (written by the caller).  A
    request at ``t = (first_step + j + 1/2) x step`` is in period ``p``, the reference's
    ``t // period_s``: the clock's ``period_s / step_s`` is within 1e-9 of ``k``, so
    ``t / period_s`` is within ``p x 1e-9 / k`` of ``p + (j + 1/2) / k``, far from the
    period's ends for any run that fits in memory.
    """
    for j in range(level.size):
        lev = level[j]
        q = start > 0 or lev > 0 or saturated
        queued[i, j] = q
        if q:
            t = (first_step + j + 0.5) * step_s
            ahead = (start + lev) / 2.0
            wait = wait_in_period(served, cap_rps, period_s, r, p, t, ahead + 1.0)
            w = min(wait, timeout_s)
            wait_s[i, j] = w
            for x in range(service_q_s.size):
                latency_s[i, j, x] = min(backend_s + w + service_q_s[x], timeout_s)
        start = lev


@njit
def overlay(pp: OverlayParams, a: OverlayInputs, out: OverlayOutputs) -> None:
    """Fill ``out`` for every overlay row of ``a`` (see the module).

    Parameters
    ----------
    pp : OverlayParams
    a : OverlayInputs
    out : OverlayOutputs
        From :func:`empty_outputs`; every element is written.
    """
    k = pp.steps
    arr, level, drop, err = np.empty(k), np.zeros(k), np.zeros(k), np.empty(k)
    sc, share = np.empty(k), np.empty(k)
    window = np.zeros((pp.n_window_causes, k))
    n_q = a.service_q_s.size
    for i in range(a.rep.size):
        r, p = a.rep[i], a.period[i]
        cached = a.split_at[r, p] if a.split_at.shape[0] else -1
        if cached >= 0:
            arr[:] = a.split[cached]
        else:
            split_period(a.keys[r], p, a.counts[i], k, a.log_fact, arr)
        if a.overloaded[i]:
            _backlog(a.backlog0[i], arr, a.departures[i], a.limit[i], level, drop)
        else:
            level[:] = 0.0
            drop[:] = 0.0
        _windows(a.w_ptr[i], a.w_ptr[i + 1], a.w_cause, a.w_step, a.w_frac, window)
        out.errors_period[i] = _errors(
            i, arr, drop, window, a.fractions, a.down[i], err, sc, share, out.causes
        )
        for j in range(k):
            out.arrivals[i, j] = arr[j]
            out.errors[i, j] = err[j]
            out.backlog[i, j] = level[j]
            out.queued[i, j] = False
            out.wait_s[i, j] = 0.0
            for x in range(n_q):
                out.latency_s[i, j, x] = a.q_period_s[i, x]
        if a.overloaded[i]:
            _queue_latency(
                i, p, p * k, a.backlog0[i], a.saturated[i], level, a.served,
                a.cap_rps, r, pp.period_s, pp.step_s, pp.timeout_s, a.backend_s[i],
                a.service_q_s, out.queued, out.wait_s, out.latency_s,
            )  # fmt: skip
