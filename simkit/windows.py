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
below 1e-5); the others are solved to 1e-9 by
:func:`simkit.queueing.mixture_quantile` (or in closed form when every request
of the window queued).  Windows of more than :data:`MERGE_ABOVE` components (a
whole run, a pooled minute of many replications) are first merged onto a fine
utilization grid and a 0.05 % grid of shifts (measured error at most 2.2e-4).

The component quantiles of steady periods come from the engine's latency table
(interpolated in utilization, within about 3e-4 of exact M/M/c); the run-level
KPIs ``latency_p50_s``..``latency_p99_s`` are this module's whole-run window, and
:func:`window_latency_means` gives the windows' mean latency.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

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
#: Utilization grid of the merge: uniform in ``-ln(1 - rho)`` up to :data:`_MERGE_RHO_MAX`.
_MERGE_RHO_MAX = 0.9999
_MERGE_RHO_GRID = -np.expm1(-np.linspace(0.0, -np.log1p(-_MERGE_RHO_MAX), 384))
_MERGE_RHO_GRID[-1] = _MERGE_RHO_MAX
#: Shift bins of the merge: ``log1p(shift / floor)`` in steps of 0.0005 (0.05 % of a shift).
_SHIFT_FLOOR_S = 1e-4
_SHIFT_LOG_STEP = 0.0005


def _components(result: SimResult) -> dict[str, np.ndarray]:
    """Every mixture component of the run: steady periods and resolved steps (flat)."""
    k = result.steps_per_period
    n_rep, n_per = result.rate_rps.shape
    ov = result.overlay
    stepwise = np.zeros((n_rep, n_per), dtype=bool)
    stepwise[ov.replication, ov.period] = True
    servers = result.ready_instances.astype(np.int64) * result.scenario.servers_per_instance
    cap = result.capacity_rps
    rho = np.divide(result.rate_rps, cap, out=np.zeros_like(cap), where=cap > 0)
    per_period = result.arrivals_period.astype(np.float64)
    served = per_period * (1.0 - result.error_fraction)
    r_s, p_s = np.nonzero(~stepwise & (served > 0) & (servers > 0))
    served_ov = np.maximum(ov.arrivals.astype(np.float64) - ov.errors, 0.0)
    queued = ov.queued
    rep_ov = np.repeat(ov.replication, k)
    per_ov = np.repeat(ov.period, k)
    step_ov = (per_ov * k + np.tile(np.arange(k), ov.replication.size)).astype(np.int64)
    backend = result.backend_s.astype(np.float64)
    return {
        "rep": np.concatenate([r_s, rep_ov]),
        "first_step": np.concatenate([p_s * k, step_ov]),
        "steps": np.concatenate([np.full(r_s.size, k), np.ones(step_ov.size, np.int64)]),
        "weight": np.concatenate([served[r_s, p_s], served_ov.ravel()]),
        "servers": np.concatenate(
            [servers[r_s, p_s], np.where(queued.ravel(), 1, servers[rep_ov, per_ov])]
        ),
        "rho": np.concatenate([rho[r_s, p_s], np.where(queued.ravel(), 0.0, rho[rep_ov, per_ov])]),
        "shift": np.concatenate(
            [
                backend[r_s, p_s],
                backend[rep_ov, per_ov] + np.where(queued, ov.wait_s, 0.0).ravel(),
            ]
        ),
        "quantiles": np.concatenate(
            [
                result.latency_period_s[r_s, p_s].astype(np.float64),
                ov.latency_s.reshape(-1, len(QUANTILES)).astype(np.float64),
            ]
        ),
    }


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
    n_rep, n_win = (1 if pooled else reps.size), edges.size
    comp = _sorted_components(result)
    position = np.full(result.replications, -1)
    position[reps] = 0 if pooled else np.arange(reps.size)
    first = np.searchsorted(edges, comp["first_step"], side="right") - 1
    last = np.searchsorted(edges, comp["first_step"] + comp["steps"] - 1, side="right") - 1
    if np.any(first != last):  # a period straddles windows: split it by its steps
        comp = _split(result, comp, edges)
        order = np.lexsort((comp["first_step"], comp["rep"]))
        comp = {name: v[order] for name, v in comp.items()}
        first = np.searchsorted(edges, comp["first_step"], side="right") - 1
    keep = (position[comp["rep"]] >= 0) & (comp["weight"] > 0)
    if pooled or (reps.size > 1 and np.any(np.diff(reps) <= 0)):  # sort by row, window
        order = np.lexsort((first, position[comp["rep"]]))
        order = order[keep[order]]
    else:
        order = np.flatnonzero(keep)
    comp = {name: v[order] for name, v in comp.items()}
    cell = position[comp["rep"]] * n_win + first[order]  # sorted
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]]) if cell.size else cell
    return comp, starts, cell[starts], n_rep * n_win


