"""The loops of :mod:`simkit.windows`, compiled with numba: one window at a time.

A window is the run ``start[i]:start[i] + count[i]`` of flat component arrays:
``weight`` (served requests) [count], ``erl_c`` (Erlang C) [-], ``theta_mu`` (the
drain rate over the service rate, ``c - a``) [-], ``stable`` [bool] and ``shift``
[s]; ``mu`` is the service rate [1/s].  A component's requests take ``shift + T``,
``T`` the M/M/c response time, whose survival and density are
:func:`simkit.queueing._response_sf_pdf` itself, compiled here for scalars (one
formula); an unstable component never finishes.  Each loop reads the components
of its window in place: no padding to a common width and no temporary arrays (what
made the NumPy version slow on millions of components).
"""

from __future__ import annotations

import numpy as np

from simkit import queueing
from simkit.jit import njit

__all__ = [
    "bounds",
    "cells",
    "components",
    "merge",
    "newton_step",
    "queued_only",
    "solve",
    "solve_queued",
]

_sf_pdf = njit(queueing._response_sf_pdf, inline=True)

#: Iterations of :func:`solve` at most (as :func:`simkit.queueing.mixture_quantile`).
MAX_ITER = 200


@njit(inline=True)
def _mixture_at(
    x: float,
    s: int,
    n: int,
    weight: np.ndarray,
    erl_c: np.ndarray,
    theta_mu: np.ndarray,
    stable: np.ndarray,
    shift: np.ndarray,
    mu: float,
) -> tuple[float, float]:
    """Weighted survival [count] and density [count/s] of components ``s:s + n`` at ``x`` [s].

    Sums of ``weight`` times each component's survival and density (divide by the
    window's total weight for the mixture's); a component not yet started
    (``x <= shift``) or unstable survives with its whole weight and density 0.
    """
    sf = 0.0
    pdf = 0.0
    for k in range(s, s + n):
        if stable[k] and x > shift[k]:
            if erl_c[k] == 0.0:  # no wait: _sf_pdf is exp(-tau) for both, bit for bit
                f = d = np.exp(-(x - shift[k]) * mu)
            else:
                f, d = _sf_pdf((x - shift[k]) * mu, erl_c[k], theta_mu[k])
            sf += weight[k] * f
            pdf += weight[k] * d * mu
        else:
            sf += weight[k]
    return sf, pdf


@njit
def cells(
    row: np.ndarray, first_step: np.ndarray, window: np.ndarray, n_win: int, n_cell: int
) -> tuple[np.ndarray, np.ndarray]:
    """Where each output cell's components start, for components sorted by cell.

    Parameters
    ----------
    row : numpy.ndarray
        Output row of each component (its replication's place, 0 when pooled).
    first_step : numpy.ndarray
        First step of each component [index].
    window : numpy.ndarray
        Window of each step of the run [index].
    n_win, n_cell : int
        Windows per row, and rows times windows.

    Returns
    -------
    tuple of numpy.ndarray
        The first component of each non-empty cell and that cell
        (``row * n_win + window``), int64.
    """
    size = min(row.size, n_cell)
    starts, cell_of = np.empty(size, np.int64), np.empty(size, np.int64)
    n, last = 0, -1
    for k in range(row.size):
        cell = row[k] * n_win + window[first_step[k]]
        if cell != last:
            starts[n], cell_of[n], last = k, cell, cell
            n += 1
    return starts[:n], cell_of[:n]


