"""Small helpers shared by the dashboards' compute functions (pure, no widgets)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axis import Axis
from matplotlib.ticker import FuncFormatter, NullLocator

from simkit.analysis.capacity import seasonal_peak_rps
from simkit.errors import SimkitError
from simkit.result import SimResult
from simkit.scenario import Scenario

__all__ = ["binned_series", "log_axis", "with_peak"]


def log_axis(axis: Axis) -> None:
    """Log scale with plain-number tick labels (no mathtext: several times faster to draw)."""
    axis.axes.set_xscale("log") if axis.axis_name == "x" else axis.axes.set_yscale("log")
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_locator(NullLocator())


def with_peak(scenario: Scenario, peak_rps: float | None) -> Scenario:
    """The scenario with its workload scaled so the weekday diurnal peak is ``peak_rps`` [1/s]."""
    if peak_rps is None:
        return scenario
    if not isinstance(peak_rps, int | float) or not 0.0 < peak_rps < 1e7:
        raise SimkitError(f"peak_rps = {peak_rps!r} is out of range; allowed: 0 < peak_rps < 1e7")
    peak = seasonal_peak_rps(scenario, "1D")
    return scenario.replace(
        workload__mean_rate_rps=scenario.workload.mean_rate_rps * peak_rps / peak
    )


def binned_series(result: SimResult, replication: int = 0, minutes: int = 5) -> pd.DataFrame:
    """One replication in bins of ``minutes``: rates and instances averaged,
    p99 latency the bin's largest, errors and requests summed.

    Returns
    -------
    pandas.DataFrame
        Index ``hours`` since the start [h]; columns ``rate_rps``, ``capacity_rps``,
        ``ready_instances``, ``desired_instances``, ``latency_p99_s``, ``requests``,
        ``errors``, ``error_ratio``.
    """
    per_bin = max(round(minutes * 60.0 / result.period_s), 1)
    n = result.rate_rps.shape[1] // per_bin * per_bin
    k = result.steps_per_period

    def mean(a: np.ndarray) -> np.ndarray:
        return a[replication, :n].reshape(-1, per_bin).mean(axis=1)

    def steps(a: np.ndarray) -> np.ndarray:
        return a[replication, : n * k].reshape(-1, per_bin * k)

    requests = (
        result.arrivals_period[replication, :n].reshape(-1, per_bin).sum(axis=1, dtype=np.float64)
    )
    errors = steps(result.errors).sum(axis=1, dtype=np.float64)
    hours = np.arange(n // per_bin) * per_bin * result.period_s / 3600.0
    return pd.DataFrame(
        {
            "rate_rps": mean(result.rate_rps),
            "capacity_rps": mean(result.capacity_rps),
            "ready_instances": mean(result.ready_instances.astype(np.float64)),
            "desired_instances": mean(result.desired_instances.astype(np.float64)),
            "latency_p99_s": steps(result.latency_p99_s).max(axis=1),
            "requests": requests,
            "errors": errors,
            "error_ratio": np.divide(
                errors, requests, out=np.zeros_like(errors), where=requests > 0
            ),
        },
        index=pd.Index(hours, name="hours"),
    )
