"""Regions and clouds: GeoDNS failover when a region goes down.

Traffic is split across ``scenario.regions`` by ``traffic_share``.  The engine
pools the instances of all regions under one autoscaler; a region outage takes
its share of the instances out, and the requests GeoDNS still sends there fail
until its health checks notice and the DNS records' TTL expires.  The incident
is detected when the alert rule that detects ``region`` fires on those failed
requests (:mod:`simkit.detection`); nothing waits for it.  Then the
survivors take all the traffic (and the autoscaler adds capacity).  With a
single region there is nowhere to fail over to: everything fails until the
region is back.

Region outages come from chaos experiments (``kind = "region_down"``); random
region failures are not modelled.
"""

from __future__ import annotations

import numpy as np

from simkit.detection import window_detected_s
from simkit.effects import Effects, FailureWindow, Incident, period_span
from simkit.scenario import Scenario

__all__ = ["DNS_TTL_S", "GEO_HEALTH_CHECK_S", "failover_s", "region_effects"]

#: GeoDNS health checks: a 30 s request interval and a failure threshold of 3, the
#: Amazon Route 53 defaults, notice a dead region after about 90 s.
GEO_HEALTH_CHECK_S = 90.0
#: TTL of the GeoDNS records: resolvers keep the dead region's address this long
#: after the switch (assumption; 60 s is a common low TTL for failover records).
DNS_TTL_S = 60.0


def failover_s() -> float:
    """Time from a region outage until its traffic reaches the survivors [s]."""
    return GEO_HEALTH_CHECK_S + DNS_TTL_S


def region_effects(scenario: Scenario, n_rep: int, n_periods: int, period_s: float) -> Effects:
    """Effects of the scheduled region outages, identical in every replication.

    Returns
    -------
    Effects
        Failure windows (the failed region's share of requests until failover, or
        all requests with a single region), the region's instances out of service
        while it is down, and one incident per outage and replication.
    """
    chaos = scenario.chaos
    outages = [e for e in chaos.experiments if e.kind == "region_down"] if chaos.enabled else []
    if not outages:
        return Effects()
    shares = {r.name: r.traffic_share for r in scenario.regions}
    single = len(scenario.regions) == 1
    down = np.zeros((n_rep, n_periods), dtype=np.int64)
    windows, incidents = [], []
    for exp in outages:
        start, end = exp.at_s, exp.at_s + exp.duration_s
        if single:
            share, recovered = 1.0, end
        else:
            share = shares[exp.region]
            recovered = min(end, start + failover_s())
            down[:, period_span(start, end, period_s, n_periods)] += round(
                share * scenario.autoscaling.replicas
            )
        windows.append(FailureWindow(-1, start, recovered, share, "region"))
        # GeoDNS fails over on its own health checks; the alert only dates detection.
        detected = window_detected_s(
            scenario, "region", start, recovered, share, period_s, n_periods
        )
        incidents += [Incident(r, "region", start, detected, recovered) for r in range(n_rep)]
    return Effects(
        instances_down=down if down.any() else None,
        windows=tuple(windows),
        incidents=tuple(incidents),
    )
