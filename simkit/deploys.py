"""Deployments: rolling updates versus recreate, bad releases, detection, rollback.

A Poisson stream of releases (``deployment.deploys_per_day``) per replication.

* **Rolling update** (Kubernetes): pods are replaced in waves of
  ``max_surge + max_unavailable``; each wave takes the pod start-up time plus a
  readiness check.  ``max_unavailable`` pods are out of service during the
  rollout and ``max_surge`` extra pods are billed.  Old pods drain before they
  stop, so with ``max_unavailable = 0`` no request is lost.
* **Recreate** (Docker Compose): every instance stops, then starts; requests
  offered during the start-up time fail.  Hot reload in development is the same
  restart on each code change.
* **Bad release** with probability ``bad_release_probability`` (halved when
  tests gate the deploy): instances running it fail a share of their requests.
  The share of traffic on the bad version follows the rollout; the alert rule
  that detects ``bad_release`` (``monitoring.rules``) fires on that error
  ratio (:mod:`simkit.detection`), then an automated rollback reverses the
  rollout, or someone fixes it by hand.  A bad release that no rule sees stays
  until the end of the run.

The number of instances rolled is the scenario's initial ``replicas`` (the
autoscaler's state at deploy time is not known in advance): an approximation.
"""

from __future__ import annotations

import math

import numpy as np

from simkit.detection import incident_detected_s
from simkit.effects import Effects, FailureWindow, Incident, period_span
from simkit.scenario import Scenario

__all__ = [
    "BAD_RELEASE_ERROR_FRACTION",
    "MANUAL_FIX_S",
    "READINESS_CHECK_S",
    "TESTS_GATE_FACTOR",
    "deploy_effects",
    "deploy_schedule",
]

#: Share of requests failing on an instance that runs a bad release (assumption).
BAD_RELEASE_ERROR_FRACTION = 0.2
#: Factor on the bad-release probability when automated tests gate a deploy (assumption).
TESTS_GATE_FACTOR = 0.5
#: Readiness probe period before a new pod takes traffic (Kubernetes default 10 s).
READINESS_CHECK_S = 10.0
#: Without automated rollback, time for a person to revert by hand (assumption).
MANUAL_FIX_S = 1800.0
#: Deploy gaps are drawn in rounds of this many exponentials (same seed, same instants).
_ROUND = 256


