"""Anomaly detection on monitoring series, fault injection and scoring against the truth.

The detector is causal (each step uses only the past and the present):

1. **Seasonal baseline** ``b[t]``: the median of the same phase in the previous
   ``history_periods`` seasons (robust to faults in those seasons).
2. **Residual** ``r[t] = (y[t] - b[t]) / max(b[t], floor)`` (relative, because
   traffic noise grows with the level) or ``y[t] - b[t]``.
3. **Robust z-score** ``z[t] = (r[t] - c[t]) / (1.4826 * MAD)``: ``c[t]`` is the
   median residual over the trailing ``center_window_steps`` (excluding ``t``),
   so slow, legitimate departures from the seasonal baseline (a busy day) are
   not alarms; the MAD of ``r - c`` is taken over the trailing
   ``scale_window_steps``.
4. **Alarms**: ``|z| > z_threshold`` (spikes) or ``|z_ewma| > z_threshold``,
   an EWMA control chart for sustained steps and ramps: the exponentially
   weighted mean of ``r - c`` (span ``smoothing_steps``) scaled by its own
   trailing MAD.  Its own MAD, not the theoretical ``sqrt(lambda / (2 -
   lambda))`` factor, because monitoring noise is autocorrelated (a CUSUM on
   ``z`` assumes independent steps and fires on every slow wander).

:func:`inject_faults` multiplies a series by step, spike and ramp faults drawn
from a ``numpy.random.Generator``; :func:`evaluate_detection` returns precision,
recall and detection delay against those injected faults.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from simkit.errors import SimkitError
from simkit.forecasting.base import as_history

__all__ = [
    "DetectionResult",
    "DetectionScore",
    "detect_anomalies",
    "evaluate_detection",
    "inject_faults",
]

_KINDS = ("step", "spike", "ramp")


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise SimkitError(f"{name} = {value!r}; allowed: an integer >= 1")
    return int(value)


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise SimkitError(f"{name} = {value!r}; allowed: a number > 0")
    return float(value)


def inject_faults(
    series: object,
    rng: np.random.Generator,
    *,
    n_faults: int,
    kinds: tuple[str, ...] = _KINDS,
    magnitude: float = 0.5,
    duration_steps: int = 120,
    spike_steps: int = 1,
    warmup_steps: int = 0,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Multiply a series by non-overlapping faults at random places.

    Each fault gets a kind (uniform over ``kinds``) and a direction (up or down
    with equal odds); its factor is ``(1 + magnitude) ** (+1 or -1)``: a step
    holds it for ``duration_steps``, a spike for ``spike_steps`` (spikes are
    ``(1 + 4 * magnitude)``, the size of a burst), a ramp grows to it
    log-linearly over ``duration_steps`` and then ends.  Values stay >= 0.

    Parameters
    ----------
    series : array_like
        Clean monitoring series (non-negative), one value per step.
    rng : numpy.random.Generator
        Source of the fault positions, kinds and directions.
    n_faults : int
        Number of faults.
    kinds : tuple of str
        Kinds to draw from: ``"step"``, ``"spike"``, ``"ramp"``.
    magnitude : float
        Relative size, > 0 (0.5 = +50 % up or -33 % down).
    duration_steps, spike_steps : int
        Length of step and ramp faults, and of spikes [steps].
    warmup_steps : int
        No fault starts before this step (leave the detector its history).

    Returns
    -------
    faulty : numpy.ndarray
        The series with faults, float64.
    faults : pandas.DataFrame
        One row per fault, by start: ``kind``, ``start``, ``end`` (exclusive),
        ``direction`` (+1 or -1), ``factor`` (peak multiplier).
    """
    values = as_history(series, "series")
    if not isinstance(rng, np.random.Generator):
        raise SimkitError(f"rng is a {type(rng).__name__}; allowed: numpy.random.Generator")
    n_faults = _positive_int("n_faults", n_faults)
    duration_steps = _positive_int("duration_steps", duration_steps)
    spike_steps = _positive_int("spike_steps", spike_steps)
    magnitude = _positive("magnitude", magnitude)
    bad = [k for k in kinds if k not in _KINDS]
    if not kinds or bad:
        raise SimkitError(f"kinds = {kinds!r}; allowed: a non-empty subset of {_KINDS}")
    if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise SimkitError(f"warmup_steps = {warmup_steps!r}; allowed: an integer >= 0")
    slot = 3 * max(duration_steps, spike_steps)  # a fault plus quiet time on both sides
    slots = (values.size - warmup_steps) // slot
    if slots < n_faults:
        raise SimkitError(
            f"n_faults = {n_faults} do not fit: {values.size - warmup_steps} steps after "
            f"warm-up hold at most {max(slots, 0)} faults of {duration_steps} steps with gaps"
        )
    chosen = np.sort(rng.choice(slots, size=n_faults, replace=False))
    drawn_kinds = rng.choice(len(kinds), size=n_faults)
    directions = rng.choice([-1, 1], size=n_faults)
    offsets = rng.integers(0, slot - 2 * max(duration_steps, spike_steps), size=n_faults)
    faulty = values.copy()
    rows = []
    for i in range(n_faults):
        kind = kinds[drawn_kinds[i]]
        start = warmup_steps + int(chosen[i]) * slot + max(duration_steps, spike_steps)
        start += int(offsets[i])
        sign = int(directions[i])
        if kind == "spike":
            length = spike_steps
            factor = (1.0 + 4.0 * magnitude) ** sign
            faulty[start : start + length] *= factor
        elif kind == "step":
            length = duration_steps
            factor = (1.0 + magnitude) ** sign
            faulty[start : start + length] *= factor
        else:
            length = duration_steps
            factor = (1.0 + magnitude) ** sign
            faulty[start : start + length] *= factor ** (np.arange(1, length + 1) / length)
        rows.append(
            {
                "kind": kind,
                "start": start,
                "end": start + length,
                "direction": sign,
                "factor": factor,
            }
        )
    return faulty, pd.DataFrame(rows)


