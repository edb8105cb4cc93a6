"""The control loop of :mod:`simkit.control`, compiled with numba.

Same model and same arithmetic as the NumPy loop (``_Loop.period`` and
:class:`~simkit.autoscaling.hpa_vec.VectorHPA`), operation for operation, so the
arrays are bit-identical; periods run in the outer loop, replications in the
inner one, and every period is done one by one (the NumPy loop's quiet blocks
give the same arrays).  Kernels take arrays and numbers only, grouped in named
tuples; :func:`hpa_params`, :func:`hpa_rules` and :func:`hpa_state` build the
HPA's from its config.

Speed: each stage loops over the replications of one period.  Helpers called
once per replication take arrays and numbers, never a named tuple holding arrays
(numba reference-counts every array of such a tuple at each call: ten times
slower here).

The HPA is reconciled once per period at its end (``now = (p + 1) x period``), as
the engine calls :meth:`VectorHPA.sync`: seeded at the first sync, guard rails,
replica calculation with unready pods, legacy or behavior normalization, the
recommendation history in a ring of ``history_slots`` (slot ``p mod H``) and, on
the behavior path, the scale events of each direction.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from simkit.autoscaling.behavior import ScalingRules
from simkit.autoscaling.hpa_vec import HPAConfig
from simkit.jit import njit
from simkit.split_kernel import split_period

__all__ = [
    "HPAParams",
    "HPAState",
    "LoopArrays",
    "LoopParams",
    "Rules",
    "hpa_params",
    "hpa_rules",
    "hpa_state",
    "run_periods",
]

_INT_MIN = np.iinfo(np.int64).min
_MAX, _MIN, _DISABLED = 0, 1, 2
_SELECT = {"Max": _MAX, "Min": _MIN, "Disabled": _DISABLED}


class Rules(NamedTuple):
    """Rate-limit policies of one scaling direction (behavior path only)."""

    select: int  # _MAX, _MIN or _DISABLED
    percent: np.ndarray  # bool [n]: Percent policy (else Pods)
    value: np.ndarray  # int64 [n]: pods, or percent
    period_s: np.ndarray  # float64 [n]: look-back period [s]
    factor: np.ndarray  # float64 [n]: 1 + value / 100 (up) or 1 - value / 100 (down)
    horizon_s: float  # events older than this may be overwritten [s]


class HPAParams(NamedTuple):
    """HPA settings and the CPU model of one pod."""

    behavior: bool  # False: legacy path
    min_replicas: int
    max_replicas: int
    target_percent: int  # CPU utilization target [% of request]
    band_lo: float  # 1 - tolerance_down
    band_hi: float  # 1 + tolerance_up
    request_milli: int  # CPU request per pod [millicores]
    idle_milli: float  # CPU of an idle pod [millicores]
    busy_milli: float  # extra CPU of a fully busy pod [millicores]
    up_window_s: float  # scale-up stabilization window [s]
    down_window_s: float  # scale-down stabilization window [s]
    horizon_s: float  # longest window: older history entries may be overwritten [s]


class HPAState(NamedTuple):
    """Per replication: recommendation history, its seed, and the scale events."""

    hist_replicas: np.ndarray  # int64 [R, H]
    hist_time_s: np.ndarray  # float64 [R, H], -inf: empty
    seed_replicas: np.ndarray  # int64 [R]
    seed_time_s: np.ndarray  # float64 [R]
    up_change: np.ndarray  # int64 [R, E_up]
    up_time_s: np.ndarray  # float64 [R, E_up]
    down_change: np.ndarray  # int64 [R, E_down]
    down_time_s: np.ndarray  # float64 [R, E_down]


class LoopParams(NamedTuple):
    """Constants of the loop."""

    autoscaled: bool  # False: fixed instance count
    startup_periods: int  # periods from a scale-up until the pod is Ready
    lag_periods: int  # age of the busy fraction the HPA sees [periods]
    cap_per_ready: float  # requests one Ready instance serves per period
    limit_per_ready: float  # requests one Ready instance holds queued at most
    period_s: float  # control period [s]
    steps: int  # steps per period


class LoopArrays(NamedTuple):
    """Inputs, state and outputs of the loop; ``[P, R]`` unless noted."""

    offered: np.ndarray  # float64: requests offered per period
    arrivals: np.ndarray  # int32 [R, P]: arrivals per period
    noise: np.ndarray  # float64 [R, P]: standard normal draws for the departures
    split_keys: np.ndarray  # uint64 [R]: keys of the arrivals' split over the steps
    log_fact: np.ndarray  # float64: split_kernel.log_factorials
    down_ptr: np.ndarray  # int64 [P + 1]: crash entries of period p
    down_rep: np.ndarray  # int64: replication of each entry
    down_slot: np.ndarray  # int64: instance slot of each entry
    forced: np.ndarray  # int64 (or [0, 0]): instances taken out by effects
    floor: np.ndarray  # int64 (or [0, 0]): capacity floor after each sync
    spec: np.ndarray  # int64 [R]: desired instances
    starting: np.ndarray  # int64 [ring, R]: pods starting, by ring slot
    not_started: np.ndarray  # int64 [R]
    backlog: np.ndarray  # float64 [R]: queue beyond the servers [requests]
    desired: np.ndarray  # int32 [R, P]
    started: np.ndarray  # int32 [R, P]
    ready: np.ndarray  # int32 [R, P]
    backlog0: np.ndarray  # float64 [R, P]: queue at period start [requests]
    util: np.ndarray  # float64 [R, P] (zeros on entry): busy fraction, not capped
    departures: np.ndarray  # float64 [R, P] (zeros on entry): departures per step while queued
    split_at: np.ndarray  # int32 [R, P] (-1 on entry): row of the period's split, -1: none


# ----------------------------------------------------------------------------- setup


def _rules(rules: ScalingRules | None, up: bool) -> Rules:
    """Kernel form of one direction's rules (empty on the legacy path)."""
    if rules is None:
        return Rules(
            _DISABLED, np.zeros(0, bool), np.zeros(0, np.int64), np.zeros(0), np.zeros(0), 0.0
        )
    pol = rules.policies
    return Rules(
        _SELECT[rules.select_policy],
        np.array([p.kind == "Percent" for p in pol]),
        np.array([p.value for p in pol], dtype=np.int64),
        np.array([float(p.period_s) for p in pol]),
        np.array([(1 + p.value / 100) if up else (1 - p.value / 100) for p in pol]),
        float(rules.longest_period_s),
    )


