"""Database tier: primary availability, M/M/c latency, failover, RPO/RTO per topology."""

from __future__ import annotations

import math

import numpy as np
import pytest

import simkit
from simkit import database
from simkit.database import (
    ASYNC_REPLICATION_LAG_S,
    CACHE_WARMUP_S,
    DB_WAIT_CAP_S,
    WAL_ARCHIVE_TIMEOUT_S,
    database_effects,
    database_incidents,
    database_latency,
    primary_down,
)
from simkit.errors import SimkitError

PERIOD_S = 15.0
DAY_S = 86400.0
NOON_S = 43200.0
NO_RANDOM = {"database__primary_mtbf_h": 1e7}  # no random loss within the horizon

#: Production's HighErrorRatio (> 1 % for 5 min, evaluated every 15 s) on a loss at a
#: period boundary that fails 20 % of requests: the first sample of the loss ends
#: 15 s later (pending), firing 300 s after that (by hand, Prometheus `for` semantics).
DETECT_S = 15.0 + 300.0


def seeds(n_rep: int, seed: int = 0) -> list[np.random.SeedSequence]:
    """The engine's "database" child stream (index 4 of its components)."""
    return [ss.spawn(6)[4] for ss in np.random.SeedSequence(seed).spawn(n_rep)]


def chaos(scenario: simkit.Scenario, *experiments: dict) -> simkit.Scenario:
    return scenario.replace(chaos={"enabled": True, "experiments": list(experiments)})


def primary_lost(at_s: float = NOON_S, duration_s: float = 1800.0) -> dict:
    return {"kind": "db_primary_down", "at_s": at_s, "duration_s": duration_s}


def const_rate(rate_rps: float, n_rep: int, days: float = 1.0) -> np.ndarray:
    return np.full((n_rep, int(days * DAY_S / PERIOD_S)), rate_rps)


# --------------------------------------------------------------------------- availability


def test_primary_down_fraction_matches_mttr_over_mtbf_plus_mttr():
    # MTBF 1 h, MTTR 15 min: stationary unavailability 900 / 4500 = 0.2.  The
    # primary starts up, which biases a 7-day mean down by 0.2 * 720 s / 7 d ~ 2.4e-4
    # (two-state Markov transient), far inside the interval below.
    mtbf_h, mttr_s = 1.0, 900.0
    s = simkit.load_scenario("production").replace(
        database__primary_mtbf_h=mtbf_h, database__primary_mttr_s=mttr_s
    )
    n_rep, n_per = 200, int(7 * DAY_S / PERIOD_S)
    down = primary_down(s, n_per, PERIOD_S, seeds(n_rep))
    assert down.shape == (n_rep, n_per)
    assert down.min() >= 0.0 and down.max() <= 1.0
    per_rep = down.mean(axis=1)
    expected = mttr_s / (mtbf_h * 3600.0 + mttr_s)
    half_width = 2.576 * per_rep.std(ddof=1) / math.sqrt(n_rep)  # 99 % CI
    assert abs(per_rep.mean() - expected) < half_width
    assert half_width < 0.005  # and the test is tight


def test_random_losses_use_common_random_numbers():
    base = simkit.load_scenario("production").replace(database__primary_mtbf_h=10.0)
    rate = const_rate(40.0, 8, days=3)
    a = database_incidents(base, rate, PERIOD_S, seeds(8))
    b = database_incidents(
        base.replace(database__primary_mtbf_h=20.0, database__primary_mttr_s=60.0),
        rate,
        PERIOD_S,
        seeds(8),
    )
    first_a = a.groupby("replication")["start_s"].first()
    first_b = b.groupby("replication")["start_s"].first()
    common = first_a.index.intersection(first_b.index)
    assert len(common) > 0
    # The first loss comes after the first (shared) up time, scaled by the MTBF.
    np.testing.assert_allclose(first_b[common], 2.0 * first_a[common], rtol=1e-12)