@dataclass(frozen=True)
class DetectionResult:
    """Output of :func:`detect_anomalies`, each array shaped like the series.

    Attributes
    ----------
    baseline : numpy.ndarray
        Seasonal median baseline (NaN in the first season).
    z : numpy.ndarray
        Robust z-score of the residual's departure (NaN until the scale is known).
    z_ewma : numpy.ndarray
        Robust z-score of the EWMA of the departure.
    alarm : numpy.ndarray
        Boolean: the detector fires at this step.
    """

    baseline: np.ndarray
    z: np.ndarray
    z_ewma: np.ndarray
    alarm: np.ndarray


def detect_anomalies(
    series: object,
    *,
    period_steps: int,
    history_periods: int = 7,
    relative: bool = True,
    center_window_steps: int | None = None,
    scale_window_steps: int | None = None,
    z_threshold: float = 5.0,
    smoothing_steps: int = 20,
) -> DetectionResult:
    """Seasonal-residual robust z-scores with an EWMA chart (causal).

    Parameters
    ----------
    series : array_like
        Monitoring series (non-negative), one value per step.
    period_steps : int
        Season length [steps] (e.g. 5760 for a day of 15 s periods).
    history_periods : int
        Past seasons whose same-phase median is the baseline.
    relative : bool
        Residual relative to the baseline (``True``) or absolute.
    center_window_steps : int, optional
        Trailing window [steps] for the residual median; default 1/24 season
        (one hour for a daily season).
    scale_window_steps : int, optional
        Trailing window [steps] for the MAD; default one season.
    z_threshold : float
        Alarm when ``|z|`` or ``|z_ewma|`` exceeds this.
    smoothing_steps : int
        Span [steps] of the EWMA chart (``lambda = 2 / (span + 1)``).

    Returns
    -------
    DetectionResult
    """
    values = as_history(series, "series")
    period = _positive_int("period_steps", period_steps)
    history_periods = _positive_int("history_periods", history_periods)
    window = _positive_int(
        "scale_window_steps", period if scale_window_steps is None else scale_window_steps
    )
    center = _positive_int(
        "center_window_steps",
        max(period // 24, 2) if center_window_steps is None else center_window_steps,
    )
    z_threshold = _positive("z_threshold", z_threshold)
    span = _positive_int("smoothing_steps", smoothing_steps)
    n = values.size
    if n <= period:
        raise SimkitError(
            f"series has {n} points; allowed: more than period_steps = {period} "
            "(the baseline needs one past season)"
        )
    lags = np.full((history_periods, n), np.nan)
    for j in range(1, history_periods + 1):
        lags[j - 1, j * period :] = values[: max(n - j * period, 0)]
    baseline = np.full(n, np.nan)
    baseline[period:] = np.nanmedian(lags[:, period:], axis=0)
    if relative:
        floor = max(0.05 * float(np.mean(values)), 1e-12)
        residual = (values - baseline) / np.maximum(baseline, floor)
    else:
        residual = values - baseline
    past = pd.Series(residual).shift(1)
    level = past.rolling(center, min_periods=max(center // 2, 1)).median().to_numpy()
    departure = residual - level
    z = _robust_z(departure, window)
    weight = 2.0 / (span + 1.0)
    known = np.isfinite(departure)
    smooth = np.full(n, np.nan)
    smooth[known] = lfilter([weight], [1.0, weight - 1.0], departure[known])
    z_ewma = _robust_z(smooth, window)
    with np.errstate(invalid="ignore"):
        alarm = (np.abs(np.nan_to_num(z)) > z_threshold) | (
            np.abs(np.nan_to_num(z_ewma)) > z_threshold
        )
    return DetectionResult(baseline, z, z_ewma, alarm)


def _robust_z(values: np.ndarray, window: int) -> np.ndarray:
    """``values`` over 1.4826 x their trailing median absolute value (excluding ``t``)."""
    spread = (
        pd.Series(np.abs(values))
        .shift(1)
        .rolling(window, min_periods=max(window // 2, 2))
        .median()
        .to_numpy()
    )
    scale = 1.4826 * spread
    ok = np.isfinite(scale) & (scale > 0) & np.isfinite(values)
    z = np.full(values.size, np.nan)
    z[ok] = values[ok] / scale[ok]
    return z


@dataclass(frozen=True)
class DetectionScore:
    """Detection quality against injected faults.

    Attributes
    ----------
    precision : float
        Alarm events that overlap a fault window, over all alarm events (NaN if none).
    recall : float
        Faults with at least one alarm inside their window, over all faults.
    mean_delay_steps, median_delay_steps : float
        Steps from a fault's start to its first alarm, over detected faults.
    alarm_events : int
        Runs of alarms (alarms at most ``merge_gap_steps`` apart form one run).
    faults : int
        Number of injected faults.
    """

    precision: float
    recall: float
    mean_delay_steps: float
    median_delay_steps: float
    alarm_events: int
    faults: int


def evaluate_detection(
    alarm: np.ndarray,
    faults: pd.DataFrame,
    *,
    tolerance_steps: int = 0,
    merge_gap_steps: int = 1,
) -> DetectionScore:
    """Score alarms against the injected truth.

    A fault's window is ``[start, end + tolerance_steps)``.  An alarm event (a
    run of alarms at most ``merge_gap_steps`` apart) is a true
    positive if any of its alarms falls in a fault window.

    Parameters
    ----------
    alarm : numpy.ndarray
        Boolean alarms per step.
    faults : pandas.DataFrame
        ``start`` and ``end`` columns, as from :func:`inject_faults`.
    tolerance_steps : int
        Grace period after a fault ends in which alarms still count.
    merge_gap_steps : int
        Alarms at most this many steps apart belong to one event (1: consecutive).

    Returns
    -------
    DetectionScore
    """
    fired = np.flatnonzero(np.asarray(alarm, dtype=bool))
    in_fault = np.zeros(np.asarray(alarm).size, dtype=bool)
    delays = []
    for start, end in zip(faults["start"], faults["end"], strict=True):
        stop = min(int(end) + tolerance_steps, in_fault.size)
        in_fault[int(start) : stop] = True
        hits = fired[(fired >= start) & (fired < stop)]
        if hits.size:
            delays.append(int(hits[0] - start))
    if fired.size:
        breaks = np.flatnonzero(np.diff(fired) > merge_gap_steps) + 1
        events = np.split(fired, breaks)
        true_events = sum(bool(in_fault[e].any()) for e in events)
        precision = true_events / len(events)
    else:
        events, precision = [], float("nan")
    n_faults = len(faults)
    return DetectionScore(
        precision=float(precision),
        recall=len(delays) / n_faults if n_faults else float("nan"),
        mean_delay_steps=float(np.mean(delays)) if delays else float("nan"),
        median_delay_steps=float(np.median(delays)) if delays else float("nan"),
        alarm_events=len(events),
        faults=n_faults,
    )
