"""SimResult views: ``to_frame`` expands only the replications it is asked for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import simkit
from simkit.result import SimResult


@pytest.fixture(scope="module")
def overloaded() -> SimResult:
    """Development overloads: periods with per-step overlay values in several replications."""
    result = simkit.simulate(
        simkit.load_scenario("development"), duration="3h", replications=5, seed=3
    )
    assert np.unique(result.overlay.replication).size >= 2
    return result


def _fresh(result: SimResult) -> SimResult:
    """The same result without the step arrays and windows built so far."""
    for name in ("errors", "backlog", "latency_p50_s", "latency_p95_s", "latency_p99_s"):
        result.__dict__.pop(name, None)
    result._cache.clear()
    return result


@pytest.mark.parametrize("freq", [None, "1min", "7min", "1h"])
@pytest.mark.parametrize("replications", [None, [0], [4, 1], [1, 2, 3]])
def test_to_frame_selects_before_expanding_with_the_same_output(
    overloaded, freq, replications, monkeypatch
):
    new = _fresh(overloaded).to_frame(freq=freq, replications=replications)
    if replications is not None:  # only what was asked for was expanded
        assert not {"errors", "backlog", "latency_p99_s"} & set(overloaded.__dict__)
    # the old path: every array expanded for all replications, then selected
    monkeypatch.setattr(
        SimResult, "_step_rows", lambda self, name, rows: self.step_array(name)[rows]
    )
    old = _fresh(overloaded).to_frame(freq=freq, replications=replications)
    pd.testing.assert_frame_equal(new, old, check_exact=True)


def test_to_frame_takes_repeats_and_built_arrays(overloaded):
    reps = [3, 0, 3]
    frame = _fresh(overloaded).to_frame(replications=reps)
    for name in ("errors", "backlog", "latency_p95_s", "ready_instances", "utilization"):
        expected = overloaded.step_array(name)[reps].ravel()  # builds the step arrays
        np.testing.assert_array_equal(frame[name].to_numpy(), expected, err_msg=name)
    again = overloaded.to_frame(replications=reps)  # now from the arrays just built
    pd.testing.assert_frame_equal(frame, again, check_exact=True)
