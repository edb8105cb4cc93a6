"""One backend-latency model: the analytic capacity check and the simulator agree.

Both add :func:`simkit.database.backend_latency_at_s` (the engine's
``database_latency`` with every node up) to the app tier's p99, and both answer
"database-bound at N req/s" with N = :func:`simkit.database.database_capacity_rps`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import simkit
from simkit import analysis, queueing
from simkit.analysis.capacity import analytic_plan
from simkit.database import (
    DB_WAIT_CAP_S,
    backend_latency_at_s,
    database_capacity_rps,
    database_effects,
    database_latency,
)
from simkit.engine import component_seeds
from simkit.errors import SimkitError

#: Capacity-plan settings that keep the test quick (as the dashboard's: 15 s steps).
PLAN = {"replications": 4, "duration": "1h", "step": "15s", "curve_margin": 0}


def _without_failures(profile: str) -> simkit.Scenario:
    """The profile with the failure sources the analytic answer ignores switched off."""
    return simkit.load_scenario(profile).replace(
        failures__instance_mtbf_h=1e7,
        deployment__deploys_per_day=0.0,
        database__primary_mtbf_h=1e7,
        chaos__enabled=False,
    )


# ------------------------------------------------------------------ the database model


@pytest.mark.parametrize(
    ("scenario", "capacity_rps"),
    [
        # primary-replica, 2 nodes: the replica serves 2 x 0.8 reads per request at
        # 1 / 2 ms = 500 queries/s; the primary 2 x 0.2 writes (1250 req/s)
        (simkit.load_scenario("production"), 500.0 / (2 * 0.8)),
        # 3 nodes: two replicas share the reads, 0.8 each; writes 0.4
        (simkit.load_scenario("production").replace(database__nodes=3), 500.0 / 0.8),
        # mostly writes: the primary is the bottleneck, 2 x 0.7 writes
        (simkit.load_scenario("production").replace(database__read_fraction=0.3), 500.0 / 1.4),
        # cluster of 5 at 1 / 2.5 ms = 400 queries/s each: reads that miss the cache
        # (2 x 0.8 x 0.2) spread over 5 nodes; the primary also takes 2 x 0.2 writes
        (simkit.load_scenario("experimental"), 400.0 / (2 * 0.2 + 2 * 0.8 * 0.2 / 5)),
        # single node at 1 / 1 ms serves all 2 queries
        (simkit.load_scenario("development"), 1000.0 / 2),
        (simkit.load_scenario("production").replace(database__queries_per_request=0.0), math.inf),
    ],
)
def test_database_capacity_by_hand(scenario: simkit.Scenario, capacity_rps: float) -> None:
    assert database_capacity_rps(scenario) == pytest.approx(capacity_rps, rel=1e-12)


@pytest.mark.parametrize(
    ("profile", "rate_rps", "latency_s"),
    [
        # zero load: the query times alone, 2 x 2 ms (the old constant)
        ("production", 0.0, 0.004),
        ("development", 0.0, 0.002),
        # cache only for reads: 2 x (0.8 x (0.5 ms + 0.2 x 2.5 ms) + 0.2 x 2.5 ms)
        ("experimental", 0.0, 0.0026),
        # M/M/1 nodes, T = 1 / (mu - lambda): replica 320 reads/s, primary 80 writes/s
        ("production", 200.0, 2 * (0.8 / (500 - 320) + 0.2 / (500 - 80))),
        # at capacity the replica's wait is capped: 2 ms + DB_WAIT_CAP_S per read
        ("production", 312.5, 2 * (0.8 * (0.002 + DB_WAIT_CAP_S) + 0.2 / (500 - 125))),
    ],
)
def test_backend_latency_at_s_by_hand(profile: str, rate_rps: float, latency_s: float) -> None:
    s = simkit.load_scenario(profile)
    assert backend_latency_at_s(s, rate_rps) == pytest.approx(latency_s, rel=1e-9)


@pytest.mark.parametrize("profile", ["production", "experimental", "development"])
def test_database_saturates_at_its_capacity(profile: str) -> None:
    s = simkit.load_scenario(profile)
    capacity = database_capacity_rps(s)
    below = backend_latency_at_s(s, 0.9 * capacity)
    at = backend_latency_at_s(s, capacity)
    assert below < 0.1  # queueing, but stable
    assert at > DB_WAIT_CAP_S * s.database.queries_per_request * 0.2  # a capped node
    # beyond it more nodes saturate; every query is capped at its time + DB_WAIT_CAP_S
    db, cache = s.database, s.cache
    worst = db.queries_per_request * (
        cache.lookup_ms * 1e-3 * cache.enabled + db.query_time_ms * 1e-3 + DB_WAIT_CAP_S
    )
    assert at <= backend_latency_at_s(s, 10 * capacity) <= worst


def test_backend_latency_at_s_is_the_engines() -> None:
    """The scalar helper equals the engine's database latency while the database is healthy."""
    s = _without_failures("production")
    rate = np.full((2, 8), 200.0)
    seeds = component_seeds(0, 2)["database"]
    engine = database_effects(s, rate, 15.0, seeds).latency_s
    assert engine == pytest.approx(np.full((2, 8), backend_latency_at_s(s, 200.0)), rel=1e-12)
    # a cold cache after a chaos restart is a transient, not the steady state
    cold = simkit.load_scenario("experimental").replace(
        chaos__experiments=[{"kind": "cache_restart", "at_s": 0.0}]
    )
    warm = backend_latency_at_s(cold.replace(chaos__enabled=False), 200.0)
    assert backend_latency_at_s(cold, 200.0) == warm
    assert database_latency(cold, np.full((1, 1), 200.0), 15.0)[0, 0] > warm


