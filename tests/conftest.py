"""Shared fixtures: small scenarios with known analytic answers."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import simkit
from simkit.scenario import Scenario

matplotlib.use("Agg")

#: ../shared beside the repository (present in CI); tests that need it skip without it.
SHARED = Path(__file__).resolve().parents[2] / "shared"


def constant_load_scenario(
    rate_rps: float, instances: int, service_time_ms: float = 10.0, **changes: object
) -> Scenario:
    """One fixed pool of instances under a constant Poisson load, no failures or backend."""
    base = {
        "workload__mean_rate_rps": rate_rps,
        "workload__diurnal_amplitude": 0.0,
        "workload__weekend_factor": 1.0,
        "workload__noise_sd": 0.0,
        "workload__flash_crowds_per_day": 0.0,
        "autoscaling__policy": "fixed",
        "autoscaling__replicas": instances,
        "autoscaling__min_replicas": instances,
        "autoscaling__max_replicas": instances,
        "service__service_time_ms": service_time_ms,
        "service__tls_overhead": 0.0,
        "service__debug_overhead": 0.0,
        "service__logging_overhead": 0.0,
        "failures__instance_mtbf_h": 1e7,
        "database__queries_per_request": 0.0,
        "cache__enabled": False,
        "deployment__deploys_per_day": 0.0,
        "database__primary_mtbf_h": 1e7,
    }
    base.update(changes)
    return simkit.load_scenario("production").replace(name="constant", **base)


def overload_trace(base_rps: float, peak_rps: float) -> pd.Series:
    """4 h at 1 min resolution: 1 h at ``base_rps``, 1 h at ``peak_rps``, 2 h at base."""
    index = pd.date_range("2024-01-01", periods=240, freq="1min", tz="UTC")
    rate = np.full(240, base_rps)
    rate[60:120] = peak_rps
    trace = pd.Series(rate, index=index)
    trace.attrs["interval_s"] = 60.0
    return trace


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
