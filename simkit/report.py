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
from typing import TYPE_CHECKING

import pandas as pd

from simkit import __version__
from simkit.analysis.kpis import KPI_COLUMNS
from simkit.io import write_frame_csv, write_text
from simkit.scenario import Scenario

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from simkit.analysis.capacity import CapacityPlan

__all__ = ["HEADLINE_KPIS", "SLO_KPIS", "findings", "format_summary", "png_data", "write_report"]

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
    "downtime_s",
    "mean_time_to_recover_s",
    "max_data_loss_window_s",
    "alerts_fired",
    "instance_hours",
    "cost_usd",
    "scaling_events",
    "slack",
)
#: SLO KPIs of :func:`simkit.analysis.kpis`, shown in their own table.
SLO_KPIS = {
    k: KPI_COLUMNS[k]
    for k in (
        "slo_good_minutes_fraction",
        "error_budget_used",
        "burn_rate_mean",
        "pages",
        "tickets",
        "paged",
    )
}


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


def png_data(fig: Figure) -> bytes:
    """The figure as the report embeds it: a PNG at 80 dpi.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Any figure of :mod:`simkit.plotting`.

    Returns
    -------
    bytes
        The PNG file.
    """
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def _png(fig: Figure | bytes) -> str:
    """Base64 of the figure's PNG (:func:`png_data`), or of a PNG rendered already."""
    return base64.b64encode(fig if isinstance(fig, bytes) else png_data(fig)).decode("ascii")


def _pct(value: float) -> str:
    return f"{100.0 * value:.2f} %"


def findings(
    comparison: pd.DataFrame,
    plans: dict[str, CapacityPlan] | None = None,
    fits: dict[str, pd.DataFrame] | None = None,
) -> list[str]:
    """Short sentences a person can forward, from :func:`simkit.analysis.compare` output.

    Parameters
    ----------
    comparison : pandas.DataFrame
        From :func:`simkit.analysis.compare` with the SLO KPIs (``slo_good_minutes_fraction``,
        ``error_budget_used``, ``pages``, ``paged``) present.
    plans : dict of str to CapacityPlan, optional
        Capacity plans per scenario.
    fits : dict of str to pandas.DataFrame, optional
        :func:`simkit.analysis.fit_failure_times` per scenario.

    Returns
    -------
    list of str
        Plain text (not escaped).
    """
    out = []
    kpis = set(comparison.index.get_level_values("kpi"))
    names = list(dict.fromkeys(comparison.index.get_level_values("scenario")))
    if "slo_good_minutes_fraction" in kpis:
        rows = comparison.xs("slo_good_minutes_fraction", level="kpi")
        parts = []
        for name in names:
            r = rows.loc[name]
            text = f"{name} {_pct(r['mean'])} (95 % CI {_pct(r['ci_low'])} to {_pct(r['ci_high'])})"
            if r["test"]:
                verdict = "significant" if r["significant"] else "not significant"
                text += f", {verdict} vs {r['baseline']} ({r['test']}, p = {r['p_value']:.2g})"
            parts.append(text)
        out.append(
            "Minutes meeting the SLO (p99 latency and error ratio): " + "; ".join(parts) + "."
        )
    if "error_budget_used" in kpis:
        rows = comparison.xs("error_budget_used", level="kpi")
        parts = [f"{n} {_pct(rows.loc[n, 'mean'])}" for n in names]
        out.append(
            "Share of the SLO window's request error budget spent: " + ", ".join(parts) + "."
        )
    if {"pages", "paged"} <= kpis:
        pages = comparison.xs("pages", level="kpi")
        paged = comparison.xs("paged", level="kpi")
        parts = [
            f"{n} paged in {round(paged.loc[n, 'mean'] * paged.loc[n, 'n'])} of "
            f"{paged.loc[n, 'n']} replications ({pages.loc[n, 'mean']:.3g} pages per run)"
            for n in names
        ]
        out.append("Multi-window burn-rate alerts: " + "; ".join(parts) + ".")
    for name, plan in (plans or {}).items():
        out.append(f"Capacity, {name}: {plan.summary()}.")
    for name, fit in (fits or {}).items():
        up, down = fit.loc["time_between_failures_s"], fit.loc["time_to_repair_s"]
        out.append(
            f"Failures, {name}: fitted MTBF {up['fitted_s'] / 3600:.4g} h "
            f"(95 % CI {up['ci_low_s'] / 3600:.4g} to {up['ci_high_s'] / 3600:.4g}, configured "
            f"{up['configured_s'] / 3600:.4g}), MTTR {down['fitted_s']:.4g} s "
            f"(95 % CI {down['ci_low_s']:.4g} to {down['ci_high_s']:.4g}, configured "
            f"{down['configured_s']:.4g}): "
            + ("recovered." if up["recovered"] and down["recovered"] else "NOT recovered.")
        )
    return out


