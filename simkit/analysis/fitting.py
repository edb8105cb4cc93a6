"""Distribution fits of instance failures: are the configured MTBF and MTTR recovered?

The crash/repair timeline is the engine's own (:func:`simkit.failures.failure_timeline`
on the engine's failure streams), rebuilt here at a finer time resolution than
the control period: :class:`~simkit.result.SimResult` keeps only per-period
crash and repair counts.  Up times (crash after start or repair) estimate the
MTBF, down times (repair after crash) the MTTR.  The last interval of each slot
is right-censored at the horizon; the exponential is fitted by maximum
likelihood on censored data (:class:`scipy.stats.CensoredData`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

from simkit.autoscaling import POLICIES
from simkit.engine import component_seeds, crash_detector
from simkit.errors import SimkitError
from simkit.failures import failure_timeline
from simkit.scenario import Scenario
from simkit.units import parse_duration

__all__ = ["failure_intervals", "fit_failure_times"]


def _failure_seeds(seed: int, replications: int) -> list[np.random.SeedSequence]:
    """The failure stream of every replication, spawned as :func:`simkit.simulate` does."""
    return component_seeds(seed, replications)["failures"]


def _loglik(dist: object, low: np.ndarray, high: np.ndarray, right: np.ndarray) -> float:
    """Log-likelihood of interval-censored and right-censored data."""
    with np.errstate(divide="ignore"):
        inner = np.log(np.maximum(dist.cdf(high) - dist.cdf(low), 1e-300)).sum()
        return float(inner + dist.logsf(right).sum())


def failure_intervals(
    scenario: Scenario,
    *,
    duration: str | float = "28D",
    replications: int = 32,
    seed: int = 0,
    resolution_s: float = 1.0,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Up and down intervals of every instance slot, as simulated with ``seed``.

    Returns
    -------
    dict
        ``"up"`` and ``"down"``: ``(complete, censored)`` interval lengths [s];
        ``censored`` are the intervals still running at the horizon.
        ``"detection_delay"``: ``(delays, empty)``, crash to detection [s] of the
        crashes that waited for their alert rule (no health check), else empty.
    """
    horizon_s = parse_duration(duration, name="duration")
    if (
        not resolution_s > 0
        or abs(horizon_s / resolution_s - round(horizon_s / resolution_s)) > 1e-6
    ):
        raise SimkitError(f"resolution_s = {resolution_s!r} must be > 0 and divide the duration")
    if not scenario.failures.enabled:
        raise SimkitError(
            "failures.enabled = false: the scenario has no instance failures to fit; "
            "set failures.enabled = true"
        )
    n_slots = POLICIES[scenario.autoscaling.policy].max_instances(scenario)
    tl = failure_timeline(
        _failure_seeds(seed, replications),
        n_slots,
        round(horizon_s / resolution_s),
        resolution_s,
        scenario.failures.instance_mtbf_h * 3600.0,
        scenario.failures.instance_mttr_s,
        crash_detector(scenario, scenario.autoscaling.sync_period_s),
    )
    delays = tl.detected_s - tl.crash_s
    delays = delays[np.isfinite(delays)]
    up, up_cens, down, down_cens = [], [], [], []
    crash_key = tl.crash_rep * n_slots + tl.crash_slot
    repair_key = tl.repair_rep * n_slots + tl.repair_slot
    c_order = np.lexsort((tl.crash_period, crash_key))
    r_order = np.lexsort((tl.repair_period, repair_key))
    c_key, c_t = crash_key[c_order], tl.crash_period[c_order] * resolution_s
    r_key, r_t = repair_key[r_order], tl.repair_period[r_order] * resolution_s
    c_split = np.searchsorted(c_key, np.arange(replications * n_slots + 1))
    r_split = np.searchsorted(r_key, np.arange(replications * n_slots + 1))
    for k in range(replications * n_slots):
        crashes = c_t[c_split[k] : c_split[k + 1]]
        repairs = r_t[r_split[k] : r_split[k + 1]]
        starts = np.concatenate([[0.0], repairs])  # up intervals start at 0 and at repairs
        up.append(crashes - starts[: crashes.size])
        down.append(repairs - crashes[: repairs.size])
        if repairs.size == crashes.size:  # up at the horizon
            up_cens.append([horizon_s - starts[-1]])
        else:  # down at the horizon
            down_cens.append([horizon_s - crashes[-1]])

    def cat(parts: list) -> np.ndarray:
        return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)

    return {
        "up": (cat(up), cat(up_cens)),
        "down": (cat(down), cat(down_cens)),
        "detection_delay": (delays, np.zeros(0)),
    }