def _window_quantiles(
    result: SimResult, edges: np.ndarray, rtol: float, reps: np.ndarray, pooled: bool
) -> np.ndarray:
    timeout_s = result.scenario.service.timeout_s
    n_rep, n_win = (1 if pooled else reps.size), edges.size
    comp, starts, cells, n_cell = _cells(result, edges, reps, pooled)
    out = np.full((n_cell, len(QUANTILES)), timeout_s)
    if cells.size == 0:
        return out.reshape(n_rep, n_win, len(QUANTILES))
    quant, weight = comp["quantiles"], comp["weight"]
    lo = np.minimum.reduceat(quant, starts, axis=0)
    hi = np.maximum.reduceat(quant, starts, axis=0)
    total = np.add.reduceat(weight, starts)
    out[cells] = np.add.reduceat(weight[:, None] * quant, starts, axis=0) / total[:, None]
    spread = np.max(hi / np.maximum(lo, 1e-300), axis=1) - 1.0
    smooth = ~np.logical_or.reduceat(comp["rho"] == 0.0, starts)  # no queued requests
    close = (spread > rtol) & (spread <= NEWTON_SPREAD) & smooth
    if close.any():  # exact Newton steps from the mean
        x = out[cells[close]]
        for _ in range(NEWTON_STEPS):
            x = np.clip(_newton_step(result, comp, starts, close, x), lo[close], hi[close])
        out[cells[close]] = x
    exact = (spread > rtol) & ~close
    if exact.any():
        counts = np.diff(np.r_[starts, weight.size])
        guess = out[cells[exact]]
        out[cells[exact]] = _solve(
            result, comp, starts[exact], counts[exact], lo[exact], hi[exact], guess
        )
    return np.minimum(out, timeout_s).reshape(n_rep, n_win, len(QUANTILES))


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
            c, rho = comp["servers"].astype(np.float64), comp["rho"]
            mean = comp["shift"] + queueing.mean_response_time(c, rho * c * mu, mu)
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
    starts: np.ndarray,
    close: np.ndarray,
    x0: np.ndarray,
) -> np.ndarray:
    """One Newton step on each window's mixture CDF from ``x0`` (``[n, 3]``).

    From the request-weighted mean of quantiles that agree within
    :data:`NEWTON_SPREAD`, the first-order error is below about the spread squared;
    one step on the exact CDF squares it again.
    """
    mu = result.scenario.service_rate_rps
    counts = np.diff(np.r_[starts, comp["weight"].size])
    own = np.repeat(close, counts)
    row = np.repeat(np.arange(int(close.sum())), counts[close])
    w, c, rho, shift = (comp[name][own] for name in ("weight", "servers", "rho", "shift"))
    lam = rho * c * mu
    first = np.r_[0, np.cumsum(counts[close])[:-1]]
    total = np.add.reduceat(w, first)
    t = x0[row] - shift[:, None]  # [n_comp, 3]
    cdf, pdf = queueing.response_time_cdf_pdf(t, c[:, None], lam[:, None], mu)
    mix_cdf = np.add.reduceat(w[:, None] * cdf, first, axis=0) / total[:, None]
    mix_pdf = np.add.reduceat(w[:, None] * pdf, first, axis=0) / total[:, None]
    step = np.divide(
        np.asarray(QUANTILES) - mix_cdf, mix_pdf, out=np.zeros_like(mix_cdf), where=mix_pdf > 0
    )
    return x0 + step


