"""Offered load: seasonality, trend, noise, flash crowds and Poisson arrivals.

Pure functions on arrays.  The offered *rate* is built at the control-period
resolution (piecewise constant within one autoscaler sync period, 15 s by
default); the *arrivals* are one Poisson count per period, split over the
simulation steps only where a step-level value needs them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from simkit.errors import SimkitError, TraceError
from simkit.scenario import Workload

__all__ = [
    "base_rate_rps",
    "flash_crowd_factor",
    "noise_factor",
    "period_arrivals",
    "split_keys",
    "step_arrivals",
    "trace_rate_rps",
]

#: Most arrivals expected in one control period (int32 counts).
MAX_PERIOD_ARRIVALS = 1e9


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


def period_arrivals(rng: np.random.Generator, mean_per_period: np.ndarray) -> np.ndarray:
    """Poisson arrival counts per control period (exact draws).

    Parameters
    ----------
    rng : numpy.random.Generator
        Arrival stream of one replication.
    mean_per_period : numpy.ndarray
        Expected arrivals in each period [count], 1-D, shape ``(P,)``.

    Returns
    -------
    numpy.ndarray
        Counts, int32, shape ``(P,)``.

    Raises
    ------
    SimkitError
        A period expects more than :data:`MAX_PERIOD_ARRIVALS` arrivals.
    """
    top = float(mean_per_period.max(initial=0.0))
    if top > MAX_PERIOD_ARRIVALS:
        raise SimkitError(
            f"{top:.3g} arrivals expected in one control period; allowed: at most "
            f"{MAX_PERIOD_ARRIVALS:.3g} (lower the rate or autoscaling.sync_period_s)"
        )
    return rng.poisson(mean_per_period).astype(np.int32)


def split_keys(seeds: list[np.random.SeedSequence]) -> np.ndarray:
    """Key of each replication's split of period counts over steps, uint64 ``[R]``.

    The first child of each replication's arrival stream (derived, not spawned: the
    streams are left as they are).
    """
    return np.array(
        [
            np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, 0)).generate_state(
                1, np.uint64
            )[0]
            for ss in seeds
        ],
        dtype=np.uint64,
    )


def step_arrivals(
    keys: np.ndarray, rep: np.ndarray, period: np.ndarray, counts: np.ndarray, k: int
) -> np.ndarray:
    """Arrivals per step of the given periods: their counts split multinomially.

    The split of a period depends on its replication's key and its index only
    (:mod:`simkit.split_kernel`), so it is the same whenever it is drawn.

    Parameters
    ----------
    keys : numpy.ndarray
        :func:`split_keys`, uint64 ``[R]``.
    rep, period : numpy.ndarray
        Replication and period of each row, int, shape ``(n,)``.
    counts : numpy.ndarray
        Arrivals in each of those periods [count], int, shape ``(n,)``.
    k : int
        Steps per period.

    Returns
    -------
    numpy.ndarray
        Arrivals per step [count], float64, ``(n, k)``.
    """
    from simkit import split_kernel

    counts = np.asarray(counts, dtype=np.int64).ravel()
    return split_kernel.split_steps(
        np.asarray(keys, dtype=np.uint64),
        np.asarray(rep, dtype=np.int64).ravel(),
        np.asarray(period, dtype=np.int64).ravel(),
        counts,
        int(k),
        split_kernel.log_factorials(max(int(counts.max(initial=0)), k)),
    )
