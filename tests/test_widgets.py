"""Dashboards: the pure compute functions, and every widget callback driven directly.

ipywidgets swallows exceptions raised in callbacks, so the callbacks are
exercised here by setting control values and asserting on ``.result`` and the
figure.  Runs are short (1 day, 15 s step, 1-2 replications).
"""

from __future__ import annotations

import numpy as np
import pytest

from simkit.widgets import (
    POLICIES,
    capacity_dashboard,
    chaos_dashboard,
    compute_capacity,
    compute_chaos,
    compute_policies,
    compute_prod_vs_dev,
    draw_pareto,
    pareto_sweep,
    predictive_dashboard,
    prod_vs_dev_dashboard,
)
from simkit.widgets._common import with_peak
from simkit.widgets.chaos import with_fault
from simkit.widgets.prod_vs_dev import CAUSE_REASONS

PNG_MAGIC = b"\x89PNG"


# --------------------------------------------------------------------------- 02
def test_prod_beats_dev_and_every_gap_has_a_reason():
    out = compute_prod_vs_dev(replications=2, seed=1)
    assert list(out.kpis.index) == ["production", "development"]
    assert out.kpis.loc["production", "availability"] > out.kpis.loc["development", "availability"]
    assert (
        out.kpis.loc["production", "latency_p99_s"] < out.kpis.loc["development", "latency_p99_s"]
    )
    assert (out.errors["reason"] == [CAUSE_REASONS[c] for c in out.errors.index]).all()
    assert "deploy" in out.errors.index  # Docker Compose recreates the container on every deploy
    assert len(out.figure.axes) == 4
    assert out.slo_p99_s == pytest.approx(0.3)


def test_prod_vs_dev_edge_values():
    """Equal terms at the extremes: no deploys, very rare crashes, a small peak."""
    out = compute_prod_vs_dev(
        peak_rps=10.0, instance_mtbf_h=1e6, deploys_per_day=0.0, replications=1, seed=0
    )
    assert "deploy" not in out.errors.index
    assert out.kpis["availability"].min() > 0.99
    peak = with_peak(compute_prod_vs_dev.__globals__["load_scenario"]("production"), 90.0)
    from simkit.analysis import seasonal_peak_rps

    assert seasonal_peak_rps(peak, "1D") == pytest.approx(90.0)


def test_prod_vs_dev_dashboard_callbacks():
    dash = prod_vs_dev_dashboard(replications=1, settle_s=None)
    assert bytes(dash.image.value).startswith(PNG_MAGIC)
    before = dash.result.kpis.loc["development", "availability"]
    dash.controls["peak_rps"].value = 120.0  # far above one debug-mode process' capacity
    after = dash.result.kpis.loc["development", "availability"]
    assert after < before
    dash.controls["deploys_per_day"].value = 0.0
    assert "deploy" not in dash.result.errors.index
    dash.controls["instance_mtbf_h"].value = 10.0
    assert dash.values["instance_mtbf_h"] == pytest.approx(10.0)
    assert len(dash.figure.axes) == 4
    assert "full" in dash.status.value
    dash.close()


def test_dashboard_coarse_preview_then_full():
    """A change renders a coarse preview at once; update(coarse=False) is the settled render."""
    dash = prod_vs_dev_dashboard(replications=2, preview_replications=1, settle_s=60.0)
    dash.controls["peak_rps"].value = 70.0
    assert "preview" in dash.status.value
    dash.update(coarse=False)
    assert "full" in dash.status.value
    dash.close()  # cancels the pending timer


def test_dashboard_shows_errors_in_the_status_line():
    dash = chaos_dashboard(replications=1, settle_s=None)
    good = dash.result
    dash._render = lambda values, coarse: compute_chaos("no-such-fault")
    dash.controls["at_h"].value = 6.0
    assert "no-such-fault" in dash.status.value
    assert dash.result is good  # the last good figure stays
    dash.close()


# --------------------------------------------------------------------------- 03
def test_predictive_floor_after_day_one():
    out = compute_policies(duration="3D", replications=1, seed=0)
    assert list(out.kpis.index) == ["reactive", "predictive"]
    assert out.kpis.loc["predictive", "floor_after_day1"] > 0
    assert np.isnan(out.kpis.loc["reactive", "floor_after_day1"])
    assert "floor" in out.series["predictive"] and "floor" not in out.series["reactive"]
    assert out.series["predictive"]["floor"].iloc[:96].max() == 0  # no floor on day 1
    assert len(out.figure.axes) == 3  # timeline, its load twin, the cost/SLO scatter


