"""One detection model: an incident's detection is the first firing of its rule.

The failure mechanisms date their incidents on their own error ratio
(:mod:`simkit.detection`); the monitoring output evaluates the same rules on the
run's monitoring series independently.  These tests inject one failure of each
kind into each profile and require the two to agree to one evaluation interval.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import simkit
from simkit.detection import evaluate, incident_detected_s, step_detected_s
from simkit.engine import simulate
from simkit.errors import ScenarioError
from simkit.io import load_scenario
from simkit.monitoring import first_firing_after_s
from simkit.scenario import INCIDENT_KINDS, AlertRule, Scenario

PROFILES = ("production", "development", "experimental")
KINDS = ("bad_release", "database", "region", "instance_crash")
AT_S = 6 * 3600.0


def _quiet(name: str) -> Scenario:
    """A profile with no random failures, no deploys and light load (no overload errors)."""
    s = load_scenario(name)
    return s.replace(
        failures__instance_mtbf_h=1e6,
        database__primary_mtbf_h=1e6,
        deployment__deploys_per_day=0.0,
        workload__mean_rate_rps=10.0,
        workload__flash_crowds_per_day=0.0,
    )


def _inject(s: Scenario, kind: str) -> Scenario:
    if kind == "bad_release":
        return s.replace(
            deployment__deploys_per_day=3.0,
            deployment__bad_release_probability=1.0,
            deployment__tests_gate=False,
        )
    experiment = {
        "database": {"kind": "db_primary_down", "at_s": AT_S, "duration_s": 1800.0},
        "region": {
            "kind": "region_down",
            "at_s": AT_S,
            "duration_s": 1800.0,
            "region": s.regions[0].name,
        },
        "instance_crash": {
            "kind": "kill_instances",
            "at_s": AT_S,
            "duration_s": 1200.0,
            "instances": s.autoscaling.replicas,
        },
    }[kind]
    return s.replace(chaos={"enabled": True, "experiments": [experiment]})


def _isolated(result: simkit.SimResult) -> list[bool]:
    """Incidents that start while no other incident of the replication is active.

    When one starts during another, its rule may already be firing (Prometheus
    does not fire again), so the monitoring output cannot date it.
    """
    return [
        not any(
            o.replication == inc.replication and o.start_s < inc.start_s < o.recovered_s
            for o in result.incidents
        )
        for inc in result.incidents
    ]


def _monitoring_detection_s(result: simkit.SimResult) -> list[tuple[float, float]]:
    """(incident's detected_s, its rule's first firing in the monitoring output) pairs."""
    pairs = []
    for inc in result.incidents:
        rule = result.scenario.monitoring.detection_rule(inc.kind).name
        fired = first_firing_after_s(result, rule, inc.replication, inc.start_s)
        if fired > inc.recovered_s:  # fired for something later, not for this incident
            fired = math.nan
        pairs.append((inc.detected_s, fired))
    return pairs


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("profile", PROFILES)
def test_detection_equals_first_firing_of_the_rule(profile: str, kind: str) -> None:
    s = _inject(_quiet(profile), kind)
    result = simulate(s, duration="1D", step="15s", replications=2, seed=5)
    assert kind in {inc.kind for inc in result.incidents}
    pairs = _monitoring_detection_s(result)
    isolated = _isolated(result)
    eval_s = s.monitoring.eval_interval_s
    for (own, seen), alone in zip(pairs, isolated, strict=True):
        if alone:
            assert np.isfinite(own) and np.isfinite(seen)
            assert abs(own - seen) <= eval_s + 1e-9
    assert sum(isolated) >= 2
    # The KPI is the mean of the same delays.
    k = simkit.kpis(result)
    for r in range(result.replications):
        rows = [
            (inc, seen)
            for inc, (_, seen), alone in zip(result.incidents, pairs, isolated, strict=True)
            if inc.replication == r
        ]
        if not all(isolated[i] for i, inc in enumerate(result.incidents) if inc.replication == r):
            continue
        delays = [seen - inc.start_s for inc, seen in rows]
        assert k.loc[r, "incidents_detected"] == len(delays)
        assert k.loc[r, "mean_time_to_detect_s"] == pytest.approx(np.mean(delays), abs=eval_s)


def test_crash_without_health_check_waits_for_its_rule() -> None:
    """Development: a crashed process stays down until the console rule fires."""
    s = _quiet("development").replace(failures__instance_mtbf_h=6.0)
    assert not s.failures.health_check
    result = simulate(s, duration="2D", step="15s", replications=2, seed=3)
    crashes = [i for i in result.incidents if i.kind == "instance_crash"]
    assert len(crashes) >= 4
    rule = s.monitoring.detection_rule("instance_crash")
    for inc, (own, seen) in zip(result.incidents, _monitoring_detection_s(result), strict=True):
        if inc.kind != "instance_crash":
            continue
        assert rule.for_s <= own - inc.start_s <= rule.for_s + 3 * s.monitoring.eval_interval_s
        assert inc.recovered_s > own  # the restart starts at detection
        assert abs(own - seen) <= s.monitoring.eval_interval_s + 1e-9


def test_step_detection_matches_the_general_evaluation() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        period_s = float(rng.choice([5.0, 15.0, 30.0]))
        eval_s = float(rng.choice([5.0, 15.0, 20.0, 60.0]))
        for_s = float(rng.choice([0.0, 30.0, 60.0, 300.0, 17.0]))
        rule = AlertRule(threshold=0.05, for_s=for_s, detects=INCIDENT_KINDS)
        s = Scenario().replace(
            monitoring__eval_interval_s=eval_s,
            monitoring__rules=[rule],
        )
        first = int(rng.integers(0, 50))
        n = first + 10 + math.ceil((for_s + 2 * eval_s) / period_s)
        series = np.zeros(n - first + 5)
        series[:] = 1.0
        general = incident_detected_s(s, "instance_crash", series, first, period_s)
        closed = step_detected_s(s, "instance_crash", np.array([first]), 1.0, period_s)[0]
        assert closed == pytest.approx(general, abs=1e-9), (period_s, eval_s, for_s, first)


def test_prometheus_for_semantics_by_hand() -> None:
    """Samples of 15 s; evaluation every 15 s; condition from sample 4 on; for 60 s."""
    rule = AlertRule(threshold=0.5, for_s=60.0)
    values = np.zeros((1, 20))
    values[0, 4:12] = 1.0
    f = evaluate(rule, values, 15.0, 15.0)
    # Sample 4 ends at 75 s: pending at 75 s, firing at 75 + 60 = 135 s; sample 12
    # (no longer holding) is seen at 195 s, when the alert resolves.
    assert f.start_s.tolist() == [135.0]
    assert f.end_s.tolist() == [195.0]
    assert f.resolved.tolist() == [True]


def test_windowed_rule_is_a_ratio_of_sums() -> None:
    """A burn-rate rule divides errors by requests over its window (not a mean of ratios)."""
    rule = AlertRule(threshold=0.1, for_s=0.0, window_s=60.0)
    ratio = np.array([[0.0, 0.0, 0.0, 0.5]])  # 15 s samples, one window of 4
    busy = np.array([[100.0, 100.0, 100.0, 100.0]])
    quiet_end = np.array([[100.0, 100.0, 100.0, 10.0]])
    assert evaluate(rule, ratio, 15.0, weights=busy).start_s.tolist() == [60.0]  # 50/400
    assert evaluate(rule, ratio, 15.0, weights=quiet_end).start_s.size == 0  # 5/310


def test_every_incident_kind_needs_exactly_one_detection_rule() -> None:
    rules = [AlertRule("A", detects=("bad_release", "database", "region", "instance_crash"))]
    with pytest.raises(ScenarioError, match=r"monitoring\.rules detect 'chaos' in 0 rules"):
        Scenario().replace(monitoring__rules=rules)
    with pytest.raises(ScenarioError, match="needs series = 'error_ratio'"):
        AlertRule(series="cpu_percent", detects=("chaos",))
