"""Vectorized HPA (``simkit.autoscaling.hpa_vec``) against the scalar reference (``hpa``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simkit.autoscaling import hpa
from simkit.autoscaling.behavior import (
    Behavior,
    ScalingPolicy,
    ScalingRules,
    behavior_from_api,
    default_behavior,
)
from simkit.autoscaling.hpa_vec import (
    HPAConfig,
    VectorHPA,
    behavior_rate_limit_vec,
    legacy_clamp_vec,
    policy_limit_vec,
    replica_calc_vec,
    stabilize_behavior_vec,
    stabilize_legacy_vec,
)

SETTINGS = settings(max_examples=200, deadline=None)
SYNC_PERIOD_S = 15.0

# Ages and windows that sit on and around the boundaries that matter (s).
AGES_S = st.one_of(
    st.sampled_from([0.0, 14.0, 15.0, 16.0, 30.0, 59.0, 60.0, 61.0, 120.0, 299.0, 300.0, 301.0]),
    st.floats(0.0, 2000.0, allow_nan=False),
)
WINDOWS_S = st.sampled_from([0, 15, 30, 60, 120, 300, 600])
TOLERANCES = st.one_of(st.sampled_from([0.0, 0.05, 0.1, 0.34, 0.36, 1.0, 2.0]), st.floats(0.0, 1.0))


# ----------------------------------------------------------------------------- strategies


@st.composite
def pod_sets(draw: st.DrawFn) -> dict[str, Any]:
    """One homogeneous pod set, as per-pod lists for the scalar function."""
    ready = draw(st.integers(0, 50))
    unready = draw(st.integers(0, 50))
    request = draw(st.one_of(st.sampled_from([1, 100, 250, 500, 1000, 2000]), st.integers(1, 4000)))
    usages = draw(st.lists(st.integers(0, 3 * request), min_size=ready, max_size=ready))
    unready_usages = draw(st.lists(st.integers(0, 3 * request), min_size=unready, max_size=unready))
    return {
        "current": draw(st.integers(1, 120)),
        "ready": ready,
        "unready": unready,
        "request": request,
        "usages": usages,
        "unready_usages": unready_usages,
        "target": draw(st.one_of(st.sampled_from([10, 30, 50, 80, 100]), st.integers(1, 200))),
        "tol_down": draw(TOLERANCES),
        "tol_up": draw(TOLERANCES),
    }


@st.composite
def policies(draw: st.DrawFn) -> ScalingPolicy:
    return ScalingPolicy(
        kind=draw(st.sampled_from(["Pods", "Percent"])),
        value=draw(st.one_of(st.sampled_from([1, 4, 10, 50, 100, 200]), st.integers(1, 300))),
        period_s=draw(st.sampled_from([15, 30, 45, 60, 120, 300])),
    )


@st.composite
def scaling_rules(draw: st.DrawFn) -> ScalingRules:
    return ScalingRules(
        stabilization_window_s=draw(st.one_of(st.none(), WINDOWS_S)),
        select_policy=draw(st.sampled_from(["Max", "Min", "Disabled"])),
        policies=tuple(draw(st.lists(policies(), min_size=1, max_size=3))),
    )


BEHAVIORS = st.one_of(
    st.builds(Behavior, scale_up=scaling_rules(), scale_down=scaling_rules()),
    st.just(default_behavior()),
)


def _entries(draw: st.DrawFn, value_key: str, max_value: int) -> list[dict[str, float]]:
    items = draw(st.lists(st.tuples(st.integers(0, max_value), AGES_S), max_size=8))
    return [{value_key: v, "age_seconds": a} for v, a in items]


def _pad(rows: list[list[dict[str, float]]], value_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of entries -> ([R, H] values, [R, H] ages) with +inf ages in empty slots."""
    width = max((len(r) for r in rows), default=0) + 1  # always at least one empty slot
    values = np.full((len(rows), width), 999, dtype=np.int64)  # junk in empty slots
    ages = np.full((len(rows), width), np.inf)
    for i, row in enumerate(rows):
        for j, item in enumerate(row):
            values[i, j] = item[value_key]
            ages[i, j] = item["age_seconds"]
    return values, ages


# ----------------------------------------------------------------------------- (a) replica calc