def test_policies_are_a_registry():
    """A further policy is one more entry; the learned policy is registered like the others."""
    assert set(POLICIES) == {"reactive", "predictive", "learned"}
    fixed = {
        "fixed-6": lambda s: s.replace(
            autoscaling__policy="fixed", autoscaling__replicas=6, forecasting__enabled=False
        )
    }
    out = compute_policies(policies={**POLICIES, **fixed}, duration="1D", replications=1)
    assert list(out.kpis.index) == ["reactive", "predictive", "learned", "fixed-6"]
    assert out.kpis.loc["fixed-6", "mean_instances"] == pytest.approx(6.0)


def test_predictive_bad_forecaster_is_an_error():
    from simkit.errors import SimkitError

    with pytest.raises(SimkitError, match="forecaster"):
        compute_policies(forecaster="crystal-ball", duration="1D", replications=1)


def test_pareto_sweep_and_plot():
    table = pareto_sweep(targets=(50, 80), duration="1D", replications=1)
    assert len(table) == 4 and table["pareto"].any()
    cheap = table.set_index(["policy", "target_utilization_percent"])["cost_usd"]
    assert cheap[("reactive", 80)] < cheap[("reactive", 50)]  # higher target, fewer pods
    assert len(draw_pareto(table).axes) == 1


def test_predictive_dashboard_callbacks():
    dash = predictive_dashboard(duration="1D", replications=1, preview_duration="1D", settle_s=None)
    assert bytes(dash.image.value).startswith(PNG_MAGIC)
    low = dash.result.kpis.loc["reactive", "cost_usd"]
    dash.controls["target_utilization_percent"].value = 90
    assert dash.result.kpis.loc["reactive", "cost_usd"] < low
    dash.controls["forecaster"].value = "holt-winters"
    dash.controls["startup_s"].value = 600.0
    assert list(dash.result.kpis.index) == ["reactive", "predictive"]
    dash.close()


# --------------------------------------------------------------------------- 04
@pytest.mark.parametrize("fault", ["bad_deploy", "db_primary_down", "region_down"])
def test_chaos_faults(fault):
    out = compute_chaos(fault, at_h=6.0, duration_min=30.0, replications=1, seed=3)
    assert list(out.kpis.index) == ["production", "development", "experimental"]
    if fault == "bad_deploy":  # releases come at random times: some replication has one
        assert out.kpis["incidents"].sum() > 0
    else:  # chaos experiments hit every replication at the same time
        assert (out.kpis["incidents"] >= 1).all()
    assert len(out.figure.axes) == 3
    assert set(out.alerts.columns) == {"profile", "alert", "severity", "start_h", "end_h"}


def test_region_outage_fails_over_only_with_several_regions():
    out = compute_chaos("region_down", at_h=6.0, duration_min=60.0, replications=1)
    recover = out.kpis["mean_time_to_recover_s"]
    assert recover["experimental"] < 600.0 < recover["production"]  # GeoDNS vs one region


def test_with_fault_region_is_the_first_region():
    from simkit import load_scenario

    s = with_fault(load_scenario("development"), "region_down", 1.0, 10.0)
    assert s.chaos.experiments[0].region == "local"


def test_chaos_dashboard_callbacks():
    dash = chaos_dashboard(replications=1, settle_s=None)
    dash.controls["fault"].value = "region_down"
    assert dash.result.kpis.loc["production", "errors"] > 0
    dash.controls["duration_min"].value = 120.0
    dash.controls["at_h"].value = 3.0
    assert len(dash.figure.axes) == 3
    dash.close()


# --------------------------------------------------------------------------- 05
def test_capacity_matches_erlang_c_and_grows_with_peak():
    small = compute_capacity(60.0, replications=2)
    big = compute_capacity(240.0, replications=2)
    assert small.erlang_c_instances <= big.erlang_c_instances
    assert big.plan.value >= big.erlang_c_instances
    assert big.summary.loc["simulator (failures)", "cost_usd_per_month"] > 0


def test_capacity_dashboard_callbacks():
    dash = capacity_dashboard(replications=2, settle_s=None)
    n = dash.result.plan.value
    dash.controls["peak_rps"].value = 240.0
    assert dash.result.plan.value > n
    dash.controls["availability"].value = 0.99
    dash.controls["slo_p99_ms"].value = 30.0  # below what the backend allows: an error shown
    assert "slo" in dash.status.value.lower()
    dash.close()