def test_same_seeds_give_same_effects_and_seeds_are_not_consumed():
    s = simkit.load_scenario("development").replace(database__primary_mtbf_h=5.0)
    ss = seeds(4)
    rate = const_rate(40.0, 4)
    one = database_effects(s, rate, PERIOD_S, ss)
    two = database_effects(s, rate, PERIOD_S, ss)
    assert one.incidents == two.incidents
    np.testing.assert_array_equal(one.latency_s, two.latency_s)


# --------------------------------------------------------------------------- latency


def mm1(arrival_qps: float, service_s: float) -> float:
    """Hand-computed M/M/1 mean response time 1 / (mu - lambda) [s]."""
    return 1.0 / (1.0 / service_s - arrival_qps)


@pytest.mark.parametrize("rate_rps", [40.0, 300.0])
def test_primary_replica_latency_is_mm1_on_replica_and_primary(rate_rps):
    s = simkit.load_scenario("production")  # 2 queries, 80 % reads, 2 ms, 1 replica
    lat = database_latency(s, np.full((2, 3), rate_rps), PERIOD_S)
    reads_qps, writes_qps = rate_rps * 2 * 0.8, rate_rps * 2 * 0.2
    # 40 rps: 64 reads/s -> 1/436 s, 16 writes/s -> 1/484 s; 300 rps: 480 -> 1/20 s.
    expected = 2 * (0.8 * mm1(reads_qps, 2e-3) + 0.2 * mm1(writes_qps, 2e-3))
    np.testing.assert_allclose(lat, expected, rtol=1e-10)


def test_single_instance_latency_serves_everything_on_one_node():
    s = simkit.load_scenario("development")  # 2 queries of 1 ms on one node
    lat = database_latency(s, np.full((1, 2), 40.0), PERIOD_S)
    np.testing.assert_allclose(lat, 2 * mm1(80.0, 1e-3), rtol=1e-10)


def test_cluster_latency_with_cache_spreads_misses_over_all_nodes():
    s = simkit.load_scenario("experimental")  # 5 nodes, 2.5 ms, 80 % hits, 0.5 ms lookup
    lat = database_latency(s, np.full((1, 1), 40.0), PERIOD_S)
    misses_per_node = 40 * 2 * 0.8 * 0.2 / 5  # 2.56 reads/s
    t_primary = mm1(misses_per_node + 40 * 2 * 0.2, 2.5e-3)
    t_other = mm1(misses_per_node, 2.5e-3)
    t_read = (t_primary + 4 * t_other) / 5
    expected = 2 * (0.8 * (0.5e-3 + 0.2 * t_read) + 0.2 * t_primary)
    np.testing.assert_allclose(lat, expected, rtol=1e-10)


def test_unstable_station_is_capped_never_inf_or_nan():
    s = simkit.load_scenario("production")
    lat = database_latency(s, np.array([[400.0, 1e6]]), PERIOD_S)  # 640 reads/s > 500/s
    assert np.all(np.isfinite(lat))
    cap = 2e-3 + DB_WAIT_CAP_S
    np.testing.assert_allclose(lat[0, 1], 2 * cap, rtol=1e-12)
    np.testing.assert_allclose(lat[0, 0], 2 * (0.8 * cap + 0.2 * mm1(160.0, 2e-3)), rtol=1e-10)


def test_no_queries_adds_no_latency():
    s = simkit.load_scenario("production").replace(database__queries_per_request=0.0)
    assert np.all(database_latency(s, np.full((1, 4), 40.0), PERIOD_S) == 0.0)