@njit
def bounds(
    start: np.ndarray, count: np.ndarray, weight: np.ndarray, quantiles: np.ndarray, rho: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What each window's component quantiles say about the window's, in one pass.

    Parameters
    ----------
    start, count, weight
        As for :func:`newton_step`.
    quantiles : numpy.ndarray
        The components' own quantiles [s], ``[m, Q]``.
    rho : numpy.ndarray
        The components' utilization [-] (0: a queued request).

    Returns
    -------
    tuple of numpy.ndarray
        Smallest, largest and request-weighted mean component quantile [s] (``[n, Q]``
        each: the window's lies between the first two), their relative spread (the
        largest ``hi / lo - 1`` over the levels) [-] and whether the window holds no
        queued request (bool ``[n]``).
    """
    n, n_q = start.size, quantiles.shape[1]
    lo, hi, mean = np.full((n, n_q), np.inf), np.full((n, n_q), -np.inf), np.zeros((n, n_q))
    spread, smooth = np.empty(n), np.ones(n, np.bool_)
    for i in range(n):
        total = 0.0
        for k in range(start[i], start[i] + count[i]):
            total += weight[k]
            smooth[i] &= rho[k] != 0.0
            for j in range(n_q):
                lo[i, j] = min(lo[i, j], quantiles[k, j])
                hi[i, j] = max(hi[i, j], quantiles[k, j])
                mean[i, j] += weight[k] * quantiles[k, j]
        mean[i] /= total
        ratio = -np.inf
        for j in range(n_q):
            ratio = max(ratio, hi[i, j] / max(lo[i, j], 1e-300))
        spread[i] = ratio - 1.0
    return lo, hi, mean, spread, smooth


@njit
def newton_step(
    x0: np.ndarray,
    start: np.ndarray,
    count: np.ndarray,
    comp: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    mu: float,
    quantiles: np.ndarray,
) -> np.ndarray:
    """One Newton step on each window's mixture CDF from ``x0``.

    Parameters
    ----------
    x0 : numpy.ndarray
        Starting points [s], ``[n, Q]``.
    start, count : numpy.ndarray
        First component and number of components of each window, int64 ``[n]``.
    comp : tuple of numpy.ndarray
        ``weight, erl_c, theta_mu, stable, shift`` of the components (see the module).
    mu : float
        Service rate [1/s].
    quantiles : numpy.ndarray
        Probability levels [-], ``[Q]``.

    Returns
    -------
    numpy.ndarray
        ``x0 + (q - F(x0)) / f(x0)`` [s] (``x0`` where the density is 0), ``[n, Q]``.
    """
    weight, erl_c, theta_mu, stable, shift = comp
    out = x0.copy()
    for i in range(start.size):
        s, n = start[i], count[i]
        total = 0.0
        for k in range(s, s + n):
            total += weight[k]
        for j in range(quantiles.size):
            sf, pdf = _mixture_at(x0[i, j], s, n, weight, erl_c, theta_mu, stable, shift, mu)
            if pdf > 0.0:
                out[i, j] = x0[i, j] + (quantiles[j] - (1.0 - sf / total)) / (pdf / total)
    return out


@njit
def solve(
    start: np.ndarray,
    count: np.ndarray,
    comp: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    mu: float,
    quantiles: np.ndarray,
    bracket: tuple[np.ndarray, np.ndarray, np.ndarray],
    rtol: float,
) -> np.ndarray:
    """Quantiles of each window's mixture by safeguarded Newton inside a bracket.

    The iteration of :func:`simkit.queueing.mixture_quantile`: a Newton step on the
    mixture's survival when it stays strictly inside the bracket, else bisection;
    it stops when a step or the bracket is within ``rtol`` of the point.

    Parameters
    ----------
    start, count, comp, mu, quantiles
        As for :func:`newton_step`.
    bracket : tuple of numpy.ndarray
        ``lo, hi, guess``: bracket of each window's quantiles and first points (clipped
        into it) [s], ``[n, Q]`` each.
    rtol : float
        Relative tolerance [-].

    Returns
    -------
    numpy.ndarray
        ``[n, Q]`` [s]; ``inf`` where unstable components hold at least ``1 - q`` of
        the weight.
    """
    weight, erl_c, theta_mu, stable, shift = comp
    lo, hi, guess = bracket
    out = np.empty((start.size, quantiles.size))
    for i in range(start.size):
        s, n = start[i], count[i]
        total, lost = 0.0, 0.0
        for k in range(s, s + n):
            total += weight[k]
            lost += 0.0 if stable[k] else weight[k]
        for j in range(quantiles.size):
            p = 1.0 - quantiles[j]
            if p <= lost / total:
                out[i, j] = np.inf
                continue
            lower, upper = lo[i, j], max(hi[i, j], lo[i, j])
            x = min(max(guess[i, j], lower), upper)
            for _ in range(MAX_ITER):
                sf, pdf = _mixture_at(x, s, n, weight, erl_c, theta_mu, stable, shift, mu)
                sf, pdf = sf / total, pdf / total
                if sf > p:  # survival still too high: the quantile lies to the right
                    lower = x
                else:
                    upper = x
                new = x + (sf - p) / pdf if pdf > 0.0 else np.nan
                if not (np.isfinite(new) and lower < new < upper):
                    new = 0.5 * (lower + upper)
                done = abs(new - x) <= rtol * new or upper - lower <= rtol * upper
                x = new
                if done:
                    break
            out[i, j] = x
    return out


@njit
def queued_only(
    start: np.ndarray, count: np.ndarray, rho: np.ndarray, servers: np.ndarray
) -> np.ndarray:
    """Whether every component of each window is a queued request (one server, rho 0).

    Parameters
    ----------
    start, count
        As for :func:`newton_step`.
    rho, servers : numpy.ndarray
        Utilization [-] and servers [-] of the components.

    Returns
    -------
    numpy.ndarray
        bool ``[n]``.
    """
    out = np.ones(start.size, np.bool_)
    for i in range(start.size):
        for k in range(start[i], start[i] + count[i]):
            if rho[k] != 0.0 or servers[k] != 1:
                out[i] = False
                break
    return out


@njit
def solve_queued(
    start: np.ndarray,
    count: np.ndarray,
    weight: np.ndarray,
    shift: np.ndarray,
    mu: float,
    quantiles: np.ndarray,
) -> np.ndarray:
    """Quantiles of mixtures of shifted exponentials ``shift_k + Exp(mu)``, in closed form.

    With the shifts sorted, the survival on ``[s_j, s_{j+1}]`` is
    ``a_j exp(-mu (t - s_j)) + b_j`` (``a_j``: weight already past its shift, decayed
    to ``s_j``; ``b_j``: weight still ahead), so the quantile is
    ``s_j + ln(a_j / (p - b_j)) / mu`` on the last interval whose start survives with
    at least ``p = 1 - q``.

    Parameters
    ----------
    start, count, mu, quantiles
        As for :func:`newton_step`.
    weight, shift : numpy.ndarray
        Served requests [count] and shift [s] of components that are all queued
        requests (one server, no arrivals of their own: the service time follows).

    Returns
    -------
    numpy.ndarray
        ``[n, Q]`` [s].
    """
    out = np.empty((start.size, quantiles.size))
    most = count.max() if count.size else 0
    order, a, b = np.empty(most, np.int64), np.empty(most), np.empty(most)  # scratch
    for i in range(start.size):
        s, n = start[i], count[i]
        _sort_shifts(shift, s, n, order)
        total = 0.0
        for k in range(s, s + n):
            total += weight[k]
        past = 0.0
        for j in range(n):
            w = weight[order[j]] / total
            gap = shift[order[j]] - shift[order[j - 1]] if j > 0 else 0.0
            a[j] = a[j - 1] * np.exp(-mu * gap) + w if j > 0 else w
            past += w
            b[j] = max(1.0 - past, 0.0)
        for m in range(quantiles.size):
            p = 1.0 - quantiles[m]
            j = n - 1
            while j > 0 and a[j] + b[j] < p:
                j -= 1
            out[i, m] = shift[order[j]] + np.log(a[j] / max(p - b[j], 1e-300)) / mu
    return out


@njit(inline=True)
def _sort_shifts(shift: np.ndarray, s: int, n: int, order: np.ndarray) -> None:
    """``order[:n]``: the components ``s:s + n`` by increasing shift.

    Insertion sort for a few (the waits of consecutive steps differ little: nearly
    sorted already, no allocation), ``np.argsort`` for many.
    """
    if n > 64:
        order[:n] = np.argsort(shift[s : s + n]) + s
        return
    for j in range(n):
        m = j
        while m > 0 and shift[order[m - 1]] > shift[s + j]:
            order[m] = order[m - 1]
            m -= 1
        order[m] = s + j


@njit
def merge(
    start: np.ndarray,
    count: np.ndarray,
    comp: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    grid: np.ndarray,
    floor_s: float,
    log_step: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Components of each window merged onto a utilization grid and a log grid of shifts.

    A component at utilization ``rho`` between grid nodes ``g_m <= rho < g_{m+1}`` is
    replaced by the two nodes, its weight split linearly between them; the parts of
    one window with the same servers, node and shift bin (``round(log1p(shift /
    floor_s) / log_step)``) become one component at their weighted mean shift.
    Utilizations above the grid stay exact, one component each.  Parts are summed in
    a hash table per window, in the order the components come.

    Parameters
    ----------
    start, count
        As for :func:`newton_step`.
    comp : tuple of numpy.ndarray
        ``weight`` [count], ``servers`` [-] (float64), ``rho`` [-] (0: a queued
        request) and ``shift`` [s] of the components.
    grid : numpy.ndarray
        Utilization nodes [-], increasing, from 0.
    floor_s, log_step : float
        Shift scale [s] and bin width [-] in ``log1p(shift / floor_s)``.

    Returns
    -------
    tuple of numpy.ndarray
        The merged components, ``[4, m]``: weight [count], servers [-], rho [-] and
        shift [s]; then each window's first merged component and count (int64).
    """
    out = np.empty((4, 2 * count.sum()))
    m_start, m_count = np.empty(start.size, np.int64), np.empty(start.size, np.int64)
    pos = 0
    for i in range(start.size):
        m_start[i] = pos
        pos = _merge_window(start[i], count[i], comp, grid, floor_s, log_step, out, pos)
        m_count[i] = pos - m_start[i]
    out = out[:, :pos]
    out[3] /= out[0]  # weighted sums of shifts to weighted means
    return out, m_start, m_count


