"""Tests of simkit.analysis: intervals, tests, SLO accounting, capacity plans, Pareto, fits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import simkit
from simkit import analysis, queueing
from simkit.errors import SimkitError
from simkit.scenario import burn_rate_rules
from tests.conftest import constant_load_scenario

FAST = 999  # bootstrap resamples in tests


@pytest.fixture(scope="module")
def prod_dev() -> list[simkit.SimResult]:
    return [
        simkit.simulate(simkit.load_scenario(name), duration="2h", replications=16, seed=5)
        for name in ("production", "development")
    ]


# ------------------------------------------------------------------ confidence intervals


def test_bootstrap_ci_shrinks_as_replications_grow() -> None:
    res = simkit.simulate(simkit.load_scenario("production"), duration="2h", replications=64)
    requests = simkit.kpis(res)["requests"].to_numpy()
    widths = []
    for n in (4, 16, 64):
        _, low, high = analysis.bootstrap_ci(requests[:n], n_resamples=FAST)
        widths.append(high - low)
    # the width of a mean's interval scales as 1 / sqrt(n): x 1/2 per 4x replications
    assert widths[0] > widths[1] > widths[2] > 0
    assert 0.3 < widths[2] / widths[1] < 0.75


def test_bootstrap_ci_covers_the_true_mean_at_about_the_stated_rate() -> None:
    rng = np.random.default_rng(1)
    trials, hits = 200, 0
    for _ in range(trials):
        x = rng.normal(10.0, 2.0, size=16)
        _, low, high = analysis.bootstrap_ci(x, 0.95, n_resamples=FAST, seed=int(rng.integers(1e9)))
        hits += low <= 10.0 <= high
    # BCa for n = 16 covers about 93-95 %; P(X <= 175 | Binomial(200, 0.93)) ~ 0.5 %
    assert 176 <= hits <= 199


def test_bootstrap_ci_degenerate_and_bad_input() -> None:
    assert analysis.bootstrap_ci([3.0]) == (3.0, 3.0, 3.0)
    assert analysis.bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    with pytest.raises(SimkitError, match=r"confidence = 1\.5"):
        analysis.bootstrap_ci([1.0, 2.0], 1.5)
    with pytest.raises(SimkitError, match="finite"):
        analysis.bootstrap_ci([1.0, np.nan])


# ------------------------------------------------------------------ compare and tests


def test_compare_names_the_paired_test_for_shared_seeds(prod_dev) -> None:
    out = analysis.compare(prod_dev, n_resamples=FAST)
    dev = out.loc["development"]
    assert set(dev["test"]) == {"Wilcoxon signed-rank"}
    assert (out.loc["production", "test"] == "").all()
    # development (one debug instance) is far worse in all 16 pairs: the exact signed-rank
    # p is 2 / 2^16 = 3e-5; tied differences switch scipy to the normal approximation
    row = dev.loc["slo_good_minutes_fraction"]
    assert row["significant"] and row["p_value"] < 1e-3
    assert row["difference"] < 0
    assert {"mean", "ci_low", "ci_high", "n", "baseline", "statistic"} <= set(out.columns)
    means = pd.concat([simkit.kpis(r) for r in prod_dev]).groupby("scenario")["errors"].mean()
    assert out.loc[("development", "errors"), "mean"] == pytest.approx(means["development"])


def test_compare_with_intervals_summarized_per_scenario_is_the_same(prod_dev) -> None:
    """compare's intervals computed elsewhere (simkit compare's workers, one scenario each)."""
    frame = analysis.kpi_frame(prod_dev)
    intervals = pd.concat(
        [analysis.summarize(g, n_resamples=FAST) for _, g in frame.groupby("scenario")]
    )
    given = analysis.compare(frame, n_resamples=FAST, intervals=intervals)
    pd.testing.assert_frame_equal(given, analysis.compare(frame, n_resamples=FAST))


def test_compare_same_scenario_same_seed_finds_nothing() -> None:
    s = simkit.load_scenario("production")
    a = simkit.simulate(s, duration="1h", replications=8, seed=1)
    b = simkit.simulate(s.replace(name="copy"), duration="1h", replications=8, seed=1)
    out = analysis.compare([a, b], n_resamples=FAST)
    assert not out["significant"].any()
    assert (out.loc["copy", "p_value"] == 1.0).all()  # every paired difference is 0


def test_false_positive_rate_of_identical_scenarios_with_different_seeds() -> None:
    s = simkit.load_scenario("production")
    kpis = ["requests", "slack", "latency_p50_s"]
    positives = dict.fromkeys(kpis, 0)
    trials = 40
    for k in range(trials):
        a = simkit.simulate(s, duration="1h", replications=8, seed=2 * k)
        b = simkit.simulate(s.replace(name="twin"), duration="1h", replications=8, seed=2 * k + 1)
        out = analysis.compare([a, b], kpis, n_resamples=FAST, alpha=0.05)
        assert set(out.loc["twin", "test"]) == {"Mann-Whitney U"}  # different seeds: unpaired
        for kpi in kpis:
            positives[kpi] += bool(out.loc[("twin", kpi), "significant"])
    # under H0 the count is at most Binomial(40, 0.05) (the exact U test is conservative);
    # P(X >= 7) = 0.34 %, so a count above 6 means the test is miscalibrated
    limit = int(stats.binom.ppf(0.9966, trials, 0.05))
    assert limit == 6
    assert all(count <= limit for count in positives.values()), positives


def test_compare_frame_and_bad_input(prod_dev) -> None:
    frame = analysis.kpi_frame(prod_dev)
    out = analysis.compare(frame, ["errors"], n_resamples=FAST)  # one seed column -> paired
    assert out.loc[("development", "errors"), "test"] == "Wilcoxon signed-rank"
    t = analysis.compare(frame.drop(columns="seed"), ["errors"], test="t", n_resamples=FAST)
    assert t.loc[("development", "errors"), "test"] == "Welch t"
    with pytest.raises(SimkitError, match="baseline = 'staging'"):
        analysis.compare(frame, baseline="staging")
    with pytest.raises(SimkitError, match=r"kpis = \['nope'\]"):
        analysis.compare(frame, ["nope"])
    with pytest.raises(SimkitError, match="test = 'z'"):
        analysis.compare(frame, ["errors"], test="z")


# ------------------------------------------------------------------ SLO accounting


def test_slo_minutes_match_the_kpi(prod_dev) -> None:
    for result in prod_dev:
        bad = analysis.minute_series(result)["bad"].sum(axis=1)
        k = simkit.kpis(result)
        np.testing.assert_array_equal(bad, k["slo_minutes_violated"])
        np.testing.assert_allclose(k["slo_good_minutes_fraction"], 1 - bad / 120)  # 2 h


def test_burn_rate_thresholds_follow_the_sre_workbook() -> None:
    """Table 5-8 of the SRE workbook: burn rates 14.4, 6, 3, 1 for 30 days."""
    for days, burns in ((30, [14.4, 6.0, 3.0, 1.0]), (28, [13.44, 5.6, 2.8, 28 / 30])):
        rules = burn_rate_rules(0.999, days)
        np.testing.assert_allclose([r.threshold / 0.001 for r in rules], burns)
    # The profiles carry the same rules for their SLO.
    for name in ("production", "experimental"):
        s = simkit.load_scenario(name)
        shipped = {r.name: r for r in s.monitoring.rules}
        for rule in burn_rate_rules(s.slo.availability, s.slo.window_days):
            got = shipped[rule.name]
            assert got.threshold == pytest.approx(rule.threshold, rel=1e-4)
            assert (got.window_s, got.short_window_s, got.receiver) == (
                rule.window_s,
                rule.short_window_s,
                rule.receiver,
            )


def test_one_hour_at_twenty_times_the_budget_pages_once() -> None:
    s = constant_load_scenario(40.0, 2)
    assert {r.name for r in burn_rate_rules(0.999, 28.0)} <= {r.name for r in s.monitoring.rules}
    base = simkit.simulate(s, duration="4D", replications=2, seed=0)
    assert not base.overloaded.any()  # steady periods: errors = arrivals x error_fraction
    fraction = np.zeros_like(base.error_fraction)
    first = 3 * 1440 + 600  # a full 3-day window lies behind the bad hour
    fraction[:, first * 4 : (first + 60) * 4] = 0.02  # 60 minutes (15 s periods): burn rate 20
    errors_period = base.arrivals.reshape(2, -1, 15).sum(axis=2, dtype=float) * fraction
    result = dataclasses.replace(base, error_fraction=fraction, errors_period=errors_period)
    errors = result.errors
    alerts = simkit.kpis(result)
    # 1 h and 5 min burn 20 > 13.44 pages; 6 h burns 20 / 6 = 3.3 < 5.6; 1 day 0.83 < 2.8;
    # 3 days 0.28 < 0.93 (constant load, so burn = 20 x 1 h / window).  HighErrorRatio
    # (2 % > 1 % for 5 min) pages too.
    assert alerts["pages"].tolist() == [2, 2]
    assert alerts["tickets"].tolist() == [0, 0]
    burn = analysis.burn_rate(result, "1h")
    assert burn.iloc[first + 59].to_numpy() == pytest.approx([20.0, 20.0])
    left = analysis.error_budget(result).iloc[-1].to_numpy()
    spent = errors.sum(axis=1, dtype=float) / (0.001 * base.arrivals.sum(axis=1, dtype=float) * 7)
    np.testing.assert_allclose(left, 1 - spent)  # 4 days seen, extrapolated to 28 days
    with pytest.raises(SimkitError, match="sli = 'latency'"):
        analysis.burn_rate(result, sli="latency")


# ------------------------------------------------------------------ capacity planning


def _erlang_c_instances(rate_rps: float, mu: float, target_s: float) -> int:
    """Smallest c with the M/M/c p99 response time <= target (simkit.queueing, exact)."""
    c = int(rate_rps // mu) + 1
    while queueing.response_time_quantile(0.99, c, rate_rps, mu) > target_s:
        c += 1
    return c


@pytest.mark.parametrize("rate_rps", [150.0, 420.0, 900.0])
def test_capacity_plan_equals_erlang_c_for_a_constant_load(rate_rps: float) -> None:
    s = constant_load_scenario(rate_rps, 1, service_time_ms=10.0)  # mu = 100 / s, no backend
    slo = {"latency_p99_s": 0.06}
    expected = _erlang_c_instances(rate_rps, 100.0, 0.06)
    # the answer is not on a knife edge: analytic p99 is >= 1 % from the SLO on both sides
    p99 = [
        float(queueing.response_time_quantile(0.99, c, rate_rps, 100.0))
        for c in (expected - 1, expected)
    ]
    assert p99[0] > 0.06 * 1.01 and p99[1] < 0.06 * 0.99
    plan = analysis.capacity_plan(s, slo, rate_rps, replications=4)
    assert plan.value == expected
    assert analysis.analytic_instances(s, rate_rps, slo) == expected
    assert plan.achieved == 1.0
    # cost of the answer: instances x t3.medium price
    assert plan.cost_usd_per_h == pytest.approx(expected * 0.0416)
    # simulated run p99 equals the M/M/c p99 (exact tables) at every stable pool size
    for c, row in plan.curve.iterrows():
        if rate_rps < c * 100.0 * 0.98:
            exact = float(queueing.response_time_quantile(0.99, c, rate_rps, 100.0))
            assert row["latency_p99_s_mean"] == pytest.approx(exact, rel=2e-3)


def test_capacity_plan_for_the_seasonal_load_is_monotone() -> None:
    s = simkit.load_scenario("production")
    answers = []
    for peak in (40.0, 80.0, 160.0):
        plan = analysis.capacity_plan(s, None, peak, load="seasonal", replications=8)
        meet = plan.curve["meet_fraction"].to_numpy()
        assert (np.diff(meet) >= 0).all()  # more instances never meet the SLO less often
        assert plan.achieved >= 0.95
        answers.append(plan.value)
    assert answers[0] <= answers[1] <= answers[2] and answers[0] < answers[2]
    # a seasonal day (noise, flash crowds) needs at least the constant-peak pool
    constant = analysis.capacity_plan(s, None, 160.0, replications=8)
    assert constant.value <= answers[2]


def test_capacity_plan_target_utilization_and_bad_input() -> None:
    s = simkit.load_scenario("production")
    plan = analysis.capacity_plan(
        s, None, 80.0, knob="target_utilization_percent", replications=4, duration="2h"
    )
    assert plan.value is not None and 1 <= plan.value <= 100
    met = plan.curve["meet_fraction"] >= 0.95
    assert met[met.index <= plan.value].all() and not met[met.index > plan.value].any()
    with pytest.raises(SimkitError, match="load = 'spiky'"):
        analysis.capacity_plan(s, None, 80.0, load="spiky")
    with pytest.raises(SimkitError, match="knob = 'cpu'"):
        analysis.capacity_plan(s, None, 80.0, knob="cpu")
    with pytest.raises(SimkitError, match="peak_rate_rps = -1"):
        analysis.capacity_plan(s, None, -1)
    with pytest.raises(SimkitError, match=r"needs autoscaling\.policy"):
        analysis.capacity_plan(
            simkit.load_scenario("development"), None, 10.0, knob="target_utilization_percent"
        )


# ------------------------------------------------------------------ Pareto


points = st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(points)
def test_pareto_front_is_non_dominated_and_complete(pts: list[tuple[int, int]]) -> None:
    frame = pd.DataFrame(pts, columns=["cost_usd", "slo_minutes_violated"])
    frame["scenario"] = [f"c{i}" for i in range(len(frame))]
    front = analysis.pareto(frame)
    xy = frame[["cost_usd", "slo_minutes_violated"]].to_numpy()
    f = front[["cost_usd", "slo_minutes_violated"]].to_numpy()

    def dominates(a: np.ndarray, b: np.ndarray) -> bool:
        return bool((a <= b).all() and (a < b).any())

    assert not any(dominates(p, q) for p in xy for q in f)  # nothing beats a front point
    outside = frame.drop(front.index)[["cost_usd", "slo_minutes_violated"]].to_numpy()
    assert all(any(dominates(q, p) for q in f) for p in outside)  # the rest is beaten
    assert list(front["cost_usd"]) == sorted(front["cost_usd"])


def test_pareto_averages_replications_and_maximizes(prod_dev) -> None:
    front = analysis.pareto(prod_dev)  # production costs 3x, violates far less: both stay
    assert set(front["scenario"]) == {"production", "development"}
    frame = pd.DataFrame(
        {"scenario": list("abc"), "cost_usd": [1, 2, 3], "availability": [0.9, 0.99, 0.95]}
    )
    assert list(
        analysis.pareto(frame, y="availability", maximize=["availability"])["scenario"]
    ) == ["a", "b"]
    with pytest.raises(SimkitError, match="'nope' is not a column"):
        analysis.pareto(frame, y="nope")


# ------------------------------------------------------------------ failure fits


def test_failure_fits_recover_mtbf_and_mttr() -> None:
    # (scipy's own censored exponential fit stopped at its 1 s start for development
    # with 2, 3 or 32 replications: the point estimate is checked, not only the CI)
    for name, reps in (("production", 16), ("development", 16), ("development", 2)):
        s = simkit.load_scenario(name)
        fit = analysis.fit_failure_times(s, replications=reps)
        assert fit["recovered"].all(), fit
        # the point estimate is the censored MLE: inside its interval, near the truth
        assert (fit["ci_low_s"] <= fit["fitted_s"]).all() and (
            fit["fitted_s"] <= fit["ci_high_s"]
        ).all(), fit
        np.testing.assert_allclose(fit["fitted_s"], fit["configured_s"], rtol=0.25)
        if reps < 16:
            continue
        # exponential up times: Weibull shape near 1, LR test does not reject
        rows = ["time_between_failures_s"]
        if s.failures.health_check:  # repairs start at once: exponential too
            rows.append("time_to_repair_s")
        np.testing.assert_allclose(fit.loc[rows, "weibull_shape"], 1.0, atol=0.1)
        assert (fit.loc[rows, "exponential_pvalue"] > 0.01).all()
    # Development has no health check: a crashed process waits for its console rule
    # (15 min) before the repair starts, so no down time is shorter than that.
    dev = simkit.load_scenario("development")
    down, _ = analysis.failure_intervals(dev, replications=4)["down"]
    assert down.min() >= dev.monitoring.detection_rule("instance_crash").for_s


def test_failure_intervals_are_the_engines_crashes() -> None:
    s = simkit.load_scenario("development")  # one fixed slot: every crash is counted
    result = simkit.simulate(s, duration="2D", step="15s", replications=6, seed=3)
    up, _ = analysis.failure_intervals(s, duration="2D", replications=6, seed=3, resolution_s=15.0)[
        "up"
    ]
    assert up.size == result.crashes.sum() > 0