def _sorted_components(result: SimResult) -> dict[str, np.ndarray]:
    """:func:`_components` sorted by replication and first step, once per result."""
    key = "window_components"
    if key not in result._cache:
        comp = _components(result)
        order = np.lexsort((comp["first_step"], comp["rep"]))
        result._cache[key] = {name: v[order] for name, v in comp.items()}
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
        merged, m_start, m_counts = _merge(comp, start[big], counts[big])
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
    """:func:`_solve` for windows grouped by width class and by closed form."""
    out = np.empty((start.size, len(QUANTILES)))
    # Windows padded to their own width class (4, 8, 16, ...): few wasted components.
    width_class = np.maximum(np.ceil(np.log2(np.maximum(counts, 4))), 2).astype(np.int64)
    # Windows of queued requests only (wait + service time) have a closed-form quantile.
    queued = (comp["rho"] == 0.0) & (comp["servers"] == 1)
    all_queued = np.logical_and.reduceat(queued, start)
    for wc in np.unique(width_class):
        for closed in (True, False):
            rows = np.flatnonzero((width_class == wc) & (all_queued == closed))
            if rows.size == 0:
                continue
            if closed:
                out[rows] = _solve_queued(comp, start[rows], counts[rows], 2**wc, mu)
            else:
                out[rows] = _solve_padded(
                    comp, start[rows], counts[rows], 2**wc, mu, lo[rows], hi[rows], guess[rows]
                )
            out[rows] = np.clip(out[rows], lo[rows], hi[rows])
    return out