def hpa_params(
    config: HPAConfig, idle_milli: float, busy_milli: float, request_milli: int
) -> HPAParams:
    """Kernel form of an HPA config and its pods' CPU model.

    Parameters
    ----------
    config : HPAConfig
        The HPA (legacy or behavior path).
    idle_milli, busy_milli : float
        CPU of an idle pod, and extra CPU of a fully busy pod [millicores].
    request_milli : int
        CPU request per pod [millicores].

    Returns
    -------
    HPAParams
    """
    b = config.behavior
    up_w, down_w = config.windows_s
    return HPAParams(
        behavior=b is not None,
        min_replicas=config.min_replicas,
        max_replicas=config.max_replicas,
        target_percent=config.target_utilization_percent,
        band_lo=1.0 - config.tolerance_down,
        band_hi=1.0 + config.tolerance_up,
        request_milli=request_milli,
        idle_milli=idle_milli,
        busy_milli=busy_milli,
        up_window_s=up_w,
        down_window_s=down_w,
        horizon_s=max(up_w, down_w),
    )


def hpa_rules(config: HPAConfig) -> tuple[Rules, Rules]:
    """Kernel form of the behavior's scale-up and scale-down rules.

    Parameters
    ----------
    config : HPAConfig
        The HPA; on the legacy path (no behavior) both rules are empty.

    Returns
    -------
    (Rules, Rules)
        Scale-up and scale-down rules.
    """
    b = config.behavior
    return _rules(b.scale_up if b else None, True), _rules(b.scale_down if b else None, False)


def hpa_state(config: HPAConfig, n_rep: int) -> HPAState:
    """Empty HPA state (nothing seeded yet), sized as :class:`VectorHPA`'s buffers.

    Parameters
    ----------
    config : HPAConfig
        The HPA: history slots and, on the behavior path, scale-event slots.
    n_rep : int
        Replications.

    Returns
    -------
    HPAState
        Empty slots have time ``-inf`` [s].
    """
    b = config.behavior
    h = config.history_slots
    e_up = config.event_slots(b.scale_up if b else None)
    e_down = config.event_slots(b.scale_down if b else None)
    return HPAState(
        np.zeros((n_rep, h), dtype=np.int64),
        np.full((n_rep, h), -np.inf),
        np.zeros(n_rep, dtype=np.int64),
        np.full(n_rep, -np.inf),
        np.zeros((n_rep, e_up), dtype=np.int64),
        np.full((n_rep, e_up), -np.inf),
        np.zeros((n_rep, e_down), dtype=np.int64),
        np.full((n_rep, e_down), -np.inf),
    )


