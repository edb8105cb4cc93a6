"""The one KPI table: every key performance indicator of a run, SLO columns included.

:func:`kpis` is the only place a KPI is computed.  ``simkit run``, ``simkit
compare``, the report, the notebooks and the widgets all read this table;
:data:`KPI_COLUMNS` documents each column with its unit.  The result it reads
holds only arrays, the time index, the scenario and the seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from simkit.analysis.slo import minute_series
from simkit.cost import instance_price_usd_per_h
from simkit.errors import SimkitError
from simkit.kafka import consumer_lag
from simkit.monitoring.alerts import alert_kpis
from simkit.result import SimResult
from simkit.windows import window_latency_means

__all__ = ["ID_COLUMNS", "KPI_COLUMNS", "availability", "kpi_frame", "kpis", "mean_instances"]

#: Columns that identify a row of :func:`kpis`.
ID_COLUMNS = ("scenario", "replication", "seed")

#: Columns of :func:`kpis` after :data:`ID_COLUMNS`, with their units.
KPI_COLUMNS = {
    "requests": "offered requests [count]",
    "errors": "failed requests: timeouts, overflow, unavailable, lost on crashes [count]",
    "availability": "1 - errors / requests [-]",
    "latency_p50_s": "median latency of served requests over the whole run [s]",
    "latency_p95_s": "95th percentile latency over the whole run [s]",
    "latency_p99_s": "99th percentile latency over the whole run [s]",
    "latency_mean_s": "mean latency of served requests over the whole run [s]",
    "slo_minutes_violated": "minutes whose p99 or error ratio breaks the SLO [count]",
    "slo_good_minutes_fraction": "share of minutes meeting the SLO (p99 and error ratio) [-]",
    "error_budget_remaining": "1 - burn_rate_mean: share of the run's error budget left [-]",
    "error_budget_used": "share of one SLO window's request error budget spent (the run's "
    "traffic extrapolated to the window when shorter, per window when longer) [-]",
    "burn_rate_mean": "error ratio of the run / (1 - slo.availability) [-]",
    "mean_instances": "mean provisioned (billed) instances [count]",
    "max_instances": "largest provisioned instance count [count]",
    "mean_ready_instances": "mean Ready instances serving traffic [count]",
    "instance_hours": "provisioned instance-hours [h]",
    "cost_usd": "instance_hours x price per instance-hour (per region for multi-cloud) [USD]",
    "downtime_s": "time in steps where at least half of the requests failed [s]",
    "incidents": "unplanned incidents: bad releases, database, region, instance crashes "
    "without a health check, chaos [count]",
    "incidents_detected": "incidents whose detection rule fired [count]",
    "mean_time_to_detect_s": "mean time from incident start to the first firing of its "
    "detection rule, over detected incidents; 0 if none [s]",
    "mean_time_to_recover_s": "mean time from incident start to recovery, 0 if none [s]",
    "data_loss_events": "incidents that lost committed writes [count]",
    "max_data_loss_window_s": "largest window of lost writes (RPO) [s]",
    "failed_writes": "requests failed because the database could not take their write [count]",
    "alerts_fired": "firing intervals of the scenario's alert rules [count]",
    "pages": "firing intervals of rules that page (burn-rate and error alerts) [count]",
    "tickets": "firing intervals of rules that open a ticket [count]",
    "paged": "1 if the replication paged at least once [-]",
    "emails_sent": "alert e-mails: one on firing and one on resolve, if e-mail is on [count]",
    "max_consumer_lag_s": "largest Kafka consumer lag, 0 without Kafka [s]",
    "lost_messages": "Kafka messages deleted by retention before consumption [count]",
    "scaling_events": "changes of the desired instance count [count]",
    "slack": "mean of (capacity - demand) / capacity per period, -1 when no capacity [-]",
    "mean_utilization": "mean busy fraction of the Ready servers [-]",
    "overloaded_minutes": "minutes with offered load above capacity or a backlog [count]",
    "service_time_ms": "mean service time per request with TLS/debug/logging overheads [ms]",
    "crashes": "instance crashes [count]",
    "errors_overload": "requests dropped by queue limit or timeout under overload [count]",
    "errors_unavailable": "requests that found no Ready instance [count]",
    "errors_slow_timeout": "requests slower than the timeout in stable periods [count]",
    "errors_crash": "requests lost on crashing instances [count]",
    "errors_deploy": "requests offered while a recreate deploy restarts the service [count]",
    "errors_bad_release": "requests failed by instances running a bad release [count]",
    "errors_database": "requests failed by a database outage [count]",
    "errors_region": "requests sent to a region that is down [count]",
    "errors_chaos": "requests failed by chaos experiments [count]",
}

_CAUSES = ("crash", "deploy", "bad_release", "database", "region", "chaos")


def kpis(result: SimResult) -> pd.DataFrame:
    """Every KPI of a run, one row per replication.

    Parameters
    ----------
    result : SimResult
        A simulation result.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`ID_COLUMNS` then :data:`KPI_COLUMNS` (units there), a
        ``RangeIndex``; no ``NaN``.
    """
    if not isinstance(result, SimResult):
        raise SimkitError(f"result must be a SimResult, got {type(result).__name__}")
    n_rep = result.replications
    zeros = np.zeros(n_rep)
    requests, errors = _totals(result)
    instance_hours = result.billed_instances.sum(axis=1, dtype=np.float64) * (
        result.period_s / 3600.0
    )
    desired = result.desired_instances.astype(np.float64)
    breakdown = result.error_breakdown
    data = {
        "requests": requests,
        "errors": errors,
        "availability": availability(result),
        "latency_p50_s": result.run_latency_s[:, 0],
        "latency_p95_s": result.run_latency_s[:, 1],
        "latency_p99_s": result.run_latency_s[:, 2],
        "latency_mean_s": window_latency_means(result, np.array([0]))[:, 0],
        **_slo_kpis(result, requests, errors),
        "mean_instances": mean_instances(result),
        "max_instances": desired.max(axis=1),
        "mean_ready_instances": result.ready_instances.mean(axis=1),
        "instance_hours": instance_hours,
        "cost_usd": instance_hours * instance_price_usd_per_h(result.scenario),
        "downtime_s": _downtime_s(result),
        **_incident_kpis(result),
        "failed_writes": breakdown.get("database", zeros),
        **_monitoring_kpis(result),
        "scaling_events": (np.diff(result.desired_instances, axis=1) != 0).sum(axis=1),
        "slack": _slack(result),
        "mean_utilization": result.utilization.mean(axis=1, dtype=np.float64),
        "overloaded_minutes": _overloaded_minutes(result),
        "service_time_ms": np.full(n_rep, result.scenario.service.effective_service_time_s * 1e3),
        "crashes": result.crashes.sum(axis=1),
        "errors_overload": breakdown["overload"],
        "errors_unavailable": breakdown["unavailable"],
        "errors_slow_timeout": breakdown["slow_timeout"],
        **{f"errors_{cause}": breakdown.get(cause, zeros) for cause in _CAUSES},
    }
    frame = pd.DataFrame({k: np.asarray(data[k]) for k in KPI_COLUMNS})
    frame.insert(0, "seed", result.seed)
    frame.insert(0, "replication", np.arange(n_rep))
    frame.insert(0, "scenario", result.scenario.name)
    return frame


def availability(result: SimResult) -> np.ndarray:
    """The ``availability`` KPI alone: ``1 - errors / requests`` per replication [-].

    Parameters
    ----------
    result : SimResult
        A simulation result.

    Returns
    -------
    numpy.ndarray
        ``[R]``; 1 for a replication without requests.
    """
    requests, errors = _totals(result)
    return np.divide(requests - errors, requests, out=np.ones_like(requests), where=requests > 0)


def mean_instances(result: SimResult) -> np.ndarray:
    """The ``mean_instances`` KPI alone: mean provisioned instances per replication [count].

    Parameters
    ----------
    result : SimResult
        A simulation result.

    Returns
    -------
    numpy.ndarray
        ``[R]``, the mean over periods of the desired instance count.
    """
    return result.desired_instances.astype(np.float64).mean(axis=1)


def _totals(result: SimResult) -> tuple[np.ndarray, np.ndarray]:
    """Offered and failed requests of the run per replication [count], ``[R]`` each."""
    return result.arrivals_period.sum(axis=1, dtype=np.float64), result.errors_period.sum(axis=1)


def kpi_frame(results: Sequence[SimResult]) -> pd.DataFrame:
    """:func:`kpis` of several results stacked: one row per (scenario, replication)."""
    frames = [kpis(r) for r in results]
    if not frames:
        raise SimkitError("results is empty; give at least one SimResult")
    return pd.concat(frames, ignore_index=True)


def _slo_kpis(result: SimResult, requests: np.ndarray, errors: np.ndarray) -> dict:
    """SLO minutes, error budget and burn rate (the request SLI)."""
    slo = result.scenario.slo
    bad = minute_series(result)["bad"]
    minutes = bad.shape[1]
    ratio = np.divide(errors, requests, out=np.zeros_like(errors), where=requests > 0)
    burn = ratio / (1.0 - slo.availability)
    return {
        "slo_minutes_violated": bad.sum(axis=1),
        "slo_good_minutes_fraction": 1.0 - bad.sum(axis=1) / max(minutes, 1),
        "error_budget_remaining": 1.0 - burn,
        "error_budget_used": burn * min(minutes / (slo.window_days * 1440.0), 1.0),
        "burn_rate_mean": burn,
    }


def _monitoring_kpis(result: SimResult) -> dict:
    """Alerts, pages, tickets, e-mails and Kafka lag."""
    alerts = alert_kpis(result)
    lag = consumer_lag(result.scenario, result.rate_rps, result.period_s)
    return {
        "alerts_fired": alerts["alerts_fired"].to_numpy(),
        "pages": alerts["pages"].to_numpy(),
        "tickets": alerts["tickets"].to_numpy(),
        "paged": (alerts["pages"].to_numpy() > 0).astype(np.int64),
        "emails_sent": alerts["emails_sent"].to_numpy(),
        "max_consumer_lag_s": lag.lag_s.max(axis=1),
        "lost_messages": lag.lost_messages,
    }


def _incident_kpis(result: SimResult) -> dict:
    """Incident counts, detection and recovery times, data loss."""
    n_rep = result.replications
    count, detected = np.zeros(n_rep), np.zeros(n_rep)
    detect, recover = np.zeros(n_rep), np.zeros(n_rep)
    loss_events, loss_window = np.zeros(n_rep), np.zeros(n_rep)
    for inc in result.incidents:
        r = inc.replication
        count[r] += 1
        recover[r] += inc.recovered_s - inc.start_s
        if np.isfinite(inc.detected_s):
            detected[r] += 1
            detect[r] += inc.detected_s - inc.start_s
        if inc.data_loss_window_s > 0:
            loss_events[r] += 1
            loss_window[r] = max(loss_window[r], inc.data_loss_window_s)
    return {
        "incidents": count,
        "incidents_detected": detected,
        "mean_time_to_detect_s": detect / np.maximum(detected, 1),
        "mean_time_to_recover_s": recover / np.maximum(count, 1),
        "data_loss_events": loss_events,
        "max_data_loss_window_s": loss_window,
    }


def _slack(result: SimResult) -> np.ndarray:
    cap = result.capacity_rps
    slack = np.divide(cap - result.rate_rps, cap, out=np.full_like(cap, -1.0), where=cap > 0)
    return np.clip(slack, -1.0, 1.0).mean(axis=1)


def _downtime_s(result: SimResult) -> np.ndarray:
    """Seconds in steps where at least half of the offered requests failed."""
    k = result.steps_per_period
    down = result.error_fraction >= 0.5
    ov = result.overlay
    down[ov.replication, ov.period] = False
    seconds = down.sum(axis=1) * k * result.step_s
    if ov.replication.size:
        arr = ov.arrivals
        bad = (arr > 0) & (ov.errors >= 0.5 * arr)
        seconds = seconds + np.bincount(
            ov.replication, weights=bad.sum(axis=1) * result.step_s, minlength=result.replications
        )
    return seconds


def _overloaded_minutes(result: SimResult) -> np.ndarray:
    """Minutes in which any step is overloaded (load above capacity or a backlog)."""
    per_minute = max(round(60.0 / result.step_s), 1)
    k = result.steps_per_period
    if per_minute % k == 0:  # minutes are whole periods
        edges = np.arange(0, result.overloaded.shape[1], per_minute // k)
        return np.logical_or.reduceat(result.overloaded, edges, axis=1).sum(axis=1)
    over = np.repeat(result.overloaded, k, axis=1)
    edges = np.arange(0, result.n_steps, per_minute)
    return np.logical_or.reduceat(over, edges, axis=1).sum(axis=1)
