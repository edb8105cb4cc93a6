"""The comparison report end to end: escaping, numbers that match kpis.csv, atomic writes."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

import simkit.report
from simkit.analysis import summarize
from simkit.cli import main
from simkit.report import SLO_KPIS, format_summary

EVIL = "<script>alert(1)</script>"
SHORT = ["--duration", "1h", "--replications", "3", "--quiet"]


def _evil_profile(tmp_path: Path) -> Path:
    text = (resources.files("simkit") / "profiles" / "production.toml").read_text("utf-8")
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("name = "))
    lines[first] = f"name = {EVIL!r}".replace("'", '"')  # the scenario's, not a rule's
    path = tmp_path / "evil.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_report_escapes_scenario_names_and_matches_kpis_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "rep"
    code = main(["compare", str(_evil_profile(tmp_path)), "development", *SHORT, "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page.lower()  # the page has no script, the name is text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    kpis = pd.read_csv(out / "kpis.csv")
    assert kpis["scenario"].unique().tolist() == [EVIL, "development"]
    assert len(kpis) == 6  # 2 scenarios x 3 replications
    # every headline and SLO cell of the page is recomputed from kpis.csv
    summary = summarize(kpis)
    for table in (format_summary(summary), format_summary(summary, SLO_KPIS)):
        assert table.shape[0] > 0
        for cell in table.to_numpy().ravel():
            assert cell in page, cell
            assert cell in stdout, cell
    for needle in ("Findings", "Wilcoxon signed-rank", "Capacity plan", "simkit version", "seed"):
        assert needle in page
    assert page.count("data:image/png;base64,") == 7  # 5 shared figures + 2 time series


def test_interrupted_report_leaves_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "rep"
    out.mkdir()
    (out / "index.html").write_text("old", encoding="utf-8")
    kpis = pd.DataFrame({"scenario": ["a", "a"], "replication": [0, 1], "errors": [1.0, 2.0]})

    def interrupt(*args: object, **kwargs: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(simkit.report, "_png", interrupt)  # Ctrl-C while rendering figures
    with pytest.raises(KeyboardInterrupt):
        simkit.report.write_report(
            out,
            kpis=kpis.set_index(["scenario", "replication"]),
            summary=summarize(kpis),
            scenarios=[],
            figures={"f": Figure()},
            run_info={},
        )
    assert (out / "index.html").read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]  # no csv, no temp file