def deploy_schedule(
    seeds: list[np.random.SeedSequence], per_day: float, horizon_s: float, bad_probability: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Release instants [s] and bad-release flags per replication.

    Gaps are exponential with mean ``86400 / per_day``; one uniform per release
    decides whether it is bad.  Draws come in fixed rounds, so the same seed
    gives the same instants at any rate scale.
    """
    out = []
    for seed in seeds:
        gen = np.random.Generator(np.random.PCG64(seed))
        if per_day <= 0:
            out.append((np.zeros(0), np.zeros(0, dtype=bool)))
            continue
        mean_gap_s = 86400.0 / per_day
        times: list[np.ndarray] = []
        flags: list[np.ndarray] = []
        t = 0.0
        while t < horizon_s:
            gaps = gen.standard_exponential(_ROUND) * mean_gap_s
            uniforms = gen.random(_ROUND)
            instants = t + np.cumsum(gaps)
            t = float(instants[-1])
            times.append(instants)
            flags.append(uniforms < bad_probability)
        all_times = np.concatenate(times)
        keep = all_times < horizon_s
        out.append((all_times[keep], np.concatenate(flags)[keep]))
    return out


def deploy_effects(
    scenario: Scenario,
    n_rep: int,
    n_periods: int,
    period_s: float,
    seeds: list[np.random.SeedSequence],
) -> Effects:
    """Effects of every release in every replication (see the module docstring).

    Parameters
    ----------
    scenario : Scenario
        Its ``deployment``, ``autoscaling`` and ``monitoring`` sections are used.
    n_rep, n_periods : int
        Replications and control periods.
    period_s : float
        Control period [s].
    seeds : list of numpy.random.SeedSequence
        The ``deploys`` stream of each replication.

    Returns
    -------
    Effects
        Instances down and surge per period, bad-release error fractions,
        downtime windows (recreate) and one incident per bad release.
    """
    d = scenario.deployment
    horizon_s = n_periods * period_s
    p_bad = d.bad_release_probability * (TESTS_GATE_FACTOR if d.tests_gate else 1.0)
    schedule = deploy_schedule(seeds, d.deploys_per_day, horizon_s, p_bad)
    if not any(times.size for times, _ in schedule):
        return Effects()
    n = scenario.autoscaling.replicas
    startup_s = scenario.autoscaling.startup_s
    rolling = d.strategy == "rolling"
    if rolling:
        wave = max(d.max_surge + d.max_unavailable, 1)
        rollout_s = math.ceil(n / wave) * (startup_s + READINESS_CHECK_S)
    else:
        rollout_s = startup_s
    down = np.zeros((n_rep, n_periods), dtype=np.int64)
    surge = np.zeros((n_rep, n_periods), dtype=np.int64)
    bad_frac = np.zeros((n_rep, n_periods))
    windows: list[FailureWindow] = []
    incidents: list[Incident] = []
    for r, (times, bad) in enumerate(schedule):
        for t, is_bad in zip(times, bad, strict=True):
            if rolling:
                span = period_span(t, t + rollout_s, period_s, n_periods)
                down[r, span] += min(d.max_unavailable, n)
                surge[r, span] += d.max_surge
            else:
                windows.append(FailureWindow(r, t, t + startup_s, 1.0, "deploy"))
            if is_bad:
                incidents.append(
                    _bad_release(r, t, rollout_s, scenario, bad_frac, period_s, windows)
                )
    # A new rollout replaces one still running: limits do not add up.
    np.minimum(down, min(d.max_unavailable, n), out=down)
    np.minimum(surge, d.max_surge, out=surge)
    return Effects(
        instances_down=down if down.any() else None,
        extra_instances=surge if surge.any() else None,
        error_fraction={"bad_release": bad_frac} if bad_frac.any() else {},
        windows=tuple(windows),
        incidents=tuple(incidents),
    )


def _bad_release(
    r: int,
    t: float,
    rollout_s: float,
    scenario: Scenario,
    bad_frac: np.ndarray,
    period_s: float,
    windows: list[FailureWindow],
) -> Incident:
    """Add one bad release's error fraction; return its incident."""
    d = scenario.deployment
    rolling = d.strategy == "rolling"
    n_periods = bad_frac.shape[1]

    def rolled_out(x: np.ndarray) -> np.ndarray:
        """Share of traffic on the bad version, before any rollback [-]."""
        return np.clip((x - t) / rollout_s, 0.0, 1.0) if rolling else (x >= t + rollout_s) * 1.0

    # Detection first, on this release's own error ratio without a rollback.
    rule = scenario.monitoring.detection_rule("bad_release")
    reach_s = rollout_s + rule.for_s + 2 * (scenario.monitoring.eval_interval_s + period_s)
    own = period_span(t, t + reach_s, period_s, n_periods)
    mid_own = (np.arange(own.start, own.stop) + 0.5) * period_s
    ratio = BAD_RELEASE_ERROR_FRACTION * rolled_out(mid_own)
    if not rolling:  # the restart itself fails every request for startup_s
        edges = np.arange(own.start, own.stop + 1) * period_s
        cover = np.minimum(edges[1:], t + rollout_s) - np.maximum(edges[:-1], t)
        ratio = np.minimum(ratio + np.clip(cover / period_s, 0.0, 1.0), 1.0)
    detected = incident_detected_s(scenario, "bad_release", ratio, own.start, period_s)
    horizon_s = n_periods * period_s
    if not np.isfinite(detected) or detected >= horizon_s:  # nobody notices: it stays
        span = period_span(t, horizon_s, period_s, n_periods)
        mid = (np.arange(span.start, span.stop) + 0.5) * period_s
        bad_frac[r, span] += BAD_RELEASE_ERROR_FRACTION * rolled_out(mid)
        return Incident(r, "bad_release", t, math.inf, horizon_s)
    share_at_detect = min(max((detected - t) / rollout_s, 0.0), 1.0) if rolling else 1.0
    if d.automated_rollback:
        back_s = share_at_detect * rollout_s if rolling else rollout_s
        recovered = detected + back_s
    else:
        back_s = rollout_s
        recovered = detected + MANUAL_FIX_S + back_s
    fix_start = recovered - back_s
    if not rolling:
        windows.append(FailureWindow(r, fix_start, recovered, 1.0, "deploy"))

    def share(x: np.ndarray) -> np.ndarray:
        up = rolled_out(x)
        peak = share_at_detect if d.automated_rollback else 1.0
        level = np.minimum(up, peak)
        if rolling:
            down = np.clip((recovered - x) / max(back_s, 1e-9), 0.0, 1.0) * peak
            level = np.where(x >= fix_start, np.minimum(level, down), level)
        else:
            level = np.where(x >= fix_start, 0.0, level)
        return np.where((x >= t) & (x < recovered), level, 0.0)

    span = period_span(t, recovered, period_s, bad_frac.shape[1])
    mid = (np.arange(span.start, span.stop) + 0.5) * period_s
    bad_frac[r, span] += BAD_RELEASE_ERROR_FRACTION * share(mid)
    return Incident(r, "bad_release", t, detected, recovered)
