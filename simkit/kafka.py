"""Event-driven path: consumer lag of a Kafka topic as a fluid queue.

A share ``kafka.async_fraction`` of the requests publishes a message to a
topic instead of being processed in the request.  Producers never wait (the
topic absorbs any burst), so the app tier's latency is unaffected; the
consumer group drains the topic at a constant capacity

``kafka.consumers x CONSUMER_SPEEDUP / service.effective_service_time_s``
[messages/s]: one consumer processes a message as fast as an app-tier event
loop serves a request (``CONSUMER_SPEEDUP = 1``; a module constant because the
scenario has no per-consumer rate field).

Per control period ``t`` of length ``period_s``, ``in[t] = async_fraction x
rate[t] x period_s`` messages arrive and at most ``out = capacity x period_s``
are consumed.  The lag at the end of the period is Lindley's recursion
``lag[t] = max(0, lag[t-1] + in[t] - out)``, i.e. the reflected random walk
``lag[t] = S[t] - min(0, min_{s<=t} S[s])`` with ``S = cumsum(in - out)``,
computed with :func:`numpy.cumsum` and :func:`numpy.minimum.accumulate`.

Retention.  A message still unconsumed ``retention_h`` after it arrived is
deleted by the topic (Kafka ``log.retention.hours``; segment granularity is
ignored), so the lag can never exceed what arrived in the last ``retention_h``.
When the plain walk stays below that bound (the normal case) nothing is lost;
otherwise the consumer position follows ``X[t] = max(L[t], min(A[t], X[t-1] +
out))`` (``A`` cumulative arrivals, ``L`` arrivals older than the retention),
a composition of clamp maps evaluated with a vectorized prefix scan
(``log2(P)`` whole-array passes), and the deleted messages are counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simkit.effects import check_model_inputs
from simkit.scenario import Scenario

__all__ = ["CONSUMER_SPEEDUP", "KafkaLag", "consumer_lag", "consumer_rate_mps"]

#: Messages one consumer processes per second, relative to the requests one app
#: event loop serves per second [-] (assumption: same code, same cost).
CONSUMER_SPEEDUP = 1.0


@dataclass(frozen=True)
class KafkaLag:
    """Consumer lag of the topic per replication and control period.

    Attributes
    ----------
    lag_messages : numpy.ndarray
        Messages published but neither consumed nor deleted at the end of each
        period [count], ``[R, P]``.
    lag_s : numpy.ndarray
        ``lag_messages`` divided by the consumer throughput: how long the group
        needs to catch up [s], ``[R, P]``.
    lost_messages : numpy.ndarray
        Messages deleted by retention before any consumer read them [count], ``[R]``.
    """

    lag_messages: np.ndarray
    lag_s: np.ndarray
    lost_messages: np.ndarray


def consumer_rate_mps(scenario: Scenario) -> float:
    """Throughput of the whole consumer group [messages/s]."""
    per_consumer = CONSUMER_SPEEDUP / scenario.service.effective_service_time_s
    return scenario.kafka.consumers * per_consumer


def _check(scenario: Scenario, rate_rps: object, period_s: object) -> tuple[np.ndarray, float]:
    return check_model_inputs(scenario, rate_rps, period_s)


def _clamp_scan(lo: np.ndarray, hi: np.ndarray, step: float) -> np.ndarray:
    """``X[t] = max(lo[t], min(hi[t], X[t-1] + step))`` from ``X[-1] = 0``, along axis 1.

    Each update is a clamp map ``x -> max(a, min(b, x + d))`` and clamps compose
    into clamps, so a Hillis-Steele prefix scan gives every ``X[t]`` in
    ``ceil(log2(P))`` vectorized passes.
    """
    a, b = lo.copy(), hi.copy()
    d = np.full(lo.shape, step)
    shift = 1
    n = lo.shape[1]
    while shift < n:
        # Compose f_t o f_{t-shift..}: earlier map (a1, b1, d1) then (a2, b2, d2).
        a1, b1, d1 = a[:, :-shift], b[:, :-shift], d[:, :-shift]
        a2, b2, d2 = a[:, shift:], b[:, shift:], d[:, shift:]
        new_a = np.maximum(a2, np.minimum(b2, a1 + d2))
        new_b = np.maximum(a2, np.minimum(b2, b1 + d2))
        a = np.concatenate([a[:, :shift], new_a], axis=1)
        b = np.concatenate([b[:, :shift], new_b], axis=1)
        d = np.concatenate([d[:, :shift], d1 + d2], axis=1)
        shift *= 2
    return np.maximum(a, np.minimum(b, d))  # apply to x = 0


def consumer_lag(scenario: Scenario, rate_rps: np.ndarray, period_s: float) -> KafkaLag:
    """Consumer lag of the event-driven path.

    Parameters
    ----------
    scenario : Scenario
        The system; uses ``kafka`` and ``service`` (consumer throughput).
    rate_rps : numpy.ndarray
        Offered request rate per control period [1/s], ``[R, P]``.
    period_s : float
        Control period [s].

    Returns
    -------
    KafkaLag
        All zeros when ``kafka.enabled`` is false.

    Raises
    ------
    SimkitError
        Bad shapes, negative or non-finite rates, a bad period.
    """
    rate, period_s = _check(scenario, rate_rps, period_s)
    n_rep, n_per = rate.shape
    kafka = scenario.kafka
    if not kafka.enabled or kafka.async_fraction == 0:
        zeros = np.zeros((n_rep, n_per))
        return KafkaLag(zeros, zeros.copy(), np.zeros(n_rep))
    capacity_mps = consumer_rate_mps(scenario)
    arrivals = kafka.async_fraction * rate * period_s  # messages per period
    out = capacity_mps * period_s
    walk = np.cumsum(arrivals - out, axis=1)
    lag = walk - np.minimum(0.0, np.minimum.accumulate(walk, axis=1))
    # Arrivals still retained at each period end: those newer than end - retention.
    cum = np.concatenate([np.zeros((n_rep, 1)), np.cumsum(arrivals, axis=1)], axis=1)
    ends_s = np.arange(1, n_per + 1) * period_s
    old_s = np.maximum(ends_s - kafka.retention_h * 3600.0, 0.0)
    k = np.minimum(np.floor(old_s / period_s).astype(np.int64), n_per - 1)
    frac = (old_s - k * period_s) / period_s
    expired = cum[:, k] + arrivals[:, k] * frac  # arrivals older than the retention
    retained = cum[:, 1:] - expired
    lost = np.zeros(n_rep)
    if np.any(lag > retained * (1 + 1e-12) + 1e-9):
        position = _clamp_scan(expired, cum[:, 1:], out)
        before = np.concatenate([np.zeros((n_rep, 1)), position[:, :-1]], axis=1)
        reached = np.minimum(cum[:, 1:], before + out)
        lost = np.maximum(expired - reached, 0.0).sum(axis=1)
        lag = cum[:, 1:] - position
    lag = np.maximum(lag, 0.0)
    return KafkaLag(lag, lag / capacity_mps, lost)
