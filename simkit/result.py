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

from simkit import workload
from simkit.cost import instance_price_usd_per_h
from simkit.effects import Incident
from simkit.errors import SimkitError
from simkit.scenario import Scenario
from simkit.windows import window_latency_quantiles

__all__ = ["SimResult", "StepOverlay"]

_LATENCY_FIELDS = ("latency_p50_s", "latency_p95_s", "latency_p99_s")
_STEP_FIELDS = ("arrivals", "errors", "backlog", *_LATENCY_FIELDS)
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
    arrivals : numpy.ndarray
        Offered requests per step [count], ``(n, k)``.
    errors : numpy.ndarray
        Failed requests per step [count], ``(n, k)``.
    backlog : numpy.ndarray
        Fluid backlog at the end of each step [count], ``(n, k)``.
    latency_s : numpy.ndarray
        Latency quantiles (p50, p95, p99) per step [s], ``(n, k, 3)``.
    wait_s : numpy.ndarray
        Wait in the queue of a request arriving in the step [s], ``(n, k)``.
    queued : numpy.ndarray
        Requests of the step queue behind a backlog (their latency is backend + wait
        + service time) rather than seeing the period's M/M/c [bool], ``(n, k)``.
    """

    replication: np.ndarray
    period: np.ndarray
    arrivals: np.ndarray
    errors: np.ndarray
    backlog: np.ndarray
    latency_s: np.ndarray
    wait_s: np.ndarray
    queued: np.ndarray


def _hold(per_period: np.ndarray, k: int) -> np.ndarray:
    """Hold each period value for ``k`` steps: ``[R, P]`` -> ``[R, P * k]`` (float32)."""
    out = np.empty((*per_period.shape, k), dtype=np.float32)
    out[...] = per_period[..., None]
    return out.reshape(per_period.shape[0], -1)


@dataclass(frozen=True, eq=False)
class SimResult:
    """Output of :func:`simkit.simulate`.

    Step arrays (``[R, T]``, float32) are built on first access from the period
    values and the :class:`StepOverlay` of the periods resolved per step:
    ``arrivals`` (each period's count split over its steps, the split the engine
    uses), ``errors``, ``backlog``, ``latency_p50_s``, ``latency_p95_s`` and
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
    arrivals_period : numpy.ndarray
        Offered requests per period [count], int32, ``[R, P]``.
    split_keys : numpy.ndarray
        Keys of the split of each replication's period counts over the steps, uint64
        ``[R]`` (:func:`simkit.workload.step_arrivals`).
    rate_rps : numpy.ndarray
        Offered rate per period [1/s], ``[R, P]``.
    desired_instances, ready_instances : numpy.ndarray
        Provisioned and Ready instances per period [count], int32, ``[R, P]``.
    billed_instances : numpy.ndarray
        Instances paid for per period (desired plus deployment surge) [count], ``[R, P]``.
    utilization : numpy.ndarray
        Busy fraction of the Ready servers per period [-], float32 ``[R, P]``.
    crashes, repairs : numpy.ndarray
        Instance crashes and repairs at the end of each period [count], ``[R, P]``.
    overloaded : numpy.ndarray
        Periods with load above capacity or a backlog [bool], ``[R, P]``.
    error_fraction : numpy.ndarray
        Fraction of requests failing in steady periods [-], ``[R, P]``.
    errors_period : numpy.ndarray
        Failed requests per period [count], float32, ``[R, P]``.
    latency_period_s : numpy.ndarray
        Latency quantiles (p50, p95, p99) of steady periods [s], ``[R, P, 3]``.
    overlay : StepOverlay
        Per-step values of the overloaded periods.
    error_breakdown : dict
        Total errors per replication by cause [count].
    backend_s : numpy.ndarray
        Latency the cache, the database and injected faults add to every request of
        a period [s], float32 ``[R, P]``.
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
    arrivals_period: np.ndarray
    split_keys: np.ndarray
    rate_rps: np.ndarray
    desired_instances: np.ndarray
    billed_instances: np.ndarray
    ready_instances: np.ndarray
    utilization: np.ndarray
    crashes: np.ndarray
    repairs: np.ndarray
    overloaded: np.ndarray
    error_fraction: np.ndarray
    errors_period: np.ndarray
    latency_period_s: np.ndarray
    overlay: StepOverlay = field(repr=False)
    error_breakdown: dict[str, np.ndarray] = field(repr=False)
    backend_s: np.ndarray = field(repr=False)
    incidents: tuple[Incident, ...] = field(default=(), repr=False)
    forecast_floor: np.ndarray | None = field(default=None, repr=False)
    forecast_rps: np.ndarray | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def run_latency_s(self) -> np.ndarray:
        """Latency quantiles (p50, p95, p99) of all requests of each replication [s].

        The quantiles of the run's whole latency distribution, ``[R, 3]``
        (:func:`simkit.windows.window_latency_quantiles` with one window), computed on
        first use.
        """
        return window_latency_quantiles(self, np.array([0]))[:, 0]

    # ------------------------------------------------------------------ step arrays
    def _with_overlay(
        self, base: np.ndarray, values: np.ndarray, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """Write the overlay's per-step ``values`` into ``base`` (``[len(rows), T]``).

        ``rows`` are the replications ``base`` holds (increasing, no repeats);
        ``None``: all of them.
        """
        ov = self.overlay
        rep, period = ov.replication, ov.period
        if rows is not None and rep.size:
            position = np.full(self.replications, -1)
            position[rows] = np.arange(rows.size)
            pick = position[rep] >= 0
            rep, period, values = position[rep[pick]], period[pick], values[pick]
        if rep.size:
            base.reshape(base.shape[0], -1, self.steps_per_period)[rep, period] = values
        return base

    def _arrivals(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Offered requests per step of replications ``rows`` (default all) [count]."""
        counts = self.arrivals_period if rows is None else self.arrivals_period[rows]
        n, n_per = counts.shape
        reps = np.arange(self.replications) if rows is None else rows
        per_step = workload.step_arrivals(
            self.split_keys,
            np.repeat(reps, n_per),
            np.tile(np.arange(n_per), n),
            counts,
            self.steps_per_period,
        )
        return per_step.astype(np.float32).reshape(n, -1)

    def _errors(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Failed requests per step of replications ``rows`` (default all) [count]."""
        k = self.steps_per_period
        arrivals = self.arrivals if rows is None else self._step_rows("arrivals", rows)
        fraction = self.error_fraction if rows is None else self.error_fraction[rows]
        out = np.empty_like(arrivals)
        n = arrivals.shape[0]
        np.multiply(arrivals.reshape(n, -1, k), fraction[:, :, None], out=out.reshape(n, -1, k))
        return self._with_overlay(out, self.overlay.errors, rows)

    def _backlog(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Fluid backlog at the end of each step of replications ``rows`` [count]."""
        n = self.replications if rows is None else rows.size
        base = np.zeros((n, self.n_steps), dtype=np.float32)
        return self._with_overlay(base, self.overlay.backlog, rows)

    def _latency(self, i: int, rows: np.ndarray | None = None) -> np.ndarray:
        """Latency quantile ``i`` (p50, p95, p99) per step of replications ``rows`` [s]."""
        period = (
            self.latency_period_s[:, :, i] if rows is None else self.latency_period_s[rows, :, i]
        )
        base = _hold(period, self.steps_per_period)
        return self._with_overlay(base, self.overlay.latency_s[:, :, i], rows)

    def _step_rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        """``step_array(name)[rows]``, expanding only the replications asked for.

        Parameters
        ----------
        name : str
            A step or period array (see :meth:`step_array`).
        rows : numpy.ndarray
            Replications, in any order, repeats allowed.

        Returns
        -------
        numpy.ndarray
            ``[len(rows), T]`` at the step resolution, the array's own unit and dtype.
        """
        if name in _STEP_FIELDS and name in self.__dict__:  # built already
            return getattr(self, name)[rows]
        if name in _PERIOD_FIELDS:
            return np.repeat(getattr(self, name)[rows], self.steps_per_period, axis=1)
        unique, inverse = np.unique(rows, return_inverse=True)
        if name == "arrivals":
            out = self._arrivals(unique)
        elif name == "errors":
            out = self._errors(unique)
        elif name == "backlog":
            out = self._backlog(unique)
        elif name in _LATENCY_FIELDS:
            out = self._latency(_LATENCY_FIELDS.index(name), unique)
        else:
            return self.step_array(name)[rows]  # raises the error for an unknown name
        same = unique.size == rows.size and np.array_equal(unique, rows)
        return out if same else out[inverse]

    @functools.cached_property
    def arrivals(self) -> np.ndarray:
        """Offered requests per step [count], float32, ``[R, T]``."""
        return self._arrivals()

    @functools.cached_property
    def errors(self) -> np.ndarray:
        """Failed requests per step [count], float32, ``[R, T]``."""
        return self._errors()

    @functools.cached_property
    def backlog(self) -> np.ndarray:
        """Fluid backlog at the end of each step [count], float32, ``[R, T]``."""
        return self._backlog()

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
        return int(self.arrivals_period.shape[0])

    @property
    def n_steps(self) -> int:
        """Number of steps ``T``."""
        return int(self.arrivals_period.shape[1]) * self.steps_per_period

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
            are summed, levels averaged, the backlog takes its maximum, and latency
            quantiles are those of the interval's pooled requests
            (:func:`simkit.windows.window_latency_quantiles`; never a maximum or a
            mean of per-step quantiles).
        replications : list of int, optional
            Only these replications (only they are expanded to the step resolution).

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
        rows = np.asarray(reps, dtype=np.int64)
        data = {name: self._step_rows(name, rows).ravel() for name in names}
        index = pd.MultiIndex.from_product([reps, self.time_index], names=["replication", "time"])
        frame = pd.DataFrame(data, index=index)
        if freq is None:
            return frame
        latency = _LATENCY_FIELDS
        how = {name: "mean" for name in names if name not in latency}
        how.update({"arrivals": "sum", "errors": "sum", "backlog": "max"})
        grouped = frame.drop(columns=list(latency)).groupby(
            [pd.Grouper(level="replication"), pd.Grouper(level="time", freq=freq)]
        )
        out = grouped.agg(how)
        counts = pd.Series(1, index=self.time_index).resample(freq).size()
        counts = counts[counts > 0]
        edges = np.concatenate([[0], np.cumsum(counts.to_numpy())[:-1]])
        q = window_latency_quantiles(self, edges, replications=reps)  # [n_reps, W, 3]
        index = pd.MultiIndex.from_product([reps, counts.index], names=["replication", "time"])
        quantiles = pd.DataFrame(q.reshape(-1, 3), index=index, columns=list(latency))
        return out.join(quantiles)[list(names)]

    @property
    def capacity_rps(self) -> np.ndarray:
        """Service capacity of the Ready instances per period [1/s], float64 ``[R, P]``.

        Ready instances x servers per instance x the service rate (not stored).
        """
        servers = self.ready_instances.astype(np.int64) * self.scenario.servers_per_instance
        return servers * self.scenario.service_rate_rps

    @property
    def cost_usd(self) -> np.ndarray:
        """Instance cost accrued in each period [USD], ``[R, P]``."""
        price = instance_price_usd_per_h(self.scenario)
        return self.billed_instances * (price * self.period_s / 3600.0)
