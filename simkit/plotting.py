"""Every figure simkit draws; each function returns a matplotlib Figure.

The model never imports this module; it reads results and KPI frames only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simkit.result import SimResult

__all__ = ["plot_kpi_comparison", "plot_timeseries"]


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
    interval_s = pd.Timedelta(freq).total_seconds()
    fig = Figure(figsize=(10, 7), layout="constrained")
    ax_load, ax_lat, ax_err = fig.subplots(3, 1, sharex=True)
    ax_load.plot(frame.index, frame["arrivals"] / interval_s, label="offered load [req/s]", lw=1)
    ax_load.plot(frame.index, frame["capacity_rps"], label="capacity [req/s]", lw=1)
    twin = ax_load.twinx()
    twin.step(frame.index, frame["ready_instances"], where="post", color="grey", lw=0.8, alpha=0.7)
    twin.set_ylabel("ready instances")
    ax_load.set_ylabel("requests / s")
    ax_load.legend(loc="upper left")
    ax_load.set_title(f"{result.scenario.name}: replication {replication}")
    ax_lat.plot(frame.index, frame["latency_p99_s"] * 1e3, label="p99", lw=1)
    ax_lat.plot(frame.index, frame["latency_p50_s"] * 1e3, label="p50", lw=1)
    ax_lat.axhline(
        result.scenario.slo.latency_p99_s * 1e3, color="red", ls="--", lw=0.8, label="SLO"
    )
    ax_lat.set_yscale("log")
    ax_lat.set_ylabel("latency [ms]")
    ax_lat.legend(loc="upper left")
    ax_err.plot(frame.index, frame["errors"], color="tab:red", lw=1)
    ax_err.set_ylabel(f"errors per {freq}")
    ax_err.set_xlabel("time (UTC)")
    return fig


def plot_kpi_comparison(
    summary: pd.DataFrame, kpis: Sequence[str] = ("availability", "latency_p99_s", "cost_usd")
) -> Figure:
    """Bar chart of KPI means per scenario with 95 % confidence intervals.

    Parameters
    ----------
    summary : pandas.DataFrame
        From :func:`simkit.analysis.summarize`: index (scenario, kpi), columns
        ``mean``, ``ci_low``, ``ci_high``.
    kpis : sequence of str
        KPIs to draw, one panel each.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = Figure(figsize=(4 * len(kpis), 3.5), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(kpis)))
    for ax, kpi in zip(axes, kpis, strict=True):
        part = summary.xs(kpi, level="kpi")
        err = np.vstack([part["mean"] - part["ci_low"], part["ci_high"] - part["mean"]])
        ax.bar(part.index, part["mean"], yerr=np.maximum(err, 0.0), capsize=4, color="tab:blue")
        ax.set_title(kpi)
        ax.tick_params(axis="x", rotation=20)
    return fig
