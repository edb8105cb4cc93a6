"""Latency quantiles of any window: quantiles of the pooled response-time distribution.

A window's latency distribution is the mixture, weighted by served requests, of
the distributions of the requests it contains: each steady period (M/M/c at its
utilization, shifted by the backend latency) and, in periods resolved step by
step, each step (a queued request: its wait, then its service time; otherwise
the period's M/M/c).  The window's quantile is the mixture's quantile, never the
largest or the mean of per-step quantiles.

Most windows need no root finding: a mixture's quantile lies between the
smallest and the largest quantile of its components, so where those agree to
``rtol`` the request-weighted mean of the component quantiles is used (within
``rtol`` of the exact value).  Where they agree to :data:`NEWTON_SPREAD`, one
Newton step on the exact mixture CDF from that mean is taken (measured error
below 1e-5); the others are solved to 1e-9 by the iteration of
:func:`simkit.queueing.mixture_quantile` (or in closed form when every request
of the window queued).  Windows of more than :data:`MERGE_ABOVE` components (a
whole run, a pooled minute of many replications) are first merged onto a fine
utilization grid and a 0.05 % grid of shifts (measured error at most 8.3e-5, on
the development profile's pooled hours).
The loops over components run compiled (:mod:`simkit.window_kernel`), one window
at a time; the components are built once per result.

The component quantiles of steady periods come from the engine's latency table
(interpolated in utilization, within about 3e-4 of exact M/M/c); the run-level
KPIs ``latency_p50_s``..``latency_p99_s`` are this module's whole-run window, and
:func:`window_latency_means` gives the windows' mean latency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simkit import queueing, workload
from simkit.errors import SimkitError

if TYPE_CHECKING:
    from simkit.result import SimResult

__all__ = ["QUANTILES", "window_latency_means", "window_latency_quantiles"]

#: Probability levels of the latency arrays (p50, p95, p99).
QUANTILES = (0.5, 0.95, 0.99)
#: Windows whose component quantiles spread more than ``rtol`` but at most this much
#: get one Newton step from their mean; wider ones are solved to 1e-9.
NEWTON_SPREAD = 0.05
#: Newton steps taken for those windows.
NEWTON_STEPS = 1
#: Windows of more components are solved on merged components (:func:`_merge`).
MERGE_ABOVE = 512
#: Largest utilization of the merge's grid; components above it stay exact in rho.
_MERGE_RHO_MAX = 0.9999
#: Utilization grid of the merge: 768 nodes uniform in ``-ln(1 - rho)`` up to
#: :data:`_MERGE_RHO_MAX`.  The error of splitting a component's weight linearly between
#: two nodes falls with the square of their spacing (384 nodes: 3.3e-4 on the
#: development profile's pooled hours).
_MERGE_RHO_GRID = -np.expm1(-np.linspace(0.0, -np.log1p(-_MERGE_RHO_MAX), 768))
_MERGE_RHO_GRID[-1] = _MERGE_RHO_MAX
#: Shift bins of the merge: ``log1p(shift / floor)`` in steps of 0.0005 (0.05 % of a shift).
_SHIFT_FLOOR_S = 1e-4
_SHIFT_LOG_STEP = 0.0005
#: The probability levels as the compiled loops take them.
_LEVELS = np.asarray(QUANTILES)


def _components(result: SimResult) -> dict[str, np.ndarray]:
    """Every mixture component of the run that served requests: steady periods and
    resolved steps, sorted by replication and first step, with their queue's
    stability, Erlang C and drain rate (:func:`simkit.window_kernel.components`)."""
    from simkit import window_kernel

    n_rep, n_per = result.rate_rps.shape
    ov = result.overlay
    row = np.full((n_rep, n_per), -1, dtype=np.int64)
    row[ov.replication, ov.period] = np.arange(ov.replication.size)
    servers = result.ready_instances.astype(np.int64) * result.scenario.servers_per_instance
    cap = result.capacity_rps
    rho = np.divide(result.rate_rps, cap, out=np.zeros_like(cap), where=cap > 0)
    per_period = result.arrivals_period.astype(np.float64)
    served = per_period * (1.0 - result.error_fraction)
    backend = result.backend_s.astype(np.float64)
    mu = result.scenario.service_rate_rps
    queue = _queue(servers, rho, mu)
    one = _queue(np.ones(1, dtype=np.int64), np.zeros(1), mu)  # a queued request: c = 1
    arrays = window_kernel.components(
        (row, served, servers, rho, backend, result.latency_period_s),
        queue,
        (bool(one[0][0]), float(one[1][0]), float(one[2][0])),
        (ov.arrivals, ov.errors, ov.queued, ov.wait_s, ov.latency_s),
    )
    names = ("rep", "first_step", "steps", "weight", "servers", "rho", "shift", "quantiles")
    return dict(zip((*names, "stable", "erl_c", "theta_mu"), arrays, strict=True))


def _queue(servers: np.ndarray, rho: np.ndarray, mu: float) -> tuple[np.ndarray, ...]:
    """Stability, Erlang C [-] and drain rate over ``mu`` [-] of M/M/c queues of
    ``servers`` at utilization ``rho`` (:func:`simkit.queueing._stable_and_theta`)."""
    c = servers.astype(np.float64)
    return queueing._stable_and_theta(c, rho * c * mu, mu)


def window_latency_quantiles(
    result: SimResult,
    edges: np.ndarray,
    rtol: float = 1e-3,
    replications: list[int] | None = None,
    pooled: bool = False,
) -> np.ndarray:
    """Latency quantiles (p50, p95, p99) of the requests of each window [s].

    Parameters
    ----------
    result : SimResult
        A simulation result.
    edges : numpy.ndarray
        First step of every window [index], increasing, starting at 0.
    rtol : float
        Relative tolerance of the windows taken from their component bounds [-].
    replications : list of int, optional
        Only these replications (in this order); default all.
    pooled : bool
        Pool the requests of all the replications asked for into one distribution
        per window (the Monte Carlo estimate of the window's latency distribution):
        the result then has one row.

    Returns
    -------
    numpy.ndarray
        ``[R, W, 3]`` (``R``: the replications asked for), capped at the timeout; a
        window without served requests gets the timeout (none was served in time).
    """
    edges = _check_edges(edges)
    reps = np.arange(result.replications) if replications is None else np.asarray(replications)
    key = ("window_latency_quantiles", edges.tobytes(), float(rtol), reps.tobytes(), pooled)
    if key not in result._cache:  # results are immutable: compute once per window set
        result._cache[key] = _window_quantiles(result, edges, rtol, reps, pooled)
        result._cache[key].flags.writeable = False
    return result._cache[key]


def _cells(
    result: SimResult, edges: np.ndarray, reps: np.ndarray, pooled: bool
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, int]:
    """The components of the asked-for windows, sorted by output cell.

    Returns the components, the first component of each non-empty cell, the cell
    (``row * n_windows + window``) of each of those, and the number of cells.
    """
    from simkit import window_kernel

    n_rep, n_win = (1 if pooled else reps.size), edges.size
    comp = _sorted_components(result)
    window = np.searchsorted(edges, np.arange(result.n_steps), side="right") - 1  # of a step
    split = bool(np.any(edges % result.steps_per_period)) and np.any(
        window[comp["first_step"] + comp["steps"] - 1] != window[comp["first_step"]]
    )
    if split:  # a period straddles windows: split it by its steps
        comp = _split(result, comp, edges)
        order = np.lexsort((comp["first_step"], comp["rep"]))
        comp = {name: v[order] for name, v in comp.items()}
    in_order = not pooled and np.all(np.diff(reps) > 0)
    position = np.full(result.replications, -1)
    position[reps] = 0 if pooled else np.arange(reps.size)
    if in_order and reps.size == result.replications and not split:
        row = comp["rep"]  # every component, in its place: no copy
    else:
        keep = (position[comp["rep"]] >= 0) & (comp["weight"] > 0)
        if in_order:
            order = np.flatnonzero(keep)
        else:  # sort by row, window
            order = np.lexsort((window[comp["first_step"]], position[comp["rep"]]))
            order = order[keep[order]]
        comp = {name: v[order] for name, v in comp.items()}
        row = position[comp["rep"]]
    n_cell = n_rep * n_win
    starts, cells = window_kernel.cells(row, comp["first_step"], window, n_win, n_cell)
    return comp, starts, cells, n_cell


def _window_quantiles(
    result: SimResult, edges: np.ndarray, rtol: float, reps: np.ndarray, pooled: bool
) -> np.ndarray:
    """:func:`window_latency_quantiles` without its cache: ``[R, W, 3]`` [s]."""
    from simkit import window_kernel

    timeout_s = result.scenario.service.timeout_s
    n_rep, n_win = (1 if pooled else reps.size), edges.size
    comp, starts, cells, n_cell = _cells(result, edges, reps, pooled)
    counts = np.diff(np.r_[starts, comp["weight"].size])
    lo, hi, mean, spread, smooth = window_kernel.bounds(
        starts, counts, comp["weight"], comp["quantiles"], comp["rho"]
    )
    close = (spread > rtol) & (spread <= NEWTON_SPREAD) & smooth  # smooth: none queued
    exact = (spread > rtol) & ~close
    found = mean.copy()  # each window's quantiles: the mean of its components' where close
    if close.any():  # exact Newton steps from the mean
        x = mean[close]
        for _ in range(NEWTON_STEPS):
            x = _newton_step(result, comp, starts[close], counts[close], x)
            x = np.clip(x, lo[close], hi[close])
        found[close] = x
    if exact.any():
        found[exact] = _solve(
            result, comp, starts[exact], counts[exact], lo[exact], hi[exact], mean[exact]
        )
    if cells.size == n_cell:  # every window served requests
        out = found
    else:  # the others get the timeout
        out = np.full((n_cell, len(QUANTILES)), timeout_s)
        out[cells] = found
    return np.minimum(out, timeout_s, out=out).reshape(n_rep, n_win, len(QUANTILES))


def window_latency_means(
    result: SimResult,
    edges: np.ndarray,
    replications: list[int] | None = None,
    pooled: bool = False,
) -> np.ndarray:
    """Mean latency of the requests served in each window [s].

    The mean of the window's mixture (see the module docstring): the request-weighted
    mean of its components' means, ``shift + E[T]`` with ``T`` the M/M/c response
    time at the component's utilization (or the service time of a queued request).
    The part of a component's tail beyond the timeout, which the model counts as
    errors, is not removed from its mean; each component's mean is capped at the
    timeout.

    Parameters
    ----------
    result : SimResult
        A simulation result.
    edges : numpy.ndarray
        First step of every window [index], increasing, starting at 0.
    replications : list of int, optional
        Only these replications (in this order); default all.
    pooled : bool
        Pool the requests of all the replications asked for (one row).

    Returns
    -------
    numpy.ndarray
        ``[R, W]`` [s]; a window without served requests gets the timeout.
    """
    edges = _check_edges(edges)
    reps = np.arange(result.replications) if replications is None else np.asarray(replications)
    key = ("window_latency_means", edges.tobytes(), reps.tobytes(), pooled)
    if key not in result._cache:
        timeout_s = result.scenario.service.timeout_s
        mu = result.scenario.service_rate_rps
        comp, starts, cells, n_cell = _cells(result, edges, reps, pooled)
        out = np.full(n_cell, timeout_s)
        if cells.size:
            queue = (comp["stable"], comp["erl_c"], comp["theta_mu"])
            mean = comp["shift"] + queueing._mean_response_time(*queue, mu)
            w = comp["weight"]
            total = np.add.reduceat(w, starts)
            out[cells] = np.add.reduceat(w * np.minimum(mean, timeout_s), starts) / total
        result._cache[key] = out.reshape(-1, edges.size)
        result._cache[key].flags.writeable = False
    return result._cache[key]


def _check_edges(edges: np.ndarray) -> np.ndarray:
    edges = np.asarray(edges, dtype=np.int64)
    if edges.ndim != 1 or edges.size == 0 or edges[0] != 0 or np.any(np.diff(edges) <= 0):
        raise SimkitError("edges must be increasing step indices starting at 0")
    return edges


def _newton_step(
    result: SimResult,
    comp: dict[str, np.ndarray],
    start: np.ndarray,
    counts: np.ndarray,
    x0: np.ndarray,
) -> np.ndarray:
    """One Newton step on the mixture CDF of the windows ``start[i]:start[i] + counts[i]``
    from ``x0`` (``[n, 3]``) [s].

    From the request-weighted mean of quantiles that agree within
    :data:`NEWTON_SPREAD`, the first-order error is below about the spread squared;
    one step on the exact CDF squares it again.
    """
    from simkit import window_kernel

    return window_kernel.newton_step(
        x0, start, counts, _queue_arrays(comp), result.scenario.service_rate_rps, _LEVELS
    )


def _queue_arrays(comp: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """``weight, erl_c, theta_mu, stable, shift``: what :mod:`simkit.window_kernel` reads."""
    return tuple(comp[name] for name in ("weight", "erl_c", "theta_mu", "stable", "shift"))


def _with_queue(comp: dict[str, np.ndarray], mu: float) -> dict[str, np.ndarray]:
    """The components plus their queue's stability, Erlang C and drain rate over ``mu``
    (:func:`_queue`), for the compiled loops."""
    stable, erl_c, theta_mu = _queue(comp["servers"], comp["rho"], mu)
    return {**comp, "stable": stable, "erl_c": erl_c, "theta_mu": theta_mu}


def _sorted_components(result: SimResult) -> dict[str, np.ndarray]:
    """:func:`_components`, once per result."""
    key = "window_components"
    if key not in result._cache:
        result._cache[key] = _components(result)
    return result._cache[key]


def _split(result: SimResult, comp: dict[str, np.ndarray], edges: np.ndarray) -> dict:
    """Components of whole periods cut into one component per step (weights by arrivals)."""
    whole = comp["steps"] > 1
    k = result.steps_per_period
    rep = np.repeat(comp["rep"][whole], k)
    step = (np.repeat(comp["first_step"][whole], k) + np.tile(np.arange(k), whole.sum())).astype(
        np.int64
    )
    periods = comp["first_step"][whole] // k
    reps = comp["rep"][whole]
    arrivals = workload.step_arrivals(
        result.split_keys, reps, periods, result.arrivals_period[reps, periods], k
    )
    per_period = arrivals.sum(axis=1)
    share = np.divide(
        arrivals,
        per_period[:, None],
        out=np.full((per_period.size, k), 1.0 / k),
        where=per_period[:, None] > 0,
    ).ravel()
    cut = {name: np.repeat(v[whole], k, axis=0) for name, v in comp.items()}
    cut["rep"], cut["first_step"], cut["steps"] = rep, step, np.ones(step.size, np.int64)
    cut["weight"] = cut["weight"] * share
    return {name: np.concatenate([v[~whole], cut[name]]) for name, v in comp.items()}


def _solve(
    result: SimResult,
    comp: dict[str, np.ndarray],
    start: np.ndarray,
    counts: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    guess: np.ndarray,
) -> np.ndarray:
    """Exact mixture quantiles of the windows whose components are ``start[i]:start[i] +
    counts[i]``, ``[n, 3]``, bracketed by their smallest and largest component quantile
    (``lo``, ``hi``: ``[n, 3]``), starting from ``guess`` (``[n, 3]``).

    Windows of more than :data:`MERGE_ABOVE` components are solved on their merged
    components (:func:`_merge`)."""
    mu = result.scenario.service_rate_rps
    out = np.empty((start.size, len(QUANTILES)))
    big = counts > MERGE_ABOVE
    if big.any():
        merged, m_start, m_counts = _merge(comp, start[big], counts[big], mu)
        out[big] = _solve_classes(merged, m_start, m_counts, mu, lo[big], hi[big], guess[big])
    small = ~big
    if small.any():
        out[small] = _solve_classes(
            comp, start[small], counts[small], mu, lo[small], hi[small], guess[small]
        )
    return out


def _solve_classes(
    comp: dict[str, np.ndarray],
    start: np.ndarray,
    counts: np.ndarray,
    mu: float,
    lo: np.ndarray,
    hi: np.ndarray,
    guess: np.ndarray,
) -> np.ndarray:
    """:func:`_solve` in closed form for windows of queued requests only (wait plus
    service time), by the compiled safeguarded Newton iteration to 1e-9 for the
    others; clipped to the bracket."""
    from simkit import window_kernel

    closed = window_kernel.queued_only(start, counts, comp["rho"], comp["servers"])
    out = np.empty((start.size, len(QUANTILES)))
    if closed.any():
        out[closed] = window_kernel.solve_queued(
            start[closed], counts[closed], comp["weight"], comp["shift"], mu, _LEVELS
        )
    rest = ~closed
    if rest.any():
        bracket = (lo[rest], hi[rest], guess[rest])
        out[rest] = window_kernel.solve(
            start[rest], counts[rest], _queue_arrays(comp), mu, _LEVELS, bracket, 1e-9
        )
    return np.clip(out, lo, hi)


def _merge(
    comp: dict[str, np.ndarray], start: np.ndarray, counts: np.ndarray, mu: float
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Components of each window merged onto a utilization grid and a log grid of shifts.

    A component at utilization ``rho`` between two grid nodes is replaced by the two
    nodes, its weight split linearly between them; components of one window with the
    same servers, node and shift bin (:data:`_SHIFT_LOG_STEP` wide in
    ``log(1 + shift / _SHIFT_FLOOR_S)``) become one, at their weighted mean shift
    (:func:`simkit.window_kernel.merge`).  Utilizations above the grid
    (:data:`_MERGE_RHO_MAX`) and queued requests (rho 0) stay exact in rho.  Returns
    the merged components (sorted by window) and each window's first component and
    count.
    """
    from simkit import window_kernel

    arrays = tuple(comp[name] for name in ("weight", "servers", "rho", "shift"))
    merged, m_start, m_counts = window_kernel.merge(
        start, counts, arrays, _MERGE_RHO_GRID, _SHIFT_FLOOR_S, _SHIFT_LOG_STEP
    )
    names = ("weight", "servers", "rho", "shift")
    return _with_queue(dict(zip(names, merged, strict=True)), mu), m_start, m_counts
