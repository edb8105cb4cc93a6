"""Scaling behavior (``spec.behavior``) of a Kubernetes HorizontalPodAutoscaler.

Frozen, validated dataclasses shared by the scalar reference implementation
(:mod:`simkit.autoscaling.hpa`) and the vectorized one (:mod:`simkit.autoscaling.hpa_vec`),
plus the conversion from the API's camelCase form with the API defaults filled in.

API defaults (``autoscaling/v2``) when ``behavior`` is set but a part is null:

* scaleUp: window 0 s, selectPolicy ``Max``, policies [Pods 4 / 15 s, Percent 100 / 15 s];
* scaleDown: window null (the controller then uses its downscale-stabilization flag,
  300 s by default), selectPolicy ``Max``, policies [Percent 100 / 15 s].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from typing import Any, Literal

PolicyKind = Literal["Pods", "Percent"]
SelectPolicy = Literal["Max", "Min", "Disabled"]

#: Largest ``periodSeconds`` the API accepts (s).
MAX_PERIOD_S = 1800
#: Largest ``stabilizationWindowSeconds`` the API accepts (s).
MAX_STABILIZATION_WINDOW_S = 3600

_POLICY_KINDS = ("Pods", "Percent")
_SELECT_POLICIES = ("Max", "Min", "Disabled")


def _is_int(value: object) -> bool:
    """Return True for integers (Python or NumPy), excluding ``bool``."""
    return isinstance(value, Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class ScalingPolicy:
    """One rate-limit policy (``HPAScalingPolicy``).

    Parameters
    ----------
    kind : {"Pods", "Percent"}
        ``Pods``: at most ``value`` pods added/removed per period.
        ``Percent``: at most ``value`` percent of the replicas at the start of the period.
    value : int
        Amount of change allowed per period (pods or percent), > 0.
    period_s : int
        Length of the look-back period in seconds, 1..1800.
    """

    kind: PolicyKind
    value: int
    period_s: int

    def __post_init__(self) -> None:
        if self.kind not in _POLICY_KINDS:
            raise ValueError(
                f"ScalingPolicy.kind={self.kind!r} is invalid; allowed: 'Pods' or 'Percent'"
            )
        if not _is_int(self.value) or self.value <= 0:
            raise ValueError(
                f"ScalingPolicy.value={self.value!r} is invalid; allowed: an integer > 0"
            )
        if not _is_int(self.period_s) or not 1 <= self.period_s <= MAX_PERIOD_S:
            raise ValueError(
                f"ScalingPolicy.period_s={self.period_s!r} is invalid; "
                f"allowed: an integer in 1..{MAX_PERIOD_S}"
            )


@dataclass(frozen=True)
class ScalingRules:
    """Rules for one scaling direction (``HPAScalingRules``).

    Parameters
    ----------
    stabilization_window_s : int or None
        Stabilization window in seconds, 0..3600. ``None`` means "not set": for scale-down
        the controller substitutes its downscale-stabilization flag (300 s by default); for
        scale-up the API default 0 s is used.
    select_policy : {"Max", "Min", "Disabled"}
        ``Max`` picks the policy allowing the largest change, ``Min`` the smallest,
        ``Disabled`` forbids scaling in this direction.
    policies : tuple of ScalingPolicy
        At least one policy. A list is accepted and stored as a tuple.
    """

    stabilization_window_s: int | None
    select_policy: SelectPolicy
    policies: tuple[ScalingPolicy, ...]

    def __post_init__(self) -> None:
        window = self.stabilization_window_s
        if window is not None and (
            not _is_int(window) or not 0 <= window <= MAX_STABILIZATION_WINDOW_S
        ):
            raise ValueError(
                f"ScalingRules.stabilization_window_s={window!r} is invalid; "
                f"allowed: None or an integer in 0..{MAX_STABILIZATION_WINDOW_S}"
            )
        if self.select_policy not in _SELECT_POLICIES:
            raise ValueError(
                f"ScalingRules.select_policy={self.select_policy!r} is invalid; "
                "allowed: 'Max', 'Min' or 'Disabled'"
            )
        if isinstance(self.policies, Sequence) and not isinstance(self.policies, str):
            object.__setattr__(self, "policies", tuple(self.policies))
        else:
            raise ValueError(
                f"ScalingRules.policies={self.policies!r} is invalid; "
                "allowed: a non-empty tuple of ScalingPolicy"
            )
        if not self.policies or not all(isinstance(p, ScalingPolicy) for p in self.policies):
            raise ValueError(
                f"ScalingRules.policies={self.policies!r} is invalid; "
                "allowed: a non-empty tuple of ScalingPolicy"
            )

    @property
    def longest_period_s(self) -> int:
        """Longest ``period_s`` over the policies (s)."""
        return max(p.period_s for p in self.policies)


@dataclass(frozen=True)
class Behavior:
    """``spec.behavior`` of an HPA: one :class:`ScalingRules` per direction.

    Parameters
    ----------
    scale_up, scale_down : ScalingRules
        Rules used when the stabilized recommendation is above / below the current replicas.
    """

    scale_up: ScalingRules
    scale_down: ScalingRules

    def __post_init__(self) -> None:
        for name in ("scale_up", "scale_down"):
            value = getattr(self, name)
            if not isinstance(value, ScalingRules):
                raise ValueError(
                    f"Behavior.{name}={value!r} is invalid; allowed: a ScalingRules instance"
                )

    def windows_s(self, downscale_stabilization_s: float) -> tuple[float, float]:
        """Effective (scale-up, scale-down) stabilization windows in seconds.

        Parameters
        ----------
        downscale_stabilization_s : float
            Controller flag used when the scale-down window is ``None`` (s).

        Returns
        -------
        tuple of float
            ``(up_window_s, down_window_s)``; a ``None`` scale-up window counts as 0 s.
        """
        up = self.scale_up.stabilization_window_s
        down = self.scale_down.stabilization_window_s
        return (
            0.0 if up is None else float(up),
            float(downscale_stabilization_s) if down is None else float(down),
        )


def default_scale_up_rules() -> ScalingRules:
    """API default scale-up rules: window 0 s, ``Max`` of [Pods 4 / 15 s, Percent 100 / 15 s]."""
    return ScalingRules(
        stabilization_window_s=0,
        select_policy="Max",
        policies=(ScalingPolicy("Pods", 4, 15), ScalingPolicy("Percent", 100, 15)),
    )


def default_scale_down_rules() -> ScalingRules:
    """API default scale-down rules: window unset (controller flag), Max of [Percent 100 / 15 s]."""
    return ScalingRules(
        stabilization_window_s=None,
        select_policy="Max",
        policies=(ScalingPolicy("Percent", 100, 15),),
    )


def default_behavior() -> Behavior:
    """Behavior the API fills in for ``behavior: {}`` (both directions at their defaults)."""
    return Behavior(scale_up=default_scale_up_rules(), scale_down=default_scale_down_rules())


def _check_keys(where: str, d: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise ValueError(f"{where} has unknown keys {unknown}; allowed: {list(allowed)}")


def _policy_from_api(where: str, d: object) -> ScalingPolicy:
    if not isinstance(d, Mapping):
        raise ValueError(
            f"{where}={d!r} is invalid; allowed: a mapping with type/value/periodSeconds"
        )
    _check_keys(where, d, ("type", "value", "periodSeconds"))
    return ScalingPolicy(kind=d.get("type"), value=d.get("value"), period_s=d.get("periodSeconds"))


def rules_from_api(
    d: Mapping[str, Any] | None, default: ScalingRules, where: str = "rules"
) -> ScalingRules:
    """Convert one camelCase ``HPAScalingRules`` mapping, filling null fields from ``default``.

    Parameters
    ----------
    d : mapping or None
        ``{"stabilizationWindowSeconds", "selectPolicy", "policies"}``; ``None`` or a missing /
        null key means the API default for that field.
    default : ScalingRules
        Defaults of the direction (see :func:`default_scale_up_rules`,
        :func:`default_scale_down_rules`).
    where : str
        Name used in error messages.

    Returns
    -------
    ScalingRules
    """
    if d is None:
        return default
    if not isinstance(d, Mapping):
        raise ValueError(f"{where}={d!r} is invalid; allowed: None or a mapping")
    _check_keys(where, d, ("stabilizationWindowSeconds", "selectPolicy", "policies"))
    window = d.get("stabilizationWindowSeconds")
    select = d.get("selectPolicy")
    policies = d.get("policies")
    if policies is not None:
        if not isinstance(policies, Sequence) or isinstance(policies, str):
            raise ValueError(f"{where}.policies={policies!r} is invalid; allowed: a list")
        policies = tuple(
            _policy_from_api(f"{where}.policies[{i}]", p) for i, p in enumerate(policies)
        )
    return ScalingRules(
        stabilization_window_s=default.stabilization_window_s if window is None else window,
        select_policy=default.select_policy if select is None else select,
        policies=default.policies if policies is None else policies,
    )


def behavior_from_api(d: Mapping[str, Any] | None) -> Behavior | None:
    """Convert an API camelCase ``behavior`` mapping to :class:`Behavior`.

    Parameters
    ----------
    d : mapping or None
        ``{"scaleUp": ..., "scaleDown": ...}``. ``None`` (no behavior: the legacy controller
        path) returns ``None``. A null or missing part, or a null field inside a part, gets
        the API default.

    Returns
    -------
    Behavior or None

    Raises
    ------
    ValueError
        On unknown keys or values outside the API's validation limits.
    """
    if d is None:
        return None
    if isinstance(d, Behavior):
        return d
    if not isinstance(d, Mapping):
        raise ValueError(f"behavior={d!r} is invalid; allowed: None or a mapping")
    _check_keys("behavior", d, ("scaleUp", "scaleDown"))
    return Behavior(
        scale_up=rules_from_api(d.get("scaleUp"), default_scale_up_rules(), "behavior.scaleUp"),
        scale_down=rules_from_api(
            d.get("scaleDown"), default_scale_down_rules(), "behavior.scaleDown"
        ),
    )
