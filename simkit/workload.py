"""Offered load: seasonality, trend, noise, flash crowds and Poisson arrivals.

Pure functions on arrays.  The offered *rate* is built at the control-period
resolution (piecewise constant within one autoscaler sync period, 15 s by
default); the *arrivals* are drawn at the simulation step from that rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from simkit.errors import TraceError
from simkit.scenario import Workload

__all__ = [
    "base_rate_rps",
    "draw_arrivals",
    "flash_crowd_factor",
    "noise_factor",
    "trace_rate_rps",
]

#: Below this mean count per step, arrivals are exact Poisson draws; above it the
#: normal approximation N(m, m) is used (skewness 1/sqrt(m) <= 0.32).
POISSON_EXACT_BELOW = 10.0


def base_rate_rps(times: pd.DatetimeIndex, workload: Workload, start_s: float = 0.0) -> np.ndarray:
    """Deterministic part of the offered rate at the given instants.

    The rate is ``mean_rate_rps`` times a diurnal cosine (peak at
    ``peak_hour_utc``), a weekend factor (Saturday and Sunday, UTC) normalised so
    that the weekly mean factor is 1, and a linear trend.

    Parameters
    ----------
    times : pandas.DatetimeIndex
        Instants (UTC) at which to evaluate the rate, e.g. period midpoints.
    workload : Workload
        Workload section of the scenario.
    start_s : float
        Offset of the simulation start within ``times`` [s], for the trend.

    Returns
    -------
    numpy.ndarray
        Offered rate [1/s], float64, shape ``(len(times),)``, never negative.
    """
    hours = (times.hour + times.minute / 60.0 + times.second / 3600.0).to_numpy(dtype=float)
    diurnal = 1.0 + workload.diurnal_amplitude * np.cos(
        2.0 * np.pi * (hours - workload.peak_hour_utc) / 24.0
    )
    weekend = times.day_of_week.to_numpy() >= 5
    weekly_mean = (5.0 + 2.0 * workload.weekend_factor) / 7.0
    weekly = np.where(weekend, workload.weekend_factor, 1.0) / weekly_mean
    elapsed_weeks = ((times - times[0]).total_seconds().to_numpy() + start_s) / 604800.0
    trend = np.maximum(1.0 + workload.trend_per_week * elapsed_weeks, 0.0)
    return workload.mean_rate_rps * diurnal * weekly * trend


def noise_factor(
    rng: np.random.Generator, n_periods: int, period_s: float, sd: float, correlation_s: float
) -> np.ndarray:
    """Multiplicative log-normal AR(1) rate noise with mean 1.

    Parameters
    ----------
    rng : numpy.random.Generator
        Stream of one replication's load component.
    n_periods : int
        Number of control periods.
    period_s : float
        Length of one period [s].
    sd : float
        Standard deviation of the log of the factor (stationary).
    correlation_s : float
        e-folding time of the autocorrelation [s].

    Returns
    -------
    numpy.ndarray
        Factor, shape ``(n_periods,)``, mean 1 in expectation.
    """
    innovations = rng.standard_normal(n_periods)
    if sd == 0.0:
        return np.ones(n_periods)
    phi = float(np.exp(-period_s / correlation_s))
    scale = np.sqrt(1.0 - phi * phi)
    first = innovations[:1]
    rest = lfilter([scale], [1.0, -phi], innovations[1:], zi=[phi * first[0]])[0]
    z = np.concatenate([first, rest])
    return np.exp(sd * z - 0.5 * sd * sd)


def flash_crowd_factor(
    rng: np.random.Generator,
    n_periods: int,
    period_s: float,
    per_day: float,
    multiplier: float,
    duration_s: float,
) -> np.ndarray:
    """Flash crowds: Poisson-timed windows in which the rate is multiplied.

    Returns
    -------
    numpy.ndarray
        Factor, shape ``(n_periods,)``: ``multiplier`` inside a crowd, 1 outside
        (overlapping crowds do not compound).
    """
    horizon_s = n_periods * period_s
    count = rng.poisson(per_day * horizon_s / 86400.0)
    starts_s = rng.uniform(0.0, horizon_s, size=count)
    if count == 0 or multiplier == 1.0:
        return np.ones(n_periods)
    first = np.floor(starts_s / period_s).astype(np.int64)
    last = np.minimum(np.ceil((starts_s + duration_s) / period_s).astype(np.int64), n_periods)
    depth = np.zeros(n_periods + 1, dtype=np.int64)
    np.add.at(depth, first, 1)
    np.add.at(depth, last, -1)
    inside = np.cumsum(depth[:-1]) > 0
    return np.where(inside, multiplier, 1.0)


def trace_rate_rps(
    trace: pd.Series, period_starts: pd.DatetimeIndex, period_s: float
) -> np.ndarray:
    """Sample a rate trace at the control periods (mean over each period).

    Parameters
    ----------
    trace : pandas.Series
        Offered rate [1/s] on a regular UTC DatetimeIndex (see
        :func:`simkit.io.read_trace`).
    period_starts : pandas.DatetimeIndex
        Start of each control period.
    period_s : float
        Length of one period [s].

    Returns
    -------
    numpy.ndarray
        Rate [1/s] per period, float64.

    Raises
    ------
    TraceError
        If the periods reach outside the trace.
    """
    seconds = (trace.index - trace.index[0]).total_seconds().to_numpy()
    interval_s = float(trace.attrs.get("interval_s", np.median(np.diff(seconds))))
    t0 = trace.index[0]
    end = trace.index[-1] + pd.Timedelta(seconds=interval_s)
    sim_end = period_starts[-1] + pd.Timedelta(seconds=period_s)
    if period_starts[0] < t0 or sim_end > end:
        raise TraceError(
            f"simulation {period_starts[0]} .. {sim_end} reaches outside the trace "
            f"{t0} .. {end}; shorten duration or change start"
        )
    values = trace.to_numpy(dtype=float)
    # Integrate the step function exactly: cumulative requests at period edges.
    cum = np.concatenate([[0.0], np.cumsum(values * interval_s)])
    edges_s = (period_starts - t0).total_seconds().to_numpy()
    edges_s = np.append(edges_s, edges_s[-1] + period_s)
    pos = edges_s / interval_s
    idx = np.minimum(np.floor(pos).astype(np.int64), len(values) - 1)
    requests_at = cum[idx] + (pos - idx) * values[idx] * interval_s
    return np.diff(requests_at) / period_s


def draw_arrivals(
    rng: np.random.Generator, mean_per_step: np.ndarray, steps_per_period: int
) -> np.ndarray:
    """Poisson arrival counts per step, for a rate constant within each period.

    Exact Poisson draws in periods whose mean count per step is below
    :data:`POISSON_EXACT_BELOW`; elsewhere the normal approximation ``N(m, m)``
    (rounded, clipped at 0), which is several times cheaper for large means.

    Parameters
    ----------
    rng : numpy.random.Generator
        Arrival stream of one replication.
    mean_per_step : numpy.ndarray
        Expected arrivals per step in each period, 1-D, shape ``(P,)``.
    steps_per_period : int
        Steps in one period ``k``.

    Returns
    -------
    numpy.ndarray
        Counts, float32, shape ``(P * k,)``.
    """
    k = steps_per_period
    counts = rng.standard_normal((mean_per_step.size, k), dtype=np.float32)
    counts *= np.sqrt(mean_per_step).astype(np.float32)[:, None]
    counts += mean_per_step.astype(np.float32)[:, None]
    np.rint(counts, out=counts)
    np.maximum(counts, 0.0, out=counts)
    small = np.flatnonzero(mean_per_step < POISSON_EXACT_BELOW)
    if small.size:
        counts[small] = rng.poisson(mean_per_step[small][:, None], size=(small.size, k))
    return counts.reshape(-1)