def test_backend_latency_at_s_rejects_bad_input() -> None:
    s = simkit.load_scenario("production")
    for bad in (-1.0, math.nan, math.inf, "10", True):
        with pytest.raises(SimkitError, match="rate_rps"):
            backend_latency_at_s(s, bad)  # type: ignore[arg-type]
    with pytest.raises(SimkitError, match="Scenario"):
        database_capacity_rps("production")  # type: ignore[arg-type]


# ------------------------------------------------------------------ agreement


#: Fewest instances (None: database-bound) for the profiles without failures.
EXPECTED = {
    ("production", 10.0): 1,
    ("production", 60.0): 1,
    ("production", 200.0): 3,
    ("production", 400.0): None,  # the replica saturates at 312.5 req/s
    ("production", 1000.0): None,
    ("experimental", 10.0): 1,
    ("experimental", 60.0): 1,
    ("experimental", 200.0): 3,
    ("experimental", 400.0): 6,
    ("experimental", 1000.0): None,  # the cluster primary saturates at 862 req/s
    # just below the replica's capacity: the database adds 134 ms, then 401 ms
    ("production", 305.0): 4,
    ("production", 310.0): None,
}


@pytest.mark.parametrize(("profile", "rate_rps"), list(EXPECTED))
def test_capacity_plan_and_analytic_answer_agree(profile: str, rate_rps: float) -> None:
    s = _without_failures(profile)
    slo = s.slo.latency_p99_s
    analytic = analytic_plan(s, rate_rps)
    plan = analysis.capacity_plan(s, None, rate_rps, **PLAN)
    assert plan.value == analytic.value == EXPECTED[profile, rate_rps]
    assert analysis.analytic_instances(s, rate_rps) == analytic.value
    assert plan.database_bound_rps == analytic.database_bound_rps
    capacity = database_capacity_rps(s)
    if analytic.value is None:
        assert analytic.database_bound_rps == capacity
        for text in (plan.summary(), analytic.summary()):
            assert text.startswith(f"database-bound at {capacity:.4g} req/s")
        # the pool simulated for the curve misses the SLO, by the database's doing
        assert (plan.curve["latency_p99_s_mean"] > slo).all()
        assert plan.curve["latency_p99_s_mean"].min() > analytic.backend_latency_s
    else:
        assert analytic.database_bound_rps is None
        n, mu = analytic.value, s.service_rate_rps
        backend = backend_latency_at_s(s, rate_rps)
        p99 = [
            float(queueing.response_time_quantile(0.99, c, rate_rps, mu)) + backend
            if c * mu > rate_rps
            else math.inf
            for c in (n - 1, n)
        ]
        assert p99[1] == pytest.approx(analytic.latency_p99_s) and p99[1] <= slo
        assert n == 1 or p99[0] > slo
        assert plan.latency_p99_s == pytest.approx(p99[1], rel=0.03)  # 2 % latency bins


@pytest.mark.parametrize(("profile", "rate_rps"), [("production", 400.0), ("experimental", 1000.0)])
def test_database_bound_holds_in_the_simulator_with_a_large_pool(
    profile: str, rate_rps: float
) -> None:
    """Independent of capacity_plan: a pool at 10 % utilization still misses the SLO."""
    s = _without_failures(profile)
    n = math.ceil(rate_rps / s.service_rate_rps / 0.1)
    big = s.replace(
        name="big",
        workload__mean_rate_rps=rate_rps,
        workload__diurnal_amplitude=0.0,
        workload__weekend_factor=1.0,
        workload__noise_sd=0.0,
        workload__flash_crowds_per_day=0.0,
        autoscaling__policy="fixed",
        autoscaling__replicas=n,
        autoscaling__min_replicas=n,
        autoscaling__max_replicas=n,
    )
    r = simkit.simulate(big, duration="30min", step="15s", replications=2, seed=1)
    p99 = r.run_latency_s[:, 2]
    assert (p99 > s.slo.latency_p99_s).all()
    assert (p99 >= backend_latency_at_s(s, rate_rps)).all()


def test_analytic_plan_reports_an_unreachable_slo() -> None:
    s = simkit.load_scenario("production")
    # 4 ms of unloaded queries + ln(100) x 10.5 ms = 52.4 ms > 50 ms at any load
    with pytest.raises(SimkitError, match="unloaded database latency"):
        analytic_plan(s, 10.0, {"latency_p99_s": 0.05})
    with pytest.raises(SimkitError, match="rate_rps"):
        analytic_plan(s, 0.0)
