"""Scaling policies: the Kubernetes HPA (scalar and vectorized) and the floors above it.

- :mod:`~simkit.autoscaling.registry`: :data:`POLICIES`, one
  :class:`AutoscalingPolicy` per value of ``autoscaling.policy`` (``fixed``,
  ``reactive``, ``predictive``, ``learned``), the interface the engine calls.
- :mod:`~simkit.autoscaling.hpa`, :mod:`~simkit.autoscaling.hpa_vec`,
  :mod:`~simkit.autoscaling.behavior`: the HPA decision logic, a port of
  Kubernetes (scalar reference and vectorized over replications).
- :mod:`~simkit.autoscaling.policies`: the HPA as the control loop runs it.
- :mod:`~simkit.autoscaling.predictive`: the forecast floor (predictive scaling).
- :mod:`~simkit.autoscaling.learned`: the learned floor (trained by
  :mod:`simkit.training`, which this package never imports).
"""

from __future__ import annotations

from simkit.autoscaling.registry import NO_FLOOR, POLICIES, AutoscalingPolicy, PolicyFloor

__all__ = ["NO_FLOOR", "POLICIES", "AutoscalingPolicy", "PolicyFloor"]
