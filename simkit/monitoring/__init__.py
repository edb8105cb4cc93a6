"""Monitoring model: post-processing of a :class:`~simkit.result.SimResult`.

- :mod:`simkit.monitoring.series`: CPU, memory, disk, network, error-ratio and
  p99 series at the control-period resolution;
- :mod:`simkit.monitoring.alerts`: Prometheus-style alert rules with a ``for``
  duration, firing intervals, e-mails and detection delays;
- :mod:`simkit.monitoring.rollup`: 5 min and 1 h rollups (min, max, sum,
  count, mean) as the Thanos compactor keeps them.
"""

from __future__ import annotations

from simkit.monitoring.alerts import (
    AlertRule,
    FiringIntervals,
    alert_kpis,
    default_rules,
    detection_delay_s,
    evaluate,
    evaluate_rules,
)
from simkit.monitoring.rollup import combine, downsample, rollup, rollup_frame
from simkit.monitoring.series import SERIES_UNITS, MonitoringSeries, monitoring_series

__all__ = [
    "SERIES_UNITS",
    "AlertRule",
    "FiringIntervals",
    "MonitoringSeries",
    "alert_kpis",
    "combine",
    "default_rules",
    "detection_delay_s",
    "downsample",
    "evaluate",
    "evaluate_rules",
    "monitoring_series",
    "rollup",
    "rollup_frame",
]
