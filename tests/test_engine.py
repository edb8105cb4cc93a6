"""The engine against queueing theory, and its contracts (shapes, seeds, no NaN)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import simkit
from simkit import queueing
from simkit.errors import SimkitError
from tests.conftest import constant_load_scenario, overload_trace

STEP_ARRAYS = ("arrivals", "errors", "backlog", "latency_p50_s", "latency_p95_s", "latency_p99_s")


def test_shapes_and_time_index():
    s = simkit.load_scenario("production")
    r = simkit.simulate(s, duration="1h", step="1s", replications=3, seed=4)
    assert r.arrivals.shape == (3, 3600)
    assert r.rate_rps.shape == (3, 240)
    assert r.step_array("ready_instances").shape == (3, 3600)
    idx = r.time_index
    assert idx[0] == pd.Timestamp("2024-01-01T00:00:00Z") and len(idx) == 3600
    assert (idx[1] - idx[0]) == pd.Timedelta(seconds=1)


@pytest.mark.parametrize("profile", ["production", "development", "experimental"])
def test_same_seed_same_bits_and_finite(profile):
    s = simkit.load_scenario(profile)
    a = simkit.simulate(s, duration="6h", replications=4, seed=11)
    b = simkit.simulate(s, duration="6h", replications=4, seed=11)
    for name in (*STEP_ARRAYS, "rate_rps", "ready_instances", "desired_instances", "utilization"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.array_equal(x, y), name
        assert np.isfinite(x).all(), name
    assert simkit.kpis(a).drop(columns="scenario").equals(simkit.kpis(b).drop(columns="scenario"))
    assert np.isfinite(simkit.kpis(a).drop(columns="scenario").to_numpy(dtype=float)).all()
    assert (a.errors <= a.arrivals + 1e-3).all()
    c = simkit.simulate(s, duration="6h", replications=4, seed=12)
    assert not np.array_equal(a.arrivals, c.arrivals)


def test_common_random_numbers_across_profiles():
    """Same seed: the same offered load and arrivals whatever the architecture."""
    prod = simkit.simulate(simkit.load_scenario("production"), duration="2h", replications=3)
    dev = simkit.simulate(simkit.load_scenario("development"), duration="2h", replications=3)
    assert np.array_equal(prod.rate_rps, dev.rate_rps)
    assert np.array_equal(prod.arrivals, dev.arrivals)


def test_replications_are_independent_streams():
    r = simkit.simulate(simkit.load_scenario("production"), duration="1h", replications=4)
    assert not np.array_equal(r.arrivals[0], r.arrivals[1])
    # The first replications do not depend on how many replications are run.
    r2 = simkit.simulate(simkit.load_scenario("production"), duration="1h", replications=2)
    assert np.array_equal(r.arrivals[:2], r2.arrivals)


def test_arrivals_are_poisson():
    """Counts per step have mean = variance = rate x step (Poisson), for small and large means."""
    for rate in (4.0, 300.0):  # per-step means of a few and of hundreds
        s = constant_load_scenario(rate, instances=10, service_time_ms=1.0)
        r = simkit.simulate(s, duration="2h", replications=4, seed=3)
        counts = r.arrivals.astype(np.float64)
        n = counts.size
        assert abs(counts.mean() - rate) < 4 * np.sqrt(rate / n)
        # Var of the sample variance of Poisson(m) ~ (m + 2 m^2) / n.
        assert abs(counts.var() - rate) < 5 * np.sqrt((rate + 2 * rate**2) / n)


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95])
def test_mmc_steady_state_matches_erlang_c(rho):
    """Fixed instances, constant Poisson load: run-level quantiles = exact M/M/c within 2 %."""
    c, service_ms = 4, 10.0
    mu = 1000.0 / service_ms
    lam = rho * c * mu
    s = constant_load_scenario(lam, instances=c, service_time_ms=service_ms)
    r = simkit.simulate(s, duration="2h", replications=4, seed=2)
    k = simkit.kpis(r)
    for q, col in ((0.5, "latency_p50_s"), (0.95, "latency_p95_s"), (0.99, "latency_p99_s")):
        exact = float(queueing.response_time_quantile(q, c, lam, mu))
        assert k[col].to_numpy() == pytest.approx(exact, rel=0.02), (q, exact)
    # stored as float32: exact to its 24-bit mantissa
    assert r.utilization.mean(dtype=np.float64) == pytest.approx(rho, rel=1e-7)
    assert k["errors"].sum() < 1e-6 * k["requests"].sum()
    # Per-step quantiles of a steady period equal the exact ones too (table lookup).
    exact99 = float(queueing.response_time_quantile(0.99, c, lam, mu))
    assert np.median(r.latency_p99_s) == pytest.approx(exact99, rel=0.005)


def test_backend_latency_shifts_every_request():
    """The database model's mean time per request is added to every request's latency."""
    from simkit.database import database_latency

    base = constant_load_scenario(200.0, instances=4)
    shifted = base.replace(database__queries_per_request=2.0, database__query_time_ms=3.0)
    a = simkit.simulate(base, duration="30min", replications=2)
    b = simkit.simulate(shifted, duration="30min", replications=2)
    db_s = database_latency(shifted, b.rate_rps, b.period_s)
    assert database_latency(base, a.rate_rps, a.period_s).max() == 0.0
    assert db_s.min() == pytest.approx(db_s.max())  # constant load, constant DB time
    assert db_s[0, 0] > 0.006  # two 3 ms queries plus queueing at the database
    diff = (simkit.kpis(b)["latency_p50_s"] - simkit.kpis(a)["latency_p50_s"]).to_numpy()
    assert diff == pytest.approx(db_s[0, 0], rel=1e-2)  # shift bins are 2 % wide


def test_one_hour_overload_rises_and_recovers():
    c, mu = 4, 100.0
    s = constant_load_scenario(1.0, instances=c)  # rate comes from the trace
    trace = overload_trace(0.6 * c * mu, 1.3 * c * mu)
    r = simkit.simulate(s, duration="4h", replications=3, seed=5, trace=trace)
    for name in STEP_ARRAYS:
        assert np.isfinite(getattr(r, name)).all()
    before = slice(0, 3600)
    during = slice(3600 + 600, 7200)
    after = slice(7200 + 3600, 4 * 3600)
    assert r.backlog[:, before].max() == 0
    assert r.backlog[:, during].max() > 100
    assert r.latency_p99_s[:, during].max() > 10 * r.latency_p99_s[:, before].max()
    assert r.errors[:, during].sum() > 0.1 * r.arrivals[:, during].sum()
    assert r.errors[:, before].sum() == 0
    # Recovered: backlog drained, latency back to steady state, no more errors.
    assert r.backlog[:, after].max() == 0
    assert np.allclose(r.latency_p99_s[:, after], r.latency_p99_s[:, before].max(), rtol=1e-6)
    assert r.errors[:, after].sum() == 0
    # 60 overloaded minutes, plus the drain of a full queue: 4 x 511 requests at
    # (1 - 0.6) x 400 req/s = 12.8 s, i.e. at most 2 more (partly covered) minutes.
    assert (
        (simkit.kpis(r)["overloaded_minutes"] >= 60) & (simkit.kpis(r)["overloaded_minutes"] <= 62)
    ).all()
    # Drops are bounded by the excess of offered load over capacity (fluid balance).
    excess = (1.3 - 1.0) * c * mu * 3600
    assert r.errors.sum(axis=1) == pytest.approx(excess, rel=0.05)


def test_no_instance_means_every_request_fails():
    s = constant_load_scenario(
        50.0, instances=1, failures__instance_mtbf_h=0.05, failures__instance_mttr_s=600.0
    )
    r = simkit.simulate(s, duration="6h", replications=4, seed=8)
    down = r.step_array("ready_instances") == 0
    assert down.any()
    assert np.allclose(r.errors[down], r.arrivals[down])
    assert np.isfinite(r.latency_p99_s).all()


def test_k_of_n_availability_is_binomial():
    """Independent exponential failures: P(k of n up) ~ Binomial(n, A), A = MTBF/(MTBF+MTTR)."""
    from scipy import stats

    n, mtbf_h, mttr_s = 6, 1.0, 1200.0
    s = constant_load_scenario(
        10.0, instances=n, failures__instance_mtbf_h=mtbf_h, failures__instance_mttr_s=mttr_s
    )
    r = simkit.simulate(s, duration="2D", replications=16, seed=21)
    a = mtbf_h * 3600 / (mtbf_h * 3600 + mttr_s)
    up = r.ready_instances
    observed = np.array([(up == k).mean() for k in range(n + 1)])
    expected = stats.binom.pmf(np.arange(n + 1), n, a)
    # Monte Carlo error from 16 independent replications (batch means), 4 sigma.
    per_rep = np.array([[(row == k).mean() for k in range(n + 1)] for row in up])
    sem = per_rep.std(axis=0, ddof=1) / np.sqrt(len(per_rep))
    assert np.all(np.abs(observed - expected) <= 4 * sem + 2e-3), (observed, expected)
    assert up.mean() / n == pytest.approx(a, abs=4 * (up.mean(axis=1) / n).std() / 4 + 2e-3)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"duration": "7x"}, "duration"),
        ({"duration": "10s"}, "duration"),
        ({"step": "7s"}, "step"),
        ({"step": "1min"}, "step"),
        ({"replications": 0}, "replications"),
        ({"replications": 2.5}, "replications"),
        ({"seed": -1}, "seed"),
        ({"start": "not a date"}, "start"),
        ({"trace": [1, 2, 3]}, "trace"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, field):
    s = simkit.load_scenario("production")
    with pytest.raises(SimkitError, match=field) as info:
        simkit.simulate(s, **{"duration": "1h", "replications": 1, **kwargs})
    assert "\n" not in str(info.value)


def test_trace_outside_the_simulated_window_is_an_error():
    trace = overload_trace(10.0, 20.0)
    s = constant_load_scenario(1.0, instances=2)
    with pytest.raises(simkit.TraceError, match="outside the trace"):
        simkit.simulate(s, duration="5h", replications=1, trace=trace)


def test_production_beats_development():
    """The architecture's promise: more instances, no debug overhead, failover -> better."""
    kp = simkit.kpis(
        simkit.simulate(simkit.load_scenario("production"), duration="1D", replications=6)
    )
    kd = simkit.kpis(
        simkit.simulate(simkit.load_scenario("development"), duration="1D", replications=6)
    )
    assert (kp["availability"] > kd["availability"]).all()
    assert (kp["latency_p99_s"] < kd["latency_p99_s"]).all()
    assert kp["mean_instances"].mean() > kd["mean_instances"].mean()
    assert (kd["errors_overload"] > 0).all()


