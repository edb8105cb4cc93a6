"""Monitoring model: series, Prometheus-style alerts and Thanos-style rollups."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simkit
from simkit.detection import evaluate
from simkit.monitoring import (
    alert_kpis,
    combine,
    downsample,
    monitoring_series,
    rollup,
    rollup_frame,
)
from simkit.monitoring import series as ms
from simkit.scenario import AlertRule
from tests.conftest import constant_load_scenario, overload_trace


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def production():
    return simkit.simulate(
        simkit.load_scenario("production"), duration="1D", replications=2, seed=3
    )


@pytest.fixture(scope="module")
def development():
    return simkit.simulate(
        simkit.load_scenario("development"), duration="1D", replications=2, seed=3
    )


@pytest.fixture(scope="module")
def overload():
    """4 pods of 100 req/s at 60 % load, then 130 % for the second hour."""
    c, mu = 4, 100.0
    s = constant_load_scenario(1.0, instances=c)
    return simkit.simulate(
        s, duration="4h", replications=3, seed=5, trace=overload_trace(0.6 * c * mu, 1.3 * c * mu)
    )


# --------------------------------------------------------------------------- alert rules
def test_for_semantics_on_a_hand_built_series():
    # Samples every 15 s; sample i covers [15 i, 15 i + 15) and is seen from 15 (i + 1) on.
    x = np.zeros((1, 12))
    x[0, 2:8] = 1.0  # true in samples 2..7
    x[0, 9:11] = 1.0  # a 2-sample blip, shorter than `for`
    rule = AlertRule("Up", "cpu_percent", ">", 0.5, for_s=40.0)
    f = evaluate(rule, x, step_s=15.0)
    # Pending at 45 s (sample 2 seen); firing at the first evaluation >= 45 + 40 s,
    # i.e. 45 + ceil(40 / 15) * 15 = 90 s; sample 8 is false, seen at 135 s: resolved.
    assert f.start_s.tolist() == [90.0]
    assert f.end_s.tolist() == [135.0]
    assert f.resolved.tolist() == [True]
    # Evaluating every 30 s sees samples 1, 3, 5, ...: pending at 60 s, for 40 s -> 2
    # evaluations -> firing at 120 s; it never sees the false sample 8 (sample 9 of
    # the blip is true at 150 s) and resolves on sample 11 at 180 s.
    f30 = evaluate(rule, x, step_s=15.0, eval_interval_s=30.0)
    assert f30.start_s.tolist() == [120.0]
    assert f30.end_s.tolist() == [180.0]
    # for = 0 fires at the first evaluation; "<" inverts the condition.
    f0 = evaluate(dataclasses.replace(rule, for_s=0.0), x, step_s=15.0)
    assert f0.start_s.tolist() == [45.0, 150.0]
    low = evaluate(dataclasses.replace(rule, op="<", for_s=0.0), x, step_s=15.0)
    assert low.start_s.tolist() == [15.0, 135.0, 180.0]
    # Still firing at the end: unresolved, interval ends at the last evaluation (180 s).
    x_end = np.ones((1, 12))
    f_end = evaluate(rule, x_end, step_s=15.0)
    assert (f_end.start_s.tolist(), f_end.end_s.tolist(), f_end.resolved.tolist()) == (
        [60.0],
        [180.0],
        [False],
    )


def _reference(cond: np.ndarray, step_s: float, eval_s: float, for_s: float) -> list[tuple]:
    """Prometheus' alert state machine, one evaluation at a time (plain Python)."""
    out = []
    active_at = firing_since = None
    n_eval = math.floor(len(cond) * step_s / eval_s + 1e-9)
    t = 0.0
    for e in range(n_eval):
        t = (e + 1) * eval_s
        i = math.floor(t / step_s + 1e-9) - 1  # -1: no sample has ended yet
        if i >= 0 and cond[i]:
            if active_at is None:
                active_at = t
            if firing_since is None and t - active_at >= for_s - 1e-9:
                firing_since = t
        else:
            if firing_since is not None:
                out.append((firing_since, t, True))
            active_at = firing_since = None
    if firing_since is not None:
        out.append((firing_since, t, False))
    return out


