"""Vectorized Kubernetes HPA decision logic across R independent replications.

Every function mirrors a stage of the scalar reference in :mod:`simkit.autoscaling.hpa`
and gives the same integers, element by element, on arrays of shape ``[R]`` (histories and
scale-event buffers are ``[R, H]`` arrays of values and ages). :class:`VectorHPA` keeps the
controller's per-replication state and runs one reconcile for all replications per
:meth:`VectorHPA.sync`, using whole-array NumPy operations only.

Pod model of the engine: each replication has ``ready_pods`` Ready pods, all sampled and
with the same CPU request, and ``unready_pods`` not-Ready pods (starting up or restarting,
the "unready" class of the controller); there are no missing, pending or failed pods.

Conventions are those of the scalar module: ages are ``now - timestamp`` in seconds, empty
buffer slots have age ``+inf``; behavior windows and policy periods include an item iff
``age < window``, the legacy window iff ``age <= window``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from simkit.autoscaling.behavior import Behavior, ScalingRules

__all__ = [
    "HPAConfig",
    "VectorHPA",
    "behavior_rate_limit_vec",
    "legacy_clamp_vec",
    "policy_limit_vec",
    "replica_calc_vec",
    "stabilize_behavior_vec",
    "stabilize_legacy_vec",
]

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_INT_MIN = np.iinfo(np.int64).min
_INT_MAX = np.iinfo(np.int64).max


# ----------------------------------------------------------------------------- config


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class HPAConfig:
    """Configuration of one HPA, shared by all replications.

    Parameters
    ----------
    min_replicas : int
        ``spec.minReplicas``, >= 1.
    max_replicas : int
        ``spec.maxReplicas``, >= ``min_replicas``.
    target_utilization_percent : int
        CPU ``averageUtilization`` target in percent of the request, > 0.
    tolerance_down, tolerance_up : float
        Tolerance fractions, >= 0: no change while
        ``(1 - tolerance_down) <= ratio <= (1 + tolerance_up)``.
    sync_period_s : float
        Controller sync period (s), > 0. Sizes the state buffers: :meth:`VectorHPA.sync`
        must not be called more often than this.
    downscale_stabilization_s : float
        Controller flag (s), >= 0: the legacy stabilization window, and the behavior
        scale-down window when ``behavior.scale_down.stabilization_window_s`` is None.
    behavior : Behavior or None
        ``None`` selects the legacy path (max-stabilization + ``max(2 * current, 4)``).
    """

    min_replicas: int
    max_replicas: int
    target_utilization_percent: int
    tolerance_down: float = 0.1
    tolerance_up: float = 0.1
    sync_period_s: float = 15.0
    downscale_stabilization_s: float = 300.0
    behavior: Behavior | None = None

    def __post_init__(self) -> None:
        if not _is_int(self.min_replicas) or self.min_replicas < 1:
            raise ValueError(
                f"HPAConfig.min_replicas={self.min_replicas!r} is invalid; allowed: an integer >= 1"
            )
        if not _is_int(self.max_replicas) or self.max_replicas < self.min_replicas:
            raise ValueError(
                f"HPAConfig.max_replicas={self.max_replicas!r} is invalid; "
                f"allowed: an integer >= min_replicas={self.min_replicas}"
            )
        if not _is_int(self.target_utilization_percent) or self.target_utilization_percent <= 0:
            raise ValueError(
                f"HPAConfig.target_utilization_percent={self.target_utilization_percent!r} "
                "is invalid; allowed: an integer > 0"
            )
        for name in ("tolerance_down", "tolerance_up", "downscale_stabilization_s"):
            value = getattr(self, name)
            if not _is_real(value) or value < 0:
                raise ValueError(
                    f"HPAConfig.{name}={value!r} is invalid; allowed: a finite number >= 0"
                )
        if not _is_real(self.sync_period_s) or self.sync_period_s <= 0:
            raise ValueError(
                f"HPAConfig.sync_period_s={self.sync_period_s!r} is invalid; "
                "allowed: a finite number > 0"
            )
        if self.behavior is not None and not isinstance(self.behavior, Behavior):
            raise ValueError(
                f"HPAConfig.behavior={self.behavior!r} is invalid; allowed: None or a Behavior "
                "(convert API dicts with behavior_from_api)"
            )

    @property
    def windows_s(self) -> tuple[float, float]:
        """Effective (scale-up, scale-down) stabilization windows (s).

        Legacy path: ``(0, downscale_stabilization_s)``.
        """
        if self.behavior is None:
            return 0.0, float(self.downscale_stabilization_s)
        return self.behavior.windows_s(self.downscale_stabilization_s)

    @property
    def history_slots(self) -> int:
        """Recommendation-history slots needed at one sync per ``sync_period_s``.

        Entries in the longest window are at most ``floor(window / period) + 1`` syncs old,
        plus the seed (same time as the first proposal) and the entry being stored.
        """
        return math.floor(max(self.windows_s) / self.sync_period_s) + 3

    def event_slots(self, rules: ScalingRules | None) -> int:
        """Scale-event slots for one direction (``floor(longest period / sync) + 2``).

        Parameters
        ----------
        rules : ScalingRules or None
            Rules of the direction; None (legacy path) needs no buffer and returns 0.

        Returns
        -------
        int
        """
        if rules is None:
            return 0
        return math.floor(rules.longest_period_s / self.sync_period_s) + 2


# ----------------------------------------------------------------------------- helpers


def _ints(x: ArrayLike, name: str) -> IntArray:
    """Integer array (int64) from integers or integer-valued floats."""
    arr = np.asarray(x)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values; allowed: finite numbers")
    return np.floor(arr).astype(np.int64)


def _floats(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def _within(ratio: FloatArray, tol_down: FloatArray, tol_up: FloatArray) -> BoolArray:
    return ((1.0 - tol_down) <= ratio) & (ratio <= (1.0 + tol_up))


def _ceil_int(x: FloatArray) -> IntArray:
    return np.ceil(x).astype(np.int64)


def _window(window_s: ArrayLike) -> FloatArray:
    """Window as a column so it broadcasts against ``[R, H]`` ages."""
    return np.expand_dims(_floats(window_s), -1)


def _sum_within(change: ArrayLike, age_s: ArrayLike, period_s: float) -> IntArray:
    """Per row: sum of changes with ``age < period_s`` over the last axis."""
    return np.where(_floats(age_s) < period_s, _ints(change, "event change"), 0).sum(axis=-1)


# ----------------------------------------------------------------------------- stages


def _replica_calc_core(
    current: IntArray,
    ready: IntArray,
    unready: IntArray,
    usage: IntArray,
    request: IntArray | int,
    target: IntArray | int,
    tol_down: FloatArray | float,
    tol_up: FloatArray | float,
) -> tuple[IntArray, IntArray]:
    """:func:`replica_calc_vec` on validated int64 arrays (any common shape), no checks."""
    ok = (ready > 0) & (request > 0)
    utilization = (usage * 100) // np.where(ok, ready * request, 1)
    utilization *= ok
    ratio = utilization / target
    lo = 1.0 - tol_down
    hi = 1.0 + tol_up
    fast = np.where((ratio >= lo) & (ratio <= hi), current, np.ceil(ratio * ready).astype(np.int64))
    use_slow = (unready > 0) & (ratio > 1.0)
    if use_slow.any():
        all_pods = ready + unready
        new_ratio = ((usage * 100) // np.where(ok, all_pods * request, 1)) / target
        new_replicas = np.ceil(new_ratio * all_pods).astype(np.int64)
        keep = (
            ((new_ratio >= lo) & (new_ratio <= hi))
            | (new_ratio < 1.0)
            | ((new_ratio > 1.0) & (new_replicas < current))
        )
        fast = np.where(use_slow, np.where(keep, current, new_replicas), fast)
    return np.where(ok, fast, current), utilization


def replica_calc_vec(
    current_replicas: ArrayLike,
    ready_pods: ArrayLike,
    unready_pods: ArrayLike,
    usage_milli_sum_ready: ArrayLike,
    request_milli_per_pod: ArrayLike,
    target_utilization_percent: ArrayLike,
    tolerance_down: ArrayLike,
    tolerance_up: ArrayLike,
) -> tuple[IntArray, IntArray]:
    """Raw replica proposal for a CPU utilization target, per replication.

    ``utilization = floor(100 * usage / (ready * request))``, ``ratio = utilization / target``.
    Fast path (no unready pods, or ratio <= 1): keep current inside the tolerance band, else
    ``ceil(ratio * ready)``. Slow path (unready pods and ratio > 1): unready pods count at 0
    usage, ``new_ratio`` over ``ready + unready`` pods; keep current if ``new_ratio`` is
    inside the band, fell below 1, or ``ceil(new_ratio * (ready + unready))`` is below
    current; else that value.

    Parameters
    ----------
    current_replicas : array_like of int, shape [R]
        ``spec.replicas``.
    ready_pods, unready_pods : array_like of int, shape [R]
        Pod counts.
    usage_milli_sum_ready : array_like, shape [R]
        Sum of the ready pods' CPU samples (millicores; the sum of whole-millicore samples,
        floats are floored).
    request_milli_per_pod : array_like, shape [R]
        CPU request of one pod (millicores).
    target_utilization_percent : array_like of int, shape [R] or scalar
        Target utilization (percent of request), > 0.
    tolerance_down, tolerance_up : array_like of float
        Tolerance fractions.

    Returns
    -------
    replicas : ndarray of int64, shape [R]
        Proposal, not clamped to min/max.
    utilization_percent : ndarray of int64, shape [R]
        Integer utilization over the ready pods.

    Notes
    -----
    ``ready_pods == 0`` (or ``request_milli_per_pod <= 0``) is the controller's "no metrics
    for the targeted pods" error: the proposal is ``current_replicas`` and the utilization
    0, without dividing by zero. :meth:`VectorHPA.sync` treats those replications as a
    failed metric (no rescale, nothing recorded), like the controller.
    """
    current = _ints(current_replicas, "current_replicas")
    ready = _ints(ready_pods, "ready_pods")
    unready = _ints(unready_pods, "unready_pods")
    usage = _ints(usage_milli_sum_ready, "usage_milli_sum_ready")
    request = _ints(request_milli_per_pod, "request_milli_per_pod")
    target = _ints(target_utilization_percent, "target_utilization_percent")
    if np.any(target <= 0):
        raise ValueError("target_utilization_percent must be > 0 everywhere")
    tol_down = _floats(tolerance_down)
    tol_up = _floats(tolerance_up)
    current, ready, unready, usage, request, target = np.broadcast_arrays(
        current, ready, unready, usage, request, target
    )

    return _replica_calc_core(current, ready, unready, usage, request, target, tol_down, tol_up)


def stabilize_legacy_vec(
    prenormalized_desired_replicas: ArrayLike,
    history_replicas: ArrayLike,
    history_age_s: ArrayLike,
    window_s: ArrayLike,
) -> IntArray:
    """Legacy stabilization: max of the proposal and history entries with ``age <= window``.

    Parameters
    ----------
    prenormalized_desired_replicas : array_like of int, shape [R]
    history_replicas : array_like of int, shape [R, H]
    history_age_s : array_like of float, shape [R, H]
        Ages in seconds; ``+inf`` marks an empty slot.
    window_s : float or array_like, shape [R]
        Downscale stabilization window (s).

    Returns
    -------
    ndarray of int64, shape [R]
    """
    desired = _ints(prenormalized_desired_replicas, "prenormalized_desired_replicas")
    values = _ints(history_replicas, "history_replicas")
    inside = _floats(history_age_s) <= _window(window_s)
    hist_max = np.where(inside, values, _INT_MIN).max(axis=-1, initial=_INT_MIN)
    return np.maximum(desired, hist_max)


def stabilize_behavior_vec(
    current_replicas: ArrayLike,
    prenormalized_desired_replicas: ArrayLike,
    history_replicas: ArrayLike,
    history_age_s: ArrayLike,
    scale_up_window_s: ArrayLike,
    scale_down_window_s: ArrayLike,
) -> IntArray:
    """Behavior stabilization: ``current`` clamped into ``[up, down]``.

    ``up = min(proposal, entries with age < up window)``,
    ``down = max(proposal, entries with age < down window)``.

    Parameters
    ----------
    current_replicas, prenormalized_desired_replicas : array_like of int, shape [R]
    history_replicas : array_like of int, shape [R, H]
    history_age_s : array_like of float, shape [R, H]
        Ages in seconds; ``+inf`` marks an empty slot.
    scale_up_window_s, scale_down_window_s : float or array_like, shape [R]
        Windows in seconds (0 = no window).

    Returns
    -------
    ndarray of int64, shape [R]
    """
    current = _ints(current_replicas, "current_replicas")
    desired = _ints(prenormalized_desired_replicas, "prenormalized_desired_replicas")
    values = _ints(history_replicas, "history_replicas")
    ages = _floats(history_age_s)
    in_up = ages < _window(scale_up_window_s)
    in_down = ages < _window(scale_down_window_s)
    up = np.minimum(desired, np.where(in_up, values, _INT_MAX).min(axis=-1, initial=_INT_MAX))
    down = np.maximum(desired, np.where(in_down, values, _INT_MIN).max(axis=-1, initial=_INT_MIN))
    return np.minimum(np.maximum(current, up), down)


def policy_limit_vec(
    direction: Literal["up", "down"],
    current_replicas: ArrayLike,
    rules: ScalingRules,
    up_change: ArrayLike,
    up_age_s: ArrayLike,
    down_change: ArrayLike,
    down_age_s: ArrayLike,
) -> IntArray:
    """Replica limit allowed by the policies of one direction (before min/max).

    Parameters
    ----------
    direction : {"up", "down"}
    current_replicas : array_like of int, shape [R]
    rules : ScalingRules
        Rules of ``direction``.
    up_change, down_change : array_like of int, shape [R, E]
        Size of past scale-ups / scale-downs (> 0); any value in empty slots.
    up_age_s, down_age_s : array_like of float, shape [R, E]
        Ages of those events (s); ``+inf`` marks an empty slot.

    Returns
    -------
    ndarray of int64, shape [R]
        See :func:`simkit.autoscaling.hpa.policy_limit`.
    """
    if direction not in ("up", "down"):
        raise ValueError(f"direction={direction!r} is invalid; allowed: 'up' or 'down'")
    current = _ints(current_replicas, "current_replicas")
    if rules.select_policy == "Disabled":
        return current.copy()
    proposals = []
    for policy in rules.policies:  # loop over the (few) policies, not over replications
        start = (
            current
            - _sum_within(up_change, up_age_s, policy.period_s)
            + _sum_within(down_change, down_age_s, policy.period_s)
        )
        if direction == "up" and policy.kind == "Pods":
            proposals.append(start + policy.value)
        elif direction == "up":
            proposals.append(_ceil_int(start * (1 + policy.value / 100)))
        elif policy.kind == "Pods":
            proposals.append(start - policy.value)
        else:
            proposals.append(np.trunc(start * (1 - policy.value / 100)).astype(np.int64))
    stacked = np.stack(np.broadcast_arrays(*proposals))
    pick_largest = (rules.select_policy == "Max") == (direction == "up")
    return stacked.max(axis=0) if pick_largest else stacked.min(axis=0)


def behavior_rate_limit_vec(
    current_replicas: ArrayLike,
    stabilized_desired_replicas: ArrayLike,
    min_replicas: ArrayLike,
    max_replicas: ArrayLike,
    behavior: Behavior,
    up_change: ArrayLike,
    up_age_s: ArrayLike,
    down_change: ArrayLike,
    down_age_s: ArrayLike,
) -> IntArray:
    """Behavior rate limit and min/max.

    Up: ``min(desired, max, max(up limit, current))``; down:
    ``max(desired, min, min(down limit, current))``; unchanged if ``desired == current``.

    Parameters
    ----------
    current_replicas, stabilized_desired_replicas : array_like of int, shape [R]
    min_replicas, max_replicas : int or array_like of int, shape [R]
    behavior : Behavior
    up_change, up_age_s, down_change, down_age_s : array_like, shape [R, E]
        Scale-event buffers as in :func:`policy_limit_vec`.

    Returns
    -------
    ndarray of int64, shape [R]
    """
    current = _ints(current_replicas, "current_replicas")
    desired = _ints(stabilized_desired_replicas, "stabilized_desired_replicas")
    lo = _ints(min_replicas, "min_replicas")
    hi = _ints(max_replicas, "max_replicas")
    events = (up_change, up_age_s, down_change, down_age_s)
    up_limit = np.maximum(policy_limit_vec("up", current, behavior.scale_up, *events), current)
    down_limit = np.minimum(
        policy_limit_vec("down", current, behavior.scale_down, *events), current
    )
    scaled_up = np.minimum(desired, np.minimum(hi, up_limit))
    scaled_down = np.maximum(desired, np.maximum(lo, down_limit))
    out = np.where(desired > current, scaled_up, np.where(desired < current, scaled_down, desired))
    return out.astype(np.int64)


def legacy_clamp_vec(
    current_replicas: ArrayLike,
    stabilized_desired_replicas: ArrayLike,
    min_replicas: ArrayLike,
    max_replicas: ArrayLike,
) -> IntArray:
    """Legacy clamp: below min -> min; above ``min(max, max(2 * current, 4))`` -> that.

    Parameters
    ----------
    current_replicas, stabilized_desired_replicas : array_like of int, shape [R]
    min_replicas, max_replicas : int or array_like of int, shape [R]

    Returns
    -------
    ndarray of int64, shape [R]
    """
    current = _ints(current_replicas, "current_replicas")
    desired = _ints(stabilized_desired_replicas, "stabilized_desired_replicas")
    lo = _ints(min_replicas, "min_replicas")
    hi = _ints(max_replicas, "max_replicas")
    scale_up_limit = np.maximum(2.0 * current, 4.0).astype(np.int64)
    max_allowed = np.minimum(hi, scale_up_limit)
    out = np.where(desired < lo, lo, np.where(desired > max_allowed, max_allowed, desired))
    return out.astype(np.int64)


# ----------------------------------------------------------------------------- controller


class VectorHPA:
    """HPA controller state and reconcile for R replications at once.

    State per replication (lost on :meth:`forget`, like a controller restart):

    * recommendation history: a ring buffer ``[R, H]`` of raw proposals and their times,
      one slot per sync (``H = config.history_slots``, enough that an overwritten entry is
      always outside every window), plus the seed entry (the spec replicas at the first
      sync, as the controller records it);
    * scale-up and scale-down event buffers ``[R, E]`` (behavior path only) sized for the
      longest policy period of each direction; a slot is reused once its event is older
      than that period, as the controller does.

    :meth:`sync` is one reconcile; :meth:`sync_block` commits several consecutive syncs at
    once when none of them would change anything (the engine's fast path), leaving exactly
    the state the individual syncs would have left.

    Parameters
    ----------
    config : HPAConfig
    n_replications : int
        R, >= 1.
    """

    def __init__(self, config: HPAConfig, n_replications: int) -> None:
        if not isinstance(config, HPAConfig):
            raise ValueError(f"config={config!r} is invalid; allowed: an HPAConfig")
        if not _is_int(n_replications) or n_replications < 1:
            raise ValueError(
                f"n_replications={n_replications!r} is invalid; allowed: an integer >= 1"
            )
        self.config = config
        self.n_replications = int(n_replications)
        r = self.n_replications
        behavior = config.behavior
        self._h = config.history_slots
        e_up = config.event_slots(behavior.scale_up if behavior else None)
        e_down = config.event_slots(behavior.scale_down if behavior else None)
        self._hist_replicas = np.zeros((r, self._h), dtype=np.int64)
        self._hist_time_s = np.full((r, self._h), -np.inf)
        self._seed_replicas = np.zeros(r, dtype=np.int64)
        self._seed_time_s = np.full(r, -np.inf)
        self._latest_seed_s = -np.inf
        self._count = 0
        self._up_change = np.zeros((r, e_up), dtype=np.int64)
        self._up_time_s = np.full((r, e_up), -np.inf)
        self._down_change = np.zeros((r, e_down), dtype=np.int64)
        self._down_time_s = np.full((r, e_down), -np.inf)
        self._seeded = np.zeros(r, dtype=bool)
        self._all_seeded = False
        self._last_sync_s = -np.inf
        self._up_w, self._down_w = config.windows_s
        # Entries older than this are outside every window and may be overwritten.
        self._history_horizon_s = (
            self._down_w if behavior is None else max(self._up_w, self._down_w)
        )
        self._up_horizon_s = behavior.scale_up.longest_period_s if behavior else 0.0
        self._down_horizon_s = behavior.scale_down.longest_period_s if behavior else 0.0

    # -- state access -------------------------------------------------------------------

    def history(self, now_s: float) -> tuple[IntArray, FloatArray]:
        """Recommendation history as ``(replicas [R, H + 1], age_s [R, H + 1])`` at ``now_s``.

        The last column is the seed entry. Copies; empty slots have age ``+inf``.
        """
        values = np.concatenate([self._hist_replicas, self._seed_replicas[:, None]], axis=1)
        times = np.concatenate([self._hist_time_s, self._seed_time_s[:, None]], axis=1)
        return values, float(now_s) - times

    def scale_events(self, now_s: float) -> tuple[IntArray, FloatArray, IntArray, FloatArray]:
        """Scale events as ``(up_change, up_age_s, down_change, down_age_s)``, shape [R, E].

        Copies; empty slots have age ``+inf``.
        """
        now = float(now_s)
        return (
            self._up_change.copy(),
            now - self._up_time_s,
            self._down_change.copy(),
            now - self._down_time_s,
        )

    def forget(self, mask: ArrayLike) -> None:
        """Drop all state of the masked replications (controller restart / failover).

        Their history is seeded again at their next sync, which blocks scale-down for one
        stabilization window.

        Parameters
        ----------
        mask : array_like of bool, shape [R]
        """
        rows = np.broadcast_to(np.asarray(mask, dtype=bool), (self.n_replications,))
        self._hist_time_s[rows] = -np.inf
        self._seed_time_s[rows] = -np.inf
        self._up_time_s[rows] = -np.inf
        self._down_time_s[rows] = -np.inf
        self._seeded[rows] = False
        self._all_seeded = bool(self._seeded.all())

    # -- reconcile ----------------------------------------------------------------------

    def _vec(self, x: ArrayLike, name: str) -> IntArray:
        if isinstance(x, np.ndarray) and x.dtype == np.int64 and x.shape == (self.n_replications,):
            return x
        try:
            return np.broadcast_to(_ints(x, name), (self.n_replications,))
        except ValueError as exc:
            raise ValueError(
                f"{name} has shape {np.shape(x)}; allowed: a scalar or shape "
                f"({self.n_replications},)"
            ) from exc

    def _check_time(self, now: float) -> None:
        if not math.isfinite(now) or now < self._last_sync_s:
            raise ValueError(
                f"now_s={now!r} is invalid; allowed: a finite time >= the previous sync "
                f"({self._last_sync_s:g} s)"
            )

    def _seed(self, current: IntArray, now: float) -> None:
        """Record ``{current, now}`` for replications without history (first sync)."""
        if self._all_seeded:
            return
        new = ~self._seeded
        self._seed_replicas[new] = current[new]
        self._seed_time_s[new] = now
        self._latest_seed_s = now
        self._seeded[:] = True
        self._all_seeded = True

    def _seed_active(self, now: float) -> bool:
        return now - self._latest_seed_s <= max(self._up_w, self._down_w)

    def _legacy_history_max(self, now: float) -> IntArray:
        """Max over history entries with ``age <= window`` (INT_MIN if none)."""
        inside = (now - self._hist_time_s) <= self._down_w
        hmax = np.where(inside, self._hist_replicas, _INT_MIN).max(axis=1)
        if self._seed_active(now):
            seed_in = (now - self._seed_time_s) <= self._down_w
            hmax = np.maximum(hmax, np.where(seed_in, self._seed_replicas, _INT_MIN))
        return hmax

    def _store_history(self, rows: BoolArray | None, raw: IntArray, now: float) -> None:
        """Write ``raw`` into this sync's ring slot (for ``rows``, or all when None)."""
        slot = self._count % self._h
        old = self._hist_time_s[:, slot]
        stale = (now - old) > self._history_horizon_s
        if rows is None:
            if not stale.all():
                self._full("recommendation history", now)
            self._hist_replicas[:, slot] = raw
            self._hist_time_s[:, slot] = now
        elif rows.any():
            if not stale[rows].all():
                self._full("recommendation history", now)
            self._hist_replicas[rows, slot] = raw[rows]
            self._hist_time_s[rows, slot] = now
        self._count += 1

    @staticmethod
    def _full(what: str, now: float) -> None:
        raise ValueError(
            f"{what} buffer full at now_s={now:g}: every slot is still inside its "
            "window; allowed: at most one sync per sync_period_s"
        )

    @classmethod
    def _store_events(
        cls,
        values: IntArray,
        times_s: FloatArray,
        rows: BoolArray,
        new_values: IntArray,
        now_s: float,
        horizon_s: float,
        what: str,
    ) -> None:
        """Write ``new_values`` into the first slot older than ``horizon_s`` of each row.

        This is the controller's rule for scale events (reuse the first event older than
        the direction's longest policy period, else append).
        """
        idx = np.flatnonzero(rows)
        if idx.size == 0:
            return
        free = (now_s - times_s[idx]) > horizon_s
        slot = np.argmax(free, axis=1) if free.shape[1] else np.zeros(idx.size, dtype=np.int64)
        if free.shape[1] == 0 or not np.all(free[np.arange(idx.size), slot]):
            cls._full(what, now_s)
        values[idx, slot] = new_values[idx]
        times_s[idx, slot] = now_s

    def sync(
        self,
        now_s: float,
        spec_replicas: ArrayLike,
        ready_pods: ArrayLike,
        unready_pods: ArrayLike,
        usage_milli_sum_ready: ArrayLike,
        request_milli_per_pod: ArrayLike,
    ) -> IntArray:
        """One reconcile of every replication.

        Steps per replication: seed the history with ``spec_replicas`` at the first sync;
        guard rails (spec 0 -> unchanged; above max -> max; below min -> min; no
        normalization); :func:`replica_calc_vec` (``ready_pods == 0`` -> failed metric:
        unchanged, nothing recorded); legacy (:func:`stabilize_legacy_vec` +
        :func:`legacy_clamp_vec`) or behavior (:func:`stabilize_behavior_vec` +
        :func:`behavior_rate_limit_vec`) normalization; store the raw proposal in the history
        and, on the behavior path, every rescale as a scale event.

        Parameters
        ----------
        now_s : float
            Simulation time (s); non-decreasing between calls, at most one call per
            ``config.sync_period_s``.
        spec_replicas : array_like of int, shape [R]
            Current ``spec.replicas`` of the target.
        ready_pods, unready_pods : array_like of int, shape [R]
            Pod counts.
        usage_milli_sum_ready : array_like, shape [R]
            Sum of the ready pods' CPU usage samples (millicores).
        request_milli_per_pod : array_like, shape [R] or scalar
            CPU request per pod (millicores).

        Returns
        -------
        ndarray of int64, shape [R]
            New ``spec.replicas``.
        """
        now = float(now_s)
        self._check_time(now)
        cfg = self.config
        current = self._vec(spec_replicas, "spec_replicas")
        ready = self._vec(ready_pods, "ready_pods")
        unready = self._vec(unready_pods, "unready_pods")
        usage = self._vec(usage_milli_sum_ready, "usage_milli_sum_ready")
        if isinstance(request_milli_per_pod, int) and not isinstance(request_milli_per_pod, bool):
            request = np.int64(request_milli_per_pod)  # broadcasts like a constant row
        else:
            request = self._vec(request_milli_per_pod, "request_milli_per_pod")
        self._seed(current, now)

        raw, _ = _replica_calc_core(
            current,
            ready,
            unready,
            usage,
            request,
            cfg.target_utilization_percent,
            cfg.tolerance_down,
            cfg.tolerance_up,
        )
        in_bounds = current.min() >= cfg.min_replicas and current.max() <= cfg.max_replicas
        metric_ok = (ready > 0) & (request > 0)
        if in_bounds:
            active = metric_ok
        else:
            disabled = current == 0
            above = ~disabled & (current > cfg.max_replicas)
            below = ~disabled & ~above & (current < cfg.min_replicas)
            active = ~(disabled | above | below) & metric_ok

        if cfg.behavior is None:
            stabilized = np.maximum(raw, self._legacy_history_max(now))
            max_allowed = np.minimum(cfg.max_replicas, np.maximum(2 * current, 4))
            normalized = np.minimum(np.maximum(stabilized, cfg.min_replicas), max_allowed)
            normalized = np.where(stabilized < cfg.min_replicas, cfg.min_replicas, normalized)
        else:
            values, ages = self.history(now)
            stabilized = stabilize_behavior_vec(
                current, raw, values, ages, self._up_w, self._down_w
            )
            normalized = behavior_rate_limit_vec(
                current,
                stabilized,
                cfg.min_replicas,
                cfg.max_replicas,
                cfg.behavior,
                *self.scale_events(now),
            )

        all_active = bool(active.all())
        new = normalized if all_active else np.where(active, normalized, current)
        if not in_bounds:
            new = np.where(above, cfg.max_replicas, np.where(below, cfg.min_replicas, new))
        new = new.astype(np.int64, copy=False)

        self._store_history(None if all_active else active, raw, now)
        if cfg.behavior is not None:
            change = new - current
            if change.any():
                self._store_events(
                    self._up_change,
                    self._up_time_s,
                    change > 0,
                    change,
                    now,
                    self._up_horizon_s,
                    "scale-up event",
                )
                self._store_events(
                    self._down_change,
                    self._down_time_s,
                    change < 0,
                    -change,
                    now,
                    self._down_horizon_s,
                    "scale-down event",
                )
        self._last_sync_s = now
        return new

    def sync_block(
        self,
        now_s: ArrayLike,
        spec_replicas: IntArray,
        ready_pods: IntArray,
        usage_milli_sum_ready: IntArray,
        request_milli_per_pod: int,
    ) -> int:
        """Commit the leading syncs of a block that would not rescale anything.

        The spec is constant over the block; the Ready pods and CPU samples may vary
        from sync to sync (pods that are not Ready count as unready).  The first ``n``
        syncs, up to the first one that might change ``spec_replicas`` (after
        stabilization and, on the legacy path, the min/max clamp), are recorded exactly
        as ``n`` calls of :meth:`sync` would record them, and ``n`` is returned; the
        caller then runs :meth:`sync` from sync ``n`` on.

        Parameters
        ----------
        now_s : array_like of float, shape [B]
            Sync times (s), increasing, at least ``config.sync_period_s`` apart.
        spec_replicas : ndarray of int64, shape [R]
            Spec replicas (constant over the block).
        ready_pods : ndarray of int64, shape [R] or [B, R]
            Ready pods at each sync.
        usage_milli_sum_ready : ndarray of int64, shape [B, R]
            CPU samples of each sync.
        request_milli_per_pod : int
            CPU request per pod (millicores).

        Returns
        -------
        int
            Number of leading syncs committed, ``0 <= n <= B``.
        """
        times = np.asarray(now_s, dtype=np.float64)
        b = times.size
        cfg = self.config
        current = spec_replicas
        if (
            not self._all_seeded
            or b == 0
            or b > self._h - 2
            or times[0] < self._last_sync_s
            or current.min() < cfg.min_replicas
            or current.max() > cfg.max_replicas
            or request_milli_per_pod <= 0
        ):
            return 0
        ready = np.broadcast_to(ready_pods, (b, current.size))
        raw, _ = _replica_calc_core(
            current,
            ready,
            current - ready,
            usage_milli_sum_ready,
            request_milli_per_pod,
            cfg.target_utilization_percent,
            cfg.tolerance_down,
            cfg.tolerance_up,
        )  # [B, R]
        slots = (self._count + np.arange(b)) % self._h
        # A sync is safe if its ring slot holds nothing inside a window and all pods
        # it sees include at least one Ready one (otherwise the metric fails).
        ok = ((times - self._hist_time_s[:, slots]) > self._history_horizon_s).all(axis=0)
        ok &= (ready >= 1).all(axis=1)
        if cfg.behavior is None:
            # Every stabilized value lies in [raw_b, upper_b]: upper_b bounds the history
            # sync b sees (entries inside the window at the first sync, the seed, the
            # block's earlier proposals). The clamp is monotone, so if it maps both ends
            # to the spec, it maps the stabilized value there too. (Sufficient, not
            # necessary: what this check declines is simply done one sync at a time.)
            upper = np.maximum(
                self._legacy_history_max(float(times[0])), np.maximum.accumulate(raw, axis=0)
            )
            max_allowed = np.minimum(cfg.max_replicas, np.maximum(2 * current, 4))

            def clamp(x: IntArray) -> IntArray:
                return np.minimum(np.maximum(x, cfg.min_replicas), max_allowed)

            ok &= (clamp(raw) == current).all(axis=1) & (clamp(upper) == current).all(axis=1)
        else:
            # Behavior path: a proposal equal to the spec is held by both stabilization
            # windows and the rate limits; anything else is done one sync at a time.
            ok &= (raw == current).all(axis=1)
        n = b if ok.all() else int(np.argmin(ok))
        if n == 0:
            return 0
        self._hist_replicas[:, slots[:n]] = raw[:n].T
        self._hist_time_s[:, slots[:n]] = times[:n]
        self._count += n
        self._last_sync_s = float(times[n - 1])
        return n
