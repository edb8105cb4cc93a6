"""Forecast error metrics: MAE, sMAPE and interval coverage."""

from __future__ import annotations

import numpy as np

__all__ = ["coverage", "mae", "smape_pct"]


def mae(forecast: np.ndarray, actual: np.ndarray) -> float:
    """Mean absolute error, in the unit of the series."""
    return float(np.mean(np.abs(np.asarray(forecast, float) - np.asarray(actual, float))))


def smape_pct(forecast: np.ndarray, actual: np.ndarray) -> float:
    """Symmetric mean absolute percentage error [%].

    ``200 * mean(|F - A| / (|F| + |A|))``, with a term ``0/0`` (forecast and
    actual both zero) counted as 0.  Ranges from 0 to 200.
    """
    f = np.asarray(forecast, dtype=float)
    a = np.asarray(actual, dtype=float)
    denominator = np.abs(f) + np.abs(a)
    ratio = np.divide(np.abs(f - a), denominator, out=np.zeros_like(f), where=denominator > 0)
    return float(200.0 * np.mean(ratio))


def coverage(lower: np.ndarray, upper: np.ndarray, actual: np.ndarray) -> float:
    """Fraction of actuals inside the closed interval ``[lower, upper]``."""
    a = np.asarray(actual, dtype=float)
    return float(np.mean((a >= np.asarray(lower, float)) & (a <= np.asarray(upper, float))))
