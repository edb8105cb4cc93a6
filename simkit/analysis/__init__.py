"""Analysis of simulation results: the answers a person can defend.

- :mod:`~simkit.analysis.stats`: bootstrap confidence intervals over
  replications (:func:`summarize`, :func:`bootstrap_ci`) and :func:`compare`,
  which adds a named significance test against a baseline scenario.
- :mod:`~simkit.analysis.slo`: good minutes, error budgets, burn rates and
  multi-window multi-burn-rate alerts.
- :mod:`~simkit.analysis.capacity`: :func:`capacity_plan` on the simulator,
  and :func:`analytic_instances` (Erlang C).
- :mod:`~simkit.analysis.pareto`: :func:`pareto` fronts of sweeps.
- :mod:`~simkit.analysis.fitting`: :func:`fit_failure_times` (MTBF/MTTR recovered?).
"""

from __future__ import annotations

from simkit.analysis.capacity import (
    CapacityPlan,
    analytic_instances,
    capacity_plan,
    seasonal_peak_rps,
)
from simkit.analysis.fitting import failure_intervals, fit_failure_times
from simkit.analysis.pareto import non_dominated, pareto
from simkit.analysis.slo import (
    DEFAULT_ALERTS,
    AlertRule,
    alert_counts,
    burn_rate,
    error_budget,
    minute_series,
    slo_kpis,
)
from simkit.analysis.stats import (
    TESTS,
    bootstrap_ci,
    compare,
    kpi_frame,
    significance_test,
    summarize,
)

__all__ = [
    "DEFAULT_ALERTS",
    "TESTS",
    "AlertRule",
    "CapacityPlan",
    "alert_counts",
    "analytic_instances",
    "bootstrap_ci",
    "burn_rate",
    "capacity_plan",
    "compare",
    "error_budget",
    "failure_intervals",
    "fit_failure_times",
    "kpi_frame",
    "minute_series",
    "non_dominated",
    "pareto",
    "seasonal_peak_rps",
    "significance_test",
    "slo_kpis",
    "summarize",
]
