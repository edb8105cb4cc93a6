"""simkit: Monte Carlo capacity, latency and failure simulation of a web service.

Quick start::

    import simkit
    prod = simkit.load_scenario("production")
    result = simkit.simulate(prod, duration="1D", replications=8, seed=1)
    simkit.kpis(result)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from simkit.analysis.kpis import KPI_COLUMNS, kpis
from simkit.engine import simulate
from simkit.errors import ScenarioError, SimkitError, TraceError
from simkit.io import list_profiles, load_scenario, read_trace
from simkit.result import SimResult
from simkit.scenario import Scenario

try:
    __version__ = version("simkit")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "KPI_COLUMNS",
    "Scenario",
    "ScenarioError",
    "SimResult",
    "SimkitError",
    "TraceError",
    "__version__",
    "kpis",
    "list_profiles",
    "load_scenario",
    "read_trace",
    "simulate",
]
