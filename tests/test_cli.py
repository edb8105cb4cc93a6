"""Tests of the command line (simkit.cli) and of the HTML report's escaping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import simkit
from simkit.analysis import ID_COLUMNS, KPI_COLUMNS, summarize
from simkit.cli import main
from simkit.report import HEADLINE_KPIS, format_summary, write_report

SCRIPT = Path(sys.executable).parent / "simkit"
SHORT = ["--duration", "1h", "--replications", "2", "--quiet"]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse errors and --version exit
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _table(out: str) -> str:
    """The printed KPI table: stdout up to the first blank line (``compare`` prints its
    SLO table and findings after one), without the trailing 'wrote'/'report:' line."""
    head = out.split("\n\n", 1)[0]
    return "\n".join(
        line for line in head.splitlines() if not line.startswith(("wrote ", "report: "))
    )


# ------------------------------------------------------------------------ run


def test_run_prints_the_kpi_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["run", "production", *SHORT], capsys)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["production"]
    assert [line.split()[0] for line in lines[1:]] == list(HEADLINE_KPIS)
    # production runs its 3 minimum pods for 1 h (plus a surge pod while a rolling
    # deploy runs, if one falls in the hour): at least 3 instance-hours
    assert float(lines[HEADLINE_KPIS.index("instance_hours") + 1].split()[1]) >= 3


def test_run_out_csv_has_one_row_per_replication(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "kpis.csv"
    code, out, _ = _run(["run", "development", *SHORT, "--out", str(target)], capsys)
    assert code == 0
    assert f"wrote {target}" in out
    kpis = pd.read_csv(target)
    assert len(kpis) == 2
    assert list(kpis["replication"]) == [0, 1]
    assert list(kpis.columns) == [*ID_COLUMNS, *KPI_COLUMNS]
    assert set(kpis["scenario"]) == {"development"}
    # the table printed is the one computed from the written rows
    assert _table(out) == format_summary(summarize(kpis)).to_string()


def test_run_out_npz_writes_arrays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "x.npz"
    code, _, _ = _run(["run", "production", *SHORT, "--out", str(target)], capsys)
    assert code == 0
    with np.load(target) as arrays:
        assert {"arrivals", "errors"} <= set(arrays.files)
        # 2 replications x (1 h / 1 s step) = 3600 steps
        assert arrays["arrivals"].shape == (2, 3600)
        assert arrays["errors"].shape == (2, 3600)


def test_run_and_compare_write_the_same_kpis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One KPI table: same columns and, for the same scenario and seed, same values."""
    args = ["production", "--duration", "2h", "--replications", "2", "--seed", "4", "--quiet"]
    code, _, err = _run(["run", *args, "--out", str(tmp_path / "k.csv")], capsys)
    assert (code, err) == (0, "")
    code, _, err = _run(["compare", *args, "--out", str(tmp_path / "rep")], capsys)
    assert (code, err) == (0, "")
    run = pd.read_csv(tmp_path / "k.csv")
    compare = pd.read_csv(tmp_path / "rep" / "kpis.csv")
    assert list(run.columns) == list(compare.columns)
    pd.testing.assert_frame_equal(run, compare)


def test_compare_writes_report_whose_numbers_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "rep"
    argv = ["compare", "production", "development", "--duration", "2h", "--replications", "2"]
    code, out, err = _run([*argv, "--out", str(out_dir), "--quiet"], capsys)
    assert (code, err) == (0, "")
    assert f"report: {out_dir / 'index.html'}" in out
    kpis = pd.read_csv(out_dir / "kpis.csv")
    assert len(kpis) == 4  # 2 scenarios x 2 replications
    assert list(kpis["scenario"]) == ["production"] * 2 + ["development"] * 2
    assert ((kpis["availability"] >= 0) & (kpis["availability"] <= 1)).all()
    # availability = 1 - errors / requests (KPI_COLUMNS)
    np.testing.assert_allclose(kpis["availability"], 1 - kpis["errors"] / kpis["requests"])
    table = format_summary(summarize(kpis))
    assert _table(out) == table.to_string()  # printed table == recomputed from kpis.csv
    page = (out_dir / "index.html").read_text(encoding="utf-8")
    for scenario in ("production", "development"):
        assert table.loc["availability", scenario] in page


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["--version"], capsys)
    assert (code, out.strip()) == (0, f"simkit {simkit.__version__}")


# ------------------------------------------------------------------------ bad input


def _files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "malformed.toml").write_text('name = "x"\n[service\n', encoding="utf-8")
    (tmp_path / "invalid.toml").write_text("[service]\nport = 0\n", encoding="utf-8")
    (tmp_path / "dir.toml").mkdir()
    (tmp_path / "bad.csv").write_text("timestamp,value\nnope,1\n", encoding="utf-8")
    (tmp_path / "a_file").write_text("", encoding="utf-8")
    return {"tmp": str(tmp_path)}


