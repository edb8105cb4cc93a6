"""Capacity planning: the fewest instances that meet the SLO at a given peak.

The answer is searched on the simulator itself (exponential search, then
bisection on the integer knob), every candidate simulated with the same seed
so that candidates share random numbers and the meet/miss verdict is monotone
in the knob.  A replication *meets* the SLO when its request-weighted p99 over
the run is within ``slo.latency_p99_s`` and its availability at least
``slo.availability``; a candidate is accepted when at least ``probability`` of
the replications meet it.

For a constant Poisson load on a fixed pool every replication has the same
run p99 (the engine uses exact M/M/c quantiles plus the database's mean time per
request), so without failures the answer equals the analytic Erlang C answer of
:func:`analytic_instances`: both add the same cache + database latency,
:func:`simkit.database.backend_latency_at_s` at the planned rate (the engine's
:func:`simkit.database.database_latency` with every node up).  When that latency
leaves no room under the SLO, or a database node is saturated at the planned
rate (:func:`simkit.database.database_capacity_rps`), no app pool meets the SLO:
both answer "database-bound" (``value is None``, ``database_bound_rps`` set).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from simkit import queueing
from simkit.analysis.kpis import availability, mean_instances
from simkit.cost import instance_price_usd_per_h
from simkit.database import backend_latency_at_s, database_capacity_rps
from simkit.engine import DEFAULT_START, simulate
from simkit.errors import SimkitError
from simkit.scenario import Scenario, Slo
from simkit.units import parse_duration
from simkit.workload import base_rate_rps

__all__ = [
    "HOURS_PER_MONTH",
    "KNOBS",
    "LOADS",
    "AnalyticPlan",
    "CapacityPlan",
    "analytic_instances",
    "analytic_plan",
    "capacity_plan",
    "seasonal_peak_rps",
]

#: Average hours in a month (365.25 x 24 / 12), for monthly cost.
HOURS_PER_MONTH = 730.5
KNOBS = ("instances", "target_utilization_percent")
LOADS = ("constant", "seasonal")


@dataclass(frozen=True)
class CapacityPlan:
    """Result of :func:`capacity_plan`.

    Attributes
    ----------
    knob : str
        ``"instances"`` (a fixed pool) or ``"target_utilization_percent"`` (HPA target).
    value : int or None
        The answer: fewest instances, or highest HPA target [%]; ``None`` if no
        value in the searched range meets the SLO, or the database bounds the
        service (see ``database_bound_rps``).
    probability : float
        Required share of replications meeting the SLO [-].
    achieved : float
        Share of replications meeting the SLO at ``value`` [-].
    latency_p99_s : float
        Run p99 at ``value``, the ``probability`` quantile over replications [s].
    availability : float
        Mean availability at ``value`` [-].
    mean_instances : float
        Mean provisioned instances at ``value`` [count].
    cost_usd_per_h, cost_usd_per_month : float
        Cost of the answer [USD/h], [USD per 730.5 h].
    peak_rate_rps : float
        The planned peak [1/s].
    load : str
        ``"constant"`` (rate held at the peak) or ``"seasonal"`` (the scenario's
        workload scaled so its deterministic peak is ``peak_rate_rps``).
    slo : Slo
        The objective planned for.
    curve : pandas.DataFrame
        Every value simulated (index ``knob``): ``meet_fraction``,
        ``latency_p99_s_mean``, ``latency_p99_s_q`` (the ``probability``
        quantile), ``availability_mean``, ``mean_instances``, ``cost_usd_per_h``.
    database_bound_rps : float or None
        When no value meets the SLO because of the database (see
        :func:`analytic_plan`): the rate at which the database saturates
        (:func:`simkit.database.database_capacity_rps`) [1/s]; else ``None``.
    """

    knob: str
    value: int | None
    probability: float
    achieved: float
    latency_p99_s: float
    availability: float
    mean_instances: float
    cost_usd_per_h: float
    cost_usd_per_month: float
    peak_rate_rps: float
    load: str
    slo: Slo
    curve: pd.DataFrame
    database_bound_rps: float | None = None

    def summary(self) -> str:
        """One sentence for people."""
        if self.value is None and self.database_bound_rps is not None:
            best = self.curve["latency_p99_s_mean"].idxmin()
            at = f"{best} instances" if self.knob == "instances" else f"an HPA target of {best} %"
            text = _database_bound_text(
                self.database_bound_rps, self.peak_rate_rps, self.load, self.slo
            )
            p99_ms = self.curve.loc[best, "latency_p99_s_mean"] * 1e3
            return f"{text}; simulated p99 {p99_ms:.4g} ms at {at}"
        if self.value is None:
            return (
                f"no {'pool size' if self.knob == 'instances' else 'HPA target'} searched (up to "
                f"{self.curve.index.max()}) meets p99 <= {self.slo.latency_p99_s * 1e3:g} ms and "
                f"availability >= {self.slo.availability:.4g} at a {self.load} peak of "
                f"{self.peak_rate_rps:.4g} req/s in {self.probability:.0%} of replications: "
                f"at best {self.achieved:.0%} do, best mean availability "
                f"{self.availability:.5g}"
            )
        what = (
            f"{self.value} instance{'s' if self.value != 1 else ''}"
            if self.knob == "instances"
            else f"an HPA target of {self.value} % ({self.mean_instances:.3g} instances on average)"
        )
        return (
            f"{what} {'meets' if self.value == 1 else 'meet'} p99 <= "
            f"{self.slo.latency_p99_s * 1e3:g} ms and availability >= "
            f"{self.slo.availability:.4g} at a {self.load} peak of {self.peak_rate_rps:.4g} req/s "
            f"in {self.achieved:.0%} of replications (required {self.probability:.0%}); "
            f"p99 {self.latency_p99_s * 1e3:.3g} ms, cost {self.cost_usd_per_h:.3g} USD/h "
            f"({self.cost_usd_per_month:,.0f} USD/month)"
        )


def _slo_of(scenario: Scenario, slo: Slo | dict[str, Any] | None) -> Slo:
    if slo is None:
        return scenario.slo
    if isinstance(slo, Slo):
        return slo
    if isinstance(slo, dict):
        return Slo.from_dict({**dataclasses.asdict(scenario.slo), **slo})
    raise SimkitError(f"slo = {slo!r} must be a simkit Slo, a dict of its fields, or None")


def _database_bound_text(capacity_rps: float, rate_rps: float, load: str, slo: Slo) -> str:
    return (
        f"database-bound at {capacity_rps:.4g} req/s (a database node saturates there): "
        f"no pool size meets p99 <= {slo.latency_p99_s * 1e3:g} ms at a {load} peak of "
        f"{rate_rps:.4g} req/s"
    )


@dataclass(frozen=True)
class AnalyticPlan:
    """Result of :func:`analytic_plan`.

    Attributes
    ----------
    value : int or None
        Fewest instances [count]; ``None`` when the database bounds the service.
    rate_rps : float
        The constant offered rate planned for [1/s].
    slo : Slo
        The objective planned for.
    backend_latency_s : float
        Cache + database time per request at ``rate_rps``
        (:func:`simkit.database.backend_latency_at_s`) [s].
    latency_p99_s : float
        M/M/c p99 response time at ``value`` plus ``backend_latency_s`` [s];
        NaN when database-bound.
    database_capacity_rps : float
        Rate at which a database node saturates
        (:func:`simkit.database.database_capacity_rps`) [1/s]; ``inf`` without queries.
    database_bound_rps : float or None
        ``database_capacity_rps`` when the database bounds the service at
        ``rate_rps`` (``value is None``), else ``None``.
    """

    value: int | None
    rate_rps: float
    slo: Slo
    backend_latency_s: float
    latency_p99_s: float
    database_capacity_rps: float
    database_bound_rps: float | None

    def summary(self) -> str:
        """One sentence for people."""
        if self.value is None:
            bound = self.database_bound_rps
            assert bound is not None
            return (
                f"{_database_bound_text(bound, self.rate_rps, 'constant', self.slo)}; the "
                f"database adds {self.backend_latency_s * 1e3:.4g} ms per request there (Erlang C)"
            )
        return (
            f"{self.value} instance{'s' if self.value != 1 else ''} "
            f"{'meets' if self.value == 1 else 'meet'} p99 <= {self.slo.latency_p99_s * 1e3:g} ms "
            f"at a constant {self.rate_rps:.4g} req/s (Erlang C, no failures): p99 "
            f"{self.latency_p99_s * 1e3:.3g} ms, of which the database "
            f"{self.backend_latency_s * 1e3:.3g} ms (it saturates at "
            f"{self.database_capacity_rps:.4g} req/s)"
        )


def _database_check(
    scenario: Scenario, rate_rps: float, target: Slo
) -> tuple[float, float, float | None]:
    """Backend latency at the rate [s], database capacity [1/s], and the capacity again
    if the database bounds the service at the rate (else ``None``).

    Bound: a node is saturated (``rate_rps >= database_capacity_rps``: its queue
    is unstable and only the ``DB_WAIT_CAP_S`` cap keeps its wait finite), or the
    backend latency plus the p99 of the service time alone, ``ln(100) / mu`` (the
    p99 with unlimited servers), reaches the SLO while it would not at zero load.
    Every pool's p99 is at least that sum, so then no pool meets the SLO.
    """
    backend_s = backend_latency_at_s(scenario, rate_rps)
    capacity_rps = database_capacity_rps(scenario)
    service_p99_s = math.log(100.0) / scenario.service_rate_rps
    if target.latency_p99_s <= backend_latency_at_s(scenario, 0.0) + service_p99_s:
        return backend_s, capacity_rps, None  # too tight at any load: not the database's doing
    saturated = rate_rps >= capacity_rps
    if saturated or target.latency_p99_s <= backend_s + service_p99_s:
        return backend_s, capacity_rps, capacity_rps
    return backend_s, capacity_rps, None


def _erlang_c_pool(scenario: Scenario, rate_rps: float, budget_s: float) -> int:
    """Fewest instances whose M/M/c p99 response time is within ``budget_s``."""
    mu = scenario.service_rate_rps
    workers = scenario.servers_per_instance
    n = math.floor(rate_rps / (workers * mu)) + 1
    while n <= 100_000:
        if float(queueing.response_time_quantile(0.99, n * workers, rate_rps, mu)) <= budget_s:
            return n
        n += 1
    raise SimkitError("no pool of up to 100000 instances meets the SLO")


def analytic_plan(
    scenario: Scenario, rate_rps: float, slo: Slo | dict[str, Any] | None = None
) -> AnalyticPlan:
    """Fewest instances whose M/M/c p99 plus the database's latency meets the SLO, or
    "database-bound".

    Exact Erlang C (:func:`simkit.queueing.response_time_quantile`) for a constant
    Poisson load of ``rate_rps`` on ``n * workers_per_instance`` servers, plus the
    cache + database time per request at that rate,
    :func:`simkit.database.backend_latency_at_s` (the engine's
    :func:`simkit.database.database_latency` with every node up, Erlang C queueing
    at the nodes included).  Failures and the availability objective are ignored.
    The database bounds the service (``value = None``, ``database_bound_rps`` =
    :func:`simkit.database.database_capacity_rps`) when a node is saturated at
    ``rate_rps``, or when its latency there plus the p99 of the service time alone
    (``ln(100) / mu``, the p99 with unlimited servers) reaches the SLO.

    Parameters
    ----------
    scenario : Scenario
        Service rate, workers per instance, database and cache come from here.
    rate_rps : float
        Constant offered rate [1/s], > 0.
    slo : Slo or dict, optional
        Objective; default ``scenario.slo``.

    Returns
    -------
    AnalyticPlan

    Raises
    ------
    SimkitError
        A bad rate, or an SLO no pool meets even at zero load (not above the
        database's unloaded latency plus the p99 of the service time alone).
    """
    target = _slo_of(scenario, slo)
    if (
        isinstance(rate_rps, bool)
        or not isinstance(rate_rps, int | float)
        or not rate_rps > 0
        or not math.isfinite(rate_rps)
    ):
        raise SimkitError(f"rate_rps = {rate_rps!r} must be a finite number > 0")
    rate = float(rate_rps)
    mu = scenario.service_rate_rps
    floor_s = backend_latency_at_s(scenario, 0.0) + math.log(100.0) / mu
    if target.latency_p99_s <= floor_s:
        raise SimkitError(
            f"slo.latency_p99_s = {target.latency_p99_s:g} s is not above the unloaded "
            f"database latency plus the p99 of the service time alone ({floor_s:.4g} s); "
            "no pool meets it"
        )
    backend_s, capacity_rps, bound = _database_check(scenario, rate, target)
    if bound is not None:
        return AnalyticPlan(None, rate, target, backend_s, math.nan, capacity_rps, bound)
    n = _erlang_c_pool(scenario, rate, target.latency_p99_s - backend_s)
    servers = n * scenario.servers_per_instance
    p99_s = float(queueing.response_time_quantile(0.99, servers, rate, mu)) + backend_s
    return AnalyticPlan(n, rate, target, backend_s, p99_s, capacity_rps, None)


def analytic_instances(
    scenario: Scenario, rate_rps: float, slo: Slo | dict[str, Any] | None = None
) -> int | None:
    """Fewest instances whose M/M/c p99 plus the database's latency meets the SLO.

    ``analytic_plan(scenario, rate_rps, slo).value``: see :func:`analytic_plan`
    for the model and for why the database bounds the service.

    Parameters
    ----------
    scenario : Scenario
        Service rate, workers per instance, database and cache come from here.
    rate_rps : float
        Constant offered rate [1/s], > 0.
    slo : Slo or dict, optional
        Objective; default ``scenario.slo``.

    Returns
    -------
    int or None
        Instances [count]; ``None`` when the database is the bottleneck (as
        :attr:`CapacityPlan.value` is then).
    """
    return analytic_plan(scenario, rate_rps, slo).value


def seasonal_peak_rps(scenario: Scenario, duration: str | float = "7D") -> float:
    """Largest deterministic (diurnal x weekly x trend) offered rate of the workload [1/s].

    Evaluated at the control-period midpoints of a run of ``duration`` from
    the engine's default start, without noise or flash crowds.
    """
    duration_s = parse_duration(duration, name="duration")
    period_s = scenario.autoscaling.sync_period_s
    n = max(round(duration_s / period_s), 1)
    mid = DEFAULT_START + pd.to_timedelta((np.arange(n) + 0.5) * period_s, unit="s")
    return float(base_rate_rps(mid, scenario.workload).max())


def _planning_scenario(
    scenario: Scenario, peak_rate_rps: float, load: str, duration_s: float
) -> Scenario:
    """The scenario with its workload set to the planned peak."""
    if load == "constant":
        return scenario.replace(
            workload__mean_rate_rps=peak_rate_rps,
            workload__diurnal_amplitude=0.0,
            workload__weekend_factor=1.0,
            workload__trend_per_week=0.0,
            workload__noise_sd=0.0,
            workload__flash_crowds_per_day=0.0,
        )
    peak = seasonal_peak_rps(scenario, duration_s)
    if peak <= 0:
        raise SimkitError("the scenario's workload has no load to scale to the peak")
    return scenario.replace(
        workload__mean_rate_rps=scenario.workload.mean_rate_rps * peak_rate_rps / peak
    )


def _with_knob(scenario: Scenario, knob: str, value: int) -> Scenario:
    if knob == "instances":
        return scenario.replace(
            autoscaling__policy="fixed",
            autoscaling__replicas=value,
            autoscaling__min_replicas=value,
            autoscaling__max_replicas=value,
        )
    return scenario.replace(autoscaling__target_cpu_utilization_percent=value)


def _first_guess(scenario: Scenario, peak_rate_rps: float, target: Slo) -> int:
    """Erlang C pool for the peak held constant, else the smallest stable pool."""
    try:
        n = analytic_instances(scenario, peak_rate_rps, target)
    except SimkitError:
        n = None
    if n is None:
        mu = scenario.service_rate_rps * scenario.servers_per_instance
        return math.floor(peak_rate_rps / mu) + 1
    return n


def _fewest(
    meets: Callable[[int], bool],
    guess: int,
    most: int,
    outcome: Callable[[int], tuple[float, ...]] | None = None,
) -> int | None:
    """Smallest ``n`` in ``1..most`` with ``meets(n)``, for ``meets`` monotone in ``n``.

    Gallops from ``guess`` (steps 1, 2, 4, ... down while it meets, up while it
    does not), then bisects: about ``2 log2(|answer - guess|) + 2`` evaluations.
    Going up, the search gives up (``None``) when ``outcome`` stays within 1 %
    over two doublings in a row: more instances stopped helping.
    """
    guess = min(max(guess, 1), most)
    lo, hi, step = 0, None, 1  # lo fails (0 = nothing), hi meets
    if meets(guess):
        hi = guess
        while hi - step >= 1:
            if not meets(hi - step):
                lo = hi - step
                break
            hi, step = hi - step, step * 2
    else:
        lo, flat = guess, 0
        while lo < most:
            candidate = min(lo + step, most)
            if meets(candidate):
                hi = candidate
                break
            if outcome is not None and step >= 2:
                same = np.allclose(outcome(candidate), outcome(lo), rtol=0.01, atol=1e-9)
                flat = flat + 1 if same else 0
                if flat >= 2:
                    return None
            lo, step = candidate, step * 2
        if hi is None:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if meets(mid) else (mid, hi)
    return hi


def capacity_plan(
    scenario: Scenario,
    slo: Slo | dict[str, Any] | None,
    peak_rate_rps: float,
    *,
    probability: float = 0.95,
    load: str = "constant",
    knob: str = "instances",
    duration: str | float | None = None,
    step: str | float = "1s",
    replications: int = 16,
    seed: int = 0,
    max_instances: int = 10_000,
    curve_margin: int = 2,
    progress: Callable[[float], None] | None = None,
) -> CapacityPlan:
    """Fewest instances (or highest HPA target) meeting the SLO at a peak, with its cost.

    Parameters
    ----------
    scenario : Scenario
        The system; its failures, service and backend are kept.
    slo : Slo or dict or None
        Objective (``latency_p99_s``, ``availability``); ``None`` = ``scenario.slo``.
    peak_rate_rps : float
        Planned peak offered rate [1/s].
    probability : float
        Required share of replications meeting the SLO, 0 < p < 1 [-].
    load : {"constant", "seasonal"}
        Hold the rate at the peak, or scale the scenario's seasonal workload
        (noise and flash crowds included) so its deterministic peak is the peak.
    knob : {"instances", "target_utilization_percent"}
        Search a fixed pool size (fewest instances), or the HPA CPU target of a
        reactive scenario (the highest target, i.e. the cheapest setting, that
        still meets the SLO).
    duration : str or float, optional
        Simulated time per candidate; default ``"1h"`` (constant) or ``"1D"`` (seasonal).
    step : str or float
        Simulation step.
    replications : int
        Replications per candidate.
    seed : int
        Root seed, the same for every candidate (common random numbers).
    max_instances : int
        Largest pool searched (``knob="instances"``).
    curve_margin : int
        Also simulate this many pool sizes either side of the answer, for the curve.
    progress : callable, optional
        Called with the number of candidates simulated so far divided by an estimate.

    Returns
    -------
    CapacityPlan
        For a constant load at which the database bounds the service (see
        :func:`analytic_plan`), ``value`` is ``None`` and ``database_bound_rps``
        set; with ``knob="instances"`` only the pool that would meet the SLO
        with the database unloaded is then simulated (its p99 is in the curve),
        since every pool's p99 is at least the database's latency plus the p99
        of the service time alone.
    """
    if load not in LOADS:
        raise SimkitError(f"load = {load!r} is not a load shape; allowed: {', '.join(LOADS)}")
    if knob not in KNOBS:
        raise SimkitError(f"knob = {knob!r} is not a capacity knob; allowed: {', '.join(KNOBS)}")
    if not isinstance(probability, int | float) or not 0.0 < probability < 1.0:
        raise SimkitError(f"probability = {probability!r} is out of range; allowed: 0 < p < 1")
    if not isinstance(peak_rate_rps, int | float) or not 0.0 < peak_rate_rps < math.inf:
        raise SimkitError(f"peak_rate_rps = {peak_rate_rps!r} must be a finite number > 0")
    if knob == "target_utilization_percent" and scenario.autoscaling.policy != "reactive":
        raise SimkitError(
            "knob = 'target_utilization_percent' needs autoscaling.policy = 'reactive'; "
            f"{scenario.name} has {scenario.autoscaling.policy!r}"
        )
    target = _slo_of(scenario, slo)
    duration = duration if duration is not None else ("1h" if load == "constant" else "1D")
    duration_s = parse_duration(duration, name="duration")
    planned = _planning_scenario(scenario, float(peak_rate_rps), load, duration_s)
    price = instance_price_usd_per_h(scenario)
    cache: dict[int, dict[str, float]] = {}
    bound = (
        _database_check(planned, float(peak_rate_rps), target)[2] if load == "constant" else None
    )

    def evaluate(value: int) -> bool:
        if value not in cache:
            res = simulate(
                _with_knob(planned, knob, value),
                duration=duration,
                step=step,
                replications=replications,
                seed=seed,
            )
            p99 = res.run_latency_s[:, 2]
            avail = availability(res)  # the KPIs the verdict needs, not the whole table
            meets = (p99 <= target.latency_p99_s) & (avail >= target.availability)
            mean_inst = float(mean_instances(res).mean())
            cache[value] = {
                "meet_fraction": float(meets.mean()),
                "latency_p99_s_mean": float(p99.mean()),
                "latency_p99_s_q": float(np.quantile(p99, probability)),
                "availability_mean": float(avail.mean()),
                "mean_instances": mean_inst,
                "cost_usd_per_h": mean_inst * price,
            }
            if progress:
                progress(min(len(cache) / 12.0, 0.99))
        return cache[value]["meet_fraction"] >= probability - 1e-12

    value: int | None
    if bound is not None:
        # Database-bound: simulate only the pool that would do with the database
        # unloaded (or the lowest HPA target), for the curve.
        if knob == "instances":
            unloaded_s = backend_latency_at_s(planned, 0.0)
            evaluate(_erlang_c_pool(planned, peak_rate_rps, target.latency_p99_s - unloaded_s))
        else:
            evaluate(1)
        value = None
    elif knob == "instances":
        value = _fewest(
            evaluate,
            _first_guess(planned, peak_rate_rps, target),
            max_instances,
            lambda n: (
                cache[n]["meet_fraction"],
                cache[n]["latency_p99_s_mean"],
                1.0 - cache[n]["availability_mean"],
            ),
        )
        if value is not None:
            for extra in range(value - curve_margin, value + curve_margin + 1):
                if 1 <= extra <= max_instances:
                    evaluate(extra)
    else:
        if not evaluate(1):
            value = None
        else:
            lo, hi = 1, 101  # lo meets, hi is past the allowed range
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if evaluate(mid) else (lo, mid)
            value = lo
    curve = pd.DataFrame.from_dict(cache, orient="index").sort_index()
    curve.index.name = knob
    if progress:
        progress(1.0)
    if value is None:
        nan = float("nan")
        best = float(curve["availability_mean"].max())
        return CapacityPlan(
            knob, None, probability, float(curve["meet_fraction"].max()), nan, best, nan, nan,
            nan, float(peak_rate_rps), load, target, curve, bound,
        )  # fmt: skip
    at = cache[value]
    return CapacityPlan(
        knob=knob,
        value=value,
        probability=float(probability),
        achieved=at["meet_fraction"],
        latency_p99_s=at["latency_p99_s_q"],
        availability=at["availability_mean"],
        mean_instances=at["mean_instances"],
        cost_usd_per_h=at["cost_usd_per_h"],
        cost_usd_per_month=at["cost_usd_per_h"] * HOURS_PER_MONTH,
        peak_rate_rps=float(peak_rate_rps),
        load=load,
        slo=target,
        curve=curve,
    )