def _scalar_replica_calc(p: dict[str, Any]) -> tuple[int, int]:
    """Scalar result, or (current, 0) when the controller has no usable metric."""
    try:
        return hpa.replica_calc(
            current_replicas=p["current"],
            per_pod_usage_milli=p["usages"] + p["unready_usages"],
            per_pod_request_milli=[p["request"]] * (p["ready"] + p["unready"]),
            per_pod_state=["ready"] * p["ready"] + ["unready"] * p["unready"],
            target_utilization_percent=p["target"],
            tolerance={"scale_down": p["tol_down"], "scale_up": p["tol_up"]},
        )
    except hpa.MetricUnavailableError:
        return p["current"], 0


@SETTINGS
@given(st.lists(pod_sets(), min_size=1, max_size=6))
def test_replica_calc_vec_matches_scalar(pod_set_list: list[dict[str, Any]]) -> None:
    def col(key: str) -> np.ndarray:
        return np.array([p[key] for p in pod_set_list])

    replicas, utilization = replica_calc_vec(
        col("current"),
        col("ready"),
        col("unready"),
        np.array([sum(p["usages"]) for p in pod_set_list]),
        col("request"),
        col("target"),
        col("tol_down"),
        col("tol_up"),
    )
    assert replicas.dtype == np.int64
    assert utilization.dtype == np.int64
    expected = [_scalar_replica_calc(p) for p in pod_set_list]
    assert replicas.tolist() == [e[0] for e in expected]
    assert utilization.tolist() == [e[1] for e in expected]


def test_replica_calc_vec_hand_worked() -> None:
    replicas, utilization = replica_calc_vec(
        current_replicas=[3, 3, 4, 3, 5],
        ready_pods=[3, 2, 0, 1, 3],
        unready_pods=[0, 1, 2, 0, 2],
        usage_milli_sum_ready=[3000, 2400, 0, 55, 1800],
        request_milli_per_pod=[2000, 2000, 500, 100, 2000],
        target_utilization_percent=[30, 30, 50, 50, 50],
        tolerance_down=0.1,
        tolerance_up=0.1,
    )
    # 0: 100*3000 // (3*2000) = 50 %; 50/30 = 1.667 -> ceil(1.667 * 3 ready) = 5.
    # 1: 100*2400 // (2*2000) = 60 %, ratio 2 with an unready pod -> slow path: the unready pod
    #    counts at 0: 100*2400 // (3*2000) = 40 %, 40/30 = 1.333 -> ceil(1.333 * 3) = 4.
    # 2: no ready pod -> no metric -> keep current 4, utilization reported as 0.
    # 3: 55 % / 50 % = 1.1 == 1 + 0.1 -> inside the inclusive band -> keep 3.
    # 4: 100*1800 // (3*2000) = 30 %, 30/50 = 0.6 -> scale-down ignores the 2 unready pods:
    #    ceil(0.6 * 3) = 2.
    assert replicas.tolist() == [5, 4, 4, 3, 2]
    assert utilization.tolist() == [50, 60, 0, 55, 30]


def test_replica_calc_vec_no_warning_on_zero_pods() -> None:
    # filterwarnings=error turns any divide-by-zero RuntimeWarning into a failure.
    replicas, utilization = replica_calc_vec(
        np.array([2]), np.array([0]), np.array([0]), np.array([0]), np.array([0]), 50, 0.1, 0.1
    )
    assert replicas.tolist() == [2]
    assert utilization.tolist() == [0]


# ----------------------------------------------------------------------------- (b) stages


@st.composite
def history_rows(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "current": draw(st.integers(0, 60)),
        "desired": draw(st.integers(0, 60)),
        "history": _entries(draw, "replicas", 60),
    }


@SETTINGS
@given(st.lists(history_rows(), min_size=1, max_size=6), WINDOWS_S, WINDOWS_S)
def test_stabilization_vec_matches_scalar(
    rows: list[dict[str, Any]], up_window_s: int, down_window_s: int
) -> None:
    values, ages = _pad([r["history"] for r in rows], "replicas")
    current = np.array([r["current"] for r in rows])
    desired = np.array([r["desired"] for r in rows])

    legacy = stabilize_legacy_vec(desired, values, ages, down_window_s)
    assert legacy.tolist() == [
        hpa.stabilize_legacy(
            prenormalized_desired_replicas=r["desired"],
            recommendation_history=r["history"],
            window_seconds=down_window_s,
        )
        for r in rows
    ]
    with_behavior = stabilize_behavior_vec(
        current, desired, values, ages, up_window_s, down_window_s
    )
    assert with_behavior.tolist() == [
        hpa.stabilize_behavior(
            current_replicas=r["current"],
            prenormalized_desired_replicas=r["desired"],
            recommendation_history=r["history"],
            scale_up_stabilization_window_seconds=up_window_s,
            scale_down_stabilization_window_seconds=down_window_s,
        )
        for r in rows
    ]


