"""Analysis of simulation results: the answers a person can defend.

- :mod:`~simkit.analysis.kpis`: :func:`kpis`, the one KPI table of a run
  (:data:`KPI_COLUMNS` documents every column with its unit), and :func:`kpi_frame`.
- :mod:`~simkit.analysis.stats`: bootstrap confidence intervals over
  replications (:func:`summarize`, :func:`bootstrap_ci`) and :func:`compare`,
  which adds a named significance test against a baseline scenario.
- :mod:`~simkit.analysis.slo`: SLO minutes, error budgets and burn rates over time.
- :mod:`~simkit.analysis.capacity`: :func:`capacity_plan` on the simulator,
  and :func:`analytic_instances` (Erlang C).
- :mod:`~simkit.analysis.pareto`: :func:`pareto` fronts of sweeps.
- :mod:`~simkit.analysis.fitting`: :func:`fit_failure_times` (MTBF/MTTR recovered?).
"""

from __future__ import annotations

from simkit.analysis.capacity import (
    AnalyticPlan,
    CapacityPlan,
    analytic_instances,
    analytic_plan,
    capacity_plan,
    seasonal_peak_rps,
)
from simkit.analysis.fitting import failure_intervals, fit_failure_times
from simkit.analysis.kpis import ID_COLUMNS, KPI_COLUMNS, kpi_frame, kpis
from simkit.analysis.pareto import non_dominated, pareto
from simkit.analysis.slo import burn_rate, error_budget, minute_series
from simkit.analysis.stats import TESTS, bootstrap_ci, compare, significance_test, summarize

__all__ = [
    "ID_COLUMNS",
    "KPI_COLUMNS",
    "TESTS",
    "AnalyticPlan",
    "CapacityPlan",
    "analytic_instances",
    "analytic_plan",
    "bootstrap_ci",
    "burn_rate",
    "capacity_plan",
    "compare",
    "error_budget",
    "failure_intervals",
    "fit_failure_times",
    "kpi_frame",
    "kpis",
    "minute_series",
    "non_dominated",
    "pareto",
    "seasonal_peak_rps",
    "significance_test",
    "summarize",
]
