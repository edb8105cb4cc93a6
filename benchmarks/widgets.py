"""Time from a slider change to a redrawn figure, dashboards 02 and 03.

Prints the median and the range over ten slider changes of the coarse preview
(what the user sees while the slider moves; target under 250 ms) and of the
full render that replaces it once the slider rests.  Printed, never asserted.

    .venv/bin/python benchmarks/widgets.py
"""

from __future__ import annotations

import statistics
import time

import matplotlib

matplotlib.use("Agg")

from simkit.widgets import predictive_dashboard, prod_vs_dev_dashboard

CHANGES = 10
TARGET_S = 0.25


def _time_changes(dash, name: str, values: list) -> dict[str, list[float]]:
    """Set the control to each value; time the coarse preview, then a full render."""
    control = dash.controls[name]
    coarse, full = [], []
    for value in values:
        t0 = time.perf_counter()
        control.value = value  # observe -> coarse render (timer for the full one is cancelled)
        coarse.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        dash.update(coarse=False)
        full.append(time.perf_counter() - t0)
    return {"preview": coarse, "full": full}


def _report(title: str, times: dict[str, list[float]]) -> None:
    for kind, values in times.items():
        med = statistics.median(values)
        flag = (
            ""
            if kind != "preview"
            else ("  (target < 250 ms: met)" if med < TARGET_S else "  (target < 250 ms: NOT met)")
        )
        print(
            f"{title:<38} {kind:<8} median {med * 1e3:7.0f} ms  "
            f"[{min(values) * 1e3:.0f}-{max(values) * 1e3:.0f} ms]{flag}"
        )


def main() -> None:
    print(f"slider change -> redrawn figure, {CHANGES} changes each")
    dash = prod_vs_dev_dashboard(replications=4, settle_s=3600.0)
    peaks = [50.0 + 5.0 * (i % 8) for i in range(CHANGES)]
    _report("02 production vs development: peak", _time_changes(dash, "peak_rps", peaks))
    dash.close()
    dash = predictive_dashboard(replications=4, settle_s=3600.0)
    startups = [60.0 + 30.0 * i for i in range(CHANGES)]
    _report("03 predictive scaling: start-up", _time_changes(dash, "startup_s", startups))
    dash.close()


if __name__ == "__main__":
    main()
