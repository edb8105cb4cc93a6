"""VectorHPA.sync_block commits exactly what the same syncs one by one would leave."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simkit.autoscaling.behavior import behavior_from_api
from simkit.autoscaling.hpa_vec import HPAConfig, VectorHPA

R = 6
PERIOD_S = 15.0


def _state(hpa: VectorHPA, now: float) -> tuple:
    values, ages = hpa.history(now)
    inside = np.isfinite(ages) & (ages <= 3600)
    # Compare the entries that can still matter, as sorted (age, value) pairs per row.
    rows = [sorted(zip(ages[r][inside[r]], values[r][inside[r]], strict=True)) for r in range(R)]
    return rows, hpa._last_sync_s


@st.composite
def scenarios(draw):
    min_r = draw(st.integers(1, 4))
    max_r = draw(st.integers(min_r, 10))
    legacy = draw(st.booleans())
    behavior = None
    if not legacy:
        behavior = behavior_from_api(
            {
                "scaleUp": {"stabilizationWindowSeconds": draw(st.sampled_from([0, 30, 60]))},
                "scaleDown": {"stabilizationWindowSeconds": draw(st.sampled_from([0, 60, 300]))},
            }
        )
    cfg = HPAConfig(
        min_replicas=min_r,
        max_replicas=max_r,
        target_utilization_percent=draw(st.integers(20, 90)),
        downscale_stabilization_s=draw(st.sampled_from([0.0, 60.0, 300.0])),
        behavior=behavior,
    )
    warmup = draw(st.integers(1, 30))
    block = draw(st.integers(1, 20))
    seed = draw(st.integers(0, 2**32 - 1))
    return cfg, warmup, block, seed


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_block_equals_sequential_syncs(case):
    cfg, warmup, block, seed = case
    rng = np.random.default_rng(seed)
    hpa_a, hpa_b = VectorHPA(cfg, R), VectorHPA(cfg, R)
    spec = rng.integers(cfg.min_replicas, cfg.max_replicas + 1, R).astype(np.int64)
    request = 500
    t = 0.0
    for _ in range(warmup):  # same random history in both controllers
        t += PERIOD_S
        ready = np.maximum(spec - rng.integers(0, 2, R), 1).astype(np.int64)
        usage = (ready * rng.integers(0, 2 * request, R)).astype(np.int64)
        new_a = hpa_a.sync(t, spec, ready, spec - ready, usage, request)
        new_b = hpa_b.sync(t, spec, ready, spec - ready, usage, request)
        assert np.array_equal(new_a, new_b)
        spec = new_a
    times = t + PERIOD_S * (1 + np.arange(block))
    level = rng.integers(0, 2 * request)
    usage_blk = (spec * (level + rng.integers(-20, 21, (block, R)))).clip(0).astype(np.int64)
    crashed = rng.random((block, R)) < 0.1  # some pods not Ready at some syncs
    ready_blk = np.maximum(spec - crashed, 1).astype(np.int64)
    n = hpa_a.sync_block(times, spec, ready_blk, usage_blk, request)
    assert 0 <= n <= block
    outputs_b = []
    for i, now in enumerate(times):
        args = (now, spec, ready_blk[i], spec - ready_blk[i], usage_blk[i], request)
        outputs_b.append(hpa_b.sync(*args))
        if i >= n:  # the block controller goes on one sync at a time, like the engine
            assert np.array_equal(hpa_a.sync(*args), outputs_b[-1])
    # The committed syncs are exactly those that keep the spec ...
    assert all(np.array_equal(out, spec) for out in outputs_b[:n])
    # ... and both controllers end in the same state.
    assert _state(hpa_a, times[-1]) == _state(hpa_b, times[-1])
    unchanged = all(np.array_equal(out, spec) for out in outputs_b)
    # Declining syncs that would not rescale is allowed (only slower), but the common
    # engine case must be taken: every proposal already equal to the spec.
    proposals_equal = all(
        np.array_equal(probe, spec) for probe in _raw_proposals(cfg, spec, ready_blk, usage_blk)
    )
    if unchanged and proposals_equal and block <= hpa_a._h - 2 and _history_at_most(hpa_b, spec, t):
        assert n == block, "sync_block declined a block in which every proposal is the spec"


def _raw_proposals(cfg, spec, ready_blk, usage_blk):
    from simkit.autoscaling.hpa_vec import replica_calc_vec

    for ready, usage in zip(ready_blk, usage_blk, strict=True):
        yield replica_calc_vec(
            spec,
            ready,
            spec - ready,
            usage,
            500,
            cfg.target_utilization_percent,
            cfg.tolerance_down,
            cfg.tolerance_up,
        )[0]


def _history_at_most(hpa, spec, now):
    values, ages = hpa.history(now)
    window = max(hpa.config.windows_s)
    return bool(np.all(np.where(ages <= window, values, 0) <= spec[:, None]))
