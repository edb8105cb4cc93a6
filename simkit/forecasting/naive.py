"""Baseline forecasters: persistence (mean of the last k steps) and seasonal naive."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simkit.errors import SimkitError
from simkit.forecasting.base import Forecaster

__all__ = ["Persistence", "SeasonalNaive"]


def _check_steps(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise SimkitError(f"{name} = {value!r}; allowed: an integer >= 1 [steps]")
    return int(value)


@dataclass
class Persistence(Forecaster):
    """Flat forecast at the mean of the last ``window_steps`` observations.

    This is what a reactive autoscaler effectively assumes: the near future
    looks like the recent past.  ``update`` keeps a ring buffer and a running
    sum (O(1) per point); the sum is recomputed exactly each time the ring
    wraps, so rounding never accumulates.

    Parameters
    ----------
    window_steps : int
        Number of most recent steps averaged (15 at 1-minute steps = 15 min).
    """

    window_steps: int = 15
    _ring: np.ndarray = field(default_factory=lambda: np.zeros(0), init=False, repr=False)
    _pos: int = field(default=0, init=False, repr=False)
    _sum: float = field(default=0.0, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.window_steps = _check_steps("window_steps", self.window_steps)

    @property
    def name(self) -> str:
        return f"persistence({self.window_steps})"

    @property
    def min_history_steps(self) -> int:
        return self.window_steps

    def _fit(self, history: np.ndarray) -> None:
        self._ring = history[-self.window_steps :].copy()
        self._pos = 0
        self._sum = float(self._ring.sum())

    def _predict_mean(self, horizon_steps: int) -> np.ndarray:
        return np.full(horizon_steps, self._sum / self.window_steps)

    def _update_one(self, value: float) -> None:
        self._sum += value - self._ring[self._pos]
        self._ring[self._pos] = value
        self._pos += 1
        if self._pos == self.window_steps:
            self._pos = 0
            self._sum = float(self._ring.sum())

    def _replay(self, history: np.ndarray, horizon_steps: int) -> np.ndarray:
        k = self.window_steps
        cumulative = np.concatenate([[0.0], np.cumsum(history)])
        means = (cumulative[k:] - cumulative[:-k]) / k  # means[j]: mean of history[j:j+k]
        out = np.full(history.size, np.nan)
        first = k - 1 + horizon_steps  # target whose origin is the first full window
        if first < history.size:
            out[first:] = means[: history.size - first]
        return out


@dataclass
class SeasonalNaive(Forecaster):
    """Each future step repeats the observation one season earlier.

    Parameters
    ----------
    period_steps : int
        Season length [steps]: 1440 for daily or 10080 for weekly at 1-minute steps.
    """

    period_steps: int = 1440
    _ring: np.ndarray = field(default_factory=lambda: np.zeros(0), init=False, repr=False)
    _count: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.period_steps = _check_steps("period_steps", self.period_steps)

    @property
    def name(self) -> str:
        return f"seasonal_naive({self.period_steps})"

    @property
    def min_history_steps(self) -> int:
        return self.period_steps

    def _fit(self, history: np.ndarray) -> None:
        m = self.period_steps
        n = history.size
        # ring[time % m] holds the latest observation of that phase.
        self._ring = np.empty(m)
        times = np.arange(n - m, n)
        self._ring[times % m] = history[-m:]
        self._count = n

    def _predict_mean(self, horizon_steps: int) -> np.ndarray:
        future = self._count + np.arange(horizon_steps)
        return self._ring[future % self.period_steps]

    def _update_one(self, value: float) -> None:
        self._ring[self._count % self.period_steps] = value
        self._count += 1

    def _replay(self, history: np.ndarray, horizon_steps: int) -> np.ndarray:
        lag = self.period_steps * -(-horizon_steps // self.period_steps)
        out = np.full(history.size, np.nan)
        out[lag:] = history[:-lag] if lag < history.size else out[lag:]
        return out
