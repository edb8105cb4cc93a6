"""Anomaly detection: fault injection, scoring by hand, and detection quality on a
synthetic 15 s rate series shaped like the engine's (diurnal 3:1, 10 % log-normal
noise correlated over 10 minutes, Poisson counts), with a fixed seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simkit.anomaly import detect_anomalies, evaluate_detection, inject_faults
from simkit.errors import SimkitError
from simkit.workload import noise_factor

PERIODS_PER_DAY = 5760  # 15 s control periods


def engine_like_rate(seed: int, days: int = 14) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = days * PERIODS_PER_DAY
    t = np.arange(n)
    rate = 40.0 * (1.0 + 0.5 * np.cos(2 * np.pi * t / PERIODS_PER_DAY))
    rate *= noise_factor(rng, n, 15.0, 0.1, 600.0)
    return rng.poisson(rate * 15.0) / 15.0


def test_inject_faults_is_seeded_and_multiplies_inside_windows_only():
    clean = np.full(20_000, 10.0)
    a, faults = inject_faults(clean, np.random.default_rng(7), n_faults=8, duration_steps=50)
    b, again = inject_faults(clean, np.random.default_rng(7), n_faults=8, duration_steps=50)
    np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(faults, again)
    inside = np.zeros(clean.size, dtype=bool)
    for start, end in zip(faults["start"], faults["end"], strict=True):
        inside[start:end] = True
    assert np.all(a[~inside] == 10.0) and np.all(a[inside] != 10.0)
    assert np.all(np.diff(faults["start"]) > 0) and np.all(a >= 0)


def test_evaluate_detection_by_hand():
    faults = pd.DataFrame({"start": [10, 50], "end": [20, 60]})
    alarm = np.zeros(100, dtype=bool)
    alarm[[13, 14, 80]] = True  # one true event (delay 3), one false event; fault 2 missed
    score = evaluate_detection(alarm, faults)
    assert score.precision == 0.5 and score.recall == 0.5
    assert score.mean_delay_steps == 3.0 and score.alarm_events == 2 and score.faults == 2


def test_detector_finds_injected_faults_on_engine_like_series():
    clean = engine_like_rate(seed=0)
    faulty, faults = inject_faults(
        clean,
        np.random.default_rng(100),
        n_faults=20,
        magnitude=1.0,  # rate doubled or halved (x5 / /5 for spikes)
        duration_steps=120,  # 30 min
        warmup_steps=7 * PERIODS_PER_DAY,
    )
    result = detect_anomalies(faulty, period_steps=PERIODS_PER_DAY)
    score = evaluate_detection(result.alarm, faults, tolerance_steps=20, merge_gap_steps=20)
    # measured with this seed: precision 0.88, recall 0.75, median delay 0 steps
    assert score.precision >= 0.8
    assert score.recall >= 0.7
    assert score.median_delay_steps <= 4  # one minute
    quiet = detect_anomalies(clean, period_steps=PERIODS_PER_DAY).alarm[7 * PERIODS_PER_DAY :]
    assert evaluate_detection(quiet, faults.iloc[:0], merge_gap_steps=20).alarm_events <= 3


def test_spikes_are_caught_at_once():
    clean = engine_like_rate(seed=3, days=10)
    faulty, faults = inject_faults(
        clean,
        np.random.default_rng(5),
        n_faults=15,
        kinds=("spike",),
        magnitude=1.0,
        duration_steps=40,
        warmup_steps=7 * PERIODS_PER_DAY,
    )
    score = evaluate_detection(detect_anomalies(faulty, period_steps=PERIODS_PER_DAY).alarm, faults)
    assert score.recall == 1.0 and score.median_delay_steps == 0.0


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: detect_anomalies([1.0] * 10, period_steps=20), "more than period_steps = 20"),
        (lambda: detect_anomalies([1.0, np.nan] * 30, period_steps=5), "series[1] = nan"),
        (lambda: detect_anomalies(np.ones(50), period_steps=0), "period_steps = 0"),
        (
            lambda: inject_faults(np.ones(100), np.random.default_rng(0), n_faults=5),
            "n_faults = 5 do not fit",
        ),
        (
            lambda: inject_faults(np.ones(100), 0, n_faults=1),
            "rng is a int; allowed: numpy.random.Generator",
        ),
        (
            lambda: inject_faults(
                np.ones(10_000), np.random.default_rng(0), n_faults=1, kinds=("dip",)
            ),
            "kinds = ('dip',)",
        ),
    ],
)
def test_bad_input_raises(call, fragment):
    with pytest.raises(SimkitError) as info:
        call()
    assert fragment in str(info.value)
