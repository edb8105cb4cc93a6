"""Every figure simkit draws; each function returns a matplotlib Figure.

The model never imports this module; it reads results and KPI frames only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simkit.errors import SimkitError
from simkit.result import SimResult

if TYPE_CHECKING:
    from simkit.analysis.capacity import CapacityPlan
    from simkit.scenario import Scenario

__all__ = [
    "MAX_LINE_POINTS",
    "decimate",
    "plot_capacity_plan",
    "plot_error_budget",
    "plot_kpi_comparison",
    "plot_latency_distribution",
    "plot_pareto",
    "plot_timeseries",
    "plot_timeseries_frame",
]


#: Most points a dense line of a figure keeps (see :func:`decimate`); a PNG at the
#: report's size has well under a thousand pixel columns per axes.
MAX_LINE_POINTS = 4000

#: What a line is given as: abscissae or values, one per point.
_Points = np.ndarray | pd.Index | pd.Series | Sequence[float]


def _bucket_coordinate(x: _Points, log_x: bool) -> np.ndarray:
    """Position of every point along the axis the buckets split [any unit], float64."""
    if isinstance(x, pd.DatetimeIndex | pd.TimedeltaIndex):
        return x.asi8.astype(np.float64)
    values = np.asarray(x)
    if values.dtype.kind in "mM":  # numpy datetime64 / timedelta64
        return values.view(np.int64).astype(np.float64)
    pos = values.astype(np.float64)
    positive = pos > 0
    if log_x and positive.any():
        pos = np.log(np.where(positive, pos, pos[positive].min()))
    return pos


def _first_in_segment(hits: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """The first of ``hits`` (sorted point indices) in each segment that has one."""
    seg = segment[hits]
    return hits[np.r_[True, seg[1:] != seg[:-1]]] if hits.size else hits


def decimate(
    x: _Points, *ys: _Points, max_points: int = MAX_LINE_POINTS, log_x: bool = False
) -> np.ndarray:
    """Indices of the points to draw of a dense line, its peaks kept.

    The x range is split into equal buckets (in ``log(x)`` with ``log_x``); each
    non-empty bucket keeps its first and last point and, for every series in ``ys``,
    the point of its smallest and of its largest value and its first NaN (so gaps
    stay gaps).  Drawn through the kept points the line differs from the full one by
    less than a bucket's width: spikes, dips and the global extremes stay visible.

    Parameters
    ----------
    x : array_like or pandas.DatetimeIndex
        Abscissae of the ``n`` points, non-decreasing (otherwise the buckets split the
        point indices instead) [any unit].
    *ys : array_like
        Series of ``n`` values each drawn against ``x`` [any unit]; the same indices
        serve all of them (a band and its median share their abscissae).
    max_points : int
        Most indices returned; a line with no more points is kept whole.
    log_x : bool
        Buckets of equal width in ``log(x)`` (an axis in log scale); points at
        ``x <= 0`` join the first bucket.

    Returns
    -------
    numpy.ndarray
        Increasing point indices [index], at most ``max_points`` of them.
    """
    n = len(x)
    if isinstance(max_points, bool) or not isinstance(max_points, int) or max_points < 2:
        raise SimkitError(f"max_points = {max_points!r}; allowed: an integer >= 2")
    if n <= max_points:
        return np.arange(n)
    series = [np.asarray(y, dtype=np.float64) for y in ys]
    gaps = [y for y in series if np.isnan(y).any()]
    per_bucket = 2 + 2 * len(series) + len(gaps)
    n_buckets = max_points // per_bucket
    if n_buckets < 1:
        raise SimkitError(
            f"max_points = {max_points} is too few for {len(series)} series; allowed: at "
            f"least {per_bucket}"
        )
    pos = _bucket_coordinate(x, log_x)
    finite = np.isfinite(pos)
    if not finite.all() or np.any(np.diff(pos) < 0):
        pos = np.arange(n, dtype=np.float64)  # not an ordered axis: buckets of indices
    lo, hi = pos[0], pos[-1]
    scale = n_buckets / (hi - lo) if hi > lo else 0.0
    bucket = np.minimum(((pos - lo) * scale).astype(np.int64), n_buckets - 1)
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    lengths = np.diff(np.r_[starts, n])
    segment = np.repeat(np.arange(starts.size), lengths)
    keep = [starts, starts + lengths - 1]
    for y in series:
        for reduce in (np.fmin, np.fmax):  # fmin/fmax: NaN only where a bucket is all NaN
            extreme = np.repeat(reduce.reduceat(y, starts), lengths)
            keep.append(_first_in_segment(np.flatnonzero(y == extreme), segment))
    for y in gaps:
        keep.append(_first_in_segment(np.flatnonzero(np.isnan(y)), segment))
    return np.unique(np.concatenate(keep))


def _figure(
    size_in: tuple[float, float],
    margins_in: tuple[float, float, float, float] = (0.85, 0.25, 0.6, 0.4),
    grid: tuple[int, int] = (1, 1),
    space_in: float = 0.0,
) -> Figure:
    """A figure whose axes (``fig.subplots(*grid)``) sit inside fixed margins.

    Fixed margins instead of matplotlib's constrained layout, which measures every
    text of the figure before each save (half of the time to render a report).

    Parameters
    ----------
    size_in : tuple of float
        Width and height of the figure [in].
    margins_in : tuple of float
        Left, right, bottom and top margins [in]: room for tick labels, axis labels and
        titles.
    grid : tuple of int
        Rows and columns of axes the caller will make.
    space_in : float
        Gap between neighbouring axes [in].

    Returns
    -------
    matplotlib.figure.Figure
    """
    (width, height), (left, right, bottom, top), (rows, cols) = size_in, margins_in, grid
    axes_width = (width - left - right - (cols - 1) * space_in) / cols
    axes_height = (height - bottom - top - (rows - 1) * space_in) / rows
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(
        left=left / width,
        right=1.0 - right / width,
        bottom=bottom / height,
        top=1.0 - top / height,
        wspace=space_in / axes_width,  # fractions of an axes' width and height
        hspace=space_in / axes_height,
    )
    return fig


def _dense(x: _Points, *ys: _Points, log_x: bool = False) -> tuple[np.ndarray, ...]:
    """``x`` and ``ys`` at the points :func:`decimate` keeps (all of a short line)."""
    keep = decimate(x, *ys, log_x=log_x)
    at = x[keep] if isinstance(x, pd.Index) else np.asarray(x)[keep]  # keeps time zones
    return (at, *(np.asarray(y)[keep] for y in ys))


def plot_timeseries(result: SimResult, replication: int = 0, freq: str = "5min") -> Figure:
    """Load versus capacity, latency and errors of one replication over time.

    Parameters
    ----------
    result : SimResult
        A simulation result.
    replication : int
        Which replication to draw.
    freq : str
        Aggregation interval (pandas frequency); latency shows the interval's
        largest p99, errors the interval's total.

    Returns
    -------
    matplotlib.figure.Figure
    """
    frame = result.to_frame(freq=freq, replications=[replication]).droplevel("replication")
    return plot_timeseries_frame(frame, result.scenario, replication, freq)


def plot_timeseries_frame(
    frame: pd.DataFrame, scenario: Scenario, replication: int = 0, freq: str = "5min"
) -> Figure:
    """:func:`plot_timeseries` from the frame it draws (made elsewhere, e.g. in a worker).

    Parameters
    ----------
    frame : pandas.DataFrame
        ``result.to_frame(freq=freq, replications=[replication])`` without its
        ``replication`` level: time index, the columns of :meth:`SimResult.to_frame`.
    scenario : Scenario
        The simulated scenario (its name and SLO are drawn).
    replication : int
        The replication the frame holds (for the title).
    freq : str
        The frame's aggregation interval (pandas frequency).

    Returns
    -------
    matplotlib.figure.Figure
    """
    interval_s = pd.Timedelta(freq).total_seconds()
    fig = _figure((10, 7), (0.85, 0.85, 0.6, 0.35), grid=(3, 1), space_in=0.2)
    ax_load, ax_lat, ax_err = fig.subplots(3, 1, sharex=True)
    t = frame.index
    ax_load.plot(*_dense(t, frame["arrivals"] / interval_s), label="offered load [req/s]", lw=1)
    ax_load.plot(*_dense(t, frame["capacity_rps"]), label="capacity [req/s]", lw=1)
    twin = ax_load.twinx()
    twin.step(*_dense(t, frame["ready_instances"]), where="post", color="grey", lw=0.8, alpha=0.7)
    twin.set_ylabel("ready instances")
    ax_load.set_ylabel("requests / s")
    ax_load.legend(loc="upper left")
    ax_load.set_title(f"{scenario.name}: replication {replication}")
    ax_lat.plot(*_dense(t, frame["latency_p99_s"] * 1e3), label="p99", lw=1)
    ax_lat.plot(*_dense(t, frame["latency_p50_s"] * 1e3), label="p50", lw=1)
    ax_lat.axhline(scenario.slo.latency_p99_s * 1e3, color="red", ls="--", lw=0.8, label="SLO")
    ax_lat.set_yscale("log")
    ax_lat.set_ylabel("latency [ms]")
    ax_lat.legend(loc="upper left")
    ax_err.plot(*_dense(t, frame["errors"]), color="tab:red", lw=1)
    ax_err.set_ylabel(f"errors per {freq}")
    ax_err.set_xlabel("time (UTC)")
    return fig


def plot_kpi_comparison(
    summary: pd.DataFrame, kpis: Sequence[str] = ("availability", "latency_p99_s", "cost_usd")
) -> Figure:
    """Bar chart of KPI means per scenario with confidence-interval error bars.

    Parameters
    ----------
    summary : pandas.DataFrame
        From :func:`simkit.analysis.compare` or :func:`simkit.analysis.summarize`:
        index (scenario, kpi), columns ``mean``, ``ci_low``, ``ci_high``.
    kpis : sequence of str
        KPIs to draw, one panel each; a panel whose means span more than two
        decades uses a log scale.

    Returns
    -------
    matplotlib.figure.Figure
    """
    available = set(summary.index.get_level_values("kpi"))
    missing = [k for k in kpis if k not in available]
    if missing:
        raise SimkitError(f"kpis = {missing} are not in the summary; allowed: {sorted(available)}")
    fig = _figure((3.6 * len(kpis), 3.6), (0.55, 0.15, 0.7, 0.55), (1, len(kpis)), 0.6)
    axes = np.atleast_1d(fig.subplots(1, len(kpis)))
    colors = [f"C{i}" for i in range(summary.index.get_level_values("scenario").nunique())]
    for ax, kpi in zip(axes, kpis, strict=True):
        part = summary.xs(kpi, level="kpi")
        err = np.vstack([part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]])
        ax.bar(
            part.index,
            part["mean"],
            yerr=np.maximum(err, 0.0),
            capsize=5,
            color=colors[: len(part)],
        )
        positive = part["mean"][part["mean"] > 0]
        if len(positive) == len(part) and positive.max() / positive.min() > 100:
            ax.set_yscale("log")
        ax.set_title(kpi, fontsize=10)
        ax.tick_params(axis="x", rotation=20)
    fig.suptitle("mean over replications, bars: 95 % bootstrap confidence interval", fontsize=9)
    return fig


def _minute_p99(source: SimResult | np.ndarray) -> np.ndarray:
    if isinstance(source, SimResult):
        from simkit.analysis.slo import minute_series

        return minute_series(source)["latency_p99_s"]
    return np.asarray(source, dtype=np.float64)


def plot_latency_distribution(
    minute_p99_s: Sequence[SimResult] | Mapping[str, SimResult | np.ndarray],
    slo_p99_s: float | None = None,
) -> Figure:
    """Share of minutes whose p99 latency exceeds each value, per scenario.

    Parameters
    ----------
    minute_p99_s : sequence of SimResult, or mapping of name to SimResult or array
        Results, or per-minute p99 latencies [s] ``[R, M]`` (from
        :func:`simkit.analysis.minute_series`), pooled over replications.
    slo_p99_s : float, optional
        SLO threshold [s] drawn as a vertical line; default the first result's.

    Returns
    -------
    matplotlib.figure.Figure
        Complementary CDF on log-log axes: at ``x``, the share of minutes with p99 > x.
    """
    if not isinstance(minute_p99_s, Mapping):
        items = {r.scenario.name: r for r in minute_p99_s}
        if slo_p99_s is None and items:
            slo_p99_s = next(iter(items.values())).scenario.slo.latency_p99_s
    else:
        items = dict(minute_p99_s)
    fig = _figure((7, 4))
    ax = fig.subplots()
    floor = None
    for i, (name, source) in enumerate(items.items()):
        x = np.sort(_minute_p99(source).ravel())
        share = 1.0 - np.arange(1, x.size + 1) / x.size
        floor = 1.0 / x.size if floor is None else min(floor, 1.0 / x.size)
        keep = share > 0
        curve = _dense(x[keep] * 1e3, share[keep], log_x=True)
        ax.step(*curve, where="post", color=f"C{i}", label=name)
    if slo_p99_s is not None:
        ax.axvline(slo_p99_s * 1e3, color="red", ls="--", lw=0.8, label="SLO p99")
    ax.set_xscale("log")
    ax.set_yscale("log")
    if floor is not None:
        ax.set_ylim(floor / 2, 1.5)
    ax.set_xlabel("p99 latency of a minute [ms]")
    ax.set_ylabel("share of minutes above")
    ax.set_title("per-minute p99 latency, all replications pooled", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return fig


def plot_error_budget(budgets: Mapping[str, pd.DataFrame]) -> Figure:
    """Error budget left over time per scenario: median and 5-95 % band of replications.

    Parameters
    ----------
    budgets : mapping of name to pandas.DataFrame
        From :func:`simkit.analysis.error_budget`: time index, one column per replication.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure((10, 3.5))
    ax = fig.subplots()
    for i, (name, frame) in enumerate(budgets.items()):
        q = frame.quantile([0.05, 0.5, 0.95], axis=1).T * 100.0
        t, low, median, high = _dense(q.index, q[0.05], q[0.5], q[0.95])
        ax.plot(t, median, color=f"C{i}", lw=1.2, label=f"{name} (median)")
        ax.fill_between(t, low, high, color=f"C{i}", alpha=0.2, lw=0)
    ax.axhline(0.0, color="red", ls="--", lw=0.8)
    ax.set_ylabel("error budget left [%]")
    ax.set_xlabel("time (UTC)")
    ax.set_title("rolling-window error budget left (band: 5-95 % of replications)", fontsize=10)
    ax.legend(loc="lower left")
    return fig


