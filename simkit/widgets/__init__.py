"""Dashboards for the notebooks: ipywidgets controls over pure compute functions.

Each dashboard module has a pure ``compute_*`` function (plain data and a
matplotlib Figure from a ``draw_*`` function) that tests call directly, and a
thin ``*_dashboard`` that wires controls to it (:class:`Dashboard`).

======================  ===========================  ==========================
dashboard               compute                      notebook
======================  ===========================  ==========================
prod_vs_dev_dashboard   compute_prod_vs_dev          02-production-vs-development
predictive_dashboard    compute_policies             03-predictive-scaling
chaos_dashboard         compute_chaos                04-failures-and-chaos
capacity_dashboard      compute_capacity             05-capacity-planning
======================  ===========================  ==========================
"""

from __future__ import annotations

from simkit.widgets._base import Dashboard, figure_png
from simkit.widgets.capacity import CapacityOutcome, capacity_dashboard, compute_capacity
from simkit.widgets.chaos import ChaosOutcome, chaos_dashboard, compute_chaos, draw_chaos
from simkit.widgets.predictive import (
    POLICIES,
    PolicyComparison,
    compute_policies,
    draw_pareto,
    draw_policies,
    pareto_sweep,
    policy_descriptions,
    predictive_dashboard,
    scaling_scenario,
)
from simkit.widgets.prod_vs_dev import (
    ProdVsDev,
    compute_prod_vs_dev,
    draw_prod_vs_dev,
    prod_vs_dev_dashboard,
)

__all__ = [
    "POLICIES",
    "CapacityOutcome",
    "ChaosOutcome",
    "Dashboard",
    "PolicyComparison",
    "ProdVsDev",
    "capacity_dashboard",
    "chaos_dashboard",
    "compute_capacity",
    "compute_chaos",
    "compute_policies",
    "compute_prod_vs_dev",
    "draw_chaos",
    "draw_pareto",
    "draw_policies",
    "draw_prod_vs_dev",
    "figure_png",
    "pareto_sweep",
    "policy_descriptions",
    "predictive_dashboard",
    "prod_vs_dev_dashboard",
    "scaling_scenario",
]
