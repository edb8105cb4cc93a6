"""Dashboard 05: how many instances meet the SLO at a peak, and what they cost.

:func:`compute_capacity` puts the Erlang C answer
(:func:`simkit.analysis.capacity.analytic_plan`) beside the simulator's
(:func:`simkit.analysis.capacity_plan`, failures included) and draws the plan
with :func:`simkit.plotting.plot_capacity_plan`.  Both add the same cache +
database latency (:func:`simkit.database.backend_latency_at_s`); past the
database's capacity both answer "database-bound" (no instance count).
"""

from __future__ import annotations

from dataclasses import dataclass

import ipywidgets as widgets
import pandas as pd
from matplotlib.figure import Figure

from simkit.analysis import CapacityPlan, capacity_plan
from simkit.analysis.capacity import HOURS_PER_MONTH, AnalyticPlan, analytic_plan
from simkit.cost import instance_price_usd_per_h
from simkit.io import load_scenario
from simkit.plotting import plot_capacity_plan
from simkit.widgets._base import Dashboard

__all__ = ["CapacityOutcome", "capacity_dashboard", "compute_capacity"]


@dataclass(frozen=True, eq=False)
class CapacityOutcome:
    """Output of :func:`compute_capacity`.

    Attributes
    ----------
    plan : CapacityPlan
        The simulator's answer and its curve.
    erlang_c_instances : int or None
        The analytic answer (constant Poisson load, no failures); ``None`` when
        the database bounds the service.
    summary : pandas.DataFrame
        One row per method: ``instances``, ``cost_usd_per_month`` (NaN without
        an answer) and ``database_bound_rps`` (the database's capacity [1/s]
        when it is the bottleneck, else NaN).
    figure : matplotlib.figure.Figure
    analytic : AnalyticPlan or None
        The full analytic answer (its ``summary()`` says why).
    """

    plan: CapacityPlan
    erlang_c_instances: int | None
    summary: pd.DataFrame
    figure: Figure
    analytic: AnalyticPlan | None = None


def compute_capacity(
    peak_rps: float = 120.0,
    slo_p99_ms: float = 300.0,
    availability: float = 0.999,
    *,
    profile: str = "production",
    probability: float = 0.9,
    duration: str = "1h",
    step: str = "15s",
    replications: int = 8,
    seed: int = 0,
) -> CapacityOutcome:
    """Fewest instances for the SLO at a constant peak: Erlang C and the simulator.

    Returns
    -------
    CapacityOutcome
    """
    scenario = load_scenario(profile)
    slo = {"latency_p99_s": slo_p99_ms / 1e3, "availability": availability}
    analytic = analytic_plan(scenario, float(peak_rps), slo)
    plan = capacity_plan(
        scenario,
        slo,
        float(peak_rps),
        probability=probability,
        duration=duration,
        step=step,
        replications=replications,
        seed=seed,
    )
    price = instance_price_usd_per_h(scenario)
    nan = float("nan")
    summary = pd.DataFrame(
        {
            "instances": [analytic.value, plan.value],
            "cost_usd_per_month": [
                nan if analytic.value is None else analytic.value * price * HOURS_PER_MONTH,
                plan.cost_usd_per_month,
            ],
            "database_bound_rps": [
                nan if b is None else b
                for b in (analytic.database_bound_rps, plan.database_bound_rps)
            ],
        },
        index=pd.Index(["Erlang C (no failures)", "simulator (failures)"], name="method"),
    )
    fig = plot_capacity_plan({profile: plan})
    return CapacityOutcome(plan, analytic.value, summary, fig, analytic)


def capacity_dashboard(
    *,
    replications: int = 8,
    preview_replications: int = 2,
    seed: int = 0,
    settle_s: float | None = 0.6,
) -> Dashboard:
    """Peak load, p99 objective and availability over :func:`compute_capacity`."""
    controls = {
        "peak_rps": widgets.FloatSlider(
            value=120.0, min=10.0, max=600.0, step=10.0, description="peak [req/s]"
        ),
        "slo_p99_ms": widgets.FloatSlider(
            value=300.0, min=30.0, max=1000.0, step=10.0, description="SLO p99 [ms]"
        ),
        "availability": widgets.Dropdown(
            options=(0.99, 0.999, 0.9999), value=0.999, description="availability"
        ),
    }

    def render(values: dict, coarse: bool) -> CapacityOutcome:
        return compute_capacity(
            **values, replications=preview_replications if coarse else replications, seed=seed
        )

    return Dashboard(controls, render, settle_s=settle_s, title="capacity planning")
