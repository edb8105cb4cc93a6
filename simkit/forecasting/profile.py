"""Smoothed seasonal profile times an exponentially weighted level.

Per-minute web traffic is bursty: on the NASA trace a forecast that knew the
centred 31-minute mean of the *future* would still have an sMAPE of about 30 %.
Models that track each minute's own seasonal index (seasonal naive,
Holt-Winters) carry that noise into the forecast.  This model separates shape
from scale and smooths both:

- **Profile** ``P(t) = D(t mod m_day) * F(t mod m_week)``: ``D`` is the mean
  daily shape over all days of the history, smoothed over ``day_smoothing_steps``
  neighbouring minutes; ``F`` is the weekly modulation (mean of ``y / D`` by
  minute of week, smoothed over ``week_smoothing_steps``), so weekends can be
  lower without a calendar.  Phases count from the first history point, so no
  timestamps are needed.
- **Level** ``L[t] = alpha * y[t] / P(t) + (1 - alpha) * L[t-1]``, a
  dimensionless ratio near 1 that carries the recent departure from the profile
  (a busy day, a growing audience).
- **Forecast** ``yhat[t](k) = P(t + k) * L[t]``.

``alpha`` is fitted with ``scipy.optimize.minimize_scalar`` on the mean
absolute error of the in-sample forecasts at ``fit_horizons_steps`` (absolute
error: robust to bursts).  ``update`` moves the level and the two profiles
(exponential weights ``1 / profile_memory_days`` per day for ``D`` and
``7 / profile_memory_days`` per week for ``F``); each point touches a fixed
number of entries (the smoothing windows), independent of the history length.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar

from simkit.errors import SimkitError
from simkit.forecasting.base import Forecaster, _Intervals

__all__ = ["ProfileLevel"]

_EPS = 1e-9


def _circular_mean(values: np.ndarray, width: int) -> np.ndarray:
    """Centered moving average over ``width`` points (made odd) on a circle."""
    half = width // 2
    if half == 0:
        return values.copy()
    padded = np.concatenate([values[-half:], values, values[:half]])
    cumulative = np.concatenate([[0.0], np.cumsum(padded)])
    return (cumulative[2 * half + 1 :] - cumulative[: -2 * half - 1]) / (2 * half + 1)


def _phase_mean(values: np.ndarray, phases: np.ndarray, period: int) -> np.ndarray:
    """Mean of ``values`` per phase ``0..period-1`` (every phase must occur)."""
    counts = np.bincount(phases, minlength=period)
    return np.bincount(phases, weights=values, minlength=period) / counts


@dataclass
class ProfileLevel(Forecaster):
    """Smoothed daily x weekly profile scaled by an exponentially weighted level.

    Parameters
    ----------
    day_steps : int
        Steps per day (1440 at 1-minute steps).
    weekly : bool
        Include the weekly modulation ``F`` (needs one week of history);
        ``False`` needs one day.
    day_smoothing_steps, week_smoothing_steps : int
        Widths [steps] of the moving averages applied to ``D`` and ``F``.
    alpha : float or None
        Level smoothing in (0, 1]; ``None`` (default) fits it.
    profile_memory_days : float
        Days of history the profile averages (at fit and in ``update``).
    fit_horizons_steps : tuple of int
        Horizons [steps] whose mean absolute error the fit of ``alpha`` minimises.
    """

    day_steps: int = 1440
    weekly: bool = True
    day_smoothing_steps: int = 121
    week_smoothing_steps: int = 361
    alpha: float | None = None
    profile_memory_days: float = 14.0
    fit_horizons_steps: tuple[int, ...] = (5, 10, 30, 60)
    params_: dict[str, float] = field(default_factory=dict, init=False)
    _day: np.ndarray = field(default_factory=lambda: np.zeros(0), init=False, repr=False)
    _week: np.ndarray = field(default_factory=lambda: np.zeros(0), init=False, repr=False)
    _day_raw: np.ndarray = field(default_factory=lambda: np.zeros(0), init=False, repr=False)
    _week_raw: np.ndarray = field(default_factory=lambda: np.zeros(0), init=False, repr=False)
    _level: float = field(default=1.0, init=False, repr=False)
    _alpha: float = field(default=0.0, init=False, repr=False)
    _count: int = field(default=0, init=False, repr=False)
    # (history, profile, level) of the fit in progress, for its interval calibration
    _fit_run: tuple[np.ndarray, ...] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        for attr in ("day_steps", "day_smoothing_steps", "week_smoothing_steps"):
            value = getattr(self, attr)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SimkitError(f"{attr} = {value!r}; allowed: an integer >= 1 [steps]")
        if self.day_smoothing_steps >= self.day_steps:
            raise SimkitError(
                f"day_smoothing_steps = {self.day_smoothing_steps}; allowed: < day_steps "
                f"({self.day_steps})"
            )
        if self.week_smoothing_steps >= self.week_steps:
            raise SimkitError(
                f"week_smoothing_steps = {self.week_smoothing_steps}; allowed: < 7 * day_steps "
                f"({self.week_steps})"
            )
        if not isinstance(self.weekly, bool):
            raise SimkitError(f"weekly = {self.weekly!r}; allowed: True or False")
        if self.alpha is not None and (
            not isinstance(self.alpha, int | float) or not 0.0 < self.alpha <= 1.0
        ):
            raise SimkitError(f"alpha = {self.alpha!r}; allowed: a number in (0, 1] or None")
        if not isinstance(self.profile_memory_days, int | float) or not (
            self.profile_memory_days >= 1.0
        ):
            raise SimkitError(
                f"profile_memory_days = {self.profile_memory_days!r}; allowed: a number >= 1"
            )
        if not self.fit_horizons_steps or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.fit_horizons_steps
        ):
            raise SimkitError(
                f"fit_horizons_steps = {self.fit_horizons_steps!r}; allowed: integers >= 1"
            )

    @property
    def name(self) -> str:
        return "profile_level" + ("" if self.weekly else "(daily)")

    @property
    def week_steps(self) -> int:
        """Steps per week."""
        return 7 * self.day_steps

    @property
    def min_history_steps(self) -> int:
        return self.week_steps if self.weekly else self.day_steps

    # -- batch --------------------------------------------------------------------------

    def _calibrate(self, history: np.ndarray) -> _Intervals:
        """As :meth:`Forecaster._calibrate`, reusing the fit's profile and level."""
        try:
            return super()._calibrate(history)
        finally:
            self._fit_run = None  # only the fit's own calibration reuses it

    def _profiles(self, history: np.ndarray) -> None:
        """Set the raw and smoothed daily and weekly profiles from ``history``."""
        n = history.size
        keep = min(n, max(round(self.profile_memory_days * self.day_steps), 1))
        if self.weekly:
            keep = max(keep, self.week_steps)
        times = np.arange(n - keep, n)
        recent = history[-keep:]
        self._day_raw = _phase_mean(recent, times % self.day_steps, self.day_steps)
        self._day = _circular_mean(self._day_raw, self.day_smoothing_steps)
        if self.weekly:
            day_at = np.maximum(self._day[times % self.day_steps], _EPS)
            self._week_raw = _phase_mean(recent / day_at, times % self.week_steps, self.week_steps)
            self._week = _circular_mean(self._week_raw, self.week_smoothing_steps)
        else:
            self._week_raw = np.ones(self.week_steps)
            self._week = np.ones(self.week_steps)

    def _profile_at(self, times: np.ndarray) -> np.ndarray:
        return np.maximum(
            self._day[times % self.day_steps] * self._week[times % self.week_steps], _EPS
        )

    def _levels(
        self, history: np.ndarray, alpha: float, ratio: np.ndarray | None = None
    ) -> np.ndarray:
        """Level after each point of ``history`` (profile held fixed), starting at 1.

        Parameters
        ----------
        history : numpy.ndarray
            Observations [any unit], shape ``(n,)``.
        alpha : float
            Level smoothing in (0, 1] [-].
        ratio : numpy.ndarray, optional
            ``history`` divided by the fixed profile at its points [-], shape ``(n,)``;
            computed here if not given (a fit passes it to every evaluation of its search).

        Returns
        -------
        numpy.ndarray
            The level after each point [-], shape ``(n,)``.
        """
        from simkit.forecasting.kernels import level_path

        if ratio is None:
            ratio = history / self._profile_at(np.arange(history.size))
        return level_path(np.ascontiguousarray(ratio, dtype=np.float64), float(alpha))

    def _fit(self, history: np.ndarray) -> None:
        self._profiles(history)
        profile = self._profile_at(np.arange(history.size))  # fixed for the whole fit
        ratio = history / profile
        skip = self.day_steps  # let the level forget its start value
        horizons = np.array(
            [h for h in self.fit_horizons_steps if skip + h < history.size], dtype=np.int64
        )
        if self.alpha is not None:
            alpha = float(self.alpha)
        else:
            from simkit.forecasting.kernels import level_loss

            def loss(log_alpha: float) -> float:
                return level_loss(history, profile, ratio, float(np.exp(log_alpha)), skip, horizons)

            result = minimize_scalar(loss, bounds=(np.log(1e-4), 0.0), method="bounded")
            alpha = float(np.exp(result.x))
        self._alpha = alpha
        self.params_ = {"alpha": alpha}
        level = self._levels(history, alpha, ratio)
        self._level = float(level[-1])
        self._count = history.size
        self._fit_run = (history, profile, level)

    def _replay(self, history: np.ndarray, horizon_steps: int) -> np.ndarray:
        if self._fit_run is not None and history is self._fit_run[0]:  # calibrating a fit
            _, profile, level = self._fit_run
        else:
            profile, level = None, self._levels(history, self._alpha)
        out = np.full(history.size, np.nan)
        h = horizon_steps
        if h < history.size:
            at = self._profile_at(np.arange(h, history.size)) if profile is None else profile[h:]
            out[h:] = at * level[:-h]
        out[: self.day_steps] = np.nan  # level still forgetting its start value
        return out

    # -- online ------------------------------------------------------------------------

    def _predict_mean(self, horizon_steps: int) -> np.ndarray:
        return self._profile_at(self._count + np.arange(horizon_steps)) * self._level

    def _update_one(self, value: float) -> None:
        t = self._count
        d_phase = t % self.day_steps
        w_phase = t % self.week_steps
        day = max(float(self._day[d_phase]), _EPS)
        week = max(float(self._week[w_phase]), _EPS)
        self._level = self._alpha * value / (day * week) + (1.0 - self._alpha) * self._level
        rate_day = min(1.0 / self.profile_memory_days, 1.0)
        change = rate_day * (value / week - self._day_raw[d_phase])
        self._nudge(self._day_raw, self._day, d_phase, change, self.day_smoothing_steps)
        if self.weekly:
            rate_week = min(7.0 / self.profile_memory_days, 1.0)
            change = rate_week * (value / day - self._week_raw[w_phase])
            self._nudge(self._week_raw, self._week, w_phase, change, self.week_smoothing_steps)
        self._count = t + 1

    @staticmethod
    def _nudge(raw: np.ndarray, smooth: np.ndarray, phase: int, change: float, width: int) -> None:
        """Add ``change`` to ``raw[phase]`` and keep ``smooth`` its circular moving average."""
        raw[phase] += change
        half = width // 2
        window = np.arange(phase - half, phase + half + 1) % raw.size
        smooth[window] += change / (2 * half + 1)
