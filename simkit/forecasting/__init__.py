"""Forecasters for request rates and a rolling-origin backtest (NumPy/SciPy only).

Every forecaster has ``fit(history, step_s)``, ``predict(horizon_steps)`` (a
:class:`Forecast` with a central prediction interval) and ``update(new_points)``
at O(1) cost per point.
"""

from __future__ import annotations

from simkit.forecasting.base import Forecast, Forecaster
from simkit.forecasting.holt_winters import HoltWinters
from simkit.forecasting.naive import Persistence, SeasonalNaive
from simkit.forecasting.profile import ProfileLevel

__all__ = ["Forecast", "Forecaster", "HoltWinters", "Persistence", "ProfileLevel", "SeasonalNaive"]
