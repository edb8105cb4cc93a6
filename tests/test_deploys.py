"""Deployments: zero-downtime rolling updates, recreate downtime, bad releases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import simkit
from simkit.deploys import BAD_RELEASE_ERROR_FRACTION, deploy_schedule
from simkit.engine import component_seeds
from tests.conftest import constant_load_scenario


def test_rolling_update_without_unavailability_loses_nothing():
    """max_unavailable = 0 and a surge pod: capacity never drops, so errors are unchanged."""
    base = constant_load_scenario(200.0, instances=4)
    deploying = base.replace(
        deployment__deploys_per_day=24.0,
        deployment__strategy="rolling",
        deployment__max_surge=1,
        deployment__max_unavailable=0,
        deployment__bad_release_probability=0.0,
    )
    a = simkit.simulate(base, duration="1D", replications=4, seed=3)
    b = simkit.simulate(deploying, duration="1D", replications=4, seed=3)
    assert np.array_equal(a.errors, b.errors)
    assert np.array_equal(a.latency_p99_s, b.latency_p99_s)
    # ... but the surge pod is paid for while each rollout runs.
    assert (simkit.kpis(b)["instance_hours"] > simkit.kpis(a)["instance_hours"]).all()


def test_rolling_update_with_unavailable_pods_costs_capacity():
    s = constant_load_scenario(340.0, instances=4).replace(
        deployment__deploys_per_day=24.0,
        deployment__max_surge=0,
        deployment__max_unavailable=1,
        deployment__bad_release_probability=0.0,
    )
    r = simkit.simulate(s, duration="1D", replications=2, seed=3)
    assert (r.ready_instances.min(axis=1) == 3).all()  # one pod out at a time
    assert (simkit.kpis(r)["latency_p99_s"] > 0).all()


def test_recreate_deploy_loses_exactly_the_requests_of_its_downtime():
    """Docker Compose recreate: every request offered while the service restarts fails."""
    s = constant_load_scenario(50.0, instances=1).replace(
        deployment__deploys_per_day=48.0,
        deployment__strategy="recreate",
        deployment__max_surge=0,
        deployment__max_unavailable=1,
        deployment__bad_release_probability=0.0,
        autoscaling__startup_s=7.0,
    )
    r = simkit.simulate(s, duration="1D", replications=3, seed=5)
    schedule = deploy_schedule(component_seeds(5, 3)["deploys"], 48.0, 86400.0, 0.0)
    for rep, (times, _) in enumerate(schedule):
        assert times.size > 20
        covered = np.zeros(r.n_steps)  # share of each 1 s step inside a restart
        for t in times:
            first, last = int(np.floor(t)), int(np.ceil(t + 7.0))
            steps = np.arange(first, min(last, r.n_steps))
            covered[steps] += np.minimum(steps + 1, t + 7.0) - np.maximum(steps, t)
        expected = float((r.arrivals[rep] * np.minimum(covered, 1.0)).sum())
        # Float32 per-step errors, summed: exact to float rounding.
        assert r.errors[rep].sum(dtype=np.float64) == pytest.approx(expected, rel=1e-6)
        assert simkit.kpis(r)["errors_deploy"][rep] == pytest.approx(expected, rel=1e-6)


def test_bad_release_is_detected_and_rolled_back():
    s = constant_load_scenario(200.0, instances=4).replace(
        deployment__deploys_per_day=4.0,
        deployment__bad_release_probability=1.0,
        deployment__tests_gate=False,
    )
    r = simkit.simulate(s, duration="1D", replications=2, seed=1)
    k = simkit.kpis(r)
    assert (k["incidents"] > 0).all()
    assert (k["errors_bad_release"] > 0).all()
    # Never more than the bad instances' share of failures.
    assert (r.error_fraction <= BAD_RELEASE_ERROR_FRACTION + 1e-6).all()
    for inc in r.incidents:
        assert inc.kind == "bad_release"
        assert inc.start_s < inc.detected_s < inc.recovered_s
    # A detection rule held 10 min longer detects exactly 10 min later (the ramp has
    # crossed the threshold long before), and the longer exposure fails more requests.
    rules = list(s.monitoring.rules)
    rules[0] = dataclasses.replace(rules[0], for_s=rules[0].for_s + 600.0)
    slow_run = simkit.simulate(
        s.replace(monitoring__rules=rules), duration="1D", replications=2, seed=1
    )
    slow = simkit.kpis(slow_run)
    np.testing.assert_allclose(
        slow["mean_time_to_detect_s"], k["mean_time_to_detect_s"] + 600.0, atol=1e-6
    )
    assert (slow["errors_bad_release"] > k["errors_bad_release"]).all()