def test_to_frame_and_kpis_columns():
    r = simkit.simulate(simkit.load_scenario("production"), duration="1h", replications=2)
    frame = r.to_frame()
    assert frame.index.names == ["replication", "time"]
    assert isinstance(frame.index.levels[1], pd.DatetimeIndex)
    assert len(frame) == 2 * 3600
    minute = r.to_frame(freq="1min")
    assert len(minute) == 2 * 60
    assert minute["arrivals"].sum() == pytest.approx(float(r.arrivals.sum()), rel=1e-6)
    k = simkit.kpis(r)
    for col in simkit.KPI_COLUMNS:
        assert col in k.columns
    assert len(k) == 2
    hours = r.billed_instances.sum(axis=1) * r.period_s / 3600
    assert k["instance_hours"].to_numpy() == pytest.approx(hours)
    assert (r.billed_instances >= r.desired_instances).all()
    assert k["cost_usd"].to_numpy() == pytest.approx(r.cost_usd.sum(axis=1))
    # production: 10 ms x (1 + 5 % TLS) per request
    assert k["service_time_ms"].to_numpy() == pytest.approx(10.5)


@pytest.mark.parametrize("profile", ["production", "experimental", "development"])
def test_quiet_blocks_change_nothing(profile, monkeypatch):
    """The block fast path gives the same bits as simulating every period one by one."""
    import simkit.control as control

    s = simkit.load_scenario(profile).replace(
        failures__instance_mtbf_h=2.0, workload__flash_crowds_per_day=6.0
    )
    fast = simkit.simulate(s, duration="12h", replications=6, seed=9, engine="numpy")
    monkeypatch.setattr(control, "_BLOCK_PERIODS", 1)
    slow = simkit.simulate(s, duration="12h", replications=6, seed=9, engine="numpy")
    for name in (*STEP_ARRAYS, "ready_instances", "desired_instances", "utilization"):
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
    assert simkit.kpis(fast).equals(simkit.kpis(slow))
    assert (np.diff(fast.desired_instances, axis=1) != 0).any() or profile == "development"