@st.composite
def rate_rows(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "current": draw(st.integers(1, 100)),
        "desired": draw(st.integers(0, 300)),
        "up_events": _entries(draw, "replica_change", 40),
        "down_events": _entries(draw, "replica_change", 40),
    }


@SETTINGS
@given(
    st.lists(rate_rows(), min_size=1, max_size=6),
    BEHAVIORS,
    st.integers(1, 10),
    st.integers(0, 300),
)
def test_rate_limit_vec_matches_scalar(
    rows: list[dict[str, Any]], behavior: Behavior, min_replicas: int, extra_max: int
) -> None:
    max_replicas = min_replicas + extra_max
    up_change, up_age = _pad([r["up_events"] for r in rows], "replica_change")
    down_change, down_age = _pad([r["down_events"] for r in rows], "replica_change")
    current = np.array([r["current"] for r in rows])
    desired = np.array([r["desired"] for r in rows])
    events = (up_change, up_age, down_change, down_age)

    limited = behavior_rate_limit_vec(
        current, desired, min_replicas, max_replicas, behavior, *events
    )
    assert limited.tolist() == [
        hpa.behavior_rate_limit(
            current_replicas=r["current"],
            stabilized_desired_replicas=r["desired"],
            min_replicas=min_replicas,
            max_replicas=max_replicas,
            behavior=behavior,
            scale_up_events=r["up_events"],
            scale_down_events=r["down_events"],
        )
        for r in rows
    ]
    for direction, rules in (("up", behavior.scale_up), ("down", behavior.scale_down)):
        assert policy_limit_vec(direction, current, rules, *events).tolist() == [
            hpa.policy_limit(
                direction=direction,
                current_replicas=r["current"],
                rules=rules,
                scale_up_events=r["up_events"],
                scale_down_events=r["down_events"],
            )
            for r in rows
        ]
    clamped = legacy_clamp_vec(current, desired, min_replicas, max_replicas)
    assert clamped.tolist() == [
        hpa.legacy_clamp(
            current_replicas=r["current"],
            stabilized_desired_replicas=r["desired"],
            min_replicas=min_replicas,
            max_replicas=max_replicas,
        )
        for r in rows
    ]


def test_rate_limit_vec_hand_worked() -> None:
    behavior = behavior_from_api(
        {
            "scaleUp": {"policies": [{"type": "Percent", "value": 300, "periodSeconds": 300}]},
            "scaleDown": None,
        }
    )
    assert behavior is not None
    # Row 0: current 6, a scale-up of 4 and a scale-down of 2, both 60 s ago (inside 300 s):
    #   period start = 6 - 4 + 2 = 4; Percent 300 -> ceil(4 * (1 + 3)) = 16 < desired 24 -> 16.
    # Row 1: same events but 400 s old (outside): start 6 -> ceil(6 * 4) = 24 -> desired 24.
    # Row 2: scale-down with the default Percent 100 / 15 s: limit trunc(6 * 0) = 0, so the
    #   floor is min_replicas 1 and desired 1 is allowed.
    limited = behavior_rate_limit_vec(
        current_replicas=[6, 6, 6],
        stabilized_desired_replicas=[24, 24, 1],
        min_replicas=1,
        max_replicas=1000,
        behavior=behavior,
        up_change=[[4, 0], [4, 0], [0, 0]],
        up_age_s=[[60.0, np.inf], [400.0, np.inf], [np.inf, np.inf]],
        down_change=[[2], [2], [0]],
        down_age_s=[[60.0], [400.0], [np.inf]],
    )
    assert limited.tolist() == [16, 24, 1]


def test_legacy_clamp_vec_hand_worked() -> None:
    # current 3 -> scale-up limit max(2*3, 4) = 6; current 1 -> max(2, 4) = 4; below min -> min.
    out = legacy_clamp_vec([3, 1, 3, 3], [1000, 1000, 0, 5], 1, [2000, 2000, 2000, 5])
    assert out.tolist() == [6, 4, 1, 5]


# ----------------------------------------------------------------------------- (c) VectorHPA


