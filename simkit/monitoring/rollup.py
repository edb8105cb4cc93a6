"""Long-term retention: downsample series to 5 min and 1 h rollups, as Thanos does.

The Thanos compactor downsamples raw blocks to 5 m resolution and the 5 m
blocks to 1 h resolution, keeping for every window the aggregates count, sum,
min, max and counter (thanos.io, "Compactor: downsampling, resolution and
retention"; raw -> 5m after 40 h, 5m -> 1h after 10 days).  The series here are
gauges, so the ``counter`` aggregate is not kept; ``mean = sum / count`` is
derived.  ``NaN`` samples (no Ready instance) are missing samples: they are
not counted and do not enter min, max or sum.  A last window shorter than the
others is kept, with its smaller count.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from simkit.errors import SimkitError
from simkit.monitoring.series import MonitoringSeries

__all__ = ["AGGREGATES", "RESOLUTIONS_S", "combine", "downsample", "rollup", "rollup_frame"]

#: Aggregates of a rollup window.
AGGREGATES = ("min", "max", "sum", "count", "mean")
#: Thanos downsampling resolutions [s].
RESOLUTIONS_S = {"5m": 300.0, "1h": 3600.0}


def _ratio(window_s: float, step_s: float, names: tuple[str, str]) -> int:
    for name, value in zip(names, (window_s, step_s), strict=True):
        if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
            raise SimkitError(f"{name} = {value!r} is invalid; allowed: a number > 0 [s]")
    m = window_s / step_s
    if not math.isfinite(m) or m < 1 or abs(m - round(m)) > 1e-9:
        raise SimkitError(
            f"{names[0]} = {window_s!r} is invalid; allowed: a whole multiple of "
            f"{names[1]} = {step_s!r}"
        )
    return round(m)


def _mean(total: np.ndarray, count: np.ndarray) -> np.ndarray:
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def rollup(values: np.ndarray, step_s: float, window_s: float) -> dict[str, np.ndarray]:
    """Aggregate a series over consecutive windows.

    Parameters
    ----------
    values : numpy.ndarray
        Series ``[R, N]``, one sample every ``step_s``; ``NaN`` is a missing sample.
    step_s : float
        Time between samples [s].
    window_s : float
        Window length [s], a whole multiple of ``step_s``.

    Returns
    -------
    dict
        ``min``, ``max``, ``sum``, ``mean`` (float64, ``NaN`` in an empty window)
        and ``count`` (int64) [samples], each ``[R, ceil(N / m)]`` with ``m =
        window_s / step_s``; the last window holds the ``N % m`` remaining samples
        when ``m`` does not divide ``N``.
    """
    m = _ratio(window_s, step_s, ("window_s", "step_s"))
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise SimkitError(f"values has shape {values.shape}; allowed: [replication, time]")
    if values.shape[1] == 0:
        empty = np.zeros((values.shape[0], 0))
        return {"min": empty, "max": empty, "sum": empty, "count": empty.astype(np.int64),
                "mean": empty}  # fmt: skip
    edges = np.arange(0, values.shape[1], m)
    present = ~np.isnan(values)
    total = np.add.reduceat(np.where(present, values, 0.0), edges, axis=1)
    count = np.add.reduceat(present.astype(np.int64), edges, axis=1)
    return {
        "min": np.fmin.reduceat(values, edges, axis=1),
        "max": np.fmax.reduceat(values, edges, axis=1),
        "sum": total,
        "count": count,
        "mean": _mean(total, count),
    }


def combine(aggregates: dict[str, np.ndarray], factor: int) -> dict[str, np.ndarray]:
    """Roll up a rollup: merge every ``factor`` consecutive windows into one.

    This is how Thanos builds the 1 h resolution from the 5 m one (``factor =
    12``): min of the mins, max of the maxes, sums of sums and counts, and the
    mean weighted by count.

    Parameters
    ----------
    aggregates : dict
        Output of :func:`rollup` (``min``, ``max``, ``sum``, ``count``).
    factor : int
        Windows merged into one, >= 1.

    Returns
    -------
    dict
        Same keys as :func:`rollup`, ``[R, ceil(W / factor)]``.
    """
    if not isinstance(factor, int | np.integer) or isinstance(factor, bool) or factor < 1:
        raise SimkitError(f"factor = {factor!r} is invalid; allowed: a whole number >= 1")
    count = np.asarray(aggregates["count"])
    if count.shape[1] == 0:
        return {k: np.asarray(aggregates[k]) for k in AGGREGATES}
    edges = np.arange(0, count.shape[1], factor)
    total = np.add.reduceat(aggregates["sum"], edges, axis=1)
    count = np.add.reduceat(count, edges, axis=1)
    return {
        "min": np.fmin.reduceat(aggregates["min"], edges, axis=1),
        "max": np.fmax.reduceat(aggregates["max"], edges, axis=1),
        "sum": total,
        "count": count,
        "mean": _mean(total, count),
    }


def _frame(
    series: MonitoringSeries, window_s: float, by_name: dict[str, dict[str, np.ndarray]]
) -> pd.DataFrame:
    names = sorted(by_name)  # a lexsorted index: selecting by series needs no sort
    n_windows = by_name[names[0]]["count"].shape[1]
    times = pd.date_range(
        series.start, periods=n_windows, freq=pd.Timedelta(seconds=window_s), name="time"
    )
    index = pd.MultiIndex.from_product(
        [names, range(series.replications), times], names=["series", "replication", "time"]
    )
    data = {
        agg: np.concatenate([by_name[name][agg].ravel() for name in names]) for agg in AGGREGATES
    }
    return pd.DataFrame(data, index=index)


def rollup_frame(series: MonitoringSeries, window_s: float = 300.0) -> pd.DataFrame:
    """Rollups of every monitoring series over one window length, as a tidy frame.

    Parameters
    ----------
    series : MonitoringSeries
        The monitoring series.
    window_s : float
        Window length [s], a whole multiple of ``series.period_s``; 300 (Thanos 5m).

    Returns
    -------
    pandas.DataFrame
        Index ``(series, replication, time)`` with ``time`` the start of each
        window (UTC DatetimeIndex level); columns ``min``, ``max``, ``sum``,
        ``count``, ``mean`` (see :func:`rollup`).
    """
    by_name = {
        name: rollup(values, series.period_s, window_s) for name, values in series.as_dict().items()
    }
    return _frame(series, window_s, by_name)


def downsample(series: MonitoringSeries) -> dict[str, pd.DataFrame]:
    """Thanos downsampling: the 5 m rollup from the raw series, the 1 h one from the 5 m.

    Parameters
    ----------
    series : MonitoringSeries
        The monitoring series (``period_s`` must divide 300 s).

    Returns
    -------
    dict
        ``{"5m": frame, "1h": frame}``, each as :func:`rollup_frame` returns.
    """
    five, hour = RESOLUTIONS_S["5m"], RESOLUTIONS_S["1h"]
    by5 = {name: rollup(v, series.period_s, five) for name, v in series.as_dict().items()}
    factor = round(hour / five)
    by1h = {name: combine(agg, factor) for name, agg in by5.items()}
    return {"5m": _frame(series, five, by5), "1h": _frame(series, hour, by1h)}
