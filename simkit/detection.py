"""How long until someone notices: detection delays per monitoring system.

Used by the failure mechanisms (bad releases, region outages, chaos) to date
the detection of an incident without simulating the alert pipeline step by
step; :mod:`simkit.monitoring` evaluates the alert rules on the simulated
series for the alert and e-mail KPIs.
"""

from __future__ import annotations

from simkit.scenario import Scenario

__all__ = ["ALERT_FOR_S", "HUMAN_DETECTION_S", "detection_delay_s"]

#: ``for`` duration of the error-ratio alert: the condition must hold this long
#: before the alert fires (a common choice for paging alerts; assumption).
ALERT_FOR_S = 60.0
#: Time for a developer watching console logs to notice a failure (assumption).
HUMAN_DETECTION_S = 1800.0


def detection_delay_s(scenario: Scenario) -> float:
    """Delay from an outage's start to its detection [s].

    Prometheus-style monitoring needs one scrape to see the change and the
    alert's ``for`` duration to fire; console logging relies on a person.
    """
    mon = scenario.monitoring
    if mon.system == "console":
        return HUMAN_DETECTION_S
    return mon.scrape_interval_s + ALERT_FOR_S