def _age(entries: tuple[dict[str, float], ...], dt_s: float) -> list[dict[str, float]]:
    return [{**e, "age_seconds": e["age_seconds"] + dt_s} for e in entries]


class ScalarController:
    """Per-replication scalar loop around :func:`hpa.reconcile`, holding the same state."""

    def __init__(self, config: HPAConfig) -> None:
        self.config = config
        self.history: list[dict[str, float]] | None = None
        self.up_events: list[dict[str, float]] = []
        self.down_events: list[dict[str, float]] = []
        self.last_s: float | None = None

    def forget(self) -> None:
        self.history, self.up_events, self.down_events = None, [], []

    def sync(self, now_s: float, spec: int, ready: int, unready: int, usages: list[int],
             request: int) -> int:  # fmt: skip
        cfg = self.config
        dt_s = 0.0 if self.last_s is None else now_s - self.last_s
        self.last_s = now_s
        history = None if self.history is None else _age(tuple(self.history), dt_s)
        result = hpa.reconcile(
            spec_replicas=spec,
            min_replicas=cfg.min_replicas,
            max_replicas=cfg.max_replicas,
            target_utilization_percent=cfg.target_utilization_percent,
            per_pod_usage_milli=[*usages, *([7] * unready)],
            per_pod_request_milli=[request] * (ready + unready),
            per_pod_state=["ready"] * ready + ["unready"] * unready,
            tolerance={"scale_down": cfg.tolerance_down, "scale_up": cfg.tolerance_up},
            behavior=cfg.behavior,
            recommendation_history=history,
            scale_up_events=_age(tuple(self.up_events), dt_s),
            scale_down_events=_age(tuple(self.down_events), dt_s),
            downscale_stabilization_window_seconds=cfg.downscale_stabilization_s,
        )
        self.history = list(result.recommendation_history)
        self.up_events = list(result.scale_up_events)
        self.down_events = list(result.scale_down_events)
        return result.replicas


@st.composite
def hpa_configs(draw: st.DrawFn) -> HPAConfig:
    min_replicas = draw(st.integers(1, 5))
    return HPAConfig(
        min_replicas=min_replicas,
        max_replicas=min_replicas + draw(st.integers(0, 40)),
        target_utilization_percent=draw(st.sampled_from([20, 50, 60, 80, 100, 150])),
        tolerance_down=draw(st.sampled_from([0.0, 0.1, 0.3])),
        tolerance_up=draw(st.sampled_from([0.0, 0.1, 0.5])),
        sync_period_s=SYNC_PERIOD_S,
        downscale_stabilization_s=float(draw(st.sampled_from([0, 15, 60, 300]))),
        behavior=draw(st.one_of(st.none(), BEHAVIORS)),
    )


