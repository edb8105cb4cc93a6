"""The compiled step overlay gives the NumPy reference's arrays, bit for bit.

``engine="numpy"`` runs the NumPy control loop and :func:`simkit.outcome.overlay_reference`,
``engine="numba"`` the compiled loop and :func:`simkit.outcome_kernel.overlay`; the loops
agree bit for bit (``test_control_kernel``), so every difference here is the overlay's.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simkit
from simkit import outcome, outcome_kernel
from simkit.result import SimResult
from simkit.scenario import Scenario
from simkit.split_kernel import log_factorials

STEP_ARRAYS = ("arrivals", "errors", "backlog", "latency_p50_s", "latency_p95_s", "latency_p99_s")


def _arrays(result: SimResult) -> dict[str, np.ndarray]:
    """Every array of a result: its fields, the overlay's, the breakdown, the step arrays."""
    out = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    out = {k: v for k, v in out.items() if isinstance(v, np.ndarray)}
    for f in dataclasses.fields(result.overlay):
        out[f"overlay.{f.name}"] = getattr(result.overlay, f.name)
    for cause, v in result.error_breakdown.items():
        out[f"breakdown.{cause}"] = v
    out.update({name: getattr(result, name) for name in STEP_ARRAYS})
    return out


def _assert_same(scenario: Scenario, **kwargs: object) -> SimResult:
    """Both engines on ``scenario``: identical arrays (dtype and bits); the numba result."""
    want = _arrays(simkit.simulate(scenario, engine="numpy", **kwargs))
    result = simkit.simulate(scenario, engine="numba", **kwargs)
    got = _arrays(result)
    assert want.keys() == got.keys()
    for name, a in want.items():
        assert a.dtype == got[name].dtype, name
        assert np.array_equal(a, got[name], equal_nan=True), name
    return result


@st.composite
def _experiment(draw: st.DrawFn) -> dict:
    """A chaos experiment at a time off the step grid: kills, failed requests, latency."""
    kind = draw(st.sampled_from(["kill_instances", "fail_requests", "latency"]))
    exp = {
        "kind": kind,
        "at_s": draw(st.floats(0.0, 5000.0)),
        "duration_s": draw(st.sampled_from([0.7, 40.0, 900.0, 2500.0])),
    }
    if kind == "kill_instances":
        exp["instances"] = draw(st.integers(1, 6))
    elif kind == "fail_requests":
        exp["failed_fraction"] = draw(st.sampled_from([0.05, 0.5, 1.0]))
    else:
        exp["added_ms"] = draw(st.sampled_from([5.0, 400.0]))
    return exp


@st.composite
def _scenario(draw: st.DrawFn) -> Scenario:
    """Development (one instance: deploys take it down) or production, with overloads,
    queue limits, timeouts, crashes, deploys and chaos windows that overlap."""
    s = simkit.load_scenario(draw(st.sampled_from(["development", "development", "production"])))
    changes: dict[str, object] = {
        "workload__mean_rate_rps": s.workload.mean_rate_rps * draw(st.sampled_from([0.3, 1, 4])),
        "workload__flash_crowds_per_day": draw(st.sampled_from([0.0, 48.0])),
        "failures__instance_mtbf_h": draw(st.sampled_from([1e7, 0.5])),
        "service__queue_limit_per_instance": draw(st.sampled_from([1, 50, 1024])),
        "service__timeout_s": draw(st.sampled_from([0.5, 5.0, 30.0])),
        "deployment__deploys_per_day": draw(st.sampled_from([0.0, 20.0, 96.0])),
    }
    experiments = draw(st.lists(_experiment(), max_size=3))
    if experiments:
        changes.update(chaos__enabled=True, chaos__experiments=experiments)
    return s.replace(**changes)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=_scenario(), replications=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_compiled_overlay_matches_the_reference(
    scenario: Scenario, replications: int, seed: int
) -> None:
    _assert_same(scenario, duration="2h", replications=replications, seed=seed)


def test_development_day_matches_and_exercises_the_overlay() -> None:
    """A day of the development profile: overloads, deploys taking the one instance down,
    and overlapping chaos windows; every path of the overlay is taken."""
    chaos = [
        {"kind": "kill_instances", "at_s": 3001.3, "duration_s": 900.0, "instances": 1},
        {"kind": "fail_requests", "at_s": 3100.25, "duration_s": 600.0, "failed_fraction": 0.5},
    ]
    s = simkit.load_scenario("development").replace(chaos__enabled=True, chaos__experiments=chaos)
    result = _assert_same(s, duration="1D", replications=3, seed=11)
    ov = result.overlay
    assert ov.queued.any() and not ov.queued.all()
    assert (result.ready_instances[ov.replication, ov.period] == 0).any()
    assert (~result.overloaded[ov.replication, ov.period]).any()  # window-only rows
    breakdown = result.error_breakdown
    assert all(breakdown[c].sum() > 0 for c in ("unavailable", "overload", "deploy", "chaos"))


@pytest.mark.parametrize("profile", ["production", "experimental"])
def test_profiles_match(profile: str) -> None:
    _assert_same(simkit.load_scenario(profile), duration="6h", replications=2, seed=2)


