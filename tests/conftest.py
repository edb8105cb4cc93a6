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


def queue_scenario(servers: int, mu: float = 10.0, **changes: object) -> Scenario:
    """A pure FCFS M/M/c queue: ``servers`` workers of rate ``mu`` [1/s], no timeout,
    no queue limit, no instance crashes (the transient reference scenarios)."""
    return constant_load_scenario(
        1.0,
        servers,
        service_time_ms=1e3 / mu,
        service__timeout_s=3600.0,
        service__queue_limit_per_instance=10**7,
        failures__enabled=False,
        failures__detection_s=0.0,  # killed instances leave the balancer at once
        **changes,
    )


def per_second_trace(rate_rps: np.ndarray) -> pd.Series:
    """A rate trace at 1 s resolution starting 2024-01-01 [1/s]."""
    index = pd.date_range("2024-01-01", periods=rate_rps.size, freq="1s", tz="UTC")
    trace = pd.Series(rate_rps, index=index)
    trace.attrs["interval_s"] = 1.0
    return trace


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
