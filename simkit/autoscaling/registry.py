"""The values of ``autoscaling.policy``: one small interface, one registry.

Every choice of :attr:`simkit.scenario.Autoscaling.policy` is an
:class:`AutoscalingPolicy` in :data:`POLICIES`.  The engine looks the
scenario's policy up and, once before the control loop, asks it for its
:class:`PolicyFloor`: the capacity floor to keep under the HPA
(``desired = max(hpa, floor)``; ``None``: the HPA alone) and the forecast floor
to record in the result.  The offered load is exogenous, so a policy's floor
for a whole run is computed up front, causally.  The dashboards take the names,
descriptions and :attr:`AutoscalingPolicy.configure` from here too.

Another policy is one more entry here (and one more choice in the scenario
schema); nothing in the engine names a policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from simkit.autoscaling.learned import learned_floor
from simkit.autoscaling.predictive import forecast_floor
from simkit.scenario import Scenario

__all__ = ["NO_FLOOR", "POLICIES", "AutoscalingPolicy", "PolicyFloor"]


@dataclass(frozen=True, eq=False)
class PolicyFloor:
    """What a policy decides before the control loop runs.

    Attributes
    ----------
    apply : numpy.ndarray or None
        Floor under the HPA [instances], int64 ``[R, P]``: the engine runs
        ``desired = max(hpa, floor)`` each period.  ``None``: no floor.
    forecast_floor : numpy.ndarray or None
        Forecast floor to record (:attr:`simkit.SimResult.forecast_floor`),
        int64 ``[R, P]``, whether applied or not; ``None``: no forecast.
    forecast_rps : numpy.ndarray or None
        The forecast rate behind it [1/s], ``[R, P]``; ``None`` with no forecast.
    """

    apply: np.ndarray | None = None
    forecast_floor: np.ndarray | None = None
    forecast_rps: np.ndarray | None = None


#: No floor and no forecast.
NO_FLOOR = PolicyFloor()

FloorFn = Callable[[Scenario, np.ndarray, float], PolicyFloor]


@dataclass(frozen=True)
class AutoscalingPolicy:
    """One value of ``autoscaling.policy``.

    Attributes
    ----------
    name : str
        The value of ``autoscaling.policy``.
    description : str
        One line for people (dashboards, docs).
    autoscaled : bool
        Whether the Kubernetes HPA runs (``False``: ``autoscaling.replicas``
        instances, always).
    floor : callable
        ``floor(scenario, rate_rps, period_s) -> PolicyFloor``, called once per
        run before the control loop with the offered rate per period [1/s],
        ``[R, P]``, and the control period [s].
    configure : callable
        ``configure(scenario) -> Scenario``: the scenario switched to this
        policy (with forecasting on in ``active`` mode for ``predictive`` and
        off otherwise), as the dashboards compare policies.
    """

    name: str
    description: str
    autoscaled: bool
    floor: FloorFn = field(repr=False)
    configure: Callable[[Scenario], Scenario] = field(repr=False)

    def max_instances(self, scenario: Scenario) -> int:
        """Most instances the policy can ever run (the size of the failure timeline)."""
        a = scenario.autoscaling
        return a.max_replicas if self.autoscaled else a.replicas


def _no_floor(scenario: Scenario, rate_rps: np.ndarray, period_s: float) -> PolicyFloor:
    return NO_FLOOR


def _reactive_floor(scenario: Scenario, rate_rps: np.ndarray, period_s: float) -> PolicyFloor:
    # The HPA alone; with forecasting enabled the forecast floor is recorded, never applied.
    if not scenario.forecasting.enabled:
        return NO_FLOOR
    floor, forecast_rps = forecast_floor(scenario, rate_rps, period_s)
    return PolicyFloor(None, floor, forecast_rps)


def _predictive_floor(scenario: Scenario, rate_rps: np.ndarray, period_s: float) -> PolicyFloor:
    # ``forecasting.mode = "forecast_only"`` records the floor without applying it.
    if not scenario.forecasting.enabled:  # the scenario schema rejects this combination
        return NO_FLOOR
    floor, forecast_rps = forecast_floor(scenario, rate_rps, period_s)
    apply = floor if scenario.forecasting.mode == "active" else None
    return PolicyFloor(apply, floor, forecast_rps)


def _learned_floor(scenario: Scenario, rate_rps: np.ndarray, period_s: float) -> PolicyFloor:
    # No forecast is made (or recorded), whatever ``forecasting.enabled`` says.
    return PolicyFloor(learned_floor(scenario, rate_rps, period_s))


def _configure(policy: str, forecasting: bool) -> Callable[[Scenario], Scenario]:
    def configure(scenario: Scenario) -> Scenario:
        if forecasting:
            return scenario.replace(
                autoscaling__policy=policy, forecasting__enabled=True, forecasting__mode="active"
            )
        return scenario.replace(autoscaling__policy=policy, forecasting__enabled=False)

    configure.__name__ = configure.__qualname__ = f"configure_{policy}"
    return configure


#: Policy name -> policy; the keys are the choices of ``autoscaling.policy``.
POLICIES: dict[str, AutoscalingPolicy] = {
    p.name: p
    for p in (
        AutoscalingPolicy(
            "fixed",
            "a constant autoscaling.replicas instances, no autoscaler",
            False,
            _no_floor,
            _configure("fixed", forecasting=False),
        ),
        AutoscalingPolicy(
            "reactive",
            "the Kubernetes HPA on CPU utilization",
            True,
            _reactive_floor,
            _configure("reactive", forecasting=False),
        ),
        AutoscalingPolicy(
            "predictive",
            "the HPA over a capacity floor from a load forecast ([forecasting])",
            True,
            _predictive_floor,
            _configure("predictive", forecasting=True),
        ),
        AutoscalingPolicy(
            "learned",
            "the HPA over a capacity floor from two load averages, trained in simulation",
            True,
            _learned_floor,
            _configure("learned", forecasting=False),
        ),
    )
}