def test_load_moves_to_the_survivor_after_failover():
    s = chaos(simkit.load_scenario("production").replace(**NO_RANDOM), primary_lost())
    eff = database_effects(s, const_rate(40.0, 1), PERIOD_S, seeds(1))
    det = DETECT_S
    mid = (np.arange(eff.latency_s.shape[1]) + 0.5) * PERIOD_S
    normal = 2 * (0.8 * mm1(64.0, 2e-3) + 0.2 * mm1(16.0, 2e-3))
    failing = 2 * 0.8 * mm1(64.0, 2e-3)  # writes fail fast, reads on the replica
    survivor = 2 * mm1(80.0, 2e-3)  # the promoted replica serves everything
    lat = eff.latency_s[0]
    np.testing.assert_allclose(lat[mid < NOON_S], normal, rtol=1e-10)
    in_failover = (mid >= NOON_S) & (mid < NOON_S + det + 90.0)
    np.testing.assert_allclose(lat[in_failover], failing, rtol=1e-10)
    after = (mid >= NOON_S + det + 90.0) & (mid < NOON_S + 1800.0)
    np.testing.assert_allclose(lat[after], survivor, rtol=1e-10)
    np.testing.assert_allclose(lat[mid >= NOON_S + 1800.0], normal, rtol=1e-10)


def test_cache_restart_cold_cache_raises_latency_then_warms_up():
    restart_s = 6 * 3600.0
    s = chaos(
        simkit.load_scenario("experimental").replace(**NO_RANDOM),
        {"kind": "cache_restart", "at_s": restart_s, "duration_s": 60.0},
    )
    lat = database_effects(s, const_rate(40.0, 1), PERIOD_S, seeds(1)).latency_s[0]
    mid = (np.arange(lat.size) + 0.5) * PERIOD_S
    warm = lat[0]
    first = int(np.argmax(mid >= restart_s))
    hit = 0.8 * -np.expm1(-(mid[first] - restart_s) / CACHE_WARMUP_S)
    nodes = np.full((1, 1), 5)
    expected = database_latency(
        s.replace(cache__hit_ratio=float(hit), chaos__enabled=False),
        np.full((1, 1), 40.0),
        PERIOD_S,
        nodes_up=nodes,
    )[0, 0]
    np.testing.assert_allclose(lat[first], expected, rtol=1e-10)
    assert lat[first] > 1.5 * warm
    assert np.all(np.diff(lat[first : first + 40]) < 0)  # warming up
    assert lat[mid > restart_s + 10 * CACHE_WARMUP_S].max() == pytest.approx(warm, rel=1e-3)


# --------------------------------------------------------------------------- outages


def test_failover_window_is_detection_plus_failover_and_fails_only_writes():
    s = chaos(simkit.load_scenario("production").replace(**NO_RANDOM), primary_lost())
    n_rep = 3
    eff = database_effects(s, const_rate(40.0, n_rep), PERIOD_S, seeds(n_rep))
    assert len(eff.windows) == n_rep
    det = DETECT_S
    for r, w in enumerate(eff.windows):
        assert w.replication == r and w.cause == "database"
        assert w.start_s == NOON_S
        assert w.end_s - w.start_s == pytest.approx(det + s.database.failover_s)
        assert w.fraction == pytest.approx(1.0 - s.database.read_fraction)
    (inc,) = [i for i in eff.incidents if i.replication == 0]
    assert inc.detected_s == NOON_S + det
    assert inc.recovered_s == NOON_S + det + s.database.failover_s


def test_single_instance_chaos_outage_fails_every_request_until_restored():
    s = chaos(simkit.load_scenario("development").replace(**NO_RANDOM), primary_lost())
    eff = database_effects(s, const_rate(40.0, 2), PERIOD_S, seeds(2))
    assert [(w.start_s, w.end_s, w.fraction) for w in eff.windows] == [
        (NOON_S, NOON_S + 1800.0, 1.0)
    ] * 2
    assert np.all(eff.latency_s[:, int(NOON_S / PERIOD_S) + 1] == 0.0)  # fails fast


def test_single_instance_random_outages_last_mttr_on_average():
    mttr_s = 900.0
    s = simkit.load_scenario("development").replace(
        database__primary_mtbf_h=1.0, database__primary_mttr_s=mttr_s
    )
    rate = const_rate(40.0, 100, days=2)
    eff = database_effects(s, rate, PERIOD_S, seeds(100))
    horizon = rate.shape[1] * PERIOD_S
    inside = [w for w in eff.windows if w.end_s < horizon]
    assert all(w.fraction == 1.0 for w in eff.windows)
    lengths = np.array([w.end_s - w.start_s for w in inside])
    # Exponential lengths (merged never: one renewal process); 99 % CI of the mean,
    # conditioned on ending in the horizon (bias ~ mttr / horizon, negligible).
    half = 2.576 * lengths.std(ddof=1) / math.sqrt(lengths.size)
    assert abs(lengths.mean() - mttr_s) < half