@settings(max_examples=150, deadline=None)
@given(
    cond=st.lists(st.lists(st.booleans(), min_size=1, max_size=60), min_size=1, max_size=4).map(
        lambda rows: [r[: min(len(x) for x in rows)] for r in rows]
    ),
    step_s=st.sampled_from([1.0, 5.0, 15.0]),
    eval_factor=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
    for_s=st.one_of(st.integers(0, 120).map(float), st.floats(0.0, 120.0)),
)
def test_vectorized_evaluate_matches_the_state_machine(cond, step_s, eval_factor, for_s):
    values = np.array(cond, dtype=np.float64)
    eval_s = step_s * eval_factor
    rule = AlertRule("R", "error_ratio", ">", 0.5, for_s=for_s)
    f = evaluate(rule, values, step_s, eval_s)
    for r, row in enumerate(values):
        expected = _reference(row > 0.5, step_s, eval_s, for_s)
        mine = f.replication == r
        assert f.start_s[mine].tolist() == [x[0] for x in expected]
        assert f.end_s[mine].tolist() == [x[1] for x in expected]
        assert f.resolved[mine].tolist() == [x[2] for x in expected]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"name": " "}, r"monitoring.rules.name = ' ' must not be empty"),
        ({"series": "cpu"}, r"monitoring.rules.series = 'cpu' is not allowed; choose one of"),
        ({"op": ">="}, r"monitoring.rules.op = '>=' is not allowed; choose one of \['>', '<'\]"),
        ({"threshold": math.nan}, r"monitoring.rules.threshold = nan must be a finite number"),
        ({"for_s": -1.0}, r"monitoring.rules.for_s = -1.0 is out of range; allowed: a number in"),
        ({"receiver": "sms"}, r"monitoring.rules.receiver = 'sms' is not allowed"),
        ({"detects": ("outage",)}, r"monitoring.rules.detects\[0\] = 'outage' is not allowed"),
    ],
)
def test_alert_rule_validation(changes, match):
    args = {"name": "A", "series": "cpu_percent", "op": ">", "threshold": 1.0, "for_s": 0.0}
    with pytest.raises(simkit.ScenarioError, match=match):
        AlertRule(**{**args, **changes})


def test_profile_rules_per_monitoring_system():
    prod = simkit.load_scenario("production").monitoring.rules
    assert [r.name for r in prod] == [
        "HighErrorRatio",
        "HighLatencyP99",
        "HighCPU",
        "DiskAlmostFull",
        "SLOBurnPage1h",
        "SLOBurnPage6h",
        "SLOBurnTicket1d",
        "SLOBurnTicket3d",
    ]
    assert prod[0].threshold == pytest.approx(0.01)  # 10 x (1 - 0.999)
    assert prod[1].threshold == 0.3  # slo.latency_p99_s
    exp = simkit.load_scenario("experimental").monitoring.rules
    assert [r.name for r in exp] == [r.name for r in prod]
    assert exp[0].for_s == 60.0  # faster detection than production's 5 min
    (console,) = simkit.load_scenario("development").monitoring.rules
    assert (console.series, console.for_s, console.receiver) == ("error_ratio", 900.0, "console")


# --------------------------------------------------------------------------- incidents
def test_high_error_alert_detects_a_one_hour_overload(overload):
    """Hand computation of the detection delay of the 1-hour overload at t = 3600 s.

    4 pods x 511 queued requests fill at (520 - 400) req/s in about 17 s, so the
    period [3600, 3615) has no errors and [3615, 3630) already about 20 % (> 1 %).
    That sample is seen at 3630 s (pending), HighErrorRatio (for 5 min) fires at
    3630 + 300 = 3930 s: 330 s after the incident starts.  The backlog drains in
    12.8 s after 7200 s without drops, so sample [7200, 7215) is clean: resolved
    at 7215 s.
    """
    series = monitoring_series(overload)
    assert (series.error_ratio[:, 240] == 0).all()
    assert (series.error_ratio[:, 241] > 0.1).all()
    rule = overload.scenario.monitoring.rules[0]
    assert rule.name == "HighErrorRatio"
    f = evaluate(rule, series.error_ratio, series.period_s, 15.0)
    assert f.counts().tolist() == [1, 1, 1]
    assert f.start_s.tolist() == [3930.0] * 3
    assert f.end_s.tolist() == [7215.0] * 3
    assert [f.first_at_or_after(r, 3600.0) - 3600.0 for r in range(3)] == [330.0] * 3
    # With the four basic rules: HighCPU (125 % of the request at 60 % load) already
    # fires since 915 s; HighLatencyP99 fires later (4215 s).
    basic = overload.scenario.monitoring.rules[:4]
    k = alert_kpis(overload, basic, series=series)
    # HighErrorRatio (resolved: 2 e-mails), HighLatencyP99 (resolved: 2),
    # HighCPU (still firing at the end: 1).
    assert k["alerts_fired"].tolist() == [3] * 3
    assert k["emails_sent"].tolist() == [5] * 3
    assert k["pages"].tolist() == [1] * 3  # HighErrorRatio pages