BAD_ARGS = {
    "no-arguments": ([], "required: command"),
    "unknown-subcommand": (["simulate", "production"], "invalid choice: 'simulate'"),
    "run-without-scenario": (["run"], "required: scenario"),
    "unknown-profile": (["run", "staging", *SHORT], "unknown profile 'staging'"),
    "missing-file": (["run", "{tmp}/missing.toml", *SHORT], "cannot read scenario file"),
    "directory-file": (["run", "{tmp}/dir.toml", *SHORT], "cannot read scenario file"),
    "malformed-toml": (["run", "{tmp}/malformed.toml", *SHORT], "malformed TOML"),
    "invalid-value": (["run", "{tmp}/invalid.toml", *SHORT], "service.port = 0 is out of range"),
    "bad-duration": (["run", "production", "--duration", "soon"], "--duration = 'soon'"),
    "zero-duration": (["run", "production", "--duration", "0"], "--duration = '0'"),
    "negative-duration": (["run", "production", "--duration", "-1h"], "--duration"),
    "duration-not-whole-periods": (
        ["run", "production", "--duration", "7s", "--quiet"],
        "whole number of control periods",
    ),
    "step-not-dividing-sync": (
        ["run", "production", "--duration", "1h", "--step", "7s", "--quiet"],
        "step = 7 s must divide autoscaling.sync_period_s = 15 s",
    ),
    "bad-step": (["run", "production", "--step", "fast"], "--step = 'fast'"),
    "replications-0": (["run", "production", "--replications", "0"], "replications = 0"),
    "replications-minus-1": (["run", "production", "--replications=-1"], "replications = -1"),
    "replications-abc": (["run", "production", "--replications", "abc"], "replications = 'abc'"),
    "seed-negative": (["run", "production", "--seed=-1"], "seed = -1"),
    "bad-out-suffix": (["run", "production", *SHORT, "--out", "k.txt"], "--out = 'k.txt'"),
    "unwritable-out": (
        ["run", "production", *SHORT, "--out", "{tmp}/a_file/k.csv"],
        "cannot be written",
    ),
    "compare-out-is-file": (
        ["compare", "production", "development", *SHORT, "--out", "{tmp}/a_file"],
        "is a file",
    ),
    "compare-same-name": (["compare", "production", "production", *SHORT], "must differ"),
    "bad-trace": (["run", "production", *SHORT, "--trace", "{tmp}/bad.csv"], "row 0"),
    "missing-trace": (["run", "production", *SHORT, "--trace", "{tmp}/no.csv"], "does not exist"),
}


@pytest.mark.parametrize(("argv", "fragment"), BAD_ARGS.values(), ids=BAD_ARGS.keys())
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    names = _files(tmp_path)
    code, out, err = _run([a.format(**names) for a in argv], capsys)
    assert code == 2
    assert out == ""  # nothing simulated, no half table
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("simkit: error: ")
    assert "Traceback" not in err
    assert fragment in err, err


# ------------------------------------------------------------------------ the real console script


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script not installed")
def test_console_script(tmp_path: Path) -> None:
    ok = subprocess.run(
        [str(SCRIPT), "run", "production", *SHORT],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
    )
    assert (ok.returncode, ok.stderr) == (0, "")
    assert ok.stdout.splitlines()[1].split()[0] == "availability"
    bad = subprocess.run(
        [str(SCRIPT), "run", "staging"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("simkit: error: unknown profile 'staging'")
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


# ------------------------------------------------------------------------ report escaping


def test_report_escapes_user_text(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    scenario = simkit.load_scenario("production").replace(name=evil, description=f"<b>{evil}</b>")
    kpis = pd.DataFrame(
        {
            "scenario": [evil, evil],
            "replication": [0, 1],
            "availability": [0.999, 1.0],
            "errors": [1.0, 0.0],
        }
    )
    page = write_report(
        tmp_path,
        kpis=kpis.set_index(["scenario", "replication"]),
        summary=summarize(kpis),
        scenarios=[scenario],
        figures={},
        run_info={"trace": evil},
    )
    text = page.read_text(encoding="utf-8")
    assert "<script" not in text.lower()  # the page has no script of its own
    assert "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert pd.read_csv(tmp_path / "kpis.csv")["scenario"].tolist() == [evil, evil]


def _square(x: int) -> int:
    return x * x


def _fail(x: int) -> int:
    raise simkit.SimkitError(f"task {x} failed")


@pytest.mark.parametrize("cores", [1, 2])
def test_parallel_tasks_give_every_result_and_raise_a_failure(monkeypatch, cores) -> None:
    """compare's tasks: each result once, by task index, whether in workers or here."""
    from simkit import cli

    monkeypatch.setattr(cli, "_cores", lambda: cores)
    done = dict(cli._in_parallel([(_square, (i,)) for i in range(5)], lambda fraction: None))
    assert done == {i: i * i for i in range(5)}
    with pytest.raises(simkit.SimkitError, match="task 3 failed"):
        list(cli._in_parallel([(_square, (1,)), (_fail, (3,))], lambda fraction: None))
