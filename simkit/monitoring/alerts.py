"""Prometheus-style alert rules on the monitoring series: firing intervals, e-mails, delays.

Semantics (Prometheus alerting rules, ``for`` clause)
----------------------------------------------------
Rules are evaluated every ``eval_interval_s`` (the scrape interval by default)
at ``t_e = (e + 1) * eval_interval_s``, ``e = 0, 1, ...`` seconds after the
start of the run.  Sample ``i`` of a series covers ``[i * step_s, (i + 1) *
step_s)`` and, like a ``rate()`` over the last scrape, is known from its end on:
an evaluation at ``t`` sees the latest sample that ended by ``t``, index
``floor(t / step_s) - 1`` (none before the first sample ends: the condition
does not hold).

* The first evaluation where the condition holds makes the alert *pending*
  with ``activeAt = t_e``.
* It turns *firing* at the first evaluation ``t`` with ``t - activeAt >=
  for_s`` while the condition held at every evaluation in between, i.e. at
  ``activeAt + ceil(for_s / eval_interval_s) * eval_interval_s``.
* It *resolves* at the first evaluation where the condition no longer holds
  (a pending alert is dropped).  An alert still firing at the end of the run
  is unresolved; its interval ends at the last evaluation.

E-mails (``alert_kpis``): with ``monitoring.alert_email`` and a Prometheus
system, one e-mail when an alert starts firing and one when it resolves
(``send_resolved``; note Alertmanager's ``email_config`` defaults it to
false), plus one reminder every ``repeat_interval_s`` while firing if given
(Alertmanager ``repeat_interval``).  Grouping and ``group_wait`` are not
modelled: every firing interval of every rule is its own notification.
The ``console`` system (development) has no Alertmanager: zero e-mails.

Default rules (:func:`default_rules`)
-------------------------------------
``prometheus`` and ``prometheus-thanos`` (Thanos Ruler evaluates the same rules):

* ``HighErrorRatio``: ``error_ratio > 10 x (1 - slo.availability)`` for 5 min, critical;
* ``HighLatencyP99``: ``latency_p99_s > slo.latency_p99_s`` for 10 min, warning;
* ``HighCPU``: ``cpu_percent > 90`` (of the CPU request) for 15 min, warning;
* ``DiskAlmostFull``: ``disk_used_percent > 95`` for 30 min, warning.

``console``: nobody is paged; a developer watching the console notices errors
late.  Modelled as one rule, ``ConsoleErrorsNoticed``: ``error_ratio > 0.05``
(stack traces scroll visibly) held for 5 min, severity ``info``.  A rule with a
long ``for`` (rather than a random glance) means short glitches go unnoticed,
which is how console-only monitoring behaves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simkit.errors import SimkitError
from simkit.monitoring.series import SERIES_UNITS, MonitoringSeries, monitoring_series
from simkit.result import SimResult
from simkit.scenario import Scenario

__all__ = [
    "CONSOLE_ERROR_RATIO",
    "CONSOLE_NOTICE_S",
    "CPU_HIGH_PERCENT",
    "DISK_FULL_PERCENT",
    "ERROR_RATIO_BUDGET_MULTIPLE",
    "OPERATORS",
    "SEVERITIES",
    "AlertRule",
    "FiringIntervals",
    "alert_kpis",
    "default_rules",
    "detection_delay_s",
    "evaluate",
    "evaluate_rules",
]

OPERATORS = (">", "<")
SEVERITIES = ("critical", "warning", "info")

#: ``HighErrorRatio`` fires at this multiple of the SLO error budget ratio
#: ``1 - slo.availability`` [-] (assumption: 10x the budget, 1 % for three nines).
ERROR_RATIO_BUDGET_MULTIPLE = 10.0
#: ``HighErrorRatio`` hold time [s] (assumption: the usual ``for: 5m``).
ERROR_RATIO_FOR_S = 300.0
#: ``HighLatencyP99`` hold time [s] (the Prometheus docs' alerting-rule example on
#: request latency uses ``for: 10m``).
LATENCY_FOR_S = 600.0
#: ``HighCPU`` threshold, percent of the pod CPU request [%] (assumption: well above
#: the HPA target, so it means the HPA is at max_replicas or too slow).
CPU_HIGH_PERCENT = 90.0
#: ``HighCPU`` hold time [s] (assumption).
CPU_FOR_S = 900.0
#: ``DiskAlmostFull`` threshold [%] and hold time [s] (node-exporter mixin
#: ``NodeFilesystemAlmostOutOfSpace``: less than 5 % available for 30 min).
DISK_FULL_PERCENT = 95.0
DISK_FOR_S = 1800.0
#: Error ratio a developer notices in a scrolling console [-] (assumption).
CONSOLE_ERROR_RATIO = 0.05
#: Time errors must persist before a developer watching the console notices [s]
#: (assumption: half of the development profile's 10 min manual MTTR).
CONSOLE_NOTICE_S = 300.0
_EPS = 1e-9


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule: ``series op threshold`` held for ``for_s`` seconds.

    Attributes
    ----------
    name : str
        Alert name (``alertname``).
    series : str
        A key of :data:`~simkit.monitoring.series.SERIES_UNITS`.
    op : {">", "<"}
        Comparison of the series with the threshold.
    threshold : float
        Threshold, in the unit of the series.
    for_s : float
        Time the condition must hold before the alert fires [s], >= 0.
    severity : {"critical", "warning", "info"}
        Severity label.
    """

    name: str
    series: str
    op: str
    threshold: float
    for_s: float
    severity: str = "warning"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise SimkitError(
                f"AlertRule.name = {self.name!r} is invalid; allowed: a non-empty string"
            )
        if self.series not in SERIES_UNITS:
            raise SimkitError(
                f"AlertRule.series = {self.series!r} is unknown; allowed: {', '.join(SERIES_UNITS)}"
            )
        if self.op not in OPERATORS:
            raise SimkitError(
                f"AlertRule.op = {self.op!r} is invalid; allowed: {', '.join(OPERATORS)}"
            )
        for name in ("threshold", "for_s"):
            value = getattr(self, name)
            if (
                not isinstance(value, int | float)
                or isinstance(value, bool)
                or not math.isfinite(value)
            ):
                raise SimkitError(
                    f"AlertRule.{name} = {value!r} is invalid; allowed: a finite number"
                )
        if self.for_s < 0:
            raise SimkitError(f"AlertRule.for_s = {self.for_s!r} is invalid; allowed: >= 0 s")
        if self.severity not in SEVERITIES:
            raise SimkitError(
                f"AlertRule.severity = {self.severity!r} is invalid; "
                f"allowed: {', '.join(SEVERITIES)}"
            )

    def condition(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask where the condition holds (``NaN`` never holds)."""
        with np.errstate(invalid="ignore"):
            return values > self.threshold if self.op == ">" else values < self.threshold


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


def _check_positive(name: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise SimkitError(f"{name} = {value!r} is invalid; allowed: a number > 0 [s]")
    if not math.isfinite(value):
        raise SimkitError(f"{name} = {value!r} is invalid; allowed: a finite number > 0 [s]")
    return float(value)


def evaluate(
    rule: AlertRule,
    values: np.ndarray,
    step_s: float,
    eval_interval_s: float | None = None,
) -> FiringIntervals:
    """Firing intervals of a rule on a series, with Prometheus ``for`` semantics.

    Parameters
    ----------
    rule : AlertRule
        The rule.
    values : numpy.ndarray
        The series ``[R, N]``; sample ``i`` covers ``[i * step_s, (i + 1) * step_s)``.
    step_s : float
        Time between samples [s].
    eval_interval_s : float, optional
        Rule evaluation interval [s]; default ``step_s`` (pass the scrape interval).

    Returns
    -------
    FiringIntervals
        See the module docstring for the semantics.
    """
    step_s = _check_positive("step_s", step_s)
    eval_s = (
        step_s if eval_interval_s is None else _check_positive("eval_interval_s", eval_interval_s)
    )
    values = np.asarray(values)
    if values.ndim != 2:
        raise SimkitError(f"values has shape {values.shape}; allowed: [replication, time]")
    n_rep, n = values.shape
    n_eval = math.floor(n * step_s / eval_s + _EPS)
    times_s = np.arange(1, n_eval + 1) * eval_s
    seen = np.floor(times_s / step_s + _EPS).astype(np.int64) - 1  # -1: no sample yet
    holds = rule.condition(values[:, np.maximum(seen, 0)]) & (seen >= 0)  # [R, E]

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


def default_rules(scenario: Scenario) -> tuple[AlertRule, ...]:
    """The default alert rules of a scenario's monitoring system (see the module docstring)."""
    slo = scenario.slo
    if scenario.monitoring.system == "console":
        return (
            AlertRule(
                "ConsoleErrorsNoticed",
                "error_ratio",
                ">",
                CONSOLE_ERROR_RATIO,
                CONSOLE_NOTICE_S,
                "info",
            ),
        )
    return (
        AlertRule(
            "HighErrorRatio",
            "error_ratio",
            ">",
            ERROR_RATIO_BUDGET_MULTIPLE * (1.0 - slo.availability),
            ERROR_RATIO_FOR_S,
            "critical",
        ),
        AlertRule(
            "HighLatencyP99", "latency_p99_s", ">", slo.latency_p99_s, LATENCY_FOR_S, "warning"
        ),
        AlertRule("HighCPU", "cpu_percent", ">", CPU_HIGH_PERCENT, CPU_FOR_S, "warning"),
        AlertRule(
            "DiskAlmostFull", "disk_used_percent", ">", DISK_FULL_PERCENT, DISK_FOR_S, "warning"
        ),
    )


def evaluate_rules(
    series: MonitoringSeries,
    rules: Sequence[AlertRule],
    eval_interval_s: float | None = None,
) -> dict[str, FiringIntervals]:
    """Evaluate several rules on the monitoring series.

    Parameters
    ----------
    series : MonitoringSeries
        The monitoring series.
    rules : sequence of AlertRule
        Rules with distinct names.
    eval_interval_s : float, optional
        Evaluation interval [s]; default ``series.period_s``.

    Returns
    -------
    dict
        Rule name -> :class:`FiringIntervals`.
    """
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise SimkitError(f"rules have duplicate names {names}; allowed: distinct names")
    return {
        rule.name: evaluate(rule, series.get(rule.series), series.period_s, eval_interval_s)
        for rule in rules
    }


def detection_delay_s(
    firings: Sequence[FiringIntervals], incident_start_s: np.ndarray
) -> np.ndarray:
    """Delay from each incident start to the first alert that starts firing at or after it.

    Parameters
    ----------
    firings : sequence of FiringIntervals
        Firing intervals of the rules that count as detection (any of them).
    incident_start_s : numpy.ndarray
        Incident start times since the start of the run [s], ``[R]`` or ``[R, M]``;
        ``NaN`` pads replications with fewer incidents.

    Returns
    -------
    numpy.ndarray
        Delays [s], the shape of ``incident_start_s``; ``NaN`` for padding and for
        incidents no alert fired after (an alert already firing at the incident
        start does not count).
    """
    starts = np.asarray(incident_start_s, dtype=np.float64)
    flat = starts.reshape(starts.shape[0], -1) if starts.ndim else starts.reshape(1, 1)
    n_rep = firings[0].n_replications if firings else flat.shape[0]
    if flat.shape[0] != n_rep or starts.ndim > 2:
        raise SimkitError(
            f"incident_start_s has shape {starts.shape}; allowed: [{n_rep}] or [{n_rep}, M]"
        )
    delays = np.full(flat.shape, np.nan)
    if not firings:
        return delays.reshape(starts.shape)
    rep = np.concatenate([f.replication for f in firings])
    fire = np.concatenate([f.start_s for f in firings])
    order = np.lexsort((fire, rep))
    rep, fire = rep[order], fire[order]
    bounds = np.searchsorted(rep, np.arange(n_rep + 1))
    for r in range(n_rep):  # a loop over replications, not time
        times = fire[bounds[r] : bounds[r + 1]]
        i = np.searchsorted(times, flat[r], side="left")
        ok = (i < times.size) & np.isfinite(flat[r])
        delays[r, ok] = times[i[ok]] - flat[r, ok]
    return delays.reshape(starts.shape)


def alert_kpis(
    result: SimResult,
    rules: Sequence[AlertRule] | None = None,
    incident_start_s: np.ndarray | None = None,
    *,
    series: MonitoringSeries | None = None,
    send_resolved: bool = True,
    repeat_interval_s: float | None = None,
) -> pd.DataFrame:
    """Alert KPIs per replication, to join with :meth:`SimResult.kpis`.

    Parameters
    ----------
    result : SimResult
        A simulation result (its ``scenario.monitoring`` gives the system, the
        scrape interval and whether e-mails are sent).
    rules : sequence of AlertRule, optional
        Default :func:`default_rules` of the scenario.
    incident_start_s : numpy.ndarray, optional
        Incident start times [s] since the start of the run, ``[R]`` or ``[R, M]``
        (``NaN`` padding); without it ``mean_time_to_detect_s`` is ``NaN``.
    series : MonitoringSeries, optional
        Precomputed :func:`monitoring_series` of ``result``.
    send_resolved : bool
        Send an e-mail when an alert resolves.
    repeat_interval_s : float, optional
        Resend while firing every this many seconds [s]; default: never.

    Returns
    -------
    pandas.DataFrame
        Index ``replication``; columns ``alerts_fired`` (firing intervals of all
        rules [count]), ``emails_sent`` [count], ``mean_time_to_detect_s`` (mean
        delay over detected incidents [s]) and ``incidents_detected`` [count].
    """
    mon = result.scenario.monitoring
    series = monitoring_series(result) if series is None else series
    rules = default_rules(result.scenario) if rules is None else tuple(rules)
    firings = list(evaluate_rules(series, rules, mon.scrape_interval_s).values())
    n_rep = series.replications
    fired = np.zeros(n_rep, dtype=np.int64)
    emails = np.zeros(n_rep, dtype=np.int64)
    email = mon.alert_email and mon.system != "console"
    if repeat_interval_s is not None:
        repeat_interval_s = _check_positive("repeat_interval_s", repeat_interval_s)
    for f in firings:
        fired += f.counts()
        if not email:
            continue
        per = 1 + (f.resolved.astype(np.int64) if send_resolved else 0)
        if repeat_interval_s is not None:
            reminders = np.ceil((f.end_s - f.start_s) / repeat_interval_s - _EPS) - 1
            per = per + np.maximum(reminders, 0).astype(np.int64)
        per = np.broadcast_to(per, f.replication.shape).astype(np.float64)
        emails += np.bincount(f.replication, weights=per, minlength=n_rep).astype(np.int64)
    if incident_start_s is None:
        mttd = np.full(n_rep, np.nan)
        detected = np.zeros(n_rep, dtype=np.int64)
    else:
        delays = detection_delay_s(firings, incident_start_s).reshape(n_rep, -1)
        detected = np.isfinite(delays).sum(axis=1)
        total = np.where(np.isfinite(delays), delays, 0.0).sum(axis=1)
        mttd = np.divide(total, detected, out=np.full(n_rep, np.nan), where=detected > 0)
    return pd.DataFrame(
        {
            "alerts_fired": fired,
            "emails_sent": emails,
            "mean_time_to_detect_s": mttd,
            "incidents_detected": detected,
        },
        index=pd.RangeIndex(n_rep, name="replication"),
    )
