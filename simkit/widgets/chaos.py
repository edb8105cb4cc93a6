"""Dashboard 04: a bad deploy, a database failover, a region outage — in every profile.

:func:`compute_chaos` injects one fault into each profile (same seed), and
returns the incident KPIs (time to detect and recover, failed requests, data
lost), the alert firing intervals of replication 0 and a timeline figure of
the error ratio with the alerts (:func:`draw_chaos`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import pandas as pd
from matplotlib.figure import Figure

from simkit.analysis.kpis import kpis as kpi_table
from simkit.engine import simulate
from simkit.errors import SimkitError
from simkit.io import load_scenario
from simkit.monitoring import evaluate_rules, monitoring_series
from simkit.scenario import Scenario
from simkit.widgets._base import Dashboard
from simkit.widgets._common import binned_series

__all__ = ["FAULTS", "ChaosOutcome", "chaos_dashboard", "compute_chaos", "draw_chaos", "with_fault"]

#: Faults the dashboard injects.
FAULTS = ("bad_deploy", "db_primary_down", "region_down")

#: Incident KPIs per profile (means over replications).
KPIS = (
    "errors",
    "availability",
    "incidents",
    "mean_time_to_detect_s",
    "mean_time_to_recover_s",
    "max_data_loss_window_s",
    "alerts_fired",
    "emails_sent",
)


@dataclass(frozen=True, eq=False)
class ChaosOutcome:
    """Output of :func:`compute_chaos`.

    Attributes
    ----------
    kpis : pandas.DataFrame
        Index profile; columns :data:`KPIS` (means over replications).
    alerts : pandas.DataFrame
        Firing intervals of replication 0: ``profile``, ``alert``, ``severity``,
        ``start_h``, ``end_h``.
    incidents : pandas.DataFrame
        Incidents of replication 0: ``profile``, ``kind``, ``start_h``,
        ``detected_h``, ``recovered_h``, ``data_loss_window_s``.
    series : dict of str to pandas.DataFrame
        Profile -> replication 0 in 1-minute bins.
    figure : matplotlib.figure.Figure
    """

    kpis: pd.DataFrame
    alerts: pd.DataFrame
    incidents: pd.DataFrame
    series: dict[str, pd.DataFrame]
    figure: Figure


def with_fault(scenario: Scenario, fault: str, at_h: float, duration_min: float) -> Scenario:
    """The scenario with one fault: a chaos experiment, or (``bad_deploy``) bad releases.

    ``bad_deploy`` makes every release bad (no test gate) at three releases a
    day, at random (Poisson) times: the deployment model decides detection and
    rollback.
    ``region_down`` takes out the scenario's first region.
    """
    if fault not in FAULTS:
        raise SimkitError(f"fault = {fault!r} is unknown; allowed: {', '.join(FAULTS)}")
    if fault == "bad_deploy":
        return scenario.replace(
            deployment__bad_release_probability=1.0,
            deployment__tests_gate=False,
            deployment__deploys_per_day=3.0,
        )
    experiment = {"kind": fault, "at_s": at_h * 3600.0, "duration_s": duration_min * 60.0}
    if fault == "region_down":
        experiment["region"] = scenario.regions[0].name
    return scenario.replace(chaos={"enabled": True, "experiments": [experiment]})


def compute_chaos(
    fault: str = "db_primary_down",
    at_h: float = 12.0,
    duration_min: float = 30.0,
    *,
    profiles: Sequence[str] = ("production", "development", "experimental"),
    duration: str = "1D",
    step: str = "15s",
    replications: int = 4,
    seed: int = 0,
) -> ChaosOutcome:
    """Inject ``fault`` at ``at_h`` hours for ``duration_min`` minutes in every profile.

    Returns
    -------
    ChaosOutcome
    """
    kpis, alerts, incidents, series = {}, [], [], {}
    for name in profiles:
        scenario = with_fault(load_scenario(name), fault, at_h, duration_min)
        result = simulate(
            scenario, duration=duration, step=step, replications=replications, seed=seed
        )
        label = scenario.name
        kpis[label] = kpi_table(result)[list(KPIS)].mean()
        mon = monitoring_series(result)
        firings = evaluate_rules(
            mon, scenario.monitoring.rules, scenario.monitoring.eval_interval_s
        )
        for rule_name, f in firings.items():
            for start, end in f.of(0):
                alerts.append((label, rule_name, f.rule.severity, start / 3600, end / 3600))
        for inc in result.incidents:
            if inc.replication == 0:
                incidents.append(
                    (
                        label,
                        inc.kind,
                        inc.start_s / 3600,
                        inc.detected_s / 3600,
                        inc.recovered_s / 3600,
                        inc.data_loss_window_s,
                    )
                )
        series[label] = binned_series(result, minutes=1)
    kpi_frame = pd.DataFrame(kpis).T.rename_axis("profile")
    alert_frame = pd.DataFrame(alerts, columns=["profile", "alert", "severity", "start_h", "end_h"])
    inc_frame = pd.DataFrame(
        incidents,
        columns=["profile", "kind", "start_h", "detected_h", "recovered_h", "data_loss_window_s"],
    )
    window = None if fault == "bad_deploy" else (at_h - 1.0, at_h + duration_min / 60.0 + 2.0)
    fig = draw_chaos(series, alert_frame, inc_frame, window=window, title=fault)
    return ChaosOutcome(kpi_frame, alert_frame, inc_frame, series, fig)


def draw_chaos(
    series: dict[str, pd.DataFrame],
    alerts: pd.DataFrame,
    incidents: pd.DataFrame,
    *,
    window: tuple[float, float] | None = None,
    title: str = "",
) -> Figure:
    """One panel per profile: error ratio per minute, incidents shaded, alerts as bars on top.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per profile.
    """
    fig = Figure(figsize=(10, 2.4 * len(series) + 0.4))
    fig.subplots_adjust(left=0.08, right=0.8, top=0.93, bottom=0.08, hspace=0.45)
    axes = fig.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
    names = sorted(set(alerts["alert"])) if len(alerts) else []
    colors = {n: f"C{i + 1}" for i, n in enumerate(names)}
    for ax, (profile, s) in zip(axes, series.items(), strict=True):
        ax.plot(s.index, s["error_ratio"] * 100, color="black", lw=0.8, label="error ratio")
        for _, inc in incidents[incidents["profile"] == profile].iterrows():
            ax.axvspan(inc["start_h"], inc["recovered_h"], color="red", alpha=0.15, lw=0)
            ax.axvline(inc["detected_h"], color="red", lw=0.8, ls=":")
        mine = alerts[alerts["profile"] == profile]
        for _, a in mine.iterrows():
            row = names.index(a["alert"])
            ax.axvspan(
                a["start_h"],
                max(a["end_h"], a["start_h"] + 0.02),
                ymin=0.92 - 0.08 * row,
                ymax=0.98 - 0.08 * row,
                color=colors[a["alert"]],
                label=a["alert"],
            )
        ax.set_ylabel("errors [%]")
        ax.set_ylim(0, 105)
        ax.set_title(f"{profile}: incident shaded, detection dotted, alerts as bars", fontsize=9)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles, strict=True))
        ax.legend(
            unique.values(), unique.keys(), fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0)
        )
    if window is not None:
        axes[0].set_xlim(*window)
    axes[-1].set_xlabel("hours since start (replication 0)")
    fig.suptitle(title, fontsize=10)
    return fig


def chaos_dashboard(
    *,
    replications: int = 4,
    preview_replications: int = 1,
    seed: int = 0,
    settle_s: float | None = 0.6,
) -> Dashboard:
    """Fault, time and length over :func:`compute_chaos`."""
    controls = {
        "fault": widgets.Dropdown(options=FAULTS, value="db_primary_down", description="fault"),
        "at_h": widgets.FloatSlider(value=12.0, min=1.0, max=20.0, step=0.5, description="at [h]"),
        "duration_min": widgets.FloatSlider(
            value=30.0, min=5.0, max=240.0, step=5.0, description="length [min]"
        ),
    }

    def render(values: dict, coarse: bool) -> ChaosOutcome:
        return compute_chaos(
            **values, replications=preview_replications if coarse else replications, seed=seed
        )

    return Dashboard(controls, render, settle_s=settle_s, title="failures and chaos")
