"""Compiled inner loops of the forecasters (numba, cached; see :mod:`simkit.jit`).

Imported on first use, so that ``import simkit`` does not import numba.
"""

from __future__ import annotations

import numpy as np

from simkit.jit import njit

__all__ = ["level_loss", "level_path"]


@njit
def level_path(ratio: np.ndarray, alpha: float) -> np.ndarray:
    """Exponentially weighted level ``L[t] = alpha r[t] + (1 - alpha) L[t - 1]``, ``L[-1] = 1``.

    Parameters
    ----------
    ratio : numpy.ndarray
        Observations divided by the seasonal profile [-], float64 ``(n,)``.
    alpha : float
        Smoothing weight in (0, 1] [-].

    Returns
    -------
    numpy.ndarray
        The level after each point [-], ``(n,)``.
    """
    out = np.empty(ratio.size)
    level = 1.0
    for t in range(ratio.size):
        level = alpha * ratio[t] + (1.0 - alpha) * level
        out[t] = level
    return out


@njit
def level_loss(
    history: np.ndarray,
    profile: np.ndarray,
    ratio: np.ndarray,
    alpha: float,
    skip: int,
    horizons: np.ndarray,
) -> float:
    """Sum over ``horizons`` of the mean absolute error of the in-sample forecasts.

    The forecast of point ``t + h`` made at ``t`` is ``profile[t + h] x L[t]``
    (:func:`level_path`); points before ``skip`` only warm the level up.

    Parameters
    ----------
    history, profile, ratio : numpy.ndarray
        Observations, the fixed profile at their points and their ratio, ``(n,)``.
    alpha : float
        Smoothing weight in (0, 1] [-].
    skip : int
        Forecast origins before this index are not scored.
    horizons : numpy.ndarray
        Leads [steps], int64, each with ``skip + h < n``.

    Returns
    -------
    float
        The loss, in the unit of ``history``.
    """
    level = level_path(ratio, alpha)
    n = history.size
    total = 0.0
    for h in horizons:
        count = n - skip - h
        error = 0.0
        for i in range(count):
            error += abs(history[skip + h + i] - profile[skip + h + i] * level[skip + i])
        total += error / count
    return total
