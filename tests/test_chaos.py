"""Chaos experiments and region outages: the same fault in every replication."""

from __future__ import annotations

import numpy as np
import pytest

import simkit
from simkit.regions import failover_s
from tests.conftest import constant_load_scenario

NOON_S = 12 * 3600.0


def _with_chaos(scenario, *experiments):
    return scenario.replace(chaos={"enabled": True, "experiments": list(experiments)})


def _window_requests(r, start_s, end_s):
    first, last = int(start_s / r.step_s), int(end_s / r.step_s)
    return r.arrivals[:, first:last].sum(axis=1, dtype=np.float64)


def test_single_region_outage_fails_everything_until_it_is_back():
    s = _with_chaos(
        constant_load_scenario(100.0, instances=3),
        {"kind": "region_down", "region": "us-east-1", "at_s": NOON_S, "duration_s": 1800.0},
    )
    r = simkit.simulate(s, duration="1D", replications=3, seed=2)
    k = simkit.kpis(r)
    expected = _window_requests(r, NOON_S, NOON_S + 1800.0)
    assert k["errors_region"].to_numpy() == pytest.approx(expected, rel=1e-6)
    assert (k["downtime_s"] == 1800.0).all()
    assert (k["mean_time_to_recover_s"] == 1800.0).all()


def test_multi_region_outage_fails_only_its_share_until_dns_failover():
    exp = simkit.load_scenario("experimental")
    s = _with_chaos(
        exp.replace(deployment__deploys_per_day=0.0),
        {"kind": "region_down", "region": "us-east-1", "at_s": NOON_S, "duration_s": 1800.0},
    )
    r = simkit.simulate(s, duration="1D", replications=3, seed=2)
    k = simkit.kpis(r)
    share = 0.4  # us-east-1's traffic share in the experimental profile
    expected = share * _window_requests(r, NOON_S, NOON_S + failover_s())
    assert k["errors_region"].to_numpy() == pytest.approx(expected, rel=1e-6)
    # The database primary lived in us-east-1 too: writes fail until the cluster
    # elects a new leader (detection + failover_s), on top of the region's share.
    assert (k["errors_database"] > 0).all()
    assert (k["downtime_s"] <= failover_s()).all()
    region = [i for i in r.incidents if i.kind == "region"]
    assert len(region) == 3
    assert all(i.recovered_s - i.start_s == pytest.approx(failover_s()) for i in region)


def test_fail_requests_and_latency_injection():
    base = constant_load_scenario(100.0, instances=3)
    s = _with_chaos(
        base,
        {"kind": "fail_requests", "at_s": 3600.0, "duration_s": 600.0, "failed_fraction": 0.25},
        {"kind": "latency", "at_s": 7200.0, "duration_s": 900.0, "added_ms": 400.0},
    )
    r = simkit.simulate(s, duration="4h", replications=2, seed=4)
    k = simkit.kpis(r)
    expected = 0.25 * _window_requests(r, 3600.0, 4200.0)
    assert k["errors_chaos"].to_numpy() == pytest.approx(expected, rel=1e-6)
    quiet = r.latency_p99_s[:, :3600].max()
    slow = r.latency_p99_s[:, 7200:8100]
    assert np.allclose(slow, quiet + 0.4, rtol=1e-5)
    assert (k["slo_minutes_violated"] >= 15).all()


def test_kill_instances_takes_capacity_out_for_the_repair_time():
    s = _with_chaos(
        constant_load_scenario(100.0, instances=4),
        {"kind": "kill_instances", "at_s": 3600.0, "instances": 2},
    )
    r = simkit.simulate(s, duration="2h", replications=2, seed=4)
    mttr = s.failures.instance_mttr_s
    during = slice(int(3600 / r.period_s), int((3600 + mttr) / r.period_s))
    assert (r.ready_instances[:, during] == 2).all()
    assert (r.ready_instances[:, : during.start] == 4).all()
    assert (simkit.kpis(r)["errors_chaos"] > 0).all()


def test_kill_instances_honours_its_duration():
    """S3 of the transient validation: 8 of 16 instances down from minute 20 for 600 s."""
    s = constant_load_scenario(112.0, 16, service_time_ms=100.0).replace(
        chaos={
            "enabled": True,
            "experiments": [
                {"kind": "kill_instances", "at_s": 1200.0, "duration_s": 600.0, "instances": 8}
            ],
        }
    )
    r = simkit.simulate(s, duration="1h", step="1s", replications=2, seed=0)
    minute = np.arange(r.ready_instances.shape[1]) * r.period_s / 60.0
    ready = r.ready_instances
    assert (ready[:, minute < 20] == 16).all()
    assert (ready[:, (minute >= 20) & (minute < 30)] == 8).all()
    assert (ready[:, minute >= 30] == 16).all()  # back at minute 30, not after instance_mttr_s
