"""Instance crashes and repairs: an alternating renewal process per instance slot.

Each instance slot alternates between *up* periods, exponential with mean
``MTBF``, and *down* periods (crashed, being restarted), exponential with mean
``MTTR``.  The long-run fraction of time a slot is up is
``MTBF / (MTBF + MTTR)``; slots fail independently, so the number of up slots
out of ``n`` is binomial.

The timeline of every slot is drawn before the simulation runs, independently
of how many slots the autoscaler provisions: slot ``i`` of replication ``r``
has the same crash instants in every profile and policy simulated with the
same seed (common random numbers; the exponential draws are shared and only
scaled by each profile's MTBF and MTTR).  A slot is counted as down in a
control period when it is down at the start of that period.

Without a health check (``failures.health_check = false``) nothing restarts a
crashed instance until someone notices: its down time is the delay until the
detection rule fires (given by the caller as a function of the crash instant,
:func:`simkit.detection.step_detected_s`) plus the repair draw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["SLOTS_PER_BLOCK", "FailureTimeline", "failure_timeline", "no_failures"]

#: Slots share one random stream per block of this many slots.
SLOTS_PER_BLOCK = 16
#: Crash/repair pairs drawn per round for every slot of a block.
_ROUND = 64


@dataclass(frozen=True)
class FailureTimeline:
    """Down periods and crash instants of every slot, sparse.

    Attributes
    ----------
    down_rep, down_slot, down_period : numpy.ndarray
        Replication, slot and period of each (slot, period) that is down, sorted by period.
    down_ptr : numpy.ndarray
        ``down_ptr[p]:down_ptr[p + 1]`` indexes the entries of period ``p``; shape ``(P + 1,)``.
    crash_rep, crash_slot, crash_period : numpy.ndarray
        One entry per crash: where it happens and in which period [index].
    repair_rep, repair_slot, repair_period : numpy.ndarray
        One entry per repair completed within the horizon.
    crash_s, detected_s, repair_s : numpy.ndarray
        Crash instant, detection instant (``nan`` with a health check: nothing
        waits for it; ``inf``: no rule fires) and repair instant (``inf`` past the horizon) of each
        crash [s], aligned with ``crash_rep``.
    """

    down_rep: np.ndarray
    down_slot: np.ndarray
    down_period: np.ndarray
    down_ptr: np.ndarray
    crash_rep: np.ndarray
    crash_slot: np.ndarray
    crash_period: np.ndarray
    repair_rep: np.ndarray
    repair_slot: np.ndarray
    repair_period: np.ndarray
    crash_s: np.ndarray
    detected_s: np.ndarray
    repair_s: np.ndarray


def no_failures(n_periods: int) -> FailureTimeline:
    """The timeline of a run without instance crashes (``failures.enabled = false``)."""
    none = np.zeros(0, dtype=np.int64)
    return FailureTimeline(
        down_rep=none,
        down_slot=none,
        down_period=none,
        down_ptr=np.zeros(n_periods + 1, dtype=np.int64),
        crash_rep=none,
        crash_slot=none,
        crash_period=none,
        repair_rep=none,
        repair_slot=none,
        repair_period=none,
        crash_s=np.zeros(0),
        detected_s=np.zeros(0),
        repair_s=np.zeros(0),
    )


def _slot_events(
    gen: np.random.Generator,
    horizon_s: float,
    mtbf_s: float,
    mttr_s: float,
    detect: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crash, detection and repair instants [s] of one block of slots, each ``(n_events, 16)``.

    Entries past the horizon are ``inf``.  Draws come in fixed rounds of standard
    exponentials, so the same stream gives the same events at any MTBF/MTTR scale.
    With ``detect`` (crash instants -> detection instants), repairs start at detection.
    """
    ups, downs = [], []
    end = np.zeros(SLOTS_PER_BLOCK)
    while True:
        draws = gen.standard_exponential((_ROUND, 2, SLOTS_PER_BLOCK))
        ups.append(draws[:, 0] * mtbf_s)
        downs.append(draws[:, 1] * mttr_s)
        end = end + ups[-1].sum(axis=0) + downs[-1].sum(axis=0)
        if end.min() >= horizon_s:
            break
    up = np.concatenate(ups)
    down = np.concatenate(downs)
    if detect is None:
        cycle_end = np.cumsum(up + down, axis=0)
        crash = cycle_end - down
        detected = np.full(crash.shape, np.nan)
    else:  # each repair waits for its detection: one event row at a time
        crash = np.empty_like(up)
        detected = np.empty_like(up)
        cycle_end = np.empty_like(up)
        t = np.zeros(SLOTS_PER_BLOCK)
        for i in range(up.shape[0]):
            crash[i] = t + up[i]
            detected[i] = detect(crash[i])
            t = cycle_end[i] = np.where(np.isfinite(detected[i]), detected[i], np.inf) + down[i]
            if t.min() >= horizon_s:
                crash[i + 1 :] = np.inf
                detected[i + 1 :] = np.nan
                cycle_end[i + 1 :] = np.inf
                break
    past = crash >= horizon_s
    crash[past] = np.inf
    detected[past] = np.nan
    repair = np.where(np.isfinite(crash), cycle_end, np.inf)
    return crash, detected, repair


