"""The learned scaling policy: its floor (causal, reference loop, bounds, hand values),
its policy search (deterministic, improves) and its use by the engine."""

from __future__ import annotations

import math

import numpy as np
import pytest

import simkit
from simkit.autoscaling.learned import ewm_load, learned_floor
from simkit.scenario import Learned
from simkit.training import (
    from_search_space,
    objective,
    to_search_space,
    train,
    training_tasks,
)

PERIOD_S = 15.0


def _scenario(**learned: float) -> simkit.Scenario:
    base = simkit.load_scenario("production")
    params = {
        "headroom": 1.3,
        "trend_gain": 2.0,
        "short_window_s": 120.0,
        "long_window_s": 1800.0,
        "target_utilization": 0.6,
    }
    return base.replace(learned=params | learned, autoscaling__max_replicas=40)


def _random_rate(seed: int, shape: tuple[int, int] = (3, 400)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 600.0, size=shape) * rng.uniform(0.2, 1.0, size=(shape[0], 1))


def _reference_floor(scenario: simkit.Scenario, rate_rps: np.ndarray) -> np.ndarray:
    """The policy as a plain loop over periods, written from the formula in the docstring."""
    p, a = scenario.learned, scenario.autoscaling
    per_instance = p.target_utilization * scenario.servers_per_instance * scenario.service_rate_rps
    out = np.empty(rate_rps.shape, dtype=np.int64)
    for r, row in enumerate(rate_rps):
        short = long = row[0]
        for t, x in enumerate(row):
            short += (1 - math.exp(-PERIOD_S / p.short_window_s)) * (x - short)
            long += (1 - math.exp(-PERIOD_S / p.long_window_s)) * (x - long)
            demand = p.headroom * short + p.trend_gain * max(short - long, 0.0)
            need = math.ceil(demand / per_instance - 1e-9)
            out[r, t] = min(max(need, a.min_replicas), a.max_replicas)
    return out


# ------------------------------------------------------------------------ the floor


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_floor_matches_a_plain_loop(seed: int) -> None:
    s = _scenario(trend_gain=float(seed) * 3.0, short_window_s=15.0 + 100.0 * seed)
    rate = _random_rate(seed)
    floor = learned_floor(s, rate, PERIOD_S)
    assert floor.dtype == np.int64 and floor.shape == rate.shape
    np.testing.assert_array_equal(floor, _reference_floor(s, rate))


def test_floor_is_causal() -> None:
    s = _scenario()
    rate = _random_rate(3)
    floor = learned_floor(s, rate, PERIOD_S)
    for t in (0, 57, 250, 398):
        changed = rate.copy()
        changed[:, t + 1 :] = np.random.default_rng(t).uniform(
            0.0, 900.0, changed[:, t + 1 :].shape
        )
        np.testing.assert_array_equal(
            learned_floor(s, changed, PERIOD_S)[:, : t + 1], floor[:, : t + 1]
        )


def test_floor_respects_min_and_max_replicas() -> None:
    s = _scenario()  # min_replicas 3, max_replicas 40
    assert (learned_floor(s, np.zeros((2, 50)), PERIOD_S) == 3).all()
    assert (learned_floor(s, np.full((2, 50), 1e6), PERIOD_S) == 40).all()
    floor = learned_floor(s, _random_rate(4), PERIOD_S)
    assert floor.min() >= 3 and floor.max() <= 40


