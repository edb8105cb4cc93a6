"""The whole-array part of the engine: errors, backlog and latency, per step.

Periods in M/M/c steady state are handled per period; overloaded periods and
those touched by a failure window get values per step (the step overlay).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simkit import queueing, workload
from simkit.clock import Clock
from simkit.control import LoopOutput, backlog_path, events_in_service
from simkit.effects import Effects, FailureWindow
from simkit.failures import FailureTimeline
from simkit.result import SimResult, StepOverlay
from simkit.scenario import Scenario

if TYPE_CHECKING:
    from simkit.outcome_kernel import OverlayInputs, OverlayOutputs, OverlayParams

__all__ = ["finish", "overlay_reference", "queue_wait_reference", "served_before"]

#: Replications processed together in the memory-heavy whole-array steps.
_CHUNK_REPLICATIONS = 8
#: Latency table: utilizations up to 0.9999 (stable periods above use exact quantiles),
#: with twice the default grid points for twice the range in -ln(1 - rho).
TABLE_RHO_MAX = 0.9999
TABLE_N_RHO = 192


def _period_quantiles(
    table: queueing.LatencyTable,
    servers: np.ndarray,
    rho: np.ndarray,
    rho_q: np.ndarray,
    mu: float,
    backend_s: np.ndarray,
    timeout_s: float,
) -> np.ndarray:
    """M/M/c response-time quantiles plus the backend latency per period [s], float32
    ``[R, P, 3]`` (computed in float64, capped at the timeout, then rounded).

    Table lookups up to ``table.rho_max``; stable periods above it (utilization below
    1) get the exact quantile; no Ready server: the timeout.
    """
    n_rep, n_per = servers.shape
    out = np.empty((n_rep, n_per, len(table.quantiles)), dtype=np.float32)
    near = (rho > table.rho_max) & (rho < 1.0) & (servers > 0)
    for lo in range(0, n_rep, _CHUNK_REPLICATIONS):  # bounded temporaries
        rows = slice(lo, lo + _CHUNK_REPLICATIONS)
        c = servers[rows]
        q_s = queueing.table_quantiles(table, np.maximum(c, 1), rho_q[rows])
        np.divide(q_s, mu, out=q_s)
        if near[rows].any():
            at = near[rows]
            c_near = c[at].astype(np.float64)[:, None]
            q = np.asarray(table.quantiles)[None, :]
            lam = rho[rows][at][:, None] * c_near * mu  # [1/s]
            q_s[at] = queueing.response_time_quantile(q, c_near, lam, mu)
        np.add(q_s, backend_s[rows, :, None], out=q_s)
        np.minimum(q_s, timeout_s, out=q_s)
        q_s[c == 0] = timeout_s
        out[rows] = q_s
    return out


def served_before(cap_rps: np.ndarray, period_s: float) -> np.ndarray:
    """Capacity served before each period [requests], ``[R, P + 1]`` (0 first)."""
    n_rep, n_per = cap_rps.shape
    served = np.zeros((n_rep, n_per + 1))
    np.cumsum(cap_rps * period_s, axis=1, out=served[:, 1:])
    return served


def queue_wait_reference(
    served: np.ndarray,
    cap_rps: np.ndarray,
    period_s: float,
    rep: np.ndarray,
    t_s: np.ndarray,
    ahead: np.ndarray,
) -> np.ndarray:
    """Time until the capacity to come has served ``ahead`` requests [s].

    A request arriving at ``t_s`` behind ``ahead - 1`` queued requests starts service
    after ``ahead`` departures; departures follow the replication's capacity per period
    (``cap_rps``, constant within a period; ``served`` from :func:`served_before`),
    including capacity that comes back while it waits.  Past the end of the run the
    last period's capacity continues.  The NumPy reference of
    :func:`simkit.control_kernel.queue_wait_s`.
    """
    n_per = cap_rps.shape[1]
    p = np.minimum((t_s // period_s).astype(np.int64), n_per - 1)
    target = served[rep, p] + cap_rps[rep, p] * (t_s - p * period_s) + ahead
    idx = np.empty(rep.size, dtype=np.int64)
    for r in np.unique(rep):  # one sorted row per replication: exact comparisons
        rows = np.flatnonzero(rep == r)
        idx[rows] = np.searchsorted(served[r], target[rows], side="right") - 1
    idx = np.clip(idx, 0, n_per)
    inside = idx < n_per
    cap_end = np.where(inside, cap_rps[rep, np.minimum(idx, n_per - 1)], cap_rps[rep, -1])
    left = target - served[rep, idx]
    with np.errstate(divide="ignore", invalid="ignore"):
        end_s = idx * period_s + np.where(cap_end > 0, left / cap_end, np.inf)
    return np.maximum(end_s - t_s, 0.0)


def _window_steps(
    windows: tuple[FailureWindow, ...], clock: Clock, n_rep: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Failure windows as (replication, step, fraction, cause index) per covered step.

    Window by window, each replication it hits (all for ``replication = -1``), step by
    step.  A step partly covered fails the covered share of its requests [-];
    overlapping windows add up (capped at 1 by the caller).  Causes are numbered in
    order of first appearance.
    """
    empty = np.zeros(0, dtype=np.int64)
    if not windows:
        return empty, empty, np.zeros(0), empty, []
    dt = clock.step_s
    start = np.array([w.start_s for w in windows], dtype=np.float64)
    end = np.array([w.end_s for w in windows], dtype=np.float64)
    replication = np.array([w.replication for w in windows], dtype=np.int64)
    first = np.maximum(np.floor(start / dt).astype(np.int64), 0)
    n_steps = np.maximum(np.minimum(np.ceil(end / dt).astype(np.int64), clock.n_steps) - first, 0)
    count = np.where(replication < 0, n_rep, 1) * n_steps
    names = list(dict.fromkeys(w.cause for w, c in zip(windows, count, strict=True) if c))
    if not names:
        return empty, empty, np.zeros(0), empty, []
    number = {name: i for i, name in enumerate(names)}
    cause = np.array([number.get(w.cause, -1) for w in windows], dtype=np.int64)
    wid = np.repeat(np.arange(len(windows)), count)
    offset = np.arange(wid.size) - np.repeat(np.cumsum(count) - count, count)
    row, idx = np.divmod(offset, n_steps[wid])
    idx += first[wid]
    rep = np.where(replication[wid] < 0, row, replication[wid])
    cover = (np.minimum((idx + 1) * dt, end[wid]) - np.maximum(idx * dt, start[wid])) / dt
    fraction = np.array([w.fraction for w in windows], dtype=np.float64)
    return rep, idx, np.clip(cover, 0.0, 1.0) * fraction[wid], cause[wid], names