# ----------------------------------------------------------------------------- HPA


@njit(inline=True)
def _replica_calc(current: int, ready: int, usage: int, hpa: HPAParams) -> int:
    """Raw proposal of one replication with Ready pods (``hpa_vec._replica_calc_core``).

    The other ``current - ready`` pods are unready; ``ready > 0`` and a request > 0.
    """
    request = hpa.request_milli
    ratio = ((usage * 100) // (ready * request)) / hpa.target_percent
    out = current
    if current > ready and ratio > 1.0:  # unready pods count at zero usage
        pods = current
        new_ratio = ((usage * 100) // (pods * request)) / hpa.target_percent
        new = np.int64(np.ceil(new_ratio * pods))
        keep = (
            (new_ratio >= hpa.band_lo and new_ratio <= hpa.band_hi)
            or new_ratio < 1.0
            or (new_ratio > 1.0 and new < current)
        )
        if not keep:
            out = new
    elif ratio < hpa.band_lo or ratio > hpa.band_hi:
        out = np.int64(np.ceil(ratio * ready))
    return out


@njit(inline=True)
def _legacy(current: int, raw: int, history_max: int, hpa: HPAParams) -> int:
    """Legacy normalization: max-stabilization, then min and ``max(2 x current, 4)``."""
    stabilized = max(raw, history_max)
    max_allowed = min(hpa.max_replicas, max(2 * current, 4))
    out = min(max(stabilized, hpa.min_replicas), max_allowed)
    return hpa.min_replicas if stabilized < hpa.min_replicas else out


@njit(inline=True)
def _history_max(
    r: int,
    now: float,
    hpa: HPAParams,
    values: np.ndarray,
    times_s: np.ndarray,
    seed: int,
    seed_s: float,
) -> int:
    """Legacy window: largest entry with ``age <= window``, the seed while it is active."""
    out = _INT_MIN
    for i in range(times_s.shape[1]):
        if now - times_s[r, i] <= hpa.down_window_s:
            out = max(out, values[r, i])
    age = now - seed_s  # every seed is as old as the latest
    if age <= hpa.horizon_s and age <= hpa.down_window_s:
        out = max(out, seed)
    return out


@njit(inline=True)
def _stabilize(
    r: int,
    now: float,
    current: int,
    raw: int,
    hpa: HPAParams,
    values: np.ndarray,
    times_s: np.ndarray,
    seed: int,
    seed_s: float,
) -> int:
    """Behavior path: ``current`` clamped between both directions' window extremes."""
    lowest = raw
    highest = raw
    n = times_s.shape[1]
    for i in range(n + 1):  # the history, then its seed
        age = now - (times_s[r, i] if i < n else seed_s)
        value = values[r, i] if i < n else seed
        if age < hpa.up_window_s:
            lowest = min(lowest, value)
        if age < hpa.down_window_s:
            highest = max(highest, value)
    return min(max(current, lowest), highest)


@njit
def _sum_within(change: np.ndarray, time_s: np.ndarray, r: int, now: float, period_s: float) -> int:
    """Sum of one replication's scale events younger than ``period_s``."""
    total = 0
    for i in range(change.shape[1]):
        if now - time_s[r, i] < period_s:
            total += change[r, i]
    return total


@njit
def _rate_limit(
    r: int, now: float, current: int, desired: int, hpa: HPAParams, rules: Rules, hs: HPAState
) -> int:
    """Behavior path: the policies of the direction of ``desired``, and min/max.

    ``hpa_vec.behavior_rate_limit_vec`` for ``desired != current``.
    """
    up = desired > current
    limit = current
    if rules.select != _DISABLED:
        largest = (rules.select == _MAX) == up
        for i in range(rules.value.size):
            period = rules.period_s[i]
            start = (
                current
                - _sum_within(hs.up_change, hs.up_time_s, r, now, period)
                + _sum_within(hs.down_change, hs.down_time_s, r, now, period)
            )
            if not rules.percent[i]:
                x = start + rules.value[i] if up else start - rules.value[i]
            elif up:
                x = np.int64(np.ceil(start * rules.factor[i]))
            else:
                x = np.int64(np.trunc(start * rules.factor[i]))
            if i == 0 or (x > limit if largest else x < limit):
                limit = x
    if up:
        return min(desired, min(hpa.max_replicas, max(limit, current)))
    return max(desired, max(hpa.min_replicas, min(limit, current)))


@njit
def _store_event(
    change: np.ndarray, time_s: np.ndarray, r: int, value: int, now: float, horizon_s: float
) -> None:
    """Write a scale event into the first slot older than ``horizon_s``."""
    for i in range(change.shape[1]):
        if now - time_s[r, i] > horizon_s:
            change[r, i] = value
            time_s[r, i] = now
            return
    raise ValueError("scale-event buffer full: every slot is still inside its window")


@njit
def hpa_sync(
    p: int,
    now: float,
    spec: np.ndarray,
    ready: np.ndarray,
    busy: np.ndarray,
    hpa: HPAParams,
    rules_up: Rules,
    rules_down: Rules,
    hs: HPAState,
    new: np.ndarray,
) -> None:
    """One reconcile of every replication at the end of period ``p`` (``VectorHPA.sync``).

    Parameters
    ----------
    p : int
        Period: the sync's index (ring slot ``p mod H``; ``p = 0`` seeds the history).
    now : float
        Sync time [s].
    spec, ready : numpy.ndarray
        Spec replicas and Ready pods (the others are unready), int64 ``[R]``.
    busy : numpy.ndarray
        Busy fraction of the Ready pods the metric reports [-], ``[R]`` (capped at 1 here).
    hpa, rules_up, rules_down, hs : HPAParams, Rules, Rules, HPAState
        The HPA, its behavior's rules and its state (updated).
    new : numpy.ndarray
        Receives the new spec replicas, int64 ``[R]``.
    """
    values, times_s = hs.hist_replicas, hs.hist_time_s
    seeds, seeds_s = hs.seed_replicas, hs.seed_time_s
    slot = p % times_s.shape[1]
    for r in range(spec.size):
        current = spec[r]
        if p == 0:
            seeds[r] = current
            seeds_s[r] = now
        out = current  # scaling disabled (0 replicas) or failed metric: nothing recorded
        if current > hpa.max_replicas:
            out = hpa.max_replicas
        elif current < hpa.min_replicas and current != 0:
            out = hpa.min_replicas
        elif current != 0 and ready[r] > 0 and hpa.request_milli > 0:
            load = hpa.idle_milli + min(busy[r], 1.0) * hpa.busy_milli
            raw = _replica_calc(current, ready[r], np.int64(np.floor(ready[r] * load)), hpa)
            if not hpa.behavior:
                hmax = _history_max(r, now, hpa, values, times_s, seeds[r], seeds_s[r])
                out = _legacy(current, raw, hmax, hpa)
            else:
                out = _stabilize(r, now, current, raw, hpa, values, times_s, seeds[r], seeds_s[r])
                if out != current:
                    rules = rules_up if out > current else rules_down
                    out = _rate_limit(r, now, current, out, hpa, rules, hs)
            if not now - times_s[r, slot] > hpa.horizon_s:
                raise ValueError("recommendation history full: at most one sync per period")
            values[r, slot] = raw
            times_s[r, slot] = now
        if hpa.behavior and out > current:
            _store_event(hs.up_change, hs.up_time_s, r, out - current, now, rules_up.horizon_s)
        elif hpa.behavior and out < current:
            _store_event(
                hs.down_change, hs.down_time_s, r, current - out, now, rules_down.horizon_s
            )
        new[r] = out


# ----------------------------------------------------------------------------- loop


@njit
def _start_pods(j: int, lp: LoopParams, a: LoopArrays, started: np.ndarray) -> None:
    """Pods started ``ring`` periods ago are Ready now; instances past start-up."""
    for r in range(started.size):
        a.not_started[r] -= a.starting[j, r]
        a.starting[j, r] = 0
    for r in range(started.size):
        started[r] = a.spec[r] - a.not_started[r]


@njit
def _count_ready(p: int, a: LoopArrays, started: np.ndarray, ready: np.ndarray) -> None:
    """Ready instances in period ``p``: running slots not crashed nor taken out by effects."""
    down = np.zeros(started.size, dtype=np.int64)
    if a.forced.shape[0]:
        down += a.forced[p]
    for e in range(a.down_ptr[p], a.down_ptr[p + 1]):
        if a.down_slot[e] < started[a.down_rep[e]]:
            down[a.down_rep[e]] += 1
    for r in range(started.size):
        ready[r] = max(started[r] - down[r], 0)


@njit(inline=True)
def lindley(b: float, arrivals: float, departures: float) -> float:
    """Queue after one step, before the limit [requests]: ``max(b + a - d, 0)``.

    The step of :func:`simkit.control.backlog_path`, for the compiled kernels.
    """
    return max(b + arrivals - departures, 0.0)


@njit(inline=True)
def _drain(b: float, arrivals: np.ndarray, k: int, dep: float, limit: float) -> float:
    """Lindley recursion over ``k`` steps of ``arrivals`` (``control.backlog_path``)."""
    for i in range(k):
        b = min(lindley(b, arrivals[i], dep), limit)
    return b


@njit
def _grow(split: np.ndarray, used: int, extra: int) -> np.ndarray:
    """``split``'s first ``used`` rows in a new array with room for ``extra`` more (2x)."""
    grown = np.empty((max(2 * split.shape[0], used + extra), split.shape[1]))
    grown[:used] = split[:used]
    return grown


@njit
def _serve(
    p: int,
    lp: LoopParams,
    a: LoopArrays,
    started: np.ndarray,
    ready: np.ndarray,
    split: np.ndarray,
    used: int,
) -> int:
    """Backlog and busy fraction over period ``p``, and the period's instance counts.

    The arrivals of the periods split over their steps go to rows ``used, used + 1, ...``
    of ``split`` (room for every replication reserved); returns the rows used now.
    """
    k = lp.steps
    for r in range(ready.size):
        cap = ready[r] * lp.cap_per_ready
        limit = ready[r] * lp.limit_per_ready
        b = min(a.backlog[r], limit)
        a.backlog0[r, p] = b
        offered = a.offered[p, r]
        if cap > 0:
            a.util[r, p] = (offered + b) / cap
        if b > 0 or offered > cap:
            dep = max(cap + np.sqrt(cap) * a.noise[r, p], 0.0) / k
            a.departures[r, p] = dep
            per_step = split[used]
            split_period(a.split_keys[r], p, a.arrivals[r, p], k, a.log_fact, per_step)
            a.split_at[r, p] = used
            used += 1
            b = _drain(b, per_step, k, dep, limit)
        a.backlog[r] = b
        a.desired[r, p] = a.spec[r]
        a.started[r, p] = started[r]
        a.ready[r, p] = ready[r]
    return used


@njit
def _rescale(p: int, j: int, a: LoopArrays, new: np.ndarray) -> None:
    """Apply the floor; start pods (Ready in ``ring`` periods) or remove them, starting
    ones first, newest first."""
    ring = a.starting.shape[0]
    for r in range(new.size):
        target = max(new[r], a.floor[p, r]) if a.floor.shape[0] else new[r]
        delta = target - a.spec[r]
        if delta > 0:
            a.starting[j, r] += delta
            a.not_started[r] += delta
        age = 0
        while delta < 0 and age < ring:
            idx = (j - age) % ring
            take = min(-delta, a.starting[idx, r])
            a.starting[idx, r] -= take
            a.not_started[r] -= take
            delta += take
            age += 1
        a.spec[r] = target


@njit
def run_periods(
    first: int,
    stop: int,
    lp: LoopParams,
    a: LoopArrays,
    hpa: HPAParams,
    rules_up: Rules,
    rules_down: Rules,
    hs: HPAState,
    split: np.ndarray,
    used: int,
) -> tuple[np.ndarray, int]:
    """Advance periods ``first..stop-1`` of every replication, in place.

    Parameters
    ----------
    first, stop : int
        Periods to run; runs must follow each other from period 0.
    lp : LoopParams
    a : LoopArrays
        State and outputs are updated.
    hpa, rules_up, rules_down, hs : HPAParams, Rules, Rules, HPAState
        The HPA, its scale-up and scale-down rules, and its state (unused when
        ``lp.autoscaled`` is False).
    split : numpy.ndarray
        Arrivals per step of the periods split so far [count], float64 ``[m, k]``, in
        its first ``used`` rows (``a.split_at`` points into them).

    Returns
    -------
    (numpy.ndarray, int)
        ``split`` (grown as needed) and the rows used.
    """
    n_rep = a.spec.size
    started = np.empty(n_rep, dtype=np.int64)
    ready = np.empty(n_rep, dtype=np.int64)
    new = np.empty(n_rep, dtype=np.int64)
    busy = np.empty(n_rep)
    for p in range(first, stop):
        j = p % a.starting.shape[0]
        _start_pods(j, lp, a, started)
        _count_ready(p, a, started, ready)
        if used + n_rep > split.shape[0]:
            split = _grow(split, used, n_rep)
        used = _serve(p, lp, a, started, ready, split, used)
        if lp.autoscaled:
            busy[:] = a.util[:, max(p - lp.lag_periods, 0)]
            hpa_sync(
                p, (p + 1) * lp.period_s, a.spec, ready, busy, hpa, rules_up, rules_down, hs, new
            )
            _rescale(p, j, a, new)
    return split, used


# ----------------------------------------------------------------------------- queue wait


@njit(inline=True)
def _first_above(row: np.ndarray, start: int, target: float) -> int:
    """First index of the nondecreasing ``row`` holding more than ``target`` (its size if
    none): ``searchsorted(row, target, "right")``, searched outwards from ``start``.

    Galloping forwards from ``start`` when ``row[start] <= target`` (a wait usually ends
    a few periods on), else bisection below it; the answer is unique either way.
    """
    n = row.size
    if row[start] > target:
        lo, hi = 0, start
    else:
        lo, hi, step = start + 1, start + 1, 1
        while hi < n and row[hi] <= target:
            lo = hi + 1
            hi = lo + step
            step *= 2
        hi = min(hi, n)
    while lo < hi:
        mid = (lo + hi) // 2
        if row[mid] <= target:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(inline=True)
def wait_in_period(
    served: np.ndarray,
    cap_rps: np.ndarray,
    period_s: float,
    r: int,
    p: int,
    t: float,
    ahead: float,
) -> float:
    """Time until replication ``r``'s capacity has served ``ahead`` requests after ``t``.

    One request of :func:`simkit.outcome.queue_wait_reference`, bit for bit, given its
    period ``p = min(t // period_s, P - 1)``.

    Parameters
    ----------
    served : numpy.ndarray
        Capacity served before each period [requests], ``[R, P + 1]``
        (:func:`simkit.outcome.served_before`).
    cap_rps : numpy.ndarray
        Capacity per period [1/s], ``[R, P]``.
    period_s : float
        Control period [s].
    r, p : int
        Replication, and the period ``t`` falls in.
    t : float
        Arrival time [s].
    ahead : float
        Departures to wait for [requests].

    Returns
    -------
    float
        The wait [s], ``inf`` if the capacity never serves them.
    """
    n_per = cap_rps.shape[1]
    target = served[r, p] + cap_rps[r, p] * (t - p * period_s) + ahead
    idx = min(max(_first_above(served[r], p, target) - 1, 0), n_per)
    cap_end = cap_rps[r, idx] if idx < n_per else cap_rps[r, n_per - 1]
    left = target - served[r, idx]
    end_s = idx * period_s + (left / cap_end if cap_end > 0 else np.inf)
    return max(end_s - t, 0.0)


@njit
def queue_wait_s(
    served: np.ndarray,
    cap_rps: np.ndarray,
    period_s: float,
    rep: np.ndarray,
    t_s: np.ndarray,
    ahead: np.ndarray,
) -> np.ndarray:
    """Compiled :func:`simkit.outcome.queue_wait_reference`, bit for bit.

    ``served[r, p]`` is replication ``r``'s capacity served before period ``p``
    [requests], ``[R, P + 1]``; each request's start of service is found in its row
    from its own period on (:func:`wait_in_period`).  Waits [s], ``[n]``.
    """
    n_per = cap_rps.shape[1]
    out = np.empty(rep.size)
    for i in range(rep.size):
        p = min(np.int64(t_s[i] // period_s), n_per - 1)
        out[i] = wait_in_period(served, cap_rps, period_s, rep[i], p, t_s[i], ahead[i])
    return out
