"""Dashboard 02: production versus development on the same load.

:func:`compute_prod_vs_dev` simulates the two profiles with the same peak load,
instance failure rate and deploy frequency (and the same seed: common random
numbers), so what remains between them is the architecture: one container
instead of an autoscaled pool, debug and verbose-logging overhead, recreate
deploys, no database failover.  :func:`draw_prod_vs_dev` draws it and
:func:`prod_vs_dev_dashboard` wires three sliders to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simkit.analysis.kpis import kpis as kpi_table
from simkit.engine import simulate
from simkit.io import load_scenario
from simkit.widgets._base import Dashboard
from simkit.widgets._common import binned_series, log_axis, with_peak

__all__ = [
    "CAUSE_REASONS",
    "ProdVsDev",
    "compute_prod_vs_dev",
    "draw_prod_vs_dev",
    "prod_vs_dev_dashboard",
]

#: Error cause -> what in the architecture (../shared/seed/system-architecture.md) explains it.
CAUSE_REASONS = {
    "overload": "one Node.js event loop with debug mode (+50 %) and verbose console logging "
    "(+30 %) saturates at the peak; production's HPA adds pods",
    "unavailable": "no Ready instance: development runs one container, production keeps 3+ pods",
    "slow_timeout": "requests slower than the 30 s timeout on a saturated event loop",
    "crash": "requests in flight on a crashed instance; readiness probes (30 s) route around it "
    "in production, a person restarts the container in development",
    "deploy": "Docker Compose recreates the container on every deploy; rolling updates with "
    "maxUnavailable = 0 lose nothing",
    "bad_release": "bad releases: automated rollback in production, a manual fix in development",
    "database": "PostgreSQL primary + replica fails over in 90 s; the single local instance is "
    "rebuilt by hand",
    "region": "region outage (chaos)",
    "chaos": "chaos experiment",
}

#: KPIs shown per profile (means over replications).
KPIS = (
    "availability",
    "latency_p50_s",
    "latency_p99_s",
    "slo_minutes_violated",
    "downtime_s",
    "mean_instances",
    "cost_usd",
    "crashes",
    "alerts_fired",
)


@dataclass(frozen=True, eq=False)
class ProdVsDev:
    """Output of :func:`compute_prod_vs_dev`.

    Attributes
    ----------
    kpis : pandas.DataFrame
        Index profile; columns :data:`KPIS` (means over replications).
    errors : pandas.DataFrame
        Index error cause; one column of mean failed requests per profile, plus
        ``reason`` (the architecture behind the gap); causes with no errors dropped.
    series : dict of str to pandas.DataFrame
        Profile -> replication 0 in 5-minute bins (:func:`~simkit.widgets._common.binned_series`).
    slo_p99_s : float
        The SLO's p99 latency [s].
    figure : matplotlib.figure.Figure
        :func:`draw_prod_vs_dev` of the above.
    """

    kpis: pd.DataFrame
    errors: pd.DataFrame
    series: dict[str, pd.DataFrame]
    slo_p99_s: float
    figure: Figure


def compute_prod_vs_dev(
    peak_rps: float | None = None,
    instance_mtbf_h: float | None = None,
    deploys_per_day: float | None = None,
    *,
    profiles: Sequence[str] = ("production", "development"),
    duration: str = "1D",
    step: str = "15s",
    replications: int = 4,
    seed: int = 0,
) -> ProdVsDev:
    """Simulate the profiles on equal terms and tabulate the gaps.

    Parameters
    ----------
    peak_rps : float, optional
        Weekday diurnal peak of the offered load [1/s], the same for every
        profile; default the profiles' own workload (peak about 60 req/s).
    instance_mtbf_h : float, optional
        Mean time between instance crashes [h] for every profile; default each
        profile's own (production 168 h, development 48 h).
    deploys_per_day : float, optional
        Releases per day for every profile; default each profile's own
        (production 1, development 20).
    profiles : sequence of str
        Profile names or scenario files, the first is the reference.
    duration, step, replications, seed
        As :func:`simkit.simulate` (the same seed for all: common random numbers).

    Returns
    -------
    ProdVsDev
    """
    kpis, errors, series = {}, {}, {}
    slo = None
    for name in profiles:
        scenario = with_peak(load_scenario(name), peak_rps)
        changes = {}
        if instance_mtbf_h is not None:
            changes["failures__instance_mtbf_h"] = float(instance_mtbf_h)
        if deploys_per_day is not None:
            changes["deployment__deploys_per_day"] = float(deploys_per_day)
        scenario = scenario.replace(**changes) if changes else scenario
        result = simulate(
            scenario, duration=duration, step=step, replications=replications, seed=seed
        )
        frame = kpi_table(result)
        label = scenario.name
        kpis[label] = frame[list(KPIS)].mean()
        errors[label] = frame[[f"errors_{c}" for c in CAUSE_REASONS]].mean().to_numpy()
        series[label] = binned_series(result)
        slo = scenario.slo.latency_p99_s if slo is None else slo
    kpi_frame = pd.DataFrame(kpis).T.rename_axis("profile")
    err = pd.DataFrame(errors, index=pd.Index(list(CAUSE_REASONS), name="cause"))
    err = err[err.sum(axis=1) > 0].copy()
    err["reason"] = [CAUSE_REASONS[c] for c in err.index]
    fig = draw_prod_vs_dev(kpi_frame, err, series, float(slo))
    return ProdVsDev(kpi_frame, err, series, float(slo), fig)


def draw_prod_vs_dev(
    kpis: pd.DataFrame, errors: pd.DataFrame, series: dict[str, pd.DataFrame], slo_p99_s: float
) -> Figure:
    """Four panels: load and capacity, p99 latency, errors by cause, KPI table.

    Returns
    -------
    matplotlib.figure.Figure
        Axes: load/capacity, p99 latency, errors by cause, KPI table (4 axes).
    """
    fig = Figure(figsize=(11, 7))
    fig.subplots_adjust(left=0.1, right=0.98, top=0.93, bottom=0.07, wspace=0.3, hspace=0.3)
    (ax_load, ax_lat), (ax_err, ax_tab) = fig.subplots(2, 2)
    for i, (name, s) in enumerate(series.items()):
        color = f"C{i}"
        if i == 0:
            ax_load.plot(s.index, s["rate_rps"], color="black", lw=1, label="offered load")
        ax_load.plot(s.index, s["capacity_rps"], color=color, lw=1.2, label=f"{name} capacity")
        ax_lat.plot(s.index, s["latency_p99_s"] * 1e3, color=color, lw=1, label=name)
    ax_load.set_ylabel("requests / s")
    ax_load.set_xlabel("hours (replication 0, 5-min bins)")
    ax_load.legend(fontsize=8, loc="upper left")
    ax_load.set_title("offered load and capacity", fontsize=10)
    ax_lat.axhline(slo_p99_s * 1e3, color="red", ls="--", lw=0.8, label="SLO")
    log_axis(ax_lat.yaxis)
    ax_lat.set_ylabel("p99 latency [ms]")
    ax_lat.set_xlabel("hours")
    ax_lat.legend(fontsize=8, loc="upper left")
    ax_lat.set_title("p99 latency per 5 minutes", fontsize=10)
    names = list(series)
    causes = list(errors.index)
    y = np.arange(len(causes))
    height = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        values = errors[name].to_numpy(dtype=float) if causes else np.zeros(0)
        shown = np.where(values > 0, values, np.nan)  # no bar for a cause with no errors
        ax_err.barh(y + i * height, shown, height, color=f"C{i}", label=name)
    ax_err.set_yticks(y + height * (len(names) - 1) / 2, causes)
    log_axis(ax_err.xaxis)
    ax_err.set_xlim(left=0.5)
    ax_err.set_xlabel("failed requests per run (mean)")
    ax_err.set_title("errors by cause", fontsize=10)
    ax_err.legend(fontsize=8, loc="lower right")
    ax_tab.axis("off")
    rows = {
        "availability": lambda v: f"{v:.4%}",
        "latency_p99_s": lambda v: f"{v * 1e3:.3g} ms" if v < 1 else f"{v:.3g} s",
        "slo_minutes_violated": lambda v: f"{v:.0f}",
        "downtime_s": lambda v: f"{v / 60:.3g} min",
        "mean_instances": lambda v: f"{v:.3g}",
        "cost_usd": lambda v: f"{v:.3g} USD",
    }
    labels = ["availability", "p99 latency", "SLO minutes", "downtime", "instances", "cost"]
    cells = [
        [label, *(fmt(kpis.loc[n, k]) for n in kpis.index)]
        for label, (k, fmt) in zip(labels, rows.items(), strict=True)
    ]
    table = ax_tab.table(
        cellText=cells,
        colLabels=["", *kpis.index],
        bbox=(0.0, 0.1, 1.0, 0.8),
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1.0, 1.5)
    ax_tab.set_title("KPIs, mean over replications", fontsize=10)
    return fig


def prod_vs_dev_dashboard(
    *,
    replications: int = 4,
    duration: str = "1D",
    preview_replications: int = 1,
    seed: int = 0,
    settle_s: float | None = 0.6,
) -> Dashboard:
    """Sliders for peak load, instance MTBF and deploy frequency over :func:`compute_prod_vs_dev`.

    While a slider moves the preview uses ``preview_replications`` at a 15 s
    step; ``settle_s`` after the last change the full ``replications`` run.
    """
    controls = {
        "peak_rps": widgets.FloatSlider(
            value=60.0, min=10.0, max=150.0, step=5.0, description="peak [req/s]"
        ),
        "instance_mtbf_h": widgets.FloatLogSlider(
            value=168.0, base=10, min=0.5, max=3.0, step=0.1, description="MTBF [h]"
        ),
        "deploys_per_day": widgets.FloatSlider(
            value=1.0, min=0.0, max=24.0, step=1.0, description="deploys/day"
        ),
    }

    def render(values: dict, coarse: bool) -> ProdVsDev:
        return compute_prod_vs_dev(
            **values,
            duration=duration,
            replications=preview_replications if coarse else replications,
            seed=seed,
        )

    return Dashboard(
        controls, render, settle_s=settle_s, title="production vs development, equal load"
    )
