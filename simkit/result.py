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
from simkit.windows import window_latency_quantiles

__all__ = ["SimResult", "StepOverlay"]

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
    wait_s : numpy.ndarray
        Wait in the queue of a request arriving in the step [s], ``(n, k)``.
    queued : numpy.ndarray
        Requests of the step queue behind a backlog (their latency is backend + wait
        + service time) rather than seeing the period's M/M/c [bool], ``(n, k)``.
    """

    replication: np.ndarray
    period: np.ndarray
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
            are summed, levels averaged, the backlog takes its maximum, and latency
            quantiles are those of the interval's pooled requests
            (:func:`simkit.windows.window_latency_quantiles`; never a maximum or a
            mean of per-step quantiles).
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
        latency = ("latency_p50_s", "latency_p95_s", "latency_p99_s")
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
    def cost_usd(self) -> np.ndarray:
        """Instance cost accrued in each period [USD], ``[R, P]``."""
        price = instance_price_usd_per_h(self.scenario)
        return self.billed_instances * (price * self.period_s / 3600.0)