@pytest.mark.parametrize(("rate_rps", "utilization"), [(400.0, 0.5), (123.4, 0.8), (250.0, 0.3)])
def test_constant_load_asks_for_rate_over_planned_throughput(
    rate_rps: float, utilization: float
) -> None:
    """headroom 1, trend 0: ceil(rate / (util x mu)); mu = 1 / (10 ms x 1.05 TLS) = 95.238/s."""
    s = _scenario(headroom=1.0, trend_gain=0.0, target_utilization=utilization)
    mu = 1.0 / 0.0105
    expected = math.ceil(rate_rps / (utilization * mu))  # 400/47.62 = 8.4 -> 9, ...
    # start low, then hold the load for 40 short windows (warm-up)
    rate = np.concatenate([np.full(100, 5.0), np.full(700, rate_rps)])[None, :]
    floor = learned_floor(s, rate, PERIOD_S)
    assert (floor[0, 100 + 40 * 120 // 15 :] == max(expected, 3)).all()


def test_ewm_load_of_a_step_follows_one_minus_exp() -> None:
    """A unit step seen through a 150 s mean at 15 s periods: 1 - exp(-k x 0.1) after k periods."""
    rate = np.concatenate([np.zeros(10), np.ones(50)])[None, :]
    mean = ewm_load(rate, PERIOD_S, 150.0)
    k = np.arange(1, 51)
    np.testing.assert_allclose(mean[0, 10:], 1 - np.exp(-0.1 * k), rtol=1e-12)


def test_search_space_round_trip_and_bounds() -> None:
    params = Learned(
        headroom=1.7,
        trend_gain=4.0,
        short_window_s=90.0,
        long_window_s=2700.0,
        target_utilization=0.55,
    )
    values = from_search_space(to_search_space(params))
    assert values["headroom"] == pytest.approx(1.7)
    assert values["long_window_s"] == pytest.approx(2700.0)
    extreme = from_search_space(np.array([50.0, -50.0, 50.0, 50.0, -50.0]))
    assert extreme["headroom"] <= 3.0 and extreme["trend_gain"] >= 0.0
    assert extreme["long_window_s"] <= 3600.0 * 100.0 + 1e-6
    assert extreme["target_utilization"] >= 0.3


# ------------------------------------------------------------------------ the search

TINY = {"population": 4, "tasks_per_generation": 1, "duration": "3h", "replications": 2}


def test_train_is_deterministic_for_a_seed() -> None:
    base = simkit.load_scenario("production").replace(deployment__deploys_per_day=0.0)
    a_params, a_log = train(base, iterations=2, seed=5, **TINY)
    b_params, b_log = train(base, iterations=2, seed=5, **TINY)
    assert a_params == b_params
    assert a_log.equals(b_log)
    assert list(a_log.index) == [0, 1]


def test_train_improves_on_its_starting_point() -> None:
    """Compared: the objective of the returned parameters and of the starting point, on
    generation 0's synthetic tasks with their seeds (common random numbers).  The start
    over-provisions (floor = 2.5 x load / (0.35 x mu), about 7x what the load needs),
    so lower cost at no SLO loss is there to find."""
    base = simkit.load_scenario("production").replace(deployment__deploys_per_day=0.0)
    start = Learned(
        headroom=2.5,
        trend_gain=5.0,
        short_window_s=60.0,
        long_window_s=600.0,
        target_utilization=0.35,
    )
    settings = {"duration": "3h", "replications": 2}
    params, log = train(
        base,
        iterations=3,
        population=6,
        tasks_per_generation=1,
        seed=2,
        initial=start,
        **settings,
    )
    tasks = training_tasks(base, seed=2, generation=0, n=1)
    before, after = objective([start, params], tasks, **settings)
    assert log["objective_mean"].iloc[0] == pytest.approx(before)  # the log scored the start
    assert after < before


# ------------------------------------------------------------------------ the engine


def test_engine_keeps_desired_instances_at_or_above_the_floor() -> None:
    s = _scenario(headroom=3.0, target_utilization=0.3).replace(
        autoscaling__policy="learned", deployment__deploys_per_day=0.0
    )
    result = simkit.simulate(s, duration="6h", step="15s", replications=2, seed=3)
    floor = learned_floor(s, result.rate_rps, PERIOD_S)
    # the floor requested at the end of period p holds from period p + 1 on
    assert (result.desired_instances[:, 1:] >= floor[:, :-1]).all()
    reactive = simkit.simulate(
        s.replace(autoscaling__policy="reactive"), duration="6h", step="15s", replications=2, seed=3
    )
    assert result.desired_instances.sum() > reactive.desired_instances.sum()  # it binds
