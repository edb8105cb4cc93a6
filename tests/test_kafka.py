"""Kafka consumer lag: fluid queue vs plain loops, bursts, retention, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import simkit
from simkit.errors import SimkitError
from simkit.kafka import KafkaLag, consumer_lag, consumer_rate_mps

PERIOD_S = 15.0


def experimental(**changes: object) -> simkit.Scenario:
    return simkit.load_scenario("experimental").replace(**changes)


def lindley_reference(scenario: simkit.Scenario, rate: np.ndarray) -> np.ndarray:
    """Plain Python loop: lag[t] = max(0, lag[t-1] + in[t] - out) [messages]."""
    out = consumer_rate_mps(scenario) * PERIOD_S
    lag = np.zeros_like(rate)
    for r in range(rate.shape[0]):
        prev = 0.0
        for t in range(rate.shape[1]):
            prev = max(0.0, prev + scenario.kafka.async_fraction * rate[r, t] * PERIOD_S - out)
            lag[r, t] = prev
    return lag


def retention_reference(scenario: simkit.Scenario, rate: np.ndarray) -> tuple[np.ndarray, float]:
    """Plain loop over FIFO chunks (uniform arrivals within a period), one replication.

    Each period adds a chunk [t0, t1, amount]; consumers eat from the oldest chunk;
    at the period end, everything that arrived before end - retention is deleted.
    """
    out = consumer_rate_mps(scenario) * PERIOD_S
    keep_s = scenario.kafka.retention_h * 3600.0
    chunks: list[list[float]] = []
    lag, lost = np.zeros(rate.size), 0.0
    for t, rate_t in enumerate(rate):
        chunks.append(
            [t * PERIOD_S, (t + 1) * PERIOD_S, scenario.kafka.async_fraction * rate_t * PERIOD_S]
        )
        budget = out
        while budget > 0 and chunks:
            t0, t1, amount = chunks[0]
            take = min(budget, amount)
            budget -= take
            if take >= amount:
                chunks.pop(0)
            else:
                chunks[0] = [t0 + (t1 - t0) * take / amount, t1, amount - take]
        cut = (t + 1) * PERIOD_S - keep_s
        while chunks and chunks[0][0] < cut:
            t0, t1, amount = chunks[0]
            if t1 <= cut:
                lost += amount
                chunks.pop(0)
            else:
                gone = amount * (cut - t0) / (t1 - t0)
                lost += gone
                chunks[0] = [cut, t1, amount - gone]
        lag[t] = sum(c[2] for c in chunks)
    return lag, lost


def test_consumer_capacity_is_consumers_times_app_service_rate():
    s = experimental()  # 3 consumers, 11 ms x (1 + 0.05 TLS + 0.05 logging)
    assert consumer_rate_mps(s) == pytest.approx(3 / (11e-3 * 1.10))


def test_lag_matches_a_plain_loop_on_random_rates():
    s = experimental()
    rng = np.random.default_rng(3)
    cap_rps = consumer_rate_mps(s) / s.kafka.async_fraction  # request rate at capacity
    rate = rng.uniform(0.0, 2.0 * cap_rps, (4, 500))
    lag = consumer_lag(s, rate, PERIOD_S)
    assert isinstance(lag, KafkaLag)
    ref = lindley_reference(s, rate)
    np.testing.assert_allclose(lag.lag_messages, ref, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(lag.lag_s, ref / consumer_rate_mps(s), rtol=1e-9, atol=1e-9)
    assert np.all(lag.lost_messages == 0.0)
    assert lag.lag_messages.max() > 0  # the random rates do build a backlog


def test_lag_recovers_after_a_burst():
    s = experimental()
    cap_mps = consumer_rate_mps(s)
    n = 200
    rate = np.full((1, n), 0.5 * cap_mps / s.kafka.async_fraction)  # half capacity
    rate[0, 20:30] = 3.0 * cap_mps / s.kafka.async_fraction  # 150 s at 3x capacity
    lag = consumer_lag(s, rate, PERIOD_S).lag_messages[0]
    assert np.all(lag[:20] == 0.0)
    peak = 2.0 * cap_mps * 10 * PERIOD_S  # (3 - 1) x capacity x 150 s
    assert lag[29] == pytest.approx(peak)
    # Drains at (1 - 0.5) x capacity: back to zero after peak / (0.5 cap) = 40 periods.
    assert lag[29 + 39] > 0.0 and np.all(lag[29 + 40 :] < 1e-9)


def test_zeros_when_kafka_is_disabled():
    prod = simkit.load_scenario("production")
    lag = consumer_lag(prod, np.full((2, 10), 1e6), PERIOD_S)
    assert lag.lag_messages.shape == (2, 10) and lag.lost_messages.shape == (2,)
    assert not lag.lag_messages.any() and not lag.lag_s.any() and not lag.lost_messages.any()


def test_nothing_lost_within_retention_even_with_a_long_outage_of_capacity():
    s = experimental()  # 168 h retention
    rate = np.full((1, 2000), 5.0 * consumer_rate_mps(s) / s.kafka.async_fraction)
    assert consumer_lag(s, rate, PERIOD_S).lost_messages[0] == 0.0


@pytest.mark.parametrize("retention_h", [0.01, 0.05, 0.2])
def test_tiny_retention_loses_messages_as_a_plain_loop_does(retention_h):
    s = experimental(kafka__retention_h=retention_h)
    rng = np.random.default_rng(11)
    cap_rps = consumer_rate_mps(s) / s.kafka.async_fraction
    rate = rng.uniform(0.0, 3.0 * cap_rps, (3, 300))
    lag = consumer_lag(s, rate, PERIOD_S)
    assert lag.lost_messages.sum() > 0
    for r in range(3):
        ref_lag, ref_lost = retention_reference(s, rate[r])
        np.testing.assert_allclose(lag.lag_messages[r], ref_lag, rtol=1e-9, atol=1e-6)
        assert lag.lost_messages[r] == pytest.approx(ref_lost, rel=1e-9, abs=1e-6)
    # Conservation: published = consumed + deleted + still in the topic.
    published = s.kafka.async_fraction * rate.sum(axis=1) * PERIOD_S
    consumed_max = consumer_rate_mps(s) * PERIOD_S * rate.shape[1]
    assert np.all(published - lag.lost_messages - lag.lag_messages[:, -1] <= consumed_max + 1e-6)


@pytest.mark.parametrize(
    ("rate", "period", "word"),
    [
        (np.ones(5), PERIOD_S, "rate_rps"),
        (-np.ones((1, 5)), PERIOD_S, "rate_rps"),
        (np.full((1, 5), np.inf), PERIOD_S, "rate_rps"),
        (np.ones((1, 5)), -1.0, "period_s"),
        (np.ones((1, 5)), None, "period_s"),
    ],
)
def test_bad_input_names_the_argument(rate, period, word):
    with pytest.raises(SimkitError, match=word) as err:
        consumer_lag(experimental(), rate, period)
    assert "\n" not in str(err.value)


def test_scenario_must_be_a_scenario():
    with pytest.raises(SimkitError, match="scenario"):
        consumer_lag("experimental", np.ones((1, 5)), PERIOD_S)