def test_emails_follow_alert_email(overload):
    basic = overload.scenario.monitoring.rules[:4]
    quiet = dataclasses.replace(
        overload, scenario=overload.scenario.replace(monitoring__alert_email=False)
    )
    k = alert_kpis(quiet, basic)
    assert (k["alerts_fired"] > 0).all()
    assert (k["emails_sent"] == 0).all()
    loud = alert_kpis(overload, basic, send_resolved=False, repeat_interval_s=3600.0)
    # Without resolve e-mails: one per alert; HighCPU fires from 915 s to the end (14400 s):
    # reminders 1, 2 and 3 h after it fired.
    assert loud["emails_sent"].tolist() == [3 + 3] * 3


def test_development_console_sends_no_email(development):
    k = alert_kpis(development)
    assert (k["emails_sent"] == 0).all()
    assert (k["alerts_fired"] > 0).all()  # a day of development overloads gets noticed


# --------------------------------------------------------------------------- series
def test_series_units_and_ranges(production, development):
    for result in (production, development):
        s = monitoring_series(result)
        a, svc = result.scenario.autoscaling, result.scenario.service
        shape = result.rate_rps.shape
        for name, values in s.as_dict().items():
            assert values.shape == shape, name
        no_pod = result.ready_instances == 0
        assert np.array_equal(np.isnan(s.cpu_percent), no_pod)
        cpu = s.cpu_percent[~no_pod]
        upper = 100.0 * (a.cpu_idle_milli + svc.workers_per_instance * a.cpu_busy_milli)
        assert (cpu >= 100.0 * a.cpu_idle_milli / a.cpu_request_milli - 1e-9).all()
        assert (cpu <= upper / a.cpu_request_milli + 1e-9).all()
        assert (s.memory_mib[~no_pod] >= ms.NODE_BASE_RSS_MIB).all()
        assert (np.diff(s.disk_used_gib, axis=1) >= 0).all()
        assert (s.disk_used_gib > ms.INITIAL_DATABASE_GIB).all()
        assert ((s.error_ratio >= 0) & (s.error_ratio <= 1)).all()
        assert (s.network_mbps > 0).all() and np.isfinite(s.network_mbps).all()
        assert np.isfinite(s.latency_p99_s).all()
        frame = s.to_frame()
        assert len(frame) == 2 * shape[1] and isinstance(frame.index.levels[1], pd.DatetimeIndex)
    # Development (no debug image in production) carries the debug/hot-reload memory.
    assert np.nanmin(monitoring_series(development).memory_mib) >= 120.0


def test_verbose_logging_grows_disk_faster_per_request(production, development):
    def disk_per_request(result):
        s = monitoring_series(result)
        return (s.disk_used_gib[:, -1] - ms.INITIAL_DATABASE_GIB) / result.arrivals.sum(axis=1)

    # Log bytes per request 3000 (debug) vs 300 (info) dominate 0.4 writes x 512 bytes.
    assert (disk_per_request(development) > 5 * disk_per_request(production)).all()


def test_verbose_logging_cpu_counted_once(production, development):
    base = monitoring_series(production)
    verbose = dataclasses.replace(
        production, scenario=production.scenario.replace(monitoring__verbose_logging=True)
    )
    s = monitoring_series(verbose)
    a, svc = production.scenario.autoscaling, production.scenario.service
    # Extra = 0.3 x the plain share (10 / 10.5 ms) of the busy CPU, over the request.
    busy = production.utilization * a.cpu_busy_milli
    extra = busy * (10.0 / 10.5) * ms.VERBOSE_LOGGING_CPU_FRACTION / a.cpu_request_milli * 100
    assert s.cpu_percent == pytest.approx(base.cpu_percent + extra, nan_ok=True)
    # Development already charges logging_overhead in the service time: nothing added.
    assert svc.logging_overhead == 0.0
    dev = development.scenario
    expected = (
        (dev.autoscaling.cpu_idle_milli + development.utilization * dev.autoscaling.cpu_busy_milli)
        / dev.autoscaling.cpu_request_milli
        * 100
    )
    expected[development.ready_instances == 0] = np.nan
    assert monitoring_series(development).cpu_percent == pytest.approx(expected, nan_ok=True)


