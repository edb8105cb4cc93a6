"""The compiled control loop gives the NumPy reference's arrays, bit for bit."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simkit
import simkit.engine as engine_module
from simkit import control_kernel as ck
from simkit.autoscaling import POLICIES
from simkit.autoscaling.policies import make_autoscaler
from simkit.control import LoopOutput
from simkit.errors import SimkitError
from simkit.scenario import Scenario

ROOT = Path(__file__).resolve().parents[1]
STEP_ARRAYS = ("arrivals", "errors", "backlog", "latency_p50_s", "latency_p95_s", "latency_p99_s")
#: The loop's arrays; the compiled loop's split cache is checked on its own.
LOOP_ARRAYS = [
    f.name for f in dataclasses.fields(LoopOutput) if f.name not in ("split_at", "split")
]


# ----------------------------------------------------------------------------- strategies


def _rules() -> st.SearchStrategy[dict]:
    policy = st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["Pods", "Percent"]),
            "value": st.integers(1, 150),
            "period_s": st.sampled_from([5, 15, 30, 60, 120]),
        }
    )
    return st.fixed_dictionaries(
        {
            "stabilization_window_s": st.sampled_from([-1, 0, 15, 45, 120, 300]),
            "select_policy": st.sampled_from(["Max", "Min", "Disabled"]),
            "policies": st.lists(policy, max_size=3),
        }
    )


@st.composite
def _behavior(draw: st.DrawFn) -> dict | None:
    if draw(st.booleans()):
        return None  # the legacy path
    parts = {"scale_up": draw(st.none() | _rules()), "scale_down": draw(st.none() | _rules())}
    return {k: v for k, v in parts.items() if v is not None}


@st.composite
def _hpa_scenario(draw: st.DrawFn) -> Scenario:
    """A profile with a random HPA: bounds, tolerance, windows, lag, start-up, behavior."""
    lo = draw(st.integers(1, 4))
    hi = draw(st.integers(lo, 12))
    changes: dict[str, object] = {
        "autoscaling__min_replicas": lo,
        "autoscaling__max_replicas": hi,
        "autoscaling__replicas": draw(st.integers(lo, hi)),
        "autoscaling__sync_period_s": draw(st.sampled_from([5.0, 15.0, 30.0])),
        "autoscaling__tolerance": draw(st.sampled_from([0.0, 0.05, 0.1, 0.3])),
        "autoscaling__downscale_stabilization_s": draw(st.sampled_from([0.0, 30.0, 60.0, 300.0])),
        "autoscaling__startup_s": draw(st.sampled_from([0.0, 10.0, 15.0, 30.0, 100.0])),
        "autoscaling__metric_lag_s": draw(st.sampled_from([0.0, 15.0, 45.0])),
        "autoscaling__target_cpu_utilization_percent": draw(st.integers(20, 95)),
        "autoscaling__cpu_idle_milli": draw(st.sampled_from([0, 25, 200])),
    }
    behavior = draw(_behavior())
    if behavior is not None:
        changes["autoscaling__behavior"] = behavior
    base = simkit.load_scenario(
        draw(st.sampled_from(["production", "development", "experimental"]))
    )
    policy = POLICIES[draw(st.sampled_from(["fixed", "reactive", "learned", "predictive"]))]
    return policy.configure(base.replace(**changes))


@st.composite
def _scenario(draw: st.DrawFn) -> Scenario:
    """Random HPA plus load (overloads included), crashes, chaos kills and queue limits."""
    s = draw(_hpa_scenario())
    changes: dict[str, object] = {
        "workload__mean_rate_rps": s.workload.mean_rate_rps * draw(st.sampled_from([0.3, 1, 3])),
        "workload__flash_crowds_per_day": draw(st.sampled_from([0.0, 12.0, 48.0])),
        "failures__instance_mtbf_h": draw(st.sampled_from([1e7, 1.0, 0.25])),
        "failures__instance_mttr_s": draw(st.sampled_from([20.0, 120.0, 900.0])),
        "failures__health_check": draw(st.booleans()),
        "service__queue_limit_per_instance": draw(st.sampled_from([1, 50, 1024])),
        "service__timeout_s": draw(st.sampled_from([0.5, 5.0, 30.0])),
    }
    if draw(st.booleans()):
        kill = {
            "kind": "kill_instances",
            "at_s": draw(st.sampled_from([0.0, 600.0, 2000.0])),
            "duration_s": 900.0,
            "instances": draw(st.integers(1, 5)),
        }
        changes.update(chaos__enabled=True, chaos__experiments=[kill])
    return s.replace(**changes)


# ----------------------------------------------------------------------------- helpers


def _run(scenario: Scenario, engine: str, **kwargs: object) -> tuple[LoopOutput, object]:
    """``simulate`` with the given engine; also returns the control loop's output."""
    outputs = []
    real = engine_module.control_loop

    def spy(*args: object, **kw: object) -> LoopOutput:
        outputs.append(real(*args, **kw))
        return outputs[-1]

    with mock.patch.object(engine_module, "control_loop", spy):
        result = simkit.simulate(scenario, engine=engine, **kwargs)
    return outputs[0], result


