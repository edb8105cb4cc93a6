"""The sequential part of the engine: instances, autoscaler and the queue backlog.

Two implementations give bit-identical arrays: a loop compiled with numba
(:mod:`simkit.control_kernel`, the default) and the NumPy reference, a Python
loop run once per control period (the autoscaler's sync period), vectorized
across replications, where stretches in which nothing happens are done a block
of periods at a time.  ``control_loop(..., engine=...)`` selects one.

Backlog.  While a replication's offered rate exceeds its capacity, or requests
are still queued from before, its queue beyond the servers follows its own
arrivals (the period's count split over its steps, :func:`simkit.workload.step_arrivals`)
and departures: Poisson with mean
``capacity x period`` per period (a normal draw of that variance, spread evenly
over the period's steps), the Lindley recursion ``b = max(b + a - d, 0)`` step by
step, capped at the queue limit (the excess is dropped).  Otherwise the queue is
in M/M/c steady state and holds no backlog.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simkit import workload
from simkit.autoscaling.policies import make_autoscaler
from simkit.clock import Clock
from simkit.effects import Effects
from simkit.errors import SimkitError
from simkit.failures import FailureTimeline
from simkit.scenario import Scenario

__all__ = [
    "ENGINES",
    "LoopOutput",
    "backlog_path",
    "check_engine",
    "control_loop",
    "events_in_service",
]

Progress = Callable[[float], None]

#: Implementations of the loop: compiled with numba (the default), or the NumPy reference.
ENGINES = ("numba", "numpy")


@dataclass
class LoopOutput:
    desired: np.ndarray  # [R, P] int32, provisioned (billed) instances
    started: np.ndarray  # [R, P] int32, instances past start-up (slots 0..started-1)
    ready: np.ndarray  # [R, P] int32, Ready instances serving the period
    backlog0: np.ndarray  # [R, P] float64, queued requests at period start [requests]
    utilization: np.ndarray  # [R, P] float64, busy fraction of the ready servers
    departures: np.ndarray  # [R, P] float64, departures per step while queued [requests]
    # The compiled loop's arrivals per step of the periods it split (a cache: a split
    # depends on the key, the period and its count only): row split_at[r, p] of split
    # ([R, P] int32, -1: not split; [m, k] float64 [count]).  None from the NumPy loop.
    split_at: np.ndarray | None = None
    split: np.ndarray | None = None


def backlog_path(
    backlog0: np.ndarray, arrivals: np.ndarray, departures: np.ndarray, limit: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Queue beyond the servers at the end of each step, and the requests dropped.

    Parameters
    ----------
    backlog0 : numpy.ndarray
        Queued requests at the start [count], ``(n,)``.
    arrivals : numpy.ndarray
        Arrivals per step [count], ``(n, k)``.
    departures : numpy.ndarray
        Departures per step while requests are queued [count], ``(n,)``.
    limit : numpy.ndarray
        Most requests the queue holds [count], ``(n,)``.

    Returns
    -------
    level, dropped : numpy.ndarray
        Queue at the end of each step and requests dropped in it [count], ``(n, k)``.
    """
    n, k = arrivals.shape
    level = np.empty((n, k))
    dropped = np.empty((n, k))
    b = np.asarray(backlog0, dtype=np.float64)
    for j in range(k):
        x = np.maximum(b + arrivals[:, j] - departures, 0.0)
        np.maximum(x - limit, 0.0, out=dropped[:, j])
        b = np.minimum(x, limit)
        level[:, j] = b
    return level, dropped


#: Periods handled by one vectorized pass when nothing happens (5 minutes at 15 s).
#: At most the HPA's history slots minus 2 (21 for a 300 s window at 15 s syncs), or
#: ``VectorHPA.sync_block`` declines every block.
_BLOCK_PERIODS = 20
#: Periods simulated one by one after a block that is not quiet, before trying again.
_FALLBACK_PERIODS = 8


