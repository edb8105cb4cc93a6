"""The whole-array part of the engine: errors, backlog and latency, per step.

Periods in M/M/c steady state are handled per period; overloaded periods and
those touched by a failure window get values per step (the step overlay).
"""

from __future__ import annotations

import numpy as np

from simkit import queueing, workload
from simkit.clock import Clock
from simkit.control import LoopOutput, backlog_path, events_in_service
from simkit.effects import Effects, FailureWindow
from simkit.failures import FailureTimeline
from simkit.result import SimResult, StepOverlay
from simkit.scenario import Scenario

__all__ = ["finish"]

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
    """M/M/c response-time quantiles plus the backend latency per period [s], ``[R, P, 3]``.

    Table lookups up to ``table.rho_max``; stable periods above it (utilization below
    1) get the exact quantile; no Ready server: the timeout.
    """
    n_rep, n_per = servers.shape
    out = np.empty((n_rep, n_per, len(table.quantiles)))
    for lo in range(0, n_rep, _CHUNK_REPLICATIONS):  # bounded temporaries
        rows = slice(lo, lo + _CHUNK_REPLICATIONS)
        q_mu, _ = queueing.table_lookup(table, np.maximum(servers[rows], 1), rho_q[rows])
        out[rows] = q_mu / mu
    near = (rho > table.rho_max) & (rho < 1.0) & (servers > 0)
    if near.any():
        c = servers[near].astype(np.float64)[:, None]
        q = np.asarray(table.quantiles)[None, :]
        out[near] = queueing.response_time_quantile(q, c, rho[near][:, None] * c * mu, mu)
    np.minimum(out + backend_s[:, :, None], timeout_s, out=out)
    out[servers == 0] = timeout_s
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


def _queue_wait_s(
    cap_rps: np.ndarray,
    period_s: float,
    rep: np.ndarray,
    t_s: np.ndarray,
    ahead: np.ndarray,
    engine: str,
) -> np.ndarray:
    """:func:`queue_wait_reference`, compiled unless ``engine == "numpy"``."""
    served = served_before(cap_rps, period_s)
    if engine == "numpy":
        return queue_wait_reference(served, cap_rps, period_s, rep, t_s, ahead)
    from simkit import control_kernel

    return control_kernel.queue_wait_s(
        served,
        np.ascontiguousarray(cap_rps, dtype=np.float64),
        float(period_s),
        np.ascontiguousarray(rep, dtype=np.int64),
        np.ascontiguousarray(t_s, dtype=np.float64),
        np.ascontiguousarray(ahead, dtype=np.float64),
    )