def _result_arrays(result: object) -> dict[str, np.ndarray]:
    out = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    out = {k: v for k, v in out.items() if isinstance(v, np.ndarray)}
    out.update({name: getattr(result, name) for name in STEP_ARRAYS})
    return out


def _assert_same(scenario: Scenario, **kwargs: object) -> None:
    loop_np, res_np = _run(scenario, "numpy", **kwargs)
    loop_nb, res_nb = _run(scenario, "numba", **kwargs)
    for name in LOOP_ARRAYS:
        a, b = getattr(loop_np, name), getattr(loop_nb, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    want, got = _result_arrays(res_np), _result_arrays(res_nb)
    assert want.keys() == got.keys()
    for name, a in want.items():
        assert np.array_equal(a, got[name], equal_nan=True), name


# ----------------------------------------------------------------------------- tests


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=_scenario(), replications=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_compiled_loop_matches_numpy(scenario: Scenario, replications: int, seed: int) -> None:
    _assert_same(scenario, duration="2h", replications=replications, seed=seed)


@pytest.mark.parametrize("profile", ["production", "development", "experimental"])
def test_profiles_match_over_a_day_with_crashes(profile: str) -> None:
    s = simkit.load_scenario(profile).replace(
        failures__instance_mtbf_h=2.0, workload__flash_crowds_per_day=6.0
    )
    _assert_same(s, duration="1D", replications=3, seed=5)


@pytest.mark.parametrize("startup_s", [0.0, 45.0])
def test_scale_down_while_pods_start(startup_s: float) -> None:
    """Rescales faster than start-up: a scale-down removes starting pods, newest first."""
    s = simkit.load_scenario("production").replace(
        autoscaling__startup_s=startup_s,
        autoscaling__downscale_stabilization_s=0.0,
        autoscaling__tolerance=0.0,
        autoscaling__metric_lag_s=0.0,
        workload__noise_sd=0.3,
        workload__noise_correlation_s=15.0,
    )
    _assert_same(s, duration="6h", replications=4, seed=3)


@st.composite
def _syncs(draw: st.DrawFn) -> tuple[Scenario, np.ndarray, np.ndarray, np.ndarray]:
    """An HPA and syncs with arbitrary spec (0, below min, above max), Ready pods, busy."""
    s = POLICIES["reactive"].configure(draw(_hpa_scenario()))
    n, r = draw(st.integers(1, 40)), draw(st.integers(1, 4))
    a = s.autoscaling
    spec = draw(st.lists(st.integers(0, a.max_replicas + 3), min_size=n * r, max_size=n * r))
    spec = np.array(spec, dtype=np.int64).reshape(n, r)
    share = draw(st.lists(st.floats(0, 1), min_size=n * r, max_size=n * r))
    ready = np.floor(spec * np.array(share).reshape(n, r)).astype(np.int64)
    busy = draw(st.lists(st.floats(0, 1), min_size=n * r, max_size=n * r))
    return s, spec, ready, np.array(busy).reshape(n, r)


@settings(max_examples=40, deadline=None)
@given(case=_syncs())
def test_hpa_sync_matches_vector_hpa(case: tuple) -> None:
    """Guard rails, failed metrics and unready pods, sync by sync, as VectorHPA decides."""
    scenario, spec, ready, busy = case
    n_rep = spec.shape[1]
    reference = make_autoscaler(scenario, n_rep)
    hpa = ck.hpa_params(reference.config, *reference.cpu_model)
    rules_up, rules_down = ck.hpa_rules(reference.config)
    state = ck.hpa_state(reference.config, n_rep)
    new = np.empty(n_rep, dtype=np.int64)
    period_s = scenario.autoscaling.sync_period_s
    for p in range(spec.shape[0]):
        now = (p + 1) * period_s
        want = reference.sync(
            now_s=now,
            spec_replicas=spec[p],
            ready_pods=ready[p],
            unready_pods=spec[p] - ready[p],
            busy_fraction=busy[p],
        )
        ck.hpa_sync(p, now, spec[p], ready[p], busy[p], hpa, rules_up, rules_down, state, new)
        assert np.array_equal(new, want), p


def test_unknown_engine_names_the_field() -> None:
    s = simkit.load_scenario("development")
    with pytest.raises(SimkitError, match=r"engine = 'fortran'.*'numba' or 'numpy'") as info:
        simkit.simulate(s, duration="1h", replications=1, engine="fortran")
    assert "\n" not in str(info.value)


def test_unwritable_cache_folder_is_one_clear_error(tmp_path: Path) -> None:
    """Without NUMBA_CACHE_DIR and with an unusable cache home, a run says which folder
    and what to set, whichever the engine (both split arrivals with a compiled kernel)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(blocker / "cache")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    for engine in ("numpy", "numba"):
        code = (
            "import simkit\n"
            "s = simkit.load_scenario('development')\n"
            f"simkit.simulate(s, duration='1h', replications=1, engine={engine!r})\n"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode != 0
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("simkit.errors.SimkitError:")
        assert str(blocker / "cache" / "simkit" / "numba") in last
        assert "set NUMBA_CACHE_DIR" in last


def test_queue_wait_kernel_matches_the_reference() -> None:
    """Compiled queue waits equal the NumPy reference bit for bit, capacity gaps (zero
    for a while, zero until the end) and waits past the end of the run included."""
    from simkit import control_kernel, outcome

    rng = np.random.default_rng(7)
    n_rep, n_per, period_s = 5, 400, 15.0
    cap = rng.integers(0, 4, (n_rep, n_per)) * 40.0
    cap[2, 300:] = 0.0  # never comes back
    cap[3, 100:180] = 0.0  # an outage
    served = outcome.served_before(cap, period_s)
    n = 20_000
    rep = rng.integers(0, n_rep, n)
    t_s = rng.random(n) * n_per * period_s
    ahead = 1.0 + rng.random(n) * rng.choice([10.0, 1e3, 1e5], n)
    want = outcome.queue_wait_reference(served, cap, period_s, rep, t_s, ahead)
    got = control_kernel.queue_wait_s(served, cap, period_s, rep, t_s, ahead)
    np.testing.assert_array_equal(got, want)
    assert np.isinf(want).any() and (want == 0).sum() < n and np.isfinite(want).any()
    # the wait is the time for the capacity to come to serve `ahead` requests
    finite = np.isfinite(want)
    end_s = t_s[finite] + want[finite]
    p_end = np.minimum((end_s // period_s).astype(int), n_per - 1)
    r, p0 = rep[finite], np.minimum((t_s[finite] // period_s).astype(int), n_per - 1)
    served_by = (
        served[r, p_end]
        + cap[r, p_end] * (end_s - p_end * period_s)
        - served[r, p0]
        - cap[r, p0] * (t_s[finite] - p0 * period_s)
    )
    inside = end_s < n_per * period_s
    np.testing.assert_allclose(served_by[inside], ahead[finite][inside], rtol=1e-9)


def test_compiled_loop_keeps_the_split_it_drew() -> None:
    """The compiled loop's split cache holds, for every period it queued (a backlog at
    its start among them), that period's arrivals per step as ``workload.step_arrivals``
    draws them, one row each."""
    from simkit import workload

    s = simkit.load_scenario("development")
    loop, result = _run(s, "numba", duration="6h", replications=3, seed=4)
    rep, period = np.nonzero(loop.split_at >= 0)
    rows = loop.split_at[rep, period]
    assert rep.size > 0 and loop.split.shape == (rep.size, result.steps_per_period)
    assert np.array_equal(np.sort(rows), np.arange(rep.size))
    assert (loop.split_at[loop.backlog0 > 0] >= 0).all()
    want = workload.step_arrivals(
        result.split_keys, rep, period, result.arrivals_period[rep, period], loop.split.shape[1]
    )
    np.testing.assert_array_equal(loop.split[rows], want)