class _Loop:
    """State of the sequential part, advanced one period (or one quiet block) at a time.

    Pods are started in LIFO order by slot: slots ``0..started-1`` run, the newest
    ``not_started`` slots are still starting, and a scale-down removes starting pods
    first (as a ReplicaSet does), then the newest running ones.
    """

    def __init__(
        self,
        scenario: Scenario,
        clock: Clock,
        rate_rps: np.ndarray,
        arrivals: np.ndarray,
        split_keys: np.ndarray,
        departure_noise: np.ndarray,
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
        self.k = clock.steps_per_period
        self.arrivals = arrivals  # [R, P] int32 counts per period
        self.split_keys = split_keys  # [R] uint64, see workload.step_arrivals
        self.noise = departure_noise  # [R, P] standard normal
        self.departures = np.zeros((n_per, n_rep))
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
        self._forced = np.zeros(n_per, dtype=bool) if forced is None else forced.any(axis=0)
        # Predictive scaling: the floor requested at the end of each period.
        self.floor = None if floor is None else np.ascontiguousarray(floor.T)
        self._steps = np.arange(_BLOCK_PERIODS)

    def output(self) -> LoopOutput:
        """The arrays filled so far, as ``[R, P]`` (utilization capped at 1)."""
        return LoopOutput(
            desired=np.ascontiguousarray(self.desired.T),
            started=np.ascontiguousarray(self.started.T),
            ready=np.ascontiguousarray(self.ready.T),
            backlog0=np.ascontiguousarray(self.backlog0.T),
            utilization=np.minimum(np.ascontiguousarray(self.util.T), 1.0),
            departures=np.ascontiguousarray(self.departures.T),
        )

    def sample(self, periods: np.ndarray | int) -> np.ndarray:
        """Busy fraction the HPA sees at the end of ``periods`` (metric lag applied)."""
        return np.minimum(self.util[np.maximum(periods - self.lag_periods, 0)], 1.0)

    def quiet_block(self, p: int) -> int:
        """Advance up to ``_BLOCK_PERIODS`` periods at once while nothing happens.

        Quiet means: no pod starting, no backlog, no overload, no instances taken out
        by an effect, no rescale.  Crashed instances may come and go (their slots are
        known in advance).  Returns the number of periods done (0 if none).
        """
        end = min(p + _BLOCK_PERIODS, self.n_per)
        b = end - p
        if b <= 0 or self.not_started.any() or self.backlog.any():
            return 0
        spec = self.spec
        tl = self.timeline
        lo, hi = tl.down_ptr[p], tl.down_ptr[end]
        if hi > lo:
            rows = tl.down_rep[lo:hi]
            hit = tl.down_slot[lo:hi] < spec[rows]
            cell = (tl.down_period[lo:hi][hit] - p) * self.n_rep + rows[hit]
            down = np.bincount(cell, minlength=b * self.n_rep)
            ready = spec - down.reshape(b, self.n_rep)
        else:
            ready = np.broadcast_to(spec, (b, self.n_rep))
        cap = ready * self.cap_per_ready
        offered = self.offered[p:end]
        ok = (offered <= cap).all(axis=1) & (cap > 0).all(axis=1) & ~self._forced[p:end]
        if self.floor is not None:
            ok &= (self.floor[p:end] <= spec).all(axis=1)
        n = b if ok.all() else int(np.argmin(ok))
        if n == 0:
            return 0
        self.util[p : p + n] = offered[:n] / cap[:n]
        if self.autoscaler is not None:
            n = self.autoscaler.sync_block(
                now_s=(p + 1 + self._steps[:n]) * self.period_s,
                spec_replicas=spec,
                ready_pods=ready[:n],
                busy_fraction=self.sample(p + self._steps[:n]),
            )
        self.util[p + n : end] = 0.0  # periods not done here are redone one by one
        if n == 0:
            return 0
        self.desired[p : p + n] = spec
        self.started[p : p + n] = spec
        self.ready[p : p + n] = ready[:n]
        self.backlog0[p : p + n] = 0.0
        return n

    def period(self, p: int) -> None:
        """Advance one period: pods, fluid backlog, autoscaler sync at its end."""
        j = p % self.ring
        self.not_started -= self.starting[j]  # pods started ring periods ago are Ready
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

        # Backlog over the period: this replication's arrivals and departures (module
        # docstring), capped by the queue limit and timeout.
        cap = ready * self.cap_per_ready
        limit = ready * self.limit_per_ready
        backlog = np.minimum(self.backlog, limit)
        self.backlog0[p] = backlog
        load = self.offered[p] + backlog
        np.divide(load, cap, out=self.util[p], where=cap > 0)
        queued = (backlog > 0) | (self.offered[p] > cap)
        self.backlog = np.zeros(self.n_rep)
        if queued.any():
            rows = np.flatnonzero(queued)
            c = cap[rows]
            dep = np.maximum(c + np.sqrt(c) * self.noise[rows, p], 0.0) / self.k
            self.departures[p, rows] = dep
            per_step = workload.step_arrivals(
                self.split_keys, rows, np.full(rows.size, p), self.arrivals[rows, p], self.k
            )
            level, _ = backlog_path(backlog[rows], per_step, dep, limit[rows])
            self.backlog[rows] = level[:, -1]
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


def check_engine(engine: object) -> None:
    """Raise :class:`SimkitError` (one line) unless ``engine`` is one of :data:`ENGINES`."""
    if not isinstance(engine, str) or engine not in ENGINES:
        raise SimkitError(f"engine = {engine!r} is not known; allowed: 'numba' or 'numpy'")


def _run_numpy(loop: _Loop, progress: Progress | None) -> None:
    """The NumPy reference: quiet blocks where nothing happens, else period by period."""
    n_per = loop.n_per
    report_every = max(n_per // 50, 1)
    next_report = 0
    p = 0
    while p < n_per:
        done = loop.quiet_block(p) if _BLOCK_PERIODS > 1 else 0
        if done:
            p += done
        else:
            stop = min(p + _FALLBACK_PERIODS, n_per)
            for q in range(p, stop):
                loop.period(q)
            p = stop
        if progress and p >= next_report:
            progress(0.1 + 0.8 * p / n_per)
            next_report = p + report_every


def _ints(x: np.ndarray | None, rows: int) -> np.ndarray:
    """An int64 ``[P, R]`` array for the kernel; ``[0, 0]`` when absent."""
    return np.zeros((0, rows), dtype=np.int64) if x is None else np.ascontiguousarray(x, np.int64)


def _run_compiled(loop: _Loop, progress: Progress | None) -> LoopOutput:
    """The compiled loop (:mod:`simkit.control_kernel`), from ``loop``'s initial state."""
    from simkit import control_kernel as ck
    from simkit.autoscaling.hpa_vec import HPAConfig
    from simkit.split_kernel import log_factorials

    auto = loop.autoscaler
    # Without an autoscaler the kernel skips the HPA; a placeholder keeps the types.
    config = HPAConfig(1, 1, 100) if auto is None else auto.config
    hpa = ck.hpa_params(config, *((0.0, 0.0, 1) if auto is None else auto.cpu_model))
    up, down = ck.hpa_rules(config)
    state = ck.hpa_state(config, loop.n_rep)
    params = ck.LoopParams(
        autoscaled=auto is not None,
        startup_periods=int(loop.startup_periods),
        lag_periods=int(loop.lag_periods),
        cap_per_ready=float(loop.cap_per_ready),
        limit_per_ready=float(loop.limit_per_ready),
        period_s=float(loop.period_s),
        steps=int(loop.k),
    )
    tl = loop.timeline
    shape = (loop.n_rep, loop.n_per)
    arrays = ck.LoopArrays(
        *(np.ascontiguousarray(x) for x in (loop.offered, loop.arrivals, loop.noise)),
        np.ascontiguousarray(loop.split_keys, dtype=np.uint64),
        log_factorials(max(int(loop.arrivals.max(initial=0)), loop.k)),
        *(np.ascontiguousarray(x, np.int64) for x in (tl.down_ptr, tl.down_rep, tl.down_slot)),
        _ints(loop.forced_down, loop.n_rep),
        _ints(loop.floor, loop.n_rep),
        loop.spec,
        loop.starting,
        loop.not_started,
        loop.backlog,
        *(np.empty(shape, dtype=np.int32) for _ in range(3)),  # outputs [R, P]
        np.empty(shape),
        np.zeros(shape),
        np.zeros(shape),
        np.full(shape, -1, dtype=np.int32),
    )
    split, used = np.empty((0, loop.k)), 0
    chunk = max(loop.n_per // 50, 1) if progress else loop.n_per
    for first in range(0, loop.n_per, chunk):
        stop = min(first + chunk, loop.n_per)
        split, used = ck.run_periods(first, stop, params, arrays, hpa, up, down, state, split, used)
        if progress:
            progress(0.1 + 0.8 * stop / loop.n_per)
    return LoopOutput(
        desired=arrays.desired,
        started=arrays.started,
        ready=arrays.ready,
        backlog0=arrays.backlog0,
        utilization=np.minimum(arrays.util, 1.0),
        departures=arrays.departures,
        split_at=arrays.split_at,
        split=split[:used],
    )


def control_loop(
    scenario: Scenario,
    clock: Clock,
    rate_rps: np.ndarray,
    arrivals: np.ndarray,
    split_keys: np.ndarray,
    departure_noise: np.ndarray,
    timeline: FailureTimeline,
    effects: Effects,
    floor: np.ndarray | None,
    progress: Progress | None,
    engine: str = "numba",
) -> LoopOutput:
    """Sequential part: instances, autoscaler and fluid backlog, one period at a time.

    Parameters
    ----------
    scenario, clock : Scenario, Clock
        The system and the time grid.
    rate_rps : numpy.ndarray
        Offered rate per period [1/s], ``[R, P]``.
    arrivals : numpy.ndarray
        Arrivals per period [count], int32 ``[R, P]``.
    split_keys : numpy.ndarray
        Keys of their split over the steps, uint64 ``[R]`` (:func:`workload.split_keys`).
    departure_noise : numpy.ndarray
        Standard normal draws for the departures while queued [-], ``[R, P]``.
    timeline : FailureTimeline
        Crashes and repairs of every instance slot.
    effects : Effects
        Its ``instances_down`` [count] takes instances out of service.
    floor : numpy.ndarray or None
        Capacity floor applied after each HPA sync [instances], int ``[R, P]``.
    progress : callable or None
        Called with the fraction done (0.1..0.9) from time to time.
    engine : {"numba", "numpy"}
        ``"numba"``: the compiled loop (:mod:`simkit.control_kernel`), every period one by
        one.  ``"numpy"``: the reference, where stretches in which nothing happens (every
        pod Ready, no crash, no backlog, no overload, no rescale) are done a block of
        periods at a time; ``_BLOCK_PERIODS = 1`` would give the same arrays, only slower
        (a test checks this).  Both give bit-identical arrays.

    Returns
    -------
    LoopOutput
    """
    check_engine(engine)
    loop = _Loop(
        scenario, clock, rate_rps, arrivals, split_keys, departure_noise, timeline, effects, floor
    )
    if engine == "numba":
        return _run_compiled(loop, progress)
    _run_numpy(loop, progress)
    return loop.output()


def events_in_service(
    rep: np.ndarray, slot: np.ndarray, period: np.ndarray, started: np.ndarray
) -> np.ndarray:
    """Count events ``(rep, slot, period)`` on slots that were running, as ``[R, P]``."""
    n_rep, n_per = started.shape
    inside = period < n_per
    rep, slot, period = rep[inside], slot[inside], period[inside]
    live = slot < started[rep, period]
    counts = np.bincount(rep[live] * n_per + period[live], minlength=n_rep * n_per)
    return counts.reshape(n_rep, n_per).astype(np.int32)