def _merge(
    comp: dict[str, np.ndarray], start: np.ndarray, counts: np.ndarray
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Components of each window merged onto a utilization grid and a log grid of shifts.

    A component at utilization ``rho`` between two grid nodes is replaced by the two
    nodes, its weight split linearly between them; components of one window with the
    same servers, node and shift bin (:data:`_SHIFT_LOG_STEP` wide in
    ``log(1 + shift / _SHIFT_FLOOR_S)``) become one, at their weighted mean shift.
    Utilizations above the grid (:data:`_MERGE_RHO_MAX`) and queued requests (rho 0)
    stay exact in rho.  Returns the merged components (sorted by window) and each
    window's first component and count.
    """
    row, _, src = _members(start, counts)
    c = comp["servers"][src].astype(np.int64)
    rho, shift, w = comp["rho"][src], comp["shift"][src], comp["weight"][src]
    grid = _MERGE_RHO_GRID
    node = np.clip(np.searchsorted(grid, rho, side="right") - 1, 0, grid.size - 2)
    frac = np.clip((rho - grid[node]) / (grid[node + 1] - grid[node]), 0.0, 1.0)
    off = rho > grid[-1]
    node = np.where(off, grid.size + np.cumsum(off) - 1, node)  # each its own node
    code = np.round(np.log1p(shift / _SHIFT_FLOOR_S) / _SHIFT_LOG_STEP).astype(np.int64)
    n_code, c_span, n_node = int(code.max()) + 1, int(c.max()) + 1, grid.size + int(off.sum())
    key = ((row * c_span + c) * n_node + node) * n_code + code
    frac = np.where(off, 0.0, frac)
    keys = np.concatenate([key, key + n_code])  # the right node is the next one
    parts = np.concatenate([w * (1.0 - frac), w * frac])
    shifts = np.concatenate([shift, shift])
    rhos = np.concatenate([np.where(off, rho, 0.0), np.zeros(rho.size)])
    nonzero = parts > 0
    inv, uniq = pd.factorize(keys[nonzero], sort=True)
    weight = np.bincount(inv, weights=parts[nonzero])
    m_shift = np.bincount(inv, weights=parts[nonzero] * shifts[nonzero]) / weight
    m_off_rho = np.bincount(inv, weights=parts[nonzero] * rhos[nonzero]) / weight
    rest = uniq // n_code
    m_node = rest % n_node
    m_c = (rest // n_node) % c_span
    m_row = rest // (n_node * c_span)
    on_grid = m_node < grid.size
    m_rho = np.where(on_grid, grid[np.minimum(m_node, grid.size - 1)], m_off_rho)
    m_counts = np.bincount(m_row, minlength=start.size)
    merged = {
        "weight": weight,
        "servers": m_c.astype(np.float64),
        "rho": m_rho,
        "shift": m_shift,
    }
    return merged, np.r_[0, np.cumsum(m_counts)[:-1]], m_counts


def _members(start: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the windows of components ``start[i]:start[i] + counts[i]``: each member's
    window, its place in the window and its component index."""
    row = np.repeat(np.arange(start.size), counts)
    slot = np.arange(row.size) - np.repeat(np.cumsum(counts) - counts, counts)
    return row, slot, np.repeat(start, counts) + slot


def _pad(
    comp: dict[str, np.ndarray], start: np.ndarray, counts: np.ndarray, width: int
) -> dict[str, np.ndarray]:
    """Components of each window as one padded row (weight 0 in the padding)."""
    row, slot, src = _members(start, counts)
    padded = {}
    for name, fill in {"weight": 0.0, "servers": 1.0, "rho": 0.0, "shift": np.inf}.items():
        arr = np.full((start.size, width), fill)
        arr[row, slot] = comp[name][src]
        padded[name] = arr
    return padded


def _solve_queued(
    comp: dict[str, np.ndarray],
    start: np.ndarray,
    counts: np.ndarray,
    width: int,
    mu: float,
) -> np.ndarray:
    """Quantiles of mixtures of shifted exponentials ``s_k + Exp(mu)``, in closed form.

    With the shifts sorted, the survival function on ``[s_j, s_{j+1}]`` is
    ``a_j exp(-mu (t - s_j)) + b_j`` (``a_j``: weight already past its shift, decayed
    to ``s_j``; ``b_j``: weight still ahead), so the quantile is
    ``s_j + ln(a_j / (p - b_j)) / mu`` on the last interval whose start survives with
    at least ``p = 1 - q``.
    """
    padded = _pad(comp, start, counts, width)
    order = np.argsort(padded["shift"], axis=1)
    shift = np.take_along_axis(padded["shift"], order, axis=1)
    w = np.take_along_axis(padded["weight"], order, axis=1)
    w = w / w.sum(axis=1, keepdims=True)
    a = np.empty_like(w)
    a[:, 0] = w[:, 0]
    for j in range(1, width):
        with np.errstate(invalid="ignore"):
            gap = np.where(np.isfinite(shift[:, j]), shift[:, j] - shift[:, j - 1], np.inf)
        a[:, j] = a[:, j - 1] * np.exp(-mu * gap) + w[:, j]
    b = 1.0 - np.cumsum(w, axis=1)  # weight whose shift lies after s_j
    b = np.maximum(b, 0.0)
    out = np.empty((start.size, len(QUANTILES)))
    for i, q in enumerate(QUANTILES):
        p = 1.0 - q
        alive = (a + b >= p) & np.isfinite(shift)
        j = width - 1 - np.argmax(alive[:, ::-1], axis=1)
        rows = np.arange(start.size)
        aj, bj, sj = a[rows, j], b[rows, j], shift[rows, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = sj + np.log(aj / np.maximum(p - bj, 1e-300)) / mu
        out[:, i] = t
    return out


def _solve_padded(
    comp: dict[str, np.ndarray],
    start: np.ndarray,
    counts: np.ndarray,
    width: int,
    mu: float,
    lo: np.ndarray,
    hi: np.ndarray,
    guess: np.ndarray,
) -> np.ndarray:
    """Mixture quantiles of windows whose components are ``start[i]:start[i] + counts[i]``."""
    padded = _pad(comp, start, counts, width)
    padded["shift"][~np.isfinite(padded["shift"])] = 0.0
    lam = padded["rho"] * padded["servers"] * mu
    res = queueing.mixture_quantile(
        np.asarray(QUANTILES)[:, None],
        padded["weight"][None],
        padded["servers"][None],
        lam[None],
        mu,
        padded["shift"][None],
        bracket=(lo.T, hi.T),
        start=guess.T,
        rtol=1e-9,
    )
    return np.asarray(res).T