@njit(inline=True)
def _slot(keys: np.ndarray, key: int) -> int:
    """Where ``key`` is in the hash table ``keys`` (open addressing, linear probing), or
    the free slot where it goes; the table's size is a power of two."""
    mask = keys.size - 1
    h = (key * 2654435761) & mask
    while keys[h] != -1 and keys[h] != key:
        h = (h + 1) & mask
    return h


@njit
def _grown(keys: np.ndarray, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hash table (``keys`` and their ``slots``) rebuilt twice as large."""
    new_keys, new_slots = np.full(2 * keys.size, -1, np.int64), np.empty(2 * keys.size, np.int64)
    for h in range(keys.size):
        if keys[h] != -1:
            g = _slot(new_keys, keys[h])
            new_keys[g], new_slots[g] = keys[h], slots[h]
    return new_keys, new_slots


@njit
def _merge_window(
    s: int,
    n: int,
    comp: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    grid: np.ndarray,
    floor_s: float,
    log_step: float,
    out: np.ndarray,
    pos: int,
) -> int:
    """Merge components ``s:s + n`` into ``out`` from column ``pos`` on (see :func:`merge`).

    Row 3 of ``out`` receives weighted sums of shifts.  Returns the next free column.
    """
    weight, servers, rho, shift = comp
    codes = np.empty(n, np.int64)
    for k in range(n):
        codes[k] = np.int64(np.rint(np.log1p(shift[s + k] / floor_s) / log_step))
    n_code = codes.max() + 1 if n else 1
    keys, slots = np.full(1024, -1, np.int64), np.empty(1024, np.int64)
    used, top = 0, grid.size - 1
    for k in range(s, s + n):
        if rho[k] > grid[top]:  # its own component, exact in rho
            out[0, pos], out[1, pos] = weight[k], servers[k]
            out[2, pos], out[3, pos] = rho[k], weight[k] * shift[k]
            pos += 1
            continue
        node, frac = 0, 0.0  # a queued request (rho 0) sits on the first node
        if rho[k] != 0.0:
            node = min(max(np.searchsorted(grid, rho[k], side="right") - 1, 0), top - 1)
            frac = min(max((rho[k] - grid[node]) / (grid[node + 1] - grid[node]), 0.0), 1.0)
        for side in range(2):
            part = weight[k] * (1.0 - frac) if side == 0 else weight[k] * frac
            if part <= 0.0:
                continue
            key = (np.int64(servers[k]) * grid.size + node + side) * n_code + codes[k - s]
            h = _slot(keys, key)
            if keys[h] == -1:
                if 2 * (used + 1) > keys.size:  # at most half full: short probes
                    keys, slots = _grown(keys, slots)
                    h = _slot(keys, key)
                keys[h], slots[h] = key, pos
                used += 1
                out[0, pos], out[1, pos] = 0.0, servers[k]
                out[2, pos], out[3, pos] = grid[node + side], 0.0
                pos += 1
            out[0, slots[h]] += part
            out[3, slots[h]] += part * shift[k]
    return pos


@njit(inline=True)
def _served(
    r: int,
    p: int,
    j: int,
    o: int,
    period_served: np.ndarray,
    servers: np.ndarray,
    arrivals: np.ndarray,
    errors: np.ndarray,
) -> float:
    """Served requests [count] of step ``j`` of period ``p`` (overlay row ``o``), or of
    the whole period when it is steady (``o < 0``; none without servers)."""
    if o < 0:
        return period_served[r, p] if servers[r, p] > 0 else 0.0
    return max(np.float64(arrivals[o, j]) - errors[o, j], 0.0)


@njit
def components(
    periods: tuple,
    queue: tuple,
    queued_request: tuple,
    overlay: tuple,
) -> tuple:
    """Every mixture component of a run that served requests, by replication and step.

    A steady period is one component; a period of the overlay is one component per
    step, a queued request's being its wait then one service time (one server, no
    arrivals of its own).

    Parameters
    ----------
    periods : tuple of numpy.ndarray
        Per period, ``[R, P]``: the overlay row of a period resolved step by step
        (else -1), served requests of a steady period [count], servers [-] (int64),
        utilization [-], backend latency [s] and the latency quantiles [s]
        (``[R, P, Q]``).
    queue : tuple of numpy.ndarray
        Stability, Erlang C [-] and drain rate over the service rate [-] of each
        period's queue, ``[R, P]``.
    queued_request : tuple
        The same three for a queued request.
    overlay : tuple of numpy.ndarray
        Per overlay row and step, ``[n, k]``: offered and failed requests [count],
        queued [bool], wait [s] and latency quantiles [s] (``[n, k, Q]``).

    Returns
    -------
    tuple of numpy.ndarray
        ``rep``, ``first_step``, ``steps`` (int64), ``weight`` [count], ``servers``
        (int64), ``rho`` [-], ``shift`` [s], ``quantiles`` [s] (``[m, Q]``),
        ``stable``, ``erl_c`` [-] and ``theta_mu`` [-] of the ``m`` components.
    """
    row, served, servers, rho, backend, latency = periods
    stable_p, erl_c_p, theta_p = queue
    stable_q, erl_c_q, theta_q = queued_request
    arrivals, errors, queued, wait, step_latency = overlay
    k, n_q = errors.shape[1], latency.shape[2]
    m = 0
    for r in range(row.shape[0]):
        for p in range(row.shape[1]):
            for j in range(k if row[r, p] >= 0 else 1):
                m += _served(r, p, j, row[r, p], served, servers, arrivals, errors) > 0.0
    rep, first = np.empty(m, np.int64), np.empty(m, np.int64)
    steps, c = np.empty(m, np.int32), np.empty(m, np.int32)  # k at most, servers
    weight, utilization, shift = np.empty(m), np.empty(m), np.empty(m)
    erl_c, theta_mu, stable = np.empty(m), np.empty(m), np.empty(m, np.bool_)
    quantiles = np.empty((m, n_q), np.float32)  # the engine's own float32 values
    i = 0
    for r in range(row.shape[0]):
        for p in range(row.shape[1]):
            o = row[r, p]
            for j in range(k if o >= 0 else 1):
                w = _served(r, p, j, o, served, servers, arrivals, errors)
                if w <= 0.0:
                    continue
                rep[i], first[i], steps[i], weight[i] = r, p * k + j, 1 if o >= 0 else k, w
                if o >= 0 and queued[o, j]:  # its wait, then one service time
                    c[i], utilization[i] = 1, 0.0
                    shift[i] = backend[r, p] + np.float64(wait[o, j])
                    stable[i], erl_c[i], theta_mu[i] = stable_q, erl_c_q, theta_q
                else:
                    c[i], utilization[i], shift[i] = servers[r, p], rho[r, p], backend[r, p]
                    stable[i], erl_c[i], theta_mu[i] = stable_p[r, p], erl_c_p[r, p], theta_p[r, p]
                for q in range(n_q):
                    quantiles[i, q] = step_latency[o, j, q] if o >= 0 else latency[r, p, q]
                i += 1
    return rep, first, steps, weight, c, utilization, shift, quantiles, stable, erl_c, theta_mu