def failure_timeline(
    seeds: list[np.random.SeedSequence],
    n_slots: int,
    n_periods: int,
    period_s: float,
    mtbf_s: float,
    mttr_s: float,
    detect: Callable[[np.ndarray], np.ndarray] | None = None,
) -> FailureTimeline:
    """Draw the crash/repair timeline of ``n_slots`` slots for every replication.

    Parameters
    ----------
    seeds : list of numpy.random.SeedSequence
        One failure seed sequence per replication.
    n_slots : int
        Instance slots (the most instances the scenario can run).
    n_periods : int
        Control periods simulated.
    period_s, mtbf_s, mttr_s : float
        Period length, mean time between failures, mean time to repair [s].
    detect : callable, optional
        Crash instants [s] -> detection instants [s] (``inf``: never) for
        instances without a health check; their repair starts at detection.

    Returns
    -------
    FailureTimeline
    """
    horizon_s = n_periods * period_s
    n_blocks = -(-n_slots // SLOTS_PER_BLOCK)
    down_p, down_r, down_s = [], [], []
    crash_r, crash_s, crash_p, rep_r, rep_s, rep_p = [], [], [], [], [], []
    t_crash_all, t_detect_all, t_repair_all = [], [], []
    for r, seed in enumerate(seeds):
        for b, block_seed in enumerate(seed.spawn(n_blocks)):
            gen = np.random.Generator(np.random.PCG64(block_seed))
            crash, detected, repair = _slot_events(gen, horizon_s, mtbf_s, mttr_s, detect)
            slot = b * SLOTS_PER_BLOCK + np.arange(SLOTS_PER_BLOCK)
            ev, col = np.nonzero(np.isfinite(crash) & (slot[None, :] < n_slots))
            if ev.size == 0:
                continue
            t_crash = crash[ev, col]
            t_repair = repair[ev, col]
            t_crash_all.append(t_crash)
            t_detect_all.append(detected[ev, col])
            t_repair_all.append(t_repair)
            slots = slot[col]
            crash_r.append(np.full(ev.size, r))
            crash_s.append(slots)
            crash_p.append(np.floor(t_crash / period_s).astype(np.int64))
            done = t_repair < horizon_s
            rep_r.append(np.full(int(done.sum()), r))
            rep_s.append(slots[done])
            rep_p.append(np.floor(t_repair[done] / period_s).astype(np.int64))
            # Periods whose start instant lies in [crash, repair).
            first = np.ceil(t_crash / period_s).astype(np.int64)
            last = np.minimum(
                np.ceil(np.minimum(t_repair, horizon_s) / period_s).astype(np.int64), n_periods
            )
            counts = np.maximum(last - first, 0)
            total = int(counts.sum())
            if total:
                offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
                down_p.append(np.repeat(first, counts) + offsets)
                down_r.append(np.full(total, r))
                down_s.append(np.repeat(slots, counts))

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)

    def times(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0)

    periods = cat(down_p)
    order = np.argsort(periods, kind="stable")
    ptr = np.searchsorted(periods[order], np.arange(n_periods + 1))
    return FailureTimeline(
        down_rep=cat(down_r)[order],
        down_slot=cat(down_s)[order],
        down_period=periods[order],
        down_ptr=ptr,
        crash_rep=cat(crash_r),
        crash_slot=cat(crash_s),
        crash_period=cat(crash_p),
        repair_rep=cat(rep_r),
        repair_slot=cat(rep_s),
        repair_period=cat(rep_p),
        crash_s=times(t_crash_all),
        detected_s=times(t_detect_all),
        repair_s=times(t_repair_all),
    )
