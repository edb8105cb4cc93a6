"""Monitoring model: post-processing of a :class:`~simkit.result.SimResult`.

- :mod:`simkit.monitoring.series`: CPU, memory, disk, network, error-ratio and
  p99 series at the control-period resolution;
- :mod:`simkit.monitoring.alerts`: the scenario's alert rules on those series
  (evaluated by :mod:`simkit.detection`): firing intervals, pages, tickets, e-mails;
- :mod:`simkit.monitoring.rollup`: 5 min and 1 h rollups (min, max, sum,
  count, mean) as the Thanos compactor keeps them.
"""

from __future__ import annotations

from simkit.monitoring.alerts import alert_kpis, evaluate_rules, first_firing_after_s
from simkit.monitoring.rollup import combine, downsample, rollup, rollup_frame
from simkit.monitoring.series import SERIES_UNITS, MonitoringSeries, monitoring_series

__all__ = [
    "SERIES_UNITS",
    "MonitoringSeries",
    "alert_kpis",
    "combine",
    "downsample",
    "evaluate_rules",
    "first_firing_after_s",
    "monitoring_series",
    "rollup",
    "rollup_frame",
]
