"""Simulation results: arrays ``[replication, time]`` plus their time index.

Step arrays vary at the simulation step; period arrays are constant within an
autoscaler control period by construction (the instance count, the offered
rate, crashes) and are stored once per period; :meth:`SimResult.step_array`
expands them to the step.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simkit.cost import instance_price_usd_per_h
from simkit.effects import Incident
from simkit.errors import SimkitError
from simkit.scenario import Scenario

__all__ = ["KPI_COLUMNS", "SimResult", "StepOverlay"]

#: Columns of :meth:`SimResult.kpis`, with their units.
KPI_COLUMNS = {
    "requests": "offered requests [count]",
    "errors": "failed requests: timeouts, overflow, unavailable, lost on crashes [count]",
    "availability": "1 - errors / requests [-]",
    "latency_p50_s": "median latency of served requests over the whole run [s]",
    "latency_p95_s": "95th percentile latency over the whole run [s]",
    "latency_p99_s": "99th percentile latency over the whole run [s]",
    "slo_minutes_violated": "minutes whose p99 or error ratio breaks the SLO [count]",
    "mean_instances": "mean provisioned (billed) instances [count]",
    "max_instances": "largest provisioned instance count [count]",
    "mean_ready_instances": "mean Ready instances serving traffic [count]",
    "instance_hours": "provisioned instance-hours [h]",
    "cost_usd": "instance_hours x price per instance-hour (per region for multi-cloud) [USD]",
    "downtime_s": "time in steps where at least half of the requests failed [s]",
    "incidents": "unplanned incidents: bad releases, database, region, chaos [count]",
    "mean_time_to_detect_s": "mean time from incident start to detection, 0 if none [s]",
    "mean_time_to_recover_s": "mean time from incident start to recovery, 0 if none [s]",
    "data_loss_events": "incidents that lost committed writes [count]",
    "max_data_loss_window_s": "largest window of lost writes (RPO) [s]",
    "failed_writes": "requests failed because the database could not take their write [count]",
    "error_budget_remaining": "1 - error ratio / (1 - slo.availability) over the run [-]",
    "alerts_fired": "alerts of the monitoring system's default rules that fired [count]",
    "emails_sent": "alert e-mails: one on firing and one on resolve, if e-mail is on [count]",
    "max_consumer_lag_s": "largest Kafka consumer lag, 0 without Kafka [s]",
    "lost_messages": "Kafka messages deleted by retention before consumption [count]",
    "scaling_events": "changes of the desired instance count [count]",
    "slack": "mean of (capacity - demand) / capacity per period, -1 when no capacity [-]",
    "mean_utilization": "mean busy fraction of the Ready servers [-]",
    "overloaded_minutes": "minutes with offered load above capacity or a backlog [count]",
    "service_time_ms": "mean service time per request with TLS/debug/logging overheads [ms]",
    "crashes": "instance crashes [count]",
    "errors_overload": "requests dropped by queue limit or timeout under overload [count]",
    "errors_unavailable": "requests that found no Ready instance [count]",
    "errors_slow_timeout": "requests slower than the timeout in stable periods [count]",
    "errors_crash": "requests lost on crashing instances [count]",
    "errors_deploy": "requests offered while a recreate deploy restarts the service [count]",
    "errors_bad_release": "requests failed by instances running a bad release [count]",
    "errors_database": "requests failed by a database outage [count]",
    "errors_region": "requests sent to a region that is down [count]",
    "errors_chaos": "requests failed by chaos experiments [count]",
}

_STEP_FIELDS = ("arrivals", "errors", "backlog", "latency_p50_s", "latency_p95_s", "latency_p99_s")
_PERIOD_FIELDS = (
    "cost_usd",
    "billed_instances",
    "rate_rps",
    "capacity_rps",
    "desired_instances",
    "ready_instances",
    "utilization",
    "crashes",
    "repairs",
)


@dataclass(frozen=True, eq=False)
class StepOverlay:
    """Step-resolution values of the periods that are not in steady state.

    In a steady period every step has the same error fraction and latency
    quantiles and no backlog; only overloaded periods (load above capacity or a
    backlog left over) need values per step.  Row ``i`` is period
    ``period[i]`` of replication ``replication[i]``.

    Attributes
    ----------
    replication, period : numpy.ndarray
        Indices of the overloaded periods, shape ``(n,)``.
    errors : numpy.ndarray
        Failed requests per step [count], ``(n, k)``.
    backlog : numpy.ndarray
        Fluid backlog at the end of each step [count], ``(n, k)``.
    latency_s : numpy.ndarray
        Latency quantiles (p50, p95, p99) per step [s], ``(n, k, 3)``.
    """

    replication: np.ndarray
    period: np.ndarray
    errors: np.ndarray
    backlog: np.ndarray
    latency_s: np.ndarray


def _hold(per_period: np.ndarray, k: int) -> np.ndarray:
    """Hold each period value for ``k`` steps: ``[R, P]`` -> ``[R, P * k]`` (float32)."""
    out = np.empty((*per_period.shape, k), dtype=np.float32)
    out[...] = per_period[..., None]
    return out.reshape(per_period.shape[0], -1)


@dataclass(frozen=True, eq=False)
class SimResult:
    """Output of :func:`simkit.simulate`.

    Step arrays (``[R, T]``, float32) are ``arrivals`` and, built on first access
    from the period values and the :class:`StepOverlay` of the overloaded
    periods, ``errors``, ``backlog``, ``latency_p50_s``, ``latency_p95_s`` and
    ``latency_p99_s``.  Period arrays (``[R, P]``) hold what is constant within
    a control period by construction.

    Attributes
    ----------
    scenario : Scenario
        The simulated scenario.
    seed : int
        Root seed of the run.
    start : pandas.Timestamp
        Start of the simulation (UTC).
    step_s, period_s : float
        Simulation step and control period [s].
    arrivals : numpy.ndarray
        Offered requests per step [count], float32, ``[R, T]``.
    rate_rps : numpy.ndarray
        Offered rate per period [1/s], ``[R, P]``.
    desired_instances, ready_instances : numpy.ndarray
        Provisioned and Ready instances per period [count], int32, ``[R, P]``.
    billed_instances : numpy.ndarray
        Instances paid for per period (desired plus deployment surge) [count], ``[R, P]``.
    utilization : numpy.ndarray
        Busy fraction of the Ready servers per period [-], ``[R, P]``.
    crashes, repairs : numpy.ndarray
        Instance crashes and repairs at the end of each period [count], ``[R, P]``.
    capacity_rps : numpy.ndarray
        Service capacity of the Ready instances per period [1/s], ``[R, P]``.
    overloaded : numpy.ndarray
        Periods with load above capacity or a backlog [bool], ``[R, P]``.
    error_fraction : numpy.ndarray
        Fraction of requests failing in steady periods [-], ``[R, P]``.
    errors_period : numpy.ndarray
        Failed requests per period [count], float64, ``[R, P]``.
    latency_period_s : numpy.ndarray
        Latency quantiles (p50, p95, p99) of steady periods [s], ``[R, P, 3]``.
    overlay : StepOverlay
        Per-step values of the overloaded periods.
    error_breakdown : dict
        Total errors per replication by cause [count].
    run_latency_s : numpy.ndarray
        Request-weighted latency quantiles (p50, p95, p99) over the whole run per
        replication [s], ``[R, 3]``.
    incidents : tuple of Incident
        Unplanned incidents (bad releases, database, region, chaos) with their
        detection, recovery and data-loss figures.
    forecast_floor, forecast_rps : numpy.ndarray or None
        With forecasting enabled: the instances the predictive policy asks for at
        the end of each period (0 while it may not act) and the forecast rate it
        serves [1/s], ``[R, P]``.  Recorded in ``forecast_only`` mode too.
    """

    scenario: Scenario
    seed: int
    start: pd.Timestamp
    step_s: float
    period_s: float
    arrivals: np.ndarray
    rate_rps: np.ndarray
    desired_instances: np.ndarray
    billed_instances: np.ndarray
    ready_instances: np.ndarray
    utilization: np.ndarray
    crashes: np.ndarray
    repairs: np.ndarray
    capacity_rps: np.ndarray
    overloaded: np.ndarray
    error_fraction: np.ndarray
    errors_period: np.ndarray
    latency_period_s: np.ndarray
    overlay: StepOverlay = field(repr=False)
    error_breakdown: dict[str, np.ndarray] = field(repr=False)
    run_latency_s: np.ndarray = field(repr=False)
    incidents: tuple[Incident, ...] = field(default=(), repr=False)
    forecast_floor: np.ndarray | None = field(default=None, repr=False)
    forecast_rps: np.ndarray | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ step arrays
    def _with_overlay(self, base: np.ndarray, values: np.ndarray) -> np.ndarray:
        ov = self.overlay
        if ov.replication.size:
            k = self.steps_per_period
            base.reshape(self.replications, -1, k)[ov.replication, ov.period] = values
        return base

    @functools.cached_property
    def errors(self) -> np.ndarray:
        """Failed requests per step [count], float32, ``[R, T]``."""
        k = self.steps_per_period
        out = np.empty_like(self.arrivals)
        np.multiply(
            self.arrivals.reshape(self.replications, -1, k),
            self.error_fraction[:, :, None],
            out=out.reshape(self.replications, -1, k),
        )
        return self._with_overlay(out, self.overlay.errors)

    @functools.cached_property
    def backlog(self) -> np.ndarray:
        """Fluid backlog at the end of each step [count], float32, ``[R, T]``."""
        return self._with_overlay(np.zeros_like(self.arrivals), self.overlay.backlog)

    def _latency(self, i: int) -> np.ndarray:
        base = _hold(self.latency_period_s[:, :, i], self.steps_per_period)
        return self._with_overlay(base, self.overlay.latency_s[:, :, i])

    @functools.cached_property
    def latency_p50_s(self) -> np.ndarray:
        """Median latency of requests arriving in each step [s], float32, ``[R, T]``."""
        return self._latency(0)

    @functools.cached_property
    def latency_p95_s(self) -> np.ndarray:
        """95th percentile latency per step [s], float32, ``[R, T]``."""
        return self._latency(1)

    @functools.cached_property
    def latency_p99_s(self) -> np.ndarray:
        """99th percentile latency per step [s], capped at the timeout, ``[R, T]``."""
        return self._latency(2)

    # ------------------------------------------------------------------ shape and time
    @property
    def replications(self) -> int:
        """Number of replications ``R``."""
        return int(self.arrivals.shape[0])

    @property
    def n_steps(self) -> int:
        """Number of steps ``T``."""
        return int(self.arrivals.shape[1])

    @property
    def steps_per_period(self) -> int:
        """Steps in one control period."""
        return round(self.period_s / self.step_s)

    @property
    def duration_s(self) -> float:
        """Simulated time [s]."""
        return self.n_steps * self.step_s

    @property
    def time_index(self) -> pd.DatetimeIndex:
        """Start of every step (UTC)."""
        return pd.date_range(
            self.start, periods=self.n_steps, freq=pd.Timedelta(seconds=self.step_s), name="time"
        )

    @property
    def period_index(self) -> pd.DatetimeIndex:
        """Start of every control period (UTC)."""
        return pd.date_range(
            self.start,
            periods=self.rate_rps.shape[1],
            freq=pd.Timedelta(seconds=self.period_s),
            name="time",
        )

    def step_array(self, name: str) -> np.ndarray:
        """Any array at the step resolution, ``[R, T]`` (period arrays are repeated)."""
        if name in _STEP_FIELDS:
            return getattr(self, name)
        if name in _PERIOD_FIELDS:
            return np.repeat(getattr(self, name), self.steps_per_period, axis=1)
        raise SimkitError(
            f"unknown array {name!r}; choose one of {[*_STEP_FIELDS, *_PERIOD_FIELDS]}"
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """All arrays by name (for saving), plus the seed and time metadata."""
        out = {name: getattr(self, name) for name in (*_STEP_FIELDS, *_PERIOD_FIELDS)}
        out["run_latency_s"] = self.run_latency_s
        out["seed"] = np.asarray(self.seed)
        out["start_ns"] = np.asarray(self.start.as_unit("ns").value)
        out["step_s"] = np.asarray(self.step_s)
        out["period_s"] = np.asarray(self.period_s)
        return out

    # ------------------------------------------------------------------ pandas views
    def to_frame(
        self, freq: str | None = None, replications: list[int] | None = None
    ) -> pd.DataFrame:
        """Tidy time series: one row per (replication, time).

        Parameters
        ----------
        freq : str, optional
            Aggregate to this pandas frequency (e.g. ``"1min"``, ``"1h"``): counts
            are summed, levels averaged, latency quantiles take the maximum over
            the interval (an upper bound; percentiles are never averaged).
        replications : list of int, optional
            Only these replications.

        Returns
        -------
        pandas.DataFrame
            Index ``(replication, time)`` with a UTC DatetimeIndex level.
        """
        reps = list(range(self.replications)) if replications is None else list(replications)
        bad = [r for r in reps if not 0 <= r < self.replications]
        if bad:
            raise SimkitError(f"replications = {bad} out of range 0..{self.replications - 1}")
        names = (
            *_STEP_FIELDS,
            "rate_rps",
            "capacity_rps",
            "desired_instances",
            "ready_instances",
            "utilization",
        )
        data = {name: self.step_array(name)[reps].ravel() for name in names}
        index = pd.MultiIndex.from_product([reps, self.time_index], names=["replication", "time"])
        frame = pd.DataFrame(data, index=index)
        if freq is None:
            return frame
        how = {name: "mean" for name in names}
        how.update({"arrivals": "sum", "errors": "sum", "backlog": "max"})
        how.update({q: "max" for q in ("latency_p50_s", "latency_p95_s", "latency_p99_s")})
        grouped = frame.groupby(
            [pd.Grouper(level="replication"), pd.Grouper(level="time", freq=freq)]
        )
        return grouped.agg(how)

    def kpis(self) -> pd.DataFrame:
        """Key performance indicators, one row per replication (see :data:`KPI_COLUMNS`)."""
        n_rep = self.replications
        requests = self.arrivals.sum(axis=1, dtype=np.float64)
        errors = self.errors_period.sum(axis=1)
        availability = np.divide(
            requests - errors, requests, out=np.ones_like(requests), where=requests > 0
        )
        hours = self.period_s / 3600.0
        desired = self.desired_instances.astype(np.float64)
        instance_hours = self.billed_instances.sum(axis=1, dtype=np.float64) * hours
        cap = self.capacity_rps
        slack_p = np.divide(cap - self.rate_rps, cap, out=np.full_like(cap, -1.0), where=cap > 0)
        slack = np.clip(slack_p, -1.0, 1.0).mean(axis=1)
        frame = pd.DataFrame(
            {
                "requests": requests,
                "errors": errors,
                "availability": availability,
                "latency_p50_s": self.run_latency_s[:, 0],
                "latency_p95_s": self.run_latency_s[:, 1],
                "latency_p99_s": self.run_latency_s[:, 2],
                "slo_minutes_violated": self._slo_minutes_violated(),
                "mean_instances": desired.mean(axis=1),
                "max_instances": desired.max(axis=1),
                "mean_ready_instances": self.ready_instances.mean(axis=1),
                "instance_hours": instance_hours,
                "cost_usd": instance_hours * instance_price_usd_per_h(self.scenario),
                **self._incident_kpis(),
                "downtime_s": self._downtime_s(),
                "failed_writes": self.error_breakdown.get("database", np.zeros(n_rep)),
                "error_budget_remaining": 1.0
                - (1.0 - availability) / (1.0 - self.scenario.slo.availability),
                "scaling_events": (np.diff(self.desired_instances, axis=1) != 0).sum(axis=1),
                "slack": slack,
                "mean_utilization": self.utilization.mean(axis=1, dtype=np.float64),
                "overloaded_minutes": self._overloaded_minutes(),
                "service_time_ms": self.scenario.service.effective_service_time_s * 1e3,
                "crashes": self.crashes.sum(axis=1),
                "errors_overload": self.error_breakdown["overload"],
                "errors_unavailable": self.error_breakdown["unavailable"],
                "errors_slow_timeout": self.error_breakdown["slow_timeout"],
                **{
                    f"errors_{cause}": self.error_breakdown.get(cause, np.zeros(n_rep))
                    for cause in ("crash", "deploy", "bad_release", "database", "region", "chaos")
                },
            },
            index=pd.RangeIndex(self.replications, name="replication"),
        )
        frame = frame.join(self._monitoring_kpis())
        frame.insert(0, "scenario", self.scenario.name)
        return frame

    def _monitoring_kpis(self) -> pd.DataFrame:
        """Alerts, e-mails and Kafka lag: post-processing of this result's series."""
        from simkit.kafka import consumer_lag
        from simkit.monitoring.alerts import alert_kpis

        alerts = alert_kpis(self)[["alerts_fired", "emails_sent"]]
        lag = consumer_lag(self.scenario, self.rate_rps, self.period_s)
        alerts = alerts.set_axis(pd.RangeIndex(self.replications, name="replication"))
        alerts["max_consumer_lag_s"] = lag.lag_s.max(axis=1)
        alerts["lost_messages"] = lag.lost_messages
        return alerts

    @property
    def cost_usd(self) -> np.ndarray:
        """Instance cost accrued in each period [USD], ``[R, P]``."""
        price = instance_price_usd_per_h(self.scenario)
        return self.billed_instances * (price * self.period_s / 3600.0)

    def _incident_kpis(self) -> dict[str, np.ndarray]:
        n_rep = self.replications
        count = np.zeros(n_rep)
        detect = np.zeros(n_rep)
        recover = np.zeros(n_rep)
        loss_events = np.zeros(n_rep)
        loss_window = np.zeros(n_rep)
        for inc in self.incidents:
            r = inc.replication
            count[r] += 1
            detect[r] += inc.detected_s - inc.start_s
            recover[r] += inc.recovered_s - inc.start_s
            if inc.data_loss_window_s > 0:
                loss_events[r] += 1
                loss_window[r] = max(loss_window[r], inc.data_loss_window_s)
        safe = np.maximum(count, 1)
        return {
            "incidents": count,
            "mean_time_to_detect_s": detect / safe,
            "mean_time_to_recover_s": recover / safe,
            "data_loss_events": loss_events,
            "max_data_loss_window_s": loss_window,
        }

    def _downtime_s(self) -> np.ndarray:
        """Seconds in steps where at least half of the offered requests failed."""
        k = self.steps_per_period
        down = self.error_fraction >= 0.5
        ov = self.overlay
        down[ov.replication, ov.period] = False
        seconds = down.sum(axis=1) * k * self.step_s
        if ov.replication.size:
            arr = self.arrivals.reshape(self.replications, -1, k)[ov.replication, ov.period]
            bad = (arr > 0) & (ov.errors >= 0.5 * arr)
            seconds = seconds + np.bincount(
                ov.replication, weights=bad.sum(axis=1) * self.step_s, minlength=self.replications
            )
        return seconds

    def _periods_per_minute(self) -> int | None:
        """Periods in one minute, if minutes are made of whole periods."""
        ratio = 60.0 / self.period_s
        return round(ratio) if ratio >= 1 and abs(ratio - round(ratio)) < 1e-9 else None

    def _overloaded_minutes(self) -> np.ndarray:
        """Minutes in which any period is overloaded (load above capacity or a backlog)."""
        ppm = self._periods_per_minute()
        if ppm is None:  # minutes split periods: go through the steps
            per_minute = max(round(60.0 / self.step_s), 1)
            over = np.repeat(self.overloaded, self.steps_per_period, axis=1)
            edges = np.arange(0, self.n_steps, per_minute)
            return np.logical_or.reduceat(over, edges, axis=1).sum(axis=1)
        edges = np.arange(0, self.overloaded.shape[1], ppm)
        return np.logical_or.reduceat(self.overloaded, edges, axis=1).sum(axis=1)

    def _slo_minutes_violated(self) -> np.ndarray:
        """Minutes where the p99 of any step or the minute's error ratio breaks the SLO."""
        slo = self.scenario.slo
        ppm = self._periods_per_minute()
        if ppm is None:  # minutes split periods: go through the steps
            per_minute = max(round(60.0 / self.step_s), 1)
            edges = np.arange(0, self.n_steps, per_minute)
            p99 = np.maximum.reduceat(self.latency_p99_s, edges, axis=1)
            req = np.add.reduceat(self.arrivals, edges, axis=1, dtype=np.float64)
            err = np.add.reduceat(self.errors, edges, axis=1, dtype=np.float64)
        else:
            p99_period = self.latency_period_s[:, :, 2].astype(np.float64)
            ov = self.overlay
            if ov.replication.size:
                p99_period[ov.replication, ov.period] = ov.latency_s[:, :, 2].max(axis=1)
            k = self.steps_per_period
            per_period = self.arrivals.reshape(self.replications, -1, k).sum(
                axis=2, dtype=np.float64
            )
            edges = np.arange(0, p99_period.shape[1], ppm)
            p99 = np.maximum.reduceat(p99_period, edges, axis=1)
            req = np.add.reduceat(per_period, edges, axis=1)
            err = np.add.reduceat(self.errors_period, edges, axis=1)
        ratio = np.divide(err, req, out=np.zeros_like(err), where=req > 0)
        bad = (p99 > slo.latency_p99_s) | (ratio > 1.0 - slo.availability)
        return bad.sum(axis=1)
