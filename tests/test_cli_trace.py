"""CLI trace replay: --trace with --trace-peak-rps, and a closed output pipe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from simkit.cli import main

BIN = Path(sys.executable).parent / "simkit"


def _trace(tmp_path: Path) -> Path:
    stamps = np.datetime_as_string(
        np.datetime64("2024-01-01T00:00") + np.arange(180).astype("timedelta64[m]"), unit="s"
    )
    counts = 600 + 600 * (np.arange(180) == 90)  # 10 req/s, one minute at 20 req/s
    lines = ["timestamp,value", *(f"{t}Z,{c}" for t, c in zip(stamps, counts, strict=True))]
    path = tmp_path / "trace.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_trace_scaled_to_a_peak(tmp_path, capsys):
    out = tmp_path / "arrays.npz"
    code = main(
        ["run", "production", "--trace", str(_trace(tmp_path)), "--trace-peak-rps", "200",
         "--duration", "2h", "--replications", "2", "--quiet", "--out", str(out)]
    )  # fmt: skip
    assert code == 0
    rate = np.load(out)["rate_rps"]
    assert rate.max() == 200.0  # the 20 req/s minute scaled to the peak
    assert np.allclose(rate[:, :240], 100.0)  # everything else in proportion (10 -> 100)
    capsys.readouterr()


def test_peak_without_a_trace_is_an_error(capsys):
    code = main(["run", "production", "--trace-peak-rps", "200", "--duration", "1h"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "--trace-peak-rps needs --trace" in err


def test_closed_pipe_is_not_an_error(tmp_path):
    """`simkit compare ... | head -0`: the report is still written, no traceback."""
    out = tmp_path / "report"
    proc = subprocess.Popen(
        [str(BIN), "compare", "production", "development", "--duration", "1h",
         "--replications", "2", "--quiet", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    proc.stdout.close()  # the reader is gone before anything is printed: EPIPE on print
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in err and "error" not in err
    assert (out / "index.html").is_file() and (out / "kpis.csv").is_file()