def _row_sums(x: np.ndarray) -> np.ndarray:
    """Sums over the last axis, from 0 left to right (the compiled overlay's order)."""
    out = np.zeros(x.shape[:-1])
    for j in range(x.shape[-1]):
        out += x[..., j]
    return out


def _queue_latency_reference(
    pp: OverlayParams, a: OverlayInputs, level: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Queued flags, waits [s] and latency quantiles [s] (float32) per step of the rows.

    Requests of overloaded periods queue behind the backlog (at load above capacity
    even when it is momentarily empty); once it has drained below capacity they see
    the M/M/c steady state again.
    """
    over = a.overloaded[:, None]
    start = np.concatenate([np.where(over, a.backlog0[:, None], 0.0), level[:, :-1]], axis=1)
    queued = over & ((start > 0) | (level > 0) | a.saturated[:, None])
    wait = np.zeros_like(level)
    if queued.any():
        qi, qj = np.nonzero(queued)
        ahead = (start[qi, qj] + level[qi, qj]) / 2.0
        t_s = (a.period[qi] * pp.steps + qj + 0.5) * pp.step_s
        wait[qi, qj] = queue_wait_reference(
            a.served, a.cap_rps, pp.period_s, a.rep[qi], t_s, ahead + 1.0
        )
    np.minimum(wait, pp.timeout_s, out=wait)
    queued_latency = a.backend_s[:, None, None] + wait[:, :, None] + a.service_q_s
    np.minimum(queued_latency, pp.timeout_s, out=queued_latency)
    latency = np.where(queued[:, :, None], queued_latency.astype(np.float32), a.q_period_s[:, None])
    return queued, wait, latency


def overlay_reference(pp: OverlayParams, a: OverlayInputs) -> OverlayOutputs:
    """The NumPy reference of :func:`simkit.outcome_kernel.overlay`: whole-array steps.

    Splits every row's arrivals itself (``a.split`` is not read).

    Parameters
    ----------
    pp : OverlayParams
    a : OverlayInputs

    Returns
    -------
    OverlayOutputs
        Bit-identical to the compiled overlay's.
    """
    from simkit.outcome_kernel import FIRST_FRACTION, OVERLOAD, UNAVAILABLE, OverlayOutputs

    n, k, n_f = a.rep.size, pp.steps, a.fractions.shape[1]
    arr = workload.step_arrivals(a.keys, a.rep, a.period, a.counts, k)
    over = a.overloaded[:, None]
    level, dropped = backlog_path(a.backlog0, arr, a.departures, a.limit)
    level = np.where(over, level, 0.0)
    drop = np.divide(dropped, arr, out=np.zeros_like(dropped), where=arr > 0)
    drop = np.clip(np.where(over, drop, 0.0), 0.0, 1.0)
    window = np.zeros((n, pp.n_window_causes, k))
    w_row = np.repeat(np.arange(n), np.diff(a.w_ptr))
    np.add.at(window, (w_row, a.w_cause, a.w_step), a.w_frac)
    total = drop + _row_sums(window.transpose(0, 2, 1)) + _row_sums(a.fractions)[:, None]
    sc = 1.0 / np.maximum(total, 1.0)
    err = arr * np.minimum(total, 1.0)
    causes = np.zeros((n, FIRST_FRACTION + n_f + pp.n_window_causes))
    dropped_errors = _row_sums(arr * drop * sc)
    causes[:, UNAVAILABLE] = np.where(a.down, dropped_errors, 0.0)
    causes[:, OVERLOAD] = np.where(a.down, 0.0, dropped_errors)
    for f in range(n_f):
        causes[:, FIRST_FRACTION + f] = _row_sums(arr * a.fractions[:, f, None] * sc)
    for c in range(pp.n_window_causes):
        causes[:, FIRST_FRACTION + n_f + c] = _row_sums(arr * window[:, c] * sc)
    queued, wait, latency = _queue_latency_reference(pp, a, level)
    f32 = np.float32
    return OverlayOutputs(
        arr.astype(f32),
        err.astype(f32),
        level.astype(f32),
        latency,
        wait.astype(f32),
        queued,
        _row_sums(err),
        causes,
    )


def _overlay_inputs(
    ri: np.ndarray,
    pi: np.ndarray,
    clock: Clock,
    timeout_s: float,
    arrivals: np.ndarray,
    split_keys: np.ndarray,
    overloaded: np.ndarray,
    loop: LoopOutput,
    per_period: dict[str, np.ndarray],
    fractions: list[np.ndarray],
    windows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int],
    service_q_s: np.ndarray,
) -> tuple[OverlayParams, OverlayInputs]:
    """The overlay rows' inputs, shared by both engines.

    ``per_period`` holds the ``[R, P]`` arrays ``limit``, ``rho``, ``servers``,
    ``cap_rps``, ``backend_s`` and ``q_period_s`` (float32 ``[R, P, Q]``); ``fractions`` the
    steady error fractions by cause, ``[R, P]`` each; ``windows`` is
    ``_window_steps``'s output with the number of causes last.
    """
    from simkit.outcome_kernel import OverlayInputs, OverlayParams
    from simkit.split_kernel import log_factorials

    k, n_per = clock.steps_per_period, arrivals.shape[1]
    flat = ri * n_per + pi

    def at(x: np.ndarray) -> np.ndarray:  # the rows' values of an [R, P, ...] array
        return x.reshape(-1, *x.shape[2:]).take(flat, axis=0)

    w_rep, w_step, w_frac, w_cause, n_causes = windows
    w_row = np.searchsorted(flat, w_rep * n_per + w_step // k)
    order = np.argsort(w_row, kind="stable")  # a row's entries in window order
    w_ptr = np.zeros(ri.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(w_row, minlength=ri.size), out=w_ptr[1:])
    counts = at(arrivals).astype(np.int64)
    cap_rps = np.ascontiguousarray(per_period["cap_rps"], dtype=np.float64)
    over = at(overloaded)
    served = served_before(cap_rps, clock.period_s) if over.any() else np.zeros((0, 0))
    params = OverlayParams(k, n_causes, float(clock.period_s), float(clock.step_s), timeout_s)
    return params, OverlayInputs(
        ri.astype(np.int64),
        pi.astype(np.int64),
        counts,
        np.ascontiguousarray(split_keys, dtype=np.uint64),
        log_factorials(max(int(counts.max(initial=0)), k)),
        np.zeros((0, 0), np.int32) if loop.split_at is None else loop.split_at,
        np.zeros((0, k)) if loop.split is None else loop.split,
        over,
        at(loop.backlog0),
        at(loop.departures),
        at(per_period["limit"]).astype(np.float64),
        at(per_period["rho"]) >= 1.0,
        at(per_period["servers"]) == 0,
        np.stack([at(f) for f in fractions], axis=-1).reshape(ri.size, len(fractions)),
        w_ptr,
        w_cause[order].astype(np.int64),
        (w_step[order] % k).astype(np.int64),
        w_frac[order].astype(np.float64),
        served,
        cap_rps,
        at(per_period["backend_s"]),
        at(per_period["q_period_s"]),
        np.ascontiguousarray(service_q_s, dtype=np.float64),
    )


def _overlay(pp: OverlayParams, a: OverlayInputs, engine: str) -> OverlayOutputs:
    """The step overlay: compiled unless ``engine == "numpy"`` (the reference)."""
    if engine == "numpy":
        return overlay_reference(pp, a)
    from simkit import outcome_kernel

    out = outcome_kernel.empty_outputs(
        a.rep.size, pp.steps, a.service_q_s.size, 2 + a.fractions.shape[1] + pp.n_window_causes
    )
    outcome_kernel.overlay(pp, a, out)
    return out


def _timeout_tail(
    servers: np.ndarray,
    rate_rps: np.ndarray,
    cap_rps: np.ndarray,
    mu: float,
    budget_s: np.ndarray,
    stable: np.ndarray,
) -> np.ndarray:
    """Share of requests slower than the timeout in stable periods [-], ``[R, P]``.

    The tail is below ``exp(-min(mu, c mu - lambda) t / 2)`` (wait and service each
    over ``t / 2``); where that bound is under 1e-30 the tail is 0 to float64
    precision of the counts.  ``budget_s``: the timeout less the backend latency [s].
    """
    tail = np.zeros(servers.shape)
    relevant = stable & (np.minimum(mu, cap_rps - rate_rps) * budget_s / 2.0 < 69.0)
    if relevant.any():
        tail[relevant] = 1.0 - queueing.response_time_cdf(
            budget_s[relevant], servers[relevant], rate_rps[relevant], mu
        )
    return tail


def _crash_fraction(
    scenario: Scenario, clock: Clock, rate_rps: np.ndarray, rho: np.ndarray,
    ready: np.ndarray, crashes: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """Share of requests lost to instance crashes [-], ``[R, P]``.

    In flight on the instance, and routed to it until the load balancer notices; they
    fail during the following period.
    """
    per_instance_rps = np.divide(rate_rps, ready, out=np.zeros_like(rate_rps), where=ready > 0)
    in_flight = scenario.servers_per_instance * np.minimum(rho, 1.0)
    lost = crashes * (in_flight + per_instance_rps * scenario.failures.detection_s)
    crash_frac = np.zeros(rate_rps.shape)
    offered_next = rate_rps[:, 1:] * clock.period_s
    np.divide(lost[:, :-1], offered_next, out=crash_frac[:, 1:], where=offered_next > 0)
    return crash_frac


def finish(
    scenario: Scenario,
    clock: Clock,
    rate_rps: np.ndarray,
    arrivals: np.ndarray,
    split_keys: np.ndarray,
    loop: LoopOutput,
    timeline: FailureTimeline,
    effects: Effects,
    seed: int,
    forecast_floor: np.ndarray | None = None,
    forecast_rps: np.ndarray | None = None,
    engine: str = "numba",
) -> SimResult:
    """Whole-array part: errors, backlog and latency per step; KPIs' raw material.

    Work is done per period wherever the period is in M/M/c steady state, and
    per step only in the periods that are overloaded or touched by a failure
    window (the step overlay).  ``engine`` as for :func:`simkit.simulate`: the
    overlay is compiled (:mod:`simkit.outcome_kernel`) unless it is ``"numpy"``
    (:func:`overlay_reference`); both give the same arrays.
    """
    svc = scenario.service
    n_rep, n_per = rate_rps.shape
    k = clock.steps_per_period
    mu = scenario.service_rate_rps
    timeout_s = svc.timeout_s
    backend_s = np.zeros((n_rep, n_per))
    if effects.latency_s is not None:
        backend_s += effects.latency_s  # cache, database, injected latency
    servers = loop.ready * np.int64(scenario.servers_per_instance)
    cap_rps = servers * mu
    limit = loop.ready * min(
        float(svc.queue_limit_per_instance), scenario.servers_per_instance * mu * timeout_s
    )

    table = queueing.build_latency_table(
        max(int(servers.max()), 1), rho_max=TABLE_RHO_MAX, n_rho=TABLE_N_RHO
    )
    overloaded = (loop.backlog0 > 0) | (rate_rps - cap_rps > 0)
    rho = np.divide(rate_rps, cap_rps, out=np.zeros_like(rate_rps), where=cap_rps > 0)
    # Utilization of the M/M/c component: the period's own, or the highest tabulated one
    # in overloaded periods (used only by their steps with an empty queue).
    rho_q = np.minimum(rho, table.rho_max)
    q_period_s = _period_quantiles(table, servers, rho, rho_q, mu, backend_s, timeout_s)

    crashes = events_in_service(
        timeline.crash_rep, timeline.crash_slot, timeline.crash_period, loop.started
    )
    repairs = events_in_service(
        timeline.repair_rep, timeline.repair_slot, timeline.repair_period, loop.started
    )
    # Error fractions per period by cause (steady state), scaled down together where
    # they would add up to more than every request.
    budget_s = np.maximum(timeout_s - backend_s, 0.0)
    stable = ~overloaded & (servers > 0)
    fractions = {
        "slow_timeout": _timeout_tail(servers, rate_rps, cap_rps, mu, budget_s, stable),
        "crash": _crash_fraction(scenario, clock, rate_rps, rho, loop.ready, crashes),
    }
    for cause, f in effects.error_fraction.items():
        fractions[cause] = fractions.get(cause, 0.0) + f
    frac = sum(fractions.values())
    scale = 1.0 / np.maximum(frac, 1.0)
    frac = np.minimum(frac, 1.0)
    per_period = arrivals.astype(np.float64)

    # Periods resolved step by step: overloaded ones and those a failure window touches.
    w_rep, w_step, w_frac, w_cause, w_names = _window_steps(effects.windows, clock, n_rep)
    stepwise = overloaded.copy()
    stepwise[w_rep, w_step // k] = True
    steady = ~stepwise
    breakdown = {"unavailable": np.zeros(n_rep), "overload": np.zeros(n_rep)}
    for cause in (*fractions, *w_names):
        breakdown.setdefault(cause, np.zeros(n_rep))
    for cause, f in fractions.items():
        breakdown[cause] += (per_period * f * scale * steady).sum(axis=1)
    errors_period = per_period * frac

    ri, pi = np.nonzero(stepwise)
    pp, inputs = _overlay_inputs(
        ri, pi, clock, timeout_s, arrivals, split_keys, overloaded, loop,
        {"limit": limit, "rho": rho, "servers": servers, "cap_rps": cap_rps,
         "backend_s": backend_s, "q_period_s": q_period_s},
        list(fractions.values()),
        (w_rep, w_step, w_frac, w_cause, len(w_names)),
        -np.log1p(-np.asarray(table.quantiles)) / mu,  # Exp(mu) quantiles [s]
    )  # fmt: skip
    ov = _overlay(pp, inputs, engine)
    errors_period[ri, pi] = ov.errors_period
    for c, cause in enumerate(("unavailable", "overload", *fractions, *w_names)):
        np.add.at(breakdown[cause], ri, ov.causes[:, c])

    billed = loop.desired
    if effects.extra_instances is not None:
        billed = (loop.desired + effects.extra_instances).astype(np.int32)
    return SimResult(
        scenario=scenario,
        seed=seed,
        start=clock.start,
        step_s=clock.step_s,
        period_s=clock.period_s,
        arrivals_period=arrivals,
        split_keys=split_keys,
        rate_rps=rate_rps,
        desired_instances=loop.desired,
        billed_instances=billed,
        ready_instances=loop.ready,
        utilization=loop.utilization.astype(np.float32),
        crashes=crashes,
        repairs=repairs,
        overloaded=overloaded,
        error_fraction=frac.astype(np.float32),
        errors_period=errors_period.astype(np.float32),
        latency_period_s=q_period_s,
        overlay=StepOverlay(
            replication=ri,
            period=pi,
            arrivals=ov.arrivals,
            errors=ov.errors,
            backlog=ov.backlog,
            latency_s=ov.latency_s,
            wait_s=ov.wait_s,
            queued=ov.queued,
        ),
        error_breakdown=breakdown,
        backend_s=backend_s.astype(np.float32),
        incidents=effects.incidents,
        forecast_floor=None if forecast_floor is None else forecast_floor.astype(np.int32),
        forecast_rps=forecast_rps,
    )
