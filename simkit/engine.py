"""The simulation engine: scenario in, :class:`~simkit.result.SimResult` out.

Time has two resolutions.  The *control period* is the autoscaler's sync
period (15 s by default): the offered rate, the instance count, crashes and
repairs and the queueing state change only at period boundaries, and the
Python loop runs once per period, vectorized across replications.  The
*step* (1 s by default, a divisor of the period) carries the errors, the fluid
backlog and the latency quantiles.  Arrivals are one Poisson count per period per
replication, split over the steps (multinomially, the same split whenever it is
drawn) only in the periods resolved per step and when step arrays are asked for.

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

import os
from collections.abc import Callable

import numpy as np
import pandas as pd

from simkit import workload
from simkit.autoscaling import POLICIES
from simkit.chaos import chaos_effects
from simkit.clock import DEFAULT_START, Clock, make_clock
from simkit.control import Progress, check_engine, control_loop
from simkit.database import database_effects
from simkit.deploys import deploy_effects
from simkit.detection import step_detected_s
from simkit.effects import Effects, Incident, combine
from simkit.errors import SimkitError
from simkit.failures import FailureTimeline, failure_timeline, no_failures
from simkit.outcome import finish
from simkit.regions import region_effects
from simkit.result import SimResult
from simkit.scenario import Scenario

__all__ = [
    "COMPONENTS",
    "DEFAULT_START",
    "PEAK_BYTES_PER_REPLICA_PERIOD",
    "available_memory_bytes",
    "component_seeds",
    "crash_detector",
    "simulate",
]

#: Model components, in spawn order; each gets its own random stream per replication.
COMPONENTS = ("load", "arrivals", "failures", "deploys", "database", "regions", "departures")


def _check_run_args(replications: int, seed: int, engine: str) -> None:
    if isinstance(replications, bool) or not isinstance(replications, int | np.integer):
        raise SimkitError(f"replications = {replications!r} must be a whole number >= 1")
    if not 1 <= replications <= 100_000:
        raise SimkitError(f"replications = {replications} is out of range; allowed: 1..100000")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise SimkitError(f"seed = {seed!r} must be a whole number >= 0")
    check_engine(engine)


#: Peak memory of a run per replication and control period [B], with a margin: measured
#: 235 for production at 15 s steps and about 390 for development at 1 s (its periods
#: resolved per step), beyond about 250 MiB for Python and the libraries.
PEAK_BYTES_PER_REPLICA_PERIOD = 450


def available_memory_bytes() -> int | None:
    """Memory the system can give a new run [B] (``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def _check_fits(replications: int, n_periods: int) -> None:
    """Refuse, before any work, a run whose arrays would not fit in the free memory."""
    need = PEAK_BYTES_PER_REPLICA_PERIOD * replications * n_periods
    free = available_memory_bytes()
    if free is not None and need > free:
        raise SimkitError(
            f"replications x duration = {replications} x {n_periods:,} control periods needs "
            f"about {need / 2**30:.1f} GiB, more than the {free / 2**30:.1f} GiB available; "
            "allowed: fewer replications or a shorter duration (or a coarser "
            "autoscaling.sync_period_s)"
        )


def component_seeds(seed: int, replications: int) -> dict[str, list[np.random.SeedSequence]]:
    """The random stream of every model component in every replication.

    ``SeedSequence(seed).spawn(replications)``, then one child per component in
    :data:`COMPONENTS` order: the streams :func:`simulate` uses, for models and
    analyses that need to redraw the same numbers.
    """
    per_rep = [ss.spawn(len(COMPONENTS)) for ss in np.random.SeedSequence(seed).spawn(replications)]
    return {name: [children[i] for children in per_rep] for i, name in enumerate(COMPONENTS)}


def _offered_rate(
    scenario: Scenario, clock: Clock, seeds: list[np.random.SeedSequence], trace: object
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
    rate_rps: np.ndarray, clock: Clock, seeds: list[np.random.SeedSequence]
) -> np.ndarray:
    """Arrival counts per period, shape ``(R, P)``, int32 (exact Poisson draws)."""
    out = np.empty(rate_rps.shape, dtype=np.int32)
    for r, ss in enumerate(seeds):
        rng = np.random.Generator(np.random.PCG64(ss))
        out[r] = workload.period_arrivals(rng, rate_rps[r] * clock.period_s)
    return out


def _departure_noise(clock: Clock, seeds: list[np.random.SeedSequence]) -> np.ndarray:
    """Standard normal draws per period, ``(R, P)`` float64: the departures' randomness
    while requests are queued (see :mod:`simkit.control`)."""
    out = np.empty((len(seeds), clock.n_periods))
    for r, ss in enumerate(seeds):
        out[r] = np.random.Generator(np.random.PCG64(ss)).standard_normal(clock.n_periods)
    return out


def _effects(
    scenario: Scenario,
    clock: Clock,
    rate_rps: np.ndarray,
    streams: dict[str, list[np.random.SeedSequence]],
) -> Effects:
    """Effects of the database, deployments, regions and chaos experiments on the app tier.

    The database's effect includes the latency every request spends in the cache
    and the database.
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


def crash_detector(
    scenario: Scenario, period_s: float
) -> Callable[[np.ndarray], np.ndarray] | None:
    """Crash instants [s] -> detection instants [s] for instances without a health check.

    The rule that detects ``instance_crash`` fires on the crashed share of the static
    pool (1 / replicas), which counts as down from the first control period that
    starts after the crash.  ``None`` with a health check: repairs start at once.
    """
    if scenario.failures.health_check:
        return None
    share = 1.0 / max(scenario.autoscaling.replicas, 1)

    def detect(crash_s: np.ndarray) -> np.ndarray:
        first = np.ceil(np.minimum(crash_s, 1e18) / period_s)
        return step_detected_s(scenario, "instance_crash", first, share, period_s)

    return detect


def _crash_timeline(
    scenario: Scenario, clock: Clock, seeds: list[np.random.SeedSequence]
) -> FailureTimeline:
    """Crash/repair timeline of every instance slot (see :func:`crash_detector`)."""
    a, f = scenario.autoscaling, scenario.failures
    if not f.enabled:
        return no_failures(clock.n_periods)
    detect = crash_detector(scenario, clock.period_s)
    return failure_timeline(
        seeds,
        POLICIES[a.policy].max_instances(scenario),
        clock.n_periods,
        clock.period_s,
        f.instance_mtbf_h * 3600.0,
        f.instance_mttr_s,
        detect,
    )


def _crash_incidents(scenario: Scenario, timeline: FailureTimeline) -> Effects:
    """One ``instance_crash`` incident per crash of a slot in the scenario's static pool,
    for instances without a health check (with one, the kubelet restarts them unseen)."""
    if scenario.failures.health_check:
        return Effects()
    t = timeline
    keep = t.crash_slot < scenario.autoscaling.replicas
    return Effects(
        incidents=tuple(
            Incident(int(r), "instance_crash", float(c), float(d), float(e))
            for r, c, d, e in zip(
                t.crash_rep[keep],
                t.crash_s[keep],
                t.detected_s[keep],
                t.repair_s[keep],
                strict=True,
            )
        )
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
    engine: str = "numba",
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
    engine : {"numba", "numpy"}
        Implementation of the sequential control loop and of the step overlay (the
        periods resolved per step): ``"numba"`` (default) compiled, cached on disk after
        the first run (see :mod:`simkit.jit`); ``"numpy"`` the references.  Both give
        bit-identical results.

    Returns
    -------
    SimResult
        Arrays ``[replication, time]``, the time index, the scenario and the seed.

    Raises
    ------
    SimkitError
        Bad arguments (duration, step, replications, seed, start, trace, engine), a run
        too large for the free memory (:data:`PEAK_BYTES_PER_REPLICA_PERIOD` per
        replication and control period), or the numba cache folder is not writable.
    """
    if not isinstance(scenario, Scenario):
        raise SimkitError(f"scenario must be a simkit.Scenario, got {type(scenario).__name__}")
    _check_run_args(replications, seed, engine)
    clock = make_clock(scenario, duration, step, start, trace)
    _check_fits(int(replications), clock.n_periods)
    streams = component_seeds(int(seed), int(replications))
    rate_rps = _offered_rate(scenario, clock, streams["load"], trace)
    if progress:
        progress(0.02)
    arrivals = _arrivals(rate_rps, clock, streams["arrivals"])
    keys = workload.split_keys(streams["arrivals"])
    if progress:
        progress(0.1)
    timeline = _crash_timeline(scenario, clock, streams["failures"])
    effects = combine(
        [_effects(scenario, clock, rate_rps, streams), _crash_incidents(scenario, timeline)]
    )
    plan = POLICIES[scenario.autoscaling.policy].floor(scenario, rate_rps, clock.period_s)
    noise = _departure_noise(clock, streams["departures"])
    state = control_loop(
        scenario,
        clock,
        rate_rps,
        arrivals,
        keys,
        noise,
        timeline,
        effects,
        plan.apply,
        progress,
        engine,
    )
    if progress:
        progress(0.9)
    result = finish(
        scenario,
        clock,
        rate_rps,
        arrivals,
        keys,
        state,
        timeline,
        effects,
        int(seed),
        plan.forecast_floor,
        plan.forecast_rps,
        engine,
    )
    if progress:
        progress(1.0)
    return result