def test_cache_hits_still_served_during_single_instance_outage():
    s = chaos(
        simkit.load_scenario("development").replace(
            cache__enabled=True, cache__hit_ratio=0.5, **NO_RANDOM
        ),
        primary_lost(),
    )
    (w,) = database_effects(s, const_rate(40.0, 1), PERIOD_S, seeds(1)).windows
    assert w.fraction == pytest.approx(0.2 + 0.8 * 0.5)


def test_overlapping_losses_merge_into_one_incident():
    s = chaos(
        simkit.load_scenario("production").replace(**NO_RANDOM),
        primary_lost(NOON_S, 1800.0),
        primary_lost(NOON_S + 600.0, 3600.0),
    )
    df = database_incidents(s, const_rate(40.0, 1), PERIOD_S, seeds(1))
    assert len(df) == 1 and df.loc[0, "source"] == "chaos"


# --------------------------------------------------------------------------- data loss


def rpo_row(scenario: simkit.Scenario, at_s: float = NOON_S, rate_rps: float = 40.0):
    s = chaos(scenario.replace(**NO_RANDOM), primary_lost(at_s))
    df = database_incidents(s, const_rate(rate_rps, 1), PERIOD_S, seeds(1))
    assert len(df) == 1
    return df.iloc[0]


def test_rpo_per_topology_as_documented():
    prod = rpo_row(simkit.load_scenario("production"))
    assert prod.rpo_s == ASYNC_REPLICATION_LAG_S  # async streaming replication
    assert prod.lost_writes == pytest.approx(0.2 * 40.0 * ASYNC_REPLICATION_LAG_S)
    exp = rpo_row(simkit.load_scenario("experimental"))
    assert exp.rpo_s == 0.0 and exp.lost_writes == 0.0  # synchronous quorum commit
    dev = rpo_row(simkit.load_scenario("development"))
    assert dev.rpo_s == NOON_S  # no backups: everything since the start
    assert dev.lost_writes == pytest.approx(0.2 * 40.0 * NOON_S)


@pytest.mark.parametrize(
    ("backups", "interval_h", "at_s", "rpo_s"),
    [
        ("scheduled", 6.0, 13 * 3600.0, 3600.0),  # backups at 0, 6, 12 h: last at 12 h
        ("scheduled", 24.0, 13 * 3600.0, 13 * 3600.0),  # only the start-of-run backup
        ("continuous", 24.0, 13 * 3600.0, WAL_ARCHIVE_TIMEOUT_S),
        ("none", 24.0, 13 * 3600.0, 13 * 3600.0),
    ],
)
def test_single_instance_rpo_follows_the_backups(backups, interval_h, at_s, rpo_s):
    dev = simkit.load_scenario("development").replace(
        database__backups=backups, database__backup_interval_h=interval_h
    )
    assert rpo_row(dev, at_s).rpo_s == pytest.approx(rpo_s)


def test_lost_writes_integrate_the_offered_rate():
    dev = chaos(simkit.load_scenario("development").replace(**NO_RANDOM), primary_lost(3600.0))
    rate = np.zeros((1, int(DAY_S / PERIOD_S)))
    rate[0, :120] = 10.0  # 30 min at 10 rps, then 30 min idle before the loss
    (inc,) = database_effects(dev, rate, PERIOD_S, seeds(1)).incidents
    assert inc.lost_writes == pytest.approx(0.2 * 10.0 * 1800.0)


def test_second_loss_of_unbacked_instance_loses_since_the_restore():
    dev = chaos(
        simkit.load_scenario("development").replace(**NO_RANDOM),
        primary_lost(3600.0, 600.0),
        primary_lost(NOON_S, 600.0),
    )
    df = database_incidents(dev, const_rate(40.0, 1), PERIOD_S, seeds(1))
    assert list(df.rpo_s) == [3600.0, NOON_S - 4200.0]