def test_network_has_one_daily_backup_of_the_initial_database(production):
    """A 1-day run with daily backups: one base backup of 10 GiB at t = 0, at 256 Mbit/s."""
    s = monitoring_series(production)
    db = production.scenario.database
    k = production.steps_per_period
    offered = production.arrivals.reshape(2, -1, k).sum(axis=2, dtype=np.float64)
    served = offered - production.errors_period
    writes = served * db.queries_per_request * (1 - db.read_fraction)
    steady_bits = offered * (ms.REQUEST_BYTES + ms.RESPONSE_BYTES) * 8 + writes * (
        ms.WAL_BYTES_PER_WRITE * 8 * (db.nodes - 1)
    )
    backup_bits = (s.network_mbps * 1e6 * s.period_s - steady_bits).sum(axis=1)
    assert backup_bits == pytest.approx(10 * 2**30 * 8, rel=1e-9)
    # It lasts 10 x 2^30 x 8 / 256e6 = 335.5 s: 22 full periods at 256 Mbit/s plus part of one.
    burst = s.network_mbps - steady_bits / (s.period_s * 1e6)
    assert np.allclose(burst[:, :22], 256.0)
    assert burst[:, 22].min() > 0 and burst[:, 22].max() < 256.0
    assert np.allclose(burst[:, 23:], 0.0, atol=1e-6)


# --------------------------------------------------------------------------- rollups
@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 200),
    seed=st.integers(0, 2**32 - 1),
    nan_fraction=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_rollup_matches_pandas_resample(n, seed, nan_fraction):
    rng = np.random.default_rng(seed)
    values = rng.normal(50.0, 20.0, (2, n))
    values[rng.random((2, n)) < nan_fraction] = np.nan
    agg = rollup(values, step_s=15.0, window_s=300.0)
    index = pd.date_range("2024-01-01", periods=n, freq="15s", tz="UTC")
    assert agg["count"].shape == (2, -(-n // 20))  # partial last window kept
    for r in range(2):
        res = pd.Series(values[r], index=index).resample("5min")
        for name in ("min", "max", "mean", "count", "sum"):
            expected = getattr(res, name)().to_numpy()
            assert np.allclose(agg[name][r], expected, equal_nan=True), name


def test_hourly_from_five_minutes_equals_hourly_from_raw():
    rng = np.random.default_rng(7)
    values = rng.gamma(2.0, 10.0, (3, 1000))  # 1000 x 15 s: a partial last hour
    values[rng.random(values.shape) < 0.2] = np.nan
    raw_1h = rollup(values, 15.0, 3600.0)
    via_5m = combine(rollup(values, 15.0, 300.0), 12)
    for name in ("min", "max", "count", "sum", "mean"):
        assert np.allclose(via_5m[name], raw_1h[name], equal_nan=True), name
    assert raw_1h["count"][:, -1].max() <= 1000 - 4 * 240


def test_rollup_frames(production):
    s = monitoring_series(production)
    frames = downsample(s)
    five, hour = frames["5m"], frames["1h"]
    assert five.index.names == ["series", "replication", "time"]
    assert len(hour.loc[("cpu_percent", 0)]) == 24
    assert isinstance(hour.loc[("cpu_percent", 0)].index, pd.DatetimeIndex)
    assert (hour.loc["network_mbps", "count"] == 240).all()
    pd.testing.assert_frame_equal(five, rollup_frame(s, 300.0))
    assert hour.loc["disk_used_gib", "max"].to_numpy() == pytest.approx(
        s.disk_used_gib[:, 239::240].ravel()
    )
    with pytest.raises(simkit.SimkitError, match="window_s = 100 is invalid; allowed: a whole"):
        rollup(s.cpu_percent, 15.0, 100)