def test_failures_disabled_draws_no_crashes_and_keeps_other_streams() -> None:
    """``failures.enabled = false``: no crash, no repair; arrivals (their own stream)
    are unchanged, so the two runs differ only by the crashes."""
    prod = simkit.load_scenario("production").replace(failures__instance_mtbf_h=2.0)
    off = prod.replace(failures__enabled=False)
    with_crashes = simkit.simulate(prod, duration="1D", step="15s", replications=2, seed=4)
    without = simkit.simulate(off, duration="1D", step="15s", replications=2, seed=4)
    assert with_crashes.crashes.sum() > 0
    assert without.crashes.sum() == 0 and without.repairs.sum() == 0
    np.testing.assert_array_equal(with_crashes.arrivals, without.arrivals)
    with pytest.raises(SimkitError, match=r"failures\.enabled = false"):
        simkit.analysis.fit_failure_times(off, replications=2)


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_pods_without_start_up_time_are_ready_at_once(engine) -> None:
    """startup_s = 0: a scale-up decided at the end of a period serves from the next
    one, so without crashes or deployments every provisioned instance is Ready (the
    start-up ring of one slot used never to release its pods)."""
    s = simkit.load_scenario("production").replace(
        autoscaling__startup_s=0.0,
        failures__enabled=False,
        deployment__deploys_per_day=0.0,
        workload__flash_crowds_per_day=12.0,
    )
    r = simkit.simulate(s, duration="1D", replications=2, seed=3, engine=engine)
    assert r.desired_instances.max() > s.autoscaling.min_replicas  # it did scale up
    np.testing.assert_array_equal(r.ready_instances, r.desired_instances)


def test_a_run_too_large_for_memory_is_refused_before_it_starts(monkeypatch):
    """One line naming the size and the free memory, within a fraction of a second."""
    from simkit import engine

    assert engine.available_memory_bytes() is None or engine.available_memory_bytes() > 0
    monkeypatch.setattr(engine, "available_memory_bytes", lambda: 4 * 2**30)
    s = simkit.load_scenario("production")
    with pytest.raises(simkit.SimkitError) as info:
        simkit.simulate(s, duration="365D", replications=32)
    message = str(info.value)
    assert "\n" not in message
    assert "32 x 2,102,400 control periods" in message and "4.0 GiB available" in message
    simkit.simulate(s, duration="1h", replications=2)  # small runs still run