# --------------------------------------------------------------------------- ranking


def chaos_schedule(scenario: simkit.Scenario) -> simkit.Scenario:
    """Primary lost at noon for 30 min; the first region down at 18:00 for 30 min."""
    region = scenario.regions[0].name
    return chaos(
        scenario,
        primary_lost(NOON_S, 1800.0),
        {"kind": "region_down", "region": region, "at_s": 18 * 3600.0, "duration_s": 1800.0},
    )


def test_profiles_rank_as_the_architecture_implies_under_the_chaos_schedule():
    n_rep = 16
    rng = np.random.default_rng(7)
    rate = 40.0 * rng.lognormal(0.0, 0.1, (n_rep, int(DAY_S / PERIOD_S)))
    rows = {}
    for name in ("experimental", "production", "development"):
        s = chaos_schedule(simkit.load_scenario(name))
        df = database_incidents(s, rate, PERIOD_S, seeds(n_rep))
        noon = df[df.start_s == NOON_S].set_index("replication")
        assert len(noon) == n_rep or name != "experimental"
        rows[name] = noon
    common = rows["experimental"].index
    for r in common:
        if not all(r in rows[n].index for n in rows):
            continue  # a random loss merged with the chaos one: skip that replication
        e, p, d = (rows[n].loc[r] for n in ("experimental", "production", "development"))
        assert e.lost_writes < p.lost_writes < d.lost_writes
        assert e.rto_s < p.rto_s < d.rto_s
        assert e.rpo_s < p.rpo_s < d.rpo_s


def test_region_outage_without_survivor_is_unavailability_not_loss():
    prod = chaos_schedule(simkit.load_scenario("production").replace(**NO_RANDOM))
    df = database_incidents(prod, const_rate(40.0, 1), PERIOD_S, seeds(1))
    region = df[df.source == "region"].iloc[0]
    assert not region.failover and region.rto_s == 1800.0 and region.lost_writes == 0.0
    # The region model already fails all of the single region's traffic: no double count.
    eff = database_effects(prod, const_rate(40.0, 1), PERIOD_S, seeds(1))
    assert all(w.start_s != region.start_s for w in eff.windows)
    exp = chaos_schedule(simkit.load_scenario("experimental").replace(**NO_RANDOM))
    df = database_incidents(exp, const_rate(40.0, 1), PERIOD_S, seeds(1))
    region = df[df.source == "region"].iloc[0]
    assert region.failover and region.rpo_s == 0.0  # quorum survives in other clouds


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("rate", "period", "n_seeds", "word"),
    [
        (np.ones(10), PERIOD_S, 1, "rate_rps"),
        (np.ones((2, 0)), PERIOD_S, 2, "rate_rps"),
        (-np.ones((2, 4)), PERIOD_S, 2, "rate_rps"),
        (np.full((2, 4), np.nan), PERIOD_S, 2, "rate_rps"),
        (np.ones((2, 4)), 0.0, 2, "period_s"),
        (np.ones((2, 4)), "15s", 2, "period_s"),
        (np.ones((2, 4)), PERIOD_S, 3, "seeds"),
    ],
)
def test_bad_input_names_the_argument(rate, period, n_seeds, word):
    s = simkit.load_scenario("production")
    with pytest.raises(SimkitError, match=word) as err:
        database_effects(s, rate, period, seeds(n_seeds))
    assert "\n" not in str(err.value)


def test_bad_seeds_and_periods_are_rejected():
    s = simkit.load_scenario("production")
    with pytest.raises(SimkitError, match="seeds"):
        database_effects(s, np.ones((1, 4)), PERIOD_S, [0])
    with pytest.raises(SimkitError, match="n_periods"):
        primary_down(s, 0, PERIOD_S, seeds(1))
    with pytest.raises(SimkitError, match="scenario"):
        database.database_effects("production", np.ones((1, 4)), PERIOD_S, seeds(1))