def _window_steps(
    windows: tuple[FailureWindow, ...], clock: Clock, n_rep: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Failure windows as (replication, step, fraction, cause index) per covered step.

    A step partly covered fails the covered share of its requests; overlapping
    windows add up (capped at 1 by the caller).
    """
    reps, steps, fracs, causes = [], [], [], []
    names: list[str] = []
    dt = clock.step_s
    for w in windows:
        first = max(int(np.floor(w.start_s / dt)), 0)
        last = min(int(np.ceil(w.end_s / dt)), clock.n_steps)
        if last <= first:
            continue
        idx = np.arange(first, last)
        cover = (np.minimum((idx + 1) * dt, w.end_s) - np.maximum(idx * dt, w.start_s)) / dt
        rows = np.arange(n_rep) if w.replication < 0 else np.array([w.replication])
        if w.cause not in names:
            names.append(w.cause)
        reps.append(np.repeat(rows, idx.size))
        steps.append(np.tile(idx, rows.size))
        fracs.append(np.tile(np.clip(cover, 0.0, 1.0) * w.fraction, rows.size))
        causes.append(np.full(rows.size * idx.size, names.index(w.cause)))
    if not reps:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0), empty, names
    return (
        np.concatenate(reps),
        np.concatenate(steps),
        np.concatenate(fracs),
        np.concatenate(causes),
        names,
    )


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
    window (the step overlay).  ``engine`` as for :func:`simkit.simulate` (the
    queue waits are compiled unless it is ``"numpy"``).
    """
    svc = scenario.service
    n_rep, n_per = rate_rps.shape
    k = clock.steps_per_period
    dt = clock.step_s
    mu = scenario.service_rate_rps
    timeout_s = svc.timeout_s
    backend_s = np.zeros((n_rep, n_per))
    if effects.latency_s is not None:
        backend_s = backend_s + effects.latency_s  # cache, database, injected latency
    servers = loop.ready.astype(np.int64) * scenario.servers_per_instance
    cap_rps = servers * mu
    limit = loop.ready * min(
        float(svc.queue_limit_per_instance), scenario.servers_per_instance * mu * timeout_s
    )

    table = queueing.build_latency_table(
        max(int(servers.max()), 1), rho_max=TABLE_RHO_MAX, n_rho=TABLE_N_RHO
    )
    drift = rate_rps - cap_rps  # [1/s]
    overloaded = (loop.backlog0 > 0) | (drift > 0)
    rho = np.divide(rate_rps, cap_rps, out=np.zeros_like(rate_rps), where=cap_rps > 0)
    # Utilization of the M/M/c component: the period's own, or the highest tabulated one
    # in overloaded periods (used only by their steps with an empty queue).
    rho_q = np.minimum(rho, table.rho_max)
    q_period_s = _period_quantiles(table, servers, rho, rho_q, mu, backend_s, timeout_s)

    # Requests slower than the timeout in stable periods are errors too.  The tail is
    # below exp(-min(mu, c mu - lambda) t / 2) (wait and service each over t / 2); where
    # that bound is under 1e-30 the tail is 0 to float64 precision of the counts.
    tail = np.zeros((n_rep, n_per))
    budget = np.maximum(timeout_s - backend_s, 0.0)
    stable = ~overloaded & (servers > 0)
    decay = np.minimum(mu, cap_rps - rate_rps) * budget / 2.0
    relevant = stable & (decay < 69.0)
    if relevant.any():
        tail[relevant] = 1.0 - queueing.response_time_cdf(
            budget[relevant], servers[relevant], rate_rps[relevant], mu
        )

    # Requests lost when an instance crashes: in flight, and routed to it until the
    # load balancer notices; they fail during the following period.
    crashes = events_in_service(
        timeline.crash_rep, timeline.crash_slot, timeline.crash_period, loop.started
    )
    repairs = events_in_service(
        timeline.repair_rep, timeline.repair_slot, timeline.repair_period, loop.started
    )
    per_instance_rps = np.divide(
        rate_rps, loop.ready, out=np.zeros_like(rate_rps), where=loop.ready > 0
    )
    in_flight = scenario.servers_per_instance * np.minimum(rho, 1.0)
    lost = crashes * (in_flight + per_instance_rps * scenario.failures.detection_s)
    crash_frac = np.zeros((n_rep, n_per))
    offered_next = rate_rps[:, 1:] * clock.period_s
    np.divide(lost[:, :-1], offered_next, out=crash_frac[:, 1:], where=offered_next > 0)

    # Error fractions per period by cause (steady state), scaled down together where
    # they would add up to more than every request.
    fractions = {"slow_timeout": tail, "crash": crash_frac}
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
    row_of = np.full((n_rep, n_per), -1, dtype=np.int64)
    row_of[ri, pi] = np.arange(ri.size)
    arr_ov = workload.step_arrivals(split_keys, ri, pi, arrivals[ri, pi], k)  # [n, k]
    over_ov = overloaded[ri, pi][:, None]
    level, dropped = backlog_path(
        loop.backlog0[ri, pi], arr_ov, loop.departures[ri, pi], limit[ri, pi]
    )
    level = np.where(over_ov, level, 0.0)
    drop = np.where(
        over_ov, np.divide(dropped, arr_ov, out=np.zeros_like(dropped), where=arr_ov > 0), 0.0
    )
    drop = np.clip(drop, 0.0, 1.0)
    window = np.zeros((ri.size, len(w_names), k))
    if w_rep.size:
        np.add.at(window, (row_of[w_rep, w_step // k], w_cause, w_step % k), w_frac)
    total = drop + window.sum(axis=1) + sum(f[ri, pi][:, None] for f in fractions.values())
    sc = 1.0 / np.maximum(total, 1.0)
    err_ov = arr_ov * np.minimum(total, 1.0)
    errors_period[ri, pi] = err_ov.sum(axis=1)
    down = (servers[ri, pi] == 0)[:, None]
    np.add.at(breakdown["unavailable"], ri, (arr_ov * drop * sc * down).sum(axis=1))
    np.add.at(breakdown["overload"], ri, (arr_ov * drop * sc * ~down).sum(axis=1))
    for cause, f in fractions.items():
        np.add.at(breakdown[cause], ri, (arr_ov * f[ri, pi][:, None] * sc).sum(axis=1))
    for c, cause in enumerate(w_names):
        np.add.at(breakdown[cause], ri, (arr_ov * window[:, c] * sc).sum(axis=1))
    # Requests of overloaded periods queue behind the backlog (at load above capacity
    # even when it is momentarily empty); once it has drained below capacity they see
    # the M/M/c steady state again.
    start_level = np.concatenate(
        [np.where(over_ov, loop.backlog0[ri, pi][:, None], 0.0), level[:, :-1]], axis=1
    )
    queued = over_ov & ((start_level > 0) | (level > 0) | (rho[ri, pi] >= 1.0)[:, None])
    wait_ov = np.zeros_like(level)
    if queued.any():
        qi, qj = np.nonzero(queued)
        ahead = (start_level[qi, qj] + level[qi, qj]) / 2.0
        t_s = (pi[qi] * k + qj + 0.5) * dt
        wait_ov[qi, qj] = _queue_wait_s(cap_rps, clock.period_s, ri[qi], t_s, ahead + 1.0, engine)
    np.minimum(wait_ov, timeout_s, out=wait_ov)
    service_q_s = -np.log1p(-np.asarray(table.quantiles)) / mu  # Exp(mu) quantiles
    queued_latency = backend_s[ri, pi][:, None, None] + wait_ov[:, :, None] + service_q_s
    latency_ov = np.where(queued[:, :, None], queued_latency, q_period_s[ri, pi][:, None, :])
    np.minimum(latency_ov, timeout_s, out=latency_ov)

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
        utilization=loop.utilization,
        crashes=crashes,
        repairs=repairs,
        capacity_rps=cap_rps,
        overloaded=overloaded,
        error_fraction=frac.astype(np.float32),
        errors_period=errors_period,
        latency_period_s=q_period_s.astype(np.float32),
        overlay=StepOverlay(
            replication=ri,
            period=pi,
            arrivals=arr_ov.astype(np.float32),
            errors=err_ov.astype(np.float32),
            backlog=level.astype(np.float32),
            latency_s=latency_ov.astype(np.float32),
            wait_s=wait_ov.astype(np.float32),
            queued=queued,
        ),
        error_breakdown=breakdown,
        backend_s=backend_s.astype(np.float32),
        incidents=effects.incidents,
        forecast_floor=None if forecast_floor is None else forecast_floor.astype(np.int32),
        forecast_rps=forecast_rps,
    )
