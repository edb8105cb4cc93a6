"""The Kubernetes HPA as the control loop runs it (every policy but ``fixed``).

The engine calls :meth:`ReactivePolicy.sync` once per control period with the
replica counts and the busy fraction of the Ready servers; the policy turns the
busy fraction into the CPU usage the metrics pipeline would report and runs
one vectorized HPA reconcile per replication.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from simkit.autoscaling.behavior import Behavior, behavior_from_api
from simkit.autoscaling.hpa_vec import HPAConfig, VectorHPA
from simkit.autoscaling.registry import POLICIES
from simkit.scenario import Behavior as BehaviorSpec
from simkit.scenario import ScalingRulesSpec, Scenario

__all__ = ["ReactivePolicy", "behavior_of", "make_autoscaler"]


def _rules_api(spec: ScalingRulesSpec | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    out: dict[str, Any] = {"selectPolicy": spec.select_policy}
    if spec.stabilization_window_s >= 0:
        out["stabilizationWindowSeconds"] = spec.stabilization_window_s
    if spec.policies:
        out["policies"] = [
            {"type": p.kind, "value": p.value, "periodSeconds": p.period_s} for p in spec.policies
        ]
    return out


def behavior_of(spec: BehaviorSpec | None) -> Behavior | None:
    """Scenario ``autoscaling.behavior`` to the HPA's :class:`Behavior` (API defaults filled)."""
    if spec is None:
        return None
    return behavior_from_api(
        {"scaleUp": _rules_api(spec.scale_up), "scaleDown": _rules_api(spec.scale_down)}
    )


class ReactivePolicy:
    """The Kubernetes HPA on CPU utilization, across replications.

    Parameters
    ----------
    scenario : Scenario
        Its ``autoscaling`` section gives the HPA settings and the CPU model:
        a Ready pod uses ``cpu_idle_milli + busy_fraction * workers * cpu_busy_milli``.
    n_replications : int
        Number of replications (rows).
    """

    def __init__(self, scenario: Scenario, n_replications: int) -> None:
        a = scenario.autoscaling
        self.config = HPAConfig(
            min_replicas=a.min_replicas,
            max_replicas=a.max_replicas,
            target_utilization_percent=a.target_cpu_utilization_percent,
            tolerance_down=a.tolerance,
            tolerance_up=a.tolerance,
            sync_period_s=a.sync_period_s,
            downscale_stabilization_s=a.downscale_stabilization_s,
            behavior=behavior_of(a.behavior),
        )
        self._hpa = VectorHPA(self.config, n_replications)
        self._idle_milli = float(a.cpu_idle_milli)
        self._busy_milli = float(a.cpu_busy_milli * scenario.servers_per_instance)
        self._request_milli = a.cpu_request_milli

    @property
    def cpu_model(self) -> tuple[float, float, int]:
        """CPU of an idle Ready pod, extra CPU of a fully busy one, request per pod [millicores]."""
        return self._idle_milli, self._busy_milli, self._request_milli

    def sync(
        self,
        *,
        now_s: float,
        spec_replicas: np.ndarray,
        ready_pods: np.ndarray,
        unready_pods: np.ndarray,
        busy_fraction: np.ndarray,
    ) -> np.ndarray:
        """One HPA reconcile per replication; returns the new desired replicas [R]."""
        usage = self._usage_milli(ready_pods, busy_fraction)
        return self._hpa.sync(
            now_s, spec_replicas, ready_pods, unready_pods, usage, self._request_milli
        )

    def sync_block(
        self,
        *,
        now_s: np.ndarray,
        spec_replicas: np.ndarray,
        ready_pods: np.ndarray,
        busy_fraction: np.ndarray,
    ) -> int:
        """Commit the leading syncs that rescale nothing; see ``VectorHPA.sync_block``."""
        usage = self._usage_milli(ready_pods, busy_fraction)
        return self._hpa.sync_block(now_s, spec_replicas, ready_pods, usage, self._request_milli)

    def _usage_milli(self, ready_pods: np.ndarray, busy_fraction: np.ndarray) -> np.ndarray:
        """CPU samples summed over the Ready pods [millicores], as metrics-server reports."""
        usage = np.floor(ready_pods * (self._idle_milli + busy_fraction * self._busy_milli))
        return usage.astype(np.int64)


def make_autoscaler(scenario: Scenario, n_replications: int) -> ReactivePolicy | None:
    """The engine's autoscaler for a scenario: ``None`` for a fixed instance count."""
    if not POLICIES[scenario.autoscaling.policy].autoscaled:
        return None  # "fixed"; the others run the HPA (with or without a floor)
    return ReactivePolicy(scenario, n_replications)