def _table(frame: pd.DataFrame, **kwargs: object) -> str:
    return frame.to_html(escape=True, float_format=lambda v: f"{v:.6g}", border=0, **kwargs)


def write_report(
    out_dir: str | Path,
    *,
    kpis: pd.DataFrame,
    summary: pd.DataFrame,
    scenarios: Sequence[Scenario],
    figures: dict[str, Figure | bytes],
    run_info: dict[str, str],
    sentences: Sequence[str] = (),
    tables: dict[str, pd.DataFrame] | None = None,
) -> Path:
    """Write ``index.html`` and ``kpis.csv`` into ``out_dir`` (atomically, file by file).

    The page is self-contained (figures embedded as PNG); every text that
    comes from scenarios, tables or ``run_info`` is HTML-escaped.

    Parameters
    ----------
    out_dir : path
        Report folder, created if missing.
    kpis : pandas.DataFrame
        Per-replication KPIs of all scenarios (written to ``kpis.csv``).
    summary : pandas.DataFrame
        From :func:`simkit.analysis.compare` or :func:`simkit.analysis.summarize`:
        index (scenario, kpi), columns ``mean``, ``ci_low``, ``ci_high`` (and the
        test columns of ``compare``).
    scenarios : sequence of Scenario
        The scenarios compared (shown in full in the page).
    figures : dict of str to Figure or bytes
        Title to figure, embedded as PNG, or to a PNG rendered already by
        :func:`png_data` (e.g. in a worker process).
    run_info : dict of str to str
        Seed, duration, step, replications and similar.
    sentences : sequence of str
        Findings shown at the top (see :func:`findings`).
    tables : dict of str to pandas.DataFrame, optional
        Extra tables, title to frame, shown after the figures.

    Returns
    -------
    pathlib.Path
        Path of ``index.html``.
    """
    out = Path(out_dir)
    esc = html.escape
    info_rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>"
        for k, v in {**run_info, "simkit version": __version__}.items()
    )
    headline = format_summary(summary).to_html(escape=True, classes="kpi")
    slo_rows = [k for k in SLO_KPIS if k in set(summary.index.get_level_values("kpi"))]
    slo_table = format_summary(summary, SLO_KPIS).to_html(escape=True) if slo_rows else ""
    full = _table(summary.reset_index(), index=False)
    legend = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in KPI_COLUMNS.items())
    items = "".join(f"<li>{esc(text)}</li>" for text in sentences)
    figs = "".join(
        f"<figure><img alt='{esc(title)}' src='data:image/png;base64,{_png(fig)}'>"
        f"<figcaption>{esc(title)}</figcaption></figure>"
        for title, fig in figures.items()
    )
    extra = "".join(f"<h3>{esc(t)}</h3>{_table(f)}" for t, f in (tables or {}).items())
    scen = "".join(
        f"<details><summary>{esc(s.name)}: {esc(s.description)}</summary>"
        f"<pre>{esc(pd.Series(s.to_dict()).to_string())}</pre></details>"
        for s in scenarios
    )
    names = ", ".join(s.name for s in scenarios)
    tests = sorted({t for t in summary.get("test", pd.Series(dtype=str)) if t})
    test_note = (
        f" Tests against the baseline: {esc(', '.join(tests))} (two-sided, alpha 0.05)."
        if tests
        else ""
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>simkit comparison: {esc(names)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; max-width: 1200px; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }}
th {{ background: #f4f4f4; }}
img {{ max-width: 100%; }}
li {{ margin: 0.3em 0; }}
pre {{ background: #f8f8f8; padding: 1em; overflow-x: auto; }}
</style></head><body>
<h1>simkit comparison: {esc(names)}</h1>
<h2>Findings</h2><ul>{items}</ul>
<h2>Key performance indicators</h2>
<p>Mean over replications with the 95&nbsp;% bootstrap (BCa) confidence interval in
brackets; recompute them from <code>kpis.csv</code> with
<code>simkit.analysis.summarize</code>.{test_note}</p>
{headline}
<h2>SLO and error budget</h2>{slo_table}
<h2>Run</h2><table>{info_rows}</table>
<h2>Figures</h2>{figs}
<h2>Tables</h2>{extra}
<h3>All KPIs: means, intervals and tests</h3>{full}
<h2>KPI definitions</h2><table>{legend}</table>
<h2>Scenarios</h2>{scen}
</body></html>
"""
    write_frame_csv(out / "kpis.csv", kpis)
    return write_text(out / "index.html", page)
