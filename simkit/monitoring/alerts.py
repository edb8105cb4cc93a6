"""Alert KPIs of a run: the scenario's rules on its monitoring series.

The rules are ``scenario.monitoring.rules`` (:class:`simkit.scenario.AlertRule`),
evaluated by :mod:`simkit.detection` with Prometheus ``for`` semantics every
``monitoring.eval_interval_s`` on :func:`~simkit.monitoring.series.monitoring_series`.
The same rules date the incidents inside the failure mechanisms, so the first
firing of an incident's detection rule here is its ``detected_s``.

Notifications (``alert_kpis``): a rule's ``receiver`` says where a firing goes.
``page`` and ``ticket`` count as pages and tickets.  With
``monitoring.alert_email`` and a Prometheus system, every firing interval of a
rule that is not ``console`` also sends one e-mail when it starts and one when
it resolves (``send_resolved``; note Alertmanager's ``email_config`` defaults
it to false), plus one reminder every ``repeat_interval_s`` while firing if
given (Alertmanager ``repeat_interval``).  Grouping and ``group_wait`` are not
modelled: every firing interval of every rule is its own notification.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simkit.detection import FiringIntervals, evaluate
from simkit.errors import SimkitError
from simkit.monitoring.series import MonitoringSeries, monitoring_series
from simkit.result import SimResult
from simkit.scenario import AlertRule

__all__ = ["alert_kpis", "evaluate_rules", "first_firing_after_s"]

_EPS = 1e-9


def _check_positive(name: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < np.inf:
        raise SimkitError(f"{name} = {value!r} is invalid; allowed: a finite number > 0 [s]")
    return float(value)


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
        Rule name -> :class:`~simkit.detection.FiringIntervals`.
    """
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise SimkitError(f"rules have duplicate names {names}; allowed: distinct names")
    return {
        rule.name: evaluate(
            rule,
            series.get(rule.series),
            series.period_s,
            eval_interval_s,
            weights=series.weights(rule.series),
        )
        for rule in rules
    }


def first_firing_after_s(result: SimResult, rule_name: str, replication: int, t_s: float) -> float:
    """First firing of a scenario rule at or after ``t_s`` in one replication [s], nan if none.

    Evaluated on the run's monitoring series, independently of the failure
    mechanisms: the check behind "an incident's detection is its rule's first firing".
    """
    rules = {r.name: r for r in result.scenario.monitoring.rules}
    if rule_name not in rules:
        raise SimkitError(f"rule_name = {rule_name!r} is unknown; allowed: {sorted(rules)}")
    firing = evaluate_rules(
        monitoring_series(result), [rules[rule_name]], result.scenario.monitoring.eval_interval_s
    )[rule_name]
    return firing.first_at_or_after(replication, t_s)


def alert_kpis(
    result: SimResult,
    rules: Sequence[AlertRule] | None = None,
    *,
    series: MonitoringSeries | None = None,
    send_resolved: bool = True,
    repeat_interval_s: float | None = None,
) -> pd.DataFrame:
    """Alert KPIs per replication, columns of :func:`simkit.analysis.kpis`.

    Parameters
    ----------
    result : SimResult
        A simulation result (its ``scenario.monitoring`` gives the rules, the
        evaluation interval and whether e-mails are sent).
    rules : sequence of AlertRule, optional
        Default ``scenario.monitoring.rules``.
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
        rules [count]), ``emails_sent`` [count], ``pages`` and ``tickets``
        (firing intervals of rules with that receiver [count]).
    """
    mon = result.scenario.monitoring
    series = monitoring_series(result) if series is None else series
    rules = mon.rules if rules is None else tuple(rules)
    firings = evaluate_rules(series, rules, mon.eval_interval_s)
    n_rep = series.replications
    counts = {"alerts_fired": np.zeros(n_rep, dtype=np.int64)}
    counts.update({k: np.zeros(n_rep, dtype=np.int64) for k in ("emails_sent", "pages", "tickets")})
    email = mon.alert_email and mon.system != "console"
    if repeat_interval_s is not None:
        repeat_interval_s = _check_positive("repeat_interval_s", repeat_interval_s)
    for rule in rules:
        f = firings[rule.name]
        counts["alerts_fired"] += f.counts()
        if rule.receiver in ("page", "ticket"):
            counts[f"{rule.receiver}s"] += f.counts()
        if not email or rule.receiver == "console":
            continue
        per = 1 + (f.resolved.astype(np.int64) if send_resolved else 0)
        if repeat_interval_s is not None:
            reminders = np.ceil((f.end_s - f.start_s) / repeat_interval_s - _EPS) - 1
            per = per + np.maximum(reminders, 0).astype(np.int64)
        per = np.broadcast_to(per, f.replication.shape).astype(np.float64)
        sent = np.bincount(f.replication, weights=per, minlength=n_rep)
        counts["emails_sent"] += sent.astype(np.int64)
    return pd.DataFrame(counts, index=pd.RangeIndex(n_rep, name="replication"))