def _random_rows(rng: np.random.Generator, n: int, k: int) -> outcome_kernel.OverlayInputs:
    """``n`` overlay rows with random inputs: fractions, windows (several per step),
    backlogs and limits, capacity with gaps (zero for a while, and until the end)."""
    n_rep, n_per = 3, 40
    cap = rng.integers(0, 4, (n_rep, n_per)) * 7.5
    cap[2, 30:] = 0.0
    w_count = rng.integers(0, 4, n)
    m = int(w_count.sum())
    return outcome_kernel.OverlayInputs(
        rep=rng.integers(0, n_rep, n),
        period=rng.integers(0, n_per, n),
        counts=rng.integers(0, 300, n) * rng.integers(0, 2, n),
        keys=rng.integers(0, 2**63, n_rep, dtype=np.uint64),
        log_fact=log_factorials(1000),
        split_at=np.zeros((0, 0), np.int32),
        split=np.zeros((0, k)),
        overloaded=rng.random(n) < 0.8,
        backlog0=rng.random(n) * rng.choice([0.0, 10.0, 500.0], n),
        departures=rng.random(n) * 30.0,
        limit=rng.choice([0.0, 20.0, 400.0], n),
        saturated=rng.random(n) < 0.3,
        down=rng.random(n) < 0.2,
        fractions=rng.random((n, 3)) * rng.choice([0.0, 0.1, 0.5], (n, 3)),
        w_ptr=np.concatenate([[0], np.cumsum(w_count)]),
        w_cause=rng.integers(0, 2, m),
        w_step=rng.integers(0, k, m),
        w_frac=rng.random(m),
        served=outcome.served_before(cap, 15.0),
        cap_rps=cap,
        backend_s=rng.random(n) * 0.1,
        q_period_s=np.sort(rng.random((n, 3)), axis=1).astype(np.float32),
        service_q_s=np.array([0.01, 0.03, 0.05]),
    )


def _assert_overlays_match(
    pp: outcome_kernel.OverlayParams, a: outcome_kernel.OverlayInputs
) -> outcome_kernel.OverlayOutputs:
    """Both overlays straight on ``a``: identical outputs; the reference's."""
    want = outcome.overlay_reference(pp, a)
    got = outcome_kernel.empty_outputs(a.rep.size, pp.steps, 3, want.causes.shape[1])
    outcome_kernel.overlay(pp, a, got)
    for name, x in want._asdict().items():
        y = getattr(got, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    return want


@pytest.mark.parametrize("seed", range(4))
def test_overlay_on_random_rows(seed: int) -> None:
    k = 15 if seed % 2 else 4
    pp = outcome_kernel.OverlayParams(k, 2, 15.0, 15.0 / k, 5.0)
    _assert_overlays_match(pp, _random_rows(np.random.default_rng(seed), 2000, k))


def test_overlay_on_hand_made_rows() -> None:
    """Edge rows straight into both overlays: no arrivals, a zero queue limit, a window
    covering more than every request, a capacity that never comes back."""
    rng = np.random.default_rng(3)
    n, k, n_per = 6, 4, 8
    cap = np.full((2, n_per), 20.0)
    cap[1, 3:] = 0.0
    pp = outcome_kernel.OverlayParams(k, 2, 15.0, 3.75, 5.0)
    a = outcome_kernel.OverlayInputs(
        rep=np.array([0, 0, 0, 1, 1, 1]),
        period=np.array([0, 2, 5, 1, 3, 7]),
        counts=np.array([0, 90, 400, 7, 300, 50]),
        keys=np.array([11, 12], dtype=np.uint64),
        log_fact=log_factorials(1000),
        split_at=np.zeros((0, 0), np.int32),
        split=np.zeros((0, k)),
        overloaded=np.array([True, True, False, True, True, True]),
        backlog0=np.array([0.0, 30.0, 0.0, 5.0, 100.0, 0.0]),
        departures=np.array([0.0, 5.0, 0.0, 4.0, 0.0, 0.0]),
        limit=np.array([10.0, 0.0, 50.0, 30.0, 0.0, 40.0]),
        saturated=np.array([True, False, False, False, True, True]),
        down=np.array([False, False, False, False, True, True]),
        fractions=rng.random((n, 2)) * 0.3,
        w_ptr=np.array([0, 0, 3, 5, 5, 5, 6]),
        w_cause=np.array([0, 1, 0, 1, 1, 0]),
        w_step=np.array([1, 1, 1, 0, 3, 2]),
        w_frac=np.array([0.7, 0.6, 0.2, 1.0, 0.25, 0.5]),
        served=outcome.served_before(cap, 15.0),
        cap_rps=cap,
        backend_s=rng.random(n) * 0.1,
        q_period_s=np.sort(rng.random((n, 3)), axis=1).astype(np.float32),
        service_q_s=np.array([0.01, 0.03, 0.05]),
    )
    want = _assert_overlays_match(pp, a)
    assert want.queued[4].all() and (want.wait_s[4] == pp.timeout_s).all()  # no capacity
    assert want.errors[1, 1] == want.arrivals[1, 1] > 0  # windows above every request
    assert (want.arrivals[0] == 0).all() and (want.errors[0] == 0).all()
