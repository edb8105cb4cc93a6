"""The simulation engine: scenario in, :class:`~simkit.result.SimResult` out.

Time has two resolutions.  The *control period* is the autoscaler's sync
period (15 s by default): the offered rate, the instance count, crashes and
repairs and the queueing state change only at period boundaries, and the
Python loop runs once per period, vectorized across replications.  The
*step* (1 s by default, a divisor of the period) carries the Poisson
arrivals, errors, the fluid backlog and the latency quantiles.

Queueing model.  Each ready instance contributes ``workers_per_instance``
servers with exponential service at ``1 / effective_service_time_s``.  While
the offered rate is below capacity and no backlog is left over, a period is an
M/M/c queue in steady state (pointwise-stationary approximation) and its
latency quantiles come from a precomputed Erlang-C table.  When the rate
exceeds capacity, or a backlog remains, a deterministic fluid queue grows and
drains linearly within the period; it is capped by the queue limit and by the
timeout (what would wait longer than ``timeout_s`` is dropped and counted as
an error); in that regime the stochastic part of the latency is evaluated at
the table's largest utilization (0.99) and the fluid wait ``backlog /
capacity`` is added.  The fluid is driven by the rate, not by the arrival
counts, so Poisson fluctuations are counted once (by M/M/c), not twice.

Random streams.  ``SeedSequence(seed).spawn(replications)`` gives one sequence
per replication; each spawns one child per model component (load noise and
flash crowds, arrivals, instance failures, ...).  The same seed gives the same
offered load and the same failure draws whatever the profile or policy
(common random numbers).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simkit import queueing, workload
from simkit.autoscaling.policies import make_autoscaler
from simkit.chaos import chaos_effects
from simkit.database import database_effects
from simkit.deploys import deploy_effects
from simkit.effects import Effects, FailureWindow, combine
from simkit.errors import SimkitError
from simkit.failures import FailureTimeline, failure_timeline
from simkit.predictive import forecast_floor
from simkit.regions import region_effects
from simkit.result import SimResult, StepOverlay
from simkit.scenario import Scenario
from simkit.units import parse_duration

__all__ = ["COMPONENTS", "DEFAULT_START", "simulate"]

#: Model components, in spawn order; each gets its own random stream per replication.
COMPONENTS = ("load", "arrivals", "failures", "deploys", "database", "regions")
#: Simulations start on a Monday at midnight UTC unless told otherwise.
DEFAULT_START = pd.Timestamp("2024-01-01T00:00:00Z")
#: Latency shifts (backend + fluid wait) are merged on a log grid: bins 2 % wide
#: above a floor of 0.1 ms; a shift moves by at most 1 % of itself, and the
#: run-level quantiles (shift plus M/M/c time) by less.
_SHIFT_FLOOR_S = 1e-4
_SHIFT_LOG_STEP = 0.02
_SHIFT_CODES = 8192

Progress = Callable[[float], None]


@dataclass(frozen=True)
class _Clock:
    period_s: float
    step_s: float
    steps_per_period: int
    n_periods: int
    start: pd.Timestamp

    @property
    def n_steps(self) -> int:
        return self.n_periods * self.steps_per_period


def _clock(
    scenario: Scenario, duration: str | float, step: str | float, start: object, trace: object
) -> _Clock:
    duration_s = parse_duration(duration, name="duration")
    step_s = parse_duration(step, name="step")
    period_s = scenario.autoscaling.sync_period_s
    ratio = period_s / step_s
    if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-9:
        divisors = [d for d in range(1, int(period_s) + 1) if period_s % d == 0]
        raise SimkitError(
            f"step = {step_s:g} s must divide autoscaling.sync_period_s = {period_s:g} s; "
            f"allowed steps: {', '.join(f'{d}s' for d in divisors)}"
        )
    n_periods = duration_s / period_s
    if abs(n_periods - round(n_periods)) > 1e-9:
        raise SimkitError(
            f"duration = {duration_s:g} s must be a whole number of control periods "
            f"(autoscaling.sync_period_s = {period_s:g} s)"
        )
    if start is None:
        start_ts = trace.index[0] if isinstance(trace, pd.Series) else DEFAULT_START
    else:
        try:
            start_ts = pd.Timestamp(start)
        except (ValueError, TypeError):
            raise SimkitError(f"start = {start!r} is not a timestamp (e.g. '2024-01-01')") from None
        start_ts = start_ts.tz_localize("UTC") if start_ts.tzinfo is None else start_ts
    return _Clock(period_s, step_s, round(ratio), round(n_periods), start_ts.tz_convert("UTC"))


def _check_run_args(replications: int, seed: int) -> None:
    if isinstance(replications, bool) or not isinstance(replications, int | np.integer):
        raise SimkitError(f"replications = {replications!r} must be a whole number >= 1")
    if not 1 <= replications <= 100_000:
        raise SimkitError(f"replications = {replications} is out of range; allowed: 1..100000")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise SimkitError(f"seed = {seed!r} must be a whole number >= 0")


def _streams(seed: int, replications: int) -> dict[str, list[np.random.SeedSequence]]:
    per_rep = [ss.spawn(len(COMPONENTS)) for ss in np.random.SeedSequence(seed).spawn(replications)]
    return {name: [children[i] for children in per_rep] for i, name in enumerate(COMPONENTS)}


def _offered_rate(
    scenario: Scenario, clock: _Clock, seeds: list[np.random.SeedSequence], trace: object
) -> np.ndarray:
    """Offered rate per period [1/s], shape ``(R, P)``, float64."""
    starts = clock.start + pd.to_timedelta(np.arange(clock.n_periods) * clock.period_s, unit="s")
    if trace is not None:
        if not isinstance(trace, pd.Series):
            raise SimkitError("trace must be a pandas Series from simkit.io.read_trace(...)")
        base = workload.trace_rate_rps(trace, starts, clock.period_s)
        return np.broadcast_to(base, (len(seeds), clock.n_periods)).copy()
    w = scenario.workload
    mid = starts + pd.Timedelta(seconds=clock.period_s / 2)
    base = workload.base_rate_rps(mid, w)
    rows = []
    for ss in seeds:
        rng = np.random.Generator(np.random.PCG64(ss))
        noise = workload.noise_factor(
            rng, clock.n_periods, clock.period_s, w.noise_sd, w.noise_correlation_s
        )
        crowd = workload.flash_crowd_factor(
            rng,
            clock.n_periods,
            clock.period_s,
            w.flash_crowds_per_day,
            w.flash_crowd_multiplier,
            w.flash_crowd_duration_s,
        )
        rows.append(base * noise * crowd)
    return np.stack(rows)


def _arrivals(
    rate_rps: np.ndarray, clock: _Clock, seeds: list[np.random.SeedSequence]
) -> np.ndarray:
    """Arrival counts per step, shape ``(R, T)``, float32."""
    out = np.empty((rate_rps.shape[0], clock.n_steps), dtype=np.float32)
    for r, ss in enumerate(seeds):
        rng = np.random.Generator(np.random.PCG64(ss))
        out[r] = workload.draw_arrivals(rng, rate_rps[r] * clock.step_s, clock.steps_per_period)
    return out


def _effects(
    scenario: Scenario,
    clock: _Clock,
    rate_rps: np.ndarray,
    streams: dict[str, list[np.random.SeedSequence]],
) -> Effects:
    """Effects of the database, deployments, regions and chaos experiments on the app tier.

    The database's effect includes the latency every request spends in the cache
    and the database, which replaces the constant ``scenario.backend_latency_s``.
    """
    n_rep = rate_rps.shape[0]
    return combine(
        [
            database_effects(scenario, rate_rps, clock.period_s, streams["database"]),
            deploy_effects(scenario, n_rep, clock.n_periods, clock.period_s, streams["deploys"]),
            region_effects(scenario, n_rep, clock.n_periods, clock.period_s),
            chaos_effects(scenario, n_rep, clock.n_periods, clock.period_s),
        ]
    )


def simulate(
    scenario: Scenario,
    *,
    duration: str | float = "7D",
    step: str | float = "1s",
    replications: int = 32,
    seed: int = 0,
    trace: pd.Series | None = None,
    start: object = None,
    progress: Progress | None = None,
) -> SimResult:
    """Simulate a scenario for many Monte Carlo replications at once.

    Parameters
    ----------
    scenario : Scenario
        The system to simulate (see :func:`simkit.io.load_scenario`).
    duration : str or float
        Simulated time, e.g. ``"7D"`` or seconds; a whole number of control periods.
    step : str or float
        Output step, e.g. ``"1s"``; must divide ``autoscaling.sync_period_s``.
    replications : int
        Independent Monte Carlo replications (rows of every array).
    seed : int
        Root seed; the same seed gives bit-identical arrays.
    trace : pandas.Series, optional
        Offered rate [1/s] to replay instead of the synthetic workload (from
        :func:`simkit.io.read_trace`); every replication sees the same rate.
    start : timestamp-like, optional
        Start of the simulation (UTC); default Monday 2024-01-01, or the trace start.
    progress : callable, optional
        Called with the fraction done (0..1) from time to time.

    Returns
    -------
    SimResult
        Arrays ``[replication, time]``, the time index, the scenario and the seed.

    Raises
    ------
    SimkitError
        Bad arguments (duration, step, replications, seed, start, trace).
    """
    if not isinstance(scenario, Scenario):
        raise SimkitError(f"scenario must be a simkit.Scenario, got {type(scenario).__name__}")
    _check_run_args(replications, seed)
    clock = _clock(scenario, duration, step, start, trace)
    streams = _streams(int(seed), int(replications))
    rate_rps = _offered_rate(scenario, clock, streams["load"], trace)
    if progress:
        progress(0.02)
    arrivals = _arrivals(rate_rps, clock, streams["arrivals"])
    if progress:
        progress(0.1)
    a = scenario.autoscaling
    timeline = failure_timeline(
        streams["failures"],
        a.replicas if a.policy == "fixed" else a.max_replicas,
        clock.n_periods,
        clock.period_s,
        scenario.failures.instance_mtbf_h * 3600.0,
        scenario.failures.instance_mttr_s,
    )
    effects = _effects(scenario, clock, rate_rps, streams)
    floor = forecast = None
    policy = scenario.autoscaling.policy
    if scenario.forecasting.enabled and policy in ("reactive", "predictive"):
        floor, forecast = forecast_floor(scenario, rate_rps, clock.period_s)
    apply_floor = floor if policy == "predictive" else None
    if apply_floor is not None and scenario.forecasting.mode != "active":
        apply_floor = None
    if policy == "learned":
        from simkit.learned import learned_floor

        apply_floor = learned_floor(scenario, rate_rps, clock.period_s)
    state = _control_loop(scenario, clock, rate_rps, timeline, effects, apply_floor, progress)
    if progress:
        progress(0.9)
    result = _finish(scenario, clock, rate_rps, arrivals, state, timeline, effects, int(seed))
    if floor is not None:
        object.__setattr__(result, "forecast_floor", floor.astype(np.int32))
        object.__setattr__(result, "forecast_rps", forecast)
    if progress:
        progress(1.0)
    return result


@dataclass
class _LoopOutput:
    desired: np.ndarray  # [R, P] int32, provisioned (billed) instances
    started: np.ndarray  # [R, P] int32, instances past start-up (slots 0..started-1)
    ready: np.ndarray  # [R, P] int32, Ready instances serving the period
    backlog0: np.ndarray  # [R, P] float64, fluid backlog at period start [requests]
    utilization: np.ndarray  # [R, P] float64, busy fraction of the ready servers


#: Periods handled by one vectorized pass when nothing happens (5 minutes at 15 s).
_BLOCK_PERIODS = 20
#: Periods simulated one by one after a block that is not quiet, before trying again.
_FALLBACK_PERIODS = 4


class _Loop:
    """State of the sequential part, advanced one period (or one quiet block) at a time.

    Pods are started in LIFO order by slot: slots ``0..started-1`` run, the newest
    ``not_started`` slots are still starting, and a scale-down removes starting pods
    first (as a ReplicaSet does), then the newest running ones.
    """

    def __init__(
        self,
        scenario: Scenario,
        clock: _Clock,
        rate_rps: np.ndarray,
        timeline: FailureTimeline,
        effects: Effects,
        floor: np.ndarray | None = None,
    ) -> None:
        a = scenario.autoscaling
        svc = scenario.service
        n_rep, n_per = rate_rps.shape
        self.n_rep, self.n_per = n_rep, n_per
        self.period_s = clock.period_s
        mu = scenario.service_rate_rps
        workers = scenario.servers_per_instance
        self.autoscaler = make_autoscaler(scenario, n_rep)
        self.startup_periods = math.ceil(a.startup_s / clock.period_s - 1e-9)
        self.ring = self.startup_periods + 1
        self.lag_periods = round(a.metric_lag_s / clock.period_s)
        # Requests one Ready instance serves, and holds queued at most, per period.
        self.cap_per_ready = workers * mu * clock.period_s
        self.limit_per_ready = min(
            float(svc.queue_limit_per_instance), workers * mu * svc.timeout_s
        )
        self.timeline = timeline
        self.offered = np.ascontiguousarray(rate_rps.T) * clock.period_s  # [P, R]
        self.desired = np.empty((n_per, n_rep), dtype=np.int32)
        self.started = np.empty((n_per, n_rep), dtype=np.int32)
        self.ready = np.empty((n_per, n_rep), dtype=np.int32)
        self.backlog0 = np.empty((n_per, n_rep))
        self.util = np.zeros((n_per, n_rep))
        self.spec = np.full(n_rep, a.replicas, dtype=np.int64)
        self.starting = np.zeros((self.ring, n_rep), dtype=np.int64)  # by ring slot
        self.not_started = np.zeros(n_rep, dtype=np.int64)
        self.backlog = np.zeros(n_rep)
        self._no_down = np.zeros(n_rep, dtype=np.int64)
        # Instances taken out by deployments, regions or chaos, and where they are.
        forced = effects.instances_down
        self.forced_down = None if forced is None else np.ascontiguousarray(forced.T)
        busy = np.zeros(n_per + 1, dtype=np.int64)
        if forced is not None:
            busy[1:] = np.cumsum(forced.any(axis=0))
        self._forced_cum = busy
        # Predictive scaling: the floor requested at the end of each period.
        self.floor = None if floor is None else np.ascontiguousarray(floor.T)
        self._steps = np.arange(_BLOCK_PERIODS)

    def sample(self, periods: np.ndarray | int) -> np.ndarray:
        """Busy fraction the HPA sees at the end of ``periods`` (metric lag applied)."""
        return np.minimum(self.util[np.maximum(periods - self.lag_periods, 0)], 1.0)

    def quiet_block(self, p: int) -> bool:
        """Advance ``_BLOCK_PERIODS`` periods at once if nothing happens in them.

        Quiet means: no pod starting, no backlog, no overload, no rescale.  Crashed
        instances may come and go (their slots are known in advance).
        """
        end = p + _BLOCK_PERIODS
        if end > self.n_per or self.not_started.any() or self.backlog.any():
            return False
        if self._forced_cum[end] != self._forced_cum[p]:
            return False
        spec = self.spec
        tl = self.timeline
        lo, hi = tl.down_ptr[p], tl.down_ptr[end]
        if hi > lo:
            rows = tl.down_rep[lo:hi]
            hit = tl.down_slot[lo:hi] < spec[rows]
            cell = (tl.down_period[lo:hi][hit] - p) * self.n_rep + rows[hit]
            down = np.bincount(cell, minlength=_BLOCK_PERIODS * self.n_rep)
            ready = spec - down.reshape(_BLOCK_PERIODS, self.n_rep)
        else:
            ready = np.broadcast_to(spec, (_BLOCK_PERIODS, self.n_rep))
        cap = ready * self.cap_per_ready
        offered = self.offered[p:end]
        if not (offered <= cap).all() or not (cap > 0).all():
            return False
        if self.floor is not None and (self.floor[p:end] > spec).any():
            return False
        self.util[p:end] = offered / cap
        if self.autoscaler is not None and not self.autoscaler.sync_block(
            now_s=(p + 1 + self._steps) * self.period_s,
            spec_replicas=spec,
            ready_pods=ready,
            busy_fraction=self.sample(p + self._steps),
        ):
            return False
        self.desired[p:end] = spec
        self.started[p:end] = spec
        self.ready[p:end] = ready
        self.backlog0[p:end] = 0.0
        return True

    def period(self, p: int) -> None:
        """Advance one period: pods, fluid backlog, autoscaler sync at its end."""
        j = p % self.ring
        if self.startup_periods:
            self.not_started -= self.starting[j]
            self.starting[j] = 0
        spec = self.spec
        started = spec - self.not_started
        tl = self.timeline
        lo, hi = tl.down_ptr[p], tl.down_ptr[p + 1]
        if hi > lo:
            rows = tl.down_rep[lo:hi]
            hit = tl.down_slot[lo:hi] < started[rows]
            down = np.bincount(rows[hit], minlength=self.n_rep)
        else:
            down = self._no_down
        if self.forced_down is not None:
            down = down + self.forced_down[p]
        ready = np.maximum(started - down, 0)

        # Fluid backlog over the period: linear, capped by the queue limit and timeout.
        cap = ready * self.cap_per_ready
        limit = ready * self.limit_per_ready
        backlog = np.minimum(self.backlog, limit)
        self.backlog0[p] = backlog
        load = self.offered[p] + backlog
        np.divide(load, cap, out=self.util[p], where=cap > 0)
        self.backlog = np.clip(load - cap, 0.0, limit)
        self.desired[p] = spec
        self.started[p] = started
        self.ready[p] = ready

        if self.autoscaler is None:
            return
        new_spec = self.autoscaler.sync(
            now_s=(p + 1) * self.period_s,
            spec_replicas=spec,
            ready_pods=ready,
            unready_pods=spec - ready,
            busy_fraction=self.sample(p),
        )
        if self.floor is not None:
            new_spec = np.maximum(new_spec, self.floor[p])
        delta = new_spec - spec
        if not delta.any():
            return
        grow = np.maximum(delta, 0)
        self.starting[j] += grow  # Ready at p + ring, which maps to ring slot j again
        self.not_started += grow
        shrink = np.maximum(-delta, 0)
        if shrink.any():
            for age in range(self.ring):  # starting pods go first, newest first
                idx = (j - age) % self.ring
                take = np.minimum(shrink, self.starting[idx])
                self.starting[idx] -= take
                self.not_started -= take
                shrink -= take
        self.spec = new_spec


def _control_loop(
    scenario: Scenario,
    clock: _Clock,
    rate_rps: np.ndarray,
    timeline: FailureTimeline,
    effects: Effects,
    floor: np.ndarray | None,
    progress: Progress | None,
) -> _LoopOutput:
    """Sequential part: instances, autoscaler and fluid backlog, one period at a time.

    Stretches where nothing happens (every pod Ready, no crash, no backlog, no overload,
    no rescale) are done a block of periods at a time; ``_BLOCK_PERIODS = 1`` would give
    the same arrays, only slower (a test checks this).
    """
    loop = _Loop(scenario, clock, rate_rps, timeline, effects, floor)
    n_per = loop.n_per
    report_every = max(n_per // 50, 1)
    next_report = 0
    p = 0
    while p < n_per:
        if _BLOCK_PERIODS > 1 and loop.quiet_block(p):
            p += _BLOCK_PERIODS
        else:
            stop = min(p + _FALLBACK_PERIODS, n_per)
            for q in range(p, stop):
                loop.period(q)
            p = stop
        if progress and p >= next_report:
            progress(0.1 + 0.8 * p / n_per)
            next_report = p + report_every
    return _LoopOutput(
        desired=np.ascontiguousarray(loop.desired.T),
        started=np.ascontiguousarray(loop.started.T),
        ready=np.ascontiguousarray(loop.ready.T),
        backlog0=np.ascontiguousarray(loop.backlog0.T),
        utilization=np.minimum(np.ascontiguousarray(loop.util.T), 1.0),
    )


def _events_in_service(
    rep: np.ndarray, slot: np.ndarray, period: np.ndarray, started: np.ndarray
) -> np.ndarray:
    """Count events ``(rep, slot, period)`` on slots that were running, as ``[R, P]``."""
    n_rep, n_per = started.shape
    inside = period < n_per
    rep, slot, period = rep[inside], slot[inside], period[inside]
    live = slot < started[rep, period]
    counts = np.zeros(n_rep * n_per)
    np.add.at(counts, rep[live] * n_per + period[live], 1)
    return counts.reshape(n_rep, n_per).astype(np.int32)


def _window_steps(
    windows: tuple[FailureWindow, ...], clock: _Clock, n_rep: int
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


def _finish(
    scenario: Scenario,
    clock: _Clock,
    rate_rps: np.ndarray,
    arrivals: np.ndarray,
    loop: _LoopOutput,
    timeline: FailureTimeline,
    effects: Effects,
    seed: int,
) -> SimResult:
    """Whole-array part: errors, backlog and latency per step; KPIs' raw material.

    Work is done per period wherever the period is in M/M/c steady state, and
    per step only in the periods that are overloaded or touched by a failure
    window (the step overlay).
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

    table = queueing.build_latency_table(max(int(servers.max()), 1))
    rho_max = table.rho_max
    drift = rate_rps - cap_rps  # [1/s]
    overloaded = (loop.backlog0 > 0) | (drift > 0)
    rho = np.divide(rate_rps, cap_rps, out=np.zeros_like(rate_rps), where=cap_rps > 0)
    rho_q = np.where(overloaded, rho_max, np.minimum(rho, rho_max))
    q_mu, _ = queueing.table_lookup(table, np.maximum(servers, 1), rho_q)
    q_period_s = np.minimum(q_mu / mu + backend_s[:, :, None], timeout_s)  # [R, P, 3]
    q_period_s[servers == 0] = timeout_s

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
    crashes = _events_in_service(
        timeline.crash_rep, timeline.crash_slot, timeline.crash_period, loop.started
    )
    repairs = _events_in_service(
        timeline.repair_rep, timeline.repair_slot, timeline.repair_period, loop.started
    )
    per_instance_rps = np.divide(
        rate_rps, loop.ready, out=np.zeros_like(rate_rps), where=loop.ready > 0
    )
    in_flight = scenario.servers_per_instance * rho_q
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
    per_period = arrivals.reshape(n_rep, n_per, k).sum(axis=2, dtype=np.float64)

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
    served_period = per_period - errors_period

    ri, pi = np.nonzero(stepwise)
    row_of = np.full((n_rep, n_per), -1, dtype=np.int64)
    row_of[ri, pi] = np.arange(ri.size)
    arr_ov = arrivals.reshape(n_rep, n_per, k)[ri, pi].astype(np.float64)  # [n, k]
    over_ov = overloaded[ri, pi][:, None]
    b0 = loop.backlog0[ri, pi][:, None]
    lim = limit[ri, pi][:, None]
    path = b0 + np.maximum(drift[ri, pi][:, None], -np.inf) * (np.arange(k + 1)[None, :] * dt)
    path = np.where(over_ov, path, 0.0)
    dropped = np.diff(np.maximum(path - lim, 0.0), axis=1)  # requests per step
    offered_step = rate_rps[ri, pi][:, None] * dt
    drop = np.clip(
        np.divide(dropped, offered_step, out=np.ones_like(dropped), where=offered_step > 0),
        0.0,
        1.0,
    )
    drop = np.where(over_ov, drop, 0.0)
    window = np.zeros((ri.size, len(w_names), k))
    if w_rep.size:
        np.add.at(window, (row_of[w_rep, w_step // k], w_cause, w_step % k), w_frac)
    total = drop + window.sum(axis=1) + sum(f[ri, pi][:, None] for f in fractions.values())
    sc = 1.0 / np.maximum(total, 1.0)
    err_ov = arr_ov * np.minimum(total, 1.0)
    errors_period[ri, pi] = err_ov.sum(axis=1)
    served_ov = arr_ov - err_ov
    served_period[ri, pi] = served_ov.sum(axis=1)
    down = (servers[ri, pi] == 0)[:, None]
    np.add.at(breakdown["unavailable"], ri, (arr_ov * drop * sc * down).sum(axis=1))
    np.add.at(breakdown["overload"], ri, (arr_ov * drop * sc * ~down).sum(axis=1))
    for cause, f in fractions.items():
        np.add.at(breakdown[cause], ri, (arr_ov * f[ri, pi][:, None] * sc).sum(axis=1))
    for c, cause in enumerate(w_names):
        np.add.at(breakdown[cause], ri, (arr_ov * window[:, c] * sc).sum(axis=1))
    level = np.clip(path[:, 1:], 0.0, lim)
    c_ov = cap_rps[ri, pi][:, None]
    wait_ov = np.divide(level, c_ov, out=np.full_like(level, timeout_s), where=c_ov > 0)
    latency_ov = np.minimum(q_period_s[ri, pi][:, None, :] + wait_ov[:, :, None], timeout_s)

    run_latency = _run_latency_quantiles(
        scenario,
        table,
        servers,
        rho_q,
        backend_s,
        stepwise,
        served_period,
        (ri, pi, np.where(over_ov, wait_ov, 0.0), served_ov, over_ov[:, 0]),
    )
    billed = loop.desired
    if effects.extra_instances is not None:
        billed = (loop.desired + effects.extra_instances).astype(np.int32)
    return SimResult(
        scenario=scenario,
        seed=seed,
        start=clock.start,
        step_s=clock.step_s,
        period_s=clock.period_s,
        arrivals=arrivals,
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
            errors=err_ov.astype(np.float32),
            backlog=level.astype(np.float32),
            latency_s=latency_ov.astype(np.float32),
        ),
        error_breakdown=breakdown,
        run_latency_s=run_latency,
        incidents=effects.incidents,
    )


def _split_on_grid(grid: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the grid node left of ``x`` and the weight of the right node."""
    i = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, grid.size - 2)
    w = np.clip((x - grid[i]) / (grid[i + 1] - grid[i]), 0.0, 1.0)
    return i, w


def _run_latency_quantiles(
    scenario: Scenario,
    table: queueing.LatencyTable,
    servers: np.ndarray,
    rho_q: np.ndarray,
    backend_s: np.ndarray,
    stepwise: np.ndarray,
    served_period: np.ndarray,
    steps: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """Quantiles (p50, p95, p99) of the request-weighted latency of each replication.

    The run's latency distribution is a mixture over periods (and, where periods are
    resolved step by step, over steps) of M/M/c response-time distributions, each
    shifted by the backend latency and any fluid wait.  Components are merged on the
    latency table's utilization grid (weights split linearly between the two
    neighbouring nodes) and on a log grid of shifts (2 % wide bins), then the
    mixture quantile is solved by bisection for all replications at once.
    """
    mu = scenario.service_rate_rps
    timeout_s = scenario.service.timeout_s
    n_rep = servers.shape[0]
    rho_grid = table.rho_grid
    n_rho = rho_grid.size

    ri, pi, wait, served, _over = steps
    k = wait.shape[1] if wait.ndim == 2 else 1
    # Steady periods: one component each; step-resolved periods: one per step.
    steady = ~stepwise & (servers > 0) & (served_period > 0)
    r_s, p_s = np.nonzero(steady)
    rows = [r_s, np.repeat(ri, k)]
    cs = [servers[r_s, p_s], np.repeat(servers[ri, pi], k)]
    rhos = [rho_q[r_s, p_s], np.repeat(rho_q[ri, pi], k)]
    shifts = [backend_s[r_s, p_s], (backend_s[ri, pi][:, None] + wait).ravel()]
    weights = [served_period[r_s, p_s], served.ravel()]
    row = np.concatenate(rows)
    c = np.concatenate(cs)
    rho = np.concatenate(rhos)
    shift = np.concatenate(shifts)
    wt = np.concatenate(weights)
    keep = (c > 0) & (wt > 0)
    row, c, rho, shift, wt = row[keep], c[keep], rho[keep], shift[keep], wt[keep]
    out = np.full((n_rep, len(table.quantiles)), timeout_s)
    if row.size == 0:
        return out
    i, w = _split_on_grid(rho_grid, rho)
    shift_code = np.round(np.log1p(shift / _SHIFT_FLOOR_S) / _SHIFT_LOG_STEP).astype(np.int64)
    c_span = int(c.max()) + 1
    base = (row * c_span + c) * n_rho
    codes = np.concatenate([(base + i) * _SHIFT_CODES, (base + i + 1) * _SHIFT_CODES])
    codes += np.concatenate([shift_code, shift_code])
    parts = np.concatenate([wt * (1.0 - w), wt * w])
    nonzero = parts > 0
    inv, uniq = pd.factorize(codes[nonzero], sort=True)  # hashing: faster than a sort
    comp_w = np.bincount(inv, weights=parts[nonzero])
    comp_shift = np.expm1((uniq % _SHIFT_CODES) * _SHIFT_LOG_STEP) * _SHIFT_FLOOR_S
    rest = uniq // _SHIFT_CODES
    comp_rho = rho_grid[rest % n_rho]
    rest //= n_rho
    comp_c = (rest % c_span).astype(np.float64)
    comp_row = rest // c_span
    # Pad to one row of components per replication.
    counts = np.bincount(comp_row, minlength=n_rep)
    width = int(counts.max())
    slot = np.arange(uniq.size) - np.repeat(np.cumsum(counts) - counts, counts)
    grid_w = np.zeros((n_rep, width))
    grid_c = np.ones((n_rep, width))
    grid_rho = np.zeros((n_rep, width))
    grid_shift = np.zeros((n_rep, width))
    grid_w[comp_row, slot] = comp_w
    grid_c[comp_row, slot] = comp_c
    grid_rho[comp_row, slot] = comp_rho
    grid_shift[comp_row, slot] = comp_shift
    has = grid_w.sum(axis=1) > 0
    if has.any():
        levels = np.asarray(table.quantiles)[:, None]
        quant = queueing.mixture_quantile(
            levels,
            grid_w[has][None],
            grid_c[has][None],
            (grid_rho * grid_c * mu)[has][None],
            mu,
            grid_shift[has][None],
        )  # [n_q, n_has]
        out[has] = np.minimum(np.asarray(quant).T, timeout_s)
    return out
