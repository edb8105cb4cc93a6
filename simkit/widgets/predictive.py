"""Dashboard 03: reactive, predictive and learned scaling.

A *policy* here is a function ``Scenario -> Scenario`` that sets the autoscaling
policy on a base scenario; :data:`POLICIES` holds the autoscaled ones of
:data:`simkit.autoscaling.POLICIES` (``reactive``: the Kubernetes HPA;
``predictive``: a forecast floor under the HPA; ``learned``: a floor from load
averages found by policy search), each its ``configure``, described by
:func:`policy_descriptions`.  A further policy is one more entry there (or any
function passed to :func:`compute_policies`): it gets a row, the figure a colour.

:func:`compute_policies` runs every policy on the same load and seed (common
random numbers); :func:`pareto_sweep` sweeps the HPA target utilization per
policy for the cost-versus-SLO Pareto plot (:func:`draw_pareto`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from simkit.analysis.kpis import kpis as kpi_table
from simkit.analysis.pareto import non_dominated
from simkit.autoscaling import POLICIES as SCALING_POLICIES
from simkit.engine import simulate
from simkit.errors import SimkitError
from simkit.io import load_scenario
from simkit.result import SimResult
from simkit.scenario import Scenario
from simkit.widgets._base import Dashboard
from simkit.widgets._common import binned_series

__all__ = [
    "FORECASTERS",
    "POLICIES",
    "PolicyComparison",
    "compute_policies",
    "draw_pareto",
    "draw_policies",
    "pareto_sweep",
    "policy_descriptions",
    "predictive_dashboard",
    "scaling_scenario",
]

Policy = Callable[[Scenario], Scenario]

FORECASTERS = ("profile-level", "holt-winters", "seasonal-naive", "persistence")


#: Policy name -> scenario transform, for every autoscaled policy of
#: :data:`simkit.autoscaling.POLICIES` (``learned`` uses the profile's ``[learned]`` parameters).
POLICIES: dict[str, Policy] = {
    name: policy.configure for name, policy in SCALING_POLICIES.items() if policy.autoscaled
}


def policy_descriptions(names: Sequence[str] | None = None) -> dict[str, str]:
    """One line per policy (default: :data:`POLICIES`), from :data:`simkit.autoscaling.POLICIES`."""
    return {
        name: SCALING_POLICIES[name].description for name in (POLICIES if names is None else names)
    }


#: KPIs per policy (means over replications).
KPIS = (
    "cost_usd",
    "slo_minutes_violated",
    "availability",
    "latency_p99_s",
    "mean_instances",
    "overloaded_minutes",
    "scaling_events",
)


def scaling_scenario(mean_rate_rps: float = 120.0, max_replicas: int = 40) -> Scenario:
    """Production at three times its load, where the instance count moves over the day.

    At production's own 40 req/s the HPA's floor of 3 pods covers the whole
    day, so no policy has anything to decide.
    """
    return load_scenario("production").replace(
        name=f"production at {mean_rate_rps:g} req/s",
        workload__mean_rate_rps=mean_rate_rps,
        autoscaling__max_replicas=max_replicas,
    )


@dataclass(frozen=True, eq=False)
class PolicyComparison:
    """Output of :func:`compute_policies`.

    Attributes
    ----------
    kpis : pandas.DataFrame
        Index policy; columns :data:`KPIS` (means over replications) and
        ``floor_after_day1`` (mean predictive floor after the first day
        [instances], NaN for policies without a forecast).
    series : dict of str to pandas.DataFrame
        Policy -> replication 0 in 15-minute bins, with a ``floor`` column.
    figure : matplotlib.figure.Figure
        :func:`draw_policies` of the above.
    """

    kpis: pd.DataFrame
    series: dict[str, pd.DataFrame]
    figure: Figure


def _policy_scenario(
    base: Scenario, policy: Policy, startup_s: float, forecaster: str, target: float
) -> Scenario:
    if forecaster not in FORECASTERS:
        raise SimkitError(f"forecaster = {forecaster!r} is unknown; allowed: {FORECASTERS}")
    tuned = base.replace(
        autoscaling__startup_s=float(startup_s),
        autoscaling__target_cpu_utilization_percent=round(target),
        forecasting__forecaster=forecaster,
    )
    return policy(tuned)


def _run(
    scenario: Scenario, cache: dict | None, trace: pd.Series | None, **run: object
) -> SimResult:
    if cache is None:
        return simulate(scenario, trace=trace, **run)
    key = (scenario, id(trace), tuple(sorted(run.items())))
    if key not in cache:
        if len(cache) >= 64:
            cache.pop(next(iter(cache)))
        cache[key] = simulate(scenario, trace=trace, **run)
    return cache[key]


def compute_policies(
    base: Scenario | None = None,
    *,
    startup_s: float = 120.0,
    forecaster: str = "profile-level",
    target_utilization_percent: float = 60.0,
    policies: Mapping[str, Policy] | Sequence[str] = ("reactive", "predictive"),
    duration: str = "3D",
    step: str = "15s",
    replications: int = 4,
    seed: int = 0,
    trace: pd.Series | None = None,
    cache: dict | None = None,
) -> PolicyComparison:
    """Every policy on the same load and seed; KPIs, series and the figure.

    Parameters
    ----------
    base : Scenario, optional
        Default :func:`scaling_scenario`.
    startup_s : float
        Instance start-up time [s].
    forecaster : str
        One of :data:`FORECASTERS` (used by the predictive policy).
    target_utilization_percent : float
        HPA target CPU utilization [%].
    policies : mapping of name to policy, or names from :data:`POLICIES`
        (a mapping may add functions ``Scenario -> Scenario`` of its own)
    duration, step, replications, seed, trace
        As :func:`simkit.simulate`; predictive scaling needs 24 h of history and
        about 30 minutes of calibration and is refitted daily: use at least ``"3D"``.
    cache : dict, optional
        Results memo (a dashboard keeps one so a policy the change does not
        touch is not re-simulated).

    Returns
    -------
    PolicyComparison
    """
    base = scaling_scenario() if base is None else base
    chosen = dict(policies) if isinstance(policies, Mapping) else {p: POLICIES[p] for p in policies}
    rows, series = {}, {}
    for name, policy in chosen.items():
        scenario = _policy_scenario(base, policy, startup_s, forecaster, target_utilization_percent)
        if not scenario.forecasting.enabled:  # the forecaster does not matter: share the run
            scenario = scenario.replace(forecasting__forecaster="profile-level")
        result = _run(
            scenario,
            cache,
            trace,
            duration=duration,
            step=step,
            replications=replications,
            seed=seed,
        )
        row = kpi_table(result)[list(KPIS)].mean()
        frame = binned_series(result, minutes=15)
        floor = result.forecast_floor
        if floor is not None and scenario.autoscaling.policy == "predictive":
            per_day = round(86400.0 / result.period_s)
            row["floor_after_day1"] = (
                float(floor[:, per_day:].mean()) if floor.shape[1] > per_day else np.nan
            )
            per_bin = round(900.0 / result.period_s)
            n = len(frame) * per_bin
            frame["floor"] = floor[0, :n].reshape(-1, per_bin).max(axis=1)
        else:
            row["floor_after_day1"] = np.nan
        rows[name] = row
        series[name] = frame
    kpis = pd.DataFrame(rows).T.rename_axis("policy")
    return PolicyComparison(kpis, series, draw_policies(kpis, series))


def draw_policies(kpis: pd.DataFrame, series: Mapping[str, pd.DataFrame]) -> Figure:
    """Instances against load over time per policy, and cost against SLO minutes.

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: the timeline (replication 0) and the cost/SLO scatter.
    """
    fig = Figure(figsize=(11, 4.2))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.13, wspace=0.3)
    ax_t, ax_p = fig.subplots(1, 2, width_ratios=(2.2, 1))
    twin = None
    for i, (name, s) in enumerate(series.items()):
        if i == 0:
            twin = ax_t.twinx()
            twin.plot(s.index, s["rate_rps"], color="lightgrey", lw=1)
            twin.set_ylabel("offered load [req/s]", color="grey")
        ax_t.step(
            s.index,
            s["ready_instances"],
            where="post",
            color=f"C{i}",
            lw=1.2,
            label=f"{name}: ready",
        )
        if "floor" in s:
            ax_t.step(
                s.index,
                s["floor"],
                where="post",
                color=f"C{i}",
                lw=0.8,
                ls=":",
                label=f"{name}: forecast floor",
            )
    if twin is not None:
        ax_t.set_zorder(twin.get_zorder() + 1)
        ax_t.patch.set_visible(False)
    ax_t.set_xlabel("hours (replication 0)")
    ax_t.set_ylabel("instances")
    ax_t.legend(fontsize=8, loc="upper left")
    for i, name in enumerate(kpis.index):
        ax_p.scatter(
            kpis.loc[name, "cost_usd"],
            kpis.loc[name, "slo_minutes_violated"],
            color=f"C{i}",
            s=50,
            label=name,
        )
    ax_p.set_xlabel("cost [USD per run]")
    ax_p.set_ylabel("SLO minutes violated")
    ax_p.set_title("lower left is better", fontsize=9)
    ax_p.legend(fontsize=8)
    ax_p.margins(0.3)
    return fig


def pareto_sweep(
    base: Scenario | None = None,
    targets: Sequence[float] = (40, 50, 60, 70, 80),
    *,
    policies: Mapping[str, Policy] | Sequence[str] = ("reactive", "predictive"),
    startup_s: float = 120.0,
    forecaster: str = "profile-level",
    duration: str = "3D",
    step: str = "15s",
    replications: int = 4,
    seed: int = 0,
    trace: pd.Series | None = None,
) -> pd.DataFrame:
    """Cost and SLO minutes per policy and HPA target utilization.

    Returns
    -------
    pandas.DataFrame
        One row per (policy, target): ``policy``, ``target_utilization_percent``,
        the :data:`KPIS` and ``pareto`` (non-dominated on cost and SLO minutes
        over all rows).
    """
    rows = []
    for target in targets:
        out = compute_policies(
            base,
            startup_s=startup_s,
            forecaster=forecaster,
            target_utilization_percent=target,
            policies=policies,
            duration=duration,
            step=step,
            replications=replications,
            seed=seed,
            trace=trace,
        )
        frame = out.kpis.reset_index()
        frame.insert(1, "target_utilization_percent", target)
        rows.append(frame)
    table = pd.concat(rows, ignore_index=True)
    table["pareto"] = non_dominated(table["cost_usd"], table["slo_minutes_violated"])
    return table


def draw_pareto(table: pd.DataFrame) -> Figure:
    """Cost against SLO minutes per policy, labelled by target, the Pareto front joined."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for i, (name, part) in enumerate(table.groupby("policy", sort=False)):
        ax.plot(
            part["cost_usd"], part["slo_minutes_violated"], "o-", color=f"C{i}", lw=0.8, label=name
        )
        for _, row in part.iterrows():
            ax.annotate(
                f"{row['target_utilization_percent']:g} %",
                (row["cost_usd"], row["slo_minutes_violated"]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    front = table[table["pareto"]].sort_values("cost_usd")
    ax.plot(
        front["cost_usd"],
        front["slo_minutes_violated"],
        color="black",
        lw=2,
        alpha=0.3,
        label="Pareto front",
    )
    ax.set_xlabel("cost [USD per run]")
    ax.set_ylabel("SLO minutes violated")
    ax.set_title("cost versus SLO per policy (labels: HPA target utilization)", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def predictive_dashboard(
    base: Scenario | None = None,
    *,
    trace: pd.Series | None = None,
    duration: str = "3D",
    replications: int = 4,
    preview_duration: str = "3D",
    preview_replications: int = 1,
    seed: int = 0,
    settle_s: float | None = 0.6,
) -> Dashboard:
    """Start-up time, forecaster and target utilization over :func:`compute_policies`.

    The preview runs ``preview_duration`` with ``preview_replications``: the
    forecast needs a day of history plus about 30 minutes of calibration and is
    refitted daily, so it first acts on day 3 — shorter runs show no floor.
    Results are memoized per policy, so changing the forecaster does not
    re-simulate the reactive run.
    """
    controls = {
        "startup_s": widgets.FloatSlider(
            value=120.0, min=15.0, max=600.0, step=15.0, description="start-up [s]"
        ),
        "forecaster": widgets.Dropdown(
            options=FORECASTERS, value="profile-level", description="forecaster"
        ),
        "target_utilization_percent": widgets.IntSlider(
            value=60, min=30, max=90, step=5, description="target [%]"
        ),
    }
    cache: dict = {}

    def render(values: dict, coarse: bool) -> PolicyComparison:
        return compute_policies(
            base,
            **values,
            duration=preview_duration if coarse else duration,
            replications=preview_replications if coarse else replications,
            seed=seed,
            trace=trace,
            cache=cache,
        )

    return Dashboard(controls, render, settle_s=settle_s, title="reactive vs predictive scaling")
