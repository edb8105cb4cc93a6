"""Alert rules on series: firing intervals and the detection time of incidents.

The one detection model of simkit.  Rules (:class:`simkit.scenario.AlertRule`)
are defined once per scenario in ``monitoring.rules``; this module evaluates
them, both on the monitoring series of a finished run
(:mod:`simkit.monitoring`) and, inside the failure mechanisms, on an
incident's own error ratio before its recovery is applied.  The rule that
lists an incident kind in ``detects`` dates every incident of that kind, so
an incident's ``detected_s`` is the first firing of that rule.

Semantics (Prometheus alerting rules, ``for`` clause)
-----------------------------------------------------
Rules are evaluated every ``eval_interval_s`` at ``t_e = (e + 1) *
eval_interval_s``, ``e = 0, 1, ...`` seconds after the start of the run.
Sample ``i`` of a series covers ``[i * step_s, (i + 1) * step_s)`` and, like a
``rate()`` over the last scrape, is known from its end on: an evaluation at
``t`` sees the latest sample that ended by ``t``, index ``floor(t / step_s) -
1`` (none before the first sample ends: the condition does not hold).

* The first evaluation where the condition holds makes the alert *pending*
  with ``activeAt = t_e``.
* It turns *firing* at the first evaluation ``t`` with ``t - activeAt >=
  for_s`` while the condition held at every evaluation in between, i.e. at
  ``activeAt + ceil(for_s / eval_interval_s) * eval_interval_s``.
* It *resolves* at the first evaluation where the condition no longer holds
  (a pending alert is dropped).  An alert still firing at the end of the run
  is unresolved; its interval ends at the last evaluation.

With ``window_s > 0`` the rule sees the series averaged over the trailing
``window_s`` (weighted: errors over requests for a ratio; fewer samples at
the start of the run, as a Prometheus range would hold); with
``short_window_s`` the condition must hold over both windows.

Order inside a mechanism (why it is not circular)
-------------------------------------------------
A mechanism whose recovery waits for detection (bad release -> rollback,
database primary loss -> promotion, a crashed instance without a health
check -> restart) first builds its own error ratio per control period as if
nothing were done about it, finds the first firing of its detection rule on
that series, then applies the recovery from that time on.  The recovery
cannot change the detection: the rule has fired before the recovery starts.
Errors from other causes are not part of an incident's own series, so when
two failures overlap the monitoring output may fire earlier than the
incident's own detection.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from simkit.errors import SimkitError
from simkit.scenario import AlertRule, Scenario

__all__ = [
    "FiringIntervals",
    "evaluate",
    "first_firing_s",
    "incident_detected_s",
    "step_detected_s",
    "window_detected_s",
    "windowed",
]

_EPS = 1e-9


@dataclass(frozen=True, eq=False)
class FiringIntervals:
    """Firing intervals of one rule across replications.

    Row ``i`` is an interval of replication ``replication[i]``, sorted by
    replication then time.

    Attributes
    ----------
    rule : AlertRule
        The rule evaluated.
    n_replications : int
        Number of replications ``R``.
    replication : numpy.ndarray
        Replication of each interval, int64 ``(n,)``.
    start_s : numpy.ndarray
        Time the alert starts firing, since the start of the run [s], ``(n,)``.
    end_s : numpy.ndarray
        Time it resolves, or the last evaluation if still firing [s], ``(n,)``.
    resolved : numpy.ndarray
        Whether the alert resolved within the run [bool], ``(n,)``.
    """

    rule: AlertRule
    n_replications: int
    replication: np.ndarray = field(repr=False)
    start_s: np.ndarray = field(repr=False)
    end_s: np.ndarray = field(repr=False)
    resolved: np.ndarray = field(repr=False)

    def counts(self) -> np.ndarray:
        """Firing intervals per replication [count], ``(R,)``."""
        return np.bincount(self.replication, minlength=self.n_replications)

    def of(self, replication: int) -> np.ndarray:
        """``(start_s, end_s)`` rows of one replication, ``(n_r, 2)`` [s]."""
        mask = self.replication == replication
        return np.column_stack([self.start_s[mask], self.end_s[mask]])

    def first_at_or_after(self, replication: int, t_s: float) -> float:
        """First firing start at or after ``t_s`` in a replication [s], ``inf`` if none."""
        mask = (self.replication == replication) & (self.start_s >= t_s - _EPS)
        return float(self.start_s[mask].min()) if mask.any() else math.inf


def _check_positive(name: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise SimkitError(f"{name} = {value!r} is invalid; allowed: a number > 0 [s]")
    if not math.isfinite(value):
        raise SimkitError(f"{name} = {value!r} is invalid; allowed: a finite number > 0 [s]")
    return float(value)


def windowed(
    values: np.ndarray, step_s: float, window_s: float, weights: np.ndarray | None = None
) -> np.ndarray:
    """Trailing-window average of a series ``[R, N]`` (fewer samples at the start).

    Parameters
    ----------
    values : numpy.ndarray
        The series ``[R, N]``.
    step_s : float
        Time between samples [s].
    window_s : float
        Window [s]; at least one sample.  ``0`` returns ``values`` unchanged.
    weights : numpy.ndarray, optional
        Weight of each sample ``[R, N]`` (requests, for a ratio); default equal.

    Returns
    -------
    numpy.ndarray
        ``sum(values * weights) / sum(weights)`` over the window; ``nan`` where
        the weights sum to 0 (no data: a condition does not hold).
    """
    if window_s <= 0:
        return values
    w = max(round(window_s / step_s), 1)
    wts = np.ones_like(values, dtype=np.float64) if weights is None else weights
    num = np.cumsum(np.nan_to_num(values * wts), axis=1, dtype=np.float64)
    den = np.cumsum(wts, axis=1, dtype=np.float64)
    num[:, w:] = num[:, w:] - num[:, :-w].copy()
    den[:, w:] = den[:, w:] - den[:, :-w].copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _condition(rule: AlertRule, values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return values > rule.threshold if rule.op == ">" else values < rule.threshold


def _holds(
    rule: AlertRule,
    values: np.ndarray,
    step_s: float,
    weights: np.ndarray | None,
) -> np.ndarray:
    """Per-sample condition of a rule, windows applied, ``[R, N]`` bool."""
    holds = _condition(rule, windowed(values, step_s, rule.window_s, weights))
    if rule.short_window_s > 0:
        holds &= _condition(rule, windowed(values, step_s, rule.short_window_s, weights))
    return holds


def evaluate(
    rule: AlertRule,
    values: np.ndarray,
    step_s: float,
    eval_interval_s: float | None = None,
    *,
    weights: np.ndarray | None = None,
    first_sample: int = 0,
) -> FiringIntervals:
    """Firing intervals of a rule on a series, with Prometheus ``for`` semantics.

    Parameters
    ----------
    rule : AlertRule
        The rule.
    values : numpy.ndarray
        The series ``[R, N]``; sample ``i`` covers ``[(first_sample + i) * step_s,
        (first_sample + i + 1) * step_s)``; earlier samples do not hold.
    step_s : float
        Time between samples [s].
    eval_interval_s : float, optional
        Rule evaluation interval [s]; default ``step_s``.
    weights : numpy.ndarray, optional
        Sample weights for windowed rules (requests, for ``error_ratio``).
    first_sample : int
        Index of the first sample in the run (to evaluate a slice of a run).

    Returns
    -------
    FiringIntervals
        See the module docstring; times since the start of the run [s].
    """
    step_s = _check_positive("step_s", step_s)
    eval_s = (
        step_s if eval_interval_s is None else _check_positive("eval_interval_s", eval_interval_s)
    )
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2:
        raise SimkitError(f"values has shape {values.shape}; allowed: [replication, time]")
    n_rep, n = values.shape
    first_eval = math.floor(first_sample * step_s / eval_s + _EPS)
    last_eval = math.floor((first_sample + n) * step_s / eval_s + _EPS)
    times_s = np.arange(first_eval + 1, last_eval + 1) * eval_s
    n_eval = times_s.size
    seen = np.floor(times_s / step_s + _EPS).astype(np.int64) - 1 - first_sample
    sample_holds = _holds(rule, values, step_s, weights)
    holds = sample_holds[:, np.clip(seen, 0, max(n - 1, 0))] & (seen >= 0)  # [R, E]

    padded = np.zeros((n_rep, n_eval + 2), dtype=np.int8)
    padded[:, 1:-1] = holds
    edges = np.diff(padded, axis=1)
    rep, first = np.nonzero(edges == 1)  # run starts (eval index), row-major order
    _, stop = np.nonzero(edges == -1)  # first eval index after each run
    wait = math.ceil(rule.for_s / eval_s - _EPS)
    fires = first + wait < stop
    rep, first, stop = rep[fires], first[fires], stop[fires]
    resolved = stop < n_eval
    end_index = np.minimum(stop, n_eval - 1)
    return FiringIntervals(
        rule=rule,
        n_replications=n_rep,
        replication=rep.astype(np.int64),
        start_s=times_s[first + wait] if n_eval else np.zeros(0),
        end_s=times_s[end_index] if n_eval else np.zeros(0),
        resolved=resolved,
    )


def first_firing_s(
    rule: AlertRule,
    values: np.ndarray,
    period_s: float,
    eval_interval_s: float,
    first_period: int = 0,
) -> float:
    """First time a rule fires on one series slice [s since the run start], ``inf`` if never.

    Parameters
    ----------
    rule : AlertRule
        The rule (``window_s = 0``).
    values : numpy.ndarray
        Series of the periods ``first_period, first_period + 1, ...``, ``(N,)``.
    period_s, eval_interval_s : float
        Sample length and evaluation interval [s].
    first_period : int
        Index of the first sample in the run.
    """
    f = evaluate(
        rule,
        np.asarray(values, dtype=np.float64)[None, :],
        period_s,
        eval_interval_s,
        first_sample=first_period,
    )
    return float(f.start_s[0]) if f.start_s.size else math.inf


def incident_detected_s(
    scenario: Scenario,
    kind: str,
    error_ratio: np.ndarray,
    first_period: int,
    period_s: float,
) -> float:
    """Detection time of one incident from its own error ratio [s], ``inf`` if never.

    Parameters
    ----------
    scenario : Scenario
        Its ``monitoring`` section gives the rule detecting ``kind`` and the
        evaluation interval.
    kind : str
        Incident kind (:data:`simkit.scenario.INCIDENT_KINDS`).
    error_ratio : numpy.ndarray
        The incident's own failed share of requests per control period, before
        any recovery that waits for detection, from ``first_period`` on ``(N,)``.
    first_period : int
        Index of the first period of ``error_ratio``.
    period_s : float
        Control period [s].
    """
    mon = scenario.monitoring
    rule = mon.detection_rule(kind)
    return first_firing_s(rule, error_ratio, period_s, mon.eval_interval_s, first_period)


def step_detected_s(
    scenario: Scenario, kind: str, first_period: np.ndarray, level: float, period_s: float
) -> np.ndarray:
    """Detection times of incidents whose own error ratio jumps to ``level`` and stays [s].

    Closed form of :func:`incident_detected_s` for a step series that is 0 before
    period ``first_period`` and ``level`` from it on, vectorized over incidents
    (tested against the general evaluation).

    Parameters
    ----------
    scenario : Scenario
        Gives the detection rule of ``kind`` and the evaluation interval.
    kind : str
        Incident kind.
    first_period : numpy.ndarray
        First period with the error ratio at ``level`` [index], any shape.
    level : float
        The error ratio from then on [-].
    period_s : float
        Control period [s].

    Returns
    -------
    numpy.ndarray
        Firing times [s], ``inf`` where the rule never fires on ``level``.
    """
    mon = scenario.monitoring
    rule = mon.detection_rule(kind)
    eval_s = mon.eval_interval_s
    first = np.asarray(first_period, dtype=np.float64)
    if not bool(_condition(rule, np.asarray(level, dtype=np.float64))):
        return np.full(first.shape, np.inf)

    # First evaluation that sees sample `first`: floor(t / period + eps) - 1 >= first.
    def sees(k: np.ndarray) -> np.ndarray:
        return np.floor(k * eval_s / period_s + _EPS) - 1 >= first

    k = np.maximum(np.ceil((first + 1.0) * period_s / eval_s), 1.0)
    k = np.where(sees(k), k, k + 1)
    k = np.where((k > 1) & sees(k - 1), k - 1, k)
    wait = math.ceil(rule.for_s / eval_s - _EPS)
    return (k + wait) * eval_s


def window_detected_s(
    scenario: Scenario,
    kind: str,
    start_s: float,
    end_s: float,
    share: float,
    period_s: float,
    n_periods: int,
) -> float:
    """Detection time of an incident failing ``share`` of requests in ``[start_s, end_s)`` [s].

    The incident's own error ratio per period is ``share`` times the part of the
    period inside the window (requests spread evenly over a period); ``end_s``
    is when the failure ends if nobody reacts.  ``inf`` if the rule does not
    fire before the failure ends or the run does.
    """
    first = max(math.floor(start_s / period_s), 0)
    last = min(math.ceil(min(end_s, n_periods * period_s) / period_s) + 1, n_periods)
    if last <= first or share <= 0:
        return math.inf
    edges = np.arange(first, last + 1) * period_s
    covered = np.minimum(edges[1:], end_s) - np.maximum(edges[:-1], start_s)
    ratio = share * np.clip(covered / period_s, 0.0, 1.0)
    return incident_detected_s(scenario, kind, ratio, first, period_s)
