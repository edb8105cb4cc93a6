"""Chaos experiments on the app tier: kill instances, add latency, fail requests.

Applied identically to every replication at fixed times, so profiles can be
compared under the same fault.  Database faults (``db_primary_down``,
``cache_restart``) belong to :mod:`simkit.database` and region outages to
:mod:`simkit.regions`.
"""

from __future__ import annotations

import numpy as np

from simkit.detection import window_detected_s
from simkit.effects import Effects, FailureWindow, Incident, period_span
from simkit.scenario import Scenario

__all__ = ["chaos_effects"]


def _overlap_share(start_s: float, end_s: float, period_s: float, n_periods: int) -> np.ndarray:
    """Share of each period covered by ``[start_s, end_s)``, shape ``(n_periods,)``."""
    edges = np.arange(n_periods + 1) * period_s
    covered = np.minimum(edges[1:], end_s) - np.maximum(edges[:-1], start_s)
    return np.clip(covered / period_s, 0.0, 1.0)


def chaos_effects(scenario: Scenario, n_rep: int, n_periods: int, period_s: float) -> Effects:
    """Effects of the app-tier chaos experiments (none unless ``chaos.enabled``).

    * ``kill_instances``: ``instances`` pods crash at ``at_s`` and stay down for
      ``duration_s``; their traffic fails until the load balancer notices
      (``failures.detection_s``), and all of it while no instance is left.  An
      ``instance_crash`` incident.
    * ``latency``: ``added_ms`` on every request for ``duration_s`` (period-weighted);
      requests still succeed, so it is no incident.
    * ``fail_requests``: ``failed_fraction`` of requests fails for ``duration_s``;
      a ``chaos`` incident.

    Incidents are detected by the rule that detects their kind, on the
    experiment's own failed share of requests (:mod:`simkit.detection`); the
    scenario's static ``autoscaling.replicas`` is the pool the share refers to.
    """
    chaos = scenario.chaos
    if not chaos.enabled:
        return Effects()
    down = np.zeros((n_rep, n_periods), dtype=np.int64)
    latency = np.zeros((n_rep, n_periods))
    windows, incidents = [], []
    n = scenario.autoscaling.replicas
    for exp in chaos.experiments:
        start, end = exp.at_s, exp.at_s + exp.duration_s
        if exp.kind == "kill_instances":
            down[:, period_span(start, end, period_s, n_periods)] += exp.instances
            share = min(exp.instances / max(n, 1), 1.0)
            noticed = min(start + scenario.failures.detection_s, end)
            windows.append(FailureWindow(-1, start, noticed, share, "chaos"))
            # Own error ratio: the share until noticed; all of it while none is left.
            until = end if share >= 1.0 else noticed
            kind = "instance_crash"
        elif exp.kind == "latency":
            latency += exp.added_ms * 1e-3 * _overlap_share(start, end, period_s, n_periods)
            continue
        elif exp.kind == "fail_requests":
            share, until, kind = exp.failed_fraction, end, "chaos"
            windows.append(FailureWindow(-1, start, end, share, "chaos"))
        else:
            continue
        detected = window_detected_s(scenario, kind, start, until, share, period_s, n_periods)
        incidents += [Incident(r, kind, start, detected, end) for r in range(n_rep)]
    return Effects(
        instances_down=down if down.any() else None,
        latency_s=latency if latency.any() else None,
        windows=tuple(windows),
        incidents=tuple(incidents),
    )