def _pods(
    rng: np.random.Generator, config: HPAConfig, spec: np.ndarray, request: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Random pod counts and per-ready-pod usages (millicores) for one sync.

    Half of the replications look like a running service (ready pods close to the spec,
    usage near the target, so decisions are often +-1 and hit the tolerance band); the
    others are arbitrary.
    """
    n = spec.size
    service_like = rng.random(n) < 0.5
    ready = np.where(
        service_like,
        np.maximum(spec - rng.integers(0, 3, n), 0),
        rng.integers(0, 31, n),
    )
    ready[rng.random(n) < 0.05] = 0
    unready = np.where(rng.random(n) < 0.5, 0, rng.integers(0, 6, n))
    level = rng.choice([0.3, 0.8, 0.9, 0.95, 1.0, 1.05, 1.1, 1.2, 1.5, 3.0], size=n)
    usages = []
    for i in range(n):
        if service_like[i]:
            mean_milli = request[i] * config.target_utilization_percent / 100 * level[i]
            pod_milli = rng.normal(mean_milli, 0.05 * mean_milli + 1, size=ready[i])
            usages.append(np.clip(np.round(pod_milli), 0, None).astype(int).tolist())
        else:
            usages.append(rng.integers(0, 3 * request[i] + 1, size=ready[i]).tolist())
    return ready, unready, usages


@SETTINGS
@given(
    config=hpa_configs(),
    n_replications=st.integers(1, 4),
    steps_s=st.lists(st.sampled_from([15, 16, 30, 45, 60, 120, 301]), min_size=1, max_size=14),
    seed=st.integers(0, 2**32 - 1),
)
def test_vector_hpa_matches_scalar_loop(
    config: HPAConfig, n_replications: int, steps_s: list[int], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    vec = VectorHPA(config, n_replications)
    scalars = [ScalarController(config) for _ in range(n_replications)]
    request = rng.choice([100, 250, 500, 1000], size=n_replications)
    spec = rng.integers(0, config.max_replicas + 4, size=n_replications)
    now_s = 1000.0
    for step, dt_s in enumerate([0, *steps_s]):
        now_s += dt_s
        if step > 0:
            # Occasionally someone else edits spec.replicas, or the controller restarts.
            edited = rng.random(n_replications) < 0.1
            spec = np.where(edited, rng.integers(0, config.max_replicas + 4, n_replications), spec)
            restarted = rng.random(n_replications) < 0.05
            vec.forget(restarted)
            for i in np.flatnonzero(restarted):
                scalars[i].forget()
        ready, unready, usages = _pods(rng, config, spec, request)
        usage_sum = np.array([sum(u) for u in usages], dtype=np.int64)

        got = vec.sync(now_s, spec, ready, unready, usage_sum, request)
        expected = [
            scalars[i].sync(
                now_s, int(spec[i]), int(ready[i]), int(unready[i]), usages[i], int(request[i])
            )
            for i in range(n_replications)
        ]
        assert got.dtype == np.int64
        assert got.tolist() == expected, f"step {step} at t={now_s}"
        spec = got


def test_vector_hpa_legacy_hand_worked() -> None:
    config = HPAConfig(min_replicas=1, max_replicas=10, target_utilization_percent=50)
    vec = VectorHPA(config, 2)
    # Replication 0: spec 5, 5 ready pods of 1000m using 1400m in total:
    #   100*1400 // 5000 = 28 %, 28/50 = 0.56 -> raw ceil(0.56*5) = 3; but the history is
    #   seeded with 5 at the first sync and max(3, 5) = 5 -> no scale-down yet.
    # Replication 1: spec 3, 3 ready pods using 2100m: 70 %, 1.4 -> ceil(4.2) = 5;
    #   legacy limit max(2*3, 4) = 6 and max 10 -> 5.
    out = vec.sync(0.0, [5, 3], [5, 3], [0, 0], [1400, 2100], 1000)
    assert out.tolist() == [5, 5]
    # 301 s later the seed and the t=0 proposals are older than the 300 s window: 3 for
    # replication 0. Replication 1 now has 5 pods at 2100m: 42 %, 0.84 -> ceil(4.2) = 5.
    out = vec.sync(301.0, [5, 5], [5, 5], [0, 0], [1400, 2100], 1000)
    assert out.tolist() == [3, 5]


def test_vector_hpa_behavior_hand_worked() -> None:
    # TestUpscaleCap: 3 pods at 100/200/300m of 100m = 200 % vs 10 % -> raw ceil(20*3) = 60;
    # scale-up window 0 -> up = 60; down = max(60, seed 3) = 60 -> 60; Percent 700 / 60 s:
    # ceil(3 * 8) = 24.
    behavior = behavior_from_api(
        {
            "scaleUp": {
                "stabilizationWindowSeconds": 0,
                "selectPolicy": "Max",
                "policies": [{"type": "Percent", "value": 700, "periodSeconds": 60}],
            },
            "scaleDown": None,
        }
    )
    config = HPAConfig(1, 100, 10, behavior=behavior)
    vec = VectorHPA(config, 1)
    assert vec.sync(0.0, 3, 3, 0, 600, 100).tolist() == [24]
    # 15 s later the +21 event is inside the 60 s period: start 24 - 21 = 3 -> limit 24 again.
    assert vec.sync(15.0, 24, 24, 0, 24 * 200, 100).tolist() == [24]
    # 60 s after the event it has left the period: start 24 -> ceil(24 * 8) = 192 -> max 100.
    assert vec.sync(60.0, 24, 24, 0, 24 * 200, 100).tolist() == [100]


def test_vector_hpa_pods_policy_remembers_small_steps() -> None:
    # Scale-up limited to 1 pod per 60 s, scale-down disabled. Load stays at 4x the target.
    behavior = Behavior(
        scale_up=ScalingRules(0, "Max", (ScalingPolicy("Pods", 1, 60),)),
        scale_down=ScalingRules(None, "Disabled", (ScalingPolicy("Pods", 1, 15),)),
    )
    vec = VectorHPA(HPAConfig(1, 20, 50, behavior=behavior), 1)
    # t=0: 200 % vs 50 % -> raw 8; period start 2 -> limit 2 + 1 = 3.
    assert vec.sync(0.0, 2, 2, 0, 2 * 2000, 1000).tolist() == [3]
    # t=15 and t=45: the +1 event is inside the 60 s period: start 3 - 1 = 2 -> limit 3.
    assert vec.sync(15.0, 3, 3, 0, 3 * 2000, 1000).tolist() == [3]
    assert vec.sync(45.0, 3, 3, 0, 3 * 2000, 1000).tolist() == [3]
    # t=60: the event is 60 s old, no longer strictly inside -> start 3 -> 4.
    assert vec.sync(60.0, 3, 3, 0, 3 * 2000, 1000).tolist() == [4]


def test_vector_hpa_guard_rails_and_no_metrics() -> None:
    config = HPAConfig(min_replicas=2, max_replicas=5, target_utilization_percent=50)
    vec = VectorHPA(config, 4)
    # spec 0: disabled; 9 > max: 5; 1 < min: 2; spec 3 with no ready pod: metric fails, keep 3.
    out = vec.sync(0.0, [0, 9, 1, 3], [4, 4, 4, 0], [0, 0, 0, 3], [9000, 9000, 9000, 0], 1000)
    assert out.tolist() == [0, 5, 2, 3]


def test_vector_hpa_rejects_too_frequent_syncs() -> None:
    vec = VectorHPA(HPAConfig(1, 10, 50, sync_period_s=15.0, downscale_stabilization_s=30.0), 1)
    # history_slots = floor(30 / 15) + 3 = 5; one sync per second overflows the buffer.
    vec.sync(0.0, 5, 5, 0, 100, 1000)
    with pytest.raises(ValueError, match="buffer full"):
        for t in range(1, 10):
            vec.sync(float(t), 5, 5, 0, 100, 1000)
    with pytest.raises(ValueError, match="now_s"):
        vec.sync(-1.0, 5, 5, 0, 100, 1000)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"min_replicas": 0}, "min_replicas"),
        ({"max_replicas": 1, "min_replicas": 2}, "max_replicas"),
        ({"target_utilization_percent": 0}, "target_utilization_percent"),
        ({"tolerance_up": -0.1}, "tolerance_up"),
        ({"sync_period_s": 0.0}, "sync_period_s"),
        ({"downscale_stabilization_s": math.inf}, "downscale_stabilization_s"),
        ({"behavior": {"scaleUp": None}}, "behavior"),
    ],
)
def test_hpa_config_validation(kwargs: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {"min_replicas": 1, "max_replicas": 10, "target_utilization_percent": 50}
    with pytest.raises(ValueError, match=field) as info:
        HPAConfig(**{**base, **kwargs})
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: ScalingPolicy("Pods", 0, 15), "value"),
        (lambda: ScalingPolicy("Pods", 1, 1801), "period_s"),
        (lambda: ScalingPolicy("Pods", 1, 0), "period_s"),
        (lambda: ScalingPolicy("Replicas", 1, 15), "kind"),
        (lambda: ScalingRules(3601, "Max", (ScalingPolicy("Pods", 1, 15),)), "window"),
        (lambda: ScalingRules(0, "Biggest", (ScalingPolicy("Pods", 1, 15),)), "select_policy"),
        (lambda: ScalingRules(0, "Max", ()), "policies"),
        (lambda: behavior_from_api({"scaleUp": {"policies": []}}), "policies"),
        (lambda: behavior_from_api({"scaleup": None}), "unknown keys"),
    ],
)
def test_behavior_validation(build: Any, field: str) -> None:
    with pytest.raises(ValueError, match=field) as info:
        build()
    assert "\n" not in str(info.value)


def test_behavior_from_api_defaults() -> None:
    assert behavior_from_api(None) is None
    assert behavior_from_api({}) == default_behavior()
    b = behavior_from_api({"scaleDown": {"stabilizationWindowSeconds": 60}})
    assert b is not None
    assert b.scale_up == default_behavior().scale_up
    assert b.scale_down.stabilization_window_s == 60
    assert b.scale_down.policies == (ScalingPolicy("Percent", 100, 15),)
    # Unset scale-down window -> the controller flag.
    assert default_behavior().windows_s(300.0) == (0.0, 300.0)
