"""Learned scaling: a state-feedback capacity floor, its parameters found by policy search.

At the end of every control period the policy observes the offered load and
keeps two exponentially weighted means of it, a short one ``s`` (time constant
``short_window_s``) and a long one ``l`` (``long_window_s``).  Its state is
``(s, l)`` and its action is a capacity floor under the reactive HPA,

.. math::

    n_t = \\operatorname{clip}\\left(\\left\\lceil
          \\frac{h\\, s_t + g\\, \\max(s_t - l_t, 0)}{u\\, c\\, \\mu} \\right\\rceil,
          n_{min}, n_{max}\\right),

with ``h = headroom``, ``g = trend_gain``, ``u = target_utilization``, ``c`` the
servers per instance and ``mu`` the service rate of one server [1/s].  The
engine applies ``desired = max(hpa, floor)`` per period, as for the predictive
floor (:mod:`simkit.autoscaling.predictive`): the floor only ever raises
capacity, scale-in is left to the HPA.  The offered load is exogenous, so the
floor of a whole run is computed before the simulation, causally (``n_t`` uses
the load of periods ``0..t`` only).  ``h`` and ``u`` enter only through
``h / u``: the search keeps both because the scenario schema has both, but only
the ratio is identified.

The parameters (the scenario's ``[learned]`` table) are found by the
cross-entropy search in :mod:`simkit.training`, which simulates candidates; this
module is the policy alone and imports nothing of the engine.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import lfilter

from simkit.scenario import Scenario

__all__ = ["ewm_load", "learned_floor"]


def ewm_load(rate_rps: np.ndarray, period_s: float, window_s: float) -> np.ndarray:
    """Exponentially weighted mean of the load along the period axis, causally.

    ``m_t = a x_t + (1 - a) m_{t-1}`` with ``a = 1 - exp(-period_s / window_s)``,
    started at ``m_{-1} = x_0`` (the first observation), computed with
    :func:`scipy.signal.lfilter`.

    Parameters
    ----------
    rate_rps : numpy.ndarray
        Offered rate per period [1/s], ``[R, P]``.
    period_s : float
        Control period [s].
    window_s : float
        Time constant of the mean [s].

    Returns
    -------
    numpy.ndarray
        The mean [1/s], float64 ``[R, P]``.
    """
    x = np.asarray(rate_rps, dtype=np.float64)
    alpha = -math.expm1(-period_s / window_s)
    zi = (1.0 - alpha) * x[:, :1]
    mean, _ = lfilter([alpha], [1.0, alpha - 1.0], x, axis=1, zi=zi)
    return mean


def learned_floor(scenario: Scenario, rate_rps: np.ndarray, period_s: float) -> np.ndarray:
    """Instances the learned policy asks for at the end of each control period.

    Parameters
    ----------
    scenario : Scenario
        Uses ``learned`` (headroom, trend_gain, short_window_s, long_window_s,
        target_utilization), ``autoscaling`` (min/max replicas) and the service
        rate and servers per instance.
    rate_rps : numpy.ndarray
        Offered rate per period [1/s], ``[R, P]`` (the load the policy observes).
    period_s : float
        Control period [s].

    Returns
    -------
    numpy.ndarray
        Floor [instances], int64 ``[R, P]``, in ``[min_replicas, max_replicas]``;
        entry ``t`` depends on ``rate_rps[:, :t + 1]`` only.
    """
    p = scenario.learned
    a = scenario.autoscaling
    short = ewm_load(rate_rps, period_s, p.short_window_s)
    long = ewm_load(rate_rps, period_s, p.long_window_s)
    demand_rps = p.headroom * short + p.trend_gain * np.maximum(short - long, 0.0)
    per_instance_rps = p.target_utilization * scenario.servers_per_instance
    per_instance_rps *= scenario.service_rate_rps
    # The 1e-9 keeps float rounding of an exact multiple from asking for one more.
    need = np.ceil(demand_rps / per_instance_rps - 1e-9)
    return np.clip(need, a.min_replicas, a.max_replicas).astype(np.int64)