def fit_failure_times(
    scenario: Scenario,
    *,
    duration: str | float = "28D",
    replications: int = 32,
    seed: int = 0,
    resolution_s: float = 1.0,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Fit exponentials to simulated up and repair times; compare with MTBF and MTTR.

    Parameters
    ----------
    scenario : Scenario
        Its ``failures.instance_mtbf_h`` and ``instance_mttr_s`` are the truth (the
        mean down time adds the mean detection delay when there is no health check).
    duration : str or float
        Horizon of the timeline.
    replications, seed : int
        As for :func:`simkit.simulate`: the same seed gives the engine's crash times.
    resolution_s : float
        Time resolution of the event times [s] (the engine uses the control period).
    confidence : float
        Level of the interval on the fitted mean [-].

    Returns
    -------
    pandas.DataFrame
        Index ``quantity`` (``"time_between_failures_s"``, ``"time_to_repair_s"``);
        columns ``configured_s``, ``events``, ``censored``, ``fitted_s`` (censored
        exponential MLE of the mean), ``ci_low_s``, ``ci_high_s`` (chi-square
        interval for a time-truncated exponential test), ``weibull_shape`` (1 for
        an exponential; fitted on complete intervals), ``ks_pvalue`` (complete
        intervals against the fitted exponential) and ``recovered`` (the
        configured mean lies inside the interval).
    """
    if not 0.0 < confidence < 1.0:
        raise SimkitError(f"confidence = {confidence!r} is out of range; allowed: 0 < c < 1")
    intervals = failure_intervals(
        scenario, duration=duration, replications=replications, seed=seed, resolution_s=resolution_s
    )
    # Without a health check a repair starts when the crash is detected: the mean
    # down time is the mean detection delay plus the repair time.
    delays = intervals["detection_delay"][0]
    waiting = float(delays.mean()) if delays.size else 0.0
    truth = {
        "time_between_failures_s": ("up", scenario.failures.instance_mtbf_h * 3600.0),
        "time_to_repair_s": ("down", scenario.failures.instance_mttr_s + waiting),
    }
    alpha = 1.0 - confidence
    rows = []
    for name, (key, configured) in truth.items():
        complete, censored = intervals[key]
        d = complete.size
        row = {"quantity": name, "configured_s": configured, "events": d, "censored": censored.size}
        nan = float("nan")
        row.update(fitted_s=nan, ci_low_s=nan, ci_high_s=nan, weibull_shape=nan)
        row.update(exponential_pvalue=nan, recovered=False)
        if d >= 2:
            row.update(_fit(complete, censored, resolution_s, alpha))
            row["recovered"] = bool(row["ci_low_s"] <= configured <= row["ci_high_s"])
        rows.append(row)
    return pd.DataFrame(rows).set_index("quantity")


def _expon_scale(low: np.ndarray, high: np.ndarray, censored: np.ndarray) -> float:
    """Maximum-likelihood mean of an exponential from interval- and right-censored data [s].

    A one-dimensional search in the log of the mean, started at the complete-data
    estimate (``scipy.stats.expon.fit`` on such data can stop at its default start,
    1 s, for means of hundreds of seconds).
    """
    guess = (0.5 * (low + high)).sum() + censored.sum()
    guess = max(guess / max(low.size, 1), 1e-9)

    def nll(log_scale: float) -> float:
        return -_loglik(stats.expon(scale=np.exp(log_scale)), low, high, censored)

    res = optimize.minimize_scalar(
        nll, bracket=(np.log(guess) - 0.5, np.log(guess) + 0.5), tol=1e-10
    )
    return float(np.exp(res.x))


def _fit(
    complete: np.ndarray, censored: np.ndarray, resolution_s: float, alpha: float
) -> dict[str, float]:
    """Censored exponential and Weibull fits, the mean's interval and the LR test."""
    # A quantized interval k * res holds a true length in ((k - 1) res, (k + 1) res).
    low = np.maximum(complete - resolution_s, 0.0)
    high = complete + resolution_s
    data = stats.CensoredData(interval=np.c_[low, high], right=censored)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # the optimizer's trial steps may leave the support (log 0); the optimum does not
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = _expon_scale(low, high, censored)
        shape, _, w_scale = stats.weibull_min.fit(data, floc=0.0, scale=scale)
    ll_exp = _loglik(stats.expon(scale=scale), low, high, censored)
    ll_wei = _loglik(stats.weibull_min(shape, scale=w_scale), low, high, censored)
    lr = max(2.0 * (ll_wei - ll_exp), 0.0)
    exposure = complete.sum() + censored.sum()
    d = complete.size
    return {
        "fitted_s": float(scale),
        "ci_low_s": float(2 * exposure / stats.chi2.ppf(1 - alpha / 2, 2 * d + 2)),
        "ci_high_s": float(2 * exposure / stats.chi2.ppf(alpha / 2, 2 * d)),
        "weibull_shape": float(shape),
        "exponential_pvalue": float(stats.chi2.sf(lr, 1)),
    }