def plot_pareto(
    frame: pd.DataFrame,
    x: str = "cost_usd",
    y: str = "slo_minutes_violated",
    *,
    label: str = "scenario",
    maximize: Sequence[str] = (),
) -> Figure:
    """Scatter of configurations on two objectives, the non-dominated ones joined.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per configuration (e.g. means per scenario), with columns ``x``,
        ``y`` and, optionally, ``label``.
    x, y : str
        Objectives (minimized unless in ``maximize``).
    label : str
        Column used to annotate the points.
    maximize : sequence of str
        Objectives where larger is better.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from simkit.analysis.pareto import pareto

    front = pareto(frame, x, y, maximize=maximize, by=label)
    fig = _figure((6, 4))
    ax = fig.subplots()
    ax.scatter(frame[x], frame[y], color="grey", s=25, label="configurations")
    ax.plot(front[x], front[y], "o-", color="C3", label="Pareto front")
    if label in frame.columns:
        middle = 0.5 * (frame[x].min() + frame[x].max())
        for _, row in frame.iterrows():
            right = row[x] > middle  # name to the left of points in the right half: on canvas
            ax.annotate(str(row[label]), (row[x], row[y]), fontsize=8,
                        xytext=(-4 if right else 4, 4), textcoords="offset points",
                        ha="right" if right else "left")  # fmt: skip
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.legend()
    return fig


def plot_capacity_plan(plans: CapacityPlan | Mapping[str, CapacityPlan]) -> Figure:
    """Capacity-plan curve: p99 latency (and cost) against the knob, answer marked.

    Parameters
    ----------
    plans : CapacityPlan or mapping of name to CapacityPlan
        From :func:`simkit.analysis.capacity_plan`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    items = {"plan": plans} if not isinstance(plans, Mapping) else dict(plans)
    fig = _figure((8, 4))
    ax = fig.subplots()
    slo_s = None
    for i, (name, plan) in enumerate(items.items()):
        c = plan.curve
        ax.plot(c.index, c["latency_p99_s_q"] * 1e3, "o-", color=f"C{i}",
                label=f"{name}: p99 at {plan.probability:.0%} of replications")  # fmt: skip
        if plan.value is not None:
            ax.plot([plan.value], [plan.latency_p99_s * 1e3], "*", ms=16, color=f"C{i}",
                    markeredgecolor="black", label=f"{name}: answer {plan.value}")  # fmt: skip
        slo_s = plan.slo.latency_p99_s
    if slo_s is not None:
        ax.axhline(slo_s * 1e3, color="red", ls="--", lw=0.8, label="SLO p99")
    ax.set_yscale("log")
    knob = next(iter(items.values())).knob if items else "instances"
    ax.set_xlabel(knob.replace("_", " "))
    ax.set_ylabel("run p99 latency [ms]")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return fig
