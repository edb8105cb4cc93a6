"""Scalar reference implementation of the Kubernetes HPA decision logic.

One pure function per stage of the controller (see ``shared/reference/kubernetes-hpa.md``),
behaviour of Kubernetes v1.28 with the newer per-direction inclusive tolerance band
``(1 - tolerance_down) <= ratio <= (1 + tolerance_up)``:

* :func:`replica_calc` -- raw proposal from per-pod samples (``GetResourceReplicas`` /
  ``GetMetricReplicas``);
* :func:`stabilize_legacy`, :func:`legacy_clamp` -- normalization without ``behavior``;
* :func:`stabilize_behavior`, :func:`behavior_rate_limit`, :func:`policy_limit` --
  normalization with ``behavior``;
* :func:`controller_sync` / :func:`reconcile` -- one whole reconcile of a CPU-utilization HPA.

Conventions
-----------
Ages are ``now - timestamp`` in seconds. A history entry or scale event is inside a
*behavior* window or policy period iff ``age_s < window`` (strict); inside the *legacy*
stabilization window iff ``age_s <= window``. History entries are mappings
``{"replicas": int, "age_seconds": float}``; scale events are
``{"replica_change": int, "age_seconds": float}`` (``replica_change`` > 0, the size of the step).
CPU values are pod-level millicores (``_milli``).

This is an independent re-implementation from the written description; it shares no code
with Kubernetes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from simkit.autoscaling.behavior import (
    Behavior,
    ScalingRules,
    behavior_from_api,
    default_behavior,
    default_scale_down_rules,
    default_scale_up_rules,
    rules_from_api,
)

__all__ = [
    "DEFAULT_DOWNSCALE_STABILIZATION_S",
    "DEFAULT_TOLERANCE",
    "LEGACY_SCALE_UP_LIMIT_FACTOR",
    "LEGACY_SCALE_UP_LIMIT_MINIMUM",
    "MetricUnavailableError",
    "ReconcileResult",
    "behavior_rate_limit",
    "controller_sync",
    "legacy_clamp",
    "policy_limit",
    "reconcile",
    "replica_calc",
    "stabilize_behavior",
    "stabilize_legacy",
    "within_tolerance",
]

#: Controller default tolerance (``--horizontal-pod-autoscaler-tolerance``), both directions.
DEFAULT_TOLERANCE = 0.1
#: Controller default downscale stabilization window (s).
DEFAULT_DOWNSCALE_STABILIZATION_S = 300
#: Legacy path: scale-up limit is ``max(factor * current, minimum)`` per sync.
LEGACY_SCALE_UP_LIMIT_FACTOR = 2.0
LEGACY_SCALE_UP_LIMIT_MINIMUM = 4.0

Metric = Literal["resource_utilization", "pods_average_value"]
ToleranceSpec = Mapping[str, float] | float | tuple[float, float] | None
BehaviorSpec = Behavior | Mapping[str, Any] | None


class MetricUnavailableError(ValueError):
    """No usable metric sample (no pods, all pods unready/missing, or zero total request).

    The controller treats this as a failed metric: no rescale, nothing recorded.
    """


# ----------------------------------------------------------------------------- helpers


def _tolerances(tolerance: ToleranceSpec) -> tuple[float, float]:
    """Return ``(tolerance_down, tolerance_up)`` from a mapping, a pair, a number or None."""
    if tolerance is None:
        return DEFAULT_TOLERANCE, DEFAULT_TOLERANCE
    if isinstance(tolerance, Mapping):
        down = tolerance.get("scale_down")
        up = tolerance.get("scale_up")
        return (
            DEFAULT_TOLERANCE if down is None else float(down),
            DEFAULT_TOLERANCE if up is None else float(up),
        )
    if isinstance(tolerance, tuple):
        return float(tolerance[0]), float(tolerance[1])
    return float(tolerance), float(tolerance)


def within_tolerance(ratio: float, tolerance_down: float, tolerance_up: float) -> bool:
    """Inclusive per-direction tolerance band ``(1 - down) <= ratio <= (1 + up)``.

    Parameters
    ----------
    ratio : float
        Usage ratio (current / target), dimensionless.
    tolerance_down, tolerance_up : float
        Fractions (0.1 = 10 %).

    Returns
    -------
    bool
    """
    return (1.0 - tolerance_down) <= ratio <= (1.0 + tolerance_up)


def _behavior(behavior: BehaviorSpec) -> Behavior | None:
    if behavior is None or isinstance(behavior, Behavior):
        return behavior
    return behavior_from_api(behavior)


def _entries(items: Iterable[Mapping[str, Any]] | None, value_key: str) -> list[tuple[int, float]]:
    """``[(value, age_s), ...]`` from a list of mappings (None -> empty)."""
    if items is None:
        return []
    return [(int(it[value_key]), float(it["age_seconds"])) for it in items]


def _change_within(events: list[tuple[int, float]], period_s: float) -> int:
    """Sum of replica changes whose age is strictly below ``period_s`` (s)."""
    return sum(change for change, age_s in events if age_s < period_s)


# ----------------------------------------------------------------------------- replica calc


def _classify(states: Sequence[str], has_sample: Sequence[bool], cpu_rules: bool) -> list[str]:
    """Class of each pod: ``ignored``, ``unready``, ``missing`` or ``ready`` (groupPods order).

    ``cpu_rules`` False (custom Pods metrics) means only Pending pods are unready.
    """
    classes = []
    for state, sampled in zip(states, has_sample, strict=True):
        if state in ("failed", "deleting"):
            classes.append("ignored")
        elif state == "pending":
            classes.append("unready")
        elif not sampled:
            classes.append("missing")
        elif state == "unready" and cpu_rules:
            classes.append("unready")
        elif state in ("ready", "unready"):
            classes.append("ready")
        else:
            raise ValueError(
                f"per_pod_state entry {state!r} is invalid; "
                "allowed: ready, unready, pending, failed, deleting"
            )
    return classes


def _proposal(
    current_replicas: int,
    samples: dict[Hashable, int],
    classes: list[str],
    ratio_of: Callable[[dict[Hashable, int]], tuple[float, int]],
    fill_missing_below: Callable[[int], int],
    tolerance_down: float,
    tolerance_up: float,
) -> tuple[int, int]:
    """Fast and slow path shared by both metric kinds.

    ``samples`` maps pod index (or an extra key for samples of unknown pods) to its value,
    already without ignored/unready pods. ``ratio_of`` returns ``(ratio, reported_value)``.
    """
    ready_count = classes.count("ready")
    unready = [i for i, c in enumerate(classes) if c == "unready"]
    missing = [i for i, c in enumerate(classes) if c == "missing"]
    ratio, reported = ratio_of(samples)

    scale_up_with_unready = bool(unready) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if within_tolerance(ratio, tolerance_down, tolerance_up):
            return current_replicas, reported
        return math.ceil(ratio * ready_count), reported

    filled = dict(samples)
    if missing and ratio < 1.0:
        filled.update({i: fill_missing_below(i) for i in missing})
    elif missing and ratio > 1.0:
        filled.update(dict.fromkeys(missing, 0))
    if scale_up_with_unready:
        filled.update(dict.fromkeys(unready, 0))

    new_ratio, _ = ratio_of(filled)
    flipped = (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio)
    if within_tolerance(new_ratio, tolerance_down, tolerance_up) or flipped:
        return current_replicas, reported
    # The count is the number of samples used, including the filled-in pods (and, as in the
    # controller, samples for pods it does not know about).
    new_replicas = math.ceil(new_ratio * len(filled))
    if (new_ratio < 1.0 and new_replicas > current_replicas) or (
        new_ratio > 1.0 and new_replicas < current_replicas
    ):
        return current_replicas, reported
    return new_replicas, reported


def replica_calc(
    *,
    current_replicas: int,
    per_pod_state: Sequence[str],
    tolerance: ToleranceSpec = None,
    metric: Metric = "resource_utilization",
    per_pod_usage_milli: Sequence[int | None] | None = None,
    per_pod_request_milli: Sequence[int] | None = None,
    target_utilization_percent: int | None = None,
    extra_metrics_usage_milli: Sequence[int] | None = None,
    per_pod_value_milli: Sequence[int | None] | None = None,
    target_average_value_milli: int | None = None,
) -> tuple[int, int]:
    """Raw replica proposal for one metric (not clamped to min/max).

    Parameters
    ----------
    current_replicas : int
        ``scale.spec.replicas`` of the target.
    per_pod_state : sequence of str
        ``ready``, ``unready`` (Running, classed unready by the CPU readiness rules),
        ``pending``, ``failed`` or ``deleting`` (the last two are dropped).
    tolerance : mapping, float, (down, up) or None
        ``{"scale_down": f, "scale_up": f}`` fractions; None = 0.1 both ways.
    metric : {"resource_utilization", "pods_average_value"}
        CPU ``averageUtilization`` target, or a custom Pods metric ``averageValue`` target.
    per_pod_usage_milli : sequence of int or None
        CPU usage sample per pod in millicores; ``None`` = no sample (utilization metric).
    per_pod_request_milli : sequence of int
        CPU request per pod in millicores (utilization metric).
    target_utilization_percent : int
        Target utilization in percent of the request (utilization metric).
    extra_metrics_usage_milli : sequence of int, optional
        Samples for pods that are not in the pod list (no request: ignored for the
        utilization, but counted in the slow-path sample count like the controller does).
    per_pod_value_milli : sequence of int or None
        Metric value per pod in milli-units; ``None`` = no sample (Pods metric).
    target_average_value_milli : int
        Target average value per pod in milli-units (Pods metric).

    Returns
    -------
    (int, int)
        ``(replicas, utilization_percent)`` for the utilization metric (integer percent over
        the ready pods' samples), ``(replicas, average_value_milli)`` for the Pods metric
        (integer average over the ready pods' samples).

    Raises
    ------
    MetricUnavailableError
        No pods, no usable sample, or zero total request.
    """
    tol_down, tol_up = _tolerances(tolerance)
    if not per_pod_state:
        raise MetricUnavailableError("no pods returned by the selector")

    if metric == "resource_utilization":
        if per_pod_usage_milli is None or per_pod_request_milli is None:
            raise ValueError(
                "resource_utilization needs per_pod_usage_milli and per_pod_request_milli"
            )
        if target_utilization_percent is None or target_utilization_percent <= 0:
            raise ValueError(
                f"target_utilization_percent={target_utilization_percent!r} is invalid; "
                "allowed: an integer > 0"
            )
        target = int(target_utilization_percent)
        values = list(per_pod_usage_milli)
        requests = [int(r) for r in per_pod_request_milli]
        classes = _classify(per_pod_state, [v is not None for v in values], cpu_rules=True)

        def ratio_of(smp: dict[Hashable, int]) -> tuple[float, int]:
            known = [(v, requests[k]) for k, v in smp.items() if isinstance(k, int)]
            request_total = sum(r for _, r in known)
            if request_total <= 0:
                raise MetricUnavailableError("no metrics matched known pods with a request")
            utilization = (sum(v for v, _ in known) * 100) // request_total
            return utilization / target, utilization

        def fill(i: int) -> int:
            return requests[i] * max(100, target) // 100

        extra = {("extra", j): int(v) for j, v in enumerate(extra_metrics_usage_milli or ())}

    elif metric == "pods_average_value":
        if per_pod_value_milli is None:
            raise ValueError("pods_average_value needs per_pod_value_milli")
        if target_average_value_milli is None or target_average_value_milli <= 0:
            raise ValueError(
                f"target_average_value_milli={target_average_value_milli!r} is invalid; "
                "allowed: an integer > 0"
            )
        target = int(target_average_value_milli)
        values = list(per_pod_value_milli)
        classes = _classify(per_pod_state, [v is not None for v in values], cpu_rules=False)

        def ratio_of(smp: dict[Hashable, int]) -> tuple[float, int]:
            average = sum(smp.values()) // len(smp)
            return average / target, average

        def fill(i: int) -> int:
            return target

        extra = {}
    else:
        raise ValueError(
            f"metric={metric!r} is invalid; allowed: 'resource_utilization' or 'pods_average_value'"
        )

    if len(values) != len(per_pod_state):
        raise ValueError(
            f"per-pod lists differ in length ({len(values)} values, {len(per_pod_state)} states)"
        )
    samples: dict[Hashable, int] = {
        i: int(v) for i, (v, c) in enumerate(zip(values, classes, strict=True)) if c == "ready"
    }
    if not samples:
        raise MetricUnavailableError("no metrics for the targeted pods (pods might be unready)")
    samples.update(extra)
    return _proposal(int(current_replicas), samples, classes, ratio_of, fill, tol_down, tol_up)


# ----------------------------------------------------------------------------- legacy path


def stabilize_legacy(
    *,
    prenormalized_desired_replicas: int,
    recommendation_history: Iterable[Mapping[str, Any]] | None,
    window_seconds: float = DEFAULT_DOWNSCALE_STABILIZATION_S,
) -> int:
    """Legacy downscale stabilization: max of the proposal and the recent history.

    Parameters
    ----------
    prenormalized_desired_replicas : int
        Raw proposal of this sync.
    recommendation_history : iterable of mapping
        ``{"replicas", "age_seconds"}`` entries; an entry counts iff ``age_seconds <= window``.
    window_seconds : float
        Downscale stabilization window (s).

    Returns
    -------
    int
        Stabilized recommendation (never below the proposal).
    """
    history = _entries(recommendation_history, "replicas")
    in_window = [r for r, age_s in history if age_s <= window_seconds]
    return max([int(prenormalized_desired_replicas), *in_window])


def legacy_clamp(
    *,
    current_replicas: int,
    stabilized_desired_replicas: int,
    min_replicas: int,
    max_replicas: int,
) -> int:
    """Legacy min/max clamp with the per-sync scale-up limit ``max(2 * current, 4)``.

    Parameters
    ----------
    current_replicas, stabilized_desired_replicas, min_replicas, max_replicas : int
        Replica counts.

    Returns
    -------
    int
        ``min_replicas`` if below it, else ``min(max_replicas, scale-up limit)`` if above
        that, else the stabilized value.
    """
    scale_up_limit = int(
        max(LEGACY_SCALE_UP_LIMIT_FACTOR * current_replicas, LEGACY_SCALE_UP_LIMIT_MINIMUM)
    )
    max_allowed = min(max_replicas, scale_up_limit)
    if stabilized_desired_replicas < min_replicas:
        return int(min_replicas)
    if stabilized_desired_replicas > max_allowed:
        return int(max_allowed)
    return int(stabilized_desired_replicas)


# ----------------------------------------------------------------------------- behavior path


def stabilize_behavior(
    *,
    current_replicas: int,
    prenormalized_desired_replicas: int,
    recommendation_history: Iterable[Mapping[str, Any]] | None,
    scale_up_stabilization_window_seconds: float = 0,
    scale_down_stabilization_window_seconds: float = DEFAULT_DOWNSCALE_STABILIZATION_S,
) -> int:
    """Two-sided stabilization of the behavior path.

    ``up = min(proposal, entries with age < up window)``,
    ``down = max(proposal, entries with age < down window)``; the result is
    ``current_replicas`` clamped into ``[up, down]``.

    Parameters
    ----------
    current_replicas, prenormalized_desired_replicas : int
        Replica counts.
    recommendation_history : iterable of mapping
        ``{"replicas", "age_seconds"}`` entries.
    scale_up_stabilization_window_seconds, scale_down_stabilization_window_seconds : float
        Windows in seconds (0 = no window).

    Returns
    -------
    int
    """
    history = _entries(recommendation_history, "replicas")
    desired = int(prenormalized_desired_replicas)
    up = min([desired, *(r for r, a in history if a < scale_up_stabilization_window_seconds)])
    down = max([desired, *(r for r, a in history if a < scale_down_stabilization_window_seconds)])
    return min(max(int(current_replicas), up), down)


def _rules(direction: str, rules: ScalingRules | Mapping[str, Any] | None) -> ScalingRules:
    if isinstance(rules, ScalingRules):
        return rules
    default = default_scale_up_rules() if direction == "up" else default_scale_down_rules()
    return rules_from_api(rules, default, f"rules[{direction}]")


def _direction(direction: str) -> Literal["up", "down"]:
    key = direction.lower().replace("_", "").replace("-", "").replace("scale", "")
    if key in ("up", "down"):
        return key  # type: ignore[return-value]
    raise ValueError(f"direction={direction!r} is invalid; allowed: 'up' or 'down'")


def _limit(
    direction: Literal["up", "down"],
    current_replicas: int,
    rules: ScalingRules,
    up_events: list[tuple[int, float]],
    down_events: list[tuple[int, float]],
) -> int:
    """Policy limit of one direction for validated (non-empty) rules."""
    if rules.select_policy == "Disabled":
        return int(current_replicas)
    proposals = []
    for policy in rules.policies:
        start = (
            current_replicas
            - _change_within(up_events, policy.period_s)
            + _change_within(down_events, policy.period_s)
        )
        if direction == "up":
            if policy.kind == "Pods":
                proposals.append(start + policy.value)
            else:
                proposals.append(math.ceil(start * (1 + policy.value / 100)))
        elif policy.kind == "Pods":
            proposals.append(start - policy.value)
        else:
            proposals.append(math.trunc(start * (1 - policy.value / 100)))
    # Scale-up "Max" wants the largest count; scale-down "Max" wants the biggest drop.
    pick_largest = (rules.select_policy == "Max") == (direction == "up")
    return max(proposals) if pick_largest else min(proposals)


def policy_limit(
    *,
    direction: str,
    current_replicas: int,
    rules: ScalingRules | Mapping[str, Any] | None,
    scale_up_events: Iterable[Mapping[str, Any]] | None = None,
    scale_down_events: Iterable[Mapping[str, Any]] | None = None,
) -> int:
    """Replica limit allowed by the policies of one direction (before min/max).

    For each policy the period start is
    ``current - (scale-ups in period) + (scale-downs in period)`` (events with
    ``age < period_s``). Scale-up: Pods -> ``start + value``, Percent ->
    ``ceil(start * (1 + value/100))``; scale-down: Pods -> ``start - value``, Percent ->
    ``trunc(start * (1 - value/100))``. ``Max`` picks the largest change, ``Min`` the
    smallest, ``Disabled`` returns ``current_replicas``.

    Parameters
    ----------
    direction : {"up", "down"}
        Also accepts ``scale_up``/``scaleUp`` style spellings.
    current_replicas : int
    rules : ScalingRules, mapping or None
        camelCase mapping with null fields = API defaults of ``direction``.
    scale_up_events, scale_down_events : iterable of mapping
        ``{"replica_change", "age_seconds"}`` entries.

    Returns
    -------
    int
    """
    d = _direction(direction)
    return _limit(
        d,
        int(current_replicas),
        _rules(d, rules),
        _entries(scale_up_events, "replica_change"),
        _entries(scale_down_events, "replica_change"),
    )


def _rate_limit(
    current: int,
    desired: int,
    min_replicas: int,
    max_replicas: int,
    behavior: Behavior,
    up_events: list[tuple[int, float]],
    down_events: list[tuple[int, float]],
) -> int:
    if desired > current:
        limit = max(_limit("up", current, behavior.scale_up, up_events, down_events), current)
        return min(desired, max_replicas, limit)
    if desired < current:
        limit = min(_limit("down", current, behavior.scale_down, up_events, down_events), current)
        return max(desired, min_replicas, limit)
    return desired


def behavior_rate_limit(
    *,
    current_replicas: int,
    stabilized_desired_replicas: int,
    min_replicas: int,
    max_replicas: int,
    behavior: BehaviorSpec = None,
    scale_up_events: Iterable[Mapping[str, Any]] | None = None,
    scale_down_events: Iterable[Mapping[str, Any]] | None = None,
) -> int:
    """Rate limit and min/max of the behavior path.

    Scaling up, the result is ``min(desired, max_replicas, max(up limit, current))``;
    scaling down, ``max(desired, min_replicas, min(down limit, current))``; unchanged when
    ``desired == current``.

    Parameters
    ----------
    current_replicas, stabilized_desired_replicas, min_replicas, max_replicas : int
        Replica counts.
    behavior : Behavior, mapping or None
        camelCase ``{"scaleUp", "scaleDown"}`` (null parts = API defaults); None = all defaults.
    scale_up_events, scale_down_events : iterable of mapping
        ``{"replica_change", "age_seconds"}`` entries (s).

    Returns
    -------
    int
    """
    b = _behavior(behavior) or default_behavior()
    return _rate_limit(
        int(current_replicas),
        int(stabilized_desired_replicas),
        int(min_replicas),
        int(max_replicas),
        b,
        _entries(scale_up_events, "replica_change"),
        _entries(scale_down_events, "replica_change"),
    )


# ----------------------------------------------------------------------------- reconcile


@dataclass(frozen=True)
class ReconcileResult:
    """Outcome of one :func:`reconcile`.

    Attributes
    ----------
    replicas : int
        New ``spec.replicas``.
    recommendation : int or None
        Raw proposal stored in the history at this sync (None: nothing stored, e.g. a guard
        rail fired or the metric was unavailable).
    recommendation_history : tuple of dict
        History after the sync, ages relative to this sync (s). Entries that can never count
        again are dropped (the controller reuses their slots instead).
    scale_up_events, scale_down_events : tuple of dict
        Scale events after the sync (behavior path only), ages relative to this sync (s), in
        the controller's slot order: a new event reuses the first slot older than the
        direction's longest policy period, else it is appended. Outdated events are kept
        until reused because they can still count for the other direction's policies.
    """

    replicas: int
    recommendation: int | None
    recommendation_history: tuple[dict[str, float], ...]
    scale_up_events: tuple[dict[str, float], ...]
    scale_down_events: tuple[dict[str, float], ...]


def reconcile(
    *,
    min_replicas: int,
    max_replicas: int,
    target_utilization_percent: int | None = None,
    per_pod_usage_milli: Sequence[int | None] = (),
    per_pod_request_milli: Sequence[int] = (),
    per_pod_state: Sequence[str] = (),
    spec_replicas: int | None = None,
    current_replicas: int | None = None,
    status_replicas: int | None = None,
    behavior: BehaviorSpec = None,
    recommendation_history: Iterable[Mapping[str, Any]] | None = None,
    scale_up_events: Iterable[Mapping[str, Any]] | None = None,
    scale_down_events: Iterable[Mapping[str, Any]] | None = None,
    downscale_stabilization_window_seconds: float = DEFAULT_DOWNSCALE_STABILIZATION_S,
    tolerance: ToleranceSpec = None,
    metric: Metric = "resource_utilization",
    extra_metrics_usage_milli: Sequence[int] | None = None,
    per_pod_value_milli: Sequence[int | None] | None = None,
    target_average_value_milli: int | None = None,
) -> ReconcileResult:
    """One ``reconcileAutoscaler`` pass with its state (history and events) in and out.

    Order: seed the history with ``{spec_replicas, age 0}`` if it is None; guard rails
    (spec 0 -> no change; above max -> max; below min -> min; these skip normalization);
    :func:`replica_calc` (an unavailable metric -> no change, nothing recorded); then the
    legacy path (:func:`stabilize_legacy` + :func:`legacy_clamp`) if ``behavior`` is None,
    else :func:`stabilize_behavior` + :func:`behavior_rate_limit`. The raw proposal is
    stored in the history; on the behavior path every rescale (guard rails included) is
    stored as a scale event.

    Parameters
    ----------
    min_replicas, max_replicas : int
        HPA bounds.
    spec_replicas : int
        ``scale.spec.replicas``, the controller's "current" (``current_replicas`` is an alias
        used when ``spec_replicas`` is None).
    status_replicas : int, optional
        Accepted for completeness; not used by a CPU-utilization HPA.
    behavior : Behavior, mapping or None
        None = legacy path; camelCase mapping with null parts = API defaults.
    recommendation_history : iterable of mapping or None
        ``{"replicas", "age_seconds"}``; None = no history yet (seeded), ``[]`` = empty.
    scale_up_events, scale_down_events : iterable of mapping, optional
        ``{"replica_change", "age_seconds"}`` (behavior path).
    downscale_stabilization_window_seconds : float
        Controller flag (s): the legacy window, and the behavior scale-down window when unset.
    target_utilization_percent, per_pod_usage_milli, per_pod_request_milli, per_pod_state,
    tolerance, metric, extra_metrics_usage_milli, per_pod_value_milli, target_average_value_milli
        As in :func:`replica_calc`.

    Returns
    -------
    ReconcileResult
    """
    del status_replicas  # only used by Object/External AverageValue targets
    current = spec_replicas if spec_replicas is not None else current_replicas
    if current is None:
        raise ValueError("spec_replicas is required")
    current = int(current)
    b = _behavior(behavior)

    history = (
        [(current, 0.0)]
        if recommendation_history is None
        else _entries(recommendation_history, "replicas")
    )
    up_events = _entries(scale_up_events, "replica_change")
    down_events = _entries(scale_down_events, "replica_change")

    recommendation: int | None = None
    if current == 0:
        desired = current  # autoscaling disabled (or, with min 0, no pods -> no metric)
    elif current > max_replicas:
        desired = int(max_replicas)
    elif current < min_replicas:
        desired = int(min_replicas)
    else:
        try:
            recommendation, _ = replica_calc(
                current_replicas=current,
                per_pod_state=per_pod_state,
                tolerance=tolerance,
                metric=metric,
                per_pod_usage_milli=per_pod_usage_milli,
                per_pod_request_milli=per_pod_request_milli,
                target_utilization_percent=target_utilization_percent,
                extra_metrics_usage_milli=extra_metrics_usage_milli,
                per_pod_value_milli=per_pod_value_milli,
                target_average_value_milli=target_average_value_milli,
            )
        except MetricUnavailableError:
            recommendation = None
        desired = (
            current
            if recommendation is None
            else _normalize(
                current,
                recommendation,
                int(min_replicas),
                int(max_replicas),
                b,
                history,
                up_events,
                down_events,
                float(downscale_stabilization_window_seconds),
            )
        )

    # Update the state the controller keeps.
    if b is None:
        window_s = float(downscale_stabilization_window_seconds)
        keep_history = [(r, a) for r, a in history if a <= window_s]
    else:
        up_w, down_w = b.windows_s(downscale_stabilization_window_seconds)
        keep_history = [(r, a) for r, a in history if a <= up_w or a <= down_w]
    if recommendation is not None:
        keep_history.append((recommendation, 0.0))
    if b is not None:
        if desired > current:
            _store_event(up_events, desired - current, b.scale_up.longest_period_s)
        elif desired < current:
            _store_event(down_events, current - desired, b.scale_down.longest_period_s)
    return ReconcileResult(
        replicas=int(desired),
        recommendation=recommendation,
        recommendation_history=tuple({"replicas": r, "age_seconds": a} for r, a in keep_history),
        scale_up_events=tuple({"replica_change": c, "age_seconds": a} for c, a in up_events),
        scale_down_events=tuple({"replica_change": c, "age_seconds": a} for c, a in down_events),
    )


def _store_event(events: list[tuple[int, float]], change: int, longest_period_s: int) -> None:
    """Store a scale event like the controller: reuse the first outdated slot, else append.

    An event is outdated when older than the longest policy period of *its own* direction.
    Outdated events stay in the list until reused, and until then they still count for the
    other direction's policies whose periods they fall in, so the order of the list matters.
    """
    for i, (_, age_s) in enumerate(events):
        if age_s > longest_period_s:
            events[i] = (change, 0.0)
            return
    events.append((change, 0.0))


def _normalize(
    current: int,
    recommendation: int,
    min_replicas: int,
    max_replicas: int,
    behavior: Behavior | None,
    history: list[tuple[int, float]],
    up_events: list[tuple[int, float]],
    down_events: list[tuple[int, float]],
    downscale_stabilization_s: float,
) -> int:
    """Legacy or behavior normalization of a raw proposal (history read before storing)."""
    as_dicts = [{"replicas": r, "age_seconds": a} for r, a in history]
    if behavior is None:
        stabilized = stabilize_legacy(
            prenormalized_desired_replicas=recommendation,
            recommendation_history=as_dicts,
            window_seconds=downscale_stabilization_s,
        )
        return legacy_clamp(
            current_replicas=current,
            stabilized_desired_replicas=stabilized,
            min_replicas=min_replicas,
            max_replicas=max_replicas,
        )
    up_w, down_w = behavior.windows_s(downscale_stabilization_s)
    stabilized = stabilize_behavior(
        current_replicas=current,
        prenormalized_desired_replicas=recommendation,
        recommendation_history=as_dicts,
        scale_up_stabilization_window_seconds=up_w,
        scale_down_stabilization_window_seconds=down_w,
    )
    return _rate_limit(
        current, stabilized, min_replicas, max_replicas, behavior, up_events, down_events
    )


def controller_sync(
    *,
    min_replicas: int,
    max_replicas: int,
    target_utilization_percent: int | None = None,
    per_pod_usage_milli: Sequence[int | None] = (),
    per_pod_request_milli: Sequence[int] = (),
    per_pod_state: Sequence[str] = (),
    spec_replicas: int | None = None,
    current_replicas: int | None = None,
    status_replicas: int | None = None,
    behavior: BehaviorSpec = None,
    recommendation_history: Iterable[Mapping[str, Any]] | None = None,
    scale_up_events: Iterable[Mapping[str, Any]] | None = None,
    scale_down_events: Iterable[Mapping[str, Any]] | None = None,
    downscale_stabilization_window_seconds: float = DEFAULT_DOWNSCALE_STABILIZATION_S,
    tolerance: ToleranceSpec = None,
    metric: Metric = "resource_utilization",
    extra_metrics_usage_milli: Sequence[int] | None = None,
    per_pod_value_milli: Sequence[int | None] | None = None,
    target_average_value_milli: int | None = None,
) -> int:
    """New ``spec.replicas`` after one reconcile of an HPA.

    Parameters
    ----------
    min_replicas, max_replicas, target_utilization_percent, per_pod_usage_milli,
    per_pod_request_milli, per_pod_state, spec_replicas, current_replicas, status_replicas,
    behavior, recommendation_history, scale_up_events, scale_down_events,
    downscale_stabilization_window_seconds, tolerance, metric, extra_metrics_usage_milli,
    per_pod_value_milli, target_average_value_milli
        As in :func:`reconcile` (``recommendation_history`` None = seed with the spec).

    Returns
    -------
    int
        New ``spec.replicas``.
    """
    return reconcile(
        min_replicas=min_replicas,
        max_replicas=max_replicas,
        target_utilization_percent=target_utilization_percent,
        per_pod_usage_milli=per_pod_usage_milli,
        per_pod_request_milli=per_pod_request_milli,
        per_pod_state=per_pod_state,
        spec_replicas=spec_replicas,
        current_replicas=current_replicas,
        status_replicas=status_replicas,
        behavior=behavior,
        recommendation_history=recommendation_history,
        scale_up_events=scale_up_events,
        scale_down_events=scale_down_events,
        downscale_stabilization_window_seconds=downscale_stabilization_window_seconds,
        tolerance=tolerance,
        metric=metric,
        extra_metrics_usage_milli=extra_metrics_usage_milli,
        per_pod_value_milli=per_pod_value_milli,
        target_average_value_milli=target_average_value_milli,
    ).replicas
