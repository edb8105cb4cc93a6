"""The comparison report: a self-contained HTML page plus ``kpis.csv``.

Thin: it formats what :mod:`simkit.analysis` computed and embeds figures from
:mod:`simkit.plotting`; every file is written through :mod:`simkit.io`.
"""

from __future__ import annotations

import base64
import html
import io as _io
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from simkit import __version__
from simkit.io import write_frame_csv, write_text
from simkit.result import KPI_COLUMNS
from simkit.scenario import Scenario

__all__ = ["HEADLINE_KPIS", "format_summary", "write_report"]

#: KPIs shown in the terminal table and at the top of the report.
HEADLINE_KPIS = (
    "availability",
    "latency_p50_s",
    "latency_p99_s",
    "slo_minutes_violated",
    "errors",
    "mean_instances",
    "max_instances",
    "crashes",
    "instance_hours",
    "cost_usd",
    "scaling_events",
    "slack",
)


def _fmt(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.1f}"
    return f"{value:.4g}"


def format_summary(summary: pd.DataFrame, kpis: Sequence[str] = HEADLINE_KPIS) -> pd.DataFrame:
    """Table of ``mean [ci_low, ci_high]`` strings: one row per KPI, one column per scenario."""
    cells = {}
    for (scenario, kpi), row in summary.iterrows():
        if kpi in kpis:
            text = _fmt(row["mean"])
            if row["ci_high"] > row["ci_low"]:
                text += f" [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"
            cells.setdefault(scenario, {})[kpi] = text
    table = pd.DataFrame(cells)
    return table.loc[[k for k in kpis if k in table.index]]


def _png(fig: Figure) -> str:
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def write_report(
    out_dir: str | Path,
    *,
    kpis: pd.DataFrame,
    summary: pd.DataFrame,
    scenarios: Sequence[Scenario],
    figures: dict[str, Figure],
    run_info: dict[str, str],
) -> Path:
    """Write ``index.html`` and ``kpis.csv`` into ``out_dir`` (atomically, file by file).

    Parameters
    ----------
    out_dir : path
        Report folder, created if missing.
    kpis : pandas.DataFrame
        Per-replication KPIs of all scenarios (written to ``kpis.csv``).
    summary : pandas.DataFrame
        From :func:`simkit.analysis.summarize`.
    scenarios : sequence of Scenario
        The scenarios compared (shown in full in the page).
    figures : dict of str to Figure
        Title to figure; embedded as PNG.
    run_info : dict of str to str
        Seed, duration, step, replications and similar.

    Returns
    -------
    pathlib.Path
        Path of ``index.html``.
    """
    out = Path(out_dir)
    write_frame_csv(out / "kpis.csv", kpis)
    esc = html.escape
    info_rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>"
        for k, v in {**run_info, "simkit version": __version__}.items()
    )
    headline = format_summary(summary).to_html(escape=True, classes="kpi")
    full = summary.reset_index().to_html(
        index=False, escape=True, float_format=lambda v: f"{v:.6g}"
    )
    legend = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in KPI_COLUMNS.items())
    figs = "".join(
        f"<figure><img alt='{esc(title)}' src='data:image/png;base64,{_png(fig)}'>"
        f"<figcaption>{esc(title)}</figcaption></figure>"
        for title, fig in figures.items()
    )
    scen = "".join(
        f"<details><summary>{esc(s.name)}: {esc(s.description)}</summary>"
        f"<pre>{esc(pd.Series(s.to_dict()).to_string())}</pre></details>"
        for s in scenarios
    )
    names = ", ".join(s.name for s in scenarios)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>simkit comparison: {esc(names)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1200px; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }}
th {{ background: #f4f4f4; }}
img {{ max-width: 100%; }}
pre {{ background: #f8f8f8; padding: 1em; overflow-x: auto; }}
</style></head><body>
<h1>simkit comparison: {esc(names)}</h1>
<p>Mean over replications with the 95&nbsp;% Student-t confidence interval in brackets.
Runs share random numbers (same seed), so differences are paired.</p>
{headline}
<h2>Run</h2><table>{info_rows}</table>
<h2>Figures</h2>{figs}
<h2>All KPIs</h2>{full}
<h2>KPI definitions</h2><table>{legend}</table>
<h2>Scenarios</h2>{scen}
</body></html>
"""
    return write_text(out / "index.html", page)
